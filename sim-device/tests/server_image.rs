//! Every image group command and error path, v1 and v2 (`smp-protocol.md` §5).

mod device_support;

use device_support::*;
use mcuboot::boot::Algorithm;
use sim_device::device::DeviceConfig;
use sim_device::server::hooks::DfuEvent;
use sim_device::server::{Hooks, ServerConfig, Verdict};
use smp::cbor::Value;
use smp::error::MgmtErr;
use smp::groups::Body;
use smp::groups::image::{StateWriteRequest, UploadRequest};
use smp::header::{Group, Op, Version};

fn up(off: u64, data: &[u8]) -> UploadRequest {
    UploadRequest { image: None, len: None, off, sha: None, data: data.to_vec(), upgrade: None }
}

fn first(img: &[u8], n: usize) -> UploadRequest {
    UploadRequest {
        image: Some(0),
        len: Some(img.len() as u64),
        off: 0,
        sha: Some(mcuboot::image::HashAlg::Sha256.digest(img)),
        data: img[..n].to_vec(),
        upgrade: None,
    }
}

fn off_of(v: &Value) -> u64 {
    v.get("off").and_then(Value::as_u64).unwrap_or_else(|| panic!("no off in {v}"))
}

fn err_rc(v: &Value) -> Option<u64> {
    v.get("err").and_then(|e| e.get("rc")).and_then(Value::as_u64)
}

