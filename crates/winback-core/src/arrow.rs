//! Reading purchase histories from Arrow record batches and Parquet files.
//!
//! Columns are found by the names of a [`ColumnMap`]. Types are converted as
//! follows: ids and labels from any type castable to text; amounts and
//! quantities from any numeric (or numeric text) type; dates from `Date32`,
//! `Date64`, `Timestamp` or text. A timestamp with a time zone (pandas'
//! tz-aware datetimes) is read like a CSV value written with that zone's
//! offset: by default its day is the local date in that zone; a timestamp
//! without zone is a wall-clock time (see [`crate::date`]). Row numbers in errors are
//! 1-based positions in the stream of batches.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Date64Type, Float64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, TimeUnit};

#[cfg(feature = "parquet")]
use rayon::prelude::*;

use crate::date::{ColumnZone, DateParser, Day};
use crate::error::{Error, Result};
use crate::history::{History, HistoryBuilder, Id, LoadOptions, Name, RawRow};
use crate::columns::{parse_flag, ColumnMap};
use crate::report::LoadReport;

pub use crate::dataset::dataset_files;
#[cfg(feature = "parquet")]
use crate::dataset::HiveFolders;

fn arrow_err(source: &str) -> impl Fn(ArrowError) -> Error + '_ {
    move |e| Error::Arrow { file: source.to_string(), source: e }
}

fn cast(a: &ArrayRef, to: &DataType, source: &str) -> Result<ArrayRef> {
    if a.data_type() == to {
        return Ok(Arc::clone(a));
    }
    arrow_cast::cast(a, to).map_err(arrow_err(source))
}

/// Dates of one batch: days, or the text that failed.
enum Dates {
    Days(Vec<Option<Day>>),
    Text(ArrayRef),
}

fn dates(a: &ArrayRef, parser: &DateParser, source: &str) -> Result<Dates> {
    // A day beyond i32 is None here (no wrapping cast); the row loop refuses days
    // outside years 1 to 9999 with the value as written.
    let day = |d: i64| Day::try_from(d).ok();
    let per_day = |secs: i64, naive: bool| parser.day_of_parts(day(secs.div_euclid(86_400))?, secs.rem_euclid(86_400), (!naive).then_some(0));
    Ok(match a.data_type() {
        DataType::Date32 => Dates::Days(a.as_primitive::<Date32Type>().iter().collect()),
        DataType::Date64 => Dates::Days(a.as_primitive::<Date64Type>().iter().map(|v| v.and_then(|ms| day(ms.div_euclid(86_400_000)))).collect()),
        DataType::Timestamp(unit, tz) => {
            let per_sec: i64 = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let ints = cast(a, &DataType::Int64, source)?;
            let ints = ints.as_primitive::<arrow_array::types::Int64Type>();
            match tz {
                // Naive: a wall-clock time, as written.
                None => Dates::Days(ints.iter().map(|v| v.and_then(|t| per_day(t.div_euclid(per_sec), true))).collect()),
                // An instant with its column's zone: its local wall clock in that zone
                // plus the offset, exactly like a CSV value written with an offset.
                Some(tz) => {
                    let zone = ColumnZone::parse(tz)?;
                    Dates::Days(
                        ints.iter()
                            .map(|v| {
                                let utc = v?.div_euclid(per_sec);
                                let off = zone.offset_at(utc)?;
                                let local = utc.checked_add(off)?;
                                parser.day_of_parts(day(local.div_euclid(86_400))?, local.rem_euclid(86_400), Some(off))
                            })
                            .collect(),
                    )
                }
            }
        }
        _ => Dates::Text(cast(a, &DataType::Utf8, source)?),
    })
}

fn s(a: &ArrayRef, r: usize) -> Option<&str> {
    let a = a.as_string::<i32>();
    a.is_valid(r).then(|| a.value(r))
}

/// One value of any array as text ("" for null), for error messages.
fn display(a: &ArrayRef, r: usize) -> String {
    if a.is_null(r) {
        return String::new();
    }
    arrow_cast::display::ArrayFormatter::try_new(a.as_ref(), &arrow_cast::display::FormatOptions::default())
        .map(|fmt| fmt.value(r).to_string())
        .unwrap_or_default()
}

/// A date or timestamp as stored, for error messages: the integer and its type
/// ("-2147483648 as Date32"), readable where a calendar rendering fails; "" for null.
fn stored(a: &ArrayRef, r: usize) -> String {
    if a.is_null(r) {
        return String::new();
    }
    // One value, not the column: this runs for every bad row.
    match arrow_cast::cast(&a.slice(r, 1), &DataType::Int64) {
        Ok(i) => format!("{} as {}", i.as_primitive::<arrow_array::types::Int64Type>().value(0), a.data_type()),
        Err(_) => display(a, r),
    }
}

/// A number column as f64; text is trimmed first, as the CSV reader trims
/// (" 12.50" is 12.5 in both). A `float32` value becomes the `f64` of its shortest
/// decimal form — the number as written, 341.46 — not its binary widening
/// (341.4599914550781, which moved sums in the fifth decimal against the same data
/// as `float64` or CSV).
fn number_col(a: &ArrayRef, source: &str) -> Result<ArrayRef> {
    if let Some(f) = a.as_primitive_opt::<arrow_array::types::Float32Type>() {
        let mut text = String::new();
        let widened: arrow_array::Float64Array = f.iter().map(|v| v.map(|x| f32_as_written(x, &mut text))).collect();
        return Ok(Arc::new(widened));
    }
    if matches!(a.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
        let text = cast(a, &DataType::Utf8, source)?;
        let trimmed: arrow_array::StringArray = text.as_string::<i32>().iter().map(|v| v.map(str::trim)).collect();
        return cast(&(Arc::new(trimmed) as ArrayRef), &DataType::Float64, source);
    }
    cast(a, &DataType::Float64, source)
}

/// `x` as the `f64` nearest its shortest decimal form (`341.46f32` → 341.46, where
/// `f64::from` gives 341.4599914550781). Values below 2^24 with at most 8 decimals
/// (every price) take the first of `round(x·10^k)/10^k`, k = 0..8, that is `x` again
/// as an `f32` — the decimal with the fewest digits, the nearest of them, as the
/// shortest form is — without formatting (70 ns a value); others are formatted into
/// `text` and read back. Never beyond `f32::MAX` (whose shortest form, 3.4028235e38,
/// is above the `f32` range as an `f64`).
fn f32_as_written(x: f32, text: &mut String) -> f64 {
    const TENS: [f64; 9] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8];
    let wide = f64::from(x);
    if !x.is_finite() {
        return wide;
    }
    if wide.abs() < 16_777_216.0 {
        for p in TENS {
            let d = (wide * p).round() / p;
            if d as f32 == x {
                return d;
            }
        }
    }
    use std::fmt::Write;
    text.clear();
    match write!(text, "{x}").ok().and_then(|()| text.parse::<f64>().ok()) {
        Some(d) if d.abs() <= f64::from(f32::MAX) => d,
        _ => wide,
    }
}

