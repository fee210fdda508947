//! Carrying out steps against the in-process simulator.
//!
//! A [`Session`] holds one device ([`SharedDevice`]), an [`SmpClient`] over the in-process
//! transport to it, and what steps leave behind for later ones: the last SMP error, the
//! transport faults in force, a power cut armed for the next phase.
//!
//! Time on the simulator is modelled (a manual clock): `os reset` schedules a reboot after the
//! device's `reset_delay`, and the runner moves the clock to it when the reset step has its
//! reply, so no scenario waits for real. `sleep` moves the clock; `wait_boot` moves it to each
//! pending deadline (a reboot, a watchdog) until the device serves or cannot.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use sim_device::device::{OffReason, RunState};
use sim_device::flash::{EraseTear, FaultKind as FlashFault, WriteTear};
use sim_device::server::hooks::{AccessVerdict, Hooks, Verdict};
use sim_device::transport::{FaultPlan, InProcClient, InProcConfig, SharedDevice};
use smp::error::ErrorBody;
use smp::groups::image::ImageSlotState;

use crate::client::{
    AnyTransport, ClientConfig, ClientError, InProcTransport, Progress, SmpClient, UploadOptions,
};
use crate::scenario::{
    AfterUpload, CutKind, DeviceSpec, ExpectStep, Flags, Hook, ImageRow, Phase, PowerLossStep, Scenario,
    SettingValue, SmpErrorName, Step, TextMatch,
};

use super::endpoints::{Endpoints, real_time};
use super::exec::{self, ExecContext};
use super::report::StepStatus;
use super::targets::Remote;

/// Largest file `fs_download` accepts.
const MAX_DOWNLOAD: u64 = 1 << 20;

/// How often a step watches for the power being cut under it.
const POWER_POLL: Duration = Duration::from_millis(2);

/// Most deadlines `wait_boot` moves the clock to (a hang, its watchdog reset, …).
const MAX_BOOT_DEADLINES: usize = 64;

/// After `os reset` on a remote device: time to let it go down before asking whether it is up.
const REMOTE_RESET_GRACE: Duration = Duration::from_millis(400);

/// How long one `os echo` probe of a remote device waits.
const REMOTE_PROBE: Duration = Duration::from_millis(700);

/// How long reading the image list of a remote device for `expect` may take.
const REMOTE_VIEW: Duration = Duration::from_secs(5);

/// Pause between probes of a remote device that is booting.
const REMOTE_POLL: Duration = Duration::from_millis(200);

/// A `bit_flip` waiting for its flash operation.
#[derive(Debug, Clone, Copy)]
struct PendingFlip {
    /// The flash operation (absolute count) after which the bit inverts.
    op: u64,
    device: u8,
    offset: u32,
    bit: u8,
}

/// A power cut waiting for its phase to start.
#[derive(Debug, Clone)]
struct ArmedCut {
    during: Phase,
    /// The phase's N-th flash operation, or the upload offset (bytes) past which the next
    /// flash operation is cut.
    at: CutAt,
    kind: FlashFault,
}

#[derive(Debug, Clone, Copy)]
enum CutAt {
    Op(u64),
    UploadOffset(u64),
    UploadFraction(f64),
}

/// One device of a scenario: how it is reached, its client, and carried-over state.
pub struct Session<'a> {
    scenario: &'a Scenario,
    /// The device's name in `devices:` (None for the single `device:`).
    name: Option<String>,
    /// The in-process simulator, when the target is `sim`.
    sim: Option<SharedDevice>,
    /// The device outside this process, for the other targets.
    remote: Option<Remote>,
    client: SmpClient<AnyTransport>,
    /// PTY and UDP endpoints of the in-process device, opened for the first `exec`.
    endpoints: Option<Endpoints>,
    /// The scenario's scratch directory (`{dir}` of `exec`, `save_as` of `fs_download`).
    dir: PathBuf,
    faults: FaultPlan,
    last_error: Option<ErrorBody>,
    seed: u64,
    base_boots: u64,
    armed: Option<ArmedCut>,
    cuts_struck: u64,
    bit_flip: Option<PendingFlip>,
    /// Every image put in a slot (at power-on or by a whole upload), for `images_intact`:
    /// where it came from, and its bytes.
    images: Vec<(String, Vec<u8>)>,
}

/// What a step body returns: its status (usually `Passed`).
type Outcome = StepStatus;

fn passed() -> Outcome {
    StepStatus::Passed { note: None }
}

fn noted(note: impl Into<String>) -> Outcome {
    StepStatus::Passed { note: Some(note.into()) }
}

fn failed(expected: impl Into<String>, actual: impl Into<String>) -> Outcome {
    StepStatus::Failed { expected: expected.into(), actual: actual.into() }
}

fn skipped(reason: impl Into<String>) -> Outcome {
    StepStatus::Skipped { reason: reason.into() }
}

/// A step only the in-process simulator can carry out, on another target.
fn needs_sim(step: &Step) -> Outcome {
    skipped(format!("`{}` needs the in-process simulator (target sim)", step.name()))
}

/// Client settings for the in-process device: it answers in microseconds, so waits are short
/// but leave room for a loaded machine; dropped replies cost one `timeout` each.
fn client_config(seed: u64) -> ClientConfig {
    ClientConfig {
        first_seq: Some((seed & 0xff) as u8),
        timeout: Duration::from_millis(1000),
        retries: 4,
        first_chunk_timeout: Duration::from_secs(5),
        erase_timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    }
}

