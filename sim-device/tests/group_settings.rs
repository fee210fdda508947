//! Settings group (3): every command and error path, v1 and v2, reply bytes snapshotted
//! (`smp-protocol.md` §8); values persist in the storage partition through resets, power
//! cycles and a flash-file reload; a power cut during a save leaves the old or the new value.

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use mcuboot::layout::Area;
use sim_device::device::Device;
use sim_device::flash::{FaultKind, WriteTear};
use sim_device::server::hooks::{SettingsAccess, SettingsAccessKind};
use sim_device::server::settings::SettingsOptions;
use sim_device::server::{AccessVerdict, Hooks, ServerConfig, Verdict};
use smp::cbor::Value;
use smp::error::MgmtErr;
use smp::header::{Group, Op, Version};

fn name(n: &str) -> Value {
    Value::map([("name", Value::text(n))])
}

fn name_val(n: &str, v: &[u8]) -> Value {
    Value::map([("name", Value::text(n)), ("val", Value::Bytes(v.to_vec()))])
}

fn write(dev: &mut Device, n: &str, v: &[u8]) {
    assert_eq!(v2(dev, Op::Write, Group::Settings, 0, name_val(n, v)), Value::empty_map());
}

fn save(dev: &mut Device) {
    assert_eq!(v2(dev, Op::Write, Group::Settings, 3, Value::empty_map()), Value::empty_map());
}

/// The value read back, or the error body.
fn read(dev: &mut Device, n: &str) -> Result<Vec<u8>, Value> {
    let r = v2(dev, Op::Read, Group::Settings, 0, name(n));
    match r.get("val") {
        Some(Value::Bytes(b)) => Ok(b.clone()),
        _ => Err(r),
    }
}

