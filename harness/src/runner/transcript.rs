//! A scenario's SMP transcript: every packet that crossed the device's transports, with notes
//! marking where each step began, for the reproducer directory of a failed scenario.
//!
//! ```text
//! SharedDevice ──set_tap(transcript.tap())──▶ Transcript ◀── note(step, line, "upload …")
//!                                                │   (the runner, before each step)
//!                                                ▼
//!                                    to_text(): one entry per packet, decoded
//! ```
//!
//! A [`Transcript`] is a cheap handle (clones share one record), safe to call from transport
//! tasks. It is bounded: it keeps the last [`MAX_ENTRIES`] entries and at most [`MAX_BYTES`]
//! of packet bytes, dropping the oldest first, and [`Transcript::to_text`] says how much was
//! dropped. Each entry carries the device's modelled time (when the transcript knows the
//! device's clock) and the wall time since the transcript was made.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sim_device::device::clock::Clock;
use sim_device::transport::{Direction, SharedDevice, Tap, Traffic, WireEvent};
use smp::cbor::Value;
use smp::header::HEADER_LEN;
use smp::message::{self, Message, Request, Response};

/// Entries kept by default (the oldest are dropped first).
pub const MAX_ENTRIES: usize = 2000;

/// Packet and text bytes kept by default (the oldest entries are dropped first).
pub const MAX_BYTES: usize = 4 << 20;

/// Longest single entry kept whole: an SMP packet is at most 8 + 65535 bytes; console text
/// longer than this is cut.
const MAX_ENTRY_BYTES: usize = HEADER_LEN + u16::MAX as usize;

/// Byte strings longer than this are shown as their first bytes and their length.
const SHOW_BYTES: usize = 16;

/// Text strings longer than this (in characters) are cut in the decoded body.
const SHOW_CHARS: usize = 160;

/// A recorder of one scenario's SMP traffic. Clones share the same record.
#[derive(Clone)]
pub struct Transcript {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Transcript")
            .field("entries", &inner.entries.len())
            .field("bytes", &inner.bytes)
            .field("dropped", &inner.dropped_entries)
            .finish_non_exhaustive()
    }
}

impl Default for Transcript {
    fn default() -> Transcript {
        Transcript::new()
    }
}

struct Inner {
    started: Instant,
    /// The device's clock, for modelled time stamps.
    clock: Option<Clock>,
    entries: VecDeque<Entry>,
    /// Bytes held by `entries`.
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    /// What was dropped to stay within the bounds.
    dropped_entries: u64,
    dropped_bytes: u64,
    /// Number of the next entry (1-based, counting dropped ones).
    next: u64,
}

/// One recorded thing.
#[derive(Debug, Clone)]
struct Entry {
    number: u64,
    /// Wall time since the transcript was made.
    wall: Duration,
    /// The device's clock, if known.
    model_ms: Option<u64>,
    kind: EntryKind,
}

#[derive(Debug, Clone)]
enum EntryKind {
    /// A step begins (from the runner).
    Note { step: usize, line: u64, text: String },
    /// An SMP buffer in either direction.
    Packet { transport: String, direction: Direction, bytes: Vec<u8>, faults: Vec<String> },
    /// Bytes that never reached the device.
    Discarded { transport: String, bytes: usize, why: String },
    /// Console text the device printed.
    Console { transport: String, text: String, cut: bool },
}

impl EntryKind {
    /// What the entry costs against [`MAX_BYTES`].
    fn size(&self) -> usize {
        match self {
            EntryKind::Note { text, .. } => text.len(),
            EntryKind::Packet { bytes, .. } => bytes.len(),
            EntryKind::Discarded { why, .. } => why.len(),
            EntryKind::Console { text, .. } => text.len(),
        }
    }
}

impl Transcript {
    /// An empty transcript with the default bounds ([`MAX_ENTRIES`], [`MAX_BYTES`]).
    pub fn new() -> Transcript {
        Transcript::with_limits(MAX_ENTRIES, MAX_BYTES)
    }