impl<'a> Session<'a> {
    /// A session on the in-process device `shared` (`spec` is its section of the scenario).
    /// Must be called inside a tokio runtime.
    pub fn new(
        scenario: &'a Scenario,
        spec: &DeviceSpec,
        shared: SharedDevice,
        seed: u64,
        dir: PathBuf,
    ) -> Session<'a> {
        let inproc = InProcClient::connect(&shared, InProcConfig::default());
        let client = SmpClient::new(AnyTransport::InProc(InProcTransport::new(inproc)), client_config(seed));
        Session::with(scenario, spec, Some(shared), None, client, seed, dir)
    }

    /// A session on a device outside this process (a child simulator or a board).
    pub async fn remote(
        scenario: &'a Scenario,
        spec: &DeviceSpec,
        remote: Remote,
        seed: u64,
        dir: PathBuf,
    ) -> Result<Session<'a>, String> {
        let transport = remote.connect().await?;
        let mut config = client_config(seed);
        config.timeout = Duration::from_millis(2000);
        config.retries = 3;
        let client = SmpClient::new(transport, config);
        Ok(Session::with(scenario, spec, None, Some(remote), client, seed, dir))
    }

    /// A fresh session on a device reached through `sim` or `remote`.
    fn with(
        scenario: &'a Scenario,
        spec: &DeviceSpec,
        sim: Option<SharedDevice>,
        remote: Option<Remote>,
        client: SmpClient<AnyTransport>,
        seed: u64,
        dir: PathBuf,
    ) -> Session<'a> {
        let base_boots = sim.as_ref().map_or(0, |s| s.with(|d| d.boot_count()));
        Session {
            scenario,
            name: spec.name.clone(),
            sim,
            remote,
            client,
            endpoints: None,
            dir,
            faults: FaultPlan::none(),
            last_error: None,
            seed,
            base_boots,
            armed: None,
            cuts_struck: 0,
            bit_flip: None,
            images: initial_images(scenario, spec),
        }
    }

    /// Image list rows (`image state` read).
    pub async fn image_rows(&mut self) -> Result<Vec<ImageSlotState>, String> {
        if let Some(o) = self.require_serving()
            && let StepStatus::Failed { actual, .. } = o
        {
            return Err(actual);
        }
        self.client.image_state().await.map(|r| r.images).map_err(|e| describe_client_error(&e))
    }

    /// True if the in-process device is switched off or lost its power.
    pub fn is_off(&self) -> bool {
        self.with_sim(|d| matches!(d.state(), RunState::Off(_))).unwrap_or(false)
    }

    /// The in-process device, if this session has one.
    pub fn sim(&self) -> Option<&SharedDevice> {
        self.sim.as_ref()
    }

    /// The device's name in `devices:`.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Carry out one step. Steps that use the device first let a reboot requested by `os
    /// reset` happen (moving the modelled clock to it).
    pub async fn run(&mut self, step: &Step, line: u64) -> Outcome {
        let arranges = matches!(
            step,
            Step::Reset(_)
                | Step::PowerLoss(_)
                | Step::PowerLossSweep(_)
                | Step::Sleep(_)
                | Step::PowerOff(_)
                | Step::TransportFault(_)
                | Step::ClearTransportFaults(_)
                | Step::Hook(_)
                | Step::ClearHooks(_)
                | Step::BitFlip(_)
        );
        let cut = if arranges { None } else { self.settle() };
        match (cut, self.step(step, line).await) {
            (Some(op), StepStatus::Passed { note }) => {
                let mut text = format!("the reboot was cut at flash operation {op}");
                if let Some(n) = note {
                    text.push_str(&format!("; {n}"));
                }
                noted(text)
            }
            (_, out) => out,
        }
    }

    /// How many armed power cuts have struck so far.
    pub fn cuts_struck(&self) -> u64 {
        self.cuts_struck
    }

    /// Arm a cut at the `op`-th flash operation of the next `during` phase (a sweep's cut point).
    pub fn arm(&mut self, during: Phase, op: u64, kind: CutKind, line: u64) {
        let kind = self.flash_fault(kind, None, line);
        self.armed = Some(ArmedCut { during, at: CutAt::Op(op), kind });
    }

    /// Let a pending reboot (after `os reset`) happen now, with a cut armed for the swap,
    /// revert or boot. Returns the flash op the power was cut at, if it was.
    fn settle(&mut self) -> Option<u64> {
        let shared = self.sim.clone()?;
        if !shared.with(|d| d.is_serving() && d.next_deadline_ms().is_some()) {
            return None;
        }
        self.arm_phase(&[Phase::Swap, Phase::Revert, Phase::Boot]);
        shared.with(|d| {
            if let Some(at) = d.next_deadline_ms() {
                let now = d.now_ms();
                d.advance(at.saturating_sub(now));
            }
        });
        let lost = shared.with(|d| lost_at(d.state()));
        if lost.is_some() {
            self.cuts_struck += 1;
        }
        self.disarm();
        lost
    }

    /// Remove a cut armed in the flash that its phase did not reach.
    fn disarm(&mut self) {
        if let Some(shared) = &self.sim {
            shared.with(|d| d.flash_mut().clear_faults());
        }
        self.rearm_bit_flip();
    }

    /// Run `f` on the in-process device; `None` on other targets.
    fn with_sim<R>(&self, f: impl FnOnce(&mut sim_device::device::Device) -> R) -> Option<R> {
        self.sim.as_ref().map(|s| s.with(f))
    }

    async fn step(&mut self, step: &Step, line: u64) -> Outcome {
        match step {
            Step::Echo(s) => {
                let text = s.text.clone();
                self.smp(
                    s.expect_error.as_ref(),
                    |c| Box::pin(async move { c.echo(&text).await }),
                    |got| {
                        if got == s.text {
                            passed()
                        } else {
                            failed(format!("echo `{}`", s.text), format!("`{got}`"))
                        }
                    },
                )
                .await
            }
            Step::Upload(s) => self.upload(s).await,
            Step::ImageState(s) => {
                let out =
                    self.smp(s.expect_error.as_ref(), |c| Box::pin(c.image_state()), |_| passed()).await;
                if !matches!(out, StepStatus::Passed { .. }) || s.expect_error.is_some() {
                    return out;
                }
                let rows = match self.client.image_state().await {
                    Ok(r) => r.images,
                    Err(e) => return failed("the image list", e.to_string()),
                };
                self.check_rows(&s.images, s.exact, &rows)
            }
            Step::ImageTest(s) => {
                let hash = match self
                    .pick_hash(
                        s.image.unwrap_or(0),
                        s.slot.or(Some(1)),
                        s.hash.as_ref().map(|h| &h.0),
                        s.hash_of.as_deref(),
                    )
                    .await
                {
                    Ok(h) => h.unwrap_or_default(),
                    Err(o) => return o,
                };
                self.arm_phase(&[Phase::TrailerWrite]);
                self.smp(
                    s.expect_error.as_ref(),
                    |c| Box::pin(async move { c.image_test(&hash).await }),
                    |_| passed(),
                )
                .await
            }
            Step::ImageConfirm(s) => {
                let hash = match self
                    .pick_hash(0, None, s.hash.as_ref().map(|h| &h.0), s.hash_of.as_deref())
                    .await
                {
                    Ok(h) => h,
                    Err(o) => return o,
                };
                self.arm_phase(&[Phase::TrailerWrite]);
                self.smp(
                    s.expect_error.as_ref(),
                    |c| Box::pin(async move { c.image_confirm(hash.as_deref()).await }),
                    |_| passed(),
                )
                .await
            }
            Step::Erase(s) => {
                let slot = s.slot.map(u32::from);
                self.arm_phase(&[Phase::Erase]);
                let out = self
                    .smp(
                        s.expect_error.as_ref(),
                        |c| Box::pin(async move { c.image_erase(slot).await }),
                        |_| passed(),
                    )
                    .await;
                // An image erased on purpose is not "lost" for `images_intact`.
                let missing = self.missing_images();
                self.images.retain(|(name, _)| !missing.contains(name));
                out
            }
            Step::Reset(s) => {
                let (force, boot_mode) = (s.force, s.boot_mode);
                // On the simulator the reboot itself happens `reset_delay` later: at the next
                // step that needs the device ([`Session::settle`]), after a `power_loss` for
                // the swap is armed. Elsewhere the runner waits for the device to come back.
                let out = self
                    .smp(
                        s.expect_error.as_ref(),
                        |c| Box::pin(async move { c.reset_with(force, boot_mode).await }),
                        |_| passed(),
                    )
                    .await;
                if self.remote.is_some()
                    && s.expect_error.is_none()
                    && matches!(out, StepStatus::Passed { .. })
                {
                    // Zephyr reboots ~250 ms after its reply (CONFIG_MCUMGR_GRP_OS_RESET_MS).
                    tokio::time::sleep(REMOTE_RESET_GRACE).await;
                    return self.wait_remote_boot(None).await;
                }
                out
            }
            Step::PowerOff(_) => match self.remote.as_mut() {
                Some(r) => match r.power_off().await {
                    Ok(true) => passed(),
                    Ok(false) => skipped(format!("target `{}` has no power_off command", r.spec().name)),
                    Err(e) => failed("the power switched off", e),
                },
                None => {
                    self.with_sim(|d| d.power_off());
                    passed()
                }
            },
            Step::PowerOn(_) => {
                if self.remote.is_some() {
                    return self.remote_power_on().await;
                }
                self.arm_phase(&[Phase::Swap, Phase::Revert, Phase::Boot]);
                self.with_sim(|d| d.power_on());
                self.after_cut(passed())
            }
            Step::PowerCycle(_) => {
                if let Some(r) = self.remote.as_mut() {
                    match r.power_off().await {
                        Ok(true) => {}
                        Ok(false) => {
                            return skipped(format!("target `{}` has no power_off command", r.spec().name));
                        }
                        Err(e) => return failed("the power switched off", e),
                    }
                    return self.remote_power_on().await;
                }
                self.arm_phase(&[Phase::Swap, Phase::Revert, Phase::Boot]);
                self.with_sim(|d| d.power_cycle());
                self.after_cut(passed())
            }
            Step::PowerLoss(s) => self.power_loss(s, line),
            // The scenario sweeps (mod.rs); validation allows one sweep, at the top level.
            Step::PowerLossSweep(_) => failed("a top-level power_loss_sweep", "a sweep inside `on`"),
            Step::BitFlip(s) => {
                let (flash, offset, bit) = (s.flash, s.offset.bytes, s.bit);
                let Ok(offset) = u32::try_from(offset) else {
                    return failed("a flash offset", format!("{offset} is past 4 GiB"));
                };
                let Some(shared) = self.sim.clone() else { return needs_sim(step) };
                if let Some(n) = s.after_op {
                    let at = shared.with(|d| d.flash().ops().saturating_add(n.max(1)));
                    self.bit_flip = Some(PendingFlip { op: at, device: flash, offset, bit });
                    self.rearm_bit_flip();
                    return noted(format!(
                        "bit {bit} at {offset:#x} of flash {flash} flips after flash operation {at}"
                    ));
                }
                match shared.with(|d| d.flash_mut().flip_bit(flash, offset, bit)) {
                    Ok(()) => passed(),
                    Err(e) => {
                        failed(format!("flip bit {bit} at {offset:#x} of flash {flash}"), e.to_string())
                    }
                }
            }
            Step::WaitBoot(s) => {
                if self.remote.is_some() {
                    return self.wait_remote_boot(s.timeout.map(|t| t.ms)).await;
                }
                self.wait_boot(s.timeout.map(|t| t.ms))
            }
            Step::Sleep(s) => {
                let ms = s.duration.ms;
                if self.sim.is_none() {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    return passed();
                }
                self.with_sim(|d| d.advance(ms));
                passed()
            }
            Step::Expect(e) => self.expect(e).await,
            Step::FsUpload(s) => {
                let data = match (&s.file, &s.contents) {
                    (Some(f), _) => match read_file(&self.scenario.resolve(f)) {
                        Ok(d) => d,
                        Err(o) => return o,
                    },
                    (None, Some(c)) => c.as_bytes().to_vec(),
                    (None, None) => return failed("`file` or `contents`", "neither"),
                };
                let path = s.path.clone();
                let chunk = s.chunk_size.map(|c| c.bytes as usize);
                self.smp(
                    s.expect_error.as_ref(),
                    |c| Box::pin(async move { c.fs_upload_chunked(&path, &data, chunk).await }),
                    |_| passed(),
                )
                .await
            }
            Step::FsDownload(s) => {
                let path = s.path.clone();
                let out = self
                    .smp(
                        s.expect_error.as_ref(),
                        |c| Box::pin(async move { c.fs_download(&path, MAX_DOWNLOAD).await }),
                        |got| match &s.expect_contents {
                            Some(want) if want.as_bytes() != got.as_slice() => {
                                failed(format!("{:?}", want), format!("{:?}", String::from_utf8_lossy(&got)))
                            }
                            _ => noted(format!("{} bytes", got.len())),
                        },
                    )
                    .await;
                match (&out, &s.save_as) {
                    (StepStatus::Passed { .. }, Some(to)) => {
                        let path = s.path.clone();
                        let data = match self.client.fs_download(&path, MAX_DOWNLOAD).await {
                            Ok(d) => d,
                            Err(e) => return failed(format!("{path} downloaded"), describe_client_error(&e)),
                        };
                        let dest = if to.is_absolute() { to.clone() } else { self.dir.join(to) };
                        if let Some(parent) = dest.parent()
                            && let Err(e) = std::fs::create_dir_all(parent)
                        {
                            return failed(format!("{} writable", parent.display()), e.to_string());
                        }
                        match std::fs::write(&dest, &data) {
                            Ok(()) => noted(format!("{} bytes saved to {}", data.len(), dest.display())),
                            Err(e) => failed(format!("{} writable", dest.display()), e.to_string()),
                        }
                    }
                    _ => out,
                }
            }
            Step::SettingsRead(s) => {
                let name = s.name.clone();
                self.smp(
                    s.expect_error.as_ref(),
                    |c| Box::pin(async move { c.settings_read(&name, None).await }),
                    |got| match &s.expect {
                        Some(want) if setting_bytes(want) != got.as_slice() => failed(
                            describe_setting(want),
                            format!("{:?} ({})", String::from_utf8_lossy(&got), hex::encode(&got)),
                        ),
                        _ => passed(),
                    },
                )
                .await
            }
            Step::SettingsWrite(s) => {
                let (name, value) = (s.name.clone(), setting_bytes(&s.value).to_vec());
                let out = self
                    .smp(
                        s.expect_error.as_ref(),
                        |c| Box::pin(async move { c.settings_write(&name, &value).await }),
                        |_| passed(),
                    )
                    .await;
                if s.save && matches!(out, StepStatus::Passed { .. }) && s.expect_error.is_none() {
                    return self.smp(None, |c| Box::pin(c.settings_save(None)), |_| passed()).await;
                }
                out
            }
            Step::SettingsDelete(s) => {
                let name = s.name.clone();
                self.smp(
                    s.expect_error.as_ref(),
                    |c| Box::pin(async move { c.settings_delete(&name).await }),
                    |_| passed(),
                )
                .await
            }
            Step::Shell(s) => {
                let argv: Vec<String> = s.command.split_whitespace().map(str::to_string).collect();
                self.smp(
                    s.expect_error.as_ref(),
                    |c| Box::pin(async move { c.shell_exec(&argv).await }),
                    |got| {
                        if let Some(ret) = s.ret
                            && ret != got.ret
                        {
                            return failed(
                                format!("return code {ret}"),
                                format!("{} (output {:?})", got.ret, got.o),
                            );
                        }
                        check_text("output", &s.output, &got.o)
                    },
                )
                .await
            }
            Step::Hook(h) => match self.with_sim(|d| install_hook(d.hooks_mut(), h)) {
                Some(()) => passed(),
                None => needs_sim(step),
            },
            Step::ClearHooks(_) => match self.with_sim(|d| *d.hooks_mut() = Hooks::new()) {
                Some(()) => passed(),
                None => needs_sim(step),
            },
            Step::TransportFault(s) => match s.rule() {
                Ok(rule) => {
                    let seed = s.seed.unwrap_or(self.seed ^ 0x7472_616e_7370_6f72);
                    self.faults = self.faults.clone().with(rule).seed(seed);
                    self.set_transport_faults()
                }
                Err(e) => failed("a transport fault", e.to_string()),
            },
            Step::ClearTransportFaults(_) => {
                self.faults = FaultPlan::none();
                self.set_transport_faults()
            }
            Step::Exec(s) => self.exec(s).await,
            Step::Group(_) | Step::On(_) => failed(
                "a step for one device",
                "group and on steps are carried out by the scenario, not a device",
            ),
        }
    }

    /// Put [`Session::faults`] in force on the in-process transport.
    fn set_transport_faults(&mut self) -> Outcome {
        match self.client.transport() {
            AnyTransport::InProc(t) => {
                t.inner().faults().set(self.faults.clone());
                passed()
            }
            _ => skipped("transport faults are injected by the in-process simulator only"),
        }
    }

    /// `exec`: run an external command against this device's PTY or UDP endpoint.
    async fn exec(&mut self, s: &crate::scenario::ExecStep) -> Outcome {
        let (pty, udp) = match (&self.remote, &self.sim) {
            (Some(r), _) => (r.pty.clone(), r.udp),
            (None, Some(shared)) => {
                if self.endpoints.is_none() {
                    match Endpoints::open(shared, true, true).await {
                        Ok(e) => self.endpoints = Some(e),
                        Err(e) => return failed("PTY and UDP endpoints for the device", e.to_string()),
                    }
                }
                let e = self.endpoints.as_ref();
                (e.and_then(|e| e.pty_path().map(Path::to_path_buf)), e.and_then(|e| e.udp_addr()))
            }
            (None, None) => return failed("a device", "the session has none"),
        };
        let ctx = ExecContext {
            pty,
            udp,
            image: s.image.as_ref().map(|i| self.scenario.resolve(i)),
            dir: self.dir.clone(),
            cwd: self.scenario.base_dir.clone().unwrap_or_default(),
        };
        let limit = s
            .timeout
            .or(self.scenario.timeout)
            .map_or(super::DEFAULT_STEP_TIMEOUT, |t| Duration::from_millis(t.ms));
        // The in-process device keeps modelled time; while a real client runs against it, time
        // passes for real (its `os reset` reboots the device after `reset_delay`).
        let _pump = self.sim.as_ref().map(real_time);
        let out = exec::run(s, &ctx, limit).await;
        drop(_pump);
        out
    }

    /// Power on a remote device, reconnect and wait until it answers.
    async fn remote_power_on(&mut self) -> Outcome {
        let Some(r) = self.remote.as_mut() else { return failed("a remote device", "none") };
        match r.power_on().await {
            Ok(true) => {}
            Ok(false) => return skipped(format!("target `{}` has no power_on command", r.spec().name)),
            Err(e) => return failed("the power switched on", e),
        }
        // The old connection went with the power (a child's PTY is gone; a board's USB serial
        // port re-enumerates).
        self.wait_remote(None, true).await
    }

    /// Wait until a remote device answers `os echo` within `limit_ms` or the target's boot
    /// time. The connection is opened again when it broke (a child simulator restarted, a USB
    /// serial port that re-enumerated) or when `reconnect` says the old one is gone.
    async fn wait_remote_boot(&mut self, limit_ms: Option<u64>) -> Outcome {
        self.wait_remote(limit_ms, false).await
    }

    async fn wait_remote(&mut self, limit_ms: Option<u64>, mut reconnect: bool) -> Outcome {
        let Some(r) = self.remote.as_ref() else { return failed("a remote device", "none") };
        let limit = limit_ms.map_or(r.spec().boot_time(), Duration::from_millis);
        let started = std::time::Instant::now();
        let mut last = String::from("no answer");
        // Short probes, one try each: the loop is the retry.
        let saved = (self.client.config().timeout, self.client.config().retries);
        self.client.config_mut().timeout = REMOTE_PROBE;
        self.client.config_mut().retries = 0;
        let outcome = loop {
            if started.elapsed() >= limit {
                break failed(format!("the device answers within {} ms", limit.as_millis()), last);
            }
            if reconnect {
                let connected = match self.remote.as_ref() {
                    Some(r) => r.connect().await,
                    None => Err("no remote".into()),
                };
                match connected {
                    Ok(t) => {
                        *self.client.transport_mut() = t;
                        reconnect = false;
                    }
                    Err(e) => {
                        last = e;
                        tokio::time::sleep(REMOTE_POLL).await;
                        continue;
                    }
                }
            }
            match self.client.echo("brownout").await {
                Ok(_) => break noted(format!("answered after {} ms", started.elapsed().as_millis())),
                Err(e @ ClientError::Transport { .. }) => {
                    last = describe_client_error(&e);
                    reconnect = true;
                }
                Err(e) => last = describe_client_error(&e),
            }
            tokio::time::sleep(REMOTE_POLL).await;
        };
        self.client.config_mut().timeout = saved.0;
        self.client.config_mut().retries = saved.1;
        outcome
    }

    /// Arm the pending `bit_flip` (after `after_op`) again after the flash's faults were
    /// replaced, unless its operation has passed.
    fn rearm_bit_flip(&mut self) {
        let Some(f) = self.bit_flip else { return };
        let Some(shared) = &self.sim else { return };
        let keep = shared.with(|d| {
            let flash = d.flash_mut();
            if flash.ops() >= f.op {
                return false;
            }
            let mut plan = flash.faults().clone();
            plan.push(sim_device::flash::Fault {
                op: f.op,
                kind: FlashFault::BitFlip { device: f.device, offset: f.offset, bit: f.bit },
            });
            flash.set_faults(plan);
            true
        });
        if !keep {
            self.bit_flip = None;
        }
    }

    // ------------------------------------------------------------------ SMP requests

    /// Send one SMP request (guarded against the power being cut under it) and judge its
    /// result: with `expect_error` it must fail with that error; without, it must succeed and
    /// `check` judges the reply.
    async fn smp<T>(
        &mut self,
        expect_error: Option<&SmpErrorName>,
        request: impl for<'c> FnOnce(
            &'c mut SmpClient<AnyTransport>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<T, ClientError>> + 'c>,
        >,
        check: impl FnOnce(T) -> Outcome,
    ) -> Outcome {
        if let Some(o) = self.require_serving() {
            return o;
        }
        let shared = self.sim.clone();
        let result = tokio::select! {
            r = request(&mut self.client) => r,
            op = power_lost(shared.as_ref()) => return self.cut_struck(op),
        };
        self.disarm();
        match (result, expect_error) {
            (Ok(v), None) => {
                self.last_error = None;
                check(v)
            }
            (Ok(_), Some(want)) => {
                self.last_error = None;
                failed(format!("the request fails with {want}"), "it succeeded")
            }
            (Err(ClientError::Device { error, .. }), Some(want)) if error_is(&error, want) => {
                self.last_error = Some(error);
                passed()
            }
            (Err(e), want) => {
                if let Some(body) = e.device_error() {
                    self.last_error = Some(body.clone());
                }
                let expected = match want {
                    Some(w) => format!("the request fails with {w}"),
                    None => "the request succeeds".to_string(),
                };
                failed(expected, describe_client_error(&e))
            }
        }
    }

    /// A failure when the device cannot answer SMP now (off, bricked, hung, rebooting).
    fn require_serving(&self) -> Option<Outcome> {
        // A remote device shows whether it serves by answering.
        let state = self.with_sim(|d| (d.is_serving(), describe_state(d.state())))?;
        (!state.0).then(|| failed("a device serving SMP", state.1))
    }

    async fn upload(&mut self, s: &crate::scenario::UploadStep) -> Outcome {
        let path = self.scenario.resolve(&s.image);
        let data = match read_file(&path) {
            Ok(d) => d,
            Err(o) => return o,
        };
        if let Some(o) = self.require_serving() {
            return o;
        }
        let options = UploadOptions {
            image: s.image_number.map(u32::from),
            upgrade: s.upgrade,
            window: s.window.map_or(1, |w| w.max(1) as usize),
            chunk_size: s.chunk_size.map(|c| c.bytes as usize),
            ..UploadOptions::default()
        };
        // A chunk the device's buffer cannot hold is dropped unanswered (as Zephyr does):
        // say so now instead of timing out.
        if let Some(chunk) = options.chunk_size {
            match self.client.upload_chunk_size(data.len() as u64, options.image, options.upgrade).await {
                Ok(max) if chunk > max => {
                    return failed(
                        format!("chunk_size {chunk} to fit the device's buffer"),
                        format!("at most {max} bytes of image data fit one request (os params buf_size)"),
                    );
                }
                Ok(_) => {}
                Err(e) => return failed("the device's buffer size (os params)", describe_client_error(&e)),
            }
        }
        // A cut armed for this upload: by flash op now, by offset from the progress callback.
        let mut cut_offset = None;
        if let Some(cut) = self.armed.take_if(|c| c.during == Phase::Upload) {
            match cut.at {
                CutAt::Op(n) => {
                    self.with_sim(|d| d.cut_power_at(n, cut.kind));
                    self.rearm_bit_flip();
                }
                CutAt::UploadOffset(off) => cut_offset = Some((off, cut.kind)),
                CutAt::UploadFraction(f) => cut_offset = Some(((data.len() as f64 * f) as u64, cut.kind)),
            }
        }
        let shared = self.sim.clone();
        // `disconnect_at`: the client goes away once the device has this many bytes (it stops
        // sending there, so the point is the same on every run).
        let options = UploadOptions {
            stop_at: s.disconnect_at.map(|p| ((data.len() as f64 * p.fraction()) as u64).max(1)),
            ..options
        };
        let mut progress = |p: Progress| {
            if let Some((off, kind)) = cut_offset
                && p.offset >= off
                && p.offset < p.total
                && let Some(shared) = &shared
            {
                shared.with(|d| d.cut_power_at(1, kind));
                cut_offset = None;
            }
        };
        let watch = self.sim.clone();
        // A per-request timeout for this upload only.
        let saved_timeout = self.client.config().timeout;
        if let Some(t) = s.timeout {
            self.client.config_mut().timeout = Duration::from_millis(t.ms.max(1));
        }
        let result = tokio::select! {
            r = self.client.image_upload(&data, &options, &mut progress) => r,
            op = power_lost(watch.as_ref()) => {
                self.client.config_mut().timeout = saved_timeout;
                return self.cut_struck(op);
            }
        };
        self.client.config_mut().timeout = saved_timeout;
        self.disarm();
        if let Ok(summary) = &result
            && options.stop_at.is_some()
        {
            return match summary.stopped_at {
                Some(at) => {
                    noted(format!("the client went away with {at} of {} bytes on the device", data.len()))
                }
                None => failed(
                    format!(
                        "the upload still going at {}%, where the connection drops",
                        s.disconnect_at.map(|p| p.value()).unwrap_or_default()
                    ),
                    "it had ended (the device already held the whole image)",
                ),
            };
        }
        let summary = match (result, &s.expect_error) {
            (Ok(summary), None) => summary,
            (Ok(_), Some(want)) => return failed(format!("the upload fails with {want}"), "it succeeded"),
            (Err(ClientError::Device { error, .. }), Some(want)) if error_is(&error, want) => {
                self.last_error = Some(error);
                return passed();
            }
            (Err(e), want) => {
                if let Some(body) = e.device_error() {
                    self.last_error = Some(body.clone());
                }
                let expected = match want {
                    Some(w) => format!("the upload fails with {w}"),
                    None => format!("{} uploads", s.image.display()),
                };
                return failed(expected, describe_client_error(&e));
            }
        };
        self.last_error = None;
        if !self.images.iter().any(|(_, b)| *b == data) {
            self.images.push((s.image.display().to_string(), data.clone()));
        }
        let mut note =
            format!("{} bytes in {} chunks of {}", summary.bytes, summary.chunks, summary.chunk_size);
        match (summary.resumed_from, s.resume) {
            (Some(from), _) => note.push_str(&format!(", resumed from {from}")),
            (None, true) => {
                return failed(
                    "the upload resumes from the offset the device already has",
                    format!("it started from 0 ({note})"),
                );
            }
            (None, false) => {}
        }
        let Some(then) = s.then else { return noted(note) };
        let Some(hash) = file_image_hash(&data) else {
            return failed(
                format!("{} to be an MCUboot image with a SHA-256", s.image.display()),
                "no SHA-256 TLV",
            );
        };
        self.arm_phase(&[Phase::TrailerWrite]);
        let out = match then {
            AfterUpload::Test => {
                self.smp(None, |c| Box::pin(async move { c.image_test(&hash).await }), |_| noted(note)).await
            }
            AfterUpload::Confirm => {
                self.smp(
                    None,
                    |c| Box::pin(async move { c.image_confirm(Some(&hash)).await }),
                    |_| noted(note),
                )
                .await
            }
        };
        self.after_cut(out)
    }

    /// The hash an `image_test`/`image_confirm` sends: given, of a file, or of the image in a
    /// slot (read from the image list). `None`: no hash (confirm the running image).
    async fn pick_hash(
        &mut self,
        image: u8,
        slot: Option<u8>,
        hash: Option<&Vec<u8>>,
        hash_of: Option<&Path>,
    ) -> Result<Option<Vec<u8>>, Outcome> {
        if let Some(h) = hash {
            return Ok(Some(h.clone()));
        }
        if let Some(f) = hash_of {
            let data = read_file(&self.scenario.resolve(f))?;
            return file_image_hash(&data).map(Some).ok_or_else(|| {
                failed(format!("{} to be an MCUboot image with a SHA-256", f.display()), "no SHA-256 TLV")
            });
        }
        let Some(slot) = slot else { return Ok(None) };
        if let Some(o) = self.require_serving() {
            return Err(o);
        }
        let rows = self
            .client
            .image_state()
            .await
            .map_err(|e| failed("the image list", describe_client_error(&e)))?
            .images;
        rows.iter()
            .find(|r| r.image.unwrap_or(0) == u32::from(image) && r.slot == u32::from(slot))
            .and_then(|r| r.hash.clone())
            .map(Some)
            .ok_or_else(|| {
                failed(
                    format!("an image in image {image} slot {slot}"),
                    format!("the image list: {}", rows_text(&rows)),
                )
            })
    }

    // ------------------------------------------------------------------ power

    /// The flash fault of a cut kind; torn writes and interrupted erases keep `tear` bytes
    /// (default: drawn from the seed and the step's line).
    fn flash_fault(&self, kind: CutKind, tear: Option<u64>, line: u64) -> FlashFault {
        let tear = tear
            .map_or_else(|| 1 + (mix(self.seed ^ line) % 255) as u32, |t| t.min(u64::from(u32::MAX)) as u32);
        match kind {
            CutKind::Before => FlashFault::CutBefore,
            CutKind::After => FlashFault::CutAfter,
            CutKind::Torn => FlashFault::TornWrite(WriteTear::Prefix { bytes: tear }),
            CutKind::InterruptedErase => FlashFault::InterruptedErase(EraseTear::Prefix { bytes: tear }),
        }
    }

    fn power_loss(&mut self, s: &PowerLossStep, line: u64) -> Outcome {
        let kind = self.flash_fault(s.kind, s.tear.map(|t| t.bytes), line);
        let at = match (s.op, s.offset, s.at, s.during) {
            (Some(n), _, _, _) => CutAt::Op(n),
            (None, Some(off), _, Phase::Upload) => CutAt::UploadOffset(off.bytes),
            (None, None, Some(p), Phase::Upload) => CutAt::UploadFraction(p.fraction()),
            // Validation refuses `at`/`offset` outside uploads.
            _ => return failed("`op` for a phase other than an upload", "`at` or `offset`"),
        };
        self.armed = Some(ArmedCut { during: s.during, at, kind });
        noted(format!("armed for the next {} phase", super::kebab(&s.during)))
    }

    /// Arm the pending cut now if its phase is one of `phases` (by flash op).
    fn arm_phase(&mut self, phases: &[Phase]) {
        if let Some(cut) = self.armed.take_if(|c| phases.contains(&c.during)) {
            let n = match cut.at {
                CutAt::Op(n) => n,
                // `power_loss` refuses offsets outside uploads.
                CutAt::UploadOffset(_) | CutAt::UploadFraction(_) => 1,
            };
            self.with_sim(|d| d.cut_power_at(n, cut.kind));
            self.rearm_bit_flip();
        }
    }

    /// After a step that may have run into an armed cut: the cut struck, or `out`.
    fn after_cut(&mut self, out: Outcome) -> Outcome {
        match self.with_sim(|d| lost_at(d.state())).flatten() {
            Some(op) => self.cut_struck(op),
            None => {
                self.disarm();
                out
            }
        }
    }

    /// The power was cut at flash op `op`: expected if a `power_loss` armed it.
    fn cut_struck(&mut self, op: u64) -> Outcome {
        // Leave no armed fault behind to strike a later phase.
        self.cuts_struck += 1;
        self.disarm();
        noted(format!("power cut at flash operation {op}; the device is off until power_on"))
    }

    fn wait_boot(&mut self, limit_ms: Option<u64>) -> Outcome {
        let limit = limit_ms.or(self.scenario.timeout.map(|t| t.ms)).unwrap_or(10_000);
        let Some(shared) = self.sim.clone() else { return failed("the in-process device", "none") };
        let (serving, state) = shared.with(|d| {
            let start = d.now_ms();
            for _ in 0..MAX_BOOT_DEADLINES {
                match d.next_deadline_ms() {
                    Some(at) if at.saturating_sub(start) <= limit => {
                        let now = d.now_ms();
                        d.advance(at.saturating_sub(now));
                    }
                    _ => break,
                }
            }
            (d.is_serving(), describe_state(d.state()))
        });
        if serving { noted(state) } else { failed("the device boots and serves SMP", state) }
    }

    // ------------------------------------------------------------------ checks

    async fn expect(&mut self, e: &ExpectStep) -> Outcome {
        let mut problems: Vec<(String, String)> = Vec::new();
        let mut unsupported = Vec::new();
        let view = self.with_sim(|d| {
            (
                d.is_serving(),
                describe_state(d.state()),
                d.running().map(|r| r.version),
                d.boot_count(),
                matches!(d.state(), RunState::Bricked(_)),
                d.console().to_string(),
            )
        });
        let (serving, state, running, boots, bricked, console) = match view {
            Some(v) => v,
            None => {
                let (serving, state, running) = self.remote_view().await;
                for (given, what) in [
                    (e.bricked.is_some(), "`bricked`"),
                    (e.boot_count.is_some(), "`boot_count`"),
                    (e.console.is_some(), "`console`"),
                ] {
                    if given {
                        unsupported.push(format!("{what} (it needs the in-process simulator)"));
                    }
                }
                (serving, state, running, 0u64, false, String::new())
            }
        };
        if let Some(m) = &e.console
            && self.sim.is_some()
            && let StepStatus::Failed { expected, actual } = check_text("console output", m, &console)
        {
            problems.push((expected, actual));
        }
        if let Some(want) = e.boots
            && want != serving
        {
            problems.push((
                if want { "the device boots" } else { "the device does not boot" }.into(),
                state.clone(),
            ));
        }
        if let Some(want) = e.bricked
            && self.sim.is_some()
            && want != bricked
        {
            problems.push((
                if want { "the device is bricked" } else { "the device is not bricked" }.into(),
                state.clone(),
            ));
        }
        if let Some(want) = &e.running_version {
            let ok = running.is_some_and(|v| want.allows(&v));
            if !ok {
                let wanted = want.0.iter().map(|v| v.0.to_string()).collect::<Vec<_>>().join(" or ");
                let actual = match running {
                    Some(v) => format!("{v} is running"),
                    None => state.clone(),
                };
                problems.push((format!("running version {wanted}"), actual));
            }
        }
        if let Some(want) = e.boot_count
            && self.sim.is_some()
        {
            // The power-on boot at the start counts (the device is built fresh for the scenario).
            let got = boots.saturating_sub(self.base_boots) + 1;
            if got != want {
                problems.push((format!("{want} boots since the scenario started"), format!("{got}")));
            }
        }
        if let Some(want) = &e.last_error {
            let ok = self.last_error.as_ref().is_some_and(|b| error_is(b, want));
            if !ok {
                let actual = match &self.last_error {
                    Some(b) => error_name(b),
                    None => "the last request succeeded".into(),
                };
                problems.push((format!("the last request failed with {want}"), actual));
            }
        }
        if !e.images.is_empty() {
            if !serving {
                problems.push(("an image list (the device serving SMP)".into(), state.clone()));
            } else {
                match self.client.image_state().await {
                    Ok(r) => {
                        if let StepStatus::Failed { expected, actual } =
                            self.check_rows(&e.images, false, &r.images)
                        {
                            problems.push((expected, actual));
                        }
                    }
                    Err(err) => problems.push(("the image list".into(), describe_client_error(&err))),
                }
            }
        }
        for f in &e.flash {
            match self.check_flash(f) {
                Ok(Some(p)) => problems.push(p),
                Ok(None) => {}
                Err(why) => unsupported.push(why),
            }
        }
        if e.images_intact.is_some() && self.sim.is_none() {
            unsupported.push("`images_intact` (it needs the in-process simulator)".to_string());
        }
        if let Some(want) = e.images_intact.filter(|_| self.sim.is_some()) {
            let missing = self.missing_images();
            match (want, missing.is_empty()) {
                (true, false) => problems.push((
                    "every image that was in a slot is still whole in one".into(),
                    format!("not found whole in any slot: {}", missing.join(", ")),
                )),
                (false, true) => problems.push((
                    "some image lost".into(),
                    format!("all {} images are whole in a slot", self.images.len()),
                )),
                _ => {}
            }
        }
        for c in &e.stats {
            let got = match self.with_sim(|d| {
                d.stats().group(&c.group).and_then(|g| g.fields.iter().find(|f| f.0 == c.name).map(|f| f.1))
            }) {
                Some(got) => got,
                None => match self.client.stat_show(&c.group).await {
                    Ok(r) => r.fields.iter().find(|f| f.0 == c.name).map(|f| f.1),
                    Err(err) => {
                        problems.push((format!("statistics group {}", c.group), describe_client_error(&err)));
                        continue;
                    }
                },
            };
            let what = format!("{}.{}", c.group, c.name);
            match (got, c.equals, c.at_least) {
                (None, _, _) => problems.push((format!("counter {what}"), "no such counter".into())),
                (Some(v), Some(eq), _) if v != eq => problems.push((format!("{what} = {eq}"), v.to_string())),
                (Some(v), _, Some(min)) if v < min => {
                    problems.push((format!("{what} >= {min}"), v.to_string()))
                }
                _ => {}
            }
        }
        for f in &e.files {
            if let Some(p) = self.check_file(f, serving, &state).await {
                problems.push(p);
            }
        }
        if !problems.is_empty() {
            let expected = problems.iter().map(|p| p.0.as_str()).collect::<Vec<_>>().join("; ");
            let actual = problems.iter().map(|p| p.1.as_str()).collect::<Vec<_>>().join("; ");
            return failed(expected, actual);
        }
        if !unsupported.is_empty() {
            unsupported.dedup();
            return skipped(format!("the other checks held; not checkable here: {}", unsupported.join(", ")));
        }
        passed()
    }

    /// What can be seen of a remote device over SMP: whether it answers, in words, and the
    /// version of image 0's active slot.
    async fn remote_view(&mut self) -> (bool, String, Option<mcuboot::image::ImageVersion>) {
        match tokio::time::timeout(REMOTE_VIEW, self.client.image_state()).await {
            Ok(Ok(r)) => {
                let active = active_row(&r.images);
                let version = active.and_then(|row| listed_version(&row.version));
                let state = match &version {
                    Some(v) => format!("running {v} (image 0)"),
                    None => "answering, with no active image 0".to_string(),
                };
                (true, state, version)
            }
            Ok(Err(e)) => (false, format!("not serving: {}", describe_client_error(&e)), None),
            Err(_) => (false, "not answering".to_string(), None),
        }
    }

    /// The images of [`Session::images`] no slot holds whole (at its start, or where uploads
    /// go in the secondary).
    fn missing_images(&self) -> Vec<String> {
        let Some(shared) = &self.sim else { return Vec::new() };
        shared.with(|d| {
            let algorithm = d.boot_config().algorithm;
            let mut areas = Vec::new();
            for slots in &d.map().images {
                for (area, is_secondary) in [(slots.primary, false), (slots.secondary, true)] {
                    if let Some(bytes) = d.flash().area_contents(area) {
                        let mut offs = vec![0usize];
                        if is_secondary {
                            offs.push(sim_device::device::upload_offset(d.map(), algorithm, area) as usize);
                        }
                        for off in offs {
                            areas.push(bytes.get(off..).unwrap_or_default().to_vec());
                        }
                    }
                }
            }
            self.images
                .iter()
                .filter(|(_, img)| !areas.iter().any(|a| a.starts_with(img)))
                .map(|(name, _)| name.clone())
                .collect()
        })
    }

    /// One `files:` entry, read with `fs download`.
    async fn check_file(
        &mut self,
        f: &crate::scenario::FileExpect,
        serving: bool,
        state: &str,
    ) -> Option<(String, String)> {
        if !serving {
            return Some((format!("file {} readable", f.path), state.to_string()));
        }
        let got = match self.client.fs_download(&f.path, MAX_DOWNLOAD).await {
            Ok(d) => Some(d),
            Err(ClientError::Device { error, .. })
                if error_name(&error).starts_with("FS_MGMT_ERR_FILE_NOT_FOUND") =>
            {
                None
            }
            Err(e) => return Some((format!("file {} readable", f.path), describe_client_error(&e))),
        };
        let Some(got) = got else {
            return (f.exists != Some(false))
                .then(|| (format!("file {} exists", f.path), "not found".into()));
        };
        if f.exists == Some(false) {
            return Some((format!("no file {}", f.path), format!("{} bytes", got.len())));
        }
        if let Some(c) = &f.contents
            && c.as_bytes() != got.as_slice()
        {
            return Some((format!("{} holds {c:?}", f.path), format!("{:?}", String::from_utf8_lossy(&got))));
        }
        if let Some(b) = &f.bytes
            && b.0 != got
        {
            return Some((format!("{} holds {}", f.path, hex::encode(&b.0)), hex::encode(&got)));
        }
        if let Some(h) = &f.sha256 {
            let digest = Sha256::digest(&got).to_vec();
            if digest != h.0 {
                return Some((format!("{} has SHA-256 {}", f.path, hex::encode(&h.0)), hex::encode(digest)));
            }
        }
        None
    }

    /// One `flash:` region. `Err`: a form the runner cannot check yet.
    fn check_flash(&self, f: &crate::scenario::FlashDigest) -> Result<Option<(String, String)>, String> {
        use crate::scenario::AreaName;
        use mcuboot::layout::AreaId;
        let not_here = || "flash regions (they need the in-process simulator)".to_string();
        let (bytes, what) = match f.area {
            Some(name) => {
                let image = f.image.unwrap_or(0);
                let id = match name {
                    AreaName::Primary => AreaId::Primary(image),
                    AreaName::Secondary => AreaId::Secondary(image),
                    AreaName::Scratch => AreaId::Scratch,
                };
                let bytes = self
                    .with_sim(|d| {
                        d.map().area(id).and_then(|a| d.flash().area_contents(a).map(<[u8]>::to_vec))
                    })
                    .ok_or_else(not_here)?;
                let Some(bytes) = bytes else {
                    return Ok(Some((
                        format!("flash area {name:?} of image {image}"),
                        "the layout has no such area".into(),
                    )));
                };
                (bytes, format!("{name:?} of image {image}").to_lowercase())
            }
            None => {
                // A raw region: `flash` (default 0), `offset`, `size` (validation requires them).
                let dev = f.flash.unwrap_or(0);
                let (offset, size) = (f.offset.map_or(0, |o| o.bytes), f.size.map_or(0, |s| s.bytes));
                let what = format!("flash {dev} bytes {offset:#x}..{:#x}", offset.saturating_add(size));
                let bytes = self
                    .with_sim(|d| {
                        let all = d.flash().contents(dev)?;
                        let start = usize::try_from(offset).ok()?;
                        let end = start.checked_add(usize::try_from(size).ok()?)?;
                        all.get(start..end).map(<[u8]>::to_vec)
                    })
                    .ok_or_else(not_here)?;
                let Some(bytes) = bytes else {
                    return Ok(Some((
                        format!("{what} on the device"),
                        "the region is not on the flash".into(),
                    )));
                };
                (bytes, what)
            }
        };
        if let Some(file) = &f.starts_with {
            let want = read_file(&self.scenario.resolve(file))
                .map_err(|_| format!("unreadable {}", file.display()))?;
            if !bytes.starts_with(&want) {
                let first = want.iter().zip(&bytes).position(|(a, b)| a != b).unwrap_or(bytes.len());
                return Ok(Some((
                    format!("{what} starts with {}", file.display()),
                    format!("it differs from byte {first:#x} on"),
                )));
            }
        }
        if let Some(want) = &f.sha256 {
            let got = Sha256::digest(&bytes).to_vec();
            if got != want.0 {
                return Ok(Some((format!("{what} has SHA-256 {}", hex::encode(&want.0)), hex::encode(got))));
            }
        }
        Ok(None)
    }

    /// Every expected row is in `rows` (and, with `exact`, nothing else is).
    fn check_rows(&self, want: &[ImageRow], exact: bool, rows: &[ImageSlotState]) -> Outcome {
        let mut problems = Vec::new();
        for row in want {
            let image = u32::from(row.image.unwrap_or(0));
            let Some(got) =
                rows.iter().find(|r| r.image.unwrap_or(0) == image && r.slot == u32::from(row.slot))
            else {
                problems.push(format!("no image in image {image} slot {}", row.slot));
                continue;
            };
            if let Some(v) = &row.version {
                let same = listed_version(&got.version).is_some_and(|g| g == v.0);
                if !same {
                    problems.push(format!("slot {} has version {}, not {}", row.slot, got.version, v.0));
                }
            }
            let hash = got.hash.clone().unwrap_or_default();
            if let Some(h) = &row.hash
                && !hash.starts_with(&h.0)
            {
                problems.push(format!(
                    "slot {} hash {} does not start with {}",
                    row.slot,
                    hex::encode(&hash),
                    hex::encode(&h.0)
                ));
            }
            if let Some(f) = &row.hash_of {
                match read_file(&self.scenario.resolve(f)).ok().and_then(|d| file_image_hash(&d)) {
                    Some(h) if h == hash => {}
                    Some(_) => problems.push(format!("slot {} does not hold {}", row.slot, f.display())),
                    None => problems.push(format!("{} is not an image with a SHA-256", f.display())),
                }
            }
            for (name, want, have) in flag_pairs(&row.flags, got) {
                if let Some(w) = want
                    && w != have
                {
                    problems.push(format!("slot {} {name} is {have}, not {w}", row.slot));
                }
            }
        }
        if exact && rows.len() != want.len() {
            problems.push(format!("{} rows listed, {} expected", rows.len(), want.len()));
        }
        if problems.is_empty() {
            return passed();
        }
        let expected = want.iter().map(row_text).collect::<Vec<_>>().join("\n");
        failed(expected, format!("{}\n({})", rows_text(rows), problems.join("; ")))
    }
}

