//! Arrow record batches and Parquet files give the same history as CSV.
#![allow(clippy::unwrap_used, clippy::panic)]
#![cfg(feature = "parquet")]

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray, TimestampSecondArray};
use winback_core::arrow::{read_parquet, read_record_batches};
use winback_core::date::{day_from_ymd, Zone};
use winback_core::features::{build_features, FeatureOptions, FeatureSchema};
use winback_core::read::{read_csv, ColumnMap, CsvOptions};
use winback_core::{History, LoadOptions, SkipReason};

fn small_csv() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small.csv")
}

fn map() -> ColumnMap {
    ColumnMap::new("customer_id", "date", "amount")
        .quantity("quantity")
        .order("order_id")
        .channel("channel")
        .category("category")
        .region("region")
        .cancelled("cancelled")
}

/// The fixture as one record batch, with typed columns (ints, floats, bools, text dates).
fn batch() -> RecordBatch {
    let text = std::fs::read_to_string(small_csv()).unwrap();
    let rows: Vec<Vec<String>> = text.lines().skip(1).map(|l| l.split(',').map(str::to_string).collect()).collect();
    let col = |i: usize| rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>();
    RecordBatch::try_from_iter([
        ("customer_id", Arc::new(StringArray::from(col(0))) as _),
        ("order_id", Arc::new(StringArray::from(col(1))) as _),
        ("date", Arc::new(StringArray::from(col(2))) as _),
        ("amount", Arc::new(Float64Array::from(col(3).iter().map(|v| v.parse::<f64>().unwrap()).collect::<Vec<_>>())) as _),
        ("quantity", Arc::new(Int64Array::from(col(4).iter().map(|v| v.parse::<i64>().unwrap()).collect::<Vec<_>>())) as _),
        ("channel", Arc::new(StringArray::from(col(5))) as _),
        ("category", Arc::new(StringArray::from(col(6))) as _),
        ("region", Arc::new(StringArray::from(col(7))) as _),
        ("cancelled", Arc::new(BooleanArray::from(col(8).iter().map(|v| v == "true").collect::<Vec<_>>())) as _),
    ])
    .unwrap()
}

fn features(h: &History) -> Vec<u64> {
    let t = day_from_ymd(2024, 7, 1);
    let schema = FeatureSchema::learn(h, t, &FeatureOptions::default()).unwrap();
    let custs: Vec<usize> = (0..3).collect();
    build_features(h, &schema, t, &custs).unwrap().x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn batches_and_parquet_match_csv() {
    let (from_csv, r_csv) = read_csv(small_csv(), &map(), &CsvOptions::default(), &LoadOptions::default()).unwrap();
    // Split into two batches to cross a batch boundary.
    let b = batch();
    let (b1, b2) = (b.slice(0, 5), b.slice(5, b.num_rows() - 5));
    let (from_arrow, r_arrow) = read_record_batches([Ok(b1), Ok(b2)], "batches", &map(), &LoadOptions::default()).unwrap();
    assert_eq!(r_arrow.rows_used, r_csv.rows_used);
    // The fixture's identical line (A's o2) is kept by default, and counted.
    assert_eq!((r_arrow.count(SkipReason::Duplicate), r_arrow.identical_lines, r_csv.identical_lines), (0, 1, 1));
    assert_eq!(features(&from_arrow), features(&from_csv));

    let dir = std::env::temp_dir().join(format!("winback-pq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("small.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), b.schema(), None).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    let (from_pq, r_pq) = read_parquet(&path, &map(), &LoadOptions::default()).unwrap();
    assert_eq!(r_pq, winback_core::LoadReport { source: path.display().to_string(), ..r_arrow.clone() });
    assert_eq!(features(&from_pq), features(&from_csv));
    let e = read_parquet(&path, &ColumnMap::new("who", "date", "amount"), &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("column `who` not found"), "{e}");
    std::fs::remove_dir_all(dir).ok();
}

/// A `float32` amount or quantity column (pandas `float32`, a narrowed Parquet
/// column) reads as the decimals it holds: the same history as `float64`, where the
/// binary widening gave 341.4599914550781 for 341.46 (found by a review).
#[test]
fn float32_amounts_read_as_written() {
    let amounts = [341.46f32, 0.1, 12.5, -3.3, 19.99, 1e-7];
    let qty = [1.5f32, 2.0, 0.3, 1.0, 7.1, 1.0];
    let table = |a: ArrayRef, q: ArrayRef| {
        RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(vec!["a", "a", "b", "b", "c", "c"])) as ArrayRef),
            ("day", Arc::new(StringArray::from(vec!["2024-01-02", "2024-02-03", "2024-01-05", "2024-03-01", "2024-02-02", "2024-05-05"])) as _),
            ("v", a),
            ("q", q),
        ])
        .unwrap()
    };
    let narrow = table(Arc::new(arrow_array::Float32Array::from(amounts.to_vec())), Arc::new(arrow_array::Float32Array::from(qty.to_vec())));
    let wide = table(
        Arc::new(Float64Array::from(vec![341.46, 0.1, 12.5, -3.3, 19.99, 1e-7])),
        Arc::new(Float64Array::from(vec![1.5, 2.0, 0.3, 1.0, 7.1, 1.0])),
    );
    let mut m = ColumnMap::new("id", "day", "v");
    m.quantity = Some("q".into());
    let (from_narrow, _) = read_record_batches([Ok(narrow)], "b", &m, &LoadOptions::default()).unwrap();
    let (from_wide, _) = read_record_batches([Ok(wide)], "b", &m, &LoadOptions::default()).unwrap();
    assert_eq!(features(&from_narrow), features(&from_wide));
    assert_eq!(from_narrow.events(0).next().unwrap().gross, 341.46);
    // The largest float32 quantity is a quantity, as it is in float64 (its shortest
    // decimal, 3.4028235e38, is above the range as an f64).
    let mut big = qty.to_vec();
    big[0] = f32::MAX;
    let edge = table(Arc::new(arrow_array::Float32Array::from(amounts.to_vec())), Arc::new(arrow_array::Float32Array::from(big)));
    let (_, r) = read_record_batches([Ok(edge)], "b", &m, &LoadOptions { strict: true, ..Default::default() }).unwrap();
    assert_eq!(r.rows_used, 6);
}

#[test]
fn timestamps_nulls_and_strict_rows() {
    // 2024-03-01T23:30:00Z and a null customer / null amount.
    let ts = 1_709_335_800i64;
    let b = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec![Some("a"), None, Some("b")])) as _),
        ("ts", Arc::new(TimestampSecondArray::from(vec![ts, ts, ts]).with_timezone("UTC")) as _),
        ("v", Arc::new(Float64Array::from(vec![Some(1.0), Some(2.0), None])) as _),
    ])
    .unwrap();
    let m = ColumnMap::new("id", "ts", "v");
    let (h, r) = read_record_batches([Ok(b.clone())], "b", &m, &LoadOptions::default()).unwrap();
    assert_eq!((r.count(SkipReason::MissingId), r.count(SkipReason::BadAmount)), (1, 1));
    assert_eq!(h.events(0).next().unwrap().day, day_from_ymd(2024, 3, 1));
    // The same instant is March 2nd in Tokyo.
    let tokyo = m.clone().time(winback_core::date::TimeSettings { day_zone: Zone::Named("Asia/Tokyo".into()), ..Default::default() });
    let (h, _) = read_record_batches([Ok(b.clone())], "b", &tokyo, &LoadOptions::default()).unwrap();
    assert_eq!(h.events(0).next().unwrap().day, day_from_ymd(2024, 3, 2));
    let e = read_record_batches([Ok(b)], "b", &m, &LoadOptions { strict: true, ..Default::default() }).unwrap_err();
    assert_eq!(e.to_string(), "b, row 2, column `id`: missing customer id (value missing)");
}

