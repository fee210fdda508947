//! The swap-type decision table (reference `mcuboot.md` §5), every row including BAD states,
//! both on decoded states and through real trailers on flash.

mod boot_support;

use boot_support::*;
use mcuboot::boot::{Algorithm, BootConfig, BootState, decide_swap_type};
use mcuboot::layout::AreaId;
use mcuboot::trailer::{self, FlagState, MagicState, SwapState, SwapType};

fn st(magic: MagicState, image_ok: FlagState, copy_done: FlagState) -> SwapState {
    SwapState { magic, swap_type: SwapType::None, image_num: 0, copy_done, image_ok }
}

use FlagState::{Bad as FB, Set, Unset};
use MagicState::{Bad as MB, Good, Unset as MU};

const MAGICS: [MagicState; 3] = [Good, MU, MB];
const FLAGS: [FlagState; 3] = [Set, Unset, FB];

/// One table row: primary (magic, image_ok, copy_done), secondary (same), result, offset-only.
/// `None` = any.
type Row = (
    Option<MagicState>,
    Option<FlagState>,
    Option<FlagState>,
    Option<MagicState>,
    Option<FlagState>,
    Option<FlagState>,
    SwapType,
    bool,
);

/// The table written out independently: first matching row wins.
fn expected(p: &SwapState, s: &SwapState, offset: bool) -> SwapType {
    let rows: [Row; 4] = [
        (None, None, None, Some(Good), Some(Unset), Some(Set), SwapType::Revert, true),
        (None, None, None, Some(Good), Some(Unset), None, SwapType::Test, false),
        (None, None, None, Some(Good), Some(Set), None, SwapType::Perm, false),
        (Some(Good), Some(Unset), Some(Set), None, None, None, SwapType::Revert, false),
    ];
    for (pm, pok, pcd, sm, sok, scd, ty, offset_only) in rows {
        if offset_only && !offset {
            continue;
        }
        let m = |want: Option<MagicState>, got| want.is_none_or(|w| w == got);
        let f = |want: Option<FlagState>, got| want.is_none_or(|w| w == got);
        if m(pm, p.magic)
            && f(pok, p.image_ok)
            && f(pcd, p.copy_done)
            && m(sm, s.magic)
            && f(sok, s.image_ok)
            && f(scd, s.copy_done)
        {
            return ty;
        }
    }
    SwapType::None
}

#[test]
fn every_combination_of_states_follows_the_table() {
    let mut seen = std::collections::HashSet::new();
    for offset in [false, true] {
        for pm in MAGICS {
            for pok in FLAGS {
                for pcd in FLAGS {
                    for sm in MAGICS {
                        for sok in FLAGS {
                            for scd in FLAGS {
                                let p = st(pm, pok, pcd);
                                let s = st(sm, sok, scd);
                                let got = decide_swap_type(&p, &s, offset);
                                assert_eq!(got, expected(&p, &s, offset), "{p:?} {s:?} offset {offset}");
                                seen.insert(got);
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(seen.len(), 4, "all of NONE/TEST/PERM/REVERT occur");
}

#[test]
fn named_rows() {
    // Row I only in offset builds: otherwise the same state is a TEST.
    let s = st(Good, Unset, Set);
    assert_eq!(decide_swap_type(&st(MU, Unset, Unset), &s, true), SwapType::Revert);
    assert_eq!(decide_swap_type(&st(MU, Unset, Unset), &s, false), SwapType::Test);
    // Row II beats row IV.
    assert_eq!(decide_swap_type(&st(Good, Unset, Set), &st(Good, Unset, Unset), false), SwapType::Test);
    // Row III.
    assert_eq!(decide_swap_type(&st(MB, FB, FB), &st(Good, Set, FB), false), SwapType::Perm);
    // A BAD secondary image_ok matches no secondary row; row IV then decides.
    assert_eq!(decide_swap_type(&st(Good, Unset, Set), &st(Good, FB, Unset), false), SwapType::Revert);
    assert_eq!(decide_swap_type(&st(Good, Set, Set), &st(Good, FB, Unset), false), SwapType::None);
    // Row IV needs GOOD magic, UNSET image_ok, SET copy_done on the primary.
    assert_eq!(decide_swap_type(&st(Good, FB, Set), &st(MU, Unset, Unset), false), SwapType::None);
    assert_eq!(decide_swap_type(&st(Good, Unset, FB), &st(MU, Unset, Unset), false), SwapType::None);
    assert_eq!(decide_swap_type(&st(MB, Unset, Set), &st(MU, Unset, Unset), false), SwapType::None);
    assert_eq!(decide_swap_type(&st(Good, Unset, Set), &st(MB, Unset, Unset), false), SwapType::Revert);
}

/// The same rows through real trailer bytes on flash, including BAD flag bytes (0x00 on a
/// 0xFF-erased part, 0xFF on a 0x00-erased part), by booting with a valid secondary image.
#[test]
fn table_through_flash_bytes() {
    for erased in [0xff, 0x00] {
        let map = map("k64f", 8, erased);
        let cfg = BootConfig::with_algorithm(Algorithm::SwapScratch);
        let l = layout(&cfg);
        let (a, b) = appendix_a_images();
        let bad = !erased;
        let pri = map.area(AreaId::Primary(0)).expect("pri");
        let sec = map.area(AreaId::Secondary(0)).expect("sec");
        // (secondary image_ok byte, expected swap type)
        for (ok_byte, want) in
            [(None, SwapType::Test), (Some(1u8), SwapType::Perm), (Some(bad), SwapType::None)]
        {
            let mut f = ram_flash(&map);
            load(&mut f, pri, 0, &a.bytes);
            load(&mut f, sec, 0, &b.bytes);
            trailer::write_magic(&mut f, &l, sec).expect("magic");
            if let Some(v) = ok_byte {
                trailer::write_field(&mut f, &l, sec, l.image_ok_off(sec.size), &[v]).expect("ok");
            }
            let mut bs = BootState::new();
            let out = boot_ok(&mut f, &map, &cfg, &mut bs);
            assert_eq!(out.images[0].swap_type, want, "erased {erased:#x} image_ok {ok_byte:?}");
        }
    }
}