/// Customer ids as text. Float ids (what pandas makes of an integer column with a
/// missing value) are written as integers when they are whole (`12346.0` → `12346`,
/// as the CSV reader and an int64 column give), and a NaN id is a missing id.
fn id_col(a: &ArrayRef, source: &str) -> Result<ArrayRef> {
    if !matches!(a.data_type(), DataType::Float16 | DataType::Float32 | DataType::Float64) {
        return cast(a, &DataType::Utf8, source);
    }
    let f = cast(a, &DataType::Float64, source)?;
    let f = f.as_primitive::<arrow_array::types::Float64Type>();
    let text: arrow_array::StringArray = (0..f.len())
        .map(|r| {
            let v = f.value(r);
            if !f.is_valid(r) || !v.is_finite() {
                None
            } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
                Some(format!("{}", v as i64))
            } else {
                Some(v.to_string())
            }
        })
        .collect();
    Ok(std::sync::Arc::new(text))
}

/// An integer id column (customer or order) as `i64` values (signed integers,
/// and unsigned ones that fit), keyed by their decimal text; `None` for any
/// other type.
fn int_ids(a: &ArrayRef) -> Option<arrow_array::Int64Array> {
    use arrow_array::types::Int64Type;
    match a.data_type() {
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => {
            arrow_cast::cast(a, &DataType::Int64).ok().map(|c| c.as_primitive::<Int64Type>().clone())
        }
        _ => None,
    }
}

fn text_col(batch: &RecordBatch, idx: Option<usize>, source: &str) -> Result<Option<ArrayRef>> {
    idx.map(|i| cast(batch.column(i), &DataType::Utf8, source)).transpose()
}

/// A channel, category or region column of one batch: text row by row, or a
/// dictionary (as Parquet stores such columns, and pandas `category` columns
/// arrive) whose entries are read as text once, not once per row.
enum NameCol {
    Text(arrow_array::StringArray),
    /// Each row's entry ([`NameCol::NO_ENTRY`]: no value), and the entries' text.
    Dict { keys: Vec<u32>, values: arrow_array::StringArray },
}

impl NameCol {
    const NO_ENTRY: u32 = u32::MAX;

    fn of(batch: &RecordBatch, idx: Option<usize>, source: &str) -> Result<Option<NameCol>> {
        let Some(i) = idx else { return Ok(None) };
        let a = batch.column(i);
        let text = |a: &ArrayRef| Ok::<_, Error>(cast(a, &DataType::Utf8, source)?.as_string::<i32>().clone());
        Ok(Some(match a.as_any_dictionary_opt().filter(|d| d.values().len() < Self::NO_ENTRY as usize) {
            // The entries' text is what casting the whole column to text gives.
            Some(d) => {
                let values = text(d.values())?;
                // The usual case (what the Parquet reader gives): 32-bit keys, no null
                // key or entry; one pass, no cast. A negative key wraps to a large
                // u32 and fails the bound, as does any key past the entries.
                if let Some(k32) = d.keys().as_primitive_opt::<arrow_array::types::Int32Type>().filter(|k| k.null_count() == 0 && values.null_count() == 0) {
                    let n = values.len() as u32;
                    let keys: Vec<u32> = k32.values().iter().map(|&k| k as u32).collect();
                    if keys.iter().fold(0u32, |m, &k| m.max(k)) < n || keys.is_empty() {
                        return Ok(Some(NameCol::Dict { keys, values }));
                    }
                }
                // Keys as i64 (any key type), each checked: a null key or a null entry is
                // no value; a key outside the dictionary (possible in arrays handed over
                // without validation) falls back to casting the column, which refuses it.
                let keys = arrow_cast::cast(d.keys(), &DataType::Int64).map_err(arrow_err(source))?;
                let keys = keys.as_primitive::<arrow_array::types::Int64Type>();
                let entry = |r: usize| match usize::try_from(keys.value(r)) {
                    _ if keys.is_null(r) => Some(Self::NO_ENTRY),
                    Ok(k) if k < values.len() => Some(if values.is_null(k) { Self::NO_ENTRY } else { k as u32 }),
                    _ => None,
                };
                match (0..keys.len()).map(entry).collect::<Option<Vec<u32>>>() {
                    Some(keys) => NameCol::Dict { keys, values },
                    None => NameCol::Text(text(a)?),
                }
            }
            None => NameCol::Text(text(a)?),
        }))
    }

    /// Entries of the dictionary (0 for text).
    fn entries(c: &Option<NameCol>) -> usize {
        match c {
            Some(NameCol::Dict { values, .. }) => values.len(),
            _ => 0,
        }
    }

    #[inline]
    fn at(c: &Option<NameCol>, r: usize) -> Name<'_> {
        match c {
            None => Name::Text(None),
            Some(NameCol::Text(a)) => Name::Text(a.is_valid(r).then(|| a.value(r))),
            Some(NameCol::Dict { keys, values }) => match keys[r] {
                Self::NO_ENTRY => Name::Text(None),
                k => Name::Entry(k, values.value(k as usize)),
            },
        }
    }
}

/// Reads record batches (from pyarrow, polars, DuckDB, Parquet...) into a history.
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{RecordBatch, StringArray, Float64Array, Date32Array};
/// use winback_core::{arrow::read_record_batches, read::ColumnMap, LoadOptions};
/// let batch = RecordBatch::try_from_iter([
///     ("id", Arc::new(StringArray::from(vec!["a", "b", "a"])) as _),
///     ("day", Arc::new(Date32Array::from(vec![19000, 19001, 19010])) as _),
///     ("value", Arc::new(Float64Array::from(vec![5.0, 7.5, -1.0])) as _),
/// ]).unwrap();
/// let map = ColumnMap::new("id", "day", "value");
/// let (h, report) = read_record_batches([Ok(batch)], "batches", &map, &LoadOptions::default())?;
/// assert_eq!((h.num_customers(), report.rows_used, report.returns), (2, 3, 1));
/// # Ok::<(), winback_core::Error>(())
/// ```
pub fn read_record_batches(
    batches: impl IntoIterator<Item = std::result::Result<RecordBatch, ArrowError>>,
    source: &str,
    map: &ColumnMap,
    options: &LoadOptions,
) -> Result<(History, LoadReport)> {
    read_record_batches_with(batches, source, map, options, &crate::progress::Silent)
}

