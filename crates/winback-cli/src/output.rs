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
                // Each id read once: the ids as integers, kept when every one is one.
                let ints: Int64Array = t.iter().map(|s| s.and_then(winback::core::history::plain_integer)).collect();
                (ints.null_count() == 0).then(|| Arc::new(ints) as ArrayRef)
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
    Ok(stage_batches(std::iter::once(Ok(batch.clone())), target)?.0)
}

/// [`stage`] for a table given block by block: each block is written as it
/// comes, so the whole table is never in memory (for stdout it is, as CSV text,
/// until the commit); also returns the rows written. The blocks share the first
/// block's columns, and at least one is needed. An error from a block leaves no
/// file (and the previous file in place), except on a device or pipe, which
/// receives the blocks before it as they come.
pub fn stage_batches(batches: impl Iterator<Item = Result<RecordBatch, Failure>>, target: &str) -> Result<(Staged, usize), Failure> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let fail = |m: &str| Failure::Data(format!("cannot write {target}: {m}"));
    let path = std::path::Path::new(target);
    if target == "-" {
        let mut w = csv::Writer::from_writer(Vec::new());
        let rows = write_csv(&mut w, batches, &|e| fail(&e.to_string()))?;
        let bytes = w.into_inner().map_err(|e| fail(&e.to_string()))?;
        return Ok((Staged { tmp: None, dest: path.to_path_buf(), target: target.to_string(), stdout: Some(bytes) }, rows));
    }
    let dest = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    match std::fs::metadata(&dest) {
        Ok(m) if m.is_dir() => return Err(fail("it is a directory")),
        Ok(m) if !m.is_file() => {
            let rows = write_to(batches, target, &dest.to_string_lossy())?;
            return Ok((Staged { tmp: None, dest, target: target.to_string(), stdout: None }, rows));
        }
        _ => {}
    }
    let Some(name) = dest.file_name().map(|n| n.to_string_lossy().into_owned()) else { return Err(fail("the path names no file")) };
    let tmp = dest.with_file_name(format!(".{name}.{}-{}.tmp", std::process::id(), CALLS.fetch_add(1, Ordering::Relaxed)));
    let staged = Staged { tmp: Some(tmp.clone()), dest: dest.clone(), target: target.to_string(), stdout: None };
    let rows = write_to(batches, target, &tmp.to_string_lossy())?;
    if let Ok(meta) = std::fs::metadata(&dest) {
        std::fs::set_permissions(&tmp, meta.permissions()).map_err(|e| fail(&e.to_string()))?;
    }
    Ok((staged, rows))
}

/// Why [`write_parquet`] stopped: the encoder or file failed, or a block did not come.
#[derive(Debug)]
enum Written {
    Encoding(parquet::errors::ParquetError),
    Input(Failure),
}

impl From<parquet::errors::ParquetError> for Written {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Written::Encoding(e)
    }
}

/// The largest dictionary page a column chunk of a written table keeps (see
/// [`table_properties`]): 256 KiB, 32,768 floats.
const DICTIONARY_LIMIT: usize = 1 << 18;

