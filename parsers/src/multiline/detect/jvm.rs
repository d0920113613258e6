//! JVM crash records (Java, Kotlin, Scala): a `Throwable`'s stack trace.
//!
//! ```text
//! Exception in thread "main" java.lang.IllegalStateException: boom
//!     at com.shop.Cart.checkout(Cart.java:12)
//!     at com.shop.Main.main(Main.java:5)
//! Caused by: java.io.IOException: disk full
//!     at com.shop.Store.write(Store.java:40)
//!     ... 2 more
//! ```
//!
//! A record opens at `Exception in thread "…"` (an uncaught exception:
//! a crash for sure) or at a line naming an exception class
//! (`com.foo.BarException: msg`, `java.lang.OutOfMemoryError: Java heap
//! space`, `kotlin.KotlinNullPointerException`, or such a class after a
//! log line's own text, as java.util.logging and Android print them),
//! which only a following `at` frame confirms: a logged exception counts,
//! from its class line. (This detector is the one of the three sharing
//! [`super::stack`] that looks for a class in the middle of a line.) Then come frames (`at`
//! after a tab or spaces, with logback's ` ~[jar:version]` or not),
//! `Caused by:`, `Suppressed:`, `Wrapped by:`, `... 12 more`, `... 5
//! common frames omitted`, and message lines held until the first frame.
//! The header and frames are read by [`super::stack`], shared with .NET
//! and Node.js, whose frames set the kind when the header does not tell
//! it. `ty` is the first (outermost) class, `frame` the first frame
//! outside `java.`, `javax.`, `jdk.`, `sun.`, `kotlin.`, `scala.` and
//! common frameworks (Spring, Apache, Jetty, Netty…).

use super::{stack, Detector, Opening, Step};
use crate::multiline::crash::{Crash, CrashKind};

/// Detects JVM stack traces.
pub struct Jvm;

impl Detector for Jvm {
    fn kind(&self) -> CrashKind {
        CrashKind::Jvm
    }

    fn open(&self, line: &str, crash: &mut Crash) -> Option<Opening> {
        stack::open(line, crash, CrashKind::Jvm)
    }

    fn step(&self, phase: &mut u8, line: &str, crash: &mut Crash) -> Step {
        stack::step(phase, line, crash)
    }
}
