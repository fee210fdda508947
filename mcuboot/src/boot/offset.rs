//! Swap using offset (`swap_offset.c`).
//!
//! The update is uploaded one sector into the secondary slot. Upgrade, for i = 0..=last:
//! erase secondary[i], copy primary[i] into it (record), erase primary[i], copy secondary[i+1]
//! into it (record). The new image ends at primary offset 0, the old one at secondary offset 0.
//! Revert runs the mirror image from the top sector down and finally erases secondary sector 0
//! and the secondary trailer. Copies of sectors beyond an image's used size are skipped (only
//! the record is written).

use super::status::{self, Status};
use super::{Loader, Result, Slot, facts};
use crate::flash::Flash;
use crate::trailer::{MagicState, SwapType};

/// `find_last_idx` (offset): 0-based index of the last sector covering `swap_size`.
fn find_last_idx<F: Flash>(l: &Loader<'_, F>, swap_size: u32) -> u32 {
    let sector = l.sector(Slot::Primary, 0).size;
    swap_size.div_ceil(sector).max(1) - 1
}

fn trailer_sectors<F: Flash>(l: &Loader<'_, F>) -> u32 {
    let sector = l.sector(Slot::Primary, 0).size;
    l.layout.trailer_size(l.write_sz).div_ceil(sector).max(1)
}

/// `boot_slots_compatible` (offset): uniform sectors, secondary has as many or one more.
pub fn slots_compatible<F: Flash>(l: &Loader<'_, F>) -> bool {
    let np = l.num_sectors(Slot::Primary);
    let ns = l.num_sectors(Slot::Secondary);
    if np != ns && np + 1 != ns {
        return false;
    }
    if np > l.cfg.max_img_sectors as usize {
        return false;
    }
    let usable = (np as u32).saturating_sub(trailer_sectors(l)).min(ns as u32 - 1) as usize;
    let mut sz = 0;
    for i in 0..usable {
        let (p, s) = (l.sector(Slot::Primary, i).size, l.sector(Slot::Secondary, i).size);
        if p != s {
            return false;
        }
        sz = p;
    }
    if np > ns && l.sector(Slot::Primary, usable).size != sz {
        return false;
    }
    // The algorithm addresses both slots with the primary's uniform sector size.
    let s0 = l.sector(Slot::Primary, 0).size;
    (0..np).all(|i| l.sector(Slot::Primary, i).size == s0)
        && (0..ns).all(|i| l.sector(Slot::Secondary, i).size == s0)
}

fn reverting<F: Flash>(l: &mut Loader<'_, F>, bs: Option<&Status>) -> Result<bool> {
    Ok(bs.is_some_and(|b| b.swap_type == SwapType::Revert) || l.table_swap_type()? == SwapType::Revert)
}

/// `boot_read_image_header` (offset): the secondary image normally starts one sector in;
/// mid-swap the headers sit at computed places.
pub fn read_image_header<F: Flash>(l: &mut Loader<'_, F>, slot: Slot, bs: Option<&Status>) -> Result<bool> {
    let dst = slot;
    let sz = l.sector(Slot::Secondary, 0).size;
    let mut slot = slot;
    let mut off = 0;
    let mut check_other = true;
    match bs {
        None => {
            if slot == Slot::Secondary && l.table_swap_type()? != SwapType::Revert {
                off = sz;
            }
        }
        Some(b) if !b.is_reset(l.cfg.algorithm) => {
            check_other = false;
            let area = status::find_status(l)?;
            let swap_size = crate::trailer::read_swap_size(l.flash, &l.layout, area)?;
            let last_idx = find_last_idx(l, swap_size);
            let idx0 = b.idx - 1;
            if reverting(l, bs)? {
                if slot == Slot::Primary {
                    if idx0 > last_idx || (idx0 == last_idx && b.state == 2) {
                        slot = Slot::Secondary;
                        off = sz;
                    }
                } else if idx0 > last_idx || (idx0 == last_idx && b.state == 3) {
                    slot = Slot::Primary;
                }
            } else if slot == Slot::Primary {
                if (b.idx > 1 || b.state == 2) && b.idx <= last_idx {
                    slot = Slot::Secondary;
                }
            } else if b.idx > 1 {
                slot = Slot::Primary;
            } else {
                off = sz;
            }
        }
        Some(b) => {
            let revert = b.swap_type == SwapType::Revert || l.table_swap_type()? == SwapType::Revert;
            if !revert && slot == Slot::Secondary {
                off = sz;
            }
        }
    }
    let area = l.area(slot);
    let mut h = l.read_header_at(area, off)?;
    if check_other && !facts::has_magic(&h) && slot == Slot::Secondary {
        off = if l.table_swap_type()? != SwapType::Revert { 0 } else { sz };
        h = l.read_header_at(area, off)?;
    }
    if facts::has_magic(&h) && bs.is_some() && slot == Slot::Secondary {
        l.work.imgs[l.cur].secondary_offset = off;
    }
    l.work.imgs[l.cur].hdr[dst as usize] = h;
    Ok(bs.is_none() || facts::has_magic(&h))
}