/// [`read_record_batches`] inside a step begun on `progress` by the caller (who
/// counts the batches' rows, and ends the step): the grouping of the lines into
/// purchases, once the last batch is read, is reported as a step of its own.
pub fn read_record_batches_with(
    batches: impl IntoIterator<Item = std::result::Result<RecordBatch, ArrowError>>,
    source: &str,
    map: &ColumnMap,
    options: &LoadOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<(History, LoadReport)> {
    let parser = DateParser::new(map.date_format.clone(), &map.time)?;
    let mut b = HistoryBuilder::new(source, map.names(), map.present(), options.clone()).number_rows();
    fill(&mut b, batches, source, map, &parser, 0)?;
    b.finish_with(progress)
}

/// Pushes the rows of `batches` into a builder; rows are numbered from `first_row + 1`.
fn fill(
    b: &mut HistoryBuilder,
    batches: impl IntoIterator<Item = std::result::Result<RecordBatch, ArrowError>>,
    source: &str,
    map: &ColumnMap,
    parser: &DateParser,
    first_row: u64,
) -> Result<()> {
    let mut row_no = first_row;
    for batch in batches {
        let batch = batch.map_err(arrow_err(source))?;
        let schema = batch.schema();
        let find = |name: &str| -> Result<usize> {
            let times = schema.fields().iter().filter(|f| f.name() == name).count();
            if times > 1 {
                return Err(Error::AmbiguousColumn { file: source.to_string(), column: name.to_string(), times });
            }
            let i = schema.index_of(name).map_err(|_| Error::MissingColumn {
                file: source.to_string(),
                column: name.to_string(),
                available: schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
            })?;
            let dt = schema.field(i).data_type();
            if dt.is_nested() {
                return Err(Error::NestedColumn { file: source.to_string(), column: name.to_string(), data_type: dt.to_string() });
            }
            Ok(i)
        };
        let opt = |name: &Option<String>| name.as_deref().map(find).transpose();
        let id_raw = batch.column(find(&map.customer)?);
        // Integer ids go to the builder as integers (no text column is built).
        let id_int = int_ids(id_raw);
        let id = if id_int.is_some() { None } else { Some(id_col(id_raw, source)?) };
        let id_text = id.as_ref().map(|a| a.as_string::<i32>());
        let date_raw = batch.column(find(&map.date)?);
        let date = dates(date_raw, parser, source)?;
        let amount_raw = batch.column(find(&map.amount)?);
        let amount = number_col(amount_raw, source).ok();
        let qty_raw = opt(&map.quantity)?.map(|i| batch.column(i));
        let qty = qty_raw.map(|a| number_col(a, source)).transpose()?;
        // Integer order ids (as exports write basket and invoice numbers) go to the
        // builder as integers, like customer ids; any other type as text.
        let order_idx = opt(&map.order)?;
        let order_int = order_idx.and_then(|i| int_ids(batch.column(i)));
        let order = if order_int.is_some() { None } else { text_col(&batch, order_idx, source)? };
        // Downcast once per batch, not once per row.
        let order = order.as_ref().map(|a| a.as_string::<i32>().clone());
        let channel = NameCol::of(&batch, opt(&map.channel)?, source)?;
        let category = NameCol::of(&batch, opt(&map.category)?, source)?;
        let region = NameCol::of(&batch, opt(&map.region)?, source)?;
        b.start_dictionaries([NameCol::entries(&channel), NameCol::entries(&category), NameCol::entries(&region)]);
        let amount = amount.as_ref().map(|a| a.as_primitive::<Float64Type>().clone());
        let qty = qty.as_ref().map(|a| a.as_primitive::<Float64Type>().clone());
        let cancel_idx = opt(&map.cancelled)?;
        let cancel_bool = cancel_idx.and_then(|i| batch.column(i).as_boolean_opt().cloned());
        let cancel_text = match (cancel_idx, &cancel_bool) {
            (Some(i), None) => Some(cast(batch.column(i), &DataType::Utf8, source)?),
            _ => None,
        };
        for r in 0..batch.num_rows() {
            row_no += 1;
            let date_text;
            let day = match &date {
                Dates::Days(d) => match d[r] {
                    Some(day) if crate::date::in_file_range(i64::from(day)) => Ok(day),
                    _ => {
                        date_text = stored(date_raw, r);
                        Err(date_text.as_str())
                    }
                },
                Dates::Text(t) => {
                    let text = s(t, r).unwrap_or("");
                    parser.parse_day(text).filter(|&day| crate::date::in_file_range(i64::from(day))).ok_or(text)
                }
            };
            // A quantity present but not numeric is a bad quantity, not "unknown".
            let qty_text;
            let quantity = match (&qty, qty_raw) {
                (Some(q), Some(raw)) => Some(match q.is_valid(r).then(|| q.value(r)) {
                    Some(v) => Ok(v),
                    None => {
                        qty_text = display(raw, r);
                        Err(qty_text.as_str())
                    }
                }),
                _ => None,
            };
            // The amount as text is only needed to report a bad value.
            let amount_text;
            let amount = match amount.as_ref().and_then(|a| a.is_valid(r).then(|| a.value(r))) {
                Some(v) => Ok(v),
                None => {
                    amount_text = display(amount_raw, r);
                    Err(amount_text.as_str())
                }
            };
            let cancelled = match (&cancel_bool, &cancel_text) {
                (Some(bv), _) => Ok(bv.is_valid(r) && bv.value(r)),
                (None, Some(t)) => match s(t, r) {
                    None => Ok(false),
                    Some(v) => parse_flag(v).ok_or(v),
                },
                _ => Ok(false),
            };
            b.push(
                row_no,
                RawRow {
                    customer: match (&id_int, &id_text) {
                        (Some(ints), _) if ints.is_valid(r) => Id::Int(ints.value(r)),
                        (None, Some(t)) if t.is_valid(r) => Id::Text(t.value(r)),
                        _ => Id::Text(""),
                    },
                    day,
                    amount,
                    quantity,
                    order: match (&order_int, &order) {
                        (Some(ints), _) => ints.is_valid(r).then(|| Id::Int(ints.value(r))),
                        (None, Some(t)) => t.is_valid(r).then(|| Id::Text(t.value(r))),
                        (None, None) => None,
                    },
                    channel: NameCol::at(&channel, r),
                    category: NameCol::at(&category, r),
                    region: NameCol::at(&region, r),
                    cancelled,
                },
            )?;
        }
    }
    Ok(())
}

/// Reads a Parquet file, only the mapped columns, batch by batch.
#[cfg(feature = "parquet")]
///
/// A corrupt file is an error, never a panic: the `parquet` crate's decoder can
/// panic on some malformed pages (found by fuzzing), so decoding runs under
/// `catch_unwind` and such a failure becomes [`Error::CorruptFile`].
pub fn read_parquet(path: impl AsRef<std::path::Path>, map: &ColumnMap, options: &LoadOptions) -> Result<(History, LoadReport)> {
    read_parquet_with(path, map, options, &crate::progress::Silent)
}

/// Rows in a Parquet file by its footer (`None` when the footer cannot be read:
/// the read itself then says why).
#[cfg(feature = "parquet")]
fn footer_rows(path: &std::path::Path) -> Option<u64> {
    std::panic::catch_unwind(|| {
        let file = std::fs::File::open(path).ok()?;
        let b = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).ok()?;
        u64::try_from(b.metadata().file_metadata().num_rows()).ok()
    })
    .ok()
    .flatten()
}

