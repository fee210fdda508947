//! Fault injection: what goes wrong, and at which flash operation.
//!
//! Flash operations (every `write` and every `erase` call on a [`SimFlash`](super::SimFlash))
//! are numbered from 1 after the op counter was last reset or restored. A [`Fault`] names the
//! operation it strikes and what happens there:
//!
//! | kind | what the flash holds afterwards | what the caller sees |
//! |---|---|---|
//! | [`FaultKind::CutBefore`] | op N not performed | `PowerLoss { op: N }` from op N |
//! | [`FaultKind::CutAfter`] | op N fully performed | `PowerLoss { op: N }` from op N |
//! | [`FaultKind::TornWrite`] | a part of write N programmed ([`WriteTear`]) | `PowerLoss { op: N }` |
//! | [`FaultKind::InterruptedErase`] | erase N partly done ([`EraseTear`]) | `PowerLoss { op: N }` |
//! | [`FaultKind::SilentWrite`] | op N not performed | `Ok(())` (the driver lies) |
//! | [`FaultKind::BitFlip`] | one bit inverted after op N | nothing |
//!
//! After any power cut every further call (reads included) fails with `PowerLoss` until
//! [`SimFlash::power_on`](super::SimFlash::power_on). A fault meant for a write that lands on an
//! erase (or the other way round) cuts power before that operation, so a plan never silently
//! does nothing.

/// Where and what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// The 1-based number of the flash operation the fault strikes. For
    /// [`FaultKind::BitFlip`], the flip happens after this operation completes (0 = at once,
    /// when the plan is installed).
    pub op: u64,
    pub kind: FaultKind,
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Power is cut just before the operation starts.
    CutBefore,
    /// The operation completes, then power is cut before the CPU does anything else.
    CutAfter,
    /// Power is cut while a write is programming.
    TornWrite(WriteTear),
    /// Power is cut while an erase is running.
    InterruptedErase(EraseTear),
    /// The operation reports success but changes nothing (a lying driver, a write-protected
    /// region). Works on writes and erases alike.
    SilentWrite,
    /// Bit `bit` (0 = least significant) of the byte at `offset` on device `device` inverts.
    BitFlip { device: u8, offset: u32, bit: u8 },
}

impl FaultKind {
    /// True for faults that strike after their op completed (cut after, bit flip); false for
    /// those that change how the op itself is carried out.
    pub fn is_after_op(&self) -> bool {
        matches!(self, FaultKind::CutAfter | FaultKind::BitFlip { .. })
    }
}

/// How much of a torn write reached the cells.
///
/// A NOR part programs a write word by word; power lost in the middle leaves the words before
/// the cut programmed, the word being programmed partly charged, and the rest untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTear {
    /// Only the first `bytes` bytes are programmed (clamped to the write's length); the rest
    /// keep their old contents.
    Prefix { bytes: u32 },
    /// Words (of the device's write size) before `word` are programmed; in word `word` only the
    /// bits set in `mask` (the same mask for every byte of the word) take their new value; words
    /// after it keep their old contents. `word` is clamped to the last word of the write.
    /// Cells of that word that still read erased count as unwritten (strict mode lets them
    /// be programmed again, as the physics do).
    PartialWord { word: u32, mask: u8 },
}

/// How much of an interrupted erase happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EraseTear {
    /// The first `bytes` bytes of the erased range read as erased (clamped to its length); the
    /// rest keep their old contents.
    Prefix { bytes: u32 },
    /// Every byte of the range lies between its old value and the erased value, bit by bit:
    /// with erased value 0xFF each byte becomes `old | r`, with 0x00 it becomes `old & r`,
    /// `r` drawn from [`Rng`] seeded with `seed`, one draw per 8 bytes (little-endian).
    Random { seed: u64 },
}

