//! Image management group (1), as Zephyr's `img_mgmt` answers on top of MCUboot (reference
//! `smp-protocol.md` §5, `mcuboot.md` §5).
//!
//! Every flag shown by `state` is derived from the real trailers in the emulated flash with
//! `mcuboot::trailer`, and every change (`test`, `confirm`, upload writes, erase) is a flash
//! operation on the [`SimFlash`](crate::flash::SimFlash), so a power cut can land in any of
//! them.
//!
//! Uploads follow `img_mgmt_upload`: the first chunk (off 0) carries `len` (and optionally
//! `sha`, `image`, `upgrade`) and is checked (header size and magic, hash length, resume by
//! `sha`, free slot, size, version); the needed part of the slot is erased up front (or sector
//! by sector with [`ImageOptions::progressive_erase`]); data is written through a
//! `write_buffer`-byte buffer as Zephyr's stream flash does; a chunk at the wrong offset is
//! answered with the expected offset; the last chunk's reply carries `match`. Any group error
//! ends the upload.

use mcuboot::boot::Algorithm;
use mcuboot::flash::{Flash, FlashError};
use mcuboot::image::{HashAlg, IMAGE_HEADER_SIZE, IMAGE_MAGIC, ImageFlags, ImageHeader, TlvKind, tlvs};
use mcuboot::layout::Area;
use mcuboot::trailer::{self, FlagState, MagicState, SetOutcome, SwapState, SwapType, TrailerError};
use smp::cbor::{Fields, Value};
use smp::error::ImageErr;
use smp::groups::Body;
use smp::groups::image::{
    EraseRequest, HashArg, ImageSlotState, SlotInfoImage, SlotInfoResponse, SlotInfoSlot, StateResponse,
    StateWriteRequest, UploadResponse, version_string,
};
use smp::header::Group;

use super::hooks::{DfuEvent, StatusEvent, UploadChunk, Verdict};
use super::{CommandDef, Ctx, EINVAL, GroupDef, HandlerError, HandlerResult, ServerConfig};
use crate::device::{Device, upload_offset};

/// Image group build options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageOptions {
    /// `CONFIG_IMG_ENABLE_IMAGE_CHECK`: `match` in the last upload reply; a first chunk whose
    /// 32-byte `sha` matches the slot completes at once.
    pub image_check: bool,
    /// `CONFIG_IMG_ERASE_PROGRESSIVELY`: erase sector by sector while writing instead of the
    /// whole needed region on the first chunk.
    pub progressive_erase: bool,
    /// `CONFIG_MCUMGR_GRP_IMG_ALLOW_ERASE_PENDING`: a slot marked pending may be erased or
    /// uploaded over.
    pub allow_erase_pending: bool,
    /// `CONFIG_MCUMGR_GRP_IMG_FRUGAL_LIST`: false flags and `splitStatus` omitted.
    pub frugal_list: bool,
    /// `CONFIG_IMG_BLOCK_BUF_SIZE`: the stream-flash write buffer (a multiple of the write size).
    pub write_buffer: u32,
    /// `..._ALLOW_CONFIRM_NON_ACTIVE_IMAGE_SECONDARY`.
    pub allow_confirm_non_active_secondary: bool,
    /// `..._ALLOW_CONFIRM_NON_ACTIVE_IMAGE_ANY`.
    pub allow_confirm_non_active_any: bool,
    /// `CONFIG_MCUMGR_GRP_IMG_SLOT_INFO`: command 6 exists.
    pub slot_info: bool,
}

impl Default for ImageOptions {
    fn default() -> ImageOptions {
        ImageOptions {
            image_check: true,
            progressive_erase: false,
            allow_erase_pending: true,
            frugal_list: false,
            write_buffer: 512,
            allow_confirm_non_active_secondary: true,
            allow_confirm_non_active_any: false,
            slot_info: true,
        }
    }
}

