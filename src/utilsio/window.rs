//! The timestamp freshness check of the signature callback, framework-neutral.

use std::time::Duration;

/// Why a timestamp is outside the window. Too old and in the future are
/// told apart so logs say which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Older than the past tolerance.
    #[error("timestamp is {age_secs} s old, more than the {max_secs} s allowed")]
    TooOld {
        /// How far in the past it is.
        age_secs: u64,
        /// The tolerance it exceeded.
        max_secs: u64,
    },
    /// Further ahead than the future tolerance.
    #[error("timestamp is {ahead_secs} s in the future, more than the {max_secs} s allowed")]
    InFuture {
        /// How far in the future it is.
        ahead_secs: u64,
        /// The tolerance it exceeded.
        max_secs: u64,
    },
}

/// How far a request's timestamp may be from now: `|now - timestamp| <= 60 s`
/// by default, with separate past and future tolerances.
///
/// ```
/// use std::time::Duration;
/// use tower_signing::utilsio::TimestampWindow;
///
/// let window = TimestampWindow::default();
/// assert!(window.check(1_000, 940).is_ok());
/// assert!(window.check(1_000, 939).is_err());
/// let strict_future = window.with_max_future(Duration::from_secs(5));
/// assert!(strict_future.check(1_000, 1_006).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampWindow {
    max_past: u64,
    max_future: u64,
}

impl Default for TimestampWindow {
    fn default() -> Self {
        TimestampWindow::symmetric(Duration::from_secs(60))
    }
}

impl TimestampWindow {
    /// The same tolerance both ways (whole seconds; fractions are dropped).
    pub fn symmetric(tolerance: Duration) -> Self {
        TimestampWindow {
            max_past: tolerance.as_secs(),
            max_future: tolerance.as_secs(),
        }
    }

    /// Sets how old a timestamp may be.
    ///
    /// # Warning
    /// A longer window gives a captured request longer to be replayed.
    #[must_use]
    pub fn with_max_past(mut self, tolerance: Duration) -> Self {
        self.max_past = tolerance.as_secs();
        self
    }

    /// Sets how far ahead of this server's clock a timestamp may be.
    #[must_use]
    pub fn with_max_future(mut self, tolerance: Duration) -> Self {
        self.max_future = tolerance.as_secs();
        self
    }

    /// The past tolerance.
    pub fn max_past(&self) -> Duration {
        Duration::from_secs(self.max_past)
    }

    /// The future tolerance.
    pub fn max_future(&self) -> Duration {
        Duration::from_secs(self.max_future)
    }

    /// Checks `timestamp` against `now`, both Unix seconds, with saturating
    /// arithmetic (no overflow for any input).
    ///
    /// # Errors
    /// [`TimestampError`] saying which side it fell off.
    pub fn check(&self, now: u64, timestamp: u64) -> Result<(), TimestampError> {
        if timestamp <= now {
            let age_secs = now.saturating_sub(timestamp);
            if age_secs > self.max_past {
                return Err(TimestampError::TooOld {
                    age_secs,
                    max_secs: self.max_past,
                });
            }
        } else {
            let ahead_secs = timestamp.saturating_sub(now);
            if ahead_secs > self.max_future {
                return Err(TimestampError::InFuture {
                    ahead_secs,
                    max_secs: self.max_future,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_inclusive() {
        let w = TimestampWindow::default();
        assert!(w.check(100, 40).is_ok());
        assert!(w.check(100, 160).is_ok());
        assert_eq!(
            w.check(100, 39),
            Err(TimestampError::TooOld {
                age_secs: 61,
                max_secs: 60
            })
        );
        assert_eq!(
            w.check(100, 161),
            Err(TimestampError::InFuture {
                ahead_secs: 61,
                max_secs: 60
            })
        );
    }

    #[test]
    fn extremes_do_not_overflow() {
        let w = TimestampWindow::default();
        assert!(w.check(u64::MAX, 0).is_err());
        assert!(w.check(0, u64::MAX).is_err());
        assert!(w.check(u64::MAX, u64::MAX).is_ok());
    }

    #[test]
    fn separate_tolerances() {
        let w = TimestampWindow::default()
            .with_max_past(Duration::from_secs(10))
            .with_max_future(Duration::from_secs(0));
        assert!(w.check(100, 90).is_ok());
        assert!(w.check(100, 89).is_err());
        assert!(w.check(100, 101).is_err());
    }
}
