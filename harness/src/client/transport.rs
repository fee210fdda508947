//! How the client's SMP packets reach a device: the [`ClientTransport`] trait and its three
//! implementations.
//!
//! | transport | what one `send` writes | what one `recv` returns |
//! |---|---|---|
//! | [`InProcTransport`] | one buffer into the simulator's in-process channel | one reply buffer |
//! | [`UdpTransport`] | one datagram | one SMP packet (a datagram holding several is split) |
//! | [`SerialTransport`] | the packet framed as console lines (`06 09` / `04 14`, base64, CRC-16) | one reassembled, CRC-checked packet; console text is skipped |
//!
//! A transport only moves bytes: matching replies to requests, timeouts and retries are the
//! client's business ([`super::SmpClient`]). Every receive is bounded by the timeout the
//! client passes; nothing here waits forever.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sim_device::transport::{InProcClient, TransportError as SimTransportError};
use smp::serial::{DecoderConfig, EncodeOptions, Event, SerialDecoder};
use tokio::sync::mpsc;

/// Largest datagram accepted from a device (Zephyr's UDP MTU is 1500; allow far more).
const MAX_DATAGRAM: usize = 65_535;

/// How long the serial reader thread blocks in one read before it checks whether it should stop.
const SERIAL_READ_SLICE: Duration = Duration::from_millis(50);

/// Time allowed to write one frame beyond its time on the line.
const WRITE_SLACK_MS: u64 = 5000;

/// Why bytes could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done ("sending a datagram to 127.0.0.1:1337").
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// Opening or configuring a serial port failed.
    #[error("serial port {path}: {source}")]
    Serial {
        /// The port.
        path: String,
        #[source]
        source: serialport::Error,
    },
    /// The other end went away (the in-process channel closed, the serial reader stopped).
    #[error("the transport is closed{}", why.as_deref().map(|w| format!(": {w}")).unwrap_or_default())]
    Closed {
        /// Why, when known.
        why: Option<String>,
    },
    /// A request that cannot be framed for this transport.
    #[error("cannot frame the request: {0}")]
    Frame(String),
}

/// A way to exchange SMP packets with one device.
///
/// `send` writes one whole SMP packet (header + CBOR); `recv` returns the next whole packet that
/// arrived, or `Ok(None)` when nothing did within `timeout`.
pub trait ClientTransport: Send {
    /// Send one SMP packet.
    fn send(&mut self, packet: &[u8]) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// The next received SMP packet, waiting at most `timeout`; `None` if none came.
    fn recv(
        &mut self,
        timeout: Duration,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, TransportError>> + Send;

    /// A short description for messages ("udp 127.0.0.1:1337", "serial /dev/pts/3").
    fn describe(&self) -> String;
}

// ------------------------------------------------------------------------------------------------
// In-process
// ------------------------------------------------------------------------------------------------

/// The simulator's in-process channel ([`InProcClient`]), with whatever faults it was given.
#[derive(Debug)]
pub struct InProcTransport {
    client: InProcClient,
    pending: VecDeque<Vec<u8>>,
}

impl InProcTransport {
    /// Wrap a connected in-process client.
    pub fn new(client: InProcClient) -> InProcTransport {
        InProcTransport { client, pending: VecDeque::new() }
    }

    /// The wrapped client (to change its faults mid-test).
    pub fn inner(&self) -> &InProcClient {
        &self.client
    }
}

impl ClientTransport for InProcTransport {
    async fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        self.client.send(packet).await.map_err(|_| TransportError::Closed { why: None })
    }

    async fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        if let Some(p) = self.pending.pop_front() {
            return Ok(Some(p));
        }
        match self.client.recv(timeout).await {
            Ok(buffer) => {
                self.pending.extend(split_packets(&buffer));
                Ok(self.pending.pop_front())
            }
            Err(SimTransportError::Timeout { .. }) => Ok(None),
            Err(e) => Err(TransportError::Closed { why: Some(e.to_string()) }),
        }
    }

    fn describe(&self) -> String {
        "in-process".into()
    }
}

/// The SMP packets in one received buffer. A buffer whose lengths do not add up is returned
/// whole, for the client to reject with a precise error.
fn split_packets(buffer: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for packet in smp::message::packets(buffer) {
        match packet {
            Ok(p) => out.push([&p.header.encode()[..], p.payload].concat()),
            Err(_) => return vec![buffer.to_vec()],
        }
    }
    if out.is_empty() { vec![buffer.to_vec()] } else { out }
}

// ------------------------------------------------------------------------------------------------
// UDP
// ------------------------------------------------------------------------------------------------

/// SMP over UDP: one request per datagram to `device`; replies from any other address are
/// ignored.
#[derive(Debug)]
pub struct UdpTransport {
    socket: tokio::net::UdpSocket,
    device: SocketAddr,
    pending: VecDeque<Vec<u8>>,
}

