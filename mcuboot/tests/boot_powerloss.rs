//! Power loss, op-atomic, at every flash operation of a test upgrade, of the revert that
//! follows, and of a permanent upgrade — like MCUboot's `revert_with_fails` and
//! `perm_with_fails` simulator tests (reference `mcuboot.md` §7.3). After every cut the device
//! reboots (the interrupted swap resumes) and must boot the right image with intact images and
//! the documented trailer states.

mod boot_support;

use boot_support::*;
use mcuboot::boot::{Algorithm, BootConfig, BootError, BootOutcome, BootState, CutFlash, boot};
use mcuboot::flash::RamFlash;
use mcuboot::layout::{AreaId, FlashMap};
use mcuboot::trailer::{FlagState, MagicState, SwapType};

struct Case {
    map: FlashMap,
    cfg: BootConfig,
    a: TestImage,
    b: TestImage,
}

impl Case {
    fn new(map: &str, ws: u32, erased: u8, alg: Algorithm, sizes: (usize, usize)) -> Case {
        Case {
            map: map_of(map, ws, erased),
            cfg: BootConfig::with_algorithm(alg),
            a: ImageSpec::new(sizes.0, Version::new(1, 0, 0), 1).build(),
            b: ImageSpec::new(sizes.1, Version::new(2, 0, 0), 2).build(),
        }
    }

    fn swap(&self) -> bool {
        self.cfg.algorithm != Algorithm::OverwriteOnly
    }

    fn name(&self) -> String {
        let g = &self.map.devices[0];
        format!("{} {:?} w{} e{:#x}", self.map.name, self.cfg.algorithm, g.write_size, g.erased_value)
    }

    /// Boot once with a cut before operation `cut` (1-based), expect the power loss.
    fn cut_boot(&self, f: &mut RamFlash, st: &mut BootState, cut: u64) {
        let mut cf = CutFlash::new(&mut *f);
        cf.cut_at = Some(cut);
        let r = boot(&mut cf, &self.map, &self.cfg, st);
        assert!(matches!(r, Err(BootError::PowerLoss { .. })), "{}: cut at {cut}: {r:?}", self.name());
    }

    /// Boot with a cut before operation `cut`, unless the boot needs fewer operations.
    fn maybe_cut_boot(&self, f: &mut RamFlash, st: &mut BootState, cut: u64) -> Option<BootOutcome> {
        let mut cf = CutFlash::new(&mut *f);
        cf.cut_at = Some(cut);
        match boot(&mut cf, &self.map, &self.cfg, st) {
            Err(BootError::PowerLoss { .. }) => None,
            Ok(out) => {
                assert!(out.ops < cut, "{}", self.name());
                Some(out)
            }
            Err(e) => panic!("{}: resume cut at {cut}: {e}", self.name()),
        }
    }

    fn check_upgraded(&self, f: &mut RamFlash, st: &mut BootState, what: &str, permanent: bool) {
        let out = boot_ok(f, &self.map, &self.cfg, st);
        self.check_upgraded_after(f, out, what, permanent);
    }

    fn check_upgraded_after(&self, f: &mut RamFlash, out: BootOutcome, what: &str, permanent: bool) {
        let booted = out.boots.unwrap_or_else(|| panic!("{}: {what}: brick: {:?}", self.name(), out.failure));
        assert_eq!(booted.header.version, self.b.version, "{}: {what}", self.name());
        assert!(primary_holds(f, &self.map, &self.b), "{}: {what}: primary", self.name());
        let pri = self.map.area(AreaId::Primary(0)).expect("pri");
        let sec = self.map.area(AreaId::Secondary(0)).expect("sec");
        if self.swap() {
            assert!(
                secondary_holds(f, &self.map, &self.a, 0),
                "{}: {what}: secondary holds the old image",
                self.name()
            );
            let p = state_of(f, &self.cfg, pri);
            let image_ok = if permanent { FlagState::Set } else { FlagState::Unset };
            assert_eq!(
                (p.magic, p.image_ok, p.copy_done),
                (MagicState::Good, image_ok, FlagState::Set),
                "{}: {what}",
                self.name()
            );
            let s = state_of(f, &self.cfg, sec);
            assert_eq!(
                (s.magic, s.image_ok, s.copy_done),
                (MagicState::Unset, FlagState::Unset, FlagState::Unset),
                "{}: {what}",
                self.name()
            );
        }
    }

