//! The exhaustive power-cut sweep: cut the power at every flash operation of an upgrade and of
//! the revert that follows it, in every way a cut can strike (before or after the operation,
//! in the middle of a write, in the middle of an erase), reboot, and check that the device
//! still boots the image MCUboot promises, with both images intact.
//!
//! How a sweep runs (one *phase* at a time: `upgrade`, then `revert`):
//!
//! 1. Build the starting flash: the old image in every primary slot, the new one in every
//!    secondary slot (one sector in, for swap-offset), marked pending with
//!    [`mcuboot::trailer::set_pending`] (test or permanent). The revert phase starts from the
//!    flash the uninterrupted upgrade left.
//! 2. Run the *reference* boot without faults, recording every flash operation. Its end state
//!    is the promise: which image runs, where each image sits byte-exact, and the trailer
//!    flags. It is also checked against MCUboot's own expectations (`mcuboot.md` §7.3:
//!    `revert_with_fails`, `perm_with_fails`); a deviation is a *reference problem*.
//! 3. For every operation `n` of the reference and every [`CutKind`] that applies to it:
//!    restore the starting snapshot (only the sectors the last case dirtied are copied), boot
//!    with the cut armed at `n`, power on, optionally cut again `repeat - 1` more times at
//!    seeded random points, boot once more without faults, and classify the result
//!    ([`Outcome`]) and judge it ([`Verdict`]).
//!
//! What is promised: for cuts *between* operations (`before`, `after`) MCUboot promises the
//! exact reference end state, and anything else is a failure. For torn writes and interrupted
//! erases MCUboot promises nothing (its own simulator never tears an operation): every
//! outcome is reported; a brick is a failure, unless the torn operation hit trailer bytes
//! (magic, flags, swap_info, status records), which MCUboot reads by exact value with no
//! protection against half-programmed cells: those are reported as documented limitations.

pub mod images;

use std::collections::BTreeMap;
use std::time::Instant;

use mcuboot::boot::{Algorithm, BootConfig, BootError, BootState, boot};
use mcuboot::flash::{DeviceId, Flash};
use mcuboot::layout::{Area, AreaId, FlashMap};
use mcuboot::trailer::{self, FlagState, MagicState, TrailerLayout};
use serde::Serialize;
use thiserror::Error;

use crate::flash::{
    EraseTear, FaultKind, GeometryError, OpKind, OpRecord, ProgramMode, Rng, SimFlash, Snapshot, WriteTear,
};
pub use images::{ImageFileError, SweepImage, image_from_file, synthetic_image};

/// Which boot is being cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The boot that installs the pending image.
    Upgrade,
    /// The next boot, which swaps an unconfirmed test image back out.
    Revert,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Upgrade => "upgrade",
            Phase::Revert => "revert",
        }
    }

    /// Parse `upgrade` or `revert`.
    pub fn parse(s: &str) -> Option<Phase> {
        match s {
            "upgrade" => Some(Phase::Upgrade),
            "revert" => Some(Phase::Revert),
            _ => None,
        }
    }
}

/// How a cut strikes the operation it is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CutKind {
    /// Power lost just before the operation (what MCUboot's simulator does).
    Before,
    /// Power lost just after the operation completed. Not tried on the last operation of a
    /// test upgrade: a cut there is the upgrade completing and power failing before the
    /// application runs, after which the test image reverts, as promised: that is the revert
    /// phase.
    After,
    /// A write of two or more words: the first half of its words programmed.
    TornPrefix,
    /// A write: words before the middle one programmed, the middle one only partly (a seeded
    /// random bit mask), the rest not.
    TornWord,
    /// An erase: the first half of the range erased, the rest as it was.
    EraseHalf,
    /// An erase: every byte somewhere between its old value and erased (seeded).
    EraseRandom,
}

impl CutKind {
    pub const ALL: [CutKind; 6] = [
        CutKind::Before,
        CutKind::After,
        CutKind::TornPrefix,
        CutKind::TornWord,
        CutKind::EraseHalf,
        CutKind::EraseRandom,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CutKind::Before => "before",
            CutKind::After => "after",
            CutKind::TornPrefix => "torn-prefix",
            CutKind::TornWord => "torn-word",
            CutKind::EraseHalf => "erase-half",
            CutKind::EraseRandom => "erase-random",
        }
    }

    /// Parse a comma-separated list. Besides the names of the kinds: `torn` = both torn-write
    /// kinds, `erase` = both interrupted-erase kinds, `all` = everything. Duplicates are dropped.
    pub fn parse_list(list: &str) -> Result<Vec<CutKind>, SweepError> {
        let mut out = Vec::new();
        for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let kinds: &[CutKind] = match word {
                "torn" => &[CutKind::TornPrefix, CutKind::TornWord],
                "erase" => &[CutKind::EraseHalf, CutKind::EraseRandom],
                "all" => &CutKind::ALL,
                _ => match CutKind::ALL.iter().find(|k| k.name() == word) {
                    Some(k) => std::slice::from_ref(k),
                    None => return Err(SweepError::UnknownCut(word.to_string())),
                },
            };
            for k in kinds {
                if !out.contains(k) {
                    out.push(*k);
                }
            }
        }
        if out.is_empty() {
            return Err(SweepError::UnknownCut(list.to_string()));
        }
        Ok(out)
    }

    /// True if the cut is one MCUboot promises to survive exactly (between operations).
    pub fn is_atomic(self) -> bool {
        matches!(self, CutKind::Before | CutKind::After)
    }

    /// Whether this kind of cut means anything for operation `op` (write size `write_size`).
    fn applies_to(self, op: &OpRecord, write_size: u32) -> bool {
        match self {
            CutKind::Before | CutKind::After => true,
            CutKind::TornPrefix => op.kind == OpKind::Write && op.len / write_size >= 2,
            CutKind::TornWord => op.kind == OpKind::Write,
            CutKind::EraseHalf | CutKind::EraseRandom => op.kind == OpKind::Erase,
        }
    }

    /// The flash fault for this cut at an operation of `len` bytes, drawing any randomness
    /// from `rng`.
    fn fault(self, len: u32, write_size: u32, rng: &mut Rng) -> FaultKind {
        let words = len / write_size.max(1);
        match self {
            CutKind::Before => FaultKind::CutBefore,
            CutKind::After => FaultKind::CutAfter,
            CutKind::TornPrefix => FaultKind::TornWrite(WriteTear::Prefix { bytes: words / 2 * write_size }),
            CutKind::TornWord => {
                // A mask that programs some but not all bits: 1..=254.
                let mask = 1 + rng.below(254) as u8;
                FaultKind::TornWrite(WriteTear::PartialWord { word: words / 2, mask })
            }
            CutKind::EraseHalf => FaultKind::InterruptedErase(EraseTear::Prefix { bytes: len / 2 }),
            CutKind::EraseRandom => FaultKind::InterruptedErase(EraseTear::Random { seed: rng.next_u64() }),
        }
    }
}