/// The image group's handler table.
pub fn group(config: &ServerConfig) -> GroupDef {
    let mut commands = vec![
        CommandDef { id: 0, name: "state", read: Some(state_read), write: Some(state_write) },
        CommandDef { id: 1, name: "upload", read: None, write: Some(upload) },
        CommandDef { id: 5, name: "erase", read: None, write: Some(erase) },
    ];
    if config.image.slot_info {
        commands.push(CommandDef { id: 6, name: "slot_info", read: Some(slot_info), write: None });
    }
    GroupDef { group: Group::Image, name: Some("img mgmt"), commands }
}

/// An upload in progress (RAM state; gone at reboot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub image: u8,
    /// Slot within the image (1).
    pub slot: u8,
    area: Area,
    /// Where the image starts in the slot.
    start: u32,
    /// Total image length.
    pub len: u64,
    /// Bytes accepted so far (the next expected offset).
    pub off: u64,
    /// The client's `sha` (session id), possibly empty.
    pub sha: Vec<u8>,
    /// Accepted bytes not yet written to flash.
    buf: Vec<u8>,
    /// Image bytes written to flash so far.
    written: u64,
    /// Progressive erase: slot-relative end of the region erased so far.
    erased_to: u32,
}

/// A valid image found in a slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotImage {
    pub header: ImageHeader,
    /// The SHA-256 TLV value.
    pub hash: Vec<u8>,
    /// Where the image starts in the slot.
    pub offset: u32,
}

fn img_err(e: ImageErr) -> HandlerError {
    HandlerError::group(e.code())
}

/// The image in slot `slot` (0 primary, 1 secondary) of image `image`, if the slot holds one
/// Zephyr would list: header magic good, TLV area where the header says, exactly one SHA-256
/// TLV. Where the image is looked for: see [`image_starts`].
pub fn read_slot_image(dev: &Device, image: u8, slot: u8) -> Option<SlotImage> {
    let slots = dev.map.images.get(image as usize)?;
    let area = if slot == 0 { slots.primary } else { slots.secondary };
    let bytes = dev.flash.area_contents(area)?;
    image_starts(dev, image, slot).into_iter().find_map(|off| {
        let b = bytes.get(off as usize..)?;
        let header = ImageHeader::parse(b).ok()?;
        let all = tlvs(&header, b).ok()?;
        let mut hashes = all.iter().filter(|t| t.kind == TlvKind::Sha256);
        let hash = hashes.next()?;
        if hashes.next().is_some() || hash.data.len() != 32 {
            return None;
        }
        Some(SlotImage { header, hash: hash.data.to_vec(), offset: off })
    })
}

/// The offsets in a slot where an image is looked for, in order. 0, except in the secondary
/// slot of a swap-using-offset build, where uploads start one sector in. Zephyr
/// (`boot_get_image_start_offset`) reads that slot at 0 while the image's swap type is REVERT
/// (a test image runs; the old image waits at 0 for the revert) and one sector in otherwise.
///
/// During a revert only 0 is looked at: after a swap a copy of the new image's first sector
/// may still sit one sector in, and must not be listed instead of the old image. Otherwise
/// the simulator looks one sector in and then, unlike Zephyr, at 0 as well, so that the old
/// image stays listed after a permanent or confirmed swap-using-offset update (which Zephyr
/// stops listing: the sector it starts in now begins inside its data).
pub fn image_starts(dev: &Device, image: u8, slot: u8) -> Vec<u32> {
    let Some(slots) = dev.map.images.get(image as usize) else { return vec![0] };
    if slot == 0 {
        return vec![0];
    }
    let off = upload_offset(&dev.map, dev.boot_config.algorithm, slots.secondary);
    if off == 0 {
        return vec![0];
    }
    let pri = decoded_swap_state(dev, slots.primary);
    let sec = decoded_swap_state(dev, slots.secondary);
    if swap_type_of(&pri, &sec, true) == SwapType::Revert { vec![0] } else { vec![off, 0] }
}

