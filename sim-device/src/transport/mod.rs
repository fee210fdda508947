//! Transports: how clients reach a simulated [`Device`] — in-process, over a PTY (serial
//! console framing) and over UDP — with programmable wire faults and serial baud pacing.
//!
//! ```text
//!   InProcClient ──┐                         ┌── timer driver: poll() at next_deadline_ms()
//!   PtyTransport ──┼── SharedDevice ─────────┤   (reset delay, watchdog: reboots through
//!   UdpTransport ──┘   Mutex<Device> + Notify └──  the bootloader while transports stay up)
//! ```
//!
//! One [`SharedDevice`] owns the device behind a mutex, so several transports can serve the
//! same board at once (a PTY and two UDP sockets, say). Each transport decodes what arrives
//! into SMP buffers, hands each one to [`Device::handle`] (on a blocking thread: a request may
//! erase flash or reboot), and sends every reply back through its [`faults::FaultState`],
//! which may drop, duplicate, delay, reorder or damage it as configured.
//!
//! The device needs a [`Clock::system`](crate::device::Clock::system) clock for its deadlines
//! to come due in real time; with a manual clock time only moves when a test moves it.
//!
//! Everything that crosses a transport can be watched with a [`Tap`] (`brownout sim` logs it).

mod emit;
pub mod faults;
pub mod inproc;
pub mod pacing;
pub mod pty;
pub mod udp;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::device::Device;
use crate::server::Limits;

pub use faults::{FaultControl, FaultKind, FaultParseError, FaultPlan, FaultRule, Trigger};
pub use inproc::{InProcClient, InProcConfig};
pub use pacing::Pacer;
pub use pty::{PtyConfig, PtyTransport, SerialFraming};
pub use udp::{UdpConfig, UdpTransport};

/// Why a transport could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// An operating-system call failed.
    #[error("{what}")]
    Io {
        /// What was being done ("binding UDP 127.0.0.2:1337").
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Allocating the pseudo-terminal failed.
    #[error("opening a pseudo-terminal: {0}")]
    Pty(#[from] pty_process::Error),
    /// The other end of an in-process channel is gone (the transport was closed).
    #[error("the transport is closed")]
    Closed,
    /// Nothing arrived within the time allowed.
    #[error("no reply within {ms} ms")]
    Timeout {
        /// The time allowed.
        ms: u64,
    },
    /// A configuration value that cannot work.
    #[error("invalid transport configuration: {0}")]
    Config(String),
}

impl TransportError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> TransportError {
        TransportError::Io { what: what.into(), source }
    }
}

/// Which way a packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to device: one received SMP buffer.
    Request,
    /// Device to client: one reply, as the device produced it (before faults).
    Reply,
}

/// Something a transport saw or did, for a [`Tap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireEvent<'a> {
    /// An SMP buffer handed to the device, or a reply it produced.
    Packet {
        direction: Direction,
        /// The SMP bytes (header and payload), without serial framing.
        bytes: &'a [u8],
        /// The faults applied to this reply on its way out (empty for requests).
        faults: &'a [FaultKind],
    },
    /// Bytes that never reached the device: a bad frame, an over-long line, a datagram cut to
    /// the buffer size.
    Discarded {
        /// How many bytes, when the transport knows (0 for a serial frame error, which may
        /// span lines).
        bytes: usize,
        /// Why, in words.
        why: &'a str,
    },
    /// Console text the device printed (boot banners).
    Console(&'a str),
}

/// What a [`Tap`] gets: which transport, and what happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traffic<'a> {
    /// The transport's name ("pty", "udp 127.0.0.2:1337", "inproc").
    pub transport: &'a str,
    pub event: WireEvent<'a>,
}

/// An observer of all traffic through a device's transports. Called on transport tasks: keep
/// it quick.
pub type Tap = Arc<dyn Fn(&Traffic<'_>) + Send + Sync>;

/// A device shared by transports, the timer driver and the code that owns them.
///
/// Cloning gives another handle to the same device.
#[derive(Clone)]
pub struct SharedDevice {
    inner: Arc<Shared>,
}

struct Shared {
    device: Mutex<Device>,
    /// Woken after every access: a request may have scheduled a reset.
    changed: Notify,
    /// The device's boot count, published after every access (for console banners).
    boots: watch::Sender<u64>,
    tap: Mutex<Option<Tap>>,
}

impl std::fmt::Debug for SharedDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedDevice").field("boots", &*self.inner.boots.borrow()).finish_non_exhaustive()
    }
}

