//! The DFU lifecycle of `smp-protocol.md` §5.1 on every algorithm, driven over SMP.

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use rstest::rstest;

fn f(slot: u32, v: &str, p: bool, c: bool, a: bool, perm: bool) -> (u32, String, bool, bool, bool, bool) {
    (slot, v.to_string(), p, c, a, perm)
}

#[rstest]
#[case::swap_scratch("k64f", Algorithm::SwapScratch)]
#[case::swap_move("k64f", Algorithm::SwapMove)]
#[case::swap_offset("k64f", Algorithm::SwapOffset)]
#[case::swap_scratch_nrf("nrf52840", Algorithm::SwapScratch)]
fn test_then_revert_then_confirm(#[case] layout: &str, #[case] alg: Algorithm) {
    let v1 = image((1, 0, 0), 20_000, 1);
    let v2i = image((2, 0, 0), 24_000, 2);
    let h2 = image_hash(&v2i);
    let mut dev = device(layout, alg, v1);
    assert_eq!(flags(&mut dev), vec![f(0, "1.0.0", false, true, true, false)]);

    let last = upload(&mut dev, &v2i, 300);
    assert_eq!(last.get("match").and_then(|m| m.as_bool()), Some(true), "{last}");
    assert_eq!(
        flags(&mut dev),
        vec![f(0, "1.0.0", false, true, true, false), f(1, "2.0.0", false, false, false, false)]
    );

    test_image(&mut dev, &h2);
    assert_eq!(
        flags(&mut dev),
        vec![f(0, "1.0.0", false, true, true, false), f(1, "2.0.0", true, false, false, false)]
    );

    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    assert_eq!(
        flags(&mut dev),
        vec![f(0, "2.0.0", false, false, true, false), f(1, "1.0.0", false, true, false, false)]
    );

    // Reset without confirming: MCUboot reverts.
    reset(&mut dev);
    assert_eq!(running_version(&dev), "1.0.0");
    assert_eq!(flags(&mut dev)[0], f(0, "1.0.0", false, true, true, false));

    // Again, and this time confirm: permanent.
    let v2i_b = image((2, 0, 0), 24_000, 3);
    let h2b = image_hash(&v2i_b);
    upload(&mut dev, &v2i_b, 256);
    test_image(&mut dev, &h2b);
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    confirm_image(&mut dev, None);
    assert_eq!(flags(&mut dev)[0], f(0, "2.0.0", false, true, true, false));
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    assert_eq!(flags(&mut dev)[0], f(0, "2.0.0", false, true, true, false));
}

#[rstest]
#[case::swap_scratch(Algorithm::SwapScratch)]
#[case::swap_move(Algorithm::SwapMove)]
#[case::swap_offset(Algorithm::SwapOffset)]
#[case::overwrite_only(Algorithm::OverwriteOnly)]
fn permanent_upgrade(#[case] alg: Algorithm) {
    let v1 = image((1, 0, 0), 20_000, 1);
    let v2i = image((2, 0, 0), 24_000, 2);
    let h2 = image_hash(&v2i);
    let mut dev = device("k64f", alg, v1);
    upload(&mut dev, &v2i, 300);
    confirm_image(&mut dev, Some(&h2));
    assert_eq!(
        flags(&mut dev),
        vec![f(0, "1.0.0", false, true, true, false), f(1, "2.0.0", true, false, false, true)]
    );
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    let after = flags(&mut dev);
    assert_eq!(after[0], f(0, "2.0.0", false, true, true, false));
    if alg == Algorithm::OverwriteOnly {
        // The secondary is scrambled after the copy.
        assert_eq!(after.len(), 1);
    } else {
        assert_eq!(after[1], f(1, "1.0.0", false, false, false, false));
    }
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
}

#[test]
fn overwrite_only_test_upgrade_cannot_revert() {
    let v1 = image((1, 0, 0), 20_000, 1);
    let v2i = image((2, 0, 0), 24_000, 2);
    let h2 = image_hash(&v2i);
    let mut dev = device("k64f", Algorithm::OverwriteOnly, v1);
    upload(&mut dev, &v2i, 300);
    test_image(&mut dev, &h2);
    assert_eq!(flags(&mut dev)[1], f(1, "2.0.0", true, false, false, false));
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
}

#[test]
fn swap_offset_upload_lands_one_sector_into_the_secondary() {
    let v1 = image((1, 0, 0), 20_000, 1);
    let v2i = image((2, 0, 0), 24_000, 2);
    let mut dev = device("k64f", Algorithm::SwapOffset, v1);
    upload(&mut dev, &v2i, 300);
    let sec = dev.map().images[0].secondary;
    let bytes = dev.flash().area_contents(sec).unwrap();
    assert_eq!(&bytes[0x1000..0x1000 + v2i.len()], &v2i[..]);
    assert!(bytes[..0x1000].iter().all(|&b| b == 0xff));
}

#[test]
fn the_flash_file_keeps_the_device_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k64f.flash");
    let v2i = image((2, 0, 0), 24_000, 2);
    let h2 = image_hash(&v2i);
    {
        let mut dev = config("k64f", Algorithm::SwapMove, image((1, 0, 0), 20_000, 1))
            .flash_file(&path)
            .build()
            .unwrap();
        upload(&mut dev, &v2i, 300);
        test_image(&mut dev, &h2);
        assert!(path.exists());
    }
    // A new device from the file alone (the primary given here is ignored): the pending test
    // swaps at its first boot.
    let dev =
        config("k64f", Algorithm::SwapMove, image((9, 0, 0), 100, 9)).flash_file(&path).build().unwrap();
    assert_eq!(running_version(&dev), "2.0.0");
}

#[rstest]
#[case::w16_erased_00_move(Algorithm::SwapMove, 16, 0x00)]
#[case::w4_erased_00_scratch(Algorithm::SwapScratch, 4, 0x00)]
#[case::w32_erased_ff_offset(Algorithm::SwapOffset, 32, 0xff)]
#[case::w1_erased_ff_overwrite(Algorithm::OverwriteOnly, 1, 0xff)]
fn other_write_sizes_and_erased_values(#[case] alg: Algorithm, #[case] write_size: u32, #[case] erased: u8) {
    let v2i = image((2, 0, 0), 9_001, 2);
    let h2 = image_hash(&v2i);
    let mut dev =
        config("k64f", alg, image((1, 0, 0), 7_003, 1)).flash_params(write_size, erased).build().unwrap();
    assert_eq!(running_version(&dev), "1.0.0");
    let last = upload(&mut dev, &v2i, 277);
    assert_eq!(last.get("match").and_then(|m| m.as_bool()), Some(true));
    test_image(&mut dev, &h2);
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    reset(&mut dev);
    let expect = if alg == Algorithm::OverwriteOnly { "2.0.0" } else { "1.0.0" };
    assert_eq!(running_version(&dev), expect);
}

#[test]
fn the_device_can_move_between_threads() {
    fn is_send<T: Send>() {}
    is_send::<sim_device::device::Device>();
}