/// An area's trailer decoded from the flash contents without a flash read (so a `&Device`
/// will do); an unreadable area counts as erased. The same fields and rules as
/// `trailer::read_swap_state`.
fn decoded_swap_state(dev: &Device, area: Area) -> SwapState {
    let erased = dev.flash.geometry(area.device).map_or(0xff, |g| g.erased_value);
    let Some(bytes) = dev.flash.area_contents(area) else { return SwapState::ERASED };
    let layout = dev.layout;
    let at = |off: u32| bytes.get(off as usize).copied().unwrap_or(erased);
    let flag = |b: u8| {
        if b == erased {
            FlagState::Unset
        } else if b == trailer::FLAG_SET {
            FlagState::Set
        } else {
            FlagState::Bad
        }
    };
    let m = layout.magic_off(area.size) as usize;
    let magic = match bytes.get(m..m + 16) {
        Some(x) if x.iter().all(|&b| b == erased) => MagicState::Unset,
        Some(x) if x == layout.magic() => MagicState::Good,
        _ => MagicState::Bad,
    };
    let (swap_type, image_num) = SwapType::from_swap_info(at(layout.swap_info_off(area.size)), erased);
    SwapState {
        magic,
        swap_type,
        image_num,
        copy_done: flag(at(layout.copy_done_off(area.size))),
        image_ok: flag(at(layout.image_ok_off(area.size))),
    }
}

/// MCUboot's swap type for `image` from the two trailers (`boot_swap_type_multi`, the table
/// of `mcuboot.md` §5).
pub fn swap_type(dev: &mut Device, image: u8) -> Result<SwapType, FlashError> {
    let Some(slots) = dev.map.images.get(image as usize).copied() else { return Ok(SwapType::None) };
    let layout = dev.layout;
    let pri = trailer::read_swap_state(&mut dev.flash, &layout, slots.primary)?;
    let sec = trailer::read_swap_state(&mut dev.flash, &layout, slots.secondary).unwrap_or(SwapState::ERASED);
    Ok(swap_type_of(&pri, &sec, dev.boot_config.algorithm == Algorithm::SwapOffset))
}

/// The §5 table on decoded trailers.
pub fn swap_type_of(pri: &SwapState, sec: &SwapState, swap_offset: bool) -> SwapType {
    let sec_good = sec.magic == MagicState::Good;
    if swap_offset && sec_good && sec.image_ok == FlagState::Unset && sec.copy_done == FlagState::Set {
        SwapType::Revert
    } else if sec_good && sec.image_ok == FlagState::Unset {
        SwapType::Test
    } else if sec_good && sec.image_ok == FlagState::Set {
        SwapType::Perm
    } else if pri.magic == MagicState::Good
        && pri.image_ok == FlagState::Unset
        && pri.copy_done == FlagState::Set
    {
        SwapType::Revert
    } else {
        SwapType::None
    }
}

/// `(pending, confirmed, active, permanent)` of a slot under a swap type (`smp-protocol.md`
/// §5.1 table; the active slot is always 0 in swap and overwrite builds).
pub fn slot_flags(st: SwapType, slot: u8) -> (bool, bool, bool, bool) {
    match (st, slot) {
        (SwapType::Revert, 0) => (false, false, true, false),
        (_, 0) => (false, true, true, false),
        (SwapType::Test, _) => (true, false, false, false),
        (SwapType::Perm, _) => (true, false, false, true),
        (SwapType::Revert, _) => (false, true, false, false),
        _ => (false, false, false, false),
    }
}

fn flash_read_err(e: FlashError) -> HandlerError {
    match e {
        FlashError::PowerLoss { .. } => HandlerError::PowerLost,
        _ => img_err(ImageErr::FlashReadFailed),
    }
}

/// The state list (reply of both state read and state write).
pub fn state_list(dev: &mut Device) -> Result<Value, HandlerError> {
    let n = dev.map.images.len();
    let mut entries = Vec::new();
    for image in 0..n as u8 {
        let st = swap_type(dev, image).map_err(flash_read_err)?;
        for slot in 0..2u8 {
            let Some(s) = read_slot_image(dev, image, slot) else { continue };
            let (pending, confirmed, active, permanent) = slot_flags(st, slot);
            let v = s.header.version;
            entries.push(ImageSlotState {
                image: (n > 1).then_some(u32::from(image)),
                slot: u32::from(slot),
                version: version_string(v.major, v.minor, v.revision, v.build_num),
                hash: Some(s.hash),
                bootable: !s.header.flags.contains(ImageFlags::NON_BOOTABLE),
                pending,
                confirmed,
                active,
                permanent,
            });
        }
    }
    let mut reply = StateResponse::zephyr(entries);
    if dev.server_config.image.frugal_list {
        reply.frugal = true;
        reply.split_status = None;
    }
    Ok(reply.to_value())
}

