//! SMP error codes and the two ways a server reports them.
//!
//! * **Generic** errors ([`MgmtErr`], `MGMT_ERR_*`): the reply body is `{"rc": N}` (a signed int),
//!   optionally with a text `"rsn"`, for both protocol versions.
//! * **Group** errors ([`GroupErr`]): each group has its own code table ([`OsErr`], [`ImageErr`],
//!   ...). To an SMP v2 request Zephyr answers `{"err": {"group": G, "rc": R}}` (other keys may
//!   already be in the map); to a v1 request it discards the map and sends `{"rc": T}`, where `T` is
//!   the group's translation of `R` into a generic code ([`GroupErr::v1_translation`]).
//!
//! [`zephyr_group_error_reply`] says which of the two a Zephyr server sends, quirks included.
//! [`ErrorBody`] is the decoded error part of any reply body (either or both shapes).

use crate::cbor::{BodyError, Fields, Value};
use crate::header::{Group, Version};
use core::fmt;

/// Generic SMP error codes (`enum mcumgr_err_t`), sent as `{"rc": N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MgmtErr {
    /// 0: success.
    EOk,
    /// 1: unknown error.
    EUnknown,
    /// 2: out of memory.
    ENoMem,
    /// 3: bad input (CBOR decode failure, missing required key, wrong type).
    EInval,
    /// 4: timed out.
    ETimeout,
    /// 5: no such entry.
    ENoEnt,
    /// 6: current state disallows the command.
    EBadState,
    /// 7: response too large.
    EMsgSize,
    /// 8: command, group or op not supported.
    ENotSup,
    /// 9: corrupt message.
    ECorrupt,
    /// 10: blocked by another command.
    EBusy,
    /// 11: access denied.
    EAccessDenied,
    /// 12: requested SMP version too old.
    UnsupportedTooOld,
    /// 13: requested SMP version too new.
    UnsupportedTooNew,
    /// 256: first user-defined code.
    EPerUser,
    /// Any other value (user-defined codes above 256, negative values, ...).
    Unknown(i64),
}

impl MgmtErr {
    /// The error for an `rc` value.
    pub fn from_code(code: i64) -> MgmtErr {
        match code {
            0 => MgmtErr::EOk,
            1 => MgmtErr::EUnknown,
            2 => MgmtErr::ENoMem,
            3 => MgmtErr::EInval,
            4 => MgmtErr::ETimeout,
            5 => MgmtErr::ENoEnt,
            6 => MgmtErr::EBadState,
            7 => MgmtErr::EMsgSize,
            8 => MgmtErr::ENotSup,
            9 => MgmtErr::ECorrupt,
            10 => MgmtErr::EBusy,
            11 => MgmtErr::EAccessDenied,
            12 => MgmtErr::UnsupportedTooOld,
            13 => MgmtErr::UnsupportedTooNew,
            256 => MgmtErr::EPerUser,
            other => MgmtErr::Unknown(other),
        }
    }

    /// The `rc` value.
    pub fn code(self) -> i64 {
        match self {
            MgmtErr::EOk => 0,
            MgmtErr::EUnknown => 1,
            MgmtErr::ENoMem => 2,
            MgmtErr::EInval => 3,
            MgmtErr::ETimeout => 4,
            MgmtErr::ENoEnt => 5,
            MgmtErr::EBadState => 6,
            MgmtErr::EMsgSize => 7,
            MgmtErr::ENotSup => 8,
            MgmtErr::ECorrupt => 9,
            MgmtErr::EBusy => 10,
            MgmtErr::EAccessDenied => 11,
            MgmtErr::UnsupportedTooOld => 12,
            MgmtErr::UnsupportedTooNew => 13,
            MgmtErr::EPerUser => 256,
            MgmtErr::Unknown(v) => v,
        }
    }

    /// The C name without the `MGMT_ERR_` prefix ("EINVAL"), or `None` for unknown codes.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            MgmtErr::EOk => "EOK",
            MgmtErr::EUnknown => "EUNKNOWN",
            MgmtErr::ENoMem => "ENOMEM",
            MgmtErr::EInval => "EINVAL",
            MgmtErr::ETimeout => "ETIMEOUT",
            MgmtErr::ENoEnt => "ENOENT",
            MgmtErr::EBadState => "EBADSTATE",
            MgmtErr::EMsgSize => "EMSGSIZE",
            MgmtErr::ENotSup => "ENOTSUP",
            MgmtErr::ECorrupt => "ECORRUPT",
            MgmtErr::EBusy => "EBUSY",
            MgmtErr::EAccessDenied => "EACCESSDENIED",
            MgmtErr::UnsupportedTooOld => "UNSUPPORTED_TOO_OLD",
            MgmtErr::UnsupportedTooNew => "UNSUPPORTED_TOO_NEW",
            MgmtErr::EPerUser => "EPERUSER",
            MgmtErr::Unknown(_) => return None,
        })
    }
}

