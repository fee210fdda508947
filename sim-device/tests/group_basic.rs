//! Zephyr basic group (63): erase storage, v1 and v2, reply bytes snapshotted
//! (`smp-protocol.md` §10, §11): it erases exactly the storage partition.

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use sim_device::device::DeviceConfig;
use sim_device::flash::FaultKind;
use smp::cbor::Value;
use smp::header::{Group, Op};

fn write_setting(dev: &mut sim_device::device::Device, name: &str, val: &[u8]) {
    let body = Value::map([("name", Value::text(name)), ("val", Value::Bytes(val.to_vec()))]);
    assert_eq!(v2(dev, Op::Write, Group::Settings, 0, body), Value::empty_map());
}

#[test]
fn erase_storage_erases_exactly_the_storage_partition() {
    let mut dev = small_device();
    let area = dev.storage_partition().expect("k64f has a storage partition");
    assert_eq!((area.offset, area.size), (0x78000, 0x8000));
    write_setting(&mut dev, "app/x", b"1");
    assert_eq!(v2(&mut dev, Op::Write, Group::Settings, 3, Value::empty_map()), Value::empty_map());
    let before = dev.flash().contents(0).unwrap().to_vec();
    let part = &before[area.offset as usize..(area.offset + area.size) as usize];
    assert!(part.iter().any(|b| *b != 0xff), "settings were saved into the partition");
    let s = exchange_both(&mut dev, Op::Write, Group::ZephyrBasic, 0, &Value::empty_map());
    insta::assert_snapshot!("erase", s);
    let after = dev.flash().contents(0).unwrap();
    let (lo, hi) = (area.offset as usize, (area.offset + area.size) as usize);
    assert!(after[lo..hi].iter().all(|b| *b == 0xff));
    assert_eq!(&after[..lo], &before[..lo], "nothing before the partition changed");
    assert_eq!(&after[hi..], &before[hi..], "nothing after the partition changed");
    // RAM keeps the value until a reboot; afterwards it is gone.
    let read = Value::map([("name", Value::text("app/x"))]);
    assert!(v2(&mut dev, Op::Read, Group::Settings, 0, read.clone()).get("val").is_some());
    reset(&mut dev);
    assert!(v2(&mut dev, Op::Read, Group::Settings, 0, read).get("err").is_some());
}

#[test]
fn no_partition_and_failed_erase() {
    let app = image((1, 0, 0), 4000, 1);
    let mut dev =
        config("k64f", Algorithm::SwapScratch, app.clone()).storage_partition(None).build().unwrap();
    let mut s = String::from("=== no storage partition: FLASH_OPEN_FAILED (v1: ENOENT)\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::ZephyrBasic, 0, &Value::empty_map()));
    s.push_str("=== read op: not supported\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::ZephyrBasic, 0, &Value::empty_map()));
    // A partition that is not sector aligned: the erase fails, FLASH_ERASE_FAILED, which
    // Zephyr's v1 translation turns into EOK (no usable reply).
    let bad = mcuboot::layout::Area { device: 0, offset: 0x7f800, size: 0x800 };
    let mut dev = config("k64f", Algorithm::SwapScratch, app).storage_partition(Some(bad)).build().unwrap();
    s.push_str("=== misaligned partition: FLASH_ERASE_FAILED (v1: EOK quirk)\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::ZephyrBasic, 0, &Value::empty_map()));
    insta::assert_snapshot!("erase_errors", s);
    assert!(DeviceConfig::preset("stm32f4").unwrap().storage.is_none(), "stm32f4 has no free flash");
}

#[test]
fn power_cut_during_the_erase() {
    let mut dev = small_device();
    dev.cut_power_at(1, FaultKind::InterruptedErase(sim_device::flash::EraseTear::Prefix { bytes: 0x1000 }));
    let replies = dev.handle(&request(
        smp::header::Version::V2,
        Op::Write,
        Group::ZephyrBasic,
        0,
        1,
        &Value::empty_map(),
    ));
    assert!(replies.is_empty(), "no reply when the power goes");
    dev.power_on();
    assert_eq!(running_version(&dev), "1.0.0");
    assert_eq!(v2(&mut dev, Op::Write, Group::ZephyrBasic, 0, Value::empty_map()), Value::empty_map());
}
