//! The 8-byte SMP header that starts every message.
//!
//! ```text
//!  byte 0            byte 1   bytes 2-3      bytes 4-5       byte 6  byte 7
//! +-------+-----+----+--------+--------------+---------------+-------+--------+
//! | res:3 |ver:2|op:3| flags  | len (u16 BE) | group (u16 BE)|  seq  | cmd id |
//! +-------+-----+----+--------+--------------+---------------+-------+--------+
//! ```
//!
//! `len` counts the CBOR payload after the header (0 is allowed). `ver` 0 is the legacy
//! "SMP version 1" protocol, `ver` 1 is "SMP version 2"; the only visible difference is how group
//! errors are reported (see [`crate::error`]). The three reserved bits must be written as 0;
//! Zephyr never looks at them when receiving, so [`Header::parse`] keeps them in
//! [`Header::reserved`] instead of rejecting the message, and [`Header::encode`] writes back
//! whatever is stored there (0 for every header this crate builds).

use core::fmt;

/// Size of the SMP header in bytes.
pub const HEADER_LEN: usize = 8;

/// The header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes were available.
    #[error("SMP header needs {HEADER_LEN} bytes but only {available} are present")]
    TooShort {
        /// How many bytes there were.
        available: usize,
    },
}

/// The `op` field (bits 2..0 of byte 0): what kind of message this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// 0: read request.
    Read,
    /// 1: response to a read request.
    ReadRsp,
    /// 2: write request.
    Write,
    /// 3: response to a write request (also used for error replies to unusual ops).
    WriteRsp,
    /// 4..=7: not defined by SMP. Zephyr answers such a request with `{"rc": 8}` (ENOTSUP).
    Unknown(u8),
}

impl Op {
    /// The op for the three low bits of byte 0 (higher bits are ignored).
    pub fn from_bits(bits: u8) -> Op {
        match bits & 0x07 {
            0 => Op::Read,
            1 => Op::ReadRsp,
            2 => Op::Write,
            3 => Op::WriteRsp,
            other => Op::Unknown(other),
        }
    }

    /// The three-bit value of this op (an `Unknown` value is masked to three bits).
    pub fn bits(self) -> u8 {
        match self {
            Op::Read => 0,
            Op::ReadRsp => 1,
            Op::Write => 2,
            Op::WriteRsp => 3,
            Op::Unknown(v) => v & 0x07,
        }
    }

    /// True for the two request ops a server acts on (read and write).
    pub fn is_request(self) -> bool {
        matches!(self, Op::Read | Op::Write)
    }

    /// True for the two response ops.
    pub fn is_response(self) -> bool {
        matches!(self, Op::ReadRsp | Op::WriteRsp)
    }

    /// The op of the reply to a request with this op, per Zephyr's `smp_make_rsp_hdr`:
    /// READ gets READ_RSP, anything else (including responses and unknown ops) gets WRITE_RSP.
    pub fn response(self) -> Op {
        match self {
            Op::Read => Op::ReadRsp,
            _ => Op::WriteRsp,
        }
    }

    /// Lower-case name for display: "read", "read-rsp", "write", "write-rsp", "op5".
    pub fn name(self) -> String {
        match self {
            Op::Read => "read".into(),
            Op::ReadRsp => "read-rsp".into(),
            Op::Write => "write".into(),
            Op::WriteRsp => "write-rsp".into(),
            Op::Unknown(v) => format!("op{v}"),
        }
    }
}

/// The `ver` field (bits 4..3 of byte 0): which SMP protocol version the sender speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// Field value 0: the original ("legacy") protocol; group errors are sent as a translated `rc`.
    V1,
    /// Field value 1: SMP version 2; group errors are sent as `{"err": {"group", "rc"}}`.
    V2,
    /// Field values 2 and 3: reserved. Zephyr answers `{"rc": 13}` (too new) with version 2.
    Reserved(u8),
}

impl Version {
    /// The version for the two `ver` bits (higher bits are ignored).
    pub fn from_bits(bits: u8) -> Version {
        match bits & 0x03 {
            0 => Version::V1,
            1 => Version::V2,
            other => Version::Reserved(other),
        }
    }

    /// The two-bit field value.
    pub fn bits(self) -> u8 {
        match self {
            Version::V1 => 0,
            Version::V2 => 1,
            Version::Reserved(v) => v & 0x03,
        }
    }

    /// The version a server answers with: the request's, clamped to [`Version::V2`].
    pub fn clamped(self) -> Version {
        match self {
            Version::V1 => Version::V1,
            _ => Version::V2,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::V1 => f.write_str("v1"),
            Version::V2 => f.write_str("v2"),
            Version::Reserved(v) => write!(f, "reserved({v})"),
        }
    }
}

