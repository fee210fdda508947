//! brownout's own SMP client: async (tokio), over any [`ClientTransport`] — the simulator's
//! in-process channel, UDP, or a serial port / PTY.
//!
//! ```text
//!   SmpClient::echo / image_state / image_upload / fs_download / ...
//!        │ typed Request, seq n (wrapping), SMP v2 (or v1)
//!        ▼
//!   call(): send ─► wait ≤ timeout for a reply with one of this request's seqs ─► resend (≤ retries)
//!        │            (stale, duplicate, mismatched replies are counted and dropped)
//!        ▼
//!   Result<typed reply, ClientError>   (the error names the command and the device's code)
//! ```
//!
//! Every request is bounded: each attempt waits at most its timeout, and a request is sent at
//! most `1 + retries` times, so a device that never answers gives [`ClientError::Timeout`], not
//! a hang. The first chunk of an image upload gets a longer timeout (the device erases the slot
//! before it answers; the Go client allowed 40 s), and so does `image erase`.
//!
//! A reply counts as the answer to a request when its header is a response to the same group
//! and command and its sequence number is one this request was sent with (any attempt: a late
//! answer to the first try is as good as one to the second).
//!
//! Protocol version: SMP v2 by default. A v2 request answered with `MGMT_ERR_UNSUPPORTED_TOO_NEW`
//! (13) is resent once as v1 and the client stays on v1; a v1 request answered with
//! `UNSUPPORTED_TOO_OLD` (12) moves it to v2. With v1 a device folds group errors into a generic
//! `rc` (smp-protocol.md §2.2), so errors then name `MGMT_ERR_*` codes only.

pub mod transport;
pub mod upload;

use std::collections::BTreeMap;
use std::hash::{BuildHasher as _, Hasher as _};
use std::time::Duration;

use smp::cbor::MapStyle;
use smp::error::{ErrorBody, MgmtErr};
use smp::groups::enumeration::EnumListResponse;
use smp::groups::fs::{FsHashRequest, FsHashResponse, FsStatusRequest};
use smp::groups::image::{EraseRequest, SlotInfoResponse, StateResponse, StateWriteRequest};
use smp::groups::os::{
    DateTimeSetRequest, EchoRequest, InfoRequest, ParamsResponse, ResetForce, ResetRequest,
};
use smp::groups::settings::{
    SettingsDeleteRequest, SettingsReadRequest, SettingsSaveRequest, SettingsWriteRequest,
};
use smp::groups::shell::{ShellExecRequest, ShellExecResponse};
use smp::groups::stat::{StatShowRequest, StatShowResponse};
use smp::groups::{Command, Empty};
use smp::header::{Header, Version};
use smp::message::{MessageError, Request, Response, ResponseBody};

pub use transport::{
    AnyTransport, ClientTransport, InProcTransport, SerialSettings, SerialTransport, TransportError,
    UdpTransport,
};
pub use upload::{Progress, UploadOptions, UploadSummary};

/// How the client behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Protocol version of requests (v2 unless the device only speaks v1).
    pub version: Version,
    /// Sequence number of the first request; `None` picks one at random (as mcumgr-toolkit).
    pub first_seq: Option<u8>,
    /// How long one attempt of an ordinary request waits for its reply.
    pub timeout: Duration,
    /// How many times a request (or an upload chunk) is resent after the first try.
    pub retries: u32,
    /// How long the first upload chunk waits: the device erases the slot before it answers.
    pub first_chunk_timeout: Duration,
    /// How long `image erase` waits.
    pub erase_timeout: Duration,
    /// Switch protocol version when the device says the requested one is too new / too old.
    pub version_fallback: bool,
    /// Per-command waits overriding `timeout` (and `erase_timeout` for `image erase`). Upload
    /// chunks after the first use `timeout`.
    pub command_timeouts: BTreeMap<Command, Duration>,
}

impl Default for ClientConfig {
    /// v2, random first sequence number, 3 s per attempt, 3 retries, 30 s for the first upload
    /// chunk and for erase.
    fn default() -> ClientConfig {
        ClientConfig {
            version: Version::V2,
            first_seq: None,
            timeout: Duration::from_secs(3),
            retries: 3,
            first_chunk_timeout: Duration::from_secs(30),
            erase_timeout: Duration::from_secs(30),
            version_fallback: true,
            command_timeouts: BTreeMap::new(),
        }
    }
}

