//! Columnar purchase histories, and the builder every reader feeds.
//!
//! A [`History`] holds, per customer, the customer's *events* sorted by day. An
//! event is one purchase:
//!
//! * when an order id is mapped, the lines of one order (of one customer) on one
//!   day make one event (a later line under the same order id — a return, say —
//!   is an event of its own day, so nothing after a cutoff joins a purchase
//!   before it; a blank order id counts as none);
//! * otherwise all lines of one customer on one day make one event.
//!
//! Lines with a negative amount, or with the cancellation flag set, are
//! **returns**: their value is kept as the event's returned value and netted
//! against spend. An event with no positive line (a cancellation invoice, say) is
//! a return-only event: it is not a purchase and does not count as a visit, but
//! its value is netted.
//!
//! Customer ids are interned once and sorted, as are the channel, category and
//! region vocabularies, so a history does not depend on the order of the input
//! rows.

use rayon::prelude::*;

use crate::attributes::Attributes;
use crate::date::Day;
use crate::error::Result;
use crate::report::LoadReport;

/// Code used for "no value" in the small-vocabulary columns.
pub const NONE_CODE: u16 = u16::MAX;

/// What a load does with questionable rows.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LoadOptions {
    /// Turn every row-dropping reason into an error naming file, line, column and value.
    /// (Returns are never an error: they are data.)
    pub strict: bool,
    /// The data's end date: rows on a later day are skipped ([`SkipReason::AfterEnd`]).
    pub end_day: Option<Day>,
    /// The cutoff the history is loaded for, when only earlier days are needed
    /// (features, a lapse threshold or a BG/NBD fit at this cutoff use nothing
    /// dated on or after it): rows dated on or after it are counted as
    /// [`SkipReason::AfterCutoff`] before their other values are checked, and
    /// not stored. In a Parquet file, a row group whose date column's statistics
    /// (a `DATE` column without nulls) put every row on or after it is counted
    /// without being decoded, as a query engine skips it for `WHERE date <
    /// cutoff`: logs in time order (as systems write them) end with such row
    /// groups when the cutoff lies inside the data. Ignored in strict mode, which
    /// reads and checks every row.
    pub only_before: Option<Day>,
    /// Skip lines identical to an earlier one in every mapped column, as read
    /// (same customer, day — the time of day is not kept —, order id, amount,
    /// quantity, channel, category, region; text trimmed, a cancelled 5 equal to a
    /// -5) ([`SkipReason::Duplicate`]), as after a file was loaded twice. Off by
    /// default: a log of lines often holds two lines that differ only in a column
    /// that is not mapped (two products with the same price and quantity on one
    /// order; the same item scanned twice), and dropping them loses spend. Either
    /// way they are counted ([`LoadReport::identical_lines`] when kept).
    pub drop_duplicates: bool,
    /// Skip lines whose amount is exactly zero ([`SkipReason::ZeroAmount`]).
    /// By default (`false`) they are purchases with no spend: a free item, a
    /// promotion or a fully discounted order is still a visit. When skipped,
    /// customers left with no purchase at all are counted and named in the
    /// load report ([`LoadReport::zero_amount_only`]), never silently missing.
    pub skip_zero_amounts: bool,
}

impl LoadOptions {
    /// [`LoadOptions::only_before`] as a load applies it: `None` in strict mode.
    pub(crate) fn needed_before(&self) -> Option<Day> {
        self.only_before.filter(|_| !self.strict)
    }
}

/// One input line as Rust values (see [`History::from_lines`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Line<'a> {
    /// Customer id (must not be empty).
    pub customer: &'a str,
    /// Day of the purchase.
    pub day: Day,
    /// Value of the line; negative for a return.
    pub amount: f64,
    /// Quantity, if known.
    pub quantity: Option<f64>,
    /// Order id: lines of one order make one purchase.
    pub order: Option<&'a str>,
    /// Sales channel (online, store, app...).
    pub channel: Option<&'a str>,
    /// Product category or department.
    pub category: Option<&'a str>,
    /// Store or region.
    pub region: Option<&'a str>,
    /// Cancellation flag: the line is a return whatever the sign of its amount.
    pub cancelled: bool,
}