impl UdpTransport {
    /// Bind an ephemeral local port of the device's address family.
    pub async fn connect(device: SocketAddr) -> Result<UdpTransport, TransportError> {
        let local: SocketAddr = if device.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
            .parse()
            .map_err(|e| TransportError::Frame(format!("local address: {e}")))?;
        let socket = tokio::net::UdpSocket::bind(local).await.map_err(|source| TransportError::Io {
            what: format!("binding a UDP socket for {device}"),
            source,
        })?;
        Ok(UdpTransport { socket, device, pending: VecDeque::new() })
    }
}

impl ClientTransport for UdpTransport {
    async fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        self.socket.send_to(packet, self.device).await.map_err(|source| TransportError::Io {
            what: format!("sending a datagram to {}", self.device),
            source,
        })?;
        Ok(())
    }

    async fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        if let Some(p) = self.pending.pop_front() {
            return Ok(Some(p));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let received = tokio::time::timeout_at(deadline, self.socket.recv_from(&mut buf)).await;
            let (n, from) = match received {
                Err(_) => return Ok(None),
                Ok(Ok(r)) => r,
                // An ICMP "port unreachable" from an earlier send: nobody listens (yet). Keep
                // waiting until the deadline, as for a lost datagram.
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tokio::time::sleep_until(
                        deadline.min(tokio::time::Instant::now() + Duration::from_millis(10)),
                    )
                    .await;
                    continue;
                }
                Ok(Err(source)) => {
                    return Err(TransportError::Io {
                        what: format!("receiving from {}", self.device),
                        source,
                    });
                }
            };
            if from != self.device {
                tracing::debug!(%from, "datagram from another address ignored");
                continue;
            }
            let datagram = buf.get(..n).unwrap_or_default();
            self.pending.extend(split_packets(datagram));
            return Ok(self.pending.pop_front());
        }
    }

    fn describe(&self) -> String {
        format!("udp {}", self.device)
    }
}

// ------------------------------------------------------------------------------------------------
// Serial
// ------------------------------------------------------------------------------------------------

/// Settings of a serial port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialSettings {
    /// Device path: a real port or a PTY (`/dev/pts/N`, or a symlink to one).
    pub path: String,
    /// Baud rate (ignored by a PTY).
    pub baud: u32,
    /// Longest console line written, marker and newline included (Zephyr: 127).
    pub line_length: usize,
}

impl SerialSettings {
    /// `path` at 115200 baud with 127-byte lines.
    pub fn new(path: impl Into<String>) -> SerialSettings {
        SerialSettings { path: path.into(), baud: 115_200, line_length: smp::serial::MAX_LINE_LEN }
    }
}

/// SMP over a serial console: requests framed as base64 lines, replies reassembled by a
/// reader thread that skips console text (boot banners, logs) and frames with a bad CRC.
pub struct SerialTransport {
    writer: Arc<Mutex<Box<dyn serialport::SerialPort>>>,
    packets: mpsc::Receiver<Result<Vec<u8>, String>>,
    stop: Arc<AtomicBool>,
    options: EncodeOptions,
    path: String,
    baud: u32,
}

impl std::fmt::Debug for SerialTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialTransport").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SerialTransport {
    /// Open the port and start its reader thread.
    pub fn open(settings: &SerialSettings) -> Result<SerialTransport, TransportError> {
        let min = EncodeOptions::min_line_len(smp::serial::LineSplit::Fill);
        if settings.line_length < min {
            return Err(TransportError::Frame(format!(
                "line length {} is below the minimum of {min}",
                settings.line_length
            )));
        }
        let serial_err = |source| TransportError::Serial { path: settings.path.clone(), source };
        let port = serialport::new(&settings.path, settings.baud)
            .timeout(SERIAL_READ_SLICE)
            .open()
            .map_err(serial_err)?;
        let mut reader = port.try_clone().map_err(serial_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel(64);
        let stop_reader = stop.clone();
        let path = settings.path.clone();
        std::thread::Builder::new()
            .name("smp-serial-rx".into())
            .spawn(move || read_loop(&mut *reader, &tx, &stop_reader))
            .map_err(|source| TransportError::Io {
                what: format!("starting the reader of {path}"),
                source,
            })?;
        Ok(SerialTransport {
            writer: Arc::new(Mutex::new(port)),
            packets: rx,
            stop,
            options: EncodeOptions::fill(settings.line_length),
            path: settings.path.clone(),
            baud: settings.baud,
        })
    }
}

/// Write all of `bytes`, retrying the port's short timeouts until `limit` has passed.
fn write_within(port: &mut dyn serialport::SerialPort, bytes: &[u8], limit: Duration) -> std::io::Result<()> {
    let deadline = std::time::Instant::now() + limit;
    let mut rest = bytes;
    while !rest.is_empty() {
        match port.write(rest) {
            Ok(0) => {
                return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "the port took no bytes"));
            }
            Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                        | std::io::ErrorKind::WouldBlock
                ) =>
            {
                if std::time::Instant::now() >= deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "{} of {} bytes still unwritten after {} ms",
                            rest.len(),
                            bytes.len(),
                            limit.as_millis()
                        ),
                    ));
                }
            }
            Err(e) => return Err(e),
        }
    }
    port.flush()
}

