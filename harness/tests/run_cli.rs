//! `brownout run` through the built binary: the scenario library passes on the in-process
//! simulator and its JUnit report lists every scenario; a deliberately wrong scenario fails
//! with a message naming the step, its line, expected and actual; skipped steps say why and
//! keep the run from passing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn brownout(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brownout")).current_dir(dir).args(args).output().expect("run brownout")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Durations vary run to run: `in 12ms` / `in 1.23s` become `in [T]`.
fn redact(s: &str, dir: &Path) -> String {
    let re = regex::Regex::new(r"in \d+(\.\d+)?m?s").unwrap();
    re.replace_all(&s.replace(&dir.display().to_string(), "[DIR]"), "in [T]").into_owned()
}

#[test]
fn the_library_passes_and_the_junit_report_lists_every_scenario() {
    let root = testkit::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    let junit = tmp.path().join("report.xml");
    let json = tmp.path().join("report.json");
    let out = brownout(
        &root,
        &[
            "run",
            "scenarios/library",
            "--jobs",
            "2",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );
    let stdout = text(&out);
    assert!(out.status.success(), "brownout run failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));

    let mut files: Vec<String> = std::fs::read_dir(root.join("scenarios/library"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| format!("scenarios/library/{}", p.file_name().unwrap().to_string_lossy()))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "the library has {} scenarios", files.len());

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit report is XML");
    let cases: Vec<_> = doc.descendants().filter(|n| n.has_tag_name("testcase")).collect();
    let mut listed: Vec<String> =
        cases.iter().map(|c| c.attribute("classname").unwrap().to_string()).collect();
    listed.sort();
    assert_eq!(listed, files);
    for case in &cases {
        assert!(!case.attribute("name").unwrap_or_default().is_empty());
        assert!(
            case.children().all(|c| !c.is_element()),
            "{} did not pass",
            case.attribute("classname").unwrap()
        );
    }
    let suites = doc.root_element();
    assert_eq!(suites.attribute("tests"), Some(files.len().to_string().as_str()));
    assert_eq!(suites.attribute("failures"), Some("0"));

    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(json["passed"], true);
    assert_eq!(json["scenarios"].as_array().unwrap().len(), files.len());
    for file in &files {
        assert!(stdout.contains(&format!("✓ passed  {file}")), "no pass line for {file}:\n{stdout}");
    }
    // The power cut really struck the upload (not a clean upload that happened to pass).
    let power = json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["file"] == "scenarios/library/power-loss-during-upload.yaml")
        .unwrap();
    assert_eq!(power["steps"][1]["step"], "upload");
    let note = power["steps"][1]["note"].as_str().unwrap();
    assert!(note.starts_with("power cut at flash operation"), "{note}");
}

/// The JSON report without durations.
fn results(json: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("duration");
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    strip(&mut v);
    v
}

#[test]
fn parallel_runs_give_the_same_results_in_the_same_order() {
    let root = testkit::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    let (one, three) = (tmp.path().join("one.json"), tmp.path().join("three.json"));
    let a = brownout(&root, &["run", "scenarios/library", "--jobs", "1", "--json", one.to_str().unwrap()]);
    let b = brownout(&root, &["run", "scenarios/library", "--jobs", "3", "--json", three.to_str().unwrap()]);
    assert!(a.status.success() && b.status.success());
    assert_eq!(results(&one), results(&three));
}

/// A copy of a library scenario with one expectation wrong.
const BROKEN: &str = "\
name: expects the wrong version after the upgrade
seed: 9
device:
  layout: k64f
  key: FIX/keys/ed25519.pub.pem
  primary: FIX/images/app-1.0.0.bin
steps:
  - upload: { image: FIX/images/app-2.0.0.bin, then: test }
  - reset
  - wait_boot
  - expect: { running_version: 3.0.0 }
  - image_confirm
";

#[test]
fn a_wrong_expectation_fails_naming_the_step_its_line_expected_and_actual() {
    let root = testkit::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    let fixtures = root.join("fixtures");
    std::fs::write(tmp.path().join("broken.yaml"), BROKEN.replace("FIX", fixtures.to_str().unwrap()))
        .unwrap();
    let junit = tmp.path().join("report.xml");
    let out = brownout(tmp.path(), &["run", "broken.yaml", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("broken_version", redact(&text(&out), tmp.path()));

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc.descendants().find(|n| n.has_tag_name("failure")).expect("a failure element");
    assert_eq!(failure.attribute("message"), Some("step 4 `expect` at broken.yaml:11 failed"));
}

#[test]
fn skipped_steps_say_why_and_the_run_does_not_pass() {
    let root = testkit::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    let scenario = format!(
        "name: uses steps the in-process runner cannot do yet\ndevice:\n  layout: k64f\n  key: {0}/keys/ed25519.pub.pem\n  primary: {0}/images/app-1.0.0.bin\nsteps:\n  - echo: {{ text: hi }}\n  - bit_flip: {{ offset: 0, bit: 0, after_op: 3 }}\n  - exec: {{ command: \"mcumgr --help\" }}\n  - echo: {{ text: still here }}\n",
        root.join("fixtures").display()
    );
    std::fs::write(tmp.path().join("skips.yaml"), scenario).unwrap();
    let out = brownout(tmp.path(), &["run", "skips.yaml"]);
    assert_eq!(out.status.code(), Some(1), "a run with skipped steps has not passed");
    insta::assert_snapshot!("skipped_steps", redact(&text(&out), tmp.path()));
}

/// Hooks, file system, settings, shell, sleep and boot counts, through the example that uses
/// them all.
#[test]
fn the_fs_settings_shell_hooks_example_passes() {
    let root = testkit::workspace_root();
    let out = brownout(&root, &["run", "scenarios/examples", "--filter", "fs-settings-shell-hooks"]);
    let stdout = text(&out);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("(21 ✓;"), "{stdout}");
}

/// A sweep whose checks cannot hold fails at its first cut point, naming it and the step.
#[test]
fn a_sweep_that_breaks_names_the_cut_point() {
    let root = testkit::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    let scenario = format!(
        "name: a sweep with a wrong expectation\nseed: 3\ndevice:\n  layout: k64f\n  key: {0}/keys/ed25519.pub.pem\n  primary: {0}/images/app-1.0.0.bin\nsteps:\n  - upload: {{ image: {0}/images/app-2.0.0.bin, then: test }}\n  - reset\n  - power_loss_sweep: {{ during: swap, every: 8 }}\n  - power_on\n  - wait_boot\n  - expect: {{ running_version: 1.0.0 }}\n",
        root.join("fixtures").display()
    );
    std::fs::write(tmp.path().join("sweep.yaml"), scenario).unwrap();
    let out = brownout(tmp.path(), &["run", "sweep.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("sweep_failure", redact(&text(&out), tmp.path()));
}

#[test]
fn no_scenario_files_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = brownout(tmp.path(), &["run", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario files"));
}