impl fmt::Display for MgmtErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "MGMT_ERR_{name} ({})", self.code()),
            None => write!(f, "rc {}", self.code()),
        }
    }
}

/// Declares one group's error enum: numbered variants with their C names, an `Other(u64)`
/// catch-all, conversions, and the group's v1 translation.
macro_rules! group_errors {
    (
        $(#[$meta:meta])*
        $name:ident, prefix $prefix:literal, {
            $( $(#[$vmeta:meta])* $code:literal => $variant:ident $cname:literal -> $v1:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A code this crate does not know; carries the value.
            Other(u64),
        }

        impl $name {
            /// The C name prefix of this group's codes.
            pub const PREFIX: &'static str = $prefix;

            /// The error for a group `rc` value.
            pub fn from_code(code: u64) -> $name {
                match code {
                    $( $code => $name::$variant, )*
                    other => $name::Other(other),
                }
            }

            /// The group `rc` value.
            pub fn code(self) -> u64 {
                match self {
                    $( $name::$variant => $code, )*
                    $name::Other(v) => v,
                }
            }

            /// The C name without the prefix ("HASH_NOT_FOUND"), or `None` for unknown codes.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($cname), )*
                    $name::Other(_) => None,
                }
            }

            /// The generic code a v1 (legacy) client receives instead of this group error,
            /// per the group's `*_translate_error_code` in Zephyr.
            pub fn v1_translation(self) -> MgmtErr {
                match self {
                    $( $name::$variant => MgmtErr::$v1, )*
                    $name::Other(_) => MgmtErr::EUnknown,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}{} ({})", Self::PREFIX, n, self.code()),
                    None => write!(f, "{}? ({})", Self::PREFIX, self.code()),
                }
            }
        }
    };
}

group_errors! {
    /// OS group (0) errors, `enum os_mgmt_err_code_t`.
    OsErr, prefix "OS_MGMT_ERR_", {
        /// 0: no error.
        0 => Ok "OK" -> EOk,
        /// 1: unknown error.
        1 => Unknown "UNKNOWN" -> EUnknown,
        /// 2: info `format` has an unknown character.
        2 => InvalidFormat "INVALID_FORMAT" -> EInval,
        /// 3: bootloader info query has no answer.
        3 => QueryYieldsNoAnswer "QUERY_YIELDS_NO_ANSWER" -> ENoEnt,
        /// 4: the RTC has not been set.
        4 => RtcNotSet "RTC_NOT_SET" -> ENoEnt,
        /// 5: the RTC command failed.
        5 => RtcCommandFailed "RTC_COMMAND_FAILED" -> EUnknown,
        /// 6: query response value not valid.
        6 => QueryResponseValueNotValid "QUERY_RESPONSE_VALUE_NOT_VALID" -> EUnknown,
        /// 7: heap statistics could not be fetched (newest header).
        7 => HeapStatsFetchFailed "HEAP_STATS_FETCH_FAILED" -> EUnknown,
    }
}

