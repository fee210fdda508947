//! Trailer layout (reference `mcuboot.md` §4.1-§4.3), magic variants, and the public API's
//! writes (`boot_set_pending`, `boot_set_confirmed`, §5).

mod boot_support;

use boot_support::*;
use mcuboot::boot::{Algorithm, BootConfig, BootState, CutFlash, FlashOp};
use mcuboot::layout::AreaId;
use mcuboot::trailer::{
    self, MAGIC_MAX_ALIGN_8, MagicState, SetOutcome, StatusKind, TrailerError, TrailerLayout, magic_for,
};

fn l(kind: StatusKind, m: u32) -> TrailerLayout {
    TrailerLayout::new(kind, m).expect("layout")
}

#[test]
fn boot_trailer_sz_matches_the_simulator() {
    for kind in [StatusKind::Scratch, StatusKind::Move] {
        let got: Vec<u32> = [1, 2, 4, 8].iter().map(|&w| l(kind, 8).trailer_size(w)).collect();
        assert_eq!(got, [432, 816, 1584, 3120], "{kind:?}");
    }
    let got: Vec<u32> = [1, 2, 4, 8].iter().map(|&w| l(StatusKind::Offset, 8).trailer_size(w)).collect();
    assert_eq!(got, [312, 568, 1080, 2104]);
}

/// One row of §4.2: (kind, w, M, trailer_sz, status start, status len, swap_size, unprot,
/// swap_info, copy_done, image_ok, magic, magic write start).
type Row = (StatusKind, u32, u32, u32, u32, u32, u32, Option<u32>, u32, u32, u32, u32, u32);

#[test]
fn offsets_of_every_row_of_section_4_2() {
    const S: u32 = 0x20000;
    let rows: [Row; 8] = [
        (
            StatusKind::Scratch,
            1,
            8,
            0x1B0,
            0x1FE50,
            384,
            0x1FFD0,
            None,
            0x1FFD8,
            0x1FFE0,
            0x1FFE8,
            0x1FFF0,
            0x1FFF0,
        ),
        (
            StatusKind::Scratch,
            4,
            8,
            0x630,
            0x1F9D0,
            1536,
            0x1FFD0,
            None,
            0x1FFD8,
            0x1FFE0,
            0x1FFE8,
            0x1FFF0,
            0x1FFF0,
        ),
        (
            StatusKind::Move,
            8,
            8,
            0xC30,
            0x1F3D0,
            3072,
            0x1FFD0,
            None,
            0x1FFD8,
            0x1FFE0,
            0x1FFE8,
            0x1FFF0,
            0x1FFF0,
        ),
        (
            StatusKind::Scratch,
            32,
            32,
            0x30A0,
            0x1CF60,
            12288,
            0x1FF60,
            None,
            0x1FF80,
            0x1FFA0,
            0x1FFC0,
            0x1FFF0,
            0x1FFE0,
        ),
        (
            StatusKind::Offset,
            1,
            8,
            0x138,
            0x1FEC8,
            256,
            0x1FFC8,
            Some(0x1FFD0),
            0x1FFD8,
            0x1FFE0,
            0x1FFE8,
            0x1FFF0,
            0x1FFF0,
        ),
        (
            StatusKind::Offset,
            4,
            8,
            0x438,
            0x1FBC8,
            1024,
            0x1FFC8,
            Some(0x1FFD0),
            0x1FFD8,
            0x1FFE0,
            0x1FFE8,
            0x1FFF0,
            0x1FFF0,
        ),
        (
            StatusKind::Offset,
            8,
            8,
            0x838,
            0x1F7C8,
            2048,
            0x1FFC8,
            Some(0x1FFD0),
            0x1FFD8,
            0x1FFE0,
            0x1FFE8,
            0x1FFF0,
            0x1FFF0,
        ),
        (
            StatusKind::Offset,
            32,
            32,
            0x20C0,
            0x1DF40,
            8192,
            0x1FF40,
            Some(0x1FF60),
            0x1FF80,
            0x1FFA0,
            0x1FFC0,
            0x1FFF0,
            0x1FFE0,
        ),
    ];
    for (kind, w, m, tsz, st, slen, ssz, unprot, si, cd, ok, magic, mw) in rows {
        let t = l(kind, m);
        let ctx = format!("{kind:?} w{w} M{m}");
        assert_eq!(t.trailer_size(w), tsz, "{ctx}");
        assert_eq!(t.status_off(S, w), st, "{ctx}");
        assert_eq!(t.status_size(w), slen, "{ctx}");
        assert_eq!(t.status_off(S, w) + t.status_size(w), ssz, "{ctx}: status ends at swap_size");
        assert_eq!(t.swap_size_off(S), ssz, "{ctx}");
        if let Some(u) = unprot {
            assert_eq!(t.unprotected_tlv_sizes_off(S), u, "{ctx}");
        }
        assert_eq!(t.swap_info_off(S), si, "{ctx}");
        assert_eq!(t.copy_done_off(S), cd, "{ctx}");
        assert_eq!(t.image_ok_off(S), ok, "{ctx}");
        assert_eq!(t.magic_off(S), magic, "{ctx}");
        assert_eq!(t.magic_write_off(S), mw, "{ctx}");
    }
    // Move's records: 128 move records, then 256 swap records.
    assert_eq!(l(StatusKind::Move, 8).status_entries(false), 384);
    assert_eq!(l(StatusKind::Offset, 8).status_entries(false), 256);
    assert_eq!(l(StatusKind::Scratch, 8).status_entries(true), 3);
}

