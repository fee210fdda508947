//! What a run found: one [`ScenarioReport`] per scenario file, one [`StepReport`] per step,
//! and the three ways they are written out: terminal lines a person reads, JSON
//! (`--json`) and JUnit XML (`--junit`) for CI.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// How one step ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum StepStatus {
    /// Everything the step checks held.
    Passed {
        /// What happened, when it is worth saying (an upload's size, a power cut).
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A check did not hold, or the request failed.
    Failed {
        /// What the scenario asked for.
        expected: String,
        /// What the device did.
        actual: String,
    },
    /// The runner cannot do this step (yet, or on this target): never counted as passed.
    Skipped {
        /// Why.
        reason: String,
    },
    /// An earlier step failed, so this one did not run.
    NotRun,
}

/// One step's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepReport {
    /// 1-based position in the scenario's step list.
    pub index: usize,
    /// The step's name (`upload`, `expect`, …).
    pub step: String,
    /// The line of the scenario file the step starts on.
    pub line: u64,
    #[serde(flatten)]
    pub status: StepStatus,
    /// Wall-clock time the step took.
    #[serde(serialize_with = "ser_ms")]
    pub duration: Duration,
}

/// How a whole scenario ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step passed.
    Passed,
    /// No step failed, but at least one was skipped: the scenario is not proven.
    Skipped,
    /// A step failed.
    Failed,
    /// The scenario could not be run at all (unreadable, invalid, no device).
    Error,
}

/// One scenario's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioReport {
    /// The scenario file.
    pub file: PathBuf,
    /// The scenario's `name` (the file name if it could not be read).
    pub name: String,
    pub outcome: Outcome,
    /// The seed its random choices used (repeat a run with `--seed`).
    pub seed: u64,
    /// Why the scenario could not run, for [`Outcome::Error`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub steps: Vec<StepReport>,
    /// Wall-clock time of the whole scenario.
    #[serde(serialize_with = "ser_ms")]
    pub duration: Duration,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0)
}

impl ScenarioReport {
    /// A scenario that could not be run.
    pub fn error(
        file: PathBuf,
        name: String,
        seed: u64,
        error: String,
        duration: Duration,
    ) -> ScenarioReport {
        ScenarioReport {
            file,
            name,
            outcome: Outcome::Error,
            seed,
            error: Some(error),
            steps: Vec::new(),
            duration,
        }
    }

    /// The outcome its steps add up to.
    pub fn outcome_of(steps: &[StepReport]) -> Outcome {
        if steps.iter().any(|s| matches!(s.status, StepStatus::Failed { .. })) {
            Outcome::Failed
        } else if steps.iter().any(|s| matches!(s.status, StepStatus::Skipped { .. })) {
            Outcome::Skipped
        } else {
            Outcome::Passed
        }
    }

