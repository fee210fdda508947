//! Saving a [`SimFlash`] to a file and loading it back, so a restarted device process keeps
//! its flash.
//!
//! File format, version 1 (all integers little-endian):
//!
//! ```text
//! offset  size  field
//! 0       8     magic "BROWNFLS"
//! 8       2     format version (1)
//! 10      2     device count D (1..=16)
//! 12      ...   D device headers:
//!                 u32 write size, u8 erased value, 3 bytes zero,
//!                 u32 sector-run count R (1..=4096), then R x (u32 count, u32 size)
//! ...     ...   D device bodies, in device order:
//!                 the cells (device size bytes),
//!                 then one (u64 reads, u64 writes, u64 erases) per sector
//! end-4   4     CRC-32 (ISO-HDLC, as zlib) of every byte before it
//! ```
//!
//! Which bytes were written since their last erase is not stored: on load, a byte counts as
//! written iff it differs from the erased value. The op counter and any fault plan are not
//! stored either (they belong to a run, not to the part).

use std::path::Path;

use mcuboot::flash::{Geometry, SectorRun};
use thiserror::Error;

use super::{Device, GeometryError, ProgramMode, SectorCounters, SimFlash, check_geometries};

/// The first 8 bytes of every flash file.
pub const MAGIC: &[u8; 8] = b"BROWNFLS";
/// The format version written by this code.
pub const VERSION: u16 = 1;
/// At most this many sector runs per device in a file.
pub const MAX_RUNS: u32 = 4096;

