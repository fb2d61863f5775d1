//! Customer attributes: a second table keyed by customer id (region, age band,
//! gender, join channel, join date, survey scores...).
//!
//! Each column is typed from its values: **numeric** when every non-empty value
//! is a number, **date** when every non-empty value is a date (`YYYY-MM-DD`,
//! `YYYYMMDD`, ISO date-time), else **categorical**. Empty cells are missing.
//! Attributes are taken as static facts about the customer (not time-stamped);
//! date columns become "days since" the cutoff in features, so they carry no
//! information from after it.
//!
//! ```
//! use winback_core::attributes::{Attributes, AttrValues};
//! use winback_core::read::CsvOptions;
//! let data = "id,age,score,joined\n1,25-34,7.5,2020-01-01\n2,65+,,2021-06-30\n";
//! let a = Attributes::read_csv_from(data.as_bytes(), "attrs.csv", "id", &CsvOptions::default())?;
//! assert_eq!(a.len(), 2);
//! assert!(matches!(a.column("age").unwrap().values, AttrValues::Categorical { .. }));
//! assert!(matches!(a.column("score").unwrap().values, AttrValues::Numeric(_)));
//! assert!(matches!(a.column("joined").unwrap().values, AttrValues::Date(_)));
//! # Ok::<(), winback_core::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use crate::date::{DateParser, Day};
use crate::error::{Error, Result};
use crate::hash::FxHashMap;

/// The values of one attribute column, one per attribute row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AttrValues {
    /// Numbers; `NaN` is missing.
    Numeric(Vec<f64>),
    /// Dates as days; `None` is missing.
    Date(Vec<Option<Day>>),
    /// Category levels (sorted) and one code per row; `u32::MAX` is missing.
    Categorical {
        /// Distinct levels, sorted.
        levels: Vec<String>,
        /// Index into `levels` per row.
        codes: Vec<u32>,
    },
}

/// One attribute column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrColumn {
    /// Column name.
    pub name: String,
    /// Values.
    pub values: AttrValues,
}

/// What loading the attribute table did with its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributesReport {
    /// Data rows read.
    pub rows_read: u64,
    /// Rows with an empty key (skipped).
    pub missing_key: u64,
    /// Rows whose key repeats an earlier row (skipped; the first row is kept).
    pub duplicate_keys: u64,
    /// Rows whose customer has no purchase in the history (kept, unused).
    pub unmatched: u64,
    /// Rows with another number of fields than the header (skipped).
    #[serde(default)]
    pub malformed: u64,
    /// Columns read as numbers or dates although a few of their values are not
    /// (those values are missing values), with how many and one of them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unread: Vec<UnreadValues>,
}

impl AttributesReport {
    /// Strict mode's verdict on the table: an error naming `source` when any row
    /// was skipped (no key, a repeated key, a wrong field count) or any value of a
    /// number or date column could not be read; `Ok` when every row and value was used.
    pub fn strict(&self, source: &str) -> Result<()> {
        let mut what = Vec::new();
        for (n, why) in [(self.missing_key, "without a key"), (self.duplicate_keys, "repeating an earlier key"), (self.malformed, "with another field count than the header")] {
            if n > 0 {
                what.push(format!("{n} rows {why}"));
            }
        }
        for u in &self.unread {
            what.push(format!("{} values of `{}` that are not a {} (such as {:?})", u.count, u.column, u.kind, u.example));
        }
        if what.is_empty() {
            return Ok(());
        }
        Err(Error::InvalidAttribute { column: "(table)".into(), message: format!("{source}: strict mode refuses {}", what.join(", ")) })
    }
}

/// Values of a number or date column that are not numbers or dates: read as missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadValues {
    /// The column.
    pub column: String,
    /// `"number"` or `"date"`: what the column's other values are.
    pub kind: String,
    /// Values that are not.
    pub count: u64,
    /// The first of them.
    pub example: String,
}

