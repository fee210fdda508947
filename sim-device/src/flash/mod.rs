//! The emulated NOR flash: one or more devices with MCUboot's geometries, NOR programming rules,
//! wear counters, fault injection, cheap snapshots and persistence to a file.
//!
//! [`SimFlash`] implements [`mcuboot::flash::Flash`], so the bootloader runs on it unchanged.
//! Each `write` and each `erase` call is one *flash operation*: the unit that is counted and at
//! which power can be cut ([`fault`]). Reads are free (counted per sector, never faulted, but
//! they fail like everything else while the power is off).
//!
//! NOR rules:
//! * erase works on whole sectors only and sets every byte to the erased value (0xFF or 0x00);
//! * a write's offset and length are multiples of the write size;
//! * programming can only move bits away from the erased value. [`ProgramMode::Strict`]
//!   rejects any write to a byte that was programmed (or is not erased) since its last erase,
//!   as MCUboot's own simulator does; [`ProgramMode::Realistic`] lets it through and stores what
//!   the cells would hold: `old & data` on 0xFF-erased parts, `old | data` on 0x00-erased ones.
//!
//! Snapshots ([`SimFlash::snapshot`], [`SimFlash::restore`]) are copy-on-restore: the flash
//! remembers which sectors changed since the snapshot it last took or restored, and restoring
//! that same snapshot copies only those sectors back. A power-cut sweep restores the same
//! pre-boot snapshot for every cut, so each restore costs a few sectors, not the whole device.
//! [`SimFlash::sync_from`] does the same between two live flashes (a sweep keeps a *cursor*
//! flash one operation ahead and copies it into the flash under test before every cut).
//!
//! Persistence ([`persist`]): [`SimFlash::save`] / [`SimFlash::load_file`] keep a device's
//! flash across process restarts, in a small versioned format that names the geometry.
//!
//! ```
//! use mcuboot::flash::{Flash, FlashError};
//! use mcuboot::layout::FlashMap;
//! use sim_device::flash::{EraseTear, FaultKind, ProgramMode, SimFlash};
//!
//! let map = FlashMap::preset("k64f").unwrap();
//! let mut flash = SimFlash::for_map(&map, ProgramMode::Strict).unwrap();
//! flash.write(0, 0x20000, &[0x11; 8]).unwrap(); // op 1
//! let before = flash.snapshot();
//! // Power fails half-way through the next operation, an erase.
//! flash.arm(2, FaultKind::InterruptedErase(EraseTear::Prefix { bytes: 4 }));
//! assert_eq!(flash.erase(0, 0x20000, 0x1000), Err(FlashError::PowerLoss { op: 2 }));
//! assert_eq!(&flash.contents(0).unwrap()[0x20000..0x20008], &[0xff, 0xff, 0xff, 0xff, 0x11, 0x11, 0x11, 0x11]);
//! flash.power_on();
//! flash.restore(&before).unwrap(); // copies back one sector
//! assert_eq!(&flash.contents(0).unwrap()[0x20000..0x20008], &[0x11; 8]);
//! ```

pub mod fault;
pub mod persist;

use mcuboot::flash::{DeviceId, Flash, FlashError, Geometry, bounds, check_erase};
use mcuboot::layout::{Area, FlashMap};
use thiserror::Error;

pub use fault::{EraseTear, Fault, FaultKind, FaultPlan, Rng, WriteTear};

/// How a write to already-programmed cells is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramMode {
    /// Any write touching a byte that was written since its last erase (even with the erased
    /// value) or that does not hold the erased value fails with `FlashError::NotErased`
    /// and changes nothing. Catches bootloader bugs, like MCUboot's simflash.
    Strict,
    /// Writes always go through and can only clear bits (0xFF-erased) or set bits
    /// (0x00-erased), as the physical cells would.
    Realistic,
}

/// Access counts of one sector since the flash was made (or the counters were reset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SectorCounters {
    /// `read` calls that touched the sector.
    pub reads: u64,
    /// `write` calls that touched the sector (including faulted ones that reached the cells).
    pub writes: u64,
    /// Erases of the sector: its wear.
    pub erases: u64,
}

/// A flash operation, as recorded by [`SimFlash::set_recording`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpRecord {
    /// 1-based operation number.
    pub op: u64,
    pub kind: OpKind,
    pub device: DeviceId,
    pub offset: u32,
    pub len: u32,
}

/// Write or erase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    Write,
    Erase,
}

