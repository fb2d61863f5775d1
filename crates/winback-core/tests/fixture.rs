//! Every feature of every customer of a small hand-made fixture, against numbers
//! computed by hand (see the comments), and every bad-input reason.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use winback_core::attributes::Attributes;
use winback_core::date::{day_from_ymd, parse_iso_date};
use winback_core::features::{build_features, FeatureMatrix, FeatureOptions, FeatureSchema};
use winback_core::labels::{labels, TrainingSet};
use winback_core::lapse::LapseRule;
use winback_core::read::{read_csv, ColumnMap, CsvOptions};
use winback_core::{Error, History, LoadOptions, SkipReason};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn full_map() -> ColumnMap {
    ColumnMap::new("customer_id", "date", "amount")
        .quantity("quantity")
        .order("order_id")
        .channel("channel")
        .category("category")
        .region("region")
        .cancelled("cancelled")
}

fn small() -> History {
    // The fixture's exact duplicate (A's o2) is there to be dropped: the option is on.
    let (h, report) = read_csv(fixture("small.csv"), &full_map(), &CsvOptions::default(), &LoadOptions { drop_duplicates: true, ..Default::default() }).unwrap();
    // 12 lines: one exact duplicate (A's o2) is skipped, one cancellation is a return.
    assert_eq!(report.rows_read, 12);
    assert_eq!(report.rows_used, 11);
    assert_eq!(report.count(SkipReason::Duplicate), 1);
    assert_eq!(report.returns, 1);
    assert_eq!(report.customers, 4);
    // o1..o9 are purchases; r1 is a return-only event.
    assert_eq!(report.purchases, 9);
    let attrs = Attributes::read_csv(fixture("small_attributes.csv"), "customer_id", &CsvOptions::default()).unwrap();
    h.with_attributes(attrs)
}

const T: (i32, u32, u32) = (2024, 7, 1);

fn cutoff() -> i32 {
    day_from_ymd(T.0, T.1, T.2)
}

fn matrix(h: &History) -> FeatureMatrix {
    let schema = FeatureSchema::learn(h, cutoff(), &FeatureOptions::default()).unwrap();
    let rows: Vec<usize> = ["A", "B", "C"].iter().map(|id| h.customer_index(id).unwrap()).collect();
    build_features(h, &schema, cutoff(), &rows).unwrap()
}

fn check(m: &FeatureMatrix, row: usize, expected: &[(&str, f64)]) {
    for (name, want) in expected {
        let got = m.value(row, name).unwrap_or_else(|| panic!("no feature {name}; have {:?}", m.schema.names()));
        assert!((got - want).abs() < 1e-9, "row {row} {name}: got {got}, want {want}");
    }
}

#[test]
fn schema_lists_every_feature_once() {
    let m = matrix(&small());
    let names = m.schema.names();
    assert_eq!(
        names,
        [
            "recency_days", "purchases", "tenure_days", "spend_total", "spend_mean", "gap_mean_days", "gap_cv",
            "single_purchase_day", "overdue_ratio", "purchases_90d", "spend_90d", "purchases_180d", "spend_180d",
            "purchases_365d", "spend_365d", "spend_trend", "returned_share", "distinct_categories", "top_category_share",
            "main_category=grocery", "main_category=home", "main_category=sport",
            "channel_share=app", "channel_share=online", "channel_share=store",
            "main_channel=app", "main_channel=online", "main_channel=store",
            "first_channel=app", "first_channel=online", "first_channel=store",
            "main_region=North", "main_region=South",
            "rfm_r", "rfm_f", "rfm_m", "abc_class=A", "abc_class=B", "abc_class=C",
            "btyd_p_alive", "btyd_p_buy_60d", "btyd_purchases_60d",
            "attributes_missing", "age_band=18-24", "age_band=25-34", "age_band=65+", "score", "score_missing",
            "joined_days", "joined_missing",
        ][..]
    );
    // D's purchase (kids, East) is on the cutoff day: the vocabularies learned at T do not know it.
    assert!(!m.schema.categories.contains(&"kids".to_string()));
    assert!(!m.schema.regions.contains(&"East".to_string()));
    assert!(m.x.iter().all(|v| v.is_finite()));
}

