//! Sample messages shared by the snapshot, round-trip and differential tests: one request and
//! one successful reply for every command, plus the error reply shapes.
#![allow(dead_code)]

use smp::error::{ErrorBody, GroupErr, MgmtErr};
use smp::groups::Empty;
use smp::groups::enumeration::*;
use smp::groups::fs::*;
use smp::groups::image::*;
use smp::groups::os::*;
use smp::groups::settings::*;
use smp::groups::shell::*;
use smp::groups::stat::*;
use smp::header::Group;
use smp::message::{Request, Response, ResponseBody};

pub fn hash(seed: u8) -> Vec<u8> {
    (0..32u8).map(|i| i.wrapping_mul(7) ^ seed).collect()
}

/// One request per command, with the optional keys filled in where there are any.
pub fn requests() -> Vec<Request> {
    vec![
        Request::Echo(EchoRequest { d: Some("hello".into()) }),
        Request::ConsoleEchoControl(ConsoleEchoControlRequest { echo: Some(1) }),
        Request::TaskStats(Empty),
        Request::MpStat(Empty),
        Request::DateTimeGet(Empty),
        Request::DateTimeSet(DateTimeSetRequest { datetime: "2026-11-21T18:40:00".into() }),
        Request::Reset(ResetRequest { force: Some(ResetForce::Bool(true)), boot_mode: Some(1) }),
        Request::Params(Empty),
        Request::Info(InfoRequest { format: Some("a".into()) }),
        Request::BootloaderInfo(BootloaderInfoRequest { query: Some("mode".into()) }),
        Request::ImageStateRead(Empty),
        Request::ImageStateWrite(StateWriteRequest::test(&hash(1))),
        Request::ImageUpload(UploadRequest {
            image: Some(0),
            len: Some(4096),
            off: 0,
            sha: Some(hash(2)),
            data: vec![0x3d, 0xb8, 0xf3, 0x96, 0, 0, 0, 0],
            upgrade: Some(true),
        }),
        Request::ImageErase(EraseRequest { slot: Some(1) }),
        Request::ImageSlotInfo(Empty),
        Request::StatShow(StatShowRequest { name: "smp_svr_stats".into() }),
        Request::StatList(Empty),
        Request::SettingsRead(SettingsReadRequest { name: "bt/name".into(), max_size: Some(64) }),
        Request::SettingsWrite(SettingsWriteRequest { name: "bt/name".into(), val: b"brownout".to_vec() }),
        Request::SettingsDelete(SettingsDeleteRequest { name: "bt/name".into() }),
        Request::SettingsCommit(Empty),
        Request::SettingsLoad(Empty),
        Request::SettingsSave(SettingsSaveRequest { name: Some("bt".into()) }),
        Request::FsDownload(FsDownloadRequest { off: 0, name: "/lfs/log.txt".into() }),
        Request::FsUpload(FsUploadRequest {
            off: 0,
            data: b"line 1\n".to_vec(),
            name: "/lfs/log.txt".into(),
            len: Some(7),
        }),
        Request::FsStatus(FsStatusRequest { name: "/lfs/log.txt".into() }),
        Request::FsHash(FsHashRequest {
            name: "/lfs/log.txt".into(),
            hash_type: Some("sha256".into()),
            off: Some(0),
            len: Some(7),
        }),
        Request::FsSupportedHashes(Empty),
        Request::FsClose(Empty),
        Request::ShellExec(ShellExecRequest { argv: vec!["kernel".into(), "uptime".into()] }),
        Request::EnumCount(Empty),
        Request::EnumList(Empty),
        Request::EnumSingle(EnumSingleRequest { index: Some(2) }),
        Request::EnumDetails(EnumDetailsRequest { groups: Some(vec![0, 1, 63]) }),
        Request::ZephyrEraseStorage(Empty),
    ]
}

pub fn slot_state(slot: u32, version: &str, seed: u8) -> ImageSlotState {
    ImageSlotState {
        image: None,
        slot,
        version: version.into(),
        hash: Some(hash(seed)),
        bootable: true,
        pending: false,
        confirmed: slot == 0,
        active: slot == 0,
        permanent: false,
    }
}

