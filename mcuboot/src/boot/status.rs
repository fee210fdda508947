//! Swap progress (`struct boot_status`): where the records live (the status *source*), how
//! they decode into (operation, index, state), and how one is written.

use super::{Algorithm, Loader, Result, Slot};
use crate::flash::Flash;
use crate::layout::Area;
use crate::trailer::{FlagState, MagicState, SwapType};

/// `BOOT_STATUS_OP_*` (swap-move has two phases; the others only "swap").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Move,
    Swap,
}

/// `BOOT_STATUS_SOURCE_*`: where the status of an interrupted swap is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    None,
    Scratch,
    Primary,
}

/// Progress of a swap: the next step to carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub op: Op,
    /// 1-based region / sector index (`BOOT_STATUS_IDX_0` = 1).
    pub idx: u32,
    /// 1-based state within the index (`BOOT_STATUS_STATE_0` = 1).
    pub state: u8,
    pub swap_type: SwapType,
    pub source: Source,
    /// Swap-scratch: the status records of this region go to the scratch trailer.
    pub use_scratch: bool,
    pub swap_size: u32,
}

impl Status {
    /// `boot_status_reset`.
    pub fn reset(alg: Algorithm) -> Status {
        Status {
            op: if alg == Algorithm::SwapOffset { Op::Swap } else { Op::Move },
            idx: 1,
            state: 1,
            swap_type: SwapType::None,
            source: Source::None,
            use_scratch: false,
            swap_size: 0,
        }
    }

    /// `boot_status_is_reset`: nothing recorded yet.
    pub fn is_reset(&self, alg: Algorithm) -> bool {
        let op = if alg == Algorithm::SwapOffset { Op::Swap } else { Op::Move };
        self.op == op && self.idx == 1 && self.state == 1
    }
}

/// `swap_status_source` of the configured algorithm.
pub fn status_source<F: Flash>(l: &mut Loader<'_, F>) -> Result<Source> {
    let pri = l.area(Slot::Primary);
    let p = l.swap_state(pri)?;
    match l.cfg.algorithm {
        Algorithm::SwapScratch => {
            let scr = l.scratch()?;
            let s = l.swap_state(scr)?;
            let source = if p.magic == MagicState::Good
                && p.copy_done == FlagState::Set
                && s.magic != MagicState::Good
            {
                Source::None
            } else if p.magic == MagicState::Good
                && p.copy_done == FlagState::Unset
                && s.magic != MagicState::Good
            {
                Source::Primary
            } else if s.magic == MagicState::Good {
                // Multi-image: a scratch trailer of another image is not ours.
                if l.map.images.len() > 1 && s.image_num as usize != l.cur {
                    Source::None
                } else {
                    Source::Scratch
                }
            } else if p.magic == MagicState::Unset && p.copy_done == FlagState::Unset {
                Source::Primary
            } else {
                Source::None
            };
            Ok(source)
        }
        _ => {
            let sec = l.area(Slot::Secondary);
            let s = l.swap_state(sec)?;
            Ok(
                if p.magic == MagicState::Good
                    && p.copy_done == FlagState::Unset
                    && s.magic != MagicState::Good
                {
                    Source::Primary
                } else {
                    Source::None
                },
            )
        }
    }
}

/// `swap_read_status`: find the source, decode its records into `bs`, and read its swap_info.
pub fn read_status<F: Flash>(l: &mut Loader<'_, F>, bs: &mut Status) -> Result<()> {
    bs.source = status_source(l)?;
    let area = match bs.source {
        Source::None => return Ok(()),
        Source::Scratch => l.scratch()?,
        Source::Primary => l.area(Slot::Primary),
    };
    read_status_bytes(l, area, bs.source == Source::Scratch, bs)?;
    let mut b = [0u8; 1];
    l.read(area, l.layout.swap_info_off(area.size), &mut b)?;
    let erased = l.erased_val(area)?;
    bs.swap_type = if b[0] == erased {
        SwapType::None
    } else {
        match b[0] & 0x0f {
            1 => SwapType::None,
            2 => SwapType::Test,
            3 => SwapType::Perm,
            4 => SwapType::Revert,
            5 => SwapType::Fail,
            _ => SwapType::Panic,
        }
    };
    Ok(())
}

/// The first record of `area`'s status area.
pub fn status_off<F: Flash>(l: &Loader<'_, F>, area: Area, is_scratch: bool) -> Result<u32> {
    let w = l.area_write_size(area)?;
    Ok(if is_scratch { l.layout.scratch_status_off(area.size, w) } else { l.layout.status_off(area.size, w) })
}

