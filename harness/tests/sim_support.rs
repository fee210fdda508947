//! Test support for process-level tests of `brownout sim` (included by the `sim_*` and
//! `peers_*` tests with `#[path]`): start the simulator as a child process, run third-party
//! clients with a time limit and their output in a file, poll for a state.
//!
//! Every child is killed when its handle is dropped, and every wait is bounded.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the simulator may take to print `ready`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `brownout sim`.
pub struct Sim {
    child: Option<Child>,
    /// The pts path, if it serves a PTY.
    pub pty: Option<PathBuf>,
    /// The pty symlink, if asked for.
    pub pty_link: Option<PathBuf>,
    /// Where it listens on UDP.
    pub udp: Vec<SocketAddr>,
    /// Its stderr (logs).
    pub log: PathBuf,
    /// The endpoint lines it printed.
    pub header: Vec<String>,
}

impl Sim {
    /// Start `brownout <global> sim <args>`, wait for its `ready` line. Its log goes to
    /// `dir/sim.log`.
    pub fn start(dir: &Path, global: &[&str], args: &[&str]) -> Sim {
        let log = dir.join("sim.log");
        let stderr = std::fs::File::create(&log).expect("create the sim log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_brownout"))
            .args(global)
            .arg("sim")
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start brownout sim");
        let stdout = child.stdout.take().expect("sim stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut sim =
            Sim { child: Some(child), pty: None, pty_link: None, udp: Vec::new(), log, header: Vec::new() };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!("brownout sim did not print `ready` in time; log:\n{}", sim.log_text()),
            };
            sim.header.push(line.clone());
            match line.split_once(' ') {
                Some(("pty", p)) => sim.pty = Some(PathBuf::from(p)),
                Some(("pty-link", p)) => sim.pty_link = Some(PathBuf::from(p)),
                Some(("udp", a)) => sim.udp.push(a.parse().expect("udp address")),
                _ if line == "ready" => break,
                _ => panic!("unexpected line from brownout sim: {line:?}"),
            }
        }
        sim
    }

    pub fn pty(&self) -> &str {
        self.pty.as_deref().and_then(Path::to_str).expect("sim has a pty")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().is_ok_and(|s| s.is_none()))
    }

    /// Send SIGTERM and wait (bounded) for a clean exit; returns its status.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("sim child");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        match wait_timeout(&mut child, Duration::from_secs(15)) {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("brownout sim did not stop on SIGTERM");
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Wait at most `timeout` for `child` to exit.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What a client run produced.
#[derive(Debug)]
pub struct Run {
    pub status: Option<ExitStatus>,
    /// stdout and stderr, together.
    pub output: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
}

/// Run a client with its output in a file (not a pipe nobody drains), killed after
/// `timeout`.
pub fn run_tool(dir: &Path, program: &Path, args: &[&str], timeout: Duration) -> Run {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out_path = dir.join(format!("tool-{n}.out"));
    let out = std::fs::File::create(&out_path).expect("create tool output");
    let err = out.try_clone().expect("clone tool output");
    let mut child = Command::new(program)
        .args(args)
        .env("COLUMNS", "200")
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
    let status = wait_timeout(&mut child, timeout);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let output = std::fs::read_to_string(&out_path).unwrap_or_default();
    Run { status, output }
}

/// Try `f` up to `tries` times, `pause` apart, until it returns `Some`.
pub fn poll<T>(tries: u32, pause: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    for i in 0..tries {
        if let Some(t) = f() {
            return Some(t);
        }
        if i + 1 < tries {
            std::thread::sleep(pause);
        }
    }
    None
}

/// Paths of the fixtures.
pub fn fixture(rel: &str) -> PathBuf {
    testkit::workspace_root().join("fixtures").join(rel)
}

/// A 72 KiB payload signed with the Ed25519 test key as version `version` (header 0x200,
/// k64f's 128 KiB slots), written to `dir/name`. Returns the path and its image hash (hex).
pub fn signed_image(dir: &Path, name: &str, version: &str, payload_len: usize) -> (PathBuf, String) {
    use mcuboot::image::sign::{SignOptions, sign};
    let key_pem = std::fs::read_to_string(fixture("keys/ed25519.pem")).expect("read key");
    let key = mcuboot::image::SigningKey::from_pem(&key_pem).expect("parse key");
    let payload: Vec<u8> = (0..payload_len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let opts = SignOptions {
        version: version.parse().expect("version"),
        header_size: 0x200,
        pad_header: true,
        slot_size: 0x20000,
        ..SignOptions::default()
    };
    let image = sign(&payload, Some(&key), &opts).expect("sign");
    let path = dir.join(name);
    std::fs::write(&path, &image).expect("write image");
    let hash = image_hash(&image);
    (path, hash)
}

/// The SHA-256 TLV of an image, as lower-case hex.
pub fn image_hash(image: &[u8]) -> String {
    let header = mcuboot::image::ImageHeader::parse(image).expect("header");
    let tlvs_at = usize::from(header.hdr_size) + header.img_size as usize;
    // Skip the protected area, if any, then walk the unprotected TLVs for type 0x10.
    let mut at = tlvs_at;
    if header.protect_tlv_size > 0 {
        at += usize::from(header.protect_tlv_size);
    }
    let total = u16::from_le_bytes([image[at + 2], image[at + 3]]) as usize;
    let end = at + total;
    at += 4;
    while at + 4 <= end {
        let kind = u16::from_le_bytes([image[at], image[at + 1]]);
        let len = u16::from_le_bytes([image[at + 2], image[at + 3]]) as usize;
        if kind == 0x10 {
            return hex::encode(&image[at + 4..at + 4 + len]);
        }
        at += 4 + len;
    }
    panic!("image has no SHA-256 TLV")
}
