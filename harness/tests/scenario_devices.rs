//! The `device:` sections of the example scenarios become real simulated devices that boot:
//! the schema's device fields map onto what the simulator can do.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use harness::scenario::{BuildError, Scenario};

/// The scenarios of `examples/` and `library/`.
fn examples() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in ["scenarios/examples", "scenarios/library"] {
        let dir = testkit::workspace_root().join(dir);
        files.extend(std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()));
    }
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    files
}

#[test]
fn every_example_and_library_device_builds_and_boots_its_primary_image() {
    let mut devices = 0;
    for path in examples() {
        let scenario = Scenario::from_path(&path).unwrap();
        for spec in scenario.all_devices() {
            let config = scenario.device_config(spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(config.map.name, spec.layout);
            assert_eq!(config.boot.algorithm, spec.mode.algorithm());
            let device = config.build().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let running =
                device.running().unwrap_or_else(|| panic!("{}: {}", path.display(), device.state_name()));
            // It runs the image its `primary:` names (images: entries aside).
            if let Some(primary) = &spec.primary {
                let bytes = std::fs::read(scenario.resolve(primary)).unwrap();
                let header = mcuboot::image::ImageHeader::parse(&bytes).unwrap();
                assert_eq!(running.version, header.version, "{}", path.display());
            }
            devices += 1;
        }
    }
    assert!(devices >= 40, "{devices}");
}

#[test]
fn device_fields_reach_the_simulator() {
    let base = testkit::workspace_root().join("fixtures");
    let yaml = "name: fields\n\
                device:\n  layout: nrf52840\n  mode: swap-move\n  write_size: 4\n  erased_value: 0x00\n\
                \x20 key: keys/ed25519.pub.pem\n  primary: images/app-1.0.0.bin\n  behaviour: confirm\n\
                \x20 limits: {buf_size: 1KiB, buf_count: 3}\n  reset_delay: 10ms\n  watchdog: 1s\n  max_crash_boots: 3\n\
                steps: [reset]\n";
    let scenario = Scenario::parse(yaml, "fields.yaml", Some(&base)).unwrap();
    let spec = scenario.device.as_ref().unwrap();
    let config = scenario.device_config(spec).unwrap();
    assert_eq!((config.write_size, config.erased_value), (Some(4), Some(0)));
    assert_eq!(config.boot.keys.len(), 1);
    assert_eq!((config.server.limits.buf_size, config.server.limits.buf_count), (1024, 3));
    assert_eq!((config.reset_delay_ms, config.watchdog_ms, config.max_crash_boots), (10, 1000, 3));
    let device = config.build().unwrap();
    assert_eq!(device.map().devices[0].write_size, 4);
    assert_eq!(device.map().devices[0].erased_value, 0);
    assert!(device.running().is_some(), "{}", device.state_name());
}

#[test]
fn a_wrong_key_means_nothing_boots() {
    let base = testkit::workspace_root().join("fixtures");
    let yaml = "name: wrong key\ndevice:\n  key: keys/rsa-2048.pub.pem\n  primary: images/app-1.0.0.bin\nsteps: [reset]\n";
    let scenario = Scenario::parse(yaml, "k.yaml", Some(&base)).unwrap();
    let device = scenario.device_config(scenario.device.as_ref().unwrap()).unwrap().build().unwrap();
    assert!(device.running().is_none(), "booted an Ed25519 image with an RSA key: {}", device.state_name());
}

#[test]
fn a_file_that_is_not_a_key_is_a_typed_error() {
    let base = testkit::workspace_root().join("fixtures");
    let yaml = "name: not a key\ndevice:\n  key: images/app-1.0.0.bin\nsteps: [reset]\n";
    let scenario = Scenario::parse(yaml, "k.yaml", Some(&base)).unwrap();
    let err = scenario.device_config(scenario.device.as_ref().unwrap()).unwrap_err();
    assert!(matches!(err, BuildError::KeyNotText { .. } | BuildError::Key { .. }), "{err}");
    assert!(err.to_string().contains("app-1.0.0.bin"), "{err}");
}

#[test]
fn transport_fault_steps_become_sim_rules() {
    use harness::scenario::Step;
    use sim_device::transport::{FaultKind, Trigger};
    let path = testkit::workspace_root().join("scenarios/examples/transport-faults.yaml");
    let scenario = Scenario::from_path(path).unwrap();
    let rules: Vec<_> = scenario
        .steps
        .iter()
        .filter_map(|s| match &s.value {
            Step::TransportFault(t) => Some(t.rule().unwrap()),
            _ => None,
        })
        .collect();
    assert_eq!(rules.len(), 3);
    assert_eq!((rules[0].kind, rules[0].trigger), (FaultKind::Drop, Trigger::Nth(3)));
    assert_eq!((rules[1].kind, rules[1].trigger), (FaultKind::Duplicate, Trigger::Probability(0.05)));
    assert_eq!((rules[2].kind, rules[2].trigger), (FaultKind::Delay { ms: 1500 }, Trigger::EveryNth(7)));
}
