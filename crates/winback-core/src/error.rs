//! The one error type of `winback-core`.

use std::path::PathBuf;

use crate::report::SkipReason;

/// How an error numbers the records of its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numbering {
    /// Lines of a text file (CSV): the header is line 1, the first record line 2.
    #[default]
    Line,
    /// Rows of a table (Parquet, Arrow record batches, a data frame): the first is row 1.
    Row,
}

impl std::fmt::Display for Numbering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Numbering::Line => "line",
            Numbering::Row => "row",
        })
    }
}

/// A refused value as an error shows it: quoted, or "value missing" when empty.
fn shown_value(value: &str) -> String {
    if value.is_empty() {
        "value missing".into()
    } else {
        format!("value {value:?}")
    }
}

/// Everything that can go wrong in `winback-core`.
///
/// Input errors name the file, the line (1-based, the header is line 1; for a
/// table, the row, see [`Numbering`]), the column and the offending value, so that a batch job's log says what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The CSV parser failed (bad quoting, invalid UTF-8 in a used column...).
    #[error("{file}, line {line}: malformed CSV: {message}")]
    Csv {
        /// The file.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The parser's message.
        message: String,
    },
    /// A mapped column is not in the file's header or schema.
    #[error("{file}: column `{column}` not found (available: {available})")]
    MissingColumn {
        /// The file.
        file: String,
        /// The missing column.
        column: String,
        /// The columns that are there, comma separated.
        available: String,
    },
    /// A mapped column of lists, structs or maps: its values are not one id, date,
    /// amount or name each (as text they would read `[12346]`, one customer per list).
    #[error("{file}: column `{column}` holds {data_type} values: a mapped column needs one value per row (text, a number or a date)")]
    NestedColumn {
        /// The source.
        file: String,
        /// The column.
        column: String,
        /// Its Arrow type.
        data_type: String,
    },
    /// A mapped column's name appears more than once in the header.
    #[error("{file}: column `{column}` appears {times} times in the header: which one is meant is ambiguous (rename the copies)")]
    AmbiguousColumn {
        /// The file.
        file: String,
        /// The repeated name.
        column: String,
        /// How many times it appears.
        times: usize,
    },
    /// Strict mode refused a line with another number of fields than the header.
    #[error("{file}, line {line}: {fields} fields where the header has {expected} (value {value:?})")]
    FieldCount {
        /// The file.
        file: String,
        /// 1-based line number.
        line: u64,
        /// Fields on the line.
        fields: usize,
        /// Fields in the header.
        expected: usize,
        /// The line as read (shortened).
        value: String,
    },
    /// A value that strict mode refuses (or that can never be accepted). An empty
    /// value (an empty CSV field, a null) reads "value missing".
    #[error("{file}, {numbering} {line}, column `{column}`: {reason} ({})", shown_value(value))]
    BadValue {
        /// The file.
        file: String,
        /// 1-based line number (for Arrow/Parquet: 1-based row number, see `numbering`).
        line: u64,
        /// Whether `line` counts lines of a text file or rows of a table.
        numbering: Numbering,
        /// The column.
        column: String,
        /// The offending value as text.
        value: String,
        /// Why it was refused.
        reason: SkipReason,
    },
    /// Strict mode refused an exact duplicate line.
    #[error("{file}, {numbering} {line}: exact duplicate of {}{numbering} {first_line}", first_file.as_deref().map(|f| format!("{f}, ")).unwrap_or_default())]
    DuplicateLine {
        /// The file.
        file: String,
        /// The duplicate's line (row of a table, see `numbering`).
        line: u64,
        /// Whether the numbers count lines of a text file or rows of a table.
        numbering: Numbering,
        /// The line it repeats.
        first_line: u64,
        /// The file of the line it repeats, when another (a Parquet dataset).
        first_file: Option<String>,
    },
    /// A dataset path (directory or pattern) without any Parquet file.
    #[error("{path}: no Parquet file found (a directory is searched for files, hidden names starting with `_` or `.` skipped; a pattern matches file names in its directory)")]
    NoDatasetFiles {
        /// The path given.
        path: String,
    },
    /// A file of a dataset (directory or pattern) that is not a Parquet file: every
    /// file a dataset names is read, so none is left out unsaid.
    #[error("{file}: not a Parquet file (it does not begin with `PAR1`): a directory or a pattern is read as a Parquet dataset, every file in it but hidden ones (names starting with `_` or `.`); give a CSV file by itself, one file per run")]
    NotParquet {
        /// The file.
        file: String,
    },
    /// An entry of a dataset that is not a regular file (a named pipe, a socket, a
    /// device): a dataset is read from files only.
    #[error("{path}: not a regular file (a pipe, socket or device): a directory or a pattern is read as a Parquet dataset of files")]
    NotAFile {
        /// The entry.
        path: String,
    },
    /// A wildcard in a directory part of a dataset path (`exports/date=*/part-*.parquet`).
    #[error("{path}: a wildcard may only be in the file name (the last part of the path); give the directory to read every Parquet file under it, hive folders (date=.../) included")]
    WildcardDirectory {
        /// The path given.
        path: String,
    },
    /// An empty file: not even a header line.
    #[error("{file}: the file is empty (no header line)")]
    NoHeader {
        /// The file.
        file: String,
    },
    /// No usable purchase at all.
    #[error("{file}: no usable purchase rows ({rows_read} rows read{})", if skipped.is_empty() { String::new() } else { format!("; skipped: {skipped}") })]
    EmptyInput {
        /// The file (or `<values>` for Rust values).
        file: String,
        /// Rows read, all skipped or none at all.
        rows_read: u64,
        /// The load report's reasons, `"3 bad_amount, 2 zero_amount"`.
        skipped: String,
        /// The whole load report of those rows (every count, and the customers
        /// whose lines were all zero amounts), for callers that merge reports.
        report: Box<crate::report::LoadReport>,
    },
    /// More distinct customers, orders or codes than the columnar storage holds.
    #[error("too many distinct {what}: at most {max}")]
    TooMany {
        /// What overflowed.
        what: &'static str,
        /// The limit.
        max: u64,
    },
    /// A date format given by the user was rejected.
    #[error("invalid date format {format:?}: {message}")]
    InvalidDateFormat {
        /// The format.
        format: String,
        /// Why.
        message: String,
    },
    /// A time zone name that is not in the time zone database.
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    /// The lapse quantile must lie in (0, 1).
    #[error("lapse quantile must be in (0, 1), got {0}")]
    InvalidQuantile(f64),
    /// A fixed lapse threshold must be at least one day.
    #[error("lapse threshold must be between 1 and 36500 days, got {0}")]
    InvalidLapseDays(i64),
    /// The horizon must be at least one day.
    #[error("horizon must be between 1 and 36500 days, got {0}")]
    InvalidHorizon(i64),
    /// A stacked training set needs at least one cutoff.
    #[error("number of training cutoffs must be between 1 and 1000, got {0}")]
    InvalidCutoffCount(usize),
    /// A training cutoff whose label window `[T, T+H)` does not end before the date we stand at.
    #[error("training cutoff {cutoff} with horizon {horizon} days ends after {at}: its labels are not known yet")]
    CutoffTooLate {
        /// The cutoff, as an ISO date.
        cutoff: String,
        /// The horizon in days.
        horizon: i64,
        /// The date we stand at, as an ISO date.
        at: String,
    },
    /// No purchase before the cutoff: nothing to describe.
    #[error("no purchase before the cutoff {0}")]
    NoHistoryBefore(String),
    /// Features were asked for a customer without any purchase before the cutoff.
    #[error("customer {customer} has no purchase before {cutoff}")]
    NoPurchaseBefore {
        /// The customer id.
        customer: String,
        /// The cutoff, as an ISO date.
        cutoff: String,
    },
    /// The lapse threshold could not be learned: fewer than two purchase days per customer everywhere.
    #[error("cannot learn a lapse threshold before {0}: no customer has two purchase days")]
    NoGaps(String),
    /// The cap on one-hot levels must be at least 1.
    #[error("maximum number of category levels must be at least 1, got {0}")]
    InvalidMaxLevels(usize),
    /// A feature of the schema needs a column this history was read without
    /// (channel shares without a channel column, say).
    #[error("the data does not match the model: feature `{feature}` needs {needs}, which this history does not have")]
    MissingSourceColumn {
        /// The feature.
        feature: String,
        /// What it needs (`a region column`, `customer attributes`).
        needs: &'static str,
    },
    /// The schema counted purchases by order id and the history by customer-day,
    /// or the other way round.
    #[error("the data does not match the model: {}", if *fitted_by_order { "it counted purchases by order id, and this history was read without an order id column (map the same order column, or refit)" } else { "it counted purchases by customer-day (no order id column), and this history was read with one (leave the order column out, or refit)" })]
    PurchaseCountMismatch {
        /// Whether the schema counted purchases by order id.
        fitted_by_order: bool,
    },
    /// A feature of the schema needs an attribute column the attribute table lacks.
    #[error("the data does not match the model: feature `{feature}` needs the attribute column `{column}`")]
    MissingAttributeColumn {
        /// The feature.
        feature: String,
        /// The attribute column.
        column: String,
    },
    /// A customer index beyond the history's customers.
    #[error("customer index {index} is out of range (the history has {customers} customers)")]
    CustomerOutOfRange {
        /// The index given.
        index: usize,
        /// Customers in the history.
        customers: usize,
    },
    /// A census given for another cutoff than the one asked.
    #[error("the census is for {census}, the features were asked at {cutoff}")]
    CensusCutoff {
        /// The census's cutoff, as an ISO date.
        census: String,
        /// The cutoff asked, as an ISO date.
        cutoff: String,
    },
    /// A census received as a message that is not sound.
    #[error("invalid census at {cutoff}: {what}")]
    InvalidCensus {
        /// Its cutoff, as an ISO date.
        cutoff: String,
        /// What is wrong.
        what: String,
    },
    /// Something that needs every customer at once, asked of one shard.
    #[error("{what} cannot be computed shard by shard (on a cluster); use the single-machine path")]
    NotShardable {
        /// What was asked.
        what: String,
    },
    /// An attribute column whose length differs from the number of ids.
    #[error("attribute column `{column}` has {values} values for {ids} ids")]
    AttributeLength {
        /// The column.
        column: String,
        /// Its values.
        values: usize,
        /// The ids.
        ids: usize,
    },
    /// An attribute column that cannot be used as given (an empty or repeated
    /// name, levels not distinct and sorted, a code outside its levels).
    #[error("attribute column `{column}`: {message}")]
    InvalidAttribute {
        /// The column.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// A feature schema (read from a model file) that is not sound.
    #[error("schema.{field}: {message}")]
    InvalidSchema {
        /// The field, as a path inside the schema (`features[3].name`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A file whose decoder failed outright (a corrupt Parquet page, say).
    #[error("{file}: corrupt file: {message}")]
    CorruptFile {
        /// The file.
        file: String,
        /// What the decoder said.
        message: String,
    },
    /// Parquet decoding failed.
    #[cfg(feature = "parquet")]
    #[error("{file}: parquet: {source}")]
    Parquet {
        /// The file.
        file: String,
        /// The parquet crate's error.
        source: parquet::errors::ParquetError,
    },
    /// Arrow conversion failed.
    #[cfg(feature = "arrow")]
    #[error("{file}: arrow: {source}")]
    Arrow {
        /// The file or source name.
        file: String,
        /// The arrow crate's error.
        source: arrow_schema::ArrowError,
    },
}

impl Error {
    /// The kind of failure: an invalid parameter, bad data, or a file that could not be accessed.
    pub fn kind(&self) -> winback_stats::ErrorKind {
        use winback_stats::ErrorKind as K;
        match self {
            Error::InvalidQuantile(_)
            | Error::InvalidLapseDays(_)
            | Error::InvalidHorizon(_)
            | Error::InvalidCutoffCount(_)
            | Error::InvalidMaxLevels(_)
            | Error::InvalidDateFormat { .. }
            | Error::UnknownTimeZone(_)
            | Error::CutoffTooLate { .. }
            | Error::CustomerOutOfRange { .. }
            | Error::CensusCutoff { .. }
            | Error::NotShardable { .. } => K::Parameter,
            Error::Io { .. } => K::Io,
            _ => K::Data,
        }
    }
}

/// `Result` with [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