/// A geometry the simulator cannot model.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GeometryError {
    #[error("flash needs at least one device")]
    NoDevices,
    #[error("too many flash devices ({0}, at most {MAX_DEVICES})")]
    TooManyDevices(usize),
    #[error("device {device}: write size {write_size} is not one of 1, 2, 4, 8, 16, 32")]
    WriteSize { device: usize, write_size: u32 },
    #[error("device {device}: erased value {value:#04x} is neither 0xff nor 0x00")]
    ErasedValue { device: usize, value: u8 },
    #[error("device {device}: sector size {size} is zero or not a multiple of 8 and the write size")]
    SectorSize { device: usize, size: u32 },
    #[error("device {device}: size {size} bytes is empty or larger than {MAX_DEVICE_SIZE} bytes")]
    DeviceSize { device: usize, size: u64 },
    #[error("device {device}: {count} sectors (at most {MAX_SECTORS})")]
    SectorCount { device: usize, count: u64 },
}

/// At most this many devices in one flash.
pub const MAX_DEVICES: usize = 16;
/// At most this many bytes per device (bounds the memory a geometry, e.g. from a file, can ask for).
pub const MAX_DEVICE_SIZE: u64 = 256 << 20;
/// At most this many sectors per device.
pub const MAX_SECTORS: u64 = 1 << 16;

/// Check that `geometries` describe devices this simulator can hold.
pub fn check_geometries(geometries: &[Geometry]) -> Result<(), GeometryError> {
    if geometries.is_empty() {
        return Err(GeometryError::NoDevices);
    }
    if geometries.len() > MAX_DEVICES {
        return Err(GeometryError::TooManyDevices(geometries.len()));
    }
    for (device, g) in geometries.iter().enumerate() {
        if ![1, 2, 4, 8, 16, 32].contains(&g.write_size) {
            return Err(GeometryError::WriteSize { device, write_size: g.write_size });
        }
        if g.erased_value != 0xff && g.erased_value != 0x00 {
            return Err(GeometryError::ErasedValue { device, value: g.erased_value });
        }
        let mut size = 0u64;
        let mut count = 0u64;
        for run in &g.sectors {
            count += u64::from(run.count);
            if run.size == 0 || run.size % 8 != 0 || run.size % g.write_size != 0 {
                return Err(GeometryError::SectorSize { device, size: run.size });
            }
            size += u64::from(run.count) * u64::from(run.size);
        }
        if size == 0 || size > MAX_DEVICE_SIZE {
            return Err(GeometryError::DeviceSize { device, size });
        }
        if count > MAX_SECTORS {
            return Err(GeometryError::SectorCount { device, count });
        }
    }
    Ok(())
}

/// One flash device: its cells and bookkeeping.
#[derive(Debug, Clone)]
struct Device {
    geometry: Geometry,
    /// The cells.
    data: Vec<u8>,
    /// One bit per byte: written since its last erase (bit `i % 8` of byte `i / 8`).
    programmed: Vec<u8>,
    /// Start offset of every sector, ascending.
    sector_starts: Vec<u32>,
    /// The sector size when all sectors are equal (fast lookup).
    uniform: Option<u32>,
    counters: Vec<SectorCounters>,
    /// Per sector: changed since the dirty-tracking base snapshot.
    dirty: Vec<bool>,
}

impl Device {
    fn new(geometry: Geometry) -> Device {
        let size = geometry.size() as usize;
        let sector_starts: Vec<u32> = geometry.iter_sectors().map(|s| s.offset).collect();
        let uniform = match geometry.sectors.as_slice() {
            [run] => Some(run.size),
            runs if runs.windows(2).all(|w| w[0].size == w[1].size) => runs.first().map(|r| r.size),
            _ => None,
        };
        let n = sector_starts.len();
        Device {
            data: vec![geometry.erased_value; size],
            programmed: vec![0; size.div_ceil(8)],
            sector_starts,
            uniform,
            counters: vec![SectorCounters::default(); n],
            dirty: vec![false; n],
            geometry,
        }
    }

    /// Index of the sector holding byte `offset` (which must be in bounds).
    fn sector_index(&self, offset: u32) -> usize {
        match self.uniform {
            Some(size) => (offset / size) as usize,
            None => self.sector_starts.partition_point(|&s| s <= offset) - 1,
        }
    }

    /// Byte range of sector `index`.
    fn sector_range(&self, index: usize) -> std::ops::Range<usize> {
        let start = self.sector_starts[index] as usize;
        let end = self.sector_starts.get(index + 1).map_or(self.data.len(), |&e| e as usize);
        start..end
    }

    /// Sector indices overlapping `range` (non-empty).
    fn sectors_of(&self, range: &std::ops::Range<usize>) -> std::ops::RangeInclusive<usize> {
        let first = self.sector_index(range.start as u32);
        let last = self.sector_index((range.end.max(range.start + 1) - 1) as u32);
        first..=last
    }

    fn is_programmed(&self, i: usize) -> bool {
        self.programmed[i / 8] & (1 << (i % 8)) != 0
    }

