//! The bootloader: one boot, exactly as MCUboot's `context_boot_go` runs it.
//!
//! [`boot`] reads the trailers, finishes a swap that a reset interrupted, decides what to do
//! from the swap-type table (reference `mcuboot.md` §5), validates the candidate, performs the
//! upgrade or revert with the configured [`Algorithm`], and says what would run
//! ([`BootOutcome`]). Every flash write and erase goes through the [`Flash`] trait in the same
//! order and number as MCUboot's own code, so a power cut at operation *n* here leaves the same
//! flash as on a board, and the next `boot` recovers the same way.
//!
//! Using it for power-loss sweeps: keep one [`BootState`] per simulated device. Its
//! `security_counters` are device state (snapshot and restore them with the flash); its
//! validation memo and work buffers are not, and reusing them across cut-and-reboot cycles is
//! what makes a boot cheap (an idle boot is about a microsecond, a cut-and-resume pair over
//! Appendix A's images a few tens of microseconds in a release build; most of that is the
//! flash model copying bytes). The memo compares whole image bytes, so sharing it between
//! devices or restored snapshots can never produce a wrong verdict. A power cut is
//! [`BootError::PowerLoss`]; call `boot` again to resume. [`CutFlash`] wraps any flash to
//! count operations, record them, or cut power before operation *n*.
//!
//! Sub-modules: `status` (where progress records live and how they decode), `scratch`,
//! `swap_move`, `offset`, `overwrite` (the four algorithms), `facts` (image header and memoised
//! validation), `cut` (op-counting / power-cutting flash wrapper).

mod cut;
mod facts;
mod offset;
mod overwrite;
mod scratch;
mod status;
mod swap_move;

use thiserror::Error;

pub use crate::image::{Dependency, ImageHeader, ImageVersion, PublicKey};
pub use cut::{CountingFlash, CutFlash, FlashOp};
pub use facts::{ImageFacts, ValidationCache};

use crate::flash::{Flash, FlashError, Sector, SectorRun};
use crate::image::IMAGE_HEADER_SIZE;
use crate::layout::{Area, AreaId, FlashMap};
use crate::trailer::{
    self, FlagState, MagicState, StatusKind, SwapState, SwapType, TrailerError, TrailerLayout,
};
use status::Status;

/// Size of the copy buffer (`BUF_SZ`): every copy writes in chunks of at most this many bytes,
/// one flash operation per chunk.
pub const COPY_CHUNK: u32 = 1024;

/// Which upgrade strategy the bootloader was built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MCUBOOT_OVERWRITE_ONLY`: copy the secondary over the primary; no revert.
    OverwriteOnly,
    /// The default: swap region by region through the scratch area.
    SwapScratch,
    /// `MCUBOOT_SWAP_USING_MOVE`: shift the primary up one sector, then swap.
    SwapMove,
    /// `MCUBOOT_SWAP_USING_OFFSET`: the update sits one sector into the secondary slot.
    SwapOffset,
}

impl Algorithm {
    /// The trailer status kind of this algorithm.
    pub fn status_kind(self) -> StatusKind {
        match self {
            Algorithm::OverwriteOnly => StatusKind::OverwriteOnly,
            Algorithm::SwapScratch => StatusKind::Scratch,
            Algorithm::SwapMove => StatusKind::Move,
            Algorithm::SwapOffset => StatusKind::Offset,
        }
    }
}

/// `MCUBOOT_DOWNGRADE_PREVENTION` and its security-counter variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DowngradePrevention {
    #[default]
    Off,
    /// Refuse an upgrade whose version is strictly lower than the running one.
    Version,
    /// Refuse an upgrade whose SEC_CNT is lower than the running one's (or missing).
    SecurityCounter,
}

/// The build configuration of the bootloader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootConfig {
    pub algorithm: Algorithm,
    /// `BOOT_MAX_ALIGN`: 8, 16 or 32.
    pub max_align: u32,
    /// `BOOT_MAX_IMG_SECTORS`.
    pub max_img_sectors: u32,
    /// `MCUBOOT_VALIDATE_PRIMARY_SLOT`: validate the primary before booting it (otherwise only
    /// its header magic is checked).
    pub validate_primary: bool,
    pub downgrade_prevention: DowngradePrevention,
    /// `MCUBOOT_HW_ROLLBACK_PROT`: images need a SEC_CNT TLV at least the stored NV counter.
    pub hw_rollback_protection: bool,
    /// The verification keys built into the bootloader. Empty: a hash-only build (SHA-256 TLV
    /// required, signatures ignored). Otherwise a valid signature by one of them is required.
    pub keys: Vec<PublicKey>,
}

impl Default for BootConfig {
    /// MCUboot's simulator default: swap-scratch, BOOT_MAX_ALIGN 8, 128 sectors, primary
    /// validated, no downgrade prevention, no rollback protection, hash-only validation.
    fn default() -> BootConfig {
        BootConfig {
            algorithm: Algorithm::SwapScratch,
            max_align: 8,
            max_img_sectors: trailer::MAX_IMG_SECTORS,
            validate_primary: true,
            downgrade_prevention: DowngradePrevention::Off,
            hw_rollback_protection: false,
            keys: Vec::new(),
        }
    }
}

impl BootConfig {
    /// The default configuration with another algorithm.
    pub fn with_algorithm(algorithm: Algorithm) -> BootConfig {
        BootConfig { algorithm, ..BootConfig::default() }
    }

    /// The trailer layout of this build.
    pub fn trailer_layout(&self) -> std::result::Result<TrailerLayout, TrailerError> {
        let mut l = TrailerLayout::new(self.algorithm.status_kind(), self.max_align)?;
        l.max_img_sectors = self.max_img_sectors;
        Ok(l)
    }
}

/// What survives a reboot besides the flash (the NV security counters), plus reusable work
/// buffers and the validation memo, so that a boot allocates nothing in the steady state.
#[derive(Debug, Clone, Default)]
pub struct BootState {
    /// Hardware rollback counters, one per image (missing entries read as 0).
    pub security_counters: Vec<u32>,
    /// Memoised validation results; see [`ValidationCache`].
    pub cache: ValidationCache,
    work: Workspace,
}

