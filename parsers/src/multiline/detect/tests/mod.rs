//! The application runtimes' detectors on real crash samples (see
//! `samples/NOTICE.md`), on shapes written after the runtimes' documented
//! output, and on the real logs kept next to the repository.

mod shared;

use std::sync::Arc;

use crate::multiline::{Crash, CrashKind, Joiner, Piece, Spec};

/// What a joiner hands out, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Line(String),
    Record {
        text: String,
        lines: u32,
        truncated: bool,
        crash: Option<Crash>,
    },
}

impl Out {
    fn crash(&self) -> Option<&Crash> {
        match self {
            Out::Record { crash, .. } => crash.as_ref(),
            Out::Line(_) => None,
        }
    }
}

fn keep(got: &mut Vec<Out>) -> impl FnMut(Piece<'_>) + '_ {
    |p| {
        got.push(match p {
            Piece::Line(l) => Out::Line(l.to_string()),
            Piece::Record(g) => {
                assert_eq!(g.text.split('\n').count(), g.lines as usize, "{}", g.text);
                assert_eq!(&g.text[..g.head_len], g.text.split('\n').next().unwrap());
                Out::Record {
                    text: g.text.to_string(),
                    lines: g.lines,
                    truncated: g.truncated,
                    crash: g.crash.cloned(),
                }
            }
        })
    }
}

fn auto() -> Arc<Spec> {
    Arc::new(Spec::auto())
}

/// Every piece of `lines` through a fresh joiner, completed by `finish`.
fn run(spec: &Arc<Spec>, lines: &[&str]) -> Vec<Out> {
    let mut got = Vec::new();
    let mut j = Joiner::new(spec.clone());
    let mut out = keep(&mut got);
    for l in lines {
        j.push(l, &mut out);
    }
    j.finish(&mut out);
    drop(out);
    got
}

/// The same, the open record saved and restored into a new joiner before
/// line `cut`.
fn run_cut(spec: &Arc<Spec>, lines: &[&str], cut: usize) -> Vec<Out> {
    let mut got = Vec::new();
    let mut out = keep(&mut got);
    let mut j = Joiner::new(spec.clone());
    for l in &lines[..cut] {
        j.push(l, &mut out);
    }
    let mut j = match j.save() {
        Some(saved) => Joiner::restore(spec.clone(), saved),
        None => Joiner::new(spec.clone()),
    };
    for l in &lines[cut..] {
        j.push(l, &mut out);
    }
    j.finish(&mut out);
    drop(out);
    got
}

fn records(out: &[Out]) -> Vec<&Out> {
    out.iter()
        .filter(|o| matches!(o, Out::Record { .. }))
        .collect()
}

fn crashes(out: &[Out]) -> Vec<&Crash> {
    out.iter().filter_map(Out::crash).collect()
}

/// A real sample: its file, and what its one record must say.
struct Sample {
    name: &'static str,
    text: &'static str,
    kind: CrashKind,
    ty: &'static str,
    message: &'static str,
    frame: &'static str,
    /// The detectors that find it alone (see [`a_detector_alone_finds_its_own_kind`]).
    by: &'static [CrashKind],
}

/// The detectors that share a header then `at` frames (`stack.rs`).
const AT_FRAMES: &[CrashKind] = &[CrashKind::Dotnet, CrashKind::Jvm, CrashKind::Node];

macro_rules! sample {
    ($file:literal) => {
        include_str!(concat!("samples/", $file, ".txt"))
    };
}

const ARBITRARY_TEXT: &str = sample!("arbitrary_text");
const NOT_AN_EXCEPTION: &str = "This is not an exception.";

fn java_exc() -> String {
    format!("{}{}", sample!("java_exc_part1"), sample!("java_exc_part2"))
}

fn samples() -> Vec<Sample> {
    use CrashKind::*;
    let java = Box::leak(java_exc().into_boxed_str());
    vec![
        Sample {
            name: "java_exc",
            text: java,
            kind: Jvm,
            ty: "RuntimeException",
            message: "Run from this message!",
            frame: "com.my.app.Object.do$a1",
            by: &[Jvm],
        },
        Sample {
            name: "complex_java_exc",
            text: sample!("complex_java_exc"),
            kind: Jvm,
            ty: "javax.servlet.ServletException",
            message: "Something bad happened",
            frame: "com.example.myproject.OpenSessionInViewFilter.doFilter",
            by: &[Jvm],
        },
        Sample {
            name: "nested_java_exc",
            text: sample!("nested_java_exc"),
            kind: Jvm,
            ty: "java.lang.RuntimeException",
            message: "javax.mail.SendFailedException: Invalid Addresses;",
            frame: "com.nethunt.crm.api.server.adminsync.AutomaticEmailFacade.sendWithSmtp",
            by: &[Jvm],
        },
        Sample {
            name: "python_exc",
            text: sample!("python_exc"),
            kind: Python,
            ty: "Exception",
            message: "('spam', 'eggs')",
            frame: "nearfieldspy.get",
            by: &[Python],
        },
        Sample {
            name: "go_exc",
            text: sample!("go_exc"),
            kind: Go,
            ty: "my panic",
            message: "my panic",
            frame: "main.main.func1",
            by: &[Go],
        },
        Sample {
            name: "go_on_gae_exc",
            text: sample!("go_on_gae_exc"),
            kind: Go,
            ty: "runtime error: index out of range",
            message: "runtime error: index out of range",
            frame: "main88989.memoryAccessException",
            by: &[Go],
        },
        Sample {
            name: "go_signal_exc",
            text: sample!("go_signal_exc"),
            kind: Go,
            ty: "runtime error: invalid memory address or nil pointer dereference",
            message: "runtime error: invalid memory address or nil pointer dereference",
            frame: "panics.nilPtrDereference",
            by: &[Go],
        },
        Sample {
            name: "go_http",
            text: sample!("go_http"),
            kind: Go,
            ty: "test panic",
            message: "test panic",
            frame: "main.doPanic",
            by: &[Go],
        },
        Sample {
            name: "csharp_exc",
            text: sample!("csharp_exc"),
            kind: Dotnet,
            ty: "System.Collections.Generic.KeyNotFoundException",
            message: "The given key was not present in the dictionary.",
            frame: "File3.Consolidator_Class.Function5",
            by: &[Dotnet],
        },
        Sample {
            name: "csharp_nested_exc",
            text: sample!("csharp_nested_exc"),
            kind: Dotnet,
            ty: "System.InvalidOperationException",
            message: "This is the outer exception ---> System.InvalidOperationException: This is the inner exception",
            frame: "ExampleApp.NestedExceptionExample.LowestLevelMethod",
            by: &[Dotnet],
        },
        Sample {
            name: "csharp_async_exc",
            text: sample!("csharp_async_exc"),
            kind: Dotnet,
            ty: "System.InvalidOperationException",
            message: "This is an exception",
            frame: "ExampleApp2.AsyncExceptionExample.LowestLevelMethod",
            by: &[Dotnet],
        },
        Sample {
            name: "node_js_exc",
            text: sample!("node_js_exc"),
            kind: Node,
            ty: "ReferenceError",
            message: "myArray is not defined",
            frame: "/app/app.js",
            by: AT_FRAMES,
        },
        Sample {
            name: "client_js_exc",
            text: sample!("client_js_exc"),
            kind: Node,
            ty: "Error",
            message: "",
            frame: "Object.InjectedScript._evaluateOn (http://<anonymous>/file.js?foo=bar)",
            by: AT_FRAMES,
        },
        Sample {
            name: "php_exc",
            text: sample!("php_exc"),
            kind: Php,
            ty: "Exception",
            message: "Custom exception",
            frame: "func1",
            by: &[Php],
        },
        Sample {
            name: "php_on_gae_exc",
            text: sample!("php_on_gae_exc"),
            kind: Php,
            ty: "Exception",
            message: "message",
            frame: "ErrorEntryGenerator::{closure}",
            by: &[Php],
        },
    ]
}

fn check(s: &Sample, c: &Crash) {
    assert_eq!(c.kind, s.kind, "{}", s.name);
    assert_eq!(c.ty, s.ty, "{}", s.name);
    assert_eq!(c.message, s.message, "{}", s.name);
    assert_eq!(c.frame, s.frame, "{}", s.name);
    assert!(c.frames > 0, "{}", s.name);
}

/// Each sample as the detector test of fluent-plugin-detect-exceptions
/// feeds it: after an ordinary line, again after one, then twice in a
/// row. Each time exactly one record of all its lines.
#[test]
fn each_sample_is_one_record_between_ordinary_lines() {
    let spec = auto();
    for s in samples() {
        let sample: Vec<&str> = s.text.lines().collect();
        let mut input = vec![NOT_AN_EXCEPTION];
        input.extend(&sample);
        input.push(NOT_AN_EXCEPTION);
        input.extend(&sample);
        input.extend(&sample);
        let got = run(&spec, &input);
        let whole = Out::Record {
            text: sample.join("\n"),
            lines: sample.len() as u32,
            truncated: false,
            crash: None,
        };
        assert_eq!(got.len(), 5, "{}: {got:#?}", s.name);
        let line = Out::Line(NOT_AN_EXCEPTION.to_string());
        for (i, o) in got.iter().enumerate() {
            if i == 0 || i == 2 {
                assert_eq!(o, &line, "{}", s.name);
                continue;
            }
            let Out::Record { text, lines, .. } = o else {
                panic!("{}: {o:?}", s.name);
            };
            let Out::Record {
                text: t, lines: n, ..
            } = &whole
            else {
                unreachable!()
            };
            assert_eq!((text, lines), (t, n), "{}", s.name);
            check(&s, o.crash().expect("a crash"));
        }
    }
}

/// Each detector alone finds its own samples, and only them: `auto_of`
/// keeps its kinds apart.
#[test]
fn a_detector_alone_finds_its_own_kind() {
    let all = samples();
    for kind in CrashKind::ALL {
        let spec = Arc::new(Spec::auto_of(&[kind]));
        for s in &all {
            let lines: Vec<&str> = s.text.lines().collect();
            let got = run(&spec, &lines);
            let found = crashes(&got);
            // The JVM, .NET and Node.js share the shape of a header then
            // `at` frames: a header at a line's start that does not tell
            // its runtime is opened by whichever of them is there, and its
            // frames tell the kind; only the JVM's looks for a header in
            // the middle of a line.
            if s.by.contains(&kind) {
                assert_eq!(found.len(), 1, "{kind:?} on {}: {got:#?}", s.name);
                check(s, found[0]);
            } else {
                assert!(found.is_empty(), "{kind:?} on {}: {found:#?}", s.name);
                assert!(
                    got.iter().all(|o| matches!(o, Out::Line(_))),
                    "{kind:?} on {}",
                    s.name
                );
            }
        }
    }
}

/// The buffer scenario of fluent-plugin-detect-exceptions: Java, text,
/// Python, Go.
#[test]
fn mixed_languages_and_text() {
    let java = java_exc();
    let mut input: Vec<&str> = java.lines().collect();
    input.extend(ARBITRARY_TEXT.lines());
    input.extend(sample!("python_exc").lines());
    input.extend(sample!("go_exc").lines());
    let got = run(&auto(), &input);
    let kinds: Vec<Option<CrashKind>> = got.iter().map(|o| o.crash().map(|c| c.kind)).collect();
    assert_eq!(
        kinds,
        [
            Some(CrashKind::Jvm),
            None,
            None,
            None,
            None,
            Some(CrashKind::Python),
            Some(CrashKind::Go)
        ]
    );
    let text: Vec<Out> = ARBITRARY_TEXT
        .lines()
        .map(|l| Out::Line(l.to_string()))
        .collect();
    assert_eq!(&got[1..5], &text[..]);
}

#[test]
fn arbitrary_text_is_no_crash() {
    let lines: Vec<&str> = ARBITRARY_TEXT.lines().collect();
    let got = run(&auto(), &lines);
    let expected: Vec<Out> = lines.iter().map(|l| Out::Line(l.to_string())).collect();
    assert_eq!(got, expected);
}

/// A crash whose last line is the input's last is held until `finish`
/// (unless its last line closes it: PHP's `thrown in …`).
#[test]
fn finish_completes_a_crash_at_the_end_of_the_input() {
    let spec = auto();
    for s in samples() {
        let mut got = Vec::new();
        let mut j = Joiner::new(spec.clone());
        let mut out = keep(&mut got);
        for l in s.text.lines() {
            j.push(l, &mut out);
        }
        let closed_by_its_last_line = s.name == "php_on_gae_exc";
        assert_eq!(j.is_open(), !closed_by_its_last_line, "{}", s.name);
        j.finish(&mut out);
        assert!(!j.is_open());
        drop(out);
        assert_eq!(records(&got).len(), 1, "{}: {got:#?}", s.name);
        assert_eq!(got.len(), 1, "{}", s.name);
    }
}

/// Every shape, saved and restored at every line: the same pieces as an
/// uninterrupted run.
#[test]
fn a_record_saved_at_any_line_resumes_the_same() {
    let spec = auto();
    let mut inputs: Vec<Vec<String>> = samples()
        .iter()
        .map(|s| {
            let mut v = vec![NOT_AN_EXCEPTION.to_string()];
            v.extend(s.text.lines().map(String::from));
            v.push(NOT_AN_EXCEPTION.to_string());
            v.extend(s.text.lines().map(String::from));
            v
        })
        .collect();
    inputs.extend(
        written()
            .iter()
            .map(|w| w.text.split('\n').map(String::from).collect()),
    );
    for input in &inputs {
        let lines: Vec<&str> = input.iter().map(String::as_str).collect();
        let whole = run(&spec, &lines);
        for cut in 0..=lines.len() {
            assert_eq!(
                run_cut(&spec, &lines, cut),
                whole,
                "cut at {cut} of {lines:#?}"
            );
        }
    }
}

/// A shape written after a runtime's documented output: its input, and
/// what comes out (a record as `[n lines]` with its crash, lines as they
/// are).
struct Written {
    name: &'static str,
    text: &'static str,
    /// The pieces: a record's line count, or 0 for a line.
    pieces: &'static [u32],
    kind: CrashKind,
    ty: &'static str,
    frame: &'static str,
}

fn written() -> Vec<Written> {
    use CrashKind::*;
    vec![
        Written {
            name: "jvm uncaught, caused by, suppressed, logback",
            text: "Exception in thread \"main\" java.lang.IllegalStateException: boom\n\
                   \tat com.shop.Cart.checkout(Cart.java:12) ~[shop.jar:1.0]\n\
                   \tat com.shop.Main.main(Main.java:5) [shop.jar:1.0]\n\
                   \tSuppressed: java.io.IOException: close failed\n\
                   \t\tat java.base/java.io.FileInputStream.close(FileInputStream.java:300)\n\
                   \t\t... 1 more\n\
                   Caused by: java.lang.RuntimeException: wrapped\n\
                   \t... 2 more\n\
                   Caused by: java.io.IOException: disk full\n\
                   \tat com.shop.Store.write(Store.java:40)\n\
                   \t... 2 common frames omitted\n\
                   2024-05-01 12:00:00 INFO next",
            pieces: &[11, 0],
            kind: Jvm,
            ty: "java.lang.IllegalStateException",
            frame: "com.shop.Cart.checkout",
        },
        Written {
            name: "jvm logged after a log line, framework frames first",
            text: "2024-05-01 12:00:00 ERROR [main] c.s.Cart - checkout failed\n\
                   com.shop.CartException: empty cart\n\
                   \tat org.springframework.web.X.handle(X.java:1)\n\
                   \tat com.shop.Cart.checkout(Cart.java:12)\n\
                   2024-05-01 12:00:01 INFO next",
            pieces: &[0, 3, 0],
            kind: Jvm,
            ty: "com.shop.CartException",
            frame: "com.shop.Cart.checkout",
        },
        Written {
            name: "jvm class alone then frames, kotlin",
            text: "kotlin.KotlinNullPointerException\n\
                   \tat com.shop.CartKt.total(Cart.kt:9)\n\
                   java.lang.OutOfMemoryError: Java heap space\n\
                   next line",
            pieces: &[2, 0, 0],
            kind: Jvm,
            ty: "kotlin.KotlinNullPointerException",
            frame: "com.shop.CartKt.total",
        },
        Written {
            name: "python chained",
            text: "ERROR:root:checkout failed\n\
                   Traceback (most recent call last):\n  \
                   File \"/app/shop/cart.py\", line 4, in total\n    \
                   return items[0]\n\
                   IndexError: list index out of range\n\
                   \n\
                   During handling of the above exception, another exception occurred:\n\
                   \n\
                   Traceback (most recent call last):\n  \
                   File \"/app/shop/views.py\", line 9, in checkout\n    \
                   total()\n  \
                   File \"/usr/lib/python3.12/site-packages/shop_lib/money.py\", line 3, in add\n    \
                   raise ValueError(x)\n\
                   ValueError: bad total\n\
                   \n\
                   INFO:root:next",
            pieces: &[0, 13, 0, 0],
            kind: Python,
            ty: "ValueError",
            frame: "shop.views.checkout",
        },
        Written {
            name: "python bare KeyboardInterrupt",
            text: "Traceback (most recent call last):\n  \
                   File \"/app/main.py\", line 2, in <module>\n    \
                   time.sleep(10)\n\
                   KeyboardInterrupt\n\
                   next",
            pieces: &[4, 0],
            kind: Python,
            ty: "KeyboardInterrupt",
            frame: "app.main.<module>",
        },
        Written {
            name: "go recovered and re-panicked, exit status",
            text: "panic: runtime error: slice bounds out of range [:5] with capacity 3 [recovered]\n\
                   \tpanic: again\n\
                   \n\
                   goroutine 1 [running]:\n\
                   main.main.func1()\n\
                   \t/app/main.go:9 +0x1d\n\
                   panic({0x4b2c20, 0x4f2b50})\n\
                   \t/usr/local/go/src/runtime/panic.go:770 +0x132\n\
                   main.main()\n\
                   \t/app/main.go:12 +0x26\n\
                   exit status 2\n\
                   next",
            pieces: &[11, 0],
            kind: Go,
            ty: "runtime error: slice bounds out of range",
            frame: "main.main.func1",
        },
        Written {
            name: "go fatal error with runtime lines and runtime stack",
            text: "runtime: goroutine stack exceeds 1000000000-byte limit\n\
                   runtime: sp=0xc020160398 stack=[0xc020160000, 0xc040160000]\n\
                   fatal error: stack overflow\n\
                   \n\
                   runtime stack:\n\
                   runtime.throw({0x4a0b1c?, 0x0?})\n\
                   \t/usr/local/go/src/runtime/panic.go:1023 +0x5c\n\
                   \n\
                   goroutine 1 [running]:\n\
                   main.f(...)\n\
                   \t/app/main.go:4\n\
                   \n\
                   level=info msg=next",
            pieces: &[11, 0, 0],
            kind: Go,
            ty: "stack overflow",
            frame: "main.f",
        },
        Written {
            name: "rust new format with backtrace",
            text: "thread 'main' panicked at src/main.rs:4:19:\n\
                   index out of bounds: the len is 3 but the index is 5\n\
                   stack backtrace:\n   \
                   0: rust_begin_unwind\n             \
                   at /rustc/abc/library/std/src/panicking.rs:645:5\n   \
                   1: core::panicking::panic_bounds_check\n   \
                   2: shop::cart::total\n             \
                   at ./src/cart.rs:4:19\n\
                   note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n\
                   next",
            pieces: &[9, 0],
            kind: Rust,
            ty: "index out of bounds: the len is N but the index is N",
            frame: "shop::cart::total",
        },
        Written {
            name: "rust old format, note",
            text: "thread 'tokio-runtime-worker' panicked at 'called `Option::unwrap()` on a `None` value', src/cart.rs:7:5\n\
                   note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\
                   next",
            pieces: &[2, 0],
            kind: Rust,
            ty: "called `Option::unwrap()` on a `None` value",
            frame: "src/cart.rs",
        },
        Written {
            name: "rust assertion on three lines",
            text: "thread 'main' panicked at src/main.rs:2:5:\n\
                   assertion `left == right` failed\n  \
                   left: 1\n \
                   right: 2\n\
                   note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
            pieces: &[5],
            kind: Rust,
            ty: "assertion `left == right` failed",
            frame: "src/main.rs",
        },
        Written {
            name: "dotnet unhandled with inner exception",
            text: "Unhandled exception. System.InvalidOperationException: Cart is empty\n \
                   ---> System.ArgumentException: bad id\n   \
                   at Shop.Cart.Find(Int32 id) in /src/Cart.cs:line 40\n   \
                   --- End of inner exception stack trace ---\n   \
                   at System.Linq.Enumerable.First[TSource](IEnumerable`1 source)\n   \
                   at Shop.Cart.Checkout() in /src/Cart.cs:line 12\n\
                   --- End of stack trace from previous location ---\n   \
                   at Shop.Program.Main(String[] args) in /src/Program.cs:line 5\n\
                   next",
            pieces: &[8, 0],
            kind: Dotnet,
            ty: "System.InvalidOperationException",
            frame: "Shop.Cart.Find",
        },
        Written {
            name: "node uncaught with properties and version",
            text: "node:internal/process/promises:288\n            \
                   triggerUncaughtException(err, true /* fromPromise */);\n            \
                   ^\n\
                   \n\
                   Error: connect ECONNREFUSED 127.0.0.1:5432\n    \
                   at async checkout (/app/src/cart.js:12:9)\n    \
                   at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1494:16) {\n  \
                   errno: -111,\n  \
                   code: 'ECONNREFUSED'\n\
                   }\n\
                   \n\
                   Node.js v18.17.0\n\
                   next",
            pieces: &[0, 0, 0, 0, 8, 0],
            kind: Node,
            ty: "Error",
            frame: "checkout (/app/src/cart.js)",
        },
        Written {
            name: "node error code, blank then other line",
            text: "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'left-pad'\n    \
                   at new NodeError (node:internal/errors:405:5)\n    \
                   at /app/index.mjs:1:1\n\
                   \n\
                   next",
            pieces: &[3, 0, 0],
            kind: Node,
            ty: "Error [ERR_MODULE_NOT_FOUND]",
            frame: "/app/index.mjs",
        },
        Written {
            name: "php fatal memory, one line",
            text: "[01-Jan-2024 12:00:00 UTC] PHP Fatal error:  Allowed memory size of 134217728 bytes exhausted (tried to allocate 20480 bytes) in /var/www/app/Cart.php on line 12\n\
                   [01-Jan-2024 12:00:01 UTC] PHP Notice:  next",
            pieces: &[1, 0],
            kind: Php,
            ty: "Allowed memory size of N bytes exhausted (tried to allocate N bytes)",
            frame: "",
        },
        Written {
            name: "php parse error",
            text: "PHP Parse error:  syntax error, unexpected '}' in /var/www/app/Cart.php on line 3\n\
                   next",
            pieces: &[1, 0],
            kind: Php,
            ty: "syntax error, unexpected '}'",
            frame: "",
        },
        Written {
            name: "rust stack overflow",
            text: "\n\
                   thread 'main' has overflowed its stack\n\
                   fatal runtime error: stack overflow\n\
                   Aborted (core dumped)",
            pieces: &[0, 2, 0],
            kind: Rust,
            ty: "stack overflow",
            frame: "",
        },
        Written {
            name: "go fatal error, CRLF line ends",
            text: "fatal error: all goroutines are asleep - deadlock!\r\n\
                   \r\n\
                   goroutine 1 [chan receive]:\r\n\
                   main.main()\r\n\
                   \t/app/main.go:5 +0x2d\r\n\
                   exit status 2\r\n\
                   next",
            pieces: &[6, 0],
            kind: Go,
            ty: "all goroutines are asleep - deadlock!",
            frame: "main.main",
        },
        Written {
            name: "jvm, CRLF line ends",
            text: "java.lang.NullPointerException\r\n\
                   \tat com.shop.Cart.total(Cart.java:3)\r\n\
                   next",
            pieces: &[2, 0],
            kind: Jvm,
            ty: "java.lang.NullPointerException",
            frame: "com.shop.Cart.total",
        },
        Written {
            name: "php uncaught, internal function threw",
            text: "PHP Fatal error:  Uncaught ValueError: bad in /app/src/Cart.php:7\n\
                   Stack trace:\n\
                   #0 /app/src/Cart.php(7): str_repeat('x', -1)\n\
                   #1 /app/public/index.php(3): Cart->total()\n\
                   #2 {main}\n  \
                   thrown in /app/src/Cart.php on line 7\n\
                   next",
            pieces: &[6, 0],
            kind: Php,
            ty: "ValueError",
            frame: "Cart->total",
        },
    ]
}

fn pieces(out: &[Out]) -> Vec<u32> {
    out.iter()
        .map(|o| match o {
            Out::Line(_) => 0,
            Out::Record { lines, .. } => *lines,
        })
        .collect()
}

#[test]
fn written_shapes() {
    let spec = auto();
    for w in written() {
        let lines: Vec<&str> = w.text.split('\n').collect();
        let got = run(&spec, &lines);
        assert_eq!(pieces(&got), w.pieces, "{}: {got:#?}", w.name);
        let found = crashes(&got);
        assert_eq!(found.len(), 1, "{}", w.name);
        let c = found[0];
        assert_eq!(
            (c.kind, c.ty.as_str(), c.frame.as_str()),
            (w.kind, w.ty, w.frame),
            "{}",
            w.name
        );
        // Nothing is lost or reordered.
        let back: Vec<String> = got
            .iter()
            .flat_map(|o| match o {
                Out::Line(l) => vec![l.clone()],
                Out::Record { text, .. } => text.split('\n').map(String::from).collect(),
            })
            .collect();
        assert_eq!(back, lines, "{}", w.name);
    }
}

/// Lines that name an exception but have no frame after them are lines.
#[test]
fn headers_without_frames_are_lines() {
    let input = [
        "java.lang.IllegalStateException: boom",
        "2024-05-01 12:00:00 WARN Failed: java.io.IOException: reset",
        "TypeError: x is not a function",
        "Error",
        "System.Exception: nope",
        "exception 'Exception' with message 'x' in /x.php:3",
        "runtime: something",
        "SIGTERM: shutting down",
        "==================",
        "2019/01/15 07:48:05 http: panic serving [::1]:54143: test panic",
        "done",
    ];
    let got = run(&auto(), &input);
    let expected: Vec<Out> = input.iter().map(|l| Out::Line(l.to_string())).collect();
    assert_eq!(got, expected);
}

/// Hostile lines: long, with multi-byte text where a cut would fall, and
/// every shape's fragments in any order. Nothing panics, every line comes
/// out once, in order.
#[test]
fn hostile_lines_come_out_whole() {
    let long = "é".repeat(40_000);
    let colons = ": ".repeat(20_000);
    let fragments = [
        "panic: ",
        "panic: \u{7f}é0x",
        "fatal error: ",
        "\tat ",
        "  at (",
        "at )(",
        "    at x (",
        "thread '",
        "thread 'é' panicked at '",
        "thread 'x' panicked at ",
        "Traceback (most recent call last):",
        "  File \"",
        "  File \"x",
        "Error [",
        "Error [x",
        "Exception in thread \"",
        "Exception in thread \"x\" ",
        "Unhandled exception. ",
        "[",
        "[x] a.ERROR: {\"exception\":\"[object] (",
        "[x] a.ERROR: {\"exception\":\"[object] (X(code: ",
        "[x] a.ERROR: Uncaught X: in ",
        "#",
        "#1 ",
        "#1 [",
        "#0 {main}",
        "Stack trace:",
        "PHP Fatal error:",
        "PHP Fatal error:  Uncaught ",
        "exception '",
        "X: a in b.php:1",
        "goroutine ",
        "goroutine 1 [",
        "goroutine 1 [running]:",
        "runtime: ",
        "SIGSEGV: ",
        "PC=",
        "WARNING: DATA RACE",
        "==================",
        "stack backtrace:",
        "   0: ",
        "   0:     0x - ",
        "Caused by: ",
        "---> ",
        "--- End of ",
        "Node.js v",
        "{",
        "}",
        "\"}",
        "",
        " ",
        "é",
        "ÉException: é",
        "http: panic serving ",
        "2019/01/15 07:48:05 http: panic serving x",
        "a.b.CException",
        "main.main()",
        "\t/x.go:1 +0x1",
        "exit status 2",
        "note: ",
        "During handling of the above exception, another exception occurred:",
        "KeyError: 'x'",
        "fatal runtime error: ",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut lines: Vec<String> = vec![long.clone(), colons, format!("panic: {long}")];
    lines.push(format!("Traceback (most recent call last):{long}"));
    lines.push(format!("thread '{long}' panicked at {long}"));
    for _ in 0..20_000 {
        let n = 1 + (next() % 3) as usize;
        let mut l = String::new();
        for _ in 0..n {
            l.push_str(fragments[(next() % fragments.len() as u64) as usize]);
        }
        lines.push(l);
    }
    let input: Vec<&str> = lines.iter().map(String::as_str).collect();
    for spec in [auto(), Arc::new(Spec::auto().with_bounds(5, 300))] {
        let got = run(&spec, &input);
        let back: Vec<&str> = got
            .iter()
            .flat_map(|o| match o {
                Out::Line(l) => vec![l.as_str()],
                Out::Record { text, .. } => text.split('\n').collect(),
            })
            .collect();
        assert_eq!(back, input);
        for c in crashes(&got) {
            if matches!(c.kind, CrashKind::Go | CrashKind::Rust) {
                assert!(c.ty.len() <= "runtime error: ".len() + 96, "{c:?}");
            }
        }
    }
}
