//! PTY transport: the device's UART console, as a pseudo-terminal any serial client can open
//! (`smpmgr --port /dev/pts/N`, `mcumgrctl --serial /dev/pts/N`).
//!
//! * SMP packets travel in Zephyr's console framing ([`smp::serial`]): replies are split the
//!   way Zephyr splits them (127-byte lines); requests are reassembled as Zephyr's
//!   `uart_mcumgr` does — a line longer than the UART receive buffer
//!   ([`PtyConfig::rx_line_len`], `CONFIG_UART_MCUMGR_RX_BUF_SIZE`, 128) is dropped whole, a
//!   frame announcing more than the device's `buf_size` is dropped, a bad CRC is dropped
//!   silently, and anything that is not a frame line is console input and ignored.
//! * The device prints console text that is not SMP (MCUboot's and Zephyr's boot banners after
//!   every reboot), as a real board does; clients must skip it.
//! * Or, with [`SerialFraming::Raw`], Zephyr's raw UART mode: bare SMP packets, no framing.
//! * With a baud rate ([`PtyConfig::baud`]) both directions are paced at 10 bits per byte, so
//!   transfers take as long as on the wire.
//! * The pts is put in raw mode (a fresh pts echoes and turns `\n` into `\r\n`), and this
//!   process keeps the pts open, so clients may open and close it any number of times without
//!   the master side seeing a hang-up.
//!
//! Bytes written while nobody reads pile up in the pts; when it is full (about 4 KiB), output
//! is dropped after [`WRITE_STALL`] rather than stalling the device, as a UART with nobody
//! listening loses what it sends.

use std::future::Future;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use pty_process::{OwnedReadPty, OwnedWritePty, Pts};
use smp::serial::{DecoderConfig, EncodeOptions, Event, RawDecoder, SerialDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc, watch};

use super::emit::{self, Link, Out};
use super::faults::{self, FaultControl, FaultKind, FaultPlan};
use super::pacing::Pacer;
use super::{Direction, SharedDevice, Task, TransportError, WireEvent};
use crate::device::{Device, RunState};

/// How long a write to the pts may wait for room before its bytes are dropped.
pub const WRITE_STALL: Duration = Duration::from_millis(500);

/// Bytes moved per paced step: small enough that pacing is smooth (5.6 ms at 115200 baud).
const PACE_CHUNK: usize = 64;

/// How SMP packets travel on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SerialFraming {
    /// Zephyr's console framing (`06 09` / `04 14` base64 lines with length and CRC).
    #[default]
    Console,
    /// `CONFIG_MCUMGR_TRANSPORT_RAW_UART`: bare SMP packets back to back, each one's end found
    /// from its header's `len`. No console text can share the line, so no banners are printed.
    Raw {
        /// `CONFIG_MCUMGR_TRANSPORT_RAW_UART_INPUT_TIMEOUT_TIME_MS`: a partial packet followed
        /// by this much silence is thrown away (`None`: kept until more bytes come).
        input_timeout_ms: Option<u64>,
    },
}

/// How a PTY transport behaves.
#[derive(Debug, Clone)]
pub struct PtyConfig {
    /// Name in traffic reports.
    pub name: String,
    /// Pace both directions at this baud rate (8N1); `None` = as fast as the host goes.
    pub baud: Option<u32>,
    /// The UART receive line buffer: longer lines are dropped (marker and newline counted).
    pub rx_line_len: usize,
    /// Console framing or raw UART.
    pub framing: SerialFraming,
    /// How replies are cut into lines (console framing).
    pub tx_framing: EncodeOptions,
    /// Print boot banners (MCUboot, Zephyr) after every reboot.
    pub console: bool,
    /// Also make this symlink to the pts (replaced if it exists, removed on close).
    pub link: Option<PathBuf>,
    pub faults: FaultPlan,
}

