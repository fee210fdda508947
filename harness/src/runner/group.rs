//! Group updates: several devices updated as one, all or nothing (like RDFM's device groups).
//!
//! The coordinator works in phases, and moves to the next only when every member finished the
//! one before:
//!
//! 1. **upload** the new image to every member's secondary slot (not yet marked: until every
//!    member has it, a member can still drop it by erasing the slot);
//! 2. **swap**: mark it for test and reset every member; MCUboot swaps;
//! 3. **boot**: every member must come back running the new image (in test);
//! 4. **confirm** it on every member.
//!
//! A member that fails a phase (power lost, the upload refused, no answer, the new image
//! crashing, or running something else than expected) makes the whole group **roll back**:
//! every member that runs the new image confirms its old image (now in the secondary slot, by
//! hash) and resets, so MCUboot swaps the old image back permanently; members whose upload did
//! not finish get their secondary slot erased. At the end every member must run the new image,
//! confirmed (`committed`) or its old one, confirmed (`rolled-back`), as the step expects.
//!
//! Failures are injected per member and phase with the same machinery single-device steps use
//! (`power_loss`, `hook: reject_upload`, `transport_fault: drop`, a crashing behaviour for the
//! new image), so they behave exactly as they do in a one-device scenario.

use std::fmt::Write as _;

use sim_device::device::behaviour::{FirmwareBehaviour, ImageMatch};

use crate::scenario::{
    CutKind, EraseStep, GroupFailure, GroupFailureKind, GroupOutcome, GroupPhase, GroupStep, Hook,
    ImageConfirmStep, ImageTestStep, Percent, Phase, PowerLossStep, RejectUploadHook, ResetStep, Scenario,
    Size, SmpErrorName, Step, TransportFaultKind, TransportFaultStep, UploadStep, WaitBootStep,
};

use super::report::StepStatus;
use super::steps::{Session, active_row, file_image_hash, mix};

/// What one member went through.
struct Member {
    /// Index into the sessions.
    session: usize,
    name: String,
    /// Hash and version of the image it ran before the update.
    old_hash: Vec<u8>,
    old_version: String,
    /// The update for this member.
    new_hash: Vec<u8>,
    new_version: String,
    /// Its secondary slot holds the whole update.
    uploaded: bool,
    /// What went wrong, if anything.
    failed: Option<String>,
}

