//! `brownout decode`: dissect captured SMP traffic.
//!
//! Input is hex bytes, serial console lines (Zephyr's `06 09` / `04 14` framing, as raw bytes
//! or written with `\x06\x09` escapes as the protocol reference does), or a raw binary capture
//! of SMP packets; from the command line, a file, or standard input. Every packet found is
//! shown as its header fields, its CBOR body in diagnostic notation, and what it means: the
//! command, the typed request or reply as `smp` understands it, and error codes by name.
//!
//! Exit status: 0 when every packet decoded cleanly, 1 when something in the input could not be
//! decoded (bad CRC, truncated packet, invalid CBOR, no packet at all), 2 for usage errors.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use serde_json::{Value as Json, json};
use smp::cbor::{CborError, Value};
use smp::groups::Command;
use smp::header::{Group, HEADER_LEN, Header, Op, Version};
use smp::message::{self, Message, PacketError, Request, Response, ResponseBody};
use smp::serial::{self, DecoderConfig, Event, SerialDecoder};

/// Largest input read from a file or standard input.
const MAX_INPUT: u64 = 64 * 1024 * 1024;
/// Byte strings longer than this are abbreviated in the human output (JSON has them whole).
const SHOW_BYTES: usize = 32;
/// A CBOR value whose one-line form is longer than this is printed over several lines.
const ONE_LINE: usize = 88;

const EXAMPLES: &str = "\
Examples:
  brownout decode 0a 00 00 09 00 00 00 00 a1 61 64 65 68 65 6c 6c 6f
  brownout decode '\\x06\\x09ABMCAAAJAAAAAKFhZGVoZWxsbyVv'
  brownout decode --file console.log          # a device log with SMP frames in it
  brownout decode --format raw --file capture.bin --json
  xxd -p capture.bin | brownout decode -

Exit status: 0 all packets decoded, 1 something could not be decoded, 2 usage error.";

/// Dissect SMP traffic.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct Args {
    /// Hex bytes (spaces, colons, commas and 0x prefixes allowed) or serial console lines
    /// (`\x06\x09…` with `\xHH`, `\n`, `\r`, `\\` escapes). Several arguments are joined: hex
    /// with spaces, serial lines one per argument. `-` reads standard input.
    #[arg(value_name = "BYTES")]
    pub input: Vec<String>,

    /// Read the input from a file: a raw capture, a hex dump, or a console log.
    #[arg(short, long, value_name = "PATH", conflicts_with = "input")]
    pub file: Option<PathBuf>,

    /// How to read the input (auto: serial if frame markers are present, else hex if it is all
    /// hex digits, else base64 frame text for arguments, else raw bytes for files and stdin).
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,

    /// Print JSON instead of the human-readable report.
    #[arg(long)]
    pub json: bool,

    /// Also show the console text between serial frames.
    #[arg(long)]
    pub text: bool,

    /// Largest SMP packet accepted from serial frames, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 8192)]
    pub max_packet: usize,
}

/// How the input is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Decide from the input.
    Auto,
    /// Hex digits of SMP packets (or of serial console bytes).
    Hex,
    /// Serial console lines with `06 09` / `04 14` frames.
    Serial,
    /// Raw binary SMP packets, back to back.
    Raw,
    /// The base64 text of one frame's lines without their markers (as copied from a terminal,
    /// which does not show the `06 09` / `04 14` control bytes), one line per argument or per
    /// input line.
    Base64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let input = read_input(&args)?;
    let (format, bytes) = interpret(&input, args.format)?;
    let report = dissect(format, &bytes, args.max_packet);
    let mut out = String::new();
    if args.json {
        out = serde_json::to_string_pretty(&report.to_json())?;
        out.push('\n');
    } else {
        report.write_human(&mut out, args.text);
    }
    print!("{out}");
    Ok(if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

// ------------------------------------------------------------------------------------------------
// Input
// ------------------------------------------------------------------------------------------------

/// Where the input came from, and its bytes.
struct Input {
    /// The bytes as given (for arguments: the joined text).
    bytes: Vec<u8>,
    /// Text from the command line (as opposed to a file or standard input).
    from_args: bool,
    /// How many arguments were joined, to join serial lines one per argument.
    args: Vec<String>,
}

fn read_input(args: &Args) -> anyhow::Result<Input> {
    if let Some(path) = &args.file {
        let bytes = read_bounded(
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?,
        )
        .with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(Input { bytes, from_args: false, args: Vec::new() });
    }
    if args.input.len() == 1 && args.input[0] == "-" {
        let bytes = read_bounded(std::io::stdin().lock()).context("cannot read standard input")?;
        return Ok(Input { bytes, from_args: false, args: Vec::new() });
    }
    if args.input.iter().any(|a| a == "-") {
        bail!("`-` (standard input) cannot be mixed with other arguments");
    }
    if args.input.is_empty() {
        bail!(
            "nothing to decode: give hex bytes or serial lines as arguments, --file PATH, \
             or - for standard input (see --help)"
        );
    }
    Ok(Input { bytes: args.input.join(" ").into_bytes(), from_args: true, args: args.input.clone() })
}

fn read_bounded(reader: impl std::io::Read) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_INPUT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT {
        bail!("input is larger than {} MiB", MAX_INPUT / (1024 * 1024));
    }
    Ok(bytes)
}

