//! MCUmgr notification hooks programmed from Rust, and a user group registered on the
//! framework.

mod device_support;

use std::sync::{Arc, Mutex};

use device_support::*;
use sim_device::server::hooks::{CommandEvent, CommandResult, StatusEvent};
use sim_device::server::{CommandDef, Ctx, GroupDef, HandlerError, HandlerResult, Verdict};
use smp::cbor::Value;
use smp::error::MgmtErr;
use smp::groups::Body;
use smp::header::{Group, Op, Version};

#[test]
fn command_received_can_refuse_and_command_done_sees_every_result() {
    let mut dev = small_device();
    let done = Arc::new(Mutex::new(Vec::new()));
    let log = done.clone();
    dev.hooks_mut().command_received = Some(Box::new(|e: CommandEvent| {
        if e.group == Group::Image && e.op == Op::Write {
            Verdict::Rc(MgmtErr::EAccessDenied)
        } else {
            Verdict::Allow
        }
    }));
    dev.hooks_mut().command_done = Some(Box::new(move |(e, r): (CommandEvent, CommandResult)| {
        log.lock().unwrap().push((e.group, e.command_id, r));
    }));
    let r = v2(&mut dev, Op::Write, Group::Image, 5, Value::empty_map());
    assert_eq!(r, Value::map([("rc", Value::from(11u8))]));
    let r = v2(&mut dev, Op::Read, Group::Os, 7, Value::map([("format", Value::text("x"))]));
    assert!(r.get("err").is_some());
    v2(&mut dev, Op::Read, Group::Os, 6, Value::empty_map());
    assert_eq!(
        *done.lock().unwrap(),
        vec![
            (Group::Image, 5, CommandResult::Rc(MgmtErr::EAccessDenied)),
            (Group::Os, 7, CommandResult::Group(2)),
            (Group::Os, 6, CommandResult::Ok),
        ]
    );
}

#[test]
fn command_status_reports_upload_progress() {
    let mut dev = small_device();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    dev.hooks_mut().command_status = Some(Box::new(move |e: StatusEvent| log.lock().unwrap().push(e.off)));
    let img = image((2, 0, 0), 1000, 2);
    upload(&mut dev, &img, 300);
    let offs = seen.lock().unwrap().clone();
    assert_eq!(offs.last().copied(), Some(img.len() as u64));
    assert!(offs.windows(2).all(|w| w[0] < w[1]));
}

/// A counter that survives reboots.
#[derive(Default)]
struct Counter(u64);

fn bump(ctx: &mut Ctx<'_>) -> HandlerResult {
    let by = ctx.decode::<smp::groups::Empty>().map(|_| 1).unwrap_or(1);
    let c = ctx.dev.storage_state::<Counter>();
    c.0 += by;
    if c.0 > 3 {
        return Err(HandlerError::group(7));
    }
    Ok(Value::map([("count", Value::from(c.0))]))
}

#[test]
fn a_user_group_registered_on_the_framework() {
    let mut dev = small_device();
    dev.register_group(GroupDef {
        group: Group::PerUser(64),
        name: Some("counter"),
        commands: vec![CommandDef { id: 0, name: "bump", read: None, write: Some(bump) }],
    });
    let standard = sim_device::server::standard_groups(dev.server_config()).len();
    assert_eq!(dev.groups().len(), standard + 1);
    assert_eq!(dev.groups().last().map(|g| g.group), Some(Group::PerUser(64)));
    let r = v2(&mut dev, Op::Write, Group::PerUser(64), 0, Value::empty_map());
    assert_eq!(r, Value::map([("count", Value::from(1u8))]));
    reset(&mut dev);
    let r = v2(&mut dev, Op::Write, Group::PerUser(64), 0, Value::empty_map());
    assert_eq!(r, Value::map([("count", Value::from(2u8))]));
    v2(&mut dev, Op::Write, Group::PerUser(64), 0, Value::empty_map());
    // A group error of a group without a v1 translation is EUNKNOWN for v1.
    let r = v2(&mut dev, Op::Write, Group::PerUser(64), 0, Value::empty_map());
    assert_eq!(
        r,
        Value::map([("err", Value::map([("group", Value::from(64u8)), ("rc", Value::from(7u8))]))])
    );
    let r = call(&mut dev, Version::V1, Op::Write, Group::PerUser(64), 0, &Value::empty_map());
    assert_eq!(r, Value::map([("rc", Value::from(1u8))]));
    // Read is not registered.
    let r = v2(&mut dev, Op::Read, Group::PerUser(64), 0, Value::empty_map());
    assert_eq!(r, Value::map([("rc", Value::from(8u8))]));
}

#[test]
fn upload_to_the_second_image_of_a_two_image_layout() {
    let mut dev = sim_device::device::DeviceConfig::preset("k64f-multi")
        .unwrap()
        .keys(vec![key().public().clone()])
        .image(0, 0, image((1, 0, 0), 3000, 1))
        .image(1, 0, image((5, 0, 0), 3000, 5))
        .build()
        .unwrap();
    let img = image((5, 1, 0), 3000, 6);
    let sha = mcuboot::image::HashAlg::Sha256.digest(&img);
    let mut off = 0usize;
    while off < img.len() {
        let end = (off + 250).min(img.len());
        let req = smp::groups::image::UploadRequest {
            image: (off == 0).then_some(1),
            len: (off == 0).then_some(img.len() as u64),
            off: off as u64,
            sha: (off == 0).then(|| sha.clone()),
            data: img[off..end].to_vec(),
            upgrade: None,
        };
        let r = v2(&mut dev, Op::Write, Group::Image, 1, req.to_value());
        off = r.get("off").and_then(Value::as_u64).unwrap() as usize;
    }
    let st = state(&mut dev);
    assert_eq!(st.images[2].image, Some(1));
    assert_eq!((st.images[2].slot, st.images[2].version.as_str()), (1, "5.1.0"));
    test_image(&mut dev, &image_hash(&img));
    reset(&mut dev);
    let st = state(&mut dev);
    let img1: Vec<_> = st
        .images
        .iter()
        .filter(|i| i.image == Some(1))
        .map(|i| (i.slot, i.version.clone(), i.confirmed))
        .collect();
    assert_eq!(img1, vec![(0, "5.1.0".into(), false), (1, "5.0.0".into(), true)]);
}