/// Run a `group` step over `sessions` (the scenario's devices, by name).
pub async fn run(
    scenario: &Scenario,
    sessions: &mut [Session<'_>],
    g: &GroupStep,
    line: u64,
    seed: u64,
) -> StepStatus {
    let mut members = Vec::new();
    for name in &g.members {
        let Some(i) = sessions.iter().position(|s| s.name() == Some(name.as_str())) else {
            return failed(format!("a device named `{name}`"), "none in `devices:`");
        };
        let file = g.images.get(name).unwrap_or(&g.image);
        let data = match std::fs::read(scenario.resolve(file)) {
            Ok(d) => d,
            Err(e) => return failed(format!("{} readable", file.display()), e.to_string()),
        };
        let Some(new_hash) = file_image_hash(&data) else {
            return failed(
                format!("{} to be an MCUboot image with a SHA-256", file.display()),
                "no SHA-256 TLV",
            );
        };
        let new_version =
            mcuboot::image::ImageHeader::parse(&data).map(|h| h.version.to_string()).unwrap_or_default();
        let rows = match sessions[i].image_rows().await {
            Ok(r) => r,
            Err(e) => return failed(format!("member `{name}` lists its images"), e),
        };
        let Some(active) = active_row(&rows) else {
            return failed(format!("member `{name}` runs an image"), "no active image 0");
        };
        members.push(Member {
            session: i,
            name: name.clone(),
            old_hash: active.hash.clone().unwrap_or_default(),
            old_version: active.version.clone(),
            new_hash,
            new_version,
            uploaded: false,
            failed: None,
        });
    }
    let mut log = String::new();
    let failure = |m: &Member, phase: GroupPhase| -> Option<&GroupFailure> {
        g.failures.iter().find(|f| f.member == m.name && f.phase == phase)
    };

    // Phase 1: upload.
    for m in &mut members {
        let s = &mut sessions[m.session];
        let injected = failure(m, GroupPhase::Upload);
        if let Some(f) = injected {
            let arm = match f.kind {
                GroupFailureKind::PowerLoss => Step::PowerLoss(PowerLossStep {
                    during: Phase::Upload,
                    at: f.at.or(Percent::new(50.0)),
                    offset: None,
                    op: None,
                    kind: CutKind::Before,
                    tear: None,
                }),
                GroupFailureKind::Reject => match "MGMT_ERR_EACCESSDENIED".parse::<SmpErrorName>() {
                    Ok(error) => Step::Hook(Hook::RejectUpload(RejectUploadHook {
                        from_offset: Size { bytes: 0 },
                        error,
                    })),
                    Err(e) => return failed("an error name", e),
                },
                GroupFailureKind::Disconnect => drop_every_reply(),
                GroupFailureKind::Crash => return failed("a failure possible while uploading", "crash"),
            };
            if let bad @ StepStatus::Failed { .. } = s.run(&arm, line).await {
                return bad;
            }
        }
        let file = g.images.get(&m.name).unwrap_or(&g.image).clone();
        let cuts = s.cuts_struck();
        let upload = Step::Upload(UploadStep {
            image: file,
            image_number: None,
            chunk_size: None,
            window: None,
            upgrade: false,
            resume: false,
            disconnect_at: None,
            then: None,
            timeout: Some(crate::scenario::Duration { ms: 1500 }),
            expect_error: None,
        });
        let out = s.run(&upload, line).await;
        match (&out, s.cuts_struck() > cuts) {
            (StepStatus::Passed { .. }, false) => m.uploaded = true,
            (StepStatus::Passed { .. }, true) => m.failed = Some("lost power during the upload".into()),
            (StepStatus::Failed { actual, .. }, _) => m.failed = Some(format!("upload failed: {actual}")),
            (other, _) => m.failed = Some(format!("upload: {other:?}")),
        }
        let _ = writeln!(log, "{}: upload {}", m.name, m.failed.as_deref().unwrap_or("done"));
    }

    // Phases 2 and 3: test, reset, boot.
    if members.iter().all(|m| m.failed.is_none()) {
        for m in &mut members {
            let s = &mut sessions[m.session];
            if let Some(f) = failure(m, GroupPhase::Swap).or(failure(m, GroupPhase::Boot)) {
                let armed = match f.kind {
                    GroupFailureKind::PowerLoss => {
                        let during = if f.phase == GroupPhase::Swap { Phase::Swap } else { Phase::Boot };
                        // A cut early in the phase, at an operation drawn from the seed.
                        let op = 3 + mix(seed ^ m.session as u64) % 16;
                        s.run(
                            &Step::PowerLoss(PowerLossStep {
                                during,
                                at: None,
                                offset: None,
                                op: Some(op),
                                kind: CutKind::Before,
                                tear: None,
                            }),
                            line,
                        )
                        .await
                    }
                    GroupFailureKind::Crash => {
                        let hash = m.new_hash.clone();
                        match s.sim() {
                            Some(shared) => {
                                shared.with(|d| {
                                    d.behaviours_mut()
                                        .rules
                                        .insert(0, (ImageMatch::Hash(hash), FirmwareBehaviour::CrashAtBoot));
                                });
                                passed()
                            }
                            None => failed("a member on the in-process simulator", "a remote device"),
                        }
                    }
                    _ => passed(),
                };
                if let bad @ StepStatus::Failed { .. } = armed {
                    return bad;
                }
            }
            let test = Step::ImageTest(ImageTestStep {
                image: None,
                slot: None,
                hash: Some(crate::scenario::Hex(m.new_hash.clone())),
                hash_of: None,
                expect_error: None,
            });
            if let StepStatus::Failed { actual, .. } = s.run(&test, line).await {
                m.failed = Some(format!("marking the update for test failed: {actual}"));
                continue;
            }
            let cuts = s.cuts_struck();
            if let StepStatus::Failed { actual, .. } = s.run(&Step::Reset(ResetStep::default()), line).await {
                m.failed = Some(format!("reset failed: {actual}"));
                continue;
            }
            let booted = s.run(&Step::WaitBoot(WaitBootStep::default()), line).await;
            if s.cuts_struck() > cuts {
                m.failed = Some("lost power during the swap".into());
                let _ = writeln!(log, "{}: lost power during the swap", m.name);
                continue;
            }
            if let StepStatus::Failed { actual, .. } = booted {
                m.failed = Some(format!("did not come back: {actual}"));
                continue;
            }
            match s.image_rows().await.map(|r| active_row(&r).cloned()) {
                Ok(Some(row)) if row.hash.as_deref() == Some(m.new_hash.as_slice()) => {
                    let _ = writeln!(log, "{}: booted {} (test)", m.name, row.version);
                }
                Ok(Some(row)) => {
                    m.failed = Some(format!("boots {} instead of {}", row.version, m.new_version));
                }
                Ok(None) => m.failed = Some("runs no image".into()),
                Err(e) => m.failed = Some(format!("does not list its images: {e}")),
            }
            if let Some(f) = &m.failed {
                let _ = writeln!(log, "{}: {f}", m.name);
            }
        }
    }

    // Phase 4: confirm.
    if members.iter().all(|m| m.failed.is_none()) {
        for m in &mut members {
            let s = &mut sessions[m.session];
            if let Some(f) = failure(m, GroupPhase::Confirm) {
                let arm = match f.kind {
                    GroupFailureKind::PowerLoss => Step::PowerLoss(PowerLossStep {
                        during: Phase::TrailerWrite,
                        at: None,
                        offset: None,
                        op: Some(1),
                        kind: CutKind::Before,
                        tear: None,
                    }),
                    _ => drop_every_reply(),
                };
                if let bad @ StepStatus::Failed { .. } = s.run(&arm, line).await {
                    return bad;
                }
            }
            let cuts = s.cuts_struck();
            let out = s.run(&Step::ImageConfirm(ImageConfirmStep::default()), line).await;
            m.failed = match (&out, s.cuts_struck() > cuts) {
                (_, true) => Some("lost power while confirming".into()),
                (StepStatus::Failed { actual, .. }, _) => Some(format!("confirm failed: {actual}")),
                _ => None,
            };
            let _ = writeln!(log, "{}: confirm {}", m.name, m.failed.as_deref().unwrap_or("done"));
        }
    }

    let committed = members.iter().all(|m| m.failed.is_none());
    if !committed {
        let _ = writeln!(log, "rolling back every member");
        for m in &members {
            if let Err(e) = roll_back(&mut sessions[m.session], m, line).await {
                return failed(format!("member `{}` rolls back to {}", m.name, m.old_version), e);
            }
        }
    }

    // Where every member ended.
    let mut ended = Vec::new();
    for m in &members {
        let row = sessions[m.session].image_rows().await.ok().and_then(|r| active_row(&r).cloned());
        ended.push((m, row));
    }
    let want = g.expect;
    let mut wrong = Vec::new();
    for (m, row) in &ended {
        let hash = match want {
            GroupOutcome::Committed => &m.new_hash,
            GroupOutcome::RolledBack => &m.old_hash,
        };
        match row {
            Some(r) if r.hash.as_deref() == Some(hash.as_slice()) && r.confirmed => {}
            Some(r) => wrong.push(format!(
                "{} runs {}{}",
                m.name,
                r.version,
                if r.confirmed { "" } else { " (not confirmed)" }
            )),
            None => wrong.push(format!("{} runs nothing", m.name)),
        }
    }
    let outcome = if committed { GroupOutcome::Committed } else { GroupOutcome::RolledBack };
    if outcome != want || !wrong.is_empty() {
        let why: Vec<String> =
            members.iter().filter_map(|m| m.failed.as_ref().map(|f| format!("{}: {f}", m.name))).collect();
        return failed(
            format!(
                "the group {} (every member running {} image, confirmed)",
                crate::runner::kebab(&want),
                if want == GroupOutcome::Committed { "the new" } else { "its old" }
            ),
            format!(
                "it {}{}{}\n{}",
                crate::runner::kebab(&outcome),
                if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) },
                if wrong.is_empty() { String::new() } else { format!("; {}", wrong.join(", ")) },
                log.trim_end()
            ),
        );
    }
    let failures: Vec<String> =
        members.iter().filter_map(|m| m.failed.as_ref().map(|f| format!("{}: {f}", m.name))).collect();
    StepStatus::Passed {
        note: Some(match outcome {
            GroupOutcome::Committed => format!("{} members committed", members.len()),
            GroupOutcome::RolledBack => {
                format!("{} members rolled back after {}", members.len(), failures.join("; "))
            }
        }),
    }
}