#[test]
fn read_write_delete_commit_load_save() {
    let mut dev = small_device();
    let mut s = String::from("=== write\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 0, &name_val("app/greeting", b"hello")));
    s.push_str("=== read\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 0, &name("app/greeting")));
    s.push_str("=== read, max_size 3: cut to 3 bytes\n");
    let small = Value::map([("name", Value::text("app/greeting")), ("max_size", Value::from(3u8))]);
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 0, &small));
    s.push_str("=== read, max_size 100 > VALUE_LEN 32: reply carries max_size 32\n");
    let big = Value::map([("name", Value::text("app/greeting")), ("max_size", Value::from(100u8))]);
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 0, &big));
    s.push_str("=== read unknown key: KEY_NOT_FOUND\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 0, &name("app/none")));
    s.push_str("=== read, 31-byte name is fine (KEY_NOT_FOUND), 32 bytes: KEY_TOO_LONG\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 0, &name(&"a".repeat(31))));
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 0, &name(&"a".repeat(32))));
    s.push_str("=== write, empty name: rc 3\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 0, &name_val("", b"x")));
    s.push_str("=== write, val as text: rc 3\n");
    let text_val = Value::map([("name", Value::text("app/x")), ("val", Value::text("x"))]);
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 0, &text_val));
    s.push_str("=== write, too long name: KEY_TOO_LONG\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 0, &name_val(&"b".repeat(40), b"x")));
    s.push_str("=== commit\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 2, &Value::empty_map()));
    s.push_str("=== save\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 3, &Value::empty_map()));
    s.push_str("=== load\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 3, &Value::empty_map()));
    s.push_str("=== delete\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 1, &name("app/greeting")));
    s.push_str("=== delete, no name: rc 3; too long: KEY_TOO_LONG\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 1, &Value::empty_map()));
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 1, &name(&"c".repeat(32))));
    s.push_str("=== delete as READ, commit as READ: not supported\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 1, &name("app/greeting")));
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 2, &Value::empty_map()));
    insta::assert_snapshot!("commands", s);
}

#[test]
fn zephyr_semantics_runtime_versus_storage() {
    let mut dev = small_device();
    // A write is RAM only: gone after a reboot unless saved.
    write(&mut dev, "app/a", b"1");
    reset(&mut dev);
    assert!(read(&mut dev, "app/a").is_err());
    write(&mut dev, "app/a", b"1");
    write(&mut dev, "app/b", b"2");
    save(&mut dev);
    reset(&mut dev);
    assert_eq!(read(&mut dev, "app/a"), Ok(b"1".to_vec()));
    // Delete removes the stored value; the RAM value stays until the next boot.
    assert_eq!(v2(&mut dev, Op::Write, Group::Settings, 1, name("app/a")), Value::empty_map());
    assert_eq!(read(&mut dev, "app/a"), Ok(b"1".to_vec()));
    reset(&mut dev);
    assert!(read(&mut dev, "app/a").is_err());
    assert_eq!(read(&mut dev, "app/b"), Ok(b"2".to_vec()));
    // Load brings stored values back over RAM changes.
    write(&mut dev, "app/b", b"changed");
    assert_eq!(v2(&mut dev, Op::Read, Group::Settings, 3, Value::empty_map()), Value::empty_map());
    assert_eq!(read(&mut dev, "app/b"), Ok(b"2".to_vec()));
    // Save of a subtree saves only that subtree.
    write(&mut dev, "app/c", b"3");
    write(&mut dev, "net/ip", b"10.0.0.1");
    assert_eq!(v2(&mut dev, Op::Write, Group::Settings, 3, name("net")), Value::empty_map());
    reset(&mut dev);
    assert!(read(&mut dev, "app/c").is_err());
    assert_eq!(read(&mut dev, "net/ip"), Ok(b"10.0.0.1".to_vec()));
}

#[test]
fn settings_survive_power_cycles_and_a_flash_file_reload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flash.bin");
    let app = image((1, 0, 0), 4000, 1);
    let mut dev = config("k64f", Algorithm::SwapScratch, app.clone()).flash_file(&path).build().unwrap();
    write(&mut dev, "app/serial", b"SN-0042");
    save(&mut dev);
    dev.power_cycle();
    assert_eq!(read(&mut dev, "app/serial"), Ok(b"SN-0042".to_vec()));
    drop(dev);
    // A new simulator process: the flash file holds the settings.
    let mut dev = config("k64f", Algorithm::SwapScratch, app).flash_file(&path).build().unwrap();
    assert_eq!(read(&mut dev, "app/serial"), Ok(b"SN-0042".to_vec()));
}

#[test]
fn roots_and_the_access_hook() {
    let server = ServerConfig {
        settings: SettingsOptions { roots: vec!["app".into()], ..SettingsOptions::default() },
        ..ServerConfig::default()
    };
    let mut dev =
        config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1)).server(server).build().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut deny_secret = Hooks::settings_access_for_prefix(
        "app/secret",
        AccessVerdict::Deny(Verdict::Group { group: Group::Settings, rc: 6 }),
    );
    dev.hooks_mut().settings_access = Some(Box::new(move |a: &SettingsAccess<'_>| {
        log.lock().unwrap().push((a.kind, a.name.map(str::to_owned)));
        match a.name {
            Some("app/old") => AccessVerdict::Redirect("app/new".into()),
            Some("app/busy") => AccessVerdict::Deny(Verdict::Rc(MgmtErr::EBusy)),
            _ => deny_secret(a),
        }
    }));
    let mut s = String::from("=== unregistered root: ROOT_KEY_NOT_FOUND\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 0, &name_val("bt/id", b"1")));
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 0, &name("bt/id")));
    s.push_str("=== hook denies with a group error\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Settings, 0, &name_val("app/secret", b"1")));
    s.push_str("=== hook denies with rc 10\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Settings, 0, &name("app/busy")));
    s.push_str("=== hook redirects app/old to app/new\n");
    s.push_str(&exchange(
        &mut dev,
        &request(Version::V2, Op::Write, Group::Settings, 0, 1, &name_val("app/old", b"v")),
    ));
    insta::assert_snapshot!("roots_hook", s);
    assert_eq!(read(&mut dev, "app/new"), Ok(b"v".to_vec()));
    v2(&mut dev, Op::Write, Group::Settings, 2, Value::empty_map());
    let seen = seen.lock().unwrap();
    assert!(seen.contains(&(SettingsAccessKind::Commit, None)));
    assert!(seen.contains(&(SettingsAccessKind::Write, Some("app/old".into()))));
}

/// A k64f device whose storage partition is two 4 KiB sectors (so banks fill quickly).
fn small_storage_device() -> Device {
    let area = Area { device: 0, offset: 0x7e000, size: 0x2000 };
    config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1))
        .storage_partition(Some(area))
        .build()
        .expect("device builds")
}

