//! A history split by customer into shards (as a cluster's partitions hold it),
//! each shard's rows in reverse order, gives the same census, the same features,
//! the same model and the same scores as the whole history on one machine, to
//! the bit: on both bundled real samples and on synthetic data.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::Read;
use std::path::PathBuf;

use proptest::prelude::*;
use winback::core::census::Census;
use winback::core::date::parse_iso_date;
use winback::core::lapse::LapseRule;
use winback::core::read::{read_csv_from, ColumnMap, CsvOptions};
use winback::core::synthetic::{Synthetic, SyntheticConfig};
use winback::core::{History, LoadOptions};
use winback::sharded::{feature_table_with, fit_cutoffs, fit_rows, shard_rows, FitPlan, ShardCensus, ShardRows};
use winback::{Config, Error, WinbackModel, Who};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The CSV text of a bundled sample, and the same rows split into `n` shards by
/// a hash of the customer id, each shard's rows reversed.
fn split(file: &str, customer_col: &str, n: u64) -> (String, Vec<String>) {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(root().join("datasets").join(file)).unwrap()).read_to_string(&mut text).unwrap();
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let header = rd.headers().unwrap().clone();
    let col = header.iter().position(|h| h == customer_col).unwrap();
    let mut rows: Vec<Vec<csv::StringRecord>> = vec![Vec::new(); n as usize];
    for r in rd.records() {
        let r = r.unwrap();
        rows[(winback_stats_hash(&r[col]) % n) as usize].push(r);
    }
    let shards = rows
        .into_iter()
        .map(|mut rs| {
            rs.reverse();
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(&header).unwrap();
            for r in &rs {
                w.write_record(r).unwrap();
            }
            String::from_utf8(w.into_inner().unwrap()).unwrap()
        })
        .collect();
    (text, shards)
}

fn winback_stats_hash(s: &str) -> u64 {
    // FNV-1a: any hash will do, the test only needs a spread.
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn load(text: &str, map: &ColumnMap) -> History {
    read_csv_from(text.as_bytes(), "<test>", map, &CsvOptions::default(), &LoadOptions::default()).unwrap().0
}

/// Fits and scores both ways and compares everything.
fn same_both_ways(whole: &History, shards: &[History], at: i32, config: &Config) {
    // Census: merged shards = whole.
    let cutoffs = fit_cutoffs(at, config).unwrap();
    let mut census = ShardCensus::default();
    for h in shards.iter().rev() {
        census.merge(&ShardCensus::of(h, &cutoffs)).unwrap();
    }
    assert_eq!(census, ShardCensus::of(whole, &cutoffs));

    // The model.
    let plan = FitPlan::new(config, at, &census).unwrap();
    let mut rows = ShardRows::default();
    for h in shards {
        rows.append(shard_rows(h, &plan).unwrap()).unwrap();
    }
    let sharded = fit_rows(&plan, rows).unwrap();
    let single = WinbackModel::fit(whole, at, config).unwrap();
    assert!(single.segmentation.groups.len() >= 5, "{} groups", single.segmentation.groups.len());
    assert_eq!(sharded.to_json().unwrap(), single.to_json().unwrap());

    // Scores and features at `at`, shard by shard, with the census at `at`.
    let at_census = census.at(at).unwrap();
    let mut got: Vec<(String, usize, u64, Vec<u64>)> = Vec::new();
    for h in shards {
        let s = single.score_with(h, at, at_census).unwrap();
        for (i, c) in s.customers.iter().enumerate() {
            got.push((c.customer_id.clone(), c.group, c.priority.to_bits(), s.features.x.row(i).iter().map(|v| v.to_bits()).collect()));
        }
    }
    got.sort();
    let s = single.score(whole, at).unwrap();
    let want: Vec<(String, usize, u64, Vec<u64>)> = s
        .customers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.customer_id.clone(), c.group, c.priority.to_bits(), s.features.x.row(i).iter().map(|v| v.to_bits()).collect()))
        .collect();
    assert!(want.len() > 100);
    assert_eq!(got, want);

    // The feature table of every customer.
    let rule = config.lapse;
    let opts = plan.config.features.clone();
    let whole_x = winback::feature_table(whole, at, &rule, Who::All, &opts).unwrap();
    let mut got_x: Vec<(String, Vec<u64>)> = Vec::new();
    for h in shards {
        let x = feature_table_with(h, at, &rule, Who::All, &opts, at_census).unwrap();
        assert_eq!(x.schema, whole_x.schema);
        for (i, &c) in x.customers.iter().enumerate() {
            got_x.push((h.customer_ids()[c].clone(), x.x.row(i).iter().map(|v| v.to_bits()).collect()));
        }
    }
    got_x.sort();
    let want_x: Vec<(String, Vec<u64>)> =
        whole_x.customers.iter().enumerate().map(|(i, &c)| (whole.customer_ids()[c].clone(), whole_x.x.row(i).iter().map(|v| v.to_bits()).collect())).collect();
    assert_eq!(got_x, want_x);
}

