//! Criterion benchmark of group assignment: rows routed through a fitted
//! 10-group segmentation on one thread (the goal is ≥ 10M customers/s per core).
//!
//! `cargo bench --bench assign`
#![allow(clippy::unwrap_used, clippy::panic)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use linfa::ParamGuard;
use ndarray::Array2;
use winback::core::features::{Feature, FeatureKind, Source};
use winback::tree::{Segmenter, TrainingData};
use winback_stats::Rng;

fn bench(c: &mut Criterion) {
    let (rows, cols) = (1_000_000usize, 30usize);
    let mut rng = Rng::new(7);
    let x = Array2::from_shape_fn((rows, cols), |(_, j)| if j % 2 == 0 { rng.below(365) as f64 } else { rng.below(20) as f64 });
    let y: Vec<bool> = (0..rows).map(|i| rng.f64() < 0.5 / (1.0 + x[(i, 0)] / 60.0) + x[(i, 1)] / 100.0).collect();
    let features: Vec<Feature> =
        (0..cols).map(|j| Feature { name: format!("f{j}"), kind: FeatureKind::Count, unit: String::new(), source: Source::Purchases }).collect();
    let seg = Segmenter::params()
        .check()
        .expect("params")
        .fit(&TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: None })
        .expect("fit");
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let mut g = c.benchmark_group("assign");
    g.throughput(Throughput::Elements(rows as u64));
    g.sample_size(20);
    g.bench_function("1M_rows_1_thread", |b| b.iter(|| pool.install(|| seg.assign_unchecked(x.view()))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
