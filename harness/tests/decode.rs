//! `brownout decode` as a user runs it: the built binary on the protocol reference's golden
//! vectors, on bytes real clients sent, and on garbage. Human and JSON output are snapshotted.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

fn brownout(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_brownout"));
    cmd.arg("decode").args(args).env("NO_COLOR", "1");
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("brownout runs");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin piped").write_all(input).expect("stdin written");
    }
    child.wait_with_output().expect("brownout finishes")
}

/// Run and return (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = brownout(args, None);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok_stdout(args: &[&str]) -> String {
    let (code, stdout, stderr) = run(args);
    assert_eq!(code, 0, "exit code; stderr: {stderr}\nstdout: {stdout}");
    stdout
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (_, stdout, stderr) = run(&all);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}\n{stderr}"))
}

const ECHO_V1_HEX: &str = "02 00 00 09 00 00 00 00 a1 61 64 65 68 65 6c 6c 6f";
const STATE_REPLY_LINES: [&str; 3] = [
    r"\x06\x09AP4JAAD0AAEBAL9maW1hZ2Vzn79kc2xvdABndmVyc2lvbmUxLjAuMGRoYXNoWCDH7evTryGvSFlZWxEsuVNebIJMciegDkJJaM726dI5M2hib290YWJsZfVncGVu\n",
    r"\x04\x14ZGluZ/RpY29uZmlybWVk9WZhY3RpdmX1aXBlcm1hbmVudPT/v2RzbG90AWd2ZXJzaW9uZTEuMS4wZGhhc2hYIJbse2w1SHNmzJYjMo8scvh4M5hbWMJ0HEgd\n",
    r"\x04\x14rkKv8EpEaGJvb3RhYmxl9WdwZW5kaW5n9Wljb25maXJtZWT0ZmFjdGl2ZfRpcGVybWFuZW509P//a3NwbGl0U3RhdHVzAP+aQA==\n",
];
const HASH_NOT_FOUND_HEX: &str =
    "0b 00 00 13 00 01 02 00 bf 63 65 72 72 bf 65 67 72 6f 75 70 01 62 72 63 08 ff ff";

/// The §13.4 upload first chunk: 32-byte sha 00..1f, 32-byte data starting with the magic.
fn upload_first_chunk_hex() -> String {
    let sha: Vec<u8> = (0..32).collect();
    let data: Vec<u8> = [0x3d, 0xb8, 0xf3, 0x96].into_iter().chain(0..28).collect();
    format!(
        "0a00006a00010401 a6 65696d61676500 636c656e190448 636f666600 63736861 5820{} 6464617461 5820{} 67757067726164 65f4",
        hex::encode(sha),
        hex::encode(data)
    )
}

fn unescaped(lines: &[&str]) -> Vec<u8> {
    // Test-side unescaping, independent of the command's.
    let mut out = Vec::new();
    for line in lines {
        let mut rest = line.as_bytes();
        while let Some((&b, tail)) = rest.split_first() {
            if b == b'\\' && tail.first() == Some(&b'x') {
                out.push(
                    u8::from_str_radix(std::str::from_utf8(&tail[1..3]).expect("ascii"), 16).expect("hex"),
                );
                rest = &tail[3..];
            } else if b == b'\\' && tail.first() == Some(&b'n') {
                out.push(b'\n');
                rest = &tail[1..];
            } else {
                out.push(b);
                rest = tail;
            }
        }
    }
    out
}

#[test]
fn echo_request_from_hex() {
    let args: Vec<&str> = ECHO_V1_HEX.split(' ').collect();
    insta::assert_snapshot!(ok_stdout(&args));
    // One argument, colons, 0x prefixes: the same packet.
    let colons = ECHO_V1_HEX.replace(' ', ":");
    assert_eq!(ok_stdout(&[&colons]), ok_stdout(&args));
    let prefixed: String = ECHO_V1_HEX.split(' ').map(|b| format!("0x{b}, ")).collect();
    assert_eq!(ok_stdout(&[&prefixed]), ok_stdout(&args));
}

