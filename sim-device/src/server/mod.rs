//! The SMP server: what Zephyr's MCUmgr does with the bytes a transport hands it.
//!
//! [`Device::handle`](crate::device::Device::handle) takes one received buffer and returns one
//! reply buffer per SMP message in it, following Zephyr's `smp_process_request_packet`
//! (reference `smp-protocol.md` §2.1):
//!
//! | input | reply |
//! |---|---|
//! | fewer than 8 bytes left | none; processing stops |
//! | header `len` larger than what follows | `{"rc": 9}` (ECORRUPT); stops |
//! | op not READ/WRITE | `{"rc": 8}` (ENOTSUP) |
//! | ver ≥ 2 | `{"rc": 13}` with reply ver 1 (SMP v2) |
//! | unknown group, command or op | `{"rc": 8}` |
//! | handler error | `{"rc": N}`; processing stops |
//! | handler group error | v2: `{"err": {"group", "rc"}}`; v1: `{"rc": translation}` |
//! | reply larger than `buf_size` | `{"rc": 7}` (EMSGSIZE) |
//!
//! Replies are encoded as Zephyr's zcbor does, with indefinite-length maps and arrays.
//!
//! # Writing a group
//!
//! A group is one file with one handler function per command and a [`GroupDef`] table
//! (see `os.rs` and `image.rs`), listed in [`standard_groups`]. A handler gets a [`Ctx`]: the
//! request header, the payload ([`Ctx::decode`] reads it the way `zcbor_map_decode_bulk` does
//! and answers `{"rc": 3}` for anything unreadable) and `ctx.dev`, the whole
//! [`Device`](crate::device::Device): flash (through [`Ctx::flash_op`] so a power cut stops
//! the CPU), flash map, hooks, stats, limits, clock, and two typed state stores — RAM state
//! that a reboot clears ([`Device::ram_state`](crate::device::Device::ram_state)) and storage
//! that survives reboots ([`Device::storage_state`](crate::device::Device::storage_state)).
//! It returns the reply map, or a [`HandlerError`].
//!
//! ```
//! use sim_device::device::DeviceConfig;
//! use sim_device::server::{CommandDef, Ctx, GroupDef, HandlerError, HandlerResult};
//! use smp::cbor::{self, MapStyle, Value};
//! use smp::header::{Group, Header, Op, Version};
//!
//! /// Survives reboots: kept in the device's storage state.
//! #[derive(Default)]
//! struct Visits(u64);
//!
//! /// `{"name": tstr}` -> `{"hello": tstr, "visits": uint}`; no name -> group error 1.
//! fn hello(ctx: &mut Ctx<'_>) -> HandlerResult {
//!     let body = ctx.body_value().ok_or(sim_device::server::EINVAL)?;
//!     let Some(name) = body.get("name").and_then(Value::as_text).map(str::to_owned) else {
//!         return Err(HandlerError::group(1));
//!     };
//!     let visits = ctx.dev.storage_state::<Visits>();
//!     visits.0 += 1;
//!     Ok(Value::map([("hello", Value::text(name)), ("visits", Value::from(visits.0))]))
//! }
//!
//! // A hash-only image, so the bootloader has something to boot.
//! let opts = mcuboot::image::sign::SignOptions { pad_header: true, ..Default::default() };
//! let app = mcuboot::image::sign::sign(&[0u8; 1024], None, &opts).unwrap();
//! let mut dev = DeviceConfig::preset("k64f").unwrap().primary(app).build().unwrap();
//! dev.register_group(GroupDef {
//!     group: Group::PerUser(64),
//!     name: Some("hello mgmt"),
//!     commands: vec![CommandDef { id: 0, name: "hello", read: Some(hello), write: None }],
//! });
//!
//! let payload = cbor::encode(&Value::map([("name", Value::text("board"))]), MapStyle::Definite);
//! let mut request = Header::new(Version::V2, Op::Read, Group::PerUser(64), 0, 1, payload.len() as u16)
//!     .encode()
//!     .to_vec();
//! request.extend(payload);
//! let replies = dev.handle(&request);
//! let body = cbor::decode(&replies[0][8..]).unwrap();
//! assert_eq!(body.get("visits").and_then(Value::as_u64), Some(1));
//! ```