/// [`read_parquet`], reporting the rows decoded to `progress` (the footer's row
/// count is the total).
#[cfg(feature = "parquet")]
pub fn read_parquet_with(path: impl AsRef<std::path::Path>, map: &ColumnMap, options: &LoadOptions, progress: &dyn crate::progress::Progress) -> Result<(History, LoadReport)> {
    let path = path.as_ref();
    let what = format!("reading {}", path.display());
    crate::progress::step(progress, &what, footer_rows(path), crate::progress::Unit::Rows, || read_parquet_guarded(path, map, options, progress))
}

#[cfg(feature = "parquet")]
fn read_parquet_guarded(path: &std::path::Path, map: &ColumnMap, options: &LoadOptions, progress: &dyn crate::progress::Progress) -> Result<(History, LoadReport)> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_parquet_unguarded(path, map, options, progress))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the decoder failed".into());
        Err(Error::CorruptFile { file: path.display().to_string(), message })
    })
}

/// The schema to read with when the parquet crate dropped a timestamp column's
/// time zone that the file's embedded Arrow schema (`ARROW:schema`, written by
/// pyarrow and arrow-rs) states — pyarrow stores `timestamp('s', tz)` as
/// milliseconds and the zone is then read back as UTC. `None`: nothing to fix.
#[cfg(feature = "parquet")]
fn zones_from_embedded_schema(read: &arrow_schema::SchemaRef, kv: Option<&Vec<parquet::file::metadata::KeyValue>>) -> Option<arrow_schema::SchemaRef> {
    use base64::Engine;
    let text = kv?.iter().find(|k| k.key == "ARROW:schema")?.value.as_ref()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    // An IPC message, with or without the 0xFFFFFFFF continuation marker, then its length.
    let body = if bytes.get(..4) == Some(&[0xff; 4]) { bytes.get(8..)? } else { bytes.get(4..)? };
    let message = arrow_ipc::root_as_message(body).ok()?;
    let hint = arrow_ipc::convert::try_fb_to_schema(message.header_as_schema()?).ok()?;
    let mut changed = false;
    let fields: Vec<arrow_schema::FieldRef> = read
        .fields()
        .iter()
        .map(|f| match (f.data_type(), hint.field_with_name(f.name()).map(|h| h.data_type())) {
            (DataType::Timestamp(unit, got), Ok(DataType::Timestamp(_, Some(want)))) if got.as_deref() != Some(want.as_ref()) => {
                changed = true;
                Arc::new(f.as_ref().clone().with_data_type(DataType::Timestamp(*unit, Some(Arc::clone(want)))))
            }
            _ => Arc::clone(f),
        })
        .collect();
    changed.then(|| Arc::new(arrow_schema::Schema::new_with_metadata(fields, read.metadata().clone())))
}

/// The schema to read with when a channel, category or region text column is
/// dictionary-encoded in (at least 7 in 8 of) its row groups, as writers store
/// such columns: read
/// as an Arrow dictionary, its entries are decoded and interned once per batch
/// instead of once per row. `None`: nothing to change.
#[cfg(feature = "parquet")]
fn names_as_dictionaries(
    read: &arrow_schema::SchemaRef,
    map: &ColumnMap,
    leaves: &parquet::schema::types::SchemaDescriptor,
    meta: &parquet::file::metadata::ParquetMetaData,
) -> Option<arrow_schema::SchemaRef> {
    let names: Vec<&String> = [&map.channel, &map.category, &map.region].into_iter().flatten().collect();
    // Most row groups, not all: a writer may store one group plainly (DuckDB's
    // 100M-line export has one such group in 797), which the reader then turns
    // into a dictionary itself.
    let mostly_dictionary = |name: &str| {
        let Some(leaf) = leaves.columns().iter().position(|c| c.path().parts() == [name]) else { return false };
        let groups = meta.row_groups();
        let with = groups.iter().filter(|g| g.columns().get(leaf).is_some_and(|c| c.dictionary_page_offset().is_some())).count();
        with > 0 && with * 8 >= groups.len() * 7
    };
    let mut changed = false;
    let fields: Vec<arrow_schema::FieldRef> = read
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 if names.contains(&f.name()) && mostly_dictionary(f.name()) => {
                changed = true;
                Arc::new(f.as_ref().clone().with_data_type(DataType::Dictionary(Box::new(DataType::Int32), Box::new(f.data_type().clone()))))
            }
            _ => Arc::clone(f),
        })
        .collect();
    changed.then(|| Arc::new(arrow_schema::Schema::new_with_metadata(fields, read.metadata().clone())))
}

#[cfg(feature = "parquet")]
fn read_parquet_unguarded(path: &std::path::Path, map: &ColumnMap, options: &LoadOptions, progress: &dyn crate::progress::Progress) -> Result<(History, LoadReport)> {
    let parts = parquet_parts(path, map, options, &[], 0, progress)?;
    if parts.is_empty() {
        // No row group at all: an empty file.
        return HistoryBuilder::new(path.display().to_string(), map.names(), map.present(), options.clone()).finish();
    }
    HistoryBuilder::merge(parts)?.finish_with(progress)
}

/// Adds a constant text column for each `(name, value)` the batch lacks (hive partition values).
#[cfg(feature = "parquet")]
fn with_constants(batch: RecordBatch, constants: &[(String, Option<String>)]) -> std::result::Result<RecordBatch, ArrowError> {
    let missing: Vec<&(String, Option<String>)> = constants.iter().filter(|(n, _)| batch.schema().index_of(n).is_err()).collect();
    if missing.is_empty() {
        return Ok(batch);
    }
    let schema = batch.schema();
    let mut fields: Vec<arrow_schema::FieldRef> = schema.fields().iter().cloned().collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for (name, value) in missing {
        fields.push(Arc::new(arrow_schema::Field::new(name, DataType::Utf8, value.is_none())));
        columns.push(Arc::new(arrow_array::StringArray::from(vec![value.as_deref(); batch.num_rows()])));
    }
    RecordBatch::try_new(Arc::new(arrow_schema::Schema::new(fields)), columns)
}