#[test]
fn echo_request_json() {
    let v = json(&[ECHO_V1_HEX]);
    insta::assert_json_snapshot!(v);
    assert_eq!(v["ok"], true);
    assert_eq!(v["items"][0]["header"]["command"], "os echo");
    assert_eq!(v["items"][0]["body"]["value"]["d"], "hello");
}

#[test]
fn echo_serial_lines_of_the_reference() {
    for (line, want) in [
        (r"\x06\x09ABMCAAAJAAAAAKFhZGVoZWxsbyVv\n", "\"d\": \"hello\""),
        (r"\x06\x09ABQDAAAKAAAAAL9hcmVoZWxsb/8GPg==\n", "\"r\": \"hello\""),
        (r"\x06\x09ABMKAAAJAAAAAKFhZGVoZWxsb6J/", "SMP v2"),
        (r"\x06\x09AAsIAAABAAEBAKCYMQ==\n", "image state read request"),
        (r"\x06\x09AAoIAAAAAAEBABrb\n", "body     none"),
    ] {
        let out = ok_stdout(&[line]);
        assert!(out.contains(want), "{line}: {out}");
        assert!(out.contains("CRC 0x"), "{out}");
    }
}

#[test]
fn three_line_state_reply() {
    let out = ok_stdout(&STATE_REPLY_LINES);
    insta::assert_snapshot!(out);
    assert!(out.contains("serial lines 1-3"));
    assert!(out.contains("CRC 0x9a40 ok"));
}

#[test]
fn three_line_state_reply_json() {
    let v = json(&STATE_REPLY_LINES);
    insta::assert_json_snapshot!(v);
    let item = &v["items"][0];
    assert_eq!(item["source"]["serial"]["lines"], 3);
    assert_eq!(item["body"]["value"]["images"][1]["pending"], true);
    assert_eq!(item["meaning"]["command"], "ImageStateRead");
}

#[test]
fn the_same_reply_from_a_raw_file_from_stdin_and_as_hex_of_console_bytes() {
    let raw = unescaped(&STATE_REPLY_LINES);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("console.bin");
    std::fs::write(&path, &raw).expect("write");
    let want = ok_stdout(&STATE_REPLY_LINES);
    let from_file = ok_stdout(&["--file", path.to_str().expect("utf-8 path")]);
    let from_stdin = brownout(&["-"], Some(&raw));
    assert_eq!(from_stdin.status.code(), Some(0));
    let hex_of_console = hex::encode(&raw);
    let from_hex = ok_stdout(&[&hex_of_console]);
    // Only the closing summary line differs (input size and how it was written).
    let body = |s: &str| s.lines().take_while(|l| !l.starts_with("1 packet")).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&from_file), body(&want));
    assert_eq!(body(&String::from_utf8_lossy(&from_stdin.stdout)), body(&want));
    assert_eq!(body(&from_hex), body(&want));
    assert!(from_hex.ends_with("1 packet from 353 bytes of hex input\n"), "{from_hex}");
}

#[test]
fn group_error_is_named() {
    let out = ok_stdout(&[HASH_NOT_FOUND_HEX]);
    insta::assert_snapshot!(out);
    assert!(out.contains("IMG_MGMT_ERR_HASH_NOT_FOUND"));
    let v = json(&[HASH_NOT_FOUND_HEX]);
    let e = &v["items"][0]["meaning"];
    assert_eq!(e["ok"], false);
    assert_eq!(e["group_error"]["name"], "IMG_MGMT_ERR_HASH_NOT_FOUND (8)");
    assert_eq!(e["group_error"]["v1_translation"], "MGMT_ERR_EUNKNOWN (1)");
}

#[test]
fn generic_error_v1() {
    let out = ok_stdout(&["01 00 00 06 00 00 00 03 bf 62 72 63 08 ff"]);
    assert!(out.contains("ERROR MGMT_ERR_ENOTSUP (8)"), "{out}");
    assert!(out.contains("SMP v1 (legacy)"), "{out}");
}

