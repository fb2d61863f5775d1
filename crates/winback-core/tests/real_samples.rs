//! The two bundled real samples load, and their lapse thresholds and feature
//! tables have the expected shape and plausible values.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use winback_core::attributes::Attributes;
use winback_core::date::{day_from_ymd, format_day};
use winback_core::features::{build_features, FeatureOptions, FeatureSchema};
use winback_core::lapse::LapseRule;
use winback_core::read::{read_csv, ColumnMap, CsvOptions};
use winback_core::{LoadOptions, SkipReason};

fn dataset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets").join(name)
}

#[test]
fn complete_journey_sample() {
    let map = ColumnMap::new("household_id", "date", "sales_value")
        .quantity("quantity")
        .order("basket_id")
        .category("department")
        .region("store_id");
    let (h, r) = read_csv(dataset("completejourney_baskets.csv.gz"), &map, &CsvOptions::default(), &LoadOptions::default()).unwrap();
    // Numbers from datasets/README.md: 255,248 rows, 3,895 of them 0.00, 1,200 households, 98,779 baskets.
    assert_eq!(r.rows_read, 255_248);
    // Zero-amount lines are purchases with no spend (a free item is still a visit).
    assert_eq!(r.zero_amount_purchases, 3_895);
    assert_eq!(r.count(SkipReason::ZeroAmount), 0);
    assert_eq!(r.rows_used, 255_248);
    assert_eq!(r.customers, 1_200);
    assert!(r.purchases <= 98_779 && r.purchases > 98_000, "{}", r.purchases);
    assert_eq!(format_day(h.day_range().0), "2017-01-01");
    assert_eq!(format_day(h.day_range().1), "2017-12-31");
    let attrs = Attributes::read_csv(dataset("completejourney_demographics.csv"), "household_id", &CsvOptions::default()).unwrap();
    assert_eq!(attrs.len(), 801);
    let h = h.with_attributes(attrs);

    let t = day_from_ymd(2017, 11, 1);
    let lapse = LapseRule::FromHistory { quantile: 0.9 }.resolve(&h, t).unwrap();
    // Grocery: frequent trips. The 0.9-quantile gap is a few weeks, not months.
    assert!((10..=40).contains(&lapse.threshold_days), "threshold {}", lapse.threshold_days);
    let q50 = lapse.gaps.as_ref().unwrap().quantiles[2].1;
    assert!((2.0..=7.0).contains(&q50), "median gap {q50}");
    assert!(lapse.lapsed.len() > 50 && lapse.lapsed.len() < 600, "{} lapsed", lapse.lapsed.len());

    let schema = FeatureSchema::learn(&h, t, &FeatureOptions::default()).unwrap();
    let m = build_features(&h, &schema, t, &lapse.lapsed).unwrap();
    assert_eq!(m.x.nrows(), lapse.lapsed.len());
    assert!(m.x.ncols() >= 40, "{} columns", m.x.ncols());
    assert!(m.x.iter().all(|v| v.is_finite()));
    let col = |name: &str| m.x.column(schema.index(name).unwrap()).to_vec();
    assert!(col("recency_days").iter().all(|&r| r >= lapse.threshold_days as f64));
    assert!(col("purchases").iter().all(|&p| p >= 1.0));
    let mean_spend = col("spend_mean").iter().sum::<f64>() / m.x.nrows() as f64;
    assert!((5.0..200.0).contains(&mean_spend), "mean basket {mean_spend}");
    // Demographics cover 801 of 1,200 households: some lapsed customers have them, some not.
    let missing = col("attributes_missing");
    assert!(missing.contains(&0.0) && missing.contains(&1.0));
    assert!(schema.index("age=65+").is_some(), "{:?}", schema.names());
}

#[test]
fn online_retail_sample() {
    let map = ColumnMap::new("customer_id", "invoice_date", "amount")
        .quantity("quantity")
        .order("invoice_no")
        .region("country")
        .cancelled("is_cancellation");
    let (h, r) = read_csv(dataset("online_retail_invoices.csv.gz"), &map, &CsvOptions::default(), &LoadOptions::default()).unwrap();
    // datasets/README.md: 25,900 invoices, 3,710 without customer id, 2,102 at 0.00,
    // 3,838 negative (3,836 cancellations + 2 bad-debt adjustments without customer).
    assert_eq!(r.rows_read, 25_900);
    assert_eq!(r.count(SkipReason::MissingId), 3_710);
    assert_eq!(r.rows_used + r.total_skipped(), r.rows_read);
    assert!(r.returns > 3_000 && r.returns <= 3_838, "{}", r.returns);
    // 4,372 ids appear; one has only 0.00 invoices: a customer all the same (purchases with no spend).
    assert_eq!(r.customers, 4_372);

    let t = day_from_ymd(2011, 9, 1);
    let lapse = LapseRule::FromHistory { quantile: 0.9 }.resolve(&h, t).unwrap();
    // Gift wholesale: repurchase gaps of weeks to months.
    assert!((60..=200).contains(&lapse.threshold_days), "threshold {}", lapse.threshold_days);
    assert!(lapse.lapsed.len() > 300, "{} lapsed", lapse.lapsed.len());
    let schema = FeatureSchema::learn(&h, t, &FeatureOptions::default()).unwrap();
    let m = build_features(&h, &schema, t, &lapse.lapsed).unwrap();
    assert!(m.x.iter().all(|v| v.is_finite()));
    assert!(schema.index("main_region=United Kingdom").is_some());
    let share = m.x.column(schema.index("returned_share").unwrap()).to_vec();
    assert!(share.iter().all(|&s| s >= 0.0));
    assert!(share.iter().any(|&s| s > 0.0), "cancellations are netted");
}