    /// An empty transcript keeping at most `entries` entries and `bytes` bytes (each at least 1).
    pub fn with_limits(entries: usize, bytes: usize) -> Transcript {
        Transcript {
            inner: Arc::new(Mutex::new(Inner {
                started: Instant::now(),
                clock: None,
                entries: VecDeque::new(),
                bytes: 0,
                max_entries: entries.max(1),
                max_bytes: bytes.max(1),
                dropped_entries: 0,
                dropped_bytes: 0,
                next: 1,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while recording leaves a record that is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record everything that crosses `shared`'s transports from now on (replacing any tap it
    /// had), stamped with the device's modelled time. Notes are stamped with it too.
    pub fn attach(&self, shared: &SharedDevice) {
        let clock = shared.with(|d| d.clock().clone());
        self.set_clock(clock.clone());
        shared.set_tap(Some(self.tap_for(None, Some(clock))));
    }

    /// [`Transcript::attach`] for one device of several (a group): its entries name it
    /// (`left/inproc`) and carry its own clock's time. Notes keep the clock set first.
    pub fn attach_as(&self, shared: &SharedDevice, device: &str) {
        let clock = shared.with(|d| d.clock().clone());
        self.lock().clock.get_or_insert_with(|| clock.clone());
        shared.set_tap(Some(self.tap_for(Some(device.to_string()), Some(clock))));
    }

    /// Stamp entries with this clock's time (a device's [`Device::clock`](sim_device::device::Device::clock)).
    pub fn set_clock(&self, clock: Clock) {
        self.lock().clock = Some(clock);
    }

    /// A tap for [`SharedDevice::set_tap`] that records into this transcript.
    pub fn tap(&self) -> Tap {
        self.tap_for(None, None)
    }

    fn tap_for(&self, device: Option<String>, clock: Option<Clock>) -> Tap {
        let me = self.clone();
        Arc::new(move |traffic: &Traffic<'_>| me.record_from(device.as_deref(), clock.as_ref(), traffic))
    }

    /// Record one event from a transport.
    pub fn record(&self, traffic: &Traffic<'_>) {
        self.record_from(None, None, traffic);
    }

    fn record_from(&self, device: Option<&str>, clock: Option<&Clock>, traffic: &Traffic<'_>) {
        let transport = match device {
            Some(d) => format!("{d}/{}", traffic.transport),
            None => traffic.transport.to_string(),
        };
        let kind = match traffic.event {
            WireEvent::Packet { direction, bytes, faults } => EntryKind::Packet {
                transport,
                direction,
                bytes: bytes[..bytes.len().min(MAX_ENTRY_BYTES)].to_vec(),
                faults: faults.iter().map(ToString::to_string).collect(),
            },
            WireEvent::Discarded { bytes, why } => {
                EntryKind::Discarded { transport, bytes, why: why.to_string() }
            }
            WireEvent::Console(text) => {
                let cut = text.len() > MAX_ENTRY_BYTES;
                let text = if cut { cut_at_char(text, MAX_ENTRY_BYTES) } else { text };
                EntryKind::Console { transport, text: text.to_string(), cut }
            }
        };
        self.push(kind, clock);
    }

    /// Mark where step `step_index` (1-based, as reports count) begins: `line` is its line in
    /// the scenario file, `text` what it is (`upload app-2.0.0.bin`, or just its name).
    pub fn note(&self, step_index: usize, line: u64, text: &str) {
        let text = cut_at_char(text, MAX_ENTRY_BYTES).to_string();
        self.push(EntryKind::Note { step: step_index, line, text }, None);
    }

    /// Add an entry stamped with `clock` (else the transcript's own clock, if any).
    fn push(&self, kind: EntryKind, clock: Option<&Clock>) {
        let mut inner = self.lock();
        let model_ms = clock.or(inner.clock.as_ref()).map(Clock::now_ms);
        let wall = inner.started.elapsed();
        let number = inner.next;
        inner.next += 1;
        inner.bytes += kind.size();
        inner.entries.push_back(Entry { number, wall, model_ms, kind });
        while inner.entries.len() > inner.max_entries || inner.bytes > inner.max_bytes {
            let Some(old) = inner.entries.pop_front() else { break };
            let size = old.kind.size();
            inner.bytes -= size;
            inner.dropped_entries += 1;
            inner.dropped_bytes += size as u64;
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True if nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries dropped to stay within the bounds, and their bytes.
    pub fn dropped(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.dropped_entries, inner.dropped_bytes)
    }

    /// Packets held now in each direction: (requests, replies).
    pub fn packet_counts(&self) -> (usize, usize) {
        let inner = self.lock();
        let count = |want: Direction| {
            inner
                .entries
                .iter()
                .filter(|e| matches!(&e.kind, EntryKind::Packet { direction, .. } if *direction == want))
                .count()
        };
        (count(Direction::Request), count(Direction::Reply))
    }

    /// The transcript as text: a heading (and what was dropped), then one entry per packet
    /// with its direction, transport, times, header and decoded body, and a marker line where
    /// each step began.
    pub fn to_text(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let (requests, replies) = inner.entries.iter().fold((0, 0), |(q, r), e| match &e.kind {
            EntryKind::Packet { direction: Direction::Request, .. } => (q + 1, r),
            EntryKind::Packet { direction: Direction::Reply, .. } => (q, r + 1),
            _ => (q, r),
        });
        let _ = writeln!(
            out,
            "SMP transcript: {requests} request(s), {replies} reply(ies) in {} entries",
            inner.entries.len()
        );
        let _ = writeln!(
            out,
            "(→ to the device, ← from it; t = the device's modelled clock, + = wall time since the scenario started)"
        );
        if inner.dropped_entries > 0 {
            let _ = writeln!(
                out,
                "… {} earlier entries ({} bytes) were dropped: the transcript keeps the last {} entries and {} bytes",
                inner.dropped_entries, inner.dropped_bytes, inner.max_entries, inner.max_bytes
            );
        }
        out.push('\n');
        for entry in &inner.entries {
            write_entry(&mut out, entry);
        }
        if inner.entries.is_empty() {
            out.push_str("(no traffic)\n");
        }
        out
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn cut_at_char(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn stamp(entry: &Entry) -> String {
    let wall = format!("+{:.1}ms", entry.wall.as_secs_f64() * 1000.0);
    match entry.model_ms {
        Some(t) => format!("t={t}ms {wall}"),
        None => wall,
    }
}

fn write_entry(out: &mut String, entry: &Entry) {
    let n = entry.number;
    match &entry.kind {
        EntryKind::Note { step, line, text } => {
            let _ = writeln!(out, "── step {step} (line {line}): {text}  [{}]", stamp(entry));
        }
        EntryKind::Discarded { transport, bytes, why } => {
            let _ = writeln!(out, "#{n} ✗ discarded  {transport}  {}  {bytes} bytes: {why}", stamp(entry));
        }
        EntryKind::Console { transport, text, cut } => {
            let _ = writeln!(out, "#{n} console  {transport}  {}", stamp(entry));
            for l in text.lines() {
                let _ = writeln!(out, "     | {l}");
            }
            if *cut {
                let _ = writeln!(out, "     | … (cut)");
            }
        }
        EntryKind::Packet { transport, direction, bytes, faults } => {
            let arrow = match direction {
                Direction::Request => "→ request",
                Direction::Reply => "← reply  ",
            };
            let _ = writeln!(out, "#{n} {arrow}  {transport}  {}  {} bytes", stamp(entry), bytes.len());
            write_packets(out, bytes);
            if !faults.is_empty() {
                let _ = writeln!(out, "     faults   {} (applied on the way out)", faults.join(", "));
            }
        }
    }
}

/// Every SMP message in one buffer (usually one): header, body and meaning, as `brownout
/// decode` shows them but on fewer lines.
fn write_packets(out: &mut String, bytes: &[u8]) {
    for packet in message::packets(bytes) {
        let packet = match packet {
            Ok(p) => p,
            Err(e) => {
                let _ = writeln!(out, "     NOT an SMP packet: {e}");
                let shown = &bytes[..bytes.len().min(32)];
                let _ = writeln!(out, "     bytes    {}", hex::encode(shown));
                return;
            }
        };
        let h = packet.header;
        let _ = writeln!(out, "     header   {}: {h}", message::command_name(&h));
        let body = match packet.payload {
            [] => Ok(None),
            payload => smp::cbor::decode(payload).map(Some),
        };
        let body = match body {
            Ok(b) => b,
            Err(e) => {
                let _ = writeln!(out, "     body     NOT valid CBOR: {e}");
                continue;
            }
        };
        match &body {
            None => {
                let _ = writeln!(out, "     body     (empty)");
            }
            Some(v) => {
                let _ = writeln!(out, "     body     {}", one_line(v));
            }
        }
        let m = Message { header: h, body };
        if h.op.is_response() {
            match Response::from_message(&m) {
                Ok(Response::Err(e)) => {
                    let _ = writeln!(out, "     meaning  ERROR {e}");
                }
                Ok(Response::Ok(_)) => {}
                Err(e) => {
                    let _ = writeln!(out, "     meaning  not understood: {e}");
                }
            }
        } else if h.op.is_request()
            && let Err(e) = Request::from_message(&m)
        {
            let _ = writeln!(out, "     meaning  not understood: {e}");
        }
    }
}

/// CBOR diagnostic notation on one line, long byte and text strings shortened.
fn one_line(v: &Value) -> String {
    match v {
        Value::Bytes(b) if b.len() > SHOW_BYTES => {
            format!("h'{}…' ({} bytes)", hex::encode(&b[..SHOW_BYTES / 2]), b.len())
        }
        Value::Text(t) if t.chars().count() > SHOW_CHARS => {
            let cut: String = t.chars().take(SHOW_CHARS).collect();
            format!("{cut:?}… ({} bytes)", t.len())
        }
        Value::Array(a) => format!("[{}]", a.iter().map(one_line).collect::<Vec<_>>().join(", ")),
        Value::Map(m) => format!(
            "{{{}}}",
            m.iter().map(|(k, v)| format!("{}: {}", one_line(k), one_line(v))).collect::<Vec<_>>().join(", ")
        ),
        Value::Tag(t, inner) => format!("{t}({})", one_line(inner)),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use sim_device::transport::FaultKind;
    use smp::header::{Group, Header, Op, Version};

    fn packet(op: Op, seq: u8, body: &Value) -> Vec<u8> {
        let payload = smp::cbor::encode(body, smp::cbor::MapStyle::Definite);
        let header = Header::new(Version::V2, op, Group::Os, 0, seq, payload.len() as u16);
        let mut bytes = header.encode().to_vec();
        bytes.extend_from_slice(&payload);
        bytes
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn echo_pair(t: &Transcript, seq: u8) {
        let req = packet(Op::Write, seq, &Value::Map(vec![(text("d"), text("hello"))]));
        let rep = packet(Op::WriteRsp, seq, &Value::Map(vec![(text("r"), text("hello"))]));
        t.record(&Traffic {
            transport: "inproc",
            event: WireEvent::Packet { direction: Direction::Request, bytes: &req, faults: &[] },
        });
        t.record(&Traffic {
            transport: "inproc",
            event: WireEvent::Packet { direction: Direction::Reply, bytes: &rep, faults: &[FaultKind::Drop] },
        });
    }

    #[test]
    fn packets_and_notes_are_decoded_in_order() {
        let t = Transcript::new();
        let clock = Clock::manual();
        t.set_clock(clock.clone());
        t.note(1, 7, "echo");
        clock.advance(250);
        echo_pair(&t, 3);
        let out = t.to_text();
        assert!(out.starts_with("SMP transcript: 1 request(s), 1 reply(ies) in 3 entries"), "{out}");
        let note = out.find("── step 1 (line 7): echo  [t=0ms").expect("the note");
        let req = out.find("#2 → request  inproc  t=250ms").expect("the request");
        let rep = out.find("#3 ← reply    inproc  t=250ms").expect("the reply");
        assert!(note < req && req < rep, "{out}");
        assert!(out.contains("header   os echo: "), "{out}");
        assert!(out.contains(r#"body     {"d": "hello"}"#), "{out}");
        assert!(out.contains("faults   drop"), "{out}");
        assert_eq!(t.packet_counts(), (1, 1));
    }

    #[test]
    fn an_error_reply_is_named() {
        let t = Transcript::new();
        let rep = packet(Op::WriteRsp, 1, &Value::Map(vec![(text("rc"), Value::from(8u64))]));
        t.record(&Traffic {
            transport: "udp 127.0.0.1:1337",
            event: WireEvent::Packet { direction: Direction::Reply, bytes: &rep, faults: &[] },
        });
        let out = t.to_text();
        assert!(out.contains("meaning  ERROR"), "{out}");
        assert!(out.contains("udp 127.0.0.1:1337"), "{out}");
    }

    #[test]
    fn long_byte_strings_are_shortened_and_garbage_is_said_to_be_garbage() {
        let t = Transcript::new();
        let req = packet(Op::Write, 1, &Value::Map(vec![(text("data"), Value::Bytes(vec![0xab; 300]))]));
        t.record(&Traffic {
            transport: "inproc",
            event: WireEvent::Packet { direction: Direction::Request, bytes: &req, faults: &[] },
        });
        t.record(&Traffic {
            transport: "inproc",
            event: WireEvent::Packet { direction: Direction::Request, bytes: &[1, 2, 3], faults: &[] },
        });
        t.record(&Traffic { transport: "pty", event: WireEvent::Discarded { bytes: 12, why: "bad CRC" } });
        t.record(&Traffic { transport: "pty", event: WireEvent::Console("*** Booting ***\n") });
        let out = t.to_text();
        assert!(out.contains("h'abababababababab…' (300 bytes)"), "{out}");
        assert!(!out.contains(&"ab".repeat(20)), "{out}");
        assert!(out.contains("NOT an SMP packet"), "{out}");
        assert!(out.contains("✗ discarded  pty") && out.contains("12 bytes: bad CRC"), "{out}");
        assert!(out.contains("| *** Booting ***"), "{out}");
    }

    #[test]
    fn it_keeps_the_last_entries_and_says_what_it_dropped() {
        let t = Transcript::with_limits(4, 1 << 20);
        for seq in 0..5 {
            echo_pair(&t, seq);
        }
        assert_eq!(t.len(), 4);
        let (entries, bytes) = t.dropped();
        assert_eq!(entries, 6);
        assert!(bytes > 0);
        let out = t.to_text();
        assert!(out.contains("… 6 earlier entries"), "{out}");
        assert!(out.contains("#7 → request") && !out.contains("#6 "), "{out}");
        assert!(out.contains("seq=4"), "{out}");
    }

    #[test]
    fn the_byte_bound_holds() {
        let t = Transcript::with_limits(1000, 100);
        for seq in 0..10 {
            echo_pair(&t, seq);
        }
        let held: usize = t.lock().entries.iter().map(|e| e.kind.size()).sum();
        assert!(held <= 100, "{held}");
        assert_eq!(t.lock().bytes, held);
        assert!(t.dropped().0 > 0);
    }

    #[test]
    fn clones_share_the_record_and_the_tap_records() {
        let t = Transcript::new();
        let tap = t.clone().tap();
        tap(&Traffic { transport: "inproc", event: WireEvent::Console("hi") });
        assert_eq!(t.len(), 1);
        assert!(Transcript::new().to_text().contains("(no traffic)"));
    }

    /// Two devices of a group in one transcript: each entry names its device and carries its
    /// device's time.
    #[tokio::test]
    async fn devices_of_a_group_are_told_apart() {
        use sim_device::transport::{InProcClient, InProcConfig};
        let build = || sim_device::device::DeviceConfig::preset("k64f").unwrap().build().unwrap();
        let (left, right) = (SharedDevice::new(build()), SharedDevice::new(build()));
        right.with(|d| d.advance(500));
        let t = Transcript::new();
        t.attach_as(&left, "left");
        t.attach_as(&right, "right");
        t.note(1, 2, "group");
        let req = packet(Op::Write, 1, &Value::Map(vec![]));
        // Requests are recorded as they reach a device (these, without firmware, answer nothing).
        for (entries, shared) in [(2, &left), (3, &right)] {
            let client = InProcClient::connect(shared, InProcConfig::default());
            client.send(&req).await.unwrap();
            for _ in 0..200 {
                if t.len() == entries {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let out = t.to_text();
        assert!(
            out.contains("── step 1 (line 2): group  [t=0ms"),
            "notes use the first device's clock:\n{out}"
        );
        assert!(out.contains("#2 → request  left/inproc  t=0ms"), "{out}");
        assert!(out.contains("#3 → request  right/inproc  t=500ms"), "{out}");
    }

    /// A real device answering through the in-process transport, recorded by `attach`.
    #[tokio::test]
    async fn attach_records_a_real_exchange() {
        let image = std::fs::read(testkit::workspace_root().join("fixtures/images/app-1.0.0.bin")).unwrap();
        let dev = sim_device::device::DeviceConfig::preset("k64f").unwrap().primary(image).build().unwrap();
        let shared = SharedDevice::new(dev);
        let t = Transcript::new();
        t.attach(&shared);
        t.note(1, 3, "echo");
        let mut client = sim_device::transport::InProcClient::connect(
            &shared,
            sim_device::transport::InProcConfig::default(),
        );
        let req = packet(Op::Write, 9, &Value::Map(vec![(text("d"), text("ping"))]));
        client.send(&req).await.unwrap();
        client.recv(Duration::from_secs(5)).await.expect("the device answers");
        // The reply is recorded on its way out, after the request.
        for _ in 0..100 {
            if t.packet_counts() == (1, 1) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(t.packet_counts(), (1, 1));
        let out = t.to_text();
        assert!(out.contains(r#"{"d": "ping"}"#) && out.contains(r#"{"r": "ping"}"#), "{out}");
    }
}
