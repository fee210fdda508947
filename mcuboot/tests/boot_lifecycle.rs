//! Update lifecycles per algorithm: test/revert, test/confirm, permanent, invalid secondary,
//! leftover trailer, FAIL, downgrade prevention (version, security counter), hardware rollback
//! counters, and two images with dependencies.

mod boot_support;

use boot_support::*;
use mcuboot::boot::{Algorithm, BootConfig, BootState, DowngradePrevention, boot};
use mcuboot::flash::RamFlash;
use mcuboot::layout::{AreaId, FlashMap};
use mcuboot::trailer::{self, FlagState, MagicState, SwapType};

const ALL: [Algorithm; 4] =
    [Algorithm::OverwriteOnly, Algorithm::SwapScratch, Algorithm::SwapMove, Algorithm::SwapOffset];
const SWAPS: [Algorithm; 3] = [Algorithm::SwapScratch, Algorithm::SwapMove, Algorithm::SwapOffset];

fn v(a: u8, b: u8, c: u16) -> Version {
    Version::new(a, b, c)
}

fn booted_version(
    f: &mut RamFlash,
    map: &FlashMap,
    cfg: &BootConfig,
    st: &mut BootState,
) -> (Version, SwapType) {
    let out = boot_ok(f, map, cfg, st);
    let b = out.boots.unwrap_or_else(|| panic!("brick: {:?}", out.failure));
    (b.header.version, out.images[0].swap_type)
}

#[test]
fn test_then_confirm_stays() {
    for alg in SWAPS {
        let map = map("k64f", 8, 0xff);
        let cfg = BootConfig::with_algorithm(alg);
        let (a, b) = appendix_a_images();
        let mut f = setup(&map, &cfg, &a, Some(&b), false);
        let mut st = BootState::new();
        assert_eq!(booted_version(&mut f, &map, &cfg, &mut st), (b.version, SwapType::Test), "{alg:?}");
        // The new image confirms itself.
        trailer::set_confirmed(&mut f, &map, &layout(&cfg), 0).expect("confirm");
        for _ in 0..2 {
            let out = boot_ok(&mut f, &map, &cfg, &mut st);
            assert_eq!((out.ops, out.images[0].swap_type), (0, SwapType::None), "{alg:?}");
            assert_eq!(out.boots.expect("boots").header.version, b.version);
        }
        assert!(primary_holds(&f, &map, &b));
    }
}

#[test]
fn test_without_confirm_reverts() {
    for alg in SWAPS {
        let map = map("nrf52840", 4, 0x00);
        let cfg = BootConfig::with_algorithm(alg);
        let (a, b) = appendix_a_images();
        let mut f = setup(&map, &cfg, &a, Some(&b), false);
        let mut st = BootState::new();
        assert_eq!(booted_version(&mut f, &map, &cfg, &mut st), (b.version, SwapType::Test), "{alg:?}");
        assert_eq!(booted_version(&mut f, &map, &cfg, &mut st), (a.version, SwapType::Revert), "{alg:?}");
        assert_eq!(booted_version(&mut f, &map, &cfg, &mut st), (a.version, SwapType::None), "{alg:?}");
        assert!(primary_holds(&f, &map, &a));
    }
}

#[test]
fn permanent_upgrade_never_reverts() {
    for alg in ALL {
        let map = map("k64f", 1, 0xff);
        let cfg = BootConfig::with_algorithm(alg);
        let (a, b) = appendix_a_images();
        let mut f = setup(&map, &cfg, &a, Some(&b), true);
        let mut st = BootState::new();
        let expect = SwapType::Perm;
        assert_eq!(booted_version(&mut f, &map, &cfg, &mut st), (b.version, expect), "{alg:?}");
        assert_eq!(booted_version(&mut f, &map, &cfg, &mut st), (b.version, SwapType::None), "{alg:?}");
        let pri = map.area(AreaId::Primary(0)).expect("pri");
        let p = state_of(&mut f, &cfg, pri);
        if alg == Algorithm::OverwriteOnly {
            // The secondary's trailer was copied along: GOOD magic, image_ok set, no copy_done.
            assert_eq!(
                (p.magic, p.image_ok, p.copy_done),
                (MagicState::Good, FlagState::Set, FlagState::Unset)
            );
        } else {
            assert_eq!(
                (p.magic, p.image_ok, p.copy_done),
                (MagicState::Good, FlagState::Set, FlagState::Set),
                "{alg:?}"
            );
        }
    }
}