#[test]
fn magic_bytes_for_max_align_8_and_32() {
    assert_eq!(magic_for(8), MAGIC_MAX_ALIGN_8);
    assert_eq!(hex::encode(magic_for(8)), "77c295f360d2ef7f3552500f2cb67980");
    assert_eq!(hex::encode(magic_for(32)), "20002de15d29410b8d77679c110f1f8a");
    assert_eq!(hex::encode(magic_for(16)), "10002de15d29410b8d77679c110f1f8a");
    assert!(matches!(TrailerLayout::new(StatusKind::Scratch, 4), Err(TrailerError::BadMaxAlign(4))));
}

#[test]
fn magic_write_for_max_align_32_is_padded_in_front() {
    let map = map("k64f", 32, 0xff);
    let t = l(StatusKind::Scratch, 32);
    let mut f = ram_flash(&map);
    let sec = map.area(AreaId::Secondary(0)).expect("sec");
    let mut cf = CutFlash::recording(&mut f);
    trailer::write_magic(&mut cf, &t, sec).expect("magic");
    let log = cf.log.take().expect("log");
    assert_eq!(log, [FlashOp::Write { dev: 0, offset: sec.offset + 0x1FFE0, len: 32, first: 0xff }]);
    let bytes = slot_bytes(&f, sec, 0x1FFE0, 32);
    assert_eq!(&bytes[..16], &[0xff; 16]);
    assert_eq!(&bytes[16..], &magic_for(32));
    assert_eq!(trailer::read_magic(&mut f, &t, sec).expect("read"), MagicState::Good);
    // The M=8 magic is not recognised by an M=32 build.
    let t8 = l(StatusKind::Scratch, 8);
    assert_eq!(trailer::read_magic(&mut f, &t8, sec).expect("read"), MagicState::Bad);
}

