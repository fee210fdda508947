//! Typed request and response bodies for every command of every group Zephyr implements.
//!
//! Each body is a plain struct with the CBOR keys as fields, and implements [`Body`]:
//! `to_value` builds the map (keys in the order Zephyr or the usual clients write them) and
//! `from_value` reads it the way Zephyr's server does — text keys in any order, unknown keys
//! ignored, a known key twice or of the wrong type is an error naming the key, a missing
//! required key is an error naming it. Where clients and the C source disagree, decoding accepts
//! both spellings and keeps which one was sent (see [`image::HashArg`], [`os::ResetForce`]).
//!
//! [`Command`] names every command: its group, command id, request op and display name.

pub mod enumeration;
pub mod fs;
pub mod image;
pub mod os;
pub mod settings;
pub mod shell;
pub mod stat;
pub mod zephyr_basic;

pub use crate::cbor::BodyError;
use crate::cbor::{Fields, Value};
use crate::header::{Group, Op};

/// A typed SMP body: converts to and from the CBOR value tree.
pub trait Body: Sized {
    /// The body as a CBOR map.
    fn to_value(&self) -> Value;
    /// Read the body from a CBOR value (normally a map).
    fn from_value(value: &Value) -> Result<Self, BodyError>;
}

/// The body of commands that carry nothing: `{}`. Decoding accepts any map (keys are ignored,
/// as Zephyr does for such commands) and tolerates a legacy `"rc": 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Empty;

impl Body for Empty {
    fn to_value(&self) -> Value {
        Value::empty_map()
    }
    fn from_value(value: &Value) -> Result<Empty, BodyError> {
        Fields::read(value, &[])?;
        Ok(Empty)
    }
}

/// Builds a map with text keys in insertion order.
#[derive(Debug, Default)]
pub(crate) struct MapBuilder(Vec<(Value, Value)>);

impl MapBuilder {
    pub(crate) fn new() -> MapBuilder {
        MapBuilder(Vec::new())
    }

    /// Add `key: value`.
    pub(crate) fn put(mut self, key: &str, value: impl Into<Value>) -> MapBuilder {
        self.0.push((Value::text(key), value.into()));
        self
    }

    /// Add `key: value` only if there is a value.
    pub(crate) fn opt<T: Into<Value>>(self, key: &str, value: Option<T>) -> MapBuilder {
        match value {
            Some(v) => self.put(key, v),
            None => self,
        }
    }

    pub(crate) fn build(self) -> Value {
        Value::Map(self.0)
    }
}

/// Decode each element of array `key` with `f`, locating errors as `key[i]`.
pub(crate) fn each<T>(
    key: &str,
    items: &[Value],
    f: impl Fn(&Value) -> Result<T, BodyError>,
) -> Result<Vec<T>, BodyError> {
    items.iter().enumerate().map(|(i, v)| f(v).map_err(|e| e.within(&format!("{key}[{i}]")))).collect()
}

/// Read a nested map value (already known to be a map) with `f`, locating errors under `key`.
pub(crate) fn nested<T>(
    key: &str,
    value: &Value,
    f: impl FnOnce(&Value) -> Result<T, BodyError>,
) -> Result<T, BodyError> {
    f(value).map_err(|e| e.within(key))
}

/// Entries of a map whose keys are open-ended text (task names, stat names, pool names).
pub(crate) fn text_keyed<'v>(key: &str, map: &'v Value) -> Result<Vec<(&'v str, &'v Value)>, BodyError> {
    let Value::Map(entries) = map else {
        return Err(BodyError::NotAMap { at: key.into(), found: map.kind() });
    };
    entries
        .iter()
        .map(|(k, v)| match k {
            Value::Text(name) => Ok((name.as_str(), v)),
            other => Err(BodyError::NonTextKey { at: key.into(), found: other.kind() }),
        })
        .collect()
}

/// Bytes to a value.
pub(crate) fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

