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

use std::hash::{Hash, Hasher};

use rayon::prelude::*;

use crate::attributes::Attributes;
use crate::date::{format_day, Day};
use crate::error::{Error, Result};
use crate::hash::{hash_bytes, FxHashMap, FxHasher};
use crate::report::{LoadReport, SkipReason};

/// Code used for "no value" in the small-vocabulary columns.
pub const NONE_CODE: u16 = u16::MAX;

/// What a load does with questionable rows.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct LoadOptions {
    /// Turn every row-dropping reason into an error naming file, line, column and value.
    /// (Returns are never an error: they are data.)
    pub strict: bool,
    /// The data's end date: rows on a later day are skipped ([`SkipReason::AfterEnd`]).
    pub end_day: Option<Day>,
    /// Keep exact duplicate lines instead of skipping them.
    pub keep_duplicates: bool,
    /// Skip lines whose amount is exactly zero ([`SkipReason::ZeroAmount`]).
    /// By default (`false`) they are purchases with no spend: a free item, a
    /// promotion or a fully discounted order is still a visit. When skipped,
    /// customers left with no purchase at all are counted and named in the
    /// load report ([`LoadReport::zero_amount_only`]), never silently missing.
    pub skip_zero_amounts: bool,
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
    pub customer: &'a str,
    pub day: Parsed<'a, Day>,
    pub amount: Parsed<'a, f64>,
    pub quantity: Option<Parsed<'a, f64>>,
    pub order: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub category: Option<&'a str>,
    pub region: Option<&'a str>,
    pub cancelled: Parsed<'a, bool>,
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

/// Interns names (ids, channels, ...) to dense codes. Names of up to 15 bytes
/// (integer ids, most text ids) are keyed inline as a `u128` (bytes plus length),
/// so a lookup touches the hash table only, not a heap string: logs in time order
/// look up a different customer on every line.
#[derive(Default)]
struct Interner {
    short: FxHashMap<u128, u32>,
    long: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
}

#[inline]
fn inline_key(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() > 15 {
        return None;
    }
    let mut k = [0u8; 16];
    k[..b.len()].copy_from_slice(b);
    k[15] = b.len() as u8;
    Some(u128::from_le_bytes(k))
}

impl Interner {
    #[inline]
    fn get(&mut self, s: &str, max: u64, what: &'static str) -> Result<u32> {
        let key = inline_key(s);
        let found = match key {
            Some(k) => self.short.get(&k),
            None => self.long.get(s),
        };
        if let Some(&i) = found {
            return Ok(i);
        }
        let i = self.names.len() as u64;
        if i >= max {
            return Err(Error::TooMany { what, max });
        }
        self.names.push(s.into());
        match key {
            Some(k) => self.short.insert(k, i as u32),
            None => self.long.insert(s.into(), i as u32),
        };
        Ok(i as u32)
    }

    /// Sorts the names; returns `old code -> new code`.
    fn sorted(self) -> (Vec<String>, Vec<u32>) {
        let mut order: Vec<u32> = (0..self.names.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.names[a as usize].cmp(&self.names[b as usize]));
        let mut remap = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let names = order.iter().map(|&o| self.names[o as usize].to_string()).collect();
        (names, remap)
    }
}

/// Accumulates lines from any reader, then builds a [`History`].
pub(crate) struct HistoryBuilder {
    source: String,
    names: ColumnNames,
    options: LoadOptions,
    present: Present,
    report: LoadReport,
    customers: Interner,
    channels: Interner,
    categories: Interner,
    regions: Interner,
    cust: Vec<u32>,
    day: Vec<Day>,
    key: Vec<u64>,
    amount: Vec<f64>,
    /// Quantities as f32 (NaN = unknown): 4 bytes a line is plenty for counts.
    qty: Vec<f32>,
    channel: Vec<u16>,
    category: Vec<u16>,
    region: Vec<u16>,
    rowhash: Vec<u64>,
    /// Source line, saturating at u32::MAX (only used to name duplicates).
    line: Vec<u32>,
    /// Ids seen on skipped zero-amount lines (only with `skip_zero_amounts`).
    zero_only: std::collections::BTreeSet<String>,
}

