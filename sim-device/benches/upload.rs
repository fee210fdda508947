//! Image upload throughput through each transport, and how close a baud-paced PTY gets to
//! the framing's theoretical limit.
//!
//! ```text
//! cargo bench -p sim-device --bench upload
//! ```
//!
//! * `upload/inproc`, `upload/udp`, `upload/pty`: a 64 KiB image uploaded to the secondary
//!   slot by a minimal stop-and-wait client (one chunk in flight, each chunk as large as the
//!   device's `buf_size` allows: 2048 for in-process and UDP, 384 for the PTY), host speed.
//! * then one measured run over a PTY paced at 115200 baud (10 bits per byte), compared with
//!   the theoretical time of the exact bytes that crossed the line: for every chunk, the
//!   request frame (base64 4/3, `06 09`/`04 14` markers, newlines, length and CRC around the
//!   SMP header and CBOR body) plus the reply frame, at 11 520 bytes/s. A stop-and-wait
//!   client cannot beat that sum; the ratio says how much the simulator itself costs.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use sim_device::device::{Clock, DeviceConfig};
use sim_device::server::Limits;
use sim_device::transport::{
    InProcClient, InProcConfig, PtyConfig, PtyTransport, SharedDevice, Task, UdpConfig, UdpTransport,
};
use smp::cbor::MapStyle;
use smp::groups::image::UploadRequest;
use smp::header::Version;
use smp::message::Request;
use smp::serial::{EncodeOptions, Event, SerialDecoder};

const IMAGE_PAYLOAD: usize = 64 * 1024;
const WAIT: Duration = Duration::from_secs(10);

fn image() -> Vec<u8> {
    let opts = mcuboot::image::sign::SignOptions {
        pad_header: true,
        header_size: 0x200,
        version: mcuboot::image::ImageVersion::new(2, 0, 0),
        ..Default::default()
    };
    let payload: Vec<u8> = (0..IMAGE_PAYLOAD).map(|i| (i * 31 % 251) as u8).collect();
    mcuboot::image::sign::sign(&payload, None, &opts).expect("sign")
}

fn device(limits: Limits) -> SharedDevice {
    let opts = mcuboot::image::sign::SignOptions { pad_header: true, ..Default::default() };
    let app = mcuboot::image::sign::sign(&[0u8; 4096], None, &opts).expect("sign");
    SharedDevice::new(
        DeviceConfig::preset("k64f")
            .expect("k64f")
            .primary(app)
            .limits(limits)
            .clock(Clock::system())
            .build()
            .expect("device"),
    )
}

/// The upload requests for `image`, each packet at most `buf_size` bytes.
fn chunks(image: &[u8], buf_size: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut off = 0usize;
    let mut seq = 0u8;
    while off < image.len() {
        let first = off == 0;
        let make = |len: usize| {
            let req = UploadRequest {
                image: None,
                len: first.then_some(image.len() as u64),
                off: off as u64,
                // No "sha": every iteration starts a new upload rather than resuming one.
                sha: None,
                data: image[off..(off + len).min(image.len())].to_vec(),
                upgrade: None,
            };
            Request::ImageUpload(req).encode(seq, Version::V2, MapStyle::Definite).expect("encode")
        };
        let mut len = buf_size;
        while make(len).len() > buf_size {
            len -= 1;
        }
        out.push(make(len));
        off += len;
        seq = seq.wrapping_add(1);
    }
    out
}

/// Check an upload reply: success and the expected next offset.
fn check(reply: &[u8]) {
    let body = smp::cbor::decode(&reply[8..]).expect("reply body");
    assert!(body.get("off").is_some(), "upload failed: {body:?}");
}

// ------------------------------------------------------------------ clients

fn upload_inproc(rt: &tokio::runtime::Runtime, client: &mut InProcClient, requests: &[Vec<u8>]) {
    for r in requests {
        let reply = rt.block_on(client.request(r, WAIT)).expect("reply");
        check(&reply);
    }
}

fn upload_udp(socket: &std::net::UdpSocket, requests: &[Vec<u8>]) {
    let mut buf = vec![0u8; 4096];
    for r in requests {
        socket.send(r).expect("send");
        let n = socket.recv(&mut buf).expect("reply");
        check(&buf[..n]);
    }
}

struct Serial {
    file: std::fs::File,
    decoder: SerialDecoder,
    buf: Vec<u8>,
}

