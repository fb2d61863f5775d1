//! Reading purchase histories from CSV files (plain or gzip, by name or content).
//!
//! The user maps which columns hold what with a [`ColumnMap`]; every row is then
//! either used, counted in the [`LoadReport`] with its reason, or — in strict
//! mode — refused with an error naming file, line, column and value.
//!
//! ```
//! use winback_core::read::{read_csv_from, ColumnMap, CsvOptions};
//! use winback_core::{LoadOptions, SkipReason};
//! let data = "cust;when;value\nA;2024-01-02;10.5\nB;2024-01-03;-2\n;2024-01-03;3\n";
//! let map = ColumnMap::new("cust", "when", "value");
//! let csv = CsvOptions { delimiter: b';', ..Default::default() };
//! let (h, report) = read_csv_from(data.as_bytes(), "inline.csv", &map, &csv, &LoadOptions::default())?;
//! assert_eq!(h.num_customers(), 2);
//! assert_eq!(report.count(SkipReason::MissingId), 1);
//! assert_eq!(report.returns, 1);
//! # Ok::<(), winback_core::Error>(())
//! ```

pub use crate::columns::{parse_flag, ColumnMap, CsvOptions};

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;


use crate::date::{DateFormat, DateParser, TimeSettings};
use crate::attributes::{type_column, AttrColumn, Attributes, AttributesReport};
use crate::columns::shorten;
use crate::error::{Error, Result};
use crate::hash::FxHashMap;
use crate::history::{History, HistoryBuilder, Id, LoadOptions, RawRow};
use crate::progress::{step, Counted, Progress, Silent, Unit};
use crate::report::{LoadReport, SkipReason};

/// Reads a CSV file (gzip-compressed when its name ends in `.gz` or its content
/// starts with gzip's magic bytes).
pub fn read_csv(path: impl AsRef<Path>, map: &ColumnMap, csv: &CsvOptions, options: &LoadOptions) -> Result<(History, LoadReport)> {
    read_csv_with(path, map, csv, options, &Silent)
}

/// [`read_csv`], reporting the bytes read to `progress` (the file's size is the
/// total; for a `.gz` file, compressed bytes).
pub fn read_csv_with(path: impl AsRef<Path>, map: &ColumnMap, csv: &CsvOptions, options: &LoadOptions, progress: &dyn Progress) -> Result<(History, LoadReport)> {
    let path = path.as_ref();
    let total = std::fs::metadata(path).ok().map(|m| m.len());
    step(progress, &format!("reading {}", path.display()), total, Unit::Bytes, || read_csv_counted(path, map, csv, options, progress))
}

fn read_csv_counted(path: &Path, map: &ColumnMap, csv: &CsvOptions, options: &LoadOptions, progress: &dyn Progress) -> Result<(History, LoadReport)> {
    let plain = !is_gzip(path);
    if plain {
        if let Some(done) = read_csv_parallel(path, map, csv, options, progress)? {
            return Ok(done);
        }
    }
    let reader = open_counted(path, progress)?;
    // A plain file's size lets the columns be allocated once, near their final size.
    let size = if plain { std::fs::metadata(path).ok().map(|m| m.len()) } else { None };
    let (mut t, first) = CsvTable::new(reader, &path.display().to_string(), csv)?;
    read_rows(&mut t, first, map, options, size, progress)
}

/// [`open`], reporting the file's bytes (compressed bytes for `.gz`) as they are read.
fn open_counted<'p>(path: &Path, progress: &'p dyn Progress) -> Result<Box<dyn Read + Send + 'p>> {
    let f = File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let buf = BufReader::with_capacity(1 << 20, Counted { inner: f, progress });
    if is_gzip(path) {
        Ok(Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(buf))))
    } else {
        Ok(Box::new(buf))
    }
}

/// Whether a file is gzip-compressed: its name ends in `.gz`, or it starts with
/// gzip's magic bytes (a compressed export saved without the extension).
fn is_gzip(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gz")) {
        return true;
    }
    let mut magic = [0u8; 2];
    File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && magic == [0x1f, 0x8b]
}

