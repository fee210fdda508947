//! `brownout client` against `brownout sim` run as a child process, over UDP and over the PTY:
//! image list, upload, test, reset, confirm — human output snapshotted (hashes and timing
//! redacted, checked separately), `--json` output parsed and checked, device errors named
//! with exit code 1, argument errors with exit code 2.
//!
//! Every child runs with a time limit (`sim_support::run_tool`), every poll is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sim_support.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::{Run, Sim, fixture, poll, run_tool, signed_image};

const STEP: Duration = Duration::from_secs(60);

fn start_sim(dir: &Path, transport: &[&str]) -> Sim {
    let key = fixture("keys/ed25519.pub.pem");
    let primary = fixture("images/app-1.0.0.bin");
    let mut args = vec![
        "--layout",
        "k64f",
        "--mode",
        "swap-scratch",
        "--key",
        key.to_str().unwrap(),
        "--primary",
        primary.to_str().unwrap(),
        "--reset-delay-ms",
        "50",
    ];
    args.extend_from_slice(transport);
    Sim::start(dir, &["-vv"], &args)
}

/// `brownout client <transport> <args>`, output (stdout + stderr) in a file, time-limited.
fn client(dir: &Path, transport: &[&str], args: &[&str]) -> Run {
    let mut all = vec!["client", "--timeout", "2000", "--retries", "2"];
    all.extend_from_slice(transport);
    all.extend_from_slice(args);
    run_tool(dir, Path::new(env!("CARGO_BIN_EXE_brownout")), &all, STEP)
}

/// Hashes (64 hex digits) and seconds replaced by placeholders.
fn redact(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let words: Vec<String> = line
            .split(' ')
            .map(|w| {
                if w.len() == 64 && w.chars().all(|c| c.is_ascii_hexdigit()) {
                    "<hash>".to_string()
                } else {
                    w.to_string()
                }
            })
            .collect();
        let mut line = words.join(" ");
        if let Some(at) = line.rfind(", ")
            && line.ends_with(" s")
            && line.starts_with("uploaded ")
        {
            line = format!("{}, <secs> s", &line[..at]);
        }
        // Column widths depend on the hash; normalise runs of spaces.
        out.push_str(line.split_whitespace().collect::<Vec<_>>().join(" ").as_str());
        out.push('\n');
    }
    out
}

fn json(run: &Run) -> Value {
    assert!(run.ok(), "{}", run.output);
    serde_json::from_str(&run.output).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.output))
}

/// (slot, version, active, confirmed, pending) of every listed image.
fn slots(v: &Value) -> Vec<(u64, String, bool, bool, bool)> {
    v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["slot"].as_u64().unwrap(),
                i["version"].as_str().unwrap().to_string(),
                i["active"].as_bool().unwrap(),
                i["confirmed"].as_bool().unwrap(),
                i["pending"].as_bool().unwrap(),
            )
        })
        .collect()
}

