//! What a crash record says: its runtime, type, message and top frame.

/// The runtime (or kernel) a crash record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrashKind {
    /// Java, Kotlin, Scala: a `Throwable`'s stack trace.
    Jvm,
    /// A Python traceback.
    Python,
    /// A Go panic or fatal error, with its goroutines.
    Go,
    /// A Rust panic, with or without a backtrace.
    Rust,
    /// A .NET unhandled exception.
    Dotnet,
    /// A Node.js error with its `at` frames.
    Node,
    /// A PHP fatal error or uncaught exception.
    Php,
    /// A Linux kernel report: BUG, oops, KASAN, WARNING, panic, hung task,
    /// RCU stall.
    Kernel,
}

impl CrashKind {
    /// Every kind, in the order the detectors of `auto` try them.
    pub const ALL: [CrashKind; 8] = [
        CrashKind::Kernel,
        CrashKind::Python,
        CrashKind::Go,
        CrashKind::Rust,
        CrashKind::Php,
        CrashKind::Dotnet,
        CrashKind::Jvm,
        CrashKind::Node,
    ];

    /// The name rules see in `crash.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            CrashKind::Jvm => "jvm",
            CrashKind::Python => "python",
            CrashKind::Go => "go",
            CrashKind::Rust => "rust",
            CrashKind::Dotnet => "dotnet",
            CrashKind::Node => "node",
            CrashKind::Php => "php",
            CrashKind::Kernel => "kernel",
        }
    }

    /// The kind named `name` (see [`CrashKind::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// What a crash record says, as far as its lines tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crash {
    /// Its runtime.
    pub kind: CrashKind,
    /// The exception class, error type, panic head or kernel bug class
    /// (`java.lang.IllegalStateException`, `KeyError`, `nil pointer
    /// dereference`, `KASAN: use-after-free`); empty when none is told.
    pub ty: String,
    /// The message that goes with it; empty when there is none.
    pub message: String,
    /// The top frame in the application's own code where it can be told
    /// (`com.shop.Cart.checkout`), else the top frame; empty when the
    /// record has no frame.
    pub frame: String,
    /// Frames seen.
    pub frames: u32,
}

impl Crash {
    /// A crash of `kind` with nothing told yet.
    pub fn new(kind: CrashKind) -> Self {
        Self {
            kind,
            ty: String::new(),
            message: String::new(),
            frame: String::new(),
            frames: 0,
        }
    }
}
