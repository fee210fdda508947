//! Sweep throughput: cut-reboot-verify cycles per second on the k64f layout (MCUboot's own C
//! simulator manages about 390 per second on the same machine, mcuboot.md §7.4).
//!
//! `cargo bench -p sim-device --bench sweep` — criterion reports the time per sweep and the
//! throughput in cases (one case = restore, boot with a power cut, power on, boot to the end,
//! verify images and trailers).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mcuboot::boot::Algorithm;
use sim_device::sweep::{CutKind, SweepImages, SweepParams, run_sweep};

fn sweep_throughput(c: &mut Criterion) {
    let images = SweepImages::appendix_a();
    let mut group = c.benchmark_group("k64f sweep");
    for (algorithm, cuts) in [
        (Algorithm::SwapScratch, "before"),
        (Algorithm::SwapScratch, "all"),
        (Algorithm::SwapMove, "all"),
        (Algorithm::SwapOffset, "all"),
        (Algorithm::OverwriteOnly, "all"),
    ] {
        let mut params = SweepParams::new("k64f", algorithm);
        params.cuts = CutKind::parse_list(cuts).unwrap_or_default();
        let cases = run_sweep(&params, &images).map(|r| r.cases).unwrap_or(0);
        group.throughput(Throughput::Elements(cases));
        group.bench_function(format!("{} cuts={cuts}", sim_device::sweep::algorithm_name(algorithm)), |b| {
            b.iter(|| run_sweep(&params, &images))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = sweep_throughput
}
criterion_main!(benches);