#[test]
fn invalid_secondary_is_erased_and_ignored() {
    for alg in ALL {
        let map = map("k64f", 8, 0xff);
        let cfg = BootConfig::with_algorithm(alg);
        let (a, mut b) = appendix_a_images();
        b.bytes[1000] ^= 0x40; // the hash no longer matches
        let mut f = setup(&map, &cfg, &a, Some(&b), false);
        let mut st = BootState::new();
        let out = boot_ok(&mut f, &map, &cfg, &mut st);
        assert_eq!(out.images[0].swap_type, SwapType::None, "{alg:?}");
        assert_eq!(out.boots.expect("boots").header.version, a.version);
        assert_eq!(out.ops, 32, "{alg:?}: the whole secondary slot erased sector by sector");
        let sec = map.area(AreaId::Secondary(0)).expect("sec");
        assert!(slot_bytes(&f, sec, 0, sec.size as usize).iter().all(|&x| x == 0xff));
        assert!(primary_holds(&f, &map, &a));
    }
}

#[test]
fn leftover_secondary_trailer_is_erased() {
    for alg in SWAPS {
        let map = map("k64f", 8, 0xff);
        let cfg = BootConfig::with_algorithm(alg);
        let (a, _) = appendix_a_images();
        let mut f = setup(&map, &cfg, &a, None, false);
        trailer::set_pending(&mut f, &map, &layout(&cfg), 0, true).expect("pending");
        let mut st = BootState::new();
        let out = boot_ok(&mut f, &map, &cfg, &mut st);
        assert_eq!((out.ops, out.images[0].swap_type), (1, SwapType::None), "{alg:?}");
        let sec = map.area(AreaId::Secondary(0)).expect("sec");
        assert_eq!(state_of(&mut f, &cfg, sec).magic, MagicState::Unset);
    }
}

#[test]
fn fail_when_the_swap_was_initialised_and_the_secondary_is_then_invalid() {
    let map = map("k64f", 8, 0xff);
    let cfg = BootConfig::with_algorithm(Algorithm::SwapScratch);
    let (a, b) = appendix_a_images();
    let mut f = setup(&map, &cfg, &a, Some(&b), false);
    let mut st = BootState::new();
    // Cut before the second scratch erase: both trailers initialised, nothing recorded.
    let mut cf = mcuboot::boot::CutFlash::new(&mut f);
    cf.cut_at = Some(9);
    assert!(boot(&mut cf, &map, &cfg, &mut st).is_err());
    let sec = map.area(AreaId::Secondary(0)).expect("sec");
    load(&mut f, sec, 500, &[0u8; 4]); // corrupt the upgrade
    let out = boot_ok(&mut f, &map, &cfg, &mut st);
    assert_eq!(out.images[0].swap_type, SwapType::Fail);
    assert_eq!(out.boots.expect("boots").header.version, a.version);
    let pri = map.area(AreaId::Primary(0)).expect("pri");
    assert_eq!(state_of(&mut f, &cfg, pri).image_ok, FlagState::Set, "FAIL writes the primary's image_ok");
}

#[test]
fn corrupt_primary_without_upgrade_is_a_brick() {
    let map = map("k64f", 8, 0xff);
    let cfg = BootConfig::default();
    let (mut a, _) = appendix_a_images();
    a.bytes[100] ^= 1;
    let mut f = setup(&map, &cfg, &a, None, false);
    let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
    assert!(out.boots.is_none());
    assert!(out.failure.is_some());
    // Without primary validation only the header magic is checked.
    let cfg = BootConfig { validate_primary: false, ..BootConfig::default() };
    let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
    assert!(out.boots.is_some());
}

