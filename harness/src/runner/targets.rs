//! Targets: what a scenario runs against.
//!
//! | kind | what it is | what it can do |
//! |---|---|---|
//! | `sim` | the simulator in this process (the default) | every step |
//! | `sim-pty` | `brownout sim` as a child process, reached over a real PTY | SMP steps, `exec`, power off/on (the child is killed and restarted on its flash file) |
//! | `sim-udp` | the same over a real UDP socket | as `sim-pty` |
//! | `board` | a real board on a serial port or UDP address, from a targets file | SMP steps, `exec`, and power off/on/reset where the file gives the commands |
//!
//! `sim`, `sim-pty` and `sim-udp` need no configuration. Boards are described in a targets
//! file (like Zephyr twister's hardware map), passed with `brownout run --targets FILE`:
//!
//! ```yaml
//! targets:
//!   - name: lab-nrf52
//!     kind: board
//!     serial: /dev/ttyACM0        # or: udp: 192.0.2.10:1337
//!     baud: 115200
//!     power_off: "uhubctl -a off -p 2"
//!     power_on: "uhubctl -a on -p 2"
//!     boot_time: 3s               # how long it may take to answer after power-on or reset
//! ```
//!
//! Commands run with `sh -c`, bounded by `command_timeout` (default 30 s); a non-zero exit
//! fails the step with the command's output. A step a target cannot perform (a power cut at a
//! flash operation on a board, a hook, a bit flip) makes the runner skip the scenario with the
//! reason before anything is sent.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::client::{AnyTransport, SerialSettings, SerialTransport, UdpTransport};
use crate::scenario::Duration as YamlDuration;

/// Largest targets file read.
const MAX_TARGETS_FILE: u64 = 1 << 20;

/// Time a child simulator has to print its endpoints.
const CHILD_START: Duration = Duration::from_secs(20);

/// Default time limit of a power or reset command.
const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Default time a board has to answer after power-on or reset.
const DEFAULT_BOOT_TIME: Duration = Duration::from_secs(5);

/// A targets file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetsFile {
    /// The targets, by name.
    pub targets: Vec<TargetSpec>,
}

/// The kinds of target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TargetKind {
    /// The simulator in this process.
    Sim,
    /// `brownout sim` as a child process over a PTY.
    SimPty,
    /// `brownout sim` as a child process over UDP.
    SimUdp,
    /// A real board.
    Board,
}

impl TargetKind {
    /// The kind as scenarios' `targets:` name it.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Sim => "sim",
            TargetKind::SimPty => "sim-pty",
            TargetKind::SimUdp => "sim-udp",
            TargetKind::Board => "board",
        }
    }
}

/// One target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// The name `--target` selects.
    pub name: String,
    /// What it is.
    pub kind: TargetKind,
    /// Serial port of a board (a device path, or a PTY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Baud rate of the serial port. Default 115200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baud: Option<u32>,
    /// Longest console line the board's UART accepts. Default 127.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_length: Option<usize>,
    /// UDP address of a board (`192.0.2.10:1337`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub udp: Option<String>,
    /// Command that switches the board's power off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_off: Option<String>,
    /// Command that switches the board's power on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_on: Option<String>,
    /// How long the board may take to answer SMP after power-on or a reset. Default 5s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_time: Option<YamlDuration>,
    /// Time limit of each command. Default 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_timeout: Option<YamlDuration>,
}

impl TargetSpec {
    /// A built-in target (`sim`, `sim-pty`, `sim-udp`) with nothing configured.
    pub fn builtin(kind: TargetKind) -> TargetSpec {
        TargetSpec {
            name: kind.name().to_string(),
            kind,
            serial: None,
            baud: None,
            line_length: None,
            udp: None,
            power_off: None,
            power_on: None,
            boot_time: None,
            command_timeout: None,
        }
    }

    /// True for the in-process simulator.
    pub fn is_in_process(&self) -> bool {
        self.kind == TargetKind::Sim
    }

    /// Whether the target can switch power off and on.
    pub fn has_power_control(&self) -> bool {
        match self.kind {
            TargetKind::Sim | TargetKind::SimPty | TargetKind::SimUdp => true,
            TargetKind::Board => self.power_off.is_some() && self.power_on.is_some(),
        }
    }