/// The reader thread: decode console bytes into packets until told to stop or the port fails.
fn read_loop(
    port: &mut dyn serialport::SerialPort,
    tx: &mpsc::Sender<Result<Vec<u8>, String>>,
    stop: &AtomicBool,
) {
    let mut decoder =
        SerialDecoder::with_config(DecoderConfig { report_text: false, ..DecoderConfig::default() });
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        match port.read(&mut buf) {
            Ok(0) => std::thread::sleep(SERIAL_READ_SLICE),
            Ok(n) => {
                decoder.push(buf.get(..n).unwrap_or_default());
                while let Some(event) = decoder.next_event() {
                    match event {
                        Ok(Event::Packet(p)) => {
                            if tx.blocking_send(Ok(p.bytes)).is_err() {
                                return;
                            }
                        }
                        Ok(Event::Text(_)) => {}
                        // A damaged frame is a lost reply: the client's timeout covers it.
                        Err(e) => tracing::debug!("serial frame dropped: {e}"),
                    }
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted) => {}
            Err(e) => {
                let _ = tx.blocking_send(Err(format!("reading the port: {e}")));
                return;
            }
        }
    }
}

impl Drop for SerialTransport {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl ClientTransport for SerialTransport {
    async fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        let frame =
            smp::serial::encode(packet, self.options).map_err(|e| TransportError::Frame(e.to_string()))?;
        let writer = self.writer.clone();
        let path = self.path.clone();
        // The port's own timeout is short (it paces the reader); a frame may take longer to
        // drain at a low baud rate or behind a full buffer, so keep writing until a deadline
        // of a few seconds plus the frame's time on the line.
        let line_ms = (frame.len() as u64 * 10 * 1000) / u64::from(self.baud.max(1));
        let limit = Duration::from_millis(WRITE_SLACK_MS + 2 * line_ms);
        let result = tokio::task::spawn_blocking(move || {
            let mut port = writer.lock().unwrap_or_else(|e| e.into_inner());
            write_within(&mut **port, &frame, limit)
        })
        .await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => Err(TransportError::Io { what: format!("writing to {path}"), source }),
            Err(e) => Err(TransportError::Closed { why: Some(format!("writer task: {e}")) }),
        }
    }

    async fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        match tokio::time::timeout(timeout, self.packets.recv()).await {
            Err(_) => Ok(None),
            Ok(Some(Ok(p))) => Ok(Some(p)),
            Ok(Some(Err(why))) => Err(TransportError::Closed { why: Some(why) }),
            Ok(None) => Err(TransportError::Closed { why: Some("the reader stopped".into()) }),
        }
    }

    fn describe(&self) -> String {
        format!("serial {}", self.path)
    }
}

// ------------------------------------------------------------------------------------------------
// Any of them
// ------------------------------------------------------------------------------------------------

/// One of the transports, chosen at run time (the command line's `--udp` / `--serial`).
#[derive(Debug)]
pub enum AnyTransport {
    /// In-process.
    InProc(InProcTransport),
    /// UDP.
    Udp(UdpTransport),
    /// Serial or PTY.
    Serial(SerialTransport),
}

impl ClientTransport for AnyTransport {
    async fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        match self {
            AnyTransport::InProc(t) => t.send(packet).await,
            AnyTransport::Udp(t) => t.send(packet).await,
            AnyTransport::Serial(t) => t.send(packet).await,
        }
    }

    async fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        match self {
            AnyTransport::InProc(t) => t.recv(timeout).await,
            AnyTransport::Udp(t) => t.recv(timeout).await,
            AnyTransport::Serial(t) => t.recv(timeout).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            AnyTransport::InProc(t) => t.describe(),
            AnyTransport::Udp(t) => t.describe(),
            AnyTransport::Serial(t) => t.describe(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smp::cbor::MapStyle;
    use smp::groups::os::EchoRequest;
    use smp::header::Version;
    use smp::message::Request;

    fn echo(seq: u8) -> Vec<u8> {
        Request::Echo(EchoRequest { d: Some("x".into()) })
            .encode(seq, Version::V2, MapStyle::Definite)
            .unwrap()
    }

    #[test]
    fn a_buffer_with_several_packets_is_split() {
        let buffer = [echo(1), echo(2), echo(3)].concat();
        let packets = split_packets(&buffer);
        assert_eq!(packets, vec![echo(1), echo(2), echo(3)]);
    }

    #[test]
    fn a_buffer_whose_lengths_do_not_add_up_is_kept_whole() {
        let mut buffer = [echo(1), echo(2)].concat();
        buffer.truncate(buffer.len() - 1);
        assert_eq!(split_packets(&buffer), vec![buffer.clone()]);
        assert_eq!(split_packets(&[]), vec![Vec::<u8>::new()]);
    }

    #[test]
    fn serial_settings_refuse_lines_too_short_to_frame() {
        let settings = SerialSettings { line_length: 5, ..SerialSettings::new("/dev/null") };
        let e = SerialTransport::open(&settings).unwrap_err();
        assert_eq!(e.to_string(), "cannot frame the request: line length 5 is below the minimum of 7");
    }
}
