//! The builder every reader feeds.
//!
//! Lines are validated as they arrive and stored in one of [`PARTS`] partitions
//! chosen by a hash of the customer id (radix partitioning): a partition holds
//! all lines of its customers, whatever the row order of the input, and is
//! appended to sequentially. Consecutive lines of one purchase (an order's
//! lines, as logs write them) share one [`lines::Run`] for what they have in common
//! (customer, purchase, day, channel, region), and each line keeps only its own
//! values, a column each (amount, quantity, category), so a line costs 4–10
//! bytes ([`lines::Amounts`]) plus its share of a 32-byte run. [`HistoryBuilder::finish`] then groups each
//! partition into purchases on its own, in parallel and within the cache —
//! interning its customers, sorting each customer's lines (by day first: they
//! arrive nearly in that order), counting (or, with
//! `drop_duplicates`, removing) identical lines, grouping lines into events and
//! ordering events by day, each column reserved to its exact length — and
//! puts the customers in id order, each pointing at its events where they were
//! grouped (a partition's events become one [`super::Chunk`] of the history,
//! not copied again). No step sorts or looks up all
//! lines at random, so a log in time order (a different customer on every line)
//! costs about what one sorted by customer does.
//!
//! Each customer's result depends only on the multiset of its lines (sorted by
//! content before any sum), and its partition only on its id, so the history is
//! bit-identical whatever the row order, the reader's chunking of the input and
//! the thread count.

use std::hash::Hasher;

use rayon::prelude::*;

use super::{Chunk, ColumnNames, History, Id, LoadOptions, Name, Present, RawRow, Span, MAX_AMOUNT, NONE_CODE};
use crate::date::{format_day, Day};
use crate::error::{Error, Numbering, Result};
use crate::hash::{hash_bytes, le_word, order_key, FxHashMap, FxHasher, Mixer};
use crate::report::{LoadReport, SkipReason};

mod lines;
use lines::{PLine, Part, Stage, Staged, LONG_TAG};

/// Bits of the customer hash that choose a partition.
const PART_BITS: u32 = 8;
/// Number of partitions: enough that one partition's lines stay in the cache
/// up to ~100M lines, few enough that appending stays sequential.
const PARTS: usize = 1 << PART_BITS;

/// Interns names (channels, categories, regions) to dense codes. Names of up to
/// 15 bytes are keyed inline as a `u128` (bytes plus length), so a lookup
/// touches the hash table only, not a heap string.
struct Interner {
    short: FxHashMap<u128, u32>,
    long: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    /// Each name's inline key by code (`u128::MAX` for long names): a small
    /// vocabulary (channels, a few categories) is searched here, without hashing.
    keys: Vec<u128>,
    /// The last short name seen in each of [`CACHE_SLOTS`] slots (chosen by a
    /// multiplicative hash of its key) and its code: most lines find their value
    /// here with one comparison. `u32::MAX` = an empty slot.
    cache: Box<[(u128, u32)]>,
}

/// Slots of [`Interner::cache`] (a power of two).
const CACHE_SLOTS: usize = 64;

impl Default for Interner {
    fn default() -> Self {
        Interner {
            short: FxHashMap::default(),
            long: FxHashMap::default(),
            names: Vec::new(),
            keys: Vec::new(),
            cache: vec![(0u128, u32::MAX); CACHE_SLOTS].into_boxed_slice(),
        }
    }
}

#[inline]
fn cache_slot(k: u128) -> usize {
    let folded = (k as u64) ^ ((k >> 64) as u64).rotate_left(29);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - CACHE_SLOTS.trailing_zeros())) as usize
}

/// The decimal text of `v` (`-12`, `0`: what `v.to_string()` gives) in `buf`:
/// the bytes of its key ([`int_inline_key`] writes the text into it) when it has
/// one, else formatted (ids of 16 characters or more).
fn decimal(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    match int_inline_key(v) {
        Some(k) => {
            buf[..16].copy_from_slice(&k.to_le_bytes());
            &buf[..(k >> 120) as usize]
        }
        None => {
            use std::io::Write;
            let mut rest: &mut [u8] = buf;
            // An i64 has at most 20 characters: the write cannot run out of room.
            let _ = write!(rest, "{v}");
            let n = 20 - rest.len();
            &buf[..n]
        }
    }
}

/// `s.trim()`, without looking at the characters when the first and the last
/// byte are visible ASCII (0x21–0x7E: then nothing can be trimmed). Not
/// `is_ascii_whitespace`, which leaves out the vertical tab that `str::trim` trims.
#[inline]
fn trim(s: &str) -> &str {
    let plain = |b: &u8| b.is_ascii_graphic();
    let b = s.as_bytes();
    if b.first().is_some_and(plain) && b.last().is_some_and(plain) {
        s
    } else {
        s.trim()
    }
}

/// The inline key of `v`'s decimal text (`inline_key(&v.to_string())`),
/// made from its digits, when the text has at most 15 bytes (`|v|` below 10^15,
/// or 10^14 when negative). Writing the text digit by digit, then checking it
/// as UTF-8 and reading it back was ~3.5% of a load of integer ids.
#[inline]
fn int_inline_key(v: i64) -> Option<u128> {
    let n = v.unsigned_abs();
    let digits = n.checked_ilog10().map_or(1, |d| d as usize + 1);
    let len = digits + usize::from(v < 0);
    if len > 15 {
        return None;
    }
    // The digits of a number below 10^8 without its leading zeros: those are
    // the low bytes of `digits8`.
    let text = if digits <= 8 {
        u128::from(digits8(n) >> (8 * (8 - digits)))
    } else {
        let high = digits - 8;
        u128::from(digits8(n / 100_000_000) >> (8 * (8 - high))) | (u128::from(digits8(n % 100_000_000)) << (8 * high))
    };
    let text = if v < 0 { (text << 8) | u128::from(b'-') } else { text };
    Some(text | ((len as u128) << 120))
}

