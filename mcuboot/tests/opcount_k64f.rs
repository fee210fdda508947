//! Op counts and op sequences on the K64F layout against reference `mcuboot.md` Appendix A
//! (write size 8, erased 0xFF, primary 20072 B v1.0.0, secondary 24072 B v2.0.0).

mod boot_support;

use boot_support::*;
use mcuboot::boot::{Algorithm, BootConfig, BootState, CutFlash, FlashOp, boot};
use mcuboot::layout::AreaId;
use mcuboot::trailer::SwapType;

const PRI: u32 = 0x20000;
const SEC: u32 = 0x40000;
const SCR: u32 = 0x60000;

/// Boot once with a recording flash; returns the op log.
fn recorded(
    flash: &mut mcuboot::flash::RamFlash,
    cfg: &BootConfig,
    st: &mut BootState,
) -> (Vec<FlashOp>, SwapType) {
    let map = map("k64f", 8, 0xff);
    let mut cf = CutFlash::recording(&mut *flash);
    let out = boot(&mut cf, &map, cfg, st).expect("boot");
    assert_eq!(out.ops, cf.ops);
    (cf.log.take().unwrap_or_default(), out.images[0].swap_type)
}

fn w(offset: u32) -> (u32, bool) {
    (offset, true)
}
fn e(offset: u32) -> (u32, bool) {
    (offset, false)
}

/// The ops reduced to (absolute offset, is_write).
fn shape(log: &[FlashOp]) -> Vec<(u32, bool)> {
    log.iter()
        .map(|op| match *op {
            FlashOp::Write { offset, .. } => (offset, true),
            FlashOp::Erase { offset, .. } => (offset, false),
        })
        .collect()
}

fn upgrade_then_revert(alg: Algorithm) -> (Vec<FlashOp>, Vec<FlashOp>) {
    let map = map("k64f", 8, 0xff);
    let cfg = BootConfig::with_algorithm(alg);
    let (a, b) = appendix_a_images();
    let mut f = setup(&map, &cfg, &a, Some(&b), false);
    let mut st = BootState::new();
    let (up, t1) = recorded(&mut f, &cfg, &mut st);
    assert_eq!(t1, SwapType::Test);
    assert!(primary_holds(&f, &map, &b));
    let (rv, t2) = recorded(&mut f, &cfg, &mut st);
    assert_eq!(t2, SwapType::Revert);
    assert!(primary_holds(&f, &map, &a));
    let (third, t3) = recorded(&mut f, &cfg, &mut st);
    assert_eq!((third.len(), t3), (0, SwapType::None));
    let _ = map.area(AreaId::Scratch);
    (up, rv)
}

#[test]
fn scratch_118_upgrade_119_revert() {
    let (up, rv) = upgrade_then_revert(Algorithm::SwapScratch);
    assert_eq!(up.len(), 118);
    assert_eq!(rv.len(), 119);
    let s = shape(&up);
    let expect_start = [
        e(SCR),
        w(SCR + 0xFD8),
        w(SCR + 0xFD0),
        w(SCR + 0xFF0),
        e(PRI + 0x1F000),
        w(PRI + 0x1FFD8),
        w(PRI + 0x1FFD0),
        w(PRI + 0x1FFF0),
        e(SCR),
        // region 1 (sector 5): secondary -> scratch, record
        w(SCR),
        w(SCR + 0x400),
        w(SCR + 0x800),
        w(SCR + 0xC00),
        w(PRI + 0x1F3D0),
        e(SEC + 0x1F000),
        e(SEC + 0x5000),
        w(SEC + 0x5000),
        w(SEC + 0x5400),
        w(SEC + 0x5800),
        w(SEC + 0x5C00),
        w(PRI + 0x1F3D8),
        e(PRI + 0x5000),
        w(PRI + 0x5000),
        w(PRI + 0x5400),
        w(PRI + 0x5800),
        w(PRI + 0x5C00),
        w(PRI + 0x1F3E0),
        e(SCR),
    ];
    assert_eq!(&s[..expect_start.len()], &expect_start);
    assert_eq!(s.last(), Some(&w(PRI + 0x1FFE0)), "copy_done last");
    // records: 18 of them, 0x1F3D0 .. 0x1F458, values 1,2,3 repeating
    let recs: Vec<(u32, u8)> = up
        .iter()
        .filter_map(|op| match *op {
            FlashOp::Write { offset, first, len: 8, .. }
                if (PRI + 0x1F3D0..PRI + 0x1FFD0).contains(&offset) =>
            {
                Some((offset - PRI, first))
            }
            _ => None,
        })
        .collect();
    assert_eq!(recs.len(), 18);
    for (k, (off, v)) in recs.iter().enumerate() {
        assert_eq!(*off, 0x1F3D0 + 8 * k as u32);
        assert_eq!(*v as usize, k % 3 + 1);
    }
    // revert: swap_info 0x04, ends with image_ok then copy_done
    let r = shape(&rv);
    assert!(
        rv.iter()
            .any(|op| matches!(op, FlashOp::Write { offset, first: 0x04, .. } if *offset == SCR + 0xFD8))
    );
    assert_eq!(&r[r.len() - 2..], &[w(PRI + 0x1FFE8), w(PRI + 0x1FFE0)]);
}

