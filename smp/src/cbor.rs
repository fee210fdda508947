//! A small CBOR (RFC 8949) value model, a bounded decoder and an encoder, as SMP bodies use them.
//!
//! * [`Value`] holds any CBOR data item. Maps keep their entries in wire order (SMP clients and
//!   servers do not sort keys the same way, and a dissector should show what was sent).
//! * [`decode`] / [`decode_with`] / [`decode_prefix`] read definite *and* indefinite-length
//!   arrays, maps and strings under [`Limits`]: nesting depth, item count, string length and
//!   total size are all bounded, and nothing is allocated from an untrusted length before the
//!   bytes it promises have been seen. Every failure is a [`CborError`] carrying the byte offset.
//! * [`encode`] writes shortest-form heads and definite strings always; maps and arrays are
//!   definite ([`MapStyle::Definite`], what clients such as Python `smp`/cbor2 and ciborium send)
//!   or indefinite ([`MapStyle::Indefinite`], `0xBF … 0xFF` / `0x9F … 0xFF`, what Zephyr's zcbor
//!   emits in every reply).
//! * [`Fields`] reads a map the way Zephyr's `zcbor_map_decode_bulk` does: text keys in any order,
//!   unknown keys skipped, a known key twice is an error, a known key of the wrong type is an
//!   error naming the key and the expected type ([`BodyError`]).

use core::fmt;

// ------------------------------------------------------------------------------------------------
// Values
// ------------------------------------------------------------------------------------------------

/// A CBOR integer: any value of major type 0 (0 ..= 2⁶⁴−1) or 1 (−2⁶⁴ ..= −1).
///
/// The field is private so a value outside CBOR's range cannot be built; use the `From`
/// conversions from Rust's integer types or [`Integer::try_from`] an `i128`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Integer(i128);

impl Integer {
    /// Smallest CBOR integer, −2⁶⁴.
    pub const MIN: Integer = Integer(-(1i128 << 64));
    /// Largest CBOR integer, 2⁶⁴−1.
    pub const MAX: Integer = Integer(u64::MAX as i128);

    /// The value as an `i128` (always exact).
    pub fn get(self) -> i128 {
        self.0
    }

    /// The value as a `u64`, if it is non-negative.
    pub fn as_u64(self) -> Option<u64> {
        u64::try_from(self.0).ok()
    }

    /// The value as an `i64`, if it fits.
    pub fn as_i64(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }
}

impl fmt::Debug for Integer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for Integer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

macro_rules! integer_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Integer {
            fn from(v: $t) -> Integer { Integer(v as i128) }
        }
        impl From<$t> for Value {
            fn from(v: $t) -> Value { Value::Int(Integer(v as i128)) }
        }
    )*};
}
integer_from!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// The `i128` is outside CBOR's integer range −2⁶⁴ ..= 2⁶⁴−1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is outside the CBOR integer range -2^64 ..= 2^64-1")]
pub struct IntegerOutOfRange(pub i128);

impl TryFrom<i128> for Integer {
    type Error = IntegerOutOfRange;
    fn try_from(v: i128) -> Result<Integer, IntegerOutOfRange> {
        if (Integer::MIN.0..=Integer::MAX.0).contains(&v) {
            Ok(Integer(v))
        } else {
            Err(IntegerOutOfRange(v))
        }
    }
}

impl From<Integer> for i128 {
    fn from(v: Integer) -> i128 {
        v.0
    }
}

/// One CBOR data item.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Major types 0 and 1.
    Int(Integer),
    /// Major type 2 (indefinite-length strings are joined when decoded).
    Bytes(Vec<u8>),
    /// Major type 3 (indefinite-length strings are joined when decoded).
    Text(String),
    /// Major type 4.
    Array(Vec<Value>),
    /// Major type 5; entries in wire order, duplicates kept as received.
    Map(Vec<(Value, Value)>),
    /// Simple values 20 and 21.
    Bool(bool),
    /// Simple value 22.
    Null,
    /// Simple value 23.
    Undefined,
    /// Half, single or double precision float (encoded in the shortest exact width).
    Float(f64),
    /// Major type 6: a tag number and the tagged item.
    Tag(u64, Box<Value>),
    /// Any other simple value (0..=19 or 32..=255).
    Simple(u8),
}

impl Value {
    /// A text string.
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    /// A byte string.
    pub fn bytes(b: impl Into<Vec<u8>>) -> Value {
        Value::Bytes(b.into())
    }

    /// A map with text keys, in the given order.
    pub fn map<'k>(entries: impl IntoIterator<Item = (&'k str, Value)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (Value::text(k), v)).collect())
    }

    /// The empty map `{}`.
    pub fn empty_map() -> Value {
        Value::Map(Vec::new())
    }

    /// What kind of item this is, for error messages ("unsigned integer", "text string", ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(i) if i.0 >= 0 => "unsigned integer",
            Value::Int(_) => "negative integer",
            Value::Bytes(_) => "byte string",
            Value::Text(_) => "text string",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Bool(_) => "bool",
            Value::Null => "null",
            Value::Undefined => "undefined",
            Value::Float(_) => "float",
            Value::Tag(..) => "tag",
            Value::Simple(_) => "simple value",
        }
    }

    /// The integer, if this is one.
    pub fn as_integer(&self) -> Option<Integer> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The integer as `u64`, if this is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_integer().and_then(Integer::as_u64)
    }

    /// The integer as `i64`, if this is an integer that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_integer().and_then(Integer::as_i64)
    }

    /// The text, if this is a text string.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The bool, if this is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value of the first entry whose key is the text `key`, if this is a map.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_map()?.iter().find(|(k, _)| k.as_text() == Some(key)).map(|(_, v)| v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<Integer> for Value {
    fn from(v: Integer) -> Value {
        Value::Int(v)
    }
}

