//! An in-process device made reachable by external programs for `exec` steps: a real
//! pseudo-terminal and a UDP socket on 127.0.0.1, both serving the same [`SharedDevice`] the
//! scenario's other steps use, and a [`ClockPump`] that lets the device's modelled time pass
//! in real time while an outside client talks to it.
//!
//! ```text
//!  smpmgr --port /dev/pts/N ──▶ PtyTransport ──┐
//!  mcumgrctl --udp 127.0.0.1:P ─▶ UdpTransport ─┼──▶ SharedDevice (manual clock)
//!  scenario steps ─▶ InProcClient ──────────────┘          ▲
//!                                   ClockPump: advance(real elapsed ms) every 5 ms
//! ```
//!
//! The serial side behaves as `brownout sim --pty` does (console framing, boot banners after
//! each reboot) but with a 512-byte UART receive line buffer
//! ([`EXEC_UART_RX_BUF`], as a board built with `CONFIG_UART_MCUMGR_RX_BUF_SIZE=512`), so a
//! client that sends lines longer than Zephyr's default 128 bytes (`smpmgr --line-length 512`)
//! is served as well as one that keeps to it (`mcumgrctl`, `smpmgr`'s default).
//!
//! The UDP socket gets a free port: `{port}` says which. (`smpmgr --ip` always talks to port
//! 1337, so use its serial transport, `--port {pty}`, from scenarios.)
//!
//! The runner's devices keep modelled time (a manual clock moved by steps), but a client
//! outside waits in real time: after `os reset` it expects the board back after the reset
//! delay, and a hung image's watchdog should fire while it waits. [`real_time`] returns a pump
//! that, while it lives, moves the device's clock on by the real time elapsed, so reboots and
//! watchdogs happen as on a board; dropping it stops the pump and time is modelled again.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sim_device::transport::{
    PtyConfig, PtyTransport, SerialFraming, SharedDevice, TransportError, UdpConfig, UdpTransport,
};
use tokio::task::JoinHandle;

use super::exec::{ExecContext, placeholders};

/// The UART receive line buffer of the exec PTY (`CONFIG_UART_MCUMGR_RX_BUF_SIZE`).
pub const EXEC_UART_RX_BUF: usize = 512;

/// How often the [`ClockPump`] moves the device's clock.
pub const PUMP_TICK: Duration = Duration::from_millis(5);

/// Why the device could not be exposed.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// No pseudo-terminal could be opened.
    #[error("opening a PTY for the device: {0}")]
    Pty(#[source] TransportError),
    /// No UDP socket could be bound.
    #[error("opening a UDP socket for the device on 127.0.0.1: {0}")]
    Udp(#[source] TransportError),
}

/// The device's PTY and/or UDP socket, served until dropped.
#[derive(Debug)]
pub struct Endpoints {
    pty: Option<PtyTransport>,
    udp: Option<UdpTransport>,
}

/// Which endpoints `command` needs: (`{pty}`, any of `{ip}` `{port}` `{addr}`). A command
/// that cannot be parsed needs none (running it reports why).
pub fn wanted(command: &str) -> (bool, bool) {
    let used = placeholders(command).unwrap_or_default();
    (used.contains(&"pty"), used.iter().any(|p| matches!(*p, "ip" | "port" | "addr")))
}

impl Endpoints {
    /// Serve `shared` on a new PTY (`want_pty`) and a UDP socket on 127.0.0.1 with a free
    /// port (`want_udp`). Must be called inside a tokio runtime; the transports' tasks run on
    /// it until the `Endpoints` are dropped.
    pub async fn open(
        shared: &SharedDevice,
        want_pty: bool,
        want_udp: bool,
    ) -> Result<Endpoints, EndpointError> {
        let pty = if want_pty {
            let config = PtyConfig {
                name: "exec pty".into(),
                rx_line_len: EXEC_UART_RX_BUF,
                framing: SerialFraming::Console,
                console: true,
                ..PtyConfig::default()
            };
            Some(PtyTransport::open(shared, config).map_err(EndpointError::Pty)?)
        } else {
            None
        };
        let udp = if want_udp {
            let bind = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
            Some(UdpTransport::bind(shared, UdpConfig::new(bind)).await.map_err(EndpointError::Udp)?)
        } else {
            None
        };
        Ok(Endpoints { pty, udp })
    }

    /// The pts clients open (`/dev/pts/N`), if a PTY was asked for.
    pub fn pty_path(&self) -> Option<&Path> {
        self.pty.as_ref().map(PtyTransport::path)
    }

    /// Where the device listens on UDP, if asked for.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().map(UdpTransport::local_addr)
    }

    /// An [`ExecContext`] with these endpoints, working in `cwd` (also `{dir}`), no image.
    pub fn context(&self, cwd: &Path) -> ExecContext {
        ExecContext {
            pty: self.pty_path().map(Path::to_path_buf),
            udp: self.udp_addr(),
            ..ExecContext::new(cwd)
        }
    }
}