    /// How long the target may take to answer after power-on or reset.
    pub fn boot_time(&self) -> Duration {
        self.boot_time.map_or(DEFAULT_BOOT_TIME, |d| Duration::from_millis(d.ms))
    }

    fn command_timeout(&self) -> Duration {
        self.command_timeout.map_or(DEFAULT_COMMAND_TIMEOUT, |d| Duration::from_millis(d.ms))
    }

    /// True if a scenario's `targets:` list lets it run here (empty: everywhere).
    pub fn allowed_by(&self, targets: &[String]) -> bool {
        targets.is_empty() || targets.iter().any(|t| *t == self.name || t == self.kind.name())
    }
}

/// Why a targets file or a `--target` name was refused.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is too large to be a targets file.
    #[error("{path}: {len} bytes is more than the {MAX_TARGETS_FILE}-byte limit of a targets file")]
    TooLarge { path: PathBuf, len: u64 },
    /// The YAML does not have the shape of a targets file (with its line and column).
    #[error("{0}")]
    Syntax(crate::scenario::Diagnostic),
    /// A target whose fields do not fit its kind.
    #[error("{path}: target `{name}`: {message}")]
    Invalid { path: PathBuf, name: String, message: String },
    /// `--target` names no target.
    #[error("no target named `{name}`; the targets are: {known}")]
    Unknown { name: String, known: String },
}

impl TargetsFile {
    /// Read and check a targets file.
    pub fn from_path(path: &Path) -> Result<TargetsFile, TargetError> {
        let read = |source| TargetError::Read { path: path.to_path_buf(), source };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > MAX_TARGETS_FILE {
            return Err(TargetError::TooLarge { path: path.to_path_buf(), len });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        TargetsFile::parse(&text, path)
    }

    /// Parse and check targets-file text (`path` names it in messages).
    pub fn parse(text: &str, path: &Path) -> Result<TargetsFile, TargetError> {
        let file: TargetsFile = serde_saphyr::from_str(text).map_err(|e| {
            TargetError::Syntax(crate::scenario::yaml_diagnostic(&e, text, &path.display().to_string()))
        })?;
        for t in &file.targets {
            let invalid = |message: &str| TargetError::Invalid {
                path: path.to_path_buf(),
                name: t.name.clone(),
                message: message.into(),
            };
            if t.kind == TargetKind::Board {
                match (&t.serial, &t.udp) {
                    (None, None) => return Err(invalid("a board needs `serial` or `udp`")),
                    (Some(_), Some(_)) => return Err(invalid("give `serial` or `udp`, not both")),
                    (None, Some(addr)) if addr.parse::<SocketAddr>().is_err() => {
                        return Err(invalid(&format!("udp `{addr}` is not an address like 192.0.2.10:1337")));
                    }
                    _ => {}
                }
                if t.power_off.is_some() != t.power_on.is_some() {
                    return Err(invalid("give both `power_off` and `power_on`, or neither"));
                }
            } else if t.serial.is_some() || t.udp.is_some() || t.power_off.is_some() || t.power_on.is_some() {
                return Err(invalid("only a `board` takes serial, udp and power commands"));
            }
            if let Some(n) = t.line_length
                && n < 8
            {
                return Err(invalid(&format!("line_length {n} is too short to frame SMP (at least 8)")));
            }
            if file.targets.iter().filter(|o| o.name == t.name).count() > 1 {
                return Err(invalid("two targets have this name"));
            }
        }
        Ok(file)
    }
}

/// The target `--target NAME` selects: a name from the targets file, or a built-in kind.
pub fn resolve(name: &str, file: Option<&TargetsFile>) -> Result<TargetSpec, TargetError> {
    if let Some(t) = file.and_then(|f| f.targets.iter().find(|t| t.name == name)) {
        return Ok(t.clone());
    }
    let kind = match name {
        "sim" => TargetKind::Sim,
        "sim-pty" => TargetKind::SimPty,
        "sim-udp" => TargetKind::SimUdp,
        _ => {
            let mut known = vec!["sim", "sim-pty", "sim-udp"];
            if let Some(f) = file {
                known.extend(f.targets.iter().map(|t| t.name.as_str()));
            }
            return Err(TargetError::Unknown { name: name.to_string(), known: known.join(", ") });
        }
    };
    Ok(TargetSpec::builtin(kind))
}

// ------------------------------------------------------------------------------------------------
// A target outside this process
// ------------------------------------------------------------------------------------------------

/// A device outside the runner's process: `brownout sim` as a child, or a board.
#[derive(Debug)]
pub struct Remote {
    spec: TargetSpec,
    /// For `sim-pty`/`sim-udp`: how to start the child, and the running one.
    child: Option<ChildSim>,
    /// Where its SMP is reached.
    pub pty: Option<PathBuf>,
    /// Where its SMP is reached over UDP.
    pub udp: Option<SocketAddr>,
}

/// `brownout sim` for one device of a scenario, and its process while powered.
#[derive(Debug)]
struct ChildSim {
    exe: PathBuf,
    args: Vec<String>,
    process: Option<tokio::process::Child>,
}

/// The `brownout` executable children are started from: `$BROWNOUT_EXE`, else this program.
pub fn brownout_exe() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("BROWNOUT_EXE") {
        return Ok(PathBuf::from(p));
    }
    std::env::current_exe().map_err(|e| format!("cannot find the brownout executable: {e}"))
}

