//! Criterion benchmarks of the feature step on synthetic histories of about 1M
//! and 10M transactions: building the columnar history from lines, and lapse +
//! features at a cutoff.
//!
//! `cargo bench --bench features` (seeded: the same data every run).
#![allow(clippy::unwrap_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use winback::core::features::{build_features, FeatureOptions, FeatureSchema};
use winback::core::lapse::LapseRule;
use winback::core::synthetic::{Synthetic, SyntheticConfig};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("features");
    g.sample_size(10);
    // ~28 lines per customer.
    for customers in [36_000usize, 360_000] {
        let s = Synthetic::new(SyntheticConfig { customers, seed: 42, ..Default::default() });
        let (h, report) = s.history().expect("synthetic history");
        let t = s.config().start + 540;
        g.throughput(Throughput::Elements(report.rows_read));
        let label = format!("{}k_lines", report.rows_read / 1000);
        g.bench_with_input(BenchmarkId::new("lapse_and_features", &label), &h, |b, h| {
            b.iter(|| {
                let lapse = LapseRule::FromHistory { quantile: 0.9 }.resolve(h, t).expect("lapse");
                let schema = FeatureSchema::learn(h, t, &FeatureOptions::default()).expect("schema");
                build_features(h, &schema, t, &lapse.lapsed).expect("features")
            })
        });
        g.bench_with_input(BenchmarkId::new("history_from_lines", &label), &s, |b, s| b.iter(|| s.history().expect("history")));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
