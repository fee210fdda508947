//! Bytes → SMP header + CBOR body, and the UDP datagram splitter over the same bytes.
//!
//! Must never panic, hang or allocate without bound, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smp::{cbor, header::Header, udp};

fuzz_target!(|data: &[u8]| {
    if let Ok((header, rest)) = Header::parse(data) {
        let _ = header.to_string();
        assert_eq!(Header::from_bytes(&header.encode()), header);
        let body = &rest[..rest.len().min(usize::from(header.len))];
        if let Ok(value) = cbor::decode(body) {
            let _ = value.to_string();
        }
    }
    if let Ok(messages) = udp::messages(data, udp::Limits::default()) {
        let mut end = 0;
        for message in messages {
            let Ok(message) = message else { break };
            assert_eq!(message.offset, end);
            end += message.bytes.len();
            let _ = cbor::decode(message.payload());
        }
        assert!(end <= data.len());
    }
});