impl Default for PtyConfig {
    fn default() -> PtyConfig {
        PtyConfig {
            name: "pty".into(),
            baud: None,
            rx_line_len: smp::serial::DEVICE_RX_LINE_LEN,
            framing: SerialFraming::Console,
            tx_framing: EncodeOptions::default(),
            console: true,
            link: None,
            faults: FaultPlan::none(),
        }
    }
}

/// A device's console on a pseudo-terminal. Dropping it closes the pty and removes the link.
pub struct PtyTransport {
    path: PathBuf,
    link: Option<PathBuf>,
    faults: FaultControl,
    _tasks: Vec<Task>,
    /// Kept open so clients can come and go without the master seeing a hang-up.
    _pts: Pts,
}

#[derive(Clone)]
struct SerialLink {
    writer: Arc<Mutex<OwnedWritePty>>,
    pacer: Option<Arc<Mutex<Pacer>>>,
    raw: bool,
    framing: EncodeOptions,
}

impl SerialLink {
    async fn write(&self, bytes: &[u8]) {
        let mut w = self.writer.lock().await;
        let step = if self.pacer.is_some() { PACE_CHUNK } else { bytes.len().max(1) };
        for (i, chunk) in bytes.chunks(step).enumerate() {
            if let Some(p) = &self.pacer {
                // The first chunk starts when the line is free; the rest follow it.
                let mut p = p.lock().await;
                if i == 0 { p.pace(chunk.len()).await } else { p.pace_queued(chunk.len()).await }
            }
            match tokio::time::timeout(WRITE_STALL, w.write_all(chunk)).await {
                Ok(Ok(())) => {}
                // Nobody reads (buffer full) or the pty failed: the rest is lost.
                _ => return,
            }
        }
        let _ = tokio::time::timeout(WRITE_STALL, w.flush()).await;
    }
}

impl Link for SerialLink {
    type Peer = ();
    const ORDERED: bool = true;

    fn wire(&self, packet: &[u8], faults: &[FaultKind]) -> Vec<u8> {
        if self.raw {
            // No CRC and no lines: damage the packet itself.
            let mut bytes = packet.to_vec();
            if faults.contains(&FaultKind::CorruptCrc) {
                faults::corrupt_last_byte(&mut bytes);
            }
            if faults.contains(&FaultKind::TruncateLine) {
                faults::truncate_datagram(&mut bytes);
            }
            return bytes;
        }
        let Ok(mut frame) = smp::serial::encode(packet, self.framing) else {
            // Only an empty or >64 KiB packet fails to frame; the device makes neither.
            return Vec::new();
        };
        if faults.contains(&FaultKind::CorruptCrc) {
            faults::corrupt_frame_crc(&mut frame);
        }
        if faults.contains(&FaultKind::TruncateLine) {
            faults::truncate_last_line(&mut frame);
        }
        frame
    }

    fn send(&mut self, _to: &(), bytes: Vec<u8>) -> impl Future<Output = ()> + Send {
        let me = self.clone();
        async move { me.write(&bytes).await }
    }

    fn send_text(&mut self, text: Vec<u8>) -> impl Future<Output = ()> + Send {
        let me = self.clone();
        async move { me.write(&text).await }
    }
}