/// Decodes one Parquet file into builder parts (row groups in parallel runs, in file
/// order). Mapped columns the file lacks are taken from `constants` (hive
/// partition values of its directories) when given there.
#[cfg(feature = "parquet")]
fn parquet_parts(
    path: &std::path::Path,
    map: &ColumnMap,
    options: &LoadOptions,
    constants: &[(String, Option<String>)],
    row_base: u64,
    progress: &dyn crate::progress::Progress,
) -> Result<Vec<HistoryBuilder>> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::arrow::ProjectionMask;
    let source = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
    let pq = |e| Error::Parquet { file: source.clone(), source: e };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(pq)?;
    let schema = Arc::clone(builder.schema());
    let wanted: Vec<&String> = [Some(&map.customer), Some(&map.date), Some(&map.amount)]
        .into_iter()
        .flatten()
        .chain([&map.quantity, &map.order, &map.channel, &map.category, &map.region, &map.cancelled].into_iter().flatten())
        .collect();
    let mut roots = Vec::new();
    for name in wanted {
        if schema.index_of(name).is_err() && constants.iter().any(|(n, _)| n == name) {
            continue;
        }
        let i = schema.index_of(name).map_err(|_| Error::MissingColumn {
            file: source.clone(),
            column: name.clone(),
            available: schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", "),
        })?;
        roots.push(i);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let supplied = zones_from_embedded_schema(&schema, builder.metadata().file_metadata().key_value_metadata());
    let supplied = names_as_dictionaries(supplied.as_ref().unwrap_or(&schema), map, builder.parquet_schema(), builder.metadata()).or(supplied);
    let group_rows: Vec<u64> = builder.metadata().row_groups().iter().map(|g| g.num_rows().max(0) as u64).collect();
    // Row groups dated wholly on or after the cutoff the load is for are counted,
    // not decoded; the others are shared out among the threads.
    let after = groups_after_cutoff(builder.metadata(), builder.parquet_schema(), &map.date, options.needed_before());
    let before = shares_before_cutoff(builder.metadata(), builder.parquet_schema(), &map.date, options.needed_before());
    let first_rows: Vec<u64> = group_rows.iter().scan(0u64, |at, &n| Some(std::mem::replace(at, at.saturating_add(n)))).collect();
    let kept: Vec<usize> = (0..group_rows.len()).filter(|&g| !after[g]).collect();
    let rows_after: u64 = (0..group_rows.len()).filter(|&g| after[g]).map(|g| group_rows[g]).sum();
    drop(builder);
    // The row counts in the metadata are untrusted: they size the columns only up
    // to 4 rows per byte of file, beyond which the columns grow as rows arrive.
    let file_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let reserve_cap = file_bytes.saturating_mul(4);
    // Row groups are decoded in parallel, in contiguous runs of about equal work,
    // one per thread; the parts are merged in file order, so the result does not
    // depend on the threads.
    let work: Vec<(usize, u64, f64)> = kept.iter().map(|&g| (g, group_rows[g], group_rows[g] as f64 * (AFTER_CUTOFF_WORK + (1.0 - AFTER_CUTOFF_WORK) * before[g]))).collect();
    let runs = balanced_runs(&work, rayon::current_num_threads());
    let parser = DateParser::new(map.date_format.clone(), &map.time)?;
    let parts: Vec<Result<HistoryBuilder>> = runs
        .par_iter()
        .map(|groups| {
            let rows: u64 = groups.iter().map(|s| s.rows).sum();
            let file = std::fs::File::open(path).map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?;
            let reader_options = match &supplied {
                Some(s) => parquet::arrow::arrow_reader::ArrowReaderOptions::new().with_schema(Arc::clone(s)),
                None => parquet::arrow::arrow_reader::ArrowReaderOptions::new(),
            };
            // The footer is read once per thread; each row group then gets a reader
            // of its own, so that no batch spans two row groups: a dictionary column
            // (channel, category, region) keeps its codes only within one dictionary,
            // and a batch across two was decoded to text and hashed back into a
            // dictionary (~8% of the read's time at 10M lines).
            let meta = parquet::arrow::arrow_reader::ArrowReaderMetadata::load(&file, reader_options).map_err(pq)?;
            let mut b = HistoryBuilder::new(source.clone(), map.names(), map.present(), options.clone()).number_rows();
            b.reserve(usize::try_from(rows.min(reserve_cap)).unwrap_or(0));
            for slice in groups {
                let g = slice.group;
                // Rows are numbered from the file's first (skipped groups included).
                let row = row_base.saturating_add(first_rows[g]).saturating_add(slice.skip);
                let mut reader = ParquetRecordBatchReaderBuilder::new_with_metadata(file.try_clone().map_err(|e| Error::Io { path: path.to_path_buf(), source: e })?, meta.clone())
                    .with_projection(mask.clone())
                    .with_row_groups(vec![g])
                    .with_batch_size(64 * 1024);
                if let Some(selection) = slice.selection() {
                    reader = reader.with_row_selection(selection).with_row_selection_policy(parquet::arrow::arrow_reader::RowSelectionPolicy::Selectors);
                }
                let reader = reader.build().map_err(pq)?;
                let batches = reader.map(|r| {
                    r.and_then(|batch| {
                        progress.advance(batch.num_rows() as u64);
                        with_constants(batch, constants)
                    })
                });
                fill(&mut b, batches, &source, map, &parser, row)?;
            }
            b.end_input();
            Ok(b)
        })
        .collect();
    let mut parts = parts.into_iter().collect::<Result<Vec<_>>>()?;
    if rows_after > 0 {
        progress.advance(rows_after);
        let mut b = HistoryBuilder::new(source.clone(), map.names(), map.present(), options.clone()).number_rows();
        b.count_after_cutoff(rows_after);
        parts.push(b);
    }
    Ok(parts)
}

/// How much a row dated on or after the cutoff costs to read, against one before
/// it: it is decoded and its date checked, then only counted (at 10M lines the
/// two threads' runs, ~86 ns a row before the cutoff, put it at roughly a fifth
/// to a quarter of that; it only weighs the split).
#[cfg(feature = "parquet")]
const AFTER_CUTOFF_WORK: f64 = 0.25;

/// Rows of one row group a thread decodes: `rows` rows from its row `skip` on,
/// or, for the slice that ends a group, every row from `skip` on.
#[cfg(feature = "parquet")]
#[derive(Debug, Clone, Copy, PartialEq)]
struct Slice {
    group: usize,
    skip: u64,
    rows: u64,
    /// Whether the slice reads the group to its end (the row count in the
    /// metadata, which is untrusted, does not bound it).
    to_end: bool,
}

#[cfg(feature = "parquet")]
impl Slice {
    /// The rows to read, or `None` for the whole group. A slice that ends its
    /// group selects every row after its `skip` (as many as the data holds); one
    /// that starts a group selects exactly its rows, so that a group whose data
    /// holds fewer rows than its metadata says fails on the next slice's skip
    /// instead of losing rows.
    fn selection(&self) -> Option<parquet::arrow::arrow_reader::RowSelection> {
        use parquet::arrow::arrow_reader::{RowSelection, RowSelector};
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        match (self.skip, self.to_end) {
            (0, true) => None,
            (skip, true) => Some(RowSelection::from(vec![RowSelector::skip(to_usize(skip)), RowSelector::select(usize::MAX >> 1)])),
            (skip, false) => {
                let read = RowSelector::select(to_usize(self.rows));
                Some(RowSelection::from(if skip == 0 { vec![read] } else { vec![RowSelector::skip(to_usize(skip)), read] }))
            }
        }
    }
}

