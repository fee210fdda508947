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
    /// The reproducer directory written for a failure ([`super::repro::write`]), if any.
    pub repro: Option<PathBuf>,
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
            repro: None,
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

    /// The terminal text without colour: one line for the scenario, then for a failure the
    /// step, its `file:line`, expected and actual, the command that repeats the run and the
    /// reproducer directory; for skipped steps why.
    pub fn to_text(&self) -> String {
        self.render(Style::plain())
    }

    /// [`ScenarioReport::to_text`], coloured when `style` says so.
    pub fn render(&self, style: Style) -> String {
        let (passed, failed, skipped, not_run) = self.counts();
        let (mark, word, colour) = match self.outcome {
            Outcome::Passed => ("✓", "passed", GREEN),
            Outcome::Skipped => ("~", "skipped", YELLOW),
            Outcome::Failed => ("✗", "FAILED", RED),
            Outcome::Error => ("✗", "ERROR", RED),
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
            "{} {} — {} {}\n",
            style.paint(colour, &format!("{mark} {word:<7}")),
            style.paint(BOLD, &self.file.display().to_string()),
            self.name,
            style.paint(DIM, &format!("({counts}; seed {}) in {}", self.seed, human(self.duration))),
        );
        if let Some(e) = &self.error {
            for line in e.lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        // A scenario skipped as a whole (a target that cannot run it, a build without the
        // firmware feature) says why once, not once per step.
        let whole = match self.steps.first().map(|s| &s.status) {
            Some(StepStatus::Skipped { reason }) if self.steps.len() > 1 => self
                .steps
                .iter()
                .all(|s| matches!(&s.status, StepStatus::Skipped { reason: r } if r == reason))
                .then_some(reason),
            _ => None,
        };
        if let Some(reason) = whole {
            out.push_str(&format!(
                "    {} every step: {reason}
",
                style.paint(YELLOW, "skipped")
            ));
        }
        for step in self.steps.iter().filter(|_| whole.is_none()) {
            match &step.status {
                StepStatus::Failed { expected, actual } => {
                    out.push_str(&format!(
                        "    {} at {} failed\n      expected: {}\n      actual:   {}\n",
                        style.paint(BOLD, &format!("step {} `{}`", step.index, step.step)),
                        self.location(step),
                        style.paint(GREEN, &indent(expected)),
                        style.paint(RED, &indent(actual)),
                    ));
                }
                StepStatus::Skipped { reason } => {
                    out.push_str(&format!(
                        "    step {} `{}` at {} {}: {reason}\n",
                        step.index,
                        step.step,
                        self.location(step),
                        style.paint(YELLOW, "skipped"),
                    ));
                }
                StepStatus::Passed { .. } | StepStatus::NotRun => {}
            }
        }
        if self.outcome == Outcome::Failed {
            out.push_str(&format!("    re-run:     {}\n", self.rerun_command()));
        }
        if let Some(dir) = &self.repro {
            out.push_str(&format!("    reproducer: {}\n", style.paint(BOLD, &dir.display().to_string())));
        }
        out
    }

    /// The command that runs this scenario again with the same seed.
    pub fn rerun_command(&self) -> String {
        format!("brownout run {} --seed {}", shell_word(&self.file.display().to_string()), self.seed)
    }

    /// The first failed step, if any.
    pub fn first_failure(&self) -> Option<&StepReport> {
        self.steps.iter().find(|s| matches!(s.status, StepStatus::Failed { .. }))
    }
}

/// How terminal text is written: with ANSI colour or without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Style {
    /// Write ANSI colour codes.
    pub colour: bool,
}

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const BOLD: &str = "1";
const DIM: &str = "2";

impl Style {
    /// No colour (files, pipes, CI logs).
    pub fn plain() -> Style {
        Style { colour: false }
    }

