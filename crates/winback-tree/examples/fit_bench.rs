//! Times the segmenter's fit on a large matrix, and writes the matrix for the
//! scikit-learn comparison in `benches/compare_sklearn.py`.
//!
//! ```sh
//! cargo run --release -p winback-tree --example fit_bench -- 1000000 30 bench-out/matrix.bin
//! ```
//! The matrix: `rows × cols` integer-valued and continuous features from a seeded
//! generator, with a repurchase outcome (~15% positives) driven by a few of them.
//! Binary layout: u64 rows, u64 cols, rows×cols f64 (row-major), rows u8 labels.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::Write;
use std::time::Instant;

use linfa::ParamGuard;
use ndarray::Array2;
use winback_core::features::{Feature, FeatureKind, Source};
use winback_stats::Rng;
use winback_tree::{Segmenter, TrainingData};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: usize = args.first().map_or(Ok(1_000_000), |s| s.parse())?;
    let cols: usize = args.get(1).map_or(Ok(30), |s| s.parse())?;
    let out = args.get(2);
    let mut rng = Rng::new(7);
    let x = Array2::from_shape_fn((rows, cols), |(_, j)| match j % 3 {
        0 => rng.below(365) as f64,        // days
        1 => rng.below(20) as f64,         // counts
        _ => (rng.f64() * 500.0).round() / 10.0, // money-like
    });
    let y: Vec<bool> = (0..rows)
        .map(|i| {
            let r = x[(i, 0)];
            let f = x[(i, 1)];
            let logit = -1.2 - r / 120.0 + f / 10.0 + if x[(i, 2)] > 25.0 { 0.4 } else { 0.0 };
            rng.f64() < 1.0 / (1.0 + (-logit).exp())
        })
        .collect();
    let features: Vec<Feature> = (0..cols)
        .map(|j| Feature { name: format!("f{j}"), kind: [FeatureKind::Days, FeatureKind::Count, FeatureKind::Money][j % 3].clone(), unit: String::new(), source: Source::Recency })
        .collect();
    if let Some(path) = out {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
        w.write_all(&(rows as u64).to_le_bytes())?;
        w.write_all(&(cols as u64).to_le_bytes())?;
        for v in x.iter() {
            w.write_all(&v.to_le_bytes())?;
        }
        w.write_all(&y.iter().map(|&b| u8::from(b)).collect::<Vec<_>>())?;
    }
    let params = Segmenter::params().check()?;
    let t = Instant::now();
    let seg = params.fit(&TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: None })?;
    let fit_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let a = seg.assign_unchecked(x.view());
    let assign_s = t.elapsed().as_secs_f64();
    let p: Vec<f64> = a.iter().map(|&g| seg.groups[g - 1].probability).collect();
    let auc = winback_tree::metrics::auc(&p, &y);
    println!(
        "rows={rows} cols={cols} positives={:.3} groups={} fit_s={fit_s:.3} assign_s={assign_s:.3} assign_rows_per_s={:.0} train_auc={auc:.4} threads={}",
        y.iter().filter(|&&b| b).count() as f64 / rows as f64,
        seg.groups.len(),
        rows as f64 / assign_s,
        rayon::current_num_threads()
    );
    Ok(())
}