/// `swap_read_status_bytes`.
fn read_status_bytes<F: Flash>(
    l: &mut Loader<'_, F>,
    area: Area,
    is_scratch: bool,
    bs: &mut Status,
) -> Result<()> {
    let off = status_off(l, area, is_scratch)?;
    let entries = l.layout.status_entries(is_scratch) as usize;
    let w = l.write_sz as usize;
    let erased = l.erased_val(area)?;
    let mut buf = std::mem::take(&mut l.work.status_buf);
    buf.resize(entries * w, 0);
    let r = l.read(area, off, &mut buf);
    let rec = |i: usize| buf[i * w] != erased;
    let result = r.map(|_| match l.cfg.algorithm {
        Algorithm::SwapScratch => {
            // Forward scan: the first written record, then the first erased one after it.
            let mut found = false;
            let mut found_idx = 0usize;
            let mut invalid = false;
            let mut i = 0;
            while i < entries {
                if !rec(i) {
                    if found && found_idx == 0 {
                        found_idx = i;
                    }
                } else if !found {
                    found = true;
                } else if found_idx != 0 {
                    invalid = true;
                    break;
                }
                i += 1;
            }
            if found {
                if found_idx == 0 {
                    found_idx = i;
                }
                let sc = l.layout.kind.state_count() as usize;
                bs.idx = (found_idx / sc) as u32 + 1;
                bs.state = (found_idx % sc) as u8 + 1;
            }
            // An inconsistent status asserts unless the primary is validated.
            !invalid || l.cfg.validate_primary
        }
        Algorithm::SwapMove | Algorithm::SwapOffset => {
            // Backward scan for the last written record (1-based position).
            let found_idx = (1..=entries).rev().find(|&i| rec(i - 1));
            if let Some(found_idx) = found_idx {
                if l.cfg.algorithm == Algorithm::SwapMove {
                    let move_entries = l.layout.max_img_sectors as usize;
                    if found_idx < move_entries {
                        bs.op = Op::Move;
                        bs.idx = found_idx as u32 + 1;
                        bs.state = 1;
                    } else {
                        bs.op = Op::Swap;
                        bs.idx = ((found_idx - move_entries) / 2) as u32 + 1;
                        bs.state = ((found_idx - move_entries) % 2) as u8 + 1;
                    }
                } else {
                    bs.op = Op::Swap;
                    bs.idx = (found_idx / 2) as u32 + 1;
                    bs.state = (found_idx % 2) as u8 + 1;
                }
            }
            true
        }
        Algorithm::OverwriteOnly => true,
    });
    l.work.status_buf = buf;
    if !result? {
        return Err(super::BootError::Halted("inconsistent swap status"));
    }
    Ok(())
}

/// `boot_find_status`: the first of [scratch, primary] whose magic is good (the primary when
/// none is).
pub fn find_status<F: Flash>(l: &mut Loader<'_, F>) -> Result<Area> {
    let pri = l.area(Slot::Primary);
    if l.cfg.algorithm == Algorithm::SwapScratch {
        let scr = l.scratch()?;
        if l.magic_state(scr)? == MagicState::Good {
            return Ok(scr);
        }
    }
    Ok(pri)
}

/// `boot_status_internal_off`.
fn internal_off<F: Flash>(l: &Loader<'_, F>, bs: &Status) -> u32 {
    let w = l.write_sz;
    let idx = bs.idx - 1;
    let st = bs.state as u32 - 1;
    match l.cfg.algorithm {
        Algorithm::SwapMove => match bs.op {
            Op::Move => idx * w + st * w,
            Op::Swap => l.layout.max_img_sectors * w + idx * 2 * w + st * w,
        },
        _ => idx * l.layout.kind.state_count() * w + st * w,
    }
}

/// `boot_write_status`: one record, first byte = the state, rest erased; to the scratch when
/// `use_scratch`, else to the primary slot.
pub fn write_status<F: Flash>(l: &mut Loader<'_, F>, bs: &Status) -> Result<()> {
    let (area, is_scratch) =
        if bs.use_scratch { (l.scratch()?, true) } else { (l.area(Slot::Primary), false) };
    let off = status_off(l, area, is_scratch)? + internal_off(l, bs);
    let align = l.area_write_size(area)? as usize;
    let mut buf = [l.erased_val(area)?; 32];
    buf[0] = bs.state;
    l.write(area, off, &buf[..align])
}
