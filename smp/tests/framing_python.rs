//! Differential check of the serial framing against the Python `smp` package (4.2.0), the
//! codec under smpmgr and smpclient: for a few hundred packets of every size class, its
//! encoder's lines must equal ours with [`LineSplit::Fill`], and its decoder must accept our
//! lines in both splits and give back the packet. Skipped (or failed under
//! `BROWNOUT_REQUIRE_PEERS=1`) when that Python package is missing.

use smp::serial::{self, EncodeOptions, LineSplit};

/// Reads `L line_length packet_hex` / `D packet_hex lines_hex` requests on stdin, one per line;
/// prints one answer line each: the encoded lines in hex for `L`, the decoded packet for `D`.
const SCRIPT: &str = r#"
import sys
from smp.packet import encode, decode
for req in sys.stdin:
    parts = req.split()
    if parts[0] == "L":
        lines = b"".join(encode(bytes.fromhex(parts[2]), line_length=int(parts[1])))
        print(lines.hex())
    else:
        data = bytes.fromhex(parts[1])
        chunks = [l + b"\n" for l in data.split(b"\n") if l]
        d = decode(); next(d)
        out = b""
        for c in chunks:
            try:
                d.send(c)
            except StopIteration as e:
                out = e.value
                break
        print(out.hex())
"#;

/// Deterministic packet bytes of a given length.
fn packet(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 3) as u8
        })
        .collect()
}

#[test]
fn python_smp_agrees_on_framing() {
    let Some(python) = testkit::python_with("smp", "pip install smp==4.2.0") else { return };
    let mut cases = Vec::new();
    let mut requests = String::new();
    let mut seed = 1;
    for len in [1, 2, 3, 8, 9, 17, 89, 90, 91, 92, 93, 94, 120, 252, 500, 1000, 2011] {
        for max_line_len in [15, 31, 64, 127, 128, 200] {
            seed += 1;
            let p = packet(len, seed);
            // Python's `line_length` counts one byte more than ours (it subtracts 4, not 3).
            requests.push_str(&format!("L {} {}\n", max_line_len + 1, hex::encode(&p)));
            let zephyr = serial::encode(&p, EncodeOptions::zephyr(max_line_len)).expect("encodes");
            requests.push_str(&format!("D {}\n", hex::encode(&zephyr)));
            cases.push((p, max_line_len));
        }
    }
    let out = testkit::run_python(&python, SCRIPT, &requests);
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<&str> = std::str::from_utf8(&out.stdout).expect("utf-8").lines().collect();
    assert_eq!(answers.len(), cases.len() * 2);
    for (i, (p, max_line_len)) in cases.iter().enumerate() {
        let theirs = hex::decode(answers[2 * i]).expect("hex lines");
        let ours = serial::encode(p, EncodeOptions { max_line_len: *max_line_len, split: LineSplit::Fill })
            .expect("encodes");
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&theirs),
            "{}-byte packet, {max_line_len}-byte lines",
            p.len()
        );
        let decoded = hex::decode(answers[2 * i + 1]).expect("hex packet");
        assert_eq!(&decoded, p, "python decoding our Zephyr-split lines, {max_line_len}-byte lines");
    }
}