/// Contiguous runs of row groups (`(group, rows, work)` in file order), one per
/// thread, of about equal work: a run may end inside a row group, whose rows are
/// then split between two runs (a slice shorter than an eighth of the group or
/// than 8,192 rows, whichever is fewer, is not split off: the group goes whole
/// to one run). With one run per thread of whole
/// groups, the run with the extra group finished ~20 ms after the other at 10M
/// lines in 57 groups; a file of ten 1M-row groups would leave a core idle for
/// up to half a group.
#[cfg(feature = "parquet")]
fn balanced_runs(groups: &[(usize, u64, f64)], threads: usize) -> Vec<Vec<Slice>> {
    let threads = threads.max(1);
    let total: f64 = groups.iter().map(|g| g.2).sum();
    let mut runs: Vec<Vec<Slice>> = Vec::new();
    let mut run: Vec<Slice> = Vec::new();
    let (mut done, mut next) = (0.0f64, 1usize);
    for &(group, rows, work) in groups {
        let per_row = if rows == 0 { 0.0 } else { work / rows as f64 };
        let least = (rows / 8).clamp(1, 8192);
        let mut skip = 0u64;
        while next < threads && skip < rows && per_row > 0.0 {
            let boundary = total * next as f64 / threads as f64;
            let left = rows - skip;
            if done + per_row * left as f64 <= boundary {
                break;
            }
            // Rows of this group that still fit before the boundary.
            let fit = (((boundary - done) / per_row).round().max(0.0) as u64).min(left);
            if left - fit < least {
                // (Nearly) all of the rest fits: it ends this run.
                run.push(Slice { group, skip, rows: left, to_end: true });
                done += per_row * left as f64;
                skip = rows;
            } else if fit >= least {
                run.push(Slice { group, skip, rows: fit, to_end: false });
                done += per_row * fit as f64;
                skip += fit;
            }
            runs.push(std::mem::take(&mut run));
            next += 1;
        }
        if skip < rows || rows == 0 {
            run.push(Slice { group, skip, rows: rows - skip, to_end: true });
            done += per_row * (rows - skip) as f64;
        }
    }
    runs.push(run);
    runs.retain(|r| !r.is_empty());
    runs
}

/// Each row group's estimated share of rows dated before `cutoff`, from the
/// least and greatest day of its date column (the days between taken as evenly
/// spread): 1 without a cutoff, statistics or a `DATE` column, 0 for a group
/// wholly on or after it. Only weighs the threads' work; no row is left out by it.
#[cfg(feature = "parquet")]
fn shares_before_cutoff(meta: &parquet::file::metadata::ParquetMetaData, leaves: &parquet::schema::types::SchemaDescriptor, date: &str, cutoff: Option<Day>) -> Vec<f64> {
    use parquet::file::statistics::Statistics;
    let groups = meta.row_groups();
    let (Some(cutoff), Some(leaf)) = (cutoff, date_leaf(leaves, date)) else { return vec![1.0; groups.len()] };
    groups
        .iter()
        .map(|g| match g.columns().get(leaf).and_then(|c| c.statistics()) {
            Some(Statistics::Int32(s)) => match (s.min_opt(), s.max_opt()) {
                (Some(&min), Some(&max)) if max >= min => ((f64::from(cutoff) - f64::from(min)) / (f64::from(max) - f64::from(min) + 1.0)).clamp(0.0, 1.0),
                _ => 1.0,
            },
            _ => 1.0,
        })
        .collect()
}

/// The leaf of a date column `date` stored as `DATE` (days, as the loader reads them).
#[cfg(feature = "parquet")]
fn date_leaf(leaves: &parquet::schema::types::SchemaDescriptor, date: &str) -> Option<usize> {
    use parquet::basic::{ConvertedType, LogicalType, Type as PhysicalType};
    leaves.columns().iter().position(|c| {
        c.path().parts() == [date]
            && c.physical_type() == PhysicalType::INT32
            && (matches!(c.logical_type_ref(), Some(LogicalType::Date)) || (c.logical_type_ref().is_none() && c.converted_type() == ConvertedType::DATE))
    })
}

/// Which row groups hold only rows dated on or after `cutoff`, by the statistics
/// of the date column `date`: a `DATE` leaf (days, as the loader reads them)
/// whose row group has no null and whose least and greatest days are on or after
/// the cutoff and within years 1 to 9999 (a day outside them is a bad date, which
/// only decoding can report). Every row of such a group is one that
/// [`SkipReason::AfterCutoff`](crate::report::SkipReason::AfterCutoff) counts
/// without looking at its other values. False for every group without a cutoff,
/// or when the column is not such a leaf (text or timestamps: read row by row).
#[cfg(feature = "parquet")]
fn groups_after_cutoff(meta: &parquet::file::metadata::ParquetMetaData, leaves: &parquet::schema::types::SchemaDescriptor, date: &str, cutoff: Option<Day>) -> Vec<bool> {
    use parquet::file::statistics::Statistics;
    let groups = meta.row_groups();
    let (Some(cutoff), Some(leaf)) = (cutoff, date_leaf(leaves, date)) else { return vec![false; groups.len()] };
    groups
        .iter()
        .map(|g| match g.columns().get(leaf).and_then(|c| c.statistics()) {
            Some(Statistics::Int32(s)) => {
                s.null_count_opt() == Some(0)
                    && s.min_opt().is_some_and(|&min| min >= cutoff)
                    && s.max_opt().is_some_and(|&max| crate::date::in_file_range(i64::from(max)))
            }
            _ => false,
        })
        .collect()
}

/// Reads a Parquet dataset — one file, a directory of files as Spark, DuckDB and
/// warehouses write them (`part-*.parquet`, hive-style `date=2023-01-01/` folders)
/// or a pattern (see [`dataset_files`]) — into one history. A mapped column that a
/// file lacks is read from its `column=value` folder names. The load report counts
/// the rows read per file ([`LoadReport::files`]); errors name the file.
#[cfg(feature = "parquet")]
pub fn read_parquet_dataset(path: impl AsRef<std::path::Path>, map: &ColumnMap, options: &LoadOptions) -> Result<(History, LoadReport)> {
    read_parquet_dataset_with(path, map, options, &crate::progress::Silent)
}