/// Wait until the device loses power under a step; returns the flash op it was cut at.
async fn power_lost(shared: Option<&SharedDevice>) -> u64 {
    let Some(shared) = shared else { return std::future::pending().await };
    loop {
        tokio::time::sleep(POWER_POLL).await;
        if let Some(op) = shared.with(|d| lost_at(d.state())) {
            return op;
        }
    }
}

fn lost_at(state: &RunState) -> Option<u64> {
    match state {
        RunState::Off(OffReason::PowerLost { op }) => Some(*op),
        _ => None,
    }
}

/// A device state in words.
fn describe_state(state: &RunState) -> String {
    match state {
        RunState::Running(r) => format!("running {} (image {})", r.version, r.image),
        RunState::Hung { image, .. } => format!("hung in {} (the watchdog has not reset it)", image.version),
        RunState::Off(OffReason::PoweredOff) => "powered off".into(),
        RunState::Off(OffReason::PowerLost { op }) => format!("off: power lost at flash operation {op}"),
        RunState::Bricked(why) => format!("bricked: {why}"),
        RunState::Halted(why) => format!("bootloader halted: {why}"),
        other => format!("{other:?}"),
    }
}

/// True if the device's error reply is the named error.
fn error_is(body: &ErrorBody, want: &SmpErrorName) -> bool {
    match want.group() {
        Some(g) => body.err.is_some_and(|e| e.group == g && e.rc as i64 == want.code()),
        None => body.rc.is_some_and(|rc| rc.code() == want.code()),
    }
}

