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
