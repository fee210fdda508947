//! The flash as the bootloader sees it.
//!
//! MCUboot talks to flash through `flash_area_read/write/erase`; every write and every erase is
//! one *flash operation*, the unit in which power can be lost. This module is that boundary:
//! [`Flash`] is implemented by the emulated NOR flash in `sim-device` (with fault injection) and
//! by [`RamFlash`] here (strict NOR rules, no faults) for tests and tools.
//!
//! A [`Flash`] holds one or more flash *devices* (internal flash, an external SPI part), each with
//! its own [`Geometry`]. Areas (slots, scratch) are placed on devices by a
//! [`FlashMap`](crate::layout::FlashMap).

use thiserror::Error;

/// Index of a flash device inside one [`Flash`]. Device 0 is the SoC's internal flash.
pub type DeviceId = u8;

/// The physical shape of one flash device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// Sector sizes in address order; the device size is their sum. Runs of equal sizes are
    /// listed once with a count.
    pub sectors: Vec<SectorRun>,
    /// Write alignment ("write size", `BOOT_WRITE_SZ`): offset and length of every program
    /// operation are multiples of it. One of 1, 2, 4, 8, 16, 32.
    pub write_size: u32,
    /// The value of an erased byte: 0xFF on most NOR parts, 0x00 on some.
    pub erased_value: u8,
}

/// `count` consecutive sectors of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectorRun {
    pub count: u32,
    pub size: u32,
}

/// One sector: where it starts and how long it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sector {
    pub offset: u32,
    pub size: u32,
}

impl Geometry {
    /// A device of `count` sectors of `size` bytes.
    pub fn uniform(count: u32, size: u32, write_size: u32, erased_value: u8) -> Geometry {
        Geometry { sectors: vec![SectorRun { count, size }], write_size, erased_value }
    }

    /// Total size in bytes.
    pub fn size(&self) -> u32 {
        self.sectors.iter().map(|r| r.count * r.size).sum()
    }

    /// Every sector in address order.
    pub fn iter_sectors(&self) -> impl Iterator<Item = Sector> + '_ {
        let mut offset = 0u32;
        self.sectors.iter().flat_map(|r| (0..r.count).map(move |_| r.size)).map(move |size| {
            let s = Sector { offset, size };
            offset += size;
            s
        })
    }

    /// The sector containing byte `offset`, if any.
    pub fn sector_at(&self, offset: u32) -> Option<Sector> {
        let mut start = 0u32;
        for run in &self.sectors {
            let run_len = run.count * run.size;
            if offset < start + run_len {
                let idx = (offset - start) / run.size;
                return Some(Sector { offset: start + idx * run.size, size: run.size });
            }
            start += run_len;
        }
        None
    }
}

/// Why a flash operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FlashError {
    /// Power was cut (fault injection). The operation may have been partly carried out (torn
    /// write, interrupted erase); the caller must stop at once, as the CPU would.
    #[error("power lost during flash operation {op}")]
    PowerLoss { op: u64 },
    /// The access runs past the end of the device or area.
    #[error("{what} of {len} bytes at {offset:#x} is out of bounds (size {size:#x})")]
    OutOfBounds { what: &'static str, offset: u32, len: u32, size: u32 },
    /// Offset or length of a write is not a multiple of the write size.
    #[error("write of {len} bytes at {offset:#x} is not aligned to the write size {write_size}")]
    Misaligned { offset: u32, len: u32, write_size: u32 },
    /// An erase that does not start and end on sector boundaries.
    #[error("erase of {len} bytes at {offset:#x} does not cover whole sectors")]
    EraseNotSectorAligned { offset: u32, len: u32 },
    /// Programming a byte that was not erased since it was last written (strict NOR mode).
    #[error("write to unerased location {offset:#x}")]
    NotErased { offset: u32 },
    /// No such device.
    #[error("no flash device {0}")]
    NoDevice(DeviceId),
    /// The write did not take (an injected silent failure is *not* reported this way; this is a
    /// failure the driver reports).
    #[error("flash write failed at {offset:#x}")]
    WriteFailed { offset: u32 },
}

/// A set of flash devices, addressed by device and byte offset.
///
/// Reads are free; each `write` and each `erase` call is exactly one flash operation, counted
/// by implementations that count and the point at which power may be cut.
pub trait Flash {
    /// The geometry of device `dev`.
    fn geometry(&self, dev: DeviceId) -> Result<&Geometry, FlashError>;
    /// Read `buf.len()` bytes at `offset`.
    fn read(&mut self, dev: DeviceId, offset: u32, buf: &mut [u8]) -> Result<(), FlashError>;
    /// Program `data` at `offset`; both must be multiples of the write size.
    fn write(&mut self, dev: DeviceId, offset: u32, data: &[u8]) -> Result<(), FlashError>;
    /// Erase `len` bytes at `offset`, which must cover whole sectors.
    fn erase(&mut self, dev: DeviceId, offset: u32, len: u32) -> Result<(), FlashError>;
}

/// A borrowed flash is a flash (so a wrapper can sit over `&mut RamFlash` without moving it).
impl<F: Flash + ?Sized> Flash for &mut F {
    fn geometry(&self, dev: DeviceId) -> Result<&Geometry, FlashError> {
        (**self).geometry(dev)
    }

    fn read(&mut self, dev: DeviceId, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        (**self).read(dev, offset, buf)
    }

    fn write(&mut self, dev: DeviceId, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        (**self).write(dev, offset, data)
    }

    fn erase(&mut self, dev: DeviceId, offset: u32, len: u32) -> Result<(), FlashError> {
        (**self).erase(dev, offset, len)
    }
}