/// Why a flash file could not be read or written.
#[derive(Debug, Error)]
pub enum PersistError {
    #[error("flash file {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("not a brownout flash file (magic {found:02x?}, expected \"BROWNFLS\")")]
    BadMagic { found: Vec<u8> },
    #[error("flash file format version {found} is not supported (this build reads version {VERSION})")]
    UnsupportedVersion { found: u16 },
    #[error("flash file truncated: {what} at byte {offset} needs {needed} bytes, {left} left")]
    Truncated { what: &'static str, offset: usize, needed: usize, left: usize },
    #[error("flash file has {found} sector runs for device {device} (at most {MAX_RUNS})")]
    TooManyRuns { device: usize, found: u32 },
    #[error("flash file describes an unusable geometry: {0}")]
    Geometry(#[from] GeometryError),
    #[error("flash file holds {found} devices, expected {expected}")]
    DeviceCount { expected: usize, found: usize },
    #[error("flash file device {device} geometry {found:?} differs from the expected {expected:?}")]
    GeometryMismatch { device: usize, expected: Box<Geometry>, found: Box<Geometry> },
    #[error("flash file checksum {found:#010x} does not match its contents ({computed:#010x}): file corrupt")]
    Checksum { found: u32, computed: u32 },
    #[error("flash file has {extra} unexpected bytes after the last device")]
    TrailingBytes { extra: usize },
}

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

impl SimFlash {
    /// The flash as a version-1 file image (see the [module documentation](self)).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.devices.len() as u16).to_le_bytes());
        for d in &self.devices {
            let g = &d.geometry;
            out.extend_from_slice(&g.write_size.to_le_bytes());
            out.extend_from_slice(&[g.erased_value, 0, 0, 0]);
            out.extend_from_slice(&(g.sectors.len() as u32).to_le_bytes());
            for run in &g.sectors {
                out.extend_from_slice(&run.count.to_le_bytes());
                out.extend_from_slice(&run.size.to_le_bytes());
            }
        }
        for d in &self.devices {
            out.extend_from_slice(&d.data);
            for c in &d.counters {
                for v in [c.reads, c.writes, c.erases] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        let crc = CRC32.checksum(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parse a file image. With `expected` geometries the file must match them exactly (same
    /// devices, sectors, write size, erased value); without, the file's own geometry is used.
    pub fn from_bytes(
        bytes: &[u8],
        expected: Option<&[Geometry]>,
        mode: ProgramMode,
    ) -> Result<SimFlash, PersistError> {
        let mut r = Reader { bytes, pos: 0 };
        let magic = r.take("magic", 8)?;
        if magic != MAGIC {
            return Err(PersistError::BadMagic { found: magic.to_vec() });
        }
        let version = r.u16("format version")?;
        if version != VERSION {
            return Err(PersistError::UnsupportedVersion { found: version });
        }
        // Check the checksum before trusting any size in the file.
        let Some(body_len) = bytes.len().checked_sub(4) else {
            return Err(PersistError::Truncated {
                what: "checksum",
                offset: 0,
                needed: 4,
                left: bytes.len(),
            });
        };
        let mut crc_bytes = [0u8; 4];
        crc_bytes.copy_from_slice(&bytes[body_len..]);
        let found = u32::from_le_bytes(crc_bytes);
        let computed = CRC32.checksum(&bytes[..body_len]);
        if found != computed {
            return Err(PersistError::Checksum { found, computed });
        }
        let mut r = Reader { bytes: &bytes[..body_len], pos: r.pos };

        let count = r.u16("device count")? as usize;
        if count == 0 || count > super::MAX_DEVICES {
            return Err(GeometryError::TooManyDevices(count).into());
        }
        let mut geometries = Vec::with_capacity(count);
        for device in 0..count {
            let write_size = r.u32("write size")?;
            let erased = r.take("erased value", 4)?[0];
            let runs = r.u32("sector run count")?;
            if runs == 0 || runs > MAX_RUNS {
                return Err(PersistError::TooManyRuns { device, found: runs });
            }
            let mut sectors = Vec::with_capacity(runs as usize);
            for _ in 0..runs {
                let count = r.u32("sector run count")?;
                let size = r.u32("sector size")?;
                sectors.push(SectorRun { count, size });
            }
            geometries.push(Geometry { sectors, write_size, erased_value: erased });
        }
        check_geometries(&geometries)?;
        if let Some(expected) = expected {
            if expected.len() != geometries.len() {
                return Err(PersistError::DeviceCount { expected: expected.len(), found: geometries.len() });
            }
            for (device, (e, f)) in expected.iter().zip(&geometries).enumerate() {
                if !same_geometry(e, f) {
                    return Err(PersistError::GeometryMismatch {
                        device,
                        expected: Box::new(e.clone()),
                        found: Box::new(f.clone()),
                    });
                }
            }
        }
        // Sizes are bounded by check_geometries; also make sure the file really holds them
        // before allocating anything.
        let needed: usize =
            geometries.iter().map(|g| g.size() as usize + g.iter_sectors().count() * 24).sum();
        if r.left() < needed {
            return Err(PersistError::Truncated {
                what: "device contents",
                offset: r.pos,
                needed,
                left: r.left(),
            });
        }
        let mut flash = SimFlash::new(geometries, mode)?;
        for d in &mut flash.devices {
            let data = r.take("device contents", d.data.len())?;
            d.data.copy_from_slice(data);
            refresh_programmed(d);
            for c in &mut d.counters {
                *c = SectorCounters {
                    reads: r.u64("read counter")?,
                    writes: r.u64("write counter")?,
                    erases: r.u64("erase counter")?,
                };
            }
        }
        if r.left() != 0 {
            return Err(PersistError::TrailingBytes { extra: r.left() });
        }
        Ok(flash)
    }

    /// Write the flash to `path` (through a temporary file in the same directory, renamed into
    /// place, so a crash never leaves half a file).
    pub fn save(&self, path: &Path) -> Result<(), PersistError> {
        let io = |source| PersistError::Io { path: path.display().to_string(), source };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        std::fs::write(&tmp, self.to_bytes()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Read a flash file written by [`SimFlash::save`]; see [`SimFlash::from_bytes`].
    pub fn load_file(
        path: &Path,
        expected: Option<&[Geometry]>,
        mode: ProgramMode,
    ) -> Result<SimFlash, PersistError> {
        let io = |source| PersistError::Io { path: path.display().to_string(), source };
        let len = std::fs::metadata(path).map_err(io)?.len();
        // The largest possible file: every device at the maximum size, plus headers.
        let limit = super::MAX_DEVICES as u64 * (super::MAX_DEVICE_SIZE * 2) + (1 << 20);
        if len > limit {
            return Err(PersistError::TrailingBytes { extra: (len - limit) as usize });
        }
        let bytes = std::fs::read(path).map_err(io)?;
        SimFlash::from_bytes(&bytes, expected, mode)
    }
}

impl SimFlash {
    /// The flash a device process starts with: the contents of `path` if it exists (which must
    /// match `geometries` exactly), else fully erased devices (nothing is written until
    /// [`SimFlash::save`]).
    pub fn open_or_erased(
        path: &Path,
        geometries: &[Geometry],
        mode: ProgramMode,
    ) -> Result<SimFlash, PersistError> {
        match std::fs::metadata(path) {
            Ok(_) => SimFlash::load_file(path, Some(geometries), mode),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(SimFlash::new(geometries.to_vec(), mode)?)
            }
            Err(source) => Err(PersistError::Io { path: path.display().to_string(), source }),
        }
    }
}

/// Geometries are the same if they have the same sectors (however the runs are split), write
/// size and erased value.
fn same_geometry(a: &Geometry, b: &Geometry) -> bool {
    a.write_size == b.write_size && a.erased_value == b.erased_value && a.iter_sectors().eq(b.iter_sectors())
}

fn refresh_programmed(d: &mut Device) {
    let erased = d.geometry.erased_value;
    d.programmed.fill(0);
    for (i, &b) in d.data.iter().enumerate() {
        if b != erased {
            d.programmed[i / 8] |= 1 << (i % 8);
        }
    }
}

/// A cursor over the file bytes that names what it was reading when they ran out.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn left(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn take(&mut self, what: &'static str, n: usize) -> Result<&'a [u8], PersistError> {
        if self.left() < n {
            return Err(PersistError::Truncated { what, offset: self.pos, needed: n, left: self.left() });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, PersistError> {
        let b = self.take(what, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, PersistError> {
        let b = self.take(what, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, PersistError> {
        let b = self.take(what, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}
