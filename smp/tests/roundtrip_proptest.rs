//! Property tests: every message type round-trips through bytes in both map styles, arbitrary
//! CBOR values round-trip, and random or mutated bytes never panic any parser.
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use smp::cbor::{self, Integer, Limits, MapStyle, Value};
use smp::error::{ErrorBody, GroupErr, MgmtErr};
use smp::groups::Empty;
use smp::groups::enumeration::*;
use smp::groups::fs::*;
use smp::groups::image::*;
use smp::groups::os::*;
use smp::groups::settings::*;
use smp::groups::shell::*;
use smp::groups::stat::*;
use smp::header::{Header, Version};
use smp::message::{self, Message, Request, Response, ResponseBody};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z0-9/_. -]{1,16}", ".{0,8}"]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..48)
}

fn names<T: std::fmt::Debug + Clone>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<(String, T)>> {
    vec((text(), s), 0..4)
}

fn style() -> impl Strategy<Value = MapStyle> {
    prop_oneof![Just(MapStyle::Definite), Just(MapStyle::Indefinite)]
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V1), Just(Version::V2)]
}

fn reset_force() -> impl Strategy<Value = ResetForce> {
    prop_oneof![any::<bool>().prop_map(ResetForce::Bool), any::<i64>().prop_map(ResetForce::Int)]
}

fn hash_arg() -> impl Strategy<Value = HashArg> {
    prop_oneof![bytes().prop_map(HashArg::Bytes), text().prop_map(HashArg::Text)]
}

fn requests() -> impl Strategy<Value = Request> {
    let os = prop_oneof![
        option::of(text()).prop_map(|d| Request::Echo(EchoRequest { d })),
        option::of(any::<u64>())
            .prop_map(|echo| Request::ConsoleEchoControl(ConsoleEchoControlRequest { echo })),
        Just(Request::TaskStats(Empty)),
        Just(Request::MpStat(Empty)),
        Just(Request::DateTimeGet(Empty)),
        text().prop_map(|datetime| Request::DateTimeSet(DateTimeSetRequest { datetime })),
        (option::of(reset_force()), option::of(any::<u8>()))
            .prop_map(|(force, boot_mode)| Request::Reset(ResetRequest { force, boot_mode })),
        Just(Request::Params(Empty)),
        option::of(text()).prop_map(|format| Request::Info(InfoRequest { format })),
        option::of(text()).prop_map(|query| Request::BootloaderInfo(BootloaderInfoRequest { query })),
    ];
    let image = prop_oneof![
        Just(Request::ImageStateRead(Empty)),
        (option::of(hash_arg()), option::of(any::<bool>()))
            .prop_map(|(hash, confirm)| Request::ImageStateWrite(StateWriteRequest { hash, confirm })),
        (
            option::of(any::<u32>()),
            option::of(any::<u64>()),
            any::<u64>(),
            option::of(bytes()),
            bytes(),
            option::of(any::<bool>())
        )
            .prop_map(|(image, len, off, sha, data, upgrade)| {
                Request::ImageUpload(UploadRequest { image, len, off, sha, data, upgrade })
            }),
        option::of(any::<u32>()).prop_map(|slot| Request::ImageErase(EraseRequest { slot })),
        Just(Request::ImageSlotInfo(Empty)),
        text().prop_map(|name| Request::StatShow(StatShowRequest { name })),
        Just(Request::StatList(Empty)),
    ];
    let settings = prop_oneof![
        (text(), option::of(any::<u32>()))
            .prop_map(|(name, max_size)| Request::SettingsRead(SettingsReadRequest { name, max_size })),
        (text(), bytes()).prop_map(|(name, val)| Request::SettingsWrite(SettingsWriteRequest { name, val })),
        text().prop_map(|name| Request::SettingsDelete(SettingsDeleteRequest { name })),
        Just(Request::SettingsCommit(Empty)),
        Just(Request::SettingsLoad(Empty)),
        option::of(text()).prop_map(|name| Request::SettingsSave(SettingsSaveRequest { name })),
    ];
    let fs = prop_oneof![
        (any::<u64>(), text()).prop_map(|(off, name)| Request::FsDownload(FsDownloadRequest { off, name })),
        (any::<u64>(), bytes(), text(), option::of(any::<u64>()))
            .prop_map(|(off, data, name, len)| Request::FsUpload(FsUploadRequest { off, data, name, len })),
        text().prop_map(|name| Request::FsStatus(FsStatusRequest { name })),
        (text(), option::of(text()), option::of(any::<u64>()), option::of(any::<u64>())).prop_map(
            |(name, hash_type, off, len)| Request::FsHash(FsHashRequest { name, hash_type, off, len })
        ),
        Just(Request::FsSupportedHashes(Empty)),
        Just(Request::FsClose(Empty)),
    ];
    let rest = prop_oneof![
        vec(text(), 0..4).prop_map(|argv| Request::ShellExec(ShellExecRequest { argv })),
        Just(Request::EnumCount(Empty)),
        Just(Request::EnumList(Empty)),
        option::of(any::<u64>()).prop_map(|index| Request::EnumSingle(EnumSingleRequest { index })),
        option::of(vec(any::<u16>(), 0..5))
            .prop_map(|groups| Request::EnumDetails(EnumDetailsRequest { groups })),
        Just(Request::ZephyrEraseStorage(Empty)),
        (64u16.., any::<u8>(), prop_oneof![Just(0u8), Just(2u8)], option::of(leaf_value())).prop_map(
            |(group, command_id, op, body)| Request::Other {
                group: group.into(),
                command_id,
                op: smp::header::Op::from_bits(op),
                body: body.map(|v| Value::map([("k", v)])),
            }
        ),
    ];
    prop_oneof![os, image, settings, fs, rest]
}