/// What the bytes to dissect are, once the input has been interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// SMP packets back to back.
    Packets,
    /// A serial console stream.
    Serial,
}

/// How the input was read, for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interpretation {
    /// What the text or bytes were written as.
    written_as: &'static str,
    kind: Kind,
}

/// Turn the input into bytes to dissect, deciding the format if asked to.
fn interpret(input: &Input, format: Format) -> anyhow::Result<(Interpretation, Vec<u8>)> {
    let text = std::str::from_utf8(&input.bytes).ok();
    let has_raw_marker = contains_marker(&input.bytes);
    let has_escaped_marker = text.is_some_and(|t| t.to_ascii_lowercase().contains("\\x06\\x09"));
    match format {
        Format::Raw => Ok((Interpretation { written_as: "raw", kind: Kind::Packets }, input.bytes.clone())),
        Format::Hex => hex_input(input),
        Format::Serial => serial_input(input),
        Format::Base64 => base64_input(input),
        Format::Auto if has_raw_marker || has_escaped_marker => serial_input(input),
        Format::Auto => match hex_input(input) {
            Ok(found) => Ok(found),
            Err(_) if input.from_args && base64_lines(input).is_some() => base64_input(input),
            Err(hex_error) if input.from_args => Err(hex_error.context(
                "the arguments are neither hex bytes, nor serial lines (no \\x06\\x09 frame start), \
                 nor base64 frame text; use --format to say which",
            )),
            Err(_) => Ok((Interpretation { written_as: "raw", kind: Kind::Packets }, input.bytes.clone())),
        },
    }
}

/// True if the bytes look like they hold a serial frame: a `06 09` start marker followed by
/// base64 text (at least 8 characters, as every frame has). Two stray bytes `06 09` inside a
/// binary capture (say, in an upload chunk) are not enough.
fn contains_marker(bytes: &[u8]) -> bool {
    let base64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    bytes.windows(10).any(|w| w[..2] == serial::START_MARKER && w[2..].iter().all(base64))
}

/// The input's lines (arguments, or lines of a text) if every one is base64 text of a frame
/// line: base64 characters only (a leading tab, what `09` of the marker looks like when copied,
/// is allowed), a multiple of 4 long.
fn base64_lines(input: &Input) -> Option<Vec<String>> {
    let text = std::str::from_utf8(&input.bytes).ok()?;
    let lines: Vec<&str> = if input.from_args {
        input.args.iter().flat_map(|a| a.lines()).collect()
    } else {
        text.lines().collect()
    };
    let lines: Vec<String> = lines
        .iter()
        .map(|l| l.trim_end_matches('\r').trim_start_matches('\t').trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    let is_b64 = |l: &String| {
        l.len().is_multiple_of(4)
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    };
    (!lines.is_empty() && lines.iter().all(is_b64)).then_some(lines)
}

/// Base64 frame text: put the markers back (start, then continuations) and read it as serial.
fn base64_input(input: &Input) -> anyhow::Result<(Interpretation, Vec<u8>)> {
    let Some(lines) = base64_lines(input) else {
        bail!("base64 input: every line must be base64 text whose length is a multiple of 4");
    };
    let mut bytes = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        bytes.extend_from_slice(if i == 0 { &serial::START_MARKER } else { &serial::CONTINUATION_MARKER });
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
    }
    Ok((Interpretation { written_as: "base64", kind: Kind::Serial }, bytes))
}

fn hex_input(input: &Input) -> anyhow::Result<(Interpretation, Vec<u8>)> {
    let Ok(text) = std::str::from_utf8(&input.bytes) else {
        bail!("the input is not text, so it cannot be hex (try --format raw)");
    };
    let bytes = parse_hex(text)?;
    // A hex dump of console bytes (e.g. from a logic analyser) is still serial traffic.
    if contains_marker(&bytes) {
        return Ok((Interpretation { written_as: "hex", kind: Kind::Serial }, bytes));
    }
    Ok((Interpretation { written_as: "hex", kind: Kind::Packets }, bytes))
}

