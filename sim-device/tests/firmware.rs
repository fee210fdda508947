//! `FirmwareBehaviour::Execute`: the image's own Cortex-M code decides what happens after
//! boot. With the `firmware` feature the test firmware in `fixtures/firmware/` runs under the
//! CPU model and every console line, confirm, reboot and fault is checked against what its C
//! source says. Without the feature, `Execute` halts the device with the rebuild hint.

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use sim_device::device::{FirmwareBehaviour, RunState};

#[cfg(not(feature = "firmware"))]
#[test]
fn without_the_feature_execute_halts_with_the_rebuild_hint() {
    const { assert!(!sim_device::firmware::AVAILABLE) };
    let dev = config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1))
        .behaviour(FirmwareBehaviour::Execute)
        .build()
        .expect("device builds");
    assert_eq!(
        dev.state(),
        &RunState::Halted(
            "this image runs its own code, but brownout was built without the firmware feature \
             (rebuild with --features firmware)"
                .into()
        )
    );
    assert_eq!(dev.console(), "");
}

#[cfg(feature = "firmware")]
mod run {
    use super::*;
    use mcuboot::image::ImageVersion;
    use sim_device::device::{Behaviours, Device, EventKind, ResetCause};
    use sim_device::firmware::{self, NO_WATCHDOG};

    /// A fixture file's bytes.
    fn fixture(path: &str) -> Vec<u8> {
        std::fs::read(testkit::workspace_root().join("fixtures").join(path)).expect("fixture file")
    }

    /// k64f, swap-scratch, app-1.0.0 (waits for a confirm) in the primary slot; images of
    /// `run` execute their own code.
    fn device_with(run: ImageVersion, algorithm: Algorithm) -> Device {
        config("k64f", algorithm, fixture("images/app-1.0.0.bin"))
            .behaviours(Behaviours::default().version(run, FirmwareBehaviour::Execute))
            .build()
            .expect("device builds")
    }

    fn v(build: u32) -> ImageVersion {
        ImageVersion { build_num: build, ..ImageVersion::new(2, 0, 0) }
    }

    /// Upload `file` to the secondary slot and mark it for test.
    fn upload_test(dev: &mut Device, file: &str) -> Vec<u8> {
        let img = fixture(file);
        upload(dev, &img, 256);
        let hash = image_hash(&img);
        test_image(dev, &hash);
        hash
    }

    fn faults(dev: &Device) -> Vec<String> {
        dev.events()
            .filter_map(|e| match &e.kind {
                EventKind::Fault { what, .. } => Some(what.clone()),
                _ => None,
            })
            .collect()
    }