/// The whole upgrade with the CLI; snapshots named `<name>_…`.
fn upgrade_flow(dir: &Path, transport: &[&str], sim: &Sim, name: &str, window: &str) {
    let run = |args: &[&str]| client(dir, transport, args);
    let ok = |r: &Run, what: &str| {
        assert!(r.ok(), "{what} failed:\n{}\nsim log:\n{}", r.output, sim.log_text());
    };

    let r = run(&["image", "list"]);
    ok(&r, "image list");
    insta::assert_snapshot!(format!("{name}_list_before"), redact(&r.output));
    let v = json(&run(&["--json", "image", "list"]));
    assert_eq!(slots(&v), vec![(0, "1.0.0".into(), true, true, false)]);
    let running_hash = support::image_hash(&std::fs::read(fixture("images/app-1.0.0.bin")).unwrap());
    assert_eq!(v["images"][0]["hash"], Value::String(running_hash.clone()));
    assert!(r.output.contains(&running_hash), "the table shows the full hash:\n{}", r.output);

    let (image, hash) = signed_image(dir, "app-2.0.0.bin", "2.0.0", 72 * 1024);
    let r = run(&["image", "upload", image.to_str().unwrap(), "--window", window]);
    ok(&r, "image upload");
    insta::assert_snapshot!(format!("{name}_upload"), redact(&r.output));
    assert!(r.output.ends_with(&format!("image hash {hash}\n")), "the hash to test with:\n{}", r.output);

    let r = run(&["image", "list"]);
    ok(&r, "image list");
    insta::assert_snapshot!(format!("{name}_list_uploaded"), redact(&r.output));
    assert!(r.output.contains(&hash));

    let r = run(&["image", "test", &hash]);
    ok(&r, "image test");
    insta::assert_snapshot!(format!("{name}_test"), redact(&r.output));

    let r = run(&["reset"]);
    ok(&r, "reset");
    assert_eq!(r.output.trim(), "reset requested");

    let swapped = poll(40, Duration::from_millis(250), || {
        let r = run(&["--json", "image", "list"]);
        if !r.ok() {
            return None;
        }
        let v: Value = serde_json::from_str(&r.output).ok()?;
        (slots(&v).first() == Some(&(0, "2.0.0".into(), true, false, false))).then_some(v)
    });
    let v = swapped.unwrap_or_else(|| panic!("2.0.0 never ran; sim log:\n{}", sim.log_text()));
    assert_eq!(v["images"][0]["hash"], Value::String(hash.clone()));

    let r = run(&["image", "confirm"]);
    ok(&r, "image confirm");
    insta::assert_snapshot!(format!("{name}_confirm"), redact(&r.output));
    let v = json(&run(&["--json", "image", "list"]));
    assert_eq!(slots(&v)[0], (0, "2.0.0".into(), true, true, false));

    // A device error: exit code 1, the command and the device's code named.
    let bogus = "ab".repeat(32);
    let r = run(&["image", "test", &bogus]);
    assert_eq!(r.status.and_then(|s| s.code()), Some(1), "{}", r.output);
    assert_eq!(
        r.output.trim(),
        "error: image state write: the device answered group 1 error: IMG_MGMT_ERR_HASH_NOT_FOUND (8)"
    );
    let r = run(&["--json", "image", "test", &bogus]);
    assert_eq!(r.status.and_then(|s| s.code()), Some(1));
    let doc = r.output.lines().take_while(|l| !l.starts_with("error:")).collect::<Vec<_>>().join("\n");
    let v: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["error"]["command"], "image state write");
    assert_eq!(v["error"]["device"]["group"], 1);
    assert_eq!(v["error"]["device"]["group_rc"], 8);
    assert_eq!(v["error"]["device"]["group_error"], "IMG_MGMT_ERR_HASH_NOT_FOUND (8)");
    // SMP v1: the same error folded into a generic rc.
    let r = run(&["--smp-v1", "image", "test", &bogus]);
    assert_eq!(r.output.trim(), "error: image state write: the device answered MGMT_ERR_EUNKNOWN (1)");

    // A few other commands.
    let r = run(&["echo", "hello brownout"]);
    ok(&r, "echo");
    assert_eq!(r.output.trim(), "hello brownout");
    let v = json(&run(&["--json", "params"]));
    assert!(v["buf_size"].as_u64().unwrap() >= 384, "{v}");
    let r = run(&["image", "slots"]);
    ok(&r, "image slots");
    insta::assert_snapshot!(format!("{name}_slots"), redact(&r.output));
}

#[test]
fn client_upgrades_a_sim_over_udp() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &["--udp", "127.0.0.1:0"]);
    let addr = sim.udp[0].to_string();
    upgrade_flow(dir.path(), &["--udp", &addr], &sim, "udp", "1");
    assert!(sim.terminate().success());
}

#[test]
fn client_upgrades_a_sim_over_the_pty_with_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &["--pty"]);
    let pty = sim.pty().to_string();
    // Short lines (64 bytes, markers and newline included) and an explicit baud rate.
    upgrade_flow(dir.path(), &["--serial", &pty, "--line-length", "64", "--baud", "57600"], &sim, "pty", "3");
    // The device printed boot banners on the console; the client skipped them.
    assert!(sim.log_text().contains("console: *** Booting MCUboot ***"));
    assert!(sim.terminate().success());
}

#[test]
fn client_argument_and_connection_errors() {
    let dir = tempfile::tempdir().unwrap();
    // No transport: a usage error (exit 2).
    let r = run_tool(dir.path(), Path::new(env!("CARGO_BIN_EXE_brownout")), &["client", "echo", "x"], STEP);
    assert_eq!(r.status.and_then(|s| s.code()), Some(2), "{}", r.output);
    // A bad hash: exit 2 before anything is sent.
    let r = client(dir.path(), &["--udp", "127.0.0.1:9"], &["image", "test", "xyz"]);
    assert_eq!(r.status.and_then(|s| s.code()), Some(2), "{}", r.output);
    assert!(r.output.contains("image hash \"xyz\" is not hex"), "{}", r.output);
    // Nobody listening: a bounded timeout, exit 1.
    let r = run_tool(
        dir.path(),
        Path::new(env!("CARGO_BIN_EXE_brownout")),
        &["client", "--udp", "127.0.0.1:9", "--timeout", "100", "--retries", "1", "echo", "x"],
        STEP,
    );
    assert_eq!(r.status.and_then(|s| s.code()), Some(1), "{}", r.output);
    assert_eq!(r.output.trim(), "error: os echo: no reply after 2 attempt(s) of 100 ms each");
    // A serial port that does not exist.
    let r = client(dir.path(), &["--serial", "/nonexistent/tty"], &["echo", "x"]);
    assert_eq!(r.status.and_then(|s| s.code()), Some(2), "{}", r.output);
    assert!(r.output.contains("/nonexistent/tty"), "{}", r.output);
}