/// Which optional columns a source has (mapped), so features know what exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Present {
    /// Quantity column mapped.
    pub quantity: bool,
    /// Order id column mapped.
    pub order: bool,
    /// Channel column mapped.
    pub channel: bool,
    /// Category column mapped.
    pub category: bool,
    /// Store/region column mapped.
    pub region: bool,
}

/// A value as it arrives from a reader: parsed, or the raw text that failed.
pub(crate) type Parsed<'a, T> = std::result::Result<T, &'a str>;

/// One row handed to the builder by a reader, with the raw text kept for errors.
pub(crate) struct RawRow<'a> {
    pub customer: Id<'a>,
    pub day: Parsed<'a, Day>,
    pub amount: Parsed<'a, f64>,
    pub quantity: Option<Parsed<'a, f64>>,
    /// The order id, as text or as a value of an integer column (the same order
    /// as its decimal text).
    pub order: Option<Id<'a>>,
    pub channel: Name<'a>,
    pub category: Name<'a>,
    pub region: Name<'a>,
    pub cancelled: Parsed<'a, bool>,
}

/// A customer or order id as a reader hands it over.
#[derive(Clone, Copy)]
pub(crate) enum Id<'a> {
    /// As written (the builder trims it; empty: no id).
    Text(&'a str),
    /// A value of an integer column: the same customer as its decimal text
    /// (`-12`, `0`), whose key the builder makes from the digits without
    /// writing the text.
    #[cfg_attr(not(feature = "arrow"), allow(dead_code))]
    Int(i64),
}

impl<'a> From<&'a str> for Id<'a> {
    fn from(s: &'a str) -> Self {
        Id::Text(s)
    }
}

/// A channel, category or region as a reader hands it over.
#[derive(Clone, Copy)]
pub(crate) enum Name<'a> {
    /// The text (`None`: no value).
    Text(Option<&'a str>),
    /// Entry `k` of the column's dictionary in the reader's current batch, with
    /// its text: the builder interns each entry once per batch
    /// ([`HistoryBuilder::start_dictionaries`]), on its first use by a kept row.
    #[cfg_attr(not(feature = "arrow"), allow(dead_code))]
    Entry(u32, &'a str),
}

impl<'a> From<Option<&'a str>> for Name<'a> {
    fn from(text: Option<&'a str>) -> Self {
        Name::Text(text)
    }
}

/// Column names used in error messages.
#[derive(Debug, Clone)]
pub(crate) struct ColumnNames {
    pub customer: String,
    pub date: String,
    pub amount: String,
    pub quantity: String,
    pub cancelled: String,
}

impl Default for ColumnNames {
    fn default() -> Self {
        ColumnNames { customer: "customer".into(), date: "day".into(), amount: "amount".into(), quantity: "quantity".into(), cancelled: "cancelled".into() }
    }
}

/// The largest amount a line may have: sums of billions of lines stay finite.
pub const MAX_AMOUNT: f64 = 1e15;

mod build;
pub(crate) use build::HistoryBuilder;

/// A purchase history in columnar form (see the module docs).
///
/// `Send + Sync`; cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct History {
    pub(crate) source: String,
    pub(crate) customer_ids: Vec<String>,
    /// Per customer (id order), where its events are: a chunk and a range in it.
    pub(crate) spans: Vec<Span>,
    /// The events, in chunks as they were grouped (one per partition of the
    /// load): each customer's events are together in one chunk, in day order.
    /// The chunks are kept as grouped rather than copied into customer-id
    /// order, which would hold the events twice while copying.
    pub(crate) chunks: Vec<Chunk>,
    /// Events in all chunks.
    pub(crate) num_events: usize,
    pub(crate) channels: Vec<String>,
    pub(crate) categories: Vec<String>,
    pub(crate) regions: Vec<String>,
    pub(crate) present: Present,
    pub(crate) first_day: Day,
    pub(crate) last_day: Day,
    pub(crate) attributes: Option<Attributes>,
}