    fn console_events(dev: &Device) -> Vec<String> {
        dev.events()
            .filter_map(|e| match &e.kind {
                EventKind::Console(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    const PASS_CONSOLE: &str = "selftest-pass: crc32 0xcbf43926 ok\n\
                                selftest-pass: ram ok\n\
                                selftest-pass: data ok\n\
                                selftest-pass: confirming\n\
                                selftest-pass: confirmed (image_ok 1)\n";

    #[test]
    fn feature_is_available() {
        const { assert!(firmware::AVAILABLE) };
    }

    #[test]
    fn passing_self_test_confirms_and_the_update_stays() {
        for alg in [Algorithm::SwapScratch, Algorithm::SwapMove, Algorithm::SwapOffset] {
            let mut dev = device_with(v(1), alg);
            upload_test(&mut dev, "firmware/selftest-pass.signed.bin");
            reset(&mut dev);
            assert_eq!(running_version(&dev), "2.0.0.1", "{alg:?}");
            assert_eq!(dev.console(), PASS_CONSOLE, "{alg:?}");
            // image_ok is in the trailer: the image list reports slot 0 confirmed.
            assert_eq!(flags(&mut dev)[0], (0, "2.0.0.1".into(), false, true, true, false), "{alg:?}");
            assert!(
                dev.events()
                    .any(|e| matches!(e.kind, EventKind::SelfConfirmed { version } if version == v(1)))
            );
            assert_eq!(console_events(&dev).len(), 5);
            // Next boot: no swap, the confirm has nothing to write, and it still prints.
            reset(&mut dev);
            assert_eq!(running_version(&dev), "2.0.0.1", "{alg:?}");
            assert_eq!(dev.console(), format!("{PASS_CONSOLE}{PASS_CONSOLE}"));
            assert!(dev.is_serving());
        }
    }

    #[test]
    fn failing_self_test_reboots_and_mcuboot_reverts() {
        let mut dev = device_with(v(2), Algorithm::SwapScratch);
        upload_test(&mut dev, "firmware/selftest-fail.signed.bin");
        let boots = dev.boot_count();
        reset(&mut dev);
        assert_eq!(
            dev.console(),
            "selftest-fail: calibration checksum 0x00000158, expected 0x00000160\n\
             selftest-fail: self-test FAILED, rebooting\n"
        );
        // Boot 1 swaps 2.0.0+2 in; it reboots itself; boot 2 reverts to 1.0.0.
        assert_eq!(running_version(&dev), "1.0.0");
        assert_eq!(dev.boot_count(), boots + 2);
        assert!(
            dev.events().any(|e| matches!(e.kind, EventKind::FirmwareReboot { version } if version == v(2)))
        );
        assert!(dev.events().any(|e| e.kind == EventKind::Reset(ResetCause::Reboot)));
        let f = flags(&mut dev);
        assert_eq!(f[0], (0, "1.0.0".into(), false, true, true, false));
        assert_eq!(
            (f[1].1.as_str(), f[1].2),
            ("2.0.0.2", false),
            "the failed image waits in slot 1, not pending"
        );
    }

    #[test]
    fn hardfault_at_boot_resets_through_the_bootloader_and_reverts() {
        let mut dev = device_with(v(3), Algorithm::SwapMove);
        upload_test(&mut dev, "firmware/hardfault.signed.bin");
        let boots = dev.boot_count();
        reset(&mut dev);
        assert_eq!(dev.console(), "hardfault: reading 0x60000000\n");
        assert_eq!(running_version(&dev), "1.0.0");
        assert_eq!(dev.boot_count(), boots + 2);
        let f = faults(&dev);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].starts_with("read of unmapped memory at 0x60000000 (pc 0x0002"), "{}", f[0]);
        assert!(dev.events().any(|e| e.kind == EventKind::Reset(ResetCause::Crash)));
    }

    #[test]
    fn hang_leaves_the_device_hung_until_its_watchdog_resets_it_and_mcuboot_reverts() {
        let mut dev = device_with(v(4), Algorithm::SwapScratch);
        upload_test(&mut dev, "firmware/hang.signed.bin");
        let r =
            v2(&mut dev, smp::header::Op::Write, smp::header::Group::Os, 5, smp::cbor::Value::empty_map());
        assert_eq!(r, smp::cbor::Value::Map(vec![]));
        let reboot_at = dev.next_deadline_ms().expect("reset scheduled");
        dev.advance(reboot_at - dev.now_ms());
        assert_eq!(dev.console(), "hang: watchdog 100 ms started, waiting for the radio\n");
        let RunState::Hung { image, watchdog_at_ms } = dev.state().clone() else {
            panic!("expected hung, got {:?}", dev.state())
        };
        assert_eq!(image.version, v(4));
        // 100 ms of watchdog after a few dozen instructions of startup (1 instruction = 1 µs).
        assert_eq!(watchdog_at_ms - dev.now_ms(), 101);
        assert!(!dev.is_serving());
        dev.advance(100);
        assert!(matches!(dev.state(), RunState::Hung { .. }), "not yet: {:?}", dev.state());
        dev.advance(1);
        assert_eq!(running_version(&dev), "1.0.0");
        assert!(dev.events().any(|e| e.kind == EventKind::Reset(ResetCause::Watchdog)));
    }

    #[test]
    fn confirm_on_second_boot_is_reverted_first_and_sticks_when_tested_again() {
        let mut dev = device_with(v(5), Algorithm::SwapScratch);
        let hash = upload_test(&mut dev, "firmware/second-boot.signed.bin");
        reset(&mut dev);
        let first = "second-boot: boot 1 of this image, swap test, image_ok 0\n\
                     second-boot: not confirming before a clean reboot, rebooting\n";
        assert_eq!(dev.console(), first);
        assert_eq!(running_version(&dev), "1.0.0", "the reboot reverted the unconfirmed test image");
        // Tested again (it is still in slot 1 after the revert): now it is its second boot.
        test_image(&mut dev, &hash);
        reset(&mut dev);
        let second = "second-boot: boot 2 of this image, swap test, image_ok 0\n\
                      second-boot: confirming (result 1)\n";
        assert_eq!(dev.console(), format!("{first}{second}"));
        assert_eq!(running_version(&dev), "2.0.0.5");
        assert_eq!(flags(&mut dev)[0], (0, "2.0.0.5".into(), false, true, true, false));
        reset(&mut dev);
        let third = "second-boot: boot 3 of this image, swap none, image_ok 1\n\
                     second-boot: confirming (result 2)\n";
        assert_eq!(dev.console(), format!("{first}{second}{third}"));
        assert_eq!(running_version(&dev), "2.0.0.5");
    }

    #[test]
    fn print_version_reads_its_own_header_and_the_boot_info() {
        let mut dev = device_with(v(6), Algorithm::SwapScratch);
        upload_test(&mut dev, "firmware/print-version.signed.bin");
        reset(&mut dev);
        let n = dev.boot_count();
        assert_eq!(
            dev.console(),
            format!("print-version: version 2.0.0+6\nprint-version: swap test, image_ok 0, boot {n}\n")
        );
        assert_eq!(running_version(&dev), "2.0.0.6");
        assert!(!flags(&mut dev)[0].3, "it does not confirm itself");
        confirm_image(&mut dev, None);
        reset(&mut dev);
        assert!(dev.console().ends_with(&format!("print-version: swap none, image_ok 1, boot {}\n", n + 1)));
    }

    #[test]
    fn power_cut_in_the_self_confirm_write_leaves_it_unconfirmed_and_it_reverts() {
        // Count the flash operations of the boot that swaps and self-confirms...
        let mut probe = device_with(v(1), Algorithm::SwapScratch);
        upload_test(&mut probe, "firmware/selftest-pass.signed.bin");
        let before = probe.flash().ops();
        reset(&mut probe);
        let boot_ops = probe.flash().ops() - before;
        // ...then cut the power at the last one: the firmware's image_ok write.
        let mut dev = device_with(v(1), Algorithm::SwapScratch);
        upload_test(&mut dev, "firmware/selftest-pass.signed.bin");
        let r =
            v2(&mut dev, smp::header::Op::Write, smp::header::Group::Os, 5, smp::cbor::Value::empty_map());
        assert_eq!(r, smp::cbor::Value::Map(vec![]));
        dev.cut_power_at(boot_ops, sim_device::flash::FaultKind::CutBefore);
        dev.advance(1000);
        assert!(matches!(dev.state(), RunState::Off(_)), "{:?}", dev.state());
        // The CPU stopped inside the confirm: the line after it never came.
        assert_eq!(
            dev.console(),
            "selftest-pass: crc32 0xcbf43926 ok\nselftest-pass: ram ok\nselftest-pass: data ok\n\
             selftest-pass: confirming\n"
        );
        dev.power_on();
        // image_ok never reached the flash: MCUboot reverts the test image.
        assert_eq!(running_version(&dev), "1.0.0");
    }

    #[test]
    fn power_cut_during_the_swap_resumes_and_the_firmware_still_confirms() {
        let mut dev = device_with(v(1), Algorithm::SwapMove);
        upload_test(&mut dev, "firmware/selftest-pass.signed.bin");
        let r =
            v2(&mut dev, smp::header::Op::Write, smp::header::Group::Os, 5, smp::cbor::Value::empty_map());
        assert_eq!(r, smp::cbor::Value::Map(vec![]));
        dev.cut_power_at(5, sim_device::flash::FaultKind::CutBefore);
        dev.advance(1000);
        assert!(matches!(dev.state(), RunState::Off(_)), "{:?}", dev.state());
        assert_eq!(dev.console(), "");
        dev.power_on();
        assert_eq!(running_version(&dev), "2.0.0.1");
        assert_eq!(dev.console(), PASS_CONSOLE);
        // It reports the resumed swap as this boot's swap: a test boot.
        assert_eq!(flags(&mut dev)[0], (0, "2.0.0.1".into(), false, true, true, false));
    }

    // ------------------------------------------------------------------ hand-made images

    const XIP: u32 = 0x20200; // k64f primary slot + 0x200 header

    /// A signed image whose payload is a vector table (SP, reset = code) then Thumb `code`
    /// (little-endian halfwords) then `literals`, for execution at `base`.
    fn handmade(
        version: ImageVersion,
        base: u32,
        load_addr: Option<u32>,
        code: &[u16],
        literals: &[u32],
    ) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&0x2000_4000u32.to_le_bytes());
        p.extend_from_slice(&(base + 8 + 1).to_le_bytes());
        for h in code {
            p.extend_from_slice(&h.to_le_bytes());
        }
        while p.len() % 4 != 0 {
            p.push(0);
        }
        for w in literals {
            p.extend_from_slice(&w.to_le_bytes());
        }
        let opts = mcuboot::image::SignOptions {
            version,
            pad_header: true,
            header_size: 0x200,
            load_addr,
            ..Default::default()
        };
        mcuboot::image::sign(&p, Some(&key()), &opts).expect("sign")
    }

