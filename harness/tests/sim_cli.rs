//! `brownout sim` as a script runs it: the endpoint lines first, argument errors, a flash
//! file that keeps the board's state across runs, the PTY symlink, two boards side by side
//! on port 1337, decoded traffic in the debug log, clean shutdown on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

#[path = "sim_support.rs"]
mod support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use smp::cbor::{MapStyle, Value};
use smp::groups::Empty;
use smp::groups::image::StateWriteRequest;
use smp::groups::os::{EchoRequest, ResetRequest};
use smp::header::Version;
use smp::message::Request;
use support::{Sim, fixture, poll, wait_timeout};

/// Send one request over UDP, return the reply body (bounded wait, a few retries).
fn udp_request(addr: SocketAddr, request: &Request, seq: u8) -> Value {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let bytes = request.encode(seq, Version::V2, MapStyle::Definite).unwrap();
    let mut buf = vec![0u8; 4096];
    for _ in 0..5 {
        socket.send_to(&bytes, addr).unwrap();
        if let Ok(n) = socket.recv(&mut buf)
            && buf[6] == seq
        {
            return smp::cbor::decode(&buf[8..n]).unwrap();
        }
    }
    panic!("no reply from {addr}")
}

/// (slot, version, confirmed) of each image in a state read.
fn images(addr: SocketAddr) -> Vec<(u64, String, bool)> {
    let body = udp_request(addr, &Request::ImageStateRead(Empty), 1);
    let Some(Value::Array(list)) = body.get("images").cloned() else { panic!("{body:?}") };
    list.iter()
        .map(|i| {
            (
                i.get("slot").and_then(Value::as_u64).unwrap(),
                i.get("version").and_then(Value::as_text).unwrap().to_string(),
                i.get("confirmed").and_then(|v| v.as_bool()).unwrap_or(false),
            )
        })
        .collect()
}

fn brownout(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_brownout"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // These runs fail at argument checking, before serving: they end by themselves.
    let status = wait_timeout(&mut child, Duration::from_secs(20));
    if status.is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn argument_errors_exit_2_and_say_what_is_wrong() {
    let key = fixture("keys/ed25519.pub.pem");
    let cases: &[(&[&str], &str)] = &[
        (&["sim"], "nothing to listen on"),
        (&["sim", "--pty", "--mode", "swap-sideways"], "unknown mode `swap-sideways` (known: overwrite"),
        (&["sim", "--pty", "--behaviour", "dance"], "--behaviour \"dance\""),
        (&["sim", "--pty", "--behaviour", "crash-after:x"], "not a boot count"),
        (&["sim", "--pty", "--layout", "nope"], "unknown layout `nope` (known: k64f"),
        (&["sim", "--pty", "--erased", "0x55"], "--erased"),
        (&["sim", "--pty", "--align", "3"], "--align 3"),
        (&["sim", "--pty", "--buf-size", "10"], "--buf-size 10"),
        (&["sim", "--pty", "--key", "/nonexistent/key.pem"], "/nonexistent/key.pem"),
        (&["sim", "--pty", "--primary", "/nonexistent/app.bin"], "/nonexistent/app.bin"),
        (&["sim", "--pty", "--key", "/etc/hostname"], "/etc/hostname"),
    ];
    for (args, needle) in cases {
        let (code, err) = brownout(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: expected {needle:?} in {err}");
    }
    // A public key is a valid --key.
    let _ = key;
}

#[test]
fn udp_on_a_taken_address_is_an_error() {
    let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, err) = brownout(&["sim", "--udp", &addr]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("binding UDP {addr}")) && err.contains("in use"), "{err}");
}

