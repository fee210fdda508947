//! Serial framing against the worked examples of the reference (smp-protocol.md §12–§13) and the
//! bytes third-party clients were seen to write (dependencies-and-peers.md), plus one crafted
//! input per error kind, each followed by a valid frame that must still come through.

use smp::serial::{
    self, ConsoleText, DecoderConfig, EncodeError, EncodeOptions, Event, FrameError, FrameErrorKind,
    LineSplit, RawDecoder, RawError, ReceivedPacket, SerialDecoder, crc16,
};

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).expect("test vector is hex")
}

/// Echo `{"d":"hello"}`, v1 write, seq 0 (§13.1).
const ECHO_V1: &str = "02 00 00 09 00 00 00 00 a1 61 64 65 68 65 6c 6c 6f";
/// The same as v2 (§13.1).
const ECHO_V2: &str = "0a 00 00 09 00 00 00 00 a1 61 64 65 68 65 6c 6c 6f";
/// Zephyr's echo reply, indefinite map (§13.1).
const ECHO_V1_REPLY: &str = "03 00 00 0a 00 00 00 00 bf 61 72 65 68 65 6c 6c 6f ff";

/// Image state reply of §13.3 (252 bytes).
const STATE_REPLY: &str = "
09 00 00 f4 00 01 01 00 bf 66 69 6d 61 67 65 73 9f bf 64 73 6c 6f 74 00 67 76 65 72 73 69 6f 6e
65 31 2e 30 2e 30 64 68 61 73 68 58 20 c7 ed eb d3 af 21 af 48 59 59 5b 11 2c b9 53 5e 6c 82 4c
72 27 a0 0e 42 49 68 ce f6 e9 d2 39 33 68 62 6f 6f 74 61 62 6c 65 f5 67 70 65 6e 64 69 6e 67 f4
69 63 6f 6e 66 69 72 6d 65 64 f5 66 61 63 74 69 76 65 f5 69 70 65 72 6d 61 6e 65 6e 74 f4 ff bf
64 73 6c 6f 74 01 67 76 65 72 73 69 6f 6e 65 31 2e 31 2e 30 64 68 61 73 68 58 20 96 ec 7b 6c 35
48 73 66 cc 96 23 32 8f 2c 72 f8 78 33 98 5b 58 c2 74 1c 48 1d ae 42 af f0 4a 44 68 62 6f 6f 74
61 62 6c 65 f5 67 70 65 6e 64 69 6e 67 f5 69 63 6f 6e 66 69 72 6d 65 64 f4 66 61 63 74 69 76 65
f4 69 70 65 72 6d 61 6e 65 6e 74 f4 ff ff 6b 73 70 6c 69 74 53 74 61 74 75 73 00 ff";

const STATE_REPLY_LINES: [&[u8]; 3] = [
    b"\x06\x09AP4JAAD0AAEBAL9maW1hZ2Vzn79kc2xvdABndmVyc2lvbmUxLjAuMGRoYXNoWCDH7evTryGvSFlZWxEsuVNebIJMciegDkJJaM726dI5M2hib290YWJsZfVncGVu\n",
    b"\x04\x14ZGluZ/RpY29uZmlybWVk9WZhY3RpdmX1aXBlcm1hbmVudPT/v2RzbG90AWd2ZXJzaW9uZTEuMS4wZGhhc2hYIJbse2w1SHNmzJYjMo8scvh4M5hbWMJ0HEgd\n",
    b"\x04\x14rkKv8EpEaGJvb3RhYmxl9WdwZW5kaW5n9Wljb25maXJtZWT0ZmFjdGl2ZfRpcGVybWFuZW509P//a3NwbGl0U3RhdHVzAP+aQA==\n",
];