    fn check_reverted(&self, f: &mut RamFlash, st: &mut BootState, what: &str) {
        let out = boot_ok(f, &self.map, &self.cfg, st);
        let booted = out.boots.unwrap_or_else(|| panic!("{}: {what}: brick", self.name()));
        assert_eq!(booted.header.version, self.a.version, "{}: {what}", self.name());
        assert!(primary_holds(f, &self.map, &self.a), "{}: {what}: primary", self.name());
        let off = upload_offset(&self.map, self.cfg.algorithm, 0);
        assert!(secondary_holds(f, &self.map, &self.b, off), "{}: {what}: test image kept", self.name());
        let pri = self.map.area(AreaId::Primary(0)).expect("pri");
        let sec = self.map.area(AreaId::Secondary(0)).expect("sec");
        let p = state_of(f, &self.cfg, pri);
        assert_eq!(
            (p.magic, p.image_ok, p.copy_done),
            (MagicState::Good, FlagState::Set, FlagState::Set),
            "{}: {what}",
            self.name()
        );
        let s = state_of(f, &self.cfg, sec);
        assert_eq!(s.magic, MagicState::Unset, "{}: {what}", self.name());
        // A third boot does nothing.
        let out = boot_ok(f, &self.map, &self.cfg, st);
        assert_eq!(
            (out.ops, out.images[0].swap_type),
            (0, SwapType::None),
            "{}: {what}: third boot",
            self.name()
        );
    }

    /// Cut the test upgrade at every op, then the revert at every op.
    fn revert_with_fails(&self) {
        let start = setup(&self.map, &self.cfg, &self.a, Some(&self.b), false);
        let mut st = BootState::new();
        let mut clean = start.clone();
        let up_ops = boot_ok(&mut clean, &self.map, &self.cfg, &mut st).ops;
        assert!(up_ops > 0);
        let upgraded = clean.clone();
        for cut in 1..=up_ops {
            let mut f = start.clone();
            self.cut_boot(&mut f, &mut st, cut);
            self.check_upgraded(&mut f, &mut st, &format!("upgrade cut at {cut}/{up_ops}"), false);
            // A second cut while resuming, then the rest (every 5th cut point in debug builds).
            if cfg!(debug_assertions) && cut % 5 != 0 {
                continue;
            }
            let mut g = start.clone();
            self.cut_boot(&mut g, &mut st, cut);
            let what = format!("upgrade cut at {cut} then resume cut");
            match self.maybe_cut_boot(&mut g, &mut st, cut / 2 + 1) {
                Some(out) => self.check_upgraded_after(&mut g, out, &what, false),
                None => self.check_upgraded(&mut g, &mut st, &what, false),
            }
        }
        if !self.swap() {
            return;
        }
        let mut clean = upgraded.clone();
        let rv_ops = boot_ok(&mut clean, &self.map, &self.cfg, &mut st).ops;
        assert!(rv_ops > 0);
        for cut in 1..=rv_ops {
            let mut f = upgraded.clone();
            self.cut_boot(&mut f, &mut st, cut);
            self.check_reverted(&mut f, &mut st, &format!("revert cut at {cut}/{rv_ops}"));
        }
    }

    /// Cut a permanent upgrade at every op, then one clean boot.
    fn perm_with_fails(&self) {
        let start = setup(&self.map, &self.cfg, &self.a, Some(&self.b), true);
        let mut st = BootState::new();
        let mut clean = start.clone();
        let ops = boot_ok(&mut clean, &self.map, &self.cfg, &mut st).ops;
        for cut in 1..=ops {
            let mut f = start.clone();
            self.cut_boot(&mut f, &mut st, cut);
            self.check_upgraded(&mut f, &mut st, &format!("perm cut at {cut}/{ops}"), true);
        }
    }
}