/// A management group id (`enum mcumgr_group_t`). Every id maps to exactly one variant and back,
/// so no value is lost: ids without a name are [`Group::Unknown`], ids 64 and above are
/// [`Group::PerUser`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Group {
    /// 0: OS management (echo, reset, params, info, ...).
    Os,
    /// 1: image management (state, upload, erase, slot info).
    Image,
    /// 2: statistics.
    Stat,
    /// 3: settings ("config").
    Settings,
    /// 4: log management (unused by Zephyr).
    Log,
    /// 5: `MGMT_GROUP_ID_CRASH` in the C header ("run-time tests" in the docs); unused by Zephyr.
    Crash,
    /// 6: split images (unused by Zephyr).
    Split,
    /// 7: `MGMT_GROUP_ID_RUN` in the C header ("test crash" in the docs); unused by Zephyr.
    Run,
    /// 8: file system.
    Fs,
    /// 9: shell command execution.
    Shell,
    /// 10: group enumeration.
    Enumeration,
    /// 11: transport management (experimental bridging).
    Transport,
    /// 63: Zephyr basic management (erase storage).
    ZephyrBasic,
    /// 64 and above: user-defined groups (`MGMT_GROUP_ID_PERUSER` onwards). Carries the id.
    PerUser(u16),
    /// 12..=62: ids with no assigned group. Carries the id.
    Unknown(u16),
}

impl Group {
    /// First user-defined group id (`MGMT_GROUP_ID_PERUSER`).
    pub const PERUSER: u16 = 64;

    /// The group for a 16-bit id.
    pub fn from_id(id: u16) -> Group {
        match id {
            0 => Group::Os,
            1 => Group::Image,
            2 => Group::Stat,
            3 => Group::Settings,
            4 => Group::Log,
            5 => Group::Crash,
            6 => Group::Split,
            7 => Group::Run,
            8 => Group::Fs,
            9 => Group::Shell,
            10 => Group::Enumeration,
            11 => Group::Transport,
            63 => Group::ZephyrBasic,
            id if id >= Self::PERUSER => Group::PerUser(id),
            id => Group::Unknown(id),
        }
    }

    /// The 16-bit id of this group.
    pub fn id(self) -> u16 {
        match self {
            Group::Os => 0,
            Group::Image => 1,
            Group::Stat => 2,
            Group::Settings => 3,
            Group::Log => 4,
            Group::Crash => 5,
            Group::Split => 6,
            Group::Run => 7,
            Group::Fs => 8,
            Group::Shell => 9,
            Group::Enumeration => 10,
            Group::Transport => 11,
            Group::ZephyrBasic => 63,
            Group::PerUser(id) | Group::Unknown(id) => id,
        }
    }

    /// Short display name: "os", "image", "stat", "settings", "fs", "shell", "enum",
    /// "zephyr-basic", "group 77", ...
    pub fn name(self) -> String {
        match self {
            Group::Os => "os".into(),
            Group::Image => "image".into(),
            Group::Stat => "stat".into(),
            Group::Settings => "settings".into(),
            Group::Log => "log".into(),
            Group::Crash => "crash".into(),
            Group::Split => "split".into(),
            Group::Run => "run".into(),
            Group::Fs => "fs".into(),
            Group::Shell => "shell".into(),
            Group::Enumeration => "enum".into(),
            Group::Transport => "transport".into(),
            Group::ZephyrBasic => "zephyr-basic".into(),
            Group::PerUser(id) | Group::Unknown(id) => format!("group {id}"),
        }
    }
}

impl From<u16> for Group {
    fn from(id: u16) -> Group {
        Group::from_id(id)
    }
}

impl From<Group> for u16 {
    fn from(group: Group) -> u16 {
        group.id()
    }
}

/// A decoded SMP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// What kind of message this is.
    pub op: Op,
    /// Protocol version of the sender.
    pub version: Version,
    /// The three reserved bits 7..5 of byte 0, as received (shifted down to 0..=7). Should be 0.
    pub reserved: u8,
    /// The flags byte. No flags are defined; servers write 0.
    pub flags: u8,
    /// Length of the CBOR payload that follows the header.
    pub len: u16,
    /// Management group.
    pub group: Group,
    /// Sequence number, echoed by the server.
    pub seq: u8,
    /// Command id within the group.
    pub command_id: u8,
}

impl Header {
    /// A header with reserved bits and flags 0.
    pub fn new(version: Version, op: Op, group: Group, command_id: u8, seq: u8, len: u16) -> Header {
        Header { op, version, reserved: 0, flags: 0, len, group, seq, command_id }
    }

    /// Read a header from the start of `bytes`; returns it and everything after the 8 header
    /// bytes (which may be more or less than [`Header::len`]; see [`crate::message`]).
    pub fn parse(bytes: &[u8]) -> Result<(Header, &[u8]), HeaderError> {
        let Some((head, rest)) = bytes.split_first_chunk::<HEADER_LEN>() else {
            return Err(HeaderError::TooShort { available: bytes.len() });
        };
        Ok((Header::from_bytes(head), rest))
    }