/// The algorithm names the CLI and reports use.
pub fn algorithm_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::OverwriteOnly => "overwrite",
        Algorithm::SwapScratch => "swap-scratch",
        Algorithm::SwapMove => "swap-move",
        Algorithm::SwapOffset => "swap-offset",
    }
}

/// Parse `overwrite`, `swap-scratch`, `swap-move` or `swap-offset`.
pub fn parse_algorithm(s: &str) -> Option<Algorithm> {
    match s {
        "overwrite" | "overwrite-only" => Some(Algorithm::OverwriteOnly),
        "swap-scratch" | "scratch" => Some(Algorithm::SwapScratch),
        "swap-move" | "move" => Some(Algorithm::SwapMove),
        "swap-offset" | "offset" => Some(Algorithm::SwapOffset),
        _ => None,
    }
}

/// What a sweep covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepParams {
    /// A [`FlashMap`] preset name.
    pub layout: String,
    pub algorithm: Algorithm,
    /// Write size of every device: 1, 2, 4, 8 (16 and 32 need `BOOT_MAX_ALIGN` 16/32, which
    /// [`SweepParams::boot_config`] selects).
    pub write_size: u32,
    /// Erased value of every device: 0xFF or 0x00.
    pub erased: u8,
    /// Mark the upgrade permanent (no revert phase) instead of test.
    pub permanent: bool,
    pub cuts: Vec<CutKind>,
    pub phases: Vec<Phase>,
    /// Cuts in a row per case (1 = a single cut, then a clean boot). Cuts after the first
    /// strike seeded random operations of the recovery boots.
    pub repeat: u32,
    pub seed: u64,
    pub program_mode: ProgramMode,
    /// Only cut at this operation (for reproducing one case).
    pub only_op: Option<u64>,
    /// Only use this kind for the first cut of each case (later cuts of a repeated case still
    /// draw from `cuts`), for reproducing one case.
    pub only_cut: Option<CutKind>,
    /// Reach each cut point by replaying the reference's recorded operations on a cursor
    /// flash (one operation per cut point) instead of re-running the bootloader from the
    /// start for every case. Both give the same flash at the cut (a boot's flash operations
    /// are all that survives a power cut, and they are deterministic); the replay is about
    /// twice as fast. `false` is the slow, obviously-right way, kept to cross-check.
    pub fast_forward: bool,
}

impl SweepParams {
    /// Defaults: write size 8, 0xFF, test upgrade, every cut kind, both phases, single cuts,
    /// seed 1, strict NOR rules.
    pub fn new(layout: &str, algorithm: Algorithm) -> SweepParams {
        SweepParams {
            layout: layout.to_string(),
            algorithm,
            write_size: 8,
            erased: 0xff,
            permanent: false,
            cuts: CutKind::ALL.to_vec(),
            phases: vec![Phase::Upgrade, Phase::Revert],
            repeat: 1,
            seed: 1,
            program_mode: ProgramMode::Strict,
            only_op: None,
            only_cut: None,
            fast_forward: true,
        }
    }

    /// The bootloader build these parameters call for (MCUboot's simulator defaults with
    /// `BOOT_MAX_ALIGN` raised to the write size when it is above 8).
    pub fn boot_config(&self) -> BootConfig {
        let mut config = BootConfig::with_algorithm(self.algorithm);
        config.max_align = self.write_size.max(8);
        config
    }

    /// The command line that reruns exactly one case (image file arguments not included).
    pub fn reproducer(&self, phase: Phase, op: u64, cut: CutKind) -> String {
        // A repeated case draws its later cut kinds from the whole list: keep it.
        let cuts = if self.repeat > 1 {
            let all: Vec<&str> = self.cuts.iter().map(|c| c.name()).collect();
            format!("{} --only-cut {}", all.join(","), cut.name())
        } else {
            cut.name().to_string()
        };
        format!(
            "brownout sweep --layout {} --mode {} --align {} --erased {:#04x}{} --phase {} --cuts {} --op {} --repeat {} --seed {}{}",
            self.layout,
            algorithm_name(self.algorithm),
            self.write_size,
            self.erased,
            if self.permanent { " --permanent" } else { "" },
            phase.name(),
            cuts,
            op,
            self.repeat,
            self.seed,
            if self.program_mode == ProgramMode::Realistic { " --realistic" } else { "" },
        )
    }
}

/// The old and the new image of a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepImages {
    /// Runs before the upgrade (installed in every primary slot).
    pub old: SweepImage,
    /// The upgrade (installed in every secondary slot, marked pending).
    pub new: SweepImage,
}

impl SweepImages {
    /// The images of `mcuboot.md` Appendix A: 20072 B (v1.0.0) and 24072 B (v2.0.0), so that
    /// op counts can be compared with MCUboot's own.
    pub fn appendix_a() -> SweepImages {
        SweepImages {
            old: synthetic_image(20000, (1, 0, 0), 0x01d),
            new: synthetic_image(24000, (2, 0, 0), 0x2e3),
        }
    }
}

