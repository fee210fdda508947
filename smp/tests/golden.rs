//! Golden vectors from the reference (§13 of smp-protocol.md), byte for byte.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use smp::cbor::{MapStyle, Value};
use smp::error::{ErrorBody, GroupCode, GroupErr, ImageErr, MgmtErr};
use smp::groups::Empty;
use smp::groups::image::{
    HashArg, ImageSlotState, StateResponse, StateWriteRequest, UploadRequest, UploadResponse,
};
use smp::groups::os::{EchoRequest, EchoResponse};
use smp::header::{Group, Header, Op, Version};
use smp::message::{Message, Request, Response, ResponseBody};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    hex::decode(s).unwrap()
}

/// §13.3 reply packet (252 bytes).
const STATE_REPLY: &str = "
09 00 00 f4 00 01 01 00 bf 66 69 6d 61 67 65 73 9f bf 64 73 6c 6f 74 00 67 76 65 72 73 69 6f 6e
65 31 2e 30 2e 30 64 68 61 73 68 58 20 c7 ed eb d3 af 21 af 48 59 59 5b 11 2c b9 53 5e 6c 82 4c
72 27 a0 0e 42 49 68 ce f6 e9 d2 39 33 68 62 6f 6f 74 61 62 6c 65 f5 67 70 65 6e 64 69 6e 67 f4
69 63 6f 6e 66 69 72 6d 65 64 f5 66 61 63 74 69 76 65 f5 69 70 65 72 6d 61 6e 65 6e 74 f4 ff bf
64 73 6c 6f 74 01 67 76 65 72 73 69 6f 6e 65 31 2e 31 2e 30 64 68 61 73 68 58 20 96 ec 7b 6c 35
48 73 66 cc 96 23 32 8f 2c 72 f8 78 33 98 5b 58 c2 74 1c 48 1d ae 42 af f0 4a 44 68 62 6f 6f 74
61 62 6c 65 f5 67 70 65 6e 64 69 6e 67 f5 69 63 6f 6e 66 69 72 6d 65 64 f4 66 61 63 74 69 76 65
f4 69 70 65 72 6d 61 6e 65 6e 74 f4 ff ff 6b 73 70 6c 69 74 53 74 61 74 75 73 00 ff";

const H0: &str = "c7edebd3af21af4859595b112cb9535e6c824c7227a00e424968cef6e9d23933";
const H1: &str = "96ec7b6c35487366cc9623328f2c72f87833985b58c2741c481dae42aff04a44";

fn sample_state() -> StateResponse {
    StateResponse::zephyr(vec![
        ImageSlotState {
            image: None,
            slot: 0,
            version: "1.0.0".into(),
            hash: Some(hex(H0)),
            bootable: true,
            pending: false,
            confirmed: true,
            active: true,
            permanent: false,
        },
        ImageSlotState {
            image: None,
            slot: 1,
            version: "1.1.0".into(),
            hash: Some(hex(H1)),
            bootable: true,
            pending: true,
            confirmed: false,
            active: false,
            permanent: false,
        },
    ])
}

#[test]
fn echo_request_v1_and_v2() {
    let echo = Request::Echo(EchoRequest { d: Some("hello".into()) });
    let v1 = echo.encode(0, Version::V1, MapStyle::Definite).unwrap();
    assert_eq!(v1, hex("02 00 00 09 00 00 00 00 a1 61 64 65 68 65 6c 6c 6f"));
    let v2 = echo.encode(0, Version::V2, MapStyle::Definite).unwrap();
    assert_eq!(v2, hex("0a 00 00 09 00 00 00 00 a1 61 64 65 68 65 6c 6c 6f"));
    for bytes in [v1, v2] {
        let (_, parsed, rest) = Request::decode(&bytes).unwrap();
        assert_eq!(parsed, echo);
        assert!(rest.is_empty());
    }
}

#[test]
fn zephyr_echo_reply_is_an_indefinite_map() {
    let request = Header::parse(&hex("02 00 00 09 00 00 00 00")).unwrap().0;
    let reply = Response::Ok(ResponseBody::Echo(EchoResponse { r: "hello".into() }));
    let bytes = reply.encode(&request, MapStyle::Indefinite).unwrap();
    assert_eq!(bytes, hex("03 00 00 0a 00 00 00 00 bf 61 72 65 68 65 6c 6c 6f ff"));
    let (header, parsed, _) = Response::decode(&bytes).unwrap();
    assert_eq!((header.op, header.version), (Op::WriteRsp, Version::V1));
    assert_eq!(parsed, reply);
}

#[test]
fn image_state_read_request_both_forms() {
    let with_map = hex("08 00 00 01 00 01 01 00 a0");
    let empty = hex("08 00 00 00 00 01 01 00");
    assert_eq!(Request::ImageStateRead(Empty).encode(1, Version::V2, MapStyle::Definite).unwrap(), with_map);
    for bytes in [with_map, empty] {
        let (h, r, _) = Request::decode(&bytes).unwrap();
        assert_eq!((h.seq, h.group, r), (1, Group::Image, Request::ImageStateRead(Empty)));
    }
}

