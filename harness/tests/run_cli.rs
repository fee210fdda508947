//! `brownout run` through the built binary: the scenario library passes on the in-process
//! simulator and its JUnit report lists every scenario; a deliberately wrong scenario fails
//! with a message naming the step, its line, expected and actual; skipped steps say why and
//! keep the run from passing; shards split a run without losing or repeating a file; a
//! failure leaves a reproducer directory (flash, trailers, transcript) the reports point to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn brownout(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_brownout")).current_dir(dir).args(args).output().expect("run brownout")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Durations vary run to run: `12ms` / `1.23s` become `[T]`.
fn redact(s: &str, dir: &Path) -> String {
    let re = regex::Regex::new(r"\b\d+(\.\d+)?m?s\b").unwrap();
    re.replace_all(&s.replace(&dir.display().to_string(), "[DIR]"), "[T]").into_owned()
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

/// The JSON report without what varies from run to run: durations, and the notes of `exec`
/// steps (they name the PTY the client was given and how long it took).
fn results(json: &Path) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                m.remove("duration");
                if m.get("step").is_some_and(|s| s == "exec") {
                    m.remove("note");
                }
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
    for run in [&a, &b] {
        assert!(
            run.status.success(),
            "{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
    }
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
    let out = brownout(tmp.path(), &["run", "broken.yaml", "--no-repro", "--junit", junit.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!("broken_version", redact(&text(&out), tmp.path()));
    // Progress, when standard error is not a terminal, is one plain line per scenario.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[1/1] broken.yaml … failed"), "{stderr}");
    assert!(!text(&out).contains('\u{1b}'), "no colour codes in a pipe");
    assert!(!tmp.path().join("target").exists(), "--no-repro writes no reproducer");

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let failure = doc.descendants().find(|n| n.has_tag_name("failure")).expect("a failure element");
    assert_eq!(failure.attribute("message"), Some("step 4 `expect` at broken.yaml:11 failed"));
}

#[test]
fn skipped_steps_say_why_and_the_run_does_not_pass() {
    let root = testkit::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    // On a child simulator over UDP the boot count cannot be read: that check is skipped, the
    // version check still made, and the steps after it still run.
    let scenario = format!(
        "name: checks a target cannot make\ndevice:\n  layout: k64f\n  key: {0}/keys/ed25519.pub.pem\n  primary: {0}/images/app-1.0.0.bin\nsteps:\n  - echo: {{ text: hi }}\n  - expect: {{ running_version: 1.0.0, boot_count: 1 }}\n  - echo: {{ text: still here }}\n",
        root.join("fixtures").display()
    );
    std::fs::write(tmp.path().join("skips.yaml"), scenario).unwrap();
    let out = brownout(tmp.path(), &["run", "skips.yaml", "--target", "sim-udp"]);
    assert_eq!(out.status.code(), Some(1), "a run with skipped steps has not passed");
    assert!(!tmp.path().join("target").exists(), "a run that failed nothing leaves no reproducer");
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
    let out = brownout(tmp.path(), &["run", "sweep.yaml", "--no-repro"]);
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

/// Small passing scenarios `s0.yaml`… in `dir` (some in a subdirectory), for runs that are
/// about which files run rather than what they do.
fn echo_scenarios(dir: &Path, n: usize) -> Vec<String> {
    let fixtures = testkit::workspace_root().join("fixtures");
    std::fs::create_dir_all(dir.join("more")).unwrap();
    (0..n)
        .map(|i| {
            let name = if i % 2 == 0 { format!("s{i}.yaml") } else { format!("more/s{i}.yaml") };
            std::fs::write(
                dir.join(&name),
                format!(
                    "name: echo {i}\ndevice:\n  layout: k64f\n  key: {0}/keys/ed25519.pub.pem\n  primary: {0}/images/app-1.0.0.bin\nsteps:\n  - echo: {{ text: hi {i} }}\n",
                    fixtures.display()
                ),
            )
            .unwrap();
            name
        })
        .collect()
}

/// The files a JSON report lists, in its order.
fn files_in(json: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    v["scenarios"].as_array().unwrap().iter().map(|s| s["file"].as_str().unwrap().to_string()).collect()
}

#[test]
fn shards_together_run_every_file_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("sc");
    let mut all: Vec<String> = echo_scenarios(&dir, 7).into_iter().map(|f| format!("sc/{f}")).collect();
    all.sort();
    for count in [2, 3] {
        let mut seen = Vec::new();
        for index in 1..=count {
            let json = tmp.path().join(format!("{index}-of-{count}.json"));
            let shard = format!("{index}/{count}");
            let out =
                brownout(tmp.path(), &["run", "sc", "--shard", &shard, "--json", json.to_str().unwrap()]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let files = files_in(&json);
            assert!(!files.is_empty(), "shard {shard} ran nothing");
            // Every n-th of the sorted files, from the i-th.
            let want: Vec<String> = all.iter().skip(index - 1).step_by(count).cloned().collect();
            assert_eq!(files, want, "shard {shard}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(&format!("(shard {shard} of 7)")), "{stderr}");
            seen.extend(files);
        }
        seen.sort();
        assert_eq!(seen, all, "{count} shards cover every file once");
    }
    // More shards than files: the empty ones pass, saying so.
    let out = brownout(tmp.path(), &["run", "sc/s0.yaml", "--shard", "2/2"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 2/2 has no scenario files (1 in all)"));
}

#[test]
fn bad_shards_are_refused_saying_why() {
    let tmp = tempfile::tempdir().unwrap();
    echo_scenarios(tmp.path(), 1);
    let mut all = String::new();
    for bad in ["0/0", "3/2", "0/3", "x", "a/2", "1/two"] {
        let out = brownout(tmp.path(), &["run", ".", "--shard", bad]);
        assert_eq!(out.status.code(), Some(2), "--shard {bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        all.push_str(&format!("--shard {bad}\n{}\n", stderr.lines().next().unwrap_or_default()));
    }
    insta::assert_snapshot!("bad_shards", all);
}

/// An image state request (SMP v2 read, group 1, command 0, body `{}`).
fn image_state_request(seq: u8) -> Vec<u8> {
    use smp::header::{Group, Header, Op, Version};
    let payload = smp::cbor::encode(&smp::cbor::Value::Map(vec![]), smp::cbor::MapStyle::Definite);
    let mut bytes =
        Header::new(Version::V2, Op::Read, Group::Image, 0, seq, payload.len() as u16).encode().to_vec();
    bytes.extend_from_slice(&payload);
    bytes
}

/// The reproducer of a failure, made from the device the scenario builds and its real
/// traffic: every file is there, the flash dump is the layout's size, the trailers and the
/// transcript say what the device held and was asked.
#[test]
fn a_reproducer_holds_the_flash_the_trailers_and_the_failing_request() {
    use harness::runner::repro::{self, ReproInput};
    use harness::runner::transcript::Transcript;
    use sim_device::transport::{InProcClient, InProcConfig, SharedDevice};

    let root = testkit::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("broken.yaml");
    std::fs::write(&file, BROKEN.replace("FIX", root.join("fixtures").to_str().unwrap())).unwrap();
    let scenario = harness::scenario::Scenario::from_path(&file).unwrap();
    let spec = scenario.all_devices().next().unwrap();
    let device = scenario.device_config(spec).unwrap().build().unwrap();
    let shared = SharedDevice::new(device);
    let transcript = Transcript::new();
    transcript.attach(&shared);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut client = InProcClient::connect(&shared, InProcConfig::default());
        transcript.note(4, 11, "expect");
        let reply = client.request(&image_state_request(42), std::time::Duration::from_secs(5)).await;
        assert!(reply.is_ok(), "{reply:?}");
        // The reply is recorded on its way out; give the emitter a moment (bounded).
        for _ in 0..200 {
            if transcript.packet_counts() == (1, 1) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });

    let report =
        "✗ FAILED  broken.yaml — expects the wrong version\n    step 4 `expect` at broken.yaml:11 failed\n";
    let at = shared.with(|d| {
        let devices = [("main".to_string(), &*d)];
        let input = ReproInput {
            scenario_file: &file,
            scenario_name: &scenario.name,
            seed: 9,
            report_text: report,
            devices: &devices,
            dumps: &[],
            transcript: Some(&transcript),
        };
        repro::write(&tmp.path().join("repro"), &input).unwrap()
    });
    assert_eq!(at, tmp.path().join("repro/broken"));
    for f in [
        "README.md",
        "report.txt",
        "scenario.yaml",
        "flash-main-0.bin",
        "trailers-main.txt",
        "transcript.txt",
    ] {
        assert!(at.join(f).is_file(), "{f} missing");
    }
    let layout = mcuboot::layout::FlashMap::preset("k64f").unwrap();
    let flash = std::fs::metadata(at.join("flash-main-0.bin")).unwrap().len();
    assert_eq!(flash, u64::from(layout.devices[0].size()));

    let transcript = std::fs::read_to_string(at.join("transcript.txt")).unwrap();
    let step = transcript.find("── step 4 (line 11): expect").expect("the step marker");
    let request = transcript.find("→ request").expect("the request");
    assert!(step < request, "{transcript}");
    assert!(
        transcript.contains("header   image state read: v2 read group=1 (image) id=0 seq=42"),
        "{transcript}"
    );
    assert!(transcript.contains("\"version\": \"1.0.0\""), "the reply lists the image:\n{transcript}");

    let trailers = std::fs::read_to_string(at.join("trailers-main.txt")).unwrap();
    assert!(trailers.contains("state:  running 1.0.0"), "{trailers}");
    assert!(trailers.contains("image 0 primary (slot 0): flash 0 0x20000..0x40000"), "{trailers}");
    let readme = std::fs::read_to_string(at.join("README.md")).unwrap();
    assert!(readme.contains("--seed 9"), "{readme}");
    assert!(readme.contains("app-2.0.0.bin"), "the upload's image is listed:\n{readme}");
}

/// End to end: `brownout run` on a failing scenario writes the reproducer, prints where it is,
/// and the JUnit and JSON reports carry its path.
#[test]
fn a_failing_run_leaves_a_reproducer_the_reports_point_to() {
    let root = testkit::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("broken.yaml"),
        BROKEN.replace("FIX", root.join("fixtures").to_str().unwrap()),
    )
    .unwrap();
    let (junit, json) = (tmp.path().join("report.xml"), tmp.path().join("report.json"));
    let out = brownout(
        tmp.path(),
        &[
            "run",
            "broken.yaml",
            "--repro-dir",
            "out",
            "--junit",
            junit.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out);
    assert!(stdout.contains("    reproducer: out/broken\n"), "{stdout}");

    let at = tmp.path().join("out/broken");
    for f in [
        "README.md",
        "report.txt",
        "scenario.yaml",
        "flash-main-0.bin",
        "trailers-main.txt",
        "transcript.txt",
    ] {
        assert!(at.join(f).is_file(), "{f} missing");
    }
    let flash = std::fs::metadata(at.join("flash-main-0.bin")).unwrap().len();
    assert_eq!(flash, u64::from(mcuboot::layout::FlashMap::preset("k64f").unwrap().devices[0].size()));
    // After the upgrade and reboot, 2.0.0 runs from the primary slot, not yet confirmed.
    let trailers = std::fs::read_to_string(at.join("trailers-main.txt")).unwrap();
    assert!(trailers.contains("state:  running 2.0.0"), "{trailers}");
    let transcript = std::fs::read_to_string(at.join("transcript.txt")).unwrap();
    assert!(transcript.contains("image upload"), "{transcript}");
    assert!(transcript.contains("step 4 (line 11)"), "the failing step is marked:\n{transcript}");
    let report = std::fs::read_to_string(at.join("report.txt")).unwrap();
    assert!(report.contains("expected: running version 3.0.0"), "{report}");

    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("the JUnit report is XML");
    let failure = doc.descendants().find(|n| n.has_tag_name("failure")).expect("a failure element");
    assert_eq!(
        failure.attribute("message"),
        Some("step 4 `expect` at broken.yaml:11 failed (reproducer: out/broken)")
    );
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["scenarios"][0]["repro"], "out/broken");
}
