//! Garbage, truncated frames, wrong lengths, over-long lines and floods on every transport
//! never panic or wedge the device: the next valid request is answered. Plus the PTY's
//! console behaviour (text, reconnects, boot banners, the symlink), reboots driven by the
//! transport runtime, several transports on one device, and baud pacing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "transport_support.rs"]
mod support;

use std::time::{Duration, Instant};

use sim_device::device::{Clock, DeviceConfig};
use sim_device::server::Limits;
use sim_device::transport::{
    FaultPlan, InProcClient, InProcConfig, PtyConfig, PtyTransport, SharedDevice, UdpConfig, UdpTransport,
};
use smp::cbor::MapStyle;
use smp::groups::os::ResetRequest;
use smp::header::Version;
use smp::message::Request;
use smp::serial::EncodeOptions;
use support::{ALL, Kind, PtyClient, WAIT, Wire, app, echo, echo_text, runtime};

/// SplitMix64, for reproducible garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Buffers that are not valid requests, of every flavour.
fn garbage(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut v = vec![
        Vec::new(),
        vec![0],
        vec![0x0a, 0, 0],                                  // shorter than a header
        vec![0x0a, 0, 0xff, 0xff, 0, 0, 1, 0, 0xa1],       // len far past the end
        vec![0x0a, 0, 0, 2, 0, 0, 1, 0, 0xa1],             // len one past the end
        vec![0x0e, 0, 0, 1, 0, 0, 1, 0, 0xff],             // op 6, bad CBOR
        vec![0x0a, 0, 0, 3, 0, 0x63, 1, 0x77, 0xa1, 0x61], // unknown group, truncated map
    ];
    // A valid echo with its length field one too short / too long.
    let mut e = echo(1, "len");
    e[3] -= 1;
    v.push(e.clone());
    e[3] += 2;
    v.push(e);
    for n in [1usize, 7, 8, 9, 64, 300, 1500] {
        v.push(rng.bytes(n));
    }
    v
}

/// Serial-line garbage: junk bytes, bad base64, frames whose lines stop early, lengths that
/// lie, continuation lines with no start, lines without end.
fn serial_garbage(rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let frame = smp::serial::encode(&echo(1, "x".repeat(150).as_str()), EncodeOptions::fill(127)).unwrap();
    let first_line_end = frame.iter().position(|&b| b == b'\n').unwrap() + 1;
    v.push(frame[..first_line_end].to_vec()); // a frame that never finishes
    v.push(b"\x06\x09!!!!not base64!!!!\n".to_vec());
    v.push(b"\x04\x14QUJD\n".to_vec()); // continuation with nothing started
    v.push(b"\x06\x09AA==\n".to_vec()); // too short for a length
    v.push(b"\x06\x09//8=\n".to_vec()); // length 0xffff
    v.push(b"\x06\x09AAE=\n".to_vec()); // length 1
    v.push(b"uart:~$ help\r\n".to_vec()); // shell input
    v.push(rng.bytes(500)); // binary junk, probably without newlines
    v.push(b"\n".to_vec());
    let mut junk_line = vec![0x06, 0x09];
    junk_line.extend(std::iter::repeat_n(b'A', 5000)); // a line far longer than the UART buffer
    junk_line.push(b'\n');
    v.push(junk_line);
    v
}

#[test]
fn garbage_never_wedges_any_transport() {
    let mut rng = Rng(99);
    for kind in ALL {
        let mut w = Wire::new(kind, FaultPlan::none());
        for g in garbage(&mut rng) {
            if kind == Kind::Pty {
                // On the line, the garbage is framed (bad SMP inside good frames)...
                if !g.is_empty() {
                    w.send(&g);
                }
            } else {
                w.send_raw(&g);
            }
        }
        if kind == Kind::Pty {
            // ...and raw (bad frames).
            for g in serial_garbage(&mut rng) {
                w.send_raw(&g);
            }
            // End whatever partial line the junk left open.
            w.send_raw(b"\n");
        }
        w.assert_answers(200);
        assert!(w.dev.with(|d| d.is_serving()), "{kind:?}");
    }
}

