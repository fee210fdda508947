//! brownout's SMP client against the simulator in-process: a full DFU (upload, list, test,
//! reset, the device runs the new image, confirm), uploads that survive dropped, duplicated,
//! reordered and mis-numbered replies and a device that abandons the upload, a window of
//! chunks in flight, SMP v1, version fallback, and bounded failure against a silent device.
//!
//! Every test runs under an overall timeout; every client wait is bounded by its config.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::time::Duration;

use harness::client::{
    ClientConfig, ClientError, ClientTransport, InProcTransport, Progress, SmpClient, TransportError,
    UploadOptions,
};
use mcuboot::image::sign::{SignOptions, sign};
use sim_device::device::{Clock, DeviceConfig, upload_offset};
use sim_device::transport::{
    FaultKind, FaultPlan, FaultRule, InProcClient, InProcConfig, SharedDevice, Task,
};
use smp::cbor::MapStyle;
use smp::error::{ImageErr, MgmtErr};
use smp::groups::image::UploadRequest;
use smp::header::{Header, Version};
use smp::message::Request;

/// Bound on a whole test's async part.
const TEST_LIMIT: Duration = Duration::from_secs(120);

fn key_pem() -> String {
    std::fs::read_to_string(testkit::workspace_root().join("fixtures/keys/ed25519.pem")).unwrap()
}

/// A signed image of `payload_len` bytes as `version` for k64f's 128 KiB slots.
fn signed(version: &str, payload_len: usize, salt: u8) -> Vec<u8> {
    let key = mcuboot::image::SigningKey::from_pem(&key_pem()).unwrap();
    let payload: Vec<u8> =
        (0..payload_len).map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 ^ salt).collect();
    let opts = SignOptions {
        version: version.parse().unwrap(),
        header_size: 0x200,
        pad_header: true,
        slot_size: 0x20000,
        ..SignOptions::default()
    };
    sign(&payload, Some(&key), &opts).unwrap()
}

/// A k64f board running 1.0.0, trusting the Ed25519 test key, on the system clock, with its
/// timer driver (reboots after `os reset`).
fn board() -> (SharedDevice, Task) {
    let key = mcuboot::image::SigningKey::from_pem(&key_pem()).unwrap();
    let dev = DeviceConfig::preset("k64f")
        .unwrap()
        .keys(vec![key.public().clone()])
        .primary(signed("1.0.0", 8 * 1024, 0))
        .clock(Clock::system())
        .build()
        .unwrap();
    let shared = SharedDevice::new(dev);
    let timers = shared.spawn_timers();
    (shared, timers)
}

fn client(shared: &SharedDevice, faults: FaultPlan, config: ClientConfig) -> SmpClient<InProcTransport> {
    let inproc = InProcClient::connect(shared, InProcConfig { faults, ..InProcConfig::default() });
    SmpClient::new(InProcTransport::new(inproc), config)
}

/// The in-process device answers in microseconds, but a loaded CI machine may stall a
/// thread: timeouts generous enough that tests asserting "no retries" never see one.
fn quick() -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(2),
        first_chunk_timeout: Duration::from_secs(10),
        retries: 4,
        first_seq: Some(250),
        ..ClientConfig::default()
    }
}

/// Short timeouts for uploads through faults, where every dropped reply costs one timeout
/// (those tests only assert lower bounds on retries).
fn faulty() -> ClientConfig {
    ClientConfig { timeout: Duration::from_millis(400), ..quick() }
}

/// The bytes of the secondary slot where an upload lands, `len` of them.
fn uploaded(shared: &SharedDevice, len: usize) -> Vec<u8> {
    shared.with(|d| {
        let area = d.map().images[0].secondary;
        let at = upload_offset(d.map(), d.boot_config().algorithm, area) as usize;
        d.flash().area_contents(area).unwrap()[at..at + len].to_vec()
    })
}

