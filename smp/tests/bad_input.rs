//! Bad input from outside gets a typed error that names what was wrong and where.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use smp::cbor::{self, BodyError, CborError, CborErrorKind, Limits, Value};
use smp::header::HeaderError;
use smp::message::{self, AnyMessage, Message, MessageError, PacketError, Request, Response};

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}

#[test]
fn header_declares_more_bytes_than_present() {
    // Echo, header len 9, only 4 payload bytes.
    let bytes = hex("0a 00 00 09 00 00 00 00 a1 61 64 65");
    let e = Request::decode(&bytes).unwrap_err();
    let MessageError::Packet(PacketError::Truncated { header, declared, available }) = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*declared, *available, header.seq), (9, 4, 0));
    assert_eq!(e.to_string(), "header declares 9 payload bytes but only 4 follow it");
    // In a buffer of several messages, the good ones come out before the error.
    let mut buf = hex("08 00 00 01 00 00 01 06 a0");
    buf.extend_from_slice(&bytes);
    let all: Vec<_> = message::packets(&buf).collect();
    assert!(all[0].is_ok());
    assert!(matches!(all[1], Err(PacketError::Truncated { declared: 9, available: 4, .. })));
}

#[test]
fn fewer_than_eight_bytes_is_a_header_error() {
    let e = Message::parse(&hex("0a 00 00")).unwrap_err();
    assert_eq!(e, MessageError::Packet(PacketError::Header(HeaderError::TooShort { available: 3 })));
    assert_eq!(e.to_string(), "SMP header needs 8 bytes but only 3 are present");
}

#[test]
fn wrong_key_type_names_key_expected_and_found() {
    // Image upload with "off" as a text string.
    let bytes = hex("0a 00 00 0d 00 01 00 01 a2 63 6f 66 66 61 30 64 64 61 74 61 40");
    let e = Request::decode(&bytes).unwrap_err();
    assert_eq!(
        e,
        MessageError::Body {
            command: "image upload".into(),
            source: BodyError::WrongType {
                key: "off".into(),
                expected: "unsigned integer",
                found: "text string"
            }
        }
    );
    assert_eq!(
        e.to_string(),
        "body of image upload: key \"off\": expected unsigned integer, found text string"
    );
    // An image state reply with a bool where the slot number goes: the path names the entry.
    let reply = hex(
        "09 00 00 1c 00 01 00 00 bf 66 69 6d 61 67 65 73 9f bf 64 73 6c 6f 74 f5 67 76 65 72 73 69 6f 6e 60 ff ff ff",
    );
    let e = Response::decode(&reply).unwrap_err();
    assert_eq!(
        e.to_string(),
        "body of image state read: key \"images[0].slot\": expected unsigned integer, found bool"
    );
}

#[test]
fn missing_required_key_is_named() {
    // FS download without "name".
    let bytes = hex("08 00 00 06 00 08 00 00 a1 63 6f 66 66 00");
    let e = Request::decode(&bytes).unwrap_err();
    assert_eq!(
        e,
        MessageError::Body {
            command: "fs download".into(),
            source: BodyError::MissingKey { key: "name".into() }
        }
    );
    // Echo reply without "r".
    let reply = hex("0b 00 00 02 00 00 00 00 bf ff");
    assert_eq!(
        Response::decode(&reply).unwrap_err().to_string(),
        "body of os echo: required key \"r\" is missing"
    );
}

#[test]
fn duplicate_known_key_and_non_text_key_are_refused() {
    let dup = hex("0a 00 00 07 00 00 00 00 a2 61 64 60 61 64 60");
    assert_eq!(
        Request::decode(&dup).unwrap_err(),
        MessageError::Body { command: "os echo".into(), source: BodyError::DuplicateKey { key: "d".into() } }
    );
    let int_key = hex("0a 00 00 03 00 00 00 00 a1 01 02");
    assert!(matches!(
        Request::decode(&int_key).unwrap_err(),
        MessageError::Body { source: BodyError::NonTextKey { .. }, .. }
    ));
}