pub mod enumeration;
pub mod fs;
pub mod hooks;
pub mod image;
pub mod os;
pub mod settings;
pub mod shell;
pub mod stat;
pub mod zephyr_basic;

use std::any::{Any, TypeId};
use std::collections::HashMap;

use mcuboot::flash::FlashError;
use smp::cbor::{self, Limits as CborLimits, MapStyle, Value};
use smp::error::{GroupErrorReply, MgmtErr, zephyr_group_error_reply};
use smp::groups::Body;
use smp::groups::os::InfoFields;
use smp::header::{Group, HEADER_LEN, Header, Op, Version};

use crate::device::{Device, EventKind};
pub use hooks::{AccessVerdict, Hooks, Verdict};

/// Transport buffer limits (`CONFIG_MCUMGR_TRANSPORT_NETBUF_*`, the transport MTU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `NETBUF_SIZE`: the largest message (8-byte header included) received or sent.
    /// Reported by `os params`.
    pub buf_size: u32,
    /// `NETBUF_COUNT`, reported by `os params`.
    pub buf_count: u32,
    /// The transport MTU (serial: `CONFIG_MCUMGR_TRANSPORT_UART_MTU`, UDP:
    /// `CONFIG_MCUMGR_TRANSPORT_UDP_MTU`), for transports to split or refuse frames.
    pub mtu: u32,
    /// What happens to a received buffer larger than `buf_size`.
    pub oversize: Oversize,
}

/// What a transport does with a request larger than its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Oversize {
    /// The buffer keeps its first `buf_size` bytes (a UDP receive into a smaller buffer); the
    /// message then fails the length check: `{"rc": 9}`.
    #[default]
    Truncate,
    /// Dropped without a reply (serial reassembly refuses frames longer than the buffer).
    Drop,
}

impl Limits {
    /// Zephyr's serial defaults: 384-byte buffers, 4 of them, UART MTU 256; oversize frames
    /// are dropped.
    pub const SERIAL: Limits = Limits { buf_size: 384, buf_count: 4, mtu: 256, oversize: Oversize::Drop };
    /// Zephyr's defaults with UDP enabled: 2048-byte buffers, 2 of them, MTU 1500.
    pub const UDP: Limits = Limits { buf_size: 2048, buf_count: 2, mtu: 1500, oversize: Oversize::Truncate };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::SERIAL
    }
}

/// Build options of the SMP server (the Kconfig choices that change what clients see).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub limits: Limits,
    /// `CONFIG_MCUMGR_SMP_LEGACY_RC_BEHAVIOUR`: `"rc": 0` in every success reply.
    pub legacy_rc: bool,
    /// `CONFIG_MCUMGR_SMP_VERBOSE_ERR_RESPONSE`: `"rsn"` text next to an `rc` error.
    pub verbose_errors: bool,
    /// `CONFIG_MCUMGR_GRP_OS_DATETIME`: date-time commands exist (else ENOTSUP).
    pub rtc: bool,
    /// `CONFIG_MCUMGR_GRP_OS_DATETIME_MS`.
    pub datetime_ms: bool,
    /// `CONFIG_MCUMGR_GRP_OS_RESET_BOOT_MODE`: `boot_mode` is honoured.
    pub reset_boot_mode: bool,
    /// `os info` fields.
    pub info: InfoFields,
    /// Image group options.
    pub image: image::ImageOptions,
    /// Statistics group options (user-defined groups, legacy quirks).
    pub stat: stat::StatOptions,
    /// Settings group options (name/value limits, registered roots).
    pub settings: settings::SettingsOptions,
    /// File system group options (mount points, limits, hash types).
    pub fs: fs::FsOptions,
    /// Shell group options (buffer sizes, user commands).
    pub shell: shell::ShellOptions,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            limits: Limits::default(),
            legacy_rc: false,
            verbose_errors: false,
            rtc: true,
            datetime_ms: false,
            reset_boot_mode: true,
            info: default_info(),
            image: image::ImageOptions::default(),
            stat: stat::StatOptions::default(),
            settings: settings::SettingsOptions::default(),
            fs: fs::FsOptions::default(),
            shell: shell::ShellOptions::default(),
        }
    }
}