#[test]
fn move_114_upgrade_119_revert() {
    let (up, rv) = upgrade_then_revert(Algorithm::SwapMove);
    assert_eq!(up.len(), 114);
    assert_eq!(rv.len(), 119);
    let s = shape(&up);
    assert_eq!(
        &s[..7],
        &[
            e(PRI + 0x1F000),
            w(PRI + 0x1FFD8),
            w(PRI + 0x1FFD0),
            w(PRI + 0x1FFF0),
            e(SEC + 0x1F000),
            e(PRI + 0x6000),
            w(PRI + 0x6000)
        ]
    );
    let recs: Vec<u32> = up
        .iter()
        .filter_map(|op| match *op {
            FlashOp::Write { offset, len: 8, .. } if (PRI + 0x1F3D0..PRI + 0x1FFD0).contains(&offset) => {
                Some(offset - PRI)
            }
            _ => None,
        })
        .collect();
    let mut expect: Vec<u32> = (0..6).map(|k| 0x1F3D0 + 8 * k).collect();
    expect.extend((0..12).map(|k| 0x1F7D0 + 8 * k));
    assert_eq!(recs, expect);
    assert_eq!(s.last(), Some(&w(PRI + 0x1FFE0)));
    let r = shape(&rv);
    assert_eq!(
        &r[..10],
        &[
            e(SEC + 0x1F000),
            w(SEC + 0x1FFE8),
            w(SEC + 0x1FFD0),
            w(SEC + 0x1FFF0),
            e(PRI + 0x1F000),
            w(PRI + 0x1FFD8),
            w(PRI + 0x1FFE8),
            w(PRI + 0x1FFD0),
            w(PRI + 0x1FFF0),
            e(SEC + 0x1F000)
        ]
    );
    assert_eq!(r.last(), Some(&w(PRI + 0x1FFE0)));
}

#[test]
fn offset_79_upgrade_88_revert() {
    let (up, rv) = upgrade_then_revert(Algorithm::SwapOffset);
    assert_eq!(up.len(), 79);
    assert_eq!(rv.len(), 88);
    let s = shape(&up);
    assert_eq!(
        &s[..8],
        &[
            e(PRI + 0x1F000),
            w(PRI + 0x1FFD8),
            w(PRI + 0x1FFC8),
            w(PRI + 0x1FFD0),
            w(PRI + 0x1FFF0),
            e(SEC + 0x1F000),
            e(SEC),
            w(SEC)
        ]
    );
    assert!(up.iter().any(|op| matches!(op, FlashOp::Write { offset, .. } if *offset == PRI + 0x1FFD0)));
    let recs: Vec<u32> = up
        .iter()
        .filter_map(|op| match *op {
            FlashOp::Write { offset, len: 8, .. } if (PRI + 0x1F7C8..PRI + 0x1FFC8).contains(&offset) => {
                Some(offset - PRI)
            }
            _ => None,
        })
        .collect();
    assert_eq!(recs, (0..12).map(|k| 0x1F7C8 + 8 * k).collect::<Vec<_>>());
    assert_eq!(s.last(), Some(&w(PRI + 0x1FFE0)));
    let r = shape(&rv);
    assert_eq!(
        &r[..6],
        &[
            e(SEC + 0x1F000),
            w(SEC + 0x1FFE0),
            w(SEC + 0x1FFD8),
            w(SEC + 0x1FFC8),
            w(SEC + 0x1FFD0),
            w(SEC + 0x1FFF0)
        ]
    );
    assert_eq!(&r[r.len() - 4..], &[e(SEC), e(SEC + 0x1F000), w(PRI + 0x1FFE8), w(PRI + 0x1FFE0)]);
}

#[test]
fn overwrite_only_162() {
    let map = map("k64f", 8, 0xff);
    let cfg = BootConfig::with_algorithm(Algorithm::OverwriteOnly);
    let (a, b) = appendix_a_images();
    let mut f = setup(&map, &cfg, &a, Some(&b), false);
    let mut st = BootState::new();
    let (log, ty) = recorded(&mut f, &cfg, &mut st);
    assert_eq!(ty, SwapType::Test);
    assert_eq!(log.len(), 162);
    let s = shape(&log);
    for (k, op) in s[..32].iter().enumerate() {
        assert_eq!(*op, e(PRI + 0x1000 * k as u32));
    }
    for (k, op) in s[32..160].iter().enumerate() {
        assert_eq!(*op, w(PRI + 0x400 * k as u32));
    }
    assert_eq!(&s[160..], &[e(SEC), e(SEC + 0x1F000)]);
    assert!(primary_holds(&f, &map, &b));
    let (again, ty2) = recorded(&mut f, &cfg, &mut st);
    assert_eq!((again.len(), ty2), (0, SwapType::None));
}
