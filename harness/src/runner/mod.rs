//! The scenario runner: read a scenario, build its device on the in-process simulator, carry
//! out its steps in order, and report each step as passed, failed (expected vs actual, with the
//! step's `file:line`) or skipped (with the reason; a skipped step is never counted as passed).
//!
//! ```text
//! scenario file ──Scenario::from_path──▶ Scenario ──device_config──▶ Device ──▶ SharedDevice
//!                                                                                   │
//!                                  steps ──Session::run (per-step timeout)──▶ SmpClient (in-process)
//!                                                                                   │
//!                                                         ScenarioReport ◀── StepReport per step
//! ```
//!
//! Scenarios run independently (each on its own device, its own thread and tokio runtime), so
//! [`run_all`] runs several at once and still gives the same results, in input order.
//! Everything random is drawn from the scenario's seed ([`seed_for`]).

pub mod endpoints;
pub mod exec;
pub mod group;
pub mod report;
pub mod repro;
pub mod steps;
pub mod targets;
pub mod transcript;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sim_device::transport::SharedDevice;

use crate::scenario::{Behaviour, CutKind, Located, Phase, Scenario, Step};
pub use report::{Outcome, ScenarioReport, StepReport, StepStatus};
use repro::DeviceDump;
use steps::Session;
use targets::{Remote, TargetKind, TargetSpec};
use transcript::Transcript;

/// A step's time limit when the scenario gives no `timeout`.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How scenarios are run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Seed for every scenario, overriding their own `seed:` (to repeat a run).
    pub seed: Option<u64>,
    /// Where a failing scenario's reproducer directory is written (none: not written).
    pub repro_dir: Option<PathBuf>,
    /// The target (none: the in-process simulator).
    pub target: Option<TargetSpec>,
    /// Where each scenario's files go (`<out>/<scenario stem>/`); none: a temporary directory.
    pub out_dir: Option<PathBuf>,
}

