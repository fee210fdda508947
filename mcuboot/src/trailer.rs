//! The image trailer: the metadata MCUboot keeps at the end of every slot (and of the scratch
//! area) to decide what to boot and to resume an interrupted swap.
//!
//! Layout, counted back from the end of an area of `S` bytes, with `M` = `BOOT_MAX_ALIGN`
//! (8, 16 or 32, a build constant) and `w` = the flash write size (reference `mcuboot.md` §4):
//!
//! ```text
//! S - 16                      magic (written as align_up(16, M) bytes, erased-padded in front)
//! align_down(S - 16 - M, M)   image_ok   (1 byte 0x01, write padded to w with the erased value)
//! image_ok - M                copy_done
//! copy_done - M               swap_info  (low nibble swap type, high nibble image index)
//! swap_info - M               unprotected TLV sizes (swap-offset only): u32 = pri | sec << 16
//! (previous field) - M        swap_size  (u32 LE)
//! S - trailer_size(w)         swap status: 128 sectors x STATE_COUNT records of w bytes
//! ```
//!
//! The info fields sit on `M` boundaries whatever the write size; only the status area scales
//! with `w`, and it is sized for [`MAX_IMG_SECTORS`] sectors, not for the real sector count.
//!
//! Besides the layout, this module reads a trailer into typed states ([`SwapState`]) and writes
//! each field exactly as MCUboot does, one flash operation per field. [`set_pending`] and
//! [`set_confirmed`] are MCUboot's public API (`boot_set_pending_multi`,
//! `boot_set_confirmed_multi`), what an application (or the SMP image-state command) calls.

use thiserror::Error;

use crate::flash::{Flash, FlashError};
use crate::layout::{Area, AreaId, FlashMap};

/// Length of the trailer magic.
pub const MAGIC_SIZE: u32 = 16;
/// `BOOT_MAX_IMG_SECTORS` as MCUboot's simulator builds it: the status area is sized for this
/// many sectors whatever the real count.
pub const MAX_IMG_SECTORS: u32 = 128;
/// The value written to a set flag (`BOOT_FLAG_SET`).
pub const FLAG_SET: u8 = 0x01;

/// The trailer magic of a build with `BOOT_MAX_ALIGN` = 8.
pub const MAGIC_MAX_ALIGN_8: [u8; 16] =
    [0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80];

/// The trailer magic for a `BOOT_MAX_ALIGN`: the classic one for 8, otherwise the alternative
/// magic whose first two bytes are the max alignment (little-endian).
pub fn magic_for(max_align: u32) -> [u8; 16] {
    if max_align == 8 {
        return MAGIC_MAX_ALIGN_8;
    }
    let a = (max_align as u16).to_le_bytes();
    [a[0], a[1], 0x2d, 0xe1, 0x5d, 0x29, 0x41, 0x0b, 0x8d, 0x77, 0x67, 0x9c, 0x11, 0x0f, 0x1f, 0x8a]
}

/// `x` rounded up to a multiple of `a` (a power of two or any positive value).
pub const fn align_up(x: u32, a: u32) -> u32 {
    x.div_ceil(a) * a
}

/// `x` rounded down to a multiple of `a`.
pub const fn align_down(x: u32, a: u32) -> u32 {
    x / a * a
}

/// Which kind of swap status the build keeps; it decides the records per sector and whether
/// the unprotected-TLV-sizes field exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusKind {
    /// Swap using scratch: 3 records per region index.
    Scratch,
    /// Swap using move: 1 move record + 2 swap records per sector (3 per sector in total).
    Move,
    /// Swap using offset: 2 records per sector, plus the unprotected TLV sizes field.
    Offset,
    /// Overwrite-only: no status is ever written (the layout is that of a 3-state build).
    OverwriteOnly,
}

impl StatusKind {
    /// `BOOT_STATUS_STATE_COUNT`.
    pub const fn state_count(self) -> u32 {
        match self {
            StatusKind::Offset => 2,
            _ => 3,
        }
    }
}

