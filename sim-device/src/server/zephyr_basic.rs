//! Zephyr basic group (63), as Zephyr's `basic_mgmt` answers (reference `smp-protocol.md` §10).
//!
//! | id | command | here |
//! |---|---|---|
//! | 0 | erase storage (W) | erases the device's storage partition in one flash erase; `{}` |
//!
//! No storage partition → error 2 (FLASH_OPEN_FAILED, v1: ENOENT); a failed erase → error 4
//! (FLASH_ERASE_FAILED), which Zephyr's v1 translation turns into EOK, so a v1 client gets no
//! usable reply (handled by the server, see [`smp::error::GroupErrorReply`]). A power cut
//! during the erase stops the device as on hardware.
//!
//! As on a board, the erase touches the flash only: settings already loaded into RAM stay
//! readable until the next reboot or `settings load`.

use smp::cbor::Value;
use smp::error::ZephyrBasicErr;
use smp::header::Group;

use super::{CommandDef, Ctx, GroupDef, HandlerError, HandlerResult, ServerConfig, settings};

/// The Zephyr basic group's handler table.
pub fn group(_config: &ServerConfig) -> GroupDef {
    GroupDef {
        group: Group::ZephyrBasic,
        name: Some("zephyr basic mgmt"),
        commands: vec![CommandDef { id: 0, name: "erase_storage", read: None, write: Some(erase_storage) }],
    }
}

/// Erase the storage partition.
pub fn erase_storage(ctx: &mut Ctx<'_>) -> HandlerResult {
    let Some(area) = ctx.dev.storage_partition() else {
        return Err(HandlerError::group(ZephyrBasicErr::FlashOpenFailed.code()));
    };
    // The application loaded its settings at boot; the erase does not change them in RAM.
    settings::ensure_loaded(ctx.dev);
    match ctx.flash_op(|f| mcuboot::flash::Flash::erase(f, area.device, area.offset, area.size))? {
        Ok(()) => {
            settings::storage_erased(ctx.dev);
            ctx.note(format!("storage partition erased ({:#x}+{:#x})", area.offset, area.size));
            Ok(Value::empty_map())
        }
        Err(e) => {
            ctx.note(format!("storage erase failed: {e}"));
            Err(HandlerError::group(ZephyrBasicErr::FlashEraseFailed.code()))
        }
    }
}