/// (packet, serial line) pairs of the reference and of real clients.
fn single_line_vectors() -> Vec<(Vec<u8>, &'static [u8])> {
    vec![
        (hex(ECHO_V1), b"\x06\x09ABMCAAAJAAAAAKFhZGVoZWxsbyVv\n"),
        (hex(ECHO_V1_REPLY), b"\x06\x09ABQDAAAKAAAAAL9hcmVoZWxsb/8GPg==\n"),
        (hex(ECHO_V2), b"\x06\x09ABMKAAAJAAAAAKFhZGVoZWxsb6J/\n"),
        // Python smp's documentation vector: not SMP, just bytes.
        (b"Hello, world!".to_vec(), b"\x06\x09AA9IZWxsbywgd29ybGQhet4=\n"),
        // §13.2 image state read, with `{}` and with no payload.
        (hex("08 00 00 01 00 01 01 00 a0"), b"\x06\x09AAsIAAABAAEBAKCYMQ==\n"),
        (hex("08 00 00 00 00 01 01 00"), b"\x06\x09AAoIAAAAAAEBABrb\n"),
        // smpmgr 0.19.1 `os echo hello`: MCUmgr params probe, then the echo (seq 1).
        (hex("08 00 00 01 00 00 00 06 a0"), b"\x06\x09AAsIAAABAAAABqBzEw==\n"),
        (
            hex("0a 00 00 09 00 00 01 00 a1 61 64 65 68 65 6c 6c 6f"),
            b"\x06\x09ABMKAAAJAAABAKFhZGVoZWxsb3o2\n",
        ),
    ]
}

/// Every event of `input` fed in one piece, then finished.
fn decode_all(config: DecoderConfig, input: &[u8]) -> Vec<Result<Event, FrameError>> {
    let mut rx = SerialDecoder::with_config(config);
    rx.push(input);
    rx.finish();
    std::iter::from_fn(|| rx.next_event()).collect()
}

fn packets(events: &[Result<Event, FrameError>]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Ok(Event::Packet(p)) => Some(p.bytes.clone()),
            _ => None,
        })
        .collect()
}

fn errors(events: &[Result<Event, FrameError>]) -> Vec<FrameErrorKind> {
    events.iter().filter_map(|e| e.as_ref().err().map(|e| e.kind.clone())).collect()
}

#[test]
fn crc_of_reference_packets() {
    assert_eq!(crc16(&hex(ECHO_V1)), 0x256F);
    assert_eq!(crc16(&hex(ECHO_V1_REPLY)), 0x063E);
    assert_eq!(crc16(&hex(ECHO_V2)), 0xA27F);
    assert_eq!(crc16(&hex("08 00 00 01 00 01 01 00 a0")), 0x9831);
    assert_eq!(crc16(&hex("08 00 00 00 00 01 01 00")), 0x1ADB);
    assert_eq!(crc16(&hex(STATE_REPLY)), 0x9A40);
}

#[test]
fn echo_body_layout() {
    assert_eq!(
        serial::frame_body(&hex(ECHO_V1)),
        hex("00 13 02 00 00 09 00 00 00 00 a1 61 64 65 68 65 6c 6c 6f 25 6f")
    );
}

#[test]
fn single_line_vectors_encode_byte_exact_with_both_splits() {
    for (packet, line) in single_line_vectors() {
        for split in [LineSplit::Zephyr, LineSplit::Fill] {
            let opts = EncodeOptions { max_line_len: 127, split };
            let got = serial::encode(&packet, opts).expect("encodes");
            assert_eq!(got, line, "{split:?} framing of {}", hex::encode(&packet));
        }
    }
}

#[test]
fn single_line_vectors_decode() {
    for (packet, line) in single_line_vectors() {
        let events = decode_all(DecoderConfig::default(), line);
        assert_eq!(events.len(), 1, "{events:?}");
        let Ok(Event::Packet(p)) = &events[0] else { panic!("{events:?}") };
        assert_eq!(p.bytes, packet);
        assert_eq!(p.lines, 1);
        assert_eq!(p.start, serial::Position { line: 1, offset: 0 });
    }
}

