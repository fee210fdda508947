//! Every OS group command and its error paths, v1 and v2, with reply bytes snapshotted
//! (`smp-protocol.md` §4).

mod device_support;

use device_support::*;
use mcuboot::boot::{Algorithm, DowngradePrevention};
use sim_device::device::{DeviceConfig, RunState};
use sim_device::server::hooks::ResetEvent;
use sim_device::server::{Hooks, Limits, ServerConfig, Verdict};
use smp::cbor::Value;
use smp::error::MgmtErr;
use smp::header::{Group, Op};

fn text(k: &str, v: &str) -> Value {
    Value::map([(k, Value::text(v))])
}

#[test]
fn echo_read_and_write() {
    let mut dev = small_device();
    let mut s = String::from("=== write\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Os, 0, &text("d", "hello")));
    s.push_str("=== read\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Os, 0, &text("d", "hello")));
    s.push_str("=== no d: echoes \"\"\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Os, 0, &Value::empty_map()));
    insta::assert_snapshot!("echo", s);
}

#[test]
fn task_stats_and_mpstat() {
    let mut dev = small_device();
    let mut s = String::from("=== taskstat\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Os, 2, &Value::empty_map()));
    s.push_str("=== mpstat\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Os, 3, &Value::empty_map()));
    insta::assert_snapshot!("taskstat_mpstat", s);
    let stats = v2(&mut dev, Op::Read, Group::Os, 2, Value::empty_map());
    let tasks = smp::groups::os::TaskStatsResponse::from_value_checked(&stats);
    assert!(tasks.iter().any(|(name, _)| name == "main"));
}

trait Checked {
    fn from_value_checked(v: &Value) -> Vec<(String, smp::groups::os::TaskStat)>;
}

impl Checked for smp::groups::os::TaskStatsResponse {
    fn from_value_checked(v: &Value) -> Vec<(String, smp::groups::os::TaskStat)> {
        use smp::groups::Body;
        smp::groups::os::TaskStatsResponse::from_value(v).expect("taskstat decodes").tasks
    }
}

#[test]
fn datetime_unset_set_get_and_bad_strings() {
    let mut dev = small_device();
    let mut s = String::from("=== get before set (RTC_NOT_SET)\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Os, 4, &Value::empty_map()));
    s.push_str("=== set\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Os, 4, &text("datetime", "2024-02-29T23:59:58")));
    dev.advance(2_500);
    s.push_str("=== get 2.5 s later\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Os, 4, &Value::empty_map()));
    for bad in ["2024-13-01T00:00:00", "2024-01-01", "2024-01-01T00:00:00+01:00:00", "yesterday at noon!!"] {
        s.push_str(&format!("=== set {bad:?}\n"));
        s.push_str(&exchange(
            &mut dev,
            &request(smp::header::Version::V2, Op::Write, Group::Os, 4, 3, &text("datetime", bad)),
        ));
    }
    insta::assert_snapshot!("datetime", s);
    // The RTC keeps time over a reset but not over a power cycle.
    reset(&mut dev);
    let t = v2(&mut dev, Op::Read, Group::Os, 4, Value::empty_map());
    assert_eq!(t.get("datetime").and_then(Value::as_text), Some("2024-03-01T00:00:01"));
    dev.power_cycle();
    let t = v2(&mut dev, Op::Read, Group::Os, 4, Value::empty_map());
    assert!(t.get("err").is_some(), "{t}");
}

#[test]
fn datetime_without_an_rtc_is_not_supported() {
    let server = ServerConfig { rtc: false, ..ServerConfig::default() };
    let mut dev =
        config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1)).server(server).build().unwrap();
    let r = v2(&mut dev, Op::Read, Group::Os, 4, Value::empty_map());
    assert_eq!(r, Value::map([("rc", Value::from(8u8))]));
}

#[test]
fn reset_replies_first_then_reboots_through_the_bootloader() {
    let mut dev = small_device();
    let boots = dev.boot_count();
    let s = exchange_both(&mut dev, Op::Write, Group::Os, 5, &Value::empty_map());
    insta::assert_snapshot!("reset", s);
    // Still the same boot until the modelled delay has passed.
    assert_eq!(dev.boot_count(), boots);
    assert_eq!(dev.next_deadline_ms(), Some(250));
    dev.advance(249);
    assert_eq!(dev.boot_count(), boots);
    dev.advance(1);
    assert_eq!(dev.boot_count(), boots + 1);
    assert!(matches!(dev.state(), RunState::Running(_)));
}

#[test]
fn reset_hook_vetoes_unless_forced() {
    let mut dev = small_device();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut deny = Hooks::deny_reset_unless_forced();
    dev.hooks_mut().reset = Some(Box::new(move |e: ResetEvent| {
        log.lock().unwrap().push(e);
        deny(e)
    }));
    let boots = dev.boot_count();
    let mut s = String::from("=== no force: EBUSY\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Os, 5, &Value::empty_map()));
    s.push_str("=== force as an int (Python smp): Zephyr's decode fails, so not forced\n");
    s.push_str(&exchange_both(&mut dev, Op::Write, Group::Os, 5, &Value::map([("force", Value::from(1u8))])));
    s.push_str("=== force: true\n");
    s.push_str(&exchange(
        &mut dev,
        &request(
            smp::header::Version::V2,
            Op::Write,
            Group::Os,
            5,
            9,
            &Value::map([("force", Value::Bool(true)), ("boot_mode", Value::from(0u8))]),
        ),
    ));
    insta::assert_snapshot!("reset_veto", s);
    dev.advance(1000);
    assert_eq!(dev.boot_count(), boots + 1);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[4], ResetEvent { force: true, boot_mode: Some(0) });
    // A group-error veto is shaped per version.
    dev.hooks_mut().reset = Some(Box::new(|_| Verdict::Group { group: Group::Os, rc: 1 }));
    let r = call(&mut dev, smp::header::Version::V1, Op::Write, Group::Os, 5, &Value::empty_map());
    assert_eq!(r, Value::map([("rc", Value::from(MgmtErr::EUnknown.code()))]));
}

#[test]
fn params_serial_and_udp() {
    let mut dev = small_device();
    let mut s = exchange_both(&mut dev, Op::Read, Group::Os, 6, &Value::empty_map());
    let mut udp = config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 4000, 1))
        .limits(Limits::UDP)
        .build()
        .unwrap();
    s.push_str("=== UDP limits\n");
    s.push_str(&exchange_both(&mut udp, Op::Read, Group::Os, 6, &Value::empty_map()));
    insta::assert_snapshot!("params", s);
}

#[test]
fn info_every_format_letter_in_fixed_order() {
    let mut dev = small_device();
    let mut s = String::new();
    for f in [
        None,
        Some(""),
        Some("s"),
        Some("n"),
        Some("r"),
        Some("v"),
        Some("b"),
        Some("m"),
        Some("p"),
        Some("i"),
        Some("o"),
        Some("a"),
        Some("os"),
        Some("iis"),
        Some("x"),
        Some("sX"),
    ] {
        s.push_str(&format!("=== format {f:?}\n"));
        let body = match f {
            None => Value::empty_map(),
            Some(f) => text("format", f),
        };
        s.push_str(&exchange_both(&mut dev, Op::Read, Group::Os, 7, &body));
    }
    insta::assert_snapshot!("info", s);
}

#[test]
fn info_hook_appends_and_oversize_output_is_emsgsize() {
    let mut dev = small_device();
    dev.hooks_mut().os_info = Some(Hooks::append_info("brownout-sim"));
    let r = v2(&mut dev, Op::Read, Group::Os, 7, text("format", "so"));
    assert_eq!(r, text("output", "Zephyr Zephyr brownout-sim"));
    dev.hooks_mut().os_info = Some(Hooks::append_info("x".repeat(300)));
    let r = v2(&mut dev, Op::Read, Group::Os, 7, text("format", "s"));
    assert_eq!(r, Value::map([("rc", Value::from(7u8))]));
}

#[test]
fn bootloader_info_and_mode_per_algorithm() {
    let mut s = String::new();
    for (alg, dp) in [
        (Algorithm::SwapScratch, DowngradePrevention::Off),
        (Algorithm::OverwriteOnly, DowngradePrevention::Version),
        (Algorithm::SwapMove, DowngradePrevention::Off),
        (Algorithm::SwapOffset, DowngradePrevention::Off),
    ] {
        let mut dev = DeviceConfig::preset("k64f")
            .unwrap()
            .algorithm(alg)
            .downgrade_prevention(dp)
            .keys(vec![key().public().clone()])
            .primary(image((1, 0, 0), 4000, 1))
            .build()
            .unwrap();
        s.push_str(&format!("=== {alg:?}, downgrade prevention {dp:?}: query mode\n"));
        s.push_str(&exchange(
            &mut dev,
            &request(smp::header::Version::V2, Op::Read, Group::Os, 8, 1, &text("query", "mode")),
        ));
        if alg == Algorithm::SwapScratch {
            s.push_str("=== no query\n");
            s.push_str(&exchange_both(&mut dev, Op::Read, Group::Os, 8, &Value::empty_map()));
            s.push_str("=== query \"colour\" (QUERY_YIELDS_NO_ANSWER)\n");
            s.push_str(&exchange_both(&mut dev, Op::Read, Group::Os, 8, &text("query", "colour")));
        }
    }
    insta::assert_snapshot!("bootloader_info", s);
}