/// What a case left behind, after the final clean boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Exactly the reference end state: the promised image runs, both images sit where the
    /// reference put them, trailer flags match.
    Ok,
    /// Boots, but the old image although the reference ran the new one.
    RecoveredToOld,
    /// Boots, but the new image although the reference ran the old one.
    RecoveredToNew,
    /// Boots the promised image, but an image copy the reference kept is gone or damaged (or
    /// what runs is neither image).
    ImageDamaged,
    /// Boots with the images in place, but a trailer's magic/image_ok/copy_done differs.
    TrailerMismatch,
    /// Nothing bootable, or the bootloader halted.
    Brick,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::RecoveredToOld => "recovered-to-old",
            Outcome::RecoveredToNew => "recovered-to-new",
            Outcome::ImageDamaged => "image-damaged",
            Outcome::TrailerMismatch => "trailer-mismatch",
            Outcome::Brick => "brick",
        }
    }
}

/// How a case is judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// As promised, or a torn-operation outcome MCUboot makes no promise about.
    Pass,
    /// A brick MCUboot does not protect against (the reason says why).
    Limitation(String),
    /// MCUboot promises better.
    Failure,
}

/// One case that did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaseReport {
    pub phase: Phase,
    /// The operation of the reference boot the first cut struck (1-based).
    pub op: u64,
    pub cut: CutKind,
    /// What that operation was, e.g. `write 8 B at primary0+0x1f3d0`.
    pub operation: String,
    /// Every cut that struck, in order (the first one included), e.g.
    /// `torn-word at write 8 B at primary0+0x1ffe0`: with `repeat` > 1 the later ones are the
    /// seeded random cuts of the recovery boots.
    pub struck: Vec<String>,
    /// The seed of this case's own random choices (derived from the sweep seed).
    pub case_seed: u64,
    pub outcome: Outcome,
    /// What differed.
    pub detail: String,
    /// Why a brick is a documented limitation (limitations only).
    pub reason: Option<String>,
    /// The command line that reruns this case.
    pub reproducer: String,
}

/// One phase of a sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseReport {
    pub phase: Phase,
    /// Flash operations of the uninterrupted boot.
    pub reference_ops: u64,
    pub reference_writes: u64,
    pub reference_erases: u64,
    /// Cases run (cut points x applicable cut kinds).
    pub cases: u64,
    /// Cases per outcome name.
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Where the uninterrupted boot itself deviated from MCUboot's documented end state.
    pub reference_problems: Vec<String>,
    /// Why the phase was not run, when it was not.
    pub skipped: Option<String>,
}

/// The result of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    pub layout: String,
    pub algorithm: &'static str,
    pub write_size: u32,
    pub erased: u8,
    pub permanent: bool,
    pub cuts: Vec<CutKind>,
    pub repeat: u32,
    pub seed: u64,
    pub phases: Vec<PhaseReport>,
    /// Cases run in all phases.
    pub cases: u64,
    /// Boots run in all phases (cut ones included).
    pub boots: u64,
    pub failure_count: u64,
    /// The first [`MAX_LISTED`] failures.
    pub failures: Vec<CaseReport>,
    pub limitation_count: u64,
    /// The first [`MAX_LISTED`] limitations.
    pub limitations: Vec<CaseReport>,
    /// Cases that did not end in the reference state but are not failures: torn operations
    /// after which the device still boots (MCUboot promises nothing there).
    pub tolerated_count: u64,
    /// The first [`MAX_LISTED`] of them.
    pub tolerated: Vec<CaseReport>,
    pub elapsed_secs: f64,
    /// Cut-reboot-verify cycles per second.
    pub cases_per_second: f64,
}

/// At most this many failures and limitations are listed in a report (all are counted).
pub const MAX_LISTED: usize = 200;

impl SweepReport {
    /// No failure and no reference problem.
    pub fn passed(&self) -> bool {
        self.failure_count == 0 && self.phases.iter().all(|p| p.reference_problems.is_empty())
    }
}