/// State read.
pub fn state_read(ctx: &mut Ctx<'_>) -> HandlerResult {
    state_list(ctx.dev)
}

fn trailer_err(e: TrailerError) -> HandlerError {
    match e {
        TrailerError::Flash(FlashError::PowerLoss { .. }) => HandlerError::PowerLost,
        TrailerError::Flash(_) => img_err(ImageErr::FlashWriteFailed),
        TrailerError::BadImage => img_err(ImageErr::InvalidImageHeaderMagic),
        TrailerError::BadVector => img_err(ImageErr::InvalidImageVectorTable),
        _ => img_err(ImageErr::Unknown),
    }
}

/// State write: test or confirm (`smp-protocol.md` §5.2).
pub fn state_write(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: StateWriteRequest = ctx.decode()?;
    let confirm = req.is_confirm();
    let (image, slot) = match &req.hash {
        // Zephyr decodes `hash` as a byte string; a text string fails the decode.
        Some(HashArg::Text(_)) => return Err(EINVAL),
        Some(HashArg::Bytes(h)) => {
            if h.len() != 32 {
                return Err(img_err(ImageErr::InvalidHash));
            }
            let n = ctx.dev.map.images.len() as u8;
            let found = (0..n)
                .flat_map(|i| [(i, 0u8), (i, 1u8)])
                .find(|&(i, s)| read_slot_image(ctx.dev, i, s).is_some_and(|img| img.hash == *h));
            found.ok_or(img_err(ImageErr::HashNotFound))?
        }
        None if confirm => (0, 0),
        None => return Err(img_err(ImageErr::InvalidHash)),
    };
    let opts = ctx.dev.server_config.image;
    if slot == 0 && !confirm {
        return Err(img_err(ImageErr::ImageSettingTestToActiveDenied));
    }
    let running_image = ctx.dev.running().map_or(0, |r| r.image);
    if confirm && image != running_image {
        let allowed =
            opts.allow_confirm_non_active_any || (slot == 1 && opts.allow_confirm_non_active_secondary);
        if !allowed {
            return Err(img_err(ImageErr::ImageConfirmationDenied));
        }
    }
    let st = swap_type(ctx.dev, image).map_err(flash_read_err)?;
    let pending = ImageErr::ImageAlreadyPending;
    enum Act {
        Nothing,
        Pending,
        Confirm,
    }
    let act = match st {
        SwapType::Test if !confirm && slot == 1 => Act::Nothing,
        SwapType::Test => return Err(img_err(pending)),
        SwapType::Perm if confirm && slot == 1 => Act::Nothing,
        SwapType::Perm => return Err(img_err(pending)),
        SwapType::Revert if confirm && slot == 1 => Act::Nothing,
        SwapType::Revert if !confirm => return Err(img_err(pending)),
        SwapType::Revert => Act::Confirm,
        _ if slot == 0 => Act::Nothing,
        _ => Act::Pending,
    };
    let (map, layout) = (ctx.dev.map.clone(), ctx.dev.layout);
    match act {
        Act::Nothing => {}
        Act::Pending => {
            let r = trailer::set_pending(&mut ctx.dev.flash, &map, &layout, image, confirm)
                .map_err(trailer_err)?;
            if r == SetOutcome::Written {
                dfu(ctx.dev, DfuEvent::Pending { image, permanent: confirm });
            }
        }
        Act::Confirm => {
            let r = trailer::set_confirmed(&mut ctx.dev.flash, &map, &layout, image).map_err(trailer_err)?;
            if r == SetOutcome::Written {
                dfu(ctx.dev, DfuEvent::Confirmed { image });
            }
        }
    }
    state_list(ctx.dev)
}

fn dfu(dev: &mut Device, event: DfuEvent) {
    dev.log(crate::device::EventKind::Hook(format!("dfu {event:?}")));
    if let Some(h) = dev.hooks.dfu.as_mut() {
        h(event);
    }
}