/// What the client saw, for tests and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClientStats {
    /// Requests sent, resends included.
    pub sent: u64,
    /// Resends after a timeout.
    pub resends: u64,
    /// Replies dropped: stale or duplicate sequence numbers, other commands, not a response.
    pub discarded: u64,
    /// Replies that matched but could not be decoded (also dropped).
    pub undecodable: u64,
    /// Protocol version switches after `UNSUPPORTED_TOO_NEW` / `_TOO_OLD`.
    pub version_switches: u64,
}

/// Why a command failed. Every variant names the command.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The device answered with an error: a generic `rc` or a group `err`.
    #[error("{command}: the device answered {error}")]
    Device {
        /// The command ("image upload").
        command: String,
        /// The error part of the reply.
        error: ErrorBody,
    },
    /// No usable reply after every attempt.
    #[error(
        "{command}: no reply after {attempts} attempt(s) of {timeout_ms} ms each{}",
        last_bad_reply.as_deref().map(|r| format!(" (last undecodable reply: {r})")).unwrap_or_default()
    )]
    Timeout {
        /// The command.
        command: String,
        /// How many times it was sent.
        attempts: u32,
        /// The wait per attempt.
        timeout_ms: u64,
        /// Why the last matching but undecodable reply was refused, if there was one.
        last_bad_reply: Option<String>,
    },
    /// The transport failed.
    #[error("{command}: {source}")]
    Transport {
        /// The command.
        command: String,
        #[source]
        source: TransportError,
    },
    /// The request could not be encoded (a value too long for one SMP message).
    #[error("{command}: cannot encode the request: {source}")]
    Encode {
        /// The command.
        command: String,
        #[source]
        source: MessageError,
    },
    /// The reply decoded, but is not what this command answers.
    #[error("{command}: unexpected reply {got}")]
    UnexpectedReply {
        /// The command.
        command: String,
        /// What came.
        got: String,
    },
    /// The device broke the command's protocol (an upload offset past the end, a hash
    /// mismatch, no progress).
    #[error("{command}: {what}")]
    Protocol {
        /// The command.
        command: String,
        /// What went wrong.
        what: String,
    },
}

impl ClientError {
    /// The command that failed.
    pub fn command(&self) -> &str {
        match self {
            ClientError::Device { command, .. }
            | ClientError::Timeout { command, .. }
            | ClientError::Transport { command, .. }
            | ClientError::Encode { command, .. }
            | ClientError::UnexpectedReply { command, .. }
            | ClientError::Protocol { command, .. } => command,
        }
    }

