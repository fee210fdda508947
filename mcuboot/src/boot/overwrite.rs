//! Overwrite-only (`boot_copy_image`): erase the whole primary slot sector by sector, copy the
//! whole secondary slot over it (its trailer included), raise the rollback counter, then erase
//! the secondary's first sector (header) and last sector (trailer).
//!
//! A cut anywhere before the secondary's header is erased simply restarts the copy at the next
//! boot; after that the secondary holds no image and the boot goes on with the primary.

use super::{BootError, Loader, Result, Slot};
use crate::flash::Flash;

pub fn copy_image<F: Flash>(l: &mut Loader<'_, F>) -> Result<()> {
    let pri = l.area(Slot::Primary);
    let sec = l.area(Slot::Secondary);
    let mut size = 0;
    for i in 0..l.num_sectors(Slot::Primary) {
        let s = l.sector(Slot::Primary, i);
        l.erase_region(pri, s.offset, s.size, false)?;
        size += s.size;
    }
    l.copy_region(sec, pri, 0, 0, size)?;
    if l.cfg.hw_rollback_protection {
        let hdr = l.hdr(Slot::Secondary);
        if !l.update_security_counter(hdr)? {
            return Err(BootError::Halted("security counter update failed after image upgrade"));
        }
    }
    let first = l.sector(Slot::Secondary, 0);
    l.erase_region(sec, first.offset, first.size, false)?;
    let last = l.sector(Slot::Secondary, l.num_sectors(Slot::Secondary) - 1);
    l.erase_region(sec, last.offset, last.size, false)?;
    Ok(())
}
