//! Statistics group (2): show and list, every error path, v1 and v2, reply bytes snapshotted
//! (`smp-protocol.md` §7); the counters count real traffic; user groups; old-tree quirks.

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use sim_device::server::ServerConfig;
use sim_device::server::stat::{StatGroupDef, StatOptions};
use smp::cbor::Value;
use smp::groups::Body;
use smp::groups::stat::{StatListResponse, StatShowResponse};
use smp::header::{Group, Op, Version};

fn name(n: &str) -> Value {
    Value::map([("name", Value::text(n))])
}

/// A request header with no payload at all.
fn empty_payload(op: Op, group: Group, id: u8) -> Vec<u8> {
    smp::header::Header::new(Version::V2, op, group, id, 3, 0).encode().to_vec()
}

fn device_with(stat: StatOptions) -> sim_device::device::Device {
    let server = ServerConfig { stat, ..ServerConfig::default() };
    config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1))
        .server(server)
        .build()
        .expect("device builds")
}

#[test]
fn list_and_show() {
    let mut dev = small_device();
    dev.advance(3_500);
    let mut s = String::from("=== list\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Stat, 1, &Value::empty_map()));
    s.push_str("=== list, empty payload\n");
    s.push_str(&exchange(&mut dev, &empty_payload(Op::Read, Group::Stat, 1)));
    s.push_str("=== show smp_svr_stats (3.5 s after boot)\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Stat, 0, &name("smp_svr_stats")));
    s.push_str("=== show unknown: INVALID_STAT_NAME\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Stat, 0, &name("nope")));
    s.push_str("=== show without name: rc 3\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Stat, 0, &Value::empty_map()));
    s.push_str("=== show with a non-text name: rc 3\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Stat, 0, &Value::map([("name", Value::from(5u8))])));
    s.push_str("=== write op: not supported\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Stat, 1, &Value::empty_map()));
    insta::assert_snapshot!("list_show", s);
    let list =
        StatListResponse::from_value(&v2(&mut dev, Op::Read, Group::Stat, 1, Value::empty_map())).unwrap();
    assert_eq!(list.stat_list, vec!["smp_svr_stats", "smp", "smp_grp"]);
}

#[test]
fn smp_counters_count_the_traffic() {
    let mut dev = small_device();
    // Three requests before the show: an echo, an unknown command (error), a stat list.
    let echo = request(Version::V2, Op::Write, Group::Os, 0, 1, &Value::map([("d", Value::text("hi"))]));
    let bad = request(Version::V2, Op::Read, Group::Os, 99, 2, &Value::empty_map());
    let list = request(Version::V2, Op::Read, Group::Stat, 1, 3, &Value::empty_map());
    let mut rx = 0;
    let mut tx = 0;
    for r in [&echo, &bad, &list] {
        rx += r.len() as u64;
        tx += dev.handle(r).iter().map(|x| x.len() as u64).sum::<u64>();
    }
    let show = request(Version::V2, Op::Read, Group::Stat, 0, 4, &name("smp"));
    let reply = dev.handle(&show);
    let (_, body) = decode(&reply[0]);
    let r = StatShowResponse::from_value(&body).unwrap();
    // The show request itself is counted on the way in (not its own reply).
    let expect = vec![
        ("rx_bytes".to_owned(), rx + show.len() as u64),
        ("requests".to_owned(), 4),
        ("replies".to_owned(), 3),
        ("tx_bytes".to_owned(), tx),
        ("errors".to_owned(), 1),
    ];
    assert_eq!(r.fields, expect);
    let per_group =
        StatShowResponse::from_value(&v2(&mut dev, Op::Read, Group::Stat, 0, name("smp_grp"))).unwrap();
    assert_eq!(per_group.fields, vec![("os".to_owned(), 2), ("stat".to_owned(), 3)]);
    // RAM: a reboot starts again from zero.
    reset(&mut dev);
    let r = StatShowResponse::from_value(&v2(&mut dev, Op::Read, Group::Stat, 0, name("smp"))).unwrap();
    assert_eq!(r.fields[1], ("requests".to_owned(), 1));
}

#[test]
fn user_groups_from_rust() {
    let opts = StatOptions {
        user_groups: vec![StatGroupDef { name: "app".into(), fields: vec!["frames".into(), "drops".into()] }],
        ..StatOptions::default()
    };
    let mut dev = device_with(opts);
    let mut s = String::from("=== declared, not yet counted\n");
    s.push_str(&exchange(&mut dev, &request(Version::V2, Op::Read, Group::Stat, 0, 1, &name("app"))));
    dev.stats_mut().bump("app", "frames", 41);
    dev.stats_mut().bump("app", "frames", 1);
    dev.stats_mut().set("app", "late", 7);
    // Counters are sent as 32-bit values.
    dev.stats_mut().set("app", "drops", (1 << 32) + 5);
    s.push_str("=== counted (drops = 2^32 + 5 goes out as 5)\n");
    s.push_str(&exchange(&mut dev, &request(Version::V2, Op::Read, Group::Stat, 0, 2, &name("app"))));
    // A group declared while the device runs.
    dev.server_config_mut()
        .stat
        .user_groups
        .push(StatGroupDef { name: "radio".into(), fields: vec!["tx".into()] });
    s.push_str("=== list\n");
    s.push_str(&exchange(&mut dev, &request(Version::V2, Op::Read, Group::Stat, 1, 3, &Value::empty_map())));
    insta::assert_snapshot!("user_groups", s);
}

#[test]
fn legacy_quirks_group_63_and_rc_zero() {
    let mut dev =
        device_with(StatOptions { legacy_group_63: true, legacy_rc: true, ..StatOptions::default() });
    let mut s = String::from("=== list with rc 0\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Stat, 1, &Value::empty_map()));
    s.push_str("=== show: no rc (only the server-wide legacy_rc adds it)\n");
    s.push_str(&exchange(
        &mut dev,
        &request(Version::V2, Op::Read, Group::Stat, 0, 1, &name("smp_svr_stats")),
    ));
    s.push_str("=== unknown name: v2 err under group 63; v1 translation EOK, no usable reply\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Stat, 0, &name("nope")));
    insta::assert_snapshot!("legacy_quirks", s);
    let r = v2(&mut dev, Op::Read, Group::Stat, 0, name("nope"));
    let err = smp::error::ErrorBody::from_value(&r).unwrap().unwrap().err.unwrap();
    assert_eq!((err.group, err.rc), (63, 3));
    // With the server-wide LEGACY_RC the show carries "rc": 0 first, and exactly once.
    let server = ServerConfig { legacy_rc: true, ..ServerConfig::default() };
    let mut dev = config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1))
        .server(server)
        .build()
        .expect("device builds");
    for id in [0, 1] {
        let r = v2(&mut dev, Op::Read, Group::Stat, id, name("smp"));
        let Value::Map(m) = r else { panic!("not a map") };
        assert_eq!(m[0], (Value::text("rc"), Value::from(0u8)));
        assert_eq!(m.iter().filter(|(k, _)| k.as_text() == Some("rc")).count(), 1);
    }
}

#[test]
fn name_limits() {
    let mut dev = small_device();
    let mut s = String::from("=== empty name: rc 3\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Stat, 0, &name("")));
    s.push_str("=== 31 bytes: INVALID_STAT_NAME; 32 bytes: rc 3\n");
    s.push_str(&exchange(
        &mut dev,
        &request(Version::V2, Op::Read, Group::Stat, 0, 1, &name(&"s".repeat(31))),
    ));
    s.push_str(&exchange(
        &mut dev,
        &request(Version::V2, Op::Read, Group::Stat, 0, 2, &name(&"s".repeat(32))),
    ));
    insta::assert_snapshot!("name_limits", s);
}
