//! smpmgr 0.19.1 (Intercreate's SMP CLI, on smpclient) drives `brownout sim` through a whole
//! test-and-confirm upgrade, over the PTY and over UDP: echo, image state, upload of a 72 KiB
//! signed image, mark it for test, reset (the simulated MCUboot swaps), the new image runs
//! unconfirmed, confirm it, reset again and it stays.
//!
//! smpmgr exits 0 even when the device answers with an SMP error, so every step asserts on
//! what it printed (its output goes to a file; `COLUMNS=200 TERM=dumb NO_COLOR=1`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

#[path = "sim_support.rs"]
mod support;

use std::path::Path;
use std::time::Duration;

use support::{Run, Sim, fixture, poll, run_tool, signed_image};

const STEP: Duration = Duration::from_secs(60);

fn smpmgr() -> Option<std::path::PathBuf> {
    testkit::peer_tool("smpmgr", "pip install smpmgr==0.19.1")
}

/// The `ImageState(...)` blocks smpmgr prints, as (slot, version, active, confirmed, pending).
fn states(out: &str) -> Vec<(u32, String, bool, bool, bool)> {
    let mut v = Vec::new();
    for block in out.split("ImageState(").skip(1) {
        let field = |name: &str| {
            block
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(&format!("{name}=")))
                .map(|s| s.trim_end_matches(',').trim_matches('\'').to_string())
                .unwrap_or_default()
        };
        v.push((
            field("slot").parse().unwrap_or(99),
            field("version"),
            field("active") == "True",
            field("confirmed") == "True",
            field("pending") == "True",
        ));
    }
    v
}

/// Transport arguments for smpmgr.
fn upgrade_flow(dir: &Path, smpmgr: &Path, transport: &[&str], sim: &Sim) {
    let run = |args: &[&str]| -> Run {
        let mut all: Vec<&str> = transport.to_vec();
        all.extend_from_slice(&["--timeout", "3"]);
        all.extend_from_slice(args);
        run_tool(dir, smpmgr, &all, STEP)
    };
    let expect = |r: &Run, what: &str, needle: &str| {
        assert!(
            r.ok() && r.output.contains(needle),
            "{what}: expected {needle:?} in:\n{}\nsim log:\n{}",
            r.output,
            sim.log_text()
        );
    };

    // Echo (smpmgr asks for the MCUmgr parameters first).
    let r = run(&["os", "echo", "hello brownout"]);
    expect(&r, "echo", "r='hello brownout'");

    // State read: 1.0.0 runs, confirmed.
    let r = run(&["image", "state-read"]);
    let s = states(&r.output);
    assert_eq!(
        s.first().map(|x| (x.0, x.1.as_str(), x.2, x.3)),
        Some((0, "1.0.0", true, true)),
        "{}",
        r.output
    );

    // Upload a 72 KiB image.
    let (image, hash) = signed_image(dir, "app-2.0.0-big.bin", "2.0.0", 72 * 1024);
    let r = run(&["image", "upload", image.to_str().unwrap()]);
    expect(&r, "upload", "100.0%");
    let r = run(&["image", "state-read"]);
    let s = states(&r.output);
    assert!(s.iter().any(|x| x.0 == 1 && x.1 == "2.0.0" && !x.4), "uploaded image in slot 1:\n{}", r.output);

    // Mark it for test.
    let r = run(&["image", "state-write", &hash]);
    assert!(r.ok() && !r.output.contains("Error"), "state-write:\n{}", r.output);
    let r = run(&["image", "state-read"]);
    assert!(states(&r.output).iter().any(|x| x.0 == 1 && x.4), "slot 1 pending after test:\n{}", r.output);

    // Reset: the device reboots through MCUboot, which swaps; 2.0.0 then runs unconfirmed.
    let r = run(&["os", "reset"]);
    expect(&r, "reset", "ResetWriteResponse");
    let after_test = poll(20, Duration::from_millis(500), || {
        let r = run(&["image", "state-read"]);
        let s = states(&r.output);
        s.iter().any(|x| x.0 == 0 && x.1 == "2.0.0" && x.2 && !x.3).then_some(r.output)
    });
    assert!(after_test.is_some(), "2.0.0 never ran from slot 0; sim log:\n{}", sim.log_text());

    // Confirm the running image, reset again: it stays.
    let r = run(&["image", "state-write", "--confirm"]);
    assert!(r.ok() && !r.output.contains("Error"), "confirm:\n{}", r.output);
    let r = run(&["image", "state-read"]);
    assert!(states(&r.output).iter().any(|x| x.0 == 0 && x.1 == "2.0.0" && x.3), "confirmed:\n{}", r.output);
    let r = run(&["os", "reset"]);
    expect(&r, "second reset", "ResetWriteResponse");
    let kept = poll(20, Duration::from_millis(500), || {
        let log = sim.log_text();
        if !log.contains("boot 3: running 2.0.0") {
            return None;
        }
        let r = run(&["image", "state-read"]);
        let s = states(&r.output);
        s.iter().any(|x| x.0 == 0 && x.1 == "2.0.0" && x.2 && x.3).then_some(())
    });
    assert!(kept.is_some(), "2.0.0 not kept after the second reset; sim log:\n{}", sim.log_text());
}