impl BootState {
    pub fn new() -> BootState {
        BootState::default()
    }

    /// The stored NV counter of image `i`.
    pub fn security_counter(&self, image: usize) -> u32 {
        self.security_counters.get(image).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, Default)]
struct Workspace {
    imgs: Vec<ImageCtx>,
    image_buf: Vec<u8>,
    status_buf: Vec<u8>,
}

/// Per-image state of one boot (`state->imgs[i]`, `state->swap_type[i]`, ...).
#[derive(Debug, Clone)]
struct ImageCtx {
    pri: Option<Area>,
    sec: Option<Area>,
    pri_sectors: Vec<Sector>,
    sec_sectors: Vec<Sector>,
    /// The device sector runs the lists above were computed from.
    geometry_key: [Vec<SectorRun>; 2],
    hdr: [ImageHeader; 2],
    /// swap-offset: where the image starts in the secondary slot.
    secondary_offset: u32,
    /// swap-offset: unprotected TLV block sizes of the two images.
    unprot: [u16; 2],
    swap_type: Option<SwapType>,
    resumed: Option<SwapType>,
    /// What was acted on in loop 3.
    performed: Option<SwapType>,
    /// Cache entry of the primary's validation (loop 4).
    primary_facts: Option<usize>,
}

impl Default for ImageCtx {
    fn default() -> ImageCtx {
        ImageCtx {
            pri: None,
            sec: None,
            pri_sectors: Vec::new(),
            sec_sectors: Vec::new(),
            geometry_key: [Vec::new(), Vec::new()],
            hdr: [facts::EMPTY_HEADER; 2],
            secondary_offset: 0,
            unprot: [0; 2],
            swap_type: None,
            resumed: None,
            performed: None,
            primary_facts: None,
        }
    }
}

/// What one image did during a boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReport {
    /// The interrupted swap that this boot completed (its type from swap_info), if any.
    pub resumed: Option<SwapType>,
    /// The swap type decided and acted on this boot (NONE after a resume).
    pub swap_type: SwapType,
    /// The primary slot's header after the boot.
    pub header: ImageHeader,
    /// The primary image's hash, when it was validated.
    pub hash: Option<Vec<u8>>,
}

/// The result of one boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootOutcome {
    /// What runs: image 0's primary slot (`fill_rsp`), or `None` when nothing is bootable
    /// (MCUboot stops with `FIH_FAILURE`: a brick until reflashed).
    pub boots: Option<Booted>,
    /// Why nothing is bootable.
    pub failure: Option<&'static str>,
    /// One report per image.
    pub images: Vec<ImageReport>,
    /// Flash writes and erases this boot performed.
    pub ops: u64,
}

/// The image that boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booted {
    pub image: u8,
    pub area: Area,
    pub header: ImageHeader,
}

/// Why a boot did not complete.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BootError {
    /// Power was cut during a flash operation: the device is off. Reboot to resume.
    #[error("power lost at flash operation {op} of the boot")]
    PowerLoss { op: u64 },
    /// A flash operation failed for another reason (an MCUboot `assert`).
    #[error("flash error during boot: {0}")]
    Flash(FlashError),
    /// MCUboot would halt here (`assert(0)`, `FIH_PANIC`, swap type PANIC).
    #[error("bootloader halted: {0}")]
    Halted(&'static str),
    /// The configuration or flash map cannot be used.
    #[error("bad boot configuration: {0}")]
    Config(String),
}

impl From<FlashError> for BootError {
    fn from(e: FlashError) -> BootError {
        match e {
            FlashError::PowerLoss { op } => BootError::PowerLoss { op },
            other => BootError::Flash(other),
        }
    }
}

impl From<TrailerError> for BootError {
    fn from(e: TrailerError) -> BootError {
        match e {
            TrailerError::Flash(f) => f.into(),
            other => BootError::Config(other.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, BootError>;

/// The two slots of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Primary = 0,
    Secondary = 1,
}

/// Result of `boot_validate_slot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotCheck {
    Valid(usize),
    NoBootable,
    Failure,
}

/// Run one boot. See the module documentation.
pub fn boot(
    flash: &mut impl Flash,
    map: &FlashMap,
    config: &BootConfig,
    state: &mut BootState,
) -> std::result::Result<BootOutcome, BootError> {
    let layout = config.trailer_layout()?;
    let n = map.images.len();
    if n == 0 || n > 2 {
        return Err(BootError::Config(format!("{n} images in the flash map (1 or 2 supported)")));
    }
    if config.algorithm == Algorithm::SwapScratch && map.scratch.is_none() {
        return Err(BootError::Config("swap-scratch needs a scratch area".into()));
    }
    if state.security_counters.len() < n {
        state.security_counters.resize(n, 0);
    }
    let mut work = std::mem::take(&mut state.work);
    work.imgs.resize_with(n, ImageCtx::default);
    let mut ldr = Loader {
        flash,
        map,
        cfg: config,
        layout,
        ops: 0,
        work: &mut work,
        cache: &mut state.cache,
        nv: &mut state.security_counters,
        cur: 0,
        write_sz: 0,
    };
    let r = ldr.run();
    let ops = ldr.ops;
    state.work = work;
    let mut outcome = r?;
    outcome.ops = ops;
    Ok(outcome)
}

struct Loader<'a, F: Flash> {
    flash: &'a mut F,
    map: &'a FlashMap,
    cfg: &'a BootConfig,
    layout: TrailerLayout,
    ops: u64,
    work: &'a mut Workspace,
    cache: &'a mut ValidationCache,
    nv: &'a mut Vec<u32>,
    /// `BOOT_CURR_IMG`.
    cur: usize,
    /// `BOOT_WRITE_SZ`: max of the primary's and the scratch's write sizes.
    write_sz: u32,
}

impl<F: Flash> Loader<'_, F> {
    // ---------------------------------------------------------------- flash primitives

    fn area(&self, slot: Slot) -> Area {
        let s = &self.map.images[self.cur];
        match slot {
            Slot::Primary => s.primary,
            Slot::Secondary => s.secondary,
        }
    }

    fn scratch(&self) -> Result<Area> {
        self.map.scratch.ok_or_else(|| BootError::Config("no scratch area".into()))
    }