/// The 8 decimal digits of `x` (below 10^8, with leading zeros) as ASCII, the
/// first digit in the lowest byte: the two 4-digit halves in 32-bit lanes, then
/// pairs of digits in 16-bit lanes, then digits in bytes, each lane divided by a
/// multiply and a shift (exact for lanes below 10,000 and below 100).
#[inline]
fn digits8(x: u64) -> u64 {
    let v = (x / 10_000) | ((x % 10_000) << 32);
    let high = ((v * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let v = high | ((v - high * 100) << 16);
    let high = ((v * 103) >> 10) & 0x000F_000F_000F_000F;
    let v = high | ((v - high * 10) << 8);
    v | 0x3030_3030_3030_3030
}

/// Vocabularies up to this size are searched linearly.
const SMALL_VOCABULARY: usize = 24;

/// The inline key of a name of at most 15 bytes: its bytes, then its length in byte 15.
#[inline]
fn inline_key(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    let n = b.len();
    if n > 15 {
        return None;
    }
    // Whole-word loads instead of a variable-length copy into a stack buffer (whose
    // byte stores the next word load had to wait for).
    let (lo, hi) = if n > 8 { (le_word(&b[..8]), le_word(&b[8..])) } else { (le_word(b), 0) };
    Some(u128::from(lo) | (u128::from(hi) << 64) | ((n as u128) << 120))
}

impl Interner {
    /// The code of `s`: from the cache inline (most lines), else [`Interner::lookup`].
    #[inline(always)]
    fn get(&mut self, s: &str, max: u64, what: &'static str) -> Result<u32> {
        if let Some(k) = inline_key(s) {
            let (ck, code) = self.cache[cache_slot(k)];
            if ck == k && code != u32::MAX {
                return Ok(code);
            }
        }
        self.lookup(s, max, what)
    }

    #[inline(never)]
    fn lookup(&mut self, s: &str, max: u64, what: &'static str) -> Result<u32> {
        let key = inline_key(s);
        if let Some(k) = key {
            let slot = cache_slot(k);
            let found = if self.keys.len() <= SMALL_VOCABULARY { self.keys.iter().position(|&x| x == k).map(|i| i as u32) } else { self.short.get(&k).copied() };
            if let Some(i) = found {
                self.cache[slot] = (k, i);
                return Ok(i);
            }
        }
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
        self.keys.push(key.unwrap_or(u128::MAX));
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

/// The lines read by one reader (or chunk), with its vocabulary codes mapped
/// into the builder's (`None`: they are the builder's own).
struct Source {
    parts: Vec<Part>,
    maps: Option<[Vec<u32>; 3]>,
}

/// Accumulates lines from any reader, then builds a [`History`].
pub(crate) struct HistoryBuilder {
    source: String,
    names: ColumnNames,
    options: LoadOptions,
    pub(super) present: Present,
    report: LoadReport,
    channels: Interner,
    categories: Interner,
    regions: Interner,
    /// The first source is this builder's own reader; merged builders follow.
    sources: Vec<Source>,
    /// Lines read but not yet stored in the first source's partitions
    /// ([`HistoryBuilder::flush`] stores them).
    stage: Stage,
    /// Ids seen on skipped zero-amount lines (only with `skip_zero_amounts`).
    zero_only: std::collections::BTreeSet<String>,
    /// The code of each entry of the current batch's channel, category and
    /// region dictionaries ([`UNSEEN`] until a kept row uses it).
    entries: [Vec<u32>; 3],
    /// How errors number the records: lines of a text file or rows of a table.
    numbering: Numbering,
    /// The last order read: its day, id and key (see [`order_key`]).
    last_order: (Day, Vec<u8>, u64),
    /// The last integer customer id read with an inline key: the id, its key
    /// and its partition (the lines of one order come together, so most lines
    /// of a log repeat the id of the line before).
    last_int: Option<(i64, u128, usize)>,
    /// `LoadOptions::only_before`, unless strict mode reads every row.
    only_before: Option<Day>,
}

/// An entry of [`HistoryBuilder::entries`] no kept row has used yet.
const UNSEEN: u32 = u32::MAX;

/// A hash of a short id's inline key (it chooses the id's partition).
#[inline]
fn id_hash(id: u128) -> u64 {
    let (lo, hi) = (id as u64, (id >> 64) as u64);
    (lo ^ hi.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xf135_7aea_2e62_a9c5) ^ (lo >> 29)
}

#[inline]
fn part_of(h: u64) -> usize {
    // The high bits of a multiplicative hash are the well-mixed ones.
    (h.wrapping_mul(0x2545_f491_4f6c_dd1d) >> (64 - PART_BITS)) as usize
}

impl HistoryBuilder {
    pub(crate) fn new(source: impl Into<String>, names: ColumnNames, present: Present, options: LoadOptions) -> Self {
        let source = source.into();
        let only_before = options.needed_before();
        HistoryBuilder {
            report: LoadReport { source: source.clone(), ..Default::default() },
            source,
            names,
            options,
            present,
            channels: Interner::default(),
            categories: Interner::default(),
            regions: Interner::default(),
            sources: vec![Source { parts: (0..PARTS).map(|_| Part::default()).collect(), maps: None }],
            stage: Stage::default(),
            zero_only: Default::default(),
            entries: Default::default(),
            numbering: Numbering::Line,
            // No line is dated before year 1: the first order is hashed.
            last_order: (Day::MIN, Vec::new(), 0),
            last_int: None,
            only_before,
        }
    }

    /// Counts `rows` a reader knows, without decoding them, to be dated on or
    /// after [`HistoryBuilder::only_before`] (a row group by its statistics).
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn count_after_cutoff(&mut self, rows: u64) {
        self.report.rows_read += rows;
        self.report.add(SkipReason::AfterCutoff, rows);
    }

    /// Errors number this builder's records as rows of a table (Arrow, Parquet,
    /// values), not lines.
    pub(crate) fn number_rows(mut self) -> Self {
        self.numbering = Numbering::Row;
        self
    }

    /// A new batch whose channel, category and region columns are dictionaries of
    /// these sizes (0 for a column given as text): its rows name their values as
    /// [`Name::Entry`].
    #[cfg_attr(not(feature = "arrow"), allow(dead_code))]
    pub(crate) fn start_dictionaries(&mut self, sizes: [usize; 3]) {
        for (codes, n) in self.entries.iter_mut().zip(sizes) {
            codes.clear();
            codes.resize(n, UNSEEN);
        }
    }

    /// Room for about `n` more lines (spread evenly over the partitions).
    #[cfg_attr(not(feature = "arrow"), allow(dead_code))]
    pub(crate) fn reserve(&mut self, n: usize) {
        if n < PARTS * 64 {
            // Small inputs (many small files of a dataset): grow as lines arrive.
            return;
        }
        let per = n / PARTS + n / PARTS / 8;
        for p in &mut self.sources[0].parts {
            p.amount.reserve(per);
            p.runs.reserve(per);
        }
    }

    /// Whether strict mode is on (a bad row is refused, not counted).
    pub(crate) fn strict(&self) -> bool {
        self.options.strict
    }

    /// The source named in errors.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// Rows read so far.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn rows_read(&self) -> u64 {
        self.report.rows_read
    }

    /// Rows skipped so far (as they were read).
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    pub(crate) fn rows_skipped(&self) -> u64 {
        self.report.total_skipped()
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
                numbering: self.numbering,
                column: column.to_string(),
                value: value.to_string(),
                reason,
            });
        }
        self.report.add(reason, 1);
        Ok(())
    }

    /// Joins builders of consecutive parts of one source (parallel chunks, files of
    /// a dataset), in order. Nothing is copied: the later builders' lines stay
    /// where they are, with maps from their vocabulary codes to the first's.
    pub(crate) fn merge(parts: Vec<HistoryBuilder>) -> Result<HistoryBuilder> {
        let mut parts = parts.into_iter();
        let Some(mut out) = parts.next() else {
            return Ok(HistoryBuilder::new("<empty>", ColumnNames::default(), Present::default(), LoadOptions::default()));
        };
        out.end_input();
        let intern = |into: &mut Interner, from: &Interner, max: u64, what: &'static str| -> Result<Vec<u32>> {
            from.names.iter().map(|n| into.get(n, max, what)).collect()
        };
        let small = u64::from(NONE_CODE);
        for mut p in parts {
            p.end_input();
            let own = [
                intern(&mut out.channels, &p.channels, small, "channels")?,
                intern(&mut out.categories, &p.categories, small, "categories")?,
                intern(&mut out.regions, &p.regions, small, "regions")?,
            ];
            for mut s in std::mem::take(&mut p.sources) {
                // Codes of a source already mapped into p's vocabulary go through p's map.
                s.maps = Some(match s.maps {
                    None => own.clone(),
                    Some(m) => [0, 1, 2].map(|k| m[k].iter().map(|&c| own[k][c as usize]).collect()),
                });
                out.sources.push(s);
            }
            out.report.rows_read += p.report.rows_read;
            out.report.returns += p.report.returns;
            out.report.zero_amount_purchases += p.report.zero_amount_purchases;
            out.zero_only.append(&mut p.zero_only);
            for &(r, n) in &p.report.skipped {
                out.report.add(r, n);
            }
        }
        Ok(out)
    }

    /// Validates one row and stores it, or counts (strict: refuses) it.
    pub(crate) fn push(&mut self, line: u64, row: RawRow<'_>) -> Result<()> {
        self.report.rows_read += 1;
        // A row the cutoff does not need is counted first, whatever its other
        // values: as the rows of a row group skipped whole by its statistics are.
        if let (Some(cutoff), Ok(day)) = (self.only_before, row.day) {
            if day >= cutoff && crate::date::in_file_range(i64::from(day)) {
                self.report.add(SkipReason::AfterCutoff, 1);
                return Ok(());
            }
        }
        // An integer id's key comes from its digits; its text is written only
        // when the key cannot hold it (or a report names it). The same id as the
        // line before's takes that line's key and partition again (writing a key
        // from the digits was ~5% of reading 10M lines with integer ids in time
        // order, where ~3 lines in 4 repeat the id before).
        let long_int_text;
        let (customer, int_key) = match row.customer {
            Id::Text(t) => (trim(t), None),
            Id::Int(v) => match self.last_int {
                Some((last, k, p)) if last == v => ("", Some((k, p))),
                _ => match int_inline_key(v) {
                    Some(k) => {
                        let p = part_of(id_hash(k));
                        self.last_int = Some((v, k, p));
                        ("", Some((k, p)))
                    }
                    None => {
                        long_int_text = v.to_string();
                        (long_int_text.as_str(), None)
                    }
                },
            },
        };
        if customer.is_empty() && int_key.is_none() {
            let col = self.names.customer.clone();
            let raw = if let Id::Text(t) = row.customer { t } else { "" };
            return self.skip(SkipReason::MissingId, line, &col, raw);
        }
        let day = match row.day {
            Ok(d) if crate::date::in_file_range(i64::from(d)) => d,
            // Every reader refuses such days with the value as written; this guard
            // keeps one that slips through from overflowing day arithmetic later.
            Ok(d) => {
                let col = self.names.date.clone();
                return self.skip(SkipReason::BadDate, line, &col, &format!("day {d} (outside years 1 to 9999)"));
            }
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
                    self.zero_only.insert(match row.customer {
                        Id::Int(v) => v.to_string(),
                        Id::Text(_) => customer.to_string(),
                    });
                }
                return self.skip(SkipReason::ZeroAmount, line, &col, "0");
            }
            // +0.0: a purchase line with no spend (a cancelled zero line becomes -0.0, a return).
            amount = 0.0;
        }
        if let Some(end) = self.options.end_day {
            if day > end {
                let col = self.names.date.clone();
                return self.skip(SkipReason::AfterEnd, line, &col, &format_day(day));
            }
        }
        let qty = match row.quantity {
            None => f64::NAN,
            // Stored as f32: beyond its range a quantity is not a count.
            Some(Ok(q)) if q.is_finite() && q.abs() <= f64::from(f32::MAX) => q,
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
            amount = -amount.abs();
            self.report.add(SkipReason::Return, 1);
        } else if amount == 0.0 {
            // Counted once the line is sure to be used (not skipped for its date,
            // quantity or flag).
            self.report.zero_amount_purchases += 1;
        }
        let text_code = |i: &mut Interner, v: Option<&str>, what| -> Result<u16> {
            match v.map(trim) {
                None | Some("") => Ok(NONE_CODE),
                Some(s) => i.get(s, u64::from(NONE_CODE), what).map(|x| x as u16),
            }
        };
        // A dictionary entry is interned once, by the first row kept that uses it
        // (so a name only skipped rows carry never enters the vocabulary).
        // The name by reference: copying it whole (16-byte loads of a row the
        // reader had just written field by field) stalled on every line.
        let code = |i: &mut Interner, entries: &mut Vec<u32>, v: &Name<'_>, what| -> Result<u16> {
            match *v {
                Name::Text(t) => text_code(i, t, what),
                Name::Entry(k, t) => match entries.get(k as usize).copied() {
                    Some(UNSEEN) => {
                        let c = text_code(i, Some(t), what)?;
                        entries[k as usize] = u32::from(c);
                        Ok(c)
                    }
                    Some(c) => Ok(c as u16),
                    None => text_code(i, Some(t), what),
                },
            }
        };
        let [ech, eca, ere] = &mut self.entries;
        let ch = code(&mut self.channels, ech, &row.channel, "channels")?;
        let ca = code(&mut self.categories, eca, &row.category, "categories")?;
        let re = code(&mut self.regions, ere, &row.region, "regions")?;
        // One purchase = the lines of one order on one day (a blank order id counts as
        // no order id). Keying by day too means a line dated later under the same
        // order id (a return, say) is its own event: nothing dated on or after a
        // cutoff can join a purchase made before it.
        // An integer order id is keyed by its decimal text, written here (arrow's
        // cast of the whole column to text cost ~5% of a run on Complete Journey).
        let mut digits = [0u8; 20];
        let order = match row.order {
            Some(Id::Text(t)) => Some(trim(t).as_bytes()),
            Some(Id::Int(v)) => Some(decimal(v, &mut digits)),
            None => None,
        };
        let key = match order {
            Some(o) if self.present.order && !o.is_empty() => {
                // An order's lines arrive together: its key is hashed once.
                let last = &mut self.last_order;
                if last.0 != day || last.1 != o {
                    last.0 = day;
                    last.1.clear();
                    last.1.extend_from_slice(o);
                    last.2 = order_key(day, o);
                }
                last.2
            }
            _ => day as u32 as u64,
        };
        // The customer's partition: from its id alone, so from nothing about row order.
        let (id, p) = match int_key.or_else(|| inline_key(customer).map(|k| (k, part_of(id_hash(k))))) {
            Some(kp) => kp,
            None => {
                let p = part_of(hash_bytes(0x51_7c_c1_b7, customer.as_bytes()));
                let part = &mut self.sources[0].parts[p];
                // Consecutive lines of one customer (logs sorted by customer, or the lines
                // of one order) share the copy of the id.
                let (last_at, last_len) = part.last_long;
                let at = if part.arena.get(last_at..last_at + last_len) == Some(customer.as_bytes()) {
                    last_at
                } else {
                    let at = part.arena.len();
                    part.arena.extend_from_slice(customer.as_bytes());
                    part.last_long = (at, customer.len());
                    at
                };
                (at as u128 | ((customer.len() as u128) << 64) | (u128::from(LONG_TAG) << 120), p)
            }
        };
        let staged = Staged { id: [id as u64, (id >> 64) as u64], key, amount, line, day, qty: qty as f32, names: [ch, ca, re], part: p as u16 };
        if self.stage.push(staged) {
            self.flush();
        }
        Ok(())
    }

    /// Stores the staged lines in their partitions.
    fn flush(&mut self) {
        let line_numbers = self.options.strict && self.options.drop_duplicates;
        self.stage.flush(&mut self.sources[0].parts, line_numbers);
    }

    /// Stores the staged lines and frees the stage: a reader calls this when its
    /// input ends, so that builders kept for a later merge (the files of a
    /// dataset) hold their lines only. Merging and finishing do it too.
    pub(crate) fn end_input(&mut self) {
        self.flush();
        self.stage = Stage::default();
    }

    /// Groups each partition into events (in parallel), then puts the customers
    /// in id order.
    pub(crate) fn finish(self) -> Result<(History, LoadReport)> {
        self.finish_with(&crate::progress::Silent)
    }

    /// [`HistoryBuilder::finish`], ending the read's step on `progress` and
    /// reporting the grouping as its own ("grouping lines into purchases", lines
    /// of each partition as it is grouped): on a large file it takes seconds
    /// after the last row was read. The caller's step end closes it.
    pub(crate) fn finish_with(mut self, progress: &dyn crate::progress::Progress) -> Result<(History, LoadReport)> {
        self.end_input();
        let n: usize = self.sources.iter().flat_map(|s| &s.parts).map(Part::len).sum();
        if n == 0 {
            let reasons = self.report.skipped.iter().map(|(r, n)| format!("{n} {}", r.name())).collect::<Vec<_>>().join(", ");
            let mut report = self.report;
            report.zero_amount_only = std::mem::take(&mut self.zero_only).into_iter().collect();
            return Err(Error::EmptyInput { file: self.source, rows_read: report.rows_read, skipped: reasons, report: Box::new(report) });
        }
        // Sorted vocabularies: the history does not depend on row order.
        let (channels, chmap) = std::mem::take(&mut self.channels).sorted();
        let (categories, camap) = std::mem::take(&mut self.categories).sorted();
        let (regions, remap) = std::mem::take(&mut self.regions).sorted();
        let sorted = [chmap, camap, remap];
        // A hash of each name's text, by sorted code, for the lines' content hashes.
        let text_hashes = |names: &[String]| names.iter().map(|n| Mixer::new(0x6a09_e667).bytes(n.as_bytes()).finish()).collect::<Vec<u64>>();
        let hashes = [text_hashes(&channels), text_hashes(&categories), text_hashes(&regions)];
        // Per source: its codes -> sorted codes.
        let maps: Vec<[Vec<u16>; 3]> = self
            .sources
            .iter()
            .map(|s| {
                [0, 1, 2].map(|k| match &s.maps {
                    None => sorted[k].iter().map(|&c| c as u16).collect(),
                    Some(m) => m[k].iter().map(|&c| sorted[k][c as usize] as u16).collect(),
                })
            })
            .collect();
        // Partition-major: every source's lines of partition p together.
        let mut by_part: Vec<Vec<(usize, Part)>> = (0..PARTS).map(|_| Vec::with_capacity(self.sources.len())).collect();
        for (s, source) in std::mem::take(&mut self.sources).into_iter().enumerate() {
            for (p, part) in source.parts.into_iter().enumerate() {
                if part.len() > 0 {
                    by_part[p].push((s, part));
                }
            }
        }
        let drop_duplicates = self.options.drop_duplicates;
        progress.finish();
        progress.begin("grouping lines into purchases", Some(n as u64), crate::progress::Unit::Rows);
        let done: Vec<PartEvents> = by_part
            .into_par_iter()
            // Buffers per thread, reused from partition to partition.
            .map_init(Scratch::default, |scratch, parts| {
                let lines: usize = parts.iter().map(|(_, p)| p.len()).sum();
                let grouped = group_part(parts, &maps, &hashes, drop_duplicates, scratch);
                progress.advance(lines as u64);
                grouped
            })
            .collect();

        // Exact duplicates in strict mode: the first in customer-id order, as a sequential walk would find it.
        if self.options.strict {
            if let Some((_, line, first_line)) = done.iter().filter_map(|d| d.duplicate.as_ref()).min_by(|a, b| a.0.cmp(&b.0)) {
                return Err(Error::DuplicateLine { file: self.source, line: *line, numbering: self.numbering, first_line: *first_line, first_file: None });
            }
        }
        let mut dups = 0;
        for d in &done {
            dups += d.duplicates;
            self.report.identical_lines += d.identical;
            self.report.returns -= d.duplicate_returns;
            self.report.zero_amount_purchases -= d.duplicate_zeros;
        }
        self.report.add(SkipReason::Duplicate, dups);
        self.report.rows_used = done.iter().map(|d| d.used).sum();
        let num_customers: usize = done.iter().map(|d| d.ids.len()).sum();
        if num_customers as u64 >= u64::from(u32::MAX) {
            return Err(Error::TooMany { what: "customers", max: u64::from(u32::MAX) });
        }
        // Events and category entries are placed by u32 offsets.
        let events: u64 = done.iter().map(|d| d.ev.day.len() as u64).sum();
        let entries: u64 = done.iter().map(|d| d.ev.cat_code.len() as u64).sum();
        if events >= u64::from(u32::MAX) {
            return Err(Error::TooMany { what: "purchases and returns", max: u64::from(u32::MAX) });
        }
        if entries >= u64::from(u32::MAX) {
            return Err(Error::TooMany { what: "purchase categories", max: u64::from(u32::MAX) });
        }
        let mut history = join_parts(done, channels, categories, regions, self.present);
        // Customers whose only lines were skipped zero amounts: named, not silently missing.
        let mut zero_only: Vec<String> = std::mem::take(&mut self.zero_only).into_iter().filter(|id| history.customer_index(id).is_none()).collect();
        zero_only.sort_unstable();
        self.report.zero_amount_only = zero_only;
        self.report.customers = history.num_customers() as u64;
        let (first, last) = history.day_range();
        self.report.dates = Some((format_day(first), format_day(last)));
        // Ids such as "17850.0" beside "17850" (a float column exported as text).
        let twins: Vec<&String> = history
            .customer_ids()
            .par_iter()
            .filter(|id| id.split_once('.').is_some_and(|(whole, zeros)| !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') && history.customer_index(whole).is_some()))
            .collect();
        self.report.float_twin_count = twins.len() as u64;
        self.report.float_twins = twins.into_iter().take(crate::report::FLOAT_TWINS_SHOWN).cloned().collect();
        self.report.purchases = history.chunks.par_iter().map(|k| k.is_purchase.iter().filter(|&&p| p).count() as u64).sum();
        history.source = self.source;
        Ok((history, self.report))
    }
}

/// One partition grouped into events: its customers (local order), each one's
/// events in day order.
#[derive(Default)]
struct PartEvents {
    ids: Vec<String>,
    /// Per local customer, its events: `offsets[c]..offsets[c + 1]`.
    offsets: Vec<u32>,
    /// The events, as a chunk of the history ([`EventsBuilder::chunk`]).
    ev: Chunk,
    used: u64,
    duplicates: u64,
    /// Lines identical to the one before them, kept (without `drop_duplicates`).
    identical: u64,
    /// Duplicates that had been counted as returns / zero-amount purchases when read.
    duplicate_returns: u64,
    duplicate_zeros: u64,
    /// The first exact duplicate: (customer id, its line, the first line).
    duplicate: Option<(String, u64, u64)>,
}

/// Groups the lines of one partition (from every source) into events.
///
/// `scratch` holds the lines and the events being made, kept from one
/// partition to the next.
fn group_part(mut parts: Vec<(usize, Part)>, maps: &[[Vec<u16>; 3]], hashes: &[Vec<u64>; 3], drop_duplicates: bool, scratch: &mut Scratch) -> PartEvents {
    for (_, part) in &mut parts {
        part.close_run();
    }
    let n: usize = parts.iter().map(|(_, p)| p.len()).sum();
    let mut out = PartEvents::default();
    if n == 0 {
        out.offsets.push(0);
        out.ev = EventsBuilder::default().chunk();
        return out;
    }
    // Local customer codes (first seen first) and each run's, in the parts' order.
    let mut short: FxHashMap<u128, u32> = FxHashMap::default();
    let mut long: FxHashMap<String, u32> = FxHashMap::default();
    let mut cust = Vec::with_capacity(parts.iter().map(|(_, p)| p.runs.len()).sum());
    for (_, part) in &parts {
        for r in &part.runs {
            let next = out.ids.len() as u32;
            let id = u128::from(r.id[0]) | (u128::from(r.id[1]) << 64);
            let c = if id.to_le_bytes()[15] == LONG_TAG {
                let text = part.id_text(id);
                match long.get(text.as_ref()) {
                    Some(&c) => c,
                    None => {
                        long.insert(text.to_string(), next);
                        out.ids.push(text.into_owned());
                        next
                    }
                }
            } else {
                *short.entry(id).or_insert_with(|| {
                    out.ids.push(part.id_text(id).into_owned());
                    next
                })
            };
            cust.push(c);
        }
    }
    drop((short, long));
    // Local customers in id order: a walk of all customers in id order then
    // reads each chunk from start to end.
    // Sorted by their first 16 bytes as a number first (see `id_prefix`), so most
    // comparisons touch no string.
    let nc = out.ids.len();
    let mut order: Vec<(u128, u32)> = out.ids.iter().enumerate().map(|(c, id)| (id_prefix(id), c as u32)).collect();
    order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| out.ids[a.1 as usize].cmp(&out.ids[b.1 as usize])));
    let mut rank = vec![0u32; nc];
    for (r, &(_, c)) in order.iter().enumerate() {
        rank[c as usize] = r as u32;
    }
    out.ids = order.iter().map(|&(_, c)| std::mem::take(&mut out.ids[c as usize])).collect();
    // Counting sort of the lines by customer (codes mapped to the sorted vocabularies
    // on the way, each line's content hashed), then each customer's lines by
    // (day, order key, content, source line).
    let mut start = vec![0usize; nc + 1];
    {
        let mut k = 0;
        for (_, part) in &parts {
            for r in &part.runs {
                let c = &mut cust[k];
                *c = rank[*c as usize];
                start[*c as usize + 1] += r.lines() as usize;
                k += 1;
            }
        }
    }
    for c in 0..nc {
        start[c + 1] += start[c];
    }
    let blank = PLine { key: 0, amount: 0.0, day: 0, qty: 0.0, channel: 0, category: 0, region: 0 };
    // Every place below `n` is written before it is read: the buffer is only
    // grown, never cleared (rewriting it cost 6% of this function).
    if scratch.lines.len() < n {
        scratch.lines.resize(n, Line { l: blank, rowhash: 0, line: 0 });
    }
    let lines = &mut scratch.lines[..n];
    let mut pos = start.clone();
    let code = |m: &[u16], c: u16| if c == NONE_CODE { NONE_CODE } else { m[usize::from(c)] };
    let text = |k: usize, c: u16| if c == NONE_CODE { 0 } else { hashes[k][usize::from(c)] };
    let mut k = 0;
    for (s, part) in parts {
        let [ch, ca, re] = &maps[s];
        let mut first = 0;
        for r in &part.runs {
            let c = cust[k] as usize;
            k += 1;
            let end = first + r.lines() as usize;
            for j in first..end {
                let mut l = part.line(r, j);
                l.channel = code(ch, l.channel);
                l.category = code(ca, l.category);
                l.region = code(re, l.region);
                // The line's content, never codes of arrival order (the customer is the
                // same for all lines compared; a cancelled 5 and a -5 are both a return of 5).
                // Fx is enough here (and ~3% of the run cheaper than `Mixer`): within one
                // purchase only the amount, the quantity and the names can differ, the
                // names enter as `Mixer` hashes, and no two of 1.2M (amount, quantity)
                // pairs (cents up to 2,000, quantities 1-6, on one day tried) share a
                // content hash (a Python search; not a proof).
                let mut h = FxHasher::default();
                for w in [l.day as u32 as u64, l.amount.to_bits(), u64::from(l.qty.to_bits()), l.key, text(0, l.channel), text(1, l.category), text(2, l.region)] {
                    h.write_u64(w);
                }
                lines[pos[c]] = Line { l, rowhash: h.finish(), line: part.line_no.get(j).copied().unwrap_or(0) };
                pos[c] += 1;
            }
            first = end;
        }
    }
    drop(cust);
    // By day first: a customer's lines arrive mostly in day order (logs are
    // written in time order), so the sort finds them nearly sorted and the events
    // come out in day order (ties in key order), which `sort_by_day` then keeps.
    // Within an event (one key and day) the order is content, then source line.
    // Each customer's lines are walked right after they are sorted (while they are
    // in the cache): lines of one key into one event; identical lines counted
    // (with `drop_duplicates`, skipped). The events go into the thread's buffer,
    // then are copied out at their exact size: columns grown by doubling keep up
    // to half their room unused, which the history would then hold (a quarter
    // more memory at 10M lines).
    let ev = &mut scratch.ev;
    ev.clear();
    out.offsets.reserve(nc + 1);
    let mut events = 0u32;
    for c in 0..nc {
        out.offsets.push(events);
        let first_event = ev.ev.day.len();
        let s = &mut lines[start[c]..start[c + 1]];
        sort_customer_lines(s);
        let mut prev: Option<&Line> = None;
        for x in s.iter() {
            let l = &x.l;
            if let Some(px) = prev {
                let p = &px.l;
                let same_line = p.key == l.key && p.day == l.day && px.rowhash == x.rowhash;
                if same_line && !drop_duplicates {
                    out.identical += 1;
                } else if same_line {
                    if l.amount.is_sign_negative() {
                        // Counted as a return when read; it is a duplicate instead.
                        out.duplicate_returns += 1;
                    } else if l.amount == 0.0 {
                        out.duplicate_zeros += 1;
                    }
                    if out.duplicate.is_none() {
                        out.duplicate = Some((out.ids[c].clone(), x.line, px.line));
                    }
                    out.duplicates += 1;
                    continue;
                }
                if p.key != l.key || p.day != l.day {
                    ev.close();
                }
            }
            if !ev.open {
                ev.start(l.day);
            }
            ev.add_line(l.amount, f64::from(l.qty), l.channel, l.category, l.region);
            out.used += 1;
            prev = Some(x);
        }
        ev.close();
        // This customer's events by day (ties: key order).
        ev.sort_by_day(first_event);
        events = ev.ev.day.len() as u32;
    }
    out.offsets.push(events);
    out.ev = ev.chunk();
    out
}