/// The upload request, read with every key optional so that each missing key gets Zephyr's
/// group error rather than a decode error.
struct UploadArgs {
    image: Option<u32>,
    len: Option<u64>,
    off: Option<u64>,
    sha: Option<Vec<u8>>,
    data: Vec<u8>,
    upgrade: bool,
}

fn upload_args(ctx: &Ctx<'_>) -> Result<UploadArgs, HandlerError> {
    let value = ctx.body_value().ok_or(EINVAL)?;
    let f = Fields::read(&value, &["image", "len", "off", "sha", "data", "upgrade"]).map_err(|_| EINVAL)?;
    Ok(UploadArgs {
        image: f.opt_uint("image").map_err(|_| EINVAL)?,
        len: f.opt_uint("len").map_err(|_| EINVAL)?,
        off: f.opt_uint("off").map_err(|_| EINVAL)?,
        sha: f.opt_bytes("sha").map_err(|_| EINVAL)?.map(<[u8]>::to_vec),
        data: f.opt_bytes("data").map_err(|_| EINVAL)?.map(<[u8]>::to_vec).unwrap_or_default(),
        upgrade: f.opt_bool("upgrade").map_err(|_| EINVAL)?.unwrap_or(false),
    })
}

/// Upload.
pub fn upload(ctx: &mut Ctx<'_>) -> HandlerResult {
    let args = upload_args(ctx)?;
    match upload_inner(ctx, args) {
        Err(e) => {
            // Any group error (and a write failure) ends the upload.
            if matches!(e, HandlerError::Group { .. }) && ctx.dev.server.upload.take().is_some() {
                dfu(ctx.dev, DfuEvent::Stopped);
            }
            Err(e)
        }
        ok => ok,
    }
}

fn off_reply(off: u64, matched: Option<bool>) -> Value {
    UploadResponse { off, matched }.to_value()
}

fn upload_inner(ctx: &mut Ctx<'_>, args: UploadArgs) -> HandlerResult {
    let off = args.off.ok_or(img_err(ImageErr::InvalidOffset))?;
    if off == 0 {
        if args.data.len() < IMAGE_HEADER_SIZE {
            return Err(img_err(ImageErr::InvalidImageHeader).with_rsn("header malformed"));
        }
        let len = args.len.ok_or(img_err(ImageErr::InvalidLength))?;
        let magic = u32::from_le_bytes([args.data[0], args.data[1], args.data[2], args.data[3]]);
        if magic != IMAGE_MAGIC {
            return Err(img_err(ImageErr::InvalidImageHeaderMagic).with_rsn("magic mismatch"));
        }
        let sha = args.sha.clone().unwrap_or_default();
        if sha.len() > 32 {
            return Err(img_err(ImageErr::InvalidHash));
        }
        if let Some(u) = &ctx.dev.server.upload
            && !sha.is_empty()
            && u.sha == sha
        {
            return Ok(off_reply(u.off, None));
        }
        if ctx.dev.server.upload.take().is_some() {
            dfu(ctx.dev, DfuEvent::Stopped);
        }
        if let Some(done) = start_upload(ctx, &args, len, sha)? {
            return Ok(done);
        }
    } else {
        let expected = ctx.dev.server.upload.as_ref().map_or(0, |u| u.off);
        if ctx.dev.server.upload.is_none() || off != expected {
            return Ok(off_reply(expected, None));
        }
    }
    let Some(u) = ctx.dev.server.upload.as_ref() else { return Ok(off_reply(0, None)) };
    let (image, slot, len) = (u.image, u.slot, u.len);
    if off + args.data.len() as u64 > len {
        return Err(img_err(ImageErr::InvalidImageDataOverrun).with_rsn("data overrun"));
    }
    if let Some(hook) = ctx.dev.hooks.upload_chunk.as_mut() {
        let header = (off == 0).then(|| &args.data[..IMAGE_HEADER_SIZE]);
        let verdict = hook(&UploadChunk { image, slot, off, len, data: &args.data, header });
        match verdict {
            Verdict::Allow => {}
            // MGMT_CB_ERROR_RC: `{"rc": N}`, and img_mgmt forgets the upload.
            Verdict::Rc(rc) => {
                if ctx.dev.server.upload.take().is_some() {
                    dfu(ctx.dev, DfuEvent::Stopped);
                }
                return Err(HandlerError::rc(rc).with_rsn("app reject"));
            }
            // MGMT_CB_ERROR_ERR: the group error, then the good reply's `off`; the upload stays
            // where it was, so the client may go on once the application allows it.
            Verdict::Group { group, rc } => {
                let at = ctx.dev.server.upload.as_ref().map_or(0, |u| u.off);
                return Err(HandlerError::GroupThen {
                    group: Some(group),
                    rc,
                    after: vec![(Value::text("off"), Value::from(at))],
                });
            }
        }
    }
    if off == 0 {
        dfu(ctx.dev, DfuEvent::Started { image, len });
    }
    write_chunk(ctx, &args.data)?;
    let (off, len) = {
        let Some(u) = ctx.dev.server.upload.as_ref() else { return Ok(off_reply(0, None)) };
        (u.off, u.len)
    };
    if let Some(h) = ctx.dev.hooks.command_status.as_mut() {
        h(StatusEvent { group: Group::Image, command_id: 1, off, len });
    }
    if off < len {
        return Ok(off_reply(off, None));
    }
    // Complete: flush, check, forget.
    flush(ctx, true)?;
    let Some(u) = ctx.dev.server.upload.take() else { return Ok(off_reply(0, None)) };
    dfu(ctx.dev, DfuEvent::ChunkWriteComplete { image });
    let matched = if ctx.dev.server_config.image.image_check && !u.sha.is_empty() {
        Some(slot_hash_matches(ctx.dev, u.area, u.start, u.len, &u.sha))
    } else {
        None
    };
    Ok(off_reply(u.len, matched))
}