fn start_sim(dir: &Path, transport: &[&str]) -> Sim {
    let key = fixture("keys/ed25519.pub.pem");
    let primary = fixture("images/app-1.0.0.bin");
    let flash = dir.join("flash.bin");
    let mut args = vec![
        "--layout",
        "k64f",
        "--mode",
        "swap-scratch",
        "--key",
        key.to_str().unwrap(),
        "--primary",
        primary.to_str().unwrap(),
        "--flash",
        flash.to_str().unwrap(),
    ];
    args.extend_from_slice(transport);
    Sim::start(dir, &["-vv"], &args)
}

#[test]
fn smpmgr_upgrades_over_the_pty() {
    let Some(smpmgr) = smpmgr() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &["--pty"]);
    let pty = sim.pty().to_string();
    upgrade_flow(dir.path(), &smpmgr, &["--port", &pty], &sim);
    // smpmgr asked for the parameters (0/6) and the device answered them.
    let log = sim.log_text();
    assert!(log.contains("os params") && log.contains("buf_size"), "params exchange missing:\n{log}");
    // The device printed its boot banners on the console between requests; smpmgr coped.
    assert!(log.contains("console: *** Booting MCUboot ***"), "{log}");
    assert!(sim.terminate().success());
}

#[test]
fn smpmgr_upgrades_over_udp() {
    let Some(smpmgr) = smpmgr() else { return };
    let dir = tempfile::tempdir().unwrap();
    // smpmgr always uses port 1337: a loopback address of its own keeps tests apart.
    let sim = start_sim(dir.path(), &["--udp", "127.0.0.121:1337"]);
    upgrade_flow(dir.path(), &smpmgr, &["--ip", "127.0.0.121"], &sim);
    let log = sim.log_text();
    assert!(log.contains("os params") && log.contains("buf_size"), "params exchange missing:\n{log}");
    assert!(sim.terminate().success());
}

/// At a real UART's pace (115200 baud, both directions), smpmgr still talks to the board and
/// uploads an image; the upload takes at least the time its bytes need on the line.
#[test]
fn smpmgr_over_a_pty_paced_at_115200_baud() {
    let Some(smpmgr) = smpmgr() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sim = start_sim(dir.path(), &["--pty", "--baud", "115200"]);
    let pty = sim.pty().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--port", pty.as_str(), "--timeout", "5"];
        all.extend_from_slice(args);
        run_tool(dir.path(), &smpmgr, &all, STEP)
    };
    let r = run(&["os", "echo", "slow line"]);
    assert!(r.ok() && r.output.contains("r='slow line'"), "{}", r.output);
    let image = fixture("images/app-2.0.0.bin");
    let len = std::fs::metadata(&image).unwrap().len() as f64;
    let t0 = std::time::Instant::now();
    let r = run(&["image", "upload", image.to_str().unwrap()]);
    let took = t0.elapsed().as_secs_f64();
    assert!(r.ok() && r.output.contains("100.0%"), "{}", r.output);
    // base64 alone makes 4/3 of the image cross the line at 11 520 bytes/s.
    assert!(took >= len * 4.0 / 3.0 / 11_520.0, "{took} s is faster than the line allows");
    let r = run(&["image", "state-read"]);
    assert!(states(&r.output).iter().any(|s| s.0 == 1 && s.1 == "2.0.0"), "{}", r.output);
    assert!(sim.terminate().success());
}

/// Zephyr's UART line buffer (128 bytes by default) drops longer lines: smpmgr sending
/// 512-byte lines gets no answer to a long echo, until the board is built with a bigger
/// buffer (`--uart-rx-buf`, CONFIG_UART_MCUMGR_RX_BUF_SIZE).
#[test]
fn smpmgr_long_lines_need_a_bigger_uart_buffer() {
    let Some(smpmgr) = smpmgr() else { return };
    let text = "x".repeat(300);
    for (rx_buf, answered) in [("128", false), ("512", true)] {
        let dir = tempfile::tempdir().unwrap();
        let sim = start_sim(dir.path(), &["--pty", "--uart-rx-buf", rx_buf]);
        let args =
            ["--port", sim.pty(), "--timeout", "1", "--line-length", "512", "os", "echo", text.as_str()];
        let r = run_tool(dir.path(), &smpmgr, &args, STEP);
        // (smpmgr wraps the long echo text, so look for the response and its length.)
        let got = r.output.contains("EchoWriteResponse") && r.output.contains("length=307");
        assert_eq!(got, answered, "rx buffer {rx_buf}:\n{}", r.output);
        assert!(sim.terminate().success());
    }
}
