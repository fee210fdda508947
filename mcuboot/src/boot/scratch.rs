//! Swap using scratch (`swap_scratch.c`), MCUboot's default algorithm.
//!
//! The slots are swapped region by region from the top down; a region is as many primary
//! sectors as fit in the scratch area. Per region (index `idx`, 1 = highest):
//!
//! * state 1: erase scratch; for idx 1 write a full trailer to scratch, then (unless the region
//!   holds the trailer, `use_scratch`) scramble and re-initialise the primary trailer and erase
//!   scratch again; copy secondary -> scratch; record 1.
//! * state 2: for idx 1 scramble the secondary trailer; erase the secondary region (below its
//!   trailer when `use_scratch`); copy primary -> secondary; record 2.
//! * state 3: erase the primary region (scrambling its trailer first when `use_scratch`); copy
//!   scratch -> primary; when `use_scratch`, carry the two records and the trailer fields over
//!   from scratch; record 3 in the primary; when `use_scratch`, erase scratch last sector first.

use super::status::{self, Status};
use super::{Loader, Result, Slot};
use crate::flash::Flash;
use crate::trailer::{self, FlagState, SwapType};

/// Index of the first primary/secondary sector holding part of the trailer.
fn first_trailer_sector<F: Flash>(l: &Loader<'_, F>, slot: Slot, trailer_sz: u32) -> usize {
    let n = l.num_sectors(slot);
    let mut first = n - 1;
    let mut total = l.sector(slot, first).size;
    while total < trailer_sz && first > 0 {
        first -= 1;
        total += l.sector(slot, first).size;
    }
    first
}

/// `bootutil_max_image_size` for swap-scratch: the trailer start, minus padding so that the
/// scratch trailer fits beside the data of the last region.
pub fn max_image_size<F: Flash>(l: &Loader<'_, F>) -> u32 {
    let w = l.write_sz;
    let tsz = l.layout.trailer_size(w);
    let pri = l.area(Slot::Primary);
    let trailer_off = pri.size.saturating_sub(tsz);
    let end_of_first = |slot: Slot| {
        let i = first_trailer_sector(l, slot, tsz);
        let s = l.sector(slot, i);
        s.offset + s.size
    };
    let in_first = end_of_first(Slot::Primary).max(end_of_first(Slot::Secondary)).saturating_sub(trailer_off);
    let scratch_tsz = l.layout.scratch_trailer_size(w);
    trailer_off.saturating_sub(scratch_tsz.saturating_sub(in_first))
}

/// `boot_copy_sz`: the region ending at `last` that fits in scratch; returns (size, first).
fn copy_sz<F: Flash>(l: &Loader<'_, F>, last: usize, scratch_sz: u32) -> (u32, usize) {
    let mut sz = 0;
    let mut i = last as isize;
    while i >= 0 {
        let new = sz + l.sector(Slot::Primary, i as usize).size;
        if new > scratch_sz {
            break;
        }
        sz = new;
        i -= 1;
    }
    (sz, (i + 1) as usize)
}

/// `swap_run` for swap-scratch.
pub fn swap_run<F: Flash>(l: &mut Loader<'_, F>, bs: &mut Status, copy_size: u32) -> Result<()> {
    let scratch = l.scratch()?;
    let np = l.num_sectors(Slot::Primary);
    let ns = l.num_sectors(Slot::Secondary);
    let (mut psz, mut ssz) = (0u32, 0u32);
    let (mut last_p, mut last_s) = (0usize, 0usize);
    loop {
        if psz < copy_size || psz < ssz {
            if last_p >= np {
                return Err(super::BootError::Halted("swap size exceeds the primary slot"));
            }
            psz += l.sector(Slot::Primary, last_p).size;
        }
        if ssz < copy_size || ssz < psz {
            if last_s >= ns {
                return Err(super::BootError::Halted("swap size exceeds the secondary slot"));
            }
            ssz += l.sector(Slot::Secondary, last_s).size;
        }
        if psz >= copy_size && ssz >= copy_size && psz == ssz {
            break;
        }
        last_p += 1;
        last_s += 1;
    }
    let mut last = last_p as isize;
    let mut swap_idx = 0u32;
    while last >= 0 {
        let (sz, first) = copy_sz(l, last as usize, scratch.size);
        if sz == 0 {
            return Err(super::BootError::Halted("a sector does not fit in scratch"));
        }
        if swap_idx >= bs.idx - 1 {
            swap_sectors(l, first, sz, bs)?;
        }
        last = first as isize - 1;
        swap_idx += 1;
    }
    Ok(())
}