/// True if the `len` bytes at `start` of `area` hash (SHA-256) to `sha` (which may be a prefix
/// of the digest).
fn slot_hash_matches(dev: &Device, area: Area, start: u32, len: u64, sha: &[u8]) -> bool {
    let Some(bytes) = dev.flash.area_contents(area) else { return false };
    let Some(data) = bytes.get(start as usize..(start as u64 + len) as usize) else { return false };
    let digest = HashAlg::Sha256.digest(data);
    digest.get(..sha.len()) == Some(sha)
}

/// The checks and preparation of a new upload. `Some(reply)` when it completes at once.
fn start_upload(
    ctx: &mut Ctx<'_>,
    args: &UploadArgs,
    len: u64,
    sha: Vec<u8>,
) -> Result<Option<Value>, HandlerError> {
    let image = u8::try_from(args.image.unwrap_or(0)).map_err(|_| img_err(ImageErr::NoFreeSlot))?;
    let Some(slots) = ctx.dev.map.images.get(image as usize).copied() else {
        return Err(img_err(ImageErr::NoFreeSlot).with_rsn("no slot"));
    };
    let st = swap_type(ctx.dev, image).map_err(flash_read_err)?;
    let pending = matches!(st, SwapType::Test | SwapType::Perm);
    if st == SwapType::Revert || (pending && !ctx.dev.server_config.image.allow_erase_pending) {
        return Err(img_err(ImageErr::NoFreeSlot).with_rsn("no slot"));
    }
    let area = slots.secondary;
    let start = upload_offset(&ctx.dev.map, ctx.dev.boot_config.algorithm, area);
    if len > u64::from(area.size - start) {
        return Err(img_err(ImageErr::InvalidImageTooLarge).with_rsn("img too large"));
    }
    if args.upgrade {
        let new =
            ImageHeader::parse_any_magic(&args.data).map_err(|_| img_err(ImageErr::VersionGetFailed))?;
        let running = read_slot_image(ctx.dev, image, 0).ok_or(img_err(ImageErr::VersionGetFailed))?;
        if new.version.cmp_ignoring_build(&running.header.version) != std::cmp::Ordering::Greater {
            return Err(img_err(ImageErr::CurrentVersionIsNewer).with_rsn("downgrade"));
        }
    }
    if ctx.dev.server_config.image.image_check
        && sha.len() == 32
        && slot_hash_matches(ctx.dev, area, start, len, &sha)
    {
        return Ok(Some(off_reply(len, Some(true))));
    }
    let mut upload = Upload {
        image,
        slot: 1,
        area,
        start,
        len,
        off: 0,
        sha,
        buf: Vec::new(),
        written: 0,
        erased_to: start,
    };
    // swap-using-offset: an old header at offset 0 would make MCUboot reject the upload.
    if start != 0 {
        erase_if_dirty(ctx, area, 0, start)?;
    }
    if !ctx.dev.server_config.image.progressive_erase {
        let end = start as u64 + len;
        erase_if_dirty(ctx, area, start, end.min(u64::from(area.size)) as u32)?;
        upload.erased_to = area.size;
        erase_trailer(ctx, area, 0)?;
    }
    ctx.dev.server.upload = Some(upload);
    Ok(None)
}

