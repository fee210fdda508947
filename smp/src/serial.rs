//! SMP over a serial console: Zephyr's `mcumgr_serial` line framing, and its raw UART mode.
//!
//! A console carries text, so an SMP packet travels as base64 in lines. One packet becomes:
//!
//! ```text
//! body  = total length (u16 BE, = packet + 2) ‖ packet ‖ CRC-16/XMODEM(packet) (u16 BE)
//! line 1: 06 09 ‖ base64(first part of body)  ‖ 0a
//! line n: 04 14 ‖ base64(next part of body)   ‖ 0a      (as many as needed)
//! ```
//!
//! Each line is base64-decoded on its own and the results are concatenated, so every line but
//! the last must carry a whole number of 3-byte groups (a multiple of 4 base64 characters, with
//! no `=` padding). A line is at most [`MAX_LINE_LEN`] = 127 bytes, counting the two marker
//! bytes and the newline.
//!
//! - [`encode`] turns one packet into lines, split the way Zephyr's device does
//!   ([`LineSplit::Zephyr`]) or the way clients do ([`LineSplit::Fill`]).
//! - [`SerialDecoder`] is a streaming receiver: push bytes in any chunks, take [`Event`]s out.
//!   It skips the device's log text between frames, reports every framing fault as a typed
//!   [`FrameError`] naming the line it happened on, and resynchronises at the next `06 09`.
//! - [`RawDecoder`] reads Zephyr's raw UART mode (`CONFIG_MCUMGR_TRANSPORT_RAW_UART`): bare SMP
//!   packets back to back, each one's end found from the `len` field of its header.
//!
//! Memory is bounded by explicit limits ([`DecoderConfig`]); nothing is allocated by a length
//! read from the wire before that length has been checked against them.

use std::collections::VecDeque;
use std::fmt;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::header::{HEADER_LEN, Header, Op};

/// First two bytes of the first line of a packet (`MCUMGR_SERIAL_HDR_PKT`).
pub const START_MARKER: [u8; 2] = [0x06, 0x09];
/// First two bytes of every further line of a packet (`MCUMGR_SERIAL_HDR_FRAG`).
pub const CONTINUATION_MARKER: [u8; 2] = [0x04, 0x14];
/// Longest line Zephyr sends (`MCUMGR_SERIAL_MAX_FRAME`), counting the marker and the newline.
pub const MAX_LINE_LEN: usize = 127;
/// Longest line a Zephyr device accepts (`CONFIG_UART_MCUMGR_RX_BUF_SIZE` default), counting
/// the marker and the newline; longer lines are dropped whole.
pub const DEVICE_RX_LINE_LEN: usize = 128;
/// Zephyr's default SMP buffer (`CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE`): the largest packet a
/// default device reassembles.
pub const DEVICE_NETBUF_SIZE: usize = 384;
/// The largest packet the length field can describe (it counts the 2 CRC bytes too).
pub const MAX_PACKET_LEN: usize = u16::MAX as usize - 2;

/// The CRC every framed packet carries: CRC-16/XMODEM (poly 0x1021, init 0, no reflection, no
/// final XOR), which Zephyr calls `crc16_itu_t(0, …)`.
const CRC16: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM);

/// Standard-alphabet base64 that writes `=` padding and accepts lines with or without it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// CRC-16/XMODEM of `data`, the checksum that ends every framed packet.
///
/// ```
/// assert_eq!(smp::serial::crc16(b"123456789"), 0x31C3);
/// ```
pub fn crc16(data: &[u8]) -> u16 {
    CRC16.checksum(data)
}

// ------------------------------------------------------------------------------------------------
// Encoding
// ------------------------------------------------------------------------------------------------

/// How a framed packet is cut into lines. Both are valid; receivers must accept either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LineSplit {
    /// What a Zephyr device sends: the first line holds up to `cap` raw bytes (the 2-byte length
    /// included) and every further line up to `cap - 3`, where `cap` = 3 × ⌊(max line − 3) / 4⌋;
    /// the 2 CRC bytes are never split from the last packet bytes they follow. With the default
    /// 127-byte lines that is 93 raw bytes (127-byte line) then 90 (123-byte lines).
    #[default]
    Zephyr,
    /// What clients send (Python `smp`, mcumgr-toolkit): base64 of the whole body, cut every
    /// 4 × ⌊(max line − 3) / 4⌋ characters, so every line but the last is full.
    ///
    /// Python `smp`'s `encode(packet, line_length=L)` subtracts 4 rather than 3, so it equals
    /// this split with a maximum of `L − 1`: smpmgr's default `--line-length 128` gives the
    /// same 127-byte lines as `EncodeOptions::fill(127)`.
    Fill,
}