/// Where one customer's events are: `start..end` of chunk `chunk`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    /// Index in [`History::chunks`].
    pub(crate) chunk: u32,
    /// The customer's first event in the chunk.
    pub(crate) start: u32,
    /// One past its last event.
    pub(crate) end: u32,
}

/// Events by column, each customer's together and in day order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Chunk {
    /// The event's day.
    pub(crate) day: Vec<Day>,
    /// Value of its purchased lines (amounts of +0.0 or more).
    pub(crate) gross: Vec<f64>,
    /// Value of its returned lines, stored positive.
    pub(crate) returned: Vec<f64>,
    /// Sum of the known quantities of its purchased lines (0 when none is known).
    pub(crate) qty: Vec<f64>,
    /// Channel of its first purchased line (lines in content order; for a
    /// return-only event, of its first line with a channel), or [`NONE_CODE`].
    pub(crate) channel: Vec<u16>,
    /// Region of the line the channel was taken from, or [`NONE_CODE`].
    pub(crate) region: Vec<u16>,
    /// Whether it has a purchased line.
    pub(crate) is_purchase: Vec<bool>,
    /// Start of each event's categories in `cat_code`, plus the end: one more
    /// entry than events.
    pub(crate) cat_off: Vec<u32>,
    /// Category codes of each event's purchased lines, each once per event, in code order.
    pub(crate) cat_code: Vec<u16>,
    /// The event's spend in that category (its purchased lines' amounts).
    pub(crate) cat_amount: Vec<f64>,
}

/// One customer's events, in day order, by column: index `e` is its `e`-th event.
#[derive(Clone, Copy)]
pub(crate) struct CustomerEvents<'a> {
    /// Days, ascending.
    pub(crate) day: &'a [Day],
    /// See [`Chunk::gross`].
    pub(crate) gross: &'a [f64],
    /// See [`Chunk::returned`].
    pub(crate) returned: &'a [f64],
    /// See [`Chunk::qty`].
    pub(crate) qty: &'a [f64],
    /// See [`Chunk::channel`].
    pub(crate) channel: &'a [u16],
    /// See [`Chunk::region`].
    pub(crate) region: &'a [u16],
    /// See [`Chunk::is_purchase`].
    pub(crate) is_purchase: &'a [bool],
    /// One entry per event plus the end, into the chunk's category columns.
    cat_off: &'a [u32],
    cat_code: &'a [u16],
    cat_amount: &'a [f64],
}

impl<'a> CustomerEvents<'a> {
    /// Number of events.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.day.len()
    }

    /// The number of events before `cutoff` (strictly): they are `0..before(cutoff)`.
    #[inline]
    pub(crate) fn before(&self, cutoff: Day) -> usize {
        self.day.partition_point(|&d| d < cutoff)
    }

    /// The last purchase day before `cutoff`, if any.
    #[inline]
    pub(crate) fn last_purchase_before(&self, cutoff: Day) -> Option<Day> {
        (0..self.before(cutoff)).rev().find(|&e| self.is_purchase[e]).map(|e| self.day[e])
    }

    /// Category spend `(category code, value)` of event `e`.
    #[inline]
    pub(crate) fn categories(&self, e: usize) -> impl Iterator<Item = (u16, f64)> + 'a {
        let (a, b) = (self.cat_off[e] as usize, self.cat_off[e + 1] as usize);
        self.cat_code[a..b].iter().copied().zip(self.cat_amount[a..b].iter().copied())
    }
}

/// One event (purchase or return-only event) of a customer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Its day.
    pub day: Day,
    /// Value of its purchased lines.
    pub gross: f64,
    /// Value of its returned lines (positive).
    pub returned: f64,
    /// Sum of the quantities of its purchased lines (0 when unknown).
    pub quantity: f64,
    /// Channel code (index into [`History::channels`]) or [`NONE_CODE`].
    pub channel: u16,
    /// Region code (index into [`History::regions`]) or [`NONE_CODE`].
    pub region: u16,
    /// Whether it has at least one purchased line.
    pub is_purchase: bool,
}

