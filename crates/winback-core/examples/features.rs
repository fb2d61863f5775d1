//! Loads a transaction file (CSV, CSV.gz or Parquet) in the generator's layout and
//! builds the features of the lapsed customers at a cutoff; prints the timings.
//! Used by `benches/compare_duckdb.py`.
//!
//! ```sh
//! cargo run --release -p winback-core --example features -- synth.parquet 2023-07-01
//! ```
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Instant;

use winback_core::date::parse_iso_date;
use winback_core::features::{learn_and_build, FeatureOptions};
use winback_core::lapse::LapseRule;
use winback_core::read::{read_csv, ColumnMap, CsvOptions};
use winback_core::LoadOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, at] = &args[..] else { return Err("usage: features FILE YYYY-MM-DD".into()) };
    let at = parse_iso_date(at).ok_or("bad date")?;
    let map = ColumnMap::new("customer_id", "date", "amount")
        .quantity("quantity")
        .order("order_id")
        .channel("channel")
        .category("category")
        .region("region");
    let t0 = Instant::now();
    let (h, report) = if path.ends_with(".parquet") {
        #[cfg(feature = "parquet")]
        {
            winback_core::arrow::read_parquet(path, &map, &LoadOptions::default())?
        }
        #[cfg(not(feature = "parquet"))]
        return Err("built without parquet".into());
    } else {
        read_csv(path, &map, &CsvOptions::default(), &LoadOptions::default())?
    };
    let load = t0.elapsed();
    let load_peak = peak_mb();
    let t1 = Instant::now();
    let lapse = LapseRule::FromHistory { quantile: 0.9 }.resolve(&h, at)?;
    let all: Vec<usize> = (0..h.num_customers()).filter(|&c| h.last_purchase_before(c, at).is_some()).collect();
    let (_, x) = learn_and_build(&h, at, &FeatureOptions::default(), &all)?;
    let feat = t1.elapsed();
    println!(
        "rows={} customers={} lapse_days={} lapsed={} features={}x{} load_s={:.3} features_s={:.3} total_s={:.3} load_peak_mb={} peak_mb={}",
        report.rows_read,
        report.customers,
        lapse.threshold_days,
        lapse.lapsed.len(),
        x.x.nrows(),
        x.x.ncols(),
        load.as_secs_f64(),
        feat.as_secs_f64(),
        t0.elapsed().as_secs_f64(),
        load_peak,
        peak_mb()
    );
    Ok(())
}

/// The process's peak resident memory so far in MB (`VmHWM` of /proc/self/status;
/// 0 where that file does not exist).
fn peak_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse::<u64>().ok()))
        .map_or(0, |kb| kb / 1024)
}