/// How [`encode`] frames a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodeOptions {
    /// Longest line to write, counting the 2 marker bytes and the newline.
    pub max_line_len: usize,
    /// Where the lines are cut.
    pub split: LineSplit,
}

impl Default for EncodeOptions {
    /// Zephyr's own framing: 127-byte lines, [`LineSplit::Zephyr`].
    fn default() -> Self {
        EncodeOptions { max_line_len: MAX_LINE_LEN, split: LineSplit::Zephyr }
    }
}

impl EncodeOptions {
    /// Zephyr's split with lines of at most `max_line_len` bytes.
    pub fn zephyr(max_line_len: usize) -> Self {
        EncodeOptions { max_line_len, split: LineSplit::Zephyr }
    }

    /// The clients' split with lines of at most `max_line_len` bytes.
    pub fn fill(max_line_len: usize) -> Self {
        EncodeOptions { max_line_len, split: LineSplit::Fill }
    }

    /// The shortest `max_line_len` this split can work with.
    pub fn min_line_len(split: LineSplit) -> usize {
        match split {
            // One 4-character group per line, plus marker and newline.
            LineSplit::Fill => 2 + 4 + 1,
            // Zephyr's loop needs room for three groups to always make progress (3 × 3 raw
            // bytes, of which the first line spends 3 on the length and one packet byte).
            LineSplit::Zephyr => 2 + 12 + 1,
        }
    }
}

/// Why a packet could not be framed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The packet is empty; a frame always carries at least one byte.
    #[error("cannot frame an empty packet")]
    EmptyPacket,
    /// The packet does not fit the 16-bit length field (which counts the CRC as well).
    #[error("a {len}-byte packet does not fit the serial length field (at most {MAX_PACKET_LEN} bytes)")]
    PacketTooLong {
        /// Length of the packet that was given.
        len: usize,
    },
    /// The line length leaves no room for base64 data.
    #[error(
        "a maximum line length of {max_line_len} bytes is too short for {split:?} framing (at least {min})"
    )]
    LineTooShort {
        /// The requested maximum line length.
        max_line_len: usize,
        /// The requested split.
        split: LineSplit,
        /// The least that works for that split.
        min: usize,
    },
}

/// Frame one SMP packet (8-byte header + payload) as console lines, each ending in `\n`.
///
/// ```
/// use smp::serial::{encode, EncodeOptions};
/// // Echo {"d":"hello"}, SMP v1 write, seq 0 (reference §13.1).
/// let packet = [0x02, 0, 0, 9, 0, 0, 0, 0, 0xa1, 0x61, 0x64, 0x65, b'h', b'e', b'l', b'l', b'o'];
/// let lines = encode(&packet, EncodeOptions::default()).unwrap();
/// assert_eq!(lines, b"\x06\x09ABMCAAAJAAAAAKFhZGVoZWxsbyVv\n");
/// ```
pub fn encode(packet: &[u8], options: EncodeOptions) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_into(packet, options, &mut out)?;
    Ok(out)
}

/// Like [`encode`], appending the lines to `out` (which is left untouched on error).
pub fn encode_into(packet: &[u8], options: EncodeOptions, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if packet.is_empty() {
        return Err(EncodeError::EmptyPacket);
    }
    if packet.len() > MAX_PACKET_LEN {
        return Err(EncodeError::PacketTooLong { len: packet.len() });
    }
    let min = EncodeOptions::min_line_len(options.split);
    if options.max_line_len < min {
        return Err(EncodeError::LineTooShort {
            max_line_len: options.max_line_len,
            split: options.split,
            min,
        });
    }
    let body = frame_body(packet);
    // Raw body bytes one line can carry: whole 3-byte groups that fit between marker and newline.
    let cap = (options.max_line_len - 3) / 4 * 3;
    let mut first = true;
    let mut put_line = |chunk: &[u8]| {
        out.extend_from_slice(if first { &START_MARKER } else { &CONTINUATION_MARKER });
        first = false;
        put_base64(chunk, out);
        out.push(b'\n');
    };
    match options.split {
        LineSplit::Fill => body.chunks(cap).for_each(&mut put_line),
        LineSplit::Zephyr => {
            let mut rest = &body[..];
            for len in zephyr_line_sizes(packet.len(), cap) {
                let (line, tail) = rest.split_at(len);
                put_line(line);
                rest = tail;
            }
            debug_assert!(rest.is_empty());
        }
    }
    Ok(())
}

/// Append the padded base64 of `chunk` to `out`.
fn put_base64(chunk: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + chunk.len().div_ceil(3) * 4, 0);
    // The slice is exactly the encoded length, so this cannot run out of room.
    let written = BASE64.encode_slice(chunk, &mut out[start..]).unwrap_or(0);
    out.truncate(start + written);
}