/// An id written as a plain integer (no plus sign, no leading zero, no spaces;
/// `-5` is one), as that integer: the one rule by which file ids leave as integers.
///
/// ```
/// use winback_core::history::plain_integer;
/// assert_eq!(plain_integer("-5"), Some(-5));
/// assert_eq!(plain_integer("0"), Some(0));
/// for not in ["007", "+5", "-0", " 5", "5.0", "99999999999999999999", ""] {
///     assert_eq!(plain_integer(not), None);
/// }
/// ```
pub fn plain_integer(id: &str) -> Option<i64> {
    let v = id.parse::<i64>().ok()?;
    // Parsed, the text is an optional sign and at least one digit; it is the
    // integer's own text (what `v.to_string()` writes) unless the sign is `+`,
    // the digits start with a zero, or it is `-0`. Checked on the bytes: the
    // text formatted and compared was most of this function's time, one heap
    // string per id (3.6M ids at 100M lines, on one thread).
    let b = id.as_bytes();
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    let own = b.first() != Some(&b'+') && (digits.first() != Some(&b'0') || b == b"0");
    own.then_some(v)
}

impl History {
    /// Builds a history from Rust values. Rows are validated exactly as a file's
    /// would be; the report's line numbers are 1-based positions in the iterator.
    ///
    /// ```
    /// use winback_core::{History, Line, LoadOptions, date::day_from_ymd};
    /// let d = day_from_ymd(2024, 1, 10);
    /// let lines = [
    ///     Line { customer: "a", day: d, amount: 10.0, order: Some("o1"), ..Default::default() },
    ///     Line { customer: "a", day: d, amount: 5.0, order: Some("o1"), ..Default::default() },
    ///     Line { customer: "b", day: d + 3, amount: -4.0, ..Default::default() },
    /// ];
    /// let (h, report) = History::from_lines(lines, true, &LoadOptions::default())?;
    /// assert_eq!(h.num_customers(), 2);
    /// assert_eq!(report.purchases, 1); // one order; b's line is a return, not a purchase
    /// assert_eq!(report.returns, 1);
    /// # Ok::<(), winback_core::Error>(())
    /// ```
    pub fn from_lines<'a>(
        lines: impl IntoIterator<Item = Line<'a>>,
        has_orders: bool,
        options: &LoadOptions,
    ) -> Result<(History, LoadReport)> {
        let present = Present { quantity: true, order: has_orders, channel: true, category: true, region: true };
        let mut b = HistoryBuilder::new("<values>", ColumnNames::default(), present, options.clone()).number_rows();
        let mut seen = Present::default();
        for (i, l) in lines.into_iter().enumerate() {
            seen.channel |= l.channel.is_some();
            seen.category |= l.category.is_some();
            seen.region |= l.region.is_some();
            seen.quantity |= l.quantity.is_some();
            b.push(
                i as u64 + 1,
                RawRow {
                    customer: l.customer.into(),
                    day: if crate::date::in_file_range(i64::from(l.day)) { Ok(l.day) } else { Err("a day outside years 1 to 9999") },
                    amount: Ok(l.amount),
                    quantity: l.quantity.map(Ok),
                    order: l.order.map(Id::Text),
                    channel: l.channel.into(),
                    category: l.category.into(),
                    region: l.region.into(),
                    cancelled: Ok(l.cancelled),
                },
            )?;
        }
        b.present = Present { order: has_orders, ..seen };
        b.finish()
    }

    /// Where the history came from.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// Number of customers.
    pub fn num_customers(&self) -> usize {
        self.customer_ids.len()
    }
    /// Number of events (purchases and return-only events).
    pub fn num_events(&self) -> usize {
        self.num_events
    }
    /// Customer ids, sorted; a customer's index is its position here.
    pub fn customer_ids(&self) -> &[String] {
        &self.customer_ids
    }
    /// Whether every customer id is written as a plain integer (no plus sign, no
    /// leading zero; `-5` is one): the ids of a file can then leave as integers, as
    /// an integer column's would. Decided on the whole history, so every table
    /// written from it has the same id type.
    pub fn ids_are_integers(&self) -> bool {
        self.customer_ids.par_iter().all(|id| plain_integer(id).is_some())
    }
    /// The index of a customer id.
    pub fn customer_index(&self, id: &str) -> Option<usize> {
        self.customer_ids.binary_search_by(|c| c.as_str().cmp(id)).ok()
    }
    /// Channel names (sorted); event channel codes index this.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }
    /// Category names (sorted).
    pub fn categories(&self) -> &[String] {
        &self.categories
    }
    /// Region / store names (sorted).
    pub fn regions(&self) -> &[String] {
        &self.regions
    }
    /// Which optional columns the source had.
    pub fn present(&self) -> Present {
        self.present
    }
    /// The first and last event day in the data.
    pub fn day_range(&self) -> (Day, Day) {
        (self.first_day, self.last_day)
    }
    /// The customer attributes, if attached.
    pub fn attributes(&self) -> Option<&Attributes> {
        self.attributes.as_ref()
    }
    /// Attaches a customer attribute table (rows for unknown customers are counted
    /// in the attribute table's report as `unmatched`).
    pub fn with_attributes(mut self, mut attributes: Attributes) -> History {
        attributes.link(&self.customer_ids);
        self.attributes = Some(attributes);
        self
    }

    /// The events of customer `c`, by column.
    #[inline]
    pub(crate) fn customer(&self, c: usize) -> CustomerEvents<'_> {
        self.events_at(self.spans[c])
    }

    /// The events at `span` (a customer's, as [`History::chunk_order`] gives it), by column.
    #[inline]
    pub(crate) fn events_at(&self, span: Span) -> CustomerEvents<'_> {
        let Span { chunk, start, end } = span;
        let k = &self.chunks[chunk as usize];
        let (a, b) = (start as usize, end as usize);
        CustomerEvents {
            day: &k.day[a..b],
            gross: &k.gross[a..b],
            returned: &k.returned[a..b],
            qty: &k.qty[a..b],
            channel: &k.channel[a..b],
            region: &k.region[a..b],
            is_purchase: &k.is_purchase[a..b],
            cat_off: &k.cat_off[a..=b],
            cat_code: &k.cat_code,
            cat_amount: &k.cat_amount,
        }
    }

    /// `customers` ordered by where their events lie, each with its [`Span`]:
    /// chunk by chunk, each chunk's from its start. A pass over many customers in
    /// this order reads each chunk's columns front to back, instead of jumping to
    /// another chunk (a cold line of each column) at every customer as id order
    /// does; and it reads the spans here, in the order given, not `spans[c]` in
    /// chunk order, a cold line each (the census's pass at 10M lines waited on
    /// that load in ~40% of its samples). Stable (a counting sort by chunk):
    /// customers of one chunk keep their order, which for customers in id order
    /// is the order of their events in the chunk. Customer indices are below
    /// `u32::MAX` (the loader refuses more), so 16 bytes each.
    pub(crate) fn chunk_order(&self, customers: impl ExactSizeIterator<Item = usize> + Clone) -> Vec<(u32, Span)> {
        let mut start = vec![0usize; self.chunks.len() + 1];
        for c in customers.clone() {
            start[self.spans[c].chunk as usize + 1] += 1;
        }
        for k in 0..self.chunks.len() {
            start[k + 1] += start[k];
        }
        let mut out = vec![(0u32, Span { chunk: 0, start: 0, end: 0 }); customers.len()];
        for c in customers {
            let span = self.spans[c];
            let k = span.chunk as usize;
            out[start[k]] = (c as u32, span);
            start[k] += 1;
        }
        out
    }

    /// The events of customer `c`, in day order.
    pub fn events(&self, c: usize) -> impl ExactSizeIterator<Item = Event> + '_ {
        let ev = self.customer(c);
        (0..ev.len()).map(move |e| Event {
            day: ev.day[e],
            gross: ev.gross[e],
            returned: ev.returned[e],
            quantity: ev.qty[e],
            channel: ev.channel[e],
            region: ev.region[e],
            is_purchase: ev.is_purchase[e],
        })
    }

    /// The last purchase day of customer `c` before `cutoff`, if any.
    #[inline]
    pub fn last_purchase_before(&self, c: usize, cutoff: Day) -> Option<Day> {
        self.customer(c).last_purchase_before(cutoff)
    }

    /// The customers with a purchase before `cutoff`, in index order (id order):
    /// those whose [`History::last_purchase_before`] is a day. Read chunk by chunk
    /// on every core ([`History::chunk_order`]), then sorted: in index order each
    /// customer's events were a cold line of another chunk (~20 ms of wall time at
    /// 357,143 customers).
    pub fn with_purchase_before(&self, cutoff: Day) -> Vec<usize> {
        let mut found: Vec<u32> = self
            .chunk_order(0..self.num_customers())
            .into_par_iter()
            .filter(|&(_, span)| self.events_at(span).last_purchase_before(cutoff).is_some())
            .map(|(c, _)| c)
            .collect();
        found.par_sort_unstable();
        found.into_iter().map(|c| c as usize).collect()
    }
}

