//! Throughput of the transport layer on the message that dominates real traffic: an image
//! upload request carrying a 512-byte chunk (a mid-image chunk, `off` ≠ 0, as a client sends
//! hundreds of times per update).
//!
//! - `encode`: typed request → SMP packet → serial lines (what a client does per chunk), and
//!   the serial framing step alone.
//! - `decode`: serial lines → reassembled packet (base64, length, CRC), and the whole receive
//!   path of a device: reassembly + header + CBOR + typed upload-request parse.
//! - `udp`: datagram → message split + typed parse (no framing on UDP).
//!
//! Each benchmark is reported twice: as wire bytes per second and as packets per second.
//! Run: `cargo bench -p smp --bench framing`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smp::cbor::MapStyle;
use smp::groups::image::UploadRequest;
use smp::header::Version;
use smp::message::Request;
use smp::serial::{self, EncodeOptions, Event, SerialDecoder};
use smp::udp;

/// An upload request for bytes 4096..4608 of an image, as a v2 client sends it.
fn upload_request() -> Request {
    let data: Vec<u8> = (0..512u32).map(|i| (i * 7 + 3) as u8).collect();
    Request::ImageUpload(UploadRequest { image: None, len: None, off: 4096, sha: None, data, upgrade: None })
}

fn encode_packet(request: &Request) -> Vec<u8> {
    request.encode(42, Version::V2, MapStyle::Definite).unwrap_or_default()
}

/// Reassemble one packet from `lines` and type it; returns the chunk length so nothing is
/// optimised away.
fn receive(lines: &[u8]) -> usize {
    let mut rx = SerialDecoder::new();
    rx.push(lines);
    let mut got = 0;
    while let Some(event) = rx.next_event() {
        if let Ok(Event::Packet(p)) = event
            && let Ok((_, Request::ImageUpload(upload), _)) = Request::decode(&p.bytes)
        {
            got += upload.data.len();
        }
    }
    got
}

fn benches(c: &mut Criterion) {
    let request = upload_request();
    let packet = encode_packet(&request);
    let lines = serial::encode(&packet, EncodeOptions::default()).unwrap_or_default();
    assert_eq!(receive(&lines), 512, "the decode path must see the chunk");
    eprintln!(
        "upload request: {} byte packet, {} bytes on the serial line in {} lines",
        packet.len(),
        lines.len(),
        lines.iter().filter(|&&b| b == b'\n').count()
    );

    for (unit, throughput) in
        [("bytes", Throughput::Bytes(lines.len() as u64)), ("packets", Throughput::Elements(1))]
    {
        let mut g = c.benchmark_group(format!("serial-{unit}"));
        g.throughput(throughput);
        g.bench_function("encode/typed-request-to-lines", |b| {
            b.iter(|| {
                let packet = encode_packet(black_box(&request));
                serial::encode(&packet, EncodeOptions::default())
            })
        });
        g.bench_function("encode/framing-only", |b| {
            b.iter(|| serial::encode(black_box(&packet), EncodeOptions::default()))
        });
        g.bench_function("decode/reassembly-only", |b| {
            b.iter(|| {
                let mut rx = SerialDecoder::new();
                rx.push(black_box(&lines));
                rx.next_event()
            })
        });
        g.bench_function("decode/reassembly-header-cbor-typed", |b| b.iter(|| receive(black_box(&lines))));
        g.finish();
    }

    for (unit, throughput) in
        [("bytes", Throughput::Bytes(packet.len() as u64)), ("packets", Throughput::Elements(1))]
    {
        let mut g = c.benchmark_group(format!("udp-{unit}"));
        g.throughput(throughput);
        g.bench_function("decode/split-header-cbor-typed", |b| {
            b.iter(|| {
                let mut n = 0;
                if let Ok(messages) = udp::messages(black_box(&packet), udp::Limits::default()) {
                    for m in messages.flatten() {
                        if let Ok((_, Request::ImageUpload(u), _)) = Request::decode(m.bytes) {
                            n += u.data.len();
                        }
                    }
                }
                n
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = framing;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = benches
}
criterion_main!(framing);
