//! Support for the transport tests (included with `#[path]`): a device, and one blocking
//! client per transport that sends request buffers and reads what came back on the wire.
//!
//! The transports run on a tokio runtime of their own; the test thread talks to them with
//! plain blocking I/O, every read bounded by a timeout.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::UdpSocket;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use sim_device::device::{Clock, DeviceConfig};
use sim_device::transport::{
    FaultPlan, InProcClient, InProcConfig, PtyConfig, PtyTransport, SharedDevice, UdpConfig, UdpTransport,
};
use smp::cbor::MapStyle;
use smp::groups::os::EchoRequest;
use smp::header::Version;
use smp::message::Request;
use smp::serial::{EncodeOptions, Event, SerialDecoder};

/// Generous bound on any single wait.
pub const WAIT: Duration = Duration::from_secs(10);

/// A hash-only 1.0.0 image.
pub fn app(len: usize) -> Vec<u8> {
    let opts = mcuboot::image::sign::SignOptions { pad_header: true, ..Default::default() };
    mcuboot::image::sign::sign(&vec![0x5a; len], None, &opts).unwrap()
}

/// A k64f board running a hash-only image, on the system clock.
pub fn device() -> SharedDevice {
    SharedDevice::new(
        DeviceConfig::preset("k64f").unwrap().primary(app(4096)).clock(Clock::system()).build().unwrap(),
    )
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// `os echo {"d": text}`, SMP v2, with `seq`.
pub fn echo(seq: u8, text: &str) -> Vec<u8> {
    Request::Echo(EchoRequest { d: Some(text.into()) }).encode(seq, Version::V2, MapStyle::Definite).unwrap()
}

/// The echo text of an echo reply (`{"r": text}`), if it is one.
pub fn echo_text(reply: &[u8]) -> Option<String> {
    let body = smp::cbor::decode(reply.get(8..)?).ok()?;
    body.get("r").and_then(|v| v.as_text()).map(str::to_owned)
}

/// Which transport a client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InProc,
    Udp,
    Pty,
}

pub const ALL: [Kind; 3] = [Kind::InProc, Kind::Udp, Kind::Pty];

/// A transport and a blocking client of it.
pub struct Wire {
    pub kind: Kind,
    pub rt: tokio::runtime::Runtime,
    pub dev: SharedDevice,
    inproc: Option<InProcClient>,
    udp: Option<(UdpTransport, UdpSocket)>,
    pty: Option<(PtyTransport, PtyClient)>,
    pty_transport: Option<PtyTransport>,
    _timers: sim_device::transport::Task,
}

impl Wire {
    /// A fresh device behind a `kind` transport with `faults`.
    pub fn new(kind: Kind, faults: FaultPlan) -> Wire {
        Wire::with_device(kind, faults, device(), PtyConfig::default())
    }

    pub fn with_device(kind: Kind, faults: FaultPlan, dev: SharedDevice, pty: PtyConfig) -> Wire {
        let rt = runtime();
        let _g = rt.enter();
        let timers = dev.spawn_timers();
        let mut w = Wire {
            kind,
            dev: dev.clone(),
            inproc: None,
            udp: None,
            pty: None,
            pty_transport: None,
            _timers: timers,
            rt,
        };
        match kind {
            Kind::InProc => {
                w.inproc =
                    Some(InProcClient::connect(&dev, InProcConfig { faults, ..InProcConfig::default() }));
            }
            Kind::Udp => {
                let mut cfg = UdpConfig::new("127.0.0.1:0".parse().unwrap());
                cfg.faults = faults;
                let t = w.rt.block_on(UdpTransport::bind(&dev, cfg)).unwrap();
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.connect(t.local_addr()).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                w.udp = Some((t, s));
            }
            Kind::Pty => {
                let t = PtyTransport::open(&dev, PtyConfig { faults, ..pty }).unwrap();
                let c = PtyClient::open(t.path());
                w.pty = Some((t, c));
            }
        }
        w
    }

    /// Send one request buffer (framed for the PTY).
    pub fn send(&mut self, request: &[u8]) {
        match self.kind {
            Kind::InProc => {
                let c = self.inproc.as_ref().unwrap();
                self.rt.block_on(c.send(request)).unwrap();
            }
            Kind::Udp => {
                self.udp.as_ref().unwrap().1.send(request).unwrap();
            }
            Kind::Pty => {
                let frame = smp::serial::encode(request, EncodeOptions::fill(127)).unwrap();
                self.pty.as_mut().unwrap().1.write(&frame);
            }
        }
    }

