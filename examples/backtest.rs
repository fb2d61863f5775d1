//! Rolling backtest of the grouped model against recency-only and RFM rankings on
//! both bundled real samples (the README's table):
//! `cargo run --release --example backtest`; `-- --shared` runs it on the full
//! data in `../shared/data` (Complete Journey at 2017-07-01, 09-01, 11-01; Online
//! Retail at 2011-06-01, 08-01, 10-10); `--no-btyd`, `--percentiles`, `--recent-weight W` and
//! `--training-rows-only` change the config to measure what each part adds (`--split-on smoothed`
//! chooses the splits on a smoothed chance; `--group-order observed` orders the groups by their
//! own rates); `--synthetic` runs it on the seeded generator (40,000 customers, with and without its
//! yearly season) instead; `--restarts M`
//! (honest splits tried) and `--seed S` set the segmenter's.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use winback::core::attributes::Attributes;
use winback::core::date::parse_iso_date;
use winback::core::lapse::LapseRule;
use winback::core::read::{read_csv, ColumnMap, CsvOptions};
use winback::core::LoadOptions;
use winback::{backtest, Config, GroupOrder, SplitOn};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets").join(name)
}

fn days(v: &[&str]) -> Vec<i32> {
    v.iter().filter_map(|d| parse_iso_date(d)).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `--training-rows-only`: size the groups on the training rows alone (the old way), to compare.
    let on_list = !std::env::args().any(|a| a == "--training-rows-only");
    // `--no-btyd`: leave the BG/NBD features out (to measure what they add).
    // `--recent-weight W`: weight of each older training cutoff in the probabilities.
    let args: Vec<String> = std::env::args().collect();
    let recent_weight = args.iter().position(|a| a == "--recent-weight").and_then(|i| args.get(i + 1)).map_or(Ok(Config::default().recent_weight), |v| v.parse::<f64>())?;
    let features = winback::core::features::FeatureOptions {
        btyd_horizon_days: (!std::env::args().any(|a| a == "--no-btyd")).then_some(60),
        // `--percentiles`: add the percentile features (off by default).
        percentiles: std::env::args().any(|a| a == "--percentiles"),
        ..Default::default()
    };
    let csv = CsvOptions::default();
    // `--restarts M` (honest splits tried) and `--seed S`.
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse::<u64>());
    let mut segmenter = Config::default().segmenter;
    if let Some(m) = flag("--restarts") {
        segmenter = segmenter.restarts(m? as usize);
    }
    if let Some(s) = flag("--seed") {
        segmenter = segmenter.seed(s?);
    }
    // `--split-on smoothed`: a logistic regression's chance chooses the splits.
    let split_on = match args.iter().position(|a| a == "--split-on").and_then(|i| args.get(i + 1)) {
        None => SplitOn::Outcomes,
        Some(v) => SplitOn::parse(v).ok_or_else(|| format!("--split-on must be outcomes or smoothed, got {v:?}"))?,
    };
    // `--group-order observed`: groups ordered by their own rates.
    let group_order = match args.iter().position(|a| a == "--group-order").and_then(|i| args.get(i + 1)) {
        None => GroupOrder::Smoothed,
        Some(v) => GroupOrder::parse(v).ok_or_else(|| format!("--group-order must be smoothed or observed, got {v:?}"))?,
    };
    // `--synthetic`: the seeded generator, whose customers' behaviour is known.
    if args.iter().any(|a| a == "--synthetic") {
        use winback::core::synthetic::{Synthetic, SyntheticConfig};
        for seasonality in [0.0, SyntheticConfig::default().seasonality] {
            let s = Synthetic::new(SyntheticConfig { customers: 40_000, seed: 7, seasonality, ..Default::default() });
            let h = s.history()?.0;
            let start = s.config().start;
            let config = Config { lapse: LapseRule::Fixed { days: 45 }, recent_weight, features: features.clone(), segmenter: segmenter.clone(), split_on, group_order, ..Default::default() };
            let b = backtest(&h, start + 720, &[start + 480, start + 540, start + 600], &config)?;
            println!("## Synthetic, 40,000 customers, season ±{:.0}% (lapse 45 days, horizon 60 days)\n\n{}", seasonality * 100.0, b.table());
            summary(&b);
        }
        return Ok(());
    }
    // `--shared`: the full data sets in ../shared/data instead of the bundled samples.
    if args.iter().any(|a| a == "--shared") {
        let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
        let map = ColumnMap::new("household_id", "date_local", "sales_value").quantity("quantity").order("basket_id").region("store_id");
        let (cj, _) = read_csv(shared.join("completejourney/transactions.csv.gz"), &map, &csv, &LoadOptions::default())?;
        let cj = cj.with_attributes(Attributes::read_csv(shared.join("completejourney/demographics.csv"), "household_id", &csv)?);
        let config = Config { recent_weight, features: features.clone(), size_on_scoring_list: on_list, segmenter: segmenter.clone(), split_on, group_order, ..Default::default() };
        let at = parse_iso_date("2018-01-01").ok_or("date")?;
        let b = backtest(&cj, at, &days(&["2017-07-01", "2017-09-01", "2017-11-01"]), &config)?;
        println!("## Complete Journey, full (lapse: 0.9-quantile of gaps, horizon 60 days)\n\n{}", b.table());
        summary(&b);
        let map = ColumnMap::new("CustomerID", "InvoiceDate", "Amount").quantity("Quantity").order("InvoiceNo").region("Country").cancelled("IsCancellation");
        let (or, _) = read_csv(shared.join("online_retail/online_retail.csv.gz"), &map, &csv, &LoadOptions::default())?;
        let at = parse_iso_date("2011-12-10").ok_or("date")?;
        let b = backtest(&or, at, &days(&["2011-06-01", "2011-08-01", "2011-10-10"]), &config)?;
        println!("\n## Online Retail, full (lapse: 0.9-quantile of gaps, horizon 60 days)\n\n{}", b.table());
        summary(&b);
        return Ok(());
    }
    let map = ColumnMap::new("household_id", "date", "sales_value").quantity("quantity").order("basket_id").category("department").region("store_id");
    let (cj, _) = read_csv(data("completejourney_baskets.csv.gz"), &map, &csv, &LoadOptions::default())?;
    let cj = cj.with_attributes(Attributes::read_csv(data("completejourney_demographics.csv"), "household_id", &csv)?);
    let config = Config { lapse: LapseRule::Fixed { days: 30 }, size_on_scoring_list: on_list, recent_weight, features: features.clone(), split_on, group_order, ..Default::default() };
    let at = parse_iso_date("2018-01-01").ok_or("date")?;
    let b = backtest(&cj, at, &days(&["2017-09-01", "2017-10-01", "2017-11-01"]), &config)?;
    println!("## Complete Journey sample (lapse: 30 days, horizon 60 days)\n\n{}", b.table());
    summary(&b);

    let map = ColumnMap::new("customer_id", "invoice_date", "amount").quantity("quantity").order("invoice_no").region("country").cancelled("is_cancellation");
    let (or, _) = read_csv(data("online_retail_invoices.csv.gz"), &map, &csv, &LoadOptions::default())?;
    let at = parse_iso_date("2011-12-10").ok_or("date")?;
    let b = backtest(&or, at, &days(&["2011-08-01", "2011-09-01", "2011-10-01"]), &Config { size_on_scoring_list: on_list, recent_weight, features, split_on, group_order, ..Default::default() })?;
    println!("\n## Online Retail sample (lapse: 0.9-quantile of gaps, horizon 60 days)\n\n{}", b.table());
    summary(&b);
    Ok(())
}