    fn read(&mut self, area: Area, off: u32, buf: &mut [u8]) -> Result<()> {
        self.flash.read(area.device, area.offset + off, buf)?;
        Ok(())
    }

    fn write(&mut self, area: Area, off: u32, data: &[u8]) -> Result<()> {
        self.flash.write(area.device, area.offset + off, data).map_err(|e| self.flash_err(e))?;
        self.ops += 1;
        Ok(())
    }

    fn flash_err(&self, e: FlashError) -> BootError {
        match e {
            FlashError::PowerLoss { .. } => BootError::PowerLoss { op: self.ops + 1 },
            other => BootError::Flash(other),
        }
    }

    /// A trailer field write (counted like any write).
    fn trailer_op(&mut self, r: std::result::Result<(), TrailerError>) -> Result<()> {
        match r {
            Ok(()) => {
                self.ops += 1;
                Ok(())
            }
            Err(TrailerError::Flash(e)) => Err(self.flash_err(e)),
            Err(e) => Err(e.into()),
        }
    }

    fn area_write_size(&self, area: Area) -> Result<u32> {
        Ok(self.flash.geometry(area.device)?.write_size)
    }

    fn erased_val(&self, area: Area) -> Result<u8> {
        Ok(self.flash.geometry(area.device)?.erased_value)
    }

    /// The device sector containing area-relative offset `off`.
    fn sector_at(&self, area: Area, off: u32) -> Result<Sector> {
        let g = self.flash.geometry(area.device)?;
        let s = g.sector_at(area.offset + off).ok_or(BootError::Flash(FlashError::OutOfBounds {
            what: "sector lookup",
            offset: area.offset + off,
            len: 0,
            size: g.size(),
        }))?;
        Ok(Sector { offset: s.offset - area.offset, size: s.size })
    }

    /// `boot_erase_region`: erase every sector touching `[off, off + size)`, one operation per
    /// sector, ascending or (`backwards`) descending.
    fn erase_region(&mut self, area: Area, off: u32, size: u32, backwards: bool) -> Result<()> {
        if size == 0 || off >= area.size || area.size - off < size {
            return Err(BootError::Halted("erase region out of the area"));
        }
        let first = self.sector_at(area, off)?;
        let last = self.sector_at(area, off + size - 1)?;
        if backwards {
            let mut s = last;
            loop {
                self.erase_sector(area, s)?;
                if s.offset <= first.offset {
                    break;
                }
                s = self.sector_at(area, s.offset - 1)?;
            }
        } else {
            let mut s = first;
            loop {
                self.erase_sector(area, s)?;
                if s.offset >= last.offset {
                    break;
                }
                s = self.sector_at(area, s.offset + s.size)?;
            }
        }
        Ok(())
    }

    fn erase_sector(&mut self, area: Area, s: Sector) -> Result<()> {
        self.flash.erase(area.device, area.offset + s.offset, s.size).map_err(|e| self.flash_err(e))?;
        self.ops += 1;
        Ok(())
    }

    /// `boot_scramble_slot`: erase the whole area, sector by sector.
    fn scramble_slot(&mut self, area: Area) -> Result<()> {
        self.erase_region(area, 0, area.size, false)
    }

    /// `swap_scramble_trailer_sectors`: erase, last sector first, every sector holding part of
    /// the trailer.
    fn scramble_trailer_sectors(&mut self, area: Area) -> Result<()> {
        let w = self.write_sz.max(self.area_write_size(area)?);
        let tsz = self.layout.trailer_size(w);
        let start = self.sector_at(area, area.size.saturating_sub(tsz))?.offset;
        self.erase_region(area, start, area.size - start, true)
    }

