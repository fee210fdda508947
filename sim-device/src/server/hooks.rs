//! MCUmgr notification callbacks ("hooks"), programmable from Rust.
//!
//! Zephyr lets the application register callbacks on management events
//! (`CONFIG_MCUMGR_MGMT_NOTIFICATION_HOOKS`): it hears every command, can refuse one, can veto
//! a reset, check every upload chunk, add text to `os info`, and police settings and file
//! access. [`Hooks`] holds one optional boxed closure per event; an unset hook allows
//! everything, as a build without the callback does. Verdicts are plain data ([`Verdict`],
//! [`AccessVerdict`]) so scenario files can program them; the small constructors at the end
//! ([`Hooks::deny_reset_unless_forced`], ...) build common closures from data.
//!
//! Every hook that fires is also written to the device's event log.

use smp::error::MgmtErr;
use smp::header::{Group, Op};

/// A hook's answer to an event it may refuse.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Verdict {
    /// Go ahead (`MGMT_CB_OK`).
    #[default]
    Allow,
    /// Refuse with a generic error: the reply is `{"rc": N}` (`MGMT_CB_ERROR_RC`).
    Rc(MgmtErr),
    /// Refuse with a group error (`MGMT_CB_ERROR_ERR`): `{"err": {"group", "rc"}}` for v2,
    /// the group's v1 translation for v1.
    Group { group: Group, rc: u64 },
}

/// A hook's answer to a settings or file access.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AccessVerdict {
    /// Go ahead.
    #[default]
    Allow,
    /// Refuse, as [`Verdict::Rc`] / [`Verdict::Group`] do.
    Deny(Verdict),
    /// Go ahead, but on this path / setting name instead (the callback rewrote the name).
    Redirect(String),
}

/// A command as the "command received" hook sees it (`MGMT_EVT_OP_CMD_RECV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandEvent {
    pub group: Group,
    pub command_id: u8,
    pub op: Op,
    pub seq: u8,
}

/// How a command ended, for the "command done" hook (`MGMT_EVT_OP_CMD_DONE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandResult {
    /// Success reply sent.
    Ok,
    /// `{"rc": N}` sent.
    Rc(MgmtErr),
    /// Group error `rc` sent (in the shape of the request's version).
    Group(u64),
    /// No reply (power was lost, or the CPU stopped).
    NoReply,
}

/// A progress note from a long command (`MGMT_EVT_OP_CMD_STATUS`): currently upload chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusEvent {
    pub group: Group,
    pub command_id: u8,
    /// Bytes accepted so far.
    pub off: u64,
    /// Of how many.
    pub len: u64,
}

/// One upload chunk, before it is written (`MGMT_EVT_OP_IMG_MGMT_DFU_CHUNK`,
/// `img_mgmt_upload_check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadChunk<'a> {
    /// Target image number.
    pub image: u8,
    /// Target slot within the image.
    pub slot: u8,
    /// Offset of the chunk in the image.
    pub off: u64,
    /// Total length of the image.
    pub len: u64,
    pub data: &'a [u8],
    /// The header of the image being uploaded (the first 32 bytes, from the first chunk).
    pub header: Option<&'a [u8]>,
}

/// DFU life-cycle events (`MGMT_EVT_OP_IMG_MGMT_DFU_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DfuEvent {
    /// A new upload began (first chunk accepted).
    Started { image: u8, len: u64 },
    /// An upload ended without completing (error, erase, reset) .
    Stopped,
    /// The last chunk was written.
    ChunkWriteComplete { image: u8 },
    /// An image was marked for test (`permanent` false) or permanent swap.
    Pending { image: u8, permanent: bool },
    /// The running image was confirmed.
    Confirmed { image: u8 },
}

/// A reset request (`MGMT_EVT_OP_OS_MGMT_RESET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetEvent {
    /// `force: true` was sent (decoded as Zephyr does: a CBOR bool).
    pub force: bool,
    /// `boot_mode`, when sent.
    pub boot_mode: Option<u8>,
}

/// An `os info` request (`MGMT_EVT_OP_OS_MGMT_INFO_APPEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoEvent<'a> {
    /// The requested format string (`None` when absent).
    pub format: Option<&'a str>,
    /// What the device built so far.
    pub output: &'a str,
}

/// What a settings command wants to do (`MGMT_EVT_OP_SETTINGS_MGMT_ACCESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsAccessKind {
    Read,
    Write,
    Delete,
    Commit,
    Load,
    Save,
}

/// A settings access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingsAccess<'a> {
    pub kind: SettingsAccessKind,
    /// The setting name (absent for commit/load/save of everything).
    pub name: Option<&'a str>,
    /// The value being written.
    pub value: Option<&'a [u8]>,
}