/// Why a sweep could not run.
#[derive(Debug, Error)]
pub enum SweepError {
    #[error("unknown layout `{0}` (known: {known})", known = FlashMap::PRESETS.join(", "))]
    UnknownLayout(String),
    #[error(
        "unknown cut kind `{0}` (known: before, after, torn-prefix, torn-word, erase-half, erase-random, torn, erase, all)"
    )]
    UnknownCut(String),
    #[error("{0}")]
    Geometry(#[from] GeometryError),
    #[error("{algorithm} cannot run on layout {layout}: {why}")]
    Unsupported { algorithm: &'static str, layout: String, why: String },
    #[error("{what} image ({len} bytes) does not fit the slot (room for {room} bytes before the trailer)")]
    ImageTooLarge { what: &'static str, len: usize, room: u32 },
    #[error("repeat must be at least 1")]
    BadRepeat,
    #[error("setting up the flash: {0}")]
    Setup(String),
}

/// Run a sweep. Deterministic: the same parameters and images give the same report (apart
/// from the timings).
pub fn run_sweep(params: &SweepParams, images: &SweepImages) -> Result<SweepReport, SweepError> {
    let started = Instant::now();
    let mut bench = Bench::new(params, images)?;
    let mut report = SweepReport {
        layout: params.layout.clone(),
        algorithm: algorithm_name(params.algorithm),
        write_size: params.write_size,
        erased: params.erased,
        permanent: params.permanent,
        cuts: params.cuts.clone(),
        repeat: params.repeat,
        seed: params.seed,
        phases: Vec::new(),
        cases: 0,
        boots: 0,
        failure_count: 0,
        failures: Vec::new(),
        limitation_count: 0,
        limitations: Vec::new(),
        tolerated_count: 0,
        tolerated: Vec::new(),
        elapsed_secs: 0.0,
        cases_per_second: 0.0,
    };
    let upgrade_start = bench.flash.snapshot();
    // The upgrade reference always runs: the revert phase starts where it ends.
    let upgrade = bench.reference(Phase::Upgrade, &upgrade_start);
    let revert = match revert_skip_reason(params) {
        Some(why) => Err(why),
        None => {
            bench.flash.reset_ops();
            let start = bench.flash.snapshot();
            Ok((bench.reference(Phase::Revert, &start), start))
        }
    };
    for &phase in &params.phases {
        let (reference, start) = match (phase, &revert) {
            (Phase::Upgrade, _) => (&upgrade, &upgrade_start),
            (Phase::Revert, Ok((reference, start))) => (reference, start),
            (Phase::Revert, Err(why)) => {
                report.phases.push(PhaseReport {
                    phase,
                    reference_ops: 0,
                    reference_writes: 0,
                    reference_erases: 0,
                    cases: 0,
                    outcomes: BTreeMap::new(),
                    reference_problems: Vec::new(),
                    skipped: Some(why.clone()),
                });
                continue;
            }
        };
        let count = |kind| reference.ops.iter().filter(|o| o.kind == kind).count() as u64;
        let mut pr = PhaseReport {
            phase,
            reference_ops: reference.ops.len() as u64,
            reference_writes: count(OpKind::Write),
            reference_erases: count(OpKind::Erase),
            cases: 0,
            outcomes: BTreeMap::new(),
            reference_problems: reference.problems.clone(),
            skipped: None,
        };
        bench.sweep_phase(reference, start, &mut pr, &mut report);
        report.cases += pr.cases;
        report.phases.push(pr);
    }
    report.boots = bench.boots;
    report.elapsed_secs = started.elapsed().as_secs_f64();
    report.cases_per_second =
        if report.elapsed_secs > 0.0 { report.cases as f64 / report.elapsed_secs } else { 0.0 };
    Ok(report)
}

/// Why there is no revert phase for these parameters, if there is none.
fn revert_skip_reason(params: &SweepParams) -> Option<String> {
    if params.algorithm == Algorithm::OverwriteOnly {
        Some("overwrite-only never reverts (a test upgrade is permanent)".into())
    } else if params.permanent {
        Some("a permanent upgrade does not revert".into())
    } else {
        None
    }
}

/// Old or new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Old,
    New,
}

/// An image sitting byte-exact at `offset` in `area`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Placement {
    area: Area,
    name: AreaId,
    offset: u32,
    which: Which,
}

/// What [`Bench::classify`] found.
#[derive(Debug, Clone)]
struct Finding {
    outcome: Outcome,
    /// What differed ("" when nothing did).
    detail: String,
    /// The area where the difference is.
    area: Option<AreaId>,
    /// What runs is neither the old nor the new image.
    neither: bool,
}

impl Finding {
    fn brick(detail: String) -> Finding {
        Finding { outcome: Outcome::Brick, detail, area: None, neither: false }
    }
}

/// The trailer flags MCUboot's simulator checks (`verify_trailer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Flags {
    magic: MagicState,
    image_ok: FlagState,
    copy_done: FlagState,
}

/// The end state of a phase's uninterrupted boot.
#[derive(Debug, Clone)]
struct Reference {
    phase: Phase,
    ops: Vec<OpRecord>,
    /// The bytes of each write in `ops` (empty for erases).
    data: Vec<Vec<u8>>,
    /// Per image: what runs from its primary slot.
    running: Vec<Which>,
    placements: Vec<Placement>,
    /// Per slot (primary and secondary of every image).
    trailers: Vec<(AreaId, Area, Flags)>,
    problems: Vec<String>,
}

/// The device under test and everything reused from case to case.
struct Bench {
    params: SweepParams,
    map: FlashMap,
    config: BootConfig,
    layout: TrailerLayout,
    /// The device the cases run on.
    flash: SimFlash,
    /// Fast-forward cursor: holds the reference's flash just before the operation being cut.
    cursor: SimFlash,
    state: BootState,
    images: SweepImages,
    /// (device, byte range) of every trailer (slots and scratch).
    trailer_regions: Vec<(DeviceId, std::ops::Range<u32>, AreaId)>,
    /// Where the new image is uploaded in the secondary slot.
    upload_offset: u32,
    boots: u64,
}

impl Bench {
    fn new(params: &SweepParams, images: &SweepImages) -> Result<Bench, SweepError> {
        if params.repeat == 0 {
            return Err(SweepError::BadRepeat);
        }
        let map = FlashMap::preset(&params.layout)
            .ok_or_else(|| SweepError::UnknownLayout(params.layout.clone()))?
            .with_flash_params(params.write_size, params.erased);
        let config = params.boot_config();
        let layout = config.trailer_layout().map_err(|e| SweepError::Setup(e.to_string()))?;
        let mut flash = SimFlash::for_map(&map, params.program_mode)?;
        check_supported(params, &map)?;

        let w = params.write_size;
        let mut trailer_regions = Vec::new();
        for (i, slots) in map.images.iter().enumerate() {
            for (name, area) in
                [(AreaId::Primary(i as u8), slots.primary), (AreaId::Secondary(i as u8), slots.secondary)]
            {
                let size = layout.trailer_size(w).min(area.size);
                trailer_regions.push((
                    area.device,
                    area.offset + area.size - size..area.offset + area.size,
                    name,
                ));
            }
        }
        if let (Some(scratch), Algorithm::SwapScratch) = (map.scratch, params.algorithm) {
            let size = layout.scratch_trailer_size(w).min(scratch.size);
            trailer_regions.push((
                scratch.device,
                scratch.offset + scratch.size - size..scratch.offset + scratch.size,
                AreaId::Scratch,
            ));
        }

        let upload_offset = match params.algorithm {
            Algorithm::SwapOffset => map.area_sectors(map.images[0].secondary).first().map_or(0, |s| s.size),
            _ => 0,
        };
        for (i, slots) in map.images.iter().enumerate() {
            let room = slots
                .primary
                .size
                .min(slots.secondary.size.saturating_sub(upload_offset))
                .saturating_sub(layout.trailer_size(w));
            for (what, image) in [("old", &images.old), ("new", &images.new)] {
                if image.bytes.len() > room as usize {
                    return Err(SweepError::ImageTooLarge { what, len: image.bytes.len(), room });
                }
            }
            let setup = |e: mcuboot::flash::FlashError| SweepError::Setup(e.to_string());
            flash.load_area(slots.primary, &images.old.bytes).map_err(setup)?;
            let upload = Area { offset: slots.secondary.offset + upload_offset, ..slots.secondary };
            flash.load_area(upload, &images.new.bytes).map_err(setup)?;
            trailer::set_pending(&mut flash, &map, &layout, i as u8, params.permanent)
                .map_err(|e| SweepError::Setup(format!("set_pending for image {i}: {e}")))?;
        }
        flash.reset_ops();
        flash.reset_counters();
        Ok(Bench {
            params: params.clone(),
            map,
            config,
            layout,
            cursor: flash.clone(),
            flash,
            state: BootState::new(),
            images: images.clone(),
            trailer_regions,
            upload_offset,
            boots: 0,
        })
    }

