//! Two-image builds (`k64f-multi`): which image and slot an `image state` write acts on, and
//! what the application (always image 0) may do to image 1.
//!
//! The rules are Zephyr's `img_mgmt_set_next_boot_slot` and `img_mgmt_slot_in_use` for
//! `CONFIG_MCUMGR_GRP_IMG_UPDATABLE_IMAGE_NUMBER = 2`:
//!
//! * the running application is image 0 (`img_mgmt_active_image()`); each image's active slot
//!   is its primary (`img_mgmt_active_slot(image) == image * 2`), so the list shows image 1's
//!   primary `active` too;
//! * a hash names the first slot holding that image, image 0's slots first;
//! * setting test on any image's active slot is refused (`SETTING_TEST_TO_ACTIVE_DENIED`);
//! * confirming a slot of image 1 is refused (`IMAGE_CONFIRMATION_DENIED`) unless it is image
//!   1's secondary and `ALLOW_CONFIRM_NON_ACTIVE_IMAGE_SECONDARY` (default on) is set, or
//!   `ALLOW_CONFIRM_NON_ACTIVE_IMAGE_ANY` (default off) is set;
//! * a confirm without a hash confirms image 0;
//! * a slot the next boot reverts to may not be erased, in image 1 as in image 0.
//!
//! So a test update of image 1 cannot be made permanent over SMP by default: it reverts at the
//! next reset. These tests pin that down (the runner's `two-image-test-of-image-1-reverts`
//! scenario shows it end to end).

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use sim_device::device::{Device, DeviceConfig};
use smp::cbor::Value;
use smp::error::ImageErr;
use smp::groups::Body;
use smp::groups::image::{EraseRequest, UploadRequest};
use smp::header::{Group, Op};

/// Image 0 runs `v0` and image 1 runs `v1`, with room for four rows in the image list.
fn two_images(algorithm: Algorithm, v0: (u8, u8, u16), v1: (u8, u8, u16)) -> Device {
    let mut config = DeviceConfig::preset("k64f-multi")
        .expect("preset")
        .algorithm(algorithm)
        .keys(vec![key().public().clone()])
        .image(0, 0, image(v0, 3000, 10))
        .image(1, 0, image(v1, 2500, 11));
    // Four state rows do not fit Zephyr's default 384-byte buffer; two-image builds raise it.
    config.server.limits.buf_size = 1024;
    config.build().expect("device builds")
}

/// Upload `img` to image `image` in 512-byte chunks; returns the last reply.
fn upload_to(dev: &mut Device, image: u32, img: &[u8]) -> Value {
    upload_with(dev, image, img, false)
}

fn upload_with(dev: &mut Device, image: u32, img: &[u8], upgrade: bool) -> Value {
    let sha = mcuboot::image::HashAlg::Sha256.digest(img);
    let mut off = 0usize;
    let mut last = Value::Null;
    for _ in 0..1000 {
        if off >= img.len() {
            return last;
        }
        let end = (off + 512).min(img.len());
        let req = UploadRequest {
            image: (off == 0).then_some(image),
            len: (off == 0).then_some(img.len() as u64),
            off: off as u64,
            sha: (off == 0).then(|| sha.clone()),
            data: img[off..end].to_vec(),
            upgrade: (off == 0 && upgrade).then_some(true),
        };
        last = v2(dev, Op::Write, Group::Image, 1, req.to_value());
        match last.get("off").and_then(Value::as_u64) {
            Some(next) => off = next as usize,
            None => return last,
        }
    }
    panic!("upload does not progress: {last}");
}

fn err_rc(v: &Value) -> Option<u64> {
    v.get("err").and_then(|e| e.get("rc")).and_then(Value::as_u64)
}

fn erase_slot(dev: &mut Device, slot: u32) -> Value {
    v2(dev, Op::Write, Group::Image, 5, EraseRequest { slot: Some(slot) }.to_value())
}

/// `(image, slot, version, pending, confirmed, active, permanent)` per listed slot.
fn rows(dev: &mut Device) -> Vec<(u32, u32, String, bool, bool, bool, bool)> {
    state(dev)
        .images
        .into_iter()
        .map(|i| (i.image.unwrap_or(0), i.slot, i.version, i.pending, i.confirmed, i.active, i.permanent))
        .collect()
}

fn row(image: u32, slot: u32, v: &str, flags: [bool; 4]) -> (u32, u32, String, bool, bool, bool, bool) {
    let [pending, confirmed, active, permanent] = flags;
    (image, slot, v.to_string(), pending, confirmed, active, permanent)
}

