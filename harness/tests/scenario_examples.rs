//! Every scenario in `scenarios/examples/` parses, validates, survives a write/read round trip
//! and validates against the committed JSON Schema; the committed schema is the generated one.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::PathBuf;

use harness::scenario::{Scenario, json_schema};

fn examples() -> Vec<PathBuf> {
    let dir = testkit::workspace_root().join("scenarios/examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "expected a handful of examples in {}", dir.display());
    files
}

#[test]
fn every_example_parses_and_validates() {
    for path in examples() {
        let scenario = Scenario::from_path(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!scenario.steps.is_empty(), "{}", path.display());
        assert!(scenario.steps.iter().all(|s| s.line > 0), "{}: steps carry their lines", path.display());
    }
}

#[test]
fn every_example_round_trips() {
    for path in examples() {
        let first = Scenario::from_path(&path).unwrap();
        let yaml = first.to_yaml().unwrap();
        let second = Scenario::from_str(&yaml, "round trip")
            .unwrap_or_else(|e| panic!("{}:\n{yaml}\n{e}", path.display()));
        assert_eq!(first.steps, second.steps, "{}", path.display());
        let mut second = second;
        second.base_dir = first.base_dir.clone();
        assert_eq!(first, second, "{}", path.display());
        // Writing again gives the same text: the output is canonical.
        assert_eq!(yaml, second.to_yaml().unwrap());
    }
}

#[test]
fn committed_schema_is_the_generated_one() {
    let path = testkit::workspace_root().join("scenarios/schema.json");
    let generated = json_schema();
    if std::env::var_os("BROWNOUT_WRITE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "scenarios/schema.json is stale; regenerate it with \
         `BROWNOUT_WRITE_SCHEMA=1 cargo test -p harness --test scenario_examples` (or `brownout schema > scenarios/schema.json`)"
    );
}

fn schema_validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    jsonschema::validator_for(&schema).unwrap()
}

fn schema_errors(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let instance: serde_json::Value = serde_saphyr::from_str(yaml).unwrap();
    validator.iter_errors(&instance).map(|e| format!("{} at {}", e, e.instance_path)).collect()
}

#[test]
fn every_example_validates_against_the_json_schema() {
    let validator = schema_validator();
    for path in examples() {
        let yaml = std::fs::read_to_string(&path).unwrap();
        let errors = schema_errors(&validator, &yaml);
        assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    }
}

#[test]
fn the_json_schema_rejects_what_the_parser_rejects() {
    let validator = schema_validator();
    let good = "name: x\ndevice: {}\nsteps:\n  - reset\n  - power_off:\n  - upload: {image: a.bin, chunk_size: 1KiB}\n";
    assert!(schema_errors(&validator, good).is_empty(), "{:?}", schema_errors(&validator, good));
    assert!(Scenario::from_str(good, "good").is_ok());
    for bad in [
        "name: x\ndevice: {}\nsteps:\n  - uplod: {image: a.bin}\n",
        "name: x\ndevice: {}\nsteps:\n  - upload\n",
        "name: x\ndevice: {}\nsteps:\n  - upload:\n",
        "name: x\ndevice: {}\nsteps:\n  - upload: {image: a.bin, chunk: 1}\n",
        "name: x\ndevice: {}\nsteps:\n  - wait_boot: {timeout: 5}\n",
        "name: x\ndevice: {}\nsteps:\n  - reset: {}\n    power_off: {}\n",
        "name: x\ndevice: {mode: swap-sideways}\nsteps: [reset]\n",
        "name: x\ndevice: {}\nsteps:\n  - echo: {text: hi, expect_error: MGMT_ERR_NOPE}\n",
    ] {
        assert!(!schema_errors(&validator, bad).is_empty(), "schema accepted:\n{bad}");
        assert!(Scenario::from_str(bad, "bad").is_err(), "parser accepted:\n{bad}");
    }
}

/// The YAML blocks of `scenarios/README.md` parse and validate (also against the schema): whole scenarios as they are,
/// step snippets (blocks starting with `- `) inside a minimal scenario. Files are not checked
/// (the README's paths are illustrations).
#[test]
fn readme_yaml_blocks_are_valid() {
    let readme = std::fs::read_to_string(testkit::workspace_root().join("scenarios/README.md")).unwrap();
    let validator = schema_validator();
    let mut blocks = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```yaml\n") {
        let body = &rest[start + 8..];
        let end = body.find("```").unwrap();
        let block = &body[..end];
        rest = &body[end + 3..];
        blocks += 1;
        if block.starts_with("targets:\n") {
            // A targets file (the Targets section), not a scenario.
            let parsed =
                harness::runner::targets::TargetsFile::parse(block, std::path::Path::new("README.md"));
            assert!(
                parsed.is_ok(),
                "README block {blocks} is not a valid targets file:\n{block}\n{parsed:?}"
            );
            continue;
        }
        let source = if block.trim_start().starts_with("- ") {
            let devices = "devices:\n  - {name: a, layout: k64f-multi}\n  - {name: b}\n  - {name: c}\n";
            let indented: String = block.lines().map(|l| format!("  {l}\n")).collect();
            format!("name: snippet\n{devices}steps:\n{indented}")
        } else {
            block.to_string()
        };
        if let Err(e) = Scenario::from_str(&source, "README.md block") {
            panic!("README block {blocks} does not validate:\n{source}\n{e}");
        }
        let errors = schema_errors(&validator, &source);
        assert!(errors.is_empty(), "README block {blocks} fails the JSON Schema:\n{source}\n{errors:#?}");
    }
    assert!(blocks >= 25, "found only {blocks} yaml blocks");
}

/// Every step has a section in the README.
#[test]
fn readme_documents_every_step() {
    let readme = std::fs::read_to_string(testkit::workspace_root().join("scenarios/README.md")).unwrap();
    for name in harness::scenario::Step::NAMES {
        assert!(
            readme.lines().any(|l| l.starts_with("### ") && l.split([' ', ',']).any(|w| w == *name)),
            "scenarios/README.md has no `### {name}` section"
        );
    }
}