#[test]
fn upload_first_chunk() {
    let hex = upload_first_chunk_hex();
    let out = ok_stdout(&[&hex]);
    insta::assert_snapshot!(out);
    assert!(out.contains("image upload request: image=0, len=1096, off=0, sha=<32 bytes>, data=<32 bytes>"));
    let out = ok_stdout(&["0b 00 00 08 00 01 04 01 bf 63 6f 66 66 18 20 ff"]);
    assert!(out.contains("image upload reply, success: off=32"), "{out}");
}

#[test]
fn smpmgr_echo_session_from_a_console_log() {
    // What smpmgr 0.19.1 wrote for `os echo hello`, with device log lines around it.
    let log = b"*** Booting Zephyr OS build v4.2.0 ***\n\
[00:00:00.003,000] <inf> app: ready\n\
\x06\x09AAsIAAABAAAABqBzEw==\n\
\x06\x09ABMKAAAJAAABAKFhZGVoZWxsb3o2\n\
uart:~$ ";
    let out = brownout(&["-"], Some(log));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    insta::assert_snapshot!(stdout);
    let with_text = brownout(&["-", "--text"], Some(log));
    let with_text = String::from_utf8_lossy(&with_text.stdout);
    assert!(with_text.contains("console text, line 2: [00:00:00.003,000] <inf> app: ready"));
}

#[test]
fn several_packets_in_one_buffer() {
    let two = format!("{ECHO_V1_HEX} 08 00 00 00 00 01 01 00");
    let out = ok_stdout(&[&two]);
    assert!(out.contains("#1 os echo request (byte 0, 17 bytes)"), "{out}");
    assert!(out.contains("#2 image state read request (byte 17, 8 bytes)"), "{out}");
    assert!(out.ends_with("2 packets from 25 bytes of hex input\n"), "{out}");
}

#[test]
fn broken_console_capture_reports_each_problem_and_keeps_going() {
    // Bad CRC (last character changed), an orphan continuation, a truncated frame cut off by
    // a new one, then a good frame.
    let log = b"boot\n\
\x06\x09ABMCAAAJAAAAAKFhZGVoZWxsbyVu\n\
\x04\x14AAAA\n\
\x06\x09AP4JAAD0AAEBAL9maW1hZ2Vzn79kc2xvdABndmVyc2lvbmUxLjAuMGRoYXNoWCDH7evTryGvSFlZWxEsuVNebIJMciegDkJJaM726dI5M2hib290YWJsZfVncGVu\n\
\x06\x09ABQDAAAKAAAAAL9hcmVoZWxsb/8GPg==\n";
    let out = brownout(&["-"], Some(log));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    insta::assert_snapshot!(stdout);
    let v: serde_json::Value =
        serde_json::from_slice(&brownout(&["-", "--json"], Some(log)).stdout).expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["packets"], 1);
    assert_eq!(v["problems"], 3);
    let problems: Vec<&str> = v["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["kind"] == "problem")
        .map(|i| i["at"].as_str().expect("at"))
        .collect();
    assert_eq!(problems, ["serial line 2 (byte 5)", "serial line 3 (byte 36)", "serial line 5 (byte 170)"]);
}