#[test]
fn zephyr_split_reproduces_the_three_line_state_reply() {
    let packet = hex(STATE_REPLY);
    assert_eq!(packet.len(), 252);
    let got = serial::encode(&packet, EncodeOptions::default()).expect("encodes");
    let want: Vec<u8> = STATE_REPLY_LINES.concat();
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(&want));
    let lens: Vec<usize> = got.split_inclusive(|&b| b == b'\n').map(<[u8]>::len).collect();
    assert_eq!(lens, [127, 123, 103]);
}

#[test]
fn fill_split_cuts_every_124_characters() {
    let packet = hex(STATE_REPLY);
    let got = serial::encode(&packet, EncodeOptions::fill(127)).expect("encodes");
    let lines: Vec<&[u8]> = got.split_inclusive(|&b| b == b'\n').collect();
    // 256 body bytes = 344 base64 characters: 124 + 124 + 96.
    let lens: Vec<usize> = lines.iter().map(|l| l.len()).collect();
    assert_eq!(lens, [127, 127, 99]);
    assert!(lines[0].starts_with(&[6, 9]) && lines[1].starts_with(&[4, 0x14]));
    // Same base64 text as Zephyr's lines, only cut elsewhere.
    let strip = |ls: &[&[u8]]| -> Vec<u8> { ls.iter().flat_map(|l| &l[2..l.len() - 1]).copied().collect() };
    assert_eq!(strip(&lines), strip(&STATE_REPLY_LINES));
}

#[test]
fn three_line_state_reply_decodes_in_any_split() {
    let want = hex(STATE_REPLY);
    let zephyr: Vec<u8> = STATE_REPLY_LINES.concat();
    let fill = serial::encode(&want, EncodeOptions::fill(127)).expect("encodes");
    for input in [zephyr, fill] {
        let events = decode_all(DecoderConfig::default(), &input);
        let [Ok(Event::Packet(p))] = events.as_slice() else { panic!("{events:?}") };
        assert_eq!(p.bytes, want);
        assert_eq!(p.lines, 3);
    }
}

#[test]
fn a_device_configured_decoder_takes_zephyr_and_client_lines() {
    let want = hex(STATE_REPLY);
    let events = decode_all(DecoderConfig::device(384), &STATE_REPLY_LINES.concat());
    assert_eq!(packets(&events), vec![want]);
}

#[test]
fn crlf_line_endings_are_accepted() {
    let input = b"\x06\x09ABMCAAAJAAAAAKFhZGVoZWxsbyVv\r\nboot: ok\r\n";
    let events = decode_all(DecoderConfig::default(), input);
    assert_eq!(packets(&events), vec![hex(ECHO_V1)]);
    let texts: Vec<&ConsoleText> = events
        .iter()
        .filter_map(|e| match e {
            Ok(Event::Text(t)) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].bytes, b"boot: ok");
    assert_eq!(texts[0].start, serial::Position { line: 2, offset: 32 });
}