fn slot_state() -> impl Strategy<Value = ImageSlotState> {
    (option::of(any::<u32>()), any::<u32>(), text(), option::of(bytes()), any::<[bool; 5]>()).prop_map(
        |(image, slot, version, hash, f)| ImageSlotState {
            image,
            slot,
            version,
            hash,
            bootable: f[0],
            pending: f[1],
            confirmed: f[2],
            active: f[3],
            permanent: f[4],
        },
    )
}

fn state() -> impl Strategy<Value = StateResponse> {
    (vec(slot_state(), 0..3), option::of(any::<i64>()), any::<bool>())
        .prop_map(|(images, split_status, frugal)| StateResponse { images, split_status, frugal })
}

fn task_stat() -> impl Strategy<Value = TaskStat> {
    (
        any::<i64>(),
        any::<u64>(),
        any::<u64>(),
        [option::of(any::<u64>()), option::of(any::<u64>()), option::of(any::<u64>())],
    )
        .prop_map(|(prio, tid, state, o)| TaskStat {
            prio,
            tid,
            state,
            stksiz: o[0],
            stkuse: o[1],
            runtime: o[2],
            cswcnt: o[0],
            last_checkin: None,
            next_checkin: o[2],
        })
}

fn mpstat() -> impl Strategy<Value = MpStatResponse> {
    let pool = (option::of(any::<u64>()), any::<u64>(), any::<u64>(), any::<u64>())
        .prop_map(|(blksiz, nblks, nfree, min)| MemPool { blksiz, nblks, nfree, min });
    let shape = prop_oneof![Just(MpStatShape::Mpools), Just(MpStatShape::TopLevel), Just(MpStatShape::Tasks)];
    (shape, vec(("[0-9]{1,3}", pool), 0..3)).prop_map(|(shape, pools)| MpStatResponse { shape, pools })
}

fn slot_info() -> impl Strategy<Value = SlotInfoResponse> {
    let slot = (any::<u32>(), option::of(any::<u64>()), option::of(any::<u32>()), option::of(any::<i64>()))
        .prop_map(|(slot, size, upload_image_id, rc)| SlotInfoSlot {
            slot,
            size: if rc.is_none() { Some(size.unwrap_or(0)) } else { size },
            upload_image_id,
            rc,
        });
    let image = (any::<u32>(), vec(slot, 0..3), option::of(any::<u64>()))
        .prop_map(|(image, slots, max_image_size)| SlotInfoImage { image, slots, max_image_size });
    vec(image, 0..3).prop_map(|images| SlotInfoResponse { images })
}