#[test]
fn customer_a_by_hand() {
    // A: orders on day-of-year 0 (o1: 30 grocery + 20 home, online), 60 (o2: 40 grocery, store),
    // 152 (o3: 10 grocery, online); a 5.00 return on 156; o4 on the cutoff (182) is ignored.
    let m = matrix(&small());
    check(
        &m,
        0,
        &[
            ("recency_days", 30.0),
            ("purchases", 3.0),
            ("tenure_days", 182.0),
            ("spend_total", 95.0),
            ("spend_mean", 95.0 / 3.0),
            ("gap_mean_days", 76.0),           // gaps 60 and 92
            ("gap_cv", 16.0 / 76.0),           // population sd 16
            ("single_purchase_day", 0.0),
            ("overdue_ratio", 30.0 / 76.0),
            ("purchases_90d", 1.0),
            ("spend_90d", 5.0),                // 10 bought - 5 returned
            ("purchases_180d", 2.0),
            ("spend_180d", 45.0),
            ("purchases_365d", 3.0),
            ("spend_365d", 95.0),
            ("spend_trend", 0.0),              // 50 in the last 180 days, 50 in the 180 before
            ("returned_share", 0.05),
            ("distinct_categories", 2.0),
            ("top_category_share", 0.8),       // grocery 80 of 100
            ("main_category=grocery", 1.0),
            ("main_category=home", 0.0),
            ("channel_share=online", 2.0 / 3.0),
            ("channel_share=store", 1.0 / 3.0),
            ("channel_share=app", 0.0),
            ("main_channel=online", 1.0),
            ("first_channel=online", 1.0),
            ("main_region=North", 1.0),
            ("rfm_r", 5.0),
            ("rfm_f", 3.0),
            ("rfm_m", 5.0),
            ("abc_class=A", 1.0),
            ("attributes_missing", 0.0),
            ("age_band=25-34", 1.0),
            ("age_band=65+", 0.0),
            ("score", 7.0),
            ("score_missing", 0.0),
            ("joined_days", 213.0),           // 2023-12-01 -> 2024-07-01
        ],
    );
}

#[test]
fn btyd_features_use_the_pattern_before_the_cutoff() {
    // A bought on days 0, 60 and 152 after the first purchase; the cutoff is day 182:
    // x = 2 repeat purchase days, t_x = 152, age 182 (o4 on the cutoff is not seen).
    let m = matrix(&small());
    let b = m.btyd.expect("the BG/NBD model is fitted at the cutoff");
    let (x, t_x, t, h) = (2.0f64, 152.0f64, 182.0f64, 60.0f64);
    let alive = 1.0 / (1.0 + b.a / (b.b + x - 1.0) * ((b.alpha + t) / (b.alpha + t_x)).powf(b.r + x));
    let buy = alive * (1.0 - ((b.alpha + t) / (b.alpha + t + h)).powf(b.r + x));
    check(&m, 0, &[("btyd_p_alive", alive), ("btyd_p_buy_60d", buy)]);
    let e = m.value(0, "btyd_purchases_60d").unwrap();
    assert!(e >= buy && e.is_finite(), "expected purchases {e} below P(buy) {buy}");
    // Without the option there are no BG/NBD columns and no fit.
    let h = small();
    let schema = FeatureSchema::learn(&h, cutoff(), &FeatureOptions { btyd_horizon_days: None, ..Default::default() }).unwrap();
    assert!(schema.names().iter().all(|n| !n.starts_with("btyd_")));
    assert!(build_features(&h, &schema, cutoff(), &[0]).unwrap().btyd.is_none());
}

#[test]
fn customer_b_single_purchase_by_hand() {
    // B: one purchase (25, home, store, South) on 2024-05-02 (written 20240502), 60 days before T.
    let m = matrix(&small());
    check(
        &m,
        1,
        &[
            ("recency_days", 60.0),
            ("purchases", 1.0),
            ("tenure_days", 60.0),
            ("spend_total", 25.0),
            ("spend_mean", 25.0),
            ("gap_mean_days", 60.0), // stated fill: tenure
            ("gap_cv", 0.0),
            ("single_purchase_day", 1.0),
            ("overdue_ratio", 1.0),
            ("purchases_90d", 1.0),
            ("spend_90d", 25.0),
            ("spend_trend", 1.0),
            ("returned_share", 0.0),
            ("distinct_categories", 1.0),
            ("top_category_share", 1.0),
            ("main_category=home", 1.0),
            ("channel_share=store", 1.0),
            ("main_channel=store", 1.0),
            ("first_channel=store", 1.0),
            ("main_region=South", 1.0),
            ("rfm_r", 3.0),
            ("rfm_f", 1.0),
            ("rfm_m", 1.0),
            ("abc_class=B", 1.0),
            ("attributes_missing", 0.0),
            ("age_band=65+", 1.0),
            ("score", 0.0),
            ("score_missing", 1.0),
            ("joined_days", 61.0),
        ],
    );
}

