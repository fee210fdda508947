//! Wire faults on the replies a transport sends: the misbehaving link or device a client must
//! survive.
//!
//! A [`FaultPlan`] is a list of [`FaultRule`]s — a [`FaultKind`] and a [`Trigger`] (the n-th
//! reply, or a probability drawn from a seeded generator) — and a seed. Every reply the device
//! produces is counted (1 = the first reply after the plan was set) and each rule is asked
//! whether it fires; several may fire on one reply (a delayed *and* corrupted reply).
//!
//! | kind | serial (PTY) | datagram (UDP, in-process) |
//! |---|---|---|
//! | `Drop` | the frame is not sent | the datagram is not sent |
//! | `Duplicate` | the frame is sent twice | the datagram is sent twice |
//! | `Delay { ms }` | the line stalls for `ms` (later frames queue behind it) | this datagram leaves `ms` later (later ones may overtake it) |
//! | `Reorder` | held back and sent right after the next reply (or after [`FaultPlan::reorder_hold_ms`]) | same |
//! | `CorruptCrc` | the frame's CRC-16 is inverted (a device would drop it silently) | no CRC on UDP: the last payload byte is inverted |
//! | `TruncateLine` | the frame's last line loses the second half of its base64 text | the datagram loses its second half |
//! | `WrongSeq` | the reply's sequence number is one more than the request's (CRC recomputed) | same |
//!
//! A PTY in raw UART mode has no frames: its replies are damaged like datagrams.
//!
//! The generator is SplitMix64, so a plan and a seed replay the same faults on the same
//! replies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use smp::header::HEADER_LEN;

/// One way to damage or disturb a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Not sent at all.
    Drop,
    /// Sent twice.
    Duplicate,
    /// Sent `ms` milliseconds late.
    Delay {
        /// How late.
        ms: u64,
    },
    /// Sent after the next reply.
    Reorder,
    /// The serial CRC (or, without one, the last byte) is wrong.
    CorruptCrc,
    /// The (last) line is cut short.
    TruncateLine,
    /// The header's sequence number does not match the request's.
    WrongSeq,
}

impl std::fmt::Display for FaultKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultKind::Drop => write!(f, "drop"),
            FaultKind::Duplicate => write!(f, "duplicate"),
            FaultKind::Delay { ms } => write!(f, "delay {ms} ms"),
            FaultKind::Reorder => write!(f, "reorder"),
            FaultKind::CorruptCrc => write!(f, "corrupt CRC"),
            FaultKind::TruncateLine => write!(f, "truncate line"),
            FaultKind::WrongSeq => write!(f, "wrong sequence number"),
        }
    }
}

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trigger {
    /// On every reply with this probability (0.0 never, 1.0 always).
    Probability(f64),
    /// On exactly the n-th reply (1-based) after the plan was set.
    Nth(u64),
    /// On every n-th reply (n, 2n, 3n, …).
    EveryNth(u64),
}

/// A fault and when it fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultRule {
    pub kind: FaultKind,
    pub trigger: Trigger,
}

impl FaultRule {
    /// `kind` on exactly the `n`-th reply.
    pub fn nth(kind: FaultKind, n: u64) -> FaultRule {
        FaultRule { kind, trigger: Trigger::Nth(n) }
    }

    /// `kind` on each reply with probability `p`.
    pub fn probability(kind: FaultKind, p: f64) -> FaultRule {
        FaultRule { kind, trigger: Trigger::Probability(p) }
    }
}

/// The faults a transport applies, and the seed of its random choices.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    pub rules: Vec<FaultRule>,
    pub seed: u64,
    /// How long a reordered reply waits for a following reply before it is sent anyway.
    pub reorder_hold_ms: u64,
}

impl Default for FaultPlan {
    fn default() -> FaultPlan {
        FaultPlan { rules: Vec::new(), seed: 1, reorder_hold_ms: 1000 }
    }
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> FaultPlan {
        FaultPlan::default()
    }

    /// One rule.
    pub fn one(rule: FaultRule) -> FaultPlan {
        FaultPlan { rules: vec![rule], ..FaultPlan::default() }
    }