fn responses() -> impl Strategy<Value = ResponseBody> {
    let os = prop_oneof![
        text().prop_map(|r| ResponseBody::Echo(EchoResponse { r })),
        Just(ResponseBody::ConsoleEchoControl(Empty)),
        names(task_stat()).prop_map(|tasks| ResponseBody::TaskStats(TaskStatsResponse { tasks })),
        mpstat().prop_map(ResponseBody::MpStat),
        text().prop_map(|datetime| ResponseBody::DateTimeGet(DateTimeGetResponse { datetime })),
        Just(ResponseBody::DateTimeSet(Empty)),
        Just(ResponseBody::Reset(Empty)),
        (any::<u32>(), any::<u32>())
            .prop_map(|(buf_size, buf_count)| ResponseBody::Params(ParamsResponse { buf_size, buf_count })),
        text().prop_map(|output| ResponseBody::Info(InfoResponse { output })),
        (option::of(text()), option::of(any::<i64>()), any::<bool>()).prop_map(
            |(bootloader, mode, no_downgrade)| {
                let bootloader =
                    if mode.is_none() { Some(bootloader.unwrap_or_default()) } else { bootloader };
                ResponseBody::BootloaderInfo(BootloaderInfoResponse { bootloader, mode, no_downgrade })
            }
        ),
    ];
    let image = prop_oneof![
        state().prop_map(ResponseBody::ImageStateRead),
        state().prop_map(ResponseBody::ImageStateWrite),
        (any::<u64>(), option::of(any::<bool>()))
            .prop_map(|(off, matched)| ResponseBody::ImageUpload(UploadResponse { off, matched })),
        Just(ResponseBody::ImageErase(Empty)),
        slot_info().prop_map(ResponseBody::ImageSlotInfo),
        (text(), names(any::<u64>()))
            .prop_map(|(name, fields)| ResponseBody::StatShow(StatShowResponse { name, fields })),
        vec(text(), 0..4).prop_map(|stat_list| ResponseBody::StatList(StatListResponse { stat_list })),
    ];
    let settings = prop_oneof![
        (bytes(), option::of(any::<u32>()))
            .prop_map(|(val, max_size)| ResponseBody::SettingsRead(SettingsReadResponse { val, max_size })),
        Just(ResponseBody::SettingsWrite(Empty)),
        Just(ResponseBody::SettingsDelete(Empty)),
        Just(ResponseBody::SettingsCommit(Empty)),
        Just(ResponseBody::SettingsLoad(Empty)),
        Just(ResponseBody::SettingsSave(Empty)),
    ];
    let output = prop_oneof![any::<u64>().prop_map(HashOutput::Uint), bytes().prop_map(HashOutput::Bytes)];
    let fs = prop_oneof![
        (any::<u64>(), bytes(), option::of(any::<u64>()))
            .prop_map(|(off, data, len)| ResponseBody::FsDownload(FsDownloadResponse { off, data, len })),
        any::<u64>().prop_map(|off| ResponseBody::FsUpload(FsUploadResponse { off })),
        any::<u64>().prop_map(|len| ResponseBody::FsStatus(FsStatusResponse { len })),
        (text(), option::of(any::<u64>()), any::<u64>(), output).prop_map(|(hash_type, off, len, output)| {
            ResponseBody::FsHash(FsHashResponse { hash_type, off, len, output })
        }),
        names((any::<u64>(), any::<u64>()).prop_map(|(format, size)| HashTypeInfo { format, size }))
            .prop_map(|types| ResponseBody::FsSupportedHashes(FsSupportedHashesResponse { types })),
        Just(ResponseBody::FsClose(Empty)),
    ];
    let details = (any::<u16>(), option::of(text()), option::of(any::<u64>()))
        .prop_map(|(group, name, handlers)| GroupDetails { group, name, handlers });
    let rest = prop_oneof![
        (text(), any::<i64>(), any::<bool>()).prop_map(|(o, ret, legacy)| {
            let ret_key = if legacy { ShellRetKey::Rc } else { ShellRetKey::Ret };
            ResponseBody::ShellExec(ShellExecResponse { o, ret, ret_key })
        }),
        any::<u64>().prop_map(|count| ResponseBody::EnumCount(EnumCountResponse { count })),
        vec(any::<u16>(), 0..5).prop_map(|groups| ResponseBody::EnumList(EnumListResponse { groups })),
        (any::<u16>(), any::<bool>())
            .prop_map(|(group, end)| ResponseBody::EnumSingle(EnumSingleResponse { group, end })),
        vec(details, 0..3).prop_map(|groups| ResponseBody::EnumDetails(EnumDetailsResponse { groups })),
        Just(ResponseBody::ZephyrEraseStorage(Empty)),
    ];
    prop_oneof![os, image, settings, fs, rest]
}

fn error_body() -> impl Strategy<Value = ErrorBody> {
    let rc = prop_oneof![(1i64..300), any::<i64>()].prop_map(MgmtErr::from_code);
    let err = (any::<u16>(), any::<u64>()).prop_map(|(group, rc)| GroupErr { group, rc });
    (option::of(rc), option::of(err), option::of(text()), vec(("[a-q]{1,6}", any::<u32>()), 0..2))
        .prop_filter_map("must report an error", |(rc, err, rsn, extra)| {
            let rc = rc.filter(|r| *r != MgmtErr::EOk);
            let extra = extra.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
            let body = ErrorBody { rc, err, rsn, extra };
            body.is_error().then_some(body)
        })
}