    /// Boot `img` from slot 1 by test swap and return the device after the reset.
    fn boot_handmade(img: &[u8], budget: u64) -> Device {
        let mut dev = config("k64f", Algorithm::SwapScratch, fixture("images/app-1.0.0.bin"))
            .behaviours(Behaviours::default().version(ImageVersion::new(3, 0, 0), FirmwareBehaviour::Execute))
            .firmware_budget(budget)
            .build()
            .expect("device builds");
        upload(&mut dev, img, 256);
        test_image(&mut dev, &image_hash(img));
        reset(&mut dev);
        dev
    }

    const V3: ImageVersion = ImageVersion::new(3, 0, 0);

    #[test]
    fn cpu_exceptions_and_bad_accesses_are_faults_that_revert() {
        // (code, literals, what the fault message starts with)
        let cases: [(&[u16], &[u32], &str); 4] = [
            (&[0xde00], &[], "undefined instruction"),          // udf #0
            (&[0xbe00], &[], "bkpt with no debugger attached"), // bkpt #0
            (&[0x4800, 0x6000], &[0x0002_0000], "write not allowed at 0x00020000"), // ldr r0,=flash; str r0,[r0]
            (&[0x4800, 0x6800], &[0x4000_F0F0], "read of unknown control-block register 0xf0"), // ldr r0,[r0]
        ];
        for (code, lits, want) in cases {
            let dev = boot_handmade(&handmade(V3, XIP, None, code, lits), 10_000);
            let f = faults(&dev);
            assert_eq!(f.len(), 1, "{want}: {f:?}");
            assert!(f[0].starts_with(want), "want {want:?}, got {:?}", f[0]);
            assert_eq!(running_version(&dev), "1.0.0", "{want}");
        }
    }