/// Opens a file for reading, transparently decompressing gzip (see [`is_gzip`]).
pub(crate) fn open(path: &Path) -> Result<Box<dyn Read + Send>> {
    let f = File::open(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    let buf = BufReader::with_capacity(1 << 20, f);
    if is_gzip(path) {
        Ok(Box::new(BufReader::with_capacity(1 << 20, flate2::read::MultiGzDecoder::new(buf))))
    } else {
        Ok(Box::new(buf))
    }
}

/// A CSV reader with the header resolved to column indices.
/// A reader that ends every line with `\n`: `\r\n` becomes `\n` and a lone `\r`
/// (old Mac files) becomes `\n`, also inside quoted fields (a quoted `"a\r\nb"`
/// reads as `"a\nb"`). The CSV parser counts lines by `\n` and, at a `\r\n`,
/// takes a record's position before its `\n`: on Windows files every line number
/// was one too low, and on `\r` files every line was line 1. Every CSV reader of
/// winback reads through it (purchases, attributes, outcomes).
///
/// ```
/// use std::io::Read;
/// let mut out = String::new();
/// winback_core::read::LineEnds::new("a,b\r\nc\rd\n".as_bytes()).read_to_string(&mut out)?;
/// assert_eq!(out, "a,b\nc\nd\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct LineEnds<R> {
    inner: R,
    /// The last byte handed on was a `\r` (written as `\n`): a `\n` right after it
    /// is the same line end and is dropped.
    after_cr: bool,
}

impl<R> LineEnds<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        LineEnds { inner, after_cr: false }
    }
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let got = self.inner.read(buf)?;
            if got == 0 {
                return Ok(0);
            }
            if !self.after_cr && !buf[..got].contains(&b'\r') {
                return Ok(got);
            }
            let mut w = 0;
            for r in 0..got {
                let c = buf[r];
                if c == b'\n' && self.after_cr {
                    self.after_cr = false;
                    continue;
                }
                self.after_cr = c == b'\r';
                buf[w] = if c == b'\r' { b'\n' } else { c };
                w += 1;
            }
            // Nothing left (the `\n` of a `\r\n` alone): read on rather than report the end.
            if w > 0 {
                return Ok(w);
            }
        }
    }
}