#[test]
fn customer_c_same_day_orders_by_hand() {
    // C: o6 (15 sport, store) on day 40; o7 (5 sport, app) and o8 (7 grocery, app) both on day 100.
    let m = matrix(&small());
    check(
        &m,
        2,
        &[
            ("recency_days", 82.0),
            ("purchases", 3.0),
            ("tenure_days", 142.0),
            ("spend_total", 27.0),
            ("spend_mean", 9.0),
            ("gap_mean_days", 60.0), // one gap between the two distinct days
            ("gap_cv", 0.0),
            ("single_purchase_day", 0.0),
            ("overdue_ratio", 82.0 / 60.0),
            ("purchases_90d", 2.0),
            ("spend_90d", 12.0),
            ("purchases_180d", 3.0),
            ("spend_180d", 27.0),
            ("spend_trend", 1.0),
            ("distinct_categories", 2.0),
            ("top_category_share", 20.0 / 27.0),
            ("main_category=sport", 1.0),
            ("channel_share=app", 2.0 / 3.0),
            ("channel_share=store", 1.0 / 3.0),
            ("main_channel=app", 1.0),
            ("first_channel=store", 1.0),
            ("main_region=South", 1.0),
            ("rfm_r", 1.0),
            ("rfm_f", 3.0),
            ("rfm_m", 3.0),
            ("abc_class=A", 1.0),
            ("attributes_missing", 1.0),
            ("age_band=25-34", 0.0),
            ("score", 0.0),
            ("joined_days", 0.0),
        ],
    );
}

#[test]
fn lapse_labels_and_no_history() {
    let h = small();
    let lapse = LapseRule::Fixed { days: 30 }.resolve(&h, cutoff()).unwrap();
    // A (30 days), B (60), C (82) are lapsed; D has no purchase before T.
    assert_eq!(lapse.lapsed, vec![0, 1, 2]);
    assert_eq!(lapse.customers_with_history, 3);
    let lapse = LapseRule::Fixed { days: 31 }.resolve(&h, cutoff()).unwrap();
    assert_eq!(lapse.lapsed, vec![1, 2]);
    // Learned: gaps 60, 92 (A) and 60 (C): the 0.5-quantile is 60.
    let learned = LapseRule::FromHistory { quantile: 0.5 }.resolve(&h, cutoff()).unwrap();
    assert_eq!(learned.threshold_days, 60);
    assert_eq!(learned.lapsed, vec![1, 2]);
    let y = labels(&h, cutoff(), 30, &[0, 1, 2, 3]).unwrap();
    assert_eq!(y.repurchased, vec![true, false, false, true]);
    assert_eq!(y.spend, vec![100.0, 0.0, 0.0, 12.0]);
    // A customer index beyond the history is an error, not a panic.
    assert!(matches!(labels(&h, cutoff(), 30, &[0, 4]), Err(Error::CustomerOutOfRange { index: 4, customers: 4 })));
    let schema = FeatureSchema::learn(&h, cutoff(), &FeatureOptions::default()).unwrap();
    let e = build_features(&h, &schema, cutoff(), &[3]).unwrap_err();
    assert_eq!(e.to_string(), "customer D has no purchase before 2024-07-01");
}

#[test]
fn stacked_training_set_refuses_unknown_labels() {
    let h = small();
    let at = cutoff();
    let schema = FeatureSchema::learn(&h, at - 30, &FeatureOptions::default()).unwrap();
    let rule = LapseRule::Fixed { days: 20 };
    let set = TrainingSet::stacked(&h, &schema, &rule, at, 30, &[at - 30, at - 60]).unwrap();
    assert_eq!(set.len(), set.customers.len());
    assert_eq!(set.x.nrows(), set.len());
    assert_eq!(set.row_cutoff.iter().filter(|&&t| t == at - 30).count(), set.lapses[0].lapsed.len());
    // Each cutoff's rows (built in place in the stacked matrix) are its own matrix, to the bit.
    let mut from = 0;
    for (t, lapse) in [at - 30, at - 60].into_iter().zip(&set.lapses) {
        let own = build_features(&h, &schema, t, &lapse.lapsed).unwrap();
        let n = lapse.lapsed.len();
        let bits = |x: ndarray::ArrayView2<f64>| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(set.x.slice_axis(ndarray::Axis(0), ndarray::Slice::from(from..from + n))), bits(own.x.view()), "cutoff {t}");
        assert_eq!(&set.customers[from..from + n], &lapse.lapsed[..]);
        from += n;
    }
    assert!(from > 0 && from == set.len());
    let e = TrainingSet::stacked(&h, &schema, &rule, at, 30, &[at - 29]).unwrap_err();
    assert!(matches!(e, Error::CutoffTooLate { .. }));
    assert_eq!(e.to_string(), "training cutoff 2024-06-02 with horizon 30 days ends after 2024-07-01: its labels are not known yet");
}

fn bad_options() -> LoadOptions {
    LoadOptions { end_day: parse_iso_date("2024-08-31"), skip_zero_amounts: true, drop_duplicates: true, ..Default::default() }
}

fn bad_map() -> ColumnMap {
    ColumnMap::new("customer_id", "date", "amount").quantity("quantity")
}

#[test]
fn every_bad_input_reason_is_counted() {
    let (_, r) = read_csv(fixture("bad.csv"), &bad_map(), &CsvOptions::default(), &bad_options()).unwrap();
    assert_eq!(r.rows_read, 11);
    assert_eq!(r.rows_used, 3);
    assert_eq!(r.count(SkipReason::MissingId), 1);
    assert_eq!(r.count(SkipReason::BadDate), 1);
    assert_eq!(r.count(SkipReason::BadAmount), 2);
    assert_eq!(r.count(SkipReason::ZeroAmount), 1);
    assert_eq!(r.count(SkipReason::Return), 1);
    assert_eq!(r.count(SkipReason::Duplicate), 1);
    assert_eq!(r.count(SkipReason::AfterEnd), 1);
    assert_eq!(r.count(SkipReason::BadQuantity), 1);
    assert_eq!(r.rows_used + r.total_skipped(), r.rows_read);
}