/// [`read_parquet_dataset`], reporting the rows decoded to `progress` (the files'
/// footers give the total).
#[cfg(feature = "parquet")]
pub fn read_parquet_dataset_with(
    path: impl AsRef<std::path::Path>,
    map: &ColumnMap,
    options: &LoadOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<(History, LoadReport)> {
    let path = path.as_ref();
    let files = dataset_files(path)?;
    if files.is_empty() {
        return Err(Error::NoDatasetFiles { path: path.display().to_string() });
    }
    let total = files.iter().map(|f| footer_rows(f)).sum::<Option<u64>>();
    let what = format!("reading {} ({} files)", path.display(), files.len());
    crate::progress::step(progress, &what, total, crate::progress::Unit::Rows, || dataset_parts(path, &files, map, options, progress))
}

#[cfg(feature = "parquet")]
fn dataset_parts(
    path: &std::path::Path,
    files: &[std::path::PathBuf],
    map: &ColumnMap,
    options: &LoadOptions,
    progress: &dyn crate::progress::Progress,
) -> Result<(History, LoadReport)> {
    let root = if path.is_dir() { path.to_path_buf() } else { path.parent().map(std::path::Path::to_path_buf).unwrap_or_default() };
    let folders = HiveFolders::new(&root);
    let mut parts = Vec::new();
    let mut per_file = Vec::new();
    // Strict mode with duplicates dropped names the two lines of a duplicate, which
    // may lie in two files: rows are numbered across the dataset (each file from
    // the rows before it), and numbers go back to (file, row) in errors.
    let global = options.strict && options.drop_duplicates;
    let mut base = 0u64;
    for f in files {
        let constants = folders.values(f);
        let row_base = if global { base } else { 0 };
        let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parquet_parts(f, map, options, &constants, row_base, progress)))
            .unwrap_or_else(|panic| {
                let message = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_else(|| "the decoder failed".into());
                Err(Error::CorruptFile { file: f.display().to_string(), message })
            })
            .map_err(|e| match e {
                Error::BadValue { file, line, numbering, column, value, reason } => Error::BadValue { file, line: line - row_base, numbering, column, value, reason },
                e => e,
            })?;
        let rows: u64 = p.iter().map(|b| b.rows_read()).sum();
        let rows_skipped: u64 = p.iter().map(|b| b.rows_skipped()).sum();
        per_file.push(crate::report::FileRows { file: f.display().to_string(), rows_read: rows, rows_skipped });
        base += rows;
        parts.extend(p);
    }
    let source = path.display().to_string();
    let mut b = if parts.is_empty() { HistoryBuilder::new(source.clone(), map.names(), map.present(), options.clone()) } else { HistoryBuilder::merge(parts)? };
    b.set_source(&source);
    let (h, mut report) = b.finish_with(progress).map_err(|e| match e {
        Error::DuplicateLine { line, first_line, numbering, .. } if global => {
            // The file holding a dataset-wide row number, and the row within it.
            let at = |n: u64| {
                let mut before = 0u64;
                for fr in &per_file {
                    if n <= before + fr.rows_read {
                        return (fr.file.clone(), n - before);
                    }
                    before += fr.rows_read;
                }
                (source.clone(), n)
            };
            let ((file, line), (first_file, first_line)) = (at(line), at(first_line));
            let first_file = (first_file != file).then_some(first_file);
            Error::DuplicateLine { file, line, numbering, first_line, first_file }
        }
        e => e,
    })?;
    report.files = per_file;
    Ok((h, report))
}