fn leaf_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-(1i128 << 64)..(1i128 << 64)).prop_map(|n| Value::Int(Integer::try_from(n).unwrap())),
        bytes().prop_map(Value::Bytes),
        text().prop_map(Value::Text),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
        Just(Value::Undefined),
        any::<f64>().prop_filter("NaN is never equal", |x| !x.is_nan()).prop_map(Value::Float),
        any::<f32>().prop_filter("NaN is never equal", |x| !x.is_nan()).prop_map(|x| Value::Float(x.into())),
        prop_oneof![0u8..20, 32u8..=255].prop_map(Value::Simple),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    leaf_value().prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((inner.clone(), inner.clone()), 0..6).prop_map(Value::Map),
            (any::<u64>(), inner).prop_map(|(t, v)| Value::Tag(t, Box::new(v))),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_request_round_trips(request in requests(), seq in any::<u8>(), v in version(), s in style()) {
        let bytes = request.encode(seq, v, s).unwrap();
        let (header, decoded, rest) = Request::decode(&bytes).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!((header.seq, header.version), (seq, v));
        prop_assert_eq!(decoded, request);
    }

    #[test]
    fn every_response_round_trips(body in responses(), seq in any::<u8>(), v in version(), s in style()) {
        let command = body.command().unwrap();
        let request = Header::new(v, command.op(), command.group(), command.id(), seq, 0);
        let mut response = Response::Ok(body);
        if let Response::Ok(ResponseBody::ImageStateRead(st) | ResponseBody::ImageStateWrite(st)) = &mut response {
            // `frugal` chooses an encoding; it is not read back (both decode to the same state).
            let bytes = Response::Ok(ResponseBody::ImageStateRead(st.clone())).encode(&request, s).unwrap();
            let (_, decoded, _) = Response::decode(&bytes).unwrap();
            st.frugal = false;
            if command == smp::groups::Command::ImageStateRead {
                prop_assert_eq!(decoded, Response::Ok(ResponseBody::ImageStateRead(st.clone())));
            }
        }
        let bytes = response.encode(&request, s).unwrap();
        let (header, decoded, rest) = Response::decode(&bytes).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(header.seq, seq);
        prop_assert_eq!(decoded, response);
    }

    #[test]
    fn every_error_reply_round_trips(error in error_body(), s in style()) {
        for command in smp::groups::Command::ALL {
            let request = Header::new(Version::V2, command.op(), command.group(), command.id(), 1, 0);
            let response = Response::Err(error.clone());
            let bytes = response.encode(&request, s).unwrap();
            // A legacy shell reply is `{"o", "rc"}`: an `rc` error with an "o" key reads as one.
            let legacy_shell_lookalike = *command == smp::groups::Command::ShellExec
                && error.err.is_none()
                && error.extra.iter().any(|(k, _)| k == "o");
            if legacy_shell_lookalike {
                continue;
            }
            let (_, decoded, _) = Response::decode(&bytes).unwrap();
            prop_assert_eq!(decoded, response);
        }
    }

    #[test]
    fn any_cbor_value_round_trips_in_both_styles(v in any_value(), s in style()) {
        let bytes = cbor::encode(&v, s);
        prop_assert_eq!(cbor::decode(&bytes).unwrap(), v);
    }

    #[test]
    fn random_bytes_never_panic_the_cbor_decoder(bytes in vec(any::<u8>(), 0..256)) {
        let _ = cbor::decode(&bytes);
        let small = Limits { max_depth: 3, max_items: 10, max_string_len: 8, max_total: 64 };
        let _ = cbor::decode_prefix(&bytes, &small);
    }

    #[test]
    fn random_bytes_never_panic_message_parsing(bytes in vec(any::<u8>(), 0..256)) {
        for p in message::packets(&bytes).flatten() {
            let _ = Message::from_packet(&p, &Limits::default());
        }
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(
        which in 0usize..1000,
        flips in vec((any::<usize>(), any::<u8>()), 1..6),
        truncate in option::of(any::<usize>()),
    ) {
        let requests = common::requests();
        let responses = common::responses();
        let mut bytes = if which % 2 == 0 {
            requests[which / 2 % requests.len()].encode(1, Version::V2, MapStyle::Definite).unwrap()
        } else {
            let body = &responses[which / 2 % responses.len()];
            let c = body.command().unwrap();
            let h = Header::new(Version::V2, c.op(), c.group(), c.id(), 1, 0);
            Response::Ok(body.clone()).encode(&h, MapStyle::Indefinite).unwrap()
        };
        for (at, x) in flips {
            let i = at % bytes.len();
            bytes[i] ^= x;
        }
        if let Some(t) = truncate {
            bytes.truncate(t % (bytes.len() + 1));
        }
        // Fix up the header length half of the time so the body parsers are reached.
        if which % 3 == 0 && bytes.len() >= 8 {
            let len = (bytes.len() - 8) as u16;
            bytes[2..4].copy_from_slice(&len.to_be_bytes());
        }
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes);
        if let Ok((m, _)) = Message::parse(&bytes)
            && let Some(body) = &m.body
        {
            let _ = Request::parse(&m.header, body);
            let _ = Response::parse(&m.header, body);
            let _ = body.to_string();
        }
    }
}