#[test]
fn downgrade_prevented_by_version() {
    for alg in ALL {
        let map = map("k64f", 8, 0xff);
        let cfg = BootConfig {
            downgrade_prevention: DowngradePrevention::Version,
            ..BootConfig::with_algorithm(alg)
        };
        let a = ImageSpec::new(20000, v(2, 0, 0), 1).build();
        let old = ImageSpec::new(20000, v(1, 9, 9), 2).build();
        let mut f = setup(&map, &cfg, &a, Some(&old), false);
        let mut st = BootState::new();
        assert_eq!(booted_version(&mut f, &map, &cfg, &mut st).0, a.version, "{alg:?}");
        let sec = map.area(AreaId::Secondary(0)).expect("sec");
        assert!(slot_bytes(&f, sec, 0, 64).iter().all(|&x| x == 0xff), "{alg:?}: downgrade erased");
        // The same version (build number ignored) is not a downgrade.
        let same = ImageSpec::new(21000, Version { build_num: 7, ..v(2, 0, 0) }, 3).build();
        let mut f = setup(&map, &cfg, &a, Some(&same), false);
        let out = boot_ok(&mut f, &map, &cfg, &mut st);
        assert!(primary_holds(&f, &map, &same), "{alg:?}: equal version accepted ({:?})", out.images[0]);
    }
}

#[test]
fn downgrade_prevented_by_security_counter() {
    for alg in SWAPS {
        let map = map("k64f", 8, 0xff);
        let cfg = BootConfig {
            downgrade_prevention: DowngradePrevention::SecurityCounter,
            ..BootConfig::with_algorithm(alg)
        };
        let a = ImageSpec::new(20000, v(1, 0, 0), 1).counter(5).build();
        let cases = [
            (ImageSpec::new(20000, v(2, 0, 0), 2).counter(3).build(), false),
            (ImageSpec::new(20000, v(2, 0, 0), 3).build(), false),
            (ImageSpec::new(20000, v(0, 1, 0), 4).counter(5).build(), true),
            (ImageSpec::new(20000, v(2, 0, 0), 5).counter(9).build(), true),
        ];
        for (up, allowed) in cases {
            let mut f = setup(&map, &cfg, &a, Some(&up), false);
            boot_ok(&mut f, &map, &cfg, &mut BootState::new());
            assert_eq!(primary_holds(&f, &map, &up), allowed, "{alg:?} {:?}", up.version);
        }
        // A primary without a counter allows anything.
        let plain = ImageSpec::new(20000, v(1, 0, 0), 6).build();
        let up = ImageSpec::new(20000, v(0, 0, 1), 7).build();
        let mut f = setup(&map, &cfg, &plain, Some(&up), false);
        boot_ok(&mut f, &map, &cfg, &mut BootState::new());
        assert!(primary_holds(&f, &map, &up), "{alg:?}");
    }
}