/// `len ‖ packet ‖ crc`: the bytes a frame's lines carry, before base64.
pub fn frame_body(packet: &[u8]) -> Vec<u8> {
    let total = (packet.len() + 2) as u16; // callers checked packet.len() <= MAX_PACKET_LEN
    let mut body = Vec::with_capacity(packet.len() + 4);
    body.extend_from_slice(&total.to_be_bytes());
    body.extend_from_slice(packet);
    body.extend_from_slice(&crc16(packet).to_be_bytes());
    body
}

/// How many body bytes each line carries under [`LineSplit::Zephyr`], for a packet of
/// `packet_len` bytes and `cap` raw bytes per line (a multiple of 3, at least 9).
///
/// This restates the behaviour of Zephyr's `mcumgr_serial_tx_pkt`: the first line opens with
/// the 2-byte length and the first packet byte; after that every line has room for `cap - 3`
/// packet bytes (the first line's allowance is spent once and never given back); packet bytes
/// go out in whole groups of 3; and a line becomes the last one only if at least 2 bytes of
/// room remain for the CRC — otherwise one byte is held back so the CRC has company on the
/// next line.
fn zephyr_line_sizes(packet_len: usize, cap: usize) -> Vec<usize> {
    let room = cap - 3;
    let mut sizes = Vec::new();
    let mut remaining = packet_len;
    let mut first = true;
    while remaining > 0 {
        let mut line = 0;
        if first {
            line += 3; // length (2) + first packet byte
            remaining -= 1;
            first = false;
        }
        let last = room >= remaining + 2;
        let mut take = room.min(remaining);
        if !last && room >= remaining {
            // The data would fit but the CRC would not: hold one byte back.
            take -= 1;
        }
        take -= take % 3;
        line += take;
        remaining -= take;
        if last {
            line += remaining + 2; // the 0–2 leftover packet bytes and the CRC
            remaining = 0;
        }
        sizes.push(line);
    }
    sizes
}

// ------------------------------------------------------------------------------------------------
// Decoding
// ------------------------------------------------------------------------------------------------

/// Where something was found in the byte stream given to a decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// 1-based line number (lines counted by `\n`).
    pub line: u64,
    /// 0-based byte offset, from the first byte ever pushed, of the start of the line (its
    /// marker, for a frame line that began mid-line).
    pub offset: u64,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} (byte {})", self.line, self.offset)
    }
}

/// Limits and behaviour of a [`SerialDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DecoderConfig {
    /// Longest frame line accepted, counting the marker, a `\r` if any, and the newline.
    /// Longer frame lines are dropped with [`FrameErrorKind::LineTooLong`].
    pub max_line_len: usize,
    /// Largest packet (header + payload, without the CRC) reassembled; a first line announcing
    /// more is dropped with [`FrameErrorKind::Oversize`].
    pub max_packet_len: usize,
    /// Recognise a frame marker in the middle of a line, after console text that did not end in
    /// a newline (clients do; a Zephyr device only looks at line starts).
    pub markers_anywhere: bool,
    /// Report non-frame lines as [`Event::Text`] (device log output). When false they are
    /// skipped without being kept.
    pub report_text: bool,
    /// At most this many bytes of one text line are kept; the rest is dropped and the
    /// [`ConsoleText::truncated`] flag set.
    pub max_text_len: usize,
}

impl Default for DecoderConfig {
    /// A client's receiver: generous lines (4096 bytes), packets up to 8192 bytes, markers
    /// anywhere, console text reported.
    fn default() -> Self {
        DecoderConfig {
            max_line_len: 4096,
            max_packet_len: 8192,
            markers_anywhere: true,
            report_text: true,
            max_text_len: 1024,
        }
    }
}

impl DecoderConfig {
    /// A receiver that behaves as a default Zephyr device does: 128-byte lines, packets up to
    /// `netbuf_size` bytes (384 by default, see [`DEVICE_NETBUF_SIZE`]), markers only at the
    /// start of a line, console text ignored.
    pub fn device(netbuf_size: usize) -> Self {
        DecoderConfig {
            max_line_len: DEVICE_RX_LINE_LEN,
            max_packet_len: netbuf_size,
            markers_anywhere: false,
            report_text: false,
            max_text_len: 0,
        }
    }
}

/// A packet reassembled from frame lines, its CRC checked and stripped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedPacket {
    /// The SMP packet: 8-byte header and payload.
    pub bytes: Vec<u8>,
    /// Where its first line (`06 09`) started.
    pub start: Position,
    /// How many lines it took.
    pub lines: u32,
}