    fn boot(&mut self) -> Result<mcuboot::boot::BootOutcome, BootError> {
        self.boots += 1;
        boot(&mut self.flash, &self.map, &self.config, &mut self.state)
    }

    /// Run the uninterrupted boot of `phase` from `start`, leaving the flash in its end state.
    fn reference(&mut self, phase: Phase, start: &Snapshot) -> Reference {
        let mut problems = Vec::new();
        if let Err(e) = self.flash.restore(start) {
            problems.push(format!("cannot restore the starting flash: {e}"));
        }
        self.flash.clear_faults();
        self.flash.set_recording(true);
        let result = self.boot();
        let ops = self.flash.recorded().to_vec();
        let data = (0..ops.len()).map(|i| self.flash.recorded_data(i).to_vec()).collect();
        self.flash.set_recording(false);
        match &result {
            Ok(outcome) if outcome.boots.is_none() => problems.push(format!(
                "the uninterrupted {} boot boots nothing: {:?}",
                phase.name(),
                outcome.failure
            )),
            Ok(_) => {}
            Err(e) => problems.push(format!("the uninterrupted {} boot failed: {e}", phase.name())),
        }
        let expected = match phase {
            Phase::Upgrade => Which::New,
            Phase::Revert => Which::Old,
        };
        let mut running = Vec::new();
        for i in 0..self.map.images.len() {
            let found = self.running(i);
            if found != Some(expected) {
                problems.push(format!(
                    "after the uninterrupted {} boot image {i} runs {} (MCUboot runs {})",
                    phase.name(),
                    which_name(found),
                    which_name(Some(expected)),
                ));
            }
            running.push(expected);
        }
        let placements = self.find_placements();
        let trailers = self.read_trailers();
        problems.extend(self.check_documented_end_state(phase, &placements, &trailers));
        Reference { phase, ops, data, running, placements, trailers, problems }
    }

    /// Compare a reference end state with what `mcuboot.md` documents (§6.5, §7.3, App. B 10).
    fn check_documented_end_state(
        &self,
        phase: Phase,
        placements: &[Placement],
        trailers: &[(AreaId, Area, Flags)],
    ) -> Vec<String> {
        use FlagState::{Set, Unset};
        let mut problems = Vec::new();
        let swap = self.params.algorithm != Algorithm::OverwriteOnly;
        // Primary (magic, image_ok, copy_done); secondary magic.
        let primary: (MagicState, FlagState, FlagState) = match (phase, swap, self.params.permanent) {
            // revert_with_fails after the test upgrade: GOOD / unset / SET.
            (Phase::Upgrade, true, false) => (MagicState::Good, Unset, Set),
            // perm_with_fails, and after a revert: GOOD / SET / SET.
            (Phase::Upgrade, true, true) | (Phase::Revert, _, _) => (MagicState::Good, Set, Set),
            // Overwrite-only copies the secondary's trailer (magic GOOD, image_ok as requested),
            // copy_done stays unset (App. B 10).
            (Phase::Upgrade, false, perm) => (MagicState::Good, if perm { Set } else { Unset }, Unset),
        };
        for (name, _, flags) in trailers {
            let ok = match name {
                AreaId::Primary(_) => (flags.magic, flags.image_ok, flags.copy_done) == primary,
                AreaId::Secondary(_) => flags.magic == MagicState::Unset,
                AreaId::Scratch => true,
            };
            if !ok {
                problems.push(format!(
                    "after the uninterrupted {} boot the {} trailer is {} (MCUboot documents {})",
                    phase.name(),
                    area_name(*name),
                    flags_text(flags),
                    match name {
                        AreaId::Primary(_) => flags_text(&Flags { magic: primary.0, image_ok: primary.1, copy_done: primary.2 }),
                        _ => "magic unset".to_string(),
                    }
                ));
            }
        }
        // Swap modes keep the other image in the secondary slot.
        if swap {
            let other = match phase {
                Phase::Upgrade => Which::Old,
                Phase::Revert => Which::New,
            };
            for i in 0..self.map.images.len() {
                let kept =
                    placements.iter().any(|p| p.name == AreaId::Secondary(i as u8) && p.which == other);
                if !kept {
                    problems.push(format!(
                        "after the uninterrupted {} boot the {} image is not intact in secondary slot {i}",
                        phase.name(),
                        which_name(Some(other)),
                    ));
                }
            }
        }
        problems
    }

    /// Which image sits at the start of image `i`'s primary slot.
    fn running(&self, i: usize) -> Option<Which> {
        let slot = self.flash.area_contents(self.map.images[i].primary)?;
        [Which::New, Which::Old].into_iter().find(|&w| slot.starts_with(&self.image(w).bytes))
    }

