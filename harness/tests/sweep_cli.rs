//! `brownout sweep` as a user runs it: summary, JSON, reproducers, image files, exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::path::Path;
use std::process::{Command, Output};

use sim_device::sweep::synthetic_image;

fn brownout(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brownout")).arg("sweep").args(args).output().expect("run brownout")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The summary with the one timing-dependent line masked.
fn masked(text: &str) -> String {
    text.lines()
        .map(|l| if l.contains("cuts/s") { "  [timing line]" } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn summary_of_a_passing_sweep() {
    let o = brownout(&["--layout", "k64f", "--mode", "swap-offset", "--cuts", "before,torn", "--seed", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("cuts/s"));
    insta::assert_snapshot!(masked(&text));
}

#[test]
fn json_report_has_the_numbers() {
    let o = brownout(&["--mode", "swap-move", "--phase", "upgrade", "--cuts", "before", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    assert_eq!(v["algorithm"], "swap-move");
    assert_eq!(v["phases"][0]["phase"], "upgrade");
    assert_eq!(v["phases"][0]["reference_ops"], 114);
    assert_eq!(v["cases"], 114);
    assert_eq!(v["failure_count"], 0);
    assert!(v["cases_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn documented_limitation_is_listed_with_reason_and_rerun_line() {
    let o = brownout(&["--mode", "overwrite", "--cuts", "before", "--op", "162"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("documented MCUboot limitations: 1"), "{text}");
    assert!(text.contains("why: overwrite-only leaves a stale secondary trailer"), "{text}");
    assert!(text.contains(
        "rerun: brownout sweep --layout k64f --mode overwrite --align 8 --erased 0xff --phase upgrade --cuts before --op 162 --repeat 1 --seed 1"
    ));
    assert!(text.contains("revert   skipped: overwrite-only never reverts"));
}

#[test]
fn repeated_cuts_are_replayable_by_seed() {
    let args = ["--mode", "swap-scratch", "--phase", "revert", "--repeat", "3", "--seed", "42", "--json"];
    let a: serde_json::Value = serde_json::from_slice(&brownout(&args).stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&brownout(&args).stdout).unwrap();
    assert_eq!(a["phases"], b["phases"]);
    assert_eq!(a["tolerated"], b["tolerated"]);
    assert_eq!(a["failure_count"], 0);
}

fn write_images(dir: &Path, corrupt_new: bool) -> (String, String) {
    let old = synthetic_image(12_000, (1, 0, 0), 11);
    let mut new = synthetic_image(15_000, (1, 1, 0), 12);
    if corrupt_new {
        new.bytes[100] ^= 0xff; // payload no longer matches its SHA-256 TLV
    }
    let (p, s) = (dir.join("old.bin"), dir.join("new.bin"));
    std::fs::write(&p, &old.bytes).unwrap();
    std::fs::write(&s, &new.bytes).unwrap();
    (p.display().to_string(), s.display().to_string())
}

#[test]
fn image_files_are_swept_and_named_in_reruns() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = write_images(dir.path(), false);
    let o =
        brownout(&["--mode", "swap-scratch", "--cuts", "torn-word", "--primary", &old, "--secondary", &new]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    assert!(text.contains("result: PASS"));
    if text.contains("rerun:") {
        assert!(text.contains(&format!("--primary {old} --secondary {new}")), "{text}");
    }
}

#[test]
fn an_upgrade_that_cannot_install_fails_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = write_images(dir.path(), true);
    let o = brownout(&["--mode", "swap-move", "--cuts", "before", "--primary", &old, "--secondary", &new]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}{}", stderr(&o));
    assert!(text.contains("REFERENCE PROBLEM"), "{text}");
    assert!(text.contains("result: FAIL"));
}

#[test]
fn bad_arguments_exit_2_with_the_reason() {
    for (args, needle) in [
        (vec!["--layout", "nope"], "unknown layout `nope`"),
        (vec!["--mode", "swap-sideways"], "unknown mode"),
        (vec!["--align", "3"], "--align 3"),
        (vec!["--erased", "0x7f"], "--erased 0x7f"),
        (vec!["--cuts", "before,sideways"], "unknown cut kind `sideways`"),
        (vec!["--phase", "downgrade"], "unknown phase"),
        (vec!["--repeat", "0"], "--repeat"),
        (vec!["--layout", "stm32f4", "--mode", "swap-move"], "one sector size"),
        (vec!["--primary", "/nonexistent/old.bin"], "/nonexistent/old.bin"),
    ] {
        let o = brownout(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stdout(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}

/// Images signed by imgtool itself (hash-only, `--pad-header`) sweep cleanly.
#[test]
fn imgtool_images_sweep_cleanly() {
    let Some(imgtool) = testkit::peer_tool("imgtool", "pip install imgtool==2.5.0") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (name, len, version, seed) in [("old", 9000usize, "1.0.0", 5u8), ("new", 11000, "2.0.0", 6)] {
        let raw = dir.path().join(format!("{name}.raw"));
        let signed = dir.path().join(format!("{name}.bin"));
        let payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)).collect();
        std::fs::write(&raw, payload).unwrap();
        let status = Command::new(&imgtool)
            .args(["sign", "--header-size", "0x20", "--pad-header", "--align", "8", "--version", version])
            .args(["--slot-size", "0x20000"])
            .arg(&raw)
            .arg(&signed)
            .status()
            .expect("run imgtool");
        assert!(status.success());
        files.push(signed.display().to_string());
    }
    let o = brownout(&[
        "--mode",
        "swap-offset",
        "--cuts",
        "before,after",
        "--primary",
        &files[0],
        "--secondary",
        &files[1],
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("result: PASS"));
}