async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, f).await.expect("test took too long")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_dfu_upload_list_test_reset_confirm() {
    bounded(async {
        let (shared, _timers) = board();
        let mut c = client(&shared, FaultPlan::none(), quick());
        assert_eq!(c.echo("hello").await.unwrap(), "hello");
        let image = signed("2.0.0", 72 * 1024, 7);
        assert!(image.len() >= 64 * 1024);
        let mut seen = Vec::new();
        let summary = c
            .image_upload(&image, &UploadOptions::default(), &mut |p: Progress| seen.push(p.offset))
            .await
            .unwrap();
        assert_eq!(summary.bytes, image.len() as u64);
        assert_eq!((summary.retries, summary.resyncs, summary.restarts), (0, 0, 0));
        assert_eq!(summary.chunks, (image.len() as u64).div_ceil(summary.chunk_size as u64));
        // Chunks fill the device's 384-byte buffer (v2 header + worst-case map).
        assert!(summary.chunk_size > 250 && summary.chunk_size < 384, "{}", summary.chunk_size);
        assert_eq!(seen.last(), Some(&(image.len() as u64)));
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(uploaded(&shared, image.len()), image);

        let state = c.image_state().await.unwrap();
        let slot1 = state.images.iter().find(|i| i.slot == 1).expect("slot 1 listed");
        assert_eq!(slot1.version, "2.0.0");
        assert!(!slot1.pending && !slot1.active);
        let hash = slot1.hash.clone().unwrap();

        let state = c.image_test(&hash).await.unwrap();
        assert!(state.images.iter().any(|i| i.slot == 1 && i.pending && !i.permanent));

        c.reset(false).await.unwrap();
        // The device reboots after its reset delay; MCUboot swaps; 2.0.0 runs unconfirmed.
        let mut running = None;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Ok(s) = c.image_state().await
                && let Some(i) = s.images.iter().find(|i| i.slot == 0 && i.active)
                && i.version == "2.0.0"
            {
                running = Some(i.clone());
                break;
            }
        }
        let running = running.expect("2.0.0 never ran");
        assert!(!running.confirmed);
        assert_eq!(running.hash.as_deref(), Some(&hash[..]));
        assert_eq!(shared.with(|d| d.running().map(|r| r.version.to_string())), Some("2.0.0".into()));

        let state = c.image_confirm(None).await.unwrap();
        assert!(state.images.iter().any(|i| i.slot == 0 && i.active && i.confirmed && i.version == "2.0.0"));
        // Every sequence number was answered in order: nothing stale.
        assert_eq!(c.stats().resends, 0);
    })
    .await;
}

/// Faults on the replies of an upload: each one forces a retry or a resync, and the slot still
/// ends up holding exactly the image.
async fn upload_with_faults(window: usize, faults: FaultPlan) -> (harness::client::UploadSummary, u64) {
    let (shared, _timers) = board();
    let config = if faults.rules.is_empty() { quick() } else { faulty() };
    let mut c = client(&shared, faults, config);
    let image = signed("2.0.0", 70 * 1024, 3);
    let options = UploadOptions { window, ..UploadOptions::default() };
    let summary = c.image_upload(&image, &options, &mut |_| {}).await.unwrap();
    assert_eq!(uploaded(&shared, image.len()), image, "slot contents after a window-{window} upload");
    let state = c.image_state().await.unwrap();
    assert!(state.images.iter().any(|i| i.slot == 1 && i.version == "2.0.0"));
    (summary, c.stats().discarded)
}