    /// Send raw bytes: a datagram, a channel buffer, or bytes on the serial line.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        match self.kind {
            Kind::Pty => self.pty.as_mut().unwrap().1.write(bytes),
            _ => self.send(bytes),
        }
    }

    /// The next reply on the wire: a datagram / channel buffer, or for the PTY the raw bytes
    /// up to and including the next newline that ends a frame line... (see `recv_packet`).
    pub fn recv_raw(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        match self.kind {
            Kind::InProc => {
                let c = self.inproc.as_mut().unwrap();
                self.rt.block_on(c.recv(timeout)).ok()
            }
            Kind::Udp => {
                let s = &self.udp.as_ref().unwrap().1;
                let deadline = Instant::now() + timeout;
                let mut buf = vec![0u8; 65536];
                while Instant::now() < deadline {
                    if let Ok(n) = s.recv(&mut buf) {
                        return Some(buf[..n].to_vec());
                    }
                }
                None
            }
            Kind::Pty => self.pty.as_mut().unwrap().1.read_some(timeout),
        }
    }

    /// The next decoded SMP reply (PTY: frames decoded, text and bad frames skipped).
    pub fn recv_packet(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        match self.kind {
            Kind::Pty => self.pty.as_mut().unwrap().1.next_packet(timeout),
            _ => self.recv_raw(timeout),
        }
    }

    /// Replies until one with sequence number `seq` arrives (included), at most `WAIT`.
    pub fn recv_until_seq(&mut self, seq: u8) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + WAIT;
        let mut got = Vec::new();
        while let Some(p) = self.recv_packet(deadline.saturating_duration_since(Instant::now())) {
            let done = p.get(6) == Some(&seq);
            got.push(p);
            if done {
                return got;
            }
        }
        panic!("no reply with seq {seq} on {:?}; got {got:?}", self.kind)
    }

    /// The PTY client (PTY wires only).
    pub fn pty_client(&mut self) -> &mut PtyClient {
        &mut self.pty.as_mut().unwrap().1
    }

    /// Close the PTY client (the transport stays).
    pub fn close_pty_client(&mut self) {
        if let Some((t, c)) = self.pty.take() {
            drop(c);
            self.pty_transport = Some(t);
        }
    }

    pub fn pty_path(&self) -> &Path {
        match (&self.pty, &self.pty_transport) {
            (Some((t, _)), _) | (None, Some(t)) => t.path(),
            _ => panic!("not a PTY wire"),
        }
    }

    /// Change the transport's faults.
    pub fn set_faults(&self, plan: FaultPlan) {
        match self.kind {
            Kind::InProc => self.inproc.as_ref().unwrap().faults().set(plan),
            Kind::Udp => self.udp.as_ref().unwrap().0.faults().set(plan),
            Kind::Pty => self.pty.as_ref().unwrap().0.faults().set(plan),
        }
    }

    /// Ask an echo and expect its answer (the transport still works).
    pub fn assert_answers(&mut self, seq: u8) {
        self.send(&echo(seq, "still there?"));
        let replies = self.recv_until_seq(seq);
        let last = replies.last().unwrap();
        assert_eq!(echo_text(last).as_deref(), Some("still there?"), "{:?}", self.kind);
    }
}

/// A serial client on the pts: blocking writes, polled non-blocking reads (so dropping it
/// really closes the pts, as a client exiting does).
pub struct PtyClient {
    file: std::fs::File,
    decoder: SerialDecoder,
    /// Console text lines seen while looking for packets.
    pub text: Vec<String>,
    /// Frame errors seen while looking for packets.
    pub errors: Vec<String>,
}

impl PtyClient {
    pub fn open(path: &Path) -> PtyClient {
        let flags = rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::NONBLOCK;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(flags.bits() as i32)
            .open(path)
            .unwrap();
        PtyClient { file, decoder: SerialDecoder::new(), text: Vec::new(), errors: Vec::new() }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        let deadline = Instant::now() + WAIT;
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.file.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the pts accepts no more bytes");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("writing the pts: {e}"),
            }
        }
    }

    /// Whatever bytes arrive next, within `timeout`.
    pub fn read_some(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            match self.file.read(&mut buf) {
                Ok(n) if n > 0 => return Some(buf[..n].to_vec()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("reading the pts: {e}"),
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Raw bytes until `n` newlines have been seen, within `WAIT`.
    pub fn read_lines(&mut self, n: usize) -> Vec<u8> {
        let deadline = Instant::now() + WAIT;
        let mut out = Vec::new();
        while out.iter().filter(|&&b| b == b'\n').count() < n {
            match self.read_some(deadline.saturating_duration_since(Instant::now())) {
                Some(b) => out.extend(b),
                None => panic!("only part of {n} lines arrived: {:?}", String::from_utf8_lossy(&out)),
            }
        }
        out
    }

    /// The next decoded packet, within `timeout`.
    pub fn next_packet(&mut self, timeout: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(e) = self.decoder.next_event() {
                match e {
                    Ok(Event::Packet(p)) => return Some(p.bytes),
                    Ok(Event::Text(t)) => self.text.push(String::from_utf8_lossy(&t.bytes).into_owned()),
                    Err(e) => self.errors.push(e.to_string()),
                }
            }
            let bytes = self.read_some(deadline.saturating_duration_since(Instant::now()))?;
            self.decoder.push(&bytes);
        }
    }
}