/// Strict mode: each reason is an error naming file, line, column and value.
#[test]
fn strict_mode_names_line_column_and_value() {
    let file = fixture("bad.csv");
    let strict = LoadOptions { strict: true, ..bad_options() };
    let all = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    let header = lines[0];
    // Feed the good line 2 plus one bad line at a time, so each error is reached.
    let cases: [(usize, &str); 8] = [
        (3, "line 3, column `customer_id`: missing customer id (value missing)"),
        (4, "line 3, column `date`: unparseable date (value \"2024-13-01\")"),
        (5, "line 3, column `amount`: amount is not a finite number (at most 1e15 in size) (value \"abc\")"),
        (6, "line 3, column `amount`: amount is not a finite number (at most 1e15 in size) (value \"inf\")"),
        (7, "line 3, column `amount`: amount is zero (value \"0\")"),
        (10, "line 3: exact duplicate of line 2"),
        (11, "line 3, column `date`: date after the data's end date (value \"2024-09-01\")"),
        (12, "line 3, column `quantity`: quantity is not a number (value \"two\")"),
    ];
    for (bad_line, msg) in cases {
        let mut text = format!("{header}\n{}\n{}\n", lines[1], lines[bad_line - 1]);
        if bad_line == 10 {
            text = format!("{header}\n{}\n{}\n", lines[8], lines[9]);
        }
        let e = winback_core::read::read_csv_from(text.as_bytes(), "bad.csv", &bad_map(), &CsvOptions::default(), &strict).unwrap_err();
        assert_eq!(e.to_string(), format!("bad.csv, {msg}"));
    }
    // Returns are data, not errors, even in strict mode.
    let text = format!("{header}\n{}\n", lines[7]);
    let (_, r) = winback_core::read::read_csv_from(text.as_bytes(), "bad.csv", &bad_map(), &CsvOptions::default(), &strict).unwrap();
    assert_eq!(r.returns, 1);
}

#[test]
fn structural_errors() {
    let opts = LoadOptions::default();
    let csv = CsvOptions::default();
    let e = read_csv(fixture("nope.csv"), &bad_map(), &csv, &opts).unwrap_err();
    assert!(e.to_string().starts_with("cannot read ") && e.to_string().contains("nope.csv"), "{e}");
    let e = winback_core::read::read_csv_from("customer_id,when,amount\n".as_bytes(), "x.csv", &bad_map(), &csv, &opts).unwrap_err();
    assert_eq!(e.to_string(), "x.csv: column `date` not found (available: customer_id, when, amount)");
    let map = ColumnMap::new("customer_id", "date", "amount");
    let e = winback_core::read::read_csv_from("customer_id,date,amount\n".as_bytes(), "x.csv", &map, &csv, &opts).unwrap_err();
    assert_eq!(e.to_string(), "x.csv: no usable purchase rows (0 rows read)");
    // Issue 9, 2.11: a line with the wrong field count or invalid UTF-8 is counted like
    // any bad row (the rest of the file is used); strict mode refuses it, showing it.
    let strict = LoadOptions { strict: true, ..Default::default() };
    let short = "customer_id,date,amount\na,2024-01-01,1\nb,2024-01-02\nc,2024-01-03,2\n";
    let (h, r) = winback_core::read::read_csv_from(short.as_bytes(), "x.csv", &map, &csv, &opts).unwrap();
    assert_eq!((h.num_customers(), r.rows_read, r.rows_used, r.count(SkipReason::Malformed)), (2, 3, 2, 1));
    let e = winback_core::read::read_csv_from(short.as_bytes(), "x.csv", &map, &csv, &strict).unwrap_err();
    assert!(matches!(e, winback_core::Error::FieldCount { line: 3, fields: 2, expected: 3, .. }), "{e}");
    assert_eq!(e.to_string(), "x.csv, line 3: 2 fields where the header has 3 (value \"b,2024-01-02\")");
    // A mapped column named twice in the header is ambiguous, not silently the first.
    let twice = "customer_id,date,amount,amount\na,2024-01-01,1,2\n";
    let e = winback_core::read::read_csv_from(twice.as_bytes(), "x.csv", &map, &csv, &opts).unwrap_err();
    assert_eq!(e.to_string(), "x.csv: column `amount` appears 2 times in the header: which one is meant is ambiguous (rename the copies)");
    // Numbers beyond a float are refused as written, not as "inf"; a quantity beyond f32 is not a count.
    let big = "customer_id,date,amount,quantity\na,2024-01-01,1e400,1\nb,2024-01-01,1,1e300\nc,2024-01-01,1,2\n";
    let (_, r) = winback_core::read::read_csv_from(big.as_bytes(), "x.csv", &bad_map(), &csv, &opts).unwrap();
    assert_eq!((r.count(SkipReason::BadAmount), r.count(SkipReason::BadQuantity), r.rows_used), (1, 1, 1));
    let e = winback_core::read::read_csv_from(big.as_bytes(), "x.csv", &bad_map(), &csv, &strict).unwrap_err();
    assert_eq!(e.to_string(), "x.csv, line 2, column `amount`: amount is not a finite number (at most 1e15 in size) (value \"1e400\")");
    let bad_utf8 = &b"customer_id,date,amount\na,2024-01-01,1\n\xff,2024-01-02,1\n"[..];
    let (_, r) = winback_core::read::read_csv_from(bad_utf8, "x.csv", &map, &csv, &opts).unwrap();
    assert_eq!((r.rows_read, r.rows_used, r.count(SkipReason::Malformed)), (2, 1, 1));
    let e = winback_core::read::read_csv_from(bad_utf8, "x.csv", &map, &csv, &strict).unwrap_err();
    assert_eq!(e.to_string(), "x.csv, line 3, column `customer_id`: malformed line (field count or UTF-8) (value \"\u{fffd}\")");
    // A whole header is never echoed: at most 200 characters of it.
    let wide = format!("{}\n", (0..500).map(|i| format!("column_{i}")).collect::<Vec<_>>().join(","));
    let e = winback_core::read::read_csv_from(wide.as_bytes(), "x.csv", &map, &csv, &opts).unwrap_err();
    assert!(e.to_string().len() < 300 && e.to_string().ends_with("…)"), "{e}");
}