/// A line of console text that was not part of a frame (without its line ending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleText {
    /// The bytes of the line, at most [`DecoderConfig::max_text_len`].
    pub bytes: Vec<u8>,
    /// True when the line was longer and its tail was dropped.
    pub truncated: bool,
    /// Where the line started.
    pub start: Position,
}

/// What a [`SerialDecoder`] found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete packet with a good CRC.
    Packet(ReceivedPacket),
    /// Console text between frames.
    Text(ConsoleText),
}

/// What was wrong with a frame. After any of these the frame in progress (if any) is dropped
/// and the decoder waits for the next `06 09`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameErrorKind {
    /// The line's text between marker and newline is not valid base64.
    #[error("invalid base64 in frame line: {detail}")]
    BadBase64 {
        /// What the base64 decoder objected to, with the offset within the line's base64 text.
        detail: String,
    },
    /// The first line decoded to fewer than the 2 bytes of the length field.
    #[error("first frame line decodes to {decoded} byte(s), too few for the 2-byte length")]
    MissingLength {
        /// Bytes the line decoded to.
        decoded: usize,
    },
    /// The length field is too small to hold a CRC and at least one packet byte.
    #[error("length field {length} is too small (it counts the packet and the 2 CRC bytes)")]
    BadLength {
        /// The length field as received.
        length: u16,
    },
    /// The length field announces a packet larger than the configured maximum.
    #[error("frame announces a {packet_len}-byte packet, more than the {max}-byte limit")]
    Oversize {
        /// Packet length announced (length field − 2).
        packet_len: usize,
        /// The configured [`DecoderConfig::max_packet_len`].
        max: usize,
    },
    /// The lines decoded to more bytes than the length field announced.
    #[error("frame lines carry {received} bytes but the length field says {expected}")]
    Overrun {
        /// Bytes the length field announced (packet + CRC).
        expected: usize,
        /// Bytes received so far.
        received: usize,
    },
    /// The CRC over the reassembled packet did not match.
    #[error("bad CRC: packet checksums to {computed:#06x} but the frame carries {received:#06x}")]
    BadCrc {
        /// CRC-16/XMODEM computed over the packet bytes received.
        computed: u16,
        /// The CRC the frame carried.
        received: u16,
        /// The packet bytes as received (CRC stripped): for showing what was damaged, not for
        /// acting on.
        packet: Vec<u8>,
    },
    /// A frame line exceeded [`DecoderConfig::max_line_len`].
    #[error("frame line longer than {max} bytes")]
    LineTooLong {
        /// The configured limit.
        max: usize,
    },
    /// A `04 14` line arrived with no frame in progress.
    #[error("continuation line without a frame in progress")]
    ContinuationWithoutStart,
    /// A new frame started before the one in progress was complete.
    #[error("frame interrupted by a new frame start after {received} of {expected} bytes")]
    Interrupted {
        /// Bytes the length field announced (packet + CRC).
        expected: usize,
        /// Bytes received.
        received: usize,
    },
    /// A frame line was cut off by a new frame marker before its newline.
    #[error("frame line cut off by a new frame marker before its newline")]
    UnterminatedLine,
    /// The input ended inside a frame.
    #[error("input ended inside a frame after {received} of {expected} bytes")]
    Incomplete {
        /// Bytes the length field announced (packet + CRC).
        expected: usize,
        /// Bytes received.
        received: usize,
    },
}

/// A framing fault and the line it was detected on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {kind}")]
pub struct FrameError {
    /// The line on which the fault showed (for CRC and length faults, the frame's last line).
    pub at: Position,
    /// What was wrong.
    pub kind: FrameErrorKind,
}

/// What kind of frame line is being collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    /// `06 09`: the first line of a packet.
    First,
    /// `04 14`: a further line.
    Continuation,
}

/// Where the decoder is within the current line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// Nothing of this line seen yet.
    Start,
    /// Collecting the base64 text of a frame line into `line`.
    Frame(LineKind),
    /// Inside a line of console text.
    Text,
    /// Dropping the rest of an over-long frame line.
    Skip,
}

/// A packet being reassembled.
#[derive(Debug)]
struct Reassembly {
    /// Decoded bytes after the length field: packet, then CRC.
    buf: Vec<u8>,
    /// The length field: packet + CRC.
    expected: usize,
    start: Position,
    lines: u32,
}