/// Puts one customer's lines in (day, order key, content hash, source line)
/// order. Lines usually arrive with their events already in (day, key) order
/// (logs in time order, or by customer and date): then only the lines within
/// each event are sorted (a few: the library sorts short slices by insertion),
/// not the whole customer's.
fn sort_customer_lines(s: &mut [Line]) {
    let event = |x: &Line| (x.l.day, x.l.key);
    if s.windows(2).all(|w| event(&w[0]) <= event(&w[1])) {
        for group in s.chunk_by_mut(|a, b| event(a) == event(b)) {
            group.sort_unstable_by_key(|x| (x.rowhash, x.line));
        }
    } else {
        s.sort_unstable_by_key(|x| (x.l.day, x.l.key, x.rowhash, x.line));
    }
}

/// A grouping thread's buffers, kept from one partition to the next: the
/// partition's lines while they are sorted, and its events as they are made.
#[derive(Default)]
struct Scratch {
    lines: Vec<Line>,
    ev: EventsBuilder,
}

/// A line being grouped: with its content hash and source line (0 unless needed).
#[derive(Clone, Copy)]
struct Line {
    l: PLine,
    rowhash: u64,
    /// Source line (0 when not kept): 48 bytes in all, the same as with a u32 and padding.
    line: u64,
}