/// `boot_swap_sectors` for one region starting at primary sector `idx_first`, `sz` bytes.
fn swap_sectors<F: Flash>(l: &mut Loader<'_, F>, idx_first: usize, sz: u32, bs: &mut Status) -> Result<()> {
    let pri = l.area(Slot::Primary);
    let sec = l.area(Slot::Secondary);
    let scr = l.scratch()?;
    let img_off = l.sector(Slot::Primary, idx_first).offset;
    let w = l.write_sz;
    let tsz = l.layout.trailer_size(w);
    let first_tr_pri = first_trailer_sector(l, Slot::Primary, tsz);
    let first_tr_pri_off = l.sector(Slot::Primary, first_tr_pri).offset;
    let mut copy_sz = sz;
    if img_off + sz > first_tr_pri_off {
        // The region holds (part of) the trailer: copy only the data below it, and never more
        // than scratch can hold beside its own trailer.
        copy_sz = pri.size.saturating_sub(tsz).saturating_sub(img_off).min(sz);
        let scr_w = l.area_write_size(scr)?;
        copy_sz = copy_sz.min(scr.size.saturating_sub(l.layout.scratch_trailer_size(scr_w)));
    }
    bs.use_scratch = bs.idx == 1 && copy_sz != sz;

    if bs.state == 1 {
        l.erase_region(scr, 0, scr.size, false)?;
        if bs.idx == 1 {
            l.status_init(scr, bs)?;
            if !bs.use_scratch {
                l.scramble_trailer_sectors(pri)?;
                l.status_init(pri, bs)?;
                l.erase_region(scr, 0, scr.size, false)?;
            }
        }
        l.copy_region(sec, scr, img_off, 0, copy_sz)?;
        status::write_status(l, bs)?;
        bs.state = 2;
    }

    if bs.state == 2 {
        if bs.idx == 1 {
            l.scramble_trailer_sectors(sec)?;
        }
        if bs.use_scratch {
            let first_tr_sec = first_trailer_sector(l, Slot::Secondary, tsz);
            let end = l.sector(Slot::Secondary, first_tr_sec).offset;
            if end > img_off {
                l.erase_region(sec, img_off, end - img_off, false)?;
            }
        } else {
            l.erase_region(sec, img_off, sz, false)?;
        }
        l.copy_region(pri, sec, img_off, img_off, copy_sz)?;
        status::write_status(l, bs)?;
        bs.state = 3;
    }

    if bs.state == 3 {
        if bs.use_scratch {
            l.scramble_trailer_sectors(pri)?;
            if first_tr_pri_off > img_off {
                l.erase_region(pri, img_off, first_tr_pri_off - img_off, false)?;
            }
        } else {
            l.erase_region(pri, img_off, sz, false)?;
        }
        l.copy_region(scr, pri, 0, img_off, copy_sz)?;
        if bs.use_scratch {
            // Carry the records kept in scratch, then the trailer fields, magic last.
            let scr_off = status::status_off(l, scr, true)?;
            let n = (l.layout.kind.state_count() - 1) * w;
            l.copy_region(scr, pri, scr_off, img_off + copy_sz, n)?;
            let st = l.swap_state(scr)?;
            if st.image_ok == FlagState::Set {
                l.write_image_ok(pri)?;
            }
            if st.swap_type != SwapType::None {
                let r = trailer::write_swap_info(l.flash, &l.layout, pri, st.swap_type, l.cur as u8);
                l.trailer_op(r)?;
            }
            l.write_swap_size(pri, bs.swap_size)?;
            l.write_magic(pri)?;
        }
        let erase_scratch = bs.use_scratch;
        bs.use_scratch = false;
        status::write_status(l, bs)?;
        bs.idx += 1;
        bs.state = 1;
        if erase_scratch {
            l.erase_region(scr, 0, scr.size, true)?;
        }
    }
    Ok(())
}