/// What the simulated board reports in `os info` by default: a Zephyr 4.2 `smp_svr` on an
/// nRF52840 DK.
pub fn default_info() -> InfoFields {
    InfoFields {
        kernel_name: "Zephyr".into(),
        node_name: "brownout".into(),
        kernel_release: "v4.2.0".into(),
        kernel_version: "4.2.0".into(),
        build_date_time: Some("Tue Jan  2 10:11:12 2024".into()),
        machine: "arm".into(),
        processor: "cortex-m4".into(),
        hardware_platform: "nrf52840dk/nrf52840".into(),
        operating_system: "Zephyr".into(),
    }
}

/// Why a handler did not produce a success reply.
#[derive(Debug, Clone, PartialEq)]
pub enum HandlerError {
    /// A generic error: `{"rc": N}` (plus `"rsn"` with verbose errors). Stops processing the
    /// rest of the buffer, as Zephyr does.
    Rc { rc: MgmtErr, rsn: Option<&'static str> },
    /// A group error (`smp_add_cmd_err`), reported under `group` (normally the request's
    /// group), after the `keys` the handler already wrote.
    Group { group: Option<Group>, rc: u64, keys: Vec<(Value, Value)>, rsn: Option<&'static str> },
    /// A group error (of `group`, else the request's group) followed by more keys, in that
    /// order (fs upload's FILE_OFFSET_NOT_VALID is `{"err": {...}, "len": N}`; an upload chunk
    /// an application hook refuses with a group error is `{"err": {...}, "off": N}`). SMP v1
    /// gets the translation only.
    GroupThen { group: Option<Group>, rc: u64, after: Vec<(Value, Value)> },
    /// Power was lost during a flash operation: the CPU is off, nothing is sent.
    PowerLost,
    /// The handler stopped the CPU (a modelled crash): nothing is sent.
    NoReply,
}

impl HandlerError {
    /// `{"rc": rc}`.
    pub fn rc(rc: MgmtErr) -> HandlerError {
        HandlerError::Rc { rc, rsn: None }
    }

    /// A group error of the request's group.
    pub fn group(rc: u64) -> HandlerError {
        HandlerError::Group { group: None, rc, keys: Vec::new(), rsn: None }
    }

    /// The same with a verbose-error reason.
    pub fn with_rsn(self, reason: &'static str) -> HandlerError {
        match self {
            HandlerError::Rc { rc, .. } => HandlerError::Rc { rc, rsn: Some(reason) },
            HandlerError::Group { group, rc, keys, .. } => {
                HandlerError::Group { group, rc, keys, rsn: Some(reason) }
            }
            other => other,
        }
    }

    /// A refusal from a hook.
    pub fn from_verdict(v: &Verdict) -> Option<HandlerError> {
        match v {
            Verdict::Allow => None,
            Verdict::Rc(rc) => Some(HandlerError::rc(*rc)),
            Verdict::Group { group, rc } => {
                Some(HandlerError::Group { group: Some(*group), rc: *rc, keys: Vec::new(), rsn: None })
            }
        }
    }
}

/// `{"rc": 3}` (EINVAL): what Zephyr answers for a body it cannot decode.
pub const EINVAL: HandlerError = HandlerError::Rc { rc: MgmtErr::EInval, rsn: None };

/// The success reply map, or why there is none.
pub type HandlerResult = Result<Value, HandlerError>;

/// A command handler.
pub type Handler = fn(&mut Ctx<'_>) -> HandlerResult;

/// One command of a group: its id and the handlers for read and write requests.
#[derive(Debug, Clone, Copy)]
pub struct CommandDef {
    pub id: u8,
    /// Display name ("echo").
    pub name: &'static str,
    pub read: Option<Handler>,
    pub write: Option<Handler>,
}

/// A group's handler table (`struct mgmt_group`).
#[derive(Debug, Clone)]
pub struct GroupDef {
    pub group: Group,
    /// The name Zephyr's enumeration details report, if it has one ("img mgmt").
    pub name: Option<&'static str>,
    pub commands: Vec<CommandDef>,
}

impl GroupDef {
    /// The handler table size Zephyr reports (highest command id + 1).
    pub fn handler_count(&self) -> usize {
        self.commands.iter().map(|c| c.id as usize + 1).max().unwrap_or(0)
    }

    fn handler(&self, id: u8, op: Op) -> Option<Handler> {
        let c = self.commands.iter().find(|c| c.id == id)?;
        match op {
            Op::Read => c.read,
            Op::Write => c.write,
            _ => None,
        }
    }
}

/// The groups a device registers, in Zephyr's registration order. Add a group here.
///
/// Zephyr registers groups from `MCUMGR_HANDLER_DEFINE` entries, an iterable linker section
/// sorted by handler name (`enum_mgmt`, `fs_mgmt`, `img_mgmt`, `os_mgmt`, ...), each appended
/// to the registry list; enumeration lists them in that order.
pub fn standard_groups(config: &ServerConfig) -> Vec<GroupDef> {
    vec![
        enumeration::group(config),
        fs::group(config),
        image::group(config),
        os::group(config),
        settings::group(config),
        shell::group(config),
        stat::group(config),
        zephyr_basic::group(config),
    ]
}

/// Typed state kept by groups, one value per type (`get_or_default`).
#[derive(Default)]
pub struct StateMap(HashMap<TypeId, Box<dyn Any + Send>>);

impl std::fmt::Debug for StateMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StateMap({} entries)", self.0.len())
    }
}

impl StateMap {
    /// The value of type `T`, made with `T::default()` on first use.
    pub fn get<T: Any + Send + Default>(&mut self) -> &mut T {
        let entry = self.0.entry(TypeId::of::<T>()).or_insert_with(|| Box::new(T::default()));
        match entry.downcast_mut::<T>() {
            Some(t) => t,
            // The map is keyed by the type id, so the box always holds a T.
            None => unreachable!("state map entry of the wrong type"),
        }
    }