const _: () = assert!(std::mem::size_of::<Line>() == 48);

/// An id's first 16 bytes (zeros after a shorter id) as a big-endian number:
/// ids whose prefixes differ are in the order of their prefixes, so sorting by
/// prefix, then by the whole id where prefixes are equal, sorts by id.
fn id_prefix(id: &str) -> u128 {
    let mut k = [0u8; 16];
    let b = id.as_bytes();
    let n = b.len().min(16);
    k[..n].copy_from_slice(&b[..n]);
    u128::from_be_bytes(k)
}

/// Joins grouped partitions into one history, customers in id order. The
/// partitions' events stay where they are, one chunk each: only the customers
/// are put in id order, each pointing at its events.
fn join_parts(parts: Vec<PartEvents>, channels: Vec<String>, categories: Vec<String>, regions: Vec<String>, present: Present) -> History {
    // Customers in id order. Sorted by the ids' first 16 bytes as a big-endian
    // number (the same order as the bytes'), so most comparisons touch no string.
    let mut keyed: Vec<(u128, u32, u32)> = parts.par_iter().enumerate().flat_map_iter(|(p, part)| part.ids.iter().enumerate().map(move |(c, id)| (id_prefix(id), p as u32, c as u32))).collect();
    let id = |&(_, p, c): &(u128, u32, u32)| parts[p as usize].ids[c as usize].as_str();
    // Equal prefixes: one id is a prefix of the other padded with zero bytes, or they share 16 bytes.
    keyed.par_sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| id(a).cmp(id(b))));
    // Each part's ids apart from its offsets and events (each part becomes one
    // chunk): the ids are moved out on one thread while the spans are read on
    // the others (~12 ms on one thread at 357k customers, half of it the spans).
    type Placed = (Vec<u32>, Chunk);
    let (mut ids, rest): (Vec<Vec<String>>, Vec<Placed>) = parts.into_iter().map(|p| (p.ids, (p.offsets, p.ev))).unzip();
    let (customer_ids, spans) = rayon::join(
        || keyed.iter().map(|&(_, p, c)| std::mem::take(&mut ids[p as usize][c as usize])).collect::<Vec<String>>(),
        || keyed.par_iter().map(|&(_, p, c)| Span { chunk: p, start: rest[p as usize].0[c as usize], end: rest[p as usize].0[c as usize + 1] }).collect::<Vec<Span>>(),
    );
    drop((keyed, ids));
    let chunks: Vec<Chunk> = rest.into_iter().map(|(_, ev)| ev).collect();
    let num_events = chunks.iter().map(|k| k.day.len()).sum();
    // The first and last day in one pass over each chunk (0 and 0 without events).
    let (first_day, last_day) = chunks
        .par_iter()
        .filter(|k| !k.day.is_empty())
        .map(|k| k.day.iter().fold((Day::MAX, Day::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d))))
        .reduce_with(|a, b| (a.0.min(b.0), a.1.max(b.1)))
        .unwrap_or((0, 0));
    History {
        source: String::new(),
        customer_ids,
        spans,
        chunks,
        num_events,
        channels,
        categories,
        regions,
        present,
        first_day,
        last_day,
        attributes: None,
    }
}