#[test]
fn full_state_reply_is_byte_exact_zephyr_style_and_decodes_back() {
    let request = Header::new(Version::V2, Op::Read, Group::Image, 0, 1, 0);
    let reply = Response::Ok(ResponseBody::ImageStateRead(sample_state()));
    let bytes = reply.encode(&request, MapStyle::Indefinite).unwrap();
    assert_eq!(bytes.len(), 252);
    assert_eq!(hex::encode(&bytes), hex::encode(hex(STATE_REPLY)));
    let golden = hex(STATE_REPLY);
    let (header, parsed, rest) = Response::decode(&golden).unwrap();
    assert!(rest.is_empty());
    assert_eq!(header.len, 244);
    assert_eq!(parsed, reply);
    // The definite (client-style) encoding of the same reply decodes to the same thing.
    let definite = reply.encode(&request, MapStyle::Definite).unwrap();
    assert_eq!(Response::decode(&definite).unwrap().1, reply);
}

#[test]
fn state_write_test_and_confirm() {
    let test = Request::ImageStateWrite(StateWriteRequest::test(&hex(H1)));
    let want = format!("0a 00 00 31 00 01 02 00 a2 64 68 61 73 68 58 20 {H1} 67 63 6f 6e 66 69 72 6d f4");
    assert_eq!(test.encode(2, Version::V2, MapStyle::Definite).unwrap(), hex(&want));
    let confirm = Request::ImageStateWrite(StateWriteRequest::confirm(None));
    let want = hex("0a 00 00 0a 00 01 03 00 a1 67 63 6f 6e 66 69 72 6d f5");
    assert_eq!(confirm.encode(3, Version::V2, MapStyle::Definite).unwrap(), want);
    let (_, Request::ImageStateWrite(parsed), _) = Request::decode(&hex(&format!(
        "0a 00 00 31 00 01 02 00 a2 64 68 61 73 68 58 20 {H1} 67 63 6f 6e 66 69 72 6d f4"
    )))
    .unwrap() else {
        panic!("not a state write");
    };
    assert_eq!(parsed.hash, Some(HashArg::Bytes(hex(H1))));
    assert!(!parsed.is_confirm());
}

#[test]
fn v2_group_error_reply() {
    let bytes = hex("0b 00 00 13 00 01 02 00 bf 63 65 72 72 bf 65 67 72 6f 75 70 01 62 72 63 08 ff ff");
    let (_, parsed, _) = Response::decode(&bytes).unwrap();
    let Response::Err(e) = &parsed else { panic!("not an error") };
    assert_eq!(e.err.unwrap().code(), GroupCode::Image(ImageErr::HashNotFound));
    let request = Header::new(Version::V2, Op::Write, Group::Image, 0, 2, 0);
    let ours = Response::Err(ErrorBody::group(GroupErr::new(Group::Image, 8)));
    assert_eq!(ours.encode(&request, MapStyle::Indefinite).unwrap(), bytes);
    assert_eq!(parsed, ours);
}

#[test]
fn v1_generic_error_reply() {
    let bytes = hex("01 00 00 06 00 00 00 03 bf 62 72 63 08 ff");
    let request = Header::new(Version::V1, Op::Read, Group::Os, 3, 0, 0);
    let ours = Response::Err(ErrorBody::rc(MgmtErr::ENotSup));
    assert_eq!(ours.encode(&request, MapStyle::Indefinite).unwrap(), bytes);
    assert_eq!(Response::decode(&bytes).unwrap().1, ours);
}

#[test]
fn upload_first_chunk_and_reply() {
    let sha: Vec<u8> = (0..32).map(|i| 0xa0 ^ i).collect();
    let mut data = vec![0x3d, 0xb8, 0xf3, 0x96];
    data.extend((4..32).map(|i| i as u8));
    let upload = Request::ImageUpload(UploadRequest {
        image: Some(0),
        len: Some(0x448),
        off: 0,
        sha: Some(sha.clone()),
        data: data.clone(),
        upgrade: Some(false),
    });
    let want = format!(
        "0a 00 00 6a 00 01 04 01 a6 65 69 6d 61 67 65 00 63 6c 65 6e 19 04 48 63 6f 66 66 00 \
         63 73 68 61 58 20 {} 64 64 61 74 61 58 20 {} 67 75 70 67 72 61 64 65 f4",
        hex::encode(&sha),
        hex::encode(&data)
    );
    let bytes = upload.encode(4, Version::V2, MapStyle::Definite).unwrap();
    assert_eq!(hex::encode(&bytes), hex::encode(hex(&want)));
    assert_eq!(Request::decode(&bytes).unwrap().1, upload);

    let (request, ..) = Request::decode(&bytes).unwrap();
    let reply = Response::Ok(ResponseBody::ImageUpload(UploadResponse { off: 32, matched: None }));
    let reply_bytes = reply.encode(&request, MapStyle::Indefinite).unwrap();
    assert_eq!(reply_bytes, hex("0b 00 00 08 00 01 04 01 bf 63 6f 66 66 18 20 ff"));
    assert_eq!(Response::decode(&reply_bytes).unwrap().1, reply);
}

#[test]
fn reply_with_legacy_rc_zero_is_success() {
    let bytes = hex("0b 00 00 0c 00 01 04 01 bf 62 72 63 00 63 6f 66 66 18 20 ff");
    let (_, r, _) = Response::decode(&bytes).unwrap();
    assert_eq!(r, Response::Ok(ResponseBody::ImageUpload(UploadResponse { off: 32, matched: None })));
}

#[test]
fn message_layer_round_trips_the_state_reply() {
    let (m, _) = Message::parse(&hex(STATE_REPLY)).unwrap();
    assert!(matches!(m.body, Some(Value::Map(_))));
    assert_eq!(m.encode(MapStyle::Indefinite).unwrap(), hex(STATE_REPLY));
}