    /// Drop everything.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// The server's RAM state: cleared at every boot.
#[derive(Debug, Default)]
pub struct ServerState {
    /// The image upload in progress.
    pub upload: Option<image::Upload>,
    /// Other groups' RAM state.
    pub ram: StateMap,
    /// Requests handled since boot.
    pub requests: u64,
}

/// What a handler works with.
pub struct Ctx<'a> {
    /// The whole device.
    pub dev: &'a mut Device,
    /// The request header.
    pub header: Header,
    /// The request payload (exactly `header.len` bytes).
    pub payload: &'a [u8],
}

impl Ctx<'_> {
    /// The request's protocol version.
    pub fn version(&self) -> Version {
        self.header.version
    }

    /// The payload as CBOR, or `None` if it is empty or not one well-formed item.
    pub fn body_value(&self) -> Option<Value> {
        if self.payload.is_empty() {
            return None;
        }
        cbor::decode_with(self.payload, &request_cbor_limits(self.payload.len())).ok()
    }

    /// Decode the body as `T`, answering `{"rc": 3}` for an empty payload, bad CBOR, a
    /// non-map, a duplicate known key or a known key of the wrong type.
    pub fn decode<T: Body>(&self) -> Result<T, HandlerError> {
        let value = self.body_value().ok_or(EINVAL)?;
        T::from_value(&value).map_err(|_| EINVAL)
    }

    /// Run a flash operation; a power cut turns into [`HandlerError::PowerLost`] (the caller
    /// must return it at once), any other failure is returned to the caller to map to its
    /// group error.
    pub fn flash_op<T>(
        &mut self,
        op: impl FnOnce(&mut crate::flash::SimFlash) -> Result<T, FlashError>,
    ) -> Result<Result<T, FlashError>, HandlerError> {
        match op(&mut self.dev.flash) {
            Err(FlashError::PowerLoss { .. }) => Err(HandlerError::PowerLost),
            other => Ok(other),
        }
    }

    /// Write a note to the device's event log.
    pub fn note(&mut self, text: impl Into<String>) {
        self.dev.log(EventKind::Note(text.into()));
    }
}

/// Request decoding bounds: nothing in a request can be longer than the request.
fn request_cbor_limits(len: usize) -> CborLimits {
    CborLimits { max_depth: 16, max_items: len.max(1), max_string_len: len, max_total: len }
}

/// Encode a reply: header for `request` plus the body in Zephyr style.
pub fn encode_reply(request: &Header, body: &Value) -> Vec<u8> {
    let payload = cbor::encode(body, MapStyle::Indefinite);
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&Header::response_to(request).with_len(len).encode());
    out.extend_from_slice(&payload);
    out
}