#[test]
fn the_log_compacts_into_the_other_bank() {
    let mut dev = small_storage_device();
    // Each save appends one 48-byte record; a 4 KiB bank takes about 85 of them.
    for i in 0..300u32 {
        write(&mut dev, "app/counter", format!("{i:032}").as_bytes());
        write(&mut dev, "app/fixed", b"stays");
        save(&mut dev);
    }
    reset(&mut dev);
    assert_eq!(read(&mut dev, "app/counter"), Ok(format!("{:032}", 299).into_bytes()));
    assert_eq!(read(&mut dev, "app/fixed"), Ok(b"stays".to_vec()));
}

/// Flash operations a save of `new` takes on this device state.
fn ops_of_a_save(prepare: &dyn Fn() -> Device) -> u64 {
    let mut dev = prepare();
    let before = dev.flash().ops();
    write(&mut dev, "app/v", b"NEW-VALUE");
    save(&mut dev);
    dev.flash().ops() - before
}

/// Cut the power at every op of a save, with several kinds of cut: after power-on the value
/// is the old or the new one, and the settings keep working.
fn cut_everywhere(prepare: &dyn Fn() -> Device) -> Vec<String> {
    let ops = ops_of_a_save(prepare);
    assert!(ops >= 1);
    let kinds = [
        FaultKind::CutBefore,
        FaultKind::CutAfter,
        FaultKind::TornWrite(WriteTear::Prefix { bytes: 5 }),
        FaultKind::TornWrite(WriteTear::PartialWord { word: 1, mask: 0x5a }),
        FaultKind::InterruptedErase(sim_device::flash::EraseTear::Random { seed: 7 }),
    ];
    let mut outcomes = Vec::new();
    for op in 1..=ops {
        for kind in kinds {
            let mut dev = prepare();
            write(&mut dev, "app/v", b"NEW-VALUE");
            dev.cut_power_at(op, kind);
            let replies =
                dev.handle(&request(Version::V2, Op::Write, Group::Settings, 3, 1, &Value::empty_map()));
            dev.power_on();
            let got = read(&mut dev, "app/v").expect("a value is always there");
            assert!(got == b"OLD-VALUE" || got == b"NEW-VALUE", "op {op} {kind:?}: {got:?}");
            assert_eq!(read(&mut dev, "app/other"), Ok(b"keep".to_vec()), "op {op} {kind:?}");
            outcomes.push(format!(
                "op {op} {kind:?}: {} -> {}",
                if replies.is_empty() { "no reply" } else { "reply" },
                String::from_utf8_lossy(&got)
            ));
            // And the store still works afterwards.
            write(&mut dev, "app/v", b"LATER");
            save(&mut dev);
            reset(&mut dev);
            assert_eq!(read(&mut dev, "app/v"), Ok(b"LATER".to_vec()), "op {op} {kind:?}");
        }
    }
    outcomes
}

#[test]
fn power_cut_during_an_appending_save() {
    let prepare = || {
        let mut dev = small_storage_device();
        write(&mut dev, "app/v", b"OLD-VALUE");
        write(&mut dev, "app/other", b"keep");
        save(&mut dev);
        dev
    };
    assert_eq!(ops_of_a_save(&prepare), 1, "an append is one write");
    insta::assert_snapshot!("cut_append", cut_everywhere(&prepare).join("\n"));
}

/// A device whose active bank holds `k` old 31-byte values and then "OLD-VALUE"; also
/// whether that last save was a plain append.
fn filled(k: u32) -> (Device, bool) {
    let mut dev = small_storage_device();
    write(&mut dev, "app/other", b"keep");
    for i in 0..k {
        write(&mut dev, "app/v", format!("OLD-{i:027}").as_bytes());
        save(&mut dev);
    }
    write(&mut dev, "app/v", b"OLD-VALUE");
    let before = dev.flash().ops();
    save(&mut dev);
    let appended = dev.flash().ops() - before == 1;
    (dev, appended)
}

#[test]
fn power_cut_during_a_compacting_save() {
    // The smallest fill after which the OLD-VALUE save still appends but the next save
    // has to compact into the other bank.
    let k = (1..200)
        .find(|&k| {
            let (dev, appended) = filled(k);
            appended && ops_of_a_save(&move || filled_again(&dev)) > 1
        })
        .expect("the bank fills up within 200 saves");
    let prepare = move || filled(k).0;
    let ops = ops_of_a_save(&prepare);
    assert_eq!(ops, 4, "erase, two records, header");
    insta::assert_snapshot!("cut_compact", cut_everywhere(&prepare).join("\n"));
}