impl Serial {
    fn open(path: &Path) -> Serial {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOCTTY.bits() as i32)
            .open(path)
            .expect("open pts");
        Serial { file, decoder: SerialDecoder::new(), buf: vec![0u8; 4096] }
    }

    /// Send each request, wait for its reply; returns the replies.
    fn upload(&mut self, requests: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut replies = Vec::new();
        for r in requests {
            let frame = smp::serial::encode(r, EncodeOptions::fill(127)).expect("frame");
            self.file.write_all(&frame).expect("write");
            let reply = self.next_packet();
            check(&reply);
            replies.push(reply);
        }
        replies
    }

    fn next_packet(&mut self) -> Vec<u8> {
        loop {
            while let Some(e) = self.decoder.next_event() {
                if let Ok(Event::Packet(p)) = e {
                    return p.bytes;
                }
            }
            let n = self.file.read(&mut self.buf).expect("read");
            self.decoder.push(&self.buf[..n]);
        }
    }
}

// ------------------------------------------------------------------ benches

fn bench_upload(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    let _g = rt.enter();
    let image = image();
    let mut group = c.benchmark_group("upload");
    group.throughput(Throughput::Bytes(image.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));

    {
        let dev = device(Limits::UDP);
        let _t: Task = dev.spawn_timers();
        let requests = chunks(&image, Limits::UDP.buf_size as usize);
        let mut client = InProcClient::connect(&dev, InProcConfig::default());
        group.bench_function("inproc", |b| b.iter(|| upload_inproc(&rt, &mut client, &requests)));
    }
    {
        let dev = device(Limits::UDP);
        let requests = chunks(&image, Limits::UDP.buf_size as usize);
        let udp = rt.block_on(UdpTransport::bind(&dev, UdpConfig::new("127.0.0.1:0".parse().expect("addr"))));
        let udp = udp.expect("bind");
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.connect(udp.local_addr()).expect("connect");
        socket.set_read_timeout(Some(WAIT)).expect("timeout");
        group.bench_function("udp", |b| b.iter(|| upload_udp(&socket, &requests)));
    }
    {
        let dev = device(Limits::SERIAL);
        let requests = chunks(&image, Limits::SERIAL.buf_size as usize);
        let pty =
            PtyTransport::open(&dev, PtyConfig { console: false, ..PtyConfig::default() }).expect("pty");
        let mut serial = Serial::open(pty.path());
        group.bench_function("pty", |b| b.iter(|| serial.upload(&requests)));
    }
    group.finish();
}

/// One upload over a PTY paced at `baud`, against the wire-time limit of its exact frames.
fn paced_run(baud: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("rt");
    let _g = rt.enter();
    let image = image();
    let dev = device(Limits::SERIAL);
    let requests = chunks(&image, Limits::SERIAL.buf_size as usize);
    let pty =
        PtyTransport::open(&dev, PtyConfig { console: false, baud: Some(baud), ..PtyConfig::default() })
            .expect("pty");
    let mut serial = Serial::open(pty.path());

    let t0 = Instant::now();
    let replies = serial.upload(&requests);
    let elapsed = t0.elapsed().as_secs_f64();

    let frame_len = |p: &[u8], o: EncodeOptions| smp::serial::encode(p, o).expect("frame").len();
    let req_wire: usize = requests.iter().map(|r| frame_len(r, EncodeOptions::fill(127))).sum();
    let rep_wire: usize = replies.iter().map(|r| frame_len(r, EncodeOptions::default())).sum();
    let req_packets: usize = requests.iter().map(Vec::len).sum();
    let bytes_per_s = f64::from(baud) / 10.0;
    let limit_s = (req_wire + rep_wire) as f64 / bytes_per_s;
    let streaming_s = req_wire as f64 / bytes_per_s;
    let n = image.len() as f64;
    println!();
    println!("paced PTY upload at {baud} baud ({bytes_per_s:.0} bytes/s on the line), buf_size 384:");
    println!(
        "  image {} bytes in {} chunks; SMP packets {} bytes ({:.1}% header+CBOR overhead)",
        image.len(),
        requests.len(),
        req_packets,
        100.0 * (req_packets as f64 - n) / n
    );
    println!(
        "  on the wire: requests {req_wire} bytes ({:.3} per image byte: base64 4/3, markers, newlines, length+CRC), replies {rep_wire} bytes",
        req_wire as f64 / n
    );
    println!(
        "  theoretical (stop-and-wait, request+reply frames): {limit_s:.3} s = {:.0} bytes/s of image",
        n / limit_s
    );
    println!(
        "  theoretical (requests only, streaming): {streaming_s:.3} s = {:.0} bytes/s of image",
        n / streaming_s
    );
    println!(
        "  achieved: {elapsed:.3} s = {:.0} bytes/s of image = {:.1}% of the stop-and-wait limit ({:.1}% of the streaming limit)",
        n / elapsed,
        100.0 * limit_s / elapsed,
        100.0 * streaming_s / elapsed
    );
}

criterion_group!(benches, bench_upload);

fn main() {
    benches();
    // Only with `cargo bench` (criterion's `--bench` flag), not when `cargo test` smoke-runs
    // benches.
    if std::env::args().any(|a| a == "--bench") {
        paced_run(115_200);
    }
    Criterion::default().configure_from_args().final_summary();
}
