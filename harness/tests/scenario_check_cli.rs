//! `brownout check`: valid scenarios exit 0, a broken one exits 1 with its diagnostic, and
//! `--schema` prints the committed schema.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::process::Command;

fn brownout(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_brownout")).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn examples_directory_is_valid() {
    let dir = testkit::workspace_root().join("scenarios/examples");
    let (code, out) = brownout(&["check", dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("scenario files are valid"), "{out}");
}

#[test]
fn a_broken_scenario_exits_1_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yml");
    std::fs::write(&path, "name: x\ndevice: {}\nsteps:\n  - reset\n  - wait_boot: {timeout: 5}\n").unwrap();
    let (code, out) = brownout(&["check", "--quiet", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("broken.yml:5:26: found the bare number 5"), "{out}");
    assert!(out.contains("1 of 1 scenario files have problems"), "{out}");
}

#[test]
fn schema_flag_prints_the_committed_schema() {
    let (code, out) = brownout(&["check", "--schema"]);
    assert_eq!(code, 0);
    let committed = std::fs::read_to_string(testkit::workspace_root().join("scenarios/schema.json")).unwrap();
    assert_eq!(out, committed);
}

#[test]
fn no_paths_and_missing_paths_are_argument_errors() {
    assert_eq!(brownout(&["check"]).0, 2);
    let (code, out) = brownout(&["check", "/nonexistent/scenarios"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("/nonexistent/scenarios: cannot read"), "{out}");
}
