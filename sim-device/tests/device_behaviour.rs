//! What the running firmware does after boot, and how MCUboot reacts (revert, brick, loop).

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use mcuboot::image::ImageVersion;
use sim_device::device::{Behaviours, EventKind, FirmwareBehaviour, RunState};
use smp::cbor::Value;
use smp::header::{Group, Op, Version};

const V2: ImageVersion = ImageVersion::new(2, 0, 0);

/// A device running 1.0.0 with 2.0.0 uploaded and set for test, per-image behaviours given.
fn pending_test(alg: Algorithm, behaviours: Behaviours) -> sim_device::device::Device {
    let v2i = image((2, 0, 0), 12_000, 2);
    let mut dev = config("k64f", alg, image((1, 0, 0), 10_000, 1))
        .behaviours(behaviours)
        .build()
        .expect("device builds");
    upload(&mut dev, &v2i, 300);
    test_image(&mut dev, &image_hash(&v2i));
    dev
}

fn echo_answered(dev: &mut sim_device::device::Device) -> bool {
    let req = request(Version::V2, Op::Write, Group::Os, 0, 1, &Value::map([("d", Value::text("?"))]));
    dev.handle(&req).len() == 1
}

#[test]
fn self_confirming_firmware_stays_after_a_test_swap() {
    let mut dev = pending_test(Algorithm::SwapScratch, Behaviours::all(FirmwareBehaviour::ConfirmAtBoot));
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    assert_eq!(flags(&mut dev)[0], (0, "2.0.0".into(), false, true, true, false));
    assert!(dev.events().any(|e| matches!(e.kind, EventKind::SelfConfirmed { version } if version == V2)));
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
}

#[test]
fn firmware_waiting_for_confirmation_reverts_on_the_next_reset() {
    let mut dev = pending_test(Algorithm::SwapMove, Behaviours::default());
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    reset(&mut dev);
    assert_eq!(running_version(&dev), "1.0.0");
}

#[test]
fn crash_at_boot_reverts_through_the_bootloader() {
    for alg in [Algorithm::SwapScratch, Algorithm::SwapMove, Algorithm::SwapOffset] {
        let mut dev = pending_test(alg, Behaviours::default().version(V2, FirmwareBehaviour::CrashAtBoot));
        let boots = dev.boot_count();
        reset(&mut dev);
        // Boot 1 swaps in 2.0.0, which crashes; boot 2 reverts.
        assert_eq!(running_version(&dev), "1.0.0", "{alg:?}");
        assert_eq!(dev.boot_count(), boots + 2);
        assert!(dev.events().any(|e| matches!(e.kind, EventKind::Crash { version } if version == V2)));
        assert_eq!(flags(&mut dev)[0], (0, "1.0.0".into(), false, true, true, false));
        assert!(echo_answered(&mut dev));
    }
}

#[test]
fn a_hung_image_is_reverted_after_the_watchdog_fires() {
    let mut dev = pending_test(
        Algorithm::SwapScratch,
        Behaviours::default().version(V2, FirmwareBehaviour::HangUntilWatchdog),
    );
    reset(&mut dev);
    assert!(matches!(dev.state(), RunState::Hung { .. }), "{:?}", dev.state());
    assert!(!echo_answered(&mut dev));
    let deadline = dev.next_deadline_ms().unwrap();
    dev.advance(deadline - dev.now_ms() - 1);
    assert!(!echo_answered(&mut dev));
    dev.advance(1);
    assert_eq!(running_version(&dev), "1.0.0");
    assert!(echo_answered(&mut dev));
}

#[test]
fn crash_after_n_boots_of_a_confirmed_image_is_a_crash_loop_until_power_cycled() {
    let mut dev = pending_test(
        Algorithm::SwapScratch,
        Behaviours::default().version(V2, FirmwareBehaviour::CrashAfterBoots { boots: 2, confirm: true }),
    );
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    // Third boot: it crashes, and since it confirmed itself MCUboot has nothing to revert to.
    reset(&mut dev);
    assert!(matches!(dev.state(), RunState::CrashLoop { .. }), "{:?}", dev.state());
    assert!(!echo_answered(&mut dev));
    // The behaviour is the model's, so a scenario can "fix the firmware" and power-cycle.
    *dev.behaviours_mut() = Behaviours::default();
    dev.power_cycle();
    assert_eq!(running_version(&dev), "2.0.0");
}

#[test]
fn crash_after_one_boot_of_an_unconfirmed_image_reverts() {
    let mut dev = pending_test(
        Algorithm::SwapMove,
        Behaviours::default().version(V2, FirmwareBehaviour::CrashAfterBoots { boots: 1, confirm: false }),
    );
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    reset(&mut dev);
    assert_eq!(running_version(&dev), "1.0.0");
}

#[test]
fn nothing_bootable_is_a_brick_that_answers_nothing() {
    let mut dev = sim_device::device::DeviceConfig::preset("k64f").unwrap().build().unwrap();
    assert!(matches!(dev.state(), RunState::Bricked(_)), "{:?}", dev.state());
    assert!(!echo_answered(&mut dev));
    // A corrupted primary image is no better (validation fails).
    let mut img = image((1, 0, 0), 4000, 1);
    img[100] ^= 0xff;
    let mut dev = config("k64f", Algorithm::SwapScratch, img).build().unwrap();
    assert!(matches!(dev.state(), RunState::Bricked(_)));
    assert!(!echo_answered(&mut dev));
}

#[test]
fn the_event_log_tells_the_story_of_a_crash_and_revert() {
    let mut dev = pending_test(
        Algorithm::SwapScratch,
        Behaviours::default().version(V2, FirmwareBehaviour::CrashAtBoot),
    );
    dev.take_events();
    reset(&mut dev);
    let log: Vec<String> = dev.events().map(|e| e.to_string()).collect();
    insta::assert_snapshot!("crash_revert_log", log.join("\n"));
}