/// Line ends in `bytes`: `\n`, and `\r` not followed by `\n`; `cr` carries a
/// trailing `\r` from one call to the next (counted when the next byte decides).
pub(crate) fn count_line_ends(bytes: &[u8], cr: &mut bool) -> u64 {
    if !*cr && !bytes.contains(&b'\r') {
        return bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    let mut n = 0u64;
    for &c in bytes {
        n += u64::from(*cr && c != b'\n') + u64::from(c == b'\n');
        *cr = c == b'\r';
    }
    n
}

/// The offset in the file just after the first `pos` bytes that [`LineEnds`]
/// hands on, past a dropped `\n` (of a `\r\n`) right there.
fn raw_offset(path: &Path, pos: u64) -> Result<u64> {
    let io = |e| Error::Io { path: path.to_path_buf(), source: e };
    let mut f = BufReader::new(File::open(path).map_err(io)?);
    let (mut raw, mut out, mut prev_cr) = (0u64, 0u64, false);
    let mut buf = [0u8; 64 * 1024];
    loop {
        let got = f.read(&mut buf).map_err(io)?;
        if got == 0 {
            return Ok(raw);
        }
        for &c in &buf[..got] {
            let dropped = c == b'\n' && prev_cr;
            if out == pos && !dropped {
                return Ok(raw);
            }
            out += u64::from(!dropped);
            prev_cr = c == b'\r';
            raw += 1;
        }
    }
}

pub(crate) struct CsvTable<R: Read> {
    pub reader: csv::Reader<LineEnds<R>>,
    pub header: Vec<String>,
    pub source: String,
}

impl<R: Read> CsvTable<R> {
    /// Opens the table; without a header the first record is read to count the
    /// columns and handed back to be processed as data.
    pub(crate) fn new(reader: R, source: &str, csv: &CsvOptions) -> Result<(Self, Option<csv::ByteRecord>)> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(csv.delimiter)
            .has_headers(csv.has_header)
            // Field counts are checked against the header by the reader itself, so
            // parallel chunks (which have no header) give the same errors.
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(LineEnds::new(reader));
        let mut first = None;
        let header: Vec<String> = if csv.has_header {
            reader
                .byte_headers()
                .map_err(|e| csv_error(source, &e))?
                .iter()
                .map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_string())
                .collect()
        } else {
            let mut rec = csv::ByteRecord::new();
            if reader.read_byte_record(&mut rec).map_err(|e| csv_error(source, &e))? {
                first = Some(rec);
            }
            (1..=first.as_ref().map_or(0, csv::ByteRecord::len)).map(|i| i.to_string()).collect()
        };
        if header.is_empty() || (header.len() == 1 && header[0].is_empty() && first.is_none()) {
            return Err(Error::NoHeader { file: source.to_string() });
        }
        Ok((CsvTable { reader, header, source: source.to_string() }, first))
    }

    pub(crate) fn column(&self, name: &str) -> Result<usize> {
        let times = self.header.iter().filter(|h| *h == name).count();
        if times > 1 {
            return Err(Error::AmbiguousColumn { file: self.source.clone(), column: name.to_string(), times });
        }
        self.header.iter().position(|h| h == name).ok_or_else(|| Error::MissingColumn {
            file: self.source.clone(),
            column: name.to_string(),
            available: shorten(&self.header.join(", ")),
        })
    }

    pub(crate) fn optional(&self, name: &Option<String>) -> Result<Option<usize>> {
        name.as_deref().map(|n| self.column(n)).transpose()
    }
}

pub(crate) fn csv_error(source: &str, e: &csv::Error) -> Error {
    Error::Csv {
        file: source.to_string(),
        line: e.position().map_or(0, |p| p.line()),
        message: match e.kind() {
            csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
                format!("{len} fields where the header has {expected_len}")
            }
            csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
            _ => e.to_string(),
        },
    }
}

/// Reads CSV from any reader (stdin, memory); `source` names it in messages.
pub fn read_csv_from(
    reader: impl Read,
    source: &str,
    map: &ColumnMap,
    csv: &CsvOptions,
    options: &LoadOptions,
) -> Result<(History, LoadReport)> {
    let (mut t, first) = CsvTable::new(reader, source, csv)?;
    read_rows(&mut t, first, map, options, None, &crate::progress::Silent)
}

/// The column positions of a mapped CSV table.
#[derive(Clone, Copy)]
struct Cols {
    id: usize,
    date: usize,
    amount: usize,
    qty: Option<usize>,
    order: Option<usize>,
    channel: Option<usize>,
    category: Option<usize>,
    region: Option<usize>,
    cancel: Option<usize>,
}

impl Cols {
    fn resolve<R: Read>(t: &CsvTable<R>, map: &ColumnMap) -> Result<Cols> {
        Ok(Cols {
            id: t.column(&map.customer)?,
            date: t.column(&map.date)?,
            amount: t.column(&map.amount)?,
            qty: t.optional(&map.quantity)?,
            order: t.optional(&map.order)?,
            channel: t.optional(&map.channel)?,
            category: t.optional(&map.category)?,
            region: t.optional(&map.region)?,
            cancel: t.optional(&map.cancelled)?,
        })
    }
}

fn read_rows<R: Read>(
    t: &mut CsvTable<R>,
    first: Option<csv::ByteRecord>,
    map: &ColumnMap,
    options: &LoadOptions,
    file_bytes: Option<u64>,
    progress: &dyn Progress,
) -> Result<(History, LoadReport)> {
    let cols = Cols::resolve(t, map)?;
    let parser = DateParser::new(map.date_format.clone(), &map.time)?;
    let mut b = HistoryBuilder::new(t.source.clone(), map.names(), map.present(), options.clone());
    parse_into(&mut b, &mut t.reader, first, &t.header, cols, &parser, &t.source, 0, file_bytes)?;
    b.finish_with(progress)
}

