//! Garbage, truncated packets, wrong lengths and floods into `Device::handle`: never a panic,
//! every reply bounded by `buf_size` and well-formed, and the next valid request is answered.

mod device_support;

use std::sync::OnceLock;

use device_support::*;
use proptest::prelude::*;
use sim_device::device::Device;
use smp::cbor::Value;
use smp::header::{Group, Header, Op, Version};

fn base_device() -> Device {
    static IMG: OnceLock<Vec<u8>> = OnceLock::new();
    let img = IMG.get_or_init(|| image((1, 0, 0), 4000, 1)).clone();
    device("k64f", mcuboot::boot::Algorithm::SwapScratch, img)
}

fn check_replies(dev: &Device, replies: &[Vec<u8>]) {
    let buf = dev.limits().buf_size as usize;
    for r in replies {
        assert!(r.len() <= buf, "reply of {} bytes > buf_size", r.len());
        let (h, rest) = Header::parse(r).expect("reply has a header");
        assert_eq!(rest.len(), h.len as usize);
        assert!(h.op.is_response());
        smp::cbor::decode(rest).expect("reply body is CBOR");
    }
}

fn echo_works(dev: &mut Device) {
    let req = request(Version::V2, Op::Write, Group::Os, 0, 42, &Value::map([("d", Value::text("alive"))]));
    let replies = dev.handle(&req);
    assert_eq!(replies.len(), 1, "device stopped answering: {:?}", dev.state());
    assert_eq!(decode(&replies[0]).1, Value::map([("r", Value::text("alive"))]));
}

/// A header with random fields, aimed at the registered groups, and a random payload whose
/// length may disagree with the header.
fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        0u8..=255,
        prop_oneof![Just(0u16), Just(1u16), 0u16..80],
        0u8..12,
        prop::collection::vec(any::<u8>(), 0..120),
        prop_oneof![Just(None), (0u16..300).prop_map(Some)],
    )
        .prop_map(|(b0, group, id, payload, len)| {
            let len = len.unwrap_or(payload.len() as u16);
            let mut m = vec![b0, 0];
            m.extend(len.to_be_bytes());
            m.extend(group.to_be_bytes());
            m.extend([0, id]);
            m.extend(payload);
            m
        })
}

/// A well-formed request body of a known command with random values.
fn cbor_body() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        ".{0,12}".prop_map(Value::text),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::bytes),
    ];
    let keys = prop_oneof![
        Just("d"),
        Just("off"),
        Just("len"),
        Just("data"),
        Just("sha"),
        Just("image"),
        Just("hash"),
        Just("confirm"),
        Just("slot"),
        Just("format"),
        Just("query"),
        Just("force"),
        Just("boot_mode"),
        Just("datetime"),
        Just("upgrade")
    ];
    prop::collection::vec((keys, leaf), 0..6)
        .prop_map(|kv| Value::Map(kv.into_iter().map(|(k, v)| (Value::text(k), v)).collect()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..700)) {
        let mut dev = base_device();
        let replies = dev.handle(&bytes);
        check_replies(&dev, &replies);
        echo_works(&mut dev);
    }

    #[test]
    fn random_headers_and_lengths_never_panic(msgs in prop::collection::vec(message(), 1..8)) {
        let mut dev = base_device();
        let flood: Vec<u8> = msgs.concat();
        let replies = dev.handle(&flood);
        check_replies(&dev, &replies);
        for m in &msgs {
            let replies = dev.handle(m);
            check_replies(&dev, &replies);
        }
        echo_works(&mut dev);
    }

    #[test]
    fn random_bodies_for_every_command_never_panic(
        cmds in prop::collection::vec((0u16..2, 0u8..9, any::<bool>(), any::<bool>(), cbor_body()), 1..12)
    ) {
        let mut dev = base_device();
        for (group, id, write, v1, body) in cmds {
            let op = if write { Op::Write } else { Op::Read };
            let ver = if v1 { Version::V1 } else { Version::V2 };
            let replies = dev.handle(&request(ver, op, Group::from_id(group), id, 3, &body));
            check_replies(&dev, &replies);
        }
        // A random `os reset` may be scheduled; let it happen, then the device must answer.
        dev.advance(1000);
        echo_works(&mut dev);
    }
}

#[test]
fn a_flood_of_valid_requests_is_answered_one_for_one() {
    let mut dev = base_device();
    let one = request(Version::V2, Op::Read, Group::Os, 6, 1, &Value::empty_map());
    let flood: Vec<u8> = std::iter::repeat_n(one.clone(), 384 / one.len()).flatten().collect();
    let replies = dev.handle(&flood);
    assert_eq!(replies.len(), 384 / one.len());
    for _ in 0..10_000 {
        assert_eq!(dev.handle(&one).len(), 1);
    }
    // The event log is bounded.
    assert!(dev.events().count() <= sim_device::device::EVENT_LOG_CAPACITY);
    echo_works(&mut dev);
}