const ACTIVE_CONFIRMED: [bool; 4] = [false, true, true, false];
const ACTIVE_ON_TRIAL: [bool; 4] = [false, false, true, false];
const PENDING_TEST: [bool; 4] = [true, false, false, false];
const PENDING_PERMANENT: [bool; 4] = [true, false, false, true];
const REVERT_TARGET: [bool; 4] = [false, true, false, false];
const IDLE: [bool; 4] = [false, false, false, false];

#[test]
fn a_test_of_image_1_runs_once_cannot_be_confirmed_over_smp_and_reverts() {
    for algorithm in [Algorithm::SwapScratch, Algorithm::SwapMove, Algorithm::SwapOffset] {
        let mut dev = two_images(algorithm, (1, 0, 0), (1, 0, 0));
        let new = image((2, 0, 0), 2800, 12);
        let new_hash = image_hash(&new);
        assert!(err_rc(&upload_to(&mut dev, 1, &new)).is_none());
        let r = test_image(&mut dev, &new_hash);
        assert!(r.get("err").is_none(), "{algorithm:?}: {r}");
        assert_eq!(
            rows(&mut dev),
            vec![
                row(0, 0, "1.0.0", ACTIVE_CONFIRMED),
                row(1, 0, "1.0.0", ACTIVE_CONFIRMED),
                row(1, 1, "2.0.0", PENDING_TEST),
            ],
            "{algorithm:?}"
        );
        reset(&mut dev);
        assert_eq!(running_version(&dev), "1.0.0", "{algorithm:?}: image 0 runs, untouched");
        assert_eq!(
            rows(&mut dev),
            vec![
                row(0, 0, "1.0.0", ACTIVE_CONFIRMED),
                row(1, 0, "2.0.0", ACTIVE_ON_TRIAL),
                row(1, 1, "1.0.0", REVERT_TARGET),
            ],
            "{algorithm:?}"
        );
        // Image 1's primary is not the application's own: confirming it is denied...
        let denied = ImageErr::ImageConfirmationDenied.code();
        assert_eq!(err_rc(&confirm_image(&mut dev, Some(&new_hash))), Some(denied), "{algorithm:?}");
        // ...as is a test of it (an active slot)...
        let to_active = ImageErr::ImageSettingTestToActiveDenied.code();
        assert_eq!(err_rc(&test_image(&mut dev, &new_hash)), Some(to_active), "{algorithm:?}");
        // ...and erasing the old image the next boot reverts to.
        assert_eq!(err_rc(&erase_slot(&mut dev, 3)), Some(ImageErr::NoFreeSlot.code()), "{algorithm:?}");
        // A confirm without a hash is for image 0, which is already confirmed.
        assert!(confirm_image(&mut dev, None).get("err").is_none());
        assert_eq!(rows(&mut dev)[1], row(1, 0, "2.0.0", ACTIVE_ON_TRIAL), "{algorithm:?}");
        reset(&mut dev);
        assert_eq!(
            rows(&mut dev),
            vec![
                row(0, 0, "1.0.0", ACTIVE_CONFIRMED),
                row(1, 0, "1.0.0", ACTIVE_CONFIRMED),
                row(1, 1, "2.0.0", IDLE),
            ],
            "{algorithm:?}: image 1 reverted"
        );
        assert!(erase_slot(&mut dev, 3).get("err").is_none(), "{algorithm:?}: slot 3 free after the revert");
    }
}

#[test]
fn confirming_image_1_secondary_updates_it_for_good() {
    let mut dev = two_images(Algorithm::SwapScratch, (1, 0, 0), (1, 0, 0));
    let new = image((2, 0, 0), 2800, 12);
    upload_to(&mut dev, 1, &new);
    let r = confirm_image(&mut dev, Some(&image_hash(&new)));
    assert!(r.get("err").is_none(), "{r}");
    assert_eq!(rows(&mut dev)[2], row(1, 1, "2.0.0", PENDING_PERMANENT));
    reset(&mut dev);
    assert_eq!(
        rows(&mut dev),
        vec![
            row(0, 0, "1.0.0", ACTIVE_CONFIRMED),
            row(1, 0, "2.0.0", ACTIVE_CONFIRMED),
            row(1, 1, "1.0.0", IDLE)
        ]
    );
    assert!(erase_slot(&mut dev, 3).get("err").is_none());
    reset(&mut dev);
    assert_eq!(
        rows(&mut dev),
        vec![row(0, 0, "1.0.0", ACTIVE_CONFIRMED), row(1, 0, "2.0.0", ACTIVE_CONFIRMED)]
    );
}

