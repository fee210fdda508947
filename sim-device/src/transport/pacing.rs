//! Serial pacing: bytes cross a UART no faster than its baud rate allows.
//!
//! A UART in the usual 8N1 setting sends 10 bits per byte (start bit, 8 data bits, stop bit),
//! so 115200 baud carries at most 11 520 bytes per second. A [`Pacer`] models one direction of
//! the line: it keeps the time at which the line becomes free, and [`Pacer::pace`] waits until
//! the given bytes would have finished crossing it. Deadlines are absolute, so timer rounding
//! does not add up over a long transfer.

use std::time::Duration;

use tokio::time::Instant;

/// Bits on the wire per byte: start + 8 data + stop.
pub const BITS_PER_BYTE: u32 = 10;

/// One direction of a serial line at a fixed baud rate.
#[derive(Debug, Clone)]
pub struct Pacer {
    baud: u32,
    /// When the bytes already paced have all crossed the line.
    free_at: Instant,
}

impl Pacer {
    /// A line at `baud` bits per second (at least 1).
    pub fn new(baud: u32) -> Pacer {
        Pacer { baud: baud.max(1), free_at: Instant::now() }
    }

    pub fn baud(&self) -> u32 {
        self.baud
    }

    /// Bytes per second the line carries.
    pub fn bytes_per_second(&self) -> f64 {
        f64::from(self.baud) / f64::from(BITS_PER_BYTE)
    }

    /// How long `n` bytes take on the line.
    pub fn byte_time(&self, n: usize) -> Duration {
        let nanos = (n as u128) * u128::from(BITS_PER_BYTE) * 1_000_000_000 / u128::from(self.baud);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// When `n` bytes handed over now would have crossed the line: transmission starts when
    /// the line is free (or now, if it is idle) and takes [`Pacer::byte_time`]. Books the line.
    pub fn book(&mut self, n: usize) -> Instant {
        let start = self.free_at.max(Instant::now());
        self.free_at = start + self.byte_time(n);
        self.free_at
    }

    /// When `n` bytes that were already waiting behind the bytes booked before would have
    /// crossed the line: they follow back to back, without a gap (so a timer waking late
    /// does not stretch a long transfer). Books the line.
    pub fn book_queued(&mut self, n: usize) -> Instant {
        self.free_at += self.byte_time(n);
        self.free_at
    }

    /// Wait until `n` bytes handed over now would have crossed the line.
    pub async fn pace(&mut self, n: usize) {
        let done = self.book(n);
        tokio::time::sleep_until(done).await;
    }

    /// Wait until `n` bytes queued behind the previous ones would have crossed the line
    /// ([`Pacer::book_queued`]).
    pub async fn pace_queued(&mut self, n: usize) {
        let done = self.book_queued(n);
        tokio::time::sleep_until(done).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_time_is_ten_bits_per_byte() {
        let p = Pacer::new(115_200);
        assert_eq!(p.bytes_per_second(), 11_520.0);
        assert_eq!(p.byte_time(11_520), Duration::from_secs(1));
        assert_eq!(Pacer::new(9600).byte_time(96), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn bookings_queue_back_to_back() {
        let mut p = Pacer::new(10_000); // 1000 bytes/s
        let t0 = Instant::now();
        let a = p.book(100);
        let b = p.book(100);
        assert_eq!(a - t0, Duration::from_millis(100));
        assert_eq!(b - t0, Duration::from_millis(200));
        p.pace(50).await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(250));
        // The timer woke up late: queued bytes still follow on without the gap...
        tokio::time::advance(Duration::from_millis(30)).await;
        assert_eq!(p.book_queued(100) - t0, Duration::from_millis(350));
        // ...while bytes handed over now start now if the line is idle.
        tokio::time::advance(Duration::from_millis(200)).await;
        assert_eq!(p.book(100) - t0, Duration::from_millis(580));
    }
}