#[test]
fn state_read_one_and_two_images_and_slot_info() {
    let mut dev = small_device();
    let mut s = String::from("=== state read, one image\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Image, 0, &Value::empty_map()));
    upload(&mut dev, &image((1, 1, 0), 3000, 2), 200);
    s.push_str("=== state read after upload of 1.1.0\n");
    s.push_str(&exchange(&mut dev, &request(Version::V2, Op::Read, Group::Image, 0, 1, &Value::empty_map())));
    s.push_str("=== slot info\n");
    s.push_str(&exchange_both(&mut dev, Op::Read, Group::Image, 6, &Value::empty_map()));
    insta::assert_snapshot!("state_read", s);
}

#[test]
fn two_image_layout_lists_the_image_key() {
    let mut dev = DeviceConfig::preset("k64f-multi")
        .unwrap()
        .keys(vec![key().public().clone()])
        .image(0, 0, image((1, 0, 0), 3000, 1))
        .image(1, 0, image((5, 0, 0), 3000, 5))
        .image(1, 1, image((5, 1, 0), 3000, 6))
        .build()
        .unwrap();
    let st = state(&mut dev);
    let got: Vec<_> = st.images.iter().map(|i| (i.image, i.slot, i.version.clone(), i.active)).collect();
    assert_eq!(
        got,
        vec![
            (Some(0), 0, "1.0.0".into(), true),
            (Some(1), 0, "5.0.0".into(), true),
            (Some(1), 1, "5.1.0".into(), false)
        ]
    );
    let si = v2(&mut dev, Op::Read, Group::Image, 6, Value::empty_map());
    insta::assert_snapshot!("slot_info_two_images", format!("{si}"));
    // Confirming image 1's secondary (not the running image) is allowed by default...
    let h = state(&mut dev).images[2].hash.clone().unwrap();
    let r = confirm_image(&mut dev, Some(&h));
    assert!(r.get("err").is_none(), "{r}");
    // ...its primary is not (IMAGE_CONFIRMATION_DENIED).
    let h1 = state(&mut dev).images[1].hash.clone().unwrap();
    assert_eq!(err_rc(&confirm_image(&mut dev, Some(&h1))), Some(32));
}

#[test]
fn state_write_rules() {
    let v1 = image((1, 0, 0), 3000, 1);
    let v2i = image((2, 0, 0), 3000, 2);
    let (h1, h2) = (image_hash(&v1), image_hash(&v2i));
    let mut dev = device("k64f", Algorithm::SwapScratch, v1);
    let mut s = String::new();
    let mut case = |dev: &mut sim_device::device::Device, what: &str, body: Value| {
        s.push_str(&format!("=== {what}\n"));
        s.push_str(&exchange_both(dev, Op::Write, Group::Image, 0, &body));
    };
    case(&mut dev, "no hash, no confirm: INVALID_HASH", Value::empty_map());
    case(&mut dev, "hash of 31 bytes: INVALID_HASH", StateWriteRequest::test(&[1; 31]).to_value());
    case(&mut dev, "text hash: EINVAL", Value::map([("hash", Value::text(hex(&h1).replace(' ', "")))]));
    case(&mut dev, "unknown hash: HASH_NOT_FOUND", StateWriteRequest::test(&[9; 32]).to_value());
    case(&mut dev, "test the active slot: TEST_TO_ACTIVE_DENIED", StateWriteRequest::test(&h1).to_value());
    case(&mut dev, "confirm running (no hash): no-op", StateWriteRequest::confirm(None).to_value());
    upload(&mut dev, &v2i, 250);
    case(&mut dev, "test 2.0.0", StateWriteRequest::test(&h2).to_value());
    case(&mut dev, "test 2.0.0 again: no-op", StateWriteRequest::test(&h2).to_value());
    case(
        &mut dev,
        "confirm 2.0.0 while its test is pending: ALREADY_PENDING",
        StateWriteRequest::confirm(Some(&h2)).to_value(),
    );
    case(
        &mut dev,
        "confirm running while a test is pending: ALREADY_PENDING",
        StateWriteRequest::confirm(None).to_value(),
    );
    insta::assert_snapshot!("state_write_rules", s);
}

#[test]
fn state_write_permanent_and_revert_states() {
    let v1 = image((1, 0, 0), 3000, 1);
    let v2i = image((2, 0, 0), 3000, 2);
    let (h1, h2) = (image_hash(&v1), image_hash(&v2i));
    let mut dev = device("k64f", Algorithm::SwapMove, v1);
    upload(&mut dev, &v2i, 250);
    // PERM: confirm of the pending slot again is a no-op; test of it or anything on the
    // active slot is ALREADY_PENDING.
    assert!(confirm_image(&mut dev, Some(&h2)).get("images").is_some());
    assert_eq!(flags(&mut dev)[1], (1, "2.0.0".into(), true, false, false, true));
    assert!(confirm_image(&mut dev, Some(&h2)).get("images").is_some());
    assert_eq!(err_rc(&test_image(&mut dev, &h2)), Some(28));
    assert_eq!(err_rc(&confirm_image(&mut dev, None)), Some(28));
    // v1 gets the translation: EBADSTATE.
    let r = call(&mut dev, Version::V1, Op::Write, Group::Image, 0, &StateWriteRequest::test(&h2).to_value());
    assert_eq!(r, Value::map([("rc", Value::from(6u8))]));
    // Permanent swap: new image runs confirmed, old one has no flags.
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    assert_eq!(
        flags(&mut dev),
        vec![(0, "2.0.0".into(), false, true, true, false), (1, "1.0.0".into(), false, false, false, false)]
    );

    // REVERT state: running an unconfirmed test image.
    let v3 = image((3, 0, 0), 3000, 3);
    let h3 = image_hash(&v3);
    upload(&mut dev, &v3, 250);
    test_image(&mut dev, &h3);
    reset(&mut dev);
    assert_eq!(running_version(&dev), "3.0.0");
    let h2_now = state(&mut dev).images[1].hash.clone().unwrap();
    assert_eq!(h2_now, h2);
    // Any test → ALREADY_PENDING; confirm of the revert target → no-op; confirm of the
    // running image → confirmed.
    assert_eq!(err_rc(&test_image(&mut dev, &h2)), Some(28));
    assert!(confirm_image(&mut dev, Some(&h2)).get("images").is_some());
    assert_eq!(flags(&mut dev)[0], (0, "3.0.0".into(), false, false, true, false));
    let r = confirm_image(&mut dev, Some(&h3));
    assert_eq!(flags(&mut dev)[0], (0, "3.0.0".into(), false, true, true, false), "{r}");
    let _ = h1;
}

#[test]
fn upload_first_chunk_errors() {
    let mut dev = small_device();
    let img = image((2, 0, 0), 3000, 2);
    let mut s = String::new();
    let mut case = |dev: &mut sim_device::device::Device, what: &str, body: Value| {
        s.push_str(&format!("=== {what}\n"));
        s.push_str(&exchange_both(dev, Op::Write, Group::Image, 1, &body));
    };
    case(&mut dev, "no off: INVALID_OFFSET", Value::map([("data", Value::bytes(img[..64].to_vec()))]));
    case(&mut dev, "first chunk of 31 bytes: INVALID_IMAGE_HEADER", first(&img, 31).to_value());
    let mut no_len = first(&img, 64);
    no_len.len = None;
    case(&mut dev, "no len: INVALID_LENGTH", no_len.to_value());
    let mut bad = img.clone();
    bad[0] ^= 1;
    case(&mut dev, "bad magic: INVALID_IMAGE_HEADER_MAGIC", first(&bad, 64).to_value());
    let mut long_sha = first(&img, 64);
    long_sha.sha = Some(vec![1; 33]);
    case(&mut dev, "sha of 33 bytes: INVALID_HASH", long_sha.to_value());
    let mut huge = first(&img, 64);
    huge.len = Some(0x20001);
    case(&mut dev, "len larger than the slot: INVALID_IMAGE_TOO_LARGE", huge.to_value());
    let mut older = first(&image((0, 9, 0), 3000, 3), 64);
    older.upgrade = Some(true);
    case(&mut dev, "upgrade with an older version: CURRENT_VERSION_IS_NEWER", older.to_value());
    let mut same = first(&image((1, 0, 0), 3000, 4), 64);
    same.upgrade = Some(true);
    case(&mut dev, "upgrade with the same version: CURRENT_VERSION_IS_NEWER", same.to_value());
    let mut overrun = first(&img, 64);
    overrun.len = Some(40);
    case(&mut dev, "chunk past len: INVALID_IMAGE_DATA_OVERRUN", overrun.to_value());
    case(&mut dev, "off 100 with no upload: answered off 0", up(100, &img[100..200]).to_value());
    insta::assert_snapshot!("upload_errors", s);
    // A newer version with upgrade: true is fine.
    let mut newer = first(&img, 64);
    newer.upgrade = Some(true);
    assert_eq!(off_of(&v2(&mut dev, Op::Write, Group::Image, 1, newer.to_value())), 64);
}

#[test]
fn upload_resync_resume_and_completion() {
    let mut dev = small_device();
    let img = image((2, 0, 0), 3000, 2);
    let mut s = String::new();
    let mut step = |dev: &mut sim_device::device::Device, what: &str, body: Value| {
        s.push_str(&format!("=== {what}\n"));
        s.push_str(&exchange(dev, &request(Version::V2, Op::Write, Group::Image, 1, 1, &body)));
    };
    step(&mut dev, "first chunk", first(&img, 200).to_value());
    step(
        &mut dev,
        "chunk at a wrong offset: data dropped, expected offset back",
        up(400, &img[400..600]).to_value(),
    );
    step(
        &mut dev,
        "resume: the same first chunk (same sha) answers the current offset",
        first(&img, 200).to_value(),
    );
    step(&mut dev, "continue", up(200, &img[200..400]).to_value());
    insta::assert_snapshot!("upload_resync", s);
    // Finish from the offset the device says.
    let mut off = 400usize;
    let mut last = Value::Null;
    while off < img.len() {
        let end = (off + 250).min(img.len());
        last = v2(&mut dev, Op::Write, Group::Image, 1, up(off as u64, &img[off..end]).to_value());
        off = off_of(&last) as usize;
    }
    assert_eq!(last, Value::map([("off", Value::from(img.len() as u64)), ("match", Value::Bool(true))]));
    // The final chunk sent again: no upload any more, expected offset 0.
    let tail = img.len() - 100;
    let again = v2(&mut dev, Op::Write, Group::Image, 1, up(tail as u64, &img[tail..]).to_value());
    assert_eq!(again, Value::map([("off", Value::from(0u8))]));
    // The same image again completes at once: it is already in the slot.
    let r = v2(&mut dev, Op::Write, Group::Image, 1, first(&img, 200).to_value());
    assert_eq!(r, Value::map([("off", Value::from(img.len() as u64)), ("match", Value::Bool(true))]));
    assert_eq!(flags(&mut dev)[1].1, "2.0.0");
}

#[test]
fn a_different_sha_starts_over_and_a_group_error_ends_the_upload() {
    let mut dev = small_device();
    let img = image((2, 0, 0), 3000, 2);
    assert_eq!(off_of(&v2(&mut dev, Op::Write, Group::Image, 1, first(&img, 200).to_value())), 200);
    let other = image((2, 1, 0), 3000, 7);
    let mut short = first(&other, 100);
    short.len = Some(350);
    assert_eq!(off_of(&v2(&mut dev, Op::Write, Group::Image, 1, short.to_value())), 100);
    assert_eq!(off_of(&v2(&mut dev, Op::Write, Group::Image, 1, up(100, &other[100..300]).to_value())), 300);
    // An overrun ends it: the next chunk is answered off 0.
    let r = v2(&mut dev, Op::Write, Group::Image, 1, up(300, &other[300..500]).to_value());
    assert_eq!(err_rc(&r), Some(31));
    assert_eq!(off_of(&v2(&mut dev, Op::Write, Group::Image, 1, up(300, &other[300..400]).to_value())), 0);
}

#[test]
fn progressive_erase_and_truncated_sha_match() {
    let mut server = ServerConfig::default();
    server.image.progressive_erase = true;
    let mut dev =
        config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 3000, 1)).server(server).build().unwrap();
    // Fill the secondary with junk first, so every sector needs erasing.
    let sec = dev.map().images[0].secondary;
    dev.flash_mut().load(sec.device, sec.offset, &vec![0x55; sec.size as usize]).unwrap();
    let img = image((2, 0, 0), 9000, 2);
    let ops = dev.flash().ops();
    let mut req = first(&img, 200);
    req.sha = req.sha.map(|s| s[..8].to_vec());
    v2(&mut dev, Op::Write, Group::Image, 1, req.to_value());
    // Nothing was erased yet: the data is still in the write buffer.
    assert_eq!(dev.flash().ops(), ops);
    let mut off = 200;
    let mut last = Value::Null;
    while off < img.len() {
        let end = (off + 250).min(img.len());
        last = v2(&mut dev, Op::Write, Group::Image, 1, up(off as u64, &img[off..end]).to_value());
        off = off_of(&last) as usize;
    }
    assert_eq!(last.get("match"), Some(&Value::Bool(true)));
    assert_eq!(flags(&mut dev)[1].1, "2.0.0");
    // Only the 3 sectors holding the image and the trailer sector were erased.
    let erases = dev.flash().counters(0).unwrap().iter().map(|c| c.erases).sum::<u64>();
    assert_eq!(erases, 4);
}

