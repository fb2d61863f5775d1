//! Tables out: CSV (file or stdout) or Parquet, chosen by the file's extension.
//! The tables themselves come from the facade (`winback::scores_table`, ...).

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt64Type};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use crate::Failure;

/// Whether the history the program read has only plain-integer ids
/// ([`winback::core::History::ids_are_integers`]), set once it is read: every table
/// of one run then has the same id type, whichever customers it lists.
static INT_IDS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records whether the history's ids are all plain integers (see [`INT_IDS`]).
pub fn ids_are_integers(yes: bool) {
    INT_IDS.store(yes, std::sync::atomic::Ordering::Relaxed);
}

/// The table as Parquet stores it, typed as the Python package returns it and as
/// warehouses and Spark join on it: counts, group ids and ranks as `int64` (Spark
/// has no unsigned types), and customer ids as `int64` when every id of the
/// history read is written as a plain integer (`17850`, not `007` or `+5`: a
/// history with one such id keeps every table's ids as text, as Python does).
fn parquet_types(batch: &RecordBatch) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let int_ids = INT_IDS.load(std::sync::atomic::Ordering::Relaxed);
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        let signed: Option<ArrayRef> = match c.data_type() {
            DataType::UInt64 => {
                let u = c.as_primitive::<UInt64Type>();
                let fits = u.iter().all(|v| v.is_none_or(|v| i64::try_from(v).is_ok()));
                fits.then(|| Arc::new(u.iter().map(|v| v.and_then(|v| i64::try_from(v).ok())).collect::<Int64Array>()) as ArrayRef)
            }
            DataType::Utf8 if f.name() == "customer_id" && int_ids => {
                let t = c.as_string::<i32>();
                let plain = winback::core::history::plain_integer;
                let all = t.null_count() == 0 && t.iter().all(|s| s.and_then(plain).is_some());
                all.then(|| Arc::new(t.iter().map(|s| s.and_then(plain)).collect::<Int64Array>()) as ArrayRef)
            }
            _ => None,
        };
        match signed {
            Some(a) => {
                fields.push(Field::new(f.name(), DataType::Int64, f.is_nullable()));
                columns.push(a);
            }
            None => {
                fields.push(f.as_ref().clone());
                columns.push(Arc::clone(c));
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

/// One cell as CSV text (the facade's tables hold text, counts and numbers).
fn cell(a: &dyn Array, r: usize) -> String {
    if a.is_null(r) {
        return String::new();
    }
    match a.data_type() {
        DataType::Utf8 => a.as_string::<i32>().value(r).to_string(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(r).to_string(),
        DataType::Float64 => format!("{}", a.as_primitive::<Float64Type>().value(r)),
        _ => String::new(),
    }
}

/// Writes `batch` to `target`: `-` = CSV on stdout, `*.parquet` or `*.pq` = Parquet,
/// `*.gz` = gzip-compressed CSV, else CSV.
/// A file is written whole or not at all: through a temporary file beside it,
/// renamed over it at the end (a full disk left a truncated list, or a Parquet file
/// without its footer, in place of the previous good one).
pub fn write(batch: &RecordBatch, target: &str) -> Result<(), Failure> {
    stage(batch, target)?.commit()
}

/// A table written to a temporary file (or, for stdout, kept in memory), put in
/// place by [`Staged::commit`] and removed when dropped uncommitted: a command can
/// write its table, then save a model, and put the table in place only when both
/// succeeded.
pub struct Staged {
    tmp: Option<std::path::PathBuf>,
    /// The file the temporary file replaces (a link followed).
    dest: std::path::PathBuf,
    /// The target as given, for messages.
    target: String,
    /// CSV for stdout, printed at commit.
    stdout: Option<Vec<u8>>,
}

impl Staged {
    /// Renames the temporary file over the target (or prints the table).
    pub fn commit(mut self) -> Result<(), Failure> {
        if let Some(bytes) = self.stdout.take() {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            return out.write_all(&bytes).and_then(|()| out.flush()).map_err(|e| crate::stdout_failure(&e, "-"));
        }
        match self.tmp.take() {
            Some(tmp) => std::fs::rename(&tmp, &self.dest).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                Failure::Data(format!("cannot write {}: {e}", self.target))
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Writes `batch` for `target` (see [`write`]). stdout: kept in memory until the
/// commit. A regular file (or a new one): a temporary file beside the file a link
/// points to, with that file's permissions. A device or pipe (`/dev/null`,
/// `/dev/stdout`, a process substitution): written at once, as it is. A directory,
/// or a path without a file name: refused before anything is written.
pub fn stage(batch: &RecordBatch, target: &str) -> Result<Staged, Failure> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let fail = |m: &str| Failure::Data(format!("cannot write {target}: {m}"));
    let path = std::path::Path::new(target);
    if target == "-" {
        let mut w = csv::Writer::from_writer(Vec::new());
        write_csv(&mut w, batch).map_err(|e| fail(&e.to_string()))?;
        let bytes = w.into_inner().map_err(|e| fail(&e.to_string()))?;
        return Ok(Staged { tmp: None, dest: path.to_path_buf(), target: target.to_string(), stdout: Some(bytes) });
    }
    let dest = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match std::fs::metadata(&dest) {
        Ok(m) if m.is_dir() => return Err(fail("it is a directory")),
        Ok(m) if !m.is_file() => {
            write_to(batch, target, &dest.to_string_lossy())?;
            return Ok(Staged { tmp: None, dest, target: target.to_string(), stdout: None });
        }
        _ => {}
    }
    let Some(name) = dest.file_name().map(|n| n.to_string_lossy().into_owned()) else { return Err(fail("the path names no file")) };
    let tmp = dest.with_file_name(format!(".{name}.{}-{}.tmp", std::process::id(), CALLS.fetch_add(1, Ordering::Relaxed)));
    let staged = Staged { tmp: Some(tmp.clone()), dest: dest.clone(), target: target.to_string(), stdout: None };
    write_to(batch, target, &tmp.to_string_lossy())?;
    if let Ok(meta) = std::fs::metadata(&dest) {
        std::fs::set_permissions(&tmp, meta.permissions()).map_err(|e| fail(&e.to_string()))?;
    }
    Ok(staged)
}

/// Writes `batch` in `target`'s format (by its name) to `dest`.
fn write_to(batch: &RecordBatch, target: &str, dest: &str) -> Result<(), Failure> {
    let fail = |e: String| Failure::Data(format!("cannot write {target}: {e}"));
    // By the name, as the readers take it: `.parquet`/`.pq` (any case) is Parquet,
    // `.gz` gzip-compressed CSV, anything else CSV (`x.pq` and `x.csv.gz` were plain CSV).
    let lower = target.to_ascii_lowercase();
    if lower.ends_with(".parquet") || lower.ends_with(".pq") {
        let batch = &parquet_types(batch).map_err(|e| fail(e.to_string()))?;
        let f = std::fs::File::create(dest).map_err(|e| fail(e.to_string()))?;
        let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).map_err(|e| fail(e.to_string()))?;
        w.write(batch).map_err(|e| fail(e.to_string()))?;
        w.close().map_err(|e| fail(e.to_string()))?;
        return Ok(());
    }
    if lower.ends_with(".gz") && target != "-" {
        let f = std::fs::File::create(dest).map_err(|e| fail(e.to_string()))?;
        let gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::default());
        let mut w = csv::Writer::from_writer(gz);
        write_csv(&mut w, batch).map_err(|e| fail(e.to_string()))?;
        let gz = w.into_inner().map_err(|e| fail(e.to_string()))?;
        use std::io::Write;
        return gz.finish().and_then(|mut b| b.flush()).map_err(|e| fail(e.to_string()));
    }
    let sink: Box<dyn std::io::Write> = if target == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(dest).map_err(|e| fail(e.to_string()))?)
    };
    // Stdout closed by its reader (`| head`): stop quietly (see `Failure::Closed`).
    let csv_fail = |e: csv::Error| match e.kind() {
        csv::ErrorKind::Io(io) if target == "-" => crate::stdout_failure(io, target),
        _ => fail(e.to_string()),
    };
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(sink));
    write_csv(&mut w, batch).map_err(csv_fail)?;
    w.flush().map_err(|e| if target == "-" { crate::stdout_failure(&e, target) } else { fail(e.to_string()) })
}

/// The header and rows of `batch` as CSV records.
fn write_csv<W: std::io::Write>(w: &mut csv::Writer<W>, batch: &RecordBatch) -> Result<(), csv::Error> {
    let schema = batch.schema();
    w.write_record(schema.fields().iter().map(|f| f.name().as_str()))?;
    for r in 0..batch.num_rows() {
        w.write_record(batch.columns().iter().map(|c| cell(c.as_ref(), r)))?;
    }
    Ok(())
}