#[test]
fn hardware_rollback_counter_is_raised_when_documented() {
    for alg in ALL {
        let map = map("k64f", 8, 0xff);
        let cfg = BootConfig { hw_rollback_protection: true, ..BootConfig::with_algorithm(alg) };
        let a = ImageSpec::new(20000, v(1, 0, 0), 1).counter(1).build();
        let b = ImageSpec::new(24000, v(2, 0, 0), 2).counter(2).build();
        let mut st = BootState::new();
        // A plain primary (no trailer): the counter follows it at once.
        let mut f = setup(&map, &cfg, &a, None, false);
        boot_ok(&mut f, &map, &cfg, &mut st);
        assert_eq!(st.security_counter(0), 1, "{alg:?}");
        // Test upgrade: not raised while the new image is unconfirmed.
        trailer::set_pending(&mut f, &map, &layout(&cfg), 0, false).ok();
        let sec = map.area(AreaId::Secondary(0)).expect("sec");
        load(&mut f, sec, upload_offset(&map, alg, 0), &b.bytes);
        assert_eq!(booted_version(&mut f, &map, &cfg, &mut st).0, b.version, "{alg:?}");
        if alg == Algorithm::OverwriteOnly {
            assert_eq!(st.security_counter(0), 2, "overwrite raises it after the copy");
            continue;
        }
        assert_eq!(st.security_counter(0), 1, "{alg:?}: a revert must stay possible");
        trailer::set_confirmed(&mut f, &map, &layout(&cfg), 0).expect("confirm");
        boot_ok(&mut f, &map, &cfg, &mut st);
        assert_eq!(st.security_counter(0), 2, "{alg:?}: raised once confirmed");
        // Now the old image (counter 1) is refused as an upgrade: erased, not swapped.
        let old = ImageSpec::new(20000, v(3, 0, 0), 3).counter(1).build();
        let sec_off = upload_offset(&map, alg, 0);
        let mut f2 = f.clone();
        let sec = map.area(AreaId::Secondary(0)).expect("sec");
        let sectors = map.area_sectors(sec);
        for s in &sectors {
            f2.load(sec.device, sec.offset + s.offset, &vec![0xff; s.size as usize]).expect("erase");
        }
        load(&mut f2, sec, sec_off, &old.bytes);
        trailer::set_pending(&mut f2, &map, &layout(&cfg), 0, true).expect("pending");
        boot_ok(&mut f2, &map, &cfg, &mut st);
        assert!(primary_holds(&f2, &map, &b), "{alg:?}: rollback refused");
        // Permanent upgrade: raised right after the swap.
        let c = ImageSpec::new(22000, v(4, 0, 0), 4).counter(7).build();
        for s in &sectors {
            f.load(sec.device, sec.offset + s.offset, &vec![0xff; s.size as usize]).expect("erase");
        }
        load(&mut f, sec, sec_off, &c.bytes);
        trailer::set_pending(&mut f, &map, &layout(&cfg), 0, true).expect("pending");
        boot_ok(&mut f, &map, &cfg, &mut st);
        assert!(primary_holds(&f, &map, &c), "{alg:?}");
        assert_eq!(st.security_counter(0), 7, "{alg:?}");
    }
}

#[test]
fn image_without_security_counter_is_invalid_under_rollback_protection() {
    let map = map("k64f", 8, 0xff);
    let cfg = BootConfig { hw_rollback_protection: true, ..BootConfig::default() };
    let (a, _) = appendix_a_images();
    let mut f = setup(&map, &cfg, &a, None, false);
    let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
    assert!(out.boots.is_none());
}

fn multi_setup(
    alg: Algorithm,
    imgs: [(&TestImage, Option<&TestImage>); 2],
) -> (FlashMap, BootConfig, RamFlash) {
    let map = map("k64f-multi", 8, 0xff);
    let cfg = BootConfig::with_algorithm(alg);
    let mut f = ram_flash(&map);
    for (i, (pri, up)) in imgs.iter().enumerate() {
        load(&mut f, map.area(AreaId::Primary(i as u8)).expect("pri"), 0, &pri.bytes);
        if let Some(up) = up {
            load(
                &mut f,
                map.area(AreaId::Secondary(i as u8)).expect("sec"),
                upload_offset(&map, alg, i as u8),
                &up.bytes,
            );
            trailer::set_pending(&mut f, &map, &layout(&cfg), i as u8, false).expect("pending");
        }
    }
    (map, cfg, f)
}

fn primary_of(f: &RamFlash, map: &FlashMap, i: u8, img: &TestImage) -> bool {
    let pri = map.area(AreaId::Primary(i)).expect("pri");
    slot_bytes(f, pri, 0, img.bytes.len()) == img.bytes
}

