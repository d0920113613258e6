//! The tailer's time: the monotonic clock, which tests move forward
//! instead of sleeping.

use std::time::{Duration, Instant};

/// The monotonic clock, possibly ahead of the system's (in tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock {
    ahead: Duration,
}

impl Clock {
    /// Now.
    pub fn now(&self) -> Instant {
        Instant::now() + self.ahead
    }

    /// Time passed since `then` (zero if `then` is later).
    pub fn since(&self, then: Instant) -> Duration {
        self.now().saturating_duration_since(then)
    }

    /// Time left until `at` (zero if it is past).
    pub fn until(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.now())
    }

    /// Moves the clock forward by `d`.
    #[cfg(test)]
    pub fn advance(&mut self, d: Duration) {
        self.ahead += d;
    }
}
