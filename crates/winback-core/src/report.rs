//! What happened to every input row: the load report.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a row was skipped (or, for [`SkipReason::Return`], flagged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// The customer id is empty.
    MissingId,
    /// The date is empty or cannot be read in the configured format.
    BadDate,
    /// The amount is empty, not a number, infinite or NaN, or larger than
    /// [`crate::history::MAX_AMOUNT`] in size (sums could overflow).
    BadAmount,
    /// The amount is exactly zero (free items, price corrections), with
    /// `LoadOptions::skip_zero_amounts` on (by default they are purchases with no spend).
    ZeroAmount,
    /// A return: a negative amount or a set cancellation flag. Returns are **used**
    /// (netted against spend); they are counted here, not dropped.
    Return,
    /// A line identical in every mapped field to an earlier line.
    Duplicate,
    /// The purchase day is after the data's stated end date.
    AfterEnd,
    /// A quantity that is present but not a number.
    BadQuantity,
    /// A cancellation flag that is neither a yes nor a no word (`maybe`, `cancelled`).
    BadFlag,
    /// A line the CSV parser cannot read: a wrong number of fields, or bytes
    /// that are not UTF-8.
    Malformed,
    /// The purchase day is on or after the cutoff that the load was made for
    /// (`LoadOptions::only_before`): nothing at that cutoff uses it. The row's
    /// other values are not checked; in a Parquet row group whose date statistics
    /// put every row there, the rows are counted without being decoded.
    AfterCutoff,
}

impl SkipReason {
    /// All reasons, in report order.
    pub const ALL: [SkipReason; 11] = [
        SkipReason::MissingId,
        SkipReason::BadDate,
        SkipReason::BadAmount,
        SkipReason::ZeroAmount,
        SkipReason::Return,
        SkipReason::Duplicate,
        SkipReason::AfterEnd,
        SkipReason::BadQuantity,
        SkipReason::BadFlag,
        SkipReason::Malformed,
        SkipReason::AfterCutoff,
    ];

    /// Stable snake_case name (as in JSON).
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::MissingId => "missing_id",
            SkipReason::BadDate => "bad_date",
            SkipReason::BadAmount => "bad_amount",
            SkipReason::ZeroAmount => "zero_amount",
            SkipReason::Return => "return",
            SkipReason::Duplicate => "duplicate",
            SkipReason::AfterEnd => "after_end",
            SkipReason::BadQuantity => "bad_quantity",
            SkipReason::BadFlag => "bad_flag",
            SkipReason::Malformed => "malformed",
            SkipReason::AfterCutoff => "after_cutoff",
        }
    }

    /// Whether rows with this reason are dropped (all but returns).
    pub fn drops_row(self) -> bool {
        self != SkipReason::Return
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::MissingId => "missing customer id",
            SkipReason::BadDate => "unparseable date",
            SkipReason::BadAmount => "amount is not a finite number (at most 1e15 in size)",
            SkipReason::ZeroAmount => "amount is zero",
            SkipReason::Return => "return (negative amount or cancellation)",
            SkipReason::Duplicate => "exact duplicate line",
            SkipReason::AfterEnd => "date after the data's end date",
            SkipReason::BadQuantity => "quantity is not a number",
            SkipReason::BadFlag => "cancellation flag is neither yes nor no",
            SkipReason::Malformed => "malformed line (field count or UTF-8)",
            SkipReason::AfterCutoff => "dated on or after the cutoff (not needed at it)",
        })
    }
}

/// Rows read from one file of a dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRows {
    /// The file.
    pub file: String,
    /// Rows read from it.
    pub rows_read: u64,
    /// Of those, rows skipped as they were read (a bad value, a missing id...; the
    /// duplicates `drop_duplicates` skips are found later, across files, and are
    /// counted in the report only).
    #[serde(default)]
    pub rows_skipped: u64,
}

