//! `smp-protocol.md` §2: how the server treats whatever bytes arrive, and the error shapes.

mod device_support;

use device_support::*;
use smp::cbor::Value;
use smp::header::{Group, Op, Version};

use sim_device::device::DeviceConfig;
use sim_device::server::{Limits, ServerConfig};

fn echo(d: &str) -> Value {
    Value::map([("d", Value::text(d))])
}

#[test]
fn fewer_than_eight_bytes_get_no_reply() {
    let mut dev = small_device();
    for n in 0..8 {
        assert!(dev.handle(&[0x0a; 8][..n]).is_empty(), "{n} bytes");
    }
    // The device still answers.
    assert_eq!(v2(&mut dev, Op::Write, Group::Os, 0, echo("x")), Value::map([("r", Value::text("x"))]));
}

#[test]
fn length_past_the_buffer_is_ecorrupt_and_stops() {
    let mut dev = small_device();
    let mut bytes = request(Version::V2, Op::Write, Group::Os, 0, 3, &echo("hello"));
    bytes.truncate(bytes.len() - 2);
    insta::assert_snapshot!("len_past_buffer", exchange(&mut dev, &bytes));
}

#[test]
fn odd_ops_versions_and_unknown_commands() {
    let mut dev = small_device();
    let mut s = String::new();
    for op in [Op::ReadRsp, Op::WriteRsp, Op::Unknown(5), Op::Unknown(7)] {
        s.push_str(&format!("=== op {}\n", op.name()));
        s.push_str(&exchange(&mut dev, &request(Version::V2, op, Group::Os, 0, 1, &echo("x"))));
    }
    for ver in [Version::Reserved(2), Version::Reserved(3)] {
        s.push_str(&format!("=== version bits {}\n", ver.bits()));
        s.push_str(&exchange(&mut dev, &request(ver, Op::Write, Group::Os, 0, 1, &echo("x"))));
    }
    for (what, group, id, op) in [
        ("unregistered group 4 (log)", Group::Log, 0, Op::Read),
        ("user group 64", Group::PerUser(64), 0, Op::Read),
        ("os console echo control", Group::Os, 1, Op::Write),
        ("os command 9", Group::Os, 9, Op::Read),
        ("image upload as READ", Group::Image, 1, Op::Read),
        ("image state command 2 (file)", Group::Image, 2, Op::Write),
    ] {
        s.push_str(&format!("=== {what}\n"));
        s.push_str(&exchange_both(&mut dev, op, group, id, &Value::empty_map()));
    }
    insta::assert_snapshot!("odd_requests", s);
}

#[test]
fn several_messages_in_one_buffer_each_get_a_reply_until_an_rc_error() {
    let mut dev = small_device();
    let mut buf = request(Version::V2, Op::Write, Group::Os, 0, 1, &echo("one"));
    buf.extend(request(Version::V1, Op::Read, Group::Os, 0, 2, &echo("two")));
    // A group error does not stop processing.
    buf.extend(request(Version::V2, Op::Write, Group::Image, 0, 3, &Value::empty_map()));
    // An rc error does.
    buf.extend(request(Version::V2, Op::Write, Group::Os, 9, 4, &Value::empty_map()));
    buf.extend(request(Version::V2, Op::Write, Group::Os, 0, 5, &echo("never")));
    insta::assert_snapshot!("concatenated", exchange(&mut dev, &buf));
}

#[test]
fn reply_larger_than_the_buffer_is_emsgsize() {
    let mut dev = small_device();
    // The indefinite-length reply map is one byte longer than the definite request map, so an
    // echo request of exactly buf_size bytes cannot be answered.
    let mut d = String::new();
    let mut req = request(Version::V2, Op::Write, Group::Os, 0, 1, &echo(&d));
    while req.len() < 384 {
        d.push('a');
        req = request(Version::V2, Op::Write, Group::Os, 0, 1, &echo(&d));
    }
    assert_eq!(req.len(), 384);
    let replies = dev.handle(&req);
    assert_eq!(replies.len(), 1);
    let (_, body) = decode(&replies[0]);
    assert_eq!(body, Value::map([("rc", Value::from(7u8))]));
    // One byte shorter fits.
    d.pop();
    let (_, body) = decode(&dev.handle(&request(Version::V2, Op::Write, Group::Os, 0, 1, &echo(&d)))[0]);
    assert_eq!(body.get("r").and_then(Value::as_text), Some(d.as_str()));
}