#[test]
fn floods_are_survived_and_answered_in_order_on_the_serial_line() {
    for kind in ALL {
        let mut w = Wire::new(kind, FaultPlan::none());
        let n: u8 = if kind == Kind::Pty { 200 } else { 250 };
        for seq in 1..=n {
            w.send(&echo(seq, "flood"));
        }
        if kind == Kind::Pty {
            // A serial line loses nothing here (the pts buffers and the client reads).
            let got = w.recv_until_seq(n);
            let seqs: Vec<u8> = got.iter().map(|r| r[6]).collect();
            assert_eq!(seqs, (1..=n).collect::<Vec<_>>());
        }
        // Datagram transports may drop under a flood (full socket or channel buffers), as a
        // network does; the device must still answer afterwards.
        std::thread::sleep(Duration::from_millis(50));
        while w.recv_raw(Duration::from_millis(100)).is_some() {}
        w.assert_answers(251);
    }
}

#[test]
fn pty_drops_lines_longer_than_the_uart_buffer() {
    let mut w = Wire::new(Kind::Pty, FaultPlan::none());
    // A valid frame cut into 200-byte lines: each line overflows the 128-byte buffer.
    let long = smp::serial::encode(&echo(1, &"L".repeat(200)), EncodeOptions::fill(200)).unwrap();
    assert!(long.split(|&b| b == b'\n').any(|l| l.len() > 128));
    w.send_raw(&long);
    // The same request in standard 127-byte lines is answered, and it is the only answer.
    w.send(&echo(2, &"L".repeat(200)));
    let got = w.recv_until_seq(2);
    assert_eq!(got.len(), 1);
    assert_eq!(echo_text(&got[0]).unwrap().len(), 200);
    // A bigger buffer (CONFIG_UART_MCUMGR_RX_BUF_SIZE=256) takes the long lines.
    let mut w = Wire::with_device(
        Kind::Pty,
        FaultPlan::none(),
        support::device(),
        PtyConfig { rx_line_len: 256, ..PtyConfig::default() },
    );
    w.send_raw(&long);
    assert_eq!(w.recv_until_seq(1).len(), 1);
}

#[test]
fn pty_drops_frames_larger_than_buf_size_and_udp_truncates_them() {
    // Serial limits: 384-byte buffers. A 600-byte echo is dropped without a reply.
    let mut w = Wire::new(Kind::Pty, FaultPlan::none());
    w.send(&echo(1, &"B".repeat(600)));
    w.send(&echo(2, "small"));
    assert_eq!(w.recv_until_seq(2).iter().map(|r| r[6]).collect::<Vec<_>>(), vec![2]);

    // UDP limits: 2048. A 3000-byte datagram is cut to 2048: the echo's length runs past the
    // end, so the device answers {"rc": 9} (ECORRUPT).
    let dev = SharedDevice::new(
        DeviceConfig::preset("k64f").unwrap().primary(app(4096)).limits(Limits::UDP).build().unwrap(),
    );
    let mut w = Wire::with_device(Kind::Udp, FaultPlan::none(), dev, PtyConfig::default());
    w.send(&echo(3, &"C".repeat(3000)));
    let reply = w.recv_until_seq(3).pop().unwrap();
    let body = smp::cbor::decode(&reply[8..]).unwrap();
    assert_eq!(body.get("rc").and_then(|v| v.as_u64()), Some(9), "{body:?}");
}