impl Remote {
    /// Start (a child simulator) or reach (a board) the device `device` of `scenario_file`.
    /// `dir` holds the child's flash file and PTY link.
    pub async fn start(
        spec: &TargetSpec,
        scenario_file: &Path,
        device: Option<&str>,
        dir: &Path,
    ) -> Result<Remote, String> {
        match spec.kind {
            TargetKind::Sim => Err("the in-process simulator is not a remote target".into()),
            TargetKind::Board => {
                let udp = match &spec.udp {
                    Some(a) => Some(a.parse::<SocketAddr>().map_err(|e| format!("udp `{a}`: {e}"))?),
                    None => None,
                };
                Ok(Remote {
                    spec: spec.clone(),
                    child: None,
                    pty: spec.serial.as_ref().map(PathBuf::from),
                    udp,
                })
            }
            TargetKind::SimPty | TargetKind::SimUdp => {
                let exe = brownout_exe()?;
                let tag = device.unwrap_or("device");
                let mut args = vec![
                    "sim".to_string(),
                    "--scenario".to_string(),
                    scenario_file.display().to_string(),
                    "--flash".to_string(),
                    dir.join(format!("flash-{tag}.bin")).display().to_string(),
                ];
                if let Some(d) = device {
                    args.extend(["--device".to_string(), d.to_string()]);
                }
                let (pty, udp_bind) = if spec.kind == TargetKind::SimPty {
                    let link = dir.join(format!("tty-{tag}"));
                    args.extend(["--pty-link".to_string(), link.display().to_string()]);
                    (Some(link), None)
                } else {
                    // Port 0 the first time; the same port again after a power cycle.
                    (None, Some("127.0.0.1:0".to_string()))
                };
                let mut remote = Remote {
                    spec: spec.clone(),
                    child: Some(ChildSim { exe, args, process: None }),
                    pty,
                    udp: None,
                };
                remote.spawn(udp_bind.as_deref()).await?;
                Ok(remote)
            }
        }
    }

    /// The target this device is on.
    pub fn spec(&self) -> &TargetSpec {
        &self.spec
    }