#[test]
fn requests_larger_than_the_buffer_are_dropped_on_serial_and_truncated_on_udp() {
    let big = request(Version::V2, Op::Write, Group::Os, 0, 1, &echo(&"b".repeat(500)));
    let mut serial = small_device();
    assert!(serial.handle(&big).is_empty());
    let mut udp = config("k64f", mcuboot::boot::Algorithm::SwapScratch, image((1, 0, 0), 4000, 1))
        .limits(Limits::UDP)
        .build()
        .unwrap();
    let replies = udp.handle(&request(Version::V2, Op::Write, Group::Os, 0, 1, &echo(&"b".repeat(3000))));
    assert_eq!(replies.len(), 1);
    assert_eq!(decode(&replies[0]).1, Value::map([("rc", Value::from(9u8))]));
    // The 500-byte echo fits UDP's 2048-byte buffer.
    assert_eq!(udp.handle(&big).len(), 1);
}

#[test]
fn group_errors_v1_and_v2_and_legacy_rc_and_verbose_errors() {
    let mut dev = small_device();
    let mut s = String::from("=== state write without hash (INVALID_HASH)\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Image, 0, &Value::empty_map()));
    let mut server = ServerConfig { legacy_rc: true, verbose_errors: true, ..ServerConfig::default() };
    server.limits = Limits::SERIAL;
    let mut dev = DeviceConfig::preset("k64f")
        .unwrap()
        .keys(vec![key().public().clone()])
        .primary(image((1, 0, 0), 4000, 1))
        .server(server)
        .build()
        .unwrap();
    s.push_str("=== legacy rc: echo\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Os, 0, &echo("hi")));
    s.push_str("=== verbose errors: upload with bad magic\n");
    let bad = Value::map([
        ("off", Value::from(0u8)),
        ("len", Value::from(64u8)),
        ("data", Value::bytes(vec![0u8; 32])),
    ]);
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Image, 1, &bad));
    insta::assert_snapshot!("error_shapes", s);
}

#[test]
fn an_unpowered_device_answers_nothing_and_answers_again_after_power_on() {
    let mut dev = small_device();
    dev.power_off();
    assert!(dev.handle(&request(Version::V2, Op::Write, Group::Os, 0, 1, &echo("x"))).is_empty());
    dev.power_on();
    assert_eq!(dev.handle(&request(Version::V2, Op::Write, Group::Os, 0, 1, &echo("x"))).len(), 1);
}

#[test]
fn undecodable_bodies_are_einval_for_decoding_commands_and_fine_for_the_others() {
    let mut dev = small_device();
    let mut s = String::new();
    for (what, group, id, op, payload) in [
        ("echo, empty payload", Group::Os, 0, Op::Write, vec![]),
        ("echo, not CBOR", Group::Os, 0, Op::Write, vec![0xff, 0x00]),
        ("echo, array body", Group::Os, 0, Op::Write, vec![0x80]),
        ("echo, d is a number", Group::Os, 0, Op::Write, vec![0xa1, 0x61, b'd', 0x01]),
        ("echo, d twice", Group::Os, 0, Op::Write, vec![0xa2, 0x61, b'd', 0x60, 0x61, b'd', 0x60]),
        ("params, empty payload", Group::Os, 6, Op::Read, vec![]),
        ("params, garbage", Group::Os, 6, Op::Read, vec![0x1f, 0x1f]),
        ("image state read, empty payload", Group::Image, 0, Op::Read, vec![]),
        ("image erase, empty payload", Group::Image, 5, Op::Write, vec![]),
    ] {
        s.push_str(&format!("=== {what}\n"));
        let mut bytes =
            smp::header::Header::new(Version::V2, op, group, id, 1, payload.len() as u16).encode().to_vec();
        bytes.extend(payload);
        s.push_str(&exchange(&mut dev, &bytes));
    }
    insta::assert_snapshot!("undecodable", s);
}