/// How tables are written as Parquet: parquet-rs' defaults (uncompressed,
/// dictionary pages, page statistics and indexes, row groups of 1M rows), except
/// that a column chunk gives up its dictionary for plain pages once the
/// dictionary holds [`DICTIONARY_LIMIT`] bytes of values, not 1 MiB.
///
/// A float column with many distinct values (spend, shares, BG/NBD
/// probabilities) grew its dictionary to ~130,000 entries under the default
/// limit: the entries and parquet-rs' hash table over them (about 3.4 MB) no
/// longer fit in a core's 1 MiB L2 cache, and interning each value missed it.
/// Encoding took half the CPU of `winback features`' last step. At 256 KiB the
/// dictionary and its table (about 0.85 MB) fit. Measured on this project's
/// 2-core benchmark machine, 10M lines in time order with integer ids (357,143
/// rows × 49 columns, six alternated runs, `--timings` medians): the last step
/// 0.400 → 0.270 s, the whole process 1.107 → 0.981 s; the file 36.1 → 44.0 MB,
/// as the columns with 90,000–300,000 distinct values are stored plain after
/// their first pages. 512 KiB: 1.022 s, 40.6 MB; 128 KiB: 0.971 s, 45.1 MB.
/// DuckDB 2.0.1 writes that same table (`COPY ... (FORMAT PARQUET, COMPRESSION
/// UNCOMPRESSED)`) in 45.9 MB, with exactly those columns plain and no
/// dictionary at all: the larger file is what a common engine makes of such
/// columns, not a size given up for speed alone. Columns with fewer distinct
/// values (counts, days, one-hot, quintiles) and every table of the bundled and
/// real samples (a few thousand customers) are written as before, to the byte.
fn table_properties() -> parquet::file::properties::WriterProperties {
    parquet::file::properties::WriterProperties::builder().set_dictionary_page_size_limit(DICTIONARY_LIMIT).build()
}

/// Writes blocks as Parquet with its columns encoded in parallel (on rayon's
/// threads); returns the rows. The file is the one `ArrowWriter` writes with
/// the same properties, byte for byte: the same schema and metadata, each
/// column encoded by the same column writer, row groups cut at the same
/// row count. Encoding a 49-column table was about half of `winback
/// features`' last step, all on one thread.
fn write_parquet<W: std::io::Write + Send>(
    f: W,
    first: RecordBatch,
    rest: impl Iterator<Item = Result<RecordBatch, Failure>>,
    props: parquet::file::properties::WriterProperties,
) -> Result<usize, Written> {
    use parquet::arrow::arrow_writer::{compute_leaves, ArrowColumnWriter};
    use rayon::prelude::*;
    // ArrowWriter cuts row groups by bytes too, and pages by content, when asked:
    // this writer does neither, so it refuses such properties.
    if props.max_row_group_bytes().is_some() || props.content_defined_chunking().is_some() {
        return Err(Written::Encoding(parquet::errors::ParquetError::General("row groups are cut by rows only, pages without content-defined chunking".into())));
    }
    let schema = first.schema();
    let (mut file, factory) = parquet::arrow::ArrowWriter::try_new(f, schema.clone(), Some(props))?.into_serialized_writer()?;
    let max_rows = file.properties().max_row_group_row_count().unwrap_or(usize::MAX).max(1);
    let mut group: Option<(Vec<ArrowColumnWriter>, usize)> = None;
    let mut rows = 0;
    for batch in std::iter::once(Ok(first)).chain(rest) {
        let mut remaining = batch.map_err(Written::Input)?;
        rows += remaining.num_rows();
        while remaining.num_rows() > 0 {
            let (writers, buffered) = match &mut group {
                Some(g) => g,
                None => group.insert((factory.create_column_writers(file.flushed_row_groups().len())?, 0)),
            };
            let take = remaining.num_rows().min(max_rows - *buffered);
            let part = remaining.slice(0, take);
            remaining = remaining.slice(take, remaining.num_rows() - take);
            // Every block has the first's columns (a zip would silently drop the rest).
            if part.schema() != schema {
                return Err(Written::Encoding(parquet::errors::ParquetError::General("a block's columns differ from the first block's".into())));
            }
            let mut leaves = Vec::with_capacity(writers.len());
            for (field, column) in schema.fields().iter().zip(part.columns()) {
                leaves.extend(compute_leaves(field.as_ref(), column)?);
            }
            if leaves.len() != writers.len() {
                return Err(Written::Encoding(parquet::errors::ParquetError::General(format!("{} leaf columns for {} column writers", leaves.len(), writers.len()))));
            }
            writers.par_iter_mut().zip(leaves.par_iter()).try_for_each(|(w, leaf)| w.write(leaf))?;
            *buffered += take;
            if *buffered >= max_rows {
                flush_group(&mut file, group.take())?;
            }
        }
    }
    flush_group(&mut file, group.take())?;
    file.close()?;
    Ok(rows)
}