    /// Add a rule.
    pub fn with(mut self, rule: FaultRule) -> FaultPlan {
        self.rules.push(rule);
        self
    }

    pub fn seed(mut self, seed: u64) -> FaultPlan {
        self.seed = seed;
        self
    }
}

/// Why a fault rule's text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "fault rule {text:?}: {why} (expected KIND[:ARG]@WHEN, e.g. drop@3, delay:500@p:0.1, wrong-seq@every:10)"
)]
pub struct FaultParseError {
    /// The rule as given.
    pub text: String,
    /// What was wrong with it.
    pub why: String,
}

impl std::str::FromStr for FaultRule {
    type Err = FaultParseError;

    /// `KIND[:ARG]@WHEN`: KIND is `drop`, `duplicate`, `delay:MS`, `reorder`, `corrupt-crc`,
    /// `truncate-line` or `wrong-seq`; WHEN is `N` (the n-th reply), `every:N` or `p:P`
    /// (probability 0..=1).
    ///
    /// ```
    /// use sim_device::transport::{FaultKind, FaultRule, Trigger};
    /// let r: FaultRule = "delay:250@every:4".parse().unwrap();
    /// assert_eq!(r, FaultRule { kind: FaultKind::Delay { ms: 250 }, trigger: Trigger::EveryNth(4) });
    /// assert!("explode@1".parse::<FaultRule>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<FaultRule, FaultParseError> {
        let err = |why: &str| FaultParseError { text: text.into(), why: why.into() };
        let (kind, when) = text.split_once('@').ok_or_else(|| err("no '@WHEN'"))?;
        let kind = match kind.split_once(':') {
            Some(("delay", ms)) => FaultKind::Delay {
                ms: ms.parse().map_err(|_| err("the delay is not a number of milliseconds"))?,
            },
            Some(_) => return Err(err("only delay takes an argument")),
            None => match kind {
                "drop" => FaultKind::Drop,
                "duplicate" => FaultKind::Duplicate,
                "reorder" => FaultKind::Reorder,
                "corrupt-crc" => FaultKind::CorruptCrc,
                "truncate-line" => FaultKind::TruncateLine,
                "wrong-seq" => FaultKind::WrongSeq,
                "delay" => return Err(err("delay needs :MS")),
                _ => return Err(err("unknown fault kind")),
            },
        };
        let trigger = match when.split_once(':') {
            Some(("every", n)) => match n.parse() {
                Ok(n) if n > 0 => Trigger::EveryNth(n),
                _ => return Err(err("every:N needs N >= 1")),
            },
            Some(("p", p)) => match p.parse::<f64>() {
                Ok(p) if (0.0..=1.0).contains(&p) => Trigger::Probability(p),
                _ => return Err(err("p:P needs a probability from 0 to 1")),
            },
            Some(_) => return Err(err("WHEN is N, every:N or p:P")),
            None => match when.parse() {
                Ok(n) if n > 0 => Trigger::Nth(n),
                _ => return Err(err("the reply number must be 1 or more")),
            },
        };
        Ok(FaultRule { kind, trigger })
    }
}

/// SplitMix64: small, fast, and good enough to pick faults reproducibly.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A transport's fault state: the plan, the reply counter and the generator.
#[derive(Debug, Clone)]
pub struct FaultState {
    plan: FaultPlan,
    replies: u64,
    rng: SplitMix64,
}

impl FaultState {
    pub fn new(plan: FaultPlan) -> FaultState {
        let rng = SplitMix64::new(plan.seed);
        FaultState { plan, replies: 0, rng }
    }

    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Replies counted since the plan was set.
    pub fn replies(&self) -> u64 {
        self.replies
    }

    /// Count one more reply and return the faults that fire on it, in rule order.
    pub fn next_reply(&mut self) -> Vec<FaultKind> {
        self.replies += 1;
        let n = self.replies;
        let mut fired = Vec::new();
        for rule in &self.plan.rules {
            let fires = match rule.trigger {
                // Always draw, so a rule's choices do not depend on the other rules.
                Trigger::Probability(p) => self.rng.next_f64() < p,
                Trigger::Nth(k) => n == k,
                Trigger::EveryNth(k) => k > 0 && n.is_multiple_of(k),
            };
            if fires {
                fired.push(rule.kind);
            }
        }
        fired
    }
}