/// A test history of 300 customers over more than 50 chunks: every fourth
/// customer has only returns, and customer `c`'s 1–3 events start on day
/// `3 · (c mod 10)`, a week apart (so each cutoff from 0 to 100 leaves out
/// some customers whose purchases all come later).
#[cfg(test)]
pub(crate) fn many_chunk_history() -> History {
    let ids: Vec<String> = (0..300).map(|c| format!("customer-{c}")).collect();
    let lines: Vec<Line> = ids
        .iter()
        .enumerate()
        .flat_map(|(c, id)| {
            let first = (c % 10) as Day * 3;
            let amount = if c % 4 == 0 { -5.0 } else { 2.0 };
            (0..(c % 3 + 1) as Day).map(move |k| Line { customer: id, day: first + k * 7, amount, ..Default::default() })
        })
        .collect();
    match History::from_lines(lines, false, &LoadOptions::default()) {
        Ok((h, _)) => h,
        Err(e) => panic!("the test history loads: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::report::SkipReason;
    use proptest::prelude::*;

    proptest! {
        /// `plain_integer` is "parses as an i64 whose own text is the id",
        /// on texts near integers (signs, leading zeros, 19-20 digits) and any others.
        #[test]
        fn plain_integers_are_the_ids_equal_to_their_integers_text(
            near in "[+-]?[0-9]{0,20}",
            any in "\\PC{0,6}",
            v in any::<i64>(),
        ) {
            let by_text = |id: &str| id.parse::<i64>().ok().filter(|v| v.to_string() == id);
            for id in [near.as_str(), any.as_str(), &v.to_string(), &format!("0{v}"), &format!("+{v}")] {
                prop_assert_eq!(plain_integer(id), by_text(id), "{:?}", id);
            }
        }
    }

    fn line(c: &str, day: Day, amount: f64) -> Line<'_> {
        Line { customer: c, day, amount, ..Default::default() }
    }

    #[test]
    fn groups_customer_days_without_orders() {
        let (h, r) = History::from_lines(
            [line("b", 5, 1.0), line("a", 3, 2.0), line("a", 3, 4.0), line("a", 1, 8.0), line("a", 3, -1.0)],
            false,
            &LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(h.customer_ids(), ["a", "b"]);
        let ev: Vec<Event> = h.events(0).collect();
        assert_eq!(ev.len(), 2);
        assert_eq!((ev[0].day, ev[0].gross), (1, 8.0));
        assert_eq!((ev[1].day, ev[1].gross, ev[1].returned), (3, 6.0, 1.0));
        assert_eq!(r.rows_used, 5);
        assert_eq!(r.returns, 1);
        assert_eq!(r.purchases, 3);
    }

    #[test]
    fn orders_group_by_day_and_blank_ids_by_customer_day() {
        let mk = |day, o| Line { customer: "a", day, amount: 1.0, order: Some(o), ..Default::default() };
        let (h, r) = History::from_lines([mk(7, "x"), mk(7, "x2"), mk(9, "x"), mk(8, "y"), mk(3, ""), mk(5, " ")], true, &LoadOptions::default()).unwrap();
        let days: Vec<Day> = h.events(0).map(|e| e.day).collect();
        // Order x on day 9 is its own event; blank ids fall back to one event per day.
        assert_eq!(days, [3, 5, 7, 7, 8, 9]);
        assert_eq!(r.purchases, 6);
    }

    /// Chunk order is a permutation of the customers given, chunk by chunk, each
    /// chunk's customers in the order given (for id order: their events' order),
    /// each with its own span.
    #[test]
    fn chunk_order_walks_each_chunk_front_to_back() {
        let h = many_chunk_history();
        assert!(h.chunks.len() > 50, "{} chunks", h.chunks.len());
        let with_spans = h.chunk_order(0..h.num_customers());
        assert!(with_spans.iter().all(|&(c, span)| { let s = h.spans[c as usize]; (s.chunk, s.start, s.end) == (span.chunk, span.start, span.end) }));
        let all: Vec<u32> = with_spans.iter().map(|&(c, _)| c).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..h.num_customers() as u32).collect::<Vec<_>>());
        for w in all.windows(2) {
            let (a, b) = (h.spans[w[0] as usize], h.spans[w[1] as usize]);
            assert!(a.chunk < b.chunk || (a.chunk == b.chunk && a.end <= b.start), "{w:?}");
        }
        // Some customers, in the order given within each chunk.
        let some: Vec<usize> = (0..h.num_customers()).rev().step_by(3).collect();
        let picked: Vec<u32> = h.chunk_order(some.iter().copied()).into_iter().map(|(c, _)| c).collect();
        assert_eq!(picked.len(), some.len());
        for w in picked.windows(2) {
            let (a, b) = (h.spans[w[0] as usize].chunk, h.spans[w[1] as usize].chunk);
            assert!(a < b || (a == b && w[0] > w[1]), "{w:?}");
        }
    }

    /// The customers with a purchase before a cutoff, found chunk by chunk, are
    /// those `last_purchase_before` names, in index order: customers with only a
    /// return, or only purchases on or after the cutoff, are left out.
    #[test]
    fn with_purchase_before_is_the_filter_in_index_order() {
        let h = many_chunk_history();
        assert!(h.chunks.len() > 50, "{} chunks", h.chunks.len());
        let mut sizes = Vec::new();
        for cutoff in [0, 1, 4, 12, 20, 100] {
            let expected: Vec<usize> = (0..h.num_customers()).filter(|&c| h.last_purchase_before(c, cutoff).is_some()).collect();
            assert_eq!(h.with_purchase_before(cutoff), expected, "cutoff {cutoff}");
            sizes.push(expected.len());
        }
        // From nobody to everyone but the 75 return-only customers.
        assert_eq!((sizes[0], sizes[5]), (0, 225));
        assert!(sizes.windows(2).all(|w| w[0] <= w[1]) && sizes[2] < sizes[3], "{sizes:?}");
    }

    #[test]
    fn empty_is_an_error() {
        let e = History::from_lines([], false, &LoadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::EmptyInput { rows_read: 0, .. }), "{e}");
        let e = History::from_lines([line("", 1, 1.0)], false, &LoadOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "<values>: no usable purchase rows (1 rows read; skipped: 1 missing_id)");
        // Days beyond years 1..=9999 are bad dates, not overflows.
        let (_, r) = History::from_lines([line("a", -2_000_000_000, 1.0), line("a", 1, 1.0), line("b", 2_000_000_000, 1.0)], false, &LoadOptions::default()).unwrap();
        assert_eq!((r.rows_used, r.count(SkipReason::BadDate)), (1, 2));
        // The error carries the whole report: counts, and who had only zero amounts.
        let skip = LoadOptions { skip_zero_amounts: true, ..LoadOptions::default() };
        let e = History::from_lines([line("z2", 1, 0.0), line("", 1, 1.0), line("z1", 2, 0.0), line("z2", 3, 0.0)], false, &skip).unwrap_err();
        let Error::EmptyInput { report, .. } = e else { panic!("{e}") };
        assert_eq!((report.rows_read, report.rows_used), (4, 0));
        assert_eq!(report.skipped, vec![(SkipReason::MissingId, 1), (SkipReason::ZeroAmount, 3)]);
        assert_eq!(report.zero_amount_only, ["z1", "z2"]);
    }
}