macro_rules! commands {
    ($( $(#[$m:meta])* $variant:ident = ($group:ident, $id:literal, $op:ident, $name:literal, $empty_ok:literal), )*) => {
        /// Every command this crate has typed bodies for.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Command {
            $( $(#[$m])* $variant, )*
        }

        impl Command {
            /// All commands, in group and id order.
            pub const ALL: &'static [Command] = &[$( Command::$variant, )*];

            /// The group the command belongs to.
            pub fn group(self) -> Group {
                match self { $( Command::$variant => Group::$group, )* }
            }

            /// The command id within the group.
            pub fn id(self) -> u8 {
                match self { $( Command::$variant => $id, )* }
            }

            /// The op a request for this command carries (echo is also accepted as a read).
            pub fn op(self) -> Op {
                match self { $( Command::$variant => Op::$op, )* }
            }

            /// Display name, e.g. "image upload".
            pub fn name(self) -> &'static str {
                match self { $( Command::$variant => $name, )* }
            }

            /// True if Zephyr accepts a zero-length request payload for this command (its
            /// handler never decodes the body). Commands that decode an all-optional body
            /// (echo, image erase, info, bootloader info, enum single) reject it with
            /// `{"rc": 3}`; see the reference §3.
            pub fn accepts_empty_payload(self) -> bool {
                match self { $( Command::$variant => $empty_ok, )* }
            }
        }
    };
}

commands! {
    /// OS 0 (R or W): echo.
    Echo = (Os, 0, Write, "os echo", false),
    /// OS 1 (W): console echo control (not implemented by Zephyr: ENOTSUP).
    ConsoleEchoControl = (Os, 1, Write, "os console echo control", false),
    /// OS 2 (R): task statistics.
    TaskStats = (Os, 2, Read, "os task stats", true),
    /// OS 3 (R): memory pool statistics.
    MpStat = (Os, 3, Read, "os mpstat", true),
    /// OS 4 (R): date-time get.
    DateTimeGet = (Os, 4, Read, "os datetime get", true),
    /// OS 4 (W): date-time set.
    DateTimeSet = (Os, 4, Write, "os datetime set", false),
    /// OS 5 (W): system reset.
    Reset = (Os, 5, Write, "os reset", true),
    /// OS 6 (R): MCUmgr buffer parameters.
    Params = (Os, 6, Read, "os params", true),
    /// OS 7 (R): OS/application info.
    Info = (Os, 7, Read, "os info", false),
    /// OS 8 (R): bootloader info.
    BootloaderInfo = (Os, 8, Read, "os bootloader info", false),
    /// Image 0 (R): list image state.
    ImageStateRead = (Image, 0, Read, "image state read", true),
    /// Image 0 (W): set test/confirm.
    ImageStateWrite = (Image, 0, Write, "image state write", false),
    /// Image 1 (W): upload a chunk.
    ImageUpload = (Image, 1, Write, "image upload", false),
    /// Image 5 (W): erase a slot.
    ImageErase = (Image, 5, Write, "image erase", false),
    /// Image 6 (R): slot info.
    ImageSlotInfo = (Image, 6, Read, "image slot info", true),
    /// Stat 0 (R): one group's counters.
    StatShow = (Stat, 0, Read, "stat show", false),
    /// Stat 1 (R): list stat groups.
    StatList = (Stat, 1, Read, "stat list", true),
    /// Settings 0 (R): read a setting.
    SettingsRead = (Settings, 0, Read, "settings read", false),
    /// Settings 0 (W): write a setting.
    SettingsWrite = (Settings, 0, Write, "settings write", false),
    /// Settings 1 (W): delete a setting.
    SettingsDelete = (Settings, 1, Write, "settings delete", false),
    /// Settings 2 (W): commit.
    SettingsCommit = (Settings, 2, Write, "settings commit", true),
    /// Settings 3 (R): load from storage.
    SettingsLoad = (Settings, 3, Read, "settings load", true),
    /// Settings 3 (W): save to storage.
    SettingsSave = (Settings, 3, Write, "settings save", true),
    /// FS 0 (R): download a chunk.
    FsDownload = (Fs, 0, Read, "fs download", false),
    /// FS 0 (W): upload a chunk.
    FsUpload = (Fs, 0, Write, "fs upload", false),
    /// FS 1 (R): file status (size).
    FsStatus = (Fs, 1, Read, "fs status", false),
    /// FS 2 (R): hash or checksum of a file.
    FsHash = (Fs, 2, Read, "fs hash", false),
    /// FS 3 (R): supported hash/checksum types.
    FsSupportedHashes = (Fs, 3, Read, "fs supported hashes", true),
    /// FS 4 (W): close the open file.
    FsClose = (Fs, 4, Write, "fs close", true),
    /// Shell 0 (W): execute a command line.
    ShellExec = (Shell, 0, Write, "shell exec", false),
    /// Enum 0 (R): number of groups.
    EnumCount = (Enumeration, 0, Read, "enum count", true),
    /// Enum 1 (R): list of group ids.
    EnumList = (Enumeration, 1, Read, "enum list", true),
    /// Enum 2 (R): one group id by index.
    EnumSingle = (Enumeration, 2, Read, "enum single", false),
    /// Enum 3 (R): group details.
    EnumDetails = (Enumeration, 3, Read, "enum details", true),
    /// Zephyr basic 0 (W): erase the storage partition.
    ZephyrEraseStorage = (ZephyrBasic, 0, Write, "zephyr erase storage", true),
}

impl Command {
    /// The command a request with this group, id and op is for. Echo answers both read and
    /// write; every other command needs its own op. `None` for anything else (Zephyr: ENOTSUP).
    pub fn lookup(group: Group, id: u8, op: Op) -> Option<Command> {
        if (group, id, op) == (Group::Os, 0, Op::Read) {
            return Some(Command::Echo);
        }
        Command::ALL.iter().copied().find(|c| c.group() == group && c.id() == id && c.op() == op)
    }

    /// The command a response with this group, id and response op answers.
    pub fn lookup_response(group: Group, id: u8, op: Op) -> Option<Command> {
        match op {
            Op::ReadRsp => Command::lookup(group, id, Op::Read),
            Op::WriteRsp => Command::lookup(group, id, Op::Write),
            _ => None,
        }
    }
}

impl core::fmt::Display for Command {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_found_by_its_own_triple() {
        for c in Command::ALL {
            assert_eq!(Command::lookup(c.group(), c.id(), c.op()), Some(*c), "{c}");
            assert_eq!(Command::lookup_response(c.group(), c.id(), c.op().response()), Some(*c));
        }
        assert_eq!(Command::lookup(Group::Os, 0, Op::Read), Some(Command::Echo));
        assert_eq!(Command::lookup(Group::Image, 1, Op::Read), None);
        assert_eq!(Command::lookup(Group::Image, 2, Op::Write), None);
        assert_eq!(Command::ImageUpload.name(), "image upload");
    }

    #[test]
    fn empty_accepts_any_map_only() {
        assert_eq!(Empty::from_value(&Value::map([("rc", Value::from(0u8))])), Ok(Empty));
        assert!(Empty::from_value(&Value::Null).is_err());
    }
}