#[test]
fn console_text_around_frames_is_reported_and_skipped() {
    let mut input = b"*** Booting Zephyr OS ***\n[00:00:00.001,000] <inf> app: up\n".to_vec();
    input.extend_from_slice(STATE_REPLY_LINES[0]);
    input.extend_from_slice(b"uart:~$ a log line between frame lines\n");
    input.extend_from_slice(STATE_REPLY_LINES[1]);
    input.extend_from_slice(STATE_REPLY_LINES[2]);
    input.extend_from_slice(b"bye");
    let events = decode_all(DecoderConfig::default(), &input);
    let kinds: Vec<String> = events
        .iter()
        .map(|e| match e {
            Ok(Event::Packet(p)) => format!("packet {} bytes from line {}", p.bytes.len(), p.start.line),
            Ok(Event::Text(t)) => format!("text {:?}", String::from_utf8_lossy(&t.bytes)),
            Err(e) => format!("error {e}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "text \"*** Booting Zephyr OS ***\"",
            "text \"[00:00:00.001,000] <inf> app: up\"",
            "text \"uart:~$ a log line between frame lines\"",
            "packet 252 bytes from line 3",
            "text \"bye\"",
        ]
    );
}

#[test]
fn a_frame_may_start_after_text_without_a_newline() {
    let input = b"<inf> shell: partial line \x06\x09ABMCAAAJAAAAAKFhZGVoZWxsbyVv\n";
    let events = decode_all(DecoderConfig::default(), input);
    assert_eq!(packets(&events), vec![hex(ECHO_V1)]);
    // A Zephyr device only looks for markers at the start of a line.
    let events = decode_all(DecoderConfig::device(384), input);
    assert!(packets(&events).is_empty(), "{events:?}");
}

#[test]
fn text_is_bounded_and_can_be_switched_off() {
    let mut input = vec![b'x'; 5000];
    input.push(b'\n');
    let config = DecoderConfig { max_text_len: 16, ..DecoderConfig::default() };
    let events = decode_all(config, &input);
    let [Ok(Event::Text(t))] = events.as_slice() else { panic!("{events:?}") };
    assert_eq!(t.bytes.len(), 16);
    assert!(t.truncated);
    let config = DecoderConfig { report_text: false, ..DecoderConfig::default() };
    assert!(decode_all(config, &input).is_empty());
}

#[test]
fn packets_come_out_whatever_the_chunking() {
    let mut stream = b"noise\n".to_vec();
    stream.extend_from_slice(&STATE_REPLY_LINES.concat());
    stream.extend_from_slice(b"\x06\x09ABMCAAAJAAAAAKFhZGVoZWxsbyVv\n");
    for chunk in [1, 2, 3, 7, 64, 127, 128, 1000] {
        let mut rx = SerialDecoder::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            rx.push(piece);
            while let Some(e) = rx.next_event() {
                if let Ok(Event::Packet(ReceivedPacket { bytes, .. })) = e {
                    got.push(bytes);
                }
            }
        }
        assert_eq!(got, vec![hex(STATE_REPLY), hex(ECHO_V1)], "chunk size {chunk}");
    }
}

// ------------------------------------------------------------------------------------------------
// One crafted input per error kind; the valid echo frame after it must still be recovered.
// ------------------------------------------------------------------------------------------------

const GOOD: &[u8] = b"\x06\x09ABMCAAAJAAAAAKFhZGVoZWxsbyVv\n";

fn line(marker: [u8; 2], body: &[u8]) -> Vec<u8> {
    let mut l = marker.to_vec();
    l.extend_from_slice(base64_of(body).as_bytes());
    l.push(b'\n');
    l
}