fn serial_input(input: &Input) -> anyhow::Result<(Interpretation, Vec<u8>)> {
    let Ok(text) = std::str::from_utf8(&input.bytes) else {
        // Binary console capture: the markers are real bytes already.
        return Ok((Interpretation { written_as: "serial", kind: Kind::Serial }, input.bytes.clone()));
    };
    if !text.contains('\\') {
        let mut bytes = input.bytes.clone();
        if input.from_args {
            bytes = join_lines(input.args.iter().map(|a| a.as_bytes().to_vec()));
        }
        return Ok((Interpretation { written_as: "serial", kind: Kind::Serial }, bytes));
    }
    let bytes = if input.from_args {
        let mut lines = Vec::new();
        for (i, arg) in input.args.iter().enumerate() {
            lines.push(unescape(arg).with_context(|| format!("argument {}", i + 1))?);
        }
        join_lines(lines.into_iter())
    } else {
        unescape(text)?
    };
    Ok((Interpretation { written_as: "escaped serial", kind: Kind::Serial }, bytes))
}

/// Serial lines given one per argument: end each with a newline if it has none.
fn join_lines(lines: impl Iterator<Item = Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for mut line in lines {
        if line.last() != Some(&b'\n') {
            line.push(b'\n');
        }
        out.extend_from_slice(&line);
    }
    out
}

/// Where in a text a character is: 1-based line and column.
fn place(text: &str, byte_index: usize) -> String {
    let before = &text[..byte_index];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    if text.contains('\n') { format!("line {line}, column {column}") } else { format!("character {column}") }
}

/// Hex digits, with any of whitespace, `:`, `,`, `-` between bytes and optional `0x` prefixes.
fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut high: Option<(u8, usize)> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '0' && high.is_none() && matches!(chars.peek(), Some((_, 'x' | 'X'))) {
            chars.next();
            continue;
        }
        if let Some(v) = c.to_digit(16) {
            let v = v as u8;
            match high.take() {
                Some((h, _)) => bytes.push(h << 4 | v),
                None => high = Some((v, i)),
            }
            continue;
        }
        if c.is_whitespace() || matches!(c, ':' | ',' | '-') {
            if let Some((_, at)) = high {
                bail!("hex input: lone digit at {} (each byte needs two digits)", place(text, at));
            }
            continue;
        }
        bail!("hex input: {c:?} at {} is not a hex digit", place(text, i));
    }
    if let Some((_, at)) = high {
        bail!("hex input: lone digit at {} (each byte needs two digits)", place(text, at));
    }
    if bytes.is_empty() {
        bail!("hex input has no bytes");
    }
    Ok(bytes)
}

/// Undo `\xHH`, `\n`, `\r`, `\t`, `\\` escapes (as serial lines are written in docs and logs).
fn unescape(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'x' | b'X') => {
                let digits = bytes.get(i + 2..i + 4).and_then(|d| std::str::from_utf8(d).ok());
                let Some(v) = digits.and_then(|d| u8::from_str_radix(d, 16).ok()) else {
                    bail!("escape at {}: \\x needs two hex digits", place(text, i));
                };
                out.push(v);
                i += 4;
            }
            Some(b'n') => (out.push(b'\n'), i += 2).1,
            Some(b'r') => (out.push(b'\r'), i += 2).1,
            Some(b't') => (out.push(b'\t'), i += 2).1,
            Some(b'\\') => (out.push(b'\\'), i += 2).1,
            Some(&other) => {
                bail!("unknown escape \\{} at {}", char::from(other), place(text, i));
            }
            None => bail!("escape at {}: a lone \\ at the end", place(text, i)),
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------------
// Dissection
// ------------------------------------------------------------------------------------------------

/// Everything found in the input, in order.
struct Report {
    interpretation: Interpretation,
    input_len: usize,
    items: Vec<Item>,
}

enum Item {
    Packet(Box<Dissected>),
    Text {
        line: u64,
        text: String,
        truncated: bool,
    },
    Problem {
        at: String,
        message: String,
        /// What a damaged packet held, as received (bad CRC): shown, not trusted.
        damaged: Option<Vec<u8>>,
    },
}

/// Where a packet came from.
enum Source {
    /// Frame lines of a serial stream.
    Serial { first_line: u64, lines: u32, offset: u64 },
    /// Bytes at an offset of a packet buffer (within a serial frame, or of the whole input).
    Bytes { offset: usize },
}

/// One SMP message, taken apart.
struct Dissected {
    index: usize,
    source: Source,
    /// Offset of this message within its serial frame, if the frame held several.
    offset_in_frame: Option<usize>,
    header: Header,
    bytes: Vec<u8>,
    /// The body: `None` for a zero-length payload.
    body: Result<Option<Value>, CborError>,
    meaning: Meaning,
    warnings: Vec<String>,
}

/// What the message means, as far as `smp` types it.
enum Meaning {
    Request(Request),
    Response(Response),
    /// The op is 4–7: not an SMP operation.
    NoOp,
    /// The body could not be typed (the error says why).
    Untyped(String),
}