/// The C name of an error reply (`IMG_MGMT_ERR_…`), or its fields.
fn error_name(body: &ErrorBody) -> String {
    let named = SmpErrorName::all().into_iter().find(|n| error_is(body, n));
    match (named, &body.rsn) {
        (Some(n), Some(rsn)) => format!("{n} ({rsn})"),
        (Some(n), None) => n.to_string(),
        (None, _) => body.to_string(),
    }
}

fn describe_client_error(e: &ClientError) -> String {
    match e {
        ClientError::Device { command, error } => format!("{command} failed with {}", error_name(error)),
        other => other.to_string(),
    }
}

fn flag_pairs(f: &Flags, got: &ImageSlotState) -> [(&'static str, Option<bool>, bool); 5] {
    [
        ("active", f.active, got.active),
        ("confirmed", f.confirmed, got.confirmed),
        ("pending", f.pending, got.pending),
        ("permanent", f.permanent, got.permanent),
        ("bootable", f.bootable, got.bootable),
    ]
}

fn row_text(r: &ImageRow) -> String {
    let mut s = format!("image {} slot {}", r.image.unwrap_or(0), r.slot);
    if let Some(v) = &r.version {
        s.push_str(&format!(" version {}", v.0));
    }
    if let Some(h) = &r.hash {
        s.push_str(&format!(" hash {}…", hex::encode(&h.0)));
    }
    if let Some(f) = &r.hash_of {
        s.push_str(&format!(" holding {}", f.display()));
    }
    let flags: Vec<String> = [
        ("active", r.flags.active),
        ("confirmed", r.flags.confirmed),
        ("pending", r.flags.pending),
        ("permanent", r.flags.permanent),
        ("bootable", r.flags.bootable),
    ]
    .iter()
    .filter_map(|(n, v)| v.map(|v| if v { n.to_string() } else { format!("not {n}") }))
    .collect();
    if !flags.is_empty() {
        s.push_str(&format!(" [{}]", flags.join(", ")));
    }
    s
}

/// The image list as `image 0 slot 0 1.0.0 [active, confirmed] 3f2a1b0c…`, one per line.
fn rows_text(rows: &[ImageSlotState]) -> String {
    if rows.is_empty() {
        return "(no images)".into();
    }
    rows.iter()
        .map(|r| {
            let flags: Vec<&str> = [
                ("active", r.active),
                ("confirmed", r.confirmed),
                ("pending", r.pending),
                ("permanent", r.permanent),
            ]
            .iter()
            .filter(|(_, v)| *v)
            .map(|(n, _)| *n)
            .collect();
            let hash = r.hash.as_deref().map(|h| hex::encode(h.get(..4).unwrap_or(h))).unwrap_or_default();
            format!(
                "image {} slot {} {} [{}] {hash}…",
                r.image.unwrap_or(0),
                r.slot,
                r.version,
                flags.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn check_text(what: &str, m: &TextMatch, got: &str) -> Outcome {
    if let Some(eq) = &m.equals
        && eq != got
    {
        return failed(format!("{what} {eq:?}"), format!("{got:?}"));
    }
    for c in &m.contains {
        if !got.contains(c.as_str()) {
            return failed(format!("{what} containing {c:?}"), format!("{got:?}"));
        }
    }
    for c in &m.not_contains {
        if got.contains(c.as_str()) {
            return failed(format!("{what} not containing {c:?}"), format!("{got:?}"));
        }
    }
    if let Some(re) = &m.regex {
        match regex::Regex::new(re) {
            Ok(r) if r.is_match(got) => {}
            Ok(_) => return failed(format!("{what} matching /{re}/"), format!("{got:?}")),
            Err(e) => return failed("a valid regular expression", e.to_string()),
        }
    }
    passed()
}

fn setting_bytes(v: &SettingValue) -> &[u8] {
    match v {
        SettingValue::Text(t) => t.as_bytes(),
        SettingValue::Hex(h) => &h.0,
    }
}

fn describe_setting(v: &SettingValue) -> String {
    match v {
        SettingValue::Text(t) => format!("{t:?}"),
        SettingValue::Hex(h) => hex::encode(&h.0),
    }
}

/// A file the scenario names, bounded in size.
fn read_file(path: &Path) -> Result<Vec<u8>, Outcome> {
    let too_big =
        |len: u64| failed(format!("{} readable", path.display()), format!("{len} bytes is too large"));
    match std::fs::metadata(path) {
        Ok(m) if m.len() > crate::scenario::MAX_DEVICE_FILE => return Err(too_big(m.len())),
        Ok(_) => {}
        Err(e) => return Err(failed(format!("{} readable", path.display()), e.to_string())),
    }
    std::fs::read(path).map_err(|e| failed(format!("{} readable", path.display()), e.to_string()))
}

/// Image 0's active row of an image list: what the device runs.
pub fn active_row(rows: &[ImageSlotState]) -> Option<&ImageSlotState> {
    rows.iter().find(|r| r.image.unwrap_or(0) == 0 && r.active)
}

/// The SHA-256 TLV of an image file: the hash `image list` shows and `image test` takes.
pub fn file_image_hash(data: &[u8]) -> Option<Vec<u8>> {
    let header = mcuboot::image::ImageHeader::parse(data).ok()?;
    let tlvs = mcuboot::image::tlvs(&header, data).ok()?;
    tlvs.iter().find(|t| t.kind == mcuboot::image::TlvKind::Sha256 && !t.protected).map(|t| t.data.to_vec())
}

/// The version of an `image list` row. Zephyr writes the build number as a fourth dotted part
/// (`2.0.0.2`, and `2.0.0` when it is 0); imgtool's form is `2.0.0+2`. Both are read.
pub fn listed_version(text: &str) -> Option<mcuboot::image::ImageVersion> {
    if let Ok(v) = text.parse() {
        return Some(v);
    }
    let (head, build) = text.rsplit_once('.')?;
    if head.matches('.').count() != 2 {
        return None;
    }
    format!("{head}+{build}").parse().ok()
}

/// A 64-bit mix (splitmix64's finaliser) for deriving values from the seed.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Install one scenario hook on the device.
fn install_hook(hooks: &mut Hooks, hook: &Hook) {
    match hook {
        Hook::FileAccess(h) => {
            let verdict = match (&h.deny, &h.redirect) {
                (Some(e), _) => AccessVerdict::Deny(verdict(e)),
                (None, Some(to)) => AccessVerdict::Redirect(to.clone()),
                (None, None) => AccessVerdict::Allow,
            };
            hooks.file_access = Some(Hooks::file_access_for_prefix(h.prefix.clone(), verdict));
        }
        Hook::SettingsAccess(h) => {
            hooks.settings_access = Some(Hooks::settings_access_for_prefix(
                h.prefix.clone(),
                AccessVerdict::Deny(verdict(&h.deny)),
            ));
        }
        Hook::DenyReset(_) => hooks.reset = Some(Hooks::deny_reset_unless_forced()),
        Hook::RejectUpload(h) => {
            hooks.upload_chunk = Some(Hooks::reject_upload_from(h.from_offset.bytes, verdict(&h.error)))
        }
        Hook::InfoAppend(h) => hooks.os_info = Some(Hooks::append_info(h.text.clone())),
    }
}

/// The hook answer that refuses with the named error.
fn verdict(e: &SmpErrorName) -> Verdict {
    match e.group() {
        None => Verdict::Rc(smp::error::MgmtErr::from_code(e.code())),
        Some(g) => Verdict::Group { group: smp::header::Group::from_id(g), rc: e.code() as u64 },
    }
}

/// The images the device starts with, from its `device:` section (files that cannot be read
/// are left out; building the device would have failed on them).
fn initial_images(scenario: &Scenario, spec: &DeviceSpec) -> Vec<(String, Vec<u8>)> {
    let files = spec.primary.iter().chain(spec.secondary.iter()).chain(spec.images.iter().map(|i| &i.file));
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for f in files {
        if let Ok(bytes) = read_file(&scenario.resolve(f))
            && !out.iter().any(|(_, b)| *b == bytes)
        {
            out.push((f.display().to_string(), bytes));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_versions_read_zephyrs_build_number_form() {
        let parsed = |t: &str| t.parse::<mcuboot::image::ImageVersion>().ok();
        assert_eq!(listed_version("2.0.0.2"), parsed("2.0.0+2"));
        assert!(listed_version("2.0.0.2").is_some());
        assert_eq!(listed_version("2.0.0"), parsed("2.0.0"));
        assert_eq!(listed_version("1.2.3+4"), parsed("1.2.3+4"));
        assert_eq!(listed_version("1.2.3.4.5"), None);
        assert_eq!(listed_version("x.y"), None);
    }
}