/// One successful reply per command.
pub fn responses() -> Vec<ResponseBody> {
    vec![
        ResponseBody::Echo(EchoResponse { r: "hello".into() }),
        ResponseBody::ConsoleEchoControl(Empty),
        ResponseBody::TaskStats(TaskStatsResponse {
            tasks: vec![
                (
                    "idle".into(),
                    TaskStat {
                        prio: 15,
                        tid: 0,
                        state: 0,
                        stksiz: Some(80),
                        stkuse: Some(12),
                        runtime: Some(0),
                        ..TaskStat::default()
                    },
                ),
                ("main".into(), TaskStat { prio: -1, tid: 1, state: 0, ..TaskStat::default() }),
            ],
        }),
        ResponseBody::MpStat(MpStatResponse {
            shape: MpStatShape::Mpools,
            pools: vec![("0".into(), MemPool { blksiz: Some(1), nblks: 4096, nfree: 3000, min: 2500 })],
        }),
        ResponseBody::DateTimeGet(DateTimeGetResponse { datetime: "2026-11-21T18:40:00".into() }),
        ResponseBody::DateTimeSet(Empty),
        ResponseBody::Reset(Empty),
        ResponseBody::Params(ParamsResponse { buf_size: 2048, buf_count: 2 }),
        ResponseBody::Info(InfoResponse {
            output: "Zephyr unknown 4.2.0 arm cortex-m4 nrf52840dk Zephyr".into(),
        }),
        ResponseBody::BootloaderInfo(BootloaderInfoResponse {
            bootloader: None,
            mode: Some(1),
            no_downgrade: true,
        }),
        ResponseBody::ImageStateRead(StateResponse::zephyr(vec![
            slot_state(0, "1.0.0", 1),
            slot_state(1, "1.1.0", 2),
        ])),
        ResponseBody::ImageStateWrite(StateResponse::zephyr(vec![
            slot_state(0, "1.0.0", 1),
            ImageSlotState { pending: true, ..slot_state(1, "1.1.0", 2) },
        ])),
        ResponseBody::ImageUpload(UploadResponse { off: 4096, matched: Some(true) }),
        ResponseBody::ImageErase(Empty),
        ResponseBody::ImageSlotInfo(SlotInfoResponse {
            images: vec![SlotInfoImage {
                image: 0,
                slots: vec![
                    SlotInfoSlot { slot: 0, size: Some(0x76000), upload_image_id: None, rc: None },
                    SlotInfoSlot { slot: 1, size: Some(0x76000), upload_image_id: Some(0), rc: None },
                ],
                max_image_size: Some(0x75000),
            }],
        }),
        ResponseBody::StatShow(StatShowResponse {
            name: "smp_svr_stats".into(),
            fields: vec![("ticks".into(), 1234), ("resets".into(), 2)],
        }),
        ResponseBody::StatList(StatListResponse { stat_list: vec!["smp_svr_stats".into()] }),
        ResponseBody::SettingsRead(SettingsReadResponse { val: b"brownout".to_vec(), max_size: None }),
        ResponseBody::SettingsWrite(Empty),
        ResponseBody::SettingsDelete(Empty),
        ResponseBody::SettingsCommit(Empty),
        ResponseBody::SettingsLoad(Empty),
        ResponseBody::SettingsSave(Empty),
        ResponseBody::FsDownload(FsDownloadResponse { off: 0, data: b"line 1\n".to_vec(), len: Some(7) }),
        ResponseBody::FsUpload(FsUploadResponse { off: 7 }),
        ResponseBody::FsStatus(FsStatusResponse { len: 7 }),
        ResponseBody::FsHash(FsHashResponse {
            hash_type: "crc32".into(),
            off: None,
            len: 7,
            output: HashOutput::Uint(0x1234_5678),
        }),
        ResponseBody::FsSupportedHashes(FsSupportedHashesResponse {
            types: vec![
                ("crc32".into(), HashTypeInfo { format: 0, size: 4 }),
                ("sha256".into(), HashTypeInfo { format: 1, size: 32 }),
            ],
        }),
        ResponseBody::FsClose(Empty),
        ResponseBody::ShellExec(ShellExecResponse {
            o: "Uptime: 1234 ms\n".into(),
            ret: 0,
            ret_key: ShellRetKey::Ret,
        }),
        ResponseBody::EnumCount(EnumCountResponse { count: 4 }),
        ResponseBody::EnumList(EnumListResponse { groups: vec![0, 1, 8, 63] }),
        ResponseBody::EnumSingle(EnumSingleResponse { group: 63, end: true }),
        ResponseBody::EnumDetails(EnumDetailsResponse {
            groups: vec![
                GroupDetails { group: 1, name: Some("img mgmt".into()), handlers: Some(7) },
                GroupDetails { group: 63, name: Some("zephyr basic mgmt".into()), handlers: Some(1) },
            ],
        }),
        ResponseBody::ZephyrEraseStorage(Empty),
    ]
}

/// Error replies of every shape: (name, group of the request, reply).
pub fn error_responses() -> Vec<(&'static str, Group, Response)> {
    vec![
        ("rc_enotsup", Group::Os, Response::Err(ErrorBody::rc(MgmtErr::ENotSup))),
        (
            "rc_with_rsn",
            Group::Image,
            Response::Err(ErrorBody::rc(MgmtErr::EInval).with_rsn("img too large")),
        ),
        ("err_hash_not_found", Group::Image, Response::Err(ErrorBody::group(GroupErr::new(Group::Image, 8)))),
        ("err_fs_offset_not_valid", Group::Fs, Response::Err(offset_not_valid_error(1024))),
        (
            "err_stat_under_group_63",
            Group::Stat,
            Response::Err(ErrorBody::group(GroupErr::new(Group::ZephyrBasic, 3))),
        ),
    ]
}