impl Report {
    fn clean(&self) -> bool {
        let packets = self.items.iter().filter(|i| matches!(i, Item::Packet(_))).count();
        packets > 0
            && self.items.iter().all(|i| match i {
                Item::Problem { .. } => false,
                Item::Packet(p) => p.body.is_ok(),
                Item::Text { .. } => true,
            })
    }

    fn packet_count(&self) -> usize {
        self.items.iter().filter(|i| matches!(i, Item::Packet(_))).count()
    }

    fn problem_count(&self) -> usize {
        self.items
            .iter()
            .filter(|i| match i {
                Item::Problem { .. } => true,
                Item::Packet(p) => p.body.is_err(),
                Item::Text { .. } => false,
            })
            .count()
    }
}

fn dissect(interpretation: Interpretation, bytes: &[u8], max_packet: usize) -> Report {
    let mut report = Report { interpretation, input_len: bytes.len(), items: Vec::new() };
    match interpretation.kind {
        Kind::Packets => split_packets(&mut report, bytes, |offset| Source::Bytes { offset }, None),
        Kind::Serial => {
            let config = DecoderConfig { max_packet_len: max_packet, ..DecoderConfig::default() };
            let mut rx = SerialDecoder::with_config(config);
            rx.push(bytes);
            rx.finish();
            while let Some(event) = rx.next_event() {
                match event {
                    Ok(Event::Packet(p)) => {
                        let source = |_| Source::Serial {
                            first_line: p.start.line,
                            lines: p.lines,
                            offset: p.start.offset,
                        };
                        split_packets(&mut report, &p.bytes, source, Some(p.start.line));
                    }
                    Ok(Event::Text(t)) => report.items.push(Item::Text {
                        line: t.start.line,
                        text: String::from_utf8_lossy(&t.bytes).into_owned(),
                        truncated: t.truncated,
                    }),
                    Err(e) => report.items.push(Item::Problem {
                        at: format!("serial {}", e.at),
                        message: e.kind.to_string(),
                        damaged: match e.kind {
                            serial::FrameErrorKind::BadCrc { packet, .. } => Some(packet),
                            _ => None,
                        },
                    }),
                }
            }
        }
    }
    if report.packet_count() == 0 && report.problem_count() == 0 {
        report.items.push(Item::Problem {
            at: "input".into(),
            message: "no SMP packet found".into(),
            damaged: None,
        });
    }
    report
}

/// Take apart every SMP message in `bytes` (usually one; a buffer may hold several).
fn split_packets(
    report: &mut Report,
    bytes: &[u8],
    source: impl Fn(usize) -> Source,
    serial_line: Option<u64>,
) {
    let mut offset = 0;
    let several = message::packets(bytes).count() > 1;
    for packet in message::packets(bytes) {
        let where_ = |offset: usize| match serial_line {
            Some(line) => format!("frame at serial line {line}, byte {offset} of its packet"),
            None => format!("byte {offset}"),
        };
        match packet {
            Ok(packet) => {
                let len = packet.total_len();
                let index = report.packet_count() + 1;
                let mut d = dissect_one(index, source(offset), packet, &bytes[offset..offset + len]);
                if serial_line.is_some() && several {
                    d.offset_in_frame = Some(offset);
                }
                report.items.push(Item::Packet(Box::new(d)));
                offset += len;
            }
            Err(PacketError::Header(_)) => {
                report.items.push(Item::Problem {
                    at: where_(offset),
                    message: format!(
                        "{} trailing byte(s) ({}) are too few for an {HEADER_LEN}-byte SMP header",
                        bytes.len() - offset,
                        hex_spaced(&bytes[offset..])
                    ),
                    damaged: None,
                });
                return;
            }
            Err(PacketError::Truncated { header, declared, available }) => {
                report.items.push(Item::Problem {
                    at: where_(offset),
                    message: format!(
                        "truncated packet: header ({header}) declares {declared} payload bytes \
                         but only {available} follow"
                    ),
                    damaged: None,
                });
                return;
            }
        }
    }
}