group_errors! {
    /// Image group (1) errors, `enum img_mgmt_err_code_t` (older prefix `IMG_MGMT_RET_RC_`).
    ImageErr, prefix "IMG_MGMT_ERR_", {
        /// 0: no error.
        0 => Ok "OK" -> EOk,
        /// 1: unknown error.
        1 => Unknown "UNKNOWN" -> EUnknown,
        /// 2: flash configuration query failed.
        2 => FlashConfigQueryFail "FLASH_CONFIG_QUERY_FAIL" -> EUnknown,
        /// 3: no image in the slot.
        3 => NoImage "NO_IMAGE" -> ENoEnt,
        /// 4: the image has no TLVs.
        4 => NoTlvs "NO_TLVS" -> ENoEnt,
        /// 5: invalid TLV.
        5 => InvalidTlv "INVALID_TLV" -> EUnknown,
        /// 6: more than one hash TLV.
        6 => TlvMultipleHashesFound "TLV_MULTIPLE_HASHES_FOUND" -> EUnknown,
        /// 7: TLV of invalid size.
        7 => TlvInvalidSize "TLV_INVALID_SIZE" -> EUnknown,
        /// 8: no slot holds an image with the given hash.
        8 => HashNotFound "HASH_NOT_FOUND" -> EUnknown,
        /// 9: no free slot to upload to / slot in use.
        9 => NoFreeSlot "NO_FREE_SLOT" -> EBadState,
        /// 10: flash area could not be opened.
        10 => FlashOpenFailed "FLASH_OPEN_FAILED" -> EUnknown,
        /// 11: flash read failed.
        11 => FlashReadFailed "FLASH_READ_FAILED" -> EUnknown,
        /// 12: flash write failed.
        12 => FlashWriteFailed "FLASH_WRITE_FAILED" -> EUnknown,
        /// 13: flash erase failed.
        13 => FlashEraseFailed "FLASH_ERASE_FAILED" -> EUnknown,
        /// 14: invalid slot.
        14 => InvalidSlot "INVALID_SLOT" -> EInval,
        /// 15: out of memory.
        15 => NoFreeMemory "NO_FREE_MEMORY" -> ENoMem,
        /// 16: flash context already set.
        16 => FlashContextAlreadySet "FLASH_CONTEXT_ALREADY_SET" -> EUnknown,
        /// 17: flash context not set.
        17 => FlashContextNotSet "FLASH_CONTEXT_NOT_SET" -> EUnknown,
        /// 18: flash area device is null.
        18 => FlashAreaDeviceNull "FLASH_AREA_DEVICE_NULL" -> EUnknown,
        /// 19: invalid page offset.
        19 => InvalidPageOffset "INVALID_PAGE_OFFSET" -> EInval,
        /// 20: `off` missing.
        20 => InvalidOffset "INVALID_OFFSET" -> EInval,
        /// 21: `len` missing on the first chunk.
        21 => InvalidLength "INVALID_LENGTH" -> EInval,
        /// 22: first chunk too short for an image header.
        22 => InvalidImageHeader "INVALID_IMAGE_HEADER" -> EInval,
        /// 23: image header magic is wrong.
        23 => InvalidImageHeaderMagic "INVALID_IMAGE_HEADER_MAGIC" -> EUnknown,
        /// 24: hash missing or of the wrong length.
        24 => InvalidHash "INVALID_HASH" -> EInval,
        /// 25: invalid flash address.
        25 => InvalidFlashAddress "INVALID_FLASH_ADDRESS" -> EInval,
        /// 26: running version could not be read.
        26 => VersionGetFailed "VERSION_GET_FAILED" -> EUnknown,
        /// 27: `upgrade` requested and the new version is not newer.
        27 => CurrentVersionIsNewer "CURRENT_VERSION_IS_NEWER" -> EBadState,
        /// 28: another image is already pending.
        28 => ImageAlreadyPending "IMAGE_ALREADY_PENDING" -> EBadState,
        /// 29: invalid vector table.
        29 => InvalidImageVectorTable "INVALID_IMAGE_VECTOR_TABLE" -> EUnknown,
        /// 30: image larger than the slot.
        30 => InvalidImageTooLarge "INVALID_IMAGE_TOO_LARGE" -> EUnknown,
        /// 31: chunk runs past the declared length.
        31 => InvalidImageDataOverrun "INVALID_IMAGE_DATA_OVERRUN" -> EUnknown,
        /// 32: confirmation denied.
        32 => ImageConfirmationDenied "IMAGE_CONFIRMATION_DENIED" -> EUnknown,
        /// 33: setting the active slot for test denied.
        33 => ImageSettingTestToActiveDenied "IMAGE_SETTING_TEST_TO_ACTIVE_DENIED" -> EUnknown,
        /// 34: active slot not known (newest).
        34 => ActiveSlotNotKnown "ACTIVE_SLOT_NOT_KNOWN" -> EUnknown,
    }
}

group_errors! {
    /// Statistics group (2) errors, `stat_mgmt_err_code_t` (older `STAT_MGMT_RET_RC_*`).
    StatErr, prefix "STAT_MGMT_ERR_", {
        /// 0: no error.
        0 => Ok "OK" -> EOk,
        /// 1: unknown error.
        1 => Unknown "UNKNOWN" -> EUnknown,
        /// 2: invalid group.
        2 => InvalidGroup "INVALID_GROUP" -> ENoEnt,
        /// 3: no statistics group of that name.
        3 => InvalidStatName "INVALID_STAT_NAME" -> ENoEnt,
        /// 4: invalid stat size.
        4 => InvalidStatSize "INVALID_STAT_SIZE" -> EInval,
        /// 5: walk aborted.
        5 => WalkAborted "WALK_ABORTED" -> EUnknown,
    }
}

group_errors! {
    /// Settings group (3) errors, `settings_mgmt_ret_code_t`.
    SettingsErr, prefix "SETTINGS_MGMT_ERR_", {
        /// 0: no error.
        0 => Ok "OK" -> EOk,
        /// 1: unknown error.
        1 => Unknown "UNKNOWN" -> EUnknown,
        /// 2: key name too long.
        2 => KeyTooLong "KEY_TOO_LONG" -> EInval,
        /// 3: key not found.
        3 => KeyNotFound "KEY_NOT_FOUND" -> ENoEnt,
        /// 4: read not supported.
        4 => ReadNotSupported "READ_NOT_SUPPORTED" -> ENoEnt,
        /// 5: root key not found.
        5 => RootKeyNotFound "ROOT_KEY_NOT_FOUND" -> EUnknown,
        /// 6: write not supported.
        6 => WriteNotSupported "WRITE_NOT_SUPPORTED" -> EUnknown,
        /// 7: delete not supported.
        7 => DeleteNotSupported "DELETE_NOT_SUPPORTED" -> EUnknown,
        /// 8: save not supported (newer).
        8 => SaveNotSupported "SAVE_NOT_SUPPORTED" -> EUnknown,
    }
}

