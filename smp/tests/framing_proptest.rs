//! Properties of the serial framing: encoding always obeys the line rules and round-trips, and
//! the streaming decoder recovers every packet from any chunking of a stream with garbage
//! (including marker look-alikes) between the frames, and never panics on random bytes.

use proptest::prelude::*;
use smp::serial::{self, DecoderConfig, EncodeOptions, Event, LineSplit, RawDecoder, SerialDecoder};

fn split() -> impl Strategy<Value = LineSplit> {
    prop_oneof![Just(LineSplit::Zephyr), Just(LineSplit::Fill)]
}

/// Encoder options with any line length from the least the split allows up to 300.
fn options() -> impl Strategy<Value = EncodeOptions> {
    split().prop_flat_map(|split| {
        (EncodeOptions::min_line_len(split)..=300usize)
            .prop_map(move |max_line_len| EncodeOptions { max_line_len, split })
    })
}

fn packet() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..700)
}

/// Bytes a console might carry between frames: log text, newlines, carriage returns, base64
/// characters, and halves and wholes of both markers.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..20),
        3 => "[ -~]{0,40}".prop_map(String::into_bytes),
        2 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n".to_vec()),
        1 => Just(vec![0x06]),
        1 => Just(vec![0x04]),
        1 => Just(vec![0x06, 0x09]),
        1 => Just(vec![0x04, 0x14]),
        1 => Just(b"\x06\x09AAAA".to_vec()),
        1 => Just(b"\x06\x09AP4J\n".to_vec()),
        1 => Just(b"\x04\x14QUJD\n".to_vec()),
        1 => "[A-Za-z0-9+/=]{0,30}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..6).prop_map(|v| v.concat())
}

/// Feed `stream` cut at `cuts` (positions taken modulo its length), then finish; every event.
fn run(config: DecoderConfig, stream: &[u8], cuts: &[usize]) -> Vec<Result<Event, serial::FrameError>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(0);
    points.push(stream.len());
    points.sort_unstable();
    let mut rx = SerialDecoder::with_config(config);
    let mut events = Vec::new();
    for w in points.windows(2) {
        rx.push(&stream[w[0]..w[1]]);
        events.extend(std::iter::from_fn(|| rx.next_event()));
    }
    rx.finish();
    events.extend(std::iter::from_fn(|| rx.next_event()));
    events
}

fn packets_of(events: &[Result<Event, serial::FrameError>]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(Event::Packet(p)) => Some(p.bytes.clone()),
            _ => None,
        })
        .collect()
}

