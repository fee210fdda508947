//! The emulated NOR flash: NOR rules, strict vs realistic programming, counters, every fault
//! kind's exact resulting flash state, snapshots and persistence.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use mcuboot::flash::{Flash, FlashError, Geometry, SectorRun};
use mcuboot::layout::{AreaId, FlashMap};
use proptest::prelude::*;
use rstest::rstest;
use sim_device::flash::persist::PersistError;
use sim_device::flash::{
    EraseTear, FaultKind, FaultPlan, GeometryError, ProgramMode, Rng, SectorCounters, SimFlash, WriteTear,
};

/// 4 sectors of 256 bytes, write size 8.
fn small(erased: u8, mode: ProgramMode) -> SimFlash {
    SimFlash::new(vec![Geometry::uniform(4, 256, 8, erased)], mode).unwrap()
}

fn bytes(f: &SimFlash, range: std::ops::Range<usize>) -> Vec<u8> {
    f.contents(0).unwrap()[range].to_vec()
}

#[rstest]
fn starts_erased_and_rejects_misuse(#[values(0xff, 0x00)] erased: u8) {
    let mut f = small(erased, ProgramMode::Strict);
    assert!(f.contents(0).unwrap().iter().all(|&b| b == erased));
    assert_eq!(f.write(0, 4, &[0; 8]), Err(FlashError::Misaligned { offset: 4, len: 8, write_size: 8 }));
    assert_eq!(f.write(0, 0, &[0; 4]), Err(FlashError::Misaligned { offset: 0, len: 4, write_size: 8 }));
    assert!(matches!(f.write(0, 1020, &[0; 8]), Err(FlashError::Misaligned { .. })));
    assert!(matches!(f.write(0, 1024, &[0; 8]), Err(FlashError::OutOfBounds { .. })));
    assert!(matches!(f.erase(0, 128, 256), Err(FlashError::EraseNotSectorAligned { .. })));
    assert!(matches!(f.erase(0, 0, 100), Err(FlashError::EraseNotSectorAligned { .. })));
    assert!(matches!(f.erase(0, 768, 512), Err(FlashError::EraseNotSectorAligned { .. })));
    assert_eq!(f.write(1, 0, &[0; 8]), Err(FlashError::NoDevice(1)));
    let mut buf = [0u8; 8];
    assert!(matches!(f.read(0, 1020, &mut buf), Err(FlashError::OutOfBounds { .. })));
    assert!(f.contents(0).unwrap().iter().all(|&b| b == erased), "rejected ops changed nothing");
}

#[test]
fn strict_mode_rejects_any_reprogram_even_of_the_erased_value() {
    let mut f = small(0xff, ProgramMode::Strict);
    f.write(0, 16, &[0xff; 8]).unwrap();
    // Same value, still a second program of the same cells: refused, like MCUboot's simflash.
    assert_eq!(f.write(0, 16, &[0xff; 8]), Err(FlashError::NotErased { offset: 16 }));
    f.write(0, 24, &[0x12; 8]).unwrap();
    assert_eq!(f.write(0, 16, &[0u8; 16]), Err(FlashError::NotErased { offset: 16 }));
    assert_eq!(bytes(&f, 24..32), [0x12; 8], "a refused write changes nothing");
    f.erase(0, 0, 256).unwrap();
    f.write(0, 16, &[0x34; 16]).unwrap();
    assert_eq!(bytes(&f, 16..32), [0x34; 16]);
}

