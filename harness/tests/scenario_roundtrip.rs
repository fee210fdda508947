//! Writing a scenario out and reading it back gives the same scenario, for random values of
//! every scalar kind (durations, sizes, percentages, versions, hex, error names, free text with
//! YAML's special characters) in a mix of steps.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::PathBuf;

use harness::scenario::*;
use mcuboot::image::ImageVersion;
use proptest::prelude::*;

fn version() -> impl Strategy<Value = Version> {
    (any::<u8>(), any::<u8>(), any::<u16>(), prop_oneof![Just(0u32), any::<u32>()]).prop_map(
        |(major, minor, revision, build_num)| Version(ImageVersion { major, minor, revision, build_num }),
    )
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![0u64..100_000, (0u64..1000).prop_map(|s| s * 1000), any::<u32>().prop_map(u64::from)]
        .prop_map(Duration::from_ms)
}

fn size() -> impl Strategy<Value = Size> {
    prop_oneof![0u64..5000, (1u64..4096).prop_map(|k| k * 1024), any::<u64>()].prop_map(Size::new)
}

fn percent() -> impl Strategy<Value = Percent> {
    prop_oneof![(0u32..=100).prop_map(f64::from), 0.0f64..=100.0].prop_map(|p| Percent::new(p).unwrap())
}

fn hex() -> impl Strategy<Value = Hex> {
    proptest::collection::vec(any::<u8>(), 4..48).prop_map(Hex)
}

fn error_name() -> impl Strategy<Value = SmpErrorName> {
    let all = SmpErrorName::all();
    (0..all.len()).prop_map(move |i| all[i].clone())
}

/// Text a user might write, YAML's troublesome characters included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,12}",
        "[-:#{}\\[\\],&*!|>'\"%@` a-z0-9]{0,16}",
        Just("yes".to_string()),
        Just("null".to_string()),
        Just("1.0".to_string()),
        Just("0x10".to_string()),
        Just(" leading space".to_string()),
        Just("two\nlines\n".to_string()),
        "\\PC{0,8}",
    ]
}

fn phase() -> impl Strategy<Value = Phase> {
    prop_oneof![
        Just(Phase::Upload),
        Just(Phase::TrailerWrite),
        Just(Phase::Swap),
        Just(Phase::Revert),
        Just(Phase::Erase),
        Just(Phase::Boot)
    ]
}