impl HistoryBuilder {
    pub(crate) fn new(source: impl Into<String>, names: ColumnNames, present: Present, options: LoadOptions) -> Self {
        let source = source.into();
        HistoryBuilder {
            report: LoadReport { source: source.clone(), ..Default::default() },
            source,
            names,
            options,
            present,
            customers: Interner::default(),
            channels: Interner::default(),
            categories: Interner::default(),
            regions: Interner::default(),
            cust: Vec::new(),
            day: Vec::new(),
            key: Vec::new(),
            amount: Vec::new(),
            qty: Vec::new(),
            channel: Vec::new(),
            category: Vec::new(),
            region: Vec::new(),
            rowhash: Vec::new(),
            line: Vec::new(),
            zero_only: Default::default(),
        }
    }

    #[cfg_attr(not(feature = "arrow"), allow(dead_code))]
    pub(crate) fn reserve(&mut self, n: usize) {
        self.cust.reserve(n);
        self.day.reserve(n);
        self.key.reserve(n);
        self.amount.reserve(n);
        self.qty.reserve(n);
        self.channel.reserve(n);
        self.category.reserve(n);
        self.region.reserve(n);
        self.rowhash.reserve(n);
        self.line.reserve(n);
    }

    /// Rows read so far.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn rows_read(&self) -> u64 {
        self.report.rows_read
    }

    /// Renames the source (a dataset read file by file is reported as one).
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn set_source(&mut self, source: &str) {
        self.source = source.to_string();
        self.report.source = source.to_string();
    }

    /// Counts (strict: refuses) a row that could not even be read into a [`RawRow`].
    pub(crate) fn reject(&mut self, line: u64, reason: SkipReason, column: &str, value: &str) -> Result<()> {
        self.report.rows_read += 1;
        self.skip(reason, line, column, value)
    }

    fn skip(&mut self, reason: SkipReason, line: u64, column: &str, value: &str) -> Result<()> {
        if self.options.strict && reason.drops_row() {
            return Err(Error::BadValue {
                file: self.source.clone(),
                line,
                column: column.to_string(),
                value: value.to_string(),
                reason,
            });
        }
        self.report.add(reason, 1);
        Ok(())
    }

    /// Joins builders of consecutive parts of one source (parallel chunks), in
    /// order. Codes are remapped to the first part's vocabularies; columns are
    /// moved one at a time, so memory grows by one column at most.
    pub(crate) fn merge(parts: Vec<HistoryBuilder>) -> Result<HistoryBuilder> {
        let mut parts = parts.into_iter();
        let Some(mut out) = parts.next() else {
            return Ok(HistoryBuilder::new("<empty>", ColumnNames::default(), Present::default(), LoadOptions::default()));
        };
        let mut rest: Vec<HistoryBuilder> = parts.collect();
        let intern = |into: &mut Interner, from: &Interner, max: u64, what: &'static str| -> Result<Vec<u32>> {
            from.names.iter().map(|n| into.get(n, max, what)).collect()
        };
        let small = u64::from(NONE_CODE);
        let mut maps = Vec::with_capacity(rest.len());
        for p in &mut rest {
            maps.push((
                intern(&mut out.customers, &p.customers, u64::from(u32::MAX), "customers")?,
                intern(&mut out.channels, &p.channels, small, "channels")?,
                intern(&mut out.categories, &p.categories, small, "categories")?,
                intern(&mut out.regions, &p.regions, small, "regions")?,
            ));
            out.report.rows_read += p.report.rows_read;
            out.report.returns += p.report.returns;
            out.report.zero_amount_purchases += p.report.zero_amount_purchases;
            out.zero_only.append(&mut std::mem::take(&mut p.zero_only));
            for &(r, n) in &p.report.skipped {
                out.report.add(r, n);
            }
        }
        let code16 = |m: &[u32], c: u16| if c == NONE_CODE { NONE_CODE } else { m[usize::from(c)] as u16 };
        macro_rules! move_col {
            ($col:ident, $f:expr) => {{
                let total: usize = rest.iter().map(|p| p.$col.len()).sum();
                out.$col.reserve_exact(total);
                for (p, m) in rest.iter_mut().zip(&maps) {
                    let v = std::mem::take(&mut p.$col);
                    #[allow(clippy::redundant_closure_call)]
                    out.$col.extend(v.into_iter().map(|x| ($f)(m, x)));
                }
            }};
        }
        move_col!(cust, |m: &(Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>), x: u32| m.0[x as usize]);
        move_col!(channel, |m: &(Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>), x: u16| code16(&m.1, x));
        move_col!(category, |m: &(Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>), x: u16| code16(&m.2, x));
        move_col!(region, |m: &(Vec<u32>, Vec<u32>, Vec<u32>, Vec<u32>), x: u16| code16(&m.3, x));
        move_col!(day, |_: &_, x| x);
        move_col!(key, |_: &_, x| x);
        move_col!(amount, |_: &_, x| x);
        move_col!(qty, |_: &_, x| x);
        move_col!(rowhash, |_: &_, x| x);
        move_col!(line, |_: &_, x| x);
        Ok(out)
    }

    /// Validates one row and stores it, or counts (strict: refuses) it.
    pub(crate) fn push(&mut self, line: u64, row: RawRow<'_>) -> Result<()> {
        self.report.rows_read += 1;
        let customer = row.customer.trim();
        if customer.is_empty() {
            let col = self.names.customer.clone();
            return self.skip(SkipReason::MissingId, line, &col, row.customer);
        }
        let day = match row.day {
            Ok(d) => d,
            Err(raw) => {
                let col = self.names.date.clone();
                return self.skip(SkipReason::BadDate, line, &col, raw);
            }
        };
        let mut amount = match row.amount {
            Ok(a) if a.is_finite() && a.abs() <= MAX_AMOUNT => a,
            Ok(a) => {
                let col = self.names.amount.clone();
                return self.skip(SkipReason::BadAmount, line, &col, &format!("{a:e}"));
            }
            Err(raw) => {
                let col = self.names.amount.clone();
                return self.skip(SkipReason::BadAmount, line, &col, raw);
            }
        };
        if amount == 0.0 {
            if self.options.skip_zero_amounts {
                let col = self.names.amount.clone();
                if !self.options.strict {
                    self.zero_only.insert(customer.to_string());
                }
                return self.skip(SkipReason::ZeroAmount, line, &col, "0");
            }
            // +0.0: a purchase line with no spend (a cancelled zero line becomes -0.0, a return).
            amount = 0.0;
            self.report.zero_amount_purchases += 1;
        }
        if let Some(end) = self.options.end_day {
            if day > end {
                let col = self.names.date.clone();
                return self.skip(SkipReason::AfterEnd, line, &col, &format_day(day));
            }
        }
        let qty = match row.quantity {
            None => f64::NAN,
            Some(Ok(q)) if q.is_finite() => q,
            Some(Ok(q)) => {
                let col = self.names.quantity.clone();
                return self.skip(SkipReason::BadQuantity, line, &col, &q.to_string());
            }
            Some(Err(raw)) if raw.trim().is_empty() => f64::NAN,
            Some(Err(raw)) => {
                let col = self.names.quantity.clone();
                return self.skip(SkipReason::BadQuantity, line, &col, raw);
            }
        };
        let cancelled = match row.cancelled {
            Ok(c) => c,
            Err(raw) => {
                let col = self.names.cancelled.clone();
                return self.skip(SkipReason::BadFlag, line, &col, raw);
            }
        };
        if cancelled || amount < 0.0 {
            if amount == 0.0 {
                self.report.zero_amount_purchases -= 1;
            }
            amount = -amount.abs();
            self.report.add(SkipReason::Return, 1);
        }
        let c = self.customers.get(customer, u64::from(u32::MAX), "customers")?;
        let code = |i: &mut Interner, v: Option<&str>, what| -> Result<u16> {
            match v.map(str::trim) {
                None | Some("") => Ok(NONE_CODE),
                Some(s) => i.get(s, u64::from(NONE_CODE), what).map(|x| x as u16),
            }
        };
        let ch = code(&mut self.channels, row.channel, "channels")?;
        let ca = code(&mut self.categories, row.category, "categories")?;
        let re = code(&mut self.regions, row.region, "regions")?;
        // One purchase = the lines of one order on one day (a blank order id counts as
        // no order id). Keying by day too means a line dated later under the same
        // order id (a return, say) is its own event: nothing dated on or after a
        // cutoff can join a purchase made before it.
        let key = match row.order.map(str::trim) {
            Some(o) if self.present.order && !o.is_empty() => hash_bytes(0x9e37_79b9 ^ u64::from(day as u32), o.as_bytes()),
            _ => day as u32 as u64,
        };
        let mut h = FxHasher::default();
        customer.hash(&mut h);
        day.hash(&mut h);
        amount.to_bits().hash(&mut h);
        qty.to_bits().hash(&mut h);
        row.order.map(str::trim).hash(&mut h);
        // Content only (not codes, which depend on the order rows arrive in).
        (row.channel.map(str::trim), row.category.map(str::trim), row.region.map(str::trim), cancelled).hash(&mut h);
        self.cust.push(c);
        self.day.push(day);
        self.key.push(key);
        self.amount.push(amount);
        self.qty.push(qty as f32);
        self.channel.push(ch);
        self.category.push(ca);
        self.region.push(re);
        self.rowhash.push(h.finish());
        self.line.push(u32::try_from(line).unwrap_or(u32::MAX));
        Ok(())
    }

    /// Sorts, removes duplicates, groups lines into events.
    pub(crate) fn finish(mut self) -> Result<(History, LoadReport)> {
        let n = self.cust.len();
        if n == 0 {
            let reasons = self.report.skipped.iter().map(|(r, n)| format!("{n} {}", r.name())).collect::<Vec<_>>().join(", ");
            return Err(Error::EmptyInput { file: self.source, rows_read: self.report.rows_read, skipped: reasons });
        }
        // Sorted vocabularies: the history does not depend on row order.
        let (customer_ids, cmap) = std::mem::take(&mut self.customers).sorted();
        let (channels, chmap) = std::mem::take(&mut self.channels).sorted();
        let (categories, camap) = std::mem::take(&mut self.categories).sorted();
        let (regions, remap) = std::mem::take(&mut self.regions).sorted();
        let recode = |v: &mut Vec<u16>, map: &[u32]| {
            v.par_iter_mut().for_each(|x| {
                if *x != NONE_CODE {
                    *x = map[*x as usize] as u16;
                }
            })
        };
        self.cust.par_iter_mut().for_each(|c| *c = cmap[*c as usize]);
        recode(&mut self.channel, &chmap);
        recode(&mut self.category, &camap);
        recode(&mut self.region, &remap);

        // Line indices by (customer, order key, day, content, line): a counting sort by
        // customer (two sequential passes, whatever the row order: logs in time order
        // scatter a customer's lines over the whole file), then a small sort inside each
        // customer, in parallel. No global comparison sort over all lines.
        let idx = {
            let nc = customer_ids.len();
            let mut start = vec![0usize; nc + 1];
            for &c in &self.cust {
                start[c as usize + 1] += 1;
            }
            for c in 0..nc {
                start[c + 1] += start[c];
            }
            let mut idx = vec![0u32; n];
            let mut pos = start.clone();
            for (i, &c) in self.cust.iter().enumerate() {
                idx[pos[c as usize]] = i as u32;
                pos[c as usize] += 1;
            }
            // Blocks of whole customers (~16k lines each), sorted in parallel: each block
            // gathers its lines' sort keys once into a small contiguous buffer, so the
            // comparisons never chase scattered memory.
            let mut blocks: Vec<(&mut [u32], Vec<usize>)> = Vec::new();
            let mut rest: &mut [u32] = &mut idx;
            let mut c = 0;
            while c < nc {
                let first = start[c];
                let mut bounds = Vec::new();
                while c < nc && (start[c] - first < 16_384 || bounds.is_empty()) {
                    bounds.push(start[c + 1] - first);
                    c += 1;
                }
                let len = start[c] - first;
                let (head, tail) = rest.split_at_mut(len);
                blocks.push((head, bounds));
                rest = tail;
            }
            let (key, day, rh, line) = (&self.key, &self.day, &self.rowhash, &self.line);
            blocks.into_par_iter().for_each(|(block, bounds)| {
                let mut keys: Vec<(u64, Day, u64, u32, u32)> = block.iter().map(|&i| {
                    let j = i as usize;
                    (key[j], day[j], rh[j], line[j], i)
                }).collect();
                let mut from = 0;
                for &to in &bounds {
                    if to - from > 1 {
                        keys[from..to].sort_unstable();
                    }
                    from = to;
                }
                for (slot, k) in block.iter_mut().zip(&keys) {
                    *slot = k.4;
                }
            });
            idx
        };

        let mut ev = EventsBuilder::default();
        let mut prev: Option<usize> = None;
        let mut used = 0u64;
        let mut dups = 0u64;
        for &i in &idx {
            let i = i as usize;
            if let Some(p) = prev {
                let same_line = self.cust[p] == self.cust[i]
                    && self.key[p] == self.key[i]
                    && self.day[p] == self.day[i]
                    && self.rowhash[p] == self.rowhash[i];
                if same_line && !self.options.keep_duplicates {
                    if self.amount[i].is_sign_negative() {
                        // Counted as a return when read; it is a duplicate instead.
                        self.report.returns -= 1;
                    } else if self.amount[i] == 0.0 {
                        self.report.zero_amount_purchases -= 1;
                    }
                    if self.options.strict {
                        return Err(Error::DuplicateLine {
                            file: self.source,
                            line: u64::from(self.line[i]),
                            first_line: u64::from(self.line[p]),
                        });
                    }
                    dups += 1;
                    continue;
                }
                if self.cust[p] != self.cust[i] || self.key[p] != self.key[i] {
                    ev.close();
                }
            }
            if !ev.open {
                ev.start(self.cust[i], self.day[i]);
            }
            ev.add_line(self.amount[i], f64::from(self.qty[i]), self.channel[i], self.category[i], self.region[i]);
            used += 1;
            prev = Some(i);
        }
        ev.close();
        self.report.add(SkipReason::Duplicate, dups);
        self.report.rows_used = used;
        // The line columns are no longer needed: free them before the events are reordered.
        drop(idx);
        (self.cust, self.day, self.key, self.amount, self.qty, self.rowhash, self.line) = Default::default();
        (self.channel, self.category, self.region) = Default::default();

        let mut history = ev.into_history(customer_ids, channels, categories, regions, self.present);
        // Customers whose only lines were skipped zero amounts: named, not silently missing.
        let mut zero_only: Vec<String> = std::mem::take(&mut self.zero_only).into_iter().filter(|id| history.customer_index(id).is_none()).collect();
        zero_only.sort_unstable();
        self.report.zero_amount_only = zero_only;
        self.report.customers = history.num_customers() as u64;
        self.report.purchases = history.ev_is_purchase.iter().filter(|&&p| p).count() as u64;
        history.source = self.source;
        Ok((history, self.report))
    }
}