#[test]
fn strict_mode_refuses_cells_loaded_with_data() {
    let mut f = small(0xff, ProgramMode::Strict);
    f.load(0, 0, &[0xff, 0xff, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap();
    assert_eq!(f.write(0, 0, &[0; 8]), Err(FlashError::NotErased { offset: 2 }));
    // Loaded erased bytes count as erased.
    f.load(0, 8, &[0xff; 8]).unwrap();
    f.write(0, 8, &[1; 8]).unwrap();
}

#[rstest]
#[case(0xff, 0b1100_1010, 0b1010_0110, 0b1000_0010)]
#[case(0x00, 0b1100_1010, 0b1010_0110, 0b1110_1110)]
fn realistic_mode_only_moves_bits_away_from_erased(
    #[case] erased: u8,
    #[case] first: u8,
    #[case] second: u8,
    #[case] expect: u8,
) {
    let mut f = small(erased, ProgramMode::Realistic);
    f.write(0, 8, &[first; 8]).unwrap();
    f.write(0, 8, &[second; 8]).unwrap();
    assert_eq!(bytes(&f, 8..16), [expect; 8]);
    f.erase(0, 0, 256).unwrap();
    assert_eq!(bytes(&f, 8..16), [erased; 8]);
}

#[test]
fn mixed_sectors_erase_whole_sectors_and_count_per_sector() {
    let map = FlashMap::preset("stm32f4").unwrap();
    let mut f = SimFlash::for_map(&map, ProgramMode::Strict).unwrap();
    // Sector 4 is the 64 KiB one at 0x10000.
    assert!(matches!(f.erase(0, 0x10000, 0x8000), Err(FlashError::EraseNotSectorAligned { .. })));
    f.write(0, 0x10000, &[0u8; 0x400]).unwrap();
    f.write(0, 0x1fc00, &[0u8; 0x400]).unwrap();
    f.erase(0, 0x10000, 0x10000).unwrap();
    assert!(f.contents(0).unwrap()[0x10000..0x20000].iter().all(|&b| b == 0xff));
    // One erase covering two 16 KiB sectors.
    f.erase(0, 0x4000, 0x8000).unwrap();
    let mut buf = [0u8; 16];
    f.read(0, 0x3ff8, &mut buf).unwrap(); // spans sectors 0 and 1
    let c = f.counters(0).unwrap();
    assert_eq!(c[4], SectorCounters { reads: 0, writes: 2, erases: 1 });
    assert_eq!(c[1], SectorCounters { reads: 1, writes: 0, erases: 1 });
    assert_eq!(c[2], SectorCounters { reads: 0, writes: 0, erases: 1 });
    assert_eq!(c[0], SectorCounters { reads: 1, writes: 0, erases: 0 });
    assert_eq!(f.ops(), 5, "every write and erase call is one op, refused ones included");
    f.reset_counters();
    assert_eq!(f.counters(0).unwrap()[4], SectorCounters::default());
}

#[test]
fn two_devices_are_independent() {
    let map = FlashMap::preset("nrf52840-spi").unwrap().with_flash_params(4, 0x00);
    let mut f = SimFlash::for_map(&map, ProgramMode::Strict).unwrap();
    let secondary = map.area(AreaId::Secondary(0)).unwrap();
    assert_eq!(secondary.device, 1);
    f.write(1, 0x2000, &[7; 4]).unwrap();
    f.erase(1, 0, 0x2000).unwrap(); // an 8 KiB sector on the SPI part
    assert_eq!(&f.contents(1).unwrap()[0x2000..0x2004], &[7; 4]);
    assert!(f.contents(0).unwrap().iter().all(|&b| b == 0));
    assert_eq!(f.counters(1).unwrap()[0].erases, 1);
    assert_eq!(f.counters(0).unwrap().iter().map(|c| c.erases).sum::<u64>(), 0);
}

#[test]
fn bad_geometries_are_typed_errors() {
    assert_eq!(SimFlash::new(vec![], ProgramMode::Strict).unwrap_err(), GeometryError::NoDevices);
    assert_eq!(
        SimFlash::new(vec![Geometry::uniform(4, 256, 3, 0xff)], ProgramMode::Strict).unwrap_err(),
        GeometryError::WriteSize { device: 0, write_size: 3 }
    );
    assert_eq!(
        SimFlash::new(vec![Geometry::uniform(4, 256, 8, 0x7f)], ProgramMode::Strict).unwrap_err(),
        GeometryError::ErasedValue { device: 0, value: 0x7f }
    );
    assert!(matches!(
        SimFlash::new(vec![Geometry::uniform(4, 100, 4, 0xff)], ProgramMode::Strict),
        Err(GeometryError::SectorSize { .. })
    ));
    assert!(matches!(
        SimFlash::new(vec![Geometry::uniform(1 << 20, 1024, 4, 0xff)], ProgramMode::Strict),
        Err(GeometryError::DeviceSize { .. })
    ));
}

// ---- faults -----------------------------------------------------------------------------------

/// Three writes of 16 bytes at 0, 16, 32 then an erase of sector 0: ops 1..=4.
fn run_ops(f: &mut SimFlash) -> Vec<Result<(), FlashError>> {
    vec![
        f.write(0, 0, &[0x11; 16]),
        f.write(0, 16, &[0x22; 16]),
        f.write(0, 32, &[0x33; 16]),
        f.erase(0, 0, 256),
    ]
}

#[test]
fn cut_before_leaves_the_op_undone_and_everything_after_fails() {
    let mut f = small(0xff, ProgramMode::Strict);
    f.set_faults(FaultPlan::single(2, FaultKind::CutBefore));
    let r = run_ops(&mut f);
    assert_eq!(r[0], Ok(()));
    assert_eq!(r[1], Err(FlashError::PowerLoss { op: 2 }));
    assert_eq!(r[2], Err(FlashError::PowerLoss { op: 2 }));
    assert_eq!(r[3], Err(FlashError::PowerLoss { op: 2 }));
    let mut buf = [0u8; 1];
    assert_eq!(f.read(0, 0, &mut buf), Err(FlashError::PowerLoss { op: 2 }), "reads fail too");
    assert!(!f.powered());
    assert_eq!(f.lost_at(), Some(2));
    assert_eq!(bytes(&f, 0..16), [0x11; 16]);
    assert_eq!(bytes(&f, 16..48), [0xff; 32]);
    assert_eq!(f.ops(), 2, "ops after the cut are not counted");
    f.power_on();
    f.write(0, 16, &[0x22; 16]).unwrap();
    assert_eq!(f.ops(), 3);
}

#[test]
fn cut_after_completes_the_op() {
    let mut f = small(0xff, ProgramMode::Strict);
    f.set_faults(FaultPlan::single(2, FaultKind::CutAfter));
    let r = run_ops(&mut f);
    assert_eq!(r[1], Err(FlashError::PowerLoss { op: 2 }));
    assert_eq!(bytes(&f, 0..32), [[0x11; 16], [0x22; 16]].concat());
    assert_eq!(bytes(&f, 32..48), [0xff; 16]);
    assert_eq!(f.fired().len(), 1);
}

#[rstest]
#[case::prefix(WriteTear::Prefix { bytes: 5 }, [0x22, 0x22, 0x22, 0x22, 0x22, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]
#[case::prefix_clamped(WriteTear::Prefix { bytes: 99 }, [0x22; 16])]
// Word 1 (bytes 8..16) partly programmed: 0xff & (0x22 | !0x0f) = 0xf2.
#[case::partial_word(WriteTear::PartialWord { word: 1, mask: 0x0f }, [0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0xf2, 0xf2, 0xf2, 0xf2, 0xf2, 0xf2, 0xf2, 0xf2])]
#[case::first_word(WriteTear::PartialWord { word: 0, mask: 0xf0 }, [0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0x2f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])]
fn torn_write_programs_exactly_the_documented_part(#[case] tear: WriteTear, #[case] expect: [u8; 16]) {
    let mut f = small(0xff, ProgramMode::Strict);
    f.set_faults(FaultPlan::single(2, FaultKind::TornWrite(tear)));
    let r = run_ops(&mut f);
    assert_eq!(r[1], Err(FlashError::PowerLoss { op: 2 }));
    assert_eq!(bytes(&f, 16..32), expect);
    assert_eq!(bytes(&f, 0..16), [0x11; 16]);
    assert!(!f.powered());
}

#[test]
fn torn_write_on_zero_erased_flash_sets_only_masked_bits() {
    let mut f = small(0x00, ProgramMode::Strict);
    f.set_faults(FaultPlan::single(1, FaultKind::TornWrite(WriteTear::PartialWord { word: 0, mask: 0x0f })));
    assert_eq!(f.write(0, 0, &[0x3c; 16]), Err(FlashError::PowerLoss { op: 1 }));
    assert_eq!(bytes(&f, 0..16), [[0x0c; 8], [0x00; 8]].concat());
    // A torn cell counts as programmed: strict mode refuses to program it again.
    f.power_on();
    assert_eq!(f.write(0, 0, &[0x3c; 8]), Err(FlashError::NotErased { offset: 0 }));
}

#[test]
fn torn_cells_that_still_read_erased_can_be_programmed_again() {
    let mut f = small(0x00, ProgramMode::Strict);
    // Mask 0xf0 misses bit 0 of the record byte 0x01: the whole word still reads erased.
    f.set_faults(FaultPlan::single(1, FaultKind::TornWrite(WriteTear::PartialWord { word: 0, mask: 0xf0 })));
    let record = [1, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(f.write(0, 0, &record), Err(FlashError::PowerLoss { op: 1 }));
    assert_eq!(bytes(&f, 0..8), [0; 8]);
    f.power_on();
    f.write(0, 0, &record).unwrap();
    assert_eq!(bytes(&f, 0..8), record);
}

#[test]
fn interrupted_erase_prefix_erases_only_the_prefix() {
    let mut f = small(0xff, ProgramMode::Strict);
    f.set_faults(FaultPlan::single(4, FaultKind::InterruptedErase(EraseTear::Prefix { bytes: 20 })));
    let r = run_ops(&mut f);
    assert_eq!(r[3], Err(FlashError::PowerLoss { op: 4 }));
    assert_eq!(bytes(&f, 0..20), [0xff; 20]);
    assert_eq!(bytes(&f, 20..32), [0x22; 12]);
    assert_eq!(bytes(&f, 32..48), [0x33; 16]);
    assert_eq!(f.counters(0).unwrap()[0].erases, 1, "an interrupted erase still wears the sector");
}

#[rstest]
fn interrupted_erase_random_leaves_bytes_between_old_and_erased(#[values(0xff, 0x00)] erased: u8) {
    let mut f = small(erased, ProgramMode::Strict);
    let old: Vec<u8> = (0..256u32).map(|i| (i * 37 % 251) as u8).collect();
    f.load(0, 0, &old).unwrap();
    f.set_faults(FaultPlan::single(1, FaultKind::InterruptedErase(EraseTear::Random { seed: 9 })));
    assert_eq!(f.erase(0, 0, 256), Err(FlashError::PowerLoss { op: 1 }));
    // Recompute the documented result: old | r (0xff) or old & r (0x00), r from Rng(seed).
    let mut rng = Rng::new(9);
    let mut expect = old.clone();
    for chunk in expect.chunks_mut(8) {
        let r = rng.next_u64().to_le_bytes();
        for (b, r) in chunk.iter_mut().zip(r) {
            *b = if erased == 0xff { *b | r } else { *b & r };
        }
    }
    assert_eq!(bytes(&f, 0..256), expect);
    assert_ne!(expect, old, "some bits moved");
    // Untouched sectors stay as they were.
    assert!(bytes(&f, 256..1024).iter().all(|&b| b == erased));
}

#[test]
fn silent_write_reports_success_and_changes_nothing() {
    let mut f = small(0xff, ProgramMode::Strict);
    f.set_faults(FaultPlan::new().with(2, FaultKind::SilentWrite).with(4, FaultKind::SilentWrite));
    let r = run_ops(&mut f);
    assert!(r.iter().all(Result::is_ok));
    assert_eq!(bytes(&f, 0..16), [0x11; 16], "the silent erase left sector 0 alone");
    assert_eq!(bytes(&f, 16..32), [0xff; 16]);
    assert_eq!(bytes(&f, 32..48), [0x33; 16]);
    assert!(f.powered());
    assert_eq!(f.fired().len(), 2);
}

#[test]
fn bit_flips_happen_after_their_op() {
    let mut f = small(0xff, ProgramMode::Strict);
    f.set_faults(
        FaultPlan::new()
            .with(0, FaultKind::BitFlip { device: 0, offset: 100, bit: 0 })
            .with(1, FaultKind::BitFlip { device: 0, offset: 3, bit: 7 }),
    );
    assert_eq!(bytes(&f, 100..101), [0xfe], "op 0 = at once");
    f.write(0, 0, &[0x11; 16]).unwrap();
    assert_eq!(bytes(&f, 0..4), [0x11, 0x11, 0x11, 0x91]);
    assert_eq!(f.fired().len(), 2);
}

#[test]
fn fault_meant_for_a_write_that_hits_an_erase_cuts_before_it() {
    let mut f = small(0xff, ProgramMode::Strict);
    f.write(0, 0, &[0x11; 16]).unwrap();
    f.set_faults(FaultPlan::single(2, FaultKind::TornWrite(WriteTear::Prefix { bytes: 1 })));
    assert_eq!(f.erase(0, 0, 256), Err(FlashError::PowerLoss { op: 2 }));
    assert_eq!(bytes(&f, 0..16), [0x11; 16]);
}

#[test]
fn seeded_random_bit_flips_are_replayable() {
    let run = |seed| {
        let mut f = small(0xff, ProgramMode::Strict);
        f.set_faults(FaultPlan::new().random_bit_flips(seed, 10, 0, 0..1024, 0));
        f.contents(0).unwrap().to_vec()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
    assert!(run(5).iter().any(|&b| b != 0xff));
}

// ---- snapshots --------------------------------------------------------------------------------

#[test]
fn restore_puts_everything_back_and_replays_the_plan() {
    let map = FlashMap::preset("k64f").unwrap();
    let mut f = SimFlash::for_map(&map, ProgramMode::Strict).unwrap();
    f.write(0, 0x20000, &[1; 64]).unwrap();
    f.set_faults(FaultPlan::single(4, FaultKind::CutBefore));
    let snap = f.snapshot();
    let before = f.clone();
    f.erase(0, 0x20000, 0x1000).unwrap();
    f.write(0, 0x40000, &[2; 8]).unwrap();
    assert_eq!(f.write(0, 0x60000, &[3; 8]), Err(FlashError::PowerLoss { op: 4 }));
    assert_eq!(f.dirty_sectors().len(), 2);
    f.restore(&snap).unwrap();
    assert_eq!(f.contents(0), before.contents(0));
    assert_eq!(f.counters(0), before.counters(0));
    assert_eq!(f.ops(), 1);
    assert!(f.powered());
    assert!(f.dirty_sectors().is_empty());
    // The plan fires again from the restored op counter.
    f.erase(0, 0x20000, 0x1000).unwrap();
    f.write(0, 0x40000, &[2; 8]).unwrap();
    assert_eq!(f.write(0, 0x60000, &[3; 8]), Err(FlashError::PowerLoss { op: 4 }));
    // And strict-mode state came back too: the restored written bytes are still refused.
    f.restore(&snap).unwrap();
    assert_eq!(f.write(0, 0x20000, &[1; 8]), Err(FlashError::NotErased { offset: 0x20000 }));
}

#[test]
fn restoring_an_older_snapshot_copies_everything() {
    let mut f = small(0xff, ProgramMode::Strict);
    let s1 = f.snapshot();
    f.write(0, 0, &[1; 8]).unwrap();
    let s2 = f.snapshot();
    f.write(0, 512, &[2; 8]).unwrap();
    f.restore(&s1).unwrap();
    assert!(f.contents(0).unwrap().iter().all(|&b| b == 0xff));
    f.restore(&s2).unwrap();
    assert_eq!(bytes(&f, 0..8), [1; 8]);
    assert_eq!(bytes(&f, 512..520), [0xff; 8]);
    let other =
        SimFlash::new(vec![Geometry::uniform(2, 256, 8, 0xff)], ProgramMode::Strict).unwrap().snapshot();
    assert!(f.restore(&other).is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Write { sector: u32, word: u32, words: u32, value: u8 },
    Erase { sector: u32 },
    Flip { offset: u32, bit: u8 },
    Load { offset: u32, value: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..8u32, 0..32u32, 1..4u32, any::<u8>()).prop_map(|(sector, word, words, value)| Op::Write {
            sector,
            word,
            words,
            value
        }),
        (0..8u32).prop_map(|sector| Op::Erase { sector }),
        (0..2048u32, 0..8u8).prop_map(|(offset, bit)| Op::Flip { offset, bit }),
        (0..2040u32, any::<u8>()).prop_map(|(offset, value)| Op::Load { offset, value }),
    ]
}

fn apply(f: &mut SimFlash, ops: &[Op]) {
    for op in ops {
        // Errors (strict refusals, power loss) are part of the behaviour under test.
        let _ = match *op {
            Op::Write { sector, word, words, value } => {
                let off = sector * 256 + (word * 8).min(256 - words * 8);
                f.write(0, off, &vec![value; (words * 8) as usize])
            }
            Op::Erase { sector } => f.erase(0, sector * 256, 256),
            Op::Flip { offset, bit } => f.flip_bit(0, offset, bit),
            Op::Load { offset, value } => f.load(0, offset, &[value; 8]),
        };
    }
}

proptest! {
    /// Whatever happens after a snapshot (writes, erases, faults, loads, flips), restoring it
    /// gives back a flash that behaves exactly like the original from then on.
    #[test]
    fn snapshot_restore_is_exact(
        setup in proptest::collection::vec(op(), 0..20),
        after in proptest::collection::vec(op(), 0..30),
        probe in proptest::collection::vec(op(), 0..20),
        cut in 1..40u64,
        realistic in any::<bool>(),
    ) {
        let mode = if realistic { ProgramMode::Realistic } else { ProgramMode::Strict };
        let mut f = SimFlash::new(vec![Geometry { sectors: vec![SectorRun { count: 4, size: 256 }, SectorRun { count: 2, size: 512 }], write_size: 8, erased_value: 0xff }], mode).unwrap();
        apply(&mut f, &setup);
        let snap = f.snapshot();
        let mut reference = f.clone();
        f.set_faults(FaultPlan::single(cut, FaultKind::TornWrite(WriteTear::Prefix { bytes: 3 })));
        apply(&mut f, &after);
        f.restore(&snap).unwrap();
        f.clear_faults();
        prop_assert_eq!(f.contents(0), reference.contents(0));
        prop_assert_eq!(f.counters(0), reference.counters(0));
        prop_assert_eq!(f.ops(), reference.ops());
        // Same future behaviour, strict-mode refusals included.
        apply(&mut f, &probe);
        apply(&mut reference, &probe);
        prop_assert_eq!(f.contents(0), reference.contents(0));
    }
}

// ---- persistence ------------------------------------------------------------------------------

fn sample() -> (FlashMap, SimFlash) {
    let map = FlashMap::preset("nrf52840-spi").unwrap().with_flash_params(4, 0xff);
    let mut f = SimFlash::for_map(&map, ProgramMode::Strict).unwrap();
    f.write(0, 0x8000, b"imageimage!!").unwrap();
    f.erase(1, 0x2000, 0x2000).unwrap();
    f.write(1, 0x10, &[0, 1, 2, 3]).unwrap();
    (map, f)
}

#[test]
fn persistence_round_trip_keeps_cells_counters_and_strictness() {
    let (map, f) = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flash.bin");
    f.save(&path).unwrap();
    let mut g = SimFlash::load_file(&path, Some(&map.devices), ProgramMode::Strict).unwrap();
    assert_eq!(g.contents(0), f.contents(0));
    assert_eq!(g.contents(1), f.contents(1));
    assert_eq!(g.counters(1), f.counters(1));
    assert_eq!(g.write(0, 0x8000, &[0; 4]), Err(FlashError::NotErased { offset: 0x8000 }));
    // Without expectations the file's own geometry is used.
    let h = SimFlash::from_bytes(&f.to_bytes(), None, ProgramMode::Realistic).unwrap();
    assert_eq!(h.geometry(1).unwrap(), &map.devices[1]);
}

#[test]
fn a_restarted_device_keeps_its_flash() {
    let map = FlashMap::preset("k64f").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.bin");
    // First start: no file yet, an erased flash.
    let mut f = SimFlash::open_or_erased(&path, &map.devices, ProgramMode::Strict).unwrap();
    assert!(f.contents(0).unwrap().iter().all(|&b| b == 0xff));
    f.write(0, 0x20000, &[0x5a; 8]).unwrap();
    f.save(&path).unwrap();
    drop(f);
    // Restart: the write is still there.
    let g = SimFlash::open_or_erased(&path, &map.devices, ProgramMode::Strict).unwrap();
    assert_eq!(&g.contents(0).unwrap()[0x20000..0x20008], &[0x5a; 8]);
    // Restart with another layout: refused, the file is left alone.
    let other = FlashMap::preset("nrf52840").unwrap().with_flash_params(4, 0xff);
    assert!(matches!(
        SimFlash::open_or_erased(&path, &other.devices, ProgramMode::Strict),
        Err(PersistError::GeometryMismatch { .. })
    ));
    assert!(SimFlash::load_file(&path, Some(&map.devices), ProgramMode::Strict).is_ok());
}

#[test]
fn corrupt_files_give_typed_errors() {
    let (map, f) = sample();
    let good = f.to_bytes();
    let load = |b: &[u8]| SimFlash::from_bytes(b, Some(&map.devices), ProgramMode::Strict);

    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(matches!(load(&bad), Err(PersistError::BadMagic { .. })));

    let mut bad = good.clone();
    bad[8] = 2;
    assert!(matches!(load(&bad), Err(PersistError::UnsupportedVersion { found: 2 })));

    let mut bad = good.clone();
    bad[5000] ^= 1;
    assert!(matches!(load(&bad), Err(PersistError::Checksum { .. })));

    assert!(matches!(load(&good[..good.len() - 1]), Err(PersistError::Checksum { .. })));
    assert!(matches!(load(&good[..9]), Err(PersistError::Truncated { what: "format version", .. })));
    assert!(matches!(load(&[]), Err(PersistError::Truncated { what: "magic", .. })));

    // A different expected geometry.
    let other = FlashMap::preset("nrf52840-spi").unwrap().with_flash_params(8, 0xff);
    assert!(matches!(
        SimFlash::from_bytes(&good, Some(&other.devices), ProgramMode::Strict),
        Err(PersistError::GeometryMismatch { device: 0, .. })
    ));
    let k64f = FlashMap::preset("k64f").unwrap();
    assert!(matches!(
        SimFlash::from_bytes(&good, Some(&k64f.devices), ProgramMode::Strict),
        Err(PersistError::DeviceCount { expected: 1, found: 2 })
    ));

    // A well-formed header claiming a huge device, with a valid checksum: refused before allocating.
    let mut huge = Vec::new();
    huge.extend_from_slice(b"BROWNFLS");
    huge.extend_from_slice(&1u16.to_le_bytes());
    huge.extend_from_slice(&1u16.to_le_bytes());
    huge.extend_from_slice(&4u32.to_le_bytes());
    huge.extend_from_slice(&[0xff, 0, 0, 0]);
    huge.extend_from_slice(&1u32.to_le_bytes());
    huge.extend_from_slice(&0x1000u32.to_le_bytes());
    huge.extend_from_slice(&0x1000u32.to_le_bytes());
    let crc = crc_of(&huge);
    huge.extend_from_slice(&crc.to_le_bytes());
    assert!(matches!(
        SimFlash::from_bytes(&huge, None, ProgramMode::Strict),
        Err(PersistError::Truncated { what: "device contents", .. })
    ));

    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        SimFlash::load_file(&dir.path().join("missing"), None, ProgramMode::Strict),
        Err(PersistError::Io { .. })
    ));
}

/// CRC-32/ISO-HDLC, bit by bit (independent of the implementation under test).
fn crc_of(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[test]
fn load_area_puts_an_image_in_a_slot() {
    let map = FlashMap::preset("k64f").unwrap();
    let mut f = SimFlash::for_map(&map, ProgramMode::Strict).unwrap();
    let slot = map.area(AreaId::Secondary(0)).unwrap();
    f.load_area(slot, &[0xab; 100]).unwrap();
    assert_eq!(&f.area_contents(slot).unwrap()[..100], &[0xab; 100]);
    assert_eq!(f.ops(), 0, "loading is not a flash operation");
    assert!(f.load_area(slot, &vec![0; slot.size as usize + 1]).is_err());
    f.erase_area_direct(slot).unwrap();
    assert!(f.area_contents(slot).unwrap().iter().all(|&b| b == 0xff));
}