/// Why a trailer configuration or operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TrailerError {
    /// `BOOT_MAX_ALIGN` must be 8, 16 or 32.
    #[error("BOOT_MAX_ALIGN {0} is not one of 8, 16, 32")]
    BadMaxAlign(u32),
    /// The flash write size must be a power of two no larger than `BOOT_MAX_ALIGN`.
    #[error("write size {write_size} does not fit BOOT_MAX_ALIGN {max_align}")]
    BadWriteSize { write_size: u32, max_align: u32 },
    /// The flash map has no such area.
    #[error("the flash map has no area {0:?}")]
    NoArea(AreaId),
    /// The area is too small to hold a trailer.
    #[error("area of {size:#x} bytes cannot hold a trailer of {trailer:#x} bytes")]
    AreaTooSmall { size: u32, trailer: u32 },
    /// `boot_set_pending` on a secondary slot whose magic is neither erased nor good
    /// (`BOOT_EBADIMAGE`); MCUboot erases the slot before returning this.
    #[error("the secondary slot trailer magic is corrupt (slot erased)")]
    BadImage,
    /// `boot_set_confirmed` on a primary slot whose magic is corrupt (`BOOT_EBADVECT`).
    #[error("the primary slot trailer magic is corrupt")]
    BadVector,
    #[error(transparent)]
    Flash(#[from] FlashError),
}

/// The trailer geometry of one MCUboot build: `BOOT_MAX_ALIGN`, the status kind and
/// `BOOT_MAX_IMG_SECTORS`. Offsets are relative to the start of an area of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrailerLayout {
    /// `BOOT_MAX_ALIGN`: 8, 16 or 32.
    pub max_align: u32,
    pub kind: StatusKind,
    /// `BOOT_MAX_IMG_SECTORS` (128 unless configured otherwise).
    pub max_img_sectors: u32,
}

impl TrailerLayout {
    /// A layout with `BOOT_MAX_IMG_SECTORS` = 128.
    pub fn new(kind: StatusKind, max_align: u32) -> Result<TrailerLayout, TrailerError> {
        if !matches!(max_align, 8 | 16 | 32) {
            return Err(TrailerError::BadMaxAlign(max_align));
        }
        Ok(TrailerLayout { max_align, kind, max_img_sectors: MAX_IMG_SECTORS })
    }

    /// Check that a device write size can be used with this layout.
    pub fn check_write_size(&self, write_size: u32) -> Result<(), TrailerError> {
        if write_size == 0 || !write_size.is_power_of_two() || write_size > self.max_align {
            return Err(TrailerError::BadWriteSize { write_size, max_align: self.max_align });
        }
        Ok(())
    }

    /// The magic this build writes and recognises.
    pub fn magic(&self) -> [u8; 16] {
        magic_for(self.max_align)
    }

    /// `BOOT_MAGIC_ALIGN_SIZE`: how many bytes a magic write programs.
    pub fn magic_write_size(&self) -> u32 {
        align_up(MAGIC_SIZE, self.max_align)
    }

    /// `boot_trailer_info_sz`: everything but the status records.
    pub fn info_size(&self) -> u32 {
        let unprot = if self.kind == StatusKind::Offset { self.max_align } else { 0 };
        4 * self.max_align + unprot + self.magic_write_size()
    }

    /// `boot_status_sz(w)`: the status records of a slot.
    pub fn status_size(&self, write_size: u32) -> u32 {
        self.max_img_sectors * self.kind.state_count() * write_size
    }

    /// `boot_trailer_sz(w)`: the whole trailer of a slot.
    pub fn trailer_size(&self, write_size: u32) -> u32 {
        self.status_size(write_size) + self.info_size()
    }

    /// `boot_scratch_trailer_sz(w)`: the trailer of the scratch area (one region's records).
    pub fn scratch_trailer_size(&self, write_size: u32) -> u32 {
        self.kind.state_count() * write_size + self.info_size()
    }

    /// Where the 16 magic bytes start.
    pub fn magic_off(&self, size: u32) -> u32 {
        size - MAGIC_SIZE
    }

    /// Where the (padded) magic write starts.
    pub fn magic_write_off(&self, size: u32) -> u32 {
        align_down(size - MAGIC_SIZE, self.max_align)
    }

    pub fn image_ok_off(&self, size: u32) -> u32 {
        align_down(size - MAGIC_SIZE - self.max_align, self.max_align)
    }

    pub fn copy_done_off(&self, size: u32) -> u32 {
        self.image_ok_off(size) - self.max_align
    }

    pub fn swap_info_off(&self, size: u32) -> u32 {
        self.copy_done_off(size) - self.max_align
    }

    /// The unprotected TLV sizes field (meaningful in swap-offset builds only).
    pub fn unprotected_tlv_sizes_off(&self, size: u32) -> u32 {
        self.swap_info_off(size) - self.max_align
    }

    pub fn swap_size_off(&self, size: u32) -> u32 {
        if self.kind == StatusKind::Offset {
            self.unprotected_tlv_sizes_off(size) - self.max_align
        } else {
            self.swap_info_off(size) - self.max_align
        }
    }

