//! The full flash-operation listings of Appendix A (k64f, write size 8, erased 0xFF) as insta
//! snapshots: every write and erase of a test upgrade, its revert, a permanent upgrade and an
//! overwrite, per algorithm, with slot-relative offsets and the first byte written.

mod boot_support;

use std::fmt::Write as _;

use boot_support::*;
use mcuboot::boot::{Algorithm, BootConfig, BootState, CutFlash, FlashOp, boot};
use mcuboot::flash::RamFlash;
use mcuboot::layout::{AreaId, FlashMap};

fn name_of(map: &FlashMap, abs: u32) -> (String, u32) {
    for (id, label) in [(AreaId::Primary(0), "PRI"), (AreaId::Secondary(0), "SEC"), (AreaId::Scratch, "SCR")]
    {
        if let Some(a) = map.area(id)
            && (a.offset..a.offset + a.size).contains(&abs)
        {
            return (label.into(), abs - a.offset);
        }
    }
    ("???".into(), abs)
}

fn listing(map: &FlashMap, cfg: &BootConfig, f: &mut RamFlash, st: &mut BootState) -> String {
    let mut cf = CutFlash::recording(&mut *f);
    let out = boot(&mut cf, map, cfg, st).expect("boot");
    let log = cf.log.take().unwrap_or_default();
    let mut s = format!("swap type {:?}, {} ops\n", out.images[0].swap_type, log.len());
    for op in log {
        match op {
            FlashOp::Erase { offset, len, .. } => {
                let (a, o) = name_of(map, offset);
                writeln!(s, "erase {a} {o:#07x} +{len:#x}").ok();
            }
            FlashOp::Write { offset, len, first, .. } => {
                let (a, o) = name_of(map, offset);
                writeln!(s, "write {a} {o:#07x} +{len:#x} {first:02x}").ok();
            }
        }
    }
    s
}

fn lifecycle(alg: Algorithm, permanent: bool) -> String {
    let map = map("k64f", 8, 0xff);
    let cfg = BootConfig::with_algorithm(alg);
    let (a, b) = appendix_a_images();
    let mut f = setup(&map, &cfg, &a, Some(&b), permanent);
    let mut st = BootState::new();
    let mut s = listing(&map, &cfg, &mut f, &mut st);
    if !permanent && alg != Algorithm::OverwriteOnly {
        s.push_str("--- next boot\n");
        s.push_str(&listing(&map, &cfg, &mut f, &mut st));
    }
    s
}

#[test]
fn scratch_test_and_revert() {
    insta::assert_snapshot!(lifecycle(Algorithm::SwapScratch, false));
}

#[test]
fn move_test_and_revert() {
    insta::assert_snapshot!(lifecycle(Algorithm::SwapMove, false));
}

#[test]
fn offset_test_and_revert() {
    insta::assert_snapshot!(lifecycle(Algorithm::SwapOffset, false));
}

#[test]
fn scratch_permanent() {
    insta::assert_snapshot!(lifecycle(Algorithm::SwapScratch, true));
}

#[test]
fn overwrite_only() {
    insta::assert_snapshot!(lifecycle(Algorithm::OverwriteOnly, false));
}