/// Parses records into a builder; `line_offset` is added to the reader's line
/// numbers (chunks of a file start after line 1).
#[allow(clippy::too_many_arguments)]
fn parse_into<R: Read>(
    b: &mut HistoryBuilder,
    reader: &mut csv::Reader<R>,
    first: Option<csv::ByteRecord>,
    header: &[String],
    c: Cols,
    parser: &DateParser,
    source: &str,
    line_offset: u64,
    file_bytes: Option<u64>,
) -> Result<()> {
    let mut pending = first.is_some();
    let mut rec = first.unwrap_or_default();
    let mut rows = 0u64;
    loop {
        if !pending {
            let more = reader.read_byte_record(&mut rec).map_err(|e| {
                let mut err = csv_error(source, &e);
                if let Error::Csv { line, .. } = &mut err {
                    *line += line_offset;
                }
                err
            })?;
            if !more {
                break;
            }
        }
        pending = false;
        rows += 1;
        let line = rec.position().map_or(0, |p| p.line()) + line_offset;
        if rec.len() != header.len() {
            // Counted like any bad row (strict mode refuses it, showing the line).
            let shown = shorten(&rec.iter().map(String::from_utf8_lossy).collect::<Vec<_>>().join(","));
            if b.strict() {
                return Err(Error::FieldCount { file: b.source().to_string(), line, fields: rec.len(), expected: header.len(), value: shown });
            }
            // Counted under the first column the line lacks (or the last one it overflows).
            let col = header.get(rec.len().min(header.len().saturating_sub(1))).map_or("?", String::as_str);
            b.reject(line, SkipReason::Malformed, col, &shown)?;
            continue;
        }
        if rows == 10_000 {
            if let (Some(total), Some(pos)) = (file_bytes, rec.position()) {
                // Rows in the whole file (or chunk), from the bytes per row so far (+5%).
                let per_row = pos.byte() as f64 / 10_000.0;
                if per_row > 0.0 {
                    b.reserve((total as f64 / per_row * 1.05) as usize);
                }
            }
        }
        // Only the mapped columns are read (and must be UTF-8): a bad byte there
        // makes the line malformed, counted with the column (strict: refused).
        let text = |i: usize| -> std::result::Result<&str, usize> { std::str::from_utf8(rec.get(i).unwrap_or_default()).map_err(|_| i) };
        let opt = |c: Option<usize>| c.map(text).transpose();
        let row = (|| -> std::result::Result<RawRow<'_>, usize> {
            let date_raw = text(c.date)?;
            let amount_raw = text(c.amount)?;
            Ok(RawRow {
                customer: text(c.id)?.into(),
                day: parser.parse_day(date_raw).ok_or(date_raw),
                // A number too large for a float ("1e400") is refused as written, not as "inf".
                amount: amount_raw.trim().parse::<f64>().ok().filter(|a| a.is_finite()).ok_or(amount_raw),
                quantity: opt(c.qty)?.map(|q| q.trim().parse::<f64>().ok().filter(|v| v.is_finite()).ok_or(q)),
                order: opt(c.order)?.map(Id::Text),
                channel: opt(c.channel)?.into(),
                category: opt(c.category)?.into(),
                region: opt(c.region)?.into(),
                cancelled: match opt(c.cancel)? {
                    None => Ok(false),
                    Some(v) => parse_flag(v).ok_or(v),
                },
            })
        })();
        match row {
            Ok(row) => b.push(line, row)?,
            Err(i) => {
                let col = header.get(i).map_or("?", String::as_str);
                let shown = shorten(&String::from_utf8_lossy(rec.get(i).unwrap_or_default()));
                b.reject(line, SkipReason::Malformed, col, &shown)?;
            }
        }
    }
    Ok(())
}