fn dissect_one(index: usize, source: Source, packet: message::Packet<'_>, bytes: &[u8]) -> Dissected {
    let mut warnings = Vec::new();
    let header = packet.header;
    if header.reserved != 0 {
        warnings.push(format!("reserved bits of byte 0 are {:#05b}, should be 0", header.reserved));
    }
    if header.flags != 0 {
        warnings.push(format!("flags are {:#04x}; SMP defines none (servers send 0)", header.flags));
    }
    if let Version::Reserved(v) = header.version {
        warnings.push(format!(
            "version field {v} is reserved; Zephyr answers {{\"rc\": 13}} (UNSUPPORTED_TOO_NEW)"
        ));
    }
    let body = match packet.payload {
        [] => Ok(None),
        payload => smp::cbor::decode(payload).map(Some),
    };
    let meaning = match &body {
        Err(_) => Meaning::Untyped("the body is not valid CBOR".into()),
        Ok(body) => {
            let message = Message { header, body: body.clone() };
            if header.op.is_request() {
                match Request::from_message(&message) {
                    Ok(r) => Meaning::Request(r),
                    Err(e) => Meaning::Untyped(e.to_string()),
                }
            } else if header.op.is_response() {
                match Response::from_message(&message) {
                    Ok(r) => Meaning::Response(r),
                    Err(e) => Meaning::Untyped(e.to_string()),
                }
            } else {
                Meaning::NoOp
            }
        }
    };
    if let Ok(Some(body)) = &body {
        if header.group.id() < 64 && body.as_map().is_none() {
            warnings.push(format!("the body is a {}, but groups 0-63 always carry a CBOR map", body.kind()));
        }
        ignored_keys(&meaning, body, &mut warnings);
    }
    Dissected { index, source, offset_in_frame: None, header, bytes: bytes.to_vec(), body, meaning, warnings }
}

/// Keys of the body the typed request or reply does not know (Zephyr skips unknown keys).
fn ignored_keys(meaning: &Meaning, body: &Value, warnings: &mut Vec<String>) {
    let typed = match meaning {
        Meaning::Request(r) if r.command().is_some() => r.body_value(),
        Meaning::Response(Response::Ok(b)) if b.command().is_some() => b.body_value(),
        _ => return,
    };
    let (Some(typed), Some(entries)) = (typed, body.as_map()) else { return };
    let known: Vec<&str> =
        typed.as_map().unwrap_or_default().iter().filter_map(|(k, _)| k.as_text()).collect();
    let ignored: Vec<String> = entries
        .iter()
        .filter_map(|(k, _)| k.as_text())
        .filter(|k| !known.contains(k) && !matches!(*k, "rc" | "err" | "rsn"))
        .map(|k| format!("{k:?}"))
        .collect();
    if !ignored.is_empty() {
        warnings.push(format!("key(s) {} not part of this command; Zephyr skips them", ignored.join(", ")));
    }
}

// ------------------------------------------------------------------------------------------------
// Human output
// ------------------------------------------------------------------------------------------------

fn hex_spaced(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// One line about a packet whose CRC failed: its header and body as far as they read.
fn damaged_summary(bytes: &[u8]) -> String {
    let Ok((header, rest)) = Header::parse(bytes) else {
        return format!("{} byte(s): {}", bytes.len(), hex_spaced(bytes));
    };
    let body = match smp::cbor::decode(&rest[..rest.len().min(usize::from(header.len))]) {
        _ if rest.is_empty() => "no body".to_owned(),
        Ok(v) => one_line(&v),
        Err(e) => format!("body not valid CBOR ({})", e.kind),
    };
    format!("{}, {header}: {body}", message::command_name(&header))
}

fn op_code(op: Op) -> u8 {
    op.bits()
}

fn version_label(v: Version) -> String {
    match v {
        Version::V1 => "SMP v1 (legacy)".into(),
        Version::V2 => "SMP v2".into(),
        Version::Reserved(b) => format!("reserved ({b})"),
    }
}

fn map_style(payload: &[u8]) -> &'static str {
    match payload.first() {
        Some(0xbf) => "indefinite-length map, as Zephyr's zcbor writes",
        Some(0xa0..=0xbb) => "definite-length map",
        Some(0x9f) => "indefinite-length array",
        Some(0x80..=0x9b) => "definite-length array",
        Some(_) => "not a map",
        None => "empty",
    }
}

impl Report {
    fn write_human(&self, out: &mut String, show_text: bool) {
        let mut hidden_text = 0;
        for item in &self.items {
            match item {
                Item::Packet(p) => p.write_human(out),
                Item::Text { line, text, truncated } if show_text => {
                    let more = if *truncated { " …" } else { "" };
                    let _ = writeln!(out, "console text, line {line}: {text}{more}\n");
                }
                Item::Text { .. } => hidden_text += 1,
                Item::Problem { at, message, damaged } => {
                    let _ = writeln!(out, "PROBLEM at {at}: {message}");
                    if let Some(bytes) = damaged {
                        let _ =
                            writeln!(out, "  as received (not to be trusted): {}", damaged_summary(bytes));
                    }
                    out.push('\n');
                }
            }
        }
        let packets = self.packet_count();
        let problems = self.problem_count();
        let _ = write!(
            out,
            "{packets} packet{} from {} bytes of {} input",
            plural(packets),
            self.input_len,
            self.interpretation.written_as
        );
        if hidden_text > 0 {
            let _ = write!(
                out,
                ", {hidden_text} console text line{} skipped (--text shows them)",
                plural(hidden_text)
            );
        }
        if problems > 0 {
            let _ = write!(out, ", {problems} problem{}", plural(problems));
        }
        out.push('\n');
    }
}