/// Diagnostic notation (RFC 8949 §8), e.g. `{"r": "hello", "n": [1, h'00ff']}`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Bytes(b) => {
                f.write_str("h'")?;
                for byte in b {
                    write!(f, "{byte:02x}")?;
                }
                f.write_str("'")
            }
            Value::Text(s) => write!(f, "{s:?}"),
            Value::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::Undefined => f.write_str("undefined"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Tag(t, v) => write!(f, "{t}({v})"),
            Value::Simple(s) => write!(f, "simple({s})"),
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Decoding
// ------------------------------------------------------------------------------------------------

/// Bounds on what one decode may accept. Every field is a hard cap; exceeding one is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting of arrays, maps and tags (a scalar at top level is depth 0; the body map
    /// of an SMP message is depth 1). Values above [`Limits::DEPTH_CEILING`] act as the ceiling.
    pub max_depth: usize,
    /// Maximum number of data items in total (every array element, map key and map value counts).
    pub max_items: usize,
    /// Maximum length in bytes of one byte or text string (after joining chunks).
    pub max_string_len: usize,
    /// Maximum number of input bytes one value may occupy.
    pub max_total: usize,
}

impl Limits {
    /// The decoder recurses once per nesting level; this caps `max_depth` to keep the stack safe.
    pub const DEPTH_CEILING: usize = 256;
}

impl Default for Limits {
    /// Depth 16, 65 536 items, strings up to 64 KiB, values up to 1 MiB: far above anything
    /// Zephyr sends or accepts (its buffers are 384..2048 bytes), far below anything harmful.
    fn default() -> Limits {
        Limits { max_depth: 16, max_items: 65_536, max_string_len: 64 * 1024, max_total: 1 << 20 }
    }
}

/// What was wrong with the CBOR input (see [`CborError`] for where).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborErrorKind {
    /// The input ended inside a data item.
    #[error("input ends inside a data item")]
    UnexpectedEnd,
    /// Additional information 28, 29 or 30 (reserved by RFC 8949).
    #[error("reserved additional information {info} in major type {major}")]
    ReservedInfo {
        /// Major type 0..=7.
        major: u8,
        /// Additional information 28..=30.
        info: u8,
    },
    /// Indefinite length (additional information 31) on an integer, tag or simple value.
    #[error("indefinite length is not allowed for major type {major}")]
    IndefiniteNotAllowed {
        /// Major type 0, 1 or 6.
        major: u8,
    },
    /// A "break" (0xFF) where no indefinite-length item is open, or between a map key and value.
    #[error("unexpected break (0xff)")]
    UnexpectedBreak,
    /// A chunk of an indefinite-length string is not a definite string of the same major type.
    #[error("chunk of an indefinite-length {outer} is a {found}")]
    BadChunk {
        /// "byte string" or "text string".
        outer: &'static str,
        /// What the chunk was.
        found: &'static str,
    },
    /// A text string is not valid UTF-8.
    #[error("text string is not valid UTF-8")]
    InvalidUtf8,
    /// A two-byte simple value below 32 (not well-formed per RFC 8949 §3.3).
    #[error("simple value {0} must be encoded in one byte")]
    BadSimple(u8),
    /// The declared length (string bytes, or array/map items) is more than the input still holds.
    #[error("declared length {declared} exceeds the {available} bytes left in the input")]
    LengthExceedsInput {
        /// The length from the item head.
        declared: u64,
        /// Bytes left after the head.
        available: usize,
    },
    /// A definite array or map declares more entries than the rest of the input could hold
    /// (every item takes at least one byte).
    #[error("declared {declared} {what} need at least {needed} bytes but only {available} are left")]
    CountExceedsInput {
        /// "array elements" or "map entries".
        what: &'static str,
        /// The count from the item head.
        declared: u64,
        /// The smallest number of bytes that many items take.
        needed: u64,
        /// Bytes left after the head.
        available: usize,
    },
    /// Nesting deeper than [`Limits::max_depth`].
    #[error("nesting deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More data items than [`Limits::max_items`].
    #[error("more than {max} data items")]
    TooManyItems {
        /// The limit.
        max: usize,
    },
    /// A string longer than [`Limits::max_string_len`].
    #[error("string of {len} bytes is longer than the limit of {max}")]
    StringTooLong {
        /// The declared or accumulated length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The value occupies more than [`Limits::max_total`] bytes.
    #[error("value is larger than the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
    /// Bytes left over after a complete value (only from [`decode`] and [`decode_with`]).
    #[error("{count} trailing bytes after the value")]
    TrailingBytes {
        /// How many bytes were left.
        count: usize,
    },
}

/// A CBOR decoding error and the byte offset (from the start of the input) of the item at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("CBOR error at byte {offset}: {kind}")]
pub struct CborError {
    /// Offset of the offending item's first byte (for [`CborErrorKind::TrailingBytes`], of the
    /// first trailing byte; for [`CborErrorKind::UnexpectedEnd`], of the item being read).
    pub offset: usize,
    /// What was wrong.
    pub kind: CborErrorKind,
}

/// Decode exactly one value filling all of `input`, under [`Limits::default`].
pub fn decode(input: &[u8]) -> Result<Value, CborError> {
    decode_with(input, &Limits::default())
}

/// Decode exactly one value filling all of `input`; bytes after it are
/// [`CborErrorKind::TrailingBytes`].
pub fn decode_with(input: &[u8], limits: &Limits) -> Result<Value, CborError> {
    let (value, used) = decode_prefix(input, limits)?;
    if used < input.len() {
        return Err(CborError {
            offset: used,
            kind: CborErrorKind::TrailingBytes { count: input.len() - used },
        });
    }
    Ok(value)
}

