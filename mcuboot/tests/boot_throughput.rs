//! Throughput probe, not a test of behaviour: how many cut-and-resume boot pairs per second
//! `boot` sustains over the Appendix A images on k64f (RamFlash, one core). Ignored by
//! default; run with
//! `cargo test --release -p mcuboot --test boot_throughput -- --ignored --nocapture`.
//! Nothing here asserts on time.

mod boot_support;

use std::time::{Duration, Instant};

use boot_support::*;
use mcuboot::boot::{Algorithm, BootConfig, BootState, CutFlash, boot};

#[test]
#[ignore = "throughput probe; run explicitly with --ignored --nocapture"]
fn cut_and_resume_pairs_per_second() {
    for alg in [Algorithm::SwapScratch, Algorithm::SwapMove, Algorithm::SwapOffset, Algorithm::OverwriteOnly]
    {
        let map = map("k64f", 8, 0xff);
        let cfg = BootConfig::with_algorithm(alg);
        let (a, b) = appendix_a_images();
        let start = setup(&map, &cfg, &a, Some(&b), false);
        let mut st = BootState::new();
        let mut clean = start.clone();
        let ops = boot_ok(&mut clean, &map, &cfg, &mut st).ops;
        let mut f = start.clone();
        let mut busy = Duration::ZERO;
        let mut pairs = 0u64;
        for _ in 0..20 {
            for cut in 1..=ops {
                f.clone_from(&start); // restoring the flash is the caller's cost, not timed
                let t = Instant::now();
                let mut cf = CutFlash::new(&mut f);
                cf.cut_at = Some(cut);
                let _ = boot(&mut cf, &map, &cfg, &mut st);
                let out = boot(&mut f, &map, &cfg, &mut st).expect("boot");
                busy += t.elapsed();
                assert!(out.boots.is_some());
                pairs += 1;
            }
        }
        let t = Instant::now();
        let idle = 20_000u32;
        for _ in 0..idle {
            boot(&mut clean, &map, &cfg, &mut st).expect("boot");
        }
        let idle_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(idle);
        println!(
            "{alg:?}: {ops} ops per upgrade; {:.0} cut+resume pairs/s ({:.1} us each); idle boot {idle_us:.2} us; cache (hits, misses) {:?}",
            pairs as f64 / busy.as_secs_f64(),
            busy.as_secs_f64() * 1e6 / pairs as f64,
            st.cache.stats()
        );
    }
}
