//! What a user sees when a scenario is wrong: one snapshot per kind of mistake. Each message
//! must name the file, line and column, say what was found and what was expected, and show the
//! line with a caret.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::Path;

use harness::scenario::{Scenario, ScenarioError};

/// Parse `yaml` with `fixtures/` as the scenario's directory (so file checks run), and return
/// the error message.
fn error_of(yaml: &str) -> String {
    let base = testkit::workspace_root().join("fixtures");
    match Scenario::parse(yaml, "broken.yaml", Some(&base)) {
        Ok(s) => panic!("accepted a broken scenario: {s:#?}"),
        // The absolute path differs between machines.
        Err(e) => e.to_string().replace(&testkit::workspace_root().display().to_string(), "<workspace>"),
    }
}

fn position_of(yaml: &str) -> (u64, u64) {
    let base = testkit::workspace_root().join("fixtures");
    let err = Scenario::parse(yaml, "broken.yaml", Some(&base)).unwrap_err();
    let d = err.diagnostics()[0].clone();
    (d.line, d.column)
}

const HEAD: &str = "name: broken\ndevice:\n  layout: k64f\n  primary: images/app-1.0.0.bin\nsteps:\n";

#[test]
fn typo_in_step_name_lists_the_steps() {
    let yaml = format!("{HEAD}  - echo: {{text: hi}}\n  - uplod: {{image: images/app-2.0.0.bin}}\n");
    insta::assert_snapshot!(error_of(&yaml));
    assert_eq!(position_of(&yaml).0, 7);
}

#[test]
fn wrong_type() {
    let yaml = format!("{HEAD}  - upload: {{image: images/app-2.0.0.bin, window: lots}}\n");
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn unknown_field() {
    let yaml = format!("{HEAD}  - upload:\n      image: images/app-2.0.0.bin\n      chunk: 512\n");
    insta::assert_snapshot!(error_of(&yaml));
    assert_eq!(position_of(&yaml).0, 8);
}

#[test]
fn missing_required_field() {
    let yaml = format!("{HEAD}  - upload: {{chunk_size: 512}}\n");
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn bad_unit() {
    let yaml = format!("{HEAD}  - wait_boot: {{timeout: 5 secs}}\n");
    insta::assert_snapshot!(error_of(&yaml));
    assert_eq!(position_of(&yaml), (6, 26));
}

#[test]
fn bare_number_is_not_a_duration() {
    let yaml = format!("timeout: 5\n{HEAD}  - reset\n");
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn bad_size() {
    let yaml = format!("{HEAD}  - upload: {{image: images/app-2.0.0.bin, chunk_size: 64KB}}\n");
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn bad_version() {
    let yaml = format!("{HEAD}  - expect: {{running_version: [1.0.0, 2.0.0.1]}}\n");
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn bad_hex() {
    let yaml = format!("{HEAD}  - image_confirm: {{hash: 12ab3}}\n");
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn unknown_error_code_name() {
    let yaml = format!(
        "{HEAD}  - upload: {{image: images/app-2.0.0.bin, expect_error: IMG_MGMT_ERR_NO_FREE_SLOTS}}\n"
    );
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn missing_image_file() {
    let yaml = format!("{HEAD}  - reset\n  - upload: {{image: images/app-3.0.0.bin}}\n");
    insta::assert_snapshot!(error_of(&yaml));
    assert_eq!(position_of(&yaml), (7, 21));
}

#[test]
fn missing_files_in_the_device_section() {
    let yaml = "name: x\ndevice:\n  layout: k64f\n  key: keys/nope.pem\n  primary: images/app-0.bin\nsteps: [reset]\n";
    insta::assert_snapshot!(error_of(yaml));
    assert_eq!(position_of(yaml), (4, 8));
}

#[test]
fn group_with_unknown_member() {
    let yaml = "name: broken group\n\
                devices:\n  - {name: left, layout: k64f}\n  - {name: right, layout: k64f}\n\
                steps:\n  - group:\n      members: [left, rihgt]\n      image: images/app-2.0.0.bin\n      expect: committed\n";
    insta::assert_snapshot!(error_of(yaml));
    assert_eq!(position_of(yaml), (7, 23));
}

#[test]
fn two_image_step_on_a_one_image_layout() {
    let yaml = format!(
        "{HEAD}  - upload: {{image: images/app-2.0.0.bin, image_number: 1}}\n  - image_test: {{image: 1}}\n"
    );
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn step_invalid_for_the_mode() {
    let yaml = "name: no revert\ndevice: {layout: k64f, mode: overwrite-only}\nsteps:\n  - power_loss_sweep: {during: revert}\n";
    insta::assert_snapshot!(error_of(yaml));
}

#[test]
fn unknown_layout_lists_the_layouts() {
    let yaml = "name: x\ndevice: {layout: nrf5340}\nsteps: [reset]\n";
    insta::assert_snapshot!(error_of(yaml));
}

#[test]
fn misindented_step_fields() {
    let yaml = format!("{HEAD}  - upload:\n    image: images/app-2.0.0.bin\n");
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn step_that_needs_fields_written_bare() {
    let yaml = format!("{HEAD}  - upload\n");
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn unknown_exec_placeholder_and_bad_regex() {
    let yaml = format!(
        "{HEAD}  - exec: {{command: 'smpmgr --port {{tty}} image state-read', stdout: {{regex: 'v(2'}}}}\n"
    );
    insta::assert_snapshot!(error_of(&yaml));
}

#[test]
fn several_problems_are_all_reported() {
    let yaml = format!(
        "{HEAD}  - power_loss: {{during: swap}}\n  - transport_fault: {{kind: delay, nth: 2}}\n  - on: {{device: other, steps: [reset]}}\n"
    );
    let err = Scenario::parse(&yaml, "broken.yaml", None).unwrap_err();
    assert!(matches!(err, ScenarioError::Invalid(ref all) if all.len() == 3), "{err}");
    insta::assert_snapshot!(err.to_string());
}

#[test]
fn not_yaml_at_all() {
    insta::assert_snapshot!(error_of("name: [unclosed\nsteps: {\n"));
}

#[test]
fn unreadable_file_names_the_path() {
    let err = Scenario::from_path(Path::new("/nonexistent/brownout/scenario.yaml")).unwrap_err();
    assert!(matches!(err, ScenarioError::Read { .. }));
    assert!(
        err.to_string().starts_with("/nonexistent/brownout/scenario.yaml: cannot read the scenario"),
        "{err}"
    );
}

#[test]
fn oversized_input_is_refused_before_parsing() {
    let yaml = format!("name: big\ndescription: '{}'\ndevice: {{}}\nsteps: [reset]\n", "x".repeat(2 << 20));
    assert!(matches!(Scenario::from_str(&yaml, "big.yaml"), Err(ScenarioError::TooLarge { .. })));
}

#[test]
fn alias_bombs_are_refused_not_expanded() {
    // 100 KiB of text, referenced 5000 times: 500 MB if every alias were copied out.
    let big = "x".repeat(100 << 10);
    let refs = vec!["*big"; 5000].join(", ");
    let yaml = format!("name: &big {big}\ndevice: {{}}\nsteps: [reset]\ntags: [{refs}]\n");
    let err = Scenario::from_str(&yaml, "bomb.yaml").unwrap_err();
    assert!(matches!(err, ScenarioError::Syntax(_)), "{err}");
    assert!(err.to_string().contains("budget"), "{err}");
}