#[test]
fn two_images_with_dependencies() {
    for alg in SWAPS {
        let a0 = ImageSpec::new(20000, v(1, 0, 0), 1).build();
        let a1 = ImageSpec::new(15000, v(1, 0, 0), 2).build();
        let b1_ok = ImageSpec::new(16000, v(2, 0, 0), 3).build();
        let b1_old = ImageSpec::new(16000, v(1, 5, 0), 4).build();
        let b0 = ImageSpec::new(21000, v(2, 0, 0), 5).depends(1, v(2, 0, 0)).build();
        // Met: both upgrade.
        let (map, cfg, mut f) = multi_setup(alg, [(&a0, Some(&b0)), (&a1, Some(&b1_ok))]);
        let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
        assert_eq!([out.images[0].swap_type, out.images[1].swap_type], [SwapType::Test; 2], "{alg:?}");
        assert!(primary_of(&f, &map, 0, &b0) && primary_of(&f, &map, 1, &b1_ok), "{alg:?}");
        // Unmet: every upgrade is cancelled.
        let (map, cfg, mut f) = multi_setup(alg, [(&a0, Some(&b0)), (&a1, Some(&b1_old))]);
        let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
        assert_eq!([out.images[0].swap_type, out.images[1].swap_type], [SwapType::None; 2], "{alg:?}");
        assert!(primary_of(&f, &map, 0, &a0) && primary_of(&f, &map, 1, &a1), "{alg:?}");
        // Met by the other image's primary (no upgrade pending there).
        let b0_low = ImageSpec::new(21000, v(2, 0, 0), 6).depends(1, v(1, 0, 0)).build();
        let (map, cfg, mut f) = multi_setup(alg, [(&a0, Some(&b0_low)), (&a1, None)]);
        let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
        assert_eq!(
            [out.images[0].swap_type, out.images[1].swap_type],
            [SwapType::Test, SwapType::None],
            "{alg:?}"
        );
        assert!(primary_of(&f, &map, 0, &b0_low));
        // Both revert together at the next boot.
        let (map, cfg, mut f) = multi_setup(alg, [(&a0, Some(&b0)), (&a1, Some(&b1_ok))]);
        let mut st = BootState::new();
        boot_ok(&mut f, &map, &cfg, &mut st);
        let out = boot_ok(&mut f, &map, &cfg, &mut st);
        assert_eq!([out.images[0].swap_type, out.images[1].swap_type], [SwapType::Revert; 2], "{alg:?}");
        assert!(primary_of(&f, &map, 0, &a0) && primary_of(&f, &map, 1, &a1), "{alg:?}");
    }
}

#[test]
fn bad_configurations_are_typed_errors() {
    let map = map("k64f", 32, 0xff);
    let cfg = BootConfig::default();
    let mut f = ram_flash(&map);
    assert!(matches!(
        boot(&mut f, &map, &cfg, &mut BootState::new()),
        Err(mcuboot::boot::BootError::Config(_))
    ));
    let cfg = BootConfig { max_align: 12, ..BootConfig::default() };
    assert!(matches!(
        boot(&mut f, &map, &cfg, &mut BootState::new()),
        Err(mcuboot::boot::BootError::Config(_))
    ));
}

#[test]
fn oversized_upgrade_is_rejected() {
    // Largest accepted totals on k64f (w8): scratch 0x1F3D0, move/offset 30 sectors, overwrite S-40.
    for (alg, max_total) in [
        (Algorithm::SwapScratch, 0x1F3D0usize),
        (Algorithm::SwapMove, 30 * 4096),
        (Algorithm::SwapOffset, 30 * 4096),
        (Algorithm::OverwriteOnly, 0x20000 - 40),
    ] {
        let map = map("k64f", 8, 0xff);
        let cfg = BootConfig::with_algorithm(alg);
        let (a, _) = appendix_a_images();
        let fits = ImageSpec::new(max_total - 72, v(2, 0, 0), 8).build();
        assert_eq!(fits.bytes.len(), max_total);
        let too_big = ImageSpec::new(max_total - 71, v(2, 0, 0), 9).build();
        let mut f = setup(&map, &cfg, &a, Some(&fits), false);
        boot_ok(&mut f, &map, &cfg, &mut BootState::new());
        assert!(primary_holds(&f, &map, &fits), "{alg:?}: the largest image is accepted");
        // Marked pending like imgtool --pad (magic only): set_pending's swap_info write would
        // land inside the oversized overwrite-only image.
        let mut f = setup(&map, &cfg, &a, None, false);
        let sec = map.area(AreaId::Secondary(0)).expect("sec");
        load(&mut f, sec, upload_offset(&map, alg, 0), &too_big.bytes);
        trailer::write_magic(&mut f, &layout(&cfg), sec).expect("magic");
        let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
        assert_eq!(out.images[0].swap_type, SwapType::None, "{alg:?}: one byte more is refused");
        assert!(primary_holds(&f, &map, &a), "{alg:?}");
    }
}