group_errors! {
    /// File system group (8) errors, `enum fs_mgmt_err_code_t`.
    FsErr, prefix "FS_MGMT_ERR_", {
        /// 0: no error.
        0 => Ok "OK" -> EOk,
        /// 1: unknown error.
        1 => Unknown "UNKNOWN" -> EUnknown,
        /// 2: invalid file name.
        2 => FileInvalidName "FILE_INVALID_NAME" -> EInval,
        /// 3: file not found.
        3 => FileNotFound "FILE_NOT_FOUND" -> ENoEnt,
        /// 4: path is a directory.
        4 => FileIsDirectory "FILE_IS_DIRECTORY" -> EUnknown,
        /// 5: open failed.
        5 => FileOpenFailed "FILE_OPEN_FAILED" -> EUnknown,
        /// 6: seek failed.
        6 => FileSeekFailed "FILE_SEEK_FAILED" -> EUnknown,
        /// 7: read failed.
        7 => FileReadFailed "FILE_READ_FAILED" -> EUnknown,
        /// 8: truncate failed.
        8 => FileTruncateFailed "FILE_TRUNCATE_FAILED" -> EUnknown,
        /// 9: delete failed.
        9 => FileDeleteFailed "FILE_DELETE_FAILED" -> EUnknown,
        /// 10: write failed.
        10 => FileWriteFailed "FILE_WRITE_FAILED" -> EUnknown,
        /// 11: upload offset is not the file's current size (reply also carries `len`).
        11 => FileOffsetNotValid "FILE_OFFSET_NOT_VALID" -> EUnknown,
        /// 12: offset larger than the file.
        12 => FileOffsetLargerThanFile "FILE_OFFSET_LARGER_THAN_FILE" -> EUnknown,
        /// 13: unknown hash/checksum type.
        13 => ChecksumHashNotFound "CHECKSUM_HASH_NOT_FOUND" -> EInval,
        /// 14: mount point not found.
        14 => MountPointNotFound "MOUNT_POINT_NOT_FOUND" -> ENoEnt,
        /// 15: read-only file system.
        15 => ReadOnlyFilesystem "READ_ONLY_FILESYSTEM" -> EUnknown,
        /// 16: file is empty.
        16 => FileEmpty "FILE_EMPTY" -> EUnknown,
        /// 17: close failed (newest).
        17 => FileCloseFailed "FILE_CLOSE_FAILED" -> EUnknown,
    }
}

group_errors! {
    /// Shell group (9) errors (`SHELL_MGMT_ERR_*`, older `SHELL_MGMT_RET_RC_*`).
    ShellErr, prefix "SHELL_MGMT_ERR_", {
        /// 0: no error.
        0 => Ok "OK" -> EOk,
        /// 1: unknown error.
        1 => Unknown "UNKNOWN" -> EUnknown,
        /// 2: command line too long.
        2 => CommandTooLong "COMMAND_TOO_LONG" -> EInval,
        /// 3: empty command.
        3 => EmptyCommand "EMPTY_COMMAND" -> EInval,
    }
}

group_errors! {
    /// Enumeration group (10) errors.
    EnumErr, prefix "ENUM_MGMT_ERR_", {
        /// 0: no error.
        0 => Ok "OK" -> EOk,
        /// 1: unknown error.
        1 => Unknown "UNKNOWN" -> EUnknown,
        /// 2: too many group entries.
        2 => TooManyGroupEntries "TOO_MANY_GROUP_ENTRIES" -> EInval,
        /// 3: not enough heap for the entries.
        3 => InsufficientHeapForEntries "INSUFFICIENT_HEAP_FOR_ENTRIES" -> EUnknown,
        /// 4: index past the last group.
        4 => IndexTooLarge "INDEX_TOO_LARGE" -> EUnknown,
    }
}

