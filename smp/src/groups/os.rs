//! OS management group (0): echo, task and memory statistics, date-time, reset, parameters,
//! OS/application info, bootloader info.

use super::{Body, MapBuilder, nested, text_keyed};
use crate::cbor::{BodyError, Fields, Value};
use crate::error::OsErr;

/// Echo request (OS 0): `{"d": tstr}`. Zephyr echoes "" when `d` is absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EchoRequest {
    /// The text to echo back.
    pub d: Option<String>,
}

impl Body for EchoRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().opt("d", self.d.clone()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["d"])?;
        Ok(EchoRequest { d: f.opt_text("d")?.map(str::to_owned) })
    }
}

/// Echo reply: `{"r": tstr}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EchoResponse {
    /// The echoed text.
    pub r: String,
}

impl Body for EchoResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("r", self.r.as_str()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["r"])?;
        Ok(EchoResponse { r: f.req_text("r")?.to_owned() })
    }
}

/// Console echo control request (OS 1): `{"echo": uint}` (Mynewt; Zephyr answers ENOTSUP).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsoleEchoControlRequest {
    /// 0 = off, 1 = on.
    pub echo: Option<u64>,
}

impl Body for ConsoleEchoControlRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().opt("echo", self.echo).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["echo"])?;
        Ok(ConsoleEchoControlRequest { echo: f.opt_uint("echo")? })
    }
}

/// One thread's entry in the task statistics reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskStat {
    /// Priority (signed by default in Zephyr).
    pub prio: i64,
    /// Thread index in iteration order.
    pub tid: u64,
    /// Zephyr thread state bit-field.
    pub state: u64,
    /// Stack size in 4-byte words (with `TASKSTAT_STACK_INFO`).
    pub stksiz: Option<u64>,
    /// Stack use in 4-byte words (with `TASKSTAT_STACK_INFO`).
    pub stkuse: Option<u64>,
    /// Execution cycles (or 0).
    pub runtime: Option<u64>,
    /// Context switches (always 0 in Zephyr, only without `ONLY_SUPPORTED_STATS`).
    pub cswcnt: Option<u64>,
    /// Always 0 in Zephyr, only without `ONLY_SUPPORTED_STATS`.
    pub last_checkin: Option<u64>,
    /// Always 0 in Zephyr, only without `ONLY_SUPPORTED_STATS`.
    pub next_checkin: Option<u64>,
}

impl Body for TaskStat {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .put("prio", self.prio)
            .put("tid", self.tid)
            .put("state", self.state)
            .opt("stksiz", self.stksiz)
            .opt("stkuse", self.stkuse)
            .opt("runtime", self.runtime)
            .opt("cswcnt", self.cswcnt)
            .opt("last_checkin", self.last_checkin)
            .opt("next_checkin", self.next_checkin)
            .build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let keys =
            ["prio", "tid", "state", "stksiz", "stkuse", "runtime", "cswcnt", "last_checkin", "next_checkin"];
        let f = Fields::read(value, &keys)?;
        Ok(TaskStat {
            prio: f.req_int("prio")?,
            tid: f.req_uint("tid")?,
            state: f.req_uint("state")?,
            stksiz: f.opt_uint("stksiz")?,
            stkuse: f.opt_uint("stkuse")?,
            runtime: f.opt_uint("runtime")?,
            cswcnt: f.opt_uint("cswcnt")?,
            last_checkin: f.opt_uint("last_checkin")?,
            next_checkin: f.opt_uint("next_checkin")?,
        })
    }
}

/// Task statistics reply (OS 2): `{"tasks": {<name>: {...}, ...}}`, in thread order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskStatsResponse {
    /// Thread name (or decimal priority) and its statistics.
    pub tasks: Vec<(String, TaskStat)>,
}