#[test]
fn upload_hook_rejects_and_dfu_events_are_reported() {
    let mut dev = small_device();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = events.clone();
    dev.hooks_mut().dfu = Some(Box::new(move |e| log.lock().unwrap().push(e)));
    dev.hooks_mut().upload_chunk =
        Some(Hooks::reject_upload_from(1000, Verdict::Group { group: Group::Image, rc: 1 }));
    let img = image((2, 0, 0), 3000, 2);
    let mut off = 0;
    let mut last = Value::Null;
    for _ in 0..20 {
        let req = if off == 0 { first(&img, 250) } else { up(off as u64, &img[off..off + 250]) };
        last = v2(&mut dev, Op::Write, Group::Image, 1, req.to_value());
        if last.get("err").is_some() {
            break;
        }
        off = off_of(&last) as usize;
    }
    assert_eq!(err_rc(&last), Some(1));
    assert_eq!(off, 1000);
    // A group error from the hook is Zephyr's MGMT_CB_ERROR_ERR: the error, then the good
    // reply's `off`, and the upload is kept: once the hook allows it, the client goes on.
    assert_eq!(off_of(&last), 1000);
    dev.hooks_mut().upload_chunk = None;
    let next = v2(&mut dev, Op::Write, Group::Image, 1, up(1000, &img[1000..1250]).to_value());
    assert_eq!(next, Value::map([("off", Value::from(1250u16))]));
    assert_eq!(events.lock().unwrap()[..1], [DfuEvent::Started { image: 0, len: img.len() as u64 }]);
    assert!(!events.lock().unwrap().contains(&DfuEvent::Stopped));

    // A generic rc from the hook (MGMT_CB_ERROR_RC) is `{"rc": N}`, and the upload is forgotten.
    dev.hooks_mut().upload_chunk = Some(Hooks::reject_upload_from(1500, Verdict::Rc(MgmtErr::EAccessDenied)));
    let refused = v2(&mut dev, Op::Write, Group::Image, 1, up(1250, &img[1250..1500]).to_value());
    assert_eq!(off_of(&refused), 1500);
    let refused = v2(&mut dev, Op::Write, Group::Image, 1, up(1500, &img[1500..1750]).to_value());
    assert_eq!(refused.get("rc"), Some(&Value::from(MgmtErr::EAccessDenied.code() as u16)));
    assert_eq!(refused.get("off"), None);
    assert_eq!(events.lock().unwrap().last(), Some(&DfuEvent::Stopped));
    dev.hooks_mut().upload_chunk = None;
    let gone = v2(&mut dev, Op::Write, Group::Image, 1, up(1500, &img[1500..1750]).to_value());
    assert_eq!(off_of(&gone), 0, "the upload was forgotten: {gone:?}");
}

