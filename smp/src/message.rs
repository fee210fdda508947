//! Whole SMP messages: header + CBOR body, and typed requests and responses.
//!
//! Three layers, each usable alone:
//! * [`Packet`]: a [`Header`] and its payload bytes, split off a buffer by the header's `len`
//!   (a buffer may hold several concatenated messages; see [`packets`]).
//! * [`Message`]: a header and its payload decoded as CBOR ([`Value`]).
//! * [`Request`] / [`Response`]: the body typed by (group, command id, op), with anything this
//!   crate has no type for kept as a raw [`Value`] (`Other`).
//!
//! ```
//! use smp::cbor::MapStyle;
//! use smp::groups::os::EchoRequest;
//! use smp::header::Version;
//! use smp::message::Request;
//!
//! let echo = Request::Echo(EchoRequest { d: Some("hello".into()) });
//! let bytes = echo.encode(0, Version::V1, MapStyle::Definite).unwrap();
//! assert_eq!(bytes, b"\x02\x00\x00\x09\x00\x00\x00\x00\xa1\x61d\x65hello");
//! let (header, parsed, rest) = Request::decode(&bytes).unwrap();
//! assert_eq!((parsed, rest.len()), (echo, 0));
//! assert_eq!(header.seq, 0);
//! ```

use crate::cbor::{self, BodyError, CborError, Limits, MapStyle, Value};
use crate::error::ErrorBody;
use crate::groups::enumeration::{
    EnumCountResponse, EnumDetailsRequest, EnumDetailsResponse, EnumListResponse, EnumSingleRequest,
    EnumSingleResponse,
};
use crate::groups::fs::{
    FsDownloadRequest, FsDownloadResponse, FsHashRequest, FsHashResponse, FsStatusRequest, FsStatusResponse,
    FsSupportedHashesResponse, FsUploadRequest, FsUploadResponse,
};
use crate::groups::image::{
    EraseRequest, SlotInfoResponse, StateResponse, StateWriteRequest, UploadRequest, UploadResponse,
};
use crate::groups::os::{
    BootloaderInfoRequest, BootloaderInfoResponse, ConsoleEchoControlRequest, DateTimeGetResponse,
    DateTimeSetRequest, EchoRequest, EchoResponse, InfoRequest, InfoResponse, MpStatResponse, ParamsResponse,
    ResetRequest, TaskStatsResponse,
};
use crate::groups::settings::{
    SettingsDeleteRequest, SettingsReadRequest, SettingsReadResponse, SettingsSaveRequest,
    SettingsWriteRequest,
};
use crate::groups::shell::{ShellExecRequest, ShellExecResponse};
use crate::groups::stat::{StatListResponse, StatShowRequest, StatShowResponse};
use crate::groups::{Body, Command, Empty};
use crate::header::{Group, HEADER_LEN, Header, HeaderError, Op, Version};

/// Why bytes are not a complete SMP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Fewer than 8 bytes (Zephyr: ECORRUPT, and no reply since there is no header).
    #[error(transparent)]
    Header(#[from] HeaderError),
    /// The header declares more payload than the buffer holds (Zephyr replies `{"rc": 9}`).
    #[error("header declares {declared} payload bytes but only {available} follow it")]
    Truncated {
        /// The header (so a server can still build its ECORRUPT reply).
        header: Header,
        /// The header's `len`.
        declared: u16,
        /// Bytes after the header.
        available: usize,
    },
}

/// A header and its payload bytes (exactly `header.len` of them), not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The header.
    pub header: Header,
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Split one packet off the front of `bytes`; returns it and the bytes after it.
    pub fn parse(bytes: &'a [u8]) -> Result<(Packet<'a>, &'a [u8]), PacketError> {
        let (header, rest) = Header::parse(bytes)?;
        let declared = usize::from(header.len);
        if rest.len() < declared {
            return Err(PacketError::Truncated { header, declared: header.len, available: rest.len() });
        }
        let (payload, rest) = rest.split_at(declared);
        Ok((Packet { header, payload }, rest))
    }

    /// Header plus payload length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }
}