/// Dates beyond years 1 to 9999 (an i32::MIN null sentinel, a yyyymmdd integer
/// stored as a date, milliseconds tagged as seconds) are bad dates, counted, with
/// the value as written in strict mode — they overflowed the day arithmetic of the
/// lapse threshold (a panic, or a gap histogram of billions of days).
#[test]
fn dates_outside_years_1_to_9999_are_bad_dates() {
    let ok = day_from_ymd(2023, 1, 5);
    let b = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["a", "a", "b", "b", "c"])) as _),
        ("day", Arc::new(Date32Array::from(vec![ok, i32::MIN, ok, 20_230_105, ok + 40])) as _),
        ("v", Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0, 5.0])) as _),
    ])
    .unwrap();
    let m = ColumnMap::new("id", "day", "v");
    let (h, r) = read_record_batches([Ok(b.clone())], "b", &m, &LoadOptions::default()).unwrap();
    assert_eq!((r.count(SkipReason::BadDate), r.rows_used, h.num_customers()), (2, 3, 3));
    let e = read_record_batches([Ok(b)], "b", &m, &LoadOptions { strict: true, ..Default::default() }).unwrap_err();
    assert_eq!(e.to_string(), "b, row 2, column `day`: unparseable date (value \"-2147483648 as Date32\")");
    // Milliseconds written as seconds: 1.7e12 s is in year 55,000-odd.
    let ms = 1_672_876_800_000i64;
    let t = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["a", "b"])) as _),
        ("ts", Arc::new(TimestampSecondArray::from(vec![ms / 1000, ms])) as _),
        ("v", Arc::new(Float64Array::from(vec![1.0, 2.0])) as _),
    ])
    .unwrap();
    let (h, r) = read_record_batches([Ok(t)], "t", &ColumnMap::new("id", "ts", "v"), &LoadOptions::default()).unwrap();
    assert_eq!((r.count(SkipReason::BadDate), h.num_customers()), (1, 1));
    assert_eq!(h.events(0).next().unwrap().day, ok);
    // The same instant in milliseconds is read as it should be.
    let t = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["a"])) as _),
        ("ts", Arc::new(TimestampMillisecondArray::from(vec![ms])) as _),
        ("v", Arc::new(Float64Array::from(vec![1.0])) as _),
    ])
    .unwrap();
    let (h, _) = read_record_batches([Ok(t)], "t", &ColumnMap::new("id", "ts", "v"), &LoadOptions::default()).unwrap();
    assert_eq!(h.events(0).next().unwrap().day, ok);
}

/// Row groups are decoded in parallel and merged in file order: the same history
/// as one stream of batches, and strict errors count rows across row groups.
#[test]
fn parquet_row_groups_in_parallel() {
    use parquet::file::properties::WriterProperties;
    let b = batch();
    // The fixture five times (other customer ids), in row groups of 7 rows.
    let n = b.num_rows();
    let ids: Vec<String> = (0..5).flat_map(|k| (0..n).map(move |r| (k, r))).map(|(k, r)| format!("{}{k}", b.column(0).as_any().downcast_ref::<StringArray>().unwrap().value(r))).collect();
    let big = arrow_select_concat(&b, 5, ids);
    let dir = std::env::temp_dir().join(format!("winback-pqrg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("groups.parquet");
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(7)).build();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), big.schema(), Some(props)).unwrap();
    w.write(&big).unwrap();
    w.close().unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let (par, rp) = pool.install(|| read_parquet(&path, &map(), &LoadOptions::default())).unwrap();
    let (seq, rs) = read_record_batches([Ok(big.clone())], &path.display().to_string(), &map(), &LoadOptions::default()).unwrap();
    assert_eq!(rp, rs);
    assert_eq!(par.customer_ids(), seq.customer_ids());
    assert_eq!(features(&par), features(&seq));
    // A missing id on row 50 (row group 8): strict mode names row 50.
    let mut ids: Vec<Option<String>> = (0..big.num_rows()).map(|r| Some(big.column(0).as_any().downcast_ref::<StringArray>().unwrap().value(r).to_string())).collect();
    ids[49] = None;
    let big_schema = big.schema();
    let cols: Vec<(&str, arrow_array::ArrayRef)> = big_schema.fields().iter().enumerate().map(|(i, f)| {
        let c: arrow_array::ArrayRef = if i == 0 { Arc::new(StringArray::from(ids.clone())) } else { big.column(i).clone() };
        (f.name().as_str(), c)
    }).collect();
    let holed = RecordBatch::try_from_iter(cols).unwrap();
    let path2 = dir.join("holed.parquet");
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path2).unwrap(), holed.schema(), Some(WriterProperties::builder().set_max_row_group_row_count(Some(7)).build())).unwrap();
    w.write(&holed).unwrap();
    w.close().unwrap();
    let e = pool.install(|| read_parquet(&path2, &map(), &LoadOptions { strict: true, ..Default::default() })).unwrap_err();
    assert_eq!(e.to_string(), format!("{}, row 50, column `customer_id`: missing customer id (value missing)", path2.display()));
    std::fs::remove_dir_all(dir).ok();
}

/// A row group split between two threads (each decoding part of its rows) gives
/// the history, report and strict-mode error of one thread reading it whole:
/// three groups of 20 rows on two threads split the middle one, with and
/// without a cutoff inside the last group.
#[test]
fn a_row_group_split_between_threads_reads_as_whole() {
    use parquet::file::properties::WriterProperties;
    let base = day_from_ymd(2024, 1, 1);
    let n = 60;
    let table = |ids: Vec<Option<i64>>| {
        RecordBatch::try_from_iter([
            ("customer_id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            ("order_id", Arc::new(StringArray::from((0..n).map(|r| format!("o{}", r / 2)).collect::<Vec<_>>())) as _),
            ("date", Arc::new(Date32Array::from((0..n).map(|r| base + r / 2).collect::<Vec<_>>())) as _),
            ("amount", Arc::new(Float64Array::from((0..n).map(|r| 1.0 + (r % 9) as f64).collect::<Vec<_>>())) as _),
        ])
        .unwrap()
    };
    let dir = std::env::temp_dir().join(format!("winback-split-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, b: &RecordBatch| {
        let path = dir.join(name);
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(20)).build();
        let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), b.schema(), Some(props)).unwrap();
        w.write(b).unwrap();
        w.close().unwrap();
        path
    };
    let whole = table((0..n).map(|r| Some((r % 7) as i64)).collect());
    let path = write("split.parquet", &whole);
    let m = ColumnMap::new("customer_id", "date", "amount").order("order_id");
    let pool = |threads: usize| rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    for options in [LoadOptions::default(), LoadOptions { only_before: Some(base + 25), ..Default::default() }] {
        let (one, r1) = pool(1).install(|| read_parquet(&path, &m, &options)).unwrap();
        for threads in [2, 3] {
            let (h, r) = pool(threads).install(|| read_parquet(&path, &m, &options)).unwrap();
            assert_eq!((format!("{h:?}"), &r), (format!("{one:?}"), &r1), "{threads} threads");
        }
        let (seq, _) = read_record_batches([Ok(whole.clone())], &path.display().to_string(), &m, &options).unwrap();
        assert_eq!(format!("{one:?}"), format!("{seq:?}"));
    }
    // Missing ids on rows 36 and 45 (1-based): row 36 lies in the second half of
    // the middle group, which the second thread reads; strict mode names it.
    let mut ids: Vec<Option<i64>> = (0..n).map(|r| Some((r % 7) as i64)).collect();
    ids[35] = None;
    ids[44] = None;
    let holed = write("holed.parquet", &table(ids));
    for threads in [1, 2, 3] {
        let e = pool(threads).install(|| read_parquet(&holed, &m, &LoadOptions { strict: true, ..Default::default() })).unwrap_err();
        assert_eq!(e.to_string(), format!("{}, row 36, column `customer_id`: missing customer id (value missing)", holed.display()), "{threads} threads");
    }
    std::fs::remove_dir_all(dir).ok();
}