/// Groups sorted lines into events, then sorts events by (customer, day).
#[derive(Default)]
struct EventsBuilder {
    open: bool,
    cust: Vec<u32>,
    day: Vec<Day>,
    gross: Vec<f64>,
    returned: Vec<f64>,
    qty: Vec<f64>,
    channel: Vec<u16>,
    region: Vec<u16>,
    cat_off: Vec<u32>,
    cat_code: Vec<u16>,
    cat_amount: Vec<f64>,
    is_purchase: Vec<bool>,
    // the open event
    cur_cats: Vec<(u16, f64)>,
    cur_has_positive: bool,
}

impl EventsBuilder {
    fn start(&mut self, cust: u32, day: Day) {
        self.open = true;
        self.cust.push(cust);
        self.day.push(day);
        self.gross.push(0.0);
        self.returned.push(0.0);
        self.qty.push(0.0);
        self.channel.push(NONE_CODE);
        self.region.push(NONE_CODE);
        self.is_purchase.push(false);
        self.cur_cats.clear();
        self.cur_has_positive = false;
    }

    fn add_line(&mut self, amount: f64, qty: f64, channel: u16, category: u16, region: u16) {
        let e = self.cust.len() - 1;
        // Returns are stored negative (-0.0 for a cancelled zero line); +0.0 is a
        // purchase line with no spend.
        if amount.is_sign_positive() {
            self.gross[e] += amount;
            self.is_purchase[e] = true;
            if !self.cur_has_positive {
                // The event's channel and region are those of its first purchased line.
                self.channel[e] = channel;
                self.region[e] = region;
                self.cur_has_positive = true;
            }
            if category != NONE_CODE {
                match self.cur_cats.iter_mut().find(|(c, _)| *c == category) {
                    Some((_, a)) => *a += amount,
                    None => self.cur_cats.push((category, amount)),
                }
            }
            if qty.is_finite() {
                self.qty[e] += qty;
            }
        } else {
            self.returned[e] += -amount;
            if !self.cur_has_positive && self.channel[e] == NONE_CODE {
                self.channel[e] = channel;
                self.region[e] = region;
            }
        }
    }