impl Body for TaskStatsResponse {
    fn to_value(&self) -> Value {
        let tasks = self.tasks.iter().map(|(n, t)| (Value::text(n.clone()), t.to_value()));
        MapBuilder::new().put("tasks", Value::Map(tasks.collect())).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["tasks"])?;
        let tasks = text_keyed("tasks", f.req_map("tasks")?)?
            .into_iter()
            .map(|(name, v)| {
                nested(&format!("tasks.{name}"), v, TaskStat::from_value).map(|t| (name.to_owned(), t))
            })
            .collect::<Result<_, _>>()?;
        Ok(TaskStatsResponse { tasks })
    }
}

/// One heap's entry in the memory pool statistics reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemPool {
    /// Block size (always 1 in Zephyr; omitted with `MPSTAT_ONLY_SUPPORTED_STATS`). Zephyr and
    /// the docs spell it `blksiz`; Python `smp` expects `blksize`. Both are read; `blksiz` is
    /// written.
    pub blksiz: Option<u64>,
    /// Heap size in bytes.
    pub nblks: u64,
    /// Free bytes.
    pub nfree: u64,
    /// Lowest free bytes seen.
    pub min: u64,
}

impl Body for MemPool {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .opt("blksiz", self.blksiz)
            .put("nblks", self.nblks)
            .put("nfree", self.nfree)
            .put("min", self.min)
            .build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["blksiz", "blksize", "nblks", "nfree", "min"])?;
        let blksiz = match f.opt_uint("blksiz")? {
            Some(v) => Some(v),
            None => f.opt_uint("blksize")?,
        };
        Ok(MemPool {
            blksiz,
            nblks: f.req_uint("nblks")?,
            nfree: f.req_uint("nfree")?,
            min: f.req_uint("min")?,
        })
    }
}

/// Where the pools sit in a memory pool statistics reply (the shape changed three times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MpStatShape {
    /// `{"mpools": {name: {...}}}`: the Mynewt shape, Zephyr PR #119769; what we emit.
    #[default]
    Mpools,
    /// `{name: {...}, ...}` at the top level (Zephyr after PR #107251).
    TopLevel,
    /// `{"tasks": {name: {...}}}` (the first Zephyr version, bug #105317).
    Tasks,
}

/// Memory pool statistics reply (OS 3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MpStatResponse {
    /// The envelope the pools came in (and go out in).
    pub shape: MpStatShape,
    /// Pool name (decimal index in Zephyr) and its statistics.
    pub pools: Vec<(String, MemPool)>,
}

impl Body for MpStatResponse {
    fn to_value(&self) -> Value {
        let pools: Vec<_> = self.pools.iter().map(|(n, p)| (Value::text(n.clone()), p.to_value())).collect();
        match self.shape {
            MpStatShape::Mpools => MapBuilder::new().put("mpools", Value::Map(pools)).build(),
            MpStatShape::Tasks => MapBuilder::new().put("tasks", Value::Map(pools)).build(),
            MpStatShape::TopLevel => Value::Map(pools),
        }
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let read = |key: &str, map: &Value| -> Result<Vec<(String, MemPool)>, BodyError> {
            text_keyed(key, map)?
                .into_iter()
                .filter(|(name, _)| !(key == "body" && *name == "rc"))
                .map(|(name, v)| {
                    let at = if key == "body" { name.to_owned() } else { format!("{key}.{name}") };
                    nested(&at, v, MemPool::from_value).map(|p| (name.to_owned(), p))
                })
                .collect()
        };
        let f = Fields::read(value, &["mpools", "tasks"])?;
        if let Some(m) = f.opt_map("mpools")? {
            return Ok(MpStatResponse { shape: MpStatShape::Mpools, pools: read("mpools", m)? });
        }
        if let Some(m) = f.opt_map("tasks")? {
            return Ok(MpStatResponse { shape: MpStatShape::Tasks, pools: read("tasks", m)? });
        }
        Ok(MpStatResponse { shape: MpStatShape::TopLevel, pools: read("body", value)? })
    }
}

/// Date-time get reply (OS 4 R): `{"datetime": "YYYY-MM-DDTHH:MM:SS[.mmm]"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DateTimeGetResponse {
    /// The RTC time, no time zone.
    pub datetime: String,
}