group_errors! {
    /// Zephyr basic group (63) errors. Note the v1 translation of 3 and 4 to EOK — a bug in
    /// Zephyr's source, reproduced on purpose.
    ZephyrBasicErr, prefix "ZEPHYRBASIC_MGMT_ERR_", {
        /// 0: no error.
        0 => Ok "OK" -> EOk,
        /// 1: unknown error.
        1 => Unknown "UNKNOWN" -> EUnknown,
        /// 2: storage flash area could not be opened.
        2 => FlashOpenFailed "FLASH_OPEN_FAILED" -> ENoEnt,
        /// 3: flash configuration query failed (v1: EOK!).
        3 => FlashConfigQueryFail "FLASH_CONFIG_QUERY_FAIL" -> EOk,
        /// 4: flash erase failed (v1: EOK!).
        4 => FlashEraseFailed "FLASH_ERASE_FAILED" -> EOk,
    }
}

/// A group error code, typed by the group that reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupCode {
    /// Group 0.
    Os(OsErr),
    /// Group 1.
    Image(ImageErr),
    /// Group 2.
    Stat(StatErr),
    /// Group 3.
    Settings(SettingsErr),
    /// Group 8.
    Fs(FsErr),
    /// Group 9.
    Shell(ShellErr),
    /// Group 10.
    Enumeration(EnumErr),
    /// Group 63.
    ZephyrBasic(ZephyrBasicErr),
    /// A group without a code table here (v1 translation: EUNKNOWN, as Zephyr does for groups
    /// without a translation function).
    Other {
        /// The group.
        group: Group,
        /// The code.
        rc: u64,
    },
}

impl GroupCode {
    /// The group that reported the error.
    pub fn group(self) -> Group {
        match self {
            GroupCode::Os(_) => Group::Os,
            GroupCode::Image(_) => Group::Image,
            GroupCode::Stat(_) => Group::Stat,
            GroupCode::Settings(_) => Group::Settings,
            GroupCode::Fs(_) => Group::Fs,
            GroupCode::Shell(_) => Group::Shell,
            GroupCode::Enumeration(_) => Group::Enumeration,
            GroupCode::ZephyrBasic(_) => Group::ZephyrBasic,
            GroupCode::Other { group, .. } => group,
        }
    }

    /// The numeric code.
    pub fn code(self) -> u64 {
        match self {
            GroupCode::Os(e) => e.code(),
            GroupCode::Image(e) => e.code(),
            GroupCode::Stat(e) => e.code(),
            GroupCode::Settings(e) => e.code(),
            GroupCode::Fs(e) => e.code(),
            GroupCode::Shell(e) => e.code(),
            GroupCode::Enumeration(e) => e.code(),
            GroupCode::ZephyrBasic(e) => e.code(),
            GroupCode::Other { rc, .. } => rc,
        }
    }
}

impl fmt::Display for GroupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupCode::Os(e) => e.fmt(f),
            GroupCode::Image(e) => e.fmt(f),
            GroupCode::Stat(e) => e.fmt(f),
            GroupCode::Settings(e) => e.fmt(f),
            GroupCode::Fs(e) => e.fmt(f),
            GroupCode::Shell(e) => e.fmt(f),
            GroupCode::Enumeration(e) => e.fmt(f),
            GroupCode::ZephyrBasic(e) => e.fmt(f),
            GroupCode::Other { group, rc } => write!(f, "{} error {rc}", group.name()),
        }
    }
}

/// The v2 `"err": {"group": G, "rc": R}` value: a group-specific error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupErr {
    /// The group id as sent (not necessarily the request's group: stat errors came as 63
    /// before Feb 2026).
    pub group: u16,
    /// The group's error code.
    pub rc: u64,
}

impl GroupErr {
    /// A group error.
    pub fn new(group: Group, rc: u64) -> GroupErr {
        GroupErr { group: group.id(), rc }
    }

    /// The code, typed by the reporting group.
    pub fn code(self) -> GroupCode {
        match Group::from_id(self.group) {
            Group::Os => GroupCode::Os(OsErr::from_code(self.rc)),
            Group::Image => GroupCode::Image(ImageErr::from_code(self.rc)),
            Group::Stat => GroupCode::Stat(StatErr::from_code(self.rc)),
            Group::Settings => GroupCode::Settings(SettingsErr::from_code(self.rc)),
            Group::Fs => GroupCode::Fs(FsErr::from_code(self.rc)),
            Group::Shell => GroupCode::Shell(ShellErr::from_code(self.rc)),
            Group::Enumeration => GroupCode::Enumeration(EnumErr::from_code(self.rc)),
            Group::ZephyrBasic => GroupCode::ZephyrBasic(ZephyrBasicErr::from_code(self.rc)),
            group => GroupCode::Other { group, rc: self.rc },
        }
    }