    fn close(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        self.cur_cats.sort_unstable_by_key(|(c, _)| *c);
        self.cat_off.push(self.cat_code.len() as u32);
        for &(c, a) in &self.cur_cats {
            self.cat_code.push(c);
            self.cat_amount.push(a);
        }
    }

    fn into_history(
        self,
        customer_ids: Vec<String>,
        channels: Vec<String>,
        categories: Vec<String>,
        regions: Vec<String>,
        present: Present,
    ) -> History {
        let m = self.cust.len();
        let mut cat_off = self.cat_off;
        cat_off.push(self.cat_code.len() as u32);
        // Events came grouped by customer (ascending), then by order key; order each
        // customer's events by day, in parallel (no global sort).
        debug_assert!(self.cust.windows(2).all(|w| w[0] <= w[1]));
        let mut order: Vec<u32> = (0..m as u32).collect();
        {
            let mut slices: Vec<&mut [u32]> = Vec::new();
            let mut rest: &mut [u32] = &mut order;
            let mut i = 0;
            while i < m {
                let mut j = i + 1;
                while j < m && self.cust[j] == self.cust[i] {
                    j += 1;
                }
                let (head, tail) = rest.split_at_mut(j - i);
                slices.push(head);
                rest = tail;
                i = j;
            }
            let day = &self.day;
            slices.into_par_iter().with_min_len(256).for_each(|s| {
                if s.len() > 1 {
                    s.sort_unstable_by_key(|&e| (day[e as usize], e));
                }
            });
        }
        let pick = |v: &Vec<f64>| order.iter().map(|&e| v[e as usize]).collect::<Vec<_>>();
        let pick16 = |v: &Vec<u16>| order.iter().map(|&e| v[e as usize]).collect::<Vec<_>>();
        let mut new_off = Vec::with_capacity(m + 1);
        let mut codes = Vec::with_capacity(self.cat_code.len());
        let mut amounts = Vec::with_capacity(self.cat_code.len());
        for &e in &order {
            new_off.push(codes.len() as u32);
            let (a, b) = (cat_off[e as usize] as usize, cat_off[e as usize + 1] as usize);
            codes.extend_from_slice(&self.cat_code[a..b]);
            amounts.extend_from_slice(&self.cat_amount[a..b]);
        }
        new_off.push(codes.len() as u32);
        let n_cust = customer_ids.len();
        let mut offsets = vec![0u32; n_cust + 1];
        for &e in &order {
            offsets[self.cust[e as usize] as usize + 1] += 1;
        }
        for c in 0..n_cust {
            offsets[c + 1] += offsets[c];
        }
        let gross = pick(&self.gross);
        let ev_is_purchase = order.iter().map(|&e| self.is_purchase[e as usize]).collect();
        let ev_day: Vec<Day> = order.iter().map(|&e| self.day[e as usize]).collect();
        let first_day = ev_day.iter().copied().min().unwrap_or(0);
        let last_day = ev_day.iter().copied().max().unwrap_or(0);
        History {
            source: String::new(),
            customer_ids,
            offsets,
            ev_day,
            ev_gross: gross,
            ev_returned: pick(&self.returned),
            ev_qty: pick(&self.qty),
            ev_channel: pick16(&self.channel),
            ev_region: pick16(&self.region),
            ev_is_purchase,
            ev_cat_off: new_off,
            cat_code: codes,
            cat_amount: amounts,
            channels,
            categories,
            regions,
            present,
            first_day,
            last_day,
            attributes: None,
        }
    }
}