/// A text column is read as numbers (or dates) when at least this share of its
/// non-empty values are: a stray "unknown" in an age column is a missing age,
/// counted in the report, and does not turn the ages into categories.
pub const MOSTLY: f64 = 0.95;

/// A customer attribute table (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub struct Attributes {
    ids: Vec<String>,
    columns: Vec<AttrColumn>,
    /// Per history customer: its attribute row, or `u32::MAX`.
    row_of: Vec<u32>,
    report: AttributesReport,
}

impl Attributes {
    /// Builds a table from Rust values: one id per row and columns of the same length.
    ///
    /// Duplicate or empty ids are counted in the report and their rows ignored.
    pub fn from_columns(ids: Vec<String>, columns: Vec<AttrColumn>) -> Result<Self> {
        let bad = |c: &AttrColumn, message: String| Err(Error::InvalidAttribute { column: c.name.clone(), message });
        let mut names = std::collections::HashSet::new();
        for c in &columns {
            if c.name.trim().is_empty() {
                return bad(c, "a column needs a name".into());
            }
            if !names.insert(c.name.as_str()) {
                return bad(c, "the name appears twice".into());
            }
            if let AttrValues::Categorical { levels, codes } = &c.values {
                if !levels.windows(2).all(|w| w[0] < w[1]) {
                    return bad(c, "levels must be distinct and sorted".into());
                }
                if let Some(k) = codes.iter().find(|&&k| k != u32::MAX && k as usize >= levels.len()) {
                    return bad(c, format!("code {k} is not a level (it has {}; u32::MAX is missing)", levels.len()));
                }
            }
        }
        for c in &columns {
            let n = match &c.values {
                AttrValues::Numeric(v) => v.len(),
                AttrValues::Date(v) => v.len(),
                AttrValues::Categorical { codes, .. } => codes.len(),
            };
            if n != ids.len() {
                return Err(Error::AttributeLength { column: c.name.clone(), values: n, ids: ids.len() });
            }
        }
        let mut report = AttributesReport { rows_read: ids.len() as u64, ..Default::default() };
        // Empty and repeated keys are counted and their rows dropped (the first row of a key is kept).
        let mut seen: FxHashMap<String, ()> = FxHashMap::default();
        let keep: Vec<bool> = ids
            .iter()
            .map(|id| {
                let id = id.trim();
                if id.is_empty() {
                    report.missing_key += 1;
                    false
                } else if seen.insert(id.to_string(), ()).is_some() {
                    report.duplicate_keys += 1;
                    false
                } else {
                    true
                }
            })
            .collect();
        fn pick<T: Clone>(v: Vec<T>, keep: &[bool]) -> Vec<T> {
            v.into_iter().zip(keep).filter(|(_, &k)| k).map(|(x, _)| x).collect()
        }
        let ids = pick(ids, &keep).into_iter().map(|s| s.trim().to_string()).collect();
        let columns = columns
            .into_iter()
            .map(|c| AttrColumn {
                name: c.name,
                values: match c.values {
                    AttrValues::Numeric(v) => AttrValues::Numeric(pick(v, &keep)),
                    AttrValues::Date(v) => AttrValues::Date(pick(v, &keep)),
                    AttrValues::Categorical { levels, codes } => AttrValues::Categorical { levels, codes: pick(codes, &keep) },
                },
            })
            .collect();
        Ok(Attributes { ids, columns, row_of: Vec::new(), report })
    }

    /// A table from its parts (the readers' constructor).
    pub(crate) fn from_parts(ids: Vec<String>, columns: Vec<AttrColumn>, report: AttributesReport) -> Self {
        Attributes { ids, columns, row_of: Vec::new(), report }
    }

    /// The same rows (ids and report) with other columns, one value per row each.
    pub fn with_columns(&self, columns: Vec<AttrColumn>) -> Result<Self> {
        let report = self.report.clone();
        let mut t = Attributes::from_columns(self.ids.clone(), columns)?;
        t.report = report;
        Ok(t)
    }