    fn image(&self, which: Which) -> &SweepImage {
        match which {
            Which::Old => &self.images.old,
            Which::New => &self.images.new,
        }
    }

    /// Every (slot, offset) among {0, upload offset} where the old or new image sits intact.
    fn find_placements(&self) -> Vec<Placement> {
        let mut out = Vec::new();
        for (i, slots) in self.map.images.iter().enumerate() {
            for (name, area) in
                [(AreaId::Primary(i as u8), slots.primary), (AreaId::Secondary(i as u8), slots.secondary)]
            {
                let Some(slot) = self.flash.area_contents(area) else { continue };
                let mut offsets = vec![0];
                if self.upload_offset != 0 {
                    offsets.push(self.upload_offset);
                }
                for offset in offsets {
                    for which in [Which::Old, Which::New] {
                        if slot
                            .get(offset as usize..)
                            .is_some_and(|s| s.starts_with(&self.image(which).bytes))
                        {
                            out.push(Placement { area, name, offset, which });
                        }
                    }
                }
            }
        }
        out
    }

    fn read_trailers(&mut self) -> Vec<(AreaId, Area, Flags)> {
        let mut out = Vec::with_capacity(self.map.images.len() * 2);
        for i in 0..self.map.images.len() {
            let slots = self.map.images[i];
            for (name, area) in
                [(AreaId::Primary(i as u8), slots.primary), (AreaId::Secondary(i as u8), slots.secondary)]
            {
                out.push((name, area, self.flags(area)));
            }
        }
        out
    }

    fn flags(&mut self, area: Area) -> Flags {
        match trailer::read_swap_state(&mut self.flash, &self.layout, area) {
            Ok(s) => Flags { magic: s.magic, image_ok: s.image_ok, copy_done: s.copy_done },
            Err(_) => Flags { magic: MagicState::Bad, image_ok: FlagState::Bad, copy_done: FlagState::Bad },
        }
    }

    /// Every case of one phase.
    fn sweep_phase(
        &mut self,
        reference: &Reference,
        start: &Snapshot,
        pr: &mut PhaseReport,
        report: &mut SweepReport,
    ) {
        let w = self.params.write_size;
        let cuts = self.params.cuts.clone();
        let last = reference.ops.len() as u64;
        // Power lost right after the last operation of a test upgrade is the upgrade completing
        // and the next boot reverting it: the revert phase, not a cut of this one.
        let reverts_next = reference.phase == Phase::Upgrade && revert_skip_reason(&self.params).is_none();
        if let Err(e) = self.cursor.restore(start) {
            pr.reference_problems.push(format!("cannot restore the starting flash: {e}"));
            return;
        }
        self.cursor.clear_faults();
        for (index, op) in reference.ops.iter().enumerate() {
            if index > 0 {
                // Bring the cursor to just before this operation.
                let prev = &reference.ops[index - 1];
                let advanced = match prev.kind {
                    OpKind::Write => self.cursor.write(prev.device, prev.offset, &reference.data[index - 1]),
                    OpKind::Erase => self.cursor.erase(prev.device, prev.offset, prev.len),
                };
                if let Err(e) = advanced {
                    pr.reference_problems.push(format!("replaying reference operation {}: {e}", prev.op));
                    return;
                }
            }
            if self.params.only_op.is_some_and(|only| only != op.op) {
                continue;
            }
            for &cut in &cuts {
                if !cut.applies_to(op, w)
                    || (cut == CutKind::After && op.op == last && reverts_next)
                    || self.params.only_cut.is_some_and(|only| only != cut)
                {
                    continue;
                }
                let case_seed = case_seed(self.params.seed, reference.phase, op.op, cut);
                let (finding, hit) = self.run_case(reference, start, index, cut, case_seed);
                let (outcome, detail) = (finding.outcome, finding.detail.clone());
                pr.cases += 1;
                *pr.outcomes.entry(outcome.name()).or_insert(0) += 1;
                let verdict = self.judge(&finding, &hit);
                let case = |reason| CaseReport {
                    phase: reference.phase,
                    op: op.op,
                    cut,
                    operation: self.describe(op),
                    struck: hit
                        .iter()
                        .map(|(k, o)| format!("{} at {}", k.name(), self.describe(o)))
                        .collect(),
                    case_seed,
                    outcome,
                    detail: detail.clone(),
                    reason,
                    reproducer: self.params.reproducer(reference.phase, op.op, cut),
                };
                match verdict {
                    Verdict::Pass if outcome == Outcome::Ok => {}
                    Verdict::Pass => {
                        report.tolerated_count += 1;
                        if report.tolerated.len() < MAX_LISTED {
                            report.tolerated.push(case(None));
                        }
                    }
                    Verdict::Failure => {
                        report.failure_count += 1;
                        if report.failures.len() < MAX_LISTED {
                            report.failures.push(case(None));
                        }
                    }
                    Verdict::Limitation(reason) => {
                        report.limitation_count += 1;
                        if report.limitations.len() < MAX_LISTED {
                            report.limitations.push(case(Some(reason)));
                        }
                    }
                }
            }
        }
    }