/// A purchase history in columnar form (see the module docs).
///
/// `Send + Sync`; cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct History {
    pub(crate) source: String,
    pub(crate) customer_ids: Vec<String>,
    /// Per customer, the range of its events: `offsets[c]..offsets[c+1]`.
    pub(crate) offsets: Vec<u32>,
    pub(crate) ev_day: Vec<Day>,
    pub(crate) ev_gross: Vec<f64>,
    pub(crate) ev_returned: Vec<f64>,
    pub(crate) ev_qty: Vec<f64>,
    pub(crate) ev_channel: Vec<u16>,
    pub(crate) ev_region: Vec<u16>,
    pub(crate) ev_is_purchase: Vec<bool>,
    pub(crate) ev_cat_off: Vec<u32>,
    pub(crate) cat_code: Vec<u16>,
    pub(crate) cat_amount: Vec<f64>,
    pub(crate) channels: Vec<String>,
    pub(crate) categories: Vec<String>,
    pub(crate) regions: Vec<String>,
    pub(crate) present: Present,
    pub(crate) first_day: Day,
    pub(crate) last_day: Day,
    pub(crate) attributes: Option<Attributes>,
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
        let mut b = HistoryBuilder::new("<values>", ColumnNames::default(), present, options.clone());
        let mut seen = Present::default();
        for (i, l) in lines.into_iter().enumerate() {
            seen.channel |= l.channel.is_some();
            seen.category |= l.category.is_some();
            seen.region |= l.region.is_some();
            seen.quantity |= l.quantity.is_some();
            b.push(
                i as u64 + 1,
                RawRow {
                    customer: l.customer,
                    day: Ok(l.day),
                    amount: Ok(l.amount),
                    quantity: l.quantity.map(Ok),
                    order: l.order,
                    channel: l.channel,
                    category: l.category,
                    region: l.region,
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
        self.ev_day.len()
    }
    /// Customer ids, sorted; a customer's index is its position here.
    pub fn customer_ids(&self) -> &[String] {
        &self.customer_ids
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

    /// The event range of customer `c`.
    #[inline]
    pub(crate) fn range(&self, c: usize) -> std::ops::Range<usize> {
        self.offsets[c] as usize..self.offsets[c + 1] as usize
    }

    /// The events of customer `c` before `cutoff` (strictly), as indices.
    #[inline]
    pub(crate) fn range_before(&self, c: usize, cutoff: Day) -> std::ops::Range<usize> {
        let r = self.range(c);
        let end = r.start + self.ev_day[r.clone()].partition_point(|&d| d < cutoff);
        r.start..end
    }

    /// The events of customer `c`, in day order.
    pub fn events(&self, c: usize) -> impl ExactSizeIterator<Item = Event> + '_ {
        self.range(c).map(move |e| Event {
            day: self.ev_day[e],
            gross: self.ev_gross[e],
            returned: self.ev_returned[e],
            quantity: self.ev_qty[e],
            channel: self.ev_channel[e],
            region: self.ev_region[e],
            is_purchase: self.ev_is_purchase[e],
        })
    }

    /// Category spend `(category code, value)` of event `e`.
    #[inline]
    pub(crate) fn event_categories(&self, e: usize) -> impl Iterator<Item = (u16, f64)> + '_ {
        let (a, b) = (self.ev_cat_off[e] as usize, self.ev_cat_off[e + 1] as usize);
        self.cat_code[a..b].iter().copied().zip(self.cat_amount[a..b].iter().copied())
    }

    /// The last purchase day of customer `c` before `cutoff`, if any.
    #[inline]
    pub fn last_purchase_before(&self, c: usize, cutoff: Day) -> Option<Day> {
        self.range_before(c, cutoff).rev().find(|&e| self.ev_is_purchase[e]).map(|e| self.ev_day[e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let (h, r) = History::from_lines([mk(7, "x"), mk(7, "x2"), mk(9, "x"), mk(8, "y"), mk(3, ""), mk(5, " ")], true, &LoadOptions { keep_duplicates: true, ..Default::default() }).unwrap();
        let days: Vec<Day> = h.events(0).map(|e| e.day).collect();
        // Order x on day 9 is its own event; blank ids fall back to one event per day.
        assert_eq!(days, [3, 5, 7, 7, 8, 9]);
        assert_eq!(r.purchases, 6);
    }

    #[test]
    fn empty_is_an_error() {
        let e = History::from_lines([], false, &LoadOptions::default()).unwrap_err();
        assert!(matches!(e, Error::EmptyInput { rows_read: 0, .. }), "{e}");
        let e = History::from_lines([line("", 1, 1.0)], false, &LoadOptions::default()).unwrap_err();
        assert_eq!(e.to_string(), "<values>: no usable purchase rows (1 rows read; skipped: 1 missing_id)");
    }
}