/// Counts of what a load did with every row: `rows_read = rows_used + skipped`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadReport {
    /// The source (file name, or `<values>`).
    pub source: String,
    /// Data rows read (header excluded).
    pub rows_read: u64,
    /// Rows that entered the history (returns included).
    pub rows_used: u64,
    /// Rows dropped, by reason (only reasons that drop rows).
    pub skipped: Vec<(SkipReason, u64)>,
    /// Return rows: used, netted against spend.
    pub returns: u64,
    /// Distinct customers in the history.
    pub customers: u64,
    /// Purchases (orders, or customer-days when no order id is mapped).
    pub purchases: u64,
    /// Lines with amount zero kept as purchases with no spend (the default).
    #[serde(default)]
    pub zero_amount_purchases: u64,
    /// With zero amounts skipped: the customers whose every line was a zero
    /// amount, so they have no purchase (sorted ids).
    #[serde(default)]
    pub zero_amount_only: Vec<String>,
    /// Lines identical to an earlier line in every mapped column (see
    /// `LoadOptions::drop_duplicates` for what "identical" means), kept as lines of their
    /// purchase (the default; with `drop_duplicates` they are skipped as
    /// [`SkipReason::Duplicate`] instead).
    #[serde(default)]
    pub identical_lines: u64,
    /// Rows read per file, when a dataset (a directory or a pattern) was read, in read
    /// order. The printed report shows at most [`SHOWN_FILES`] of them (the first and
    /// the last, and the rows of those between); this list keeps every file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRows>,
    /// The first and the last day of the lines used (YYYY-MM-DD): a placeholder date
    /// (`0001-01-01`, `9999-12-31`) is a valid date and is used, so the span shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dates: Option<(String, String)>,
    /// Customer ids that are another customer's id with a decimal zero added
    /// (`17850.0` beside `17850`: one customer written two ways, as a float column
    /// exported as text does), at most [`FLOAT_TWINS_SHOWN`] of them (sorted); the
    /// two stay two customers, as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub float_twins: Vec<String>,
    /// How many such ids there are in all.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub float_twin_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// At most this many [`LoadReport::float_twins`] are listed.
pub const FLOAT_TWINS_SHOWN: usize = 10;

/// Most files the printed load report lists one by one (the first half and the last
/// quarter of them; a line between counts the others and their rows).
pub const SHOWN_FILES: usize = 20;

/// A span of the data longer than this many years is flagged in the report: no
/// purchase log runs this long, so the first or last date is likely a placeholder.
pub const LONG_SPAN_YEARS: i64 = 50;

impl LoadReport {
    /// The number of rows skipped for `reason` (for [`SkipReason::Return`]: flagged).
    pub fn count(&self, reason: SkipReason) -> u64 {
        if reason == SkipReason::Return {
            return self.returns;
        }
        self.skipped.iter().find(|(r, _)| *r == reason).map_or(0, |(_, n)| *n)
    }

    /// All rows dropped, whatever the reason.
    pub fn total_skipped(&self) -> u64 {
        self.skipped.iter().map(|(_, n)| n).sum()
    }