fn base64_of(bytes: &[u8]) -> String {
    // Reuse the encoder's output: frame a packet and cut out the base64 of `bytes` is not
    // possible in general, so encode directly with the standard alphabet.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Feed `bad` then the good echo frame; expect exactly `want` as the error, and the echo.
fn assert_error_then_recovery(config: DecoderConfig, bad: &[u8], want: FrameErrorKind) {
    let mut input = bad.to_vec();
    input.extend_from_slice(GOOD);
    let events = decode_all(config, &input);
    assert_eq!(errors(&events), vec![want], "events: {events:?}");
    assert_eq!(packets(&events), vec![hex(ECHO_V1)], "events: {events:?}");
}

#[test]
fn base64_helper_matches_the_encoder() {
    let body = serial::frame_body(&hex(ECHO_V1));
    assert_eq!(line([6, 9], &body), GOOD);
}

#[test]
fn bad_base64() {
    let events = decode_all(DecoderConfig::default(), b"\x06\x09AB*CAAAJ\n");
    let [Err(FrameError { kind: FrameErrorKind::BadBase64 { detail }, at })] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert!(detail.contains("2"), "detail names the offset: {detail}");
    assert_eq!(at.line, 1);
    let mut bad = b"\x06\x09AB*CAAAJ\n".to_vec();
    bad.extend_from_slice(GOOD);
    let events = decode_all(DecoderConfig::default(), &bad);
    assert_eq!(packets(&events), vec![hex(ECHO_V1)]);
}

#[test]
fn bad_base64_in_a_continuation_drops_the_frame() {
    let state: Vec<u8> = [STATE_REPLY_LINES[0], b"\x04\x14not base64!\n"].concat();
    let events = decode_all(DecoderConfig::default(), &[&state[..], GOOD].concat());
    assert!(matches!(errors(&events)[..], [FrameErrorKind::BadBase64 { .. }]), "{events:?}");
    assert_eq!(packets(&events), vec![hex(ECHO_V1)]);
}

#[test]
fn bad_crc() {
    let mut body = serial::frame_body(&hex(ECHO_V1));
    let last = body.len() - 1;
    body[last] ^= 0x01;
    assert_error_then_recovery(
        DecoderConfig::default(),
        &line([6, 9], &body),
        FrameErrorKind::BadCrc { computed: 0x256F, received: 0x256E, packet: hex(ECHO_V1) },
    );
}

#[test]
fn corrupted_payload_byte_fails_the_crc() {
    let mut body = serial::frame_body(&hex(ECHO_V1));
    body[12] ^= 0x20;
    let events = decode_all(DecoderConfig::default(), &line([6, 9], &body));
    assert!(matches!(errors(&events)[..], [FrameErrorKind::BadCrc { received: 0x256F, .. }]));
}

#[test]
fn missing_length() {
    assert_error_then_recovery(
        DecoderConfig::default(),
        b"\x06\x09AA==\n",
        FrameErrorKind::MissingLength { decoded: 1 },
    );
    assert_error_then_recovery(
        DecoderConfig::default(),
        b"\x06\x09\n",
        FrameErrorKind::MissingLength { decoded: 0 },
    );
}

#[test]
fn bad_length() {
    assert_error_then_recovery(
        DecoderConfig::default(),
        &line([6, 9], &[0x00, 0x02, 0xAB, 0xCD]),
        FrameErrorKind::BadLength { length: 2 },
    );
}

#[test]
fn overrun() {
    // Length says 3 (one packet byte + CRC) but the line carries 6 bytes after it.
    assert_error_then_recovery(
        DecoderConfig::default(),
        &line([6, 9], &[0x00, 0x03, 1, 2, 3, 4, 5, 6]),
        FrameErrorKind::Overrun { expected: 3, received: 6 },
    );
}

#[test]
fn oversize_is_refused_before_allocating() {
    let config = DecoderConfig { max_packet_len: 100, ..DecoderConfig::default() };
    assert_error_then_recovery(
        config,
        &line([6, 9], &[0xff, 0xff, 1, 2, 3, 4]),
        FrameErrorKind::Oversize { packet_len: 65533, max: 100 },
    );
    // The continuation lines of the refused frame are then reported as orphans.
    let big = serial::encode(&[0u8; 300], EncodeOptions::default()).expect("encodes");
    let events = decode_all(config, &big);
    let errs = errors(&events);
    assert_eq!(errs[0], FrameErrorKind::Oversize { packet_len: 300, max: 100 });
    assert!(errs[1..].iter().all(|e| *e == FrameErrorKind::ContinuationWithoutStart), "{errs:?}");
}

#[test]
fn line_too_long() {
    let config = DecoderConfig { max_line_len: 40, ..DecoderConfig::default() };
    let mut bad = b"\x06\x09".to_vec();
    bad.extend_from_slice(&[b'A'; 100]);
    bad.push(b'\n');
    assert_error_then_recovery(config, &bad, FrameErrorKind::LineTooLong { max: 40 });
}

#[test]
fn line_length_limit_counts_marker_and_newline() {
    // The 127-byte first line of §13.3 fits a 127 limit and not a 126 one.
    let config = DecoderConfig { max_line_len: 127, ..DecoderConfig::default() };
    let events = decode_all(config, &STATE_REPLY_LINES.concat());
    assert_eq!(packets(&events).len(), 1, "{events:?}");
    let config = DecoderConfig { max_line_len: 126, ..DecoderConfig::default() };
    let events = decode_all(config, &STATE_REPLY_LINES.concat());
    assert_eq!(errors(&events)[0], FrameErrorKind::LineTooLong { max: 126 });
    // A device takes lines of up to 128 bytes with the newline: Zephyr's 127-byte line with a
    // `\r` added still fits, a 131-byte line (128 base64 characters) does not.
    let crlf: Vec<u8> =
        STATE_REPLY_LINES.iter().flat_map(|l| [&l[..l.len() - 1], b"\r\n"].concat()).collect();
    assert_eq!(crlf.iter().position(|&b| b == b'\n'), Some(127));
    let events = decode_all(DecoderConfig::device(384), &crlf);
    assert_eq!(packets(&events), vec![hex(STATE_REPLY)]);
    let long = serial::encode(&[7u8; 200], EncodeOptions::fill(131)).expect("encodes");
    assert_eq!(long.iter().position(|&b| b == b'\n'), Some(130));
    let events = decode_all(DecoderConfig::device(384), &long);
    assert_eq!(errors(&events)[0], FrameErrorKind::LineTooLong { max: 128 });
    let events = decode_all(DecoderConfig::default(), &long);
    assert_eq!(packets(&events), vec![vec![7u8; 200]]);
}

#[test]
fn continuation_without_start() {
    assert_error_then_recovery(
        DecoderConfig::default(),
        STATE_REPLY_LINES[1],
        FrameErrorKind::ContinuationWithoutStart,
    );
}

#[test]
fn interrupted_by_a_new_start() {
    assert_error_then_recovery(
        DecoderConfig::default(),
        STATE_REPLY_LINES[0],
        FrameErrorKind::Interrupted { expected: 254, received: 91 },
    );
}

#[test]
fn frame_line_cut_off_by_a_new_marker() {
    assert_error_then_recovery(
        DecoderConfig::default(),
        b"\x06\x09ABMCAAAJ",
        FrameErrorKind::UnterminatedLine,
    );
}

#[test]
fn incomplete_at_end_of_input() {
    let events = decode_all(DecoderConfig::default(), STATE_REPLY_LINES[0]);
    assert_eq!(errors(&events), vec![FrameErrorKind::Incomplete { expected: 254, received: 91 }]);
    // Without finish() the decoder just waits.
    let mut rx = SerialDecoder::new();
    rx.push(STATE_REPLY_LINES[0]);
    assert!(rx.next_event().is_none());
    assert!(rx.in_frame());
}

#[test]
fn last_line_without_newline_counts_at_end_of_input() {
    let events = decode_all(DecoderConfig::default(), &GOOD[..GOOD.len() - 1]);
    assert_eq!(packets(&events), vec![hex(ECHO_V1)]);
}

#[test]
fn error_positions_name_line_and_offset() {
    let input = [b"hello\n".as_slice(), b"\x04\x14AAAA\n", GOOD].concat();
    let events = decode_all(DecoderConfig::default(), &input);
    let Err(e) = &events[1] else { panic!("{events:?}") };
    assert_eq!(e.at, serial::Position { line: 2, offset: 6 });
    assert_eq!(e.to_string(), "line 2 (byte 6): continuation line without a frame in progress");
    let Ok(Event::Packet(p)) = &events[2] else { panic!("{events:?}") };
    assert_eq!(p.start, serial::Position { line: 3, offset: 13 });
}

#[test]
fn marker_halves_in_text_do_not_confuse() {
    // 0x06 not followed by 0x09, 0x04 0x14 with no frame in progress inside text, a lone 0x06
    // right before the real marker.
    let input = [b"a\x06b\x04\x14c\x06".as_slice(), GOOD].concat();
    let events = decode_all(DecoderConfig::default(), &input);
    assert_eq!(packets(&events), vec![hex(ECHO_V1)]);
    assert!(errors(&events).is_empty(), "{events:?}");
}

#[test]
fn reset_forgets_the_frame_in_progress() {
    let mut rx = SerialDecoder::new();
    rx.push(STATE_REPLY_LINES[0]);
    assert!(rx.next_event().is_none());
    rx.reset();
    rx.push(STATE_REPLY_LINES[1]);
    let e = rx.next_event();
    assert!(matches!(e, Some(Err(FrameError { kind: FrameErrorKind::ContinuationWithoutStart, .. }))));
}

// ------------------------------------------------------------------------------------------------
// Encoder limits
// ------------------------------------------------------------------------------------------------

#[test]
fn encoder_refuses_what_cannot_be_framed() {
    assert_eq!(serial::encode(&[], EncodeOptions::default()), Err(EncodeError::EmptyPacket));
    let huge = vec![0u8; serial::MAX_PACKET_LEN + 1];
    assert_eq!(
        serial::encode(&huge, EncodeOptions::default()),
        Err(EncodeError::PacketTooLong { len: serial::MAX_PACKET_LEN + 1 })
    );
    assert!(serial::encode(&vec![0u8; serial::MAX_PACKET_LEN], EncodeOptions::default()).is_ok());
    assert!(matches!(
        serial::encode(&[1], EncodeOptions::zephyr(14)),
        Err(EncodeError::LineTooShort { min: 15, .. })
    ));
    assert!(matches!(
        serial::encode(&[1], EncodeOptions::fill(6)),
        Err(EncodeError::LineTooShort { min: 7, .. })
    ));
    assert!(serial::encode(&[1, 2, 3], EncodeOptions::fill(7)).is_ok());
    assert!(serial::encode(&[1, 2, 3], EncodeOptions::zephyr(15)).is_ok());
}

// ------------------------------------------------------------------------------------------------
// Raw UART mode
// ------------------------------------------------------------------------------------------------

#[test]
fn raw_mode_splits_back_to_back_packets() {
    let stream = [hex(ECHO_V1), hex(STATE_REPLY), hex("08 00 00 00 00 01 01 00")].concat();
    for chunk in [1, 5, 8, 100, 1000] {
        let mut rx = RawDecoder::new(2048);
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            rx.push(piece);
            while let Some(p) = rx.next_packet() {
                got.push(p.expect("valid packets"));
            }
        }
        assert_eq!(got, vec![hex(ECHO_V1), hex(STATE_REPLY), hex("08 00 00 00 00 01 01 00")]);
    }
}