#[test]
fn max_align_16_and_32_builds_swap_and_revert() {
    for (ws, max_align) in [(32, 32), (8, 16), (1, 32)] {
        for alg in ALL {
            let map = map("k64f", ws, 0xff);
            let cfg = BootConfig { max_align, ..BootConfig::with_algorithm(alg) };
            let (a, b) = appendix_a_images();
            let mut f = setup(&map, &cfg, &a, Some(&b), false);
            let sec = map.area(AreaId::Secondary(0)).expect("sec");
            let magic = slot_bytes(&f, sec, 0x20000 - 16, 16);
            assert_eq!(magic, trailer::magic_for(max_align), "{alg:?} M{max_align}");
            let mut st = BootState::new();
            assert_eq!(
                booted_version(&mut f, &map, &cfg, &mut st).0,
                b.version,
                "{alg:?} w{ws} M{max_align}"
            );
            if alg != Algorithm::OverwriteOnly {
                assert_eq!(
                    booted_version(&mut f, &map, &cfg, &mut st),
                    (a.version, SwapType::Revert),
                    "{alg:?} w{ws} M{max_align}"
                );
                let pri = map.area(AreaId::Primary(0)).expect("pri");
                let p = state_of(&mut f, &cfg, pri);
                assert_eq!(
                    (p.magic, p.image_ok, p.copy_done),
                    (MagicState::Good, FlagState::Set, FlagState::Set)
                );
            }
        }
    }
}

#[test]
fn swap_offset_refuses_an_image_at_the_wrong_upload_address() {
    let map = map("k64f", 8, 0xff);
    let cfg = BootConfig::with_algorithm(Algorithm::SwapOffset);
    let l = layout(&cfg);
    let (a, b) = appendix_a_images();
    let sec = map.area(AreaId::Secondary(0)).expect("sec");
    // Uploaded at offset 0 instead of one sector in.
    let mut f = setup(&map, &cfg, &a, None, false);
    load(&mut f, sec, 0, &b.bytes);
    trailer::set_pending(&mut f, &map, &l, 0, false).expect("pending");
    let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
    assert_eq!((out.images[0].swap_type, out.ops), (SwapType::None, 32));
    assert!(primary_holds(&f, &map, &a));
    // After a confirmed upgrade the old image sits at secondary offset 0; a new upload one
    // sector in without erasing sector 0 is refused the same way.
    let mut f = setup(&map, &cfg, &a, Some(&b), false);
    let mut st = BootState::new();
    boot_ok(&mut f, &map, &cfg, &mut st);
    trailer::set_confirmed(&mut f, &map, &l, 0).expect("confirm");
    assert!(secondary_holds(&f, &map, &a, 0));
    let c = ImageSpec::new(22000, v(3, 0, 0), 7).build();
    // the client erases and writes only the sectors it needs, from sector 1
    for s in 1..7 {
        f.load(sec.device, sec.offset + s * 0x1000, &[0xff; 0x1000]).expect("erase");
    }
    load(&mut f, sec, 0x1000, &c.bytes);
    trailer::set_pending(&mut f, &map, &l, 0, false).expect("pending");
    let out = boot_ok(&mut f, &map, &cfg, &mut st);
    assert_eq!(out.images[0].swap_type, SwapType::None);
    assert!(primary_holds(&f, &map, &b));
}

#[test]
fn more_sectors_than_boot_max_img_sectors() {
    // small-pages: 256 pages per slot. MCUboot cannot read the primary's sector layout with
    // BOOT_MAX_IMG_SECTORS = 128 and boots nothing; with 256 it works.
    let map = map("small-pages", 8, 0xff);
    let (a, b) = appendix_a_images();
    for alg in [Algorithm::OverwriteOnly, Algorithm::SwapScratch] {
        let cfg = BootConfig::with_algorithm(alg);
        let mut f = setup(&map, &cfg, &a, Some(&b), false);
        let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
        assert!(out.boots.is_none(), "{alg:?}");
        let cfg = BootConfig { max_img_sectors: 256, ..BootConfig::with_algorithm(alg) };
        let mut f = setup(&map, &cfg, &a, Some(&b), false);
        let out = boot_ok(&mut f, &map, &cfg, &mut BootState::new());
        assert_eq!(out.boots.expect("boots").header.version, b.version, "{alg:?}");
    }
}