fn summary(b: &winback::Backtest) {
    println!("\nmean ± sd over cutoffs:");
    for which in ["model", "recency", "rfm", "btyd"] {
        let (Some(auc), Some(brier), Some(ece), Some(cap)) =
            (b.spread(which, |m| m.auc), b.spread(which, |m| m.brier), b.spread(which, |m| m.ece), b.spread(which, |m| m.capture_at_60))
        else {
            continue;
        };
        println!(
            "  {which:<8} AUC {:.3} ± {:.3}  Brier {:.4} ± {:.4}  ECE {:.4} ± {:.4}  capture@60 {:.3} ± {:.3}",
            auc.mean, auc.sd, brier.mean, brier.sd, ece.mean, ece.sd, cap.mean, cap.sd
        );
    }
    let co: Vec<f64> = b.rows.iter().map(|r| r.contact_order_auc).collect();
    println!("  model contact order AUC {:.3}", co.iter().sum::<f64>() / co.len().max(1) as f64);
    let largest = b.rows.iter().map(|r| r.largest_share).fold(0.0, f64::max);
    let fewest = b.rows.iter().map(|r| r.groups_present).min().unwrap_or(0);
    println!("  model groups on the scored list: at least {fewest} present, largest share {:.1}%", largest * 100.0);
}