/// Erase every sector of `area` overlapping `[from, to)` that is not blank. One operation per
/// sector.
fn erase_if_dirty(ctx: &mut Ctx<'_>, area: Area, from: u32, to: u32) -> Result<(), HandlerError> {
    let erased = ctx
        .dev
        .flash
        .geometry(area.device)
        .map(|g| g.erased_value)
        .map_err(|_| img_err(ImageErr::FlashEraseFailed))?;
    for s in ctx.dev.map.area_sectors(area) {
        if s.offset + s.size <= from || s.offset >= to {
            continue;
        }
        let blank = ctx
            .dev
            .flash
            .area_contents(area)
            .and_then(|b| b.get(s.offset as usize..(s.offset + s.size) as usize))
            .is_some_and(|b| b.iter().all(|&x| x == erased));
        if blank {
            continue;
        }
        ctx.flash_op(|f| f.erase(area.device, area.offset + s.offset, s.size))?
            .map_err(|_| img_err(ImageErr::FlashEraseFailed).with_rsn("fa erase fail"))?;
    }
    Ok(())
}

/// Erase the sectors holding the slot's trailer (so no stale pending/confirmed flags survive),
/// except those before `not_before` (already erased by this upload, and possibly holding the
/// end of the image by now).
fn erase_trailer(ctx: &mut Ctx<'_>, area: Area, not_before: u32) -> Result<(), HandlerError> {
    let ws = ctx.dev.flash.geometry(area.device).map(|g| g.write_size).unwrap_or(8);
    let tsize = ctx.dev.layout.trailer_size(ws).min(area.size);
    let from = (area.size - tsize).max(not_before);
    if from >= area.size {
        return Ok(());
    }
    erase_if_dirty(ctx, area, from, area.size)
}

/// Accept a chunk: buffer it, writing every full buffer.
fn write_chunk(ctx: &mut Ctx<'_>, data: &[u8]) -> Result<(), HandlerError> {
    if let Some(u) = ctx.dev.server.upload.as_mut() {
        u.buf.extend_from_slice(data);
        u.off += data.len() as u64;
    }
    flush(ctx, false)
}