    /// One case: restore, cut (repeatedly), boot clean, classify. Returns the outcome, what
    /// differed, and the cuts that fired (kind and the operation they struck).
    fn run_case(
        &mut self,
        reference: &Reference,
        start: &Snapshot,
        index: usize,
        cut: CutKind,
        case_seed: u64,
    ) -> (Finding, Vec<(CutKind, OpRecord)>) {
        let op = &reference.ops[index];
        let mut rng = Rng::new(case_seed);
        let w = self.params.write_size;
        let mut hits = Vec::new();
        let mut kind = cut;
        let mut fault = cut.fault(op.len, w, &mut rng);
        let mut at = op.op;
        let total = reference.ops.len() as u64;
        let mut rounds = 0..self.params.repeat;
        if self.params.fast_forward {
            // The flash just before the operation, then the operation itself, cut.
            if let Err(e) = self.flash.sync_from(&mut self.cursor) {
                return (Finding::brick(format!("cannot copy the cursor: {e}")), hits);
            }
            self.flash.arm(at, fault);
            let result = match op.kind {
                OpKind::Write => self.flash.write(op.device, op.offset, &reference.data[index]),
                OpKind::Erase => self.flash.erase(op.device, op.offset, op.len),
            };
            if result.is_err() && !self.flash.powered() {
                hits.push((kind, *op));
                self.flash.power_on();
            }
            rounds.next();
            self.next_cut(&mut rng, &mut kind, &mut fault, &mut at, total);
        } else if let Err(e) = self.flash.restore(start) {
            return (Finding::brick(format!("cannot restore: {e}")), hits);
        }
        let mut finished = None;
        for round in rounds {
            self.flash.arm(at, fault);
            let result = self.boot();
            match result {
                Err(BootError::PowerLoss { .. }) => {
                    if let Some(hit) = self.flash.last_op() {
                        hits.push((kind, hit));
                    }
                    self.flash.power_on();
                }
                // The cut did not strike (the recovery boot was shorter): that boot was the
                // last one; booting again would start the next phase (a revert).
                Ok(outcome) => {
                    finished = Some(Ok(outcome));
                    break;
                }
                Err(e) => {
                    self.flash.clear_faults();
                    return (Finding::brick(format!("boot {} halted: {e}", round + 1)), hits);
                }
            }
            self.next_cut(&mut rng, &mut kind, &mut fault, &mut at, total);
        }
        self.flash.clear_faults();
        let result = match finished {
            Some(result) => result,
            None => self.boot(),
        };
        match result {
            Ok(outcome) if outcome.boots.is_some() => {}
            Ok(outcome) => {
                return (
                    Finding::brick(format!(
                        "nothing bootable: {}",
                        outcome.failure.unwrap_or("no reason given")
                    )),
                    hits,
                );
            }
            Err(e) => return (Finding::brick(format!("final boot failed: {e}")), hits),
        }
        (self.classify(reference), hits)
    }

    /// The next cut of a case: a seeded random operation of the recovery boot, like MCUboot's
    /// `perm_with_random_fails`, with a random kind from the sweep's list.
    fn next_cut(&self, rng: &mut Rng, kind: &mut CutKind, fault: &mut FaultKind, at: &mut u64, total: u64) {
        *kind = self.params.cuts[rng.below(self.params.cuts.len() as u64) as usize];
        if *kind == CutKind::After {
            // A cut after the last operation of a recovery boot would be that boot completing
            // (the next boot then starts the next phase); a cut before a random operation
            // covers every other "after" point.
            *kind = CutKind::Before;
        }
        *at = self.flash.ops() + 1 + rng.below(total.max(1));
        // The length of that operation is not known in advance: tears are sized for a 1 KiB
        // copy chunk (the flash clamps them to the real operation).
        *fault = kind.fault(1024, self.params.write_size, rng);
    }

    /// Compare the flash after a case with the reference end state.
    fn classify(&mut self, reference: &Reference) -> Finding {
        for (i, &expected) in reference.running.iter().enumerate() {
            let found = self.running(i);
            if found != Some(expected) {
                let detail =
                    format!("image {i} runs {} instead of {}", which_name(found), which_name(Some(expected)));
                let outcome = match (i, found) {
                    (0, Some(Which::Old)) => Outcome::RecoveredToOld,
                    (0, Some(Which::New)) => Outcome::RecoveredToNew,
                    _ => Outcome::ImageDamaged,
                };
                return Finding {
                    outcome,
                    detail,
                    area: Some(AreaId::Primary(i as u8)),
                    neither: found.is_none(),
                };
            }
        }
        for p in &reference.placements {
            if matches!(p.name, AreaId::Primary(i) if p.offset == 0 && reference.running.get(i as usize) == Some(&p.which))
            {
                continue; // just checked: it runs
            }
            let intact = self
                .flash
                .area_contents(p.area)
                .and_then(|s| s.get(p.offset as usize..))
                .is_some_and(|s| s.starts_with(&self.image(p.which).bytes));
            if !intact {
                let detail = format!(
                    "the {} image is no longer intact in {} at +{:#x}",
                    which_name(Some(p.which)),
                    area_name(p.name),
                    p.offset
                );
                return Finding {
                    outcome: Outcome::ImageDamaged,
                    detail,
                    area: Some(p.name),
                    neither: false,
                };
            }
        }
        for (name, area, expected) in &reference.trailers {
            let found = self.flags(*area);
            if found != *expected {
                let detail = format!(
                    "{} trailer is {} instead of {}",
                    area_name(*name),
                    flags_text(&found),
                    flags_text(expected)
                );
                return Finding {
                    outcome: Outcome::TrailerMismatch,
                    detail,
                    area: Some(*name),
                    neither: false,
                };
            }
        }
        Finding { outcome: Outcome::Ok, detail: String::new(), area: None, neither: false }
    }