impl Body for DateTimeGetResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("datetime", self.datetime.as_str()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["datetime"])?;
        Ok(DateTimeGetResponse { datetime: f.req_text("datetime")?.to_owned() })
    }
}

/// Date-time set request (OS 4 W): `{"datetime": tstr}` (19..=25 characters accepted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DateTimeSetRequest {
    /// The time to set.
    pub datetime: String,
}

impl Body for DateTimeSetRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("datetime", self.datetime.as_str()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["datetime"])?;
        Ok(DateTimeSetRequest { datetime: f.req_text("datetime")?.to_owned() })
    }
}

/// The `force` value of a reset request, as sent. Zephyr decodes it as a CBOR **bool**; Python
/// `smp` sends an int 0/1, which makes Zephyr's (ignored) decode fail, so no force and no
/// `boot_mode` take effect — see [`ResetRequest::zephyr_view`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetForce {
    /// `true`/`false`, what Zephyr reads.
    Bool(bool),
    /// An integer (the documented and Python `smp` form).
    Int(i64),
}

impl ResetForce {
    /// True if the sender meant "force" (`true` or a non-zero int).
    pub fn is_forced(self) -> bool {
        match self {
            ResetForce::Bool(b) => b,
            ResetForce::Int(i) => i != 0,
        }
    }
}

/// Reset request (OS 5 W): `{["force": bool], ["boot_mode": uint 0..=255]}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResetRequest {
    /// Force the reset past a vetoing hook.
    pub force: Option<ResetForce>,
    /// Boot mode for the next boot (0 normal, 1 bootloader / serial recovery); Zephyr ≥ 4.2.
    pub boot_mode: Option<u8>,
}

impl ResetRequest {
    /// What Zephyr's `zcbor_map_decode_bulk` makes of this request: `(force, boot_mode)`.
    /// An integer `force` fails the whole decode, which Zephyr ignores: nothing is applied.
    pub fn zephyr_view(&self) -> (bool, Option<u8>) {
        match self.force {
            Some(ResetForce::Int(_)) => (false, None),
            Some(ResetForce::Bool(b)) => (b, self.boot_mode),
            None => (false, self.boot_mode),
        }
    }
}

impl Body for ResetRequest {
    fn to_value(&self) -> Value {
        let force = self.force.map(|f| match f {
            ResetForce::Bool(b) => Value::Bool(b),
            ResetForce::Int(i) => Value::from(i),
        });
        MapBuilder::new().opt("force", force).opt("boot_mode", self.boot_mode).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["force", "boot_mode"])?;
        let force = match f.get("force") {
            None => None,
            Some(Value::Bool(b)) => Some(ResetForce::Bool(*b)),
            Some(Value::Int(_)) => Some(ResetForce::Int(f.req_int("force")?)),
            Some(other) => {
                return Err(BodyError::WrongType {
                    key: "force".into(),
                    expected: "bool (or integer 0/1)",
                    found: other.kind(),
                });
            }
        };
        Ok(ResetRequest { force, boot_mode: f.opt_uint("boot_mode")? })
    }
}

/// MCUmgr parameters reply (OS 6): buffer size (including the 8-byte header) and count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ParamsResponse {
    /// `CONFIG_MCUMGR_TRANSPORT_NETBUF_SIZE`.
    pub buf_size: u32,
    /// `CONFIG_MCUMGR_TRANSPORT_NETBUF_COUNT`.
    pub buf_count: u32,
}

impl Body for ParamsResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("buf_size", self.buf_size).put("buf_count", self.buf_count).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["buf_size", "buf_count"])?;
        Ok(ParamsResponse { buf_size: f.req_uint("buf_size")?, buf_count: f.req_uint("buf_count")? })
    }
}

/// A date and time as Zephyr's date-time commands exchange it (no time zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DateTime {
    /// 1900..=11899.
    pub year: u16,
    /// 1..=12.
    pub month: u8,
    /// 1..=31 (not checked against the month, as Zephyr does not).
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// 0..=999, with `CONFIG_MCUMGR_GRP_OS_DATETIME_MS`.
    pub millis: Option<u16>,
}