    /// `boot_status_off`: the first status record of a slot of `size` bytes.
    pub fn status_off(&self, size: u32, write_size: u32) -> u32 {
        size.saturating_sub(self.trailer_size(write_size))
    }

    /// The first status record of the scratch area.
    pub fn scratch_status_off(&self, size: u32, write_size: u32) -> u32 {
        size.saturating_sub(self.scratch_trailer_size(write_size))
    }

    /// `boot_status_entries`: how many records the area holds.
    pub fn status_entries(&self, is_scratch: bool) -> u32 {
        if is_scratch { self.kind.state_count() } else { self.kind.state_count() * self.max_img_sectors }
    }
}

/// The trailer magic, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MagicState {
    /// The build's magic.
    Good,
    /// All 16 bytes erased.
    Unset,
    /// Anything else.
    Bad,
}

/// A one-byte flag (image_ok, copy_done), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlagState {
    /// 0x01.
    Set,
    /// The erased value.
    Unset,
    /// Anything else.
    Bad,
}

/// `BOOT_SWAP_TYPE_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SwapType {
    /// 1: nothing to do.
    None,
    /// 2: swap once, revert unless confirmed.
    Test,
    /// 3: swap for good.
    Perm,
    /// 4: swap back.
    Revert,
    /// 5: the secondary failed validation after its swap was initialised.
    Fail,
    /// 0xff: unrecoverable error.
    Panic,
}

impl SwapType {
    /// The numeric code written in the low nibble of `swap_info`.
    pub fn code(self) -> u8 {
        match self {
            SwapType::None => 1,
            SwapType::Test => 2,
            SwapType::Perm => 3,
            SwapType::Revert => 4,
            SwapType::Fail => 5,
            SwapType::Panic => 0xff,
        }
    }

    /// `BOOT_IS_UPGRADE`: test, perm or revert.
    pub fn is_upgrade(self) -> bool {
        matches!(self, SwapType::Test | SwapType::Perm | SwapType::Revert)
    }

    /// Decode a `swap_info` byte as `boot_read_swap_state` does: erased or a type above REVERT
    /// is NONE with image 0.
    pub fn from_swap_info(byte: u8, erased: u8) -> (SwapType, u8) {
        let ty = match byte & 0x0f {
            1 => SwapType::None,
            2 => SwapType::Test,
            3 => SwapType::Perm,
            4 => SwapType::Revert,
            // 0 (and the erased value 0x00) decodes to 0, which is below REVERT: MCUboot keeps
            // it as "type 0", which no table row matches; NONE is what every consumer sees.
            _ => return (SwapType::None, 0),
        };
        if byte == erased {
            return (SwapType::None, 0);
        }
        (ty, byte >> 4)
    }
}

/// One area's trailer, decoded as `boot_read_swap_state` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SwapState {
    pub magic: MagicState,
    pub swap_type: SwapType,
    /// The image index from the high nibble of swap_info.
    pub image_num: u8,
    pub copy_done: FlagState,
    pub image_ok: FlagState,
}

impl SwapState {
    /// The state of a fully erased trailer.
    pub const ERASED: SwapState = SwapState {
        magic: MagicState::Unset,
        swap_type: SwapType::None,
        image_num: 0,
        copy_done: FlagState::Unset,
        image_ok: FlagState::Unset,
    };
}

fn decode_flag(byte: u8, erased: u8) -> FlagState {
    if byte == erased {
        FlagState::Unset
    } else if byte == FLAG_SET {
        FlagState::Set
    } else {
        FlagState::Bad
    }
}

/// The erased value of the device holding `area`.
pub fn erased_value(flash: &impl Flash, area: Area) -> Result<u8, FlashError> {
    Ok(flash.geometry(area.device)?.erased_value)
}

/// The write size of the device holding `area`.
pub fn write_size(flash: &impl Flash, area: Area) -> Result<u32, FlashError> {
    Ok(flash.geometry(area.device)?.write_size)
}

/// Decode the magic at the end of `area`.
pub fn read_magic(
    flash: &mut impl Flash,
    layout: &TrailerLayout,
    area: Area,
) -> Result<MagicState, FlashError> {
    let erased = erased_value(flash, area)?;
    let mut magic = [0u8; 16];
    flash.read(area.device, area.offset + layout.magic_off(area.size), &mut magic)?;
    Ok(if magic.iter().all(|&b| b == erased) {
        MagicState::Unset
    } else if magic == layout.magic() {
        MagicState::Good
    } else {
        MagicState::Bad
    })
}