#[test]
fn headerless_and_semicolons() {
    let map = ColumnMap::new("1", "2", "3");
    let csv = CsvOptions { delimiter: b';', has_header: false };
    let (h, r) = winback_core::read::read_csv_from("a;2024-01-01;1,5\nb;2024-01-02;2\n".as_bytes(), "x", &map, &csv, &LoadOptions::default()).unwrap();
    // "1,5" is not a number (decimal comma is not guessed): counted, not dropped silently.
    assert_eq!(r.count(SkipReason::BadAmount), 1);
    assert_eq!(h.customer_ids(), ["b"]);
}

#[test]
fn review_fixes_attribute_dates_horizon_and_duplicate_returns() {
    use winback_core::attributes::{AttrColumn, AttrValues};
    use winback_core::Line;
    // An attribute date on/after the cutoff is not known at the cutoff: missing, not negative.
    let l = |c, day| Line { customer: c, day, amount: 5.0, ..Default::default() };
    let (h, _) = History::from_lines([l("a", 10), l("b", 20)], false, &LoadOptions::default()).unwrap();
    let attrs = Attributes::from_columns(vec!["a".into(), "b".into()], vec![AttrColumn { name: "joined".into(), values: AttrValues::Date(vec![Some(5), Some(40)]) }]).unwrap();
    let h = h.with_attributes(attrs);
    let t = 30;
    let schema = FeatureSchema::learn(&h, t, &FeatureOptions::default()).unwrap();
    let m = build_features(&h, &schema, t, &[0, 1]).unwrap();
    assert_eq!(m.value(0, "joined_days"), Some(25.0));
    assert_eq!(m.value(1, "joined_days"), Some(0.0));
    assert_eq!(m.value(1, "joined_missing"), Some(1.0));
    // Horizons are bounded (no overflow on absurd values).
    assert!(matches!(labels(&h, t, 1_000_000, &[0]), Err(Error::InvalidHorizon(1_000_000))));
    // A duplicated return line is a duplicate, not a second return.
    let r = |day| Line { customer: "a", day, amount: -2.0, ..Default::default() };
    let (_, rep) = History::from_lines([l("a", 1), r(2), r(2)], false, &LoadOptions { drop_duplicates: true, ..Default::default() }).unwrap();
    assert_eq!((rep.returns, rep.count(SkipReason::Duplicate)), (1, 1));
    assert_eq!(rep.rows_used + rep.total_skipped(), rep.rows_read);
}