impl SharedDevice {
    /// Share `device`.
    pub fn new(device: Device) -> SharedDevice {
        let boots = device.boot_count();
        SharedDevice {
            inner: Arc::new(Shared {
                device: Mutex::new(device),
                changed: Notify::new(),
                boots: watch::Sender::new(boots),
                tap: Mutex::new(None),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Device> {
        // A panic while the lock was held leaves a device that is still memory-safe to use;
        // keep serving rather than poisoning every transport.
        self.inner.device.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Run `f` on the device (scenario steps, inspection, power control), then let the timer
    /// driver and the console banners catch up with whatever it changed.
    pub fn with<R>(&self, f: impl FnOnce(&mut Device) -> R) -> R {
        let (result, boots) = {
            let mut dev = self.lock();
            let r = f(&mut dev);
            (r, dev.boot_count())
        };
        self.inner.boots.send_if_modified(|b| std::mem::replace(b, boots) != boots);
        self.inner.changed.notify_one();
        result
    }

    /// Hand one received SMP buffer to the device; returns its replies.
    pub fn handle(&self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.with(|d| d.handle(bytes))
    }

    /// [`SharedDevice::handle`] on a blocking thread, so a long request (an erase, a reboot
    /// with a swap) does not stall the runtime.
    pub async fn handle_async(&self, bytes: Vec<u8>) -> Vec<Vec<u8>> {
        let me = self.clone();
        // Only a panic inside the device fails the join; answer nothing, as a crashed board.
        tokio::task::spawn_blocking(move || me.handle(&bytes)).await.unwrap_or_default()
    }

    /// The device's transport buffer limits.
    pub fn limits(&self) -> Limits {
        self.with(|d| d.limits())
    }

    /// A receiver of the boot count, changed after every reboot.
    pub fn boots(&self) -> watch::Receiver<u64> {
        self.inner.boots.subscribe()
    }

    /// Watch all traffic (replaces any earlier tap).
    pub fn set_tap(&self, tap: Option<Tap>) {
        *self.inner.tap.lock().unwrap_or_else(|e| e.into_inner()) = tap;
    }

    /// Report to the tap, if there is one.
    pub(crate) fn report(&self, transport: &str, event: WireEvent<'_>) {
        let tap = self.inner.tap.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(tap) = tap {
            tap(&Traffic { transport, event });
        }
    }

    /// Start the timer driver: it calls [`Device::poll`] whenever
    /// [`Device::next_deadline_ms`] comes due (the reboot after `os reset`, a watchdog), so
    /// the device reboots by itself while the transports stay up. Stops when the returned
    /// task is dropped. Must be called inside a tokio runtime.
    pub fn spawn_timers(&self) -> Task {
        let me = self.clone();
        Task::spawn(async move {
            loop {
                let (deadline, now) = me.with_quiet(|d| (d.next_deadline_ms(), d.now_ms()));
                match deadline {
                    Some(at) if at <= now => me.poll_blocking().await,
                    Some(at) => {
                        let wait = Duration::from_millis(at - now);
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = me.inner.changed.notified() => {}
                        }
                    }
                    None => me.inner.changed.notified().await,
                }
            }
        })
    }

    /// Like [`SharedDevice::with`] but without waking the timer driver (which is the caller).
    fn with_quiet<R>(&self, f: impl FnOnce(&mut Device) -> R) -> R {
        f(&mut self.lock())
    }

    async fn poll_blocking(&self) {
        let me = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let boots = {
                let mut dev = me.lock();
                dev.poll();
                dev.boot_count()
            };
            me.inner.boots.send_if_modified(|b| std::mem::replace(b, boots) != boots);
        })
        .await;
    }
}

/// A spawned task that is aborted when dropped.
#[derive(Debug)]
pub struct Task(JoinHandle<()>);

impl Task {
    pub(crate) fn spawn(f: impl std::future::Future<Output = ()> + Send + 'static) -> Task {
        Task(tokio::spawn(f))
    }

    /// True once the task has ended (it only ends on its own after a fatal I/O error).
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}