    fn set_programmed(&mut self, range: std::ops::Range<usize>, value: bool) {
        let mut i = range.start;
        while i < range.end {
            if i.is_multiple_of(8) && i + 8 <= range.end {
                // Whole bitmap bytes at once.
                let whole = (range.end - i) / 8;
                self.programmed[i / 8..i / 8 + whole].fill(if value { 0xff } else { 0 });
                i += whole * 8;
            } else {
                if value {
                    self.programmed[i / 8] |= 1 << (i % 8);
                } else {
                    self.programmed[i / 8] &= !(1 << (i % 8));
                }
                i += 1;
            }
        }
    }

    /// First byte in `range` that strict mode would refuse to program: written since its last
    /// erase. (Every byte that does not hold the erased value is marked written: programs,
    /// loads, torn erases and bit flips keep that invariant, so the bitmap alone decides.)
    fn first_unwritable(&self, range: std::ops::Range<usize>) -> Option<usize> {
        // Fast path (the common case): nothing written. Whole bitmap bytes are folded
        // branch-free so the compiler vectorises the check; the ragged ends go bit by bit.
        let head_end = (range.start.div_ceil(8) * 8).min(range.end);
        let tail_start = (range.end / 8 * 8).max(head_end);
        let written = (range.start..head_end).any(|i| self.is_programmed(i))
            || self.programmed[head_end / 8..tail_start / 8].iter().fold(0u8, |acc, &b| acc | b) != 0
            || (tail_start..range.end).any(|i| self.is_programmed(i));
        if !written {
            return None;
        }
        range.into_iter().find(|&i| self.is_programmed(i))
    }

    /// Mark every sector overlapping `range` dirty, appending newly dirty ones to `list`.
    fn touch(&mut self, dev: DeviceId, range: &std::ops::Range<usize>, list: &mut Vec<(DeviceId, u32)>) {
        for s in self.sectors_of(range) {
            if !self.dirty[s] {
                self.dirty[s] = true;
                list.push((dev, s as u32));
            }
        }
    }

    /// Program `bytes` into `range` the way the cells would (AND or OR), marking them written.
    fn program(&mut self, range: std::ops::Range<usize>, bytes: &[u8]) {
        let cells = &mut self.data[range.clone()];
        if self.geometry.erased_value == 0xff {
            cells.iter_mut().zip(bytes).for_each(|(c, &b)| *c &= b);
        } else {
            cells.iter_mut().zip(bytes).for_each(|(c, &b)| *c |= b);
        }
        self.set_programmed(range, true);
    }
}

/// A snapshot of a whole [`SimFlash`]: cells, written-bits, counters, op count and power state.
/// Made by [`SimFlash::snapshot`], put back by [`SimFlash::restore`].
#[derive(Debug, Clone)]
pub struct Snapshot {
    id: u64,
    devices: Vec<DeviceImage>,
    ops: u64,
    powered: bool,
    lost_at: u64,
}

#[derive(Debug, Clone)]
struct DeviceImage {
    data: Vec<u8>,
    programmed: Vec<u8>,
    counters: Vec<SectorCounters>,
}

impl Snapshot {
    /// The cells of device `dev` at the time of the snapshot.
    pub fn contents(&self, dev: DeviceId) -> Option<&[u8]> {
        self.devices.get(dev as usize).map(|d| d.data.as_slice())
    }

    /// The op counter at the time of the snapshot.
    pub fn ops(&self) -> u64 {
        self.ops
    }
}