/// A set of faults, installed with [`SimFlash::set_faults`](super::SimFlash::set_faults).
///
/// Faults are kept sorted by op; several may strike the same op (e.g. a bit flip and a cut
/// after it). Restoring a snapshot re-arms every fault whose op lies after the restored op
/// counter, so one plan can be replayed from one snapshot many times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FaultPlan {
    faults: Vec<Fault>,
}

impl FaultPlan {
    /// No faults.
    pub fn new() -> FaultPlan {
        FaultPlan::default()
    }

    /// A plan holding exactly one fault.
    pub fn single(op: u64, kind: FaultKind) -> FaultPlan {
        FaultPlan { faults: vec![Fault { op, kind }] }
    }

    /// Add a fault (builder style).
    pub fn with(mut self, op: u64, kind: FaultKind) -> FaultPlan {
        self.push(Fault { op, kind });
        self
    }

    /// Add a fault, keeping the plan sorted by op; on the same op, faults that decide how the
    /// op is carried out come before bit flips and cuts after it; otherwise faults keep the
    /// order they were added in. Only the first how-to-carry-out fault of an op takes effect.
    pub fn push(&mut self, fault: Fault) {
        let key = |f: &Fault| (f.op, f.kind.is_after_op());
        let at = self.faults.partition_point(|f| key(f) <= key(&fault));
        self.faults.insert(at, fault);
    }

    /// `count` bit flips at random places in `device[range]`, all after op `after_op`, drawn
    /// from `Rng::new(seed)` (so the same seed always gives the same flips).
    pub fn random_bit_flips(
        mut self,
        seed: u64,
        count: u32,
        device: u8,
        range: std::ops::Range<u32>,
        after_op: u64,
    ) -> FaultPlan {
        let mut rng = Rng::new(seed);
        let len = range.end.saturating_sub(range.start);
        if len == 0 {
            return self;
        }
        for _ in 0..count {
            let offset = range.start + rng.below(u64::from(len)) as u32;
            let bit = rng.below(8) as u8;
            self.push(Fault { op: after_op, kind: FaultKind::BitFlip { device, offset, bit } });
        }
        self
    }

    /// The faults, sorted by op.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// True if the plan holds no fault.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// Remove every fault, keeping the allocation (for sweeps that re-arm millions of times).
    pub fn clear(&mut self) {
        self.faults.clear();
    }
}

/// A small, fast, seeded pseudo-random generator (SplitMix64). Every random choice in the
/// simulator goes through one of these, so a printed seed replays a run exactly.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0). The tiny modulo bias is irrelevant here.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_stays_sorted_and_stable() {
        let plan = FaultPlan::new()
            .with(5, FaultKind::CutAfter)
            .with(2, FaultKind::SilentWrite)
            .with(5, FaultKind::BitFlip { device: 0, offset: 1, bit: 0 });
        let ops: Vec<u64> = plan.faults().iter().map(|f| f.op).collect();
        assert_eq!(ops, [2, 5, 5]);
        assert_eq!(plan.faults()[1].kind, FaultKind::CutAfter);
        let plan = plan.with(5, FaultKind::CutBefore);
        assert_eq!(plan.faults()[1].kind, FaultKind::CutBefore, "how-to-perform faults go first");
    }

    #[test]
    fn rng_is_deterministic() {
        let a: Vec<u64> = {
            let mut r = Rng::new(7);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let mut r = Rng::new(7);
        assert_eq!(a, (0..4).map(|_| r.next_u64()).collect::<Vec<_>>());
        assert_ne!(a[0], a[1]);
    }

    #[test]
    fn random_flips_stay_in_range() {
        let plan = FaultPlan::new().random_bit_flips(3, 50, 0, 100..108, 0);
        assert_eq!(plan.faults().len(), 50);
        for f in plan.faults() {
            let FaultKind::BitFlip { offset, bit, .. } = f.kind else { panic!("not a flip") };
            assert!((100..108).contains(&offset) && bit < 8);
        }
    }
}
