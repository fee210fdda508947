//! The `exec` step's runner (`harness::runner::exec`) and the device endpoints it runs
//! against (`harness::runner::endpoints`):
//!
//! * what a command line becomes (quotes, escapes, `{{`), and the error text for placeholders
//!   that are unknown or cannot be filled (snapshots);
//! * exit code, stdout and stderr checks, each failing with a readable message (snapshots of
//!   the message, using `sh`, `printf` and `false`); a command that outlives its time limit is
//!   killed (with what it left running); a missing program is named with how to install it;
//! * third-party clients doing a whole upgrade of an in-process device built as the runner
//!   builds it, over the PTY (and UDP) of `Endpoints`, with a `ClockPump` making the reboot
//!   after `os reset` happen in real time: `smpmgr` and `mcumgrctl` (skipped with the reason
//!   when missing, failing under `BROWNOUT_REQUIRE_PEERS=1`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::runner::StepStatus;
use harness::runner::endpoints::{self, Endpoints};
use harness::runner::exec::{self, ExecContext, ExecError};
use harness::scenario::{ExecStep, Scenario, TextMatch};
use sim_device::transport::SharedDevice;

const LIMIT: Duration = Duration::from_secs(20);

/// An `exec` step from its YAML fields.
fn step(yaml: &str) -> ExecStep {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("bad step {yaml:?}: {e}"))
}

/// An `exec` step running `command`, every other field at its default.
fn cmd(command: &str) -> ExecStep {
    ExecStep {
        command: command.to_string(),
        image: None,
        timeout: None,
        exit_code: 0,
        stdout: Default::default(),
        stderr: Default::default(),
        env: Default::default(),
    }
}

fn fixtures() -> PathBuf {
    testkit::workspace_root().join("fixtures")
}

fn run(step: &ExecStep, ctx: &ExecContext) -> StepStatus {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(exec::run(step, ctx, LIMIT))
}