#[test]
fn erase_rules() {
    let v1 = image((1, 0, 0), 3000, 1);
    let v2i = image((2, 0, 0), 3000, 2);
    let h2 = image_hash(&v2i);
    let mut dev = device("k64f", Algorithm::SwapScratch, v1);
    let mut s = String::new();
    let mut case = |dev: &mut sim_device::device::Device, what: &str, body: Value| {
        s.push_str(&format!("=== {what}\n"));
        s.push_str(&exchange_both(dev, Op::Write, Group::Image, 5, &body));
    };
    case(&mut dev, "default slot, already blank", Value::empty_map());
    case(&mut dev, "slot 0 (running): NO_FREE_SLOT", Value::map([("slot", Value::from(0u8))]));
    case(&mut dev, "slot 2 (no such slot): INVALID_SLOT", Value::map([("slot", Value::from(2u8))]));
    insta::assert_snapshot!("erase_rules", s);
    // Erase aborts an upload.
    v2(&mut dev, Op::Write, Group::Image, 1, first(&v2i, 200).to_value());
    assert_eq!(v2(&mut dev, Op::Write, Group::Image, 5, Value::empty_map()), Value::empty_map());
    assert_eq!(off_of(&v2(&mut dev, Op::Write, Group::Image, 1, up(200, &v2i[200..400]).to_value())), 0);
    // A pending slot may be erased by default (ALLOW_ERASE_PENDING)...
    upload(&mut dev, &v2i, 250);
    test_image(&mut dev, &h2);
    assert_eq!(v2(&mut dev, Op::Write, Group::Image, 5, Value::empty_map()), Value::empty_map());
    assert_eq!(flags(&mut dev).len(), 1);
    // ...not without it.
    let mut server = ServerConfig::default();
    server.image.allow_erase_pending = false;
    let mut dev =
        config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 3000, 1)).server(server).build().unwrap();
    upload(&mut dev, &v2i, 250);
    test_image(&mut dev, &h2);
    assert_eq!(err_rc(&v2(&mut dev, Op::Write, Group::Image, 5, Value::empty_map())), Some(9));
    // An upload is refused too while the test is pending.
    assert_eq!(err_rc(&v2(&mut dev, Op::Write, Group::Image, 1, first(&v2i, 200).to_value())), Some(9));
    // While running an unconfirmed test image the old image (the revert target) is in use.
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
    assert_eq!(err_rc(&v2(&mut dev, Op::Write, Group::Image, 5, Value::empty_map())), Some(9));
    assert_eq!(err_rc(&v2(&mut dev, Op::Write, Group::Image, 1, first(&v2i, 200).to_value())), Some(9));
}

#[test]
fn progressive_erase_keeps_an_image_that_ends_in_the_trailer_sector() {
    let mut server = ServerConfig::default();
    server.image.progressive_erase = true;
    let mut dev =
        config("k64f", Algorithm::SwapScratch, image((1, 0, 0), 3000, 1)).server(server).build().unwrap();
    let sec = dev.map().images[0].secondary;
    dev.flash_mut().load(sec.device, sec.offset, &vec![0x55; sec.size as usize]).unwrap();
    // Ends 0x400 bytes into the last sector, below the trailer.
    let img = image((2, 0, 0), 0x20000 - 0x1000 + 0x400 - 0x200, 2);
    assert!(img.len() > 0x1f000 && img.len() < 0x1f800, "{:#x}", img.len());
    let last = upload(&mut dev, &img, 300);
    assert_eq!(last.get("match"), Some(&Value::Bool(true)));
    test_image(&mut dev, &image_hash(&img));
    reset(&mut dev);
    assert_eq!(running_version(&dev), "2.0.0");
}