/// `{"rc": rc}` (plus `"rsn"`).
fn rc_body(rc: MgmtErr, rsn: Option<&str>, verbose: bool) -> Value {
    let mut m = vec![(Value::text("rc"), Value::from(rc.code()))];
    if let (true, Some(r)) = (verbose, rsn) {
        m.push((Value::text("rsn"), Value::text(r)));
    }
    Value::Map(m)
}

/// What one message produced.
enum Processed {
    /// Send this (if any); go on with the next message.
    Continue(Option<Vec<u8>>),
    /// Send this (if any); stop processing the buffer.
    Stop(Option<Vec<u8>>),
}

impl Device {
    /// Handle one received transport buffer: every SMP message in it, in order. Returns the
    /// reply packets to send, in order (none while the device is off, hung or bricked).
    ///
    /// Never panics on any input; every message's reply is bounded by `buf_size`.
    pub fn handle(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.poll();
        if !self.is_serving() {
            self.log(EventKind::Ignored { bytes: bytes.len(), why: self.state_name() });
            return Vec::new();
        }
        let limits = self.server_config.limits;
        let mut input = bytes;
        if input.len() > limits.buf_size as usize {
            match limits.oversize {
                Oversize::Drop => {
                    self.log(EventKind::Ignored { bytes: bytes.len(), why: "larger than buf_size" });
                    return Vec::new();
                }
                Oversize::Truncate => input = &input[..limits.buf_size as usize],
            }
        }
        let mut replies: Vec<Vec<u8>> = Vec::new();
        self.stats.bump("smp", "rx_bytes", input.len() as u64);
        while !input.is_empty() && self.is_serving() {
            let Some((head, rest)) = input.split_first_chunk::<HEADER_LEN>() else {
                // Fewer than 8 bytes: no header, no reply.
                self.log(EventKind::Ignored { bytes: input.len(), why: "shorter than a header" });
                break;
            };
            let header = Header::from_bytes(head);
            let len = usize::from(header.len);
            if rest.len() < len {
                self.stats.bump("smp", "errors", 1);
                self.log(EventKind::Request { header, result: "ECORRUPT (len past the buffer)".into() });
                replies.push(encode_reply(&header, &rc_body(MgmtErr::ECorrupt, None, false)));
                break;
            }
            let (payload, after) = rest.split_at(len);
            input = after;
            match self.process(header, payload) {
                Processed::Continue(r) => replies.extend(r),
                Processed::Stop(r) => {
                    replies.extend(r);
                    break;
                }
            }
        }
        self.stats.bump("smp", "replies", replies.len() as u64);
        self.stats.bump("smp", "tx_bytes", replies.iter().map(|r| r.len() as u64).sum());
        self.after_activity();
        replies
    }