#[test]
fn pty_clients_can_come_and_go_and_console_text_is_ignored() {
    let mut w = Wire::new(Kind::Pty, FaultPlan::none());
    w.send_raw(b"uart:~$ kernel version\r\n");
    w.assert_answers(1);
    let path = w.pty_path().to_path_buf();
    // The first client goes away.
    w.close_pty_client();
    for round in 0..3u8 {
        // A new client opens the pts, asks, and closes it again.
        let mut c = PtyClient::open(&path);
        c.write(&smp::serial::encode(&echo(10 + round, "again"), EncodeOptions::fill(127)).unwrap());
        let reply = c.next_packet(WAIT).expect("answer on a reopened pts");
        assert_eq!(reply[6], 10 + round);
    }
}

fn reset_request(seq: u8) -> Vec<u8> {
    Request::Reset(ResetRequest::default()).encode(seq, Version::V2, MapStyle::Definite).unwrap()
}

#[test]
fn os_reset_reboots_through_the_bootloader_while_transports_stay_up() {
    let mut w = Wire::new(Kind::Pty, FaultPlan::none());
    let boots = w.dev.with(|d| d.boot_count());
    w.send(&reset_request(1));
    assert_eq!(w.recv_until_seq(1).len(), 1);
    // The timer driver reboots the device after the reset delay; the console prints the
    // banners, which the client skips as text.
    let deadline = Instant::now() + WAIT;
    while !w.pty_client().text.iter().any(|t| t.contains("Booting Zephyr")) {
        assert!(Instant::now() < deadline, "no boot banner; text so far {:?}", w.pty_client().text);
        let _ = w.pty_client().next_packet(Duration::from_millis(100));
    }
    assert!(w.pty_client().text.iter().any(|t| t.contains("Starting bootloader")));
    assert_eq!(w.dev.with(|d| d.boot_count()), boots + 1);
    w.assert_answers(2);
}

#[test]
fn several_transports_serve_one_device() {
    let rt = runtime();
    let _g = rt.enter();
    let dev = support::device();
    let _timers = dev.spawn_timers();
    let pty = PtyTransport::open(&dev, PtyConfig::default()).unwrap();
    let udp1 = rt.block_on(UdpTransport::bind(&dev, UdpConfig::new("127.0.0.1:0".parse().unwrap()))).unwrap();
    let udp2 = rt.block_on(UdpTransport::bind(&dev, UdpConfig::new("127.0.0.1:0".parse().unwrap()))).unwrap();
    let mut inproc = InProcClient::connect(&dev, InProcConfig::default());
    let before = dev.with(|d| d.server_state().requests);

    let mut c = PtyClient::open(pty.path());
    c.write(&smp::serial::encode(&echo(1, "pty"), EncodeOptions::fill(127)).unwrap());
    assert_eq!(echo_text(&c.next_packet(WAIT).unwrap()).as_deref(), Some("pty"));
    for (i, udp) in [&udp1, &udp2].into_iter().enumerate() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.send_to(&echo(2, "udp"), udp.local_addr()).unwrap();
        let mut buf = [0u8; 512];
        let (n, from) = s.recv_from(&mut buf).unwrap();
        assert_eq!(from, udp.local_addr(), "reply from the socket asked ({i})");
        assert_eq!(echo_text(&buf[..n]).as_deref(), Some("udp"));
    }
    let r = rt.block_on(inproc.request(&echo(3, "inproc"), WAIT)).unwrap();
    assert_eq!(echo_text(&r).as_deref(), Some("inproc"));
    assert_eq!(dev.with(|d| d.server_state().requests), before + 4);
}

#[test]
fn pty_link_points_at_the_pts_and_goes_away_with_it() {
    let rt = runtime();
    let _g = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttySIM");
    std::fs::write(&link, b"a stale regular file is left alone").unwrap();
    let dev = support::device();
    // A regular file in the way is an error (only an old symlink is replaced).
    assert!(
        PtyTransport::open(&dev, PtyConfig { link: Some(link.clone()), ..PtyConfig::default() }).is_err()
    );
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink("/nonexistent", &link).unwrap();
    let pty =
        PtyTransport::open(&dev, PtyConfig { link: Some(link.clone()), ..PtyConfig::default() }).unwrap();
    assert_eq!(std::fs::read_link(&link).unwrap(), pty.path());
    let mut c = PtyClient::open(&link);
    c.write(&smp::serial::encode(&echo(4, "via link"), EncodeOptions::fill(127)).unwrap());
    assert_eq!(echo_text(&c.next_packet(WAIT).unwrap()).as_deref(), Some("via link"));
    drop(pty);
    assert!(std::fs::symlink_metadata(&link).is_err(), "link removed on close");
}