    /// Start the child simulator and read its endpoints.
    async fn spawn(&mut self, udp_bind: Option<&str>) -> Result<(), String> {
        let Some(child) = &mut self.child else { return Ok(()) };
        let mut args = child.args.clone();
        if let Some(bind) = udp_bind {
            args.extend(["--udp".to_string(), bind.to_string()]);
        }
        let mut process = tokio::process::Command::new(&child.exe)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start `{} {}`: {e}", child.exe.display(), args.join(" ")))?;
        let stdout = process.stdout.take().ok_or("the child simulator has no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let mut udp = None;
        let read = async {
            while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
                if let Some(addr) = line.strip_prefix("udp ") {
                    udp = Some(addr.trim().parse::<SocketAddr>().map_err(|e| format!("udp `{addr}`: {e}"))?);
                }
                if line == "ready" {
                    return Ok(());
                }
            }
            Err("it exited before saying `ready`".to_string())
        };
        match tokio::time::timeout(CHILD_START, read).await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Err(format!("the child simulator did not start: {why}")),
            Err(_) => return Err(format!("the child simulator did not start within {CHILD_START:?}")),
        }
        if udp.is_some() {
            self.udp = udp;
        }
        child.process = Some(process);
        Ok(())
    }

    /// A client transport to the device.
    pub async fn connect(&self) -> Result<AnyTransport, String> {
        if let Some(addr) = self.udp {
            return UdpTransport::connect(addr).await.map(AnyTransport::Udp).map_err(|e| e.to_string());
        }
        let Some(path) = &self.pty else { return Err("the target has neither a serial port nor UDP".into()) };
        let mut settings = SerialSettings::new(path.display().to_string());
        if let Some(b) = self.spec.baud {
            settings.baud = b;
        }
        if let Some(n) = self.spec.line_length {
            settings.line_length = n;
        }
        SerialTransport::open(&settings).map(AnyTransport::Serial).map_err(|e| e.to_string())
    }

    /// Switch the power off. `Ok(false)`: the target cannot.
    pub async fn power_off(&mut self) -> Result<bool, String> {
        if let Some(child) = &mut self.child {
            if let Some(mut p) = child.process.take() {
                // SIGKILL: the flash file holds what the device had written (it is saved after
                // every request), as the flash of a board keeps it.
                let _ = p.kill().await;
            }
            return Ok(true);
        }
        match self.spec.power_off.clone() {
            Some(cmd) => self.command("power_off", &cmd).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Switch the power on. `Ok(false)`: the target cannot.
    pub async fn power_on(&mut self) -> Result<bool, String> {
        if self.child.as_ref().is_some_and(|c| c.process.is_some()) {
            return Ok(true);
        }
        if self.child.is_some() {
            let bind = self.udp.map(|a| a.to_string());
            self.spawn(bind.as_deref()).await?;
            return Ok(true);
        }
        match self.spec.power_on.clone() {
            Some(cmd) => self.command("power_on", &cmd).await.map(|()| true),
            None => Ok(false),
        }
    }

    /// Run one of the target's commands.
    async fn command(&self, what: &str, cmd: &str) -> Result<(), String> {
        let out = tokio::process::Command::new("sh")
            .args(["-c", cmd])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let limit = self.spec.command_timeout();
        match tokio::time::timeout(limit, out).await {
            Err(_) => Err(format!("{what} command `{cmd}` did not finish within {limit:?}")),
            Ok(Err(e)) => Err(format!("{what} command `{cmd}`: {e}")),
            Ok(Ok(o)) if o.status.success() => Ok(()),
            Ok(Ok(o)) => Err(format!(
                "{what} command `{cmd}` failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TargetsFile, String> {
        TargetsFile::parse(text, Path::new("targets.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_board_with_power_commands_parses() {
        let f = parse(
            "targets:\n  - name: lab\n    kind: board\n    serial: /dev/ttyACM0\n    power_off: 'off'\n    power_on: 'on'\n    boot_time: 3s\n",
        )
        .unwrap();
        let t = resolve("lab", Some(&f)).unwrap();
        assert!(t.has_power_control());
        assert_eq!(t.boot_time(), Duration::from_secs(3));
        assert!(t.allowed_by(&["board".into()]));
        assert!(!t.allowed_by(&["sim".into()]));
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        assert_eq!(
            parse("targets:\n  - name: lab\n    kind: board\n").unwrap_err(),
            "targets.yaml: target `lab`: a board needs `serial` or `udp`"
        );
        assert_eq!(
            parse("targets:\n  - name: lab\n    kind: board\n    udp: nowhere\n").unwrap_err(),
            "targets.yaml: target `lab`: udp `nowhere` is not an address like 192.0.2.10:1337"
        );
        assert_eq!(
            parse("targets:\n  - name: lab\n    kind: board\n    udp: 127.0.0.1:1\n    power_on: x\n")
                .unwrap_err(),
            "targets.yaml: target `lab`: give both `power_off` and `power_on`, or neither"
        );
        let e = parse("targets:\n  - name: lab\n    kind: bored\n").unwrap_err();
        assert!(e.starts_with("targets.yaml:3:"), "{e}");
        assert!(e.contains("bored"), "{e}");
        assert_eq!(
            resolve("lba", None).unwrap_err().to_string(),
            "no target named `lba`; the targets are: sim, sim-pty, sim-udp"
        );
    }

    #[test]
    fn builtin_kinds_resolve_without_a_file() {
        assert!(resolve("sim", None).unwrap().is_in_process());
        assert_eq!(resolve("sim-udp", None).unwrap().kind, TargetKind::SimUdp);
    }
}
