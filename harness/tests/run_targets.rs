//! `brownout run --target`: the same scenario against `brownout sim` as a child process over a
//! real PTY and a real UDP socket, and against a "board" from a targets file whose power is
//! switched by shell commands (here: commands that stop and start a `brownout sim` process,
//! which is what a lab's `uhubctl` does to a real board).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn brownout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_brownout"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str]) -> Output {
    brownout().current_dir(workspace()).arg("run").args(args).output().expect("brownout runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

const PORTABLE: &str = "scenarios/library/portable-upgrade.yaml";

#[test]
fn a_portable_scenario_passes_on_a_child_simulator_over_udp() {
    let out = run(&[PORTABLE, "--target", "sim-udp"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("13 passed"), "{all}");
}

#[test]
fn a_portable_scenario_passes_on_a_child_simulator_over_a_pty() {
    let out = run(&[PORTABLE, "--target", "sim-pty"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("13 passed"), "{all}");
}

#[test]
fn a_scenario_that_needs_the_in_process_simulator_is_skipped_with_the_reason() {
    let out = run(&["scenarios/library/power-loss-during-upload.yaml", "--target", "sim-udp"]);
    let all = text(&out);
    assert!(!out.status.success(), "a skipped scenario has not passed: {all}");
    assert!(all.contains("target `sim-udp` cannot run it"), "{all}");
    assert!(all.contains("needs power cuts at flash operations"), "{all}");
    // Skipped, not failed: nothing was sent to a device.
    assert!(all.contains("0 failed"), "{all}");
}

#[test]
fn an_unknown_target_lists_the_known_ones() {
    let out = run(&[PORTABLE, "--target", "lab-nrf"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no target named `lab-nrf`; the targets are: sim, sim-pty, sim-udp"),
        "{}",
        text(&out)
    );
}

/// A "board": `brownout sim` started and stopped by the targets file's power commands, reached
/// over the serial port (PTY) it creates, with its flash kept in a file across power cycles.
#[test]
fn a_board_with_power_commands_runs_the_portable_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let exe = env!("CARGO_BIN_EXE_brownout");
    let scenario = workspace().join(PORTABLE);
    let tty = d.join("ttyBOARD");
    let start = format!(
        "'{exe}' sim --scenario '{}' --flash '{}/flash.bin' --pty-link '{}' > '{d}/sim.out' 2>'{d}/sim.err' & \
         echo $! > '{d}/pid'; \
         i=0; until grep -q ready '{d}/sim.out'; do i=$((i+1)); [ $i -gt 400 ] && exit 1; sleep 0.05; done",
        scenario.display(),
        d.display(),
        tty.display(),
        d = d.display()
    );
    let stop = format!("kill $(cat '{}/pid')", d.display());
    let targets = d.join("targets.yaml");
    std::fs::write(
        &targets,
        format!(
            "targets:\n  - name: bench-board\n    kind: board\n    serial: {}\n    power_on: \"{}\"\n    power_off: \"{}\"\n    boot_time: 6s\n",
            tty.display(),
            start.replace('"', "\\\""),
            stop.replace('"', "\\\"")
        ),
    )
    .unwrap();
    // The board is on when the run starts.
    let on = Command::new("sh").args(["-c", &start]).status().unwrap();
    assert!(on.success());
    let out = run(&[PORTABLE, "--targets", targets.to_str().unwrap(), "--target", "bench-board"]);
    let _ = Command::new("sh").args(["-c", &stop]).status();
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("13 passed"), "{all}");
}

#[test]
fn a_bad_targets_file_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.yaml");
    std::fs::write(&targets, "targets:\n  - name: lab\n    kind: board\n    udp: nowhere\n").unwrap();
    let out = run(&[PORTABLE, "--targets", targets.to_str().unwrap(), "--target", "lab"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("target `lab`: udp `nowhere` is not an address like 192.0.2.10:1337"),
        "{}",
        text(&out)
    );
}
