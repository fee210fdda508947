//! Damaged flash never makes the bootloader panic: random bytes over trailers, status records
//! and headers, at random points of a swap, give a boot outcome or a typed error.

mod boot_support;

use boot_support::*;
use mcuboot::boot::{Algorithm, BootConfig, BootState, CutFlash, boot};
use mcuboot::layout::AreaId;
use proptest::prelude::*;

const ALGS: [Algorithm; 4] =
    [Algorithm::OverwriteOnly, Algorithm::SwapScratch, Algorithm::SwapMove, Algorithm::SwapOffset];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn damaged_trailers_and_headers_do_not_panic(
        alg in 0usize..4,
        cut in 1u64..140,
        hits in proptest::collection::vec((0u8..4, 0u32..0x1000, any::<u8>()), 1..24),
        erased in prop_oneof![Just(0xffu8), Just(0x00u8)],
    ) {
        let alg = ALGS[alg];
        let map = map("k64f", 8, erased);
        let cfg = BootConfig::with_algorithm(alg);
        let (a, b) = appendix_a_images();
        let mut f = setup(&map, &cfg, &a, Some(&b), false);
        let mut st = BootState::new();
        let mut cf = CutFlash::new(&mut f);
        cf.cut_at = Some(cut);
        let _ = boot(&mut cf, &map, &cfg, &mut st);
        for (which, off, val) in hits {
            // 0/1: last sector (trailer) of primary/secondary, 2: scratch, 3: primary header sector
            let (area, base) = match which {
                0 => (map.area(AreaId::Primary(0)).expect("p"), 0x1F000),
                1 => (map.area(AreaId::Secondary(0)).expect("s"), 0x1F000),
                2 => (map.area(AreaId::Scratch).expect("scr"), 0),
                _ => (map.area(AreaId::Primary(0)).expect("p"), 0),
            };
            load(&mut f, area, base + off, &[val]);
        }
        // Reboot twice: whatever happens, no panic, and the op count is reported.
        for _ in 0..2 {
            let mut cf = CutFlash::new(&mut f);
            if let Ok(out) = boot(&mut cf, &map, &cfg, &mut st) {
                prop_assert_eq!(out.ops, cf.ops);
            }
        }
    }
}