    /// The device's error reply, for [`ClientError::Device`].
    pub fn device_error(&self) -> Option<&ErrorBody> {
        match self {
            ClientError::Device { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Take the expected variant out of a reply body, or say what came instead.
macro_rules! expect_reply {
    ($body:expr, $variant:ident, $command:expr) => {
        match $body {
            ResponseBody::$variant(b) => Ok(b),
            other => Err(ClientError::UnexpectedReply {
                command: $command.to_owned(),
                got: other.body_value().map(|v| v.to_string()).unwrap_or_else(|| "(empty)".into()),
            }),
        }
    };
}

/// An SMP client over one transport.
#[derive(Debug)]
pub struct SmpClient<T> {
    transport: T,
    config: ClientConfig,
    version: Version,
    next_seq: u8,
    stats: ClientStats,
}

impl<T: ClientTransport> SmpClient<T> {
    /// A client over `transport`.
    pub fn new(transport: T, config: ClientConfig) -> SmpClient<T> {
        let next_seq = config.first_seq.unwrap_or_else(random_u8);
        SmpClient { transport, version: config.version, next_seq, config, stats: ClientStats::default() }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The settings, to change (a probe with a short timeout and no retries, say).
    pub fn config_mut(&mut self) -> &mut ClientConfig {
        &mut self.config
    }

    /// The protocol version requests are sent with now (after any fallback).
    pub fn version(&self) -> Version {
        self.version
    }

    /// Counters of what happened so far.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }

    /// The transport (to change in-process faults mid-test).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, mutably.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The sequence number the next request will carry.
    pub fn next_seq(&self) -> u8 {
        self.next_seq
    }

    fn take_seq(&mut self) -> u8 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        seq
    }

    /// Send `request` and wait for its reply with the configured timeout (per command, if one
    /// is set for it) and retries.
    pub async fn call(&mut self, request: &Request) -> Result<ResponseBody, ClientError> {
        let timeout = self.timeout_for(request, self.config.timeout);
        self.call_with(request, timeout).await
    }

    /// The wait for `request`: its per-command override, else `default`.
    fn timeout_for(&self, request: &Request, default: Duration) -> Duration {
        request.command().and_then(|c| self.config.command_timeouts.get(&c).copied()).unwrap_or(default)
    }

    /// Send `request`, each attempt waiting at most `timeout`, at most `1 + retries` attempts.
    /// An error reply is [`ClientError::Device`].
    pub async fn call_with(
        &mut self,
        request: &Request,
        timeout: Duration,
    ) -> Result<ResponseBody, ClientError> {
        let command = request.command_name();
        let mut seqs: Vec<u8> = Vec::new();
        let mut attempts: u32 = 0;
        let mut switched = false;
        let mut last_bad_reply = None;
        loop {
            if attempts > self.config.retries {
                return Err(ClientError::Timeout {
                    command,
                    attempts,
                    timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                    last_bad_reply,
                });
            }
            let seq = self.take_seq();
            seqs.push(seq);
            let bytes = request
                .encode(seq, self.version, MapStyle::Definite)
                .map_err(|source| ClientError::Encode { command: command.clone(), source })?;
            if attempts > 0 {
                self.stats.resends += 1;
                tracing::debug!(%command, seq, attempt = attempts + 1, "resending");
            }
            self.stats.sent += 1;
            self.transport
                .send(&bytes)
                .await
                .map_err(|source| ClientError::Transport { command: command.clone(), source })?;
            attempts += 1;
            let deadline = tokio::time::Instant::now() + timeout;
            let reply = self.wait_reply(request, &seqs, deadline, &command, &mut last_bad_reply).await?;
            let Some(response) = reply else { continue };
            match response {
                Response::Ok(body) => return Ok(body),
                Response::Err(error) => {
                    if let Some(v) = self.fallback_version(&error)
                        && !switched
                    {
                        tracing::info!(%command, from = %self.version, to = %v, "device wants another SMP version");
                        self.version = v;
                        self.stats.version_switches += 1;
                        switched = true;
                        // The switch is not a retry of a lost request.
                        attempts -= 1;
                        continue;
                    }
                    return Err(ClientError::Device { command, error });
                }
            }
        }
    }

    /// The version to switch to after this error reply, if any.
    fn fallback_version(&self, error: &ErrorBody) -> Option<Version> {
        if !self.config.version_fallback || error.err.is_some() {
            return None;
        }
        match (error.rc?, self.version) {
            (MgmtErr::UnsupportedTooNew, Version::V2) => Some(Version::V1),
            (MgmtErr::UnsupportedTooOld, Version::V1) => Some(Version::V2),
            _ => None,
        }
    }

    /// Receive until a reply to `request` with one of `seqs` arrives or `deadline` passes.
    async fn wait_reply(
        &mut self,
        request: &Request,
        seqs: &[u8],
        deadline: tokio::time::Instant,
        command: &str,
        last_bad_reply: &mut Option<String>,
    ) -> Result<Option<Response>, ClientError> {
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let packet = self
                .transport
                .recv(left)
                .await
                .map_err(|source| ClientError::Transport { command: command.to_owned(), source })?;
            let Some(packet) = packet else { return Ok(None) };
            let Ok((header, _)) = Header::parse(&packet) else {
                self.stats.discarded += 1;
                continue;
            };
            if !answers(&header, request, seqs) {
                tracing::debug!(seq = header.seq, group = %header.group.name(), id = header.command_id, "reply discarded: not for this request");
                self.stats.discarded += 1;
                continue;
            }
            match Response::decode(&packet) {
                Ok((_, response, _)) => return Ok(Some(response)),
                Err(e) => {
                    tracing::debug!(seq = header.seq, "undecodable reply dropped: {e}");
                    self.stats.undecodable += 1;
                    *last_bad_reply = Some(e.to_string());
                }
            }
        }
    }

    // --------------------------------------------------------------------------------------------
    // OS group
    // --------------------------------------------------------------------------------------------

    /// `os echo`: the device's copy of `text`.
    pub async fn echo(&mut self, text: &str) -> Result<String, ClientError> {
        let body = self.call(&Request::Echo(EchoRequest { d: Some(text.to_owned()) })).await?;
        expect_reply!(body, Echo, "os echo").map(|r| r.r)
    }

    /// `os params`: the device's SMP buffer size and count.
    pub async fn params(&mut self) -> Result<ParamsResponse, ClientError> {
        let body = self.call(&Request::Params(Empty)).await?;
        expect_reply!(body, Params, "os params")
    }

    /// `os reset`, with `force` past a vetoing hook. The device reboots after it answers.
    pub async fn reset(&mut self, force: bool) -> Result<(), ClientError> {
        self.reset_with(force, None).await
    }

    /// `os reset` with `force` and a `boot_mode` (0: the application; 1: the bootloader's
    /// serial recovery, where the device supports it).
    pub async fn reset_with(&mut self, force: bool, boot_mode: Option<u8>) -> Result<(), ClientError> {
        let force = force.then_some(ResetForce::Bool(true));
        let body = self.call(&Request::Reset(ResetRequest { force, boot_mode })).await?;
        expect_reply!(body, Reset, "os reset").map(|_| ())
    }

    /// `os info` with an optional uname-like format ("a", "sv", ...).
    pub async fn os_info(&mut self, format: Option<&str>) -> Result<String, ClientError> {
        let body = self.call(&Request::Info(InfoRequest { format: format.map(str::to_owned) })).await?;
        expect_reply!(body, Info, "os info").map(|r| r.output)
    }

    /// `os datetime get`: the device's RTC as text.
    pub async fn datetime_get(&mut self) -> Result<String, ClientError> {
        let body = self.call(&Request::DateTimeGet(Empty)).await?;
        expect_reply!(body, DateTimeGet, "os datetime get").map(|r| r.datetime)
    }

    /// `os datetime set` to `datetime` (`YYYY-MM-DDTHH:MM:SS[.mmm]`).
    pub async fn datetime_set(&mut self, datetime: &str) -> Result<(), ClientError> {
        let body =
            self.call(&Request::DateTimeSet(DateTimeSetRequest { datetime: datetime.to_owned() })).await?;
        expect_reply!(body, DateTimeSet, "os datetime set").map(|_| ())
    }

    // --------------------------------------------------------------------------------------------
    // Image group
    // --------------------------------------------------------------------------------------------

    /// `image state read`: every slot holding a valid image, with its flags.
    pub async fn image_state(&mut self) -> Result<StateResponse, ClientError> {
        let body = self.call(&Request::ImageStateRead(Empty)).await?;
        expect_reply!(body, ImageStateRead, "image state read")
    }

    /// Mark the image with `hash` for a test boot; returns the new state.
    pub async fn image_test(&mut self, hash: &[u8]) -> Result<StateResponse, ClientError> {
        let body = self.call(&Request::ImageStateWrite(StateWriteRequest::test(hash))).await?;
        expect_reply!(body, ImageStateWrite, "image state write")
    }

    /// Confirm the image with `hash`, or the running one; returns the new state.
    pub async fn image_confirm(&mut self, hash: Option<&[u8]>) -> Result<StateResponse, ClientError> {
        let body = self.call(&Request::ImageStateWrite(StateWriteRequest::confirm(hash))).await?;
        expect_reply!(body, ImageStateWrite, "image state write")
    }

    /// `image erase` of `slot` (default: the one not running). Waits the erase timeout.
    pub async fn image_erase(&mut self, slot: Option<u32>) -> Result<(), ClientError> {
        let request = Request::ImageErase(EraseRequest { slot });
        let timeout = self.timeout_for(&request, self.config.erase_timeout);
        let body = self.call_with(&request, timeout).await?;
        expect_reply!(body, ImageErase, "image erase").map(|_| ())
    }

    /// `image slot info`: the slots of every image and their sizes.
    pub async fn slot_info(&mut self) -> Result<SlotInfoResponse, ClientError> {
        let body = self.call(&Request::ImageSlotInfo(Empty)).await?;
        expect_reply!(body, ImageSlotInfo, "image slot info")
    }

    // --------------------------------------------------------------------------------------------
    // Statistics, settings, shell, enumeration, file system
    // --------------------------------------------------------------------------------------------

    /// `stat list`: the names of the statistics groups.
    pub async fn stat_list(&mut self) -> Result<Vec<String>, ClientError> {
        let body = self.call(&Request::StatList(Empty)).await?;
        expect_reply!(body, StatList, "stat list").map(|r| r.stat_list)
    }

    /// `stat show NAME`: one group's counters.
    pub async fn stat_show(&mut self, name: &str) -> Result<StatShowResponse, ClientError> {
        let body = self.call(&Request::StatShow(StatShowRequest { name: name.to_owned() })).await?;
        expect_reply!(body, StatShow, "stat show")
    }

    /// `settings read NAME`: the value's bytes.
    pub async fn settings_read(&mut self, name: &str, max_size: Option<u32>) -> Result<Vec<u8>, ClientError> {
        let body = self
            .call(&Request::SettingsRead(SettingsReadRequest { name: name.to_owned(), max_size }))
            .await?;
        expect_reply!(body, SettingsRead, "settings read").map(|r| r.val)
    }

    /// `settings write NAME VALUE`.
    pub async fn settings_write(&mut self, name: &str, val: &[u8]) -> Result<(), ClientError> {
        let request =
            Request::SettingsWrite(SettingsWriteRequest { name: name.to_owned(), val: val.to_vec() });
        let body = self.call(&request).await?;
        expect_reply!(body, SettingsWrite, "settings write").map(|_| ())
    }

    /// `settings delete NAME`.
    pub async fn settings_delete(&mut self, name: &str) -> Result<(), ClientError> {
        let body =
            self.call(&Request::SettingsDelete(SettingsDeleteRequest { name: name.to_owned() })).await?;
        expect_reply!(body, SettingsDelete, "settings delete").map(|_| ())
    }

    /// `settings save` (all, or the subtree `name`).
    pub async fn settings_save(&mut self, name: Option<&str>) -> Result<(), ClientError> {
        let body =
            self.call(&Request::SettingsSave(SettingsSaveRequest { name: name.map(str::to_owned) })).await?;
        expect_reply!(body, SettingsSave, "settings save").map(|_| ())
    }

    /// `settings commit`.
    pub async fn settings_commit(&mut self) -> Result<(), ClientError> {
        let body = self.call(&Request::SettingsCommit(Empty)).await?;
        expect_reply!(body, SettingsCommit, "settings commit").map(|_| ())
    }

    /// `shell exec`: run a command line on the device's shell.
    pub async fn shell_exec(&mut self, argv: &[String]) -> Result<ShellExecResponse, ClientError> {
        let body = self.call(&Request::ShellExec(ShellExecRequest { argv: argv.to_vec() })).await?;
        expect_reply!(body, ShellExec, "shell exec")
    }

    /// `enum list`: the group ids the device serves.
    pub async fn enum_list(&mut self) -> Result<Vec<u16>, ClientError> {
        let body = self.call(&Request::EnumList(Empty)).await?;
        expect_reply!(body, EnumList, "enum list").map(|r: EnumListResponse| r.groups)
    }

    /// `fs status NAME`: the file's length.
    pub async fn fs_status(&mut self, name: &str) -> Result<u64, ClientError> {
        let body = self.call(&Request::FsStatus(FsStatusRequest { name: name.to_owned() })).await?;
        expect_reply!(body, FsStatus, "fs status").map(|r| r.len)
    }

    /// `fs hash NAME [TYPE]`: a checksum or hash of the whole file ("crc32", "sha256").
    pub async fn fs_hash(
        &mut self,
        name: &str,
        hash_type: Option<&str>,
    ) -> Result<FsHashResponse, ClientError> {
        let request = FsHashRequest {
            name: name.to_owned(),
            hash_type: hash_type.map(str::to_owned),
            off: None,
            len: None,
        };
        let body = self.call(&Request::FsHash(request)).await?;
        expect_reply!(body, FsHash, "fs hash")
    }
}

/// True if `reply` answers `request` sent with one of `seqs`.
fn answers(reply: &Header, request: &Request, seqs: &[u8]) -> bool {
    reply.op.is_response()
        && reply.op == request.op().response()
        && reply.group == request.group()
        && reply.command_id == request.command_id()
        && seqs.contains(&reply.seq)
}

/// A random byte for the first sequence number (no extra dependency: the standard library's
/// randomly keyed hasher).
fn random_u8() -> u8 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x5eed);
    h.finish().to_le_bytes()[0]
}
