//! mcumgr-client-wrapper 0.3.0 (Python bindings of vouch-opensource's mcumgr-client, the only
//! CI-installable client that speaks SMP v1 over serial) lists the images of `brownout sim`
//! over the PTY.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

#[path = "sim_support.rs"]
mod support;

use std::time::Duration;

use support::{Sim, fixture, run_tool};

const SCRIPT: &str = r#"
import sys, mcumgr_client
s = mcumgr_client.SerialSession(device=sys.argv[1], initial_timeout_s=3, subsequent_timeout_ms=500, nb_retry=1)
for img in s.list():
    print("IMAGE slot=%d version=%s active=%s confirmed=%s hash=%s" % (
        img["slot"], img["version"], img["active"], img["confirmed"], bytes(img["hash"]).hex()))
"#;

#[test]
fn mcumgr_client_wrapper_lists_images_over_the_pty_with_smp_v1() {
    let Some(python) = testkit::python_with("mcumgr_client", "pip install mcumgr-client-wrapper==0.3.0")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = fixture("keys/ed25519.pub.pem");
    let primary = fixture("images/app-1.0.0.bin");
    let secondary = fixture("images/app-2.0.0.bin");
    let sim = Sim::start(
        dir.path(),
        &["-vv"],
        &[
            "--key",
            key.to_str().unwrap(),
            "--primary",
            primary.to_str().unwrap(),
            "--secondary",
            secondary.to_str().unwrap(),
            "--pty",
        ],
    );
    let script = dir.path().join("list.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let r = run_tool(dir.path(), &python, &[script.to_str().unwrap(), sim.pty()], Duration::from_secs(30));
    assert!(r.ok(), "{}\nsim log:\n{}", r.output, sim.log_text());
    let images: Vec<&str> = r.output.lines().filter(|l| l.starts_with("IMAGE ")).collect();
    assert_eq!(images.len(), 2, "{}", r.output);
    assert!(
        images[0].starts_with("IMAGE slot=0 version=1.0.0 active=True confirmed=True hash=ceb52d89"),
        "{}",
        r.output
    );
    assert!(images[1].starts_with("IMAGE slot=1 version=2.0.0 active=False confirmed=False"), "{}", r.output);
    // It spoke SMP v1 (header version 0), and got v1 replies.
    let log = sim.log_text();
    assert!(log.contains("<- v1 read group=1 (image) id=0"), "{log}");
    assert!(log.contains("-> v1 read-rsp group=1 (image) id=0"), "{log}");
    assert!(sim.terminate().success());
}

const UPGRADE: &str = r#"
import sys, time, mcumgr_client
s = mcumgr_client.SerialSession(device=sys.argv[1], initial_timeout_s=3, subsequent_timeout_ms=500, nb_retry=1)
s.upload(sys.argv[2])
h = next(bytes(i["hash"]) for i in s.list() if i["slot"] == 1)
s.test(h)
print("PENDING", [i["pending"] for i in s.list() if i["slot"] == 1][0])
s.reset()
for _ in range(40):
    time.sleep(0.25)
    try:
        imgs = s.list()
    except Exception:
        continue
    run = [i for i in imgs if i["slot"] == 0 and i["active"]]
    if run and run[0]["version"] == "2.0.0":
        print("RUNNING 2.0.0 confirmed=%s" % run[0]["confirmed"])
        break
"#;

/// The same client carries a whole SMP v1 test upgrade: upload a 72 KiB image, mark it for
/// test, reset; the simulated MCUboot swaps and 2.0.0 runs, unconfirmed.
#[test]
fn mcumgr_client_wrapper_upgrades_over_the_pty_with_smp_v1() {
    let Some(python) = testkit::python_with("mcumgr_client", "pip install mcumgr-client-wrapper==0.3.0")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = fixture("keys/ed25519.pub.pem");
    let primary = fixture("images/app-1.0.0.bin");
    let sim = Sim::start(
        dir.path(),
        &["-v"],
        &["--key", key.to_str().unwrap(), "--primary", primary.to_str().unwrap(), "--pty"],
    );
    let (image, _) = support::signed_image(dir.path(), "app-2.0.0-big.bin", "2.0.0", 72 * 1024);
    let script = dir.path().join("upgrade.py");
    std::fs::write(&script, UPGRADE).unwrap();
    let r = run_tool(
        dir.path(),
        &python,
        &[script.to_str().unwrap(), sim.pty(), image.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert!(r.ok(), "{}\nsim log:\n{}", r.output, sim.log_text());
    assert!(r.output.contains("PENDING True"), "{}", r.output);
    assert!(r.output.contains("RUNNING 2.0.0 confirmed=False"), "{}\nsim log:\n{}", r.output, sim.log_text());
    assert!(sim.log_text().contains("boot 2: running 2.0.0"));
    assert!(sim.terminate().success());
}