/// Upload through a misbehaving link: the sim drops, duplicates, mis-numbers and damages
/// replies (`--fault`); the client's retries and resyncs still land the exact image.
fn upload_through_faults(transport_arg: &str, window: &str) {
    let dir = tempfile::tempdir().unwrap();
    let faults = [
        "--fault",
        "drop@every:17",
        "--fault",
        "duplicate@every:13",
        "--fault",
        "wrong-seq@every:19",
        "--fault",
        "corrupt-crc@every:23",
        "--fault",
        "reorder@every:29",
    ];
    let mut sim_args: Vec<&str> = faults.to_vec();
    let over_udp = transport_arg == "udp";
    sim_args.extend_from_slice(if over_udp { &["--udp", "127.0.0.1:0"][..] } else { &["--pty"][..] });
    let sim = start_sim(dir.path(), &sim_args);
    let transport: Vec<String> = if over_udp {
        vec!["--udp".into(), sim.udp[0].to_string()]
    } else {
        vec!["--serial".into(), sim.pty().to_string()]
    };
    let t: Vec<&str> = transport.iter().map(String::as_str).collect();
    let (image, hash) = signed_image(dir.path(), "app-2.0.0.bin", "2.0.0", 72 * 1024);
    let mut args = vec!["--timeout", "300", "--retries", "4"];
    args.extend_from_slice(&t);
    args.extend_from_slice(&["--json", "image", "upload", image.to_str().unwrap(), "--window", window]);
    let r = run_tool(
        dir.path(),
        Path::new(env!("CARGO_BIN_EXE_brownout")),
        &[&["client"], &args[..]].concat(),
        STEP,
    );
    let v = json(&r);
    assert_eq!(v["bytes"].as_u64(), Some(std::fs::metadata(&image).unwrap().len()));
    assert_eq!(v["image_hash"], Value::String(hash.clone()));
    let recovered = v["retries"].as_u64().unwrap() + v["resyncs"].as_u64().unwrap();
    assert!(recovered >= 5, "the faults forced retries or resyncs: {v}");
    assert_eq!(v["matched"], Value::Bool(true), "the device's SHA-256 check: {v}");
    // The device lists the image with the hash of the file: every byte arrived.
    let mut list = vec!["--timeout", "300", "--retries", "4"];
    list.extend_from_slice(&t);
    list.extend_from_slice(&["--json", "image", "list"]);
    let v = json(&run_tool(
        dir.path(),
        Path::new(env!("CARGO_BIN_EXE_brownout")),
        &[&["client"], &list[..]].concat(),
        STEP,
    ));
    let slot1 = v["images"].as_array().unwrap().iter().find(|i| i["slot"] == 1).cloned();
    assert_eq!(slot1.map(|s| s["hash"].clone()), Some(Value::String(hash)), "{v}");
    assert!(sim.terminate().success());
}

#[test]
fn client_upload_survives_a_faulty_udp_link() {
    upload_through_faults("udp", "1");
}

#[test]
fn client_upload_with_a_window_survives_a_faulty_pty() {
    upload_through_faults("pty", "3");
}

