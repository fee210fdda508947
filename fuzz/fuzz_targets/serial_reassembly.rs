//! Arbitrary bytes, in arbitrary chunks, through the streaming serial decoders; plus the
//! recovery invariant: a valid packet, framed and put between garbage, always comes out.
//!
//! Input layout (every field is optional; missing bytes read as 0):
//! `[flags] [line length] [packet length: 2] [garbage split: 2] rest…`
//! `rest` is used three ways: as a raw stream for the decoders, as the chunk sizes for feeding
//! it, and cut into garbage-before ‖ packet ‖ garbage-after for the invariant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smp::serial::{self, DecoderConfig, EncodeOptions, Event, LineSplit, RawDecoder, SerialDecoder};

fn byte(data: &[u8], i: usize) -> u8 {
    data.get(i).copied().unwrap_or(0)
}

/// Feed `stream` in chunks whose sizes cycle through `sizes` (each 1..=256), then finish.
fn run(config: DecoderConfig, stream: &[u8], sizes: &[u8]) -> Vec<Result<Event, serial::FrameError>> {
    let mut rx = SerialDecoder::with_config(config);
    let mut events = Vec::new();
    let mut at = 0;
    let mut i = 0;
    while at < stream.len() {
        let n = usize::from(sizes.get(i % sizes.len().max(1)).copied().unwrap_or(255)) + 1;
        let end = (at + n).min(stream.len());
        rx.push(&stream[at..end]);
        events.extend(std::iter::from_fn(|| rx.next_event()));
        at = end;
        i += 1;
    }
    rx.finish();
    events.extend(std::iter::from_fn(|| rx.next_event()));
    events
}

fuzz_target!(|data: &[u8]| {
    let flags = byte(data, 0);
    let rest = data.get(6..).unwrap_or(&[]);

    // 1. Whatever the bytes, decoding stays within its limits.
    let config = DecoderConfig {
        max_line_len: usize::from(byte(data, 1)) * 4,
        max_packet_len: usize::from(u16::from_be_bytes([byte(data, 2), byte(data, 3)])),
        markers_anywhere: flags & 1 != 0,
        report_text: flags & 2 != 0,
        max_text_len: usize::from(byte(data, 4)),
    };
    for event in run(config, rest, data) {
        match event {
            Ok(Event::Packet(p)) => assert!(p.bytes.len() <= config.max_packet_len),
            Ok(Event::Text(t)) => assert!(t.bytes.len() <= config.max_text_len),
            Err(e) => assert!(e.at.offset <= rest.len() as u64),
        }
    }
    let mut raw = RawDecoder::new(config.max_packet_len);
    raw.push(rest);
    raw.finish();
    let mut steps = 0;
    while let Some(p) = raw.next_packet() {
        if let Ok(p) = p {
            assert!(p.len() <= config.max_packet_len);
        }
        steps += 1;
        assert!(steps <= rest.len() + 1, "raw decoder stopped making progress");
    }

    // 2. A valid frame between garbage is always recovered.
    let split = if flags & 4 != 0 { LineSplit::Fill } else { LineSplit::Zephyr };
    let min = EncodeOptions::min_line_len(split);
    let max_line_len = min + usize::from(byte(data, 1)) % (serial::MAX_LINE_LEN + 1 - min);
    let options = EncodeOptions { max_line_len, split };
    let packet_len = 1 + usize::from(byte(data, 2)) * 4 + usize::from(byte(data, 3)) % 4;
    let cut = usize::from(u16::from_be_bytes([byte(data, 4), byte(data, 5)]));
    let cut = cut % (rest.len() + 1);
    let (before, after) = rest.split_at(cut);
    let (packet, after) = after.split_at(packet_len.min(after.len()));
    let packet = if packet.is_empty() { &[0x42][..] } else { packet };
    let Ok(frame) = serial::encode(packet, options) else {
        panic!("encoding {} bytes with {options:?} failed", packet.len())
    };
    let stream = [before, &frame, after].concat();
    let found = |events: &[Result<Event, serial::FrameError>]| {
        events.iter().any(|e| matches!(e, Ok(Event::Packet(p)) if p.bytes == packet))
    };
    let events = run(DecoderConfig::default(), &stream, data);
    assert!(found(&events), "framed packet lost between garbage: {events:?}");

    // A device only looks at line starts: there the garbage before the frame ends a line.
    if packet.len() <= serial::DEVICE_NETBUF_SIZE {
        let stream = [before, b"\n", &frame, after].concat();
        let events = run(DecoderConfig::device(serial::DEVICE_NETBUF_SIZE), &stream, data);
        assert!(found(&events), "device decoder lost the framed packet: {events:?}");
    }
});