/// Why a date-time set string is refused (Zephyr answers `{"rc": 3}` for all of these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateTimeError {
    /// Fewer than 19 or more than 25 bytes.
    #[error("date-time string is {0} bytes; 19 to 25 are accepted")]
    Length(usize),
    /// A field is missing or not a number.
    #[error("date-time field {0} is missing or not a number")]
    Field(&'static str),
    /// A field is outside its range.
    #[error("date-time field {field} = {value} is out of range")]
    Range {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: i64,
    },
}

/// Read a decimal number the way C's `strtol` does: optional leading whitespace, an optional
/// sign, digits. Returns the value and the bytes after it, or `None` if there are no digits.
fn strtol(s: &[u8]) -> Option<(i64, &[u8])> {
    let mut i = s.iter().take_while(|c| c.is_ascii_whitespace()).count();
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = s[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value: i64 = 0;
    for d in &s[i..i + digits] {
        value = value.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    Some((if negative { -value } else { value }, &s[i + digits..]))
}

impl DateTime {
    /// Parse a date-time set string with Zephyr's rules: 19..=25 bytes; six decimal fields
    /// (year, month, day, hour, minute, second) each followed by one delimiter byte of any kind;
    /// with `with_ms`, a `.` after the seconds followed by a number sets the milliseconds;
    /// anything after that is ignored.
    pub fn parse_zephyr(text: &str, with_ms: bool) -> Result<DateTime, DateTimeError> {
        const FIELDS: [(&str, i64, i64); 6] = [
            ("year", 1900, 11899),
            ("month", 1, 12),
            ("day", 1, 31),
            ("hour", 0, 23),
            ("minute", 0, 59),
            ("second", 0, 59),
        ];
        let bytes = text.as_bytes();
        if !(19..=25).contains(&bytes.len()) {
            return Err(DateTimeError::Length(bytes.len()));
        }
        let mut values = [0i64; 6];
        let mut rest = bytes;
        let mut after_seconds: &[u8] = &[];
        for (i, (field, min, max)) in FIELDS.iter().enumerate() {
            if rest.is_empty() {
                return Err(DateTimeError::Field(field));
            }
            let (value, after) = strtol(rest).ok_or(DateTimeError::Field(field))?;
            if !(*min..=*max).contains(&value) {
                return Err(DateTimeError::Range { field, value });
            }
            values[i] = value;
            after_seconds = after;
            rest = after.get(1..).unwrap_or(&[]);
        }
        let millis = match (with_ms, after_seconds) {
            (true, [b'.', more @ ..]) if !more.is_empty() => {
                let ms = strtol(more).map_or(0, |(v, _)| v);
                if !(0..=999).contains(&ms) {
                    return Err(DateTimeError::Range { field: "millisecond", value: ms });
                }
                Some(ms as u16)
            }
            _ => None,
        };
        // In range by the checks above.
        Ok(DateTime {
            year: values[0] as u16,
            month: values[1] as u8,
            day: values[2] as u8,
            hour: values[3] as u8,
            minute: values[4] as u8,
            second: values[5] as u8,
            millis,
        })
    }

    /// The date-time get string: `YYYY-MM-DDTHH:MM:SS`, plus `.<ms>` (not zero-padded, as
    /// Zephyr prints it) when `millis` is set.
    pub fn to_zephyr_string(&self) -> String {
        let mut s = format!(
            "{:4}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if let Some(ms) = self.millis {
            s.push_str(&format!(".{ms}"));
        }
        s
    }
}

/// What a device reports for each OS/application info field (format characters in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoFields {
    /// `s`: kernel name, "Zephyr".
    pub kernel_name: String,
    /// `n`: node name (hostname, Bluetooth name, or "unknown").
    pub node_name: String,
    /// `r`: kernel release (`BUILD_VERSION`, or "unknown").
    pub kernel_release: String,
    /// `v`: kernel version, e.g. "4.2.0".
    pub kernel_version: String,
    /// `b`: build date and time; `None` when `CONFIG_MCUMGR_GRP_OS_INFO_BUILD_DATE_TIME` is off
    /// (then `b` is an invalid format character).
    pub build_date_time: Option<String>,
    /// `m`: machine (`CONFIG_ARCH`), e.g. "arm".
    pub machine: String,
    /// `p`: processor, e.g. "cortex-m4".
    pub processor: String,
    /// `i`: hardware platform, `CONFIG_BOARD[@revision]`.
    pub hardware_platform: String,
    /// `o`: operating system, "Zephyr".
    pub operating_system: String,
}

impl InfoFields {
    /// The `output` Zephyr builds for `format`: fields in fixed order (not request order),
    /// joined by single spaces; `a` selects all; missing or empty format means `s`. Any
    /// character that is not a format character → [`OsErr::InvalidFormat`].
    pub fn output(&self, format: Option<&str>) -> Result<String, OsErr> {
        let has_b = self.build_date_time.is_some();
        let mut bits = 0u16;
        for c in format.unwrap_or("").bytes() {
            let bit = match c {
                b'a' => {
                    bits = 0x1ff;
                    continue;
                }
                b's' => 0,
                b'n' => 1,
                b'r' => 2,
                b'v' => 3,
                b'b' if has_b => 4,
                b'm' => 5,
                b'p' => 6,
                b'i' => 7,
                b'o' => 8,
                _ => return Err(OsErr::InvalidFormat),
            };
            bits |= 1 << bit;
        }
        if bits == 0 {
            bits = 1;
        }
        let fields = [
            Some(&self.kernel_name),
            Some(&self.node_name),
            Some(&self.kernel_release),
            Some(&self.kernel_version),
            self.build_date_time.as_ref(),
            Some(&self.machine),
            Some(&self.processor),
            Some(&self.hardware_platform),
            Some(&self.operating_system),
        ];
        let parts: Vec<&str> = fields
            .iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .filter_map(|(_, f)| f.map(String::as_str))
            .collect();
        Ok(parts.join(" "))
    }
}

/// OS/application info request (OS 7 R): `{["format": "snrvbmpioa"]}`; absent or empty means `s`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InfoRequest {
    /// Format characters.
    pub format: Option<String>,
}

