//! What the readers share: which column holds what ([`ColumnMap`]), the CSV
//! dialect, and the small parsers every reader uses. No reader lives here, so
//! the Arrow reader does not depend on the CSV one.

use serde::{Deserialize, Serialize};

use crate::date::{DateFormat, TimeSettings, Zone};
use crate::history::{ColumnNames, Present};

/// Which column holds what. Only `customer`, `date` and `amount` are required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMap {
    /// Customer id column.
    pub customer: String,
    /// Date or timestamp column.
    pub date: String,
    /// Line value column (negative = return).
    pub amount: String,
    /// Quantity column.
    pub quantity: Option<String>,
    /// Order (invoice, basket) id column: lines of one order make one purchase.
    pub order: Option<String>,
    /// Sales channel column.
    pub channel: Option<String>,
    /// Product / category / department column.
    pub category: Option<String>,
    /// Store / region / country column.
    pub region: Option<String>,
    /// Cancellation flag column (`true`/`1`/`yes`/`y`/`t`, any case, means cancelled;
    /// `false`/`0`/`no`/`n`/`f` or empty means not; another word is a bad flag).
    pub cancelled: Option<String>,
    /// How dates are written.
    pub date_format: DateFormat,
    /// Time zones for turning timestamps into days.
    pub time: TimeSettings,
}

impl ColumnMap {
    /// A map with the three required columns.
    pub fn new(customer: impl Into<String>, date: impl Into<String>, amount: impl Into<String>) -> Self {
        ColumnMap {
            customer: customer.into(),
            date: date.into(),
            amount: amount.into(),
            quantity: None,
            order: None,
            channel: None,
            category: None,
            region: None,
            cancelled: None,
            date_format: DateFormat::Auto,
            time: TimeSettings::default(),
        }
    }
    /// Maps the quantity column.
    pub fn quantity(mut self, c: impl Into<String>) -> Self {
        self.quantity = Some(c.into());
        self
    }
    /// Maps the order id column.
    pub fn order(mut self, c: impl Into<String>) -> Self {
        self.order = Some(c.into());
        self
    }
    /// Maps the channel column.
    pub fn channel(mut self, c: impl Into<String>) -> Self {
        self.channel = Some(c.into());
        self
    }
    /// Maps the category column.
    pub fn category(mut self, c: impl Into<String>) -> Self {
        self.category = Some(c.into());
        self
    }
    /// Maps the store / region column.
    pub fn region(mut self, c: impl Into<String>) -> Self {
        self.region = Some(c.into());
        self
    }
    /// Takes purchase days in this time zone (`UTC` or an IANA name); values
    /// without an offset are read as wall-clock times of that zone. An unknown
    /// name is refused when reading starts.
    pub fn time_zone(mut self, zone: &str) -> Self {
        let zone = if zone.eq_ignore_ascii_case("utc") { Zone::Utc } else { Zone::Named(zone.to_string()) };
        self.time = TimeSettings { day_zone: zone, naive_zone: Zone::AsWritten };
        self
    }

    /// Maps the cancellation flag column.
    pub fn cancelled(mut self, c: impl Into<String>) -> Self {
        self.cancelled = Some(c.into());
        self
    }
    /// Sets the date format.
    pub fn date_format(mut self, f: DateFormat) -> Self {
        self.date_format = f;
        self
    }
    /// Sets the time zones.
    pub fn time(mut self, t: TimeSettings) -> Self {
        self.time = t;
        self
    }

    pub(crate) fn present(&self) -> Present {
        Present {
            quantity: self.quantity.is_some(),
            order: self.order.is_some(),
            channel: self.channel.is_some(),
            category: self.category.is_some(),
            region: self.region.is_some(),
        }
    }

    pub(crate) fn names(&self) -> ColumnNames {
        ColumnNames {
            customer: self.customer.clone(),
            date: self.date.clone(),
            amount: self.amount.clone(),
            quantity: self.quantity.clone().unwrap_or_default(),
            cancelled: self.cancelled.clone().unwrap_or_default(),
        }
    }
}

/// CSV dialect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CsvOptions {
    /// Field delimiter (default `,`).
    pub delimiter: u8,
    /// Whether the first line is a header (default true). Without a header,
    /// columns are named `1`, `2`, ... (1-based positions).
    pub has_header: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions { delimiter: b',', has_header: true }
    }
}

/// At most 200 characters of a value, for messages (a header can be megabytes).
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= 200 {
        return s.to_string();
    }
    let mut t: String = s.chars().take(200).collect();
    t.push('…');
    t
}

/// Parses a cancellation flag: `true`/`1`/`yes`/`y`/`t` is set, `false`/`0`/`no`/`n`/`f`
/// or empty is not (any case); any other word is `None` (counted, or refused in strict mode).
///
/// ```
/// use winback_core::read::parse_flag;
/// assert_eq!((parse_flag("Yes"), parse_flag("0"), parse_flag(""), parse_flag("maybe")), (Some(true), Some(false), Some(false), None));
/// ```
pub fn parse_flag(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" | "t" => Some(true),
        "false" | "0" | "no" | "n" | "f" | "" => Some(false),
        _ => None,
    }
}

