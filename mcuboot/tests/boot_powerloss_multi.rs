//! Two images (k64f-multi), both with a test upgrade pending: power loss at every flash
//! operation of the double upgrade and of the double revert. Exercises the resume of one
//! image while the other is mid-way, and `boot_review_image_swap_types` (an image upgraded
//! before the cut must not be reverted when the next one is resumed).

mod boot_support;

use boot_support::*;
use mcuboot::boot::{Algorithm, BootConfig, BootError, BootState, CutFlash, boot};
use mcuboot::flash::RamFlash;
use mcuboot::layout::{AreaId, FlashMap};
use mcuboot::trailer;

fn holds(f: &RamFlash, map: &FlashMap, slot: AreaId, off: u32, img: &TestImage) -> bool {
    let a = map.area(slot).expect("area");
    slot_bytes(f, a, off, img.bytes.len()) == img.bytes
}

fn sweep(alg: Algorithm, erased: u8) {
    let map = map("k64f-multi", 8, erased);
    let cfg = BootConfig::with_algorithm(alg);
    let a = [
        ImageSpec::new(20000, Version::new(1, 0, 0), 1).build(),
        ImageSpec::new(9000, Version::new(1, 0, 0), 2).build(),
    ];
    let b = [
        ImageSpec::new(24000, Version::new(2, 0, 0), 3).build(),
        ImageSpec::new(11000, Version::new(2, 0, 0), 4).build(),
    ];
    let mut start = ram_flash(&map);
    for i in 0..2u8 {
        load(&mut start, map.area(AreaId::Primary(i)).expect("p"), 0, &a[i as usize].bytes);
        load(
            &mut start,
            map.area(AreaId::Secondary(i)).expect("s"),
            upload_offset(&map, alg, i),
            &b[i as usize].bytes,
        );
        trailer::set_pending(&mut start, &map, &layout(&cfg), i, false).expect("pending");
    }
    let mut st = BootState::new();
    let mut up = start.clone();
    let ops = boot_ok(&mut up, &map, &cfg, &mut st).ops;
    for i in 0..2u8 {
        assert!(holds(&up, &map, AreaId::Primary(i), 0, &b[i as usize]), "{alg:?}");
    }
    for cut in 1..=ops {
        let mut f = start.clone();
        let mut cf = CutFlash::new(&mut f);
        cf.cut_at = Some(cut);
        assert!(matches!(boot(&mut cf, &map, &cfg, &mut st), Err(BootError::PowerLoss { .. })));
        let out = boot_ok(&mut f, &map, &cfg, &mut st);
        assert!(out.boots.is_some(), "{alg:?} cut {cut}");
        for i in 0..2u8 {
            assert!(
                holds(&f, &map, AreaId::Primary(i), 0, &b[i as usize]),
                "{alg:?} e{erased:#x} cut {cut}/{ops}: image {i} upgraded"
            );
            assert!(
                holds(&f, &map, AreaId::Secondary(i), 0, &a[i as usize]),
                "{alg:?} cut {cut}: image {i} old kept"
            );
        }
    }
    let mut rv = up.clone();
    let rops = boot_ok(&mut rv, &map, &cfg, &mut st).ops;
    for cut in 1..=rops {
        let mut f = up.clone();
        let mut cf = CutFlash::new(&mut f);
        cf.cut_at = Some(cut);
        assert!(matches!(boot(&mut cf, &map, &cfg, &mut st), Err(BootError::PowerLoss { .. })));
        let out = boot_ok(&mut f, &map, &cfg, &mut st);
        assert!(out.boots.is_some(), "{alg:?} revert cut {cut}");
        for i in 0..2u8 {
            assert!(
                holds(&f, &map, AreaId::Primary(i), 0, &a[i as usize]),
                "{alg:?} e{erased:#x} revert cut {cut}/{rops}: image {i} reverted"
            );
        }
        let out = boot_ok(&mut f, &map, &cfg, &mut st);
        assert_eq!(out.ops, 0, "{alg:?} revert cut {cut}: settled");
    }
}

#[test]
fn two_images_scratch() {
    sweep(Algorithm::SwapScratch, 0xff);
}

#[test]
fn two_images_move() {
    sweep(Algorithm::SwapMove, 0x00);
}

#[test]
fn two_images_offset() {
    sweep(Algorithm::SwapOffset, 0xff);
}

#[test]
fn two_images_overwrite() {
    let map = map("k64f-multi", 8, 0xff);
    let cfg = BootConfig::with_algorithm(Algorithm::OverwriteOnly);
    let a = ImageSpec::new(20000, Version::new(1, 0, 0), 1).build();
    let b = ImageSpec::new(24000, Version::new(2, 0, 0), 3).build();
    let mut start = ram_flash(&map);
    for i in 0..2u8 {
        load(&mut start, map.area(AreaId::Primary(i)).expect("p"), 0, &a.bytes);
        load(&mut start, map.area(AreaId::Secondary(i)).expect("s"), 0, &b.bytes);
        trailer::set_pending(&mut start, &map, &layout(&cfg), i, false).expect("pending");
    }
    let mut st = BootState::new();
    let ops = boot_ok(&mut start.clone(), &map, &cfg, &mut st).ops;
    for cut in 1..=ops {
        let mut f = start.clone();
        let mut cf = CutFlash::new(&mut f);
        cf.cut_at = Some(cut);
        assert!(boot(&mut cf, &map, &cfg, &mut st).is_err());
        boot_ok(&mut f, &map, &cfg, &mut st);
        for i in 0..2u8 {
            assert!(holds(&f, &map, AreaId::Primary(i), 0, &b), "cut {cut}: image {i}");
        }
    }
}