/// Read and decode the trailer of `area` (`boot_read_swap_state`).
pub fn read_swap_state(
    flash: &mut impl Flash,
    layout: &TrailerLayout,
    area: Area,
) -> Result<SwapState, FlashError> {
    let erased = erased_value(flash, area)?;
    let magic = read_magic(flash, layout, area)?;
    let mut b = [0u8; 1];
    flash.read(area.device, area.offset + layout.swap_info_off(area.size), &mut b)?;
    let (swap_type, image_num) = SwapType::from_swap_info(b[0], erased);
    flash.read(area.device, area.offset + layout.copy_done_off(area.size), &mut b)?;
    let copy_done = decode_flag(b[0], erased);
    flash.read(area.device, area.offset + layout.image_ok_off(area.size), &mut b)?;
    let image_ok = decode_flag(b[0], erased);
    Ok(SwapState { magic, swap_type, image_num, copy_done, image_ok })
}

/// Read the `swap_size` field.
pub fn read_swap_size(flash: &mut impl Flash, layout: &TrailerLayout, area: Area) -> Result<u32, FlashError> {
    let mut b = [0u8; 4];
    flash.read(area.device, area.offset + layout.swap_size_off(area.size), &mut b)?;
    Ok(u32::from_le_bytes(b))
}

/// Read the unprotected TLV sizes field (swap-offset): `(primary, secondary)`.
pub fn read_unprotected_tlv_sizes(
    flash: &mut impl Flash,
    layout: &TrailerLayout,
    area: Area,
) -> Result<(u16, u16), FlashError> {
    let mut b = [0u8; 4];
    flash.read(area.device, area.offset + layout.unprotected_tlv_sizes_off(area.size), &mut b)?;
    let v = u32::from_le_bytes(b);
    Ok((v as u16, (v >> 16) as u16))
}

/// `boot_write_trailer`: program `data` at `off` (area-relative), padded with the erased value
/// up to a multiple of the write size. One flash operation.
pub fn write_field(
    flash: &mut impl Flash,
    layout: &TrailerLayout,
    area: Area,
    off: u32,
    data: &[u8],
) -> Result<(), TrailerError> {
    let g = flash.geometry(area.device)?;
    let (w, erased) = (g.write_size, g.erased_value);
    let len = align_up(data.len() as u32, w);
    if len > layout.max_align || len as usize > 32 {
        return Err(TrailerError::BadWriteSize { write_size: w, max_align: layout.max_align });
    }
    let mut buf = [erased; 32];
    buf[..data.len()].copy_from_slice(data);
    flash.write(area.device, area.offset + off, &buf[..len as usize])?;
    Ok(())
}

/// `boot_write_magic`: one write of `align_up(16, M)` bytes, erased padding then the magic.
pub fn write_magic(flash: &mut impl Flash, layout: &TrailerLayout, area: Area) -> Result<(), TrailerError> {
    let erased = erased_value(flash, area)?;
    let n = layout.magic_write_size() as usize;
    let mut buf = [erased; 32];
    buf[n - 16..n].copy_from_slice(&layout.magic());
    flash.write(area.device, area.offset + layout.magic_write_off(area.size), &buf[..n])?;
    Ok(())
}

/// `boot_write_image_ok`.
pub fn write_image_ok(
    flash: &mut impl Flash,
    layout: &TrailerLayout,
    area: Area,
) -> Result<(), TrailerError> {
    write_field(flash, layout, area, layout.image_ok_off(area.size), &[FLAG_SET])
}

/// `boot_write_copy_done`.
pub fn write_copy_done(
    flash: &mut impl Flash,
    layout: &TrailerLayout,
    area: Area,
) -> Result<(), TrailerError> {
    write_field(flash, layout, area, layout.copy_done_off(area.size), &[FLAG_SET])
}

/// `boot_write_swap_info`: `(image << 4) | type`.
pub fn write_swap_info(
    flash: &mut impl Flash,
    layout: &TrailerLayout,
    area: Area,
    swap_type: SwapType,
    image: u8,
) -> Result<(), TrailerError> {
    let byte = (image << 4) | (swap_type.code() & 0x0f);
    write_field(flash, layout, area, layout.swap_info_off(area.size), &[byte])
}

/// `boot_write_swap_size`.
pub fn write_swap_size(
    flash: &mut impl Flash,
    layout: &TrailerLayout,
    area: Area,
    size: u32,
) -> Result<(), TrailerError> {
    write_field(flash, layout, area, layout.swap_size_off(area.size), &size.to_le_bytes())
}

