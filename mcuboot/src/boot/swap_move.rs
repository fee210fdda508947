//! Swap using move (`swap_move.c`).
//!
//! Move phase: for i = last..1, erase primary[i] and copy primary[i-1] into it (one record
//! each), which shifts the primary image up one sector. Swap phase: for i = 1..last, erase
//! primary[i-1], copy secondary[i-1] into it (record), erase secondary[i-1], copy the moved
//! primary[i] into it (record). A revert first makes the secondary trailer look like a
//! permanent request (`fixup_revert`), so a cut while the primary trailer is re-initialised
//! cannot lose the revert.

use super::status::{self, Op, Status};
use super::{Loader, Result, Slot, facts};
use crate::flash::Flash;
use crate::trailer::{MagicState, SwapType};

/// `find_last_idx` (move): number of sectors covering `swap_size` (1-based last index).
fn find_last_idx<F: Flash>(l: &Loader<'_, F>, swap_size: u32) -> u32 {
    let sector = l.sector(Slot::Primary, 0).size;
    swap_size.div_ceil(sector).max(1)
}

/// `boot_slots_compatible` (move): uniform sectors, primary has as many or one more.
pub fn slots_compatible<F: Flash>(l: &Loader<'_, F>) -> bool {
    let np = l.num_sectors(Slot::Primary);
    let ns = l.num_sectors(Slot::Secondary);
    if np != ns && np != ns + 1 {
        return false;
    }
    if np > l.cfg.max_img_sectors as usize {
        return false;
    }
    let mut sz = 0;
    for i in 0..ns {
        let (p, s) = (l.sector(Slot::Primary, i).size, l.sector(Slot::Secondary, i).size);
        if p != s {
            return false;
        }
        sz = p;
    }
    if np > ns && l.sector(Slot::Primary, ns).size != sz {
        return false;
    }
    true
}

/// `boot_read_image_header` (move): mid-swap the headers sit at computed places.
pub fn read_image_header<F: Flash>(l: &mut Loader<'_, F>, slot: Slot, bs: Option<&Status>) -> Result<bool> {
    let mut slot = slot;
    let mut off = 0;
    let dst = slot;
    if let Some(bs) = bs.filter(|b| !b.is_reset(l.cfg.algorithm)) {
        let area = status::find_status(l)?;
        let swap_size = crate::trailer::read_swap_size(l.flash, &l.layout, area)?;
        let last_idx = find_last_idx(l, swap_size);
        let sz = l.sector(Slot::Primary, 0).size;
        if bs.op == Op::Move && slot == Slot::Primary && bs.idx > last_idx {
            off = sz;
        } else if bs.op == Op::Swap {
            if bs.idx > 1 && bs.idx <= last_idx {
                slot = if slot == Slot::Primary { Slot::Secondary } else { Slot::Primary };
            } else if bs.idx == 1 {
                if slot == Slot::Primary {
                    off = sz;
                } else if bs.state == 2 {
                    slot = Slot::Primary;
                }
            }
        }
    }
    let h = l.read_header_at(l.area(slot), off)?;
    l.work.imgs[l.cur].hdr[dst as usize] = h;
    Ok(bs.is_none() || facts::has_magic(&h))
}

/// `swap_run` for swap-move.
pub fn swap_run<F: Flash>(l: &mut Loader<'_, F>, bs: &mut Status, copy_size: u32) -> Result<()> {
    let last_idx = find_last_idx(l, copy_size);
    let sector = l.sector(Slot::Primary, 0).size;
    if bs.is_reset(l.cfg.algorithm) {
        let tsz = l.layout.trailer_size(l.write_sz);
        let np = l.num_sectors(Slot::Primary) as u32;
        let mut first_trailer_idx = np - 1;
        let mut sz = sector;
        while sz < tsz && first_trailer_idx > 0 {
            first_trailer_idx -= 1;
            sz += sector;
        }
        if last_idx >= first_trailer_idx {
            // "Not enough free space to run swap upgrade"
            bs.swap_type = SwapType::None;
            return Ok(());
        }
    }
    // A swap size read back from a damaged trailer must not send the copies past the slots.
    if last_idx as usize >= l.num_sectors(Slot::Primary) || last_idx as usize > l.num_sectors(Slot::Secondary)
    {
        return Err(super::BootError::Halted("swap size exceeds the slots"));
    }
    let sec = l.area(Slot::Secondary);

    // fixup_revert
    if bs.swap_type == SwapType::Revert
        && bs.op == Op::Move
        && bs.idx == 1
        && l.magic_state(sec)? == MagicState::Unset
    {
        l.scramble_trailer_sectors(sec)?;
        l.write_image_ok(sec)?;
        l.write_swap_size(sec, bs.swap_size)?;
        l.write_magic(sec)?;
    }

    if bs.op == Op::Move {
        let mut idx = last_idx;
        while idx > 0 {
            if idx <= last_idx.wrapping_sub(bs.idx).wrapping_add(1) {
                move_sector_up(l, idx, sector, bs)?;
            }
            idx -= 1;
        }
        bs.idx = 1;
    }
    bs.op = Op::Swap;
    let mut idx = 1;
    while idx <= last_idx {
        if idx >= bs.idx {
            swap_sectors(l, idx, sector, bs)?;
        }
        idx += 1;
    }
    Ok(())
}

/// `boot_move_sector_up`: primary[idx-1] -> primary[idx]; the first move also initialises the
/// trailers.
fn move_sector_up<F: Flash>(l: &mut Loader<'_, F>, idx: u32, sz: u32, bs: &mut Status) -> Result<()> {
    let pri = l.area(Slot::Primary);
    let sec = l.area(Slot::Secondary);
    let new_off = l.sector(Slot::Primary, idx as usize).offset;
    let old_off = l.sector(Slot::Primary, idx as usize - 1).offset;
    if bs.idx == 1 {
        if bs.source != status::Source::Primary {
            l.scramble_trailer_sectors(pri)?;
            l.status_init(pri, bs)?;
        }
        l.scramble_trailer_sectors(sec)?;
    }
    l.erase_region(pri, new_off, sz, false)?;
    l.copy_region(pri, pri, old_off, new_off, sz)?;
    status::write_status(l, bs)?;
    bs.idx += 1;
    Ok(())
}

/// `boot_swap_sectors` (move) for sector pair `idx` (1-based).
fn swap_sectors<F: Flash>(l: &mut Loader<'_, F>, idx: u32, sz: u32, bs: &mut Status) -> Result<()> {
    let pri = l.area(Slot::Primary);
    let sec = l.area(Slot::Secondary);
    let pri_up_off = l.sector(Slot::Primary, idx as usize).offset;
    let pri_off = l.sector(Slot::Primary, idx as usize - 1).offset;
    let sec_off = l.sector(Slot::Secondary, idx as usize - 1).offset;
    if bs.state == 1 {
        l.erase_region(pri, pri_off, sz, false)?;
        l.copy_region(sec, pri, sec_off, pri_off, sz)?;
        status::write_status(l, bs)?;
        bs.state = 2;
    }
    if bs.state == 2 {
        l.erase_region(sec, sec_off, sz, false)?;
        l.copy_region(pri, sec, pri_up_off, sec_off, sz)?;
        status::write_status(l, bs)?;
        bs.idx += 1;
        bs.state = 1;
    }
    Ok(())
}