    /// The generic code a v1 client gets for this error (Zephyr's per-group translation;
    /// groups without one give EUNKNOWN). The code is first cut to 16 bits, as Zephyr stores it.
    pub fn v1_translation(self) -> MgmtErr {
        let rc = self.rc & 0xffff;
        match (GroupErr { rc, ..self }).code() {
            GroupCode::Os(e) => e.v1_translation(),
            GroupCode::Image(e) => e.v1_translation(),
            GroupCode::Stat(e) => e.v1_translation(),
            GroupCode::Settings(e) => e.v1_translation(),
            GroupCode::Fs(e) => e.v1_translation(),
            GroupCode::Shell(e) => e.v1_translation(),
            GroupCode::Enumeration(e) => e.v1_translation(),
            GroupCode::ZephyrBasic(e) => e.v1_translation(),
            GroupCode::Other { .. } => MgmtErr::EUnknown,
        }
    }

    /// The `{"group": G, "rc": R}` map.
    pub fn to_value(&self) -> Value {
        Value::map([("group", Value::from(self.group)), ("rc", Value::from(self.rc))])
    }

    /// Read the `{"group", "rc"}` map (both unsigned, both required).
    pub fn from_value(value: &Value) -> Result<GroupErr, BodyError> {
        let f = Fields::read(value, &["group", "rc"])?;
        Ok(GroupErr { group: f.req_uint("group")?, rc: f.req_uint("rc")? })
    }
}

impl fmt::Display for GroupErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group {} error: {}", self.group, self.code())
    }
}

/// What Zephyr sends when a handler reports a group error, depending on the request's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupErrorReply {
    /// SMP v2: `"err": {"group", "rc"}` in the handler's map (after any keys already written).
    Err(GroupErr),
    /// SMP v1: the map is discarded and replaced by `{"rc": T}` (plus `"rsn"` if verbose).
    Rc(MgmtErr),
    /// SMP v1 where the translation yields EOK (Zephyr basic codes 3 and 4, and so also stat
    /// errors reported under group 63): Zephyr then skips writing the reply header and sends its
    /// response buffer at header length, i.e. 8 bytes it never wrote and no payload. A faithful
    /// server can send 8 zero bytes or nothing; a client sees no usable reply.
    HeaderNeverWritten,
}

/// What a Zephyr server sends for group error `rc` raised under `reporting_group` in reply to a
/// request of `request_version` (`smp_add_cmd_err` plus `smp_translate_error_code`).
///
/// `reporting_group` is normally the request's group; pass [`Group::ZephyrBasic`] for stat
/// errors to reproduce servers before Feb 2026 (see [`stat_error_group`]). Requests with a
/// reserved version never reach a handler in Zephyr (they get `{"rc": 13}` first); here they
/// are treated like v2. A verbose-error `rsn` is the caller's to add to the v1 `rc` reply.
pub fn zephyr_group_error_reply(
    request_version: Version,
    reporting_group: Group,
    rc: u64,
) -> GroupErrorReply {
    let err = GroupErr::new(reporting_group, rc);
    match request_version {
        Version::V1 => match err.v1_translation() {
            MgmtErr::EOk => GroupErrorReply::HeaderNeverWritten,
            t => GroupErrorReply::Rc(t),
        },
        _ => GroupErrorReply::Err(err),
    }
}

/// The group id a stat error is reported under: 2, or 63 for servers with the pre-Feb-2026 bug.
pub fn stat_error_group(legacy_group_63_bug: bool) -> Group {
    if legacy_group_63_bug { Group::ZephyrBasic } else { Group::Stat }
}

/// The error part of a reply body: `rc` (generic), `err` (group), both, plus `rsn`.
///
/// A success body has no `err` and no `rc` other than 0 (`"rc": 0` is tolerated as success,
/// see [`ErrorBody::is_error`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorBody {
    /// The generic `rc`, if present.
    pub rc: Option<MgmtErr>,
    /// The v2 group error, if present.
    pub err: Option<GroupErr>,
    /// The verbose-error reason text, if present.
    pub rsn: Option<String>,
    /// Every other key of the map, in order (e.g. fs upload's `len` next to FILE_OFFSET_NOT_VALID).
    pub extra: Vec<(String, Value)>,
}

impl ErrorBody {
    /// `{"rc": N}`.
    pub fn rc(rc: MgmtErr) -> ErrorBody {
        ErrorBody { rc: Some(rc), ..ErrorBody::default() }
    }

    /// `{"err": {"group": G, "rc": R}}`.
    pub fn group(err: GroupErr) -> ErrorBody {
        ErrorBody { err: Some(err), ..ErrorBody::default() }
    }

    /// The same with a reason text.
    pub fn with_rsn(mut self, rsn: impl Into<String>) -> ErrorBody {
        self.rsn = Some(rsn.into());
        self
    }

    /// True if this reports a failure: an `err` map, or an `rc` other than 0.
    pub fn is_error(&self) -> bool {
        self.err.is_some() || self.rc.is_some_and(|rc| rc != MgmtErr::EOk)
    }