impl Body for InfoRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().opt("format", self.format.clone()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["format"])?;
        Ok(InfoRequest { format: f.opt_text("format")?.map(str::to_owned) })
    }
}

/// OS/application info reply: `{"output": tstr}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InfoResponse {
    /// The requested fields joined by single spaces.
    pub output: String,
}

impl Body for InfoResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new().put("output", self.output.as_str()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["output"])?;
        Ok(InfoResponse { output: f.req_text("output")?.to_owned() })
    }
}

/// Bootloader info request (OS 8 R): `{["query": tstr]}` (`"mode"` is the one Zephyr answers).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootloaderInfoRequest {
    /// The query, if any.
    pub query: Option<String>,
}

impl Body for BootloaderInfoRequest {
    fn to_value(&self) -> Value {
        MapBuilder::new().opt("query", self.query.clone()).build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["query"])?;
        Ok(BootloaderInfoRequest { query: f.opt_text("query")?.map(str::to_owned) })
    }
}

/// Bootloader info reply: `{"bootloader": "MCUboot"}` without a query, or `{"mode": int,
/// ["no-downgrade": true]}` for query `mode`. All keys optional on decode; at least one of
/// `bootloader` and `mode` must be present.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootloaderInfoResponse {
    /// Bootloader name.
    pub bootloader: Option<String>,
    /// MCUboot mode: −1 unknown, 0 single slot, 1 swap-scratch, 2 overwrite-only, 3 swap-move,
    /// 4 DirectXIP, 5 DirectXIP+revert, 6 RAM load, 7 firmware loader, 8 single-slot RAM load,
    /// 9 swap-offset.
    pub mode: Option<i64>,
    /// `"no-downgrade": true` when MCUboot downgrade prevention is on (false when absent).
    pub no_downgrade: bool,
}

