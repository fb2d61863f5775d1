//! The main job on the bundled data: `cargo run --release --example demo`.
//!
//! Loads the Complete Journey sample, learns the lapse threshold at a cutoff and
//! builds the feature table of the lapsed households.

use std::path::PathBuf;

use winback::core::attributes::Attributes;
use winback::core::date::{format_day, parse_iso_date};
use winback::core::features::{build_features, FeatureOptions, FeatureSchema};
use winback::core::lapse::LapseRule;
use winback::core::read::{read_csv, ColumnMap, CsvOptions};
use winback::core::LoadOptions;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets");
    let map = ColumnMap::new("household_id", "date", "sales_value")
        .quantity("quantity")
        .order("basket_id")
        .category("department")
        .region("store_id");
    let (history, report) = read_csv(data.join("completejourney_baskets.csv.gz"), &map, &CsvOptions::default(), &LoadOptions::default())?;
    print!("{report}");
    let attrs = Attributes::read_csv(data.join("completejourney_demographics.csv"), "household_id", &CsvOptions::default())?;
    let history = history.with_attributes(attrs);
    let at = parse_iso_date("2017-11-01").ok_or("date")?;
    let lapse = LapseRule::FromHistory { quantile: 0.9 }.resolve(&history, at)?;
    let gaps = lapse.gaps.as_ref().ok_or("no gaps")?;
    println!("\nstanding at {}: lapse threshold {} days (0.9-quantile of {} gaps between purchase days)", format_day(at), lapse.threshold_days, gaps.count);
    for (q, g) in &gaps.quantiles {
        println!("  gap q{:<4} {:>6.1} days", q, g);
    }
    println!("{} of {} households with history are lapsed", lapse.lapsed.len(), lapse.customers_with_history);
    let schema = FeatureSchema::learn(&history, at, &FeatureOptions::default())?;
    let x = build_features(&history, &schema, at, &lapse.lapsed)?;
    println!("\nfeatures of the lapsed: {} rows x {} columns", x.x.nrows(), x.x.ncols());
    println!("{:<28} {:>10} {:>10} {:>10}", "feature", "mean", "min", "max");
    for (j, f) in schema.features.iter().enumerate().take(20) {
        let c = x.x.column(j);
        let mean = c.sum() / c.len() as f64;
        let min = c.iter().copied().fold(f64::INFINITY, f64::min);
        let max = c.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!("{:<28} {:>10.2} {:>10.2} {:>10.2}", f.name, mean, min, max);
    }
    Ok(())
}