/// `k` copies of a batch with the first column replaced by `ids`.
fn arrow_select_concat(b: &RecordBatch, k: usize, ids: Vec<String>) -> RecordBatch {
    let copies: Vec<RecordBatch> = (0..k).map(|_| b.clone()).collect();
    let all = arrow_select::concat::concat_batches(&b.schema(), &copies).unwrap();
    let schema = all.schema();
    let cols: Vec<(&str, arrow_array::ArrayRef)> = schema.fields().iter().enumerate().map(|(i, f)| {
        let c: arrow_array::ArrayRef = if i == 0 { Arc::new(StringArray::from(ids.clone())) } else { all.column(i).clone() };
        (f.name().as_str(), c)
    }).collect();
    RecordBatch::try_from_iter(cols).unwrap()
}

/// A timestamp column with a zone (pandas' tz-aware datetimes) gives the same day
/// as the CSV text of the same instant written with that zone's offset.
#[test]
fn zoned_timestamps_match_csv_with_offsets() {
    // 2024-03-02T03:00:00Z is 2024-03-01T21:00:00-06:00 in Chicago.
    let ts = 1_709_348_400i64;
    let zoned = |tz: &str| {
        RecordBatch::try_from_iter([
            ("id", Arc::new(StringArray::from(vec!["a"])) as _),
            ("ts", Arc::new(TimestampSecondArray::from(vec![ts]).with_timezone(tz)) as _),
            ("v", Arc::new(Float64Array::from(vec![1.0])) as _),
        ])
        .unwrap()
    };
    let m = ColumnMap::new("id", "ts", "v");
    let day_of = |b: RecordBatch, map: &ColumnMap| read_record_batches([Ok(b)], "b", map, &LoadOptions::default()).unwrap().0.events(0).next().unwrap().day;
    let (csv, _) = winback_core::read::read_csv_from("id,ts,v\na,2024-03-01T21:00:00-06:00,1\n".as_bytes(), "c", &m, &CsvOptions::default(), &LoadOptions::default()).unwrap();
    let csv_day = csv.events(0).next().unwrap().day;
    assert_eq!(csv_day, day_from_ymd(2024, 3, 1));
    assert_eq!(day_of(zoned("America/Chicago"), &m), csv_day);
    assert_eq!(day_of(zoned("-06:00"), &m), csv_day);
    assert_eq!(day_of(zoned("UTC"), &m), day_from_ymd(2024, 3, 2));
    // Asking for UTC days converts the instant.
    let utc = m.clone().time(winback_core::date::TimeSettings { day_zone: Zone::Utc, ..Default::default() });
    assert_eq!(day_of(zoned("America/Chicago"), &utc), day_from_ymd(2024, 3, 2));
    let e = read_record_batches([Ok(zoned("Mars/Olympus"))], "b", &m, &LoadOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "unknown time zone \"Mars/Olympus\"");
}

/// Issue 9, 2.6: float ids (pandas' int column with a missing value) read as the
/// integers they are; a NaN or null id is a missing id, counted.
#[test]
fn float_ids_are_integers_and_nan_is_missing() {
    let batch = RecordBatch::try_from_iter([
        ("customer_id", Arc::new(Float64Array::from(vec![Some(12346.0), Some(f64::NAN), None, Some(7.5), Some(12346.0)])) as _),
        ("date", Arc::new(StringArray::from(vec!["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-02-01"])) as _),
        ("amount", Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0, 5.0])) as _),
    ])
    .unwrap();
    let (h, r) = read_record_batches([Ok(batch)], "df", &ColumnMap::new("customer_id", "date", "amount"), &LoadOptions::default()).unwrap();
    assert_eq!(h.customer_ids(), &["12346".to_string(), "7.5".to_string()]);
    assert_eq!((r.rows_read, r.rows_used, r.count(SkipReason::MissingId)), (5, 3, 2));
    let ints = RecordBatch::try_from_iter([
        ("customer_id", Arc::new(Int64Array::from(vec![12346])) as _),
        ("date", Arc::new(StringArray::from(vec!["2024-01-01"])) as _),
        ("amount", Arc::new(Float64Array::from(vec![1.0])) as _),
    ])
    .unwrap();
    let (h2, _) = read_record_batches([Ok(ints)], "df", &ColumnMap::new("customer_id", "date", "amount"), &LoadOptions::default()).unwrap();
    assert_eq!(h2.customer_ids()[0], h.customer_ids()[0]);
}

/// Integer ids of every integer type are written as text row by row: the same
/// ids as the text column of the same values (a null id is a missing id), and the
/// same history as from that text column.
#[test]
fn integer_ids_read_as_their_decimal_text() {
    let values: Vec<Option<i64>> = vec![Some(-12), Some(0), Some(i64::MAX), Some(i64::MIN), None, Some(7), Some(-12)];
    let n = values.len();
    let texts: Vec<Option<String>> = values.iter().map(|v| v.map(|v| v.to_string())).collect();
    let batch = |ids: ArrayRef| {
        RecordBatch::try_from_iter([
            ("customer_id", ids),
            ("date", Arc::new(StringArray::from((0..n).map(|i| format!("2024-01-{:02}", i + 1)).collect::<Vec<_>>())) as _),
            ("amount", Arc::new(Float64Array::from((0..n).map(|i| i as f64 + 1.0).collect::<Vec<_>>())) as _),
        ])
        .unwrap()
    };
    let map = ColumnMap::new("customer_id", "date", "amount");
    let read = |b: RecordBatch| read_record_batches([Ok(b)], "df", &map, &LoadOptions::default()).unwrap();
    let (from_text, rt) = read(batch(Arc::new(StringArray::from(texts.clone()))));
    let (from_ints, ri) = read(batch(Arc::new(Int64Array::from(values.clone()))));
    assert_eq!(format!("{from_ints:?}"), format!("{from_text:?}"));
    assert_eq!((ri.rows_used, ri.count(SkipReason::MissingId)), (rt.rows_used, 1));
    let mut want: Vec<String> = texts.iter().flatten().cloned().collect();
    want.sort();
    want.dedup();
    assert_eq!(from_ints.customer_ids(), &want[..]);
    // Customers whose every line is a skipped zero amount are named by their text,
    // short ids (keys made from the digits) and long ones alike.
    let zeros = |ids: ArrayRef| {
        let mut b = batch(ids);
        let amounts = Arc::new(Float64Array::from(vec![0.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0])) as ArrayRef;
        b = RecordBatch::try_from_iter([("customer_id", Arc::clone(b.column(0))), ("date", Arc::clone(b.column(1))), ("amount", amounts)]).unwrap();
        let skip = LoadOptions { skip_zero_amounts: true, ..LoadOptions::default() };
        read_record_batches([Ok(b)], "df", &map, &skip).unwrap().1.zero_amount_only
    };
    let named = zeros(Arc::new(Int64Array::from(values.clone())));
    assert_eq!(named, zeros(Arc::new(StringArray::from(texts.clone()))));
    assert_eq!(named, ["-12", "-9223372036854775808", "9223372036854775807"]);
    // Narrower integer types give the same text.
    let small: Vec<Option<i32>> = vec![Some(-12), Some(0), Some(5), Some(i32::MIN), None, Some(7), Some(-12)];
    let (from_i32, _) = read(batch(Arc::new(arrow_array::Int32Array::from(small.clone()))));
    let (from_i32_text, _) = read(batch(Arc::new(StringArray::from(small.iter().map(|v| v.map(|v| v.to_string())).collect::<Vec<_>>()))));
    assert_eq!(format!("{from_i32:?}"), format!("{from_i32_text:?}"));
    let (from_u32, _) = read(batch(Arc::new(arrow_array::UInt32Array::from(vec![Some(u32::MAX), Some(0), Some(1), Some(2), None, Some(3), Some(4)]))));
    assert_eq!(from_u32.customer_ids()[..2], ["0".to_string(), "1".to_string()]);
    assert!(from_u32.customer_ids().contains(&u32::MAX.to_string()));
}