    /// `boot_copy_region`: copy in [`COPY_CHUNK`] pieces, one write per piece.
    fn copy_region(&mut self, src: Area, dst: Area, off_src: u32, off_dst: u32, sz: u32) -> Result<()> {
        let mut buf = [0u8; COPY_CHUNK as usize];
        let mut done = 0;
        while done < sz {
            let n = (sz - done).min(COPY_CHUNK);
            let chunk = &mut buf[..n as usize];
            self.read(src, off_src + done, chunk)?;
            self.write(dst, off_dst + done, chunk)?;
            done += n;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- trailer fields

    fn swap_state(&mut self, area: Area) -> Result<SwapState> {
        Ok(trailer::read_swap_state(self.flash, &self.layout, area)?)
    }

    fn magic_state(&mut self, area: Area) -> Result<MagicState> {
        Ok(trailer::read_magic(self.flash, &self.layout, area)?)
    }

    fn write_magic(&mut self, area: Area) -> Result<()> {
        let r = trailer::write_magic(self.flash, &self.layout, area);
        self.trailer_op(r)
    }

    fn write_image_ok(&mut self, area: Area) -> Result<()> {
        let r = trailer::write_image_ok(self.flash, &self.layout, area);
        self.trailer_op(r)
    }

    fn write_copy_done(&mut self, area: Area) -> Result<()> {
        let r = trailer::write_copy_done(self.flash, &self.layout, area);
        self.trailer_op(r)
    }

    fn write_swap_info(&mut self, area: Area, ty: SwapType) -> Result<()> {
        let r = trailer::write_swap_info(self.flash, &self.layout, area, ty, self.cur as u8);
        self.trailer_op(r)
    }

    fn write_swap_size(&mut self, area: Area, size: u32) -> Result<()> {
        let r = trailer::write_swap_size(self.flash, &self.layout, area, size);
        self.trailer_op(r)
    }

    /// `swap_status_init`: swap_info (unless NONE), image_ok (if the secondary's is set),
    /// swap_size, [unprotected TLV sizes], magic last.
    fn status_init(&mut self, area: Area, bs: &Status) -> Result<()> {
        let sec = self.area(Slot::Secondary);
        let sec_state = self.swap_state(sec)?;
        if bs.swap_type != SwapType::None {
            self.write_swap_info(area, bs.swap_type)?;
        }
        if sec_state.image_ok == FlagState::Set {
            self.write_image_ok(area)?;
        }
        self.write_swap_size(area, bs.swap_size)?;
        if self.cfg.algorithm == Algorithm::SwapOffset {
            let [p, s] = self.work.imgs[self.cur].unprot;
            let r = trailer::write_unprotected_tlv_sizes(self.flash, &self.layout, area, p, s);
            self.trailer_op(r)?;
        }
        self.write_magic(area)
    }

    /// `swap_set_image_ok`: write the primary's image_ok unless already set.
    fn set_primary_image_ok(&mut self) -> Result<()> {
        let pri = self.area(Slot::Primary);
        if self.swap_state(pri)?.image_ok == FlagState::Unset {
            self.write_image_ok(pri)?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------- decision table

    /// `boot_swap_type_multi`: the swap-type table of §5 over the two trailers.
    fn table_swap_type(&mut self) -> Result<SwapType> {
        let p = self.swap_state(self.area(Slot::Primary))?;
        // An unreachable secondary is treated as fully erased.
        let s = match trailer::read_swap_state(self.flash, &self.layout, self.area(Slot::Secondary)) {
            Ok(s) => s,
            Err(FlashError::PowerLoss { op }) => return Err(BootError::PowerLoss { op }),
            Err(_) => SwapState::ERASED,
        };
        Ok(decide_swap_type(&p, &s, self.cfg.algorithm == Algorithm::SwapOffset))
    }

    // ---------------------------------------------------------------- sectors and headers

    fn load_sectors(&mut self) -> Result<()> {
        let pri = self.area(Slot::Primary);
        let sec = self.area(Slot::Secondary);
        // Reuse last boot's sector lists when the areas and their devices' geometry are the
        // same (the common case: every boot of one device).
        let same = {
            let ctx = &self.work.imgs[self.cur];
            ctx.pri == Some(pri)
                && ctx.sec == Some(sec)
                && self.flash.geometry(pri.device)?.sectors == ctx.geometry_key[0]
                && self.flash.geometry(sec.device)?.sectors == ctx.geometry_key[1]
        };
        if !same {
            self.refill_sectors(pri, sec)?;
        }
        let mut w = self.area_write_size(pri)?;
        if self.cfg.algorithm == Algorithm::SwapScratch {
            w = w.max(self.area_write_size(self.scratch()?)?);
        }
        self.layout.check_write_size(w)?;
        self.write_sz = w;
        Ok(())
    }

    fn refill_sectors(&mut self, pri: Area, sec: Area) -> Result<()> {
        let (pv, sv) = {
            let ctx = &mut self.work.imgs[self.cur];
            (std::mem::take(&mut ctx.pri_sectors), std::mem::take(&mut ctx.sec_sectors))
        };
        let pv = self.fill_sectors(pri, pv)?;
        let sv = self.fill_sectors(sec, sv)?;
        let ctx = &mut self.work.imgs[self.cur];
        ctx.pri = Some(pri);
        ctx.sec = Some(sec);
        ctx.pri_sectors = pv;
        ctx.sec_sectors = sv;
        let key = [
            self.flash.geometry(pri.device)?.sectors.clone(),
            self.flash.geometry(sec.device)?.sectors.clone(),
        ];
        self.work.imgs[self.cur].geometry_key = key;
        Ok(())
    }

    fn fill_sectors(&self, area: Area, mut v: Vec<Sector>) -> Result<Vec<Sector>> {
        v.clear();
        let g = self.flash.geometry(area.device)?;
        let end = area.offset + area.size;
        for s in g.iter_sectors() {
            if s.offset >= area.offset && s.offset < end {
                v.push(Sector { offset: s.offset - area.offset, size: s.size });
            }
        }
        if v.iter().map(|s| s.size).sum::<u32>() != area.size || v.first().is_none_or(|s| s.offset != 0) {
            return Err(BootError::Config(format!("area {area:?} is not made of whole sectors")));
        }
        Ok(v)
    }

    fn num_sectors(&self, slot: Slot) -> usize {
        let c = &self.work.imgs[self.cur];
        match slot {
            Slot::Primary => c.pri_sectors.len(),
            Slot::Secondary => c.sec_sectors.len(),
        }
    }

    fn sector(&self, slot: Slot, i: usize) -> Sector {
        let c = &self.work.imgs[self.cur];
        match slot {
            Slot::Primary => c.pri_sectors[i],
            Slot::Secondary => c.sec_sectors[i],
        }
    }

    fn hdr(&self, slot: Slot) -> ImageHeader {
        self.work.imgs[self.cur].hdr[slot as usize]
    }

    fn read_header_at(&mut self, area: Area, off: u32) -> Result<ImageHeader> {
        let mut b = [0u8; IMAGE_HEADER_SIZE];
        self.read(area, off, &mut b)?;
        Ok(facts::decode_header(&b))
    }

    /// `boot_read_image_headers(require_all, bs)`. Returns false when MCUboot's version fails
    /// (a header is not where the status says it must be).
    fn read_image_headers(&mut self, require_all: bool, bs: Option<&Status>) -> Result<bool> {
        for slot in [Slot::Primary, Slot::Secondary] {
            let ok = self.read_image_header(slot, bs)?;
            if !ok {
                return Ok(slot == Slot::Secondary && !require_all);
            }
        }
        Ok(true)
    }

    /// `boot_read_image_header` of the configured algorithm; false = "rc != 0".
    fn read_image_header(&mut self, slot: Slot, bs: Option<&Status>) -> Result<bool> {
        match self.cfg.algorithm {
            Algorithm::OverwriteOnly | Algorithm::SwapScratch => {
                let h = self.read_header_at(self.area(slot), 0)?;
                self.work.imgs[self.cur].hdr[slot as usize] = h;
                Ok(true)
            }
            Algorithm::SwapMove => swap_move::read_image_header(self, slot, bs),
            Algorithm::SwapOffset => offset::read_image_header(self, slot, bs),
        }
    }

    // ---------------------------------------------------------------- images and validation

    /// Locate the TLV blocks of the image at `off` in `area` described by `hdr`:
    /// `(prot_start, unprot_start, total)` relative to the image start.
    fn image_blocks(&mut self, area: Area, off: u32, hdr: &ImageHeader) -> Result<Option<(u32, u32, u32)>> {
        let Some(tlv_off) = hdr.tlv_offset() else { return Ok(None) };
        let Some(abs) = off.checked_add(tlv_off) else { return Ok(None) };
        let mut info = [0u8; 8];
        let prot = hdr.protect_tlv_size as u32;
        if abs.checked_add(4).is_none_or(|e| e > area.size) {
            return Ok(None);
        }
        self.read(area, abs, &mut info[..4])?;
        let second = abs + prot;
        if u16::from_le_bytes([info[0], info[1]]) == facts::TLV_PROT_INFO_MAGIC {
            if second.checked_add(4).is_none_or(|e| e > area.size) {
                return Ok(None);
            }
            let mut b = [0u8; 4];
            self.read(area, second, &mut b)?;
            info[4..].copy_from_slice(&b);
        }
        Ok(facts::tlv_blocks(hdr, info))
    }

    /// `boot_read_image_size`: header through last TLV, or None when the TLV infos are bad.
    fn image_size(&mut self, slot: Slot) -> Result<Option<u32>> {
        let area = self.area(slot);
        let off = if slot == Slot::Secondary { self.work.imgs[self.cur].secondary_offset } else { 0 };
        let hdr = self.hdr(slot);
        Ok(self.image_blocks(area, off, &hdr)?.map(|(_, _, total)| total))
    }

    /// `bootutil_max_image_size` for a slot of this build.
    fn max_image_size(&self, slot: Slot) -> u32 {
        let area = self.area(slot);
        let w = self.write_sz;
        let tsz = self.layout.trailer_size(w);
        let sector = |sl: Slot| self.sector(sl, 0).size;
        let trailer_sectors = |sl: Slot| {
            // sectors (from the end) needed to hold the trailer
            let n = self.num_sectors(sl);
            let mut total = 0;
            let mut k = 0;
            while total < tsz && k < n {
                total += self.sector(sl, n - 1 - k).size;
                k += 1;
            }
            k as u32
        };
        match self.cfg.algorithm {
            Algorithm::OverwriteOnly => self.layout.swap_info_off(area.size),
            Algorithm::SwapScratch => scratch::max_image_size(self),
            Algorithm::SwapMove => {
                let np = self.num_sectors(Slot::Primary) as u32;
                let ns = self.num_sectors(Slot::Secondary) as u32;
                let pri = np.saturating_sub(1 + trailer_sectors(Slot::Primary));
                let sec = ns.saturating_sub(trailer_sectors(Slot::Secondary));
                pri.min(sec) * sector(Slot::Primary)
            }
            Algorithm::SwapOffset => {
                let np = self.num_sectors(Slot::Primary) as u32;
                let ns = self.num_sectors(Slot::Secondary) as u32;
                let pri = np.saturating_sub(trailer_sectors(Slot::Primary));
                let sec = ns.saturating_sub(1 + trailer_sectors(Slot::Secondary));
                pri.min(sec) * sector(Slot::Primary)
            }
        }
    }

    /// Validate the image at `off` in `slot` (`boot_image_check`): header sanity, TLV layout,
    /// size limit, hash (memoised), then the rollback counter. `Some(entry)` when valid.
    fn check_image(&mut self, slot: Slot, off: u32) -> Result<Option<usize>> {
        let area = self.area(slot);
        let hdr = self.hdr(slot);
        if !facts::is_valid_for(&hdr, area.size) {
            return Ok(None);
        }
        let Some((_, _, total)) = self.image_blocks(area, off, &hdr)? else { return Ok(None) };
        if total > self.max_image_size(slot) || off.checked_add(total).is_none_or(|e| e > area.size) {
            return Ok(None);
        }
        let mut buf = std::mem::take(&mut self.work.image_buf);
        buf.resize(total as usize, 0);
        let r = self.read(area, off, &mut buf);
        let entry = r.map(|_| self.cache.lookup(&buf, &self.cfg.keys));
        self.work.image_buf = buf;
        let entry = entry?;
        let f = self.cache.facts(entry);
        if !f.valid {
            return Ok(None);
        }
        if self.cfg.hw_rollback_protection {
            let nv = self.nv[self.cur];
            match f.security_counter {
                Some(c) if c >= nv => {}
                _ => return Ok(None),
            }
        }
        Ok(Some(entry))
    }

    /// `boot_validate_slot(slot, bs, expected_swap_type)`.
    fn validate_slot(
        &mut self,
        slot: Slot,
        bs: Option<&Status>,
        expected: Option<SwapType>,
    ) -> Result<SlotCheck> {
        let area = self.area(slot);
        let erased = self.erased_val(area)?;
        let hdr = self.hdr(slot);
        if facts::is_erased(&hdr, erased) || facts::is_non_bootable(&hdr) {
            if slot == Slot::Secondary && self.cfg.algorithm != Algorithm::OverwriteOnly {
                self.scramble_trailer_sectors(area)?;
                if self.cfg.algorithm == Algorithm::SwapMove {
                    let reverting = bs.is_some_and(|b| b.swap_type == SwapType::Revert)
                        || self.table_swap_type()? == SwapType::Revert;
                    if reverting {
                        let pri = self.area(Slot::Primary);
                        self.scramble_trailer_sectors(pri)?;
                    }
                }
            }
            return Ok(SlotCheck::NoBootable);
        }
        let mut result = None;
        if self.cfg.algorithm == Algorithm::SwapOffset
            && slot == Slot::Secondary
            && bs.is_some_and(|b| b.is_reset(self.cfg.algorithm))
            && matches!(expected, Some(SwapType::Test | SwapType::Perm))
        {
            let first = self.read_header_at(area, 0)?;
            if facts::has_magic(&first) {
                // "Secondary header magic detected in first sector, wrong upload address?"
                result = Some(SlotCheck::NoBootable);
            }
        }
        if result.is_none()
            && self.cfg.algorithm == Algorithm::OverwriteOnly
            && self.cfg.downgrade_prevention == DowngradePrevention::Version
            && slot == Slot::Secondary
        {
            let pri = self.hdr(Slot::Primary);
            let pri_erased = facts::is_erased(&pri, self.erased_val(self.area(Slot::Primary))?);
            if hdr.version.cmp_ignoring_build(&pri.version).is_lt() && !pri_erased {
                self.scramble_slot(area)?;
                return Ok(SlotCheck::NoBootable);
            }
        }
        let result = match result {
            Some(r) => r,
            None => {
                let off = if slot == Slot::Secondary { self.work.imgs[self.cur].secondary_offset } else { 0 };
                match self.check_image(slot, off)? {
                    Some(e) => SlotCheck::Valid(e),
                    None => SlotCheck::Failure,
                }
            }
        };
        if let SlotCheck::Valid(_) = result {
            return Ok(result);
        }
        if slot != Slot::Primary {
            self.scramble_slot(area)?;
        }
        Ok(SlotCheck::NoBootable)
    }

    /// The SEC_CNT of the image described by `hdr` at `off` in `area` (protected TLVs only).
    fn read_security_counter(&mut self, area: Area, off: u32, hdr: &ImageHeader) -> Result<Option<u32>> {
        Ok(self.read_protected_tlvs(area, off, hdr)?.and_then(|(c, _)| c))
    }

    /// Walk the protected TLVs (SEC_CNT, DEPENDENCY) straight from flash; None when the TLV
    /// layout is bad.
    fn read_protected_tlvs(
        &mut self,
        area: Area,
        off: u32,
        hdr: &ImageHeader,
    ) -> Result<Option<(Option<u32>, Vec<Dependency>)>> {
        let Some((prot, unprot, _)) = self.image_blocks(area, off, hdr)? else { return Ok(None) };
        let mut counter = None;
        let mut deps = Vec::new();
        if hdr.protect_tlv_size == 0 {
            return Ok(Some((None, deps)));
        }
        let mut p = prot + 4;
        while p < unprot {
            if p + 4 > unprot {
                return Ok(None);
            }
            let mut th = [0u8; 4];
            self.read(area, off + p, &mut th)?;
            let ty = u16::from_le_bytes([th[0], th[1]]);
            let len = u16::from_le_bytes([th[2], th[3]]) as u32;
            if p + 4 + len > unprot {
                return Ok(None);
            }
            if ty == facts::TLV_SEC_CNT && len == 4 {
                let mut b = [0u8; 4];
                self.read(area, off + p + 4, &mut b)?;
                counter = Some(u32::from_le_bytes(b));
            } else if ty == facts::TLV_DEPENDENCY {
                if len != 12 {
                    return Ok(None);
                }
                let mut b = [0u8; 12];
                self.read(area, off + p + 4, &mut b)?;
                deps.push(Dependency {
                    image_id: b[0],
                    min_version: ImageVersion::from_bytes(&[
                        b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
                    ]),
                });
            }
            p += 4 + len;
        }
        Ok(Some((counter, deps)))
    }

    /// `boot_update_security_counter`: raise image `cur`'s NV counter to the SEC_CNT of the
    /// image now in the primary slot, described by `hdr`. False when there is no counter.
    fn update_security_counter(&mut self, hdr: ImageHeader) -> Result<bool> {
        let pri = self.area(Slot::Primary);
        match self.read_security_counter(pri, 0, &hdr)? {
            Some(c) => {
                let nv = &mut self.nv[self.cur];
                *nv = (*nv).max(c);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    // ---------------------------------------------------------------- the boot

    fn run(&mut self) -> Result<BootOutcome> {
        let n = self.map.images.len();
        let mut bs = Status::reset(self.cfg.algorithm);
        let mut has_upgrade = false;
        for i in 0..n {
            self.cur = i;
            let ctx = &mut self.work.imgs[i];
            ctx.swap_type = None;
            ctx.resumed = None;
            ctx.performed = None;
            ctx.primary_facts = None;
            ctx.secondary_offset = 0;
            ctx.unprot = [0; 2];
            self.load_sectors()?;
            if self.num_sectors(Slot::Primary) > self.cfg.max_img_sectors as usize {
                // `boot_read_sectors` fails (BOOT_EFLASH): MCUboot skips this image's update
                // logic and never reads its headers, so the primary is not bootable.
                self.work.imgs[i].hdr = [facts::EMPTY_HEADER; 2];
                self.set_swap_type(SwapType::None);
                continue;
            }
            self.prepare_image_for_update(&mut bs)?;
            if self.swap_type().is_upgrade() {
                has_upgrade = true;
            }
        }
        if n > 1 && has_upgrade {
            self.verify_dependencies()?;
        }
        for i in 0..n {
            self.cur = i;
            if n > 1 {
                bs = Status::reset(self.cfg.algorithm);
            }
            let ty = self.swap_type();
            bs.swap_type = ty;
            let mut performed = ty;
            match ty {
                SwapType::None => {}
                SwapType::Test | SwapType::Perm | SwapType::Revert => {
                    if ty != SwapType::Revert && self.downgrade_prevented()? {
                        self.set_swap_type(SwapType::None);
                        performed = SwapType::None;
                    } else {
                        self.perform_update(&mut bs)?;
                    }
                }
                SwapType::Fail => {
                    if self.cfg.algorithm != Algorithm::OverwriteOnly {
                        self.set_primary_image_ok()?;
                    }
                }
                SwapType::Panic => return Err(BootError::Halted("swap type PANIC")),
            }
            self.work.imgs[i].performed = Some(performed);
        }
        let mut failure = None;
        for i in 0..n {
            self.cur = i;
            if self.swap_type() != SwapType::None {
                self.read_image_headers(false, None)?;
            }
            if self.cfg.validate_primary {
                match self.validate_slot(Slot::Primary, None, None)? {
                    SlotCheck::Valid(e) => self.work.imgs[i].primary_facts = Some(e),
                    _ => {
                        failure = Some("primary slot image is not valid");
                        break;
                    }
                }
            } else if !facts::has_magic(&self.hdr(Slot::Primary)) {
                failure = Some("primary slot has no image header");
                break;
            }
            if self.cfg.hw_rollback_protection {
                let pri = self.area(Slot::Primary);
                let st = self.swap_state(pri)?;
                if (st.magic != MagicState::Good || st.image_ok == FlagState::Set)
                    && !self.update_security_counter(self.hdr(Slot::Primary))?
                {
                    failure = Some("security counter update failed");
                    break;
                }
            }
        }
        let images = (0..n)
            .map(|i| {
                let c = &self.work.imgs[i];
                ImageReport {
                    resumed: c.resumed,
                    swap_type: c.performed.unwrap_or(SwapType::None),
                    header: c.hdr[0],
                    hash: c.primary_facts.map(|e| self.cache.facts(e).hash.clone()),
                }
            })
            .collect();
        let boots = if failure.is_none() {
            let c = &self.work.imgs[0];
            Some(Booted { image: 0, area: self.map.images[0].primary, header: c.hdr[0] })
        } else {
            None
        };
        Ok(BootOutcome { boots, failure, images, ops: 0 })
    }

    fn swap_type(&self) -> SwapType {
        self.work.imgs[self.cur].swap_type.unwrap_or(SwapType::None)
    }

    fn set_swap_type(&mut self, t: SwapType) {
        self.work.imgs[self.cur].swap_type = Some(t);
    }

    /// `boot_prepare_image_for_update`.
    fn prepare_image_for_update(&mut self, bs: &mut Status) -> Result<()> {
        self.read_image_headers(false, None)?;
        if !self.slots_compatible() {
            self.set_swap_type(SwapType::None);
            return Ok(());
        }
        *bs = Status::reset(self.cfg.algorithm);
        if self.cfg.algorithm != Algorithm::OverwriteOnly {
            status::read_status(self, bs)?;
            let reset = bs.is_reset(self.cfg.algorithm);
            if !self.read_image_headers(!reset, Some(bs))? {
                self.set_swap_type(SwapType::None);
                return Ok(());
            }
        }
        if !bs.is_reset(self.cfg.algorithm) {
            if self.map.images.len() > 1 {
                self.review_image_swap_types(true);
            }
            self.complete_partial_swap(bs)?;
            self.read_image_headers(false, None)?;
            self.set_swap_type(SwapType::None);
        } else {
            let ty = if bs.swap_type == SwapType::None {
                self.validated_swap_type(bs)?
            } else {
                match self.validate_slot(Slot::Secondary, Some(bs), None)? {
                    SlotCheck::Valid(_) => bs.swap_type,
                    _ => SwapType::Fail,
                }
            };
            self.set_swap_type(ty);
            if self.map.images.len() > 1 {
                self.review_image_swap_types(false);
            }
        }
        Ok(())
    }

    /// `boot_review_image_swap_types`.
    fn review_image_swap_types(&mut self, aborted: bool) {
        if self.cur == 0 {
            return;
        }
        if !aborted && matches!(self.swap_type(), SwapType::None | SwapType::Revert) {
            return;
        }
        for i in 0..self.cur {
            if self.work.imgs[i].swap_type == Some(SwapType::Revert) {
                self.work.imgs[i].swap_type = Some(SwapType::None);
            }
        }
    }

    /// `boot_validated_swap_type`.
    fn validated_swap_type(&mut self, bs: &Status) -> Result<SwapType> {
        let ty = self.table_swap_type()?;
        if ty.is_upgrade() {
            return Ok(match self.validate_slot(Slot::Secondary, Some(bs), Some(ty))? {
                SlotCheck::Valid(_) => ty,
                SlotCheck::NoBootable => SwapType::None,
                SlotCheck::Failure => SwapType::Fail,
            });
        }
        Ok(ty)
    }

    /// `boot_slots_compatible` of the configured algorithm.
    fn slots_compatible(&self) -> bool {
        let np = self.num_sectors(Slot::Primary);
        let ns = self.num_sectors(Slot::Secondary);
        let max = self.cfg.max_img_sectors as usize;
        if ns > max {
            // The secondary's sector list could not be read (BOOT_EFLASH_SEC).
            return false;
        }
        match self.cfg.algorithm {
            Algorithm::OverwriteOnly | Algorithm::SwapScratch => {
                if np > max || ns > max {
                    return false;
                }
                let scratch_sz = self.map.scratch.map(|s| s.size).unwrap_or(0);
                let check_scratch = self.cfg.algorithm == Algorithm::SwapScratch;
                let (mut i, mut j, mut sz0, mut sz1, mut psz, mut ssz) = (0, 0, 0u32, 0u32, 0u32, 0u32);
                let mut smaller = 0;
                while i < np || j < ns {
                    if sz0 == sz1 {
                        if i >= np || j >= ns {
                            return false;
                        }
                        sz0 += self.sector(Slot::Primary, i).size;
                        sz1 += self.sector(Slot::Secondary, j).size;
                        i += 1;
                        j += 1;
                    } else if sz0 < sz1 {
                        if i >= np || smaller == 2 {
                            return false;
                        }
                        sz0 += self.sector(Slot::Primary, i).size;
                        smaller = 1;
                        i += 1;
                    } else {
                        if j >= ns || smaller == 1 {
                            return false;
                        }
                        sz1 += self.sector(Slot::Secondary, j).size;
                        smaller = 2;
                        j += 1;
                    }
                    // Overwrite-only builds compile this folding out.
                    if check_scratch && sz0 == sz1 {
                        psz += sz0;
                        ssz += sz1;
                        if sz0 > scratch_sz || sz1 > scratch_sz {
                            return false;
                        }
                        smaller = 0;
                        sz0 = 0;
                        sz1 = 0;
                    }
                }
                i == np && j == ns && psz == ssz
            }
            Algorithm::SwapMove => swap_move::slots_compatible(self),
            Algorithm::SwapOffset => offset::slots_compatible(self),
        }
    }

    /// `boot_complete_partial_swap`.
    fn complete_partial_swap(&mut self, bs: &mut Status) -> Result<()> {
        self.work.imgs[self.cur].resumed = Some(bs.swap_type);
        self.swap_image(bs)?;
        self.set_swap_type(bs.swap_type);
        if matches!(bs.swap_type, SwapType::Revert | SwapType::Perm) {
            self.set_primary_image_ok()?;
        }
        if bs.swap_type.is_upgrade() {
            let pri = self.area(Slot::Primary);
            self.write_copy_done(pri)?;
        }
        Ok(())
    }

    /// `boot_perform_update`.
    fn perform_update(&mut self, bs: &mut Status) -> Result<()> {
        if self.cfg.algorithm == Algorithm::OverwriteOnly {
            return overwrite::copy_image(self);
        }
        self.swap_image(bs)?;
        let ty = self.swap_type();
        if matches!(ty, SwapType::Revert | SwapType::Perm) {
            self.set_primary_image_ok()?;
        }
        if self.cfg.hw_rollback_protection && ty == SwapType::Perm {
            let hdr = self.hdr(Slot::Secondary);
            if !self.update_security_counter(hdr)? {
                return Err(BootError::Halted("security counter update failed after a permanent swap"));
            }
        }
        if ty.is_upgrade() {
            let pri = self.area(Slot::Primary);
            self.write_copy_done(pri)?;
        }
        Ok(())
    }

    /// `boot_swap_image`: size the swap (or read the size of the one under way), then run it.
    fn swap_image(&mut self, bs: &mut Status) -> Result<()> {
        let copy_size;
        if bs.is_reset(self.cfg.algorithm) {
            let mut sizes = [0u32; 2];
            for slot in [Slot::Primary, Slot::Secondary] {
                if facts::has_magic(&self.hdr(slot)) {
                    let Some(total) = self.image_size(slot)? else {
                        return Err(BootError::Halted("bad TLV info while sizing the swap"));
                    };
                    sizes[slot as usize] = total;
                    let h = self.hdr(slot);
                    let hashed = h.tlv_offset().unwrap_or(0) + h.protect_tlv_size as u32;
                    self.work.imgs[self.cur].unprot[slot as usize] = total.saturating_sub(hashed) as u16;
                }
            }
            copy_size = sizes[0].max(sizes[1]);
            bs.swap_size = copy_size;
        } else {
            let area = status::find_status(self)?;
            bs.swap_size = trailer::read_swap_size(self.flash, &self.layout, area)?;
            if self.cfg.algorithm == Algorithm::SwapOffset {
                let (p, s) = trailer::read_unprotected_tlv_sizes(self.flash, &self.layout, area)?;
                self.work.imgs[self.cur].unprot = [p, s];
            }
            copy_size = bs.swap_size;
        }
        match self.cfg.algorithm {
            Algorithm::SwapScratch => scratch::swap_run(self, bs, copy_size),
            Algorithm::SwapMove => swap_move::swap_run(self, bs, copy_size),
            Algorithm::SwapOffset => offset::swap_run(self, bs, copy_size),
            Algorithm::OverwriteOnly => Err(BootError::Halted("swap in an overwrite-only build")),
        }
    }

    /// `check_downgrade_prevention` (swap builds, TEST and PERM only). True = refused (and the
    /// secondary slot erased).
    fn downgrade_prevented(&mut self) -> Result<bool> {
        if self.cfg.algorithm == Algorithm::OverwriteOnly {
            return Ok(false);
        }
        let refuse = match self.cfg.downgrade_prevention {
            DowngradePrevention::Off => return Ok(false),
            DowngradePrevention::Version => {
                self.hdr(Slot::Secondary).version.cmp_ignoring_build(&self.hdr(Slot::Primary).version).is_lt()
            }
            DowngradePrevention::SecurityCounter => {
                let pri = self.area(Slot::Primary);
                let ph = self.hdr(Slot::Primary);
                let Some(pc) = self.read_security_counter(pri, 0, &ph)? else { return Ok(false) };
                let sec = self.area(Slot::Secondary);
                let sh = self.hdr(Slot::Secondary);
                let off = self.work.imgs[self.cur].secondary_offset;
                match self.read_security_counter(sec, off, &sh)? {
                    Some(sc) => pc > sc,
                    None => true,
                }
            }
        };
        if refuse {
            let sec = self.area(Slot::Secondary);
            self.scramble_slot(sec)?;
        }
        Ok(refuse)
    }

    /// `boot_verify_dependencies` (swap builds): on the first unmet dependency every image's
    /// upgrade is cancelled.
    fn verify_dependencies(&mut self) -> Result<()> {
        let n = self.map.images.len();
        for i in 0..n {
            self.cur = i;
            let ty = self.swap_type();
            let slot =
                if ty != SwapType::None && ty != SwapType::Fail { Slot::Secondary } else { Slot::Primary };
            let area = self.area(slot);
            let off = if slot == Slot::Secondary { self.work.imgs[i].secondary_offset } else { 0 };
            let hdr = self.hdr(slot);
            let ok = match self.read_protected_tlvs(area, off, &hdr)? {
                None => false,
                Some((_, deps)) => deps.iter().all(|d| {
                    let id = d.image_id as usize;
                    if id >= n {
                        return false;
                    }
                    let c = &self.work.imgs[id];
                    let dslot = if c.swap_type.unwrap_or(SwapType::None).is_upgrade() { 1 } else { 0 };
                    !c.hdr[dslot].version.cmp_ignoring_build(&d.min_version).is_lt()
                }),
            };
            if !ok {
                for c in self.work.imgs.iter_mut() {
                    c.swap_type = Some(SwapType::None);
                }
                break;
            }
        }
        Ok(())
    }
}

/// The swap-type decision table (`boot_swap_tables`, §5): rows in order, first match wins.
/// Row I (secondary GOOD, image_ok UNSET, copy_done SET -> REVERT) exists only in swap-offset
/// builds.
pub fn decide_swap_type(primary: &SwapState, secondary: &SwapState, offset_build: bool) -> SwapType {
    if offset_build
        && secondary.magic == MagicState::Good
        && secondary.image_ok == FlagState::Unset
        && secondary.copy_done == FlagState::Set
    {
        return SwapType::Revert;
    }
    if secondary.magic == MagicState::Good && secondary.image_ok == FlagState::Unset {
        return SwapType::Test;
    }
    if secondary.magic == MagicState::Good && secondary.image_ok == FlagState::Set {
        return SwapType::Perm;
    }
    if primary.magic == MagicState::Good
        && primary.image_ok == FlagState::Unset
        && primary.copy_done == FlagState::Set
    {
        return SwapType::Revert;
    }
    SwapType::None
}

/// The area of `id` in `map` (convenience for callers).
pub fn area(map: &FlashMap, id: AreaId) -> Option<Area> {
    map.area(id)
}