/// Decode one value from the start of `input`; returns it and how many bytes it used.
pub fn decode_prefix(input: &[u8], limits: &Limits) -> Result<(Value, usize), CborError> {
    let truncated = input.len() > limits.max_total;
    let view = &input[..input.len().min(limits.max_total)];
    let mut d = Decoder { input: view, pos: 0, limits: *limits, items: 0 };
    match d.item(0) {
        Ok(v) => Ok((v, d.pos)),
        Err(e)
            if truncated
                && matches!(
                    e.kind,
                    CborErrorKind::UnexpectedEnd
                        | CborErrorKind::LengthExceedsInput { .. }
                        | CborErrorKind::CountExceedsInput { .. }
                ) =>
        {
            Err(CborError { offset: e.offset, kind: CborErrorKind::TooLarge { max: limits.max_total } })
        }
        Err(e) => Err(e),
    }
}

/// An item head: major type, additional information, and the argument (None for ai 31).
struct Head {
    major: u8,
    info: u8,
    arg: Option<u64>,
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    limits: Limits,
    items: usize,
}

const BREAK: u8 = 0xff;

impl Decoder<'_> {
    fn err(&self, offset: usize, kind: CborErrorKind) -> CborError {
        CborError { offset, kind }
    }

    fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn take(&mut self, n: usize, item_start: usize) -> Result<&[u8], CborError> {
        if self.remaining() < n {
            return Err(self.err(item_start, CborErrorKind::UnexpectedEnd));
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn head(&mut self) -> Result<Head, CborError> {
        let start = self.pos;
        let first = self.take(1, start)?[0];
        let major = first >> 5;
        let info = first & 0x1f;
        let arg = match info {
            0..=23 => Some(u64::from(info)),
            24 => Some(u64::from(self.take(1, start)?[0])),
            25 => {
                let b = self.take(2, start)?;
                Some(u64::from(u16::from_be_bytes([b[0], b[1]])))
            }
            26 => {
                let b = self.take(4, start)?;
                Some(u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
            }
            27 => {
                let b = self.take(8, start)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Some(u64::from_be_bytes(a))
            }
            28..=30 => return Err(self.err(start, CborErrorKind::ReservedInfo { major, info })),
            _ => None,
        };
        Ok(Head { major, info, arg })
    }

    fn count_item(&mut self, start: usize) -> Result<(), CborError> {
        self.items += 1;
        if self.items > self.limits.max_items {
            return Err(self.err(start, CborErrorKind::TooManyItems { max: self.limits.max_items }));
        }
        Ok(())
    }

    fn enter(&self, depth: usize, start: usize) -> Result<usize, CborError> {
        let max = self.limits.max_depth.min(Limits::DEPTH_CEILING);
        if depth + 1 > max {
            return Err(self.err(start, CborErrorKind::TooDeep { max }));
        }
        Ok(depth + 1)
    }

    /// One definite string's bytes (the head is already read).
    fn definite_string(&mut self, len: u64, start: usize) -> Result<&[u8], CborError> {
        if len > self.limits.max_string_len as u64 {
            return Err(
                self.err(start, CborErrorKind::StringTooLong { len, max: self.limits.max_string_len })
            );
        }
        if len > self.remaining() as u64 {
            return Err(self.err(
                start,
                CborErrorKind::LengthExceedsInput { declared: len, available: self.remaining() },
            ));
        }
        // In range: len <= remaining, which is a usize.
        self.take(len as usize, start)
    }

    /// A byte (major 2) or text (major 3) string, definite or chunked.
    fn string(&mut self, head: &Head, start: usize) -> Result<Vec<u8>, CborError> {
        let outer = if head.major == 2 { "byte string" } else { "text string" };
        let check = |bytes: &[u8], at: usize| -> Result<(), CborError> {
            if head.major == 3 && core::str::from_utf8(bytes).is_err() {
                return Err(CborError { offset: at, kind: CborErrorKind::InvalidUtf8 });
            }
            Ok(())
        };
        if let Some(len) = head.arg {
            let bytes = self.definite_string(len, start)?.to_vec();
            check(&bytes, start)?;
            return Ok(bytes);
        }
        let mut out = Vec::new();
        loop {
            let chunk_start = self.pos;
            if self.peek() == Some(BREAK) {
                self.pos += 1;
                return Ok(out);
            }
            let chunk = self.head()?;
            let Some(len) = chunk.arg.filter(|_| chunk.major == head.major) else {
                let found = if chunk.major == head.major {
                    "indefinite-length string"
                } else {
                    major_name(chunk.major)
                };
                return Err(self.err(chunk_start, CborErrorKind::BadChunk { outer, found }));
            };
            let total = (out.len() as u64).saturating_add(len);
            if total > self.limits.max_string_len as u64 {
                return Err(self.err(
                    chunk_start,
                    CborErrorKind::StringTooLong { len: total, max: self.limits.max_string_len },
                ));
            }
            let bytes = self.definite_string(len, chunk_start)?;
            check(bytes, chunk_start)?;
            out.extend_from_slice(bytes);
        }
    }

    fn item(&mut self, depth: usize) -> Result<Value, CborError> {
        let start = self.pos;
        self.count_item(start)?;
        let head = self.head()?;
        match (head.major, head.arg) {
            (0, Some(n)) => Ok(Value::Int(Integer(i128::from(n)))),
            (1, Some(n)) => Ok(Value::Int(Integer(-1 - i128::from(n)))),
            (0 | 1 | 6, None) => {
                Err(self.err(start, CborErrorKind::IndefiniteNotAllowed { major: head.major }))
            }
            (2, _) => Ok(Value::Bytes(self.string(&head, start)?)),
            (3, _) => {
                let bytes = self.string(&head, start)?;
                String::from_utf8(bytes)
                    .map(Value::Text)
                    .map_err(|_| self.err(start, CborErrorKind::InvalidUtf8))
            }
            (4, n) => {
                let depth = self.enter(depth, start)?;
                let mut items = Vec::new();
                match n {
                    Some(n) => {
                        self.check_count(n, 1, start)?;
                        items.reserve(n.min(16) as usize);
                        for _ in 0..n {
                            items.push(self.item(depth)?);
                        }
                    }
                    None => {
                        while !self.at_break(start)? {
                            items.push(self.item(depth)?);
                        }
                    }
                }
                Ok(Value::Array(items))
            }
            (5, n) => {
                let depth = self.enter(depth, start)?;
                let mut entries = Vec::new();
                match n {
                    Some(n) => {
                        self.check_count(n, 2, start)?;
                        entries.reserve(n.min(16) as usize);
                        for _ in 0..n {
                            let k = self.item(depth)?;
                            let v = self.item(depth)?;
                            entries.push((k, v));
                        }
                    }
                    None => {
                        while !self.at_break(start)? {
                            let k = self.item(depth)?;
                            let v = self.item(depth)?;
                            entries.push((k, v));
                        }
                    }
                }
                Ok(Value::Map(entries))
            }
            (6, Some(tag)) => {
                let depth = self.enter(depth, start)?;
                Ok(Value::Tag(tag, Box::new(self.item(depth)?)))
            }
            (_, None) => Err(self.err(start, CborErrorKind::UnexpectedBreak)),
            (_, Some(arg)) => self.simple_or_float(head.info, arg, start),
        }
    }

    /// A definite array/map of `n` entries needs at least `n * min_bytes` more bytes.
    fn check_count(&self, n: u64, min_bytes: u64, start: usize) -> Result<(), CborError> {
        let needed = n.saturating_mul(min_bytes);
        if needed > self.remaining() as u64 {
            let what = if min_bytes == 1 { "array elements" } else { "map entries" };
            let available = self.remaining();
            let kind = CborErrorKind::CountExceedsInput { what, declared: n, needed, available };
            return Err(self.err(start, kind));
        }
        Ok(())
    }

    /// Inside an indefinite container: consume a break and say so, or say there is more.
    fn at_break(&mut self, container_start: usize) -> Result<bool, CborError> {
        match self.peek() {
            Some(BREAK) => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(self.err(container_start, CborErrorKind::UnexpectedEnd)),
        }
    }

    fn simple_or_float(&self, info: u8, arg: u64, start: usize) -> Result<Value, CborError> {
        Ok(match info {
            20 => Value::Bool(false),
            21 => Value::Bool(true),
            22 => Value::Null,
            23 => Value::Undefined,
            0..=19 => Value::Simple(info),
            24 if arg < 32 => return Err(self.err(start, CborErrorKind::BadSimple(arg as u8))),
            24 => Value::Simple(arg as u8),
            25 => Value::Float(half_to_f64(arg as u16)),
            26 => Value::Float(f64::from(f32::from_bits(arg as u32))),
            _ => Value::Float(f64::from_bits(arg)),
        })
    }
}

fn major_name(major: u8) -> &'static str {
    match major {
        0 => "unsigned integer",
        1 => "negative integer",
        2 => "byte string",
        3 => "text string",
        4 => "array",
        5 => "map",
        6 => "tag",
        _ => "simple value or float",
    }
}

/// IEEE 754 half precision bits to f64.
fn half_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        _ => sign * (1.0 + frac / 1024.0) * 2f64.powi(exp - 15),
    }
}