/// Integer order ids (basket and invoice numbers as exports write them) are the
/// orders of their decimal text: the same purchases and the same history as the
/// text column of the same values, at the edges of `i64` too; a null order id is
/// no order id (the line joins its customer's day).
#[test]
fn integer_order_ids_are_the_orders_of_their_decimal_text() {
    // One customer: (day of January 2024, order id, amount).
    let lines: Vec<(u32, Option<i64>, f64)> = vec![
        (1, Some(7), 1.0),
        (1, Some(7), 2.0),   // the same order: one purchase of 3.0
        (1, Some(-7), 3.0),  // another order
        (1, None, 4.0),      // no order id: keyed by the day
        (2, Some(7), 5.0),   // order 7 again, a day later: its own purchase
        (2, Some(i64::MIN), 6.0),
        (2, Some(i64::MAX), 7.0),
        (3, Some(0), 8.0),
        (3, Some(0), 9.0),   // order 0: one purchase of 17.0
        (3, Some(10), 10.0), // "10" is not "1" followed by "0"
        (3, Some(1), 11.0),
    ];
    let n = lines.len();
    let batch = |orders: ArrayRef| {
        RecordBatch::try_from_iter([
            ("customer_id", Arc::new(StringArray::from(vec!["a"; n])) as _),
            ("order_id", orders),
            ("date", Arc::new(StringArray::from(lines.iter().map(|l| format!("2024-01-{:02}", l.0)).collect::<Vec<_>>())) as _),
            ("amount", Arc::new(Float64Array::from(lines.iter().map(|l| l.2).collect::<Vec<_>>())) as _),
        ])
        .unwrap()
    };
    let map = ColumnMap::new("customer_id", "date", "amount").order("order_id");
    let read = |b: RecordBatch| read_record_batches([Ok(b)], "df", &map, &LoadOptions::default()).unwrap();
    let (from_ints, ri) = read(batch(Arc::new(Int64Array::from(lines.iter().map(|l| l.1).collect::<Vec<_>>()))));
    let (from_text, rt) = read(batch(Arc::new(StringArray::from(lines.iter().map(|l| l.1.map(|o| o.to_string())).collect::<Vec<_>>()))));
    assert_eq!(format!("{from_ints:?}"), format!("{from_text:?}"));
    assert_eq!((ri.rows_used, ri.purchases), (rt.rows_used, rt.purchases));
    // Day 1: orders 7 and -7 and the order-less line; day 2: 7, MIN, MAX; day 3: 0, 10, 1.
    assert_eq!((ri.rows_used, ri.purchases), (11, 9));
    let mut amounts: Vec<f64> = from_ints.events(0).map(|e| e.gross).collect();
    amounts.sort_by(f64::total_cmp);
    assert_eq!(amounts, [3.0, 3.0, 4.0, 5.0, 6.0, 7.0, 10.0, 11.0, 17.0]);
    // Narrower integer types too.
    let (from_i32, _) = read(batch(Arc::new(arrow_array::Int32Array::from(lines.iter().map(|l| l.1.map(|o| o.clamp(-100, 100) as i32)).collect::<Vec<_>>()))));
    let (from_i32_text, _) = read(batch(Arc::new(StringArray::from(lines.iter().map(|l| l.1.map(|o| o.clamp(-100, 100).to_string())).collect::<Vec<_>>()))));
    assert_eq!(format!("{from_i32:?}"), format!("{from_i32_text:?}"));
}

/// Issue 9, 2.5: text amounts that are not plain numbers ("1,234.50") are bad
/// amounts, counted, whatever their length: never a partly parsed number.
#[test]
fn text_amounts_with_thousands_separators_are_bad_amounts() {
    let amounts = vec!["3,193.92", "1,024.68", "12.5", "-1,192.20", "7", "10,661.69"];
    let n = amounts.len();
    let batch = RecordBatch::try_from_iter([
        ("customer_id", Arc::new(StringArray::from((0..n).map(|i| format!("c{i}")).collect::<Vec<_>>())) as _),
        ("date", Arc::new(StringArray::from(vec!["2024-01-01"; n])) as _),
        ("amount", Arc::new(arrow_array::LargeStringArray::from(amounts)) as _),
    ])
    .unwrap();
    let (h, r) = read_record_batches([Ok(batch)], "df", &ColumnMap::new("customer_id", "date", "amount"), &LoadOptions::default()).unwrap();
    assert_eq!((r.rows_used, r.count(SkipReason::BadAmount)), (2, 4), "{r:?}");
    assert_eq!(h.customer_ids(), &["c2".to_string(), "c4".to_string()]);
    // Padded text reads as the CSV reader reads it (trimmed): " 12.50" was a bad amount.
    let batch = RecordBatch::try_from_iter([
        ("customer_id", Arc::new(StringArray::from(vec!["a", "b"])) as _),
        ("date", Arc::new(StringArray::from(vec!["2024-01-01"; 2])) as _),
        ("amount", Arc::new(StringArray::from(vec![" 12.50", "7 "])) as _),
        ("qty", Arc::new(StringArray::from(vec![" 2", "1"])) as _),
    ])
    .unwrap();
    let m = ColumnMap::new("customer_id", "date", "amount").quantity("qty");
    let (_, r) = read_record_batches([Ok(batch)], "df", &m, &LoadOptions { strict: true, ..Default::default() }).unwrap();
    assert_eq!(r.rows_used, 2);
}

/// A Parquet file that makes the parquet crate's decoder panic (found by
/// fuzzing) is an error naming the file, never a panic.
#[test]
fn a_corrupt_parquet_page_is_an_error() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corrupt_page.parquet");
    let map = ColumnMap::new("customer_id", "date", "amount").quantity("quantity").order("order_id").channel("channel").category("category").region("region").cancelled("cancelled");
    let e = read_parquet(&path, &map, &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("corrupt_page.parquet: corrupt file: "), "{e}");
}

/// Issue 9, 2.7: a Parquet `timestamp('s', tz='Asia/Tokyo')` column written by
/// pyarrow (stored as milliseconds, with the zone in the Arrow schema) gives the
/// local day in Tokyo, as the other units and the Arrow path do.
#[test]
fn parquet_seconds_with_a_zone_take_the_local_day() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tokyo_seconds.parquet");
    let (h, _) = read_parquet(&path, &ColumnMap::new("customer_id", "date", "amount"), &LoadOptions::default()).unwrap();
    // 2024-03-01 23:30 UTC is 2024-03-02 08:30 in Tokyo.
    assert_eq!(h.day_range().1, day_from_ymd(2024, 3, 2));
}

fn write_pq(path: &std::path::Path, b: &RecordBatch) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(path).unwrap(), b.schema(), None).unwrap();
    w.write(b).unwrap();
    w.close().unwrap();
}