#[test]
fn depth_bomb_is_refused_at_the_limit() {
    // 1000 nested single-element arrays inside an echo body.
    let mut body = vec![0xa1, 0x61, b'd'];
    body.extend(std::iter::repeat_n(0x81, 1000));
    body.push(0x00);
    let mut bytes = hex("0a 00 00 00 00 00 00 00");
    bytes[2..4].copy_from_slice(&(body.len() as u16).to_be_bytes());
    bytes.extend_from_slice(&body);
    let e = AnyMessage::decode(&bytes).unwrap_err();
    let MessageError::Cbor { command, source } = &e else { panic!("{e:?}") };
    assert_eq!(command, "os echo");
    assert_eq!(source.kind, CborErrorKind::TooDeep { max: 16 });
    assert_eq!(source.offset, 3 + 15);
    // Indefinite nesting too.
    let bomb = vec![0x9f; 5000];
    assert_eq!(cbor::decode(&bomb).unwrap_err().kind, CborErrorKind::TooDeep { max: 16 });
}

#[test]
fn huge_declared_lengths_are_refused_without_allocating() {
    // A text string claiming 4 GiB, a byte string claiming 2^64-1, an array claiming 2^32-1 items,
    // a map claiming 2^64-1 entries — each in a few bytes of input.
    for (input, check) in [
        ("7a ff ff ff ff 61", "StringTooLong"),
        ("5b ff ff ff ff ff ff ff ff", "StringTooLong"),
        ("9a ff ff ff ff 00", "CountExceedsInput"),
        ("bb ff ff ff ff ff ff ff ff 00", "CountExceedsInput"),
        ("59 01 00 00 00", "LengthExceedsInput"),
    ] {
        let e = cbor::decode(&hex(input)).unwrap_err();
        assert!(format!("{:?}", e.kind).starts_with(check), "{input}: {e}");
        assert_eq!(e.offset, 0);
    }
    let e = cbor::decode(&hex("59 01 00 00 00")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "CBOR error at byte 0: declared length 256 exceeds the 2 bytes left in the input"
    );
}

#[test]
fn item_and_size_limits_are_enforced_and_named() {
    let limits = Limits { max_items: 3, ..Limits::default() };
    let e = cbor::decode_with(&hex("84 01 02 03 04"), &limits).unwrap_err();
    assert_eq!(e, CborError { offset: 3, kind: CborErrorKind::TooManyItems { max: 3 } });
    let (m, _) = Message::parse_with(&hex("08 00 00 03 00 00 00 06 82 01 02"), &limits).unwrap();
    assert_eq!(m.body, Some(Value::Array(vec![1u8.into(), 2u8.into()])));
}

#[test]
fn trailing_bytes_inside_the_payload_are_reported() {
    let bytes = hex("08 00 00 02 00 00 00 06 a0 00");
    let e = Request::decode(&bytes).unwrap_err();
    let MessageError::Cbor { source, .. } = e else { panic!() };
    assert_eq!(source, CborError { offset: 1, kind: CborErrorKind::TrailingBytes { count: 1 } });
}

#[test]
fn error_bodies_with_wrong_types_are_refused() {
    let bytes = hex("0b 00 00 0a 00 01 00 00 bf 63 65 72 72 63 62 61 64 ff");
    let e = Response::decode(&bytes).unwrap_err();
    assert!(e.to_string().contains("key \"err\": expected map, found text string"), "{e}");
}

/// Found by the `cbor_decode` fuzz target in CI's smoke run: a chunk of an indefinite-length
/// byte string declaring a length near u64::MAX after earlier chunks overflowed the running
/// total. It must be a typed "string too long" error under both limit sets.
#[test]
fn chunked_string_with_a_huge_chunk_length_is_an_error_not_an_overflow() {
    let mut data = vec![0x5f, 0x41, b'A', 0x41, b',', 0x41, b'A', 0x41, b'A', 0x41, 0x00, 0x5b];
    data.extend(std::iter::repeat_n(0xff, 8));
    data.push(0xff);
    let tight = Limits { max_depth: 4, max_items: 64, max_string_len: 64, max_total: 256 };
    for limits in [Limits::default(), tight] {
        let err = cbor::decode_with(&data, &limits).unwrap_err();
        assert!(matches!(err.kind, CborErrorKind::StringTooLong { .. }), "{err}");
        assert!(cbor::decode_prefix(&data, &limits).is_err());
    }
}