#[test]
fn truncated_and_malformed_packets() {
    let (code, out, _) = run(&["0a 00 00 09 00 00 00 00 a1 61 64"]);
    assert_eq!(code, 1);
    assert!(out.contains("truncated packet: header (v2 write group=0 (os) id=0 seq=0 len=9) declares 9 payload bytes but only 3 follow"), "{out}");
    let (code, out, _) = run(&["0a 00 00"]);
    assert_eq!(code, 1);
    assert!(out.contains("3 trailing byte(s) (0a 00 00) are too few for an 8-byte SMP header"), "{out}");
    let (code, out, _) = run(&["0a 00 00 02 00 00 00 00 a1 61"]);
    assert_eq!(code, 1);
    insta::assert_snapshot!(out);
    // A well-formed body that does not fit the command.
    let (code, out, _) = run(&["0a 00 00 04 00 00 00 00 a1 61 64 01"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("meaning  not understood: body of os echo:"), "{out}");
    // Unknown op, reserved version, flags, unknown group.
    let (code, out, _) = run(&["1f 01 00 01 00 4d 00 03 a0"]);
    assert_eq!(code, 0, "{out}");
    insta::assert_snapshot!("odd_header", out);
}

#[test]
fn usage_errors_say_what_is_wrong() {
    let (code, _, err) = run(&[]);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to decode"), "{err}");
    let (code, _, err) = run(&["hello world"]);
    assert_eq!(code, 2);
    assert!(err.contains("'h' at character 1 is not a hex digit"), "{err}");
    let (code, _, err) = run(&["0a 0 0"]);
    assert_eq!(code, 2);
    assert!(err.contains("lone digit at character 4"), "{err}");
    let (code, _, err) = run(&[r"\x06\x09AB\q"]);
    assert_eq!(code, 2);
    assert!(err.contains("argument 1: unknown escape \\q at character 11"), "{err}");
    let (code, _, err) = run(&["--file", "/nonexistent/capture.bin"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot open /nonexistent/capture.bin"), "{err}");
    let (code, _, err) = run(&["--format", "hex", "zz"]);
    assert_eq!(code, 2);
    assert!(err.contains("'z' at character 1"), "{err}");
}

#[test]
fn garbage_never_crashes() {
    // Pseudo-random bytes (fixed seed), as raw, as serial and as auto: always a clean exit
    // with 0 or 1 and a report, never a panic.
    let mut x: u32 = 0x1234_5678;
    let mut garbage = Vec::new();
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        garbage.push((x >> 8) as u8);
    }
    garbage.extend_from_slice(b"\x06\x09\x06\x04\x14////\n\x06\x09AAAA\n");
    for format in ["auto", "raw", "serial"] {
        let out = brownout(&["-", "--format", format], Some(&garbage));
        let code = out.status.code();
        assert!(matches!(code, Some(0 | 1)), "{format}: {code:?} {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("input"), "{format}");
        let out = brownout(&["-", "--format", format, "--json"], Some(&garbage));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON even for garbage");
        assert!(v["items"].is_array());
    }
    let (code, out, _) = run(&["--format", "serial", "just some console text"]);
    assert_eq!(code, 1);
    assert!(out.contains("no SMP packet found"), "{out}");
}

#[test]
fn binary_capture_with_stray_marker_bytes_is_not_taken_for_serial() {
    // An echo whose text contains the bytes 06 09: still a raw packet, not a console stream.
    let packet = [0x0a, 0, 0, 5, 0, 0, 0, 0, 0xa1, 0x61, 0x64, 0x62, 0x06, 0x09];
    let mut packet = packet.to_vec();
    packet[3] = 6;
    let out = brownout(&["-"], Some(&packet));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("os echo request: d=\"\\u{6}\\t\""), "{stdout}");
    assert!(stdout.ends_with("1 packet from 14 bytes of raw input\n"), "{stdout}");
}

#[test]
fn base64_text_copied_from_a_terminal() {
    // A terminal shows neither 0x06 nor (visibly) 0x09, and 0x04 0x14 not at all: what a user
    // copies is the base64 text, perhaps after a tab.
    let out = ok_stdout(&["ABMCAAAJAAAAAKFhZGVoZWxsbyVv"]);
    assert!(out.contains("os echo request: d=\"hello\""), "{out}");
    assert!(out.ends_with("1 packet from 31 bytes of base64 input\n"), "{out}");
    let lines: Vec<String> = STATE_REPLY_LINES.iter().map(|l| l[8..l.len() - 2].to_owned()).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let out = ok_stdout(&refs);
    assert!(out.contains("image state read response (serial lines 1-3, 252 bytes, CRC 0x9a40 ok)"), "{out}");
    let copied = format!("\t{}\n{}\n{}\n", lines[0], lines[1], lines[2]);
    let out = brownout(&["-", "--format", "base64"], Some(copied.as_bytes()));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, _, err) = run(&["--format", "base64", "ABC"]);
    assert_eq!(code, 2);
    assert!(err.contains("multiple of 4"), "{err}");
}