    #[test]
    fn nvic_system_reset_is_a_reboot_not_a_fault() {
        // ldr r0,=AIRCR; ldr r1,=VECTKEY|SYSRESETREQ; str r1,[r0]; b .
        let reset: &[u16] = &[0x4801, 0x4902, 0x6001, 0xe7fe];
        let dev = boot_handmade(&handmade(V3, XIP, None, reset, &[0xE000_ED0C, 0x05FA_0004]), 10_000);
        assert!(faults(&dev).is_empty(), "{:?}", faults(&dev));
        assert!(
            dev.events().any(|e| matches!(e.kind, EventKind::FirmwareReboot { version } if version == V3))
        );
        // Unconfirmed, so MCUboot reverts at that reboot.
        assert_eq!(running_version(&dev), "1.0.0");

        // Without the key the write is ignored: the firmware spins on, into its budget.
        let dev = boot_handmade(&handmade(V3, XIP, None, reset, &[0xE000_ED0C, 0x0000_0004]), 10_000);
        assert!(faults(&dev).is_empty(), "{:?}", faults(&dev));
        assert!(!dev.events().any(|e| matches!(e.kind, EventKind::FirmwareReboot { .. })));
    }

    #[test]
    fn a_reset_vector_without_the_thumb_bit_is_a_fault() {
        let mut img = handmade(V3, XIP, None, &[0xe7fe], &[]);
        // Clear bit 0 of the reset vector (payload offset 4, after the 0x200 header) and re-sign.
        let mut payload = img[0x200..0x200 + 12].to_vec();
        payload[4] &= !1;
        let opts = mcuboot::image::SignOptions {
            version: V3,
            pad_header: true,
            header_size: 0x200,
            ..Default::default()
        };
        img = mcuboot::image::sign(&payload, Some(&key()), &opts).expect("sign");
        let dev = boot_handmade(&img, 10_000);
        let f = faults(&dev);
        assert_eq!(f, vec!["bad vector table: reset vector 0x00020208 at 0x00020204 has no Thumb bit (a Cortex-M takes an INVSTATE fault)".to_string()]);
    }