/// Source of snapshot ids, unique in the process, so a snapshot is never mistaken for another.
static NEXT_SNAPSHOT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn fresh_id() -> u64 {
    NEXT_SNAPSHOT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The emulated NOR flash. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct SimFlash {
    devices: Vec<Device>,
    mode: ProgramMode,
    /// Write and erase calls so far: the number of the last operation started.
    ops: u64,
    powered: bool,
    /// The op at which power was lost (valid while `!powered`).
    lost_at: u64,
    plan: FaultPlan,
    /// Index in `plan` of the next fault to fire.
    next_fault: usize,
    /// `plan.faults()[next_fault].op`, or `u64::MAX`: the fast path compares against this.
    next_fault_op: u64,
    /// The faults that fired since the plan was installed or re-armed.
    fired: Vec<Fault>,
    /// The snapshot the dirty sectors are relative to.
    dirty_base: Option<u64>,
    dirty_list: Vec<(DeviceId, u32)>,
    record: Option<Vec<OpRecord>>,
    /// The bytes of every recorded write, back to back; `record_spans[i]` locates those of
    /// `record[i]` (empty for erases).
    record_data: Vec<u8>,
    record_spans: Vec<std::ops::Range<usize>>,
    /// The last operation started.
    last_op: Option<OpRecord>,
    /// Unique id of this flash (for [`SimFlash::sync_from`]).
    uid: u64,
    /// Changes whenever this flash's dirty list is cleared.
    epoch: u64,
    /// `(uid, epoch)` of the flash this one was last synced from, while its dirty list is
    /// relative to that sync.
    synced_with: Option<(u64, u64)>,
}

impl SimFlash {
    /// Fully erased devices of the given geometries.
    pub fn new(geometries: Vec<Geometry>, mode: ProgramMode) -> Result<SimFlash, GeometryError> {
        check_geometries(&geometries)?;
        Ok(SimFlash {
            devices: geometries.into_iter().map(Device::new).collect(),
            mode,
            ops: 0,
            powered: true,
            lost_at: 0,
            plan: FaultPlan::new(),
            next_fault: 0,
            next_fault_op: u64::MAX,
            fired: Vec::new(),
            dirty_base: None,
            dirty_list: Vec::new(),
            record: None,
            record_data: Vec::new(),
            record_spans: Vec::new(),
            last_op: None,
            uid: fresh_id(),
            epoch: fresh_id(),
            synced_with: None,
        })
    }

    /// A fully erased flash with the devices of `map`.
    pub fn for_map(map: &FlashMap, mode: ProgramMode) -> Result<SimFlash, GeometryError> {
        SimFlash::new(map.devices.clone(), mode)
    }

    /// The programming rule in force.
    pub fn mode(&self) -> ProgramMode {
        self.mode
    }

    pub fn set_mode(&mut self, mode: ProgramMode) {
        self.mode = mode;
    }

    /// Number of devices.
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// The cells of device `dev`.
    pub fn contents(&self, dev: DeviceId) -> Option<&[u8]> {
        self.devices.get(dev as usize).map(|d| d.data.as_slice())
    }

    /// The bytes of an area (a slot or the scratch area).
    pub fn area_contents(&self, area: Area) -> Option<&[u8]> {
        let data = self.contents(area.device)?;
        data.get(area.offset as usize..area.offset as usize + area.size as usize)
    }

    /// Write bytes directly, bypassing NOR rules, counters and faults (to set up a test or load
    /// a prepared flash image). Bytes that differ from the erased value count as written.
    pub fn load(&mut self, dev: DeviceId, offset: u32, bytes: &[u8]) -> Result<(), FlashError> {
        let device = self.devices.get_mut(dev as usize).ok_or(FlashError::NoDevice(dev))?;
        let range = bounds("load", offset, bytes.len(), device.data.len())?;
        if range.is_empty() {
            return Ok(());
        }
        device.data[range.clone()].copy_from_slice(bytes);
        let erased = device.geometry.erased_value;
        for (i, &b) in range.clone().zip(bytes) {
            if b == erased {
                device.programmed[i / 8] &= !(1 << (i % 8));
            } else {
                device.programmed[i / 8] |= 1 << (i % 8);
            }
        }
        device.touch(dev, &range, &mut self.dirty_list);
        Ok(())
    }

    /// Put `bytes` at the start of `area` (e.g. an image into a slot), bypassing NOR rules; the
    /// rest of the area is left as it is. Fails if the bytes do not fit in the area.
    pub fn load_area(&mut self, area: Area, bytes: &[u8]) -> Result<(), FlashError> {
        if bytes.len() > area.size as usize {
            return Err(FlashError::OutOfBounds {
                what: "load into area",
                offset: area.offset,
                len: bytes.len() as u32,
                size: area.size,
            });
        }
        self.load(area.device, area.offset, bytes)
    }

    /// Set a whole area to the erased value, bypassing counters and faults.
    pub fn erase_area_direct(&mut self, area: Area) -> Result<(), FlashError> {
        let device = self.devices.get_mut(area.device as usize).ok_or(FlashError::NoDevice(area.device))?;
        let range = bounds("erase area", area.offset, area.size as usize, device.data.len())?;
        if range.is_empty() {
            return Ok(());
        }
        let erased = device.geometry.erased_value;
        device.data[range.clone()].fill(erased);
        device.set_programmed(range.clone(), false);
        device.touch(area.device, &range, &mut self.dirty_list);
        Ok(())
    }

    /// Invert one bit now (outside any plan). Bypasses counters.
    pub fn flip_bit(&mut self, dev: DeviceId, offset: u32, bit: u8) -> Result<(), FlashError> {
        let device = self.devices.get_mut(dev as usize).ok_or(FlashError::NoDevice(dev))?;
        let range = bounds("bit flip", offset, 1, device.data.len())?;
        device.data[range.start] ^= 1 << (bit % 8);
        if device.data[range.start] != device.geometry.erased_value {
            // A disturbed cell is no longer erased: strict mode refuses to program it.
            device.set_programmed(range.clone(), true);
        }
        device.touch(dev, &range, &mut self.dirty_list);
        Ok(())
    }

    /// Per-sector access counters of device `dev`, in sector order.
    pub fn counters(&self, dev: DeviceId) -> Option<&[SectorCounters]> {
        self.devices.get(dev as usize).map(|d| d.counters.as_slice())
    }

    /// Zero every access counter (the op counter is separate: [`SimFlash::reset_ops`]).
    pub fn reset_counters(&mut self) {
        for d in &mut self.devices {
            d.counters.fill(SectorCounters::default());
        }
    }

    /// Number of flash operations (writes and erases) started so far: the number of the last one.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Restart op numbering at 1 and re-arm the fault plan.
    pub fn reset_ops(&mut self) {
        self.ops = 0;
        self.rearm();
    }

    /// False after a power cut, until [`SimFlash::power_on`].
    pub fn powered(&self) -> bool {
        self.powered
    }

    /// The op at which power was lost, while it is off.
    pub fn lost_at(&self) -> Option<u64> {
        (!self.powered).then_some(self.lost_at)
    }

    /// Cut the power now (outside any plan): every call fails until [`SimFlash::power_on`].
    pub fn power_off(&mut self) {
        self.cut(self.ops);
    }

    /// Restore power after a cut. The cells keep whatever the cut left in them.
    pub fn power_on(&mut self) {
        self.powered = true;
    }

    /// Install a fault plan (replacing the old one). Bit flips planned for op 0, or for an op
    /// already past, happen at once.
    pub fn set_faults(&mut self, plan: FaultPlan) {
        self.plan = plan;
        self.rearm();
    }

    /// Install a single fault, reusing the plan's allocation.
    pub fn arm(&mut self, op: u64, kind: FaultKind) {
        self.plan.clear();
        self.plan.push(Fault { op, kind });
        self.rearm();
    }

    /// Remove every fault.
    pub fn clear_faults(&mut self) {
        self.plan.clear();
        self.fired.clear();
        self.next_fault = 0;
        self.next_fault_op = u64::MAX;
    }

    /// The installed plan.
    pub fn faults(&self) -> &FaultPlan {
        &self.plan
    }

    /// The faults that fired since the plan was installed or last re-armed.
    pub fn fired(&self) -> &[Fault] {
        &self.fired
    }

    /// The last write or erase started (the one power was lost in, after a cut), if any since
    /// the flash was made.
    pub fn last_op(&self) -> Option<OpRecord> {
        self.last_op
    }

    /// Record every operation from now on (or stop recording and drop the log).
    pub fn set_recording(&mut self, on: bool) {
        self.record = if on { Some(Vec::new()) } else { None };
        self.record_data.clear();
        self.record_spans.clear();
    }

    /// The bytes a recorded write (by index in [`SimFlash::recorded`]) was asked to program;
    /// empty for erases.
    pub fn recorded_data(&self, index: usize) -> &[u8] {
        self.record_spans.get(index).and_then(|r| self.record_data.get(r.clone())).unwrap_or(&[])
    }

    /// The recorded operations (empty when recording is off).
    pub fn recorded(&self) -> &[OpRecord] {
        self.record.as_deref().unwrap_or(&[])
    }

    /// Take a snapshot of everything, and make it the base for dirty-sector tracking so that
    /// restoring it later copies only the sectors changed in between.
    pub fn snapshot(&mut self) -> Snapshot {
        let id = fresh_id();
        self.clear_dirty();
        self.dirty_base = Some(id);
        Snapshot {
            id,
            devices: self
                .devices
                .iter()
                .map(|d| DeviceImage {
                    data: d.data.clone(),
                    programmed: d.programmed.clone(),
                    counters: d.counters.clone(),
                })
                .collect(),
            ops: self.ops,
            powered: self.powered,
            lost_at: self.lost_at,
        }
    }

    /// Put the flash back exactly as it was when `snapshot` was taken: cells, written-bits,
    /// counters, op counter and power state. The fault plan stays installed and is re-armed:
    /// faults after the restored op counter will fire again.
    ///
    /// Restoring the snapshot last taken or restored copies only the sectors changed since;
    /// any other snapshot is copied whole (and becomes the new base).
    pub fn restore(&mut self, snapshot: &Snapshot) -> Result<(), RestoreError> {
        if snapshot.devices.len() != self.devices.len()
            || snapshot.devices.iter().zip(&self.devices).any(|(s, d)| s.data.len() != d.data.len())
        {
            return Err(RestoreError::WrongShape);
        }
        if self.dirty_base == Some(snapshot.id) {
            for &(dev, sector) in &self.dirty_list {
                let device = &mut self.devices[dev as usize];
                let image = &snapshot.devices[dev as usize];
                let range = device.sector_range(sector as usize);
                device.data[range.clone()].copy_from_slice(&image.data[range.clone()]);
                let bits = range.start / 8..range.end / 8;
                device.programmed[bits.clone()].copy_from_slice(&image.programmed[bits]);
            }
        } else {
            for (device, image) in self.devices.iter_mut().zip(&snapshot.devices) {
                device.data.copy_from_slice(&image.data);
                device.programmed.copy_from_slice(&image.programmed);
            }
        }
        self.clear_dirty();
        self.dirty_base = Some(snapshot.id);
        for (device, image) in self.devices.iter_mut().zip(&snapshot.devices) {
            device.counters.copy_from_slice(&image.counters);
        }
        self.ops = snapshot.ops;
        self.powered = snapshot.powered;
        self.lost_at = snapshot.lost_at;
        if let Some(log) = &mut self.record {
            let keep = log.partition_point(|r| r.op <= snapshot.ops);
            log.truncate(keep);
            self.record_spans.truncate(keep);
            self.record_data.truncate(self.record_spans.last().map_or(0, |r| r.end));
        }
        self.rearm();
        Ok(())
    }

    /// Sectors changed since the last snapshot taken or restored, as (device, sector index).
    pub fn dirty_sectors(&self) -> &[(DeviceId, u32)] {
        &self.dirty_list
    }

    /// Forget which sectors changed. Every base the dirty list was relative to (a snapshot,
    /// a sync partner, flashes synced from this one) is invalidated.
    fn clear_dirty(&mut self) {
        for &(dev, sector) in &self.dirty_list {
            self.devices[dev as usize].dirty[sector as usize] = false;
        }
        self.dirty_list.clear();
        self.epoch = fresh_id();
        self.dirty_base = None;
        self.synced_with = None;
    }

    /// Make this flash an exact copy of `source` (cells, written-bits, counters, op counter,
    /// power state; the fault plan stays and is re-armed), copying only what changed.
    ///
    /// If this flash was last synced from `source` and neither has taken or restored a
    /// snapshot since, only the sectors changed on either side since that sync are copied:
    /// keeping a *cursor* flash one operation ahead and syncing a *work* flash from it costs a
    /// few sectors per sync. Otherwise everything is copied.
    pub fn sync_from(&mut self, source: &mut SimFlash) -> Result<(), RestoreError> {
        if source.devices.len() != self.devices.len()
            || source.devices.iter().zip(&self.devices).any(|(s, d)| s.geometry != d.geometry)
        {
            return Err(RestoreError::WrongShape);
        }
        if self.synced_with == Some((source.uid, source.epoch)) {
            let mine = std::mem::take(&mut self.dirty_list);
            for &(dev, sector) in mine.iter().chain(&source.dirty_list) {
                let (device, image) = (&mut self.devices[dev as usize], &source.devices[dev as usize]);
                let range = device.sector_range(sector as usize);
                device.data[range.clone()].copy_from_slice(&image.data[range.clone()]);
                let bits = range.start / 8..range.end / 8;
                device.programmed[bits.clone()].copy_from_slice(&image.programmed[bits]);
            }
            self.dirty_list = mine;
        } else {
            for (device, image) in self.devices.iter_mut().zip(&source.devices) {
                device.data.copy_from_slice(&image.data);
                device.programmed.copy_from_slice(&image.programmed);
            }
        }
        for (device, image) in self.devices.iter_mut().zip(&source.devices) {
            device.counters.copy_from_slice(&image.counters);
        }
        self.clear_dirty();
        source.clear_dirty();
        self.synced_with = Some((source.uid, source.epoch));
        self.ops = source.ops;
        self.powered = source.powered;
        self.lost_at = source.lost_at;
        self.last_op = source.last_op;
        self.rearm();
        Ok(())
    }

    /// Re-arm the plan relative to the current op counter.
    fn rearm(&mut self) {
        self.fired.clear();
        self.rearm_from(self.ops + 1);
    }

    /// Point at the first fault striking op `first` or later; bit flips planned for earlier
    /// ops (a moment already past) are applied now, other faults for past ops are skipped.
    fn rearm_from(&mut self, first: u64) {
        let mut i = 0;
        while let Some(&f) = self.plan.faults().get(i) {
            if f.op >= first {
                break;
            }
            if let FaultKind::BitFlip { device, offset, bit } = f.kind
                && self.flip_bit(device, offset, bit).is_ok()
            {
                self.fired.push(f);
            }
            i += 1;
        }
        self.next_fault = i;
        self.next_fault_op = self.plan.faults().get(i).map_or(u64::MAX, |f| f.op);
    }

    fn cut(&mut self, op: u64) {
        self.powered = false;
        self.lost_at = op;
    }

    /// The fault that decides how op `op` is carried out, if any (advancing past it). A plan
    /// keeps such faults ahead of the after-op ones of the same op.
    fn take_op_fault(&mut self, op: u64) -> Option<FaultKind> {
        let f = *self.plan.faults().get(self.next_fault)?;
        if f.op != op || f.kind.is_after_op() {
            return None;
        }
        self.next_fault += 1;
        self.fired.push(f);
        self.next_fault_op = self.plan.faults().get(self.next_fault).map_or(u64::MAX, |f| f.op);
        Some(f.kind)
    }

    /// Fire the after-op faults of op `op` (bit flips, then a cut). Returns true on a cut.
    fn after_op(&mut self, op: u64) -> bool {
        let mut cut = false;
        while let Some(&f) = self.plan.faults().get(self.next_fault) {
            if f.op != op {
                break;
            }
            self.next_fault += 1;
            match f.kind {
                FaultKind::BitFlip { device, offset, bit } if self.flip_bit(device, offset, bit).is_ok() => {
                    self.fired.push(f);
                }
                FaultKind::CutAfter => {
                    self.fired.push(f);
                    cut = true;
                }
                // A flip outside the device, or a second how-to-perform fault on the same
                // op: nothing happens (only the first one counts).
                _ => {}
            }
        }
        self.next_fault_op = self.plan.faults().get(self.next_fault).map_or(u64::MAX, |f| f.op);
        if cut {
            self.cut(op);
        }
        cut
    }

    /// Start an operation: refuse while unpowered, count it, record it.
    fn begin_op(&mut self, kind: OpKind, dev: DeviceId, offset: u32, len: u32) -> Result<u64, FlashError> {
        if !self.powered {
            return Err(FlashError::PowerLoss { op: self.lost_at });
        }
        self.ops += 1;
        let op = self.ops;
        let record = OpRecord { op, kind, device: dev, offset, len };
        self.last_op = Some(record);
        if let Some(log) = &mut self.record {
            log.push(record);
            let end = self.record_data.len();
            self.record_spans.push(end..end);
        }
        Ok(op)
    }

    /// Finish an operation that was carried out: after-op faults.
    fn end_op(&mut self, op: u64) -> Result<(), FlashError> {
        if self.next_fault_op == op && self.after_op(op) {
            return Err(FlashError::PowerLoss { op });
        }
        Ok(())
    }
}

/// Why a snapshot could not be restored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestoreError {
    #[error("snapshot was taken of a flash with different devices")]
    WrongShape,
}