    /// The key of each kept row, in table order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of attribute rows kept.
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    /// The columns (key excluded).
    pub fn columns(&self) -> &[AttrColumn] {
        &self.columns
    }
    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&AttrColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
    /// The load report.
    pub fn report(&self) -> &AttributesReport {
        &self.report
    }

    /// Links rows to the customers of a history (by id).
    pub(crate) fn link(&mut self, customer_ids: &[String]) {
        self.row_of = vec![u32::MAX; customer_ids.len()];
        let mut unmatched = 0;
        for (row, id) in self.ids.iter().enumerate() {
            match customer_ids.binary_search(id) {
                Ok(c) => self.row_of[c] = row as u32,
                Err(_) => unmatched += 1,
            }
        }
        self.report.unmatched = unmatched;
    }

    /// The attribute row of history customer `c`.
    #[inline]
    pub(crate) fn row(&self, c: usize) -> Option<usize> {
        self.row_of.get(c).copied().filter(|&r| r != u32::MAX).map(|r| r as usize)
    }
}

/// Types a text column: numbers, dates, else categories (see [`MOSTLY`]); the
/// values a number or date column could not read, if any.
pub(crate) fn type_column(name: &str, vals: &[String], dates: &DateParser) -> (AttrValues, Option<UnreadValues>) {
    let non_empty = || vals.iter().filter(|v| !v.is_empty());
    let total = non_empty().count();
    let number = |v: &String| v.parse::<f64>().ok().filter(|x| x.is_finite());
    let unread = |kind: &str, bad: Vec<&String>| {
        bad.first().map(|first| UnreadValues { column: name.to_string(), kind: kind.to_string(), count: bad.len() as u64, example: (*first).clone() })
    };
    let mostly = |bad: usize| total > 0 && (total - bad) as f64 >= MOSTLY * total as f64;
    let not_dates = || -> Vec<&String> { non_empty().filter(|v| dates.parse_day(v).is_none()).collect() };
    // Compact dates (20240315) also read as numbers; a column of them is a date
    // column, or its values on and after a cutoff would enter the features.
    let compact = |v: &String| v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit());
    if total > 0 && non_empty().all(compact) {
        let bad = not_dates();
        if mostly(bad.len()) {
            return (AttrValues::Date(vals.iter().map(|v| dates.parse_day(v)).collect()), unread("date", bad));
        }
    }
    let not_numbers: Vec<&String> = non_empty().filter(|v| number(v).is_none()).collect();
    if total == 0 || mostly(not_numbers.len()) {
        return (AttrValues::Numeric(vals.iter().map(|v| number(v).unwrap_or(f64::NAN)).collect()), unread("number", not_numbers));
    }
    let not_dates = not_dates();
    if mostly(not_dates.len()) {
        return (AttrValues::Date(vals.iter().map(|v| dates.parse_day(v)).collect()), unread("date", not_dates));
    }
    let mut levels: Vec<String> = non_empty().cloned().collect();
    levels.sort_unstable();
    levels.dedup();
    let codes = vals
        .iter()
        .map(|v| if v.is_empty() { u32::MAX } else { levels.binary_search(v).map_or(u32::MAX, |i| i as u32) })
        .collect();
    (AttrValues::Categorical { levels, codes }, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::CsvOptions;

    #[test]
    fn compact_dates_are_dates_not_numbers() {
        let dates = DateParser::new(crate::date::DateFormat::Auto, &crate::date::TimeSettings::default()).unwrap();
        let v = |xs: &[&str]| xs.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (a, _) = type_column("last_order", &v(&["20240315", "", "20231201"]), &dates);
        assert!(matches!(a, AttrValues::Date(ref d) if d[0] == Some(crate::date::day_from_ymd(2024, 3, 15)) && d[1].is_none()), "{a:?}");
        // Eight digits that are not dates stay numbers (ids, amounts in cents).
        let (a, _) = type_column("code", &v(&["12345678", "99999999", "20240315"]), &dates);
        assert!(matches!(a, AttrValues::Numeric(_)), "{a:?}");
        let (a, _) = type_column("age", &v(&["34", "20240315"]), &dates);
        assert!(matches!(a, AttrValues::Numeric(_)), "{a:?}");
    }

    #[test]
    fn duplicate_and_missing_keys_are_counted() {
        let data = "id,region\n1,North\n1,South\n,East\n2,\n";
        let a = Attributes::read_csv_from(data.as_bytes(), "a.csv", "id", &CsvOptions::default()).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a.report().duplicate_keys, 1);
        assert_eq!(a.report().missing_key, 1);
        match &a.column("region").unwrap().values {
            AttrValues::Categorical { levels, codes } => {
                assert_eq!(levels, &["North"]);
                assert_eq!(codes, &[0, u32::MAX]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_stray_value_is_a_counted_missing_number_and_a_short_row_is_counted() {
        // One "unknown" among 40 ages turned the ages into 40 categories, silently;
        // a row with a field missing was padded with an empty value.
        let mut data = String::from("id,age,segment\n");
        for i in 0..40 {
            data += &format!("c{i},{},{}\n", if i == 7 { "unknown".to_string() } else { (20 + i).to_string() }, if i % 2 == 0 { "a" } else { "b" });
        }
        data += "short,25\n";
        let a = Attributes::read_csv_from(data.as_bytes(), "a.csv", "id", &CsvOptions::default()).unwrap();
        assert_eq!((a.report().rows_read, a.report().malformed, a.len()), (41, 1, 40));
        assert_eq!(a.report().unread, [UnreadValues { column: "age".into(), kind: "number".into(), count: 1, example: "unknown".into() }]);
        match &a.column("age").unwrap().values {
            AttrValues::Numeric(v) => {
                assert_eq!((v[0], v[39]), (20.0, 59.0));
                assert!(v[7].is_nan());
            }
            other => panic!("{other:?}"),
        }
        // Below 95% numbers, a column stays categorical (store codes with letters).
        let codes = "id,store\n1,101\n2,102\n3,A7\n";
        let a = Attributes::read_csv_from(codes.as_bytes(), "a.csv", "id", &CsvOptions::default()).unwrap();
        assert!(matches!(&a.column("store").unwrap().values, AttrValues::Categorical { levels, .. } if levels.len() == 3));
        assert!(a.report().unread.is_empty());
    }

    #[test]
    fn columns_that_cannot_be_used_are_refused() {
        // A code outside the levels made the fit panic; repeated names gave a model
        // that saved but could not be read back.
        let ids = vec!["a".to_string(), "b".to_string()];
        let cat = |name: &str, levels: &[&str], codes: Vec<u32>| AttrColumn {
            name: name.into(),
            values: AttrValues::Categorical { levels: levels.iter().map(|s| s.to_string()).collect(), codes },
        };
        let e = Attributes::from_columns(ids.clone(), vec![cat("seg", &["x"], vec![0, 1])]).unwrap_err();
        assert_eq!(e.to_string(), "attribute column `seg`: code 1 is not a level (it has 1; u32::MAX is missing)");
        let e = Attributes::from_columns(ids.clone(), vec![cat("seg", &["b", "a"], vec![0, 1])]).unwrap_err();
        assert!(e.to_string().ends_with("levels must be distinct and sorted"), "{e}");
        let num = |name: &str| AttrColumn { name: name.into(), values: AttrValues::Numeric(vec![1.0, 2.0]) };
        let e = Attributes::from_columns(ids.clone(), vec![num("score"), num("score")]).unwrap_err();
        assert_eq!(e.to_string(), "attribute column `score`: the name appears twice");
        assert!(Attributes::from_columns(ids.clone(), vec![num(" ")]).is_err());
        assert!(Attributes::from_columns(ids, vec![cat("seg", &["a", "b"], vec![1, u32::MAX]), num("score")]).is_ok());
    }

    #[test]
    fn missing_key_column_is_an_error() {
        let e = Attributes::read_csv_from("a,b\n1,2\n".as_bytes(), "a.csv", "id", &CsvOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "a.csv: column `id` not found (available: a, b)");
    }
}
