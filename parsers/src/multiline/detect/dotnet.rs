//! .NET crash records: an unhandled (or logged) exception's stack trace.
//!
//! ```text
//! Unhandled exception. System.InvalidOperationException: Cart is empty
//!  ---> System.ArgumentException: bad id
//!    at Shop.Cart.Find(Int32 id) in /src/Cart.cs:line 40
//!    --- End of inner exception stack trace ---
//!    at Shop.Cart.Checkout() in /src/Cart.cs:line 12
//! --- End of stack trace from previous location ---
//!    at Shop.Program.Main(String[] args) in /src/Program.cs:line 5
//! ```
//!
//! A record opens at `Unhandled exception. ` / `Unhandled Exception: `
//! (a crash for sure) or at a line naming an exception class, which only a
//! following `at` frame confirms; exceptions logged by ASP.NET's and
//! .NET's console loggers (the class line indented under the log entry's
//! `fail: Category[id]` line) count, from the class line. Then frames
//! (`at Ns.Class.Method(args)`, with ` in /path:line N` or Mono's
//! ` [0x…] in <file>:N`), ` ---> Inner: msg`, `--- End of inner exception
//! stack trace ---`, `--- End of stack trace from previous location ---`.
//! Read by [`super::stack`], shared with the JVM and Node.js. `ty` is the
//! first (outer) class; `frame` the first frame outside `System.`,
//! `Microsoft.` and `Mono.`, one with a source file preferred (the
//! application's own build has its symbols, libraries seldom do).

use super::{stack, Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects .NET stack traces.
pub struct Dotnet;

impl Detector for Dotnet {
    fn kind(&self) -> CrashKind {
        CrashKind::Dotnet
    }

    fn open(&self, line: &str, crash: &mut Crash) -> Option<Opening> {
        stack::open(line, crash, CrashKind::Dotnet)
    }

    fn step(&self, phase: &mut u8, line: &str, crash: &mut Crash) -> Step {
        stack::step(phase, line, crash)
    }
}