/// Issue 9, 2.9 and 2.10: an unknown cancellation word is its own skip reason
/// (refused in strict mode), and amounts too large to add up are bad amounts.
#[test]
fn unknown_flags_and_huge_amounts_are_counted_or_refused() {
    let map = ColumnMap::new("customer_id", "date", "amount").cancelled("cancelled");
    let csv = CsvOptions::default();
    let text = "customer_id,date,amount,cancelled\n\
                a,2024-01-01,10,no\n\
                a,2024-01-02,5,YES\n\
                b,2024-01-03,7,maybe\n\
                c,2024-01-04,1e308,false\n\
                d,2024-01-05,3,\n";
    let (h, r) = winback_core::read::read_csv_from(text.as_bytes(), "x.csv", &map, &csv, &LoadOptions::default()).unwrap();
    assert_eq!((r.rows_read, r.rows_used, r.returns), (5, 3, 1));
    assert_eq!(r.count(SkipReason::BadFlag), 1);
    assert_eq!(r.count(SkipReason::BadAmount), 1);
    assert_eq!(h.customer_ids(), &["a".to_string(), "d".to_string()]);
    let strict = LoadOptions { strict: true, ..Default::default() };
    let e = winback_core::read::read_csv_from(text.as_bytes(), "x.csv", &map, &csv, &strict).unwrap_err();
    assert_eq!(e.to_string(), "x.csv, line 4, column `cancelled`: cancellation flag is neither yes nor no (value \"maybe\")");
    let no_flag = text.replace("maybe", "no");
    let e = winback_core::read::read_csv_from(no_flag.as_bytes(), "x.csv", &map, &csv, &strict).unwrap_err();
    assert_eq!(e.to_string(), "x.csv, line 5, column `amount`: amount is not a finite number (at most 1e15 in size) (value \"1e308\")");
}

/// Issue 9, 2.12: when nothing is usable, the error says why.
#[test]
fn no_usable_rows_names_the_reasons() {
    let map = ColumnMap::new("customer_id", "date", "amount");
    let text = "customer_id,date,amount\na,2024-01-01,\"1,234.50\"\nb,2024-01-02,0\n";
    let skip = LoadOptions { skip_zero_amounts: true, ..Default::default() };
    let e = winback_core::read::read_csv_from(text.as_bytes(), "x.csv", &map, &CsvOptions::default(), &skip).unwrap_err();
    assert_eq!(e.to_string(), "x.csv: no usable purchase rows (2 rows read; skipped: 1 bad_amount, 1 zero_amount)");
}

/// Issue 14, 5: a zero-amount purchase is a visit (by default), so a customer
/// whose only purchases are free is lapsed and scored like any other; with
/// zero amounts skipped, such customers are counted and named in the report.
#[test]
fn zero_amount_purchases_are_visits_by_default() {
    let map = ColumnMap::new("customer_id", "date", "amount").cancelled("cancelled");
    let text = "customer_id,date,amount,cancelled\n\
                a,2024-01-01,10,no\n\
                a,2024-02-01,0,no\n\
                free,2024-01-10,0,no\n\
                free,2024-01-20,0.00,no\n\
                void,2024-01-15,0,yes\n\
                b,2024-01-03,7,no\n";
    let csv = CsvOptions::default();
    let (h, r) = winback_core::read::read_csv_from(text.as_bytes(), "x.csv", &map, &csv, &LoadOptions::default()).unwrap();
    assert_eq!((r.rows_read, r.rows_used, r.zero_amount_purchases, r.returns, r.total_skipped()), (6, 6, 3, 1, 0));
    assert_eq!(h.customer_ids(), &["a", "b", "free", "void"].map(String::from));
    // "free" has two purchases with no spend; "void" only a cancelled line (no purchase).
    let free = h.customer_index("free").unwrap();
    assert_eq!(h.last_purchase_before(free, parse_iso_date("2024-06-01").unwrap()), parse_iso_date("2024-01-20"));
    let at = parse_iso_date("2024-06-01").unwrap();
    let lapse = LapseRule::Fixed { days: 30 }.resolve(&h, at).unwrap();
    assert!(lapse.lapsed.contains(&free));
    let schema = FeatureSchema::learn(&h, at, &FeatureOptions::default()).unwrap();
    let x = build_features(&h, &schema, at, &lapse.lapsed).unwrap();
    let row = lapse.lapsed.iter().position(|&c| c == free).unwrap();
    assert_eq!((x.value(row, "purchases"), x.value(row, "spend_total"), x.value(row, "returned_share")), (Some(2.0), Some(0.0), Some(0.0)));
    assert!(x.x.iter().all(|v| v.is_finite()));
    // With zero amounts skipped, "free" has no purchase at all: counted and named.
    let skip = LoadOptions { skip_zero_amounts: true, ..Default::default() };
    let (h2, r2) = winback_core::read::read_csv_from(text.as_bytes(), "x.csv", &map, &csv, &skip).unwrap();
    assert_eq!(r2.count(SkipReason::ZeroAmount), 4);
    assert_eq!(r2.zero_amount_only, vec!["free".to_string(), "void".to_string()]);
    assert!(h2.customer_index("free").is_none());
    assert!(r2.to_string().contains("2 customers have only zero-amount lines and no purchase: free, void"), "{r2}");
}

/// Issue 9, 2.13: an empty file says so (it used to say "column `customer_id` not found (available: )").
#[test]
fn an_empty_file_says_it_is_empty() {
    let map = ColumnMap::new("customer_id", "date", "amount");
    for text in ["", "\n"] {
        let e = winback_core::read::read_csv_from(text.as_bytes(), "x.csv", &map, &CsvOptions::default(), &LoadOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "x.csv: the file is empty (no header line)");
    }
}