    /// Steps with each status: (passed, failed, skipped, not run).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for s in &self.steps {
            match s.status {
                StepStatus::Passed { .. } => c.0 += 1,
                StepStatus::Failed { .. } => c.1 += 1,
                StepStatus::Skipped { .. } => c.2 += 1,
                StepStatus::NotRun => c.3 += 1,
            }
        }
        c
    }

    /// `file:line` of a step.
    pub fn location(&self, step: &StepReport) -> String {
        format!("{}:{}", self.file.display(), step.line)
    }

    /// The terminal text: one line for the scenario, then for a failure the step, its
    /// `file:line`, expected and actual, and for skipped steps why.
    pub fn to_text(&self) -> String {
        let (passed, failed, skipped, not_run) = self.counts();
        let mark = match self.outcome {
            Outcome::Passed => "✓",
            Outcome::Skipped => "~",
            Outcome::Failed | Outcome::Error => "✗",
        };
        let word = match self.outcome {
            Outcome::Passed => "passed",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "FAILED",
            Outcome::Error => "ERROR",
        };
        let mut counts = format!("{passed} ✓");
        if failed > 0 {
            counts.push_str(&format!(", {failed} ✗"));
        }
        if skipped > 0 {
            counts.push_str(&format!(", {skipped} skipped"));
        }
        if not_run > 0 {
            counts.push_str(&format!(", {not_run} not run"));
        }
        let mut out = format!(
            "{mark} {word:<7} {} — {} ({counts}; seed {}) in {}\n",
            self.file.display(),
            self.name,
            self.seed,
            human(self.duration)
        );
        if let Some(e) = &self.error {
            for line in e.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        for step in &self.steps {
            match &step.status {
                StepStatus::Failed { expected, actual } => {
                    out.push_str(&format!(
                        "    step {} `{}` at {} failed\n      expected: {}\n      actual:   {}\n",
                        step.index,
                        step.step,
                        self.location(step),
                        indent(expected),
                        indent(actual)
                    ));
                }
                StepStatus::Skipped { reason } => {
                    out.push_str(&format!(
                        "    step {} `{}` at {} skipped: {reason}\n",
                        step.index,
                        step.step,
                        self.location(step)
                    ));
                }
                StepStatus::Passed { .. } | StepStatus::NotRun => {}
            }
        }
        out
    }
}

/// Continuation lines of a multi-line value, indented under the first.
fn indent(text: &str) -> String {
    text.replace('\n', "\n                ")
}

/// `1.23s`, `45ms`.
pub fn human(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// The summary line after every scenario's line.
pub fn summary(reports: &[ScenarioReport], wall: Duration) -> String {
    let count = |o: Outcome| reports.iter().filter(|r| r.outcome == o).count();
    format!(
        "{} scenarios: {} passed, {} failed, {} skipped, {} errors in {}",
        reports.len(),
        count(Outcome::Passed),
        count(Outcome::Failed),
        count(Outcome::Skipped),
        count(Outcome::Error),
        human(wall)
    )
}

/// The run as JSON: `{"scenarios": [...], "passed": bool}`.
pub fn to_json(reports: &[ScenarioReport]) -> serde_json::Value {
    serde_json::json!({
        "passed": reports.iter().all(|r| r.outcome == Outcome::Passed),
        "scenarios": reports,
    })
}

/// The run as JUnit XML: one test suite `brownout`, one test case per scenario (classname the
/// file, name the scenario's name). A failed scenario is a `failure` naming the step, its
/// `file:line`, expected and actual; a skipped one is `skipped` with the reasons; a scenario
/// that could not run is an `error`.
pub fn to_junit(reports: &[ScenarioReport]) -> Result<String, quick_junit::SerializeError> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut suite = TestSuite::new("brownout");
    for r in reports {
        let text = r.to_text();
        let status = match r.outcome {
            Outcome::Passed => TestCaseStatus::success(),
            Outcome::Skipped => {
                let mut s = TestCaseStatus::skipped();
                s.set_message("steps skipped");
                s.set_description(text.clone());
                s
            }
            Outcome::Failed | Outcome::Error => {
                let kind = if r.outcome == Outcome::Failed {
                    NonSuccessKind::Failure
                } else {
                    NonSuccessKind::Error
                };
                let mut s = TestCaseStatus::non_success(kind);
                let first = r.steps.iter().find(|s| matches!(s.status, StepStatus::Failed { .. }));
                let message = match first {
                    Some(step) => {
                        format!("step {} `{}` at {} failed", step.index, step.step, r.location(step))
                    }
                    None => r.error.clone().unwrap_or_else(|| "failed".into()),
                };
                s.set_message(message);
                s.set_description(text.clone());
                s
            }
        };
        let mut case = TestCase::new(r.name.clone(), status);
        case.set_classname(r.file.display().to_string());
        case.set_time(r.duration);
        suite.add_test_case(case);
    }
    let mut report = Report::new("brownout run");
    report.add_test_suite(suite);
    report.to_string()
}