    /// Colour when standard output is a terminal and `NO_COLOR` is not set (the same test
    /// `main.rs` makes for its log on standard error).
    pub fn for_stdout() -> Style {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
        Style { colour: terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    /// `text` in the SGR style `code` (each line on its own, so continuation lines keep it).
    fn paint(self, code: &str, text: &str) -> String {
        if !self.colour || text.is_empty() {
            return text.to_string();
        }
        text.split('\n').map(|l| format!("\x1b[{code}m{l}\x1b[0m")).collect::<Vec<_>>().join("\n")
    }
}

/// A path as one shell word (quoted when it needs to be).
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
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

/// What comes after every scenario's line: when more than one scenario ran and some did not
/// pass, a recap of them (first failed step, reproducer); then one line of counts — scenarios
/// by outcome, steps by status — and the wall time (and, when scenarios ran side by side, the
/// time spent in scenarios).
pub fn summary(reports: &[ScenarioReport], wall: Duration) -> String {
    summary_styled(reports, wall, Style::plain())
}

/// [`summary`], coloured when `style` says so.
pub fn summary_styled(reports: &[ScenarioReport], wall: Duration, style: Style) -> String {
    let mut out = String::new();
    let bad: Vec<&ScenarioReport> = reports.iter().filter(|r| r.outcome != Outcome::Passed).collect();
    if reports.len() > 1 && !bad.is_empty() {
        out.push_str(&format!("{} of {} did not pass:\n", bad.len(), reports.len()));
        for r in &bad {
            let (mark, colour) = if r.outcome == Outcome::Skipped { ("~", YELLOW) } else { ("✗", RED) };
            let what = match (r.first_failure(), &r.error) {
                (Some(step), _) => format!("step {} `{}` at {}", step.index, step.step, r.location(step)),
                (None, Some(e)) => e.lines().next().unwrap_or_default().to_string(),
                (None, None) => "steps skipped".into(),
            };
            out.push_str(&format!("  {} {} — {what}", style.paint(colour, mark), r.file.display()));
            if let Some(dir) = &r.repro {
                out.push_str(&format!(" (reproducer: {})", dir.display()));
            }
            out.push('\n');
        }
    }
    let count = |o: Outcome| reports.iter().filter(|r| r.outcome == o).count();
    let mut steps = (0, 0, 0, 0);
    for r in reports {
        let c = r.counts();
        steps = (steps.0 + c.0, steps.1 + c.1, steps.2 + c.2, steps.3 + c.3);
    }
    let all_steps = steps.0 + steps.1 + steps.2 + steps.3;
    let mut step_text =
        format!("{all_steps} step{}: {} passed", if all_steps == 1 { "" } else { "s" }, steps.0);
    for (n, what) in [(steps.1, "failed"), (steps.2, "skipped"), (steps.3, "not run")] {
        if n > 0 {
            step_text.push_str(&format!(", {n} {what}"));
        }
    }
    let busy: Duration = reports.iter().map(|r| r.duration).sum();
    let time = if reports.len() > 1 {
        format!("in {} ({} in scenarios)", human(wall), human(busy))
    } else {
        format!("in {}", human(wall))
    };
    let all_passed = bad.is_empty() && !reports.is_empty();
    let line = format!(
        "{} scenario{}: {} passed, {} failed, {} skipped, {} errors; {step_text}; {time}",
        reports.len(),
        if reports.len() == 1 { "" } else { "s" },
        count(Outcome::Passed),
        count(Outcome::Failed),
        count(Outcome::Skipped),
        count(Outcome::Error),
    );
    out.push_str(&style.paint(if all_passed { GREEN } else { RED }, &line));
    out
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
                let mut message = match first {
                    Some(step) => {
                        format!("step {} `{}` at {} failed", step.index, step.step, r.location(step))
                    }
                    None => r.error.clone().unwrap_or_else(|| "failed".into()),
                };
                if let Some(dir) = &r.repro {
                    message.push_str(&format!(" (reproducer: {})", dir.display()));
                }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn step(index: usize, status: StepStatus) -> StepReport {
        StepReport { index, step: "expect".into(), line: 10 + index as u64, status, duration: Duration::ZERO }
    }

    fn failed(repro: Option<&str>) -> ScenarioReport {
        let steps = vec![
            step(1, StepStatus::Passed { note: None }),
            step(
                2,
                StepStatus::Failed {
                    expected: "running version 3.0.0\nand more".into(),
                    actual: "2.0.0 is running".into(),
                },
            ),
            step(3, StepStatus::NotRun),
        ];
        ScenarioReport {
            file: PathBuf::from("dir/broken scenario.yaml"),
            name: "broken".into(),
            outcome: ScenarioReport::outcome_of(&steps),
            seed: 9,
            error: None,
            steps,
            duration: Duration::from_millis(12),
            repro: repro.map(PathBuf::from),
        }
    }

    fn passed(file: &str) -> ScenarioReport {
        let steps = vec![step(1, StepStatus::Passed { note: None })];
        ScenarioReport {
            file: PathBuf::from(file),
            name: file.into(),
            outcome: Outcome::Passed,
            seed: 1,
            error: None,
            steps,
            duration: Duration::from_millis(30),
            repro: None,
        }
    }

    #[test]
    fn a_failure_names_the_step_aligns_expected_and_actual_and_says_how_to_rerun() {
        let text = failed(Some("target/brownout-repro/broken scenario")).to_text();
        assert_eq!(
            text,
            "✗ FAILED  dir/broken scenario.yaml — broken (1 ✓, 1 ✗, 1 not run; seed 9) in 12ms\n\
             \x20   step 2 `expect` at dir/broken scenario.yaml:12 failed\n\
             \x20     expected: running version 3.0.0\n\
             \x20               and more\n\
             \x20     actual:   2.0.0 is running\n\
             \x20   re-run:     brownout run 'dir/broken scenario.yaml' --seed 9\n\
             \x20   reproducer: target/brownout-repro/broken scenario\n"
        );
    }

    #[test]
    fn colour_only_when_asked_and_the_same_text_without_it() {
        let r = failed(None);
        let plain = r.render(Style::plain());
        let coloured = r.render(Style { colour: true });
        assert!(!plain.contains('\u{1b}'));
        assert!(coloured.contains("\u{1b}[31m✗ FAILED \u{1b}[0m"), "{coloured:?}");
        let stripped = regex::Regex::new("\u{1b}\\[[0-9;]*m").unwrap().replace_all(&coloured, "");
        assert_eq!(stripped, plain);
    }

    #[test]
    fn the_summary_counts_scenarios_and_steps_and_recaps_failures() {
        let reports = [passed("a.yaml"), failed(Some("out/broken")), passed("c.yaml")];
        let s = summary(&reports, Duration::from_millis(40));
        assert_eq!(
            s,
            "1 of 3 did not pass:\n\
             \x20 ✗ dir/broken scenario.yaml — step 2 `expect` at dir/broken scenario.yaml:12 (reproducer: out/broken)\n\
             3 scenarios: 2 passed, 1 failed, 0 skipped, 0 errors; 5 steps: 3 passed, 1 failed, 1 not run; in 40ms (72ms in scenarios)"
        );
        assert_eq!(
            summary(&reports[..1], Duration::from_millis(31)),
            "1 scenario: 1 passed, 0 failed, 0 skipped, 0 errors; 1 step: 1 passed; in 31ms"
        );
    }

    #[test]
    fn json_and_junit_carry_the_reproducer() {
        let reports = [passed("a.yaml"), failed(Some("out/broken"))];
        let json = to_json(&reports);
        assert_eq!(json["passed"], false);
        assert_eq!(json["scenarios"][0]["repro"], serde_json::Value::Null);
        assert_eq!(json["scenarios"][1]["repro"], "out/broken");

        let xml = to_junit(&reports).unwrap();
        let doc = roxmltree::Document::parse(&xml).expect("JUnit XML parses");
        assert_eq!(doc.root_element().attribute("tests"), Some("2"));
        assert_eq!(doc.root_element().attribute("failures"), Some("1"));
        let failure = doc.descendants().find(|n| n.has_tag_name("failure")).unwrap();
        assert_eq!(
            failure.attribute("message"),
            Some("step 2 `expect` at dir/broken scenario.yaml:12 failed (reproducer: out/broken)")
        );
        assert!(failure.text().unwrap_or_default().contains("reproducer: out/broken"));
    }
}
