//! mcumgrctl 0.20.0 (Finomnis's mcumgr-toolkit CLI, an independent Rust implementation) drives
//! `brownout sim` through a whole test-and-confirm upgrade over the PTY and over UDP: echo
//! (sent as a READ), MCUmgr parameters, image state (JSON), upload of a 72 KiB signed image in
//! chunks sized from the parameters, test, reset, the new image runs, confirm, reset, kept.
//!
//! mcumgrctl exits non-zero on an SMP error, and `--json` output is parsed, so both the exit
//! code and the content are checked.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

#[path = "sim_support.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use support::{Run, Sim, fixture, poll, run_tool, signed_image};

const STEP: Duration = Duration::from_secs(60);

fn mcumgrctl() -> Option<std::path::PathBuf> {
    testkit::peer_tool(
        "mcumgrctl",
        "cargo install mcumgrctl@0.20.0 --locked --no-default-features (ci/install-peers.sh)",
    )
}

/// (slot, version, active, confirmed, pending) of every image in `image get-state --json`.
fn states(r: &Run) -> Vec<(u64, String, bool, bool, bool)> {
    // The JSON array starts on a line of its own (log lines before it start with '[' too).
    let start = if r.output.starts_with("[\n") { 0 } else { r.output.find("\n[\n").map_or(0, |i| i + 1) };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.output[start..]) else { return Vec::new() };
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|i| {
                    (
                        i["slot"].as_u64().unwrap_or(99),
                        i["version"].as_str().unwrap_or_default().to_string(),
                        i["active"].as_bool().unwrap_or(false),
                        i["confirmed"].as_bool().unwrap_or(false),
                        i["pending"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn upgrade_flow(dir: &Path, tool: &Path, transport: &[&str], sim: &Sim) {
    let run = |args: &[&str]| -> Run {
        let mut all: Vec<&str> = transport.to_vec();
        all.extend_from_slice(&["--timeout", "3000"]);
        all.extend_from_slice(args);
        run_tool(dir, tool, &all, STEP)
    };
    let ok = |r: &Run, what: &str| {
        assert!(r.ok(), "{what} failed:\n{}\nsim log:\n{}", r.output, sim.log_text());
    };

    let r = run(&["os", "echo", "hello brownout"]);
    ok(&r, "echo");
    assert!(r.output.contains("hello brownout"), "{}", r.output);

    let r = run(&["os", "mcumgr-parameters"]);
    ok(&r, "params");
    assert!(r.output.contains("buf_size") && r.output.contains("buf_count"), "{}", r.output);

    let r = run(&["--json", "image", "get-state"]);
    ok(&r, "get-state");
    assert_eq!(states(&r), vec![(0, "1.0.0".to_string(), true, true, false)], "{}", r.output);

    let (image, hash) = signed_image(dir, "app-2.0.0-big.bin", "2.0.0", 72 * 1024);
    let r = run(&["-q", "image", "upload", image.to_str().unwrap()]);
    ok(&r, "upload");
    let r = run(&["--json", "image", "get-state"]);
    assert!(states(&r).iter().any(|s| s.0 == 1 && s.1 == "2.0.0" && !s.4), "{}", r.output);

    let r = run(&["image", "set-state", "--hash", &hash]);
    ok(&r, "set-state (test)");
    let r = run(&["--json", "image", "get-state"]);
    assert!(states(&r).iter().any(|s| s.0 == 1 && s.4), "slot 1 pending:\n{}", r.output);

    let r = run(&["os", "system-reset"]);
    ok(&r, "reset");
    let ran = poll(20, Duration::from_millis(500), || {
        let r = run(&["--json", "image", "get-state"]);
        states(&r).iter().any(|s| s.0 == 0 && s.1 == "2.0.0" && s.2 && !s.3).then_some(())
    });
    assert!(ran.is_some(), "2.0.0 never ran from slot 0; sim log:\n{}", sim.log_text());

    let r = run(&["image", "set-state", "--confirm"]);
    ok(&r, "confirm");
    let r = run(&["os", "system-reset"]);
    ok(&r, "second reset");
    let kept = poll(20, Duration::from_millis(500), || {
        if !sim.log_text().contains("boot 3: running 2.0.0") {
            return None;
        }
        let r = run(&["--json", "image", "get-state"]);
        states(&r).iter().any(|s| s.0 == 0 && s.1 == "2.0.0" && s.2 && s.3).then_some(())
    });
    assert!(kept.is_some(), "2.0.0 not kept after the second reset; sim log:\n{}", sim.log_text());

    // An SMP error is an error: a test request for a hash no slot holds.
    let r = run(&["image", "set-state", "--hash", &"ab".repeat(32)]);
    assert!(!r.ok(), "unknown hash accepted:\n{}", r.output);
}

fn start_sim(dir: &Path, transport: &[&str]) -> Sim {
    let key = fixture("keys/ed25519.pub.pem");
    let primary = fixture("images/app-1.0.0.bin");
    let mut args =
        vec!["--mode", "swap-move", "--key", key.to_str().unwrap(), "--primary", primary.to_str().unwrap()];
    args.extend_from_slice(transport);
    Sim::start(dir, &["-v"], &args)
}

#[test]
fn mcumgrctl_upgrades_over_the_pty() {
    let Some(tool) = mcumgrctl() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &["--pty"]);
    let pty = sim.pty().to_string();
    upgrade_flow(dir.path(), &tool, &["--serial", &pty], &sim);
    assert!(sim.terminate().success());
}

#[test]
fn mcumgrctl_upgrades_over_udp() {
    let Some(tool) = mcumgrctl() else { return };
    let dir = tempfile::tempdir().unwrap();
    // mcumgrctl can choose the port: let the system pick one.
    let sim = start_sim(dir.path(), &["--udp", "127.0.0.1:0"]);
    let addr = sim.udp[0].to_string();
    upgrade_flow(dir.path(), &tool, &["--udp", &addr], &sim);
    assert!(sim.terminate().success());
}

/// With replies dropped, corrupted (serial CRC) or carrying a wrong sequence number
/// (`--fault`), mcumgrctl's retries still get a whole image across, on both transports; both
/// sides show what happened. (A datagram with a damaged payload is not retried by mcumgrctl —
/// it fails to decode the CBOR — so the UDP run uses wrong sequence numbers instead.)
#[test]
fn mcumgrctl_retries_through_wire_faults() {
    let Some(tool) = mcumgrctl() else { return };
    let key = fixture("keys/ed25519.pub.pem");
    let primary = fixture("images/app-1.0.0.bin");
    let cases = [
        (["--pty", ""], "corrupt-crc@every:7", "corrupt CRC"),
        (["--udp", "127.0.0.1:0"], "wrong-seq@every:7", "wrong sequence number"),
    ];
    for (listen, fault, logged) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut args = vec!["--key", key.to_str().unwrap(), "--primary", primary.to_str().unwrap()];
        args.extend_from_slice(&["--fault", "drop@every:5", "--fault", fault, "--fault-seed", "3"]);
        args.extend(listen.iter().copied().filter(|a| !a.is_empty()));
        let sim = Sim::start(dir.path(), &["-vv"], &args);
        let target = match sim.pty.as_deref() {
            Some(p) => ["--serial".to_string(), p.display().to_string()],
            None => ["--udp".to_string(), sim.udp[0].to_string()],
        };
        let (image, _) = signed_image(dir.path(), "app-2.0.0.bin", "2.0.0", 40 * 1024);
        let mut a: Vec<&str> = target.iter().map(String::as_str).collect();
        a.extend_from_slice(&[
            "-t",
            "300",
            "--retries",
            "8",
            "-q",
            "image",
            "upload",
            image.to_str().unwrap(),
        ]);
        let r = run_tool(dir.path(), &tool, &a, STEP);
        assert!(r.ok(), "upload through {fault} failed on {target:?}:\n{}", r.output);
        assert!(r.output.contains("Retry transmission"), "no retries seen on {target:?}:\n{}", r.output);
        let mut a: Vec<&str> = target.iter().map(String::as_str).collect();
        a.extend_from_slice(&["-t", "300", "--retries", "8", "--json", "image", "get-state"]);
        let r = run_tool(dir.path(), &tool, &a, STEP);
        assert!(states(&r).iter().any(|s| s.0 == 1 && s.1 == "2.0.0"), "{}", r.output);
        let log = sim.log_text();
        assert!(log.contains("drop") && log.contains(logged), "faults not logged:\n{log}");
        assert!(sim.terminate().success());
    }
}

/// Raw UART mode (`--raw-uart`, CONFIG_MCUMGR_TRANSPORT_RAW_UART): mcumgrctl `--raw` sends
/// bare SMP packets; echo, upload and state read work.
#[test]
fn mcumgrctl_raw_uart_mode() {
    let Some(tool) = mcumgrctl() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &["--pty", "--raw-uart"]);
    let pty = sim.pty().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--serial", pty.as_str(), "--raw", "--timeout", "3000"];
        all.extend_from_slice(args);
        run_tool(dir.path(), &tool, &all, STEP)
    };
    let r = run(&["os", "echo", "raw hello"]);
    assert!(r.ok() && r.output.contains("raw hello"), "{}", r.output);
    let (image, _) = signed_image(dir.path(), "app-2.0.0.bin", "2.0.0", 20 * 1024);
    let r = run(&["-q", "image", "upload", image.to_str().unwrap()]);
    assert!(r.ok(), "{}", r.output);
    let r = run(&["--json", "image", "get-state"]);
    assert!(states(&r).iter().any(|s| s.0 == 1 && s.1 == "2.0.0"), "{}", r.output);
    assert!(sim.terminate().success());
}