/// Smallest plain file read in parallel chunks.
const PARALLEL_MIN_BYTES: u64 = 16 << 20;

/// Reads a plain (not compressed) CSV file in parallel chunks, one per rayon
/// thread. Only for files without any `"` (a chunk boundary could otherwise fall
/// inside a quoted field): `Ok(None)` means "read it sequentially".
fn read_csv_parallel(path: &Path, map: &ColumnMap, csv_opts: &CsvOptions, options: &LoadOptions, progress: &dyn Progress) -> Result<Option<(History, LoadReport)>> {
    use std::io::{Seek, SeekFrom};
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    let source = path.display().to_string();
    let io = |e| Error::Io { path: path.to_path_buf(), source: e };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if threads < 2 || size < PARALLEL_MIN_BYTES || !csv_opts.has_header {
        return Ok(None);
    }
    // Header (line 1) and where the data starts.
    let (t, _) = CsvTable::new(open(path)?, &source, csv_opts)?;
    let cols = Cols::resolve(&t, map)?;
    let header = t.header.clone();
    // Where the data starts in the file (the reader's position counts the bytes
    // LineEnds handed on), and the line ends before it (blank lines before the
    // header, a header cell with a line break).
    let data_start = raw_offset(path, t.reader.position().byte())?;
    drop(t);
    let header_lines = {
        let mut prefix = vec![0u8; data_start as usize];
        File::open(path).and_then(|mut f| f.read_exact(&mut prefix)).map_err(io)?;
        // The data starts after a line end: a `\r` that ends the prefix is one.
        let mut cr = false;
        count_line_ends(&prefix, &mut cr) + u64::from(cr)
    };
    // Chunk boundaries just after a newline; count newlines and quotes per chunk.
    let n = threads * 2;
    let mut bounds = vec![data_start];
    for k in 1..n as u64 {
        let target = data_start + (size - data_start) * k / n as u64;
        let mut f = File::open(path).map_err(io)?;
        f.seek(SeekFrom::Start(target)).map_err(io)?;
        let mut buf = [0u8; 64 * 1024];
        let mut pos = target;
        let next = loop {
            let got = f.read(&mut buf).map_err(io)?;
            if got == 0 {
                break size;
            }
            if let Some(i) = buf[..got].iter().position(|&c| c == b'\n') {
                break pos + i as u64 + 1;
            }
            pos += got as u64;
        };
        if next > *bounds.last().unwrap_or(&0) && next < size {
            bounds.push(next);
        }
    }
    bounds.push(size);
    let ranges: Vec<(u64, u64)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let counts: Vec<Result<(u64, bool)>> = ranges
        .par_iter()
        .map(|&(a, b)| {
            let mut f = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
            f.seek(SeekFrom::Start(a)).map_err(io)?;
            let mut left = b - a;
            let mut buf = vec![0u8; 1 << 20];
            let (mut lines, mut quote, mut cr) = (0u64, false, false);
            while left > 0 {
                let want = (buf.len() as u64).min(left) as usize;
                let got = f.read(&mut buf[..want]).map_err(io)?;
                if got == 0 {
                    break;
                }
                lines += count_line_ends(&buf[..got], &mut cr);
                quote |= buf[..got].contains(&b'"');
                left -= got as u64;
            }
            Ok((lines, quote))
        })
        .collect();
    let counts: Vec<(u64, bool)> = counts.into_iter().collect::<Result<_>>()?;
    if counts.iter().any(|&(_, q)| q) {
        return Ok(None);
    }
    // Line offset of each chunk: the line ends before it.
    let mut offsets = Vec::with_capacity(ranges.len());
    let mut acc = header_lines;
    for &(lines, _) in &counts {
        offsets.push(acc);
        acc += lines;
    }
    let parser = DateParser::new(map.date_format.clone(), &map.time)?;
    // Progress counts the parse pass (the header first; the newline count above is a fast pre-pass).
    progress.advance(data_start);
    let parts: Vec<Result<HistoryBuilder>> = ranges
        .par_iter()
        .zip(offsets.par_iter())
        .map(|(&(a, b), &offset)| {
            let mut f = File::open(path).map_err(io)?;
            f.seek(SeekFrom::Start(a)).map_err(io)?;
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(csv_opts.delimiter)
                .has_headers(false)
                .flexible(true)
                .buffer_capacity(1 << 20)
                .from_reader(LineEnds::new(BufReader::with_capacity(1 << 20, Counted { inner: f.take(b - a), progress })));
            let mut part = HistoryBuilder::new(source.clone(), map.names(), map.present(), options.clone());
            parse_into(&mut part, &mut reader, None, &header, cols, &parser, &source, offset, Some(b - a))?;
            part.end_input();
            Ok(part)
        })
        .collect();
    // The first error in file order wins.
    let parts: Vec<HistoryBuilder> = parts.into_iter().collect::<Result<_>>()?;
    HistoryBuilder::merge(parts)?.finish_with(progress).map(Some)
}