    /// One message whose payload is complete.
    fn process(&mut self, header: Header, payload: &[u8]) -> Processed {
        self.server.requests += 1;
        self.stats.bump("smp", "requests", 1);
        // Requests per registered group (anything else counts as "other": bounded).
        let field = if self.groups.iter().any(|g| g.group == header.group) {
            header.group.name().replace(' ', "_")
        } else {
            "other".to_string()
        };
        self.stats.bump("smp_grp", &field, 1);
        let verbose = self.server_config.verbose_errors;
        let stop_rc = |dev: &mut Device, rc: MgmtErr, why: &str| {
            dev.stats.bump("smp", "errors", 1);
            dev.log(EventKind::Request { header, result: why.into() });
            Processed::Stop(Some(encode_reply(&header, &rc_body(rc, None, false))))
        };
        if !header.op.is_request() {
            return stop_rc(self, MgmtErr::ENotSup, "ENOTSUP (op)");
        }
        if matches!(header.version, Version::Reserved(_)) {
            return stop_rc(self, MgmtErr::UnsupportedTooNew, "UNSUPPORTED_TOO_NEW");
        }
        let handler = self
            .groups
            .iter()
            .find(|g| g.group == header.group)
            .and_then(|g| g.handler(header.command_id, header.op));
        let Some(handler) = handler else {
            return stop_rc(self, MgmtErr::ENotSup, "ENOTSUP (no handler)");
        };
        let event = hooks::CommandEvent {
            group: header.group,
            command_id: header.command_id,
            op: header.op,
            seq: header.seq,
        };
        let verdict = self.hooks.command_received.as_mut().map(|h| h(event)).unwrap_or_default();
        let result = match HandlerError::from_verdict(&verdict) {
            Some(refusal) => {
                self.log(EventKind::Hook(format!("command received: refused {verdict:?}")));
                Err(refusal)
            }
            None => handler(&mut Ctx { dev: self, header, payload }),
        };
        // A group error with keys after it: the same as a group error, plus trailing keys.
        let (result, trailing) = match result {
            Err(HandlerError::GroupThen { group, rc, after }) => {
                (Err(HandlerError::Group { group, rc, keys: Vec::new(), rsn: None }), after)
            }
            other => (other, Vec::new()),
        };
        if matches!(result, Err(HandlerError::Rc { .. } | HandlerError::Group { .. })) {
            self.stats.bump("smp", "errors", 1);
        }
        let (processed, done, text) = match result {
            Ok(body) => {
                let body = if self.server_config.legacy_rc { with_legacy_rc(body) } else { body };
                let reply = encode_reply(&header, &body);
                if reply.len() > self.server_config.limits.buf_size as usize {
                    let r = encode_reply(&header, &rc_body(MgmtErr::EMsgSize, None, false));
                    (
                        Processed::Stop(Some(r)),
                        hooks::CommandResult::Rc(MgmtErr::EMsgSize),
                        "EMSGSIZE".to_string(),
                    )
                } else {
                    (Processed::Continue(Some(reply)), hooks::CommandResult::Ok, "ok".to_string())
                }
            }
            Err(HandlerError::Rc { rc, rsn }) => {
                let r = encode_reply(&header, &rc_body(rc, rsn, verbose));
                (Processed::Stop(Some(r)), hooks::CommandResult::Rc(rc), format!("rc {}", rc.code()))
            }
            Err(HandlerError::Group { group, rc, keys, rsn }) => {
                let group = group.unwrap_or(header.group);
                match zephyr_group_error_reply(header.version, group, rc) {
                    GroupErrorReply::Err(err) => {
                        let mut m = keys;
                        m.push((Value::text("err"), err.to_value()));
                        m.extend(trailing);
                        let mut r = encode_reply(&header, &Value::Map(m));
                        if r.len() > self.server_config.limits.buf_size as usize {
                            r = encode_reply(&header, &rc_body(MgmtErr::EMsgSize, None, false));
                        }
                        (
                            Processed::Continue(Some(r)),
                            hooks::CommandResult::Group(rc),
                            format!("group {} err {rc}", group.id()),
                        )
                    }
                    GroupErrorReply::Rc(t) => {
                        let r = encode_reply(&header, &rc_body(t, rsn, verbose));
                        let text = format!("group {} err {rc} -> v1 rc {}", group.id(), t.code());
                        (Processed::Continue(Some(r)), hooks::CommandResult::Group(rc), text)
                    }
                    GroupErrorReply::HeaderNeverWritten => (
                        Processed::Continue(None),
                        hooks::CommandResult::NoReply,
                        format!(
                            "group {} err {rc}: v1 translation EOK, Zephyr sends no usable reply",
                            group.id()
                        ),
                    ),
                }
            }
            Err(HandlerError::PowerLost) => {
                self.power_lost();
                (Processed::Stop(None), hooks::CommandResult::NoReply, "power lost".to_string())
            }
            Err(HandlerError::NoReply) => {
                (Processed::Stop(None), hooks::CommandResult::NoReply, "no reply".to_string())
            }
            // Turned into `Group` above.
            Err(HandlerError::GroupThen { .. }) => {
                (Processed::Stop(None), hooks::CommandResult::NoReply, "no reply".to_string())
            }
        };
        if let Some(h) = self.hooks.command_done.as_mut() {
            h((event, done));
        }
        self.log(EventKind::Request { header, result: text });
        processed
    }
}

/// Add `"rc": 0` to a success map (LEGACY_RC_BEHAVIOUR).
fn with_legacy_rc(body: Value) -> Value {
    match body {
        // Handlers that write `"rc"` themselves (stat list, in their own position) keep theirs.
        Value::Map(mut m) if !m.iter().any(|(k, _)| k.as_text() == Some("rc")) => {
            m.push((Value::text("rc"), Value::from(0u8)));
            Value::Map(m)
        }
        other => other,
    }
}