impl Flash for SimFlash {
    fn geometry(&self, dev: DeviceId) -> Result<&Geometry, FlashError> {
        self.devices.get(dev as usize).map(|d| &d.geometry).ok_or(FlashError::NoDevice(dev))
    }

    fn read(&mut self, dev: DeviceId, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        if !self.powered {
            return Err(FlashError::PowerLoss { op: self.lost_at });
        }
        let device = self.devices.get_mut(dev as usize).ok_or(FlashError::NoDevice(dev))?;
        let range = bounds("read", offset, buf.len(), device.data.len())?;
        if range.is_empty() {
            return Ok(());
        }
        buf.copy_from_slice(&device.data[range.clone()]);
        for s in device.sectors_of(&range) {
            device.counters[s].reads += 1;
        }
        Ok(())
    }

    fn write(&mut self, dev: DeviceId, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let op = self.begin_op(OpKind::Write, dev, offset, data.len() as u32)?;
        if self.record.is_some() {
            let start = self.record_data.len();
            self.record_data.extend_from_slice(data);
            *self.record_spans.last_mut().unwrap_or(&mut (0..0)) = start..self.record_data.len();
        }
        let fault = if self.next_fault_op == op { self.take_op_fault(op) } else { None };
        if matches!(fault, Some(FaultKind::CutBefore | FaultKind::InterruptedErase(_))) {
            self.cut(op);
            return Err(FlashError::PowerLoss { op });
        }
        let mode = self.mode;
        let device = self.devices.get_mut(dev as usize).ok_or(FlashError::NoDevice(dev))?;
        let write_size = device.geometry.write_size;
        if !offset.is_multiple_of(write_size) || !(data.len() as u32).is_multiple_of(write_size) {
            return Err(FlashError::Misaligned { offset, len: data.len() as u32, write_size });
        }
        let range = bounds("write", offset, data.len(), device.data.len())?;
        if range.is_empty() {
            return self.end_op(op);
        }
        if mode == ProgramMode::Strict
            && let Some(at) = device.first_unwritable(range.clone())
        {
            return Err(FlashError::NotErased { offset: at as u32 });
        }
        if fault == Some(FaultKind::SilentWrite) {
            return self.end_op(op);
        }
        for s in device.sectors_of(&range) {
            device.counters[s].writes += 1;
        }
        device.touch(dev, &range, &mut self.dirty_list);
        match fault {
            Some(FaultKind::TornWrite(tear)) => {
                tear_write(device, range, data, tear);
                self.cut(op);
                Err(FlashError::PowerLoss { op })
            }
            _ => {
                if mode == ProgramMode::Strict {
                    // Checked above: every cell is erased, so programming is a plain copy.
                    device.data[range.clone()].copy_from_slice(data);
                    device.set_programmed(range, true);
                } else {
                    device.program(range, data);
                }
                self.end_op(op)
            }
        }
    }