fn map_of(name: &str, ws: u32, erased: u8) -> FlashMap {
    map(name, ws, erased)
}

/// Appendix A sizes, and the largest images the build accepts (which reach the trailer
/// sector and exercise the scratch algorithm's trailer-region path).
const SMALL: (usize, usize) = (20000, 24000);

/// Every map x write size {1, 8} x erased value {0xFF, 0x00} x size pair in release builds.
/// Debug builds (kept to a few seconds per test) run write size 1 with 0xFF and write size 8
/// with 0x00 for the first size pair, and the extra (large) size pairs with write size 8 and
/// 0x00 only; every cut point is still tried.
fn run(alg: Algorithm, maps: &[&str], sizes: &[(usize, usize)]) {
    let lean = cfg!(debug_assertions);
    for m in maps {
        for (ws, erased) in [(1, 0xff), (8, 0x00), (1, 0x00), (8, 0xff)] {
            for (k, &sz) in sizes.iter().enumerate() {
                if sz == (0, 0) {
                    continue; // placeholder: covered by another test
                }
                let keep = !lean
                    || (k == 0 && (ws, erased) != (1, 0x00) && (ws, erased) != (8, 0xff))
                    || (ws, erased) == (8, 0x00);
                if !keep {
                    continue;
                }
                let c = Case::new(m, ws, erased, alg, sz);
                c.revert_with_fails();
                c.perm_with_fails();
            }
        }
    }
}

#[test]
fn scratch_k64f_survives_a_cut_at_every_op() {
    run(Algorithm::SwapScratch, &["k64f"], &[SMALL]);
}

#[test]
fn scratch_nrf52840_survives_a_cut_at_every_op() {
    run(Algorithm::SwapScratch, &["nrf52840"], &[SMALL]);
}

#[test]
fn scratch_trailer_region_survives_a_cut_at_every_op() {
    // Images reaching the last sector: the first region holds the trailer (use_scratch).
    run(Algorithm::SwapScratch, &["k64f"], &[(0, 0), (127_000, 126_500)]);
}

#[test]
fn scratch_stm32f4_survives_a_cut_at_every_op() {
    // The single 128 KiB region always holds the trailer.
    run(Algorithm::SwapScratch, &["stm32f4"], &[SMALL]);
}

#[test]
fn move_k64f_survives_a_cut_at_every_op() {
    run(Algorithm::SwapMove, &["k64f"], &[SMALL, (100_000, 118_000)]);
}

#[test]
fn move_nrf52840_survives_a_cut_at_every_op() {
    run(Algorithm::SwapMove, &["nrf52840"], &[SMALL]);
}

#[test]
fn offset_k64f_survives_a_cut_at_every_op() {
    run(Algorithm::SwapOffset, &["k64f"], &[SMALL, (100_000, 118_000)]);
}

#[test]
fn offset_nrf52840_survives_a_cut_at_every_op() {
    run(Algorithm::SwapOffset, &["nrf52840"], &[SMALL]);
}

#[test]
fn overwrite_only_survives_a_cut_at_every_op() {
    run(Algorithm::OverwriteOnly, &["k64f", "nrf52840", "stm32f4"], &[SMALL]);
}

#[test]
fn scratch_and_overwrite_on_two_devices_survive_a_cut_at_every_op() {
    // nrf52840-spi: primary on the SoC (4 KiB sectors), secondary and scratch on SPI flash
    // (8 KiB sectors); regions nest two primary sectors per secondary sector.
    for alg in [Algorithm::SwapScratch, Algorithm::OverwriteOnly] {
        let c = Case::new("nrf52840-spi", 8, 0xff, alg, SMALL);
        c.revert_with_fails();
        c.perm_with_fails();
        if !cfg!(debug_assertions) {
            let c = Case::new("nrf52840-spi", 1, 0x00, alg, (300_000, 410_000));
            c.revert_with_fails();
        }
    }
}