/// The packets in a buffer holding several concatenated messages, in order. Yields an error
/// (and then stops) at the first malformed one, as Zephyr stops processing there. No padding
/// between messages is skipped (Zephyr's code does not skip any either).
pub fn packets(bytes: &[u8]) -> Packets<'_> {
    Packets { rest: bytes, failed: false }
}

/// Iterator returned by [`packets`].
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<Packet<'a>, PacketError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() || self.failed {
            return None;
        }
        match Packet::parse(self.rest) {
            Ok((p, rest)) => {
                self.rest = rest;
                Some(Ok(p))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Why bytes are not the SMP message expected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MessageError {
    /// Framing of header and payload.
    #[error(transparent)]
    Packet(#[from] PacketError),
    /// The payload is not (exactly one item of) well-formed CBOR within the limits.
    #[error("payload of {command}: {source}")]
    Cbor {
        /// Display name of the command (see [`command_name`]).
        command: String,
        /// What was wrong.
        source: CborError,
    },
    /// The CBOR does not match the command's body.
    #[error("body of {command}: {source}")]
    Body {
        /// Display name of the command.
        command: String,
        /// What was wrong.
        source: BodyError,
    },
    /// A zero-length payload where the command's handler decodes a map (Zephyr: `{"rc": 3}`).
    #[error("{command} needs a CBOR map payload but the payload is empty")]
    EmptyPayload {
        /// Display name of the command.
        command: String,
    },
    /// The encoded body does not fit the 16-bit length field.
    #[error("body of {len} bytes does not fit the 16-bit header length")]
    PayloadTooLong {
        /// Encoded length.
        len: usize,
    },
}

/// Display name for any header: "image upload", "os echo", or "group 77 command 3".
pub fn command_name(header: &Header) -> String {
    let cmd = if header.op.is_response() {
        Command::lookup_response(header.group, header.command_id, header.op)
    } else {
        Command::lookup(header.group, header.command_id, header.op)
    };
    match cmd {
        Some(c) => c.name().to_owned(),
        None => format!("{} command {}", header.group.name(), header.command_id),
    }
}

/// A header and its payload decoded as CBOR.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The header (`len` as received, or as encoded).
    pub header: Header,
    /// The body; `None` for a zero-length payload.
    pub body: Option<Value>,
}

impl Message {
    /// Parse one message from the front of `bytes` under [`Limits::default`]; returns it and the
    /// bytes after it. The payload must be exactly one CBOR item.
    pub fn parse(bytes: &[u8]) -> Result<(Message, &[u8]), MessageError> {
        Message::parse_with(bytes, &Limits::default())
    }

    /// [`Message::parse`] with explicit CBOR limits.
    pub fn parse_with<'a>(bytes: &'a [u8], limits: &Limits) -> Result<(Message, &'a [u8]), MessageError> {
        let (packet, rest) = Packet::parse(bytes)?;
        Ok((Message::from_packet(&packet, limits)?, rest))
    }

    /// Decode a packet's payload.
    pub fn from_packet(packet: &Packet<'_>, limits: &Limits) -> Result<Message, MessageError> {
        let body = if packet.payload.is_empty() {
            None
        } else {
            let v = cbor::decode_with(packet.payload, limits)
                .map_err(|source| MessageError::Cbor { command: command_name(&packet.header), source })?;
            Some(v)
        };
        Ok(Message { header: packet.header, body })
    }

    /// Header and body bytes; the header's `len` is set to the encoded body length.
    pub fn encode(&self, style: MapStyle) -> Result<Vec<u8>, MessageError> {
        let body = self.body.as_ref().map(|b| cbor::encode(b, style)).unwrap_or_default();
        assemble(self.header, &body)
    }
}

fn assemble(header: Header, body: &[u8]) -> Result<Vec<u8>, MessageError> {
    let len = u16::try_from(body.len()).map_err(|_| MessageError::PayloadTooLong { len: body.len() })?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(&header.with_len(len).encode());
    out.extend_from_slice(body);
    Ok(out)
}

macro_rules! kinds {
    ($( $(#[$m:meta])* $v:ident($req:ty, $rsp:ty), )*) => {
        /// A typed SMP request: one variant per [`Command`] (same names), plus `Other`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Request {
            $( $(#[$m])* $v($req), )*
            /// A command this crate has no type for (or an unknown group), kept raw.
            Other {
                /// Group.
                group: Group,
                /// Command id.
                command_id: u8,
                /// Request op as sent.
                op: Op,
                /// The body; `None` for a zero-length payload.
                body: Option<Value>,
            },
        }

        /// A typed successful reply body: one variant per [`Command`] (same names), plus `Other`.
        #[derive(Debug, Clone, PartialEq)]
        pub enum ResponseBody {
            $( $(#[$m])* $v($rsp), )*
            /// A reply this crate has no type for, kept raw.
            Other {
                /// Group.
                group: Group,
                /// Command id.
                command_id: u8,
                /// Response op as sent.
                op: Op,
                /// The body; `None` for a zero-length payload.
                body: Option<Value>,
            },
        }

        impl Request {
            /// The command, or `None` for `Other`.
            pub fn command(&self) -> Option<Command> {
                match self {
                    $( Request::$v(_) => Some(Command::$v), )*
                    Request::Other { .. } => None,
                }
            }

            /// The body as CBOR (`None` only for `Other` with an empty payload).
            pub fn body_value(&self) -> Option<Value> {
                match self {
                    $( Request::$v(b) => Some(b.to_value()), )*
                    Request::Other { body, .. } => body.clone(),
                }
            }

            fn typed(cmd: Command, body: &Value) -> Result<Request, BodyError> {
                match cmd {
                    $( Command::$v => <$req>::from_value(body).map(Request::$v), )*
                }
            }

            /// True if the command's request body type is [`Empty`] (Zephyr never reads it).
            fn body_is_ignored(cmd: Command) -> bool {
                match cmd {
                    $( Command::$v => core::any::TypeId::of::<$req>() == core::any::TypeId::of::<Empty>(), )*
                }
            }
        }

        impl ResponseBody {
            /// The command answered, or `None` for `Other`.
            pub fn command(&self) -> Option<Command> {
                match self {
                    $( ResponseBody::$v(_) => Some(Command::$v), )*
                    ResponseBody::Other { .. } => None,
                }
            }

            /// The body as CBOR (`None` only for `Other` with an empty payload).
            pub fn body_value(&self) -> Option<Value> {
                match self {
                    $( ResponseBody::$v(b) => Some(b.to_value()), )*
                    ResponseBody::Other { body, .. } => body.clone(),
                }
            }

            fn typed(cmd: Command, body: &Value) -> Result<ResponseBody, BodyError> {
                match cmd {
                    $( Command::$v => <$rsp>::from_value(body).map(ResponseBody::$v), )*
                }
            }
        }
    };
}

kinds! {
    /// OS echo (read or write; encoded as write).
    Echo(EchoRequest, EchoResponse),
    /// OS console echo control.
    ConsoleEchoControl(ConsoleEchoControlRequest, Empty),
    /// OS task statistics.
    TaskStats(Empty, TaskStatsResponse),
    /// OS memory pool statistics.
    MpStat(Empty, MpStatResponse),
    /// OS date-time get.
    DateTimeGet(Empty, DateTimeGetResponse),
    /// OS date-time set.
    DateTimeSet(DateTimeSetRequest, Empty),
    /// OS reset.
    Reset(ResetRequest, Empty),
    /// OS MCUmgr parameters.
    Params(Empty, ParamsResponse),
    /// OS/application info.
    Info(InfoRequest, InfoResponse),
    /// OS bootloader info.
    BootloaderInfo(BootloaderInfoRequest, BootloaderInfoResponse),
    /// Image state read.
    ImageStateRead(Empty, StateResponse),
    /// Image state write (test/confirm); the reply is the new state.
    ImageStateWrite(StateWriteRequest, StateResponse),
    /// Image upload chunk.
    ImageUpload(UploadRequest, UploadResponse),
    /// Image erase.
    ImageErase(EraseRequest, Empty),
    /// Image slot info.
    ImageSlotInfo(Empty, SlotInfoResponse),
    /// Stat show.
    StatShow(StatShowRequest, StatShowResponse),
    /// Stat list.
    StatList(Empty, StatListResponse),
    /// Settings read.
    SettingsRead(SettingsReadRequest, SettingsReadResponse),
    /// Settings write.
    SettingsWrite(SettingsWriteRequest, Empty),
    /// Settings delete.
    SettingsDelete(SettingsDeleteRequest, Empty),
    /// Settings commit.
    SettingsCommit(Empty, Empty),
    /// Settings load.
    SettingsLoad(Empty, Empty),
    /// Settings save.
    SettingsSave(SettingsSaveRequest, Empty),
    /// FS download chunk.
    FsDownload(FsDownloadRequest, FsDownloadResponse),
    /// FS upload chunk.
    FsUpload(FsUploadRequest, FsUploadResponse),
    /// FS file status.
    FsStatus(FsStatusRequest, FsStatusResponse),
    /// FS hash/checksum.
    FsHash(FsHashRequest, FsHashResponse),
    /// FS supported hash types.
    FsSupportedHashes(Empty, FsSupportedHashesResponse),
    /// FS close.
    FsClose(Empty, Empty),
    /// Shell exec.
    ShellExec(ShellExecRequest, ShellExecResponse),
    /// Enum count.
    EnumCount(Empty, EnumCountResponse),
    /// Enum list.
    EnumList(Empty, EnumListResponse),
    /// Enum single.
    EnumSingle(EnumSingleRequest, EnumSingleResponse),
    /// Enum details.
    EnumDetails(EnumDetailsRequest, EnumDetailsResponse),
    /// Zephyr basic erase storage.
    ZephyrEraseStorage(Empty, Empty),
}

impl Request {
    /// Type a request body by its header's (group, command id, op). Unknown commands become
    /// `Other`. Commands whose Zephyr handler never reads the body (request type [`Empty`])
    /// accept any body, as Zephyr does. Reset's keys are typed even though Zephyr ignores a
    /// reset body it cannot decode; a server wanting that falls back to
    /// `ResetRequest::default()` on error.
    pub fn parse(header: &Header, body: &Value) -> Result<Request, BodyError> {
        let Some(cmd) = Command::lookup(header.group, header.command_id, header.op) else {
            return Ok(Request::Other {
                group: header.group,
                command_id: header.command_id,
                op: header.op,
                body: Some(body.clone()),
            });
        };
        match Request::typed(cmd, body) {
            Err(_) if Request::body_is_ignored(cmd) => Request::typed(cmd, &Value::empty_map()),
            result => result,
        }
    }

    /// Type a decoded message. A zero-length payload is accepted as `{}` only for commands
    /// whose handler never decodes the body; for the others it is
    /// [`MessageError::EmptyPayload`] (Zephyr: `{"rc": 3}`).
    pub fn from_message(message: &Message) -> Result<Request, MessageError> {
        let h = &message.header;
        let command = || command_name(h);
        match (&message.body, Command::lookup(h.group, h.command_id, h.op)) {
            (None, None) => {
                Ok(Request::Other { group: h.group, command_id: h.command_id, op: h.op, body: None })
            }
            (None, Some(cmd)) if !cmd.accepts_empty_payload() => {
                Err(MessageError::EmptyPayload { command: command() })
            }
            (None, Some(cmd)) => Request::typed(cmd, &Value::empty_map())
                .map_err(|source| MessageError::Body { command: command(), source }),
            (Some(body), _) => {
                Request::parse(h, body).map_err(|source| MessageError::Body { command: command(), source })
            }
        }
    }

    /// Parse one request message from the front of `bytes`: its header, the typed request,
    /// and the bytes after it.
    pub fn decode(bytes: &[u8]) -> Result<(Header, Request, &[u8]), MessageError> {
        let (message, rest) = Message::parse(bytes)?;
        let request = Request::from_message(&message)?;
        Ok((message.header, request, rest))
    }

    /// The group.
    pub fn group(&self) -> Group {
        match self {
            Request::Other { group, .. } => *group,
            other => other.command().map_or(Group::Unknown(0xffff), Command::group),
        }
    }

    /// The command id.
    pub fn command_id(&self) -> u8 {
        match self {
            Request::Other { command_id, .. } => *command_id,
            other => other.command().map_or(0, Command::id),
        }
    }

    /// The request op.
    pub fn op(&self) -> Op {
        match self {
            Request::Other { op, .. } => *op,
            other => other.command().map_or(Op::Write, Command::op),
        }
    }

    /// Display name: "image upload", or "group 77 command 3" for `Other`.
    pub fn command_name(&self) -> String {
        match self.command() {
            Some(c) => c.name().to_owned(),
            None => format!("{} command {}", self.group().name(), self.command_id()),
        }
    }

    /// The header of this request with the given sequence number, version and payload length.
    pub fn header(&self, seq: u8, version: Version, len: u16) -> Header {
        Header::new(version, self.op(), self.group(), self.command_id(), seq, len)
    }

    /// The whole message: header (len computed) and CBOR body in the given style.
    pub fn encode(&self, seq: u8, version: Version, style: MapStyle) -> Result<Vec<u8>, MessageError> {
        let body = self.body_value().map(|b| cbor::encode(&b, style)).unwrap_or_default();
        assemble(self.header(seq, version, 0), &body)
    }
}

/// One line for transcripts: the command name and the body in CBOR diagnostic notation, e.g.
/// `image erase {"slot": 1}`.
impl core::fmt::Display for Request {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.body_value() {
            Some(body) => write!(f, "{} {body}", self.command_name()),
            None => write!(f, "{} (empty payload)", self.command_name()),
        }
    }
}

/// A typed reply: a success body, or an error (`rc`, `err`, or both).
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The command succeeded (a legacy `"rc": 0` is accepted and dropped).
    Ok(ResponseBody),
    /// The command failed.
    Err(ErrorBody),
}

impl Response {
    /// Type a reply body by its header. A body with `err`, or `rc` ≠ 0, is an error — except a
    /// shell exec reply carrying `"o"` and no `err`, whose `rc` is the legacy exit code key (an
    /// inherent ambiguity of that legacy format).
    pub fn parse(header: &Header, body: &Value) -> Result<Response, BodyError> {
        let cmd = Command::lookup_response(header.group, header.command_id, header.op);
        let shell_output =
            cmd == Some(Command::ShellExec) && body.get("o").is_some() && body.get("err").is_none();
        // Groups 64 and up may use any payload encoding; only maps can carry `rc`/`err`.
        let is_map = matches!(body, Value::Map(_));
        if is_map
            && !shell_output
            && let Some(error) = ErrorBody::from_value(body)?
        {
            return Ok(Response::Err(error));
        }
        match cmd {
            Some(cmd) => ResponseBody::typed(cmd, body).map(Response::Ok),
            None => Ok(Response::Ok(ResponseBody::Other {
                group: header.group,
                command_id: header.command_id,
                op: header.op,
                body: Some(body.clone()),
            })),
        }
    }

    /// Type a decoded reply message; a zero-length payload is read as `{}` (or kept as an empty
    /// `Other`).
    pub fn from_message(message: &Message) -> Result<Response, MessageError> {
        let h = &message.header;
        let known = Command::lookup_response(h.group, h.command_id, h.op).is_some();
        match &message.body {
            None if !known => Ok(Response::Ok(ResponseBody::Other {
                group: h.group,
                command_id: h.command_id,
                op: h.op,
                body: None,
            })),
            body => {
                let empty = Value::empty_map();
                Response::parse(h, body.as_ref().unwrap_or(&empty))
                    .map_err(|source| MessageError::Body { command: command_name(h), source })
            }
        }
    }

    /// Parse one reply message from the front of `bytes`: header, typed reply, rest.
    pub fn decode(bytes: &[u8]) -> Result<(Header, Response, &[u8]), MessageError> {
        let (message, rest) = Message::parse(bytes)?;
        let response = Response::from_message(&message)?;
        Ok((message.header, response, rest))
    }

    /// The body as CBOR (`None` only for an `Other` reply with an empty payload).
    pub fn body_value(&self) -> Option<Value> {
        match self {
            Response::Ok(b) => b.body_value(),
            Response::Err(e) => Some(e.to_value()),
        }
    }

    /// The reply to `request` as a server sends it: header per [`Header::response_to`], body in
    /// `style` ([`MapStyle::Indefinite`] for Zephyr fidelity).
    pub fn encode(&self, request: &Header, style: MapStyle) -> Result<Vec<u8>, MessageError> {
        self.encode_with_header(Header::response_to(request), style)
    }

    /// The reply with an explicit header (its `len` is replaced by the body length).
    pub fn encode_with_header(&self, header: Header, style: MapStyle) -> Result<Vec<u8>, MessageError> {
        let body = self.body_value().map(|b| cbor::encode(&b, style)).unwrap_or_default();
        assemble(header, &body)
    }

    /// True for [`Response::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Response::Ok(_))
    }
}

/// One line for transcripts: `ok {...}` or `error: <what>` (the command name is in the header).
impl core::fmt::Display for Response {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Response::Ok(body) => match body.body_value() {
                Some(v) => write!(f, "ok {v}"),
                None => f.write_str("ok (empty payload)"),
            },
            Response::Err(e) => write!(f, "error: {e}"),
        }
    }
}

/// A message typed as a request or a reply according to its header's op.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyMessage {
    /// Op READ or WRITE.
    Request(Request),
    /// Op READ_RSP or WRITE_RSP.
    Response(Response),
    /// Op 4..=7: no meaning defined; the decoded body is kept.
    UnknownOp(Option<Value>),
}