/// Issue 10: a directory of Parquet files as Spark writes it — hive-style
/// `date=…/part-0.parquet` folders whose files lack the date column, plus a
/// `_SUCCESS` marker — and a file pattern read as one dataset, with the rows per
/// file in the load report, give the same history as the CSV.
#[test]
fn partitioned_datasets_match_csv() {
    use winback_core::arrow::{dataset_files, read_parquet_dataset};
    let (from_csv, r_csv) = read_csv(small_csv(), &map(), &CsvOptions::default(), &LoadOptions::default()).unwrap();
    let b = batch();
    let root = std::env::temp_dir().join(format!("winback-ds-{}", std::process::id()));
    let hive = root.join("hive");
    let dates = b.column(2).as_any().downcast_ref::<StringArray>().unwrap().clone();
    let mut distinct: Vec<String> = dates.iter().map(|d| d.unwrap().to_string()).collect();
    distinct.sort();
    distinct.dedup();
    let keep: Vec<usize> = (0..b.num_columns()).filter(|&i| i != 2).collect();
    for d in &distinct {
        let mask = BooleanArray::from(dates.iter().map(|x| x == Some(d.as_str())).collect::<Vec<_>>());
        let part = arrow_select::filter::filter_record_batch(&b, &mask).unwrap().project(&keep).unwrap();
        write_pq(&hive.join(format!("date={d}")).join("part-0.parquet"), &part);
    }
    std::fs::write(hive.join("_SUCCESS"), "").unwrap();
    let (from_hive, r_hive) = read_parquet_dataset(&hive, &map(), &LoadOptions::default()).unwrap();
    assert_eq!(features(&from_hive), features(&from_csv));
    assert_eq!((r_hive.rows_read, r_hive.rows_used), (r_csv.rows_read, r_csv.rows_used));
    assert_eq!(r_hive.files.len(), distinct.len());
    assert_eq!(r_hive.files.iter().map(|f| f.rows_read).sum::<u64>(), r_hive.rows_read);
    assert!(r_hive.files.iter().all(|f| f.file.ends_with("part-0.parquet") && f.file.contains("date=")));
    assert!(r_hive.to_string().contains(&format!("{} files:", distinct.len())));
    // One partition folder given by itself: its own name supplies the date, by its
    // real path (here through a link named otherwise).
    let first = &distinct[0];
    let folder = hive.join(format!("date={first}"));
    let link = root.join("this-day");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&folder, &link).unwrap();
    for given in [&folder, &link] {
        let (one, r_one) = read_parquet_dataset(given, &map(), &LoadOptions::default()).unwrap();
        assert_eq!(r_one.rows_read, dates.iter().filter(|d| *d == Some(first.as_str())).count() as u64);
        assert!((0..one.num_customers()).flat_map(|c| one.events(c).map(|e| e.day).collect::<Vec<_>>()).all(|d| winback_core::date::format_day(d) == *first));
    }
    // A link back up the tree is a folder already read (it walked 40 levels deep and
    // failed, and two such links hung), and two links to one folder read it once.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(".", hive.join("again")).unwrap();
        std::os::unix::fs::symlink(".", hive.join("more")).unwrap();
        std::os::unix::fs::symlink(&folder, hive.join("copy")).unwrap();
        let (_, r_loops) = read_parquet_dataset(&hive, &map(), &LoadOptions::default()).unwrap();
        assert_eq!((r_loops.rows_read, r_loops.files.len()), (r_hive.rows_read, distinct.len()));
        for l in ["again", "more", "copy"] {
            std::fs::remove_file(hive.join(l)).unwrap();
        }
    }

    // A pattern over flat part files (two halves), and a directory without Parquet files.
    let flat = root.join("flat");
    write_pq(&flat.join("part-00000.parquet"), &b.slice(0, 6));
    write_pq(&flat.join("part-00001.parquet"), &b.slice(6, b.num_rows() - 6));
    std::fs::write(flat.join("part-00002.csv"), "customer_id,date,amount\nc9,2024-01-02,5\n").unwrap();
    let files = dataset_files(&flat.join("part-*.parquet")).unwrap();
    assert_eq!(files.len(), 2);
    let (from_glob, r_glob) = read_parquet_dataset(flat.join("part-*.parquet"), &map(), &LoadOptions::default()).unwrap();
    assert_eq!(features(&from_glob), features(&from_csv));
    assert_eq!(r_glob.files.iter().map(|f| f.rows_read).collect::<Vec<_>>(), vec![6, b.num_rows() as u64 - 6]);
    // `flat/*` skips what a directory walk skips (Spark's empty `_SUCCESS` failed the
    // whole load as a Parquet file without a footer); a wildcard in a directory part is
    // refused with its own message (it was "not found" for the literal `date=*`).
    std::fs::write(flat.join("_SUCCESS"), "").unwrap();
    std::fs::write(flat.join(".part-00000.parquet.crc"), "x").unwrap();
    // Every file a directory or a pattern names is read or refused by name: a CSV
    // beside the Parquet parts lost its rows without a word (found by a review), and
    // a pattern over CSV files said "Corrupt footer".
    let not_parquet = |e: winback_core::Error, name: &str| matches!(&e, winback_core::Error::NotParquet { file } if file.ends_with(name));
    assert!(not_parquet(dataset_files(&flat.join("*")).unwrap_err(), "part-00002.csv"));
    assert!(not_parquet(read_parquet_dataset(&flat, &map(), &LoadOptions::default()).unwrap_err(), "part-00002.csv"));
    assert!(not_parquet(read_parquet_dataset(flat.join("*.csv"), &map(), &LoadOptions::default()).unwrap_err(), "part-00002.csv"));
    assert!(not_parquet(dataset_files(&flat.join("_*")).unwrap_err(), "_SUCCESS"), "a pattern naming hidden files reads them");
    std::fs::remove_file(flat.join("part-00002.csv")).unwrap();
    // A named pipe is refused by name, not opened (opening it waited for a writer).
    #[cfg(unix)]
    {
        let fifo = flat.join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        for given in [flat.clone(), flat.join("pi*")] {
            let e = dataset_files(&given).unwrap_err();
            assert!(matches!(&e, winback_core::Error::NotAFile { path } if path.ends_with("pipe")), "{e}");
        }
        std::fs::remove_file(fifo).unwrap();
    }
    assert_eq!(dataset_files(&flat.join("*")).unwrap().len(), 2, "the two part files");
    // Parts without an extension, as Hive writes them, are Parquet by their first bytes.
    let hive_names = root.join("hive-names");
    write_pq(&hive_names.join("000000_0"), &b.slice(0, 6));
    write_pq(&hive_names.join("000001_0"), &b.slice(6, b.num_rows() - 6));
    let (from_names, _) = read_parquet_dataset(&hive_names, &map(), &LoadOptions::default()).unwrap();
    assert_eq!(features(&from_names), features(&from_csv));
    let e = read_parquet_dataset(hive.join("date=*").join("part-*.parquet"), &map(), &LoadOptions::default()).unwrap_err();
    assert!(matches!(e, winback_core::Error::WildcardDirectory { .. }), "{e}");
    // A file loaded twice, strict with duplicates dropped: the error names both files
    // (it named the directory and two rows both numbered from 1 in their own file).
    let twice = root.join("twice");
    write_pq(&twice.join("part-0.parquet"), &b.slice(0, 6));
    write_pq(&twice.join("part-1.parquet"), &b.slice(0, 6));
    let strict = LoadOptions { strict: true, drop_duplicates: true, ..Default::default() };
    let e = read_parquet_dataset(&twice, &map(), &strict).unwrap_err().to_string();
    let (p0, p1) = (twice.join("part-0.parquet").display().to_string(), twice.join("part-1.parquet").display().to_string());
    assert!(e.starts_with(&format!("{p1}, row ")) && e.contains(&format!("exact duplicate of {p0}, row ")), "{e}");
    // A bad value in the second file keeps its own row number.
    let second = b.slice(6, 4);
    let ids: Vec<String> = (0..4).map(|r| if r == 1 { String::new() } else { second.column(0).as_any().downcast_ref::<StringArray>().unwrap().value(r).to_string() }).collect();
    let mut cols = second.columns().to_vec();
    cols[0] = Arc::new(StringArray::from(ids));
    write_pq(&twice.join("part-1.parquet"), &RecordBatch::try_new(second.schema(), cols).unwrap());
    let e = read_parquet_dataset(&twice, &map(), &strict).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{p1}, row 2, column `customer_id`: missing customer id (value missing)")), "{e}");
    // Not strict: the row is skipped, and counted against its file.
    let (_, r) = read_parquet_dataset(&twice, &map(), &LoadOptions::default()).unwrap();
    assert_eq!(r.files.iter().map(|f| f.rows_skipped).collect::<Vec<_>>(), vec![0, 1]);
    assert!(r.to_string().contains("part-1.parquet (1 skipped)"), "{r}");
    let empty = root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = read_parquet_dataset(&empty, &map(), &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("no Parquet file found"), "{e}");
    // A file missing a mapped column that no folder supplies: named.
    let e = read_parquet_dataset(&flat, &ColumnMap::new("customer_id", "when", "amount"), &LoadOptions::default()).unwrap_err();
    assert!(e.to_string().contains("part-00000.parquet") && e.to_string().contains("`when`"), "{e}");
    std::fs::remove_dir_all(root).ok();
}