/// An id that is another id with a decimal zero added ("17850.0" beside "17850",
/// a float column exported as text) is flagged; the two stay two customers.
#[test]
fn ids_written_as_floats_beside_integers_are_flagged() {
    let day = parse_iso_date("2024-01-05").unwrap();
    let ids = ["17850", "17850.0", "12.00", "12", "7.5", "7", "x.0", "99.0"];
    let lines: Vec<winback_core::Line> = ids.iter().map(|&c| winback_core::Line { customer: c, day, amount: 1.0, ..Default::default() }).collect();
    let (h, r) = History::from_lines(lines, false, &LoadOptions::default()).unwrap();
    assert_eq!(h.num_customers(), 8);
    // 7.5 is not 7 with a zero added; x.0 and 99.0 have no twin.
    assert_eq!((r.float_twin_count, r.float_twins.clone()), (2, vec!["12.00".to_string(), "17850.0".to_string()]));
    assert!(r.to_string().contains("check:  2 customer ids are another id with a decimal zero added (12.00, 17850.0): one customer written two ways?"), "{r}");
    let (_, r) = History::from_lines(ids[..1].iter().map(|&c| winback_core::Line { customer: c, day, amount: 1.0, ..Default::default() }), false, &LoadOptions::default()).unwrap();
    assert_eq!(r.float_twin_count, 0);
    assert!(!r.to_string().contains("check:"));
}

/// The report names the span of the dates used, and flags a span no purchase log
/// has (a placeholder date such as 0001-01-01 is a valid date, read as a purchase).
#[test]
fn the_report_shows_the_dates_and_flags_a_placeholder() {
    let lines = |first: &'static str| {
        [(first, 5.0), ("2024-01-05", 20.0), ("2024-03-01", 7.5)]
            .into_iter()
            .map(|(d, a)| winback_core::Line { customer: "a", day: parse_iso_date(d).unwrap(), amount: a, ..Default::default() })
            .collect::<Vec<_>>()
    };
    let (_, r) = History::from_lines(lines("2023-12-30"), false, &LoadOptions::default()).unwrap();
    assert_eq!(r.dates, Some(("2023-12-30".to_string(), "2024-03-01".to_string())));
    assert!(r.to_string().contains("  dates   2023-12-30 to 2024-03-01\n"), "{r}");
    assert!(!r.to_string().contains("check:"), "{r}");
    let (_, r) = History::from_lines(lines("0001-01-01"), false, &LoadOptions::default()).unwrap();
    assert_eq!(r.dates, Some(("0001-01-01".to_string(), "2024-03-01".to_string())));
    assert!(r.to_string().contains("check:  the dates span 2023 years: a placeholder date"), "{r}");
}

/// Lines identical in every mapped column are kept by default (two products of
/// the same price and quantity on one order look so when the product column is
/// not mapped) and counted; `drop_duplicates` skips them, and strict mode then
/// names both lines.
#[test]
fn identical_lines_are_kept_by_default_and_dropped_on_request() {
    let (h, r) = read_csv(fixture("small.csv"), &full_map(), &CsvOptions::default(), &LoadOptions::default()).unwrap();
    assert_eq!((r.rows_read, r.rows_used, r.identical_lines, r.count(SkipReason::Duplicate), r.purchases), (12, 12, 1, 0, 9));
    let a = h.customer_index("A").unwrap();
    // A's order o2 on 2024-03-01: both 40.00 lines, quantity 1 + 1.
    let o2 = h.events(a).nth(1).unwrap();
    assert_eq!((o2.gross, o2.quantity), (80.0, 2.0));
    assert!(r.to_string().contains("kept             1  lines identical to an earlier line in every mapped column"), "{r}");

    let drop = LoadOptions { drop_duplicates: true, ..Default::default() };
    let (h, r) = read_csv(fixture("small.csv"), &full_map(), &CsvOptions::default(), &drop).unwrap();
    assert_eq!((r.rows_used, r.identical_lines, r.count(SkipReason::Duplicate)), (11, 0, 1));
    assert_eq!(h.events(h.customer_index("A").unwrap()).nth(1).unwrap().gross, 40.0);

    let strict = LoadOptions { strict: true, ..Default::default() };
    assert!(read_csv(fixture("small.csv"), &full_map(), &CsvOptions::default(), &strict).is_ok());
    let e = read_csv(fixture("small.csv"), &full_map(), &CsvOptions::default(), &LoadOptions { strict: true, ..drop }).unwrap_err();
    assert!(e.to_string().ends_with("line 5: exact duplicate of line 4"), "{e}");
}