    #[test]
    fn spinning_without_a_watchdog_uses_the_budget_and_hangs_with_no_deadline() {
        let dev = boot_handmade(&handmade(V3, XIP, None, &[0xe7fe], &[]), 20_000); // b .
        let RunState::Hung { watchdog_at_ms, .. } = dev.state() else { panic!("{:?}", dev.state()) };
        assert_eq!(*watchdog_at_ms, NO_WATCHDOG);
        assert_eq!(dev.next_deadline_ms(), None, "nothing will reset it");
        assert!(dev.events().any(
            |e| matches!(&e.kind, EventKind::Note(n) if n.contains("used its budget of 20000 instructions"))
        ));
    }

    #[test]
    fn the_console_keeps_the_last_64_kib_and_logs_long_lines_in_pieces() {
        // ldr r0,=CONSOLE; ldr r1,=70000; movs r2,#'A'; loop: str r2,[r0]; subs r1,#1; bne loop;
        // str r2,[r0,#16] (READY); b .
        let code = [0x4803, 0x4904, 0x2241, 0x6002, 0x3901, 0xD1FC, 0x6102, 0xe7fe];
        let console = firmware::CONTROL_BASE + firmware::reg::CONSOLE;
        let dev = boot_handmade(&handmade(V3, XIP, None, &code, &[console, 70_000]), 1_000_000);
        assert_eq!(running_version(&dev), "3.0.0");
        assert_eq!(dev.console().len(), sim_device::device::CONSOLE_CAPACITY);
        assert!(dev.console().bytes().all(|b| b == b'A'));
        let lines = console_events(&dev);
        assert_eq!(lines.len(), 70_000usize.div_ceil(1024), "1024-byte pieces");
        assert_eq!(lines.iter().map(String::len).sum::<usize>(), 70_000);
    }

    #[test]
    fn wfi_with_no_interrupt_source_sleeps_until_the_budget_is_used() {
        // wfi; b .  (no interrupts are modelled, so nothing ever wakes it)
        let dev = boot_handmade(&handmade(V3, XIP, None, &[0xbf30, 0xe7fe], &[]), 20_000);
        assert!(faults(&dev).is_empty(), "{:?}", faults(&dev));
        let RunState::Hung { watchdog_at_ms, .. } = dev.state() else { panic!("{:?}", dev.state()) };
        assert_eq!(*watchdog_at_ms, NO_WATCHDOG);
        assert!(
            dev.events()
                .any(|e| matches!(&e.kind, EventKind::Note(n) if n.contains("went to sleep (wfi/wfe)")))
        );
    }

    #[test]
    fn a_call_through_a_null_pointer_is_a_fault() {
        // movs r0,#1; bx r0  (address 0, Thumb)
        let dev = boot_handmade(&handmade(V3, XIP, None, &[0x2001, 0x4700], &[]), 20_000);
        assert_eq!(faults(&dev), vec!["prefetch abort (exception 3) at pc 0x00000000".to_string()]);
        assert_eq!(running_version(&dev), "1.0.0");
    }

    #[test]
    fn a_ram_load_image_runs_from_its_load_address() {
        // ldr r0,[pc,#4]; movs r1,#1; str r1,[r0]; b . ; .word READY
        let ready = firmware::CONTROL_BASE + firmware::reg::READY;
        let img = handmade(V3, 0x2000_0000, Some(0x2000_0000), &[0x4801, 0x2101, 0x6001, 0xe7fe], &[ready]);
        let dev = boot_handmade(&img, 10_000);
        assert_eq!(
            running_version(&dev),
            "3.0.0",
            "{:?}",
            dev.events().map(|e| e.to_string()).collect::<Vec<_>>()
        );
        assert!(
            dev.events()
                .any(|e| matches!(&e.kind, EventKind::Note(n) if n.contains("executes from 0x20000000")))
        );
    }

    #[test]
    fn filler_payload_is_no_firmware_and_faults() {
        // app-2.0.0.bin's payload is deterministic filler, not code.
        let mut dev = device_with(ImageVersion::new(2, 0, 0), Algorithm::SwapScratch);
        upload_test(&mut dev, "images/app-2.0.0.bin");
        reset(&mut dev);
        assert_eq!(faults(&dev).len(), 1, "{:?}", faults(&dev));
        assert_eq!(running_version(&dev), "1.0.0");
    }
}
