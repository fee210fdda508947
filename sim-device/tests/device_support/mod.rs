//! Shared helpers for the device and server tests: signed images, request building, reply
//! decoding, and a small SMP "client" driving a [`Device`] in process.
#![allow(dead_code)]

use mcuboot::boot::Algorithm;
use mcuboot::image::sign::{SignOptions, sign};
use mcuboot::image::{ImageVersion, SigningKey};
use sim_device::device::{Device, DeviceConfig};
use smp::cbor::{self, MapStyle, Value};
use smp::groups::Body;
use smp::groups::image::{StateResponse, StateWriteRequest, UploadRequest};
use smp::header::{Group, Header, Op, Version};

/// The test Ed25519 key from `fixtures/keys`.
pub fn key() -> SigningKey {
    let path = testkit::workspace_root().join("fixtures/keys/ed25519.pem");
    let pem = std::fs::read_to_string(&path).expect("fixture key");
    SigningKey::from_pem(&pem).expect("fixture key parses")
}

/// An image signed with [`key`]: version `v`, a `payload_len`-byte payload derived from `seed`.
pub fn image(v: (u8, u8, u16), payload_len: usize, seed: u8) -> Vec<u8> {
    let payload: Vec<u8> =
        (0..payload_len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed).collect();
    let opts =
        SignOptions { version: ImageVersion::new(v.0, v.1, v.2), pad_header: true, ..SignOptions::default() };
    sign(&payload, Some(&key()), &opts).expect("sign")
}

/// The image hash (SHA-256 TLV) of a signed image.
pub fn image_hash(bytes: &[u8]) -> Vec<u8> {
    mcuboot::image::validate(bytes, &[key().public().clone()]).expect("valid").hash
}

/// A device of `layout` and `algorithm` running `primary`, verifying with the test key.
pub fn device(layout: &str, algorithm: Algorithm, primary: Vec<u8>) -> Device {
    config(layout, algorithm, primary).build().expect("device builds")
}

pub fn config(layout: &str, algorithm: Algorithm, primary: Vec<u8>) -> DeviceConfig {
    DeviceConfig::preset(layout)
        .expect("preset")
        .algorithm(algorithm)
        .keys(vec![key().public().clone()])
        .primary(primary)
}

/// Request bytes.
pub fn request(version: Version, op: Op, group: Group, id: u8, seq: u8, body: &Value) -> Vec<u8> {
    let payload = cbor::encode(body, MapStyle::Definite);
    let mut out = Header::new(version, op, group, id, seq, payload.len() as u16).encode().to_vec();
    out.extend_from_slice(&payload);
    out
}

/// Split a reply into its header and decoded body.
pub fn decode(reply: &[u8]) -> (Header, Value) {
    let (h, rest) = Header::parse(reply).expect("reply header");
    assert_eq!(rest.len(), h.len as usize, "reply length field");
    (h, cbor::decode(rest).expect("reply CBOR"))
}

/// Send one request, expect exactly one reply, return its body.
pub fn call(dev: &mut Device, version: Version, op: Op, group: Group, id: u8, body: &Value) -> Value {
    let replies = dev.handle(&request(version, op, group, id, 7, body));
    assert_eq!(replies.len(), 1, "expected one reply, got {replies:?}");
    let (h, v) = decode(&replies[0]);
    assert_eq!((h.group, h.command_id, h.seq), (group, id, 7));
    v
}

pub fn v2(dev: &mut Device, op: Op, group: Group, id: u8, body: Value) -> Value {
    call(dev, Version::V2, op, group, id, &body)
}

/// Image state, typed.
pub fn state(dev: &mut Device) -> StateResponse {
    let v = v2(dev, Op::Read, Group::Image, 0, Value::empty_map());
    StateResponse::from_value(&v).expect("state reply")
}

/// `(slot, version, pending, confirmed, active, permanent)` per listed slot.
pub fn flags(dev: &mut Device) -> Vec<(u32, String, bool, bool, bool, bool)> {
    state(dev)
        .images
        .into_iter()
        .map(|i| (i.slot, i.version, i.pending, i.confirmed, i.active, i.permanent))
        .collect()
}

/// Upload `img` in chunks of at most `chunk` data bytes with sha; returns the last reply.
pub fn upload(dev: &mut Device, img: &[u8], chunk: usize) -> Value {
    let sha = mcuboot::image::HashAlg::Sha256.digest(img);
    let mut off = 0usize;
    let mut last = Value::Null;
    let mut rounds = 0;
    while off < img.len() {
        rounds += 1;
        assert!(rounds < 100_000, "upload does not progress");
        let end = (off + chunk).min(img.len());
        let req = UploadRequest {
            image: (off == 0).then_some(0),
            len: (off == 0).then_some(img.len() as u64),
            off: off as u64,
            sha: (off == 0).then(|| sha.clone()),
            data: img[off..end].to_vec(),
            upgrade: None,
        };
        last = v2(dev, Op::Write, Group::Image, 1, req.to_value());
        let next = last.get("off").and_then(Value::as_u64).unwrap_or_else(|| panic!("upload reply {last}"));
        off = next as usize;
    }
    last
}

pub fn test_image(dev: &mut Device, hash: &[u8]) -> Value {
    v2(dev, Op::Write, Group::Image, 0, StateWriteRequest::test(hash).to_value())
}

pub fn confirm_image(dev: &mut Device, hash: Option<&[u8]>) -> Value {
    v2(dev, Op::Write, Group::Image, 0, StateWriteRequest::confirm(hash).to_value())
}

/// `os reset` then let the modelled reset delay pass.
pub fn reset(dev: &mut Device) {
    let r = v2(dev, Op::Write, Group::Os, 5, Value::empty_map());
    assert_eq!(r, Value::Map(vec![]));
    dev.advance(1000);
}

pub fn running_version(dev: &Device) -> String {
    dev.running().map(|r| r.version.to_string()).unwrap_or_else(|| format!("<{}>", dev.state_name()))
}

/// Hex of bytes, for snapshots.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// One exchange rendered for a snapshot: request hex, each reply's hex and decoded body.
pub fn exchange(dev: &mut Device, bytes: &[u8]) -> String {
    let replies = dev.handle(bytes);
    let mut s = format!("request: {}\n", hex(bytes));
    if replies.is_empty() {
        s.push_str("no reply\n");
    }
    for r in &replies {
        s.push_str(&format!("reply:   {}\n", hex(r)));
        match Header::parse(r) {
            Ok((h, rest)) => {
                s.push_str(&format!("header:  {h}\n"));
                match cbor::decode(rest) {
                    Ok(v) => s.push_str(&format!("body:    {v}\n")),
                    Err(e) => s.push_str(&format!("body:    <{e}>\n")),
                }
            }
            Err(e) => s.push_str(&format!("header:  <{e}>\n")),
        }
    }
    s
}

/// [`exchange`] of a request built from its parts, for v1 and v2 both.
pub fn exchange_both(dev: &mut Device, op: Op, group: Group, id: u8, body: &Value) -> String {
    let mut s = String::from("--- SMP v1\n");
    s.push_str(&exchange(dev, &request(Version::V1, op, group, id, 1, body)));
    s.push_str("--- SMP v2\n");
    s.push_str(&exchange(dev, &request(Version::V2, op, group, id, 2, body)));
    s
}

/// A small k64f swap-scratch device running a 1.0.0 image.
pub fn small_device() -> Device {
    device("k64f", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1))
}