/// A handle to change a running transport's faults.
#[derive(Debug, Clone)]
pub struct FaultControl(pub(crate) Arc<Mutex<FaultState>>);

impl FaultControl {
    pub(crate) fn new(plan: FaultPlan) -> FaultControl {
        FaultControl(Arc::new(Mutex::new(FaultState::new(plan))))
    }

    /// Replace the plan; the reply count and the generator start over.
    pub fn set(&self, plan: FaultPlan) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = FaultState::new(plan);
    }

    /// Replies counted since the plan was set.
    pub fn replies(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).replies()
    }

    pub(crate) fn next_reply(&self) -> (Vec<FaultKind>, Duration) {
        let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let fired = s.next_reply();
        (fired, Duration::from_millis(s.plan().reorder_hold_ms))
    }
}

// ------------------------------------------------------------------------------------------------
// Damaging bytes
// ------------------------------------------------------------------------------------------------

/// Make the sequence number one more than it is (the header's seventh byte).
pub fn wrong_seq(packet: &mut [u8]) {
    if packet.len() >= HEADER_LEN {
        packet[6] = packet[6].wrapping_add(1);
    }
}

/// Invert the CRC-16 of a serial frame (the last two bytes of the body its lines carry). The
/// framing stays valid base64 with the right length; only the checksum is wrong.
pub fn corrupt_frame_crc(frame: &mut Vec<u8>) {
    let Some((start, end)) = last_line_text(frame) else { return };
    let Some(mut raw) = base64_decode(&frame[start..end]) else { return };
    let n = raw.len();
    if n < 2 {
        return;
    }
    raw[n - 2] ^= 0xff;
    raw[n - 1] ^= 0xff;
    let text = base64_encode(&raw);
    frame.splice(start..end, text);
}

/// Drop the second half of the base64 text of a frame's last line (keeping its marker and
/// newline): the receiver gets fewer bytes than the length field promises.
pub fn truncate_last_line(frame: &mut Vec<u8>) {
    let Some((start, end)) = last_line_text(frame) else { return };
    let keep = (end - start) / 2;
    frame.drain(start + keep..end);
}

/// Invert the last byte of a datagram.
pub fn corrupt_last_byte(datagram: &mut [u8]) {
    if let Some(b) = datagram.last_mut() {
        *b ^= 0xff;
    }
}

/// Drop the second half of a datagram.
pub fn truncate_datagram(datagram: &mut Vec<u8>) {
    datagram.truncate(datagram.len() / 2);
}

/// The byte range of the base64 text of the last line of `frame` (after its 2-byte marker,
/// before its newline).
fn last_line_text(frame: &[u8]) -> Option<(usize, usize)> {
    let end = if frame.last() == Some(&b'\n') { frame.len() - 1 } else { frame.len() };
    let line_start = frame[..end].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let start = line_start + 2;
    (start <= end).then_some((start, end))
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard padded base64 (only used to re-encode a damaged line).
fn base64_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sym = |shift: u32| ALPHABET[((n >> shift) & 63) as usize];
        out.push(sym(18));
        out.push(sym(12));
        out.push(if chunk.len() > 1 { sym(6) } else { b'=' });
        out.push(if chunk.len() > 2 { sym(0) } else { b'=' });
    }
    out
}

