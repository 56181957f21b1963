//! Time as Unix seconds, behind a [`Clock`] so checks can be tested.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The current Unix time in whole seconds, `floor(now_ms / 1000)` like the
/// SDK's `nowUnixSeconds()`. A system clock set before 1970 gives `0`.
pub fn now_unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A source of the current Unix time in seconds.
///
/// [`SystemClock`] is the real one; [`ManualClock`] is set by hand in tests.
/// Implement it to plug in another time source.
pub trait Clock: Send + Sync + 'static {
    /// The current Unix time in whole seconds.
    fn now_unix_seconds(&self) -> u64;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_seconds(&self) -> u64 {
        now_unix_seconds()
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now_unix_seconds(&self) -> u64 {
        (**self).now_unix_seconds()
    }
}

impl<C: Clock + ?Sized> Clock for Box<C> {
    fn now_unix_seconds(&self) -> u64 {
        (**self).now_unix_seconds()
    }
}

/// A clock that only moves when told to. Clones share the same time.
///
/// ```
/// use tower_signing::{Clock, ManualClock};
///
/// let clock = ManualClock::new(1_700_000_000);
/// let seen_by_layer = clock.clone();
/// clock.advance(61);
/// assert_eq!(seen_by_layer.now_unix_seconds(), 1_700_000_061);
/// ```
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock that reads `unix_seconds` until changed.
    pub fn new(unix_seconds: u64) -> Self {
        ManualClock {
            now: Arc::new(AtomicU64::new(unix_seconds)),
        }
    }

    /// Sets the time for this clock and every clone of it.
    pub fn set(&self, unix_seconds: u64) {
        self.now.store(unix_seconds, Ordering::SeqCst);
    }

    /// Moves the time forward, saturating at `u64::MAX`.
    pub fn advance(&self, seconds: u64) {
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(seconds))
            });
    }

    /// Moves the time back, saturating at `0`.
    pub fn rewind(&self, seconds: u64) {
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_sub(seconds))
            });
    }
}

impl Clock for ManualClock {
    fn now_unix_seconds(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2023() {
        assert!(SystemClock.now_unix_seconds() > 1_700_000_000);
    }

    #[test]
    fn manual_clock_saturates() {
        let c = ManualClock::new(5);
        c.rewind(10);
        assert_eq!(c.now_unix_seconds(), 0);
        c.set(u64::MAX - 1);
        c.advance(10);
        assert_eq!(c.now_unix_seconds(), u64::MAX);
    }

    #[test]
    fn clock_through_arc_dyn() {
        let c: Arc<dyn Clock> = Arc::new(ManualClock::new(42));
        assert_eq!(c.now_unix_seconds(), 42);
    }
}