/// A step: its name, total, unit and the units reported while it ran.
type Step = (String, Option<u64>, winback_core::progress::Unit, u64);

/// What a read reports: its steps, their totals, and increments that add up to them.
#[derive(Default)]
struct Recorder {
    steps: std::sync::Mutex<Vec<Step>>,
    finished: std::sync::atomic::AtomicU64,
}

impl winback_core::progress::Progress for Recorder {
    fn begin(&self, step: &str, total: Option<u64>, unit: winback_core::progress::Unit) {
        self.steps.lock().unwrap().push((step.to_string(), total, unit, 0));
    }
    fn advance(&self, n: u64) {
        self.steps.lock().unwrap().last_mut().unwrap().3 += n;
    }
    fn finish(&self) {
        self.finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Progress adds up to the total: rows of a Parquet file decoded in parallel row
/// groups, rows of a partitioned dataset, and bytes of a CSV file large enough for
/// the parallel reader; the result is the same as without progress.
#[test]
fn progress_adds_up_to_the_total() {
    use std::sync::atomic::Ordering::Relaxed;
    use winback_core::progress::Unit;
    let b = batch();
    let n = b.num_rows();
    let ids: Vec<String> = (0..5).flat_map(|k| (0..n).map(move |r| (k, r))).map(|(k, r)| format!("{}{k}", b.column(0).as_any().downcast_ref::<StringArray>().unwrap().value(r))).collect();
    let big = arrow_select_concat(&b, 5, ids);
    let dir = std::env::temp_dir().join(format!("winback-progress-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("part=1")).unwrap();
    let path = dir.join("part=1").join("groups.parquet");
    let props = parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(7)).build();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), big.schema(), Some(props)).unwrap();
    w.write(&big).unwrap();
    w.close().unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let rec = Recorder::default();
    let (h, _) = pool.install(|| winback_core::arrow::read_parquet_with(&path, &map(), &LoadOptions::default(), &rec)).unwrap();
    assert_eq!(h.customer_ids(), read_parquet(&path, &map(), &LoadOptions::default()).unwrap().0.customer_ids());
    // The rows read, then the lines grouped into purchases (every row is a line here).
    let rows = big.num_rows() as u64;
    let grouping = ("grouping lines into purchases".to_string(), Some(rows), Unit::Rows, rows);
    assert_eq!(rec.steps.lock().unwrap().clone(), vec![(format!("reading {}", path.display()), Some(rows), Unit::Rows, rows), grouping.clone()]);
    assert_eq!(rec.finished.load(Relaxed), 2);
    // The dataset (its directory): the footers' rows as the total.
    let rec = Recorder::default();
    winback_core::arrow::read_parquet_dataset_with(&dir, &map(), &LoadOptions::default(), &rec).unwrap();
    let steps = rec.steps.lock().unwrap().clone();
    assert_eq!((steps[0].1, steps[0].3), (Some(rows), rows));
    assert_eq!(steps[1..], [grouping]);
    // A CSV file above the parallel reader's 16 MB: every byte counted once.
    let csv_path = dir.join("big.csv");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv_path).unwrap());
        writeln!(f, "customer_id,date,amount").unwrap();
        for i in 0..700_000u32 {
            writeln!(f, "customer-{:06},2023-{:02}-{:02},{}.25", i % 50_000, 1 + i % 12, 1 + i % 28, i % 97).unwrap();
        }
    }
    let size = std::fs::metadata(&csv_path).unwrap().len();
    assert!(size > 16 << 20, "{size} bytes");
    let rec = Recorder::default();
    let m = ColumnMap::new("customer_id", "date", "amount");
    let (h, r) = pool.install(|| winback_core::read::read_csv_with(&csv_path, &m, &CsvOptions::default(), &LoadOptions::default(), &rec)).unwrap();
    assert_eq!(r.rows_read, 700_000);
    assert_eq!(h.num_customers(), 50_000);
    let steps = rec.steps.lock().unwrap().clone();
    assert_eq!((steps[0].1, steps[0].3), (Some(size), size));
    assert_eq!(steps[1..], [("grouping lines into purchases".to_string(), Some(700_000), Unit::Rows, 700_000)]);
    assert_eq!(rec.finished.load(Relaxed), 2);
    std::fs::remove_dir_all(dir).ok();
}

/// Spark escapes hive folder values (`CNTRL%2FSTORE SUP`, `10%3A30%3A00`) and writes a
/// null or empty value as `__HIVE_DEFAULT_PARTITION__`: decoded, they read as the
/// table they came from (they were taken literally: a category `CNTRL%2FSTORE SUP`,
/// and a category `__HIVE_DEFAULT_PARTITION__` for customers with none).
#[test]
fn escaped_hive_folder_values_are_decoded() {
    use winback_core::arrow::read_parquet_dataset;
    let root = std::env::temp_dir().join(format!("winback-hive-esc-{}", std::process::id()));
    let rows = |ids: &[&str], dates: &[&str]| {
        RecordBatch::try_from_iter([
            ("customer_id", Arc::new(StringArray::from(ids.to_vec())) as arrow_array::ArrayRef),
            ("date", Arc::new(StringArray::from(dates.to_vec())) as arrow_array::ArrayRef),
            ("amount", Arc::new(Float64Array::from(vec![10.0; ids.len()])) as arrow_array::ArrayRef),
        ])
        .unwrap()
    };
    write_pq(&root.join("department=CNTRL%2FSTORE SUP").join("part-0.parquet"), &rows(&["a", "b"], &["2024-01-05", "2024-01-06"]));
    write_pq(&root.join("department=a%3Db").join("part-0.parquet"), &rows(&["a"], &["2024-01-07"]));
    write_pq(&root.join("department=__HIVE_DEFAULT_PARTITION__").join("part-0.parquet"), &rows(&["c"], &["2024-01-08"]));
    let map = ColumnMap::new("customer_id", "date", "amount").category("department");
    let (h, r) = read_parquet_dataset(&root, &map, &LoadOptions::default()).unwrap();
    assert_eq!(r.rows_used, 4);
    let schema = FeatureSchema::learn(&h, day_from_ymd(2024, 2, 1), &FeatureOptions::default()).unwrap();
    let names = schema.names();
    assert!(names.contains(&"main_category=CNTRL/STORE SUP"), "{names:?}");
    assert!(names.contains(&"main_category=a=b"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains('%') || n.contains("HIVE_DEFAULT")), "{names:?}");
    // Customer c's only purchase has no category: distinct categories 0.
    let c = h.customer_index("c").unwrap();
    let x = build_features(&h, &schema, day_from_ymd(2024, 2, 1), &[c]).unwrap();
    assert_eq!(x.value(0, "distinct_categories"), Some(0.0));
    std::fs::remove_dir_all(root).ok();
}

