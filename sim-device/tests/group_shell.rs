//! Shell group (9): exec with built-in and user commands, every error path, v1 and v2, reply
//! bytes snapshotted (`smp-protocol.md` §9).

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use sim_device::server::ServerConfig;
use sim_device::server::shell::{ShellCommand, ShellOptions};
use smp::cbor::Value;
use smp::groups::Body;
use smp::groups::shell::{ShellExecResponse, ShellRetKey};
use smp::header::{Group, Op};

fn argv(words: &[&str]) -> Value {
    Value::map([("argv", Value::Array(words.iter().map(|w| Value::text(*w)).collect()))])
}

fn exec(dev: &mut sim_device::device::Device, words: &[&str]) -> ShellExecResponse {
    ShellExecResponse::from_value(&v2(dev, Op::Write, Group::Shell, 0, argv(words))).expect("exec reply")
}

#[test]
fn built_in_commands() {
    let mut dev = small_device();
    dev.advance(1234);
    let mut s = String::new();
    for words in [
        &["kernel", "version"][..],
        &["kernel", "uptime"],
        &["echo", "hello", "world"],
        &["echo hello", "world"],
        &["nope"],
        &["kernel", "nope"],
        &["device", "list"],
    ] {
        s.push_str(&format!("=== {words:?}\n"));
        s.push_str(&exchange_both(&mut dev, Op::Write, Group::Shell, 0, &argv(words)));
    }
    insta::assert_snapshot!("built_in", s);
    let r = exec(&mut dev, &["mcuboot"]);
    assert_eq!(r.ret, 0);
    insta::assert_snapshot!("mcuboot", r.o);
    let r = exec(&mut dev, &["help"]);
    assert!(r.o.contains("kernel"), "{}", r.o);
}

#[test]
fn errors() {
    let mut dev = small_device();
    let mut s = String::from("=== empty argv: EMPTY_COMMAND\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Shell, 0, &argv(&[])));
    s.push_str("=== first element not text: EMPTY_COMMAND (the list ends there)\n");
    s.push_str(&exchange_both(
        &mut dev,
        Op::Write,
        Group::Shell,
        0,
        &Value::map([("argv", Value::Array(vec![1u8.into()]))]),
    ));
    s.push_str("=== 256 bytes: COMMAND_TOO_LONG\n");
    let long = "x".repeat(256);
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Shell, 0, &argv(&[&long])));
    s.push_str("=== no argv: rc 3\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Shell, 0, &Value::empty_map()));
    s.push_str("=== argv not an array: rc 3\n");
    s.push_str(&exchange_both(
        &mut dev,
        Op::Write,
        Group::Shell,
        0,
        &Value::map([("argv", Value::text("echo"))]),
    ));
    s.push_str("=== read op: not supported\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Shell, 0, &argv(&["echo"])));
    insta::assert_snapshot!("errors", s);
    // The limit: a 255-byte line runs.
    let r = exec(&mut dev, &["echo", &"y".repeat(250)]);
    assert_eq!(r.ret, 0);
}

#[test]
fn user_commands_and_the_legacy_rc_key() {
    let shell = ShellOptions {
        commands: vec![
            ShellCommand {
                words: vec!["app".into(), "status".into()],
                output: "state: idle\nargs: {args}\n".into(),
                ret: 0,
            },
            ShellCommand { words: vec!["app".into(), "fail".into()], output: "failed\n".into(), ret: -5 },
        ],
        legacy_rc_key: true,
        ..ShellOptions::default()
    };
    let server = ServerConfig { shell, ..ServerConfig::default() };
    let mut dev = config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1))
        .server(server)
        .build()
        .expect("device");
    let mut s = String::from("=== app status a b (legacy rc key)\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Shell, 0, &argv(&["app", "status", "a", "b"])));
    s.push_str("=== app fail\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Shell, 0, &argv(&["app", "fail"])));
    insta::assert_snapshot!("user", s);
    let r = exec(&mut dev, &["app", "fail"]);
    assert_eq!((r.ret, r.ret_key), (-5, ShellRetKey::Rc));
    // A command added while the device runs.
    dev.server_config_mut().shell.commands.push(ShellCommand {
        words: vec!["led".into()],
        output: "on\n".into(),
        ret: 0,
    });
    assert_eq!(exec(&mut dev, &["led"]).o, "on\r\n");
    // Output is cut to the dummy backend's buffer less one byte: 299.
    dev.server_config_mut().shell.commands.push(ShellCommand {
        words: vec!["dump".into()],
        output: "0123456789\n".repeat(40),
        ret: 0,
    });
    let o = exec(&mut dev, &["dump"]).o;
    assert_eq!(o.len(), 299);
    assert!(o.starts_with("0123456789\r\n0123"));
}