/// Streaming receiver for framed SMP packets on a console.
///
/// Push bytes as they arrive, in chunks of any size, then take events until `None`:
///
/// ```
/// use smp::serial::{SerialDecoder, Event};
/// let mut rx = SerialDecoder::new();
/// rx.push(b"[00:00:01] <inf> boot: hello\n\x06\x09ABMKAAAJAA");
/// rx.push(b"AAAKFhZGVoZWxsb6J/\n");
/// let mut packets = Vec::new();
/// while let Some(event) = rx.next_event() {
///     match event {
///         Ok(Event::Packet(p)) => packets.push(p.bytes),
///         Ok(Event::Text(t)) => assert_eq!(t.bytes, b"[00:00:01] <inf> boot: hello"),
///         Err(e) => panic!("{e}"),
///     }
/// }
/// assert_eq!(packets[0][..4], [0x0a, 0x00, 0x00, 0x09]);
/// ```
///
/// Receiving follows Zephyr's rules (`mcumgr_serial_process_frag`): a `06 09` line starts a
/// packet afresh, a `04 14` line extends the packet in progress, other lines are console text
/// and do not disturb a packet in progress; once the decoded bytes reach the length field the
/// CRC is checked. Unlike Zephyr, which drops bad frames silently, every fault is reported.
#[derive(Debug)]
pub struct SerialDecoder {
    config: DecoderConfig,
    /// Pushed bytes not processed yet, from `pos` on.
    input: Vec<u8>,
    pos: usize,
    /// No more input will come: flush the last line and report an unfinished frame.
    eof: bool,
    state: LineState,
    /// A possible first marker byte (0x06 or 0x04) held back until the next byte shows whether
    /// it starts a marker, and where it was.
    held: Option<(u8, Position)>,
    /// Base64 text of the frame line being collected, or kept text of a console line.
    line: Vec<u8>,
    /// Bytes of the current line so far, marker included.
    line_len: usize,
    line_start: Position,
    text_truncated: bool,
    frame: Option<Reassembly>,
    /// Events found but not yet handed out (a single byte can finish two things).
    ready: VecDeque<Result<Event, FrameError>>,
    /// Offset of the next byte to process, and the line it is on.
    offset: u64,
    line_no: u64,
}

impl Default for SerialDecoder {
    fn default() -> Self {
        SerialDecoder::new()
    }
}

impl SerialDecoder {
    /// A decoder with the client defaults of [`DecoderConfig::default`].
    pub fn new() -> Self {
        SerialDecoder::with_config(DecoderConfig::default())
    }

    /// A decoder with explicit limits.
    pub fn with_config(config: DecoderConfig) -> Self {
        SerialDecoder {
            config,
            input: Vec::new(),
            pos: 0,
            eof: false,
            state: LineState::Start,
            held: None,
            line: Vec::new(),
            line_len: 0,
            line_start: Position { line: 1, offset: 0 },
            text_truncated: false,
            frame: None,
            ready: VecDeque::new(),
            offset: 0,
            line_no: 1,
        }
    }