#[test]
fn baud_pacing_makes_a_request_take_at_least_its_wire_time() {
    let request = echo(1, &"P".repeat(250));
    let frame = smp::serial::encode(&request, EncodeOptions::fill(127)).unwrap();
    let reply = support::device().handle(&request).remove(0);
    let reply_frame = smp::serial::encode(&reply, EncodeOptions::default()).unwrap();
    let baud = 9600;
    let wire_time =
        Duration::from_secs_f64((frame.len() + reply_frame.len()) as f64 * 10.0 / f64::from(baud));
    let mut w = Wire::with_device(
        Kind::Pty,
        FaultPlan::none(),
        support::device(),
        PtyConfig { baud: Some(baud), console: false, ..PtyConfig::default() },
    );
    let t0 = Instant::now();
    w.send_raw(&frame);
    let got = w.recv_until_seq(1);
    assert!(t0.elapsed() >= wire_time, "{:?} < {wire_time:?}", t0.elapsed());
    assert_eq!(got.len(), 1);
}

#[test]
fn a_manual_clock_device_serves_too() {
    // Timers only fire when the test moves a manual clock; requests are served regardless.
    let dev = SharedDevice::new(
        DeviceConfig::preset("k64f").unwrap().primary(app(1024)).clock(Clock::manual()).build().unwrap(),
    );
    let mut w = Wire::with_device(Kind::InProc, FaultPlan::none(), dev, PtyConfig::default());
    w.send(&reset_request(1));
    assert_eq!(w.recv_until_seq(1).len(), 1);
    let boots = w.dev.with(|d| d.boot_count());
    w.dev.with(|d| d.advance(10_000));
    assert_eq!(w.dev.with(|d| d.boot_count()), boots + 1);
    w.assert_answers(2);
}

#[test]
fn raw_uart_serves_bare_packets_and_drops_a_partial_one_after_silence() {
    use sim_device::transport::SerialFraming;
    let mut w = Wire::with_device(
        Kind::Pty,
        FaultPlan::none(),
        support::device(),
        PtyConfig { framing: SerialFraming::Raw { input_timeout_ms: Some(100) }, ..PtyConfig::default() },
    );
    // Two requests in one write: both answered, as bare packets.
    let mut both = echo(1, "one");
    both.extend(echo(2, "two"));
    w.send_raw(&both);
    // Each reply is 8 header bytes and `len` body bytes (the length's low byte is enough here).
    let whole = |b: &[u8]| b.len() >= 8 && b.len() >= 8 + usize::from(b[3]);
    let mut got = Vec::new();
    while !(whole(&got) && whole(&got[8 + usize::from(got[3])..])) {
        got.extend(w.pty_client().read_some(WAIT).expect("raw replies"));
    }
    let first_len = 8 + usize::from(got[3]);
    assert_eq!(echo_text(&got[..first_len]).as_deref(), Some("one"));
    assert_eq!(echo_text(&got[first_len..]).as_deref(), Some("two"));
    // Half a request, then silence: it is dropped, and the next whole one is answered.
    let third = echo(3, "three");
    w.send_raw(&third[..third.len() - 4]);
    std::thread::sleep(Duration::from_millis(600));
    w.send_raw(&echo(4, "four"));
    let reply = w.pty_client().read_some(WAIT).expect("reply after the partial packet");
    assert_eq!(reply[6], 4);
    assert_eq!(echo_text(&reply).as_deref(), Some("four"));
}