/// What a file command wants to do (`MGMT_EVT_OP_FS_MGMT_FILE_ACCESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileAccessKind {
    Read,
    Write,
    Status,
    Hash,
}

/// A file access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAccess<'a> {
    pub kind: FileAccessKind,
    pub path: &'a str,
}

/// A hook taking its event by value.
pub type Boxed<A, R> = Box<dyn FnMut(A) -> R + Send>;
/// The upload chunk hook.
pub type UploadChunkHook = Box<dyn for<'a> FnMut(&UploadChunk<'a>) -> Verdict + Send>;
/// The `os info` hook.
pub type InfoHook = Box<dyn for<'a> FnMut(&InfoEvent<'a>) -> Option<String> + Send>;
/// The settings access hook.
pub type SettingsAccessHook = Box<dyn for<'a> FnMut(&SettingsAccess<'a>) -> AccessVerdict + Send>;
/// The file access hook.
pub type FileAccessHook = Box<dyn for<'a> FnMut(&FileAccess<'a>) -> AccessVerdict + Send>;

/// Every hook, unset by default (everything allowed, nothing added).
#[derive(Default)]
pub struct Hooks {
    /// Before a handler runs; a refusal becomes the reply.
    pub command_received: Option<Boxed<CommandEvent, Verdict>>,
    /// Progress of a long command.
    pub command_status: Option<Boxed<StatusEvent, ()>>,
    /// After the reply is built.
    pub command_done: Option<Boxed<(CommandEvent, CommandResult), ()>>,
    /// Each upload chunk before it is written; a refusal resets the upload.
    pub upload_chunk: Option<UploadChunkHook>,
    /// DFU life-cycle notifications.
    pub dfu: Option<Boxed<DfuEvent, ()>>,
    /// A reset request; a refusal is the reply (Zephyr: `{"rc": 10}` EBUSY, typically).
    pub reset: Option<Boxed<ResetEvent, Verdict>>,
    /// `os info`: text to append (joined with one space), if any.
    pub os_info: Option<InfoHook>,
    /// Settings group access.
    pub settings_access: Option<SettingsAccessHook>,
    /// File system group access.
    pub file_access: Option<FileAccessHook>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |b: bool| if b { "set" } else { "-" };
        f.debug_struct("Hooks")
            .field("command_received", &set(self.command_received.is_some()))
            .field("command_status", &set(self.command_status.is_some()))
            .field("command_done", &set(self.command_done.is_some()))
            .field("upload_chunk", &set(self.upload_chunk.is_some()))
            .field("dfu", &set(self.dfu.is_some()))
            .field("reset", &set(self.reset.is_some()))
            .field("os_info", &set(self.os_info.is_some()))
            .field("settings_access", &set(self.settings_access.is_some()))
            .field("file_access", &set(self.file_access.is_some()))
            .finish()
    }
}

impl Hooks {
    /// No hooks.
    pub fn new() -> Hooks {
        Hooks::default()
    }

    /// A reset hook refusing every reset not sent with `force: true`, with `{"rc": 10}`.
    pub fn deny_reset_unless_forced() -> Boxed<ResetEvent, Verdict> {
        Box::new(|e: ResetEvent| if e.force { Verdict::Allow } else { Verdict::Rc(MgmtErr::EBusy) })
    }

    /// An upload hook refusing any chunk that reaches offset `at` or beyond with `verdict`.
    pub fn reject_upload_from(at: u64, verdict: Verdict) -> UploadChunkHook {
        Box::new(
            move |c: &UploadChunk<'_>| {
                if c.off + c.data.len() as u64 > at { verdict.clone() } else { Verdict::Allow }
            },
        )
    }

    /// An `os info` hook that appends fixed text.
    pub fn append_info(text: impl Into<String>) -> InfoHook {
        let text = text.into();
        Box::new(move |_: &InfoEvent<'_>| Some(text.clone()))
    }

    /// A file access hook that answers every access to a path starting with `prefix` with
    /// `verdict`.
    pub fn file_access_for_prefix(prefix: impl Into<String>, verdict: AccessVerdict) -> FileAccessHook {
        let prefix = prefix.into();
        Box::new(
            move |a: &FileAccess<'_>| {
                if a.path.starts_with(&prefix) { verdict.clone() } else { AccessVerdict::Allow }
            },
        )
    }

    /// A settings hook that answers every access to a name starting with `prefix` with
    /// `verdict`.
    pub fn settings_access_for_prefix(
        prefix: impl Into<String>,
        verdict: AccessVerdict,
    ) -> SettingsAccessHook {
        let prefix = prefix.into();
        Box::new(move |a: &SettingsAccess<'_>| {
            if a.name.is_some_and(|n| n.starts_with(&prefix)) {
                verdict.clone()
            } else {
                AccessVerdict::Allow
            }
        })
    }
}