/// A gzip file saved without its `.gz` extension is recognised by its content
/// (it was read as text and its header shown as binary noise).
#[test]
fn gzip_without_its_extension_is_read_by_content() {
    let map = ColumnMap::new("customer_id", "invoice_date", "amount").order("invoice_no").region("country");
    let tmp = std::env::temp_dir().join(format!("winback-noext-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let bare = tmp.join("online_retail_invoices");
    std::fs::copy(dataset("online_retail_invoices.csv.gz"), &bare).unwrap();
    let (a, ra) = read_csv(dataset("online_retail_invoices.csv.gz"), &map, &CsvOptions::default(), &LoadOptions::default()).unwrap();
    let (b, rb) = read_csv(&bare, &map, &CsvOptions::default(), &LoadOptions::default()).unwrap();
    assert_eq!((rb.rows_read, rb.customers), (25_900, 4_372));
    assert_eq!((ra.rows_used, ra.customers), (rb.rows_used, rb.customers));
    assert_eq!(a.num_customers(), b.num_customers());
    // A plain text file of two bytes or fewer is not mistaken for gzip.
    let tiny = tmp.join("tiny.csv");
    std::fs::write(&tiny, "a").unwrap();
    let e = read_csv(&tiny, &map, &CsvOptions::default(), &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("customer_id"), "{e}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// A plain CSV over 16 MB is read in parallel chunks: same history, same report,
/// same features as reading it as one stream; errors name the global line.
#[test]
fn parallel_chunks_match_the_sequential_read() {
    use winback_core::read::read_csv_from;
    use winback_core::synthetic::{Synthetic, SyntheticConfig};
    let s = Synthetic::new(SyntheticConfig { customers: 13_000, seed: 5, ..Default::default() });
    let dir = std::env::temp_dir().join(format!("winback-par-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("synth.csv");
    s.write_csv(&path).unwrap();
    // Add a duplicate line and a bad amount near the end, to cross chunks.
    let mut text = std::fs::read_to_string(&path).unwrap();
    let last = text.lines().last().unwrap().to_string();
    text.push_str(&format!("{last}\nc9999999,x-1,2023-01-01,abc,1,app,home,East\n"));
    std::fs::write(&path, &text).unwrap();
    assert!(text.len() > 16 << 20, "{} bytes: too small to be read in parallel", text.len());
    let lines = text.lines().count() as u64;
    let map = ColumnMap::new("customer_id", "date", "amount").quantity("quantity").order("order_id").channel("channel").category("category").region("region");
    let opts = LoadOptions::default();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let (par, rp) = pool.install(|| read_csv(&path, &map, &CsvOptions::default(), &opts)).unwrap();
    let (seq, rs) = read_csv_from(text.as_bytes(), &path.display().to_string(), &map, &CsvOptions::default(), &opts).unwrap();
    assert_eq!(rp, rs);
    // The generator itself writes some identical lines (same order, category, amount).
    assert!(rp.identical_lines >= 1 && rp.count(SkipReason::Duplicate) == 0);
    assert_eq!(rp.count(SkipReason::BadAmount), 1);
    assert_eq!(rp.rows_read, lines - 1);
    let t = s.config().start + 500;
    let f = |h: &winback_core::History| {
        let schema = FeatureSchema::learn(h, t, &FeatureOptions::default()).unwrap();
        let l = LapseRule::Fixed { days: 30 }.resolve(h, t).unwrap();
        build_features(h, &schema, t, &l.lapsed).unwrap().x
    };
    assert_eq!(f(&par), f(&seq));
    // The whole history, bit for bit (Debug prints every column).
    assert_eq!(format!("{par:?}"), format!("{seq:?}"));
    // Strict mode: the bad amount is on the file's last line, whichever chunk holds it.
    let strict = LoadOptions { strict: true, ..Default::default() };
    let e = pool.install(|| read_csv(&path, &map, &CsvOptions::default(), &strict)).unwrap_err();
    assert_eq!(e.to_string(), format!("{}, line {lines}, column `amount`: amount is not a finite number (at most 1e15 in size) (value \"abc\")", path.display()));
    std::fs::remove_dir_all(dir).ok();
}