    /// Decode exactly 8 header bytes (cannot fail: every bit pattern is a header).
    pub fn from_bytes(b: &[u8; HEADER_LEN]) -> Header {
        Header {
            op: Op::from_bits(b[0]),
            version: Version::from_bits(b[0] >> 3),
            reserved: b[0] >> 5,
            flags: b[1],
            len: u16::from_be_bytes([b[2], b[3]]),
            group: Group::from_id(u16::from_be_bytes([b[4], b[5]])),
            seq: b[6],
            command_id: b[7],
        }
    }

    /// The 8 bytes of this header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let len = self.len.to_be_bytes();
        let group = self.group.id().to_be_bytes();
        [
            ((self.reserved & 0x07) << 5) | (self.version.bits() << 3) | self.op.bits(),
            self.flags,
            len[0],
            len[1],
            group[0],
            group[1],
            self.seq,
            self.command_id,
        ]
    }

    /// The header of the reply to `request`, as Zephyr's `smp_make_rsp_hdr` builds it: op READ →
    /// READ_RSP, every other op → WRITE_RSP; version clamped to [`Version::V2`]; flags and reserved
    /// bits 0; group, sequence number and command id copied; `len` 0 (set it with
    /// [`Header::with_len`] once the payload is known).
    pub fn response_to(request: &Header) -> Header {
        Header {
            op: request.op.response(),
            version: request.version.clamped(),
            reserved: 0,
            flags: 0,
            len: 0,
            group: request.group,
            seq: request.seq,
            command_id: request.command_id,
        }
    }

    /// This header with `len` replaced.
    pub fn with_len(mut self, len: u16) -> Header {
        self.len = len;
        self
    }
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} group={} ({}) id={} seq={} len={}",
            self.version,
            self.op.name(),
            self.group.id(),
            self.group.name(),
            self.command_id,
            self.seq,
            self.len
        )?;
        if self.flags != 0 {
            write!(f, " flags={:#04x}", self.flags)?;
        }
        if self.reserved != 0 {
            write!(f, " reserved={:#03b}", self.reserved)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_header_v1_and_v2() {
        let v1 = Header::new(Version::V1, Op::Write, Group::Os, 0, 0, 9);
        assert_eq!(v1.encode(), [0x02, 0, 0, 9, 0, 0, 0, 0]);
        let v2 = Header { version: Version::V2, ..v1 };
        assert_eq!(v2.encode(), [0x0a, 0, 0, 9, 0, 0, 0, 0]);
    }

    #[test]
    fn parse_returns_rest_and_round_trips_every_first_byte() {
        for b0 in 0..=255u8 {
            let bytes = [b0, 0x5a, 0x01, 0x02, 0x12, 0x34, 7, 9, 0xaa];
            let (h, rest) = Header::parse(&bytes).unwrap();
            assert_eq!(rest, &[0xaa]);
            assert_eq!(h.encode()[..], bytes[..8]);
            assert_eq!(h.len, 0x0102);
            assert_eq!(h.group, Group::PerUser(0x1234));
            assert_eq!(h.group.id(), 0x1234);
        }
    }

    #[test]
    fn too_short_is_an_error_naming_the_count() {
        let e = Header::parse(&[1, 2, 3]).unwrap_err();
        assert_eq!(e, HeaderError::TooShort { available: 3 });
        assert!(e.to_string().contains("only 3"));
    }

    #[test]
    fn groups_map_both_ways() {
        for id in 0..=u16::MAX {
            assert_eq!(Group::from_id(id).id(), id);
        }
        assert_eq!(Group::from_id(63), Group::ZephyrBasic);
        assert_eq!(Group::from_id(64), Group::PerUser(64));
        assert_eq!(Group::from_id(12), Group::Unknown(12));
    }

    #[test]
    fn response_header_follows_smp_make_rsp_hdr() {
        let mut req = Header::new(Version::Reserved(3), Op::Unknown(6), Group::Image, 5, 42, 10);
        req.flags = 0xff;
        req.reserved = 0x7;
        let rsp = Header::response_to(&req);
        assert_eq!(rsp.op, Op::WriteRsp);
        assert_eq!(rsp.version, Version::V2);
        assert_eq!((rsp.flags, rsp.reserved, rsp.len), (0, 0, 0));
        assert_eq!((rsp.group, rsp.seq, rsp.command_id), (Group::Image, 42, 5));
        let read = Header::new(Version::V1, Op::Read, Group::Os, 6, 1, 0);
        let rsp = Header::response_to(&read);
        assert_eq!((rsp.op, rsp.version), (Op::ReadRsp, Version::V1));
        assert_eq!(Header::response_to(&Header { op: Op::ReadRsp, ..read }).op, Op::WriteRsp);
    }

    #[test]
    fn display_is_readable() {
        let h = Header::new(Version::V2, Op::Write, Group::Image, 1, 4, 106);
        assert_eq!(h.to_string(), "v2 write group=1 (image) id=1 seq=4 len=106");
    }
}