#[test]
fn online_retail_in_four_shards() {
    let map = ColumnMap::new("customer_id", "invoice_date", "amount").quantity("quantity").order("invoice_no").region("country").cancelled("is_cancellation");
    let (text, shards) = split("online_retail_invoices.csv.gz", "customer_id", 4);
    let shards: Vec<History> = shards.iter().map(|t| load(t, &map)).collect();
    assert!(shards.iter().all(|h| h.num_customers() > 100));
    same_both_ways(&load(&text, &map), &shards, parse_iso_date("2011-12-10").unwrap(), &Config::default());
}

#[test]
fn complete_journey_in_four_shards() {
    let map = ColumnMap::new("household_id", "date", "sales_value").quantity("quantity").order("basket_id").category("department").region("store_id");
    let (text, shards) = split("completejourney_baskets.csv.gz", "household_id", 4);
    let shards: Vec<History> = shards.iter().map(|t| load(t, &map)).collect();
    let config = Config { lapse: LapseRule::FromHistory { quantile: 0.9 }, horizon_days: 28, ..Default::default() };
    same_both_ways(&load(&text, &map), &shards, parse_iso_date("2018-01-01").unwrap(), &config);
}

#[test]
fn a_customer_split_over_two_shards_is_refused() {
    let synth = Synthetic::new(SyntheticConfig { customers: 1_500, seed: 5, ..Default::default() });
    let at = synth.config().start + 600;
    let config = Config { lapse: LapseRule::Fixed { days: 45 }, ..Default::default() };
    // Customer 0 is in both shards.
    let shards = [synth.history_of(|c| c % 2 == 0).unwrap().0, synth.history_of(|c| c % 2 == 1 || c == 0).unwrap().0];
    let cutoffs = fit_cutoffs(at, &config).unwrap();
    let mut census = ShardCensus::default();
    for h in &shards {
        census.merge(&ShardCensus::of(h, &cutoffs)).unwrap();
    }
    let plan = FitPlan::new(&config, at, &census).unwrap();
    let mut rows = shard_rows(&shards[0], &plan).unwrap();
    rows.append(shard_rows(&shards[1], &plan).unwrap()).unwrap();
    let id = synth.truth()[0].id.clone();
    assert!(rows.customer_id.iter().filter(|c| **c == id).count() >= 2, "customer 0 should be lapsed at some cutoff");
    match fit_rows(&plan, rows) {
        Err(Error::ShardMismatch { message }) => assert!(message.contains(&id) && message.contains("one shard"), "{message}"),
        other => panic!("expected a shard mismatch, got {other:?}"),
    }
    // Censuses at other cutoffs do not merge.
    let mut other = ShardCensus::of(&shards[0], &cutoffs[..1]);
    assert!(matches!(other.merge(&census), Err(Error::ShardMismatch { .. })));
    // A census that does not add up (as a tampered message) is refused when merged.
    let mut bad = ShardCensus::of(&shards[0], &cutoffs);
    bad.censuses[0].customers += 1;
    assert!(matches!(ShardCensus::default().merge(&bad), Err(Error::Core(winback::core::Error::InvalidCensus { .. }))));
    // Per-segment lapse rules need every customer at once.
    let by_segment = Config { lapse: LapseRule::FromHistoryBySegment { quantile: 0.9, by: winback::core::lapse::SegmentBy::MainChannel, min_gaps: 50 }, ..Default::default() };
    assert!(matches!(FitPlan::new(&by_segment, at, &census), Err(Error::Core(winback::core::Error::NotShardable { .. }))));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    /// Any split of the customers into shards, merged in any order, gives the
    /// census of the whole history.
    #[test]
    fn censuses_merge_exactly(seed in 0u64..1_000, shards in 1usize..6, salt in 0u64..1_000, day in 200i32..700) {
        let synth = Synthetic::new(SyntheticConfig { customers: 300, seed, ..Default::default() });
        let at = synth.config().start + day;
        let shard_of = |c: usize| (c as u64).wrapping_mul(salt | 1).wrapping_add(salt) as usize % shards;
        let mut merged = Census::default();
        for k in (0..shards).rev() {
            // A shard with no customer (no lines) is an empty partition: nothing to add.
            if let Ok((h, _)) = synth.history_of(|c| shard_of(c) == k) {
                merged.merge(&Census::of(&h, at)).unwrap();
            }
        }
        let whole = synth.history_of(|_| true).unwrap().0;
        let want = Census::of(&whole, at);
        if want.customers > 0 {
            prop_assert_eq!(merged, want);
        }
    }
}