    fn erase(&mut self, dev: DeviceId, offset: u32, len: u32) -> Result<(), FlashError> {
        let op = self.begin_op(OpKind::Erase, dev, offset, len)?;
        let fault = if self.next_fault_op == op { self.take_op_fault(op) } else { None };
        if matches!(fault, Some(FaultKind::CutBefore | FaultKind::TornWrite(_))) {
            self.cut(op);
            return Err(FlashError::PowerLoss { op });
        }
        let device = self.devices.get_mut(dev as usize).ok_or(FlashError::NoDevice(dev))?;
        check_erase(&device.geometry, offset, len)?;
        let range = bounds("erase", offset, len as usize, device.data.len())?;
        if range.is_empty() || fault == Some(FaultKind::SilentWrite) {
            return self.end_op(op);
        }
        for s in device.sectors_of(&range) {
            device.counters[s].erases += 1;
        }
        device.touch(dev, &range, &mut self.dirty_list);
        let erased = device.geometry.erased_value;
        match fault {
            Some(FaultKind::InterruptedErase(tear)) => {
                tear_erase(device, range, tear);
                self.cut(op);
                Err(FlashError::PowerLoss { op })
            }
            _ => {
                device.data[range.clone()].fill(erased);
                device.set_programmed(range, false);
                self.end_op(op)
            }
        }
    }
}