/// Groups one customer's sorted lines into events; events of a customer are
/// then put in day order ([`EventsBuilder::sort_by_day`]). `cat_off` has one
/// entry per event plus the end of the categories so far.
#[derive(Default)]
struct EventsBuilder {
    open: bool,
    /// The events so far (`cat_off` empty until the first event is closed).
    ev: Chunk,
    /// The open event, added to `ev` when it closes (summed here, not in the
    /// columns' last places, each of which a line would load and store again).
    cur: OpenEvent,
    cur_cats: Vec<(u16, f64)>,
    // scratch for sorting a customer's events
    scratch: Vec<(Day, u32)>,
}

/// The event being summed: one value of each of [`Chunk`]'s columns.
#[derive(Clone, Copy, Default)]
struct OpenEvent {
    day: Day,
    gross: f64,
    returned: f64,
    qty: f64,
    channel: u16,
    region: u16,
    /// Whether it has a purchased line (amount +0.0 or more).
    is_purchase: bool,
}

impl EventsBuilder {
    /// No events (the buffers' room kept).
    fn clear(&mut self) {
        let Chunk { day, gross, returned, qty, channel, region, is_purchase, cat_off, cat_code, cat_amount } = &mut self.ev;
        day.clear();
        gross.clear();
        returned.clear();
        qty.clear();
        channel.clear();
        region.clear();
        is_purchase.clear();
        cat_off.clear();
        cat_code.clear();
        cat_amount.clear();
        self.open = false;
    }