/// Above a row limit, a seeded sample of whole customers builds the rows and the
/// model records the share.
#[test]
fn a_row_limit_samples_whole_customers_and_the_model_says_so() {
    let map = ColumnMap::new("customer_id", "invoice_date", "amount").quantity("quantity").order("invoice_no").region("country").cancelled("is_cancellation");
    let (text, shards) = split("online_retail_invoices.csv.gz", "customer_id", 4);
    let shards: Vec<History> = shards.iter().map(|t| load(t, &map)).collect();
    let at = parse_iso_date("2011-12-10").unwrap();
    let config = Config::default();
    let cutoffs = fit_cutoffs(at, &config).unwrap();
    let mut census = ShardCensus::default();
    for h in &shards {
        census.merge(&ShardCensus::of(h, &cutoffs)).unwrap();
    }
    let mut plan = FitPlan::new(&config, at, &census).unwrap();
    let single = WinbackModel::fit(&load(&text, &map), at, &config).unwrap();
    // Expected rows: the training rows and the scoring list, from the census alone.
    assert_eq!(plan.expected_rows().unwrap(), (single.training_rows + single.lapse.lapsed) as u64);
    assert_eq!(plan.clone().limit_rows(100_000).unwrap(), 1.0);
    let share = plan.limit_rows(1_500).unwrap();
    assert!((share - 1_500.0 / plan.expected_rows().unwrap() as f64).abs() < 1e-12);
    let build = || {
        let mut rows = ShardRows::default();
        for h in &shards {
            rows.append(shard_rows(h, &plan).unwrap()).unwrap();
        }
        rows
    };
    let rows = build();
    // Whole customers: every row's customer is in the sample, and a sampled customer keeps all its cutoffs.
    assert!(rows.customer_id.iter().all(|c| plan.in_sample(c)));
    assert!((rows.len() as f64 - 1_500.0).abs() < 300.0, "{} rows", rows.len());
    let model = fit_rows(&plan, rows).unwrap();
    assert_eq!(model.training_sample, Some(share));
    assert_eq!(fit_rows(&plan, build()).unwrap(), model);
    let back = WinbackModel::from_json(&model.to_json().unwrap(), "m.json").unwrap();
    assert_eq!(back.training_sample, Some(share));
    // The share is checked on load.
    let mut v: serde_json::Value = serde_json::from_str(&model.to_json().unwrap()).unwrap();
    v["training_sample"] = serde_json::json!(1.5);
    let e = WinbackModel::from_json(&v.to_string(), "m.json").unwrap_err();
    assert!(e.to_string().contains("training_sample"), "{e}");
}

/// A shard built from values whose lines carry no channel (its customers have none)
/// still builds the merged schema's channel features: empty, as on one machine.
/// It failed with "feature `channel_share=...` needs a channel column".
#[test]
fn a_shard_without_channel_values_builds_the_channel_features() {
    use winback::core::history::NONE_CODE;
    use winback::core::Line;
    let synth = Synthetic::new(SyntheticConfig { customers: 2_000, seed: 11, ..Default::default() });
    let (h, _) = synth.history().unwrap();
    assert!(!h.channels().is_empty());
    let ids = h.customer_ids().to_vec();
    let mut lines: Vec<(usize, Line<'_>)> = Vec::new();
    for (c, id) in ids.iter().enumerate() {
        let shard = (winback_stats_hash(id) % 2) as usize;
        for e in h.events(c).filter(|e| e.is_purchase) {
            let channel = (shard == 0 && e.channel != NONE_CODE).then(|| h.channels()[usize::from(e.channel)].as_str());
            lines.push((shard, Line { customer: id, day: e.day, amount: e.gross, channel, ..Default::default() }));
        }
    }
    let opts = LoadOptions::default();
    let whole = History::from_lines(lines.iter().map(|(_, l)| *l), false, &opts).unwrap().0;
    let shards: Vec<History> = (0..2).map(|s| History::from_lines(lines.iter().filter(|(k, _)| *k == s).map(|(_, l)| *l), false, &opts).unwrap().0).collect();
    assert!(whole.present().channel && shards[0].present().channel && !shards[1].present().channel);
    let at = synth.config().start + 600;
    same_both_ways(&whole, &shards, at, &Config { lapse: LapseRule::Fixed { days: 45 }, ..Default::default() });
}