/// The seed a scenario runs with: `--seed`, else its `seed:`, else one derived from its name
/// (so an unseeded scenario still runs the same way every time).
pub fn seed_for(scenario_name: &str, own: Option<u64>, options: &RunOptions) -> u64 {
    options.seed.or(own).unwrap_or_else(|| {
        // FNV-1a: stable across runs and platforms, unlike std's hasher.
        scenario_name
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// Read and run one scenario file.
pub fn run_file(path: &Path, options: &RunOptions) -> ScenarioReport {
    let started = Instant::now();
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let scenario = match Scenario::from_path(path) {
        Ok(s) => s,
        Err(e) => {
            let seed = seed_for(&file_name, None, options);
            return ScenarioReport::error(
                path.to_path_buf(),
                file_name,
                seed,
                e.to_string(),
                started.elapsed(),
            );
        }
    };
    run_scenario(path, &scenario, options)
}

/// Run a parsed scenario (`path` is what reports call its file).
pub fn run_scenario(path: &Path, scenario: &Scenario, options: &RunOptions) -> ScenarioReport {
    let started = Instant::now();
    let seed = seed_for(&scenario.name, scenario.seed, options);
    let error = |why: String| {
        ScenarioReport::error(path.to_path_buf(), scenario.name.clone(), seed, why, started.elapsed())
    };
    let target = options.target.clone().unwrap_or_else(|| TargetSpec::builtin(TargetKind::Sim));
    if let Some(reason) = why_not_here(scenario, &target) {
        let steps = scenario
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| StepReport {
                index: i + 1,
                step: s.value.name().to_string(),
                line: s.line,
                status: StepStatus::Skipped { reason: reason.clone() },
                duration: Duration::ZERO,
            })
            .collect();
        return ScenarioReport {
            file: path.to_path_buf(),
            name: scenario.name.clone(),
            outcome: Outcome::Skipped,
            seed,
            error: None,
            steps,
            duration: started.elapsed(),
            repro: None,
        };
    }
    if scenario.all_devices().next().is_none() {
        return error("the scenario has no device".into());
    }
    let work = match WorkDir::new(options, path) {
        Ok(w) => w,
        Err(e) => return error(format!("cannot make a work directory: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return error(format!("cannot start a tokio runtime: {e}")),
    };
    let step_timeout = scenario.timeout.map_or(DEFAULT_STEP_TIMEOUT, |t| Duration::from_millis(t.ms));
    let sweep = scenario.steps.iter().enumerate().find_map(|(i, s)| match &s.value {
        Step::PowerLossSweep(sw) => Some((i, sw)),
        _ => None,
    });
    let run = Run {
        path,
        scenario,
        seed,
        step_timeout,
        target: &target,
        dir: work.path().to_path_buf(),
        keep_dumps: options.repro_dir.is_some(),
    };
    let steps: Result<Pass, String> = runtime.block_on(async {
        let Some((at, sw)) = sweep else {
            return run.once(None).await;
        };
        let every = sw.every.unwrap_or(1).max(1);
        let max_runs = sw.max_cuts.unwrap_or(MAX_SWEEP_RUNS).min(MAX_SWEEP_RUNS);
        let kinds = if sw.cuts.is_empty() { vec![CutKind::Before] } else { sw.cuts.clone() };
        let mut runs = 0u64;
        let mut op = 1u64;
        let mut last: Option<Pass> = None;
        'sweep: loop {
            let mut struck = false;
            for &kind in &kinds {
                let cut = SweepCut { index: at, during: sw.during, op, kind };
                let mut pass = run.once(Some(cut)).await?;
                runs += 1;
                struck |= pass.struck > 0;
                if ScenarioReport::outcome_of(&pass.reports) == Outcome::Failed {
                    if let Some(r) = pass.reports.get_mut(at) {
                        r.status = StepStatus::Failed {
                            expected: format!(
                                "the steps after the sweep pass whatever flash operation of the {} phase the power is cut at",
                                kebab(&sw.during)
                            ),
                            actual: format!("with a `{}` cut at operation {op} (run {runs}) they do not; the failing step follows", kebab(&kind)),
                        };
                    }
                    return Ok(pass);
                }
                last = Some(pass);
                if runs >= max_runs {
                    break 'sweep;
                }
            }
            if !struck {
                // The phase has fewer operations than `op`: the last run saw no cut at all.
                break;
            }
            op = op.saturating_add(every);
        }
        let Some(mut last) = last else { return Err("the sweep ran no pass".into()) };
        if let Some(r) = last.reports.get_mut(at) {
            r.status = StepStatus::Passed {
                note: Some(format!(
                    "{runs} runs: cuts [{}] at flash operations 1..{op} (every {every}) of the {} phase, all passed",
                    kinds.iter().map(kebab).collect::<Vec<_>>().join(", "),
                    kebab(&sw.during)
                )),
            };
        }
        Ok(last)
    });
    let pass = match steps {
        Ok(p) => p,
        Err(e) => return error(e),
    };
    let mut report = ScenarioReport {
        file: path.to_path_buf(),
        name: scenario.name.clone(),
        outcome: ScenarioReport::outcome_of(&pass.reports),
        seed,
        error: None,
        steps: pass.reports,
        duration: started.elapsed(),
        repro: None,
    };
    if report.outcome == Outcome::Failed
        && let Some(dir) = &options.repro_dir
        && let Err(e) = repro::write_for_report(dir, &mut report, &pass.dumps, Some(&pass.transcript))
    {
        tracing::warn!("{}: cannot write the reproducer to {}: {e}", path.display(), dir.display());
    }
    report
}

/// Why `scenario` cannot run on `target` (it is then skipped whole, before anything is sent).
pub fn why_not_here(scenario: &Scenario, target: &TargetSpec) -> Option<String> {
    if !target.allowed_by(&scenario.targets) {
        return Some(format!(
            "the scenario runs only on {}, not on target `{}`",
            scenario.targets.join(", "),
            target.name
        ));
    }
    let runs_code = scenario
        .all_devices()
        .any(|d| d.behaviour == Behaviour::Run || d.behaviours.iter().any(|r| r.behaviour == Behaviour::Run));
    if runs_code && !sim_device::firmware::AVAILABLE && target.kind != TargetKind::Board {
        return Some(
            "built without the firmware feature (a device has `behaviour: run`); rebuild with \
             `cargo build --release -p harness --features firmware`"
                .to_string(),
        );
    }
    if target.is_in_process() {
        return None;
    }
    let mut needs = Vec::new();
    let mut visit = |step: &Located<Step>| {
        let why = match &step.value {
            Step::PowerLoss(_) | Step::PowerLossSweep(_) => Some("power cuts at flash operations"),
            Step::BitFlip(_) => Some("bit flips"),
            Step::Hook(_) | Step::ClearHooks(_) => Some("device hooks"),
            Step::TransportFault(_) | Step::ClearTransportFaults(_) => Some("transport faults"),
            Step::Group(_) => Some("group updates with injected failures"),
            Step::Exec(x) => {
                let (pty, udp) = endpoints::wanted(&x.command);
                let (has_pty, has_udp) = match target.kind {
                    TargetKind::SimPty => (true, false),
                    TargetKind::SimUdp => (false, true),
                    _ => (target.serial.is_some(), target.udp.is_some()),
                };
                if pty && !has_pty {
                    Some("a serial port or PTY for `{pty}`")
                } else if udp && !has_udp {
                    Some("a UDP address for `{ip}`/`{port}`/`{addr}`")
                } else {
                    None
                }
            }
            Step::PowerOff(_) | Step::PowerOn(_) | Step::PowerCycle(_) if !target.has_power_control() => {
                Some("power control (the target has no power_off/power_on commands)")
            }
            _ => None,
        };
        if let Some(why) = why {
            needs.push(format!("line {}: `{}` needs {why}", step.line, step.value.name()));
        }
    };
    for step in &scenario.steps {
        visit(step);
        if let Step::On(on) = &step.value {
            on.steps.iter().for_each(&mut visit);
        }
    }
    if needs.is_empty() {
        return None;
    }
    Some(format!("target `{}` cannot run it ({}); run it on target sim", target.name, needs.join("; ")))
}

/// Most runs of one `power_loss_sweep` (a bound when `max_cuts` is not given).
pub const MAX_SWEEP_RUNS: u64 = 5000;

/// Where one run of a sweep cuts the power: instead of the sweep step at `index`, a cut of
/// `kind` is armed at the `op`-th flash operation of the next `during` phase.
#[derive(Debug, Clone, Copy)]
struct SweepCut {
    index: usize,
    during: Phase,
    op: u64,
    kind: CutKind,
}

/// What one pass over the steps left.
struct Pass {
    reports: Vec<StepReport>,
    /// Armed cuts that struck after the sweep point.
    struck: u64,
    /// The devices as the failing step left them (empty if nothing failed).
    dumps: Vec<DeviceDump>,
    transcript: Transcript,
}

/// One scenario's run: what every pass over its steps (one, or one per cut of a sweep) shares.
struct Run<'a> {
    path: &'a Path,
    scenario: &'a Scenario,
    seed: u64,
    step_timeout: Duration,
    target: &'a TargetSpec,
    dir: PathBuf,
    /// Capture the devices of a failing pass (for a reproducer).
    keep_dumps: bool,
}

impl Run<'_> {
    /// A session per device of the scenario, on fresh devices.
    async fn sessions(&self) -> Result<Vec<Session<'_>>, String> {
        let mut sessions = Vec::new();
        for (i, spec) in self.scenario.all_devices().enumerate() {
            let seed = self.seed ^ (i as u64).wrapping_mul(0x9e37_79b9);
            if self.target.is_in_process() {
                let device = self
                    .scenario
                    .device_config(spec)
                    .and_then(|c| c.build().map_err(Into::into))
                    .map_err(|e| format!("cannot build the device: {e}"))?;
                let shared = SharedDevice::new(device);
                sessions.push(Session::new(self.scenario, spec, shared, seed, self.dir.clone()));
            } else {
                let remote = Remote::start(self.target, self.path, spec.name.as_deref(), &self.dir)
                    .await
                    .map_err(|e| format!("target `{}`: {e}", self.target.name))?;
                sessions.push(Session::remote(self.scenario, spec, remote, seed, self.dir.clone()).await?);
            }
        }
        Ok(sessions)
    }

    /// Run the steps once; returns the step reports and how many armed cuts struck after the
    /// sweep point (if any).
    async fn once(&self, cut: Option<SweepCut>) -> Result<Pass, String> {
        let mut sessions = self.sessions().await?;
        let scenario = self.scenario;
        // Every device's SMP traffic, and where each step began, for a reproducer.
        let transcript = Transcript::new();
        let several = sessions.len() > 1;
        for s in &sessions {
            if let Some(shared) = s.sim() {
                match (several, s.name()) {
                    (true, Some(name)) => transcript.attach_as(shared, name),
                    _ => transcript.attach(shared),
                }
            }
        }
        let mut reports = Vec::with_capacity(scenario.steps.len());
        let mut broken = false;
        let mut struck_before = 0;
        for (i, step) in scenario.steps.iter().enumerate() {
            let mut report = StepReport {
                index: i + 1,
                step: step.value.name().to_string(),
                line: step.line,
                status: StepStatus::NotRun,
                duration: Duration::ZERO,
            };
            if !broken {
                let t = Instant::now();
                transcript.note(i + 1, step.line, step.value.name());
                report.status = match cut {
                    Some(c) if c.index == i => {
                        let Some(session) = sessions.first_mut() else { return Err("no device".into()) };
                        struck_before = session.cuts_struck();
                        session.arm(c.during, c.op, c.kind, step.line);
                        StepStatus::Passed {
                            note: Some(format!(
                                "`{}` cut at flash operation {} of the {} phase",
                                kebab(&c.kind),
                                c.op,
                                kebab(&c.during)
                            )),
                        }
                    }
                    _ => self.step(&mut sessions, step).await,
                };
                report.duration = t.elapsed();
                broken = matches!(report.status, StepStatus::Failed { .. });
            }
            reports.push(report);
        }
        let struck = sessions.first().map_or(0, |s| s.cuts_struck()).saturating_sub(struck_before);
        // Capture the devices only when a reproducer may be written: a flash dump is a copy.
        let dumps = if broken && self.keep_dumps {
            sessions
                .iter()
                .filter_map(|s| {
                    let name = s.name().unwrap_or("main").to_string();
                    s.sim().map(|shared| shared.with(|d| DeviceDump::of(&name, d)))
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(Pass { reports, struck, dumps, transcript })
    }

    /// One top-level step: for the first device, for a named one (`on`), or for a group.
    async fn step(&self, sessions: &mut [Session<'_>], step: &Located<Step>) -> StepStatus {
        let limit = step_limit(&step.value, self.step_timeout);
        match &step.value {
            Step::On(on) => {
                let Some(session) = sessions.iter_mut().find(|s| s.name() == Some(on.device.as_str())) else {
                    return StepStatus::Failed {
                        expected: format!("a device named `{}`", on.device),
                        actual: "none in `devices:`".into(),
                    };
                };
                let mut notes = Vec::new();
                for inner in &on.steps {
                    match timed(
                        step_limit(&inner.value, self.step_timeout),
                        session.run(&inner.value, inner.line),
                    )
                    .await
                    {
                        StepStatus::Failed { expected, actual } => {
                            return StepStatus::Failed {
                                expected: format!(
                                    "`{}` (line {}) on {}: {expected}",
                                    inner.value.name(),
                                    inner.line,
                                    on.device
                                ),
                                actual,
                            };
                        }
                        StepStatus::Skipped { reason } => {
                            return StepStatus::Skipped {
                                reason: format!(
                                    "`{}` (line {}) on {}: {reason}",
                                    inner.value.name(),
                                    inner.line,
                                    on.device
                                ),
                            };
                        }
                        StepStatus::Passed { note: Some(n) } => {
                            notes.push(format!("{}: {n}", inner.value.name()))
                        }
                        _ => {}
                    }
                }
                StepStatus::Passed {
                    note: Some(format!(
                        "{} steps on {}{}",
                        on.steps.len(),
                        on.device,
                        if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) }
                    )),
                }
            }
            Step::Group(g) => {
                let limit = g.timeout.map_or(Duration::from_secs(120), |t| Duration::from_millis(t.ms));
                timed(limit, group::run(self.scenario, sessions, g, step.line, self.seed)).await
            }
            other => match sessions.first_mut() {
                Some(session) => timed(limit, session.run(other, step.line)).await,
                None => StepStatus::Failed { expected: "a device".into(), actual: "none".into() },
            },
        }
    }
}

/// The time a step may take: the scenario's step timeout, or longer when the step gives its
/// own limit (an `exec` that may run for a minute reports its own timeout, with the command's
/// output, before this one strikes).
fn step_limit(step: &Step, default: Duration) -> Duration {
    let own = match step {
        Step::Exec(x) => x.timeout,
        Step::WaitBoot(w) => w.timeout,
        Step::Upload(u) => u.timeout.map(|t| crate::scenario::Duration { ms: t.ms.saturating_mul(8) }),
        _ => None,
    };
    match own {
        Some(t) => default.max(Duration::from_millis(t.ms) + Duration::from_secs(5)),
        None => default,
    }
}

/// A step bounded by `limit`.
async fn timed(limit: Duration, step: impl std::future::Future<Output = StepStatus>) -> StepStatus {
    match tokio::time::timeout(limit, step).await {
        Ok(status) => status,
        Err(_) => StepStatus::Failed {
            expected: format!("the step ends within {}", report::human(limit)),
            actual: "it did not (the step timed out)".into(),
        },
    }
}

/// The directory a scenario's run keeps its files in (`{dir}` of `exec`, `save_as`, the
/// flash files of child simulators): under `--out` when given, else a temporary directory
/// removed afterwards.
enum WorkDir {
    Kept(PathBuf),
    Temp(tempfile::TempDir),
}

impl WorkDir {
    fn new(options: &RunOptions, scenario_file: &Path) -> std::io::Result<WorkDir> {
        match &options.out_dir {
            Some(out) => {
                let stem =
                    scenario_file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let dir = out.join(stem);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)?;
                }
                std::fs::create_dir_all(&dir)?;
                Ok(WorkDir::Kept(dir))
            }
            None => tempfile::Builder::new().prefix("brownout-").tempdir().map(WorkDir::Temp),
        }
    }

    fn path(&self) -> &Path {
        match self {
            WorkDir::Kept(p) => p,
            WorkDir::Temp(t) => t.path(),
        }
    }
}

/// Run every file, `jobs` at a time (at least 1), calling `done` as each finishes (in finish
/// order, for progress); the reports come back in the order of `files`.
pub fn run_all(
    files: &[PathBuf],
    options: &RunOptions,
    jobs: usize,
    done: &(dyn Fn(&ScenarioReport) + Sync),
) -> Vec<ScenarioReport> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScenarioReport>>> = Mutex::new(vec![None; files.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, files.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let report = run_file(file, options);
                    done(&report);
                    let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(slot) = r.get_mut(i) {
                        *slot = Some(report);
                    }
                }
            });
        }
    });
    results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten().collect()
}

/// A scenario enum value as the YAML writes it (`trailer-write`, `interrupted-erase`).
pub fn kebab<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::from("?"),
    }
}