    /// A copy of the (closed) events as a chunk of the history, each column with
    /// room for exactly its values (a cloned `Vec` has room for its length).
    fn chunk(&self) -> Chunk {
        let mut ev = self.ev.clone();
        // Without events there are no offsets yet: the end of their (no) categories.
        if ev.cat_off.is_empty() {
            ev.cat_off = vec![0];
        }
        ev
    }

    fn start(&mut self, day: Day) {
        self.open = true;
        self.cur = OpenEvent { day, gross: 0.0, returned: 0.0, qty: 0.0, channel: NONE_CODE, region: NONE_CODE, is_purchase: false };
        self.cur_cats.clear();
    }

    #[inline]
    fn add_line(&mut self, amount: f64, qty: f64, channel: u16, category: u16, region: u16) {
        let e = &mut self.cur;
        // Returns are stored negative (-0.0 for a cancelled zero line); +0.0 is a
        // purchase line with no spend.
        if amount.is_sign_positive() {
            e.gross += amount;
            if !e.is_purchase {
                // The event's channel and region are those of its first purchased line.
                e.channel = channel;
                e.region = region;
                e.is_purchase = true;
            }
            if category != NONE_CODE {
                match self.cur_cats.iter_mut().find(|(c, _)| *c == category) {
                    Some((_, a)) => *a += amount,
                    None => self.cur_cats.push((category, amount)),
                }
            }
            if qty.is_finite() {
                e.qty += qty;
            }
        } else {
            e.returned += -amount;
            if !e.is_purchase && e.channel == NONE_CODE {
                e.channel = channel;
                e.region = region;
            }
        }
    }

    fn close(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        let OpenEvent { day, gross, returned, qty, channel, region, is_purchase } = self.cur;
        self.ev.day.push(day);
        self.ev.gross.push(gross);
        self.ev.returned.push(returned);
        self.ev.qty.push(qty);
        self.ev.channel.push(channel);
        self.ev.region.push(region);
        self.ev.is_purchase.push(is_purchase);
        self.cur_cats.sort_unstable_by_key(|(c, _)| *c);
        if self.ev.cat_off.is_empty() {
            self.ev.cat_off.push(0);
        }
        // cat_off's last entry is the end of the categories so far: the new event starts there.
        for &(c, a) in &self.cur_cats {
            self.ev.cat_code.push(c);
            self.ev.cat_amount.push(a);
        }
        self.ev.cat_off.push(self.ev.cat_code.len() as u32);
    }