impl AnyMessage {
    /// Type a decoded message by its op (what a dissector such as `brownout decode` wants).
    pub fn from_message(message: &Message) -> Result<AnyMessage, MessageError> {
        match message.header.op {
            Op::Read | Op::Write => Request::from_message(message).map(AnyMessage::Request),
            Op::ReadRsp | Op::WriteRsp => Response::from_message(message).map(AnyMessage::Response),
            Op::Unknown(_) => Ok(AnyMessage::UnknownOp(message.body.clone())),
        }
    }

    /// Parse one message from the front of `bytes`: header, typed message, rest.
    pub fn decode(bytes: &[u8]) -> Result<(Header, AnyMessage, &[u8]), MessageError> {
        let (message, rest) = Message::parse(bytes)?;
        Ok((message.header, AnyMessage::from_message(&message)?, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_packet_names_both_lengths() {
        let bytes = [0x0a, 0, 0, 9, 0, 0, 0, 0, 0xa1, 0x61];
        let e = Packet::parse(&bytes).unwrap_err();
        assert!(matches!(e, PacketError::Truncated { declared: 9, available: 2, .. }));
        assert_eq!(e.to_string(), "header declares 9 payload bytes but only 2 follow it");
        let e = Message::parse(&bytes[..5]).unwrap_err();
        assert!(e.to_string().contains("only 5"));
    }

    #[test]
    fn several_messages_in_one_buffer() {
        let a = Request::Params(Empty).encode(1, Version::V2, MapStyle::Definite).unwrap();
        let b = Request::Echo(EchoRequest { d: Some("x".into()) })
            .encode(2, Version::V2, MapStyle::Definite)
            .unwrap();
        let mut buf = [a.clone(), b.clone()].concat();
        let seqs: Vec<u8> = packets(&buf).map(|p| p.unwrap().header.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        buf.extend_from_slice(&[0x08, 0, 0]);
        let all: Vec<_> = packets(&buf).collect();
        assert_eq!(all.len(), 3);
        assert!(matches!(all[2], Err(PacketError::Header(HeaderError::TooShort { available: 3 }))));
        let (h, r, rest) = Request::decode(&buf).unwrap();
        assert_eq!((h.seq, r, rest.len()), (1, Request::Params(Empty), b.len() + 3));
    }

    #[test]
    fn empty_payload_rules_follow_zephyr() {
        let params = [0x08, 0, 0, 0, 0, 0, 0, 6];
        assert_eq!(Request::decode(&params).unwrap().1, Request::Params(Empty));
        let echo = [0x0a, 0, 0, 0, 0, 0, 0, 0];
        let e = Request::decode(&echo).unwrap_err();
        assert_eq!(e, MessageError::EmptyPayload { command: "os echo".into() });
        let other = [0x0a, 0, 0, 0, 0, 77, 1, 3];
        let (_, r, _) = Request::decode(&other).unwrap();
        assert_eq!(r.command_name(), "group 77 command 3");
        assert_eq!(r.body_value(), None);
        assert_eq!(r.encode(1, Version::V2, MapStyle::Definite).unwrap(), other);
    }

    #[test]
    fn bodies_that_are_never_decoded_accept_anything() {
        let h = Header::new(Version::V2, Op::Read, Group::Os, 6, 0, 0);
        assert_eq!(Request::parse(&h, &Value::Null).unwrap(), Request::Params(Empty));
        let h = Header::new(Version::V2, Op::Write, Group::Os, 5, 0, 0);
        assert!(Request::parse(&h, &Value::map([("force", "x".into())])).is_err());
    }

    #[test]
    fn shell_legacy_rc_is_not_an_error() {
        let h = Header::new(Version::V2, Op::WriteRsp, Group::Shell, 0, 0, 0);
        let body = Value::map([("o", "".into()), ("rc", 1u8.into())]);
        let Response::Ok(ResponseBody::ShellExec(r)) = Response::parse(&h, &body).unwrap() else {
            panic!("not a shell reply");
        };
        assert_eq!(r.ret, 1);
        let err = Value::map([("rc", 3u8.into())]);
        assert!(matches!(Response::parse(&h, &err).unwrap(), Response::Err(_)));
    }

    #[test]
    fn body_errors_name_the_command() {
        let mut bytes =
            Request::Echo(EchoRequest::default()).encode(0, Version::V2, MapStyle::Definite).unwrap();
        bytes[8] = 0xa1;
        bytes.extend_from_slice(&[0x61, b'd', 0x01]);
        bytes[3] = 4;
        let e = Request::decode(&bytes).unwrap_err();
        assert_eq!(e.to_string(), "body of os echo: key \"d\": expected text string, found unsigned integer");
        let mut bad = bytes.clone();
        bad[8] = 0xa2;
        let e = Request::decode(&bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            "payload of os echo: CBOR error at byte 0: declared 2 map entries need at least 4 bytes but only 3 are left"
        );
    }

    #[test]
    fn any_message_follows_the_op() {
        let req = Request::Params(Empty).encode(1, Version::V2, MapStyle::Definite).unwrap();
        assert!(matches!(AnyMessage::decode(&req).unwrap().1, AnyMessage::Request(Request::Params(_))));
        let (h, ..) = Request::decode(&req).unwrap();
        let rsp = Response::Ok(ResponseBody::Params(ParamsResponse { buf_size: 384, buf_count: 4 }))
            .encode(&h, MapStyle::Indefinite)
            .unwrap();
        assert!(matches!(AnyMessage::decode(&rsp).unwrap().1, AnyMessage::Response(Response::Ok(_))));
        let odd = [0x0e, 0, 0, 1, 0, 0, 0, 0, 0xa0];
        assert_eq!(AnyMessage::decode(&odd).unwrap().1, AnyMessage::UnknownOp(Some(Value::empty_map())));
        // A user group's reply need not be a map.
        let user = [0x0b, 0, 0, 1, 0, 64, 0, 0, 0x01];
        let (_, r, _) = Response::decode(&user).unwrap();
        assert!(matches!(r, Response::Ok(ResponseBody::Other { body: Some(Value::Int(_)), .. })));
    }

    #[test]
    fn display_is_one_line() {
        let r = Request::ImageErase(crate::groups::image::EraseRequest { slot: Some(1) });
        assert_eq!(r.to_string(), r#"image erase {"slot": 1}"#);
        let e = Response::Err(ErrorBody::group(crate::error::GroupErr::new(Group::Image, 9)));
        assert_eq!(e.to_string(), "error: group 1 error: IMG_MGMT_ERR_NO_FREE_SLOT (9)");
        let ok = Response::Ok(ResponseBody::ImageErase(Empty));
        assert_eq!(ok.to_string(), "ok {}");
    }

    #[test]
    fn payload_too_long_is_an_error() {
        let big = Request::FsUpload(FsUploadRequest { data: vec![0; 70_000], ..Default::default() });
        assert!(matches!(
            big.encode(0, Version::V2, MapStyle::Definite),
            Err(MessageError::PayloadTooLong { .. })
        ));
    }
}
