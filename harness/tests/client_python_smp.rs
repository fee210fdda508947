//! Every request brownout's client puts on the wire during an upgrade (params, echo, state
//! read, a windowed upload, test, confirm, reset) decodes with the Python `smp` 4.2.0 models —
//! a third-party reading of our encoding — and what Python reads is what was meant: contiguous
//! upload offsets, the first chunk alone carrying `len` and the file's SHA-256, the chunks
//! adding up to the file, the test hash being the image's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::client::{ClientConfig, InProcTransport, SmpClient, UploadOptions};
use mcuboot::image::sign::{SignOptions, sign};
use sim_device::device::{Clock, DeviceConfig};
use sim_device::transport::{Direction, InProcClient, InProcConfig, SharedDevice, WireEvent};
use smp::header::{Group, Header, Op};

/// Reads `CLASS HEX` lines, decodes each with the named `smp` model and prints its fields.
const DECODE: &str = r#"
import sys
from smp import os_management as os_, image_management as img
n = 0
for line in sys.stdin:
    cls, hexreq = line.split()
    r = eval(cls).loads(bytes.fromhex(hexreq))
    h = r.header
    if cls == 'img.ImageUploadWriteRequest':
        print('upload', r.off, len(r.data), r.len, r.sha.hex() if r.sha else None, r.image, r.upgrade)
    elif cls == 'img.ImageStatesWriteRequest':
        print('state-write', r.hash.hex() if r.hash else None, r.confirm)
    elif cls == 'os_.EchoWriteRequest':
        print('echo', r.d)
    else:
        print(cls.split('.')[1])
    n += 1
print('decoded', n)
"#;

fn signed(version: &str, payload_len: usize) -> Vec<u8> {
    let pem = std::fs::read_to_string(testkit::workspace_root().join("fixtures/keys/ed25519.pem")).unwrap();
    let key = mcuboot::image::SigningKey::from_pem(&pem).unwrap();
    let payload: Vec<u8> = (0..payload_len).map(|i| (i * 13 % 256) as u8).collect();
    let opts = SignOptions {
        version: version.parse().unwrap(),
        header_size: 0x200,
        pad_header: true,
        slot_size: 0x20000,
        ..SignOptions::default()
    };
    sign(&payload, Some(&key), &opts).unwrap()
}

/// The Python class for a request header.
fn class(h: &Header) -> &'static str {
    match (h.group, h.command_id, h.op) {
        (Group::Os, 0, Op::Write) => "os_.EchoWriteRequest",
        (Group::Os, 5, Op::Write) => "os_.ResetWriteRequest",
        (Group::Os, 6, Op::Read) => "os_.MCUMgrParametersReadRequest",
        (Group::Image, 0, Op::Read) => "img.ImageStatesReadRequest",
        (Group::Image, 0, Op::Write) => "img.ImageStatesWriteRequest",
        (Group::Image, 1, Op::Write) => "img.ImageUploadWriteRequest",
        other => panic!("no Python class mapped for {other:?}"),
    }
}

#[test]
fn python_smp_decodes_every_request_the_client_sends() {
    let Some(py) = testkit::python_with("smp", "pip install smp==4.2.0") else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let key_pem =
        std::fs::read_to_string(testkit::workspace_root().join("fixtures/keys/ed25519.pem")).unwrap();
    let key = mcuboot::image::SigningKey::from_pem(&key_pem).unwrap();
    let image = signed("2.0.0", 20_000);
    let sent: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let hash = rt.block_on(async {
        let dev = DeviceConfig::preset("k64f")
            .unwrap()
            .keys(vec![key.public().clone()])
            .primary(signed("1.0.0", 4000))
            .clock(Clock::system())
            .build()
            .unwrap();
        let shared = SharedDevice::new(dev);
        let log = sent.clone();
        shared.set_tap(Some(Arc::new(move |t: &sim_device::transport::Traffic<'_>| {
            if let WireEvent::Packet { direction: Direction::Request, bytes, .. } = t.event {
                log.lock().unwrap().push(bytes.to_vec());
            }
        })));
        let _timers = shared.spawn_timers();
        let inproc = InProcClient::connect(&shared, InProcConfig::default());
        let config =
            ClientConfig { timeout: Duration::from_secs(5), first_seq: Some(0), ..ClientConfig::default() };
        let mut c = SmpClient::new(InProcTransport::new(inproc), config);
        let run = async {
            assert_eq!(c.echo("from brownout").await.unwrap(), "from brownout");
            let options = UploadOptions { window: 3, image: Some(0), ..UploadOptions::default() };
            c.image_upload(&image, &options, &mut |_| {}).await.unwrap();
            let state = c.image_state().await.unwrap();
            let hash = state.images.iter().find(|i| i.slot == 1).unwrap().hash.clone().unwrap();
            c.image_test(&hash).await.unwrap();
            // Only its encoding matters here (the device may refuse it while a test is pending).
            let _ = c.image_confirm(Some(&hash)).await;
            c.reset(true).await.unwrap();
            hash
        };
        tokio::time::timeout(Duration::from_secs(60), run).await.expect("client hung")
    });
    let mut lines = String::new();
    for bytes in sent.lock().unwrap().iter() {
        let (h, _) = Header::parse(bytes).unwrap();
        lines.push_str(&format!("{} {}\n", class(&h), hex::encode(bytes)));
    }
    let out = testkit::run_python(&py, DECODE, &lines);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python smp refused a request:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let decoded: Vec<&str> = stdout.lines().collect();
    assert_eq!(decoded.last(), Some(&format!("decoded {}", decoded.len() - 1).as_str()), "{stdout}");
    assert_eq!(decoded[0], "echo from brownout");
    assert_eq!(decoded[1], "MCUMgrParametersReadRequest");
    // The upload: contiguous chunks, the first alone with len, sha and image.
    use sha2::Digest as _;
    let sha = hex::encode(sha2::Sha256::digest(&image));
    let uploads: Vec<Vec<&str>> =
        decoded.iter().filter(|l| l.starts_with("upload ")).map(|l| l.split(' ').collect()).collect();
    assert_eq!(uploads[0][1..], ["0", uploads[0][2], &image.len().to_string(), &sha, "0", "None"]);
    let mut next = 0usize;
    for u in &uploads {
        assert_eq!(u[1].parse::<usize>().unwrap(), next, "{stdout}");
        next += u[2].parse::<usize>().unwrap();
        if u[1] != "0" {
            assert_eq!(u[3..], ["None", "None", "None", "None"], "later chunks carry no session fields");
        }
    }
    assert_eq!(next, image.len());
    let hash = hex::encode(hash);
    assert!(decoded.contains(&format!("state-write {hash} False").as_str()), "{stdout}");
    assert!(decoded.contains(&format!("state-write {hash} True").as_str()), "{stdout}");
    assert!(decoded.contains(&"ResetWriteRequest"), "{stdout}");
}