/// Carry out the part of a write that a [`WriteTear`] lets through.
fn tear_write(device: &mut Device, range: std::ops::Range<usize>, data: &[u8], tear: WriteTear) {
    match tear {
        WriteTear::Prefix { bytes } => {
            let n = (bytes as usize).min(data.len());
            device.program(range.start..range.start + n, &data[..n]);
        }
        WriteTear::PartialWord { word, mask } => {
            let w = device.geometry.write_size as usize;
            let words = data.len() / w;
            let word = (word as usize).min(words.saturating_sub(1));
            let full = word * w;
            device.program(range.start..range.start + full, &data[..full]);
            // The partly charged word: only the bits in `mask` reach their new value.
            let erased_ff = device.geometry.erased_value == 0xff;
            let end = (full + w).min(data.len());
            let cells = &mut device.data[range.start + full..range.start + end];
            for (cell, &new) in cells.iter_mut().zip(&data[full..end]) {
                *cell = if erased_ff { *cell & (new | !mask) } else { *cell | (new & mask) };
            }
            // A partly charged cell that still reads erased can be programmed again (the
            // physics allow it, and MCUboot rewrites a record it reads as unwritten): only
            // cells that moved count as written.
            for i in range.start + full..range.start + end {
                if device.data[i] != device.geometry.erased_value {
                    device.programmed[i / 8] |= 1 << (i % 8);
                }
            }
        }
    }
}