/// The half-precision bits of `x` if it converts exactly (NaN becomes the canonical 0x7E00).
fn f64_to_half_exact(x: f64) -> Option<u16> {
    if x.is_nan() {
        return Some(0x7e00);
    }
    let single = x as f32;
    if f64::from(single) != x {
        return None;
    }
    let bits = single.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    if x == 0.0 {
        return Some(sign);
    }
    if x.is_infinite() {
        return Some(sign | 0x7c00);
    }
    let exp = ((bits >> 23) & 0xff) as i32 - 127;
    let mant = bits & 0x7f_ffff;
    let half = if (-14..=15).contains(&exp) {
        if mant & 0x1fff != 0 {
            return None;
        }
        sign | (((exp + 15) as u16) << 10) | (mant >> 13) as u16
    } else if (-24..-14).contains(&exp) {
        let full = mant | 0x80_0000;
        let shift = (13 + (-14 - exp)) as u32;
        if full & ((1 << shift) - 1) != 0 {
            return None;
        }
        sign | (full >> shift) as u16
    } else {
        return None;
    };
    (half_to_f64(half) == x).then_some(half)
}

// ------------------------------------------------------------------------------------------------
// Encoding
// ------------------------------------------------------------------------------------------------

/// How maps and arrays are written. Strings are always definite; integer heads always shortest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MapStyle {
    /// Definite lengths (`a1 …`, `82 …`): what SMP clients send (cbor2 canonical, ciborium).
    #[default]
    Definite,
    /// Indefinite lengths (`bf … ff`, `9f … ff`): what Zephyr's server (zcbor, non-canonical,
    /// the default) sends in every reply.
    Indefinite,
}

/// Encode `value` into a new buffer.
pub fn encode(value: &Value, style: MapStyle) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(value, style, &mut out);
    out
}