impl PtyTransport {
    /// Allocate a pty and serve `shared` on it. Must be called inside a tokio runtime.
    pub fn open(shared: &SharedDevice, config: PtyConfig) -> Result<PtyTransport, TransportError> {
        if config.rx_line_len < 8 {
            return Err(TransportError::Config(format!(
                "a {}-byte UART line buffer cannot hold a frame line",
                config.rx_line_len
            )));
        }
        if config.baud == Some(0) {
            return Err(TransportError::Config("baud rate 0".into()));
        }
        let (pty, pts) = pty_process::open()?;
        set_raw(&pts).map_err(|e| TransportError::io("setting the pts to raw mode", e.into()))?;
        let path = rustix::pty::ptsname(pty.as_fd(), Vec::new())
            .map_err(|e| TransportError::io("reading the pts name", e.into()))?;
        let path =
            PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path.as_bytes()));
        if let Some(link) = &config.link {
            make_link(&path, link)?;
        }
        let (reader, writer) = pty.into_split();
        let faults = FaultControl::new(config.faults.clone());
        let pacer_rx = config.baud.map(Pacer::new);
        let link = SerialLink {
            writer: Arc::new(Mutex::new(writer)),
            pacer: config.baud.map(|b| Arc::new(Mutex::new(Pacer::new(b)))),
            raw: matches!(config.framing, SerialFraming::Raw { .. }),
            framing: config.tx_framing,
        };
        let (out_tx, out_rx) = mpsc::channel::<Out<()>>(64);
        let mut tasks =
            vec![Task::spawn(emit::run(out_rx, link, faults.clone(), shared.clone(), config.name.clone()))];
        let buf_size = shared.limits().buf_size as usize;
        let receiver = match config.framing {
            SerialFraming::Console => Receiver::Console(SerialDecoder::with_config(DecoderConfig {
                max_line_len: config.rx_line_len,
                ..DecoderConfig::device(buf_size)
            })),
            SerialFraming::Raw { input_timeout_ms } => Receiver::Raw {
                decoder: RawDecoder::new(buf_size),
                timeout: input_timeout_ms.map(Duration::from_millis),
            },
        };
        let console = config.console && config.framing == SerialFraming::Console;
        tasks.push(Task::spawn(serve(
            reader,
            shared.clone(),
            receiver,
            pacer_rx,
            out_tx.clone(),
            config.name,
        )));
        if console {
            tasks.push(Task::spawn(banners(shared.clone(), shared.boots(), out_tx)));
        }
        Ok(PtyTransport { path, link: config.link, faults, _tasks: tasks, _pts: pts })
    }

    /// The pts clients open (`/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The symlink to the pts, if one was asked for.
    pub fn link(&self) -> Option<&Path> {
        self.link.as_deref()
    }

    /// Change the faults applied to replies.
    pub fn faults(&self) -> &FaultControl {
        &self.faults
    }
}

impl std::fmt::Debug for PtyTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtyTransport")
            .field("path", &self.path)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl Drop for PtyTransport {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            // Only remove it if it still points at our pts.
            if std::fs::read_link(link).is_ok_and(|t| t == self.path) {
                let _ = std::fs::remove_file(link);
            }
        }
    }
}

fn set_raw(pts: &Pts) -> rustix::io::Result<()> {
    let mut t = rustix::termios::tcgetattr(pts)?;
    t.make_raw();
    rustix::termios::tcsetattr(pts, rustix::termios::OptionalActions::Now, &t)
}

fn make_link(target: &Path, link: &Path) -> Result<(), TransportError> {
    if std::fs::symlink_metadata(link).is_ok_and(|m| m.file_type().is_symlink()) {
        std::fs::remove_file(link)
            .map_err(|e| TransportError::io(format!("replacing the link {}", link.display()), e))?;
    }
    std::os::unix::fs::symlink(target, link)
        .map_err(|e| TransportError::io(format!("linking {} to {}", link.display(), target.display()), e))
}

/// The receiving side of the line.
enum Receiver {
    Console(SerialDecoder),
    Raw { decoder: RawDecoder, timeout: Option<Duration> },
}

impl Receiver {
    fn push(&mut self, bytes: &[u8]) {
        match self {
            Receiver::Console(d) => d.push(bytes),
            Receiver::Raw { decoder, .. } => decoder.push(bytes),
        }
    }

    /// The next packet, or why bytes were dropped; `None` when more bytes are needed.
    fn next(&mut self) -> Option<Result<Vec<u8>, String>> {
        loop {
            return match self {
                Receiver::Console(d) => match d.next_event()? {
                    Ok(Event::Packet(p)) => Some(Ok(p.bytes)),
                    // Console input for the shell: not ours.
                    Ok(Event::Text(_)) => continue,
                    Err(e) => Some(Err(e.to_string())),
                },
                Receiver::Raw { decoder, .. } => Some(decoder.next_packet()?.map_err(|e| e.to_string())),
            };
        }
    }
}