/// Reads a customer attribute table from record batches (pyarrow, polars,
/// DuckDB...): numeric columns stay numbers, date and timestamp columns become
/// dates, every other column is categorical. Rows with an empty or repeated key
/// are counted in the table's report and left out (the first row of a key is kept).
///
/// ```
/// use std::sync::Arc;
/// use arrow_array::{RecordBatch, StringArray, Int64Array};
/// use winback_core::arrow::read_attribute_batches;
/// let batch = RecordBatch::try_from_iter([
///     ("id", Arc::new(StringArray::from(vec!["a", "b", "a", ""])) as _),
///     ("age", Arc::new(Int64Array::from(vec![30, 41, 99, 50])) as _),
///     ("region", Arc::new(StringArray::from(vec!["N", "S", "S", "N"])) as _),
/// ]).unwrap();
/// let a = read_attribute_batches([Ok(batch)], "attrs", "id")?;
/// assert_eq!((a.len(), a.report().duplicate_keys, a.report().missing_key), (2, 1, 1));
/// # Ok::<(), winback_core::Error>(())
/// ```
pub fn read_attribute_batches(
    batches: impl IntoIterator<Item = std::result::Result<RecordBatch, ArrowError>>,
    source: &str,
    key: &str,
) -> Result<crate::attributes::Attributes> {
    use crate::attributes::{AttrColumn, AttrValues, Attributes};
    let batches: Vec<RecordBatch> = batches.into_iter().collect::<std::result::Result<_, _>>().map_err(arrow_err(source))?;
    let Some(first) = batches.first() else {
        return Err(Error::EmptyInput { file: source.to_string(), rows_read: 0, skipped: String::new(), report: Box::new(LoadReport { source: source.to_string(), ..Default::default() }) });
    };
    let schema = first.schema();
    // Columns are taken by position in every batch: each must have the first's.
    let names = |sc: &arrow_schema::Schema| sc.fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>();
    if let Some((i, b)) = batches.iter().enumerate().find(|(_, b)| names(&b.schema()) != names(&schema)) {
        return Err(Error::InvalidAttribute {
            column: key.to_string(),
            message: format!("{source}: batch {} has columns [{}], the first batch [{}]; every batch needs the same columns in the same order", i + 1, names(&b.schema()).join(", "), names(&schema).join(", ")),
        });
    }
    let k = schema.index_of(key).map_err(|_| Error::MissingColumn {
        file: source.to_string(),
        column: key.to_string(),
        available: crate::columns::shorten(&schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ")),
    })?;
    let mut ids = Vec::new();
    for b in &batches {
        let idc = id_col(b.column(k), source)?;
        ids.extend((0..b.num_rows()).map(|r| s(&idc, r).unwrap_or("").to_string()));
    }
    let mut columns = Vec::new();
    for (i, field) in schema.fields().iter().enumerate().filter(|(i, _)| *i != k) {
        let arrays: Vec<&ArrayRef> = batches.iter().map(|b| b.column(i)).collect();
        let dt = field.data_type();
        let values = if dt.is_numeric() {
            let mut v = Vec::new();
            for a in arrays {
                let f = cast(a, &DataType::Float64, source)?;
                let f = f.as_primitive::<Float64Type>();
                v.extend((0..f.len()).map(|r| if f.is_valid(r) { f.value(r) } else { f64::NAN }));
            }
            AttrValues::Numeric(v)
        } else if matches!(dt, DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)) {
            let mut v = Vec::new();
            for a in arrays {
                let d = cast(a, &DataType::Date32, source)?;
                let d = d.as_primitive::<Date32Type>();
                // A day outside years 1 to 9999 (a null sentinel) is a missing value.
                v.extend((0..d.len()).map(|r| d.is_valid(r).then(|| d.value(r)).filter(|&day| crate::date::in_file_range(i64::from(day)))));
            }
            AttrValues::Date(v)
        } else {
            let mut raw: Vec<Option<String>> = Vec::new();
            for a in arrays {
                let t = cast(a, &DataType::Utf8, source)?;
                raw.extend((0..t.len()).map(|r| s(&t, r).map(str::trim).filter(|x| !x.is_empty()).map(str::to_string)));
            }
            let mut levels: Vec<String> = raw.iter().flatten().cloned().collect();
            levels.sort_unstable();
            levels.dedup();
            let codes = raw.iter().map(|x| x.as_ref().and_then(|x| levels.binary_search(x).ok()).map_or(u32::MAX, |i| i as u32)).collect();
            AttrValues::Categorical { levels, codes }
        };
        columns.push(AttrColumn { name: field.name().clone(), values });
    }
    Attributes::from_columns(ids, columns)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    /// The shortest decimal form, formatted and read back (the slow path, alone).
    fn formatted(x: f32) -> f64 {
        let d: f64 = x.to_string().parse().unwrap();
        if d.abs() <= f64::from(f32::MAX) {
            d
        } else {
            f64::from(x)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// The fast path gives the shortest decimal form to the bit: on prices, on
        /// decimals of up to 9 places, and on any bit pattern.
        #[test]
        fn float32_values_read_as_their_shortest_decimal(bits in any::<u32>(), digits in any::<i32>(), places in 0i32..10, cents in -100_000_000i64..100_000_000) {
            let mut text = String::new();
            for x in [f32::from_bits(bits), digits as f32 / 10f32.powi(places), cents as f32 / 100.0, (digits % 100_000) as f32 / 10f32.powi(places)] {
                if x.is_finite() {
                    prop_assert_eq!(f32_as_written(x, &mut text).to_bits(), formatted(x).to_bits(), "{}", x);
                }
            }
        }
    }

    /// The rows each group's slices cover, in run order, with how the last
    /// slice of a group is read (to the end of the data).
    #[cfg(feature = "parquet")]
    fn covered(runs: &[Vec<Slice>]) -> Vec<(usize, u64, u64, bool)> {
        runs.iter().flatten().map(|s| (s.group, s.skip, s.rows, s.to_end)).collect()
    }

    #[cfg(feature = "parquet")]
    proptest! {
        /// Runs are contiguous, in file order, cover every row of every group once
        /// (a group's last slice reading to its end), never more than one per
        /// thread, and, with groups split, no run has much more work than its share.
        #[test]
        fn balanced_runs_cover_every_row_once(rows in proptest::collection::vec(0u64..200_000, 0..40), shares in proptest::collection::vec(0.0f64..1.0, 40), threads in 1usize..6) {
            let groups: Vec<(usize, u64, f64)> = rows.iter().enumerate().map(|(g, &n)| (g * 2, n, n as f64 * (0.25 + 0.75 * shares[g]))).collect();
            let runs = balanced_runs(&groups, threads);
            prop_assert!(runs.len() <= threads && runs.iter().all(|r| !r.is_empty()));
            let mut at = 0usize;
            let mut next_row = 0u64;
            for s in runs.iter().flatten() {
                if s.skip == 0 {
                    // A group begins: the previous one was read to its end.
                    let ended = if at == 0 { 0 } else { groups[at - 1].1 };
                    prop_assert_eq!(next_row, ended);
                    at += 1;
                    next_row = 0;
                }
                prop_assert_eq!((s.group, s.skip), (groups[at - 1].0, next_row));
                next_row += s.rows;
                prop_assert_eq!(s.to_end, next_row == groups[at - 1].1);
                prop_assert!(s.rows > 0 || groups[at - 1].1 == 0);
            }
            let ended = if at == 0 { 0 } else { groups[at - 1].1 };
            prop_assert_eq!((at, next_row), (groups.len(), ended));
            // Each run's work is within a slice's least rows (8,192, or an eighth of
            // a group) of its share.
            let total: f64 = groups.iter().map(|g| g.2).sum();
            let per_row = |g: usize| groups.iter().find(|x| x.0 == g).map_or(0.0, |x| if x.1 == 0 { 0.0 } else { x.2 / x.1 as f64 });
            for r in &runs {
                let work: f64 = r.iter().map(|s| per_row(s.group) * s.rows as f64).sum();
                prop_assert!(work <= total / runs.len().max(1) as f64 + 2.0 * 8192.0 + 1e-6 * total || runs.len() < threads, "{} of {} in {} runs", work, total, runs.len());
            }
        }
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn balanced_runs_split_a_group_between_threads() {
        // Ten groups of 100,000 rows on two threads: five each, none split.
        let even: Vec<(usize, u64, f64)> = (0..10).map(|g| (g, 100_000, 100_000.0)).collect();
        assert_eq!(balanced_runs(&even, 2).iter().map(Vec::len).collect::<Vec<_>>(), [5, 5]);
        // Nine groups: the fifth is split in two halves.
        let runs = balanced_runs(&even[..9], 2);
        assert_eq!(covered(&runs)[4..6], [(4, 0, 50_000, false), (4, 50_000, 50_000, true)]);
        // The last group mostly after the cutoff weighs less: the first run gives
        // the second the share it does not need.
        let mut late = even[..9].to_vec();
        late[8].2 = 25_000.0;
        let runs = balanced_runs(&late, 2);
        assert_eq!(covered(&runs)[4], (4, 0, 12_500, false));
        // A slice under an eighth of its group is not split off.
        let runs = balanced_runs(&[(0, 8, 8.0), (1, 100, 100.0), (2, 8, 8.0)], 2);
        assert_eq!(covered(&runs), [(0, 0, 8, true), (1, 0, 50, false), (1, 50, 50, true), (2, 0, 8, true)]);
        let runs = balanced_runs(&[(0, 100, 100.0), (1, 10, 10.0)], 2);
        assert_eq!(covered(&runs), [(0, 0, 55, false), (0, 55, 45, true), (1, 0, 10, true)]);
        assert_eq!(balanced_runs(&[], 2), Vec::<Vec<Slice>>::new());
        assert_eq!(covered(&balanced_runs(&[(3, 0, 0.0)], 2)), [(3, 0, 0, true)]);
    }

    #[test]
    fn float32_edges() {
        let mut text = String::new();
        assert_eq!(f32_as_written(341.46, &mut text), 341.46);
        assert_eq!(f32_as_written(-0.0, &mut text).to_bits(), (-0.0f64).to_bits());
        assert_eq!(f32_as_written(f32::MAX, &mut text), f64::from(f32::MAX));
        assert!(f32_as_written(f32::NAN, &mut text).is_nan());
        assert_eq!(f32_as_written(f32::INFINITY, &mut text), f64::INFINITY);
        assert_eq!(f32_as_written(1e-45, &mut text), 1e-45);
    }
}