/// Closes a row group's column writers (in parallel) and appends their chunks in order.
fn flush_group<W: std::io::Write + Send>(file: &mut parquet::file::writer::SerializedFileWriter<W>, group: Option<(Vec<parquet::arrow::arrow_writer::ArrowColumnWriter>, usize)>) -> Result<(), Written> {
    use rayon::prelude::*;
    let Some((writers, _)) = group else { return Ok(()) };
    let chunks: Vec<_> = writers.into_par_iter().map(|w| w.close()).collect::<Result<_, _>>()?;
    let mut row_group = file.next_row_group()?;
    for chunk in chunks {
        chunk.append_to_row_group(&mut row_group)?;
    }
    row_group.close()?;
    Ok(())
}

/// A file written at most [`Pieces::MAX`] bytes per `write` call. The Parquet
/// writer hands whole column chunks (megabytes) to one call, and for a write
/// that long Linux puts the bytes in large page-cache folios, which on this
/// project's benchmark machine (a 2-core VM, kernel 6.18, ext4) are slow to fill
/// when the file is new: 36 MB written with `dd bs=1M` (or 128K) to a new file
/// took 0.19-0.33 s of system time, with `bs=64k` 0.01-0.02 s. Smaller
/// calls cost a few hundred more system calls for such a file, nothing measurable.
struct Pieces<W>(W);

impl<W> Pieces<W> {
    /// 64 KiB: the longest write still quick above (128 KiB was not).
    const MAX: usize = 1 << 16;
}