/// Moves a device's clock on in real time while it lives (see [`real_time`]).
#[derive(Debug)]
pub struct ClockPump {
    task: JoinHandle<()>,
    pumped: Arc<AtomicU64>,
    /// Set when dropped: a move already on the blocking pool checks it under the device lock,
    /// so once the pump is dropped the next look at the device sees its final time.
    stopped: Arc<AtomicBool>,
}

impl ClockPump {
    /// Milliseconds the pump has moved the clock so far.
    pub fn pumped_ms(&self) -> u64 {
        self.pumped.load(Ordering::Relaxed)
    }
}

impl Drop for ClockPump {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.task.abort();
    }
}

/// Start moving `shared`'s clock by the real time elapsed, every [`PUMP_TICK`], until the
/// returned pump is dropped. Each move runs the device's due deadlines (`Device::advance`): the
/// reboot after `os reset`, a watchdog. Moves run on the blocking pool (a reboot may swap
/// images), and real time spent in one is added by the next, so the device keeps pace with
/// the wall clock. On a device with a system clock the moves do nothing but still run due
/// deadlines. Must be called inside a tokio runtime.
pub fn real_time(shared: &SharedDevice) -> ClockPump {
    let shared = shared.clone();
    let pumped = Arc::new(AtomicU64::new(0));
    let total = pumped.clone();
    let stopped = Arc::new(AtomicBool::new(false));
    let stop = stopped.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PUMP_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Instant::now();
        let mut owed = Duration::ZERO;
        loop {
            tick.tick().await;
            let now = Instant::now();
            owed += now.saturating_duration_since(last);
            last = now;
            let ms = u64::try_from(owed.as_millis()).unwrap_or(u64::MAX);
            if ms == 0 {
                continue;
            }
            owed = owed.saturating_sub(Duration::from_millis(ms));
            let (device, stop, total) = (shared.clone(), stop.clone(), total.clone());
            let moved = tokio::task::spawn_blocking(move || {
                device.with(|d| {
                    if !stop.load(Ordering::SeqCst) {
                        d.advance(ms);
                        total.fetch_add(ms, Ordering::Relaxed);
                    }
                });
            });
            // Only a panic inside the device fails the join; the pump then has nothing to do.
            if moved.await.is_err() {
                return;
            }
        }
    });
    ClockPump { task, pumped, stopped }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_say_which_endpoints_they_need() {
        assert_eq!(wanted("smpmgr --port {pty} os echo hi"), (true, false));
        assert_eq!(wanted("mcumgrctl --udp {addr} os echo hi"), (false, true));
        assert_eq!(wanted("x --host {ip} --port {port}"), (false, true));
        assert_eq!(wanted("x {pty} {ip}"), (true, true));
        assert_eq!(wanted("echo '{{pty}}' {image}"), (false, false));
        assert_eq!(wanted("echo {unknown} {pty}"), (false, false));
    }
}