/// Carry out the part of an erase that an [`EraseTear`] lets through.
fn tear_erase(device: &mut Device, range: std::ops::Range<usize>, tear: EraseTear) {
    let erased = device.geometry.erased_value;
    match tear {
        EraseTear::Prefix { bytes } => {
            let n = (bytes as usize).min(range.len());
            device.data[range.start..range.start + n].fill(erased);
            device.set_programmed(range.start..range.start + n, false);
        }
        EraseTear::Random { seed } => {
            let mut rng = Rng::new(seed);
            for chunk in device.data[range.clone()].chunks_mut(8) {
                let r = rng.next_u64().to_le_bytes();
                for (cell, r) in chunk.iter_mut().zip(r) {
                    *cell = if erased == 0xff { *cell | r } else { *cell & r };
                }
            }
            // Bytes that reached the erased value count as erased; the rest as written. Erase
            // ranges are whole sectors (multiples of 8 bytes), so whole bitmap bytes at a time.
            let aligned = range.start.is_multiple_of(8);
            let fast_end = if aligned { range.end / 8 * 8 } else { range.start };
            let (data, bits) = (&device.data, &mut device.programmed);
            for (bit_byte, cells) in bits[range.start / 8..fast_end / 8]
                .iter_mut()
                .zip(data[range.start..fast_end].chunks_exact(8))
            {
                *bit_byte =
                    cells.iter().enumerate().fold(0u8, |acc, (k, &c)| acc | (u8::from(c != erased) << k));
            }
            for i in fast_end..range.end {
                if device.data[i] != erased {
                    device.programmed[i / 8] |= 1 << (i % 8);
                } else {
                    device.programmed[i / 8] &= !(1 << (i % 8));
                }
            }
        }
    }
}
