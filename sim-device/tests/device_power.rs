//! Power cuts during an upload chunk, during the `image test` trailer write and during the
//! swap at the next boot: the device must come back, boot, and answer.

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use sim_device::device::{Device, OffReason, RunState};
use sim_device::flash::{FaultKind, WriteTear};
use smp::cbor::Value;
use smp::groups::Body;
use smp::groups::image::{StateWriteRequest, UploadRequest};
use smp::header::{Group, Op, Version};

fn answers(dev: &mut Device) -> bool {
    let req = request(Version::V2, Op::Write, Group::Os, 0, 1, &Value::map([("d", Value::text("?"))]));
    dev.handle(&req).len() == 1
}

#[test]
fn power_cut_during_an_upload_chunk() {
    let v2i = image((2, 0, 0), 12_000, 2);
    let sha = mcuboot::image::HashAlg::Sha256.digest(&v2i);
    for kind in
        [FaultKind::CutBefore, FaultKind::CutAfter, FaultKind::TornWrite(WriteTear::Prefix { bytes: 100 })]
    {
        let mut dev = device("k64f", Algorithm::SwapScratch, image((1, 0, 0), 10_000, 1));
        // Cut at the third flash operation from now: a 512-byte block write mid-upload.
        dev.cut_power_at(3, kind);
        let mut off = 0usize;
        let mut cut = false;
        while off < v2i.len() {
            let end = (off + 300).min(v2i.len());
            let req = UploadRequest {
                image: None,
                len: (off == 0).then_some(v2i.len() as u64),
                off: off as u64,
                sha: (off == 0).then(|| sha.clone()),
                data: v2i[off..end].to_vec(),
                upgrade: None,
            };
            let replies = dev.handle(&request(Version::V2, Op::Write, Group::Image, 1, 1, &req.to_value()));
            if replies.is_empty() {
                cut = true;
                break;
            }
            off = decode(&replies[0]).1.get("off").and_then(Value::as_u64).unwrap() as usize;
        }
        assert!(cut, "{kind:?}: the cut never fired");
        assert!(matches!(dev.state(), RunState::Off(OffReason::PowerLost { .. })), "{:?}", dev.state());
        assert!(!answers(&mut dev));
        dev.power_on();
        assert_eq!(running_version(&dev), "1.0.0");
        assert!(answers(&mut dev));
        // The partial image is not listed; the upload starts over (the resume state was RAM).
        assert_eq!(flags(&mut dev).len(), 1);
        let last = upload(&mut dev, &v2i, 300);
        assert_eq!(last.get("match"), Some(&Value::Bool(true)));
        test_image(&mut dev, &image_hash(&v2i));
        reset(&mut dev);
        assert_eq!(running_version(&dev), "2.0.0", "{kind:?}");
    }
}

#[test]
fn power_cut_during_the_image_test_trailer_write() {
    let v1 = image((1, 0, 0), 10_000, 1);
    let v2i = image((2, 0, 0), 12_000, 2);
    let h2 = image_hash(&v2i);
    let mut table = String::new();
    for alg in [Algorithm::SwapScratch, Algorithm::SwapMove, Algorithm::SwapOffset, Algorithm::OverwriteOnly]
    {
        for n in 1..=3u64 {
            for kind in [
                FaultKind::CutBefore,
                FaultKind::CutAfter,
                FaultKind::TornWrite(WriteTear::Prefix { bytes: 4 }),
            ] {
                let mut dev = device("k64f", alg, v1.clone());
                upload(&mut dev, &v2i, 300);
                dev.cut_power_at(n, kind);
                let replies = dev.handle(&request(
                    Version::V2,
                    Op::Write,
                    Group::Image,
                    0,
                    1,
                    &StateWriteRequest::test(&h2).to_value(),
                ));
                let replied = !replies.is_empty();
                let cut_at_boot = if replied {
                    // The trailer write finished before the cut: it strikes during the swap.
                    reset(&mut dev);
                    true
                } else {
                    false
                };
                assert!(!dev.is_serving(), "{alg:?} op {n} {kind:?}: still running");
                dev.power_on();
                assert!(answers(&mut dev), "{alg:?} op {n} {kind:?}: {:?}", dev.state());
                let v = running_version(&dev);
                assert!(v == "1.0.0" || v == "2.0.0", "{v}");
                let listed: Vec<_> = flags(&mut dev)
                    .iter()
                    .map(|f| format!("{}:{}{}", f.0, f.1, if f.2 { "P" } else { "" }))
                    .collect();
                table.push_str(&format!(
                    "{alg:?} op {n} {kind:?}: replied {replied}, cut during boot {cut_at_boot}, runs {v}, slots {}\n",
                    listed.join(" ")
                ));
            }
        }
    }
    insta::assert_snapshot!("test_trailer_cuts", table);
}

#[test]
fn power_cut_during_the_swap_resumes_at_the_next_power_on() {
    let v1 = image((1, 0, 0), 10_000, 1);
    let v2i = image((2, 0, 0), 12_000, 2);
    let h2 = image_hash(&v2i);
    for alg in [Algorithm::SwapScratch, Algorithm::SwapMove, Algorithm::SwapOffset, Algorithm::OverwriteOnly]
    {
        for n in [1u64, 2, 5, 9, 17, 30] {
            let mut dev = device("k64f", alg, v1.clone());
            upload(&mut dev, &v2i, 300);
            test_image(&mut dev, &h2);
            dev.cut_power_at(n, FaultKind::TornWrite(WriteTear::Prefix { bytes: 3 }));
            reset(&mut dev);
            if dev.is_serving() {
                // The swap took fewer operations than n.
                continue;
            }
            dev.power_on();
            assert_eq!(running_version(&dev), "2.0.0", "{alg:?} cut at op {n}");
            assert!(answers(&mut dev));
        }
    }
}
