//! Group updates end to end through `brownout run`: a group that should roll back but is
//! expected to commit fails with each member's story; a failure that cannot happen in a phase
//! is refused when the scenario is read; `on` steps reach the named device only.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").canonicalize().expect("the fixtures directory")
}

fn scenario(dir: &Path, body: &str) -> PathBuf {
    let f = fixtures();
    let text = format!(
        "name: group test\nseed: 5\ndevices:\n\
         - {{ name: a, layout: nrf52840, key: {k}, primary: {p} }}\n\
         - {{ name: b, layout: k64f, mode: swap-move, key: {k}, primary: {p} }}\n\
         steps:\n{body}",
        k = f.join("keys/ed25519.pub.pem").display(),
        p = f.join("images/app-1.0.0.bin").display(),
    );
    let path = dir.join("group.yaml");
    std::fs::write(&path, text).expect("write the scenario");
    path
}

fn run(path: &Path) -> (Output, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_brownout")).arg("run").arg(path).output().expect("brownout runs");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, all)
}

#[test]
fn a_group_expected_to_commit_fails_when_a_member_crashes_and_says_who() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixtures().join("images/app-2.0.0.bin");
    let path = scenario(
        dir.path(),
        &format!(
            "  - group:\n      members: [a, b]\n      image: {}\n      failures: [{{ member: b, phase: boot, kind: crash }}]\n      expect: committed\n",
            image.display()
        ),
    );
    let (out, all) = run(&path);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("expected: the group committed"), "{all}");
    assert!(all.contains("it rolled-back (b: boots 1.0.0 instead of 2.0.0)"), "{all}");
    assert!(all.contains("a: booted 2.0.0 (test)"), "{all}");
}

#[test]
fn a_group_rolls_back_when_a_confirm_is_lost_and_every_member_ends_on_its_old_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixtures().join("images/app-2.0.0.bin");
    let path = scenario(
        dir.path(),
        &format!(
            "  - group:\n      members: [a, b]\n      image: {}\n      failures: [{{ member: b, phase: confirm, kind: power-loss }}]\n      expect: rolled-back\n\
             \x20 - on: {{ device: a, steps: [reset, wait_boot, {{ expect: {{ running_version: 1.0.0 }} }}] }}\n\
             \x20 - on: {{ device: b, steps: [{{ expect: {{ running_version: 1.0.0, images_intact: true }} }}] }}\n",
            image.display()
        ),
    );
    let json = dir.path().join("report.json");
    let out = Command::new(env!("CARGO_BIN_EXE_brownout"))
        .arg("run")
        .arg(&path)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{all}");
    let report = std::fs::read_to_string(&json).unwrap();
    assert!(report.contains("2 members rolled back after b: lost power while confirming"), "{report}");
}

#[test]
fn a_failure_that_cannot_happen_in_its_phase_is_refused_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let image = fixtures().join("images/app-2.0.0.bin");
    let path = scenario(
        dir.path(),
        &format!(
            "  - group:\n      members: [a, b]\n      image: {}\n      failures: [{{ member: a, phase: upload, kind: crash }}]\n      expect: rolled-back\n",
            image.display()
        ),
    );
    let (out, all) = run(&path);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("failures: a `crash` cannot be injected in the upload phase (possible there: power-loss, reject, disconnect)"),
        "{all}"
    );
}