fn cut() -> impl Strategy<Value = CutKind> {
    prop_oneof![
        Just(CutKind::Before),
        Just(CutKind::After),
        Just(CutKind::Torn),
        Just(CutKind::InterruptedErase)
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (text(), proptest::option::of(error_name()))
            .prop_map(|(text, expect_error)| Step::Echo(EchoStep { text, expect_error })),
        (
            proptest::option::of(size()),
            proptest::option::of(1u32..8),
            any::<bool>(),
            any::<bool>(),
            proptest::option::of(duration()),
            proptest::option::of(percent())
        )
            .prop_map(|(chunk_size, window, upgrade, resume, timeout, disconnect_at)| Step::Upload(
                UploadStep {
                    image: PathBuf::from("images/app-2.0.0.bin"),
                    image_number: None,
                    chunk_size,
                    window,
                    upgrade,
                    resume,
                    disconnect_at,
                    then: Some(AfterUpload::Test),
                    timeout,
                    expect_error: None,
                }
            )),
        (percent(), cut()).prop_map(|(at, kind)| Step::PowerLoss(PowerLossStep {
            during: Phase::Upload,
            at: Some(at),
            offset: None,
            op: None,
            kind,
            tear: None,
        })),
        (phase(), 1u64..1000, cut()).prop_map(|(during, op, kind)| Step::PowerLoss(PowerLossStep {
            during,
            at: None,
            offset: None,
            op: Some(op),
            kind,
            tear: None,
        })),
        (phase(), proptest::collection::vec(cut(), 1..4)).prop_map(|(during, cuts)| Step::PowerLossSweep(
            PowerLossSweepStep { during, cuts, every: None, max_cuts: Some(100) }
        )),
        (proptest::collection::vec(version(), 1..4), any::<bool>(), hex()).prop_map(
            |(versions, boots, hash)| {
                Step::Expect(Box::new(ExpectStep {
                    boots: Some(boots),
                    running_version: Some(Versions(versions)),
                    images: vec![ImageRow { slot: 0, hash: Some(hash), ..ImageRow::default() }],
                    ..ExpectStep::default()
                }))
            }
        ),
        (percent(), any::<u64>()).prop_map(|(p, seed)| Step::TransportFault(TransportFaultStep {
            kind: TransportFaultKind::Duplicate,
            delay: None,
            probability: Some(p),
            nth: None,
            every: None,
            seed: Some(seed),
        })),
        (text(), text()).prop_map(|(name, value)| Step::SettingsWrite(SettingsWriteStep {
            name,
            value: SettingValue::Text(value),
            save: true,
            expect_error: None,
        })),
        duration().prop_map(|duration| Step::Sleep(SleepStep { duration })),
        Just(Step::Reset(ResetStep::default())),
        Just(Step::PowerCycle(Empty {})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn scenarios_round_trip(
        name in text().prop_filter("a name", |n| !n.trim().is_empty()),
        seed in proptest::option::of(any::<u64>()),
        timeout in proptest::option::of(duration().prop_filter("non-zero", |d| d.ms > 0)),
        steps in proptest::collection::vec(step(), 1..8),
    ) {
        // At most one sweep is valid per scenario.
        let mut seen_sweep = false;
        let steps: Vec<Located<Step>> = steps
            .into_iter()
            .filter(|s| !matches!(s, Step::PowerLossSweep(_)) || !std::mem::replace(&mut seen_sweep, true))
            .map(Located::new)
            .collect();
        let scenario = Scenario {
            name,
            description: None,
            tags: vec!["a".into()],
            seed,
            timeout,
            device: Some(DeviceSpec { mode: Mode::SwapMove, ..DeviceSpec::default() }),
            devices: Vec::new(),
            targets: Vec::new(),
            steps,
            base_dir: None,
        };
        let yaml = scenario.to_yaml().unwrap();
        let back = Scenario::from_str(&yaml, "round trip");
        prop_assert!(back.is_ok(), "{yaml}\n{}", back.unwrap_err());
        prop_assert_eq!(&back.unwrap(), &scenario, "{}", yaml);
    }

    #[test]
    fn scalar_texts_round_trip(v in version(), d in duration(), s in size(), p in percent(), h in hex()) {
        prop_assert_eq!(v.to_string().parse::<Version>().unwrap(), v);
        prop_assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        prop_assert_eq!(s.to_string().parse::<Size>().unwrap(), s);
        prop_assert_eq!(p.to_string().parse::<Percent>().unwrap(), p);
        prop_assert_eq!(h.to_string().parse::<Hex>().unwrap(), h);
    }

    /// Whatever the text, parsing returns a value or an error; it never panics.
    #[test]
    fn arbitrary_text_never_panics(source in "\\PC{0,200}") {
        let _ = Scenario::from_str(&source, "fuzz.yaml");
    }
}

#[test]
fn running_version_accepts_one_or_many() {
    let one =
        Scenario::from_str("name: x\ndevice: {}\nsteps:\n  - expect: {running_version: 1.2.3+4}\n", "x")
            .unwrap();
    let many =
        Scenario::from_str("name: x\ndevice: {}\nsteps:\n  - expect: {running_version: [1.2.3+4]}\n", "x")
            .unwrap();
    assert_eq!(one, many);
    let Step::Expect(e) = &one.steps[0].value else { panic!() };
    assert!(e.running_version.as_ref().unwrap().allows(&"1.2.3+4".parse::<Version>().unwrap().0));
}