/// A zero-amount line skipped for another reason (after the end date, a bad
/// quantity) is counted under that reason only, not also as kept with no spend.
#[test]
fn a_skipped_zero_amount_line_is_not_counted_as_kept() {
    let map = ColumnMap::new("customer_id", "date", "amount").quantity("quantity");
    let text = "customer_id,date,amount,quantity\na,2024-01-01,0,1\na,2024-09-01,0,1\na,2024-01-02,0,two\nb,2024-01-03,5,1\n";
    let opts = LoadOptions { end_day: parse_iso_date("2024-08-31"), ..Default::default() };
    let (_, r) = winback_core::read::read_csv_from(text.as_bytes(), "z.csv", &map, &CsvOptions::default(), &opts).unwrap();
    assert_eq!((r.zero_amount_purchases, r.count(SkipReason::AfterEnd), r.count(SkipReason::BadQuantity), r.rows_used), (1, 1, 1, 2));
}

/// Strict errors name the right line whatever the line ending: Windows files
/// (`\r\n`) reported every line one too low (the CSV parser takes a record's
/// position before its `\n`), and old Mac files (`\r`) reported line 1.
#[test]
fn line_numbers_hold_for_every_line_ending() {
    let strict = LoadOptions { strict: true, ..Default::default() };
    let m = ColumnMap::new("customer", "date", "amount");
    for eol in ["\n", "\r\n", "\r"] {
        for bad in 2..6 {
            let mut t = format!("customer,date,amount{eol}");
            for l in 2..6 {
                t += &format!("A,{},1{eol}", if l == bad { "nope" } else { "2024-01-02" });
            }
            let e = winback_core::read::read_csv_from(t.as_bytes(), "x", &m, &CsvOptions::default(), &strict).unwrap_err();
            assert_eq!(e.to_string(), format!("x, line {bad}, column `date`: unparseable date (value \"nope\")"), "{eol:?}");
        }
        // A quoted line break is a line of the file.
        let t = format!("\"customer\",date,amount{eol}A,2024-01-01,\"1{eol}\"{eol}A,nope,1{eol}");
        let e = winback_core::read::read_csv_from(t.as_bytes(), "x", &m, &CsvOptions::default(), &strict).unwrap_err();
        assert_eq!(e.to_string(), "x, line 4, column `date`: unparseable date (value \"nope\")", "{eol:?}");
        // The rows themselves are read the same.
        let t = format!("customer,date,amount{eol}A,2024-01-01,1{eol}B,2024-01-02,2.5{eol}");
        let (h, r) = winback_core::read::read_csv_from(t.as_bytes(), "x", &m, &CsvOptions::default(), &LoadOptions::default()).unwrap();
        assert_eq!((h.num_customers(), r.rows_used), (2, 2), "{eol:?}");
    }
}

/// A file of 16 MB or more is read in parallel chunks: their line numbers count
/// line ends too (a blank line before the header, `\r\n` endings), in every chunk.
#[test]
fn parallel_chunks_number_lines_of_windows_files() {
    let strict = LoadOptions { strict: true, ..Default::default() };
    let m = ColumnMap::new("customer", "date", "amount");
    let dir = std::env::temp_dir().join(format!("winback-crlf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.csv");
    let n = 1_000_000;
    for eol in ["\r\n", "\n"] {
        let mut t = format!("{eol}customer,date,amount{eol}");
        for l in 3..=n {
            t += &format!("A{},{},1{eol}", l % 1000, if l == n - 5 { "nope" } else { "2024-01-02" });
        }
        assert!(t.len() > 16 << 20);
        std::fs::write(&path, &t).unwrap();
        let e = winback_core::read::read_csv(&path, &m, &CsvOptions::default(), &strict).unwrap_err();
        assert_eq!(e.to_string(), format!("{}, line {}, column `date`: unparseable date (value \"nope\")", path.display(), n - 5), "{eol:?}");
        let (_, r) = winback_core::read::read_csv(&path, &m, &CsvOptions::default(), &LoadOptions::default()).unwrap();
        assert_eq!((r.rows_read, r.rows_used), (n as u64 - 2, n as u64 - 3), "{eol:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One pass (`learn_and_build`) gives the schema and matrix of `learn` then
/// `build_features`, to the bit, with every option that changes the columns.
#[test]
fn learning_and_building_in_one_pass_changes_nothing() {
    use winback_core::features::learn_and_build;
    let h = small();
    let rows: Vec<usize> = (0..h.num_customers()).filter(|&c| h.last_purchase_before(c, cutoff()).is_some()).collect();
    for options in [
        FeatureOptions::default(),
        FeatureOptions { percentiles: true, ..Default::default() },
        FeatureOptions { windows: vec![30], btyd_horizon_days: None, rfm: false, ..Default::default() },
    ] {
        let (schema, x) = learn_and_build(&h, cutoff(), &options, &rows).unwrap();
        let apart = FeatureSchema::learn(&h, cutoff(), &options).unwrap();
        assert_eq!(schema, apart);
        let want = build_features(&h, &apart, cutoff(), &rows).unwrap();
        assert_eq!(x.x.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.x.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
    }
    assert!(learn_and_build(&h, cutoff(), &FeatureOptions { windows: vec![0], ..Default::default() }, &rows).is_err());
}