#[test]
fn confirm_options_for_image_1() {
    let new = image((2, 0, 0), 2800, 12);
    let h = image_hash(&new);
    let denied = Some(ImageErr::ImageConfirmationDenied.code());

    // Without ALLOW_CONFIRM_NON_ACTIVE_IMAGE_SECONDARY even image 1's secondary is refused.
    let mut dev = two_images(Algorithm::SwapMove, (1, 0, 0), (1, 0, 0));
    dev.server_config_mut().image.allow_confirm_non_active_secondary = false;
    upload_to(&mut dev, 1, &new);
    assert_eq!(err_rc(&confirm_image(&mut dev, Some(&h))), denied);
    // A test of it is still allowed: the test is for MCUboot, the confirm is the application's.
    assert!(test_image(&mut dev, &h).get("err").is_none());

    // With ALLOW_CONFIRM_NON_ACTIVE_IMAGE_ANY the trial of image 1 can be confirmed.
    let mut dev = two_images(Algorithm::SwapMove, (1, 0, 0), (1, 0, 0));
    dev.server_config_mut().image.allow_confirm_non_active_any = true;
    upload_to(&mut dev, 1, &new);
    assert!(test_image(&mut dev, &h).get("err").is_none());
    reset(&mut dev);
    assert_eq!(rows(&mut dev)[1], row(1, 0, "2.0.0", ACTIVE_ON_TRIAL));
    let r = confirm_image(&mut dev, Some(&h));
    assert!(r.get("err").is_none(), "{r}");
    assert_eq!(rows(&mut dev)[1], row(1, 0, "2.0.0", ACTIVE_CONFIRMED));
    reset(&mut dev);
    assert_eq!(rows(&mut dev)[1], row(1, 0, "2.0.0", ACTIVE_CONFIRMED), "kept after the reset");
}

#[test]
fn a_hash_names_the_first_slot_holding_it_image_0_first() {
    // The same file in both primaries: its hash is image 0's slot 0, so a test of it is a
    // test of the running application's slot.
    let same = image((1, 0, 0), 3000, 10);
    let mut dev = DeviceConfig::preset("k64f-multi")
        .expect("preset")
        .keys(vec![key().public().clone()])
        .image(0, 0, same.clone())
        .image(1, 0, same.clone())
        .build()
        .expect("device builds");
    let r = test_image(&mut dev, &image_hash(&same));
    assert_eq!(err_rc(&r), Some(ImageErr::ImageSettingTestToActiveDenied.code()));
}

#[test]
fn upgrade_only_uploads_compare_with_the_target_image() {
    // Image 0 runs 3.0.0, image 1 runs 1.0.0: a 2.0.0 for image 1 is an upgrade of image 1.
    let mut dev = two_images(Algorithm::SwapScratch, (3, 0, 0), (1, 0, 0));
    let two = image((2, 0, 0), 2800, 12);
    let r = upload_with(&mut dev, 1, &two, true);
    assert!(err_rc(&r).is_none(), "{r}");
    assert_eq!(rows(&mut dev)[2], row(1, 1, "2.0.0", IDLE));
    // The same image for image 0 is not newer than its 3.0.0.
    let r = upload_with(&mut dev, 0, &two, true);
    assert_eq!(err_rc(&r), Some(ImageErr::CurrentVersionIsNewer.code()));
}

#[test]
fn image_1_pending_slot_may_be_erased_before_the_reset() {
    // ALLOW_ERASE_PENDING (default on): the request is withdrawn, nothing swaps.
    let mut dev = two_images(Algorithm::SwapOffset, (1, 0, 0), (1, 0, 0));
    let new = image((2, 0, 0), 2800, 12);
    upload_to(&mut dev, 1, &new);
    assert!(test_image(&mut dev, &image_hash(&new)).get("err").is_none());
    assert!(erase_slot(&mut dev, 3).get("err").is_none());
    reset(&mut dev);
    assert_eq!(
        rows(&mut dev),
        vec![row(0, 0, "1.0.0", ACTIVE_CONFIRMED), row(1, 0, "1.0.0", ACTIVE_CONFIRMED)]
    );
}

#[test]
fn swap_offset_secondary_is_read_at_0_while_a_revert_is_due() {
    // One-sector images: after the swap, the new image's first sector may still be found one
    // sector into the secondary, but during the trial img_mgmt reads the slot at 0, where the
    // old image waits for the revert.
    let old = image((1, 0, 0), 2000, 20);
    let mut dev = device("k64f", Algorithm::SwapOffset, old);
    let new = image((2, 0, 0), 2200, 21);
    upload(&mut dev, &new, 200);
    assert!(test_image(&mut dev, &image_hash(&new)).get("err").is_none());
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    assert_eq!(rows(&mut dev), vec![row(0, 0, "2.0.0", ACTIVE_ON_TRIAL), row(0, 1, "1.0.0", REVERT_TARGET)]);
}