/// Append the encoding of `value` to `out`.
pub fn encode_into(value: &Value, style: MapStyle, out: &mut Vec<u8>) {
    match value {
        Value::Int(i) => {
            if i.0 >= 0 {
                write_head(out, 0, i.0 as u64);
            } else {
                // -1 - i is in 0..=u64::MAX by the Integer invariant.
                write_head(out, 1, (-1 - i.0) as u64);
            }
        }
        Value::Bytes(b) => {
            write_head(out, 2, b.len() as u64);
            out.extend_from_slice(b);
        }
        Value::Text(s) => {
            write_head(out, 3, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Array(items) => {
            match style {
                MapStyle::Definite => write_head(out, 4, items.len() as u64),
                MapStyle::Indefinite => out.push(0x9f),
            }
            for item in items {
                encode_into(item, style, out);
            }
            if style == MapStyle::Indefinite {
                out.push(BREAK);
            }
        }
        Value::Map(entries) => {
            match style {
                MapStyle::Definite => write_head(out, 5, entries.len() as u64),
                MapStyle::Indefinite => out.push(0xbf),
            }
            for (k, v) in entries {
                encode_into(k, style, out);
                encode_into(v, style, out);
            }
            if style == MapStyle::Indefinite {
                out.push(BREAK);
            }
        }
        Value::Bool(false) => out.push(0xf4),
        Value::Bool(true) => out.push(0xf5),
        Value::Null => out.push(0xf6),
        Value::Undefined => out.push(0xf7),
        Value::Float(x) => {
            if let Some(h) = f64_to_half_exact(*x) {
                out.push(0xf9);
                out.extend_from_slice(&h.to_be_bytes());
            } else if f64::from(*x as f32) == *x {
                out.push(0xfa);
                out.extend_from_slice(&(*x as f32).to_bits().to_be_bytes());
            } else {
                out.push(0xfb);
                out.extend_from_slice(&x.to_bits().to_be_bytes());
            }
        }
        Value::Tag(tag, inner) => {
            write_head(out, 6, *tag);
            encode_into(inner, style, out);
        }
        Value::Simple(s) => {
            if *s < 24 {
                out.push(0xe0 | s);
            } else {
                out.push(0xf8);
                out.push(*s);
            }
        }
    }
}

/// Write an item head with the shortest argument encoding.
fn write_head(out: &mut Vec<u8>, major: u8, arg: u64) {
    let m = major << 5;
    if arg < 24 {
        out.push(m | arg as u8);
    } else if arg <= u64::from(u8::MAX) {
        out.extend_from_slice(&[m | 24, arg as u8]);
    } else if arg <= u64::from(u16::MAX) {
        out.push(m | 25);
        out.extend_from_slice(&(arg as u16).to_be_bytes());
    } else if arg <= u64::from(u32::MAX) {
        out.push(m | 26);
        out.extend_from_slice(&(arg as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend_from_slice(&arg.to_be_bytes());
    }
}

// ------------------------------------------------------------------------------------------------
// Reading maps by text key
// ------------------------------------------------------------------------------------------------

/// Why a CBOR value is not the body (or part of a body) that was expected.
///
/// `key` fields are paths such as `images[1].hash` for nested items.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// The body (or a nested item) should be a map.
    #[error("{at}: expected a map, found {found}")]
    NotAMap {
        /// Where ("body" at top level).
        at: String,
        /// What it was.
        found: &'static str,
    },
    /// A map key is not a text string (Zephyr rejects such bodies).
    #[error("{at}: map key is a {found}, expected a text string")]
    NonTextKey {
        /// Which map ("body" at top level).
        at: String,
        /// What the key was.
        found: &'static str,
    },
    /// A known key appears more than once.
    #[error("key \"{key}\" appears more than once")]
    DuplicateKey {
        /// The key path.
        key: String,
    },
    /// A required key is absent.
    #[error("required key \"{key}\" is missing")]
    MissingKey {
        /// The key path.
        key: String,
    },
    /// A key holds the wrong CBOR type.
    #[error("key \"{key}\": expected {expected}, found {found}")]
    WrongType {
        /// The key path.
        key: String,
        /// What was expected ("unsigned integer", "byte string", ...).
        expected: &'static str,
        /// What was there.
        found: &'static str,
    },
    /// A number does not fit the field.
    #[error("key \"{key}\": {value} does not fit {expected}")]
    OutOfRange {
        /// The key path.
        key: String,
        /// The number received.
        value: i128,
        /// The field's range, e.g. "u32".
        expected: &'static str,
    },
    /// Right type, but the content is not acceptable.
    #[error("key \"{key}\": {reason}")]
    Invalid {
        /// The key path.
        key: String,
        /// Why.
        reason: String,
    },
}

impl BodyError {
    /// The same error with its location prefixed by `outer` (`images[1]` + `hash` →
    /// `images[1].hash`), for errors found inside nested maps.
    pub fn within(self, outer: &str) -> BodyError {
        let join = |inner: String| {
            if inner == "body" { outer.to_owned() } else { format!("{outer}.{inner}") }
        };
        match self {
            BodyError::NotAMap { at, found } => BodyError::NotAMap { at: join(at), found },
            BodyError::NonTextKey { at, found } => BodyError::NonTextKey { at: join(at), found },
            BodyError::DuplicateKey { key } => BodyError::DuplicateKey { key: join(key) },
            BodyError::MissingKey { key } => BodyError::MissingKey { key: join(key) },
            BodyError::WrongType { key, expected, found } => {
                BodyError::WrongType { key: join(key), expected, found }
            }
            BodyError::OutOfRange { key, value, expected } => {
                BodyError::OutOfRange { key: join(key), value, expected }
            }
            BodyError::Invalid { key, reason } => BodyError::Invalid { key: join(key), reason },
        }
    }
}

/// The known keys of one map, looked up once, with typed accessors.
///
/// ```
/// use smp::cbor::{Fields, Value};
/// let body = Value::map([("off", Value::from(0u32)), ("data", Value::bytes(vec![1, 2]))]);
/// let f = Fields::read(&body, &["off", "data", "len"]).unwrap();
/// assert_eq!(f.req_uint::<u32>("off").unwrap(), 0);
/// assert_eq!(f.opt_uint::<u64>("len").unwrap(), None);
/// assert_eq!(f.req_bytes("data").unwrap(), &[1, 2]);
/// ```
#[derive(Debug, Clone)]
pub struct Fields<'v> {
    found: Vec<(&'static str, Option<&'v Value>)>,
    entries: &'v [(Value, Value)],
}

impl<'v> Fields<'v> {
    /// Read `value` as a map with text keys, picking out `known` keys. Unknown keys are ignored;
    /// a known key twice, a non-text key, or a non-map value is an error.
    pub fn read(value: &'v Value, known: &[&'static str]) -> Result<Fields<'v>, BodyError> {
        let Value::Map(entries) = value else {
            return Err(BodyError::NotAMap { at: "body".into(), found: value.kind() });
        };
        let mut found: Vec<(&'static str, Option<&'v Value>)> = known.iter().map(|k| (*k, None)).collect();
        for (k, v) in entries {
            let Value::Text(key) = k else {
                return Err(BodyError::NonTextKey { at: "body".into(), found: k.kind() });
            };
            if let Some(slot) = found.iter_mut().find(|(name, _)| *name == key.as_str()) {
                if slot.1.is_some() {
                    return Err(BodyError::DuplicateKey { key: key.clone() });
                }
                slot.1 = Some(v);
            }
        }
        Ok(Fields { found, entries })
    }

    /// All entries of the map, in wire order (for maps with open-ended keys, like stat fields).
    pub fn entries(&self) -> &'v [(Value, Value)] {
        self.entries
    }

    /// The value of a known key, if present. An unknown (not declared) key is always `None`.
    pub fn get(&self, key: &str) -> Option<&'v Value> {
        self.found.iter().find(|(k, _)| *k == key).and_then(|(_, v)| *v)
    }

    /// True if the known key is present.
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The value of a required key.
    pub fn req(&self, key: &str) -> Result<&'v Value, BodyError> {
        self.get(key).ok_or_else(|| BodyError::MissingKey { key: key.into() })
    }

    fn wrong(key: &str, expected: &'static str, found: &Value) -> BodyError {
        BodyError::WrongType { key: key.into(), expected, found: found.kind() }
    }

    /// An optional unsigned integer that must fit `T` (u8, u16, u32, u64, usize).
    pub fn opt_uint<T: TryFrom<u64>>(&self, key: &str) -> Result<Option<T>, BodyError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        match v {
            Value::Int(i) if i.0 >= 0 => {
                let n = i.0 as u64;
                T::try_from(n).map(Some).map_err(|_| BodyError::OutOfRange {
                    key: key.into(),
                    value: i.0,
                    expected: core::any::type_name::<T>(),
                })
            }
            other => Err(Self::wrong(key, "unsigned integer", other)),
        }
    }

    /// A required unsigned integer that must fit `T`.
    pub fn req_uint<T: TryFrom<u64>>(&self, key: &str) -> Result<T, BodyError> {
        self.opt_uint(key)?.ok_or_else(|| BodyError::MissingKey { key: key.into() })
    }

    /// An optional signed integer that must fit `i64`.
    pub fn opt_int(&self, key: &str) -> Result<Option<i64>, BodyError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        match v {
            Value::Int(i) => i.as_i64().map(Some).ok_or(BodyError::OutOfRange {
                key: key.into(),
                value: i.0,
                expected: "i64",
            }),
            other => Err(Self::wrong(key, "integer", other)),
        }
    }

    /// A required signed integer that must fit `i64`.
    pub fn req_int(&self, key: &str) -> Result<i64, BodyError> {
        self.opt_int(key)?.ok_or_else(|| BodyError::MissingKey { key: key.into() })
    }

    /// An optional text string.
    pub fn opt_text(&self, key: &str) -> Result<Option<&'v str>, BodyError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Text(s)) => Ok(Some(s)),
            Some(other) => Err(Self::wrong(key, "text string", other)),
        }
    }

    /// A required text string.
    pub fn req_text(&self, key: &str) -> Result<&'v str, BodyError> {
        self.opt_text(key)?.ok_or_else(|| BodyError::MissingKey { key: key.into() })
    }

    /// An optional byte string.
    pub fn opt_bytes(&self, key: &str) -> Result<Option<&'v [u8]>, BodyError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bytes(b)) => Ok(Some(b)),
            Some(other) => Err(Self::wrong(key, "byte string", other)),
        }
    }

    /// A required byte string.
    pub fn req_bytes(&self, key: &str) -> Result<&'v [u8], BodyError> {
        self.opt_bytes(key)?.ok_or_else(|| BodyError::MissingKey { key: key.into() })
    }

    /// An optional bool (`true`/`false`, not 0/1).
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>, BodyError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Self::wrong(key, "bool", other)),
        }
    }

    /// A required bool.
    pub fn req_bool(&self, key: &str) -> Result<bool, BodyError> {
        self.opt_bool(key)?.ok_or_else(|| BodyError::MissingKey { key: key.into() })
    }

    /// An optional array.
    pub fn opt_array(&self, key: &str) -> Result<Option<&'v [Value]>, BodyError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(other) => Err(Self::wrong(key, "array", other)),
        }
    }

    /// A required array.
    pub fn req_array(&self, key: &str) -> Result<&'v [Value], BodyError> {
        self.opt_array(key)?.ok_or_else(|| BodyError::MissingKey { key: key.into() })
    }

    /// An optional map (returned as the value, so it can be read with [`Fields::read`]).
    pub fn opt_map(&self, key: &str) -> Result<Option<&'v Value>, BodyError> {
        match self.get(key) {
            None => Ok(None),
            Some(v @ Value::Map(_)) => Ok(Some(v)),
            Some(other) => Err(Self::wrong(key, "map", other)),
        }
    }

    /// A required map.
    pub fn req_map(&self, key: &str) -> Result<&'v Value, BodyError> {
        self.opt_map(key)?.ok_or_else(|| BodyError::MissingKey { key: key.into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn echo_bodies_in_both_styles() {
        let v = Value::map([("d", Value::text("hello"))]);
        assert_eq!(encode(&v, MapStyle::Definite), hex("a1 61 64 65 68 65 6c 6c 6f"));
        let r = Value::map([("r", Value::text("hello"))]);
        assert_eq!(encode(&r, MapStyle::Indefinite), hex("bf 61 72 65 68 65 6c 6c 6f ff"));
        assert_eq!(decode(&hex("bf 61 72 65 68 65 6c 6c 6f ff")).unwrap(), r);
        assert_eq!(encode(&Value::empty_map(), MapStyle::Indefinite), hex("bf ff"));
        assert_eq!(encode(&Value::empty_map(), MapStyle::Definite), hex("a0"));
    }

    #[test]
    fn integer_heads_are_shortest_at_every_boundary() {
        let cases: [(i128, &str); 14] = [
            (0, "00"),
            (23, "17"),
            (24, "18 18"),
            (255, "18 ff"),
            (256, "19 01 00"),
            (65535, "19 ff ff"),
            (65536, "1a 00 01 00 00"),
            (u32::MAX as i128, "1a ff ff ff ff"),
            (1 << 32, "1b 00 00 00 01 00 00 00 00"),
            (u64::MAX as i128, "1b ff ff ff ff ff ff ff ff"),
            (-1, "20"),
            (-24, "37"),
            (-25, "38 18"),
            (-(1i128 << 64), "3b ff ff ff ff ff ff ff ff"),
        ];
        for (n, h) in cases {
            let v = Value::Int(Integer::try_from(n).unwrap());
            assert_eq!(encode(&v, MapStyle::Definite), hex(h), "{n}");
            assert_eq!(decode(&hex(h)).unwrap(), v);
        }
        assert!(Integer::try_from(1i128 << 64).is_err());
        assert!(Integer::try_from(-(1i128 << 64) - 1).is_err());
    }

    #[test]
    fn floats_use_the_shortest_exact_width() {
        for (x, h) in [
            (0.0, "f9 00 00"),
            (1.0, "f9 3c 00"),
            (-2.5, "f9 c1 00"),
            (65504.0, "f9 7b ff"),
            (5.960464477539063e-8, "f9 00 01"),
            (f64::INFINITY, "f9 7c 00"),
            (100000.0, "fa 47 c3 50 00"),
            (1.1, "fb 3f f1 99 99 99 99 99 9a"),
        ] {
            assert_eq!(encode(&Value::Float(x), MapStyle::Definite), hex(h), "{x}");
            assert_eq!(decode(&hex(h)).unwrap(), Value::Float(x));
        }
        let Value::Float(nan) = decode(&hex("f9 7e 00")).unwrap() else { panic!() };
        assert!(nan.is_nan());
    }

    #[test]
    fn indefinite_strings_are_joined_chunk_by_chunk() {
        assert_eq!(decode(&hex("5f 42 01 02 41 03 ff")).unwrap(), Value::bytes(vec![1, 2, 3]));
        assert_eq!(decode(&hex("7f 62 61 62 60 61 63 ff")).unwrap(), Value::text("abc"));
        let e = decode(&hex("5f 61 61 ff")).unwrap_err();
        assert_eq!(e.offset, 1);
        assert!(matches!(e.kind, CborErrorKind::BadChunk { found: "text string", .. }));
        let e = decode(&hex("5f 5f ff ff")).unwrap_err();
        assert!(matches!(e.kind, CborErrorKind::BadChunk { found: "indefinite-length string", .. }));
    }

    #[test]
    fn simple_values_tags_and_specials() {
        let v = decode(&hex("84 f4 f5 f6 f7")).unwrap();
        let want = vec![Value::Bool(false), Value::Bool(true), Value::Null, Value::Undefined];
        assert_eq!(v, Value::Array(want));
        assert_eq!(decode(&hex("f0")).unwrap(), Value::Simple(16));
        assert_eq!(decode(&hex("f8 ff")).unwrap(), Value::Simple(255));
        assert_eq!(decode(&hex("f8 10")).unwrap_err().kind, CborErrorKind::BadSimple(16));
        let t = decode(&hex("c2 41 01")).unwrap();
        assert_eq!(t, Value::Tag(2, Box::new(Value::bytes(vec![1]))));
        for v in [Value::Simple(16), Value::Simple(255), t] {
            assert_eq!(decode(&encode(&v, MapStyle::Definite)).unwrap(), v);
        }
    }

    #[test]
    fn errors_name_offset_and_problem() {
        let e = decode(&hex("a1 61 64")).unwrap_err();
        assert_eq!(e.kind, CborErrorKind::UnexpectedEnd);
        assert_eq!(e.offset, 3);
        let e = decode(&hex("a0 00")).unwrap_err();
        assert_eq!(e, CborError { offset: 1, kind: CborErrorKind::TrailingBytes { count: 1 } });
        assert_eq!(decode(&hex("ff")).unwrap_err().kind, CborErrorKind::UnexpectedBreak);
        assert_eq!(decode(&hex("1c")).unwrap_err().kind, CborErrorKind::ReservedInfo { major: 0, info: 28 });
        assert_eq!(decode(&hex("1f")).unwrap_err().kind, CborErrorKind::IndefiniteNotAllowed { major: 0 });
        assert_eq!(decode(&hex("62 c3 28")).unwrap_err().kind, CborErrorKind::InvalidUtf8);
        // A break between a key and its value.
        assert_eq!(decode(&hex("bf 61 61 ff")).unwrap_err().kind, CborErrorKind::UnexpectedBreak);
        assert!(decode(&hex("bf 61 61 01")).is_err());
        assert!(e.to_string().contains("byte 1"));
    }

    #[test]
    fn huge_declared_lengths_are_refused_before_allocating() {
        // A byte string claiming 2^64-1 bytes.
        let e = decode(&hex("5b ff ff ff ff ff ff ff ff")).unwrap_err();
        assert!(matches!(e.kind, CborErrorKind::StringTooLong { .. }));
        // An array claiming 4 billion items with 2 bytes present.
        let e = decode(&hex("9a ff ff ff ff 00 00")).unwrap_err();
        assert_eq!(
            e.kind,
            CborErrorKind::CountExceedsInput {
                what: "array elements",
                declared: u32::MAX as u64,
                needed: u32::MAX as u64,
                available: 2
            }
        );
        // A map claiming more pairs than bytes can hold.
        let e = decode(&hex("a3 00 00 00 00")).unwrap_err();
        assert!(matches!(e.kind, CborErrorKind::CountExceedsInput { declared: 3, needed: 6, .. }));
        // A 100-byte string under a 10-byte string limit.
        let mut s = hex("58 64");
        s.extend([0u8; 100]);
        let limits = Limits { max_string_len: 10, ..Limits::default() };
        assert!(matches!(
            decode_with(&s, &limits).unwrap_err().kind,
            CborErrorKind::StringTooLong { len: 100, max: 10 }
        ));
        // Chunked strings are limited on the running total.
        let chunked = hex("5f 46 00 00 00 00 00 00 46 00 00 00 00 00 00 ff");
        assert!(matches!(
            decode_with(&chunked, &limits).unwrap_err().kind,
            CborErrorKind::StringTooLong { len: 12, max: 10 }
        ));
    }

    #[test]
    fn depth_item_and_size_bombs_are_refused() {
        let bomb = vec![0x81u8; 100_000];
        assert_eq!(decode(&bomb).unwrap_err().kind, CborErrorKind::TooDeep { max: 16 });
        let tags = vec![0xc6u8; 1000];
        assert_eq!(decode(&tags).unwrap_err().kind, CborErrorKind::TooDeep { max: 16 });
        let deep = Limits { max_depth: usize::MAX, ..Limits::default() };
        assert_eq!(
            decode_with(&bomb, &deep).unwrap_err().kind,
            CborErrorKind::TooDeep { max: Limits::DEPTH_CEILING }
        );
        let mut ok = vec![0x81u8; 15];
        ok.push(0);
        assert!(decode(&ok).is_ok());
        let mut many = vec![0x9f];
        many.extend(vec![0u8; 100]);
        many.push(0xff);
        let few = Limits { max_items: 50, ..Limits::default() };
        assert_eq!(decode_with(&many, &few).unwrap_err().kind, CborErrorKind::TooManyItems { max: 50 });
        let small = Limits { max_total: 20, ..Limits::default() };
        assert_eq!(decode_with(&many, &small).unwrap_err().kind, CborErrorKind::TooLarge { max: 20 });
    }

    #[test]
    fn decode_prefix_reports_bytes_used() {
        let (v, used) = decode_prefix(&hex("a0 01 02"), &Limits::default()).unwrap();
        assert_eq!((v, used), (Value::empty_map(), 1));
    }

    #[test]
    fn fields_follow_zcbor_map_decode_bulk() {
        let body = decode(&hex("a3 61 78 01 64 68 61 73 68 41 00 67 63 6f 6e 66 69 72 6d f5")).unwrap();
        let f = Fields::read(&body, &["hash", "confirm"]).unwrap();
        assert_eq!(f.opt_bytes("hash").unwrap(), Some(&[0u8][..]));
        assert!(f.req_bool("confirm").unwrap());
        assert_eq!(f.get("x"), None);
        let e = f.req_text("hash").unwrap_err();
        assert_eq!(
            e,
            BodyError::WrongType { key: "hash".into(), expected: "text string", found: "byte string" }
        );
        assert_eq!(e.to_string(), "key \"hash\": expected text string, found byte string");
        let dup = Value::map([("off", Value::from(1u8)), ("off", Value::from(2u8))]);
        assert_eq!(Fields::read(&dup, &["off"]).unwrap_err(), BodyError::DuplicateKey { key: "off".into() });
        // Duplicates of unknown keys are skipped like any unknown key.
        assert!(Fields::read(&dup, &["len"]).is_ok());
        let f = Fields::read(&dup, &[]).unwrap();
        assert_eq!(f.req_uint::<u8>("off").unwrap_err(), BodyError::MissingKey { key: "off".into() });
        let big = Value::map([("off", Value::from(300u16))]);
        let f = Fields::read(&big, &["off"]).unwrap();
        assert!(matches!(f.req_uint::<u8>("off").unwrap_err(), BodyError::OutOfRange { value: 300, .. }));
        let nontext = Value::Map(vec![(Value::from(1u8), Value::Null)]);
        assert!(matches!(Fields::read(&nontext, &[]), Err(BodyError::NonTextKey { .. })));
        assert!(matches!(Fields::read(&Value::Null, &[]), Err(BodyError::NotAMap { .. })));
        let nested = BodyError::MissingKey { key: "hash".into() }.within("images[1]");
        assert_eq!(nested.to_string(), "required key \"images[1].hash\" is missing");
    }

    #[test]
    fn diagnostic_notation() {
        let v = Value::map([
            ("r", Value::text("hi")),
            ("n", Value::Array(vec![Value::from(-1i8), Value::bytes(vec![0, 255])])),
        ]);
        assert_eq!(v.to_string(), r#"{"r": "hi", "n": [-1, h'00ff']}"#);
    }
}