/// `boot_write_unprotected_tlv_sizes` (swap-offset).
pub fn write_unprotected_tlv_sizes(
    flash: &mut impl Flash,
    layout: &TrailerLayout,
    area: Area,
    primary: u16,
    secondary: u16,
) -> Result<(), TrailerError> {
    let v = (primary as u32) | ((secondary as u32) << 16);
    write_field(flash, layout, area, layout.unprotected_tlv_sizes_off(area.size), &v.to_le_bytes())
}

fn area_of(
    map: &FlashMap,
    id: AreaId,
    layout: &TrailerLayout,
    flash: &impl Flash,
) -> Result<Area, TrailerError> {
    let area = map.area(id).ok_or(TrailerError::NoArea(id))?;
    let w = write_size(flash, area)?;
    layout.check_write_size(w)?;
    let trailer = layout.trailer_size(w);
    if area.size < trailer {
        return Err(TrailerError::AreaTooSmall { size: area.size, trailer });
    }
    Ok(area)
}

/// What [`set_pending`] or [`set_confirmed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// Trailer fields were written.
    Written,
    /// Nothing needed writing (already pending / already confirmed / nothing to confirm).
    Unchanged,
}

/// `boot_set_pending_multi(image, permanent)`: mark the image in the secondary slot to be
/// swapped in at the next boot, once (`permanent` false: TEST) or for good (PERM).
///
/// Magic erased: writes magic, then image_ok (if permanent), then swap_info, in that order.
/// Magic good: nothing (already pending). Magic corrupt: MCUboot erases the whole slot (one
/// erase operation) and fails with [`TrailerError::BadImage`].
pub fn set_pending(
    flash: &mut impl Flash,
    map: &FlashMap,
    layout: &TrailerLayout,
    image: u8,
    permanent: bool,
) -> Result<SetOutcome, TrailerError> {
    let area = area_of(map, AreaId::Secondary(image), layout, flash)?;
    let state = read_swap_state(flash, layout, area)?;
    match state.magic {
        MagicState::Good => Ok(SetOutcome::Unchanged),
        MagicState::Unset => {
            write_magic(flash, layout, area)?;
            if permanent {
                write_image_ok(flash, layout, area)?;
            }
            let ty = if permanent { SwapType::Perm } else { SwapType::Test };
            write_swap_info(flash, layout, area, ty, image)?;
            Ok(SetOutcome::Written)
        }
        MagicState::Bad => {
            flash.erase(area.device, area.offset, area.size)?;
            Err(TrailerError::BadImage)
        }
    }
}

/// `boot_set_confirmed_multi(image)`: mark the image running from the primary slot as good.
///
/// Magic good and image_ok erased: writes image_ok (copy_done is deliberately not checked).
/// Magic good with image_ok already written, or magic erased (an image flashed without a
/// trailer): nothing. Magic corrupt: [`TrailerError::BadVector`].
pub fn set_confirmed(
    flash: &mut impl Flash,
    map: &FlashMap,
    layout: &TrailerLayout,
    image: u8,
) -> Result<SetOutcome, TrailerError> {
    let area = area_of(map, AreaId::Primary(image), layout, flash)?;
    let state = read_swap_state(flash, layout, area)?;
    match state.magic {
        MagicState::Good if state.image_ok == FlagState::Unset => {
            write_image_ok(flash, layout, area)?;
            Ok(SetOutcome::Written)
        }
        MagicState::Good | MagicState::Unset => Ok(SetOutcome::Unchanged),
        MagicState::Bad => Err(TrailerError::BadVector),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_decoding_follows_the_erased_value() {
        assert_eq!(decode_flag(0xff, 0xff), FlagState::Unset);
        assert_eq!(decode_flag(0x00, 0x00), FlagState::Unset);
        assert_eq!(decode_flag(0x01, 0xff), FlagState::Set);
        assert_eq!(decode_flag(0x00, 0xff), FlagState::Bad);
        assert_eq!(decode_flag(0xff, 0x00), FlagState::Bad);
    }

    #[test]
    fn swap_info_decoding() {
        assert_eq!(SwapType::from_swap_info(0xff, 0xff), (SwapType::None, 0));
        assert_eq!(SwapType::from_swap_info(0x12, 0xff), (SwapType::Test, 1));
        assert_eq!(SwapType::from_swap_info(0x04, 0xff), (SwapType::Revert, 0));
        assert_eq!(SwapType::from_swap_info(0x05, 0xff), (SwapType::None, 0));
        assert_eq!(SwapType::from_swap_info(0x00, 0x00), (SwapType::None, 0));
    }
}