/// Whether `packet` appears in `got` as a subsequence-preserving match of `want`.
fn contains_in_order(got: &[Vec<u8>], want: &[Vec<u8>]) -> bool {
    let mut it = got.iter();
    want.iter().all(|w| it.any(|g| g == w))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn encoding_obeys_the_line_rules_and_round_trips(packet in packet(), opts in options()) {
        let lines = serial::encode(&packet, opts).expect("valid options");
        let lines: Vec<&[u8]> = lines.split_inclusive(|&b| b == b'\n').collect();
        let mut body = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            prop_assert!(line.len() <= opts.max_line_len, "line {i} is {} bytes", line.len());
            prop_assert_eq!(line.last(), Some(&b'\n'));
            let marker = if i == 0 { [0x06, 0x09] } else { [0x04, 0x14] };
            prop_assert_eq!(&line[..2], &marker[..]);
            let text = &line[2..line.len() - 1];
            prop_assert!(!text.is_empty());
            if i + 1 < lines.len() {
                prop_assert_eq!(text.len() % 4, 0);
                prop_assert!(!text.contains(&b'='));
            }
            // Each line decodes on its own, as Zephyr's receiver does.
            body.extend(base64_decode(text));
        }
        prop_assert_eq!(body, serial::frame_body(&packet));
        let events = run(DecoderConfig::default(), &lines.concat(), &[]);
        prop_assert_eq!(packets_of(&events), vec![packet]);
    }

    #[test]
    fn zephyr_split_at_127_uses_93_then_90_raw_bytes(packet in packet()) {
        let lines = serial::encode(&packet, EncodeOptions::default()).expect("encodes");
        let lens: Vec<usize> = lines.split_inclusive(|&b| b == b'\n').map(<[u8]>::len).collect();
        // Every line fits 127 bytes and continuations carry at most 90 raw bytes (123-byte
        // lines). Only the last two lines can be short: the last because the data ran out,
        // the one before it when a byte was held back to keep the CRC company.
        prop_assert!(lens[0] <= 127);
        prop_assert!(lens[1..].iter().all(|&l| l <= 123), "{:?}", lens);
        if lens.len() >= 3 {
            prop_assert_eq!(lens[0], 127);
            prop_assert!(lens[1..lens.len() - 2].iter().all(|&l| l == 123), "{:?}", lens);
        }
    }

    #[test]
    fn every_packet_survives_garbage_and_any_chunking(
        frames in prop::collection::vec((packet(), options(), garbage()), 1..5),
        lead in garbage(),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let mut stream = lead;
        let mut want = Vec::new();
        for (packet, opts, garbage) in &frames {
            stream.extend(serial::encode(packet, *opts).expect("valid options"));
            stream.extend(garbage);
            want.push(packet.clone());
        }
        let events = run(DecoderConfig::default(), &stream, &cuts);
        let got = packets_of(&events);
        prop_assert!(contains_in_order(&got, &want), "want {} packets, got {}: {:?}", want.len(), got.len(), events);
    }

    #[test]
    fn a_device_decoder_recovers_frames_between_text_lines(
        frames in prop::collection::vec((prop::collection::vec(any::<u8>(), 1..384), garbage()), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        // A device only looks at line starts, so here the garbage ends with a newline.
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (packet, garbage) in &frames {
            stream.extend(garbage);
            stream.push(b'\n');
            stream.extend(serial::encode(packet, EncodeOptions::default()).expect("encodes"));
            want.push(packet.clone());
        }
        let events = run(DecoderConfig::device(384), &stream, &cuts);
        prop_assert!(contains_in_order(&packets_of(&events), &want), "{:?}", events);
    }

    #[test]
    fn random_bytes_never_panic_and_stay_within_limits(
        bytes in prop::collection::vec(any::<u8>(), 0..3000),
        cuts in prop::collection::vec(any::<usize>(), 0..30),
        max_line_len in 0usize..300,
        max_packet_len in 0usize..600,
        max_text_len in 0usize..100,
        markers_anywhere in any::<bool>(),
    ) {
        let config = DecoderConfig { max_line_len, max_packet_len, markers_anywhere, report_text: true, max_text_len };
        for event in run(config, &bytes, &cuts) {
            match event {
                Ok(Event::Packet(p)) => prop_assert!(p.bytes.len() <= max_packet_len),
                Ok(Event::Text(t)) => prop_assert!(t.bytes.len() <= max_text_len),
                Err(e) => prop_assert!(e.at.offset <= bytes.len() as u64),
            }
        }
    }

    #[test]
    fn base64ish_noise_never_panics(
        text in "[\\x06\\x09\\x04\\x14\\r\\nA-Za-z0-9+/=]{0,2000}",
        cuts in prop::collection::vec(any::<usize>(), 0..30),
    ) {
        let events = run(DecoderConfig { max_packet_len: 64, ..DecoderConfig::default() }, text.as_bytes(), &cuts);
        for p in packets_of(&events) {
            prop_assert!(p.len() <= 64);
        }
    }

    #[test]
    fn raw_mode_recovers_back_to_back_packets(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..20),
    ) {
        let mut stream = Vec::new();
        let mut want = Vec::new();
        for (i, payload) in payloads.iter().enumerate() {
            let mut p = vec![0x0a, 0, 0, 0, 0, 1, i as u8, 1];
            p[2..4].copy_from_slice(&(payload.len() as u16).to_be_bytes());
            p.extend_from_slice(payload);
            stream.extend_from_slice(&p);
            want.push(p);
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        points.extend([0, stream.len()]);
        points.sort_unstable();
        let mut rx = RawDecoder::new(2048);
        let mut got = Vec::new();
        for w in points.windows(2) {
            rx.push(&stream[w[0]..w[1]]);
            while let Some(p) = rx.next_packet() {
                got.push(p.expect("valid stream"));
            }
        }
        prop_assert_eq!(got, want);
    }

    #[test]
    fn raw_mode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2000), max in 0usize..1000) {
        let mut rx = RawDecoder::new(max);
        rx.push(&bytes);
        rx.finish();
        let mut n = 0;
        while let Some(p) = rx.next_packet() {
            if let Ok(p) = p {
                prop_assert!(p.len() <= max);
            }
            n += 1;
            prop_assert!(n <= bytes.len() + 1, "decoder makes progress");
        }
    }
}

/// Plain base64 decoding for the checks above (an independent little decoder, so the test does
/// not lean on the code under test).
fn base64_decode(text: &[u8]) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            other => panic!("not base64: {other:#x}"),
        }
    };
    let mut out = Vec::new();
    for group in text.chunks(4) {
        let data: Vec<u8> = group.iter().copied().filter(|&c| c != b'=').collect();
        let n = data.iter().enumerate().fold(0u32, |acc, (i, &c)| acc | val(c) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..data.len()]);
    }
    out
}