impl<W: std::io::Write> std::io::Write for Pieces<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(&buf[..buf.len().min(Self::MAX)])
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Writes the blocks in `target`'s format (by its name) to `dest`; returns the rows.
fn write_to(batches: impl Iterator<Item = Result<RecordBatch, Failure>>, target: &str, dest: &str) -> Result<usize, Failure> {
    let fail = |e: String| Failure::Data(format!("cannot write {target}: {e}"));
    // By the name, as the readers take it: `.parquet`/`.pq` (any case) is Parquet,
    // `.gz` gzip-compressed CSV, anything else CSV (`x.pq` and `x.csv.gz` were plain CSV).
    let lower = target.to_ascii_lowercase();
    if lower.ends_with(".parquet") || lower.ends_with(".pq") {
        let mut batches = batches.map(|b| b.and_then(|b| parquet_types(&b).map_err(|e| fail(e.to_string()))));
        let Some(first) = batches.next().transpose()? else { return Err(fail("no table to write (not even its columns)".into())) };
        let f = Pieces(std::fs::File::create(dest).map_err(|e| fail(e.to_string()))?);
        return write_parquet(f, first, batches, table_properties()).map_err(|e| match e {
            Written::Encoding(e) => fail(e.to_string()),
            Written::Input(e) => e,
        });
    }
    if lower.ends_with(".gz") && target != "-" {
        let f = std::fs::File::create(dest).map_err(|e| fail(e.to_string()))?;
        let gz = flate2::write::GzEncoder::new(std::io::BufWriter::new(f), flate2::Compression::default());
        let mut w = csv::Writer::from_writer(gz);
        let rows = write_csv(&mut w, batches, &|e| fail(e.to_string()))?;
        let gz = w.into_inner().map_err(|e| fail(e.to_string()))?;
        use std::io::Write;
        return gz.finish().and_then(|mut b| b.flush()).map(|()| rows).map_err(|e| fail(e.to_string()));
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
    let rows = write_csv(&mut w, batches, &csv_fail)?;
    w.flush().map_err(|e| if target == "-" { crate::stdout_failure(&e, target) } else { fail(e.to_string()) })?;
    Ok(rows)
}

/// The header (the first block's columns) and the rows of every block as CSV
/// records; returns the rows.
fn write_csv<W: std::io::Write>(w: &mut csv::Writer<W>, batches: impl Iterator<Item = Result<RecordBatch, Failure>>, fail: &dyn Fn(csv::Error) -> Failure) -> Result<usize, Failure> {
    let (mut rows, mut seen) = (0, false);
    for (k, batch) in batches.enumerate() {
        let batch = batch?;
        if k == 0 {
            w.write_record(batch.schema().fields().iter().map(|f| f.name().as_str())).map_err(fail)?;
        }
        for r in 0..batch.num_rows() {
            w.write_record(batch.columns().iter().map(|c| cell(c.as_ref(), r))).map_err(fail)?;
        }
        rows += batch.num_rows();
        seen = true;
    }
    if !seen {
        return Err(Failure::Data("no table to write (not even its columns)".into()));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use arrow_array::{Float64Array, StringArray};

    fn block(ids: &[&str], values: &[f64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("customer_id", DataType::Utf8, false), Field::new("v", DataType::Float64, false)]));
        RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(ids.to_vec())), Arc::new(Float64Array::from(values.to_vec()))]).unwrap()
    }

    /// A sink that records the length of every `write` call it is given.
    #[derive(Default)]
    struct Calls {
        bytes: Vec<u8>,
        lengths: Vec<usize>,
    }

    impl std::io::Write for Calls {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.lengths.push(buf.len());
            self.bytes.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn pieces_pass_every_byte_in_calls_of_at_most_64_kib() {
        use std::io::Write;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut w = Pieces(Calls::default());
        w.write_all(&data).unwrap();
        w.write_all(&data[..10]).unwrap();
        w.flush().unwrap();
        assert_eq!(w.0.lengths, [65_536, 65_536, 65_536, 3_392, 10]);
        assert_eq!(w.0.bytes[..200_000], data[..]);
        assert_eq!(w.0.bytes[200_000..], data[..10]);
        // The Parquet file written through them is the one written in one piece.
        let blocks = || (0..3).map(|k| block(&["a", "b"], &[f64::from(k), 2.0]));
        let mut whole = Vec::new();
        let mut rest = blocks();
        write_parquet(&mut whole, rest.next().unwrap(), rest.map(Ok), Default::default()).unwrap();
        let mut pieces = Pieces(Calls::default());
        let mut rest = blocks();
        write_parquet(&mut pieces, rest.next().unwrap(), rest.map(Ok), Default::default()).unwrap();
        assert_eq!(pieces.0.bytes, whole);
    }

    /// A written table keeps a column's dictionary while it holds fewer than
    /// 32,768 floats (256 KiB): a column with 32,767 distinct values is
    /// dictionary-encoded in every data page, one with 32,768 falls back to plain
    /// pages after its first ones; both read back as written.
    #[test]
    fn tables_give_up_a_dictionary_at_256_kib() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let rows = 40_000;
        let few: Vec<f64> = (0..rows).map(|i| f64::from(i % 32_767) * 0.5).collect();
        let many: Vec<f64> = (0..rows).map(|i| f64::from(i % 32_768) * 0.5).collect();
        let schema = Arc::new(Schema::new(vec![Field::new("few", DataType::Float64, false), Field::new("many", DataType::Float64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Float64Array::from(few.clone())), Arc::new(Float64Array::from(many.clone()))]).unwrap();
        let path = dir().join("dictionary-limit.parquet");
        let target = path.to_string_lossy().into_owned();
        assert_eq!(write_to(std::iter::once(Ok(batch)), &target, &target).unwrap(), 40_000);
        let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let group = reader.get_row_group(0).unwrap();
        let encodings = |column: usize| {
            let pages = group.get_column_page_reader(column).unwrap();
            pages.map(|p| { let p = p.unwrap(); (p.page_type(), p.encoding()) }).collect::<Vec<_>>()
        };
        use parquet::basic::{Encoding, PageType};
        let few_pages = encodings(0);
        assert_eq!(few_pages[0], (PageType::DICTIONARY_PAGE, Encoding::PLAIN));
        assert!(few_pages.len() >= 3 && few_pages[1..].iter().all(|&p| p == (PageType::DATA_PAGE, Encoding::RLE_DICTIONARY)), "{few_pages:?}");
        let many_pages = encodings(1);
        assert_eq!(many_pages[0], (PageType::DICTIONARY_PAGE, Encoding::PLAIN));
        assert!(many_pages.contains(&(PageType::DATA_PAGE, Encoding::RLE_DICTIONARY)), "{many_pages:?}");
        assert_eq!(many_pages.last(), Some(&(PageType::DATA_PAGE, Encoding::PLAIN)), "{many_pages:?}");
        let back = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap().build().unwrap();
        let (mut got_few, mut got_many) = (Vec::new(), Vec::new());
        for b in back {
            let b = b.unwrap();
            got_few.extend(b.column(0).as_primitive::<Float64Type>().values().iter().copied());
            got_many.extend(b.column(1).as_primitive::<Float64Type>().values().iter().copied());
        }
        assert_eq!((got_few, got_many), (few, many));
        std::fs::remove_file(&path).unwrap();
    }

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("winback-output-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Stages and commits, as `winback features` does once its blocks are built.
    fn write_batches(batches: impl Iterator<Item = Result<RecordBatch, Failure>>, target: &str) -> Result<usize, Failure> {
        let (staged, rows) = stage_batches(batches, target)?;
        staged.commit()?;
        Ok(rows)
    }

    fn three() -> Vec<Result<RecordBatch, Failure>> {
        vec![Ok(block(&["a", "b"], &[1.0, 2.5])), Ok(block(&[], &[])), Ok(block(&["c"], &[-3.0]))]
    }

    /// The parallel writer writes what `ArrowWriter` writes, byte for byte, with
    /// row groups cut inside blocks, at their ends and across them, empty blocks
    /// between, a text and a float column; and with a dictionary page limit small
    /// enough that the float column falls back to plain pages.
    #[test]
    fn parallel_parquet_is_arrow_writers_file_to_the_byte() {
        use parquet::file::properties::WriterProperties;
        let ids: Vec<String> = (0..40).map(|i| format!("c{}", i % 7)).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let values: Vec<f64> = (0..40).map(|i| f64::from(i) * 1.25 - 7.0).collect();
        let cuts = [(0, 5), (5, 5), (5, 7), (7, 19), (19, 21), (21, 40)];
        let blocks = || cuts.iter().map(|&(a, b)| block(&ids[a..b], &values[a..b]));
        let mut one_group = Vec::new();
        for (max_rows, dict_limit) in [(1, 1 << 20), (2, 1 << 20), (3, 1 << 20), (5, 1 << 20), (7, 1 << 20), (1024 * 1024, 1 << 20), (1024 * 1024, 64), (7, 64)] {
            let props = || WriterProperties::builder().set_max_row_group_row_count(Some(max_rows)).set_dictionary_page_size_limit(dict_limit).build();
            let mut expected = Vec::new();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut expected, blocks().next().unwrap().schema(), Some(props())).unwrap();
            for b in blocks() {
                w.write(&b).unwrap();
            }
            let groups = w.close().unwrap().num_row_groups();
            assert_eq!(groups, 40usize.div_ceil(max_rows), "{max_rows} rows a group");
            let mut got = Vec::new();
            let mut all = blocks();
            let first = all.next().unwrap();
            let rows = write_parquet(&mut got, first, all.map(Ok), props()).unwrap_or_else(|_| panic!("written"));
            assert_eq!(rows, 40);
            assert!(got == expected, "{max_rows} rows a group: {} bytes against {}", got.len(), expected.len());
            if max_rows == 1024 * 1024 {
                one_group.push(got);
            }
        }
        // The small dictionary limit did change the pages (the fallback was exercised).
        assert_eq!(one_group.len(), 2);
        assert!(one_group[0] != one_group[1]);
        // A byte limit is refused, not ignored.
        let props = WriterProperties::builder().set_max_row_group_bytes(Some(1000)).build();
        assert!(matches!(write_parquet(Vec::new(), block(&["a"], &[1.0]), std::iter::empty(), props), Err(Written::Encoding(_))));
        // A block with other columns than the first is refused.
        let other = RecordBatch::try_new(Arc::new(Schema::new(vec![Field::new("v", DataType::Float64, false)])), vec![Arc::new(Float64Array::from(vec![1.0]))]).unwrap();
        let written = write_parquet(Vec::new(), block(&["a"], &[1.0]), std::iter::once(Ok(other)), WriterProperties::default());
        assert!(matches!(written, Err(Written::Encoding(_))));
    }

    /// Blocks written one after the other make one table: one CSV header, every
    /// block's rows in order (plain and gzip), one Parquet file holding them all.
    #[test]
    fn blocks_make_one_table() {
        let d = dir();
        let csv = d.join("t.csv");
        assert_eq!(write_batches(three().into_iter(), csv.to_str().unwrap()).unwrap(), 3);
        assert_eq!(std::fs::read_to_string(&csv).unwrap(), "customer_id,v\na,1\nb,2.5\nc,-3\n");
        let gz = d.join("t.csv.gz");
        assert_eq!(write_batches(three().into_iter(), gz.to_str().unwrap()).unwrap(), 3);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap()), &mut text).unwrap();
        assert_eq!(text, "customer_id,v\na,1\nb,2.5\nc,-3\n");
        let pq = d.join("t.parquet");
        assert_eq!(write_batches(three().into_iter(), pq.to_str().unwrap()).unwrap(), 3);
        let read: Vec<RecordBatch> = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&pq).unwrap()).unwrap().build().unwrap().map(|b| b.unwrap()).collect();
        assert_eq!(read[0].schema(), block(&[], &[]).schema());
        let ids: Vec<String> = read.iter().flat_map(|b| b.column(0).as_string::<i32>().iter().map(|s| s.unwrap().to_string()).collect::<Vec<_>>()).collect();
        let values: Vec<f64> = read.iter().flat_map(|b| b.column(1).as_primitive::<Float64Type>().values().to_vec()).collect();
        assert_eq!((ids, values), (vec!["a".to_string(), "b".into(), "c".into()], vec![1.0, 2.5, -3.0]));
    }

    /// No block at all is refused in every format (a table has at least its
    /// columns), leaving nothing behind.
    #[test]
    fn no_block_is_no_table() {
        let d = dir().join("none");
        std::fs::create_dir_all(&d).unwrap();
        for name in ["t.csv", "t.csv.gz", "t.parquet", "-"] {
            let target = if name == "-" { "-".to_string() } else { d.join(name).to_string_lossy().into_owned() };
            match write_batches(std::iter::empty(), &target) {
                Err(Failure::Data(m)) => assert!(m.contains("no table to write"), "{name}: {m}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
    }

    /// A block that fails leaves neither the file nor its temporary file, and
    /// the previous file is kept.
    #[test]
    fn a_failing_block_leaves_the_old_file() {
        let d = dir().join("fail");
        std::fs::create_dir_all(&d).unwrap();
        for name in ["old.csv", "old.parquet"] {
            let target = d.join(name);
            std::fs::write(&target, "before").unwrap();
            let blocks = vec![Ok(block(&["a"], &[1.0])), Err(Failure::Data("block 2 failed".into())), Ok(block(&["c"], &[3.0]))];
            match write_batches(blocks.into_iter(), target.to_str().unwrap()) {
                Err(Failure::Data(m)) => assert_eq!(m, "block 2 failed"),
                _ => panic!("{name}: the block's error is the error"),
            }
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "before", "{name}");
            let left: Vec<String> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".tmp")).collect();
            assert!(left.is_empty(), "{left:?}");
        }
    }
}