#[test]
fn the_flash_file_keeps_the_board_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let flash = dir.path().join("board.bin");
    let key = fixture("keys/ed25519.pub.pem");
    let v1 = fixture("images/app-1.0.0.bin");
    let v2 = fixture("images/app-2.0.0.bin");
    let args = |udp: &'static str| {
        vec![
            "--key".to_string(),
            key.to_str().unwrap().to_string(),
            "--primary".to_string(),
            v1.to_str().unwrap().to_string(),
            "--secondary".to_string(),
            v2.to_str().unwrap().to_string(),
            "--flash".to_string(),
            flash.to_str().unwrap().to_string(),
            "--behaviour".to_string(),
            "confirm".to_string(),
            "--reset-delay-ms".to_string(),
            "50".to_string(),
            "--udp".to_string(),
            udp.to_string(),
        ]
    };
    let a = args("127.0.0.1:0");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let sim = Sim::start(dir.path(), &["-v"], &a);
    let addr = sim.udp[0];
    assert_eq!(images(addr).iter().map(|i| i.1.as_str()).collect::<Vec<_>>(), vec!["1.0.0", "2.0.0"]);
    // Test 2.0.0, reset: it swaps in and (behaviour confirm) confirms itself.
    let hash = mcuboot_hash(&std::fs::read(&v2).unwrap());
    let body = udp_request(addr, &Request::ImageStateWrite(StateWriteRequest::test(&hash)), 2);
    assert!(body.get("images").is_some(), "{body:?}");
    udp_request(addr, &Request::Reset(ResetRequest::default()), 3);
    let swapped = poll(40, Duration::from_millis(250), || {
        let i = images(addr);
        (i.first() == Some(&(0, "2.0.0".to_string(), true))).then_some(i)
    });
    assert!(swapped.is_some(), "{}", sim.log_text());
    assert!(sim.terminate().success());
    assert!(flash.exists());

    // A new run on the same file: the images given are ignored, the board is as it was
    // (a power cycle: 2.0.0 confirmed stays).
    let sim = Sim::start(dir.path(), &[], &a);
    let i = images(sim.udp[0]);
    assert_eq!(i[0], (0, "2.0.0".to_string(), true), "{i:?}");
    assert_eq!(i[1].1, "1.0.0");
    assert!(sim.terminate().success());
}

fn mcuboot_hash(image: &[u8]) -> Vec<u8> {
    hex::decode(support::image_hash(image)).unwrap()
}

#[test]
fn pty_link_is_made_printed_and_removed_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyBROWNOUT");
    let primary = fixture("images/app-1.0.0-unsigned.bin");
    let sim = Sim::start(
        dir.path(),
        &[],
        &["--primary", primary.to_str().unwrap(), "--pty-link", link.to_str().unwrap()],
    );
    assert_eq!(sim.header[0], format!("pty {}", sim.pty()));
    assert_eq!(sim.header[1], format!("pty-link {}", link.display()));
    assert_eq!(std::fs::read_link(&link).unwrap().to_str().unwrap(), sim.pty());
    let log = sim.log.clone();
    assert!(sim.terminate().success());
    assert!(std::fs::symlink_metadata(&link).is_err(), "link left behind");
    assert!(std::fs::read_to_string(log).unwrap().contains("brownout sim: stopped"));
}

#[test]
fn two_boards_side_by_side_on_port_1337() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let v1 = fixture("images/app-1.0.0-unsigned.bin");
    let a =
        Sim::start(dir_a.path(), &["-vv"], &["--primary", v1.to_str().unwrap(), "--udp", "127.0.0.131:1337"]);
    let b = Sim::start(dir_b.path(), &["-vv"], &["--udp", "127.0.0.132:1337"]);
    assert_eq!(a.udp[0].to_string(), "127.0.0.131:1337");
    // Board a runs; board b has no image and is bricked: it answers nothing.
    let echo = Request::Echo(EchoRequest { d: Some("a".into()) });
    let body = udp_request(a.udp[0], &echo, 9);
    assert_eq!(body.get("r").and_then(Value::as_text), Some("a"));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    socket.send_to(&echo.encode(1, Version::V2, MapStyle::Definite).unwrap(), b.udp[0]).unwrap();
    assert!(socket.recv(&mut [0u8; 64]).is_err(), "a bricked board answered");
    // The debug log shows decoded traffic.
    let log = a.log_text();
    assert!(
        log.contains("<- v2 write group=0 (os) id=0 seq=9") && log.contains("os echo {\"d\": \"a\"}"),
        "{log}"
    );
    assert!(
        log.contains("-> v2 write-rsp group=0 (os) id=0 seq=9") && log.contains("ok {\"r\": \"a\"}"),
        "{log}"
    );
    assert!(a.terminate().success());
    assert!(b.terminate().success());
}