#[test]
fn client_file_settings_stat_shell_and_os_commands_over_udp() {
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &["--udp", "127.0.0.1:0"]);
    let addr = sim.udp[0].to_string();
    let t = ["--udp", addr.as_str()];
    let run = |args: &[&str]| client(dir.path(), &t, args);
    let ok =
        |r: &Run, what: &str| assert!(r.ok(), "{what} failed:\n{}\nsim log:\n{}", r.output, sim.log_text());

    // File system: upload 10 000 bytes, size, SHA-256 and CRC-32, download them back.
    let local = dir.path().join("data.bin");
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&local, &data).unwrap();
    let r = run(&["fs", "upload", local.to_str().unwrap(), "/lfs1/data.bin"]);
    ok(&r, "fs upload");
    assert_eq!(r.output.trim(), "wrote 10000 bytes to /lfs1/data.bin");
    let r = run(&["fs", "stat", "/lfs1/data.bin"]);
    assert_eq!(r.output.trim(), "/lfs1/data.bin: 10000 bytes");
    let v = json(&run(&["--json", "fs", "hash", "/lfs1/data.bin", "--type", "sha256"]));
    use sha2::Digest as _;
    assert_eq!(v["output"], Value::String(hex::encode(sha2::Sha256::digest(&data))));
    let r = run(&["fs", "hash", "/lfs1/data.bin"]);
    ok(&r, "fs hash crc32");
    assert!(r.output.starts_with("crc32 0x"), "{}", r.output);
    let back = dir.path().join("back.bin");
    let r = run(&["fs", "download", "/lfs1/data.bin", back.to_str().unwrap()]);
    ok(&r, "fs download");
    assert_eq!(std::fs::read(&back).unwrap(), data);
    let r = run(&["fs", "stat", "/lfs1/missing"]);
    assert_eq!(r.status.and_then(|s| s.code()), Some(1), "{}", r.output);
    assert!(r.output.starts_with("error: fs status: the device answered group 8 error: "), "{}", r.output);

    // Settings.
    ok(&run(&["settings", "write", "app/name", "brownout"]), "settings write");
    let r = run(&["settings", "read", "app/name"]);
    assert_eq!(r.output.trim(), "app/name = \"brownout\" (hex 62726f776e6f7574)");
    ok(&run(&["settings", "write", "app/raw", "00ff", "--hex"]), "settings write --hex");
    let v = json(&run(&["--json", "settings", "read", "app/raw"]));
    assert_eq!(v["val"], "00ff");
    ok(&run(&["settings", "save"]), "settings save");
    ok(&run(&["settings", "commit"]), "settings commit");
    ok(&run(&["settings", "delete", "app/raw"]), "settings delete");

    // Statistics, groups, info, params, shell, datetime.
    let v = json(&run(&["--json", "stat", "list"]));
    let first = v["stat_list"][0].as_str().expect("a stat group").to_string();
    let r = run(&["stat", "show", &first]);
    ok(&r, "stat show");
    assert!(r.output.starts_with(&first), "{}", r.output);
    let v = json(&run(&["groups", "--json"]));
    assert!(v["groups"].as_array().unwrap().contains(&Value::from(1)), "{v}");
    let r = run(&["groups"]);
    ok(&r, "groups");
    assert!(r.output.contains("    1  image"), "{}", r.output);
    let r = run(&["info"]);
    ok(&r, "info");
    assert!(!r.output.trim().is_empty());
    let v = json(&run(&["--json", "params"]));
    assert_eq!(v["buf_size"], 2048, "--udp sims have 2048-byte buffers: {v}");
    let r = run(&["shell", "kernel", "version"]);
    assert!(r.status.is_some(), "{}", r.output);
    let r = run(&["datetime"]);
    assert!(r.ok() || r.output.starts_with("error: os datetime get: the device answered"), "{}", r.output);

    // An older image with --upgrade: the device refuses it on the first chunk.
    let (old, _) = signed_image(dir.path(), "app-0.9.0.bin", "0.9.0", 8 * 1024);
    let r = run(&["image", "upload", old.to_str().unwrap(), "--upgrade"]);
    assert_eq!(r.status.and_then(|s| s.code()), Some(1), "{}", r.output);
    assert_eq!(
        r.output.trim(),
        "error: image upload: the device answered group 1 error: IMG_MGMT_ERR_CURRENT_VERSION_IS_NEWER (27)"
    );
    // Not an image at all.
    let r = run(&["image", "upload", local.to_str().unwrap()]);
    assert_eq!(r.status.and_then(|s| s.code()), Some(1), "{}", r.output);
    assert_eq!(
        r.output.trim(),
        "error: image upload: the device answered group 1 error: IMG_MGMT_ERR_INVALID_IMAGE_HEADER_MAGIC (23)"
    );

    // Erase the empty secondary slot.
    let r = run(&["image", "erase", "1"]);
    ok(&r, "image erase");
    assert_eq!(r.output.trim(), "erased slot 1");
    assert!(sim.terminate().success());
}

#[test]
fn client_uploads_over_a_paced_pty_with_big_frames_and_a_window() {
    // 2048-byte buffers (frames of ~2.8 KB of base64 lines) and four chunks in flight on a
    // line paced at 115200 baud.
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &["--pty", "--baud", "115200", "--buf-size", "2048"]);
    let pty = sim.pty().to_string();
    let (image, hash) = signed_image(dir.path(), "app-2.0.0.bin", "2.0.0", 24 * 1024);
    let r = client(
        dir.path(),
        &["--serial", &pty],
        &["--json", "image", "upload", image.to_str().unwrap(), "--window", "4"],
    );
    let v = json(&r);
    assert_eq!(v["chunk_size"].as_u64().map(|c| c > 1900), Some(true), "{v}");
    assert_eq!(v["matched"], Value::Bool(true), "{v}");
    let v = json(&client(dir.path(), &["--serial", &pty], &["--json", "image", "list"]));
    assert_eq!(v["images"][1]["hash"], Value::String(hash), "{v}");
    assert!(sim.terminate().success());
}