    /// The map: `rc` and `rsn` (as `smp_build_err_rsp` writes them), then `err`, then `extra`
    /// (as fs upload writes `len` after FILE_OFFSET_NOT_VALID). Decoding keeps the order of the
    /// extra keys but not their position relative to `err`.
    pub fn to_value(&self) -> Value {
        let mut m = Vec::new();
        if let Some(rc) = self.rc {
            m.push((Value::text("rc"), Value::from(rc.code())));
        }
        if let Some(rsn) = &self.rsn {
            m.push((Value::text("rsn"), Value::text(rsn.clone())));
        }
        if let Some(err) = &self.err {
            m.push((Value::text("err"), err.to_value()));
        }
        for (k, v) in &self.extra {
            m.push((Value::text(k.clone()), v.clone()));
        }
        Value::Map(m)
    }

    /// Read the error keys of a reply body. Returns `None` when the body reports no error (no
    /// `err`, no `rc` or `"rc": 0`). Wrong types (`rc` not an integer, `err` not a map with
    /// unsigned `group` and `rc`, `rsn` not text) are errors.
    pub fn from_value(value: &Value) -> Result<Option<ErrorBody>, BodyError> {
        let f = Fields::read(value, &["rc", "err", "rsn"])?;
        let rc = f.opt_int("rc")?.map(MgmtErr::from_code);
        let err = match f.opt_map("err")? {
            Some(m) => Some(GroupErr::from_value(m).map_err(|e| e.within("err"))?),
            None => None,
        };
        let rsn = f.opt_text("rsn")?.map(str::to_owned);
        let extra = f
            .entries()
            .iter()
            .filter_map(|(k, v)| {
                let k = k.as_text()?;
                (!matches!(k, "rc" | "err" | "rsn")).then(|| (k.to_owned(), v.clone()))
            })
            .collect();
        let body = ErrorBody { rc, err, rsn, extra };
        Ok(body.is_error().then_some(body))
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(err) = &self.err {
            write!(f, "{err}")?;
            sep = "; ";
        }
        if let Some(rc) = &self.rc {
            write!(f, "{sep}{rc}")?;
        }
        if let Some(rsn) = &self.rsn {
            write!(f, " ({rsn})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbor::{MapStyle, decode, encode};

    #[test]
    fn mgmt_err_codes_round_trip() {
        for code in -3..300 {
            assert_eq!(MgmtErr::from_code(code).code(), code);
        }
        assert_eq!(MgmtErr::from_code(13), MgmtErr::UnsupportedTooNew);
        assert_eq!(MgmtErr::EInval.to_string(), "MGMT_ERR_EINVAL (3)");
        assert_eq!(MgmtErr::from_code(257).to_string(), "rc 257");
    }

    #[test]
    fn group_codes_round_trip_and_name() {
        for rc in 0..40 {
            assert_eq!(ImageErr::from_code(rc).code(), rc);
            assert_eq!(FsErr::from_code(rc).code(), rc);
        }
        assert_eq!(ImageErr::from_code(34), ImageErr::ActiveSlotNotKnown);
        assert_eq!(ImageErr::from_code(35), ImageErr::Other(35));
        assert_eq!(FsErr::from_code(17), FsErr::FileCloseFailed);
        assert_eq!(ImageErr::HashNotFound.to_string(), "IMG_MGMT_ERR_HASH_NOT_FOUND (8)");
        assert_eq!(
            GroupErr::new(Group::Image, 8).to_string(),
            "group 1 error: IMG_MGMT_ERR_HASH_NOT_FOUND (8)"
        );
    }

    #[test]
    fn v1_translation_table_matches_section_11() {
        use MgmtErr::*;
        let t = |g: Group, rc| GroupErr::new(g, rc).v1_translation();
        // OS
        assert_eq!(
            [t(Group::Os, 2), t(Group::Os, 3), t(Group::Os, 4), t(Group::Os, 5)],
            [EInval, ENoEnt, ENoEnt, EUnknown]
        );
        // Image: spot checks of every class.
        assert_eq!(t(Group::Image, 3), ENoEnt);
        assert_eq!(t(Group::Image, 9), EBadState);
        assert_eq!(t(Group::Image, 15), ENoMem);
        assert_eq!(t(Group::Image, 24), EInval);
        assert_eq!(t(Group::Image, 27), EBadState);
        assert_eq!(t(Group::Image, 28), EBadState);
        assert_eq!(t(Group::Image, 23), EUnknown);
        assert_eq!(t(Group::Image, 33), EUnknown);
        // FS, stat, settings, shell, enum.
        assert_eq!(
            [t(Group::Fs, 2), t(Group::Fs, 13), t(Group::Fs, 3), t(Group::Fs, 14)],
            [EInval, EInval, ENoEnt, ENoEnt]
        );
        assert_eq!(t(Group::Fs, 11), EUnknown);
        assert_eq!([t(Group::Stat, 2), t(Group::Stat, 3), t(Group::Stat, 4)], [ENoEnt, ENoEnt, EInval]);
        assert_eq!(
            [t(Group::Settings, 2), t(Group::Settings, 3), t(Group::Settings, 4)],
            [EInval, ENoEnt, ENoEnt]
        );
        assert_eq!(t(Group::Settings, 5), EUnknown);
        assert_eq!([t(Group::Shell, 2), t(Group::Shell, 3)], [EInval, EInval]);
        assert_eq!([t(Group::Enumeration, 2), t(Group::Enumeration, 4)], [EInval, EUnknown]);
        // Zephyr basic quirk.
        assert_eq!(
            [t(Group::ZephyrBasic, 1), t(Group::ZephyrBasic, 2), t(Group::ZephyrBasic, 3)],
            [EUnknown, ENoEnt, EOk]
        );
        assert_eq!(t(Group::ZephyrBasic, 4), EOk);
        // A group with no table.
        assert_eq!(t(Group::PerUser(77), 2), EUnknown);
    }

    #[test]
    fn zephyr_reply_depends_on_version_and_reporting_group() {
        assert_eq!(
            zephyr_group_error_reply(Version::V2, Group::Image, 8),
            GroupErrorReply::Err(GroupErr { group: 1, rc: 8 })
        );
        assert_eq!(
            zephyr_group_error_reply(Version::V1, Group::Image, 9),
            GroupErrorReply::Rc(MgmtErr::EBadState)
        );
        // INVALID_STAT_NAME under the right group is ENOENT in v1 ...
        assert_eq!(
            zephyr_group_error_reply(Version::V1, stat_error_group(false), 3),
            GroupErrorReply::Rc(MgmtErr::ENoEnt)
        );
        // ... but under group 63 it hits the Zephyr basic EOK quirk.
        assert_eq!(
            zephyr_group_error_reply(Version::V1, stat_error_group(true), 3),
            GroupErrorReply::HeaderNeverWritten
        );
        assert_eq!(
            zephyr_group_error_reply(Version::V2, stat_error_group(true), 3),
            GroupErrorReply::Err(GroupErr { group: 63, rc: 3 })
        );
    }

    #[test]
    fn error_bodies_encode_like_zephyr_and_decode_every_shape() {
        let v2 = ErrorBody::group(GroupErr::new(Group::Image, 8));
        assert_eq!(
            encode(&v2.to_value(), MapStyle::Indefinite),
            [
                0xbf, 0x63, b'e', b'r', b'r', 0xbf, 0x65, b'g', b'r', b'o', b'u', b'p', 0x01, 0x62, b'r',
                b'c', 0x08, 0xff, 0xff
            ]
        );
        let v1 = ErrorBody::rc(MgmtErr::ENotSup);
        assert_eq!(encode(&v1.to_value(), MapStyle::Indefinite), [0xbf, 0x62, b'r', b'c', 0x08, 0xff]);
        for body in [v2, v1, ErrorBody::rc(MgmtErr::EInval).with_rsn("no slot")] {
            let bytes = encode(&body.to_value(), MapStyle::Indefinite);
            assert_eq!(ErrorBody::from_value(&decode(&bytes).unwrap()).unwrap(), Some(body));
        }
        // Both shapes at once, and extra keys kept.
        let both = Value::map([
            ("len", Value::from(5u8)),
            ("err", GroupErr::new(Group::Fs, 11).to_value()),
            ("rc", Value::from(1u8)),
        ]);
        let e = ErrorBody::from_value(&both).unwrap().unwrap();
        assert_eq!(e.rc, Some(MgmtErr::EUnknown));
        assert_eq!(e.err.unwrap().code(), GroupCode::Fs(FsErr::FileOffsetNotValid));
        assert_eq!(e.extra, vec![("len".to_owned(), Value::from(5u8))]);
        // Success shapes.
        assert_eq!(ErrorBody::from_value(&Value::map([("rc", Value::from(0u8))])).unwrap(), None);
        assert_eq!(ErrorBody::from_value(&Value::map([("r", Value::text("x"))])).unwrap(), None);
        // Negative rc is fine (signed); a text rc is not.
        let neg = ErrorBody::from_value(&Value::map([("rc", Value::from(-5i8))])).unwrap();
        assert_eq!(neg.unwrap().rc, Some(MgmtErr::Unknown(-5)));
        let bad = ErrorBody::from_value(&Value::map([("rc", Value::text("8"))])).unwrap_err();
        assert!(matches!(bad, BodyError::WrongType { ref key, .. } if key == "rc"));
        let bad = Value::map([("err", Value::map([("group", Value::from(1u8))]))]);
        assert_eq!(ErrorBody::from_value(&bad).unwrap_err(), BodyError::MissingKey { key: "err.rc".into() });
    }
}