/// Attribute batches are read column by column in position: a later batch with other
/// columns (or the same in another order) is refused, not read into the wrong column
/// or a panic on a missing position.
#[test]
fn attribute_batches_with_other_columns_are_refused() {
    use winback_core::arrow::read_attribute_batches;
    let b1 = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["a"])) as _),
        ("age", Arc::new(Int64Array::from(vec![30])) as _),
        ("region", Arc::new(StringArray::from(vec!["N"])) as _),
    ])
    .unwrap();
    let fewer = RecordBatch::try_from_iter([("id", Arc::new(StringArray::from(vec!["b"])) as _), ("region", Arc::new(StringArray::from(vec!["S"])) as _)]).unwrap();
    let e = read_attribute_batches([Ok(b1.clone()), Ok(fewer)], "attrs", "id").unwrap_err();
    assert!(e.to_string().contains("batch 2 has columns [id, region], the first batch [id, age, region]"), "{e}");
    let swapped = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["b"])) as _),
        ("region", Arc::new(StringArray::from(vec!["S"])) as _),
        ("age", Arc::new(Int64Array::from(vec![41])) as _),
    ])
    .unwrap();
    assert!(read_attribute_batches([Ok(b1.clone()), Ok(swapped)], "attrs", "id").is_err());
    assert!(read_attribute_batches([Ok(b1.clone()), Ok(b1)], "attrs", "id").is_ok());
    // A date attribute outside years 1 to 9999 (an i32::MIN sentinel) is missing.
    let d = RecordBatch::try_from_iter([
        ("id", Arc::new(StringArray::from(vec!["a", "b"])) as _),
        ("joined", Arc::new(Date32Array::from(vec![i32::MIN, 19_000])) as _),
    ])
    .unwrap();
    let a = read_attribute_batches([Ok(d)], "attrs", "id").unwrap();
    let col = &a.columns()[0];
    assert!(matches!(&col.values, winback_core::attributes::AttrValues::Date(v) if v == &vec![None, Some(19_000)]), "{:?}", col.values);
}

/// A mapped column of lists (or structs, maps) is refused by name: as text its
/// values read `[12346]`, and every null id became one customer `[]` (found in a review).
#[test]
fn a_column_of_lists_is_refused_by_name() {
    use arrow_array::builder::{Int64Builder, ListBuilder};
    let mut ids = ListBuilder::new(Int64Builder::new());
    for v in [Some(1), Some(2), None] {
        match v {
            Some(v) => {
                ids.values().append_value(v);
                ids.append(true);
            }
            None => ids.append(false),
        }
    }
    let b = RecordBatch::try_from_iter([
        ("customer_id", Arc::new(ids.finish()) as ArrayRef),
        ("date", Arc::new(Date32Array::from(vec![19000, 19001, 19002])) as ArrayRef),
        ("amount", Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0])) as ArrayRef),
    ])
    .unwrap();
    let m = ColumnMap::new("customer_id", "date", "amount");
    let e = read_record_batches([Ok(b)], "<table>", &m, &LoadOptions::default()).unwrap_err().to_string();
    assert!(e.starts_with("<table>: column `customer_id` holds List("), "{e}");
    assert!(e.ends_with("values: a mapped column needs one value per row (text, a number or a date)"), "{e}");
}

/// Channel, category and region columns given as dictionaries (pandas
/// `category`, Parquet's dictionary pages) give the history their text gives:
/// an entry only a skipped row uses never enters the vocabulary, a null key or
/// a null or blank entry is no value, and the entries are trimmed like text.
#[test]
fn dictionary_name_columns_match_text() {
    use arrow_array::types::Int8Type;
    use arrow_array::DictionaryArray;
    // Row 3's date is bad: its channel `fax` and region `West` appear nowhere else.
    let ids = ["a", "a", "b", "c", "c", "d"];
    let dates = ["2024-01-05", "2024-02-05", "2024-01-07", "not a date", "2024-03-01", "2024-03-02"];
    let channel: [Option<&str>; 6] = [Some(" web"), Some("store"), None, Some("fax"), Some(" "), Some("web ")];
    let region: [Option<&str>; 6] = [Some("North"), None, Some("South"), Some("West"), Some("North"), Some("South")];
    let text_batch = |channel: ArrayRef, region: ArrayRef| {
        RecordBatch::try_from_iter_with_nullable([
            ("customer_id", Arc::new(StringArray::from(ids.to_vec())) as ArrayRef, false),
            ("date", Arc::new(StringArray::from(dates.to_vec())) as _, false),
            ("amount", Arc::new(Float64Array::from(vec![10.0, 20.0, 5.0, 7.0, 8.0, 9.0])) as _, false),
            ("channel", channel, true),
            ("region", region, true),
        ])
        .unwrap()
    };
    let as_text = text_batch(Arc::new(StringArray::from(channel.to_vec())), Arc::new(StringArray::from(region.to_vec())));
    // Dictionaries with a null key (row 2's channel), a null entry (row 1's region),
    // entries in another order than first use, and an unused entry (`mail`).
    let ch_values = StringArray::from(vec![Some("mail"), Some("web "), Some("fax"), Some(" "), Some("store"), Some(" web")]);
    let ch_keys = arrow_array::Int8Array::from(vec![Some(5), Some(4), None, Some(2), Some(3), Some(1)]);
    let re_values = StringArray::from(vec![Some("South"), None, Some("West"), Some("North")]);
    let re_keys = arrow_array::Int8Array::from(vec![Some(3), Some(1), Some(0), Some(2), Some(3), Some(0)]);
    let as_dict = text_batch(
        Arc::new(DictionaryArray::<Int8Type>::try_new(ch_keys, Arc::new(ch_values)).unwrap()),
        Arc::new(DictionaryArray::<Int8Type>::try_new(re_keys, Arc::new(re_values)).unwrap()),
    );
    let map = ColumnMap::new("customer_id", "date", "amount").channel("channel").region("region");
    let (t, rt) = read_record_batches([Ok(as_text.clone())], "t", &map, &LoadOptions::default()).unwrap();
    let (d, rd) = read_record_batches([Ok(as_dict.slice(0, 4)), Ok(as_dict.slice(4, 2))], "t", &map, &LoadOptions::default()).unwrap();
    assert_eq!(rd, rt);
    assert_eq!((rd.rows_used, rd.count(SkipReason::BadDate)), (5, 1));
    assert_eq!(d.channels(), ["store", "web"]);
    assert_eq!(d.regions(), ["North", "South"]);
    assert_eq!((d.channels(), d.regions()), (t.channels(), t.regions()));
    let events = |h: &History| (0..h.num_customers()).flat_map(|c| h.events(c).map(|e| format!("{e:?}")).collect::<Vec<_>>()).collect::<Vec<_>>();
    assert_eq!(events(&d), events(&t));

    // The same column written to Parquet (dictionary pages) is read as a dictionary: the same history.
    let dir = std::env::temp_dir().join(format!("winback-pqdict-{}", std::process::id()));
    let path = dir.join("dict.parquet");
    write_pq(&path, &as_dict);
    let (p, rp) = read_parquet(&path, &map, &LoadOptions::default()).unwrap();
    assert_eq!(rp, winback_core::LoadReport { source: path.display().to_string(), ..rt.clone() });
    assert_eq!(events(&p), events(&t));
    // Text columns stored with dictionary pages (the writers' default) are read as dictionaries too.
    let path = dir.join("text.parquet");
    write_pq(&path, &as_text);
    let (p, rp) = read_parquet(&path, &map, &LoadOptions::default()).unwrap();
    assert_eq!(rp, winback_core::LoadReport { source: path.display().to_string(), ..rt });
    assert_eq!((events(&p), p.channels()), (events(&t), t.channels()));
    std::fs::remove_dir_all(dir).ok();
}

