//! UDP packing: round trips, several messages per datagram, and every size error.

use proptest::prelude::*;
use smp::header::{Group, Header, Op, Version};
use smp::udp::{self, Limits, UdpError};

fn hex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("test vector is hex")
}

/// Echo `{"d":"hello"}` v2 write (reference §13.1): over UDP just the 17 packet bytes.
const ECHO_V2: &str = "0a 00 00 09 00 00 00 00 a1 61 64 65 68 65 6c 6c 6f";
/// v2 group error reply "hash not found" (§13.4).
const HASH_NOT_FOUND: &str =
    "0b 00 00 13 00 01 02 00 bf 63 65 72 72 bf 65 67 72 6f 75 70 01 62 72 63 08 ff ff";

fn all(datagram: &[u8], limits: Limits) -> Result<Vec<Result<udp::Message<'_>, UdpError>>, UdpError> {
    Ok(udp::messages(datagram, limits)?.collect())
}

#[test]
fn one_message_per_datagram_is_the_packet_itself() {
    let echo = hex(ECHO_V2);
    let datagram = udp::pack(&[&echo], Limits::default()).expect("packs");
    assert_eq!(datagram, echo);
    let got = all(&datagram, Limits::default()).expect("accepted");
    let [Ok(m)] = got.as_slice() else { panic!("{got:?}") };
    assert_eq!(m.header, Header::new(Version::V2, Op::Write, Group::Os, 0, 0, 9));
    assert_eq!(m.payload(), &echo[8..]);
}

#[test]
fn several_messages_are_split_by_header_length() {
    let (a, b) = (hex(ECHO_V2), hex(HASH_NOT_FOUND));
    let empty = hex("08 00 00 00 00 01 01 00");
    let datagram = udp::pack(&[&a, &empty, &b], Limits::default()).expect("packs");
    let got = all(&datagram, Limits::default()).expect("accepted");
    let got: Vec<(usize, &[u8])> =
        got.iter().map(|m| m.as_ref().map(|m| (m.offset, m.bytes)).expect("valid")).collect();
    assert_eq!(got, vec![(0, &a[..]), (17, &empty[..]), (25, &b[..])]);
}

#[test]
fn truncated_header_ends_the_datagram() {
    let mut datagram = hex(ECHO_V2);
    datagram.extend_from_slice(&[0x0a, 0x00, 0x00]);
    let got = all(&datagram, Limits::default()).expect("accepted");
    assert_eq!(got.len(), 2);
    assert!(got[0].is_ok());
    assert_eq!(got[1], Err(UdpError::TruncatedHeader { offset: 17, available: 3 }));
}

#[test]
fn truncated_payload_carries_the_header_for_an_error_reply() {
    let echo = hex(ECHO_V2);
    let short = &echo[..12];
    let got = all(short, Limits::default()).expect("accepted");
    let [Err(UdpError::TruncatedPayload { offset: 0, header, declared: 9, available: 4 })] = got.as_slice()
    else {
        panic!("{got:?}")
    };
    assert_eq!(header.group, Group::Os);
    assert_eq!(
        got[0].as_ref().err().map(ToString::to_string).as_deref(),
        Some("byte 0: header announces 9 payload bytes but only 4 follow")
    );
    // Nothing after the first bad message is looked at.
    let mut two = echo.clone();
    two[3] = 50;
    two.extend_from_slice(&echo);
    let got = all(&two, Limits::default()).expect("accepted");
    assert!(matches!(got[..], [Err(UdpError::TruncatedPayload { declared: 50, available: 26, .. })]));
}

#[test]
fn datagram_size_limits() {
    assert_eq!(udp::messages(&[], Limits::default()).err(), Some(UdpError::Empty));
    let limits = Limits { mtu: 20, netbuf_size: 30 };
    let echo = hex(ECHO_V2);
    assert_eq!(udp::pack(&[&echo, &echo], limits), Err(UdpError::OverMtu { len: 34, mtu: 20 }));
    assert!(udp::pack(&[&echo], limits).is_ok());
    let two = [echo.clone(), echo.clone()].concat();
    assert_eq!(udp::messages(&two, limits).err(), Some(UdpError::OverBuffer { len: 34, netbuf_size: 30 }));
    // Defaults are Zephyr's: 1500 out, 2048 in.
    assert_eq!(Limits::default(), Limits { mtu: 1500, netbuf_size: 2048 });
    assert_eq!(udp::DEFAULT_PORT, 1337);
    let big = [vec![0x0a, 0, 0x05, 0xd4, 0, 1, 0, 1], vec![0; 1492]].concat();
    assert_eq!(big.len(), 1500);
    assert!(udp::pack(&[&big], Limits::default()).is_ok());
    let bigger = [vec![0x0a, 0, 0x05, 0xd5, 0, 1, 0, 1], vec![0; 1493]].concat();
    assert_eq!(udp::pack(&[&bigger], Limits::default()), Err(UdpError::OverMtu { len: 1501, mtu: 1500 }));
    assert!(udp::messages(&bigger, Limits::default()).is_ok());
}

#[test]
fn pack_refuses_messages_the_receiver_could_not_split() {
    let echo = hex(ECHO_V2);
    assert_eq!(
        udp::pack(&[&echo, &echo[..16]], Limits::default()),
        Err(UdpError::LengthMismatch { index: 1, declared: 9, actual: 8 })
    );
    assert_eq!(udp::pack(&[&echo[..5]], Limits::default()), Err(UdpError::ShortMessage { index: 0, len: 5 }));
    assert_eq!(udp::pack(&[], Limits::default()), Err(UdpError::Empty));
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    (any::<[u8; 8]>(), prop::collection::vec(any::<u8>(), 0..200)).prop_map(|(mut h, payload)| {
        h[2..4].copy_from_slice(&(payload.len() as u16).to_be_bytes());
        [h.to_vec(), payload].concat()
    })
}

proptest! {
    #[test]
    fn pack_then_split_round_trips(msgs in prop::collection::vec(message(), 1..8)) {
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let limits = Limits { mtu: 4096, netbuf_size: 4096 };
        let datagram = udp::pack(&refs, limits).expect("fits");
        let got: Vec<Vec<u8>> = udp::messages(&datagram, limits)
            .expect("accepted")
            .map(|m| m.map(|m| m.bytes.to_vec()))
            .collect::<Result<_, _>>()
            .expect("valid");
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn random_datagrams_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        if let Ok(iter) = udp::messages(&bytes, Limits::default()) {
            let mut covered = 0;
            for m in iter {
                match m {
                    Ok(m) => {
                        prop_assert_eq!(m.offset, covered);
                        covered += m.bytes.len();
                    }
                    Err(_) => break,
                }
            }
            prop_assert!(covered <= bytes.len());
        }
    }
}