    /// The limits this decoder works with.
    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Hand the decoder more received bytes. They are processed by [`Self::next_event`].
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos == self.input.len() {
            self.input.clear();
            self.pos = 0;
        } else if self.pos > 0 && self.pos >= self.input.len() / 2 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
    }

    /// Declare the end of the input: a last line without a newline is taken as complete, and
    /// a frame still unfinished after it is reported as [`FrameErrorKind::Incomplete`].
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Forget any partial line and packet (for example after a port was reopened). Position
    /// counting goes on.
    pub fn reset(&mut self) {
        self.input.clear();
        self.pos = 0;
        self.eof = false;
        self.state = LineState::Start;
        self.held = None;
        self.line.clear();
        self.line_len = 0;
        self.frame = None;
        self.ready.clear();
    }

    /// True when a packet has been started and not yet finished.
    pub fn in_frame(&self) -> bool {
        self.frame.is_some()
    }

    /// The next packet, text line or error found in the bytes pushed so far; `None` when they
    /// are used up (push more, or [`Self::finish`]).
    pub fn next_event(&mut self) -> Option<Result<Event, FrameError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.pos < self.input.len() {
                self.process_input();
                continue;
            }
            if self.eof {
                self.eof = false;
                self.end_of_input();
                if self.ready.is_empty() {
                    return None;
                }
                continue;
            }
            return None;
        }
    }

    /// Process input bytes until at least one event is ready or the input is used up.
    fn process_input(&mut self) {
        while self.pos < self.input.len() && self.ready.is_empty() {
            // Fast path: a run of ordinary bytes inside a frame or text line.
            if self.held.is_none() {
                let run = self.ordinary_run();
                if run > 0 {
                    self.take_run(run);
                    continue;
                }
            }
            let byte = self.input[self.pos];
            self.pos += 1;
            self.byte(byte);
            self.offset += 1;
            if byte == b'\n' {
                self.line_no += 1;
            }
        }
    }

    /// Length of the run of bytes from `pos` that need no decision: no newline and no byte that
    /// could start a marker. Only in states that just collect or drop bytes.
    fn ordinary_run(&self) -> usize {
        if !matches!(self.state, LineState::Frame(_) | LineState::Text | LineState::Skip) {
            return 0;
        }
        let check_markers = self.config.markers_anywhere;
        self.input[self.pos..]
            .iter()
            .position(|&b| b == b'\n' || (check_markers && (b == 0x06 || b == 0x04)))
            .unwrap_or(self.input.len() - self.pos)
    }

    fn take_run(&mut self, run: usize) {
        let start = self.pos;
        self.pos += run;
        self.offset += run as u64;
        match self.state {
            LineState::Frame(_) => {
                if self.line_len + run + 1 > self.config.max_line_len {
                    self.line_too_long();
                } else {
                    self.line_len += run;
                    self.line.extend_from_slice(&self.input[start..start + run]);
                }
            }
            LineState::Text => self.keep_text_run(start, run),
            _ => {}
        }
    }

    fn keep_text_run(&mut self, start: usize, run: usize) {
        if !self.config.report_text {
            return;
        }
        let room = self.config.max_text_len.saturating_sub(self.line.len());
        let kept = run.min(room);
        self.line.extend_from_slice(&self.input[start..start + kept]);
        if kept < run {
            self.text_truncated = true;
        }
    }

    fn here(&self) -> Position {
        Position { line: self.line_no, offset: self.offset }
    }

    /// One byte, in the current state.
    fn byte(&mut self, byte: u8) {
        if let Some((first, at)) = self.held.take() {
            let second = match first {
                0x06 => START_MARKER[1],
                _ => CONTINUATION_MARKER[1],
            };
            if byte == second {
                self.marker(first, at);
                return;
            }
            // Not a marker after all: the held byte is ordinary content of whatever line it
            // was in (text, or an invalid character of a frame line), then look at this byte.
            self.ordinary_byte(first, at);
        }
        match byte {
            b'\n' => self.end_of_line(),
            0x06 | 0x04 if self.could_start_marker(byte) => self.held = Some((byte, self.here())),
            _ => self.ordinary_byte(byte, self.here()),
        }
    }

    /// Whether `byte` (0x06 or 0x04) is to be held as a possible marker start in this state.
    fn could_start_marker(&self, byte: u8) -> bool {
        match self.state {
            LineState::Start => true,
            _ if !self.config.markers_anywhere => false,
            // A new packet may start anywhere; a continuation only makes sense mid-line after
            // console text, and only while a packet is in progress.
            LineState::Frame(_) | LineState::Skip => byte == 0x06,
            LineState::Text => byte == 0x06 || self.frame.is_some(),
        }
    }

    /// A byte that is content of the current line (or starts a text line).
    fn ordinary_byte(&mut self, byte: u8, at: Position) {
        match self.state {
            LineState::Start => {
                self.state = LineState::Text;
                self.line.clear();
                self.line_start = at;
                self.text_truncated = false;
                self.keep_text_byte(byte);
            }
            LineState::Text => self.keep_text_byte(byte),
            LineState::Frame(_) => {
                if self.line_len + 2 > self.config.max_line_len {
                    self.line_too_long();
                } else {
                    self.line_len += 1;
                    self.line.push(byte);
                }
            }
            LineState::Skip => {}
        }
    }

    fn keep_text_byte(&mut self, byte: u8) {
        if !self.config.report_text {
            return;
        }
        if self.line.len() < self.config.max_text_len {
            self.line.push(byte);
        } else {
            self.text_truncated = true;
        }
    }

    /// A complete two-byte marker starting at `at`.
    fn marker(&mut self, first: u8, at: Position) {
        // Whatever line the marker interrupted ends here.
        match self.state {
            LineState::Text => self.emit_text(),
            LineState::Frame(_) => {
                self.fail(self.line_start, FrameErrorKind::UnterminatedLine);
            }
            LineState::Start | LineState::Skip => {}
        }
        let kind = if first == START_MARKER[0] { LineKind::First } else { LineKind::Continuation };
        self.state = LineState::Frame(kind);
        self.line.clear();
        self.line_len = 2;
        self.line_start = at;
    }

    /// An over-long frame line: report, drop the packet in progress, skip to the newline.
    fn line_too_long(&mut self) {
        let max = self.config.max_line_len;
        self.fail(self.line_start, FrameErrorKind::LineTooLong { max });
        self.state = LineState::Skip;
        self.line.clear();
    }

    fn emit_text(&mut self) {
        if self.config.report_text && (!self.line.is_empty() || self.text_truncated) {
            let mut bytes = std::mem::take(&mut self.line);
            if bytes.last() == Some(&b'\r') && !self.text_truncated {
                bytes.pop();
            }
            if !bytes.is_empty() || self.text_truncated {
                self.ready.push_back(Ok(Event::Text(ConsoleText {
                    bytes,
                    truncated: self.text_truncated,
                    start: self.line_start,
                })));
            }
        }
        self.line.clear();
        self.text_truncated = false;
    }

    /// Report an error and drop the packet in progress.
    fn fail(&mut self, at: Position, kind: FrameErrorKind) {
        self.frame = None;
        self.ready.push_back(Err(FrameError { at, kind }));
    }

    fn end_of_line(&mut self) {
        match self.state {
            LineState::Start | LineState::Skip => {}
            LineState::Text => self.emit_text(),
            LineState::Frame(kind) => {
                if self.line_len + 1 > self.config.max_line_len {
                    self.line_too_long();
                } else {
                    self.frame_line(kind);
                }
            }
        }
        self.state = LineState::Start;
        self.line.clear();
        self.line_len = 0;
    }

    fn end_of_input(&mut self) {
        if let Some((first, at)) = self.held.take() {
            self.ordinary_byte(first, at);
        }
        self.end_of_line();
        if let Some(frame) = self.frame.take() {
            let kind = FrameErrorKind::Incomplete { expected: frame.expected, received: frame.buf.len() };
            self.ready.push_back(Err(FrameError { at: self.here(), kind }));
        }
    }

    /// A whole frame line has been collected in `line` (base64 text, maybe with a trailing `\r`).
    fn frame_line(&mut self, kind: LineKind) {
        let at = self.line_start;
        let mut text = std::mem::take(&mut self.line);
        if text.last() == Some(&b'\r') {
            text.pop();
        }
        match kind {
            LineKind::First => {
                if let Some(old) = self.frame.take() {
                    let kind =
                        FrameErrorKind::Interrupted { expected: old.expected, received: old.buf.len() };
                    self.ready.push_back(Err(FrameError { at, kind }));
                }
                let decoded = match BASE64.decode(&text) {
                    Ok(d) => d,
                    Err(e) => return self.fail(at, FrameErrorKind::BadBase64 { detail: e.to_string() }),
                };
                let Some((len_bytes, rest)) = decoded.split_first_chunk::<2>() else {
                    let kind = FrameErrorKind::MissingLength { decoded: decoded.len() };
                    return self.fail(at, kind);
                };
                let length = u16::from_be_bytes(*len_bytes);
                if length < 3 {
                    return self.fail(at, FrameErrorKind::BadLength { length });
                }
                let expected = usize::from(length);
                if expected - 2 > self.config.max_packet_len {
                    let max = self.config.max_packet_len;
                    return self.fail(at, FrameErrorKind::Oversize { packet_len: expected - 2, max });
                }
                let mut buf = Vec::with_capacity(expected);
                buf.extend_from_slice(rest);
                self.frame = Some(Reassembly { buf, expected, start: at, lines: 1 });
            }
            LineKind::Continuation => {
                let Some(frame) = self.frame.as_mut() else {
                    return self.fail(at, FrameErrorKind::ContinuationWithoutStart);
                };
                if let Err(e) = BASE64.decode_vec(&text, &mut frame.buf) {
                    return self.fail(at, FrameErrorKind::BadBase64 { detail: e.to_string() });
                }
                frame.lines += 1;
            }
        }
        self.line = text; // keep the allocation
        self.check_complete(at);
    }

    /// After a frame line: finished, overrun, or still waiting?
    fn check_complete(&mut self, at: Position) {
        let Some(frame) = self.frame.as_ref() else { return };
        let (expected, received) = (frame.expected, frame.buf.len());
        if received < expected {
            return;
        }
        if received > expected {
            return self.fail(at, FrameErrorKind::Overrun { expected, received });
        }
        let Some(frame) = self.frame.take() else { return };
        let mut bytes = frame.buf;
        let crc_at = bytes.len() - 2;
        let received_crc = u16::from_be_bytes([bytes[crc_at], bytes[crc_at + 1]]);
        bytes.truncate(crc_at);
        let computed = crc16(&bytes);
        if computed != received_crc {
            let kind = FrameErrorKind::BadCrc { computed, received: received_crc, packet: bytes };
            self.ready.push_back(Err(FrameError { at, kind }));
            return;
        }
        self.ready.push_back(Ok(Event::Packet(ReceivedPacket {
            bytes,
            start: frame.start,
            lines: frame.lines,
        })));
    }
}