    pub(crate) fn add(&mut self, reason: SkipReason, n: u64) {
        if n == 0 {
            return;
        }
        if reason == SkipReason::Return {
            self.returns += n;
            return;
        }
        match self.skipped.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, c)) => *c += n,
            None => {
                self.skipped.push((reason, n));
                self.skipped.sort();
            }
        }
    }

    /// What in the data looks wrong though it was read (the report's `check:` lines):
    /// a span of dates no purchase log has, ids that are another id with a decimal
    /// zero added. A front end says them even when it hides the rest of the report.
    pub fn checks(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((first, last)) = &self.dates {
            let year = |d: &str| d.get(..4).and_then(|y| y.parse::<i64>().ok());
            if let (Some(a), Some(b)) = (year(first), year(last)) {
                if b - a > LONG_SPAN_YEARS {
                    out.push(format!("the dates span {} years: a placeholder date (such as 0001-01-01 or 9999-12-31) is read as a real purchase; fix it or filter it out", b - a));
                }
            }
        }
        if self.float_twin_count > 0 {
            let more = if self.float_twin_count as usize > self.float_twins.len() { ", ..." } else { "" };
            out.push(format!(
                "{} customer ids are another id with a decimal zero added ({}{more}): one customer written two ways? (counted as two)",
                self.float_twin_count,
                self.float_twins.join(", ")
            ));
        }
        out
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} rows read, {} used ({} returns netted), {} skipped; {} customers, {} purchases",
            self.source,
            self.rows_read,
            self.rows_used,
            self.returns,
            self.total_skipped(),
            self.customers,
            self.purchases
        )?;
        if let Some((first, last)) = &self.dates {
            writeln!(f, "  dates   {first} to {last}")?;
        }
        for (r, n) in &self.skipped {
            writeln!(f, "  skipped {n:>10}  {r}")?;
        }
        for check in self.checks() {
            writeln!(f, "  check:  {check}")?;
        }
        if self.zero_amount_purchases > 0 {
            writeln!(f, "  kept    {:>10}  zero-amount lines, as purchases with no spend", self.zero_amount_purchases)?;
        }
        if self.identical_lines > 0 {
            writeln!(f, "  kept    {:>10}  lines identical to an earlier line in every mapped column (the drop-duplicates option skips them)", self.identical_lines)?;
        }
        if !self.zero_amount_only.is_empty() {
            let shown = self.zero_amount_only.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
            let more = if self.zero_amount_only.len() > 10 { ", ..." } else { "" };
            writeln!(f, "  {} customers have only zero-amount lines and no purchase: {shown}{more}", self.zero_amount_only.len())?;
        }
        // A dataset's files (one file too, when the source was a directory or a
        // pattern); past SHOWN_FILES the first and last few, and what the rest hold.
        if self.files.len() > 1 || self.files.first().is_some_and(|r| r.file != self.source) {
            writeln!(f, "  {} file{}:", self.files.len(), if self.files.len() == 1 { "" } else { "s" })?;
            let n = self.files.len();
            let (head, tail) = if n > SHOWN_FILES { (SHOWN_FILES / 2, SHOWN_FILES / 4) } else { (n, 0) };
            let line = |f: &mut fmt::Formatter<'_>, rows: u64, skipped: u64, what: &str| {
                let skipped = if skipped > 0 { format!(" ({skipped} skipped)") } else { String::new() };
                writeln!(f, "    {rows:>12} rows  {what}{skipped}")
            };
            for r in &self.files[..head] {
                line(f, r.rows_read, r.rows_skipped, &r.file)?;
            }
            if tail > 0 {
                let rest = &self.files[head..n - tail];
                let (rows, skipped) = rest.iter().fold((0, 0), |(a, b), r| (a + r.rows_read, b + r.rows_skipped));
                line(f, rows, skipped, &format!("in {} more files", rest.len()))?;
                for r in &self.files[n - tail..] {
                    line(f, r.rows_read, r.rows_skipped, &r.file)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_files(source: &str, n: usize) -> LoadReport {
        let files = (1..=n).map(|k| FileRows { file: format!("d/part-{k:03}.parquet"), rows_read: k as u64, rows_skipped: u64::from(k == 3 || k == 12) }).collect();
        LoadReport { source: source.into(), files, ..Default::default() }
    }

    /// A dataset of many files lists the first ten and the last five, and counts the
    /// rest with their rows (a 540-folder dataset printed 543 lines), each with the
    /// rows skipped in it; one file of a directory is listed too, a file read by
    /// itself is not.
    #[test]
    fn the_file_list_is_shortened_past_twenty() {
        let text = with_files("d", 25).to_string();
        let listed: Vec<&str> = text.lines().skip_while(|l| !l.contains("files:")).collect();
        assert_eq!(listed[0], "  25 files:");
        assert_eq!(listed.len(), 1 + 10 + 1 + 5);
        assert_eq!(listed[1], "               1 rows  d/part-001.parquet");
        assert_eq!(listed[3], "               3 rows  d/part-003.parquet (1 skipped)");
        // Files 11 to 20 hold 11 + ... + 20 = 155 rows, one skipped (in file 12).
        assert_eq!(listed[11], "             155 rows  in 10 more files (1 skipped)");
        assert_eq!(listed[16], "              25 rows  d/part-025.parquet");
        let all = with_files("d", 20).to_string();
        assert_eq!(all.lines().filter(|l| l.contains("part-")).count(), 20);
        assert!(with_files("d", 1).to_string().contains("  1 file:\n               1 rows  d/part-001.parquet"));
        assert!(!with_files("d/part-001.parquet", 1).to_string().contains("file:"));
    }
}