/// The attribute table's CSV readers live with the other readers (the table
/// itself, in `attributes`, knows no file).
impl Attributes {
    /// Reads an attribute CSV file (gzip by name or content, as [`read_csv`]); `key` is the customer id column.
    pub fn read_csv(path: impl AsRef<Path>, key: &str, csv: &CsvOptions) -> Result<Self> {
        let path = path.as_ref();
        Self::read_csv_from(open(path)?, &path.display().to_string(), key, csv)
    }

    /// Reads attribute CSV from any reader.
    pub fn read_csv_from(reader: impl Read, source: &str, key: &str, csv: &CsvOptions) -> Result<Self> {
        let (mut t, first) = CsvTable::new(reader, source, csv)?;
        let k = t.column(key)?;
        let header = t.header.clone();
        // Every column becomes traits named after it: names must be there and distinct.
        let mut seen_names = std::collections::HashSet::new();
        for h in &header {
            if h.is_empty() || !seen_names.insert(h.as_str()) {
                let message = if h.is_empty() { "a column needs a name (an empty header cell)" } else { "the name appears twice in the header" };
                return Err(Error::InvalidAttribute { column: format!("{h}` of `{source}"), message: message.into() });
            }
        }
        let mut raw: Vec<Vec<String>> = vec![Vec::new(); header.len()];
        let mut ids = Vec::new();
        let mut report = AttributesReport::default();
        let mut seen: FxHashMap<String, ()> = FxHashMap::default();
        let mut rec = first.unwrap_or_default();
        let mut pending = !rec.is_empty();
        loop {
            if !pending && !t.reader.read_byte_record(&mut rec).map_err(|e| csv_error(source, &e))? {
                break;
            }
            pending = false;
            report.rows_read += 1;
            if rec.len() != header.len() {
                // A short or long row: its fields cannot be matched to columns.
                report.malformed += 1;
                continue;
            }
            let id = String::from_utf8_lossy(rec.get(k).unwrap_or_default()).trim().to_string();
            if id.is_empty() {
                report.missing_key += 1;
                continue;
            }
            if seen.insert(id.clone(), ()).is_some() {
                report.duplicate_keys += 1;
                continue;
            }
            ids.push(id);
            for (i, col) in raw.iter_mut().enumerate() {
                if i != k {
                    col.push(String::from_utf8_lossy(rec.get(i).unwrap_or_default()).trim().to_string());
                }
            }
        }
        let dates = DateParser::new(DateFormat::Auto, &TimeSettings::default())?;
        let mut columns = Vec::new();
        for (_, (name, vals)) in header.iter().zip(raw).enumerate().filter(|(i, _)| *i != k) {
            let (values, unread) = type_column(name, &vals, &dates);
            report.unread.extend(unread);
            columns.push(AttrColumn { name: name.clone(), values });
        }
        Ok(Attributes::from_parts(ids, columns, report))
    }
}