impl Body for BootloaderInfoResponse {
    fn to_value(&self) -> Value {
        MapBuilder::new()
            .opt("bootloader", self.bootloader.clone())
            .opt("mode", self.mode)
            .opt("no-downgrade", self.no_downgrade.then_some(true))
            .build()
    }
    fn from_value(value: &Value) -> Result<Self, BodyError> {
        let f = Fields::read(value, &["bootloader", "mode", "no-downgrade"])?;
        let r = BootloaderInfoResponse {
            bootloader: f.opt_text("bootloader")?.map(str::to_owned),
            mode: f.opt_int("mode")?,
            no_downgrade: f.opt_bool("no-downgrade")?.unwrap_or(false),
        };
        if r.bootloader.is_none() && r.mode.is_none() {
            return Err(BodyError::MissingKey { key: "bootloader".into() });
        }
        Ok(r)
    }
}

/// The name of an MCUboot mode number from [`BootloaderInfoResponse::mode`].
pub fn mcuboot_mode_name(mode: i64) -> &'static str {
    match mode {
        -1 => "unknown",
        0 => "single slot",
        1 => "swap using scratch",
        2 => "overwrite only",
        3 => "swap without scratch (move)",
        4 => "DirectXIP",
        5 => "DirectXIP with revert",
        6 => "RAM load",
        7 => "firmware loader",
        8 => "single slot RAM load",
        9 => "swap using offset",
        _ => "undefined",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::{MapStyle, decode, encode};

    #[test]
    fn mpstat_accepts_all_three_shapes_and_both_spellings() {
        let pool = |k: &str| {
            Value::map([
                (k, 1u8.into()),
                ("nblks", 4096u16.into()),
                ("nfree", 100u8.into()),
                ("min", 50u8.into()),
            ])
        };
        let want = MemPool { blksiz: Some(1), nblks: 4096, nfree: 100, min: 50 };
        for (shape, body) in [
            (MpStatShape::Mpools, Value::map([("mpools", Value::map([("0", pool("blksiz"))]))])),
            (MpStatShape::Tasks, Value::map([("tasks", Value::map([("0", pool("blksiz"))]))])),
            (MpStatShape::TopLevel, Value::map([("0", pool("blksize"))])),
        ] {
            let r = MpStatResponse::from_value(&body).unwrap();
            assert_eq!(r, MpStatResponse { shape, pools: vec![("0".into(), want.clone())] });
        }
        let ours = MpStatResponse { shape: MpStatShape::default(), pools: vec![("0".into(), want)] };
        let bytes = encode(&ours.to_value(), MapStyle::Indefinite);
        assert_eq!(bytes[..8], [0xbf, 0x66, b'm', b'p', b'o', b'o', b'l', b's']);
        assert_eq!(MpStatResponse::from_value(&decode(&bytes).unwrap()).unwrap(), ours);
        let bad = Value::map([("mpools", Value::map([("0", Value::map([("nblks", 1u8.into())]))]))]);
        assert_eq!(
            MpStatResponse::from_value(&bad).unwrap_err(),
            BodyError::MissingKey { key: "mpools.0.nfree".into() }
        );
    }

    #[test]
    fn reset_force_as_bool_or_int() {
        let b = ResetRequest::from_value(&Value::map([("force", true.into())])).unwrap();
        assert_eq!(b.force, Some(ResetForce::Bool(true)));
        assert_eq!(b.zephyr_view(), (true, None));
        let i = ResetRequest::from_value(&Value::map([("force", 1u8.into()), ("boot_mode", 1u8.into())]))
            .unwrap();
        assert_eq!(i.force, Some(ResetForce::Int(1)));
        assert!(i.force.unwrap().is_forced());
        assert_eq!(i.zephyr_view(), (false, None));
        let e = ResetRequest::from_value(&Value::map([("force", "yes".into())])).unwrap_err();
        assert!(e.to_string().contains("force"));
        let e = ResetRequest::from_value(&Value::map([("boot_mode", 256u16.into())])).unwrap_err();
        assert!(matches!(e, BodyError::OutOfRange { value: 256, .. }));
    }

    #[test]
    fn datetime_set_strings_follow_zephyr() {
        let dt = DateTime::parse_zephyr("2026-11-21T18:40:05", false).unwrap();
        assert_eq!((dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second), (2026, 11, 21, 18, 40, 5));
        assert_eq!(dt.to_zephyr_string(), "2026-11-21T18:40:05");
        // Any single delimiter, trailing text ignored, milliseconds only when enabled.
        let dt = DateTime::parse_zephyr("2026/11/21 18.40.05.007Z", true).unwrap();
        assert_eq!(dt.millis, Some(7));
        assert_eq!(dt.to_zephyr_string(), "2026-11-21T18:40:05.7");
        assert_eq!(DateTime::parse_zephyr("2026/11/21 18.40.05.007Z", false).unwrap().millis, None);
        assert_eq!(DateTime::parse_zephyr("2026-11-21T18:40", false), Err(DateTimeError::Length(16)));
        assert_eq!(
            DateTime::parse_zephyr("2026-11-21T18:40:05+01:00", false).map(|d| d.second),
            Ok(5),
            "25 bytes is still accepted; the zone is ignored"
        );
        assert_eq!(
            DateTime::parse_zephyr("2026-11-21T18:40:05.000+01:00", true),
            Err(DateTimeError::Length(29))
        );
        assert_eq!(
            DateTime::parse_zephyr("2026-13-21T18:40:05", false),
            Err(DateTimeError::Range { field: "month", value: 13 })
        );
        assert_eq!(DateTime::parse_zephyr("2026-11-xxT18:40:05", false), Err(DateTimeError::Field("day")));
        assert_eq!(
            DateTime::parse_zephyr("2026-11-21T18:40:99.5", true).unwrap_err(),
            DateTimeError::Range { field: "second", value: 99 }
        );
    }

    #[test]
    fn info_output_has_fixed_order_and_rejects_unknown_characters() {
        let f = InfoFields {
            kernel_name: "Zephyr".into(),
            node_name: "unknown".into(),
            kernel_release: "v4.2.0-1-gabc".into(),
            kernel_version: "4.2.0".into(),
            build_date_time: None,
            machine: "arm".into(),
            processor: "cortex-m4".into(),
            hardware_platform: "nrf52840dk".into(),
            operating_system: "Zephyr".into(),
        };
        assert_eq!(f.output(None).unwrap(), "Zephyr");
        assert_eq!(f.output(Some("")).unwrap(), "Zephyr");
        assert_eq!(f.output(Some("vs")).unwrap(), "Zephyr 4.2.0");
        assert_eq!(
            f.output(Some("a")).unwrap(),
            "Zephyr unknown v4.2.0-1-gabc 4.2.0 arm cortex-m4 nrf52840dk Zephyr"
        );
        assert_eq!(f.output(Some("b")), Err(OsErr::InvalidFormat));
        assert_eq!(f.output(Some("sx")), Err(OsErr::InvalidFormat));
        let with_b = InfoFields { build_date_time: Some("Tue Jan  2 10:11:12 2024".into()), ..f };
        assert_eq!(with_b.output(Some("bv")).unwrap(), "4.2.0 Tue Jan  2 10:11:12 2024");
    }

    #[test]
    fn bootloader_info_needs_a_name_or_a_mode() {
        assert!(BootloaderInfoResponse::from_value(&Value::empty_map()).is_err());
        let r = BootloaderInfoResponse::from_value(&Value::map([
            ("mode", 1u8.into()),
            ("no-downgrade", true.into()),
        ]))
        .unwrap();
        assert_eq!(r.mode, Some(1));
        assert!(r.no_downgrade);
        assert_eq!(mcuboot_mode_name(1), "swap using scratch");
    }
}