/// The same device state again (devices are not Clone; rebuild from the flash contents).
fn filled_again(dev: &Device) -> Device {
    let mut copy = small_storage_device();
    let contents = dev.flash().contents(0).expect("device 0").to_vec();
    copy.flash_mut().load(0, 0, &contents).expect("same geometry");
    copy.reset(sim_device::device::ResetCause::External);
    copy
}

#[test]
fn without_a_storage_partition_settings_live_in_storage_state() {
    let mut dev = config("stm32f4", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1)).build().unwrap();
    assert!(dev.storage_partition().is_none());
    write(&mut dev, "app/a", b"1");
    save(&mut dev);
    dev.power_cycle();
    assert_eq!(read(&mut dev, "app/a"), Ok(b"1".to_vec()));
}

mod model {
    //! Random write/save/delete sequences with a power cut somewhere: storage always equals a
    //! simple model, and the cut key holds its old or its new value.

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Step {
        /// Write a value and save.
        Set(usize, Vec<u8>),
        /// Delete from storage.
        Delete(usize),
    }

    const KEYS: [&str; 3] = ["app/a", "app/b", "net/c"];

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..3usize, proptest::collection::vec(any::<u8>(), 0..120)).prop_map(|(k, v)| Step::Set(k, v)),
            1 => (0..3usize).prop_map(Step::Delete),
        ]
    }

    fn kind(i: u8) -> FaultKind {
        match i % 4 {
            0 => FaultKind::CutBefore,
            1 => FaultKind::CutAfter,
            2 => FaultKind::TornWrite(WriteTear::Prefix { bytes: 9 }),
            _ => FaultKind::InterruptedErase(sim_device::flash::EraseTear::Prefix { bytes: 100 }),
        }
    }

    /// What storage holds, as seen after a reboot.
    fn stored(dev: &mut Device) -> BTreeMap<String, Vec<u8>> {
        sim_device::server::settings::stored(dev)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]
        #[test]
        fn storage_follows_the_model(
            steps in proptest::collection::vec(step(), 1..60),
            cut_at in 0..60usize,
            cut_op in 1..5u64,
            cut_kind in any::<u8>(),
        ) {
            let mut dev = small_storage_device();
            // Zephyr's two places: the runtime values (RAM) and what storage holds. A save
            // writes every runtime value; a delete touches storage only.
            let mut ram: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            for (i, s) in steps.iter().enumerate() {
                match s {
                    Step::Set(k, v) if i == cut_at => {
                        write(&mut dev, KEYS[*k], v);
                        ram.insert(KEYS[*k].to_string(), v.clone());
                        dev.cut_power_at(cut_op, kind(cut_kind));
                        let replies = dev.handle(&request(
                            Version::V2, Op::Write, Group::Settings, 3, 1, &Value::empty_map(),
                        ));
                        dev.flash_mut().clear_faults();
                        if replies.is_empty() {
                            dev.power_on();
                        }
                        // Every key holds its old stored value or the one being saved.
                        let now = stored(&mut dev);
                        for key in KEYS {
                            let got = now.get(key);
                            prop_assert!(
                                got == model.get(key) || (got.is_some() && got == ram.get(key)),
                                "{} after the cut: {:?}", key, got
                            );
                        }
                        model = now;
                        if replies.is_empty() {
                            // Rebooted: the application loaded what storage holds.
                            ram = model.clone();
                        }
                    }
                    Step::Set(k, v) => {
                        write(&mut dev, KEYS[*k], v);
                        ram.insert(KEYS[*k].to_string(), v.clone());
                        save(&mut dev);
                        for (key, value) in &ram {
                            model.insert(key.clone(), value.clone());
                        }
                    }
                    Step::Delete(k) => {
                        let r = v2(&mut dev, Op::Write, Group::Settings, 1, name(KEYS[*k]));
                        prop_assert_eq!(r, Value::empty_map());
                        model.remove(KEYS[*k]);
                    }
                }
                prop_assert_eq!(&stored(&mut dev), &model, "after step {}", i);
            }
            // After a reboot the application sees exactly what storage holds (a read returns
            // at most VALUE_LEN = 32 bytes).
            reset(&mut dev);
            for k in KEYS {
                let expect = model.get(k).map(|v| v[..v.len().min(32)].to_vec());
                prop_assert_eq!(read(&mut dev, k).ok(), expect, "{}", k);
            }
        }
    }
}