// ------------------------------------------------------------------------------------------------
// Raw UART mode
// ------------------------------------------------------------------------------------------------

/// Why bytes were dropped by a [`RawDecoder`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RawError {
    /// A header announced a packet larger than the limit; its first byte is dropped and the
    /// decoder looks for a header at the next byte.
    #[error("byte {offset}: header announces a {packet_len}-byte packet, more than the {max}-byte limit")]
    Oversize {
        /// Offset of the rejected header in the stream.
        offset: u64,
        /// Header + payload length announced.
        packet_len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A header with an op code beyond WRITE_RSP (4–7), which Zephyr takes as "not an SMP
    /// message"; its first byte is dropped.
    #[error("byte {offset}: op code {op} is not an SMP operation")]
    BadOp {
        /// Offset of the rejected header in the stream.
        offset: u64,
        /// The op bits.
        op: u8,
    },
    /// The input ended inside a packet.
    #[error("byte {offset}: input ended after {received} of {expected} packet bytes")]
    Incomplete {
        /// Offset of the unfinished packet's header.
        offset: u64,
        /// Header + payload length announced.
        expected: usize,
        /// Bytes received.
        received: usize,
    },
}

/// Receiver for Zephyr's raw UART mode: no markers, base64 or CRC, just SMP packets back to
/// back, each one's end given by its header's `len`.
///
/// With no framing, a lost byte shifts everything after it; Zephyr clears partial input after
/// an idle gap (`CONFIG_MCUMGR_TRANSPORT_RAW_UART_INPUT_TIMEOUT`). This type has no clock: call
/// [`RawDecoder::reset`] when the line has been idle that long. Headers that cannot be right
/// (op code 4–7, or a length over the limit) are skipped one byte at a time.
#[derive(Debug)]
pub struct RawDecoder {
    max_packet_len: usize,
    /// Received bytes; those before `start` are consumed.
    buf: Vec<u8>,
    start: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl RawDecoder {
    /// A decoder for packets (header + payload) of at most `max_packet_len` bytes (Zephyr
    /// checks against `CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE`).
    pub fn new(max_packet_len: usize) -> Self {
        RawDecoder { max_packet_len, buf: Vec::new(), start: 0, offset: 0, eof: false }
    }

    /// Hand the decoder more received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Declare the end of the input, so an unfinished packet is reported.
    pub fn finish(&mut self) {
        self.eof = true;
    }

    /// Drop partial input (call after an idle gap, as Zephyr's input timeout does).
    pub fn reset(&mut self) {
        self.offset += (self.buf.len() - self.start) as u64;
        self.buf.clear();
        self.start = 0;
    }

    /// The next whole packet, or a report of dropped bytes; `None` when more input is needed.
    pub fn next_packet(&mut self) -> Option<Result<Vec<u8>, RawError>> {
        let pending = &self.buf[self.start..];
        let Some(header) = pending.first_chunk::<HEADER_LEN>() else {
            return self.unfinished(HEADER_LEN);
        };
        let header = Header::from_bytes(header);
        let offset = self.offset;
        if matches!(header.op, Op::Unknown(_)) {
            let op = header.op.bits();
            self.skip(1);
            return Some(Err(RawError::BadOp { offset, op }));
        }
        let packet_len = HEADER_LEN + usize::from(header.len);
        if packet_len > self.max_packet_len {
            self.skip(1);
            let max = self.max_packet_len;
            return Some(Err(RawError::Oversize { offset, packet_len, max }));
        }
        if pending.len() < packet_len {
            return self.unfinished(packet_len);
        }
        let packet = pending[..packet_len].to_vec();
        self.skip(packet_len);
        Some(Ok(packet))
    }

    fn unfinished(&mut self, expected: usize) -> Option<Result<Vec<u8>, RawError>> {
        let received = self.buf.len() - self.start;
        if !self.eof || received == 0 {
            return None;
        }
        let err = RawError::Incomplete { offset: self.offset, expected, received };
        self.reset();
        self.eof = false;
        Some(Err(err))
    }

    fn skip(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn zephyr_sizes_for_reference_reply() {
        // 252-byte packet, 127-byte lines: 93, 90, then the rest (73) — reference §13.3.
        assert_eq!(zephyr_line_sizes(252, 93), vec![93, 90, 73]);
    }

    #[test]
    fn zephyr_sizes_hold_back_a_byte_for_the_crc() {
        // 1 + 90 packet bytes would fill the first line exactly, leaving no room for the CRC.
        let sizes = zephyr_line_sizes(91, 93);
        assert_eq!(sizes.iter().sum::<usize>(), 91 + 4);
        assert!(sizes.len() == 2);
    }
}