fn nasty_plan() -> FaultPlan {
    // Reply numbers count from the first reply (os params is 1, the first chunk 2).
    FaultPlan::none()
        .with(FaultRule::nth(FaultKind::Drop, 5))
        .with(FaultRule::nth(FaultKind::Duplicate, 9))
        .with(FaultRule::nth(FaultKind::WrongSeq, 14))
        .with(FaultRule::nth(FaultKind::Reorder, 20))
        .with(FaultRule::nth(FaultKind::Drop, 41))
        .with(FaultRule::nth(FaultKind::Delay { ms: 700 }, 60))
        .with(FaultRule::nth(FaultKind::Duplicate, 61))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_survives_dropped_duplicated_reordered_and_misnumbered_replies() {
    bounded(async {
        let (summary, discarded) = upload_with_faults(1, nasty_plan()).await;
        assert!(summary.retries >= 2, "{summary:?}");
        assert!(discarded >= 2, "stale and wrong-seq replies dropped: {discarded}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_of_four_gives_the_same_slot_with_and_without_faults() {
    bounded(async {
        let (clean, _) = upload_with_faults(4, FaultPlan::none()).await;
        assert_eq!((clean.retries, clean.resyncs, clean.restarts), (0, 0, 0), "{clean:?}");
        let (faulty, _) = upload_with_faults(4, nasty_plan()).await;
        assert!(faulty.retries + faulty.resyncs >= 1, "{faulty:?}");
        let seeded = FaultPlan { seed: 7, ..FaultPlan::none() }
            .with(FaultRule::probability(FaultKind::Drop, 0.05))
            .with(FaultRule::probability(FaultKind::Duplicate, 0.05))
            .with(FaultRule::probability(FaultKind::Reorder, 0.05));
        let (random, _) = upload_with_faults(3, seeded).await;
        assert!(random.chunks > clean.chunks, "{random:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_power_cut_mid_upload_restarts_from_the_first_chunk() {
    bounded(async {
        let (shared, _timers) = board();
        let mut c = client(&shared, FaultPlan::none(), quick());
        let image = signed("2.0.0", 66 * 1024, 9);
        let half = image.len() as u64 / 2;
        let mut cut = false;
        let dev = shared.clone();
        let summary = c
            .image_upload(&image, &UploadOptions::default(), &mut |p: Progress| {
                if !cut && p.offset >= half {
                    cut = true;
                    // The board loses power and boots again: the upload session is gone.
                    dev.with(|d| d.power_cycle());
                }
            })
            .await
            .unwrap();
        assert!(cut);
        assert_eq!(summary.restarts, 1, "{summary:?}");
        assert_eq!(uploaded(&shared, image.len()), image);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_resumes_an_interrupted_upload_of_the_same_image() {
    bounded(async {
        let (shared, _timers) = board();
        let image = signed("2.0.0", 64 * 1024, 5);
        // A first client sends the first chunk and a few more, then goes away.
        let mut first = client(&shared, FaultPlan::none(), quick());
        let sha = {
            use sha2::Digest as _;
            sha2::Sha256::digest(&image).to_vec()
        };
        let mut off = 0u64;
        for i in 0..10 {
            let end = (off + 200).min(image.len() as u64);
            let req = UploadRequest {
                len: (i == 0).then_some(image.len() as u64),
                sha: (i == 0).then(|| sha.clone()),
                off,
                data: image[off as usize..end as usize].to_vec(),
                ..UploadRequest::default()
            };
            let body = first.call(&Request::ImageUpload(req)).await.unwrap();
            let smp::message::ResponseBody::ImageUpload(r) = body else { panic!("{body:?}") };
            off = r.off;
        }
        assert_eq!(off, 2000);
        drop(first);
        let mut second = client(&shared, FaultPlan::none(), quick());
        let summary = second.image_upload(&image, &UploadOptions::default(), &mut |_| {}).await.unwrap();
        assert_eq!(summary.resumed_from, Some(2000), "{summary:?}");
        assert_eq!(uploaded(&shared, image.len()), image);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smp_v1_uploads_and_gets_translated_errors() {
    bounded(async {
        let (shared, _timers) = board();
        let mut c = client(&shared, FaultPlan::none(), ClientConfig { version: Version::V1, ..quick() });
        let image = signed("2.0.0", 64 * 1024, 1);
        c.image_upload(&image, &UploadOptions { window: 2, ..UploadOptions::default() }, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(uploaded(&shared, image.len()), image);
        // A hash no slot has: v1 folds HASH_NOT_FOUND into EUNKNOWN; v2 names it.
        let e = c.image_test(&[0xab; 32]).await.unwrap_err();
        assert_eq!(e.device_error().and_then(|b| b.rc), Some(MgmtErr::EUnknown), "{e}");
        assert_eq!(e.to_string(), "image state write: the device answered MGMT_ERR_EUNKNOWN (1)");
        let mut v2 = client(&shared, FaultPlan::none(), quick());
        let e = v2.image_test(&[0xab; 32]).await.unwrap_err();
        let group = e.device_error().and_then(|b| b.err).expect("group error");
        assert_eq!(group.code(), smp::error::GroupCode::Image(ImageErr::HashNotFound));
        assert_eq!(
            e.to_string(),
            "image state write: the device answered group 1 error: IMG_MGMT_ERR_HASH_NOT_FOUND (8)"
        );
        assert_eq!(e.command(), "image state write");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_device_is_a_timeout_after_the_configured_retries() {
    bounded(async {
        let (shared, _timers) = board();
        let silent = FaultPlan::one(FaultRule::probability(FaultKind::Drop, 1.0));
        let config = ClientConfig {
            timeout: Duration::from_millis(60),
            first_chunk_timeout: Duration::from_millis(120),
            retries: 2,
            ..ClientConfig::default()
        };
        let mut c = client(&shared, silent, config.clone());
        let e = c.echo("anyone?").await.unwrap_err();
        assert!(
            matches!(&e, ClientError::Timeout { command, attempts: 3, timeout_ms: 60, .. } if command == "os echo"),
            "{e:?}"
        );
        assert_eq!(e.to_string(), "os echo: no reply after 3 attempt(s) of 60 ms each");
        assert_eq!(c.stats().sent, 3);
        // An upload (params first) ends the same way, with an explicit chunk size too.
        let image = signed("2.0.0", 4096, 2);
        let e = c.image_upload(&image, &UploadOptions::default(), &mut |_| {}).await.unwrap_err();
        assert!(matches!(e, ClientError::Timeout { .. }), "{e:?}");
        let options = UploadOptions { chunk_size: Some(128), ..UploadOptions::default() };
        let e = c.image_upload(&image, &options, &mut |_| {}).await.unwrap_err();
        assert!(
            matches!(&e, ClientError::Timeout { command, attempts: 3, timeout_ms: 120, .. } if command == "image upload"),
            "{e:?}"
        );
        // Per-command timeouts.
        let timeouts = [(smp::groups::Command::Echo, Duration::from_millis(20)), (smp::groups::Command::ImageErase, Duration::from_millis(25))];
        let silent = FaultPlan::one(FaultRule::probability(FaultKind::Drop, 1.0));
        let mut c = client(&shared, silent, ClientConfig { command_timeouts: timeouts.into_iter().collect(), ..config });
        let e = c.echo("x").await.unwrap_err();
        assert_eq!(e.to_string(), "os echo: no reply after 3 attempt(s) of 20 ms each");
        let e = c.image_erase(None).await.unwrap_err();
        assert_eq!(e.to_string(), "image erase: no reply after 3 attempt(s) of 25 ms each");
        let e = c.params().await.unwrap_err();
        assert_eq!(e.to_string(), "os params: no reply after 3 attempt(s) of 60 ms each");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequence_numbers_wrap_and_every_command_round_trips() {
    bounded(async {
        let (shared, _timers) = board();
        let mut c = client(&shared, FaultPlan::none(), ClientConfig { first_seq: Some(254), ..quick() });
        assert_eq!(c.echo("a").await.unwrap(), "a");
        assert_eq!(c.echo("b").await.unwrap(), "b");
        assert_eq!(c.echo("c").await.unwrap(), "c");
        assert_eq!(c.next_seq(), 1);
        let p = c.params().await.unwrap();
        assert_eq!((p.buf_size, p.buf_count), (384, 4));
        assert!(!c.os_info(None).await.unwrap().is_empty());
        assert!(c.slot_info().await.unwrap().images[0].slots.len() == 2);
        assert!(c.enum_list().await.unwrap().contains(&1));
        assert!(!c.stat_list().await.unwrap().is_empty());
        // Settings.
        c.settings_write("brownout/key", b"value").await.unwrap();
        assert_eq!(c.settings_read("brownout/key", None).await.unwrap(), b"value");
        c.settings_save(None).await.unwrap();
        c.settings_commit().await.unwrap();
        c.settings_delete("brownout/key").await.unwrap();
        let e = c.settings_read("brownout/missing", None).await.unwrap_err();
        assert!(e.to_string().starts_with("settings read: the device answered group 3 error:"), "{e}");
        // Shell.
        let r = c.shell_exec(&["kernel".into(), "version".into()]).await;
        assert!(r.is_ok() || r.as_ref().is_err_and(|e| e.device_error().is_some()), "{r:?}");
        // File system: 5 KiB round trip, size and hash.
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        assert_eq!(c.fs_upload("/lfs1/brownout.bin", &data).await.unwrap(), 5000);
        assert_eq!(c.fs_status("/lfs1/brownout.bin").await.unwrap(), 5000);
        assert_eq!(c.fs_download("/lfs1/brownout.bin", 1 << 20).await.unwrap(), data);
        let h = c.fs_hash("/lfs1/brownout.bin", Some("sha256")).await.unwrap();
        use sha2::Digest as _;
        assert_eq!(h.output, smp::groups::fs::HashOutput::Bytes(sha2::Sha256::digest(&data).to_vec()));
        let e = c.fs_download("/lfs1/brownout.bin", 100).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "fs download: \"/lfs1/brownout.bin\" is 5000 bytes, more than the 100 allowed"
        );
        let e = c.fs_status("/nowhere/x").await.unwrap_err();
        assert!(e.to_string().starts_with("fs status: the device answered group 8 error: "), "{e}");
        // Erase the secondary (empty: success).
        c.image_erase(Some(1)).await.unwrap();
        match c.datetime_get().await {
            Ok(t) => assert!(!t.is_empty()),
            Err(e) => assert!(e.device_error().is_some(), "{e}"),
        }
    })
    .await;
}

/// A transport in front of the device that refuses SMP v2 the way a v1-only server would
/// (`{"rc": 13}`), and passes v1 through.
struct V1Only {
    shared: SharedDevice,
    replies: std::collections::VecDeque<Vec<u8>>,
}

impl ClientTransport for V1Only {
    async fn send(&mut self, packet: &[u8]) -> Result<(), TransportError> {
        let (header, _) = Header::parse(packet).unwrap();
        if header.version == Version::V2 {
            let rsp = smp::message::Response::Err(smp::error::ErrorBody::rc(MgmtErr::UnsupportedTooNew));
            self.replies.push_back(rsp.encode(&header, MapStyle::Indefinite).unwrap());
        } else {
            self.replies.extend(self.shared.handle_async(packet.to_vec()).await);
        }
        Ok(())
    }

    async fn recv(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>, TransportError> {
        match self.replies.pop_front() {
            Some(r) => Ok(Some(r)),
            None => {
                tokio::time::sleep(timeout).await;
                Ok(None)
            }
        }
    }

    fn describe(&self) -> String {
        "v1-only".into()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_only_device_makes_the_client_fall_back_to_v1() {
    bounded(async {
        let (shared, _timers) = board();
        let t = V1Only { shared: shared.clone(), replies: Default::default() };
        let mut c = SmpClient::new(t, quick());
        assert_eq!(c.version(), Version::V2);
        assert_eq!(c.echo("old").await.unwrap(), "old");
        assert_eq!(c.version(), Version::V1);
        assert_eq!(c.stats().version_switches, 1);
        assert_eq!(c.stats().resends, 0);
        // Without fallback the refusal is an error naming the code.
        let t = V1Only { shared, replies: Default::default() };
        let mut strict = SmpClient::new(t, ClientConfig { version_fallback: false, ..quick() });
        let e = strict.echo("old").await.unwrap_err();
        assert_eq!(e.to_string(), "os echo: the device answered MGMT_ERR_UNSUPPORTED_TOO_NEW (13)");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_chunk_waits_longer_than_the_others() {
    bounded(async {
        // Reply 1 is os params, reply 2 the first chunk: it comes 2.5 s late (a slow erase).
        let slow_first = || FaultPlan::one(FaultRule::nth(FaultKind::Delay { ms: 2500 }, 2));
        let image = signed("2.0.0", 64 * 1024, 4);
        let config = ClientConfig {
            timeout: Duration::from_millis(1000),
            first_chunk_timeout: Duration::from_secs(10),
            ..quick()
        };
        let (shared, _timers) = board();
        let mut c = client(&shared, slow_first(), config.clone());
        let s = c.image_upload(&image, &UploadOptions::default(), &mut |_| {}).await.unwrap();
        assert_eq!(s.retries, 0, "the long first-chunk timeout covered the slow erase: {s:?}");
        assert_eq!(uploaded(&shared, image.len()), image);

        // With the ordinary timeout for the first chunk too, it is resent; the device resumes
        // the session by its sha and the upload still completes.
        let (shared, _timers) = board();
        let hasty = ClientConfig { first_chunk_timeout: config.timeout, ..config };
        let mut c = client(&shared, slow_first(), hasty);
        let s = c.image_upload(&image, &UploadOptions::default(), &mut |_| {}).await.unwrap();
        assert!(s.retries >= 1, "{s:?}");
        assert_eq!(uploaded(&shared, image.len()), image);
    })
    .await;
}
