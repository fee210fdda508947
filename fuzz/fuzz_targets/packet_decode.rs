//! Bytes → SMP header + CBOR body + typed request and response, the way a server and a client
//! read what arrives; and the UDP datagram splitter over the same bytes.
//!
//! Must never panic, hang or allocate without bound, whatever the bytes. A message that types
//! as a request or reply must encode, decode and encode again to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smp::cbor::MapStyle;
use smp::header::Header;
use smp::message::{self, Message, Request, Response};
use smp::udp;

fuzz_target!(|data: &[u8]| {
    if let Ok((header, _)) = Header::parse(data) {
        let _ = header.to_string();
        assert_eq!(Header::from_bytes(&header.encode()), header);
        let _ = message::command_name(&header);
    }

    // Every message of the buffer, as a server (requests) and as a client (replies) would.
    for packet in message::packets(data) {
        let Ok(packet) = packet else { break };
        let Ok(m) = Message::from_packet(&packet, &smp::cbor::Limits::default()) else { continue };
        if let Some(body) = &m.body {
            let _ = body.to_string();
        }
        if let Ok(request) = Request::from_message(&m) {
            let _ = request.command_name();
            if let Ok(bytes) = request.encode(packet.header.seq, packet.header.version, MapStyle::Definite) {
                let Ok((h, again, _)) = Request::decode(&bytes) else {
                    panic!("re-encoded request does not decode: {request:?}")
                };
                let twice = again.encode(h.seq, h.version, MapStyle::Definite).ok();
                assert_eq!(twice.as_ref(), Some(&bytes), "request encoding is not stable: {request:?}");
            }
        }
        if let Ok(response) = Response::from_message(&m) {
            let _ = response.is_ok();
            if let Ok(bytes) = response.encode_with_header(packet.header, MapStyle::Indefinite) {
                let Ok((h, again, _)) = Response::decode(&bytes) else {
                    panic!("re-encoded response does not decode: {response:?}")
                };
                let twice = again.encode_with_header(h, MapStyle::Indefinite).ok();
                assert_eq!(twice.as_ref(), Some(&bytes), "response encoding is not stable: {response:?}");
            }
        }
    }

    if let Ok(messages) = udp::messages(data, udp::Limits::default()) {
        let mut end = 0;
        for message in messages {
            let Ok(message) = message else { break };
            assert_eq!(message.offset, end);
            end += message.bytes.len();
        }
        assert!(end <= data.len());
    }
});