/// Write buffered data: whole `write_buffer` blocks, or everything (padded to the write size
/// with the erased value) when `all`.
fn flush(ctx: &mut Ctx<'_>, all: bool) -> Result<(), HandlerError> {
    let Some(area) = ctx.dev.server.upload.as_ref().map(|u| u.area) else { return Ok(()) };
    let (ws, erased) = ctx
        .dev
        .flash
        .geometry(area.device)
        .map(|g| (g.write_size, g.erased_value))
        .map_err(|_| img_err(ImageErr::FlashWriteFailed))?;
    let block = ctx.dev.server_config.image.write_buffer.max(ws) / ws * ws;
    loop {
        let Some(u) = ctx.dev.server.upload.as_mut() else { return Ok(()) };
        let take = if u.buf.len() >= block as usize {
            block as usize
        } else if all && !u.buf.is_empty() {
            u.buf.len()
        } else {
            return Ok(());
        };
        let mut chunk: Vec<u8> = u.buf.drain(..take).collect();
        let padded = chunk.len().div_ceil(ws as usize) * ws as usize;
        chunk.resize(padded, erased);
        let at = u.start + u.written as u32;
        u.written += take as u64;
        let end = at + chunk.len() as u32;
        if ctx.dev.server_config.image.progressive_erase {
            let from = ctx.dev.server.upload.as_ref().map_or(at, |u| u.erased_to);
            if end > from {
                let sectors = ctx.dev.map.area_sectors(area);
                let to = sectors.iter().map(|s| s.offset + s.size).find(|&e| e >= end).unwrap_or(area.size);
                erase_if_dirty(ctx, area, from, to)?;
                if let Some(u) = ctx.dev.server.upload.as_mut() {
                    u.erased_to = to;
                }
            }
            if all && ctx.dev.server.upload.as_ref().is_some_and(|u| u.buf.is_empty()) {
                let erased_to = ctx.dev.server.upload.as_ref().map_or(area.size, |u| u.erased_to);
                erase_trailer(ctx, area, erased_to)?;
            }
        }
        if end > area.size {
            return Err(img_err(ImageErr::FlashWriteFailed).with_rsn("fa write fail"));
        }
        ctx.flash_op(|f| f.write(area.device, area.offset + at, &chunk))?
            .map_err(|_| img_err(ImageErr::FlashWriteFailed).with_rsn("fa write fail"))?;
    }
}

/// Is slot `slot` of `image` in use (newest Zephyr `img_mgmt_slot_in_use`): the active slot,
/// the slot a revert would boot, and — unless `ALLOW_ERASE_PENDING` — a pending slot.
fn slot_in_use(dev: &mut Device, image: u8, slot: u8) -> Result<bool, HandlerError> {
    let st = swap_type(dev, image).map_err(flash_read_err)?;
    Ok(match (st, slot) {
        (_, 0) => true,
        (SwapType::Revert, _) => true,
        (SwapType::Test | SwapType::Perm, _) => !dev.server_config.image.allow_erase_pending,
        _ => false,
    })
}

/// Erase: the slot (default 1) unless it is in use; ends any upload.
pub fn erase(ctx: &mut Ctx<'_>) -> HandlerResult {
    let req: EraseRequest = ctx.decode()?;
    let abs = req.slot.unwrap_or(1);
    let n = ctx.dev.map.images.len() as u32;
    if abs >= 2 * n {
        return Err(img_err(ImageErr::InvalidSlot));
    }
    let (image, slot) = ((abs / 2) as u8, (abs % 2) as u8);
    if read_slot_image(ctx.dev, image, slot).is_some() && slot_in_use(ctx.dev, image, slot)? {
        return Err(img_err(ImageErr::NoFreeSlot));
    }
    let slots = ctx.dev.map.images[image as usize];
    let area = if slot == 0 { slots.primary } else { slots.secondary };
    let erased = ctx.dev.flash.geometry(area.device).map(|g| g.erased_value).unwrap_or(0xff);
    let blank = ctx.dev.flash.area_contents(area).is_some_and(|b| b.iter().all(|&x| x == erased));
    let result = if blank { Ok(()) } else { ctx.flash_op(|f| f.erase(area.device, area.offset, area.size))? };
    let had_upload = ctx.dev.server.upload.take().is_some();
    if let Err(_e) = result {
        dfu(ctx.dev, DfuEvent::Stopped);
        return Err(img_err(ImageErr::FlashEraseFailed));
    }
    if had_upload {
        dfu(ctx.dev, DfuEvent::Stopped);
    }
    Ok(Value::empty_map())
}

/// Slot info.
pub fn slot_info(ctx: &mut Ctx<'_>) -> HandlerResult {
    let images = ctx
        .dev
        .map
        .images
        .iter()
        .enumerate()
        .map(|(i, s)| SlotInfoImage {
            image: i as u32,
            slots: vec![
                SlotInfoSlot {
                    slot: 0,
                    size: Some(u64::from(s.primary.size)),
                    upload_image_id: None,
                    rc: None,
                },
                SlotInfoSlot {
                    slot: 1,
                    size: Some(u64::from(s.secondary.size)),
                    upload_image_id: Some(i as u32),
                    rc: None,
                },
            ],
            max_image_size: None,
        })
        .collect();
    Ok(SlotInfoResponse { images }.to_value())
}
