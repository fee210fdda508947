//! Steps whose effect is only visible in flash: raw flash regions in `expect`, and a
//! `bit_flip` that waits for a flash operation (`after_op`) and strikes in the middle of the
//! next upload. The expected digests are computed here from the fixture files, so the checks
//! fail if the runner looked at the wrong bytes or flipped at the wrong time.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// k64f's primary slot starts here on flash 0.
const PRIMARY: usize = 0x20000;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").canonicalize().expect("the fixtures directory")
}

/// Run a k64f scenario with app-1.0.0 in the primary slot and `steps`; (passed, output).
fn run(steps: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let f = fixtures();
    let text = format!(
        "name: flash steps\nseed: 3\ndevice:\n  layout: k64f\n  key: {}\n  primary: {}\nsteps:\n{steps}",
        f.join("keys/ed25519.pub.pem").display(),
        f.join("images/app-1.0.0.bin").display()
    );
    let path = dir.path().join("s.yaml");
    std::fs::write(&path, text).expect("write the scenario");
    let out = Command::new(env!("CARGO_BIN_EXE_brownout"))
        .args(["run", "--no-repro"])
        .arg(&path)
        .output()
        .expect("brownout runs");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), all)
}

fn app_1_0_0() -> Vec<u8> {
    std::fs::read(fixtures().join("images/app-1.0.0.bin")).expect("app-1.0.0.bin")
}

#[test]
fn a_raw_flash_region_is_checked_against_its_sha256() {
    let image = app_1_0_0();
    let sha = hex::encode(Sha256::digest(&image));
    let step = |sha: &str| {
        format!(
            "  - expect:\n      flash:\n        - {{ flash: 0, offset: {PRIMARY:#x}, size: {}, sha256: '{sha}' }}\n",
            image.len()
        )
    };
    let (ok, all) = run(&step(&sha));
    assert!(ok, "{all}");
    let wrong = "00".repeat(32);
    let (ok, all) = run(&step(&wrong));
    assert!(!ok, "{all}");
    assert!(
        all.contains(&format!(
            "flash 0 bytes {PRIMARY:#x}..{:#x} has SHA-256 {wrong}",
            PRIMARY + image.len()
        )),
        "{all}"
    );
    assert!(all.contains(&sha), "the actual digest is shown: {all}");
}

#[test]
fn a_bit_flip_after_a_flash_operation_strikes_during_the_next_upload() {
    let image = app_1_0_0();
    let (byte, bit) = (0x300usize, 2u8);
    let mut flipped = image.clone();
    flipped[byte] ^= 1 << bit;
    let region = |sha: &[u8]| {
        format!(
            "  - expect:\n      flash:\n        - {{ flash: 0, offset: {PRIMARY:#x}, size: {}, sha256: '{}' }}\n",
            image.len(),
            hex::encode(sha)
        )
    };
    let steps = format!(
        "  - bit_flip: {{ offset: {:#x}, bit: {bit}, after_op: 3 }}\n{}  - upload: {{ image: {}, chunk_size: 256 }}\n{}",
        PRIMARY + byte,
        // Not yet: no flash operation has happened since the step.
        region(&Sha256::digest(&image)),
        fixtures().join("images/app-2.0.0.bin").display(),
        // After the upload's third flash operation the bit is inverted.
        region(&Sha256::digest(&flipped)),
    );
    let (ok, all) = run(&steps);
    assert!(ok, "{all}");
}

#[test]
fn a_device_that_cannot_be_built_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let key = dir.path().join("not-a-key.pem");
    std::fs::write(&key, "hello\n").expect("write the key");
    let text = format!(
        "name: bad key\ndevice:\n  key: {}\n  primary: {}\nsteps: [reset]\n",
        key.display(),
        fixtures().join("images/app-1.0.0.bin").display()
    );
    let path = dir.path().join("s.yaml");
    std::fs::write(&path, text).expect("write the scenario");
    let out = Command::new(env!("CARGO_BIN_EXE_brownout"))
        .args(["run", "--no-repro"])
        .arg(&path)
        .output()
        .expect("brownout runs");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("ERROR"), "{all}");
    assert!(all.contains(&format!("cannot build the device: key {}", key.display())), "{all}");
}