/// Bring one member back to its old image, confirmed.
async fn roll_back(s: &mut Session<'_>, m: &Member, line: u64) -> Result<(), String> {
    // Whatever was injected is over: the power and the connection are back, hooks removed.
    let _ = s.run(&Step::ClearTransportFaults(Default::default()), line).await;
    let _ = s.run(&Step::ClearHooks(Default::default()), line).await;
    if s.is_off() {
        check(s.run(&Step::PowerOn(Default::default()), line).await, "power on")?;
    }
    check(s.run(&wait_for_member(), line).await, "boot")?;
    let rows = s.image_rows().await?;
    let Some(active) = active_row(&rows) else { return Err("no active image".into()) };
    if active.hash.as_deref() == Some(m.old_hash.as_slice()) {
        if !active.confirmed {
            check(s.run(&Step::ImageConfirm(ImageConfirmStep::default()), line).await, "confirm")?;
        }
        // Drop a partial or unused update (a pending one cannot be erased, and is not there:
        // the update is only marked after every member has it).
        if !m.uploaded
            || rows
                .iter()
                .any(|r| r.slot == 1 && r.hash.as_deref() == Some(m.new_hash.as_slice()) && !r.pending)
        {
            let _ = s.run(&Step::Erase(EraseStep::default()), line).await;
        }
        return Ok(());
    }
    // Running the new image: make the old one (now in the secondary slot) permanent and reset,
    // so MCUboot swaps it back for good.
    let confirm_old = Step::ImageConfirm(ImageConfirmStep {
        hash: Some(crate::scenario::Hex(m.old_hash.clone())),
        hash_of: None,
        expect_error: None,
    });
    check(s.run(&confirm_old, line).await, "confirm the old image")?;
    check(s.run(&Step::Reset(ResetStep::default()), line).await, "reset")?;
    check(s.run(&wait_for_member(), line).await, "boot")?;
    Ok(())
}

/// The member stops answering: every reply is lost.
fn drop_every_reply() -> Step {
    Step::TransportFault(TransportFaultStep {
        kind: TransportFaultKind::Drop,
        delay: None,
        probability: Percent::new(100.0),
        nth: None,
        every: None,
        seed: None,
    })
}

/// Wait for a member to boot during a rollback (a swap back can be slow on a board).
fn wait_for_member() -> Step {
    Step::WaitBoot(WaitBootStep { timeout: Some(crate::scenario::Duration { ms: 60_000 }) })
}

fn check(out: StepStatus, what: &str) -> Result<(), String> {
    match out {
        StepStatus::Failed { expected, actual } => Err(format!("{what}: expected {expected}, got {actual}")),
        _ => Ok(()),
    }
}

fn passed() -> StepStatus {
    StepStatus::Passed { note: None }
}

fn failed(expected: impl Into<String>, actual: impl Into<String>) -> StepStatus {
    StepStatus::Failed { expected: expected.into(), actual: actual.into() }
}