/// The failure's expected and actual, for snapshots.
fn failure(status: &StepStatus) -> String {
    match status {
        StepStatus::Failed { expected, actual } => format!("expected: {expected}\nactual: {actual}"),
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn passed_note(status: &StepStatus) -> &str {
    match status {
        StepStatus::Passed { note } => note.as_deref().unwrap_or_default(),
        other => panic!("expected a pass, got {other:?}"),
    }
}

// ------------------------------------------------------------------ command lines

#[test]
fn command_lines_expand_word_by_word() {
    let ctx = ExecContext {
        pty: Some("/dev/pts/9".into()),
        udp: Some("127.0.0.1:4321".parse().unwrap()),
        image: Some("/images/app 2.0.0.bin".into()),
        dir: "/tmp/scratch dir".into(),
        cwd: "/scenarios".into(),
    };
    let hash = [0xde, 0xad, 0xbe, 0xef];
    let argv = exec::expand(
        r#"mcumgrctl --serial {pty} -t 3000 image upload {image} --name "{dir}/x" 'json={{"a": 1}}' a\ b {hash}"#,
        &ctx,
        Some(&hash),
    )
    .unwrap();
    insta::assert_debug_snapshot!(argv, @r#"
    [
        "mcumgrctl",
        "--serial",
        "/dev/pts/9",
        "-t",
        "3000",
        "image",
        "upload",
        "/images/app 2.0.0.bin",
        "--name",
        "/tmp/scratch dir/x",
        "json={\"a\": 1}",
        "a b",
        "deadbeef",
    ]
    "#);
    let argv = exec::expand("x --udp {addr} --host={ip} --port={port}", &ctx, None).unwrap();
    assert_eq!(argv, ["x", "--udp", "127.0.0.1:4321", "--host=127.0.0.1", "--port=4321"]);
}

/// The words `sh` (dash here) makes of `command` when it is pasted into a script as the
/// arguments of `printf '%s\0'`; `None` if the shell rejects it.
fn shell_words(command: &str) -> Option<Vec<String>> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\0' {command}"))
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() || !out.stderr.is_empty() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.strip_suffix('\0')?.split('\0').map(String::from).collect())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

    /// `split` agrees with a real POSIX shell on quoting, escapes, blanks and comments
    /// (characters a shell would expand — `$`, globs, `~`, operators — are left out; exec
    /// rejects or keeps those, see the other tests).
    #[test]
    fn split_agrees_with_a_posix_shell(command in "[ab'\"\\\\ #{}\t]{0,16}") {
        match exec::split(&command) {
            Ok(words) => proptest::prop_assert_eq!(Some(words), shell_words(&command), "{:?}", command),
            Err(ExecError::Empty) => {}
            // An unclosed quote is a shell syntax error too.
            Err(ExecError::UnterminatedQuote { .. }) => {
                proptest::prop_assert_eq!(shell_words(&command), None, "{:?}", command)
            }
            Err(e) => proptest::prop_assert!(matches!(e, ExecError::TrailingBackslash), "{:?}: {}", command, e),
        }
    }
}

#[test]
fn placeholder_and_syntax_errors_say_what_is_wrong() {
    let udp_only = ExecContext { udp: Some("127.0.0.1:1337".parse().unwrap()), ..ExecContext::new("/s") };
    let errors: Vec<String> = [
        "smpmgr --port {tty} os echo hi",
        "smpmgr --port {pty} os echo hi",
        "mcumgrctl image set-state --hash {hash}",
        "echo {pty",
        "echo }",
        "smpmgr --port {pty} os echo hi | grep hi",
        "echo $HOME",
        "echo 'unclosed",
        "   ",
    ]
    .iter()
    .map(|c| format!("{c}\n  => {}", exec::expand(c, &udp_only, None).unwrap_err()))
    .collect();
    insta::assert_snapshot!(errors.join("\n"));
}

#[test]
fn a_command_that_cannot_be_expanded_fails_the_step_before_anything_runs() {
    let ctx = ExecContext::new(std::env::temp_dir());
    let got = run(&step("command: smpmgr --port {pty} os echo hi"), &ctx);
    insta::assert_snapshot!(failure(&got), @r"
    expected: `smpmgr --port {pty} os echo hi` runs
    actual: placeholder `{pty}` cannot be filled: the target gives the device no PTY or serial port (it is reached over UDP only)
    ");
    // `{hash}` of a file that is no MCUboot image says so.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    let ctx = ExecContext { image: Some(dir.path().join("notes.txt")), ..ExecContext::new(dir.path()) };
    let got = failure(&run(&step("command: echo {hash}\nimage: notes.txt"), &ctx));
    assert!(
        got.contains("`{hash}` cannot be filled") && got.contains("notes.txt is not an MCUboot image"),
        "{got}"
    );
}

#[test]
fn image_and_hash_come_from_the_image_file() {
    let ctx =
        ExecContext { image: Some(fixtures().join("images/app-2.0.0.bin")), ..ExecContext::new(fixtures()) };
    let got = run(
        &step(
            "command: printf '%s %s' {image} {hash}\nstdout: {regex: '^/.*/fixtures/images/app-2.0.0.bin [0-9a-f]{64}$'}",
        ),
        &ctx,
    );
    assert!(matches!(got, StepStatus::Passed { .. }), "{got:?}");
}

// ------------------------------------------------------------------ checks

#[test]
fn a_passing_command_notes_its_exit_code_and_time() {
    let ctx = ExecContext::new(std::env::temp_dir());
    let got = run(
        &step(
            "command: sh -c 'echo out; echo err >&2; exit 3'\nexit_code: 3\n\
             stdout: {equals: \"out\\n\"}\nstderr: {contains: [err], not_contains: [out]}",
        ),
        &ctx,
    );
    let note = passed_note(&got);
    assert!(note.starts_with("`sh -c 'echo out; echo err >&2; exit 3'` exited 3 in "), "{note}");
}

#[test]
fn a_wrong_exit_code_shows_the_code_and_the_end_of_both_streams() {
    let ctx = ExecContext::new(std::env::temp_dir());
    let got = run(&step("command: false"), &ctx);
    insta::assert_snapshot!(failure(&got), @r"
    expected: `false` exits with code 0
    actual: exit code 1
    stdout: (empty)
    stderr: (empty)
    ");
    let got = run(
        &step(r#"command: sh -c 'for i in $(seq 1 50); do echo line $i; done; echo oops >&2; exit 2'"#),
        &ctx,
    );
    insta::assert_snapshot!(failure(&got));
    // Killed by a signal is said so.
    let got = failure(&run(&step("command: sh -c 'kill -TERM $$'"), &ctx));
    assert!(got.contains("killed by signal 15"), "{got}");
}

#[test]
fn stdout_and_stderr_checks_fail_with_what_was_expected_and_seen() {
    let ctx = ExecContext::new(std::env::temp_dir());
    let with = |command: &str, stdout: &str, stderr: &str| ExecStep {
        stdout: serde_saphyr::from_str(stdout).unwrap(),
        stderr: serde_saphyr::from_str(stderr).unwrap(),
        ..cmd(command)
    };
    let cases = [
        with(
            r"printf 'Uploaded 100%%\nError: rc=8\n'",
            "{contains: [Uploaded], not_contains: [Error]}",
            "{}",
        ),
        with("printf hello", "{equals: hello world}", "{}"),
        with("sh -c 'echo warning >&2'", "{}", "{regex: '^$'}"),
        with("printf v1.0.0", r"{regex: 'v2\.'}", "{}"),
    ];
    let mut got: Vec<String> = cases.iter().map(|c| failure(&run(c, &ctx))).collect();
    // A regular expression that cannot be compiled fails before the command runs.
    let marker = tempfile::tempdir().unwrap();
    let bad = with(&format!("touch {}/ran", marker.path().display()), "{regex: 'a(b'}", "{}");
    got.push(failure(&run(&bad, &ctx)));
    assert!(!marker.path().join("ran").exists());
    insta::assert_snapshot!(got.join("\n---\n"));
}

#[test]
fn huge_output_is_kept_bounded_and_said_to_be() {
    let ctx = ExecContext::new(std::env::temp_dir());
    // 3 MB of 'x' then a last line; the checks see the first MiB.
    let got = failure(&run(
        &step(
            "command: sh -c 'head -c 3000000 /dev/zero | tr \"\\\\0\" x; echo; echo the end'\nstdout: {contains: [the end]}",
        ),
        &ctx,
    ));
    assert!(
        got.contains("stdout was 2.9 MiB; the checks saw its first 1.0 MiB"),
        "{}",
        &got[..got.len().min(2000)]
    );
    assert!(got.contains("\n  the end"), "the tail shows the real end");
    assert!(got.len() < 8000, "the message stays readable: {} bytes", got.len());
}

#[test]
fn env_and_working_directory_are_the_steps() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ExecContext::new(dir.path());
    let got = run(
        &step(&format!(
            "command: sh -c 'printf \"%s %s %s\" \"$FOO\" \"$NO_COLOR\" \"$(pwd -P)\"'\n\
             env: {{FOO: bar, NO_COLOR: '0'}}\nstdout: {{equals: 'bar 0 {}'}}",
            dir.path().canonicalize().unwrap().display()
        )),
        &ctx,
    );
    assert!(matches!(got, StepStatus::Passed { .. }), "{got:?}");
}

#[test]
fn an_empty_working_directory_is_the_runners_own() {
    let here = std::env::current_dir().unwrap().canonicalize().unwrap();
    let got = run(
        &step(&format!("command: sh -c 'pwd -P'\nstdout: {{equals: \"{}\\n\"}}", here.display())),
        &ExecContext::new(""),
    );
    assert!(matches!(got, StepStatus::Passed { .. }), "{got:?}");
}

#[test]
fn a_command_past_its_time_limit_is_killed_with_what_it_started() {
    let ctx = ExecContext::new(std::env::temp_dir());
    let t = Instant::now();
    let got = run(&step("command: sh -c 'echo started; sleep 60'\ntimeout: 300ms"), &ctx);
    let took = t.elapsed();
    insta::assert_snapshot!(failure(&got), @r"
    expected: `sh -c 'echo started; sleep 60'` finishes within 300ms
    actual: it did not finish within 300ms and was killed
    stdout:
      started
    stderr: (empty)
    ");
    // Bounded, not timed: far less than the 60 s the command wanted.
    assert!(took < Duration::from_secs(30), "took {took:?}");

    // A command that exits but leaves a child holding its output open ends the step at once
    // (the child is killed with the process group).
    let t = Instant::now();
    let got =
        run(&step("command: sh -c 'sleep 60 & echo left a sleeper'\nstdout: {contains: [sleeper]}"), &ctx);
    assert!(matches!(got, StepStatus::Passed { .. }), "{got:?}");
    assert!(t.elapsed() < Duration::from_secs(30), "took {:?}", t.elapsed());
}

/// True once process `pid` is gone or a zombie (killed, not yet reaped).
fn dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => true,
    }
}

/// A step abandoned mid-way (the runner's own time limit dropping its future) takes the
/// command and everything it started with it.
#[test]
fn an_abandoned_step_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ExecContext::new(dir.path());
    let step = step("command: sh -c 'sleep 60 & echo $$ $! > pids; wait'");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let pids_file = dir.path().join("pids");
    let pids: Vec<u32> = rt.block_on(async {
        let running = exec::run(&step, &ctx, LIMIT);
        tokio::pin!(running);
        // Let it start and write its pids, then abandon it.
        for _ in 0..1000 {
            tokio::select! {
                s = &mut running => panic!("ended early: {s:?}"),
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
            if let Ok(text) = std::fs::read_to_string(&pids_file)
                && text.ends_with('\n')
            {
                let pids: Vec<u32> = text.split_whitespace().map(|p| p.parse().unwrap()).collect();
                assert!(pids.iter().all(|&p| !dead(p)), "both run before the step is dropped");
                return pids;
            }
        }
        panic!("the command never wrote its pids");
    });
    // Returning from the block dropped the step's future.
    assert_eq!(pids.len(), 2);
    for _ in 0..500 {
        if pids.iter().all(|&p| dead(p)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("still running after the step was dropped: {pids:?}");
}

#[test]
fn a_missing_program_is_named_with_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ExecContext::new(dir.path());
    // An empty PATH and no venv above a fresh temporary directory: nothing can be found.
    let got = run(&step("command: mcumgrctl --serial {{pty}} os echo hi\nenv: {PATH: ''}"), &ctx);
    insta::assert_snapshot!(failure(&got), @r"
    expected: `mcumgrctl --serial {{pty}} os echo hi` runs
    actual: program `mcumgrctl` not found on PATH (and there is no .venv/bin above the scenario's directory) (install: bash ci/install-peers.sh, or cargo install mcumgrctl --locked --no-default-features)
    ");
    let got = failure(&run(&step("command: ./no-such-tool --help"), &ctx));
    assert!(got.contains("program `./no-such-tool` not found (no executable file at "), "{got}");
}

#[test]
fn programs_are_found_in_the_nearest_venv_before_path() {
    let root = tempfile::tempdir().unwrap();
    let bin = root.path().join(".venv").join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tool = bin.join("my-peer");
    std::fs::write(&tool, "#!/bin/sh\necho venv peer \"$@\"\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let scenarios = root.path().join("scenarios").join("library");
    std::fs::create_dir_all(&scenarios).unwrap();
    assert_eq!(exec::venv_bin(&scenarios, None), Some(bin.clone()));
    assert_eq!(exec::venv_bin(&scenarios, Some(Path::new("/opt/v"))), Some(PathBuf::from("/opt/v/bin")));
    let found = exec::find_program("my-peer", &scenarios, Some(&bin), Some("/usr/bin:/bin".as_ref()));
    assert_eq!(found, Ok(tool.clone()));
    assert_eq!(
        exec::find_program("sh", &scenarios, Some(&bin), Some("/nonexistent:/bin".as_ref())),
        Ok("/bin/sh".into())
    );
    assert!(matches!(
        exec::find_program("my-peer", &scenarios, None, Some("/bin".as_ref())),
        Err(ExecError::ProgramNotFound { .. })
    ));
    // Run from the scenario directory: found in the venv, and the venv is first on the
    // child's PATH (so a shell inside finds it too).
    if std::env::var_os(exec::VENV_VAR).is_none() {
        let ctx = ExecContext::new(&scenarios);
        let got = run(&step("command: my-peer a 'b c'\nstdout: {equals: \"venv peer a b c\\n\"}"), &ctx);
        assert!(matches!(got, StepStatus::Passed { .. }), "{got:?}");
        let got =
            run(&step("command: sh -c 'my-peer via-shell'\nstdout: {contains: [venv peer via-shell]}"), &ctx);
        assert!(matches!(got, StepStatus::Passed { .. }), "{got:?}");
    }
}

// ------------------------------------------------------------------ real peers

/// The device of a scenario with 1.0.0 in the primary slot, built as the runner builds it
/// (manual clock, the scenario's layout, mode and key).
fn device(mode: &str) -> SharedDevice {
    let yaml = format!(
        "name: exec peers\ndevice:\n  layout: k64f\n  mode: {mode}\n  key: keys/ed25519.pub.pem\n  \
         primary: images/app-1.0.0.bin\nsteps:\n  - wait_boot\n"
    );
    let scenario = Scenario::parse(&yaml, "exec-peers.yaml", Some(&fixtures())).unwrap();
    let spec = scenario.all_devices().next().unwrap();
    SharedDevice::new(scenario.device_config(spec).unwrap().build().unwrap())
}

/// An exec step running `command` whose stdout must match `regex` (and not contain `Error`:
/// smpmgr exits 0 on an SMP error).
fn matching(command: &str, regex: &str) -> ExecStep {
    ExecStep {
        stdout: TextMatch {
            regex: (!regex.is_empty()).then(|| regex.to_string()),
            not_contains: vec!["Error".into()],
            ..TextMatch::default()
        },
        ..cmd(command)
    }
}

/// Run `steps` in order with `ctx`, panicking on the first failure.
async fn run_all(steps: &[ExecStep], ctx: &ExecContext) {
    for s in steps {
        let got = exec::run(s, ctx, Duration::from_secs(60)).await;
        if let StepStatus::Failed { expected, actual } = &got {
            panic!("`{}` failed\nexpected: {expected}\nactual: {actual}", s.command);
        }
    }
}

/// Wait (bounded) until the device has booted more than `boots` times. Nothing but the pump
/// moves its clock here, so this shows the pump makes the reset's reboot happen.
async fn rebooted(shared: &SharedDevice, boots: u64) {
    let mut rx = shared.boots();
    let waited = tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|b| *b > boots)).await;
    assert!(waited.is_ok(), "the device did not reboot by itself in real time");
}

fn running_version(shared: &SharedDevice) -> String {
    shared.with(|d| d.running().map(|r| r.version.to_string()).unwrap_or_default())
}

/// Without outside tools: brownout's own serial and UDP clients reach the device through
/// `Endpoints`; the reboot `os reset` asks for waits for modelled time until a `ClockPump`
/// runs, which then makes it happen in real time; a dropped pump moves the clock no more.
#[tokio::test]
async fn endpoints_serve_the_device_and_the_pump_makes_its_reboot_happen() {
    use harness::client::{ClientConfig, SerialSettings, SerialTransport, SmpClient, UdpTransport};
    let shared = device("swap-scratch");
    let ends = Endpoints::open(&shared, true, true).await.unwrap();
    let pty = ends.pty_path().unwrap().to_str().unwrap().to_string();
    assert!(pty.starts_with("/dev/pts/"), "{pty}");
    let addr = ends.udp_addr().unwrap();
    assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    let ctx = ends.context(Path::new("/s"));
    assert_eq!((ctx.pty.as_deref(), ctx.udp), (ends.pty_path(), Some(addr)));

    let serial = SerialTransport::open(&SerialSettings::new(pty.as_str())).unwrap();
    let mut over_pty = SmpClient::new(serial, ClientConfig::default());
    assert_eq!(over_pty.echo("over the pty").await.unwrap(), "over the pty");
    let udp = UdpTransport::connect(addr).await.unwrap();
    let mut over_udp = SmpClient::new(udp, ClientConfig::default());
    assert_eq!(over_udp.echo("over udp").await.unwrap(), "over udp");

    let boots = shared.with(|d| d.boot_count());
    over_udp.reset(false).await.unwrap();
    // The clock is manual: however long we wait, no reboot without the pump.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(shared.with(|d| (d.boot_count(), d.next_deadline_ms().is_some())), (boots, true));
    let pump = endpoints::real_time(&shared);
    rebooted(&shared, boots).await;
    assert!(pump.pumped_ms() > 0);
    assert_eq!(over_pty.echo("after the reboot").await.unwrap(), "after the reboot");
    drop(pump);
    let now = shared.with(|d| d.now_ms());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(shared.with(|d| d.now_ms()), now, "a dropped pump moved the clock");
}

/// smpmgr's `ImageState(...)` of the test image 2.0.0 running from slot 0, field by field.
const SMPMGR_SLOT0_TEST: &str = concat!(
    r"slot=0,\s*version='2.0.0',\s*image=\w+,\s*hash=HashBytes\('[0-9A-F]+'\),\s*",
    r"bootable=True,\s*pending=False,\s*confirmed=False,\s*active=True"
);

/// smpmgr's `ImageState(...)` of 2.0.0 in slot 1, marked for test.
const SMPMGR_SLOT1_PENDING: &str = concat!(
    r"slot=1,\s*version='2.0.0',\s*image=\w+,\s*hash=HashBytes\('[0-9A-F]+'\),\s*",
    r"bootable=True,\s*pending=True"
);

#[tokio::test]
async fn smpmgr_does_a_full_upgrade_over_the_pty() {
    let Some(_) = testkit::peer_tool("smpmgr", "pip install smpmgr==0.19.1") else { return };
    let shared = device("swap-scratch");
    let ends = Endpoints::open(&shared, true, false).await.unwrap();
    let _pump = endpoints::real_time(&shared);
    let mut ctx = ends.context(&fixtures());
    ctx.image = Some(fixtures().join("images/app-2.0.0.bin"));
    let smpmgr = "smpmgr --port {pty} --timeout 3";
    run_all(
        &[
            matching(&format!("{smpmgr} image upload {{image}}"), r"100\.0%"),
            matching(&format!("{smpmgr} image state-write {{hash}}"), ""),
            matching(&format!("{smpmgr} image state-read"), SMPMGR_SLOT1_PENDING),
        ],
        &ctx,
    )
    .await;
    let boots = shared.with(|d| d.boot_count());
    run_all(&[matching(&format!("{smpmgr} os reset"), "ResetWriteResponse")], &ctx).await;
    rebooted(&shared, boots).await;
    run_all(&[matching(&format!("{smpmgr} image state-read"), SMPMGR_SLOT0_TEST)], &ctx).await;
    assert_eq!(running_version(&shared), "2.0.0");
}

#[tokio::test]
async fn mcumgrctl_does_a_full_upgrade_over_the_pty_and_udp() {
    let Some(_) = testkit::peer_tool(
        "mcumgrctl",
        "cargo install mcumgrctl@0.20.0 --locked --no-default-features (bash ci/install-peers.sh)",
    ) else {
        return;
    };
    let shared = device("swap-move");
    let ends = Endpoints::open(&shared, true, true).await.unwrap();
    let _pump = endpoints::real_time(&shared);
    let mut ctx = ends.context(&fixtures());
    ctx.image = Some(fixtures().join("images/app-2.0.0.bin"));
    let serial = "mcumgrctl --serial {pty} --timeout 3000";
    let udp = "mcumgrctl --udp {addr} --timeout 3000";
    run_all(
        &[
            cmd(&format!("{serial} -q image upload {{image}}")),
            cmd(&format!("{udp} image set-state --hash {{hash}}")),
            matching(&format!("{udp} --json image get-state"), r#""slot": 1,[^}]*"pending": true"#),
        ],
        &ctx,
    )
    .await;
    let boots = shared.with(|d| d.boot_count());
    run_all(&[cmd(&format!("{serial} os system-reset"))], &ctx).await;
    rebooted(&shared, boots).await;
    run_all(
        &[matching(
            &format!("{serial} --json image get-state"),
            r#""slot": 0,[^}]*"version": "2.0.0",[^}]*"confirmed": false,[^}]*"active": true"#,
        )],
        &ctx,
    )
    .await;
    assert_eq!(running_version(&shared), "2.0.0");
    // An SMP error is a non-zero exit: a test request for a hash no slot holds fails the step.
    let got = exec::run(
        &cmd(&format!("{udp} image set-state --hash {}", "ab".repeat(32))),
        &ctx,
        Duration::from_secs(60),
    )
    .await;
    assert!(
        matches!(&got, StepStatus::Failed { expected, .. } if expected.contains("exits with code 0")),
        "{got:?}"
    );
}