/// `swap_run` for swap-offset.
pub fn swap_run<F: Flash>(l: &mut Loader<'_, F>, bs: &mut Status, copy_size: u32) -> Result<()> {
    let last_idx = find_last_idx(l, copy_size);
    let sector = l.sector(Slot::Primary, 0).size;
    if bs.is_reset(l.cfg.algorithm) {
        let np = l.num_sectors(Slot::Primary) as u32;
        let first_trailer_idx = np.saturating_sub(trailer_sectors(l));
        if last_idx >= first_trailer_idx {
            bs.swap_type = SwapType::None;
            return Ok(());
        }
    }
    // A swap size read back from a damaged trailer must not send the copies past the slots.
    if last_idx as usize + 1 >= l.num_sectors(Slot::Secondary)
        || last_idx as usize >= l.num_sectors(Slot::Primary)
    {
        return Err(super::BootError::Halted("swap size exceeds the slots"));
    }
    let pri = l.area(Slot::Primary);
    let sec = l.area(Slot::Secondary);

    // fixup_revert: make a starting revert look like row I of the table on the secondary.
    if bs.swap_type == SwapType::Revert && bs.idx == 1 && l.magic_state(sec)? == MagicState::Unset {
        l.scramble_trailer_sectors(sec)?;
        l.write_copy_done(sec)?;
        l.status_init(sec, bs)?;
    }
    if bs.idx == 1 {
        if bs.source != status::Source::Primary {
            l.scramble_trailer_sectors(pri)?;
            l.status_init(pri, bs)?;
        }
        l.scramble_trailer_sectors(sec)?;
    }

    let used = |l: &Loader<'_, F>, slot: Slot| {
        let h = l.hdr(slot);
        let total = h.hdr_size as u64
            + h.protect_tlv_size as u64
            + h.img_size as u64
            + l.work.imgs[l.cur].unprot[slot as usize] as u64;
        total.div_ceil(sector as u64).min(u32::MAX as u64) as u32
    };
    let used_pri = used(l, Slot::Primary);
    let used_sec = used(l, Slot::Secondary);

    let revert = bs.swap_type == SwapType::Revert || l.table_swap_type()? == SwapType::Revert;
    let mut idx = 0;
    if revert {
        while idx <= last_idx {
            if idx >= bs.idx - 1 {
                let m = last_idx - idx;
                swap_sector_pair(l, m, m + 1, m, sector, bs, m > used_pri, m > used_sec)?;
            }
            idx += 1;
        }
        let s0 = l.sector(Slot::Secondary, 0);
        l.erase_region(sec, s0.offset, sector, false)?;
        l.scramble_trailer_sectors(sec)?;
    } else {
        while idx <= last_idx {
            if idx >= bs.idx - 1 {
                swap_sector_pair(l, idx, idx, idx + 1, sector, bs, idx > used_pri, idx > used_sec)?;
            }
            idx += 1;
        }
    }
    Ok(())
}

/// One sector pair, in two recorded states: (1) erase secondary sector `sec_dst`, copy primary
/// sector `idx` into it; (2) erase primary sector `idx`, copy secondary sector `sec_src` into it.
/// The upgrade moves the secondary's image down a sector (`sec_dst = idx`, `sec_src = idx + 1`);
/// the revert moves it back up (`sec_dst = idx + 1`, `sec_src = idx`). A skipped copy still
/// writes its status record, as MCUboot does for sectors past an image's end.
#[allow(clippy::too_many_arguments)]
fn swap_sector_pair<F: Flash>(
    l: &mut Loader<'_, F>,
    idx: u32,
    sec_dst: u32,
    sec_src: u32,
    sz: u32,
    bs: &mut Status,
    skip_primary: bool,
    skip_secondary: bool,
) -> Result<()> {
    let pri = l.area(Slot::Primary);
    let sec = l.area(Slot::Secondary);
    let pri_off = idx * sz;
    if bs.state == 1 {
        if !skip_primary {
            l.erase_region(sec, sec_dst * sz, sz, false)?;
            l.copy_region(pri, sec, pri_off, sec_dst * sz, sz)?;
        }
        status::write_status(l, bs)?;
        bs.state = 2;
    }
    if bs.state == 2 {
        if !skip_secondary {
            l.erase_region(pri, pri_off, sz, false)?;
            l.copy_region(sec, pri, sec_src * sz, pri_off, sz)?;
        }
        status::write_status(l, bs)?;
        bs.idx += 1;
        bs.state = 1;
    }
    Ok(())
}