    /// Judge an outcome given the cuts that struck.
    fn judge(&self, finding: &Finding, hits: &[(CutKind, OpRecord)]) -> Verdict {
        let outcome = finding.outcome;
        if outcome == Outcome::Ok {
            return Verdict::Pass;
        }
        if outcome == Outcome::TrailerMismatch
            && self.params.algorithm == Algorithm::OverwriteOnly
            && matches!(finding.area, Some(AreaId::Secondary(_)))
        {
            return Verdict::Limitation(
                "overwrite-only leaves a stale secondary trailer when power is lost between erasing the \
                 secondary's first sector and its trailer sector: MCUboot scrambles leftover secondary \
                 trailers only in swap builds (loader.c boot_validate_slot). The new image runs; the \
                 stale magic stays until the next upload erases the slot."
                    .into(),
            );
        }
        let torn: Vec<&(CutKind, OpRecord)> = hits.iter().filter(|(k, _)| !k.is_atomic()).collect();
        if torn.is_empty() {
            // Only cuts between operations: MCUboot promises the reference end state.
            return Verdict::Failure;
        }
        if finding.neither {
            // Something neither old nor new runs: never acceptable.
            return Verdict::Failure;
        }
        if outcome != Outcome::Brick {
            // A torn operation MCUboot makes no promise about, and the device still boots.
            return Verdict::Pass;
        }
        match torn.iter().find_map(|(k, op)| self.trailer_hit(op).map(|area| (*k, *op, area))) {
            Some((kind, op, area)) => Verdict::Limitation(format!(
                "{} of {} at {}+{:#x} tore {} trailer bytes: MCUboot reads the trailer (magic, image_ok, \
                 copy_done, swap_info, status records) by exact value and has no protection against \
                 partly programmed or partly erased trailer cells (upstream never tests torn operations; \
                 mcuboot.md 'Not confirmed')",
                kind.name(),
                op_kind_name(op.kind),
                self.area_of(op.device, op.offset).map_or("device".into(), |(n, _)| area_name(n)),
                self.area_of(op.device, op.offset).map_or(op.offset, |(_, off)| off),
                area_name(area),
            )),
            None => Verdict::Failure,
        }
    }

    /// The trailer an operation overlaps, if any.
    fn trailer_hit(&self, op: &OpRecord) -> Option<AreaId> {
        let end = op.offset.saturating_add(op.len);
        self.trailer_regions
            .iter()
            .find(|(dev, range, _)| *dev == op.device && op.offset < range.end && end > range.start)
            .map(|(_, _, name)| *name)
    }

    /// The area holding `device:offset` and the offset inside it.
    fn area_of(&self, device: DeviceId, offset: u32) -> Option<(AreaId, u32)> {
        let mut areas: Vec<(AreaId, Area)> = Vec::new();
        for (i, s) in self.map.images.iter().enumerate() {
            areas.push((AreaId::Primary(i as u8), s.primary));
            areas.push((AreaId::Secondary(i as u8), s.secondary));
        }
        if let Some(s) = self.map.scratch {
            areas.push((AreaId::Scratch, s));
        }
        areas
            .into_iter()
            .find(|(_, a)| a.device == device && offset >= a.offset && offset < a.offset + a.size)
            .map(|(n, a)| (n, offset - a.offset))
    }

    fn describe(&self, op: &OpRecord) -> String {
        let place = match self.area_of(op.device, op.offset) {
            Some((name, off)) => format!("{}+{off:#x}", area_name(name)),
            None => format!("device {} {:#x}", op.device, op.offset),
        };
        format!("{} {} B at {place}", op_kind_name(op.kind), op.len)
    }
}

/// Refuse combinations MCUboot itself refuses, with its reason (mcuboot.md §6.3, §6.4, §7.2).
fn check_supported(params: &SweepParams, map: &FlashMap) -> Result<(), SweepError> {
    let unsupported = |why: String| SweepError::Unsupported {
        algorithm: algorithm_name(params.algorithm),
        layout: params.layout.clone(),
        why,
    };
    if matches!(params.algorithm, Algorithm::SwapMove | Algorithm::SwapOffset) {
        let mut sizes = map
            .images
            .iter()
            .flat_map(|s| [s.primary, s.secondary])
            .flat_map(|a| map.area_sectors(a))
            .map(|s| s.size);
        let first = sizes.next();
        if sizes.any(|s| Some(s) != first) {
            return Err(unsupported(
                "swap-move and swap-offset need one sector size across both slots".into(),
            ));
        }
    }
    if params.algorithm == Algorithm::SwapScratch && map.scratch.is_none() {
        return Err(unsupported("swap-scratch needs a scratch area".into()));
    }
    for slots in &map.images {
        for area in [slots.primary, slots.secondary] {
            let sectors = map.area_sectors(area).len() as u32;
            // boot_read_sectors fails for every algorithm (overwrite-only included), and
            // MCUboot's simulator runs such devices only with logical sectors (mcuboot.md §7.2).
            if sectors > trailer::MAX_IMG_SECTORS {
                return Err(unsupported(format!(
                    "a slot has {sectors} sectors, more than BOOT_MAX_IMG_SECTORS ({}); MCUboot needs \
                     logical sectors for this device",
                    trailer::MAX_IMG_SECTORS
                )));
            }
        }
    }
    Ok(())
}

/// The seed of one case, from the sweep seed and the case's coordinates (so any single case
/// can be rerun alone with the same random choices).
fn case_seed(seed: u64, phase: Phase, op: u64, cut: CutKind) -> u64 {
    let mut rng = Rng::new(seed ^ (op << 16) ^ ((phase as u64) << 8) ^ cut as u64);
    rng.next_u64()
}

/// What [`which_name`] calls an image that is neither the old nor the new one.
const NEITHER: &str = "neither the old nor the new image";

fn which_name(w: Option<Which>) -> &'static str {
    match w {
        Some(Which::Old) => "the old image",
        Some(Which::New) => "the new image",
        None => NEITHER,
    }
}

fn area_name(a: AreaId) -> String {
    match a {
        AreaId::Primary(i) => format!("primary{i}"),
        AreaId::Secondary(i) => format!("secondary{i}"),
        AreaId::Scratch => "scratch".into(),
    }
}

fn op_kind_name(k: OpKind) -> &'static str {
    match k {
        OpKind::Write => "write",
        OpKind::Erase => "erase",
    }
}

fn flags_text(f: &Flags) -> String {
    let flag = |s: FlagState| match s {
        FlagState::Set => "set",
        FlagState::Unset => "unset",
        FlagState::Bad => "bad",
    };
    let magic = match f.magic {
        MagicState::Good => "good",
        MagicState::Unset => "unset",
        MagicState::Bad => "bad",
    };
    format!("magic {magic}, image_ok {}, copy_done {}", flag(f.image_ok), flag(f.copy_done))
}