/// Read the client's bytes, reassemble packets, hand them to the device.
async fn serve(
    mut reader: OwnedReadPty,
    dev: SharedDevice,
    mut receiver: Receiver,
    mut pacer: Option<Pacer>,
    out: mpsc::Sender<Out<()>>,
    name: String,
) {
    let mut buf = vec![0u8; if pacer.is_some() { PACE_CHUNK } else { 4096 }];
    let input_timeout = match &receiver {
        Receiver::Raw { timeout, .. } => *timeout,
        Receiver::Console(_) => None,
    };
    loop {
        // Were the bytes already waiting (sent back to back behind the previous ones), or
        // did the line sit idle until the client wrote? Pacing needs to know.
        let mut read = std::pin::pin!(reader.read(&mut buf));
        let ready = tokio::select! {
            biased;
            r = &mut read => Some(r),
            _ = std::future::ready(()) => None,
        };
        let (result, queued) = match (ready, input_timeout) {
            (Some(r), _) => (r, true),
            (None, None) => (read.await, false),
            (None, Some(t)) => match tokio::time::timeout(t, &mut read).await {
                Ok(r) => (r, false),
                Err(_) => {
                    // Silence: a raw UART drops whatever partial packet it holds.
                    if let Receiver::Raw { decoder, .. } = &mut receiver {
                        decoder.reset();
                    }
                    continue;
                }
            },
        };
        let n = match result {
            Ok(0) | Err(_) => {
                // With the pts held open this does not happen; if it does, do not spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Ok(n) => n,
        };
        if let Some(p) = &mut pacer {
            // The bytes have arrived once they would have crossed the line.
            if queued { p.pace_queued(n).await } else { p.pace(n).await }
        }
        receiver.push(&buf[..n]);
        while let Some(next) = receiver.next() {
            match next {
                Ok(packet) => {
                    dev.report(
                        &name,
                        WireEvent::Packet { direction: Direction::Request, bytes: &packet, faults: &[] },
                    );
                    for reply in dev.handle_async(packet).await {
                        if out.send(Out::Reply { to: (), packet: reply }).await.is_err() {
                            return;
                        }
                    }
                }
                Err(why) => dev.report(&name, WireEvent::Discarded { bytes: 0, why: &why }),
            }
        }
    }
}

/// Print boot banners after every reboot.
async fn banners(dev: SharedDevice, mut boots: watch::Receiver<u64>, out: mpsc::Sender<Out<()>>) {
    boots.mark_unchanged();
    while boots.changed().await.is_ok() {
        let text = dev.with(boot_banner);
        if !text.is_empty() && out.send(Out::Text(text.into_bytes())).await.is_err() {
            return;
        }
    }
}

/// What MCUboot and Zephyr print on the console at boot (a shortened version of their logs).
pub fn boot_banner(dev: &mut Device) -> String {
    let mut s = String::from("*** Booting MCUboot ***\r\nI: Starting bootloader\r\n");
    match dev.state() {
        RunState::Running(_) | RunState::Hung { .. } => {
            let offset = dev.map().images.first().map_or(0, |i| i.primary.offset);
            s.push_str(&format!("I: Bootloader chainload address offset: {offset:#x}\r\n"));
            s.push_str("I: Jumping to the first image slot\r\n");
            s.push_str(&format!(
                "*** Booting Zephyr OS build {} ***\r\n",
                dev.server_config().info.kernel_release
            ));
        }
        RunState::Bricked(why) => s.push_str(&format!("E: Unable to find bootable image ({why})\r\n")),
        RunState::Halted(why) => s.push_str(&format!("E: {why}\r\n")),
        RunState::CrashLoop { boots } => {
            s.push_str(&format!("E: application crashed at {boots} boots in a row\r\n"));
        }
        RunState::Off(_) => return String::new(),
    }
    s
}
