//! Enumeration group (10): count, list, single, details, v1 and v2, reply bytes snapshotted
//! (`smp-protocol.md` §10); everything reflects the groups actually registered.

mod device_support;

use device_support::*;
use sim_device::server::{CommandDef, Ctx, GroupDef, HandlerResult};
use smp::cbor::Value;
use smp::groups::Body;
use smp::groups::enumeration::{
    EnumCountResponse, EnumDetailsResponse, EnumListResponse, EnumSingleResponse,
};
use smp::header::{Group, Op};

fn index(i: u64) -> Value {
    Value::map([("index", Value::from(i))])
}

fn nothing(_ctx: &mut Ctx<'_>) -> HandlerResult {
    Ok(Value::empty_map())
}

#[test]
fn count_list_single_details() {
    let mut dev = small_device();
    let mut s = String::from("=== count\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Enumeration, 0, &Value::empty_map()));
    s.push_str("=== list\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Enumeration, 1, &Value::empty_map()));
    s.push_str("=== single, no index (0)\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Enumeration, 2, &Value::empty_map()));
    s.push_str("=== single, last index: end\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Enumeration, 2, &index(7)));
    s.push_str("=== single, past the end: INDEX_TOO_LARGE\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Enumeration, 2, &index(8)));
    s.push_str("=== single, index not a uint: rc 3\n");
    s.push_str(&exchange_both(
        &mut dev,
        Op::Read,
        Group::Enumeration,
        2,
        &Value::map([("index", Value::text("x"))]),
    ));
    s.push_str("=== details\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Enumeration, 3, &Value::empty_map()));
    s.push_str("=== details, filtered (9 and 1 and the unregistered 5)\n");
    let filter = Value::map([("groups", Value::Array(vec![9u8.into(), 1u8.into(), 5u8.into()]))]);
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Enumeration, 3, &filter));
    s.push_str("=== details, empty filter: all groups (only the count shown)\n");
    let all = v2(&mut dev, Op::Read, Group::Enumeration, 3, Value::map([("groups", Value::Array(vec![]))]));
    s.push_str(&format!("{} groups\n", EnumDetailsResponse::from_value(&all).unwrap().groups.len()));
    s.push_str("=== details, empty payload: rc 3\n");
    let h = smp::header::Header::new(smp::header::Version::V2, Op::Read, Group::Enumeration, 3, 4, 0);
    s.push_str(&exchange(&mut dev, &h.encode()));
    s.push_str("=== details, 17 ids: TOO_MANY_GROUP_ENTRIES (v1 EINVAL)\n");
    let many = Value::map([("groups", Value::Array((0..17u8).map(Value::from).collect()))]);
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Enumeration, 3, &many));
    s.push_str("=== details, a non-integer id: rc 3\n");
    let bad = Value::map([("groups", Value::Array(vec![Value::text("fs")]))]);
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Enumeration, 3, &bad));
    s.push_str("=== single, index 70000 > 65535: rc 3\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Enumeration, 2, &index(70_000)));
    insta::assert_snapshot!("enum", s);
}

#[test]
fn oversized_replies_are_ecorrupt() {
    let mut dev = small_device();
    for g in 64..110u16 {
        dev.register_group(GroupDef {
            group: Group::PerUser(g),
            name: Some("a user group with a long name"),
            commands: vec![CommandDef { id: 0, name: "x", read: Some(nothing), write: None }],
        });
    }
    // 54 ids still fit a 384-byte list; the details do not.
    let list = v2(&mut dev, Op::Read, Group::Enumeration, 1, Value::empty_map());
    assert_eq!(EnumListResponse::from_value(&list).unwrap().groups.len(), 54);
    let r = v2(&mut dev, Op::Read, Group::Enumeration, 3, Value::empty_map());
    assert_eq!(r, Value::map([("rc", Value::from(9u8))]));
}

#[test]
fn enumeration_lists_exactly_the_registered_groups() {
    let mut dev = small_device();
    let registered: Vec<u16> = dev.groups().iter().map(|g| g.group.id()).collect();
    assert_eq!(registered, vec![10, 8, 1, 0, 3, 9, 2, 63]);
    dev.register_group(GroupDef {
        group: Group::PerUser(70),
        name: None,
        commands: vec![CommandDef { id: 4, name: "x", read: Some(nothing), write: None }],
    });
    let count =
        EnumCountResponse::from_value(&v2(&mut dev, Op::Read, Group::Enumeration, 0, Value::empty_map()));
    assert_eq!(count.unwrap().count, 9);
    let list =
        EnumListResponse::from_value(&v2(&mut dev, Op::Read, Group::Enumeration, 1, Value::empty_map()));
    let list = list.unwrap().groups;
    assert_eq!(list, dev.groups().iter().map(|g| g.group.id()).collect::<Vec<_>>());
    // Walking with single gives the same list and marks the end.
    let mut walked = Vec::new();
    for i in 0..20u64 {
        let r = v2(&mut dev, Op::Read, Group::Enumeration, 2, index(i));
        let one = EnumSingleResponse::from_value(&r).unwrap();
        walked.push(one.group);
        if one.end {
            break;
        }
    }
    assert_eq!(walked, list);
    let d = v2(
        &mut dev,
        Op::Read,
        Group::Enumeration,
        3,
        Value::map([("groups", Value::Array(vec![70u8.into()]))]),
    );
    let d = EnumDetailsResponse::from_value(&d).unwrap();
    assert_eq!(d.groups.len(), 1);
    // No name: Zephyr encodes its NULL name as "".
    assert_eq!(
        (d.groups[0].group, d.groups[0].name.as_deref(), d.groups[0].handlers),
        (70, Some(""), Some(5))
    );
}