/// Decode standard base64 with or without padding; `None` on any other character.
fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .iter()
        .filter(|&&c| c != b'=')
        .map(|&c| ALPHABET.iter().position(|&a| a == c).map(|p| p as u8))
        .collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for group in digits.chunks(4) {
        let mut n = 0u32;
        for (i, d) in group.iter().enumerate() {
            n |= u32::from(*d) << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        match group.len() {
            4 => out.extend_from_slice(&bytes),
            3 => out.extend_from_slice(&bytes[..2]),
            2 => out.push(bytes[0]),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smp::serial::{EncodeOptions, Event, FrameErrorKind, SerialDecoder, encode};

    fn echo_packet() -> Vec<u8> {
        // A 200-byte payload, so the frame takes several lines.
        let mut p = vec![0x0b, 0, 0, 200, 0, 0, 7, 0];
        p.extend((0..200u8).map(|i| i.wrapping_mul(7)));
        p
    }

    #[test]
    fn base64_round_trips_every_tail_length() {
        for len in 0..10 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 5) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"hello"), b"aGVsbG8=");
        assert_eq!(base64_decode(b"a!"), None);
    }

    #[test]
    fn corrupted_crc_is_reported_as_bad_crc_and_nothing_else() {
        let mut frame = encode(&echo_packet(), EncodeOptions::default()).unwrap();
        let lines = frame.iter().filter(|&&b| b == b'\n').count();
        corrupt_frame_crc(&mut frame);
        assert_eq!(frame.iter().filter(|&&b| b == b'\n').count(), lines);
        let mut d = SerialDecoder::new();
        d.push(&frame);
        match d.next_event() {
            Some(Err(e)) => assert!(matches!(e.kind, FrameErrorKind::BadCrc { .. }), "{e}"),
            other => panic!("expected a CRC error, got {other:?}"),
        }
    }

    #[test]
    fn truncated_line_leaves_the_frame_incomplete() {
        let mut frame = encode(&echo_packet(), EncodeOptions::default()).unwrap();
        let before = frame.len();
        truncate_last_line(&mut frame);
        assert!(frame.len() < before);
        assert_eq!(frame.last(), Some(&b'\n'));
        let mut d = SerialDecoder::new();
        d.push(&frame);
        // Either an error or nothing yet (waiting for more); never a packet.
        assert!(!matches!(d.next_event(), Some(Ok(Event::Packet(_)))));
    }

    #[test]
    fn wrong_seq_changes_only_the_sequence_number() {
        let mut p = echo_packet();
        let orig = p.clone();
        wrong_seq(&mut p);
        assert_eq!(p[6], 8);
        assert_eq!(p[..6], orig[..6]);
        assert_eq!(p[7..], orig[7..]);
    }

    #[test]
    fn rules_parse_from_text() {
        let p = |s: &str| s.parse::<FaultRule>();
        assert_eq!(p("drop@3"), Ok(FaultRule::nth(FaultKind::Drop, 3)));
        assert_eq!(p("wrong-seq@p:0.5"), Ok(FaultRule::probability(FaultKind::WrongSeq, 0.5)));
        assert_eq!(
            p("truncate-line@every:2"),
            Ok(FaultRule { kind: FaultKind::TruncateLine, trigger: Trigger::EveryNth(2) })
        );
        for bad in ["drop", "drop@0", "drop@p:2", "delay@1", "delay:x@1", "drop:1@1", "fly@1", "drop@every:0"]
        {
            let e = p(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn triggers_fire_on_the_nth_reply_and_with_seeded_probability() {
        let plan = FaultPlan::one(FaultRule::nth(FaultKind::Drop, 3))
            .with(FaultRule { kind: FaultKind::Duplicate, trigger: Trigger::EveryNth(2) });
        let mut s = FaultState::new(plan);
        let fired: Vec<Vec<FaultKind>> = (0..4).map(|_| s.next_reply()).collect();
        assert_eq!(
            fired,
            vec![vec![], vec![FaultKind::Duplicate], vec![FaultKind::Drop], vec![FaultKind::Duplicate]]
        );

        let plan = FaultPlan::one(FaultRule::probability(FaultKind::WrongSeq, 0.25)).seed(42);
        let run = || {
            let mut s = FaultState::new(plan.clone());
            (0..1000).map(|_| !s.next_reply().is_empty()).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run(), "same seed, same faults");
        let hits = a.iter().filter(|&&x| x).count();
        assert!((180..320).contains(&hits), "about a quarter of 1000, got {hits}");
    }
}