    /// Puts the events from `first` on (one customer's, in key order) in day
    /// order; ties keep key order.
    fn sort_by_day(&mut self, first: usize) {
        let m = self.ev.day.len();
        if m - first < 2 || self.ev.day[first..].windows(2).all(|w| w[0] <= w[1]) {
            return;
        }
        let mut idx = std::mem::take(&mut self.scratch);
        idx.clear();
        idx.extend((first..m).map(|e| (self.ev.day[e], e as u32)));
        idx.sort_unstable();
        fn permute<T: Copy>(v: &mut [T], first: usize, idx: &[(Day, u32)]) {
            let picked: Vec<T> = idx.iter().map(|&(_, e)| v[e as usize]).collect();
            v[first..].copy_from_slice(&picked);
        }
        permute(&mut self.ev.day, first, &idx);
        permute(&mut self.ev.gross, first, &idx);
        permute(&mut self.ev.returned, first, &idx);
        permute(&mut self.ev.qty, first, &idx);
        permute(&mut self.ev.channel, first, &idx);
        permute(&mut self.ev.region, first, &idx);
        permute(&mut self.ev.is_purchase, first, &idx);
        // Categories: cat_off[e]..cat_off[e+1] per event; rebuild this customer's run.
        let base = self.ev.cat_off[first] as usize;
        let mut codes = Vec::with_capacity(self.ev.cat_code.len() - base);
        let mut amounts = Vec::with_capacity(codes.capacity());
        let mut offs = Vec::with_capacity(m - first);
        for &(_, e) in &idx {
            offs.push((base + codes.len()) as u32);
            let (a, b) = (self.ev.cat_off[e as usize] as usize, self.ev.cat_off[e as usize + 1] as usize);
            codes.extend_from_slice(&self.ev.cat_code[a..b]);
            amounts.extend_from_slice(&self.ev.cat_amount[a..b]);
        }
        self.ev.cat_code[base..].copy_from_slice(&codes);
        self.ev.cat_amount[base..].copy_from_slice(&amounts);
        self.ev.cat_off[first..m].copy_from_slice(&offs);
        self.scratch = idx;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    /// `digits8` writes every number below 10^8 as its 8 digits (every 97th
    /// number, and every number below 10^5 and around each power of ten).
    #[test]
    fn eight_digits_are_the_decimal_text() {
        let check = |x: u64| assert_eq!(digits8(x).to_le_bytes(), *format!("{x:08}").as_bytes(), "{x}");
        (0..100_000).chain((0..100_000_000).step_by(97)).chain((1..=8).flat_map(|p| { let t = 10u64.pow(p); t - 3..(t + 3).min(100_000_000) })).for_each(check);
    }

    /// An integer id's key is its decimal text's, up to the longest text a key
    /// holds (15 bytes) and none beyond, whatever the sign.
    #[test]
    fn integer_keys_are_their_texts_keys_at_the_edges() {
        let p15 = 999_999_999_999_999i64;
        for v in [0, 1, -1, 9, 10, -10, 99, 100, 123_456, -123_456, p15, p15 + 1, -(p15 / 10), -(p15 / 10) - 1, i64::MAX, i64::MIN, i64::MIN + 1] {
            assert_eq!(int_inline_key(v), inline_key(&v.to_string()), "{v}");
        }
        assert!(int_inline_key(p15).is_some() && int_inline_key(p15 + 1).is_none());
        assert!(int_inline_key(-(p15 / 10)).is_some() && int_inline_key(-(p15 / 10) - 1).is_none());
    }

    proptest! {
        /// Any integer's key is the key of its decimal text (or none, as for the text).
        #[test]
        fn integer_keys_are_their_texts_keys(v in any::<i64>(), digits in 0u32..19) {
            let small = v % 10i64.pow(digits);
            for v in [v, small] {
                prop_assert_eq!(int_inline_key(v), inline_key(&v.to_string()));
            }
        }

        /// An integer order id is keyed by its decimal text: `decimal` writes what
        /// `to_string` writes, for any integer and the edges of `i64`.
        #[test]
        fn decimal_is_the_integers_text(v in any::<i64>(), digits in 0u32..19) {
            let mut buf = [0u8; 20];
            for v in [v, v % 10i64.pow(digits), 0, -1, i64::MIN, i64::MAX] {
                let text = v.to_string();
                prop_assert_eq!(decimal(v, &mut buf), text.as_bytes());
            }
        }

        /// A customer's lines come out in the order the full sort gives, whether
        /// their events arrive in order (only each event's lines sorted) or not.
        #[test]
        fn customer_lines_sort_as_the_full_sort(
            raw in proptest::collection::vec((0i32..4, 0u64..3, 0u64..5, 0u64..3), 0..200),
            presorted in any::<bool>(),
        ) {
            let mut lines: Vec<Line> = raw
                .iter()
                .map(|&(day, key, rowhash, line)| {
                    let l = PLine { key, amount: rowhash as f64, day, qty: 0.0, channel: 0, category: 0, region: 0 };
                    Line { l, rowhash, line }
                })
                .collect();
            if presorted {
                lines.sort_by_key(|x| (x.l.day, x.l.key));
            }
            let key = |x: &Line| (x.l.day, x.l.key, x.rowhash, x.line);
            let mut expected: Vec<_> = lines.iter().map(key).collect();
            expected.sort_unstable();
            sort_customer_lines(&mut lines);
            prop_assert_eq!(lines.iter().map(key).collect::<Vec<_>>(), expected);
        }

        /// Sorting by 16-byte prefix, then by the whole id, is sorting by id: ids
        /// short and long, sharing prefixes, with zero bytes and beyond ASCII.
        #[test]
        fn ids_by_prefix_then_text_are_in_id_order(ids in proptest::collection::btree_set("(ab|\\x00|c|é|[0-9]){0,20}", 0..60)) {
            let mut by_prefix: Vec<&String> = ids.iter().collect();
            by_prefix.sort_unstable_by(|a, b| id_prefix(a).cmp(&id_prefix(b)).then_with(|| a.cmp(b)));
            prop_assert_eq!(by_prefix, ids.iter().collect::<Vec<_>>());
        }
    }

    /// Orders whose purchase keys collided under the old, day-seeded key (`50-10` on
    /// day 19182 and `50-17` on day 19246; `1234567` and `12345678` on one day) are
    /// separate purchases, each on its day — they were one, dated the first day.
    #[test]
    fn orders_whose_old_keys_collided_are_separate_purchases() {
        let old_key = |day: Day, o: &str| hash_bytes(0x9e37_79b9 ^ u64::from(day as u32), o.as_bytes());
        assert_eq!(old_key(19182, "50-10"), old_key(19246, "50-17"));
        assert_eq!(old_key(19300, "1234567"), old_key(19300, "12345678"));
        let line = |day, order, amount| crate::history::Line { customer: "50", day, amount, order: Some(order), ..Default::default() };
        let lines = [line(19182, "50-10", 10.0), line(19246, "50-17", 7.0), line(19246, "50-17", 1.0), line(19300, "1234567", 2.0), line(19300, "12345678", 3.0)];
        let (h, _) = History::from_lines(lines, true, &Default::default()).unwrap();
        let mut events: Vec<(Day, f64)> = h.events(0).map(|e| (e.day, e.gross)).collect();
        events.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(events, [(19182, 10.0), (19246, 8.0), (19300, 2.0), (19300, 3.0)]);
    }


    #[test]
    fn inline_keys_are_the_bytes_then_the_length() {
        let text = "abcdefghijklmnopq\u{e9}";
        for end in 0..=text.len() {
            let Some(s) = text.get(..end) else { continue };
            let mut k = [0u8; 16];
            let want = (s.len() <= 15).then(|| {
                k[..s.len()].copy_from_slice(s.as_bytes());
                k[15] = s.len() as u8;
                u128::from_le_bytes(k)
            });
            assert_eq!(inline_key(s), want, "{s:?}");
        }
    }

    #[test]
    fn the_quick_trim_is_str_trim() {
        for s in ["", " ", "a", " a", "a ", "\ta\n", "ab", "a b", "\u{a0}x", "x\u{3000}", "é", " é ", "\u{2003}", "c001", "x\r", "\x0b", "a\x0b", "\x0ba", "\x0c1\x1f", "\x00", "~"] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }

    /// Customers spread over every partition (70,000 of them), in id order, each
    /// pointing at its own events, category spend and channel in its chunk; each
    /// chunk's columns hold exactly its events.
    #[test]
    fn customers_in_id_order_point_at_their_own_events() {
        let n = 70_000usize;
        let ids: Vec<String> = (0..n).map(|c| format!("{c:06}")).collect();
        let cats = ["a", "b", "c"];
        let lines: Vec<crate::Line> = ids
            .iter()
            .enumerate()
            .flat_map(|(c, id)| {
                // Customer c: a purchase of c + 1 on day c % 50 (category c % 3, plus "c"
                // for every fifth customer), and a return of 1 on day 60.
                let mut v = vec![crate::Line { customer: id.as_str(), day: (c % 50) as i32, amount: (c + 1) as f64, category: Some(cats[c % 3]), channel: Some("web"), ..Default::default() }];
                if c % 5 == 0 {
                    v.push(crate::Line { customer: id.as_str(), day: (c % 50) as i32, amount: 0.5, category: Some("c"), channel: Some("web"), ..Default::default() });
                }
                v.push(crate::Line { customer: id.as_str(), day: 60, amount: -1.0, channel: Some("web"), ..Default::default() });
                v
            })
            .collect();
        let (h, _) = History::from_lines(lines, false, &Default::default()).unwrap();
        assert_eq!(h.customer_ids, ids);
        assert_eq!(h.spans.len(), n);
        for c in 0..n {
            let ev = h.customer(c);
            assert_eq!(ev.len(), 2, "customer {c}");
            assert_eq!((ev.day[0], ev.day[1]), ((c % 50) as i32, 60));
            let extra = if c % 5 == 0 { 0.5 } else { 0.0 };
            assert_eq!((ev.gross[0], ev.returned[1]), ((c + 1) as f64 + extra, 1.0));
            let spend: Vec<(&str, f64)> = ev.categories(0).map(|(k, v)| (h.categories[usize::from(k)].as_str(), v)).collect();
            let mut want = vec![(cats[c % 3], (c + 1) as f64)];
            if c % 5 == 0 {
                match want[0].0 {
                    "c" => want[0].1 += 0.5,
                    _ => want.push(("c", 0.5)),
                }
            }
            assert_eq!(spend, want, "customer {c}");
            assert_eq!(ev.categories(1).count(), 0, "the return has no category");
            assert_eq!(h.channels[usize::from(ev.channel[0])], "web");
        }
        assert_eq!(h.chunks.len(), PARTS);
        for k in &h.chunks {
            assert_eq!(k.cat_off.len(), k.day.len() + 1);
            assert_eq!(k.cat_off[k.cat_off.len() - 1] as usize, k.cat_code.len());
            // Reserved to the exact length, not grown.
            assert_eq!((k.day.capacity(), k.gross.capacity(), k.is_purchase.capacity()), (k.day.len(), k.gross.len(), k.is_purchase.len()));
            assert_eq!((k.cat_code.capacity(), k.cat_amount.capacity(), k.cat_off.capacity()), (k.cat_code.len(), k.cat_amount.len(), k.cat_off.len()));
        }
        assert_eq!(h.num_events(), 2 * n);
    }

    /// The columns are reserved to exactly what the walk pushes, also with
    /// identical lines (kept or dropped), returns of -0.0, purchases of +0.0 and
    /// lines without a category; every chunk, empty ones too, holds no spare room.
    #[test]
    fn chunks_hold_exactly_their_events_whatever_the_lines() {
        let l = |customer, day, order, amount: f64, category, cancelled| crate::history::Line { customer, day, amount, order, category, cancelled, ..Default::default() };
        let lines = || {
            vec![
                l("a", 10, Some("o1"), 5.0, Some("x"), false),
                l("a", 10, Some("o1"), 5.0, Some("x"), false),
                l("a", 10, Some("o1"), 3.0, Some("y"), false),
                l("a", 10, Some("o1"), -2.0, Some("x"), false),
                l("a", 10, Some("o1"), 0.0, Some("w"), true),
                l("a", 10, Some("o1"), 0.0, Some("z"), false),
                l("a", 10, Some("o2"), 1.0, None, false),
                l("a", 12, None, -4.0, Some("x"), false),
                l("b", 3, Some("o9"), 2.5, Some("y"), false),
            ]
        };
        for drop_duplicates in [false, true] {
            let options = LoadOptions { drop_duplicates, ..Default::default() };
            let (h, report) = History::from_lines(lines(), true, &options).unwrap();
            assert_eq!((h.num_events(), report.purchases), (4, 3), "drop_duplicates {drop_duplicates}");
            let a = h.customer(0);
            // Orders o1 and o2 share a day: their order is their keys'.
            let o1 = if a.gross[0] == 1.0 { 1 } else { 0 };
            let spend: Vec<(&str, f64)> = a.categories(o1).map(|(k, v)| (h.categories[usize::from(k)].as_str(), v)).collect();
            let x = if drop_duplicates { 5.0 } else { 10.0 };
            assert_eq!(spend, [("x", x), ("y", 3.0), ("z", 0.0)]);
            assert_eq!((a.categories(1 - o1).count(), a.categories(2).count()), (0, 0));
            assert_eq!((a.gross[o1], a.returned[o1], a.gross[1 - o1], a.returned[2], a.day), (x + 3.0, 2.0, 1.0, 4.0, &[10, 10, 12][..]));
            assert_eq!(h.chunks.len(), PARTS);
            for k in &h.chunks {
                assert_eq!(k.cat_off.len(), k.day.len() + 1);
                assert_eq!((k.day.capacity(), k.gross.capacity(), k.returned.capacity(), k.qty.capacity()), (k.day.len(), k.gross.len(), k.returned.len(), k.qty.len()));
                assert_eq!((k.channel.capacity(), k.region.capacity(), k.is_purchase.capacity()), (k.channel.len(), k.region.len(), k.is_purchase.len()));
                assert_eq!((k.cat_code.capacity(), k.cat_amount.capacity(), k.cat_off.capacity()), (k.cat_code.len(), k.cat_amount.len(), k.cat_off.len()));
            }
        }
    }

    /// Codes come from the cache, the small-vocabulary scan or the maps alike:
    /// every name keeps the code it first got, whatever collides in the cache.
    #[test]
    fn interned_codes_are_stable_through_the_cache() {
        let mut i = Interner::default();
        let names: Vec<String> = (0..300).map(|k| format!("level-{k}")).collect();
        let long = "a name longer than fifteen bytes".to_string();
        let first: Vec<u32> = names.iter().map(|n| i.get(n, 10_000, "levels").unwrap()).collect();
        assert_eq!(first, (0..300).collect::<Vec<u32>>());
        let l = i.get(&long, 10_000, "levels").unwrap();
        for round in 0..3 {
            for (k, n) in names.iter().enumerate().rev() {
                assert_eq!(i.get(n, 10_000, "levels").unwrap(), k as u32, "round {round}");
            }
            assert_eq!(i.get(&long, 10_000, "levels").unwrap(), l);
        }
        assert!(matches!(i.get("one more", 301, "levels"), Err(Error::TooMany { max: 301, .. })));
        // The empty name's key is 0, the key of an empty cache slot: it is interned, not read from the slot.
        let mut fresh = Interner::default();
        assert_eq!(fresh.get("x", 10, "levels").unwrap(), 0);
        assert_eq!(fresh.get("", 10, "levels").unwrap(), 1);
        assert_eq!(fresh.get("", 10, "levels").unwrap(), 1);
    }
}