/// In-memory flash with strict NOR rules (erase whole sectors; program only erased bytes) and
/// no fault injection. The emulated flash with faults lives in `sim-device`.
#[derive(Debug, Clone)]
pub struct RamFlash {
    devices: Vec<(Geometry, Vec<u8>)>,
}

impl RamFlash {
    /// Fully erased devices of the given geometries.
    pub fn new(geometries: Vec<Geometry>) -> RamFlash {
        let devices = geometries
            .into_iter()
            .map(|g| {
                let data = vec![g.erased_value; g.size() as usize];
                (g, data)
            })
            .collect();
        RamFlash { devices }
    }

    /// The whole contents of device `dev`.
    pub fn contents(&self, dev: DeviceId) -> Option<&[u8]> {
        self.devices.get(dev as usize).map(|(_, d)| d.as_slice())
    }

    /// Overwrite bytes directly, bypassing NOR rules (for loading a prepared flash image).
    pub fn load(&mut self, dev: DeviceId, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let (_, data) = self.device_mut(dev)?;
        let range = bounds("load", offset, bytes.len(), data.len())?;
        data[range].copy_from_slice(bytes);
        Ok(())
    }

    fn device_mut(&mut self, dev: DeviceId) -> Result<&mut (Geometry, Vec<u8>), FlashError> {
        self.devices.get_mut(dev as usize).ok_or(FlashError::NoDevice(dev))
    }
}

/// Check `offset..offset+len` against a device of `size` bytes.
pub fn bounds(
    what: &'static str,
    offset: u32,
    len: usize,
    size: usize,
) -> Result<std::ops::Range<usize>, FlashError> {
    let start = offset as usize;
    match start.checked_add(len) {
        Some(end) if end <= size => Ok(start..end),
        _ => Err(FlashError::OutOfBounds { what, offset, len: len as u32, size: size as u32 }),
    }
}

/// Check that an erase of `len` bytes at `offset` covers whole sectors of `geometry`.
pub fn check_erase(geometry: &Geometry, offset: u32, len: u32) -> Result<(), FlashError> {
    let start_ok = geometry.sector_at(offset).is_some_and(|s| s.offset == offset);
    let end = offset.checked_add(len);
    let end_ok = match end {
        Some(end) if end == geometry.size() => true,
        Some(end) => geometry.sector_at(end).is_some_and(|s| s.offset == end),
        None => false,
    };
    if len == 0 || (start_ok && end_ok) {
        Ok(())
    } else {
        Err(FlashError::EraseNotSectorAligned { offset, len })
    }
}

impl Flash for RamFlash {
    fn geometry(&self, dev: DeviceId) -> Result<&Geometry, FlashError> {
        self.devices.get(dev as usize).map(|(g, _)| g).ok_or(FlashError::NoDevice(dev))
    }

    fn read(&mut self, dev: DeviceId, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let (_, data) = self.device_mut(dev)?;
        let range = bounds("read", offset, buf.len(), data.len())?;
        buf.copy_from_slice(&data[range]);
        Ok(())
    }

    fn write(&mut self, dev: DeviceId, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let (geometry, data) = self.device_mut(dev)?;
        let write_size = geometry.write_size;
        let erased = geometry.erased_value;
        if !offset.is_multiple_of(write_size) || !(bytes.len() as u32).is_multiple_of(write_size) {
            return Err(FlashError::Misaligned { offset, len: bytes.len() as u32, write_size });
        }
        let range = bounds("write", offset, bytes.len(), data.len())?;
        if let Some(pos) = data[range.clone()].iter().position(|&b| b != erased) {
            return Err(FlashError::NotErased { offset: offset + pos as u32 });
        }
        data[range].copy_from_slice(bytes);
        Ok(())
    }

    fn erase(&mut self, dev: DeviceId, offset: u32, len: u32) -> Result<(), FlashError> {
        let (geometry, data) = self.device_mut(dev)?;
        check_erase(geometry, offset, len)?;
        let erased = geometry.erased_value;
        let range = bounds("erase", offset, len as usize, data.len())?;
        data[range].fill(erased);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sector_lookup_in_mixed_geometry() {
        let g = Geometry {
            sectors: vec![SectorRun { count: 4, size: 0x4000 }, SectorRun { count: 1, size: 0x10000 }],
            write_size: 4,
            erased_value: 0xff,
        };
        assert_eq!(g.size(), 0x20000);
        assert_eq!(g.sector_at(0x4001), Some(Sector { offset: 0x4000, size: 0x4000 }));
        assert_eq!(g.sector_at(0x1ffff), Some(Sector { offset: 0x10000, size: 0x10000 }));
        assert_eq!(g.sector_at(0x20000), None);
        assert_eq!(g.iter_sectors().count(), 5);
    }

    #[test]
    fn ram_flash_enforces_nor_rules() {
        let mut f = RamFlash::new(vec![Geometry::uniform(4, 0x1000, 8, 0xff)]);
        assert_eq!(f.write(0, 4, &[0; 8]), Err(FlashError::Misaligned { offset: 4, len: 8, write_size: 8 }));
        f.write(0, 8, &[1; 8]).unwrap();
        assert_eq!(f.write(0, 8, &[1; 8]), Err(FlashError::NotErased { offset: 8 }));
        assert!(matches!(f.erase(0, 0x800, 0x1000), Err(FlashError::EraseNotSectorAligned { .. })));
        f.erase(0, 0, 0x1000).unwrap();
        f.write(0, 8, &[2; 8]).unwrap();
        let mut buf = [0u8; 16];
        f.read(0, 0, &mut buf).unwrap();
        assert_eq!(buf, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 2, 2, 2, 2, 2, 2, 2]);
        assert!(matches!(f.read(0, 0x3ff8, &mut buf), Err(FlashError::OutOfBounds { .. })));
    }
}