fn bytes_count(n: usize) -> String {
    format!("{n} byte{}", plural(n))
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl Dissected {
    fn write_human(&self, out: &mut String) {
        let h = &self.header;
        let command = message::command_name(h);
        let kind = if h.op.is_request() {
            "request"
        } else if h.op.is_response() {
            "response"
        } else {
            "message"
        };
        let from = match &self.source {
            Source::Serial { first_line, lines: 1, .. } => format!("serial line {first_line}"),
            Source::Serial { first_line, lines, .. } => {
                format!("serial lines {first_line}-{}", first_line + u64::from(*lines) - 1)
            }
            Source::Bytes { offset } => format!("byte {offset}"),
        };
        let within = self.offset_in_frame.map(|o| format!(", byte {o} of the frame")).unwrap_or_default();
        let crc = match self.source {
            Source::Serial { .. } if self.offset_in_frame.is_none() => {
                format!(", CRC {:#06x} ok", serial::crc16(&self.bytes))
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "#{} {command} {kind} ({from}{within}, {} bytes{crc})",
            self.index,
            self.bytes.len()
        );
        let _ = writeln!(out, "  header   {}", hex_spaced(&self.bytes[..HEADER_LEN]));
        let _ = writeln!(
            out,
            "           version {}  op {} ({})  flags {:#04x}  len {}",
            version_label(h.version),
            h.op.name(),
            op_code(h.op),
            h.flags,
            h.len
        );
        let group = match h.group {
            Group::PerUser(id) => format!("{id} (user-defined)"),
            Group::Unknown(id) => format!("{id} (unassigned)"),
            g => format!("{} ({})", g.name(), g.id()),
        };
        let known = if h.op.is_response() {
            Command::lookup_response(h.group, h.command_id, h.op)
        } else {
            Command::lookup(h.group, h.command_id, h.op)
        };
        let command = match known {
            Some(c) => format!("{} ({})", c.name(), h.command_id),
            None => format!("{} (not known to smp)", h.command_id),
        };
        let _ = writeln!(out, "           group {group}  seq {}  command {command}", h.seq);
        let payload = &self.bytes[HEADER_LEN..];
        match &self.body {
            Ok(None) => {
                let _ = writeln!(out, "  body     none (zero-length payload)");
            }
            Ok(Some(value)) => {
                let _ =
                    writeln!(out, "  body     {}, CBOR {}", bytes_count(payload.len()), map_style(payload));
                let mut text = String::new();
                pretty(value, 11, &mut text);
                let _ = writeln!(out, "           {text}");
            }
            Err(e) => {
                let at = HEADER_LEN + e.offset;
                let _ = writeln!(out, "  body     {}, NOT valid CBOR", bytes_count(payload.len()));
                let _ = writeln!(out, "           {} (packet byte {at})", e.kind);
                let shown = &payload[..payload.len().min(48)];
                let more = if payload.len() > shown.len() { " …" } else { "" };
                let _ = writeln!(out, "           {}{more}", hex_spaced(shown));
            }
        }
        match &self.meaning {
            Meaning::Request(r) => {
                let _ = writeln!(out, "  meaning  {}", describe_request(r));
            }
            Meaning::Response(Response::Ok(b)) => {
                let _ = writeln!(out, "  meaning  {}", describe_ok(b));
            }
            Meaning::Response(Response::Err(e)) => {
                let _ = writeln!(out, "  meaning  ERROR {e}");
                if let Some(err) = e.err {
                    let _ = writeln!(
                        out,
                        "           (an SMP v1 client would get {} instead)",
                        err.v1_translation()
                    );
                }
            }
            Meaning::NoOp => {
                let _ = writeln!(
                    out,
                    "  meaning  op {} is not an SMP operation; Zephyr answers {{\"rc\": 8}} (ENOTSUP)",
                    op_code(h.op)
                );
            }
            Meaning::Untyped(why) => {
                let _ = writeln!(out, "  meaning  not understood: {why}");
            }
        }
        for w in &self.warnings {
            let _ = writeln!(out, "  note     {w}");
        }
        out.push('\n');
    }
}

fn describe_request(r: &Request) -> String {
    match r {
        Request::Other { .. } => format!("{}: no typed body in smp (CBOR shown above)", r.command_name()),
        _ => format!("{} request: {}", r.command_name(), summary(r.body_value().as_ref())),
    }
}

fn describe_ok(b: &ResponseBody) -> String {
    match (b, b.command()) {
        (ResponseBody::Other { group, command_id, .. }, _) => {
            format!("{} command {command_id} reply: no typed body in smp", group.name())
        }
        (_, Some(c)) => format!("{} reply, success: {}", c.name(), summary(b.body_value().as_ref())),
        (_, None) => "reply".into(),
    }
}

/// `key=value, …` of a typed body, with byte strings shortened to their length.
fn summary(value: Option<&Value>) -> String {
    let Some(entries) = value.and_then(Value::as_map) else { return "no fields".into() };
    if entries.is_empty() {
        return "no fields".into();
    }
    entries
        .iter()
        .map(|(k, v)| {
            let k = k.as_text().map_or_else(|| k.to_string(), str::to_owned);
            format!("{k}={}", short(v))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn short(v: &Value) -> String {
    match v {
        Value::Bytes(b) if b.len() > 8 => format!("<{} bytes>", b.len()),
        Value::Array(a) => format!("[{} item{}]", a.len(), plural(a.len())),
        Value::Map(m) => format!("{{{} key{}}}", m.len(), plural(m.len())),
        other => other.to_string(),
    }
}

/// CBOR diagnostic notation, over several lines when long; long byte strings abbreviated.
fn pretty(v: &Value, indent: usize, out: &mut String) {
    let one = one_line(v);
    if one.len() + indent <= ONE_LINE + 11 || !matches!(v, Value::Map(_) | Value::Array(_)) {
        out.push_str(&one);
        return;
    }
    let pad = " ".repeat(indent + 2);
    match v {
        Value::Map(m) => {
            out.push_str("{\n");
            for (i, (k, val)) in m.iter().enumerate() {
                out.push_str(&pad);
                out.push_str(&one_line(k));
                out.push_str(": ");
                pretty(val, indent + 2, out);
                out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
            }
        }
        Value::Array(a) => {
            out.push_str("[\n");
            for (i, val) in a.iter().enumerate() {
                out.push_str(&pad);
                pretty(val, indent + 2, out);
                out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
            }
        }
        _ => {}
    }
    out.push_str(&" ".repeat(indent));
    out.push(if matches!(v, Value::Map(_)) { '}' } else { ']' });
}

/// One-line diagnostic notation with long byte strings abbreviated.
fn one_line(v: &Value) -> String {
    match v {
        Value::Bytes(b) if b.len() > SHOW_BYTES => {
            format!("h'{}…' ({} bytes)", hex::encode(&b[..SHOW_BYTES / 2]), b.len())
        }
        Value::Array(a) => {
            format!("[{}]", a.iter().map(one_line).collect::<Vec<_>>().join(", "))
        }
        Value::Map(m) => format!(
            "{{{}}}",
            m.iter().map(|(k, v)| format!("{}: {}", one_line(k), one_line(v))).collect::<Vec<_>>().join(", ")
        ),
        Value::Tag(t, inner) => format!("{t}({})", one_line(inner)),
        other => other.to_string(),
    }
}

// ------------------------------------------------------------------------------------------------
// JSON output
// ------------------------------------------------------------------------------------------------

impl Report {
    fn to_json(&self) -> Json {
        let items: Vec<Json> = self
            .items
            .iter()
            .map(|item| match item {
                Item::Packet(p) => p.to_json(),
                Item::Text { line, text, truncated } => {
                    json!({ "kind": "text", "line": line, "text": text, "truncated": truncated })
                }
                Item::Problem { at, message, damaged } => json!({
                    "kind": "problem",
                    "at": at,
                    "message": message,
                    "damaged": damaged.as_ref().map(|b| json!({
                        "bytes": hex::encode(b),
                        "summary": damaged_summary(b),
                    })),
                }),
            })
            .collect();
        json!({
            "input": {
                "format": self.interpretation.written_as,
                "bytes": self.input_len,
                "framing": match self.interpretation.kind { Kind::Serial => "serial", Kind::Packets => "packets" },
            },
            "packets": self.packet_count(),
            "problems": self.problem_count(),
            "ok": self.clean(),
            "items": items,
        })
    }
}

impl Dissected {
    fn to_json(&self) -> Json {
        let h = &self.header;
        let source = match &self.source {
            Source::Serial { first_line, lines, offset } => json!({
                "serial": { "first_line": first_line, "lines": lines, "offset": offset,
                            "crc": format!("{:#06x}", serial::crc16(&self.bytes)) },
                "offset_in_frame": self.offset_in_frame,
            }),
            Source::Bytes { offset } => json!({ "offset": offset }),
        };
        let payload = &self.bytes[HEADER_LEN..];
        let body = match &self.body {
            Ok(None) => Json::Null,
            Ok(Some(v)) => json!({
                "cbor": hex::encode(payload),
                "style": map_style(payload),
                "diagnostic": v.to_string(),
                "value": cbor_to_json(v),
            }),
            Err(e) => json!({
                "cbor": hex::encode(payload),
                "error": { "offset": HEADER_LEN + e.offset, "message": e.kind.to_string() },
            }),
        };
        let meaning = match &self.meaning {
            Meaning::Request(r) => json!({
                "kind": "request",
                "command": r.command().map(|c| format!("{c:?}")),
                "name": r.command_name(),
                "fields": r.body_value().map(|v| cbor_to_json(&v)),
            }),
            Meaning::Response(Response::Ok(b)) => json!({
                "kind": "response",
                "ok": true,
                "command": b.command().map(|c| format!("{c:?}")),
                "fields": b.body_value().map(|v| cbor_to_json(&v)),
            }),
            Meaning::Response(Response::Err(e)) => json!({
                "kind": "response",
                "ok": false,
                "error": e.to_string(),
                "rc": e.rc.map(|rc| json!({ "code": rc.code(), "name": rc.name().map(|n| format!("MGMT_ERR_{n}")) })),
                "group_error": e.err.map(|g| json!({
                    "group": g.group,
                    "rc": g.rc,
                    "name": g.code().to_string(),
                    "v1_translation": g.v1_translation().to_string(),
                })),
                "rsn": e.rsn,
            }),
            Meaning::NoOp => json!({ "kind": "invalid-op" }),
            Meaning::Untyped(why) => json!({ "kind": "untyped", "reason": why }),
        };
        json!({
            "kind": "packet",
            "index": self.index,
            "source": source,
            "bytes": hex::encode(&self.bytes),
            "header": {
                "version": h.version.to_string(),
                "version_field": h.version.bits(),
                "op": h.op.name(),
                "op_field": h.op.bits(),
                "flags": h.flags,
                "reserved": h.reserved,
                "len": h.len,
                "group": h.group.name(),
                "group_id": h.group.id(),
                "seq": h.seq,
                "command": message::command_name(h),
                "command_id": h.command_id,
            },
            "body": body,
            "meaning": meaning,
            "warnings": self.warnings,
        })
    }
}

/// CBOR as JSON: maps with text keys become objects, byte strings `{"bytes": "<hex>"}`.
fn cbor_to_json(v: &Value) -> Json {
    match v {
        Value::Int(i) => {
            let n = i.get();
            if let Ok(n) = i64::try_from(n) {
                json!(n)
            } else if let Ok(n) = u64::try_from(n) {
                json!(n)
            } else {
                json!(n.to_string())
            }
        }
        Value::Bytes(b) => json!({ "bytes": hex::encode(b) }),
        Value::Text(s) => json!(s),
        Value::Array(a) => Json::Array(a.iter().map(cbor_to_json).collect()),
        Value::Map(m) => {
            let text_keys = m.iter().all(|(k, _)| k.as_text().is_some());
            let unique = {
                let mut keys: Vec<&str> = m.iter().filter_map(|(k, _)| k.as_text()).collect();
                keys.sort_unstable();
                keys.windows(2).all(|w| w[0] != w[1])
            };
            if text_keys && unique {
                let obj = m
                    .iter()
                    .filter_map(|(k, v)| k.as_text().map(|k| (k.to_owned(), cbor_to_json(v))))
                    .collect();
                Json::Object(obj)
            } else {
                json!({ "map": m.iter().map(|(k, v)| json!([cbor_to_json(k), cbor_to_json(v)])).collect::<Vec<_>>() })
            }
        }
        Value::Bool(b) => json!(b),
        Value::Null => Json::Null,
        Value::Undefined => json!({ "simple": "undefined" }),
        Value::Float(x) if x.is_finite() => json!(x),
        Value::Float(x) => json!(x.to_string()),
        Value::Tag(t, inner) => json!({ "tag": t, "value": cbor_to_json(inner) }),
        Value::Simple(s) => json!({ "simple": s }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_accepts_common_spellings() {
        assert_eq!(parse_hex("0a 00:01,0x02 0XfF\n-10").unwrap(), vec![0x0a, 0, 1, 2, 0xff, 0x10]);
        assert_eq!(parse_hex("0a000109").unwrap(), vec![0x0a, 0, 1, 9]);
        let e = parse_hex("0a 0g").unwrap_err().to_string();
        assert_eq!(e, "hex input: 'g' at character 5 is not a hex digit");
        let e = parse_hex("0a 0 01").unwrap_err().to_string();
        assert_eq!(e, "hex input: lone digit at character 4 (each byte needs two digits)");
        let e = parse_hex("0a\n00 1").unwrap_err().to_string();
        assert_eq!(e, "hex input: lone digit at line 2, column 4 (each byte needs two digits)");
        assert!(parse_hex("  ").is_err());
    }

    #[test]
    fn escapes() {
        assert_eq!(unescape(r"\x06\x09AB\n\\\r\t").unwrap(), b"\x06\x09AB\n\\\r\t");
        assert_eq!(
            unescape(r"\x06\x9").unwrap_err().to_string(),
            "escape at character 5: \\x needs two hex digits"
        );
        assert_eq!(unescape(r"ab\q").unwrap_err().to_string(), "unknown escape \\q at character 3");
        assert!(unescape("a\\").is_err());
    }
}
