//! Time as the device model sees it.
//!
//! The model never sleeps. Anything that takes time on a board (the 250 ms between an `os reset`
//! reply and the reboot, a watchdog expiring under a hung application, the RTC ticking) is a
//! deadline compared against a [`Clock`]. Tests use a [`Clock::manual`] clock and move it with
//! [`Device::advance`](super::Device::advance); a transport serving real clients uses
//! [`Clock::system`] and calls [`Device::poll`](super::Device::poll) when
//! [`Device::next_deadline_ms`](super::Device::next_deadline_ms) comes due.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// A millisecond clock: manual (shared, moved by hand) or the host's monotonic clock.
#[derive(Debug, Clone)]
pub enum Clock {
    /// Time moves only when told to. Clones share the same time.
    Manual(Arc<AtomicU64>),
    /// Milliseconds since the clock was made.
    System(Instant),
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::manual()
    }
}

impl Clock {
    /// A manual clock at 0 ms.
    pub fn manual() -> Clock {
        Clock::Manual(Arc::new(AtomicU64::new(0)))
    }

    /// The host's monotonic clock, starting now at 0 ms.
    pub fn system() -> Clock {
        Clock::System(Instant::now())
    }

    /// Milliseconds since the clock started.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::Manual(t) => t.load(Ordering::Relaxed),
            Clock::System(start) => u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Move a manual clock forward by `ms` (saturating). A system clock cannot be moved: the
    /// call does nothing and returns false.
    pub fn advance(&self, ms: u64) -> bool {
        match self {
            Clock::Manual(t) => {
                let now = t.load(Ordering::Relaxed);
                t.store(now.saturating_add(ms), Ordering::Relaxed);
                true
            }
            Clock::System(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_and_moves_only_by_hand() {
        let c = Clock::manual();
        let d = c.clone();
        assert_eq!(c.now_ms(), 0);
        assert!(d.advance(250));
        assert_eq!(c.now_ms(), 250);
        assert!(!Clock::system().advance(5));
    }
}