#[test]
fn raw_mode_skips_impossible_headers_and_reports_unfinished_input() {
    // A stray byte whose op bits are 7 cannot start a header: skipped, and the echo after it
    // lines up.
    let mut rx = RawDecoder::new(384);
    rx.push(&[[0x07].as_slice(), &hex(ECHO_V1)].concat());
    assert_eq!(rx.next_packet(), Some(Err(RawError::BadOp { offset: 0, op: 7 })));
    assert_eq!(rx.next_packet(), Some(Ok(hex(ECHO_V1))));
    assert_eq!(rx.next_packet(), None);

    // A header announcing more than the limit is refused without waiting for its payload; after
    // an idle gap (reset) the next packet is read.
    rx.push(&hex("02 00 ff ff 00 00 00 00"));
    assert_eq!(
        rx.next_packet(),
        Some(Err(RawError::Oversize { offset: 18, packet_len: 8 + 0xffff, max: 384 }))
    );
    rx.reset();
    rx.push(&hex(ECHO_V2));
    assert_eq!(rx.next_packet(), Some(Ok(hex(ECHO_V2))));

    // Half a packet at the end of the input.
    rx.push(&hex(ECHO_V1)[..10]);
    assert_eq!(rx.next_packet(), None);
    rx.finish();
    assert!(matches!(rx.next_packet(), Some(Err(RawError::Incomplete { expected: 17, received: 10, .. }))));
    assert_eq!(rx.next_packet(), None);
}