/// A dictionary column that falls back to plain pages part-way through a row
/// group (the writer's dictionary grew too large) reads as its text does.
#[test]
fn dictionary_pages_falling_back_to_plain_read_as_text() {
    use parquet::file::properties::WriterProperties;
    let n = 3000;
    let batch = RecordBatch::try_from_iter([
        ("customer_id", Arc::new(StringArray::from((0..n).map(|i| format!("c{}", i % 97)).collect::<Vec<_>>())) as ArrayRef),
        ("date", Arc::new(Date32Array::from((0..n).map(|i| 19000 + i % 400).collect::<Vec<i32>>())) as _),
        ("amount", Arc::new(Float64Array::from((0..n).map(|i| f64::from(i % 50) + 0.25).collect::<Vec<_>>())) as _),
        ("category", Arc::new(StringArray::from((0..n).map(|i| format!("category {}", (i * 7) % 1500)).collect::<Vec<_>>())) as _),
    ])
    .unwrap();
    let map = ColumnMap::new("customer_id", "date", "amount").category("category");
    let (t, rt) = read_record_batches([Ok(batch.clone())], "t", &map, &LoadOptions::default()).unwrap();
    let dir = std::env::temp_dir().join(format!("winback-pqfall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fallback.parquet");
    let props = WriterProperties::builder().set_dictionary_page_size_limit(512).set_data_page_row_count_limit(100).set_write_batch_size(100).build();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let meta = parquet::file::reader::FileReader::metadata(&parquet::file::serialized_reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap()).clone();
    let chunk = meta.row_group(0).column(3);
    assert!(chunk.dictionary_page_offset().is_some() && chunk.encodings().any(|e| e == parquet::basic::Encoding::PLAIN), "{:?}", chunk.encodings().collect::<Vec<_>>());
    let (p, rp) = read_parquet(&path, &map, &LoadOptions::default()).unwrap();
    assert_eq!(rp, winback_core::LoadReport { source: path.display().to_string(), ..rt });
    assert_eq!(p.categories(), t.categories());
    assert_eq!(features(&p), features(&t));
    std::fs::remove_dir_all(dir).ok();
}

/// A dictionary with no entries (every key null, as an all-missing pandas
/// `category` column arrives) is a column of no values, not a panic; an empty
/// batch of such a column too.
#[test]
fn an_empty_dictionary_is_no_value() {
    use arrow_array::types::Int32Type;
    use arrow_array::{DictionaryArray, Int32Array};
    let empty = |n: usize| -> ArrayRef { Arc::new(DictionaryArray::<Int32Type>::try_new(Int32Array::new_null(n), Arc::new(StringArray::from(Vec::<&str>::new()))).unwrap()) };
    let batch = |n: usize| {
        RecordBatch::try_from_iter([
            ("customer_id", Arc::new(StringArray::from(vec!["a"; n])) as ArrayRef),
            ("date", Arc::new(StringArray::from(vec!["2024-01-01"; n])) as _),
            ("amount", Arc::new(Float64Array::from(vec![1.0; n])) as _),
            ("channel", empty(n)),
        ])
        .unwrap()
    };
    let map = ColumnMap::new("customer_id", "date", "amount").channel("channel");
    let (h, r) = read_record_batches([Ok(batch(0)), Ok(batch(2))], "t", &map, &LoadOptions::default()).unwrap();
    assert_eq!((r.rows_used, h.channels().len()), (2, 0));
    assert_eq!(h.events(0).next().unwrap().channel, winback_core::history::NONE_CODE);
}

/// A log in time order read for a cutoff (`LoadOptions::only_before`): rows dated
/// on or after it are counted as after the cutoff whatever their other values
/// (a bad amount too), row groups whose date statistics put every row there are
/// not even decoded (a corrupt page in one is never read), a group with a null
/// date is decoded (its null is a bad date), and the history is that of the rows
/// before the cutoff. Strict mode reads and checks every row.
#[test]
fn row_groups_after_the_cutoff_are_counted_not_decoded() {
    use parquet::file::properties::WriterProperties;
    let base = day_from_ymd(2024, 1, 1);
    // Row i: day base + i, customer c{i % 5}; row groups of 6 rows: 0-5, ..., 42-47.
    let n = 48;
    let mut amounts: Vec<f64> = (0..n).map(|i| 10.0 + f64::from(i)).collect();
    let mut days: Vec<Option<i32>> = (0..n).map(|i| Some(base + i)).collect();
    // Row 28 (group 4, after the cutoff): not a number; row 40 (group 6): no date.
    amounts[28] = f64::NAN;
    days[40] = None;
    let b = RecordBatch::try_from_iter([
        ("customer_id", Arc::new(StringArray::from((0..n).map(|i| format!("c{}", i % 5)).collect::<Vec<_>>())) as ArrayRef),
        ("order_id", Arc::new(StringArray::from((0..n).map(|i| format!("o{i}")).collect::<Vec<_>>())) as _),
        ("date", Arc::new(Date32Array::from(days)) as _),
        ("amount", Arc::new(Float64Array::from(amounts)) as _),
    ])
    .unwrap();
    let dir = std::env::temp_dir().join(format!("winback-cutoff-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("time.parquet");
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(6)).build();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), b.schema(), Some(props)).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    let m = ColumnMap::new("customer_id", "date", "amount").order("order_id");
    // Cutoff: day 27, inside group 4 (rows 24-26 before it, 27-29 on or after).
    let cutoff = LoadOptions { only_before: Some(base + 27), ..Default::default() };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
    let rec = Recorder::default();
    let (h, r) = pool.install(|| winback_core::arrow::read_parquet_with(&path, &m, &cutoff, &rec)).unwrap();
    assert_eq!((r.rows_read, r.rows_used), (48, 27));
    assert_eq!(r.skipped, vec![(SkipReason::BadDate, 1), (SkipReason::AfterCutoff, 20)]);
    assert_eq!(r.dates, Some(("2024-01-01".to_string(), "2024-01-27".to_string())));
    // Progress counts the rows of the groups not decoded too.
    let read = rec.steps.lock().unwrap()[0].clone();
    assert_eq!((read.1, read.3), (Some(48), 48));
    let (before, _) = read_record_batches([Ok(b.slice(0, 27))], "before", &m, &LoadOptions::default()).unwrap();
    assert_eq!(format!("{h:?}").replace(&path.display().to_string(), "before"), format!("{before:?}"));
    // Without the cutoff every row is checked: the bad amount is reported as such.
    let (_, all) = read_parquet(&path, &m, &LoadOptions::default()).unwrap();
    assert_eq!((all.rows_used, all.skipped.clone()), (46, vec![(SkipReason::BadDate, 1), (SkipReason::BadAmount, 1)]));
    // Strict mode reads every row, cutoff or not: row 29 (1-based) is refused.
    let e = read_parquet(&path, &m, &LoadOptions { strict: true, ..cutoff.clone() }).unwrap_err();
    assert!(e.to_string().contains("row 29, column `amount`"), "{e}");
    // The amount column of group 7 (rows 42-47) overwritten with bytes that are no
    // page: read for the cutoff it is never decoded.
    let meta = parquet::file::reader::FileReader::metadata(&parquet::file::serialized_reader::SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap()).clone();
    assert_eq!(meta.num_row_groups(), 8);
    let (start, len) = meta.row_group(7).column(3).byte_range();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[start as usize..(start + len) as usize].fill(0xFF);
    let broken = dir.join("broken.parquet");
    std::fs::write(&broken, bytes).unwrap();
    assert!(read_parquet(&broken, &m, &LoadOptions::default()).is_err());
    let (h2, r2) = pool.install(|| read_parquet(&broken, &m, &cutoff)).unwrap();
    assert_eq!((format!("{h2:?}").replace(&broken.display().to_string(), "x"), r2.skipped), (format!("{h:?}").replace(&path.display().to_string(), "x"), r.skipped.clone()));
    // Without statistics every row group is decoded: the same history and report.
    let plain = dir.join("no-statistics.parquet");
    let props = WriterProperties::builder().set_max_row_group_row_count(Some(6)).set_statistics_enabled(parquet::file::properties::EnabledStatistics::None).build();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&plain).unwrap(), b.schema(), Some(props)).unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
    let (h3, r3) = pool.install(|| read_parquet(&plain, &m, &cutoff)).unwrap();
    assert_eq!((format!("{h3:?}").replace(&plain.display().to_string(), "x"), r3.skipped), (format!("{h:?}").replace(&path.display().to_string(), "x"), r.skipped.clone()));
    std::fs::remove_dir_all(dir).ok();
}