/// §4.3: the primary trailer after a test swap on k64f (scratch, w8), byte by byte.
#[test]
fn byte_diagram_of_section_4_3_after_a_test_swap() {
    let map = map("k64f", 8, 0xff);
    let cfg = BootConfig::default();
    let (a, b) = appendix_a_images();
    let mut f = setup(&map, &cfg, &a, Some(&b), false);
    let mut st = BootState::new();
    boot_ok(&mut f, &map, &cfg, &mut st);
    let pri = map.area(AreaId::Primary(0)).expect("pri");
    let t = slot_bytes(&f, pri, 0x1F000, 0x1000);
    // image data may extend up to 0x1F3D0: erased here (image is 24072 bytes)
    assert!(t[..0x3D0].iter().all(|&x| x == 0xff));
    // 18 records: 6 regions x states 1, 2, 3, each padded to 8 bytes
    for k in 0..18 {
        let r = &t[0x3D0 + 8 * k..0x3D0 + 8 * k + 8];
        assert_eq!(r[0] as usize, k % 3 + 1);
        assert!(r[1..].iter().all(|&x| x == 0xff));
    }
    assert!(t[0x3D0 + 18 * 8..0xFD0].iter().all(|&x| x == 0xff));
    assert_eq!(&t[0xFD0..0xFD8], &[0x08, 0x5E, 0, 0, 0xff, 0xff, 0xff, 0xff], "swap_size 0x5E08");
    assert_eq!(&t[0xFD8..0xFE0], &[0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "swap_info TEST image 0");
    assert_eq!(&t[0xFE0..0xFE8], &[0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], "copy_done");
    assert_eq!(&t[0xFE8..0xFF0], &[0xff; 8], "image_ok unset");
    assert_eq!(&t[0xFF0..], &MAGIC_MAX_ALIGN_8);
    // The secondary trailer is erased; the scratch area was erased by its last region.
    let sec = map.area(AreaId::Secondary(0)).expect("sec");
    assert!(slot_bytes(&f, sec, 0x1F000, 0x1000).iter().all(|&x| x == 0xff));
}

#[test]
fn scratch_trailer_offsets() {
    let t = l(StatusKind::Scratch, 8);
    assert_eq!(t.scratch_trailer_size(8), 72);
    assert_eq!(t.scratch_status_off(0x1000, 8), 0xFB8);
    assert_eq!(t.swap_size_off(0x1000), 0xFD0);
    assert_eq!(t.swap_info_off(0x1000), 0xFD8);
}

fn pending_setup(
    ws: u32,
    erased: u8,
) -> (mcuboot::layout::FlashMap, mcuboot::flash::RamFlash, TrailerLayout) {
    let map = map("k64f", ws, erased);
    let f = ram_flash(&map);
    (map, f, l(StatusKind::Scratch, 8))
}

#[test]
fn set_pending_writes_magic_image_ok_swap_info_in_that_order() {
    for (ws, erased) in [(8, 0xff), (1, 0x00), (4, 0xff)] {
        for permanent in [false, true] {
            let (map, mut f, t) = pending_setup(ws, erased);
            let sec = map.area(AreaId::Secondary(0)).expect("sec");
            let mut cf = CutFlash::recording(&mut f);
            assert_eq!(trailer::set_pending(&mut cf, &map, &t, 0, permanent), Ok(SetOutcome::Written));
            let log = cf.log.take().expect("log");
            let mut expect = vec![FlashOp::Write {
                dev: 0,
                offset: sec.offset + 0x1FFF0,
                len: 16,
                first: MAGIC_MAX_ALIGN_8[0],
            }];
            if permanent {
                expect.push(FlashOp::Write { dev: 0, offset: sec.offset + 0x1FFE8, len: ws, first: 0x01 });
            }
            let code = if permanent { 0x03 } else { 0x02 };
            expect.push(FlashOp::Write { dev: 0, offset: sec.offset + 0x1FFD8, len: ws, first: code });
            assert_eq!(log, expect, "w{ws} e{erased:#x} perm {permanent}");
            // padding is the erased value
            let b = slot_bytes(&f, sec, 0x1FFD8, ws as usize);
            assert!(b[1..].iter().all(|&x| x == erased));
            // already pending: nothing written
            let mut cf = CutFlash::new(&mut f);
            assert_eq!(trailer::set_pending(&mut cf, &map, &t, 0, !permanent), Ok(SetOutcome::Unchanged));
            assert_eq!(cf.ops, 0);
        }
    }
}

#[test]
fn set_pending_on_a_corrupt_magic_erases_the_slot_and_fails() {
    let (map, mut f, t) = pending_setup(8, 0xff);
    let sec = map.area(AreaId::Secondary(0)).expect("sec");
    load(&mut f, sec, 0x1FFF0, &[0x55; 16]);
    load(&mut f, sec, 0, &[0x12; 64]);
    let mut cf = CutFlash::recording(&mut f);
    assert_eq!(trailer::set_pending(&mut cf, &map, &t, 0, false), Err(TrailerError::BadImage));
    assert_eq!(cf.log.take().expect("log"), [FlashOp::Erase { dev: 0, offset: sec.offset, len: sec.size }]);
    assert!(slot_bytes(&f, sec, 0, sec.size as usize).iter().all(|&x| x == 0xff));
}

#[test]
fn set_confirmed_cases() {
    let (map, mut f, t) = pending_setup(8, 0xff);
    let pri = map.area(AreaId::Primary(0)).expect("pri");
    // magic erased (image flashed without a trailer): nothing, success
    let mut cf = CutFlash::new(&mut f);
    assert_eq!(trailer::set_confirmed(&mut cf, &map, &t, 0), Ok(SetOutcome::Unchanged));
    assert_eq!(cf.ops, 0);
    // magic good, image_ok unset: one write of image_ok
    trailer::write_magic(&mut f, &t, pri).expect("magic");
    let mut cf = CutFlash::recording(&mut f);
    assert_eq!(trailer::set_confirmed(&mut cf, &map, &t, 0), Ok(SetOutcome::Written));
    assert_eq!(
        cf.log.take().expect("log"),
        [FlashOp::Write { dev: 0, offset: pri.offset + 0x1FFE8, len: 8, first: 1 }]
    );
    // already confirmed: nothing
    let mut cf = CutFlash::new(&mut f);
    assert_eq!(trailer::set_confirmed(&mut cf, &map, &t, 0), Ok(SetOutcome::Unchanged));
    assert_eq!(cf.ops, 0);
    // corrupt magic: BOOT_EBADVECT, nothing written
    let (map, mut f, t) = pending_setup(8, 0xff);
    load(&mut f, pri, 0x1FFF0, &[0; 16]);
    let mut cf = CutFlash::new(&mut f);
    assert_eq!(trailer::set_confirmed(&mut cf, &map, &t, 0), Err(TrailerError::BadVector));
    assert_eq!(cf.ops, 0);
}

#[test]
fn unknown_image_index_is_a_typed_error() {
    let (map, mut f, t) = pending_setup(8, 0xff);
    assert_eq!(
        trailer::set_pending(&mut f, &map, &t, 3, false),
        Err(TrailerError::NoArea(AreaId::Secondary(3)))
    );
    let map32 = map_of32();
    let mut f = ram_flash(&map32);
    assert!(matches!(trailer::set_confirmed(&mut f, &map32, &t, 0), Err(TrailerError::BadWriteSize { .. })));
    let _ = Algorithm::SwapScratch;
}

fn map_of32() -> mcuboot::layout::FlashMap {
    map("k64f", 32, 0xff)
}
