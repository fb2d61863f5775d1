//! What a cutoff needs from *every* customer, as counts that merge exactly.
//!
//! Most features are one customer's own business, but a few are not: the learned
//! lapse threshold (a quantile of all purchase gaps), the RFM quintile edges, the
//! ABC (Pareto) classes, the BG/NBD parameters, and the category, channel and region
//! vocabularies. A [`Census`] holds the counts these are computed from: customers
//! per recency, per purchase count, per net spend and per BG/NBD pattern, the gap
//! histogram, and purchase counts per level. Counts add up exactly, so the census
//! of a history split by customer into shards, merged in any order, equals the
//! census of the whole history, and everything computed from it is the same to the
//! bit. The single-machine path computes its population facts through this very
//! type; a cluster (Spark) computes one census per partition and merges them.
//!
//! ```
//! use winback_core::census::Census;
//! use winback_core::{History, Line, LoadOptions, date::day_from_ymd};
//! let d = |m, dd| day_from_ymd(2024, m, dd);
//! let line = |customer, day, amount| Line { customer, day, amount, ..Default::default() };
//! let lines = [line("a", d(1, 1), 10.0), line("a", d(1, 11), 5.0), line("b", d(1, 5), 7.0)];
//! let load = |l: &[Line<'static>]| History::from_lines(l.to_vec(), false, &LoadOptions::default()).map(|r| r.0);
//! let cutoff = d(2, 1);
//! // Two shards, one customer each, merged: the same census as the whole history.
//! let mut merged = Census::default();
//! for shard in [&lines[..2], &lines[2..]] {
//!     merged.merge(&Census::of(&load(shard)?, cutoff))?;
//! }
//! assert_eq!(merged, Census::of(&load(&lines)?, cutoff));
//! assert_eq!(merged.customers, 2);
//! assert_eq!(merged.gaps, vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]); // a's one gap of 10 days
//! assert_eq!(merged.lapsed_at_least(22), 1); // b: 27 days since Jan 5th (a: 21)
//! # Ok::<(), winback_core::Error>(())
//! ```

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use winback_stats::btyd::{BgNbd, Pattern};

use crate::date::Day;
use crate::history::{CustomerEvents, NONE_CODE};
use crate::summary::{gap_histogram, Summary};
use crate::{Error, History, Present, Result};

/// The longest gap histogram a census may hold (days).
const MAX_GAP_DAYS: usize = 1_000_000;

/// Category spend is counted in units of 1/10,000 (fixed point), so that sums are
/// exact and do not depend on the order in which shards are added.
pub const CATEGORY_UNITS: f64 = 10_000.0;

/// Counts of every customer with a purchase before one cutoff (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Census {
    /// The cutoff `T` (days; purchases strictly before it count).
    pub cutoff: Day,
    /// Optional columns of the source.
    pub present: Present,
    /// Customers with at least one purchase before `T`.
    pub customers: u64,
    /// Days since the last purchase → customers.
    pub recency: BTreeMap<i64, u64>,
    /// Purchases (distinct purchase events) → customers.
    pub purchases: BTreeMap<u32, u64>,
    /// Net spend → customers, as `(f64::to_bits, count)` sorted by value
    /// (`f64::total_cmp`): bits keep the value exact in any text format.
    pub spend: Vec<(u64, u64)>,
    /// BG/NBD pattern `(x, t_x, T)` in days → customers (a list of pairs in text).
    #[serde(with = "pairs")]
    pub patterns: BTreeMap<(u32, u32, u32), u64>,
    /// Gap between consecutive purchase days (index = days) → gaps.
    pub gaps: Vec<u64>,
    /// Purchases per channel name.
    pub channels: BTreeMap<String, u64>,
    /// Purchases per region name.
    pub regions: BTreeMap<String, u64>,
    /// Category value per category name, in units of 1/[`CATEGORY_UNITS`].
    pub categories: BTreeMap<String, i64>,
}

impl Census {
    /// The census of every customer of `history` at `cutoff`.
    pub fn of(history: &History, cutoff: Day) -> Census {
        let mut census = Census::without_gaps(history, cutoff);
        census.gaps = gap_counts(history, cutoff);
        census
    }

    /// [`Census::of`] without the gap histogram (what learning a schema needs).
    /// Only what the census counts of each customer is kept (32 bytes a
    /// customer, not a whole summary), read straight from its events, on every
    /// core: each thread counts a stretch of customers, and the stretches'
    /// counts are joined.
    pub(crate) fn without_gaps(history: &History, cutoff: Day) -> Census {
        Census::counted(history, cutoff, false).0
    }

    /// [`Census::without_gaps`], and the customers it counts — those with a
    /// purchase before `cutoff`, what [`History::with_purchase_before`] gives —
    /// found by the same pass, in index order.
    pub(crate) fn without_gaps_with_buyers(history: &History, cutoff: Day) -> (Census, Vec<usize>) {
        Census::counted(history, cutoff, true)
    }

    /// The census's pass, also collecting the customers counted when `buyers`.
    fn counted(history: &History, cutoff: Day, buyers: bool) -> (Census, Vec<usize>) {
        // Customers in the order their events lie, so a thread reads each chunk front
        // to back. The census does not depend on the order nor on how the customers
        // are split (the tallies are sorted, and the sums add counts and non-negative
        // category units, saturating, which no order changes).
        let order = history.chunk_order(0..history.num_customers());
        // Stretches of a fixed length, each counted into vectors of that capacity,
        // then joined once into vectors of the exact total: grown push by push and
        // appended pairwise, the tallies were copied again and again (memmove and
        // fresh pages were a fifth of the census's time at 10M lines).
        let stretch = (order.len() / (8 * rayon::current_num_threads()).max(1)).max(4096);
        let parts: Vec<(Counts, Vec<u32>)> = order
            .par_chunks(stretch)
            .map(|part| {
                let mut t = Counts::new(history, cutoff).with_capacity(part.len());
                let mut sums = CategorySums::new(history.categories().len());
                let mut counted = Vec::with_capacity(if buyers { part.len() } else { 0 });
                for &(c, span) in part {
                    if t.add_events(history.events_at(span), &mut sums) && buyers {
                        counted.push(c);
                    }
                }
                (t, counted)
            })
            .collect();
        let (parts, counted): (Vec<Counts>, Vec<Vec<u32>>) = parts.into_iter().unzip();
        // The buyers in id order while the tallies are counted.
        let (census, all) = rayon::join(
            || Counts::census_of_parts(history, cutoff, parts),
            || {
                let mut all: Vec<u32> = counted.concat();
                all.par_sort_unstable();
                all
            },
        );
        (census, all.into_iter().map(|c| c as usize).collect())
    }

    /// [`Census::without_gaps`] from every customer's summary at `cutoff` (one per
    /// customer of `history`, in order), already computed.
    pub(crate) fn of_summaries(history: &History, cutoff: Day, sums: &[Option<Summary>]) -> Census {
        let mut tally = Counts::new(history, cutoff);
        sums.iter().flatten().for_each(|s| tally.add(s));
        tally.census(history)
    }

    /// The customer counts (recency, purchases, spend, patterns) of per-customer
    /// summaries; no gaps, vocabularies or column flags.
    pub(crate) fn from_summaries(cutoff: Day, sums: &[Option<Summary>]) -> Census {
        let mut tally = Counts { cutoff, ..Default::default() };
        sums.iter().flatten().for_each(|s| tally.add(s));
        tally.counts()
    }

    /// Checks a census received as a message (from another process or machine):
    /// net spend sorted and distinct, every customer counted once in each of its
    /// tallies, no negative recency, a bounded gap histogram and no negative category value.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::InvalidCensus { cutoff: crate::date::format_day(self.cutoff), what: what.to_string() });
        if self.spend.windows(2).any(|w| f64::from_bits(w[0].0).total_cmp(&f64::from_bits(w[1].0)) != std::cmp::Ordering::Less) {
            return bad("net spend values not sorted and distinct");
        }
        let n = self.customers;
        let sums = [
            self.recency.values().sum::<u64>(),
            self.purchases.values().sum::<u64>(),
            self.spend.iter().map(|s| s.1).sum::<u64>(),
            self.patterns.values().sum::<u64>(),
        ];
        if sums.iter().any(|&s| s != n) {
            return bad("tallies that do not count every customer once");
        }
        if self.recency.keys().next().is_some_and(|&d| d < 0) {
            return bad("a negative recency");
        }
        if self.gaps.len() > MAX_GAP_DAYS {
            return bad("a gap histogram longer than 1,000,000 days");
        }
        // Category value is spend on purchased lines: never negative (and only then
        // do saturating sums merge to the same total in any order).
        if self.categories.values().any(|&v| v < 0) {
            return bad("a negative category value");
        }
        Ok(())
    }

    /// Adds another shard's census (same cutoff; the shards hold different customers).
    pub fn merge(&mut self, other: &Census) -> Result<()> {
        if (self.customers > 0 || !self.gaps.is_empty()) && self.cutoff != other.cutoff {
            return Err(Error::CensusCutoff { census: crate::date::format_day(other.cutoff), cutoff: crate::date::format_day(self.cutoff) });
        }
        self.cutoff = other.cutoff;
        self.present = Present {
            quantity: self.present.quantity || other.present.quantity,
            order: self.present.order || other.present.order,
            channel: self.present.channel || other.present.channel,
            category: self.present.category || other.present.category,
            region: self.present.region || other.present.region,
        };
        self.customers += other.customers;
        add_all(&mut self.recency, &other.recency);
        add_all(&mut self.purchases, &other.purchases);
        add_all(&mut self.patterns, &other.patterns);
        add_all(&mut self.channels, &other.channels);
        add_all(&mut self.regions, &other.regions);
        add_all(&mut self.categories, &other.categories);
        if self.gaps.len() < other.gaps.len() {
            self.gaps.resize(other.gaps.len(), 0);
        }
        for (a, b) in self.gaps.iter_mut().zip(&other.gaps) {
            *a += b;
        }
        let mut spend = std::mem::take(&mut self.spend);
        spend.extend_from_slice(&other.spend);
        spend.sort_by(|a, b| f64::from_bits(a.0).total_cmp(&f64::from_bits(b.0)));
        self.spend = run_lengths(spend.into_iter());
        Ok(())
    }

    /// Customers whose last purchase is at least `days` before the cutoff.
    pub fn lapsed_at_least(&self, days: i64) -> u64 {
        self.recency.range(days..).map(|(_, n)| n).sum()
    }

    /// The population facts at the cutoff (RFM edges, ABC cuts, and the BG/NBD fit
    /// when `btyd`).
    pub(crate) fn population(&self, btyd: bool) -> Population {
        // The fit (its patterns gathered, rounded and merged on one thread before
        // the likelihood runs on all) alongside the RFM edges and ABC cuts, which
        // walk every distinct spend on one thread too (~8 ms together at 357k
        // customers, one after the other).
        let fit = || {
            btyd.then(|| {
                let patterns: Vec<Pattern> = self
                    .patterns
                    .iter()
                    .map(|(&(x, t_x, t), &n)| Pattern { x: f64::from(x), t_x: f64::from(t_x), t: f64::from(t), weight: n as f64 })
                    .collect();
                BgNbd::fit(&patterns)
            })
            .flatten()
        };
        let (btyd, mut population) = rayon::join(fit, || self.rfm_abc());
        population.btyd = btyd;
        population
    }

    /// [`Census::population`] without the BG/NBD fit.
    fn rfm_abc(&self) -> Population {
        let r: Vec<(f64, u64)> = self.recency.iter().map(|(&d, &n)| (d as f64, n)).collect();
        let f: Vec<(f64, u64)> = self.purchases.iter().map(|(&p, &n)| (f64::from(p), n)).collect();
        let m: Vec<(f64, u64)> = self.spend.iter().map(|&(b, n)| (f64::from_bits(b), n)).collect();
        // ABC: customers by net spend, highest first; a value's class follows the share
        // of spend above it, so equal spend means the same class.
        let total: f64 = m.iter().rev().map(|&(v, n)| v.max(0.0) * n as f64).sum();
        let (mut a_min, mut b_min) = (None, None);
        let mut cum = 0.0;
        for &(v, n) in m.iter().rev() {
            if v <= 0.0 || total <= 0.0 {
                break;
            }
            let share_before = cum / total;
            if share_before < 0.8 {
                a_min = Some(v);
            } else if share_before < 0.95 {
                b_min = Some(v);
            }
            cum += v * n as f64;
        }
        Population { r_bp: breakpoints(&r), f_bp: breakpoints(&f), m_bp: breakpoints(&m), abc_a_min: a_min, abc_b_min: b_min, btyd: None }
    }
}

/// Population-level facts at the cutoff: RFM breakpoints, ABC cuts, the BG/NBD fit.
#[derive(Debug, Clone)]
pub(crate) struct Population {
    pub(crate) r_bp: [f64; 4],
    pub(crate) f_bp: [f64; 4],
    pub(crate) m_bp: [f64; 4],
    /// Lowest net spend in class A (`None`: nobody).
    pub(crate) abc_a_min: Option<f64>,
    /// Lowest net spend in class B.
    pub(crate) abc_b_min: Option<f64>,
    pub(crate) btyd: Option<BgNbd>,
}

impl Population {
    /// ABC class of a net spend: 0 = A (the customers making the top 80% of net
    /// spend), 1 = B (the next 15%), 2 = C (the rest, and all spend ≤ 0).
    pub(crate) fn abc(&self, net: f64) -> u8 {
        if net <= 0.0 {
            2
        } else if self.abc_a_min.is_some_and(|a| net >= a) {
            0
        } else if self.abc_b_min.is_some_and(|b| net >= b) {
            1
        } else {
            2
        }
    }
}

/// What a census counts of each customer, added customer by customer; the
/// counts are then taken from the keys sorted, so the census is the same as
/// inserting customer by customer, in any order of customers (the category
/// sums saturate, but add non-negative units, whose saturated sum no order
/// changes).
#[derive(Default)]
struct Counts {
    cutoff: Day,
    recency: Vec<i64>,
    purchases: Vec<u32>,
    patterns: Vec<(u32, u32, u32)>,
    spend: Vec<f64>,
    /// Tallied by code, then named: no string per customer and level (empty
    /// without a history's vocabularies).
    channels: Vec<Option<u64>>,
    regions: Vec<Option<u64>>,
    categories: Vec<Option<i64>>,
}

impl Counts {
    fn new(history: &History, cutoff: Day) -> Counts {
        Counts {
            cutoff,
            channels: vec![None; history.channels().len()],
            regions: vec![None; history.regions().len()],
            categories: vec![None; history.categories().len()],
            ..Default::default()
        }
    }

    /// Room for `n` customers in each tally.
    fn with_capacity(mut self, n: usize) -> Counts {
        self.recency.reserve_exact(n);
        self.purchases.reserve_exact(n);
        self.patterns.reserve_exact(n);
        self.spend.reserve_exact(n);
        self
    }

    /// The counts of two sets of customers together.
    fn join(mut self, mut other: Counts) -> Counts {
        self.recency.append(&mut other.recency);
        self.purchases.append(&mut other.purchases);
        self.patterns.append(&mut other.patterns);
        self.spend.append(&mut other.spend);
        fn sum<T: Copy>(into: &mut [Option<T>], from: Vec<Option<T>>, plus: impl Fn(T, T) -> T) {
            for (a, b) in into.iter_mut().zip(from) {
                if let Some(b) = b {
                    *a = Some(match *a {
                        Some(x) => plus(x, b),
                        None => b,
                    });
                }
            }
        }
        sum(&mut self.channels, other.channels, |a, b| a + b);
        sum(&mut self.regions, other.regions, |a, b| a + b);
        sum(&mut self.categories, other.categories, i64::saturating_add);
        self
    }

    fn add(&mut self, s: &Summary) {
        self.push_customer(s.last, s.purchases, pattern_key(s, self.cutoff), s.gross - s.returned);
        for &(k, n) in &s.channels {
            if let Some(t) = self.channels.get_mut(usize::from(k)) {
                *t = Some(t.unwrap_or(0) + u64::from(n));
            }
        }
        for &(k, n) in &s.regions {
            if let Some(t) = self.regions.get_mut(usize::from(k)) {
                *t = Some(t.unwrap_or(0) + u64::from(n));
            }
        }
        for &(k, v) in &s.categories {
            self.add_category(k, v);
        }
    }

    /// One customer's last purchase day, purchases, BG/NBD pattern and net spend.
    fn push_customer(&mut self, last: Day, purchases: u32, pattern: (u32, u32, u32), spend: f64) {
        self.recency.push(i64::from(self.cutoff) - i64::from(last));
        self.purchases.push(purchases);
        self.patterns.push(pattern);
        self.spend.push(spend);
    }

    /// One customer's spend `v` in category `k`, in units.
    fn add_category(&mut self, k: u16, v: f64) {
        if let Some(t) = self.categories.get_mut(usize::from(k)) {
            *t = Some(t.unwrap_or(0).saturating_add(category_units(v)));
        }
    }

    /// [`Counts::add`] of one customer's summary at the cutoff (its events `ev`), to the bit, read
    /// from its events without making the summary (its vectors of categories,
    /// channels and regions were most of the census's time); nothing for a
    /// customer without a purchase before the cutoff, as [`crate::summary::summarize`] gives none.
    /// Whether the customer was counted (has a purchase before the cutoff).
    fn add_events(&mut self, ev: CustomerEvents<'_>, sums: &mut CategorySums) -> bool {
        let (mut purchases, mut first, mut last, mut distinct_days) = (0u32, 0, 0, 0u32);
        let (mut gross, mut returned) = (0.0, 0.0);
        for e in 0..ev.before(self.cutoff) {
            gross += ev.gross[e];
            returned += ev.returned[e];
            if !ev.is_purchase[e] {
                continue;
            }
            let d = ev.day[e];
            if purchases == 0 {
                first = d;
                distinct_days = 1;
            } else if d != last {
                distinct_days += 1;
            }
            purchases += 1;
            last = d;
            for (k, v) in ev.categories(e) {
                sums.add(k, v);
            }
            for (tally, k) in [(&mut self.channels, ev.channel[e]), (&mut self.regions, ev.region[e])] {
                if k != NONE_CODE {
                    if let Some(t) = tally.get_mut(usize::from(k)) {
                        *t = Some(t.unwrap_or(0) + 1);
                    }
                }
            }
        }
        if purchases == 0 {
            return false;
        }
        for (k, v) in sums.drain() {
            self.add_category(k, v);
        }
        self.push_customer(last, purchases, pattern(distinct_days, first, last, self.cutoff), gross - returned);
        true
    }

    /// The customer counts (recency, purchases, spend, patterns).
    fn counts(self) -> Census {
        let Counts { cutoff, recency, purchases, patterns, spend, .. } = self;
        counts_of(cutoff, vec![recency], vec![purchases], vec![patterns], vec![spend])
    }

    /// The census of `parts`, the counts of disjoint sets of customers: what
    /// joining them ([`Counts::join`]) and counting the whole give, but each of the
    /// four tallies gathers its own column from the parts, on its own thread
    /// (joining all four first took ~8 ms on one core at 357k customers, most
    /// of it first touches of the joined vectors, while the other core waited).
    fn census_of_parts(history: &History, cutoff: Day, mut parts: Vec<Counts>) -> Census {
        fn take<T>(parts: &mut [Counts], column: impl Fn(&mut Counts) -> &mut Vec<T>) -> Vec<Vec<T>> {
            parts.iter_mut().map(|p| std::mem::take(column(p))).collect()
        }
        let recency = take(&mut parts, |p| &mut p.recency);
        let purchases = take(&mut parts, |p| &mut p.purchases);
        let patterns = take(&mut parts, |p| &mut p.patterns);
        let spend = take(&mut parts, |p| &mut p.spend);
        // What is left (the channel, region and category sums) joined as before.
        let rest = parts.into_iter().fold(Counts::new(history, cutoff), Counts::join);
        let mut census = counts_of(cutoff, recency, purchases, patterns, spend);
        census.present = history.present();
        fn named<T>(names: &[String], tallies: Vec<Option<T>>) -> BTreeMap<String, T> {
            names.iter().zip(tallies).filter_map(|(l, t)| Some((l.clone(), t?))).collect()
        }
        census.channels = named(history.channels(), rest.channels);
        census.regions = named(history.regions(), rest.regions);
        census.categories = named(history.categories(), rest.categories);
        census
    }

    /// The census: counts, vocabularies and column flags.
    fn census(self, history: &History) -> Census {
        let cutoff = self.cutoff;
        Counts::census_of_parts(history, cutoff, vec![self])
    }
}

/// The customer counts from each tally's keys in parts (each tally's parts
/// joined, then counted): the four side by side, each on one thread (~25 ms in
/// all at 357k customers when they came one after another).
fn counts_of(cutoff: Day, recency: Vec<Vec<i64>>, purchases: Vec<Vec<u32>>, patterns: Vec<Vec<(u32, u32, u32)>>, spend: Vec<Vec<f64>>) -> Census {
    fn joined<T: Copy>(parts: Vec<Vec<T>>) -> Vec<T> {
        if parts.len() == 1 {
            return parts.into_iter().next().unwrap_or_default();
        }
        parts.concat()
    }
    let customers = recency.iter().map(|p| p.len() as u64).sum();
    let ((recency, purchases), (patterns, spend)) = rayon::join(
        || rayon::join(|| dense_runs(joined(recency), |d| d), || dense_runs(joined(purchases), i64::from)),
        || {
            rayon::join(
                || pattern_runs(joined(patterns)),
                || {
                    // Sorted by value; equal under `total_cmp` means the same bits.
                    let mut spend = joined(spend);
                    spend.par_sort_unstable_by(f64::total_cmp);
                    run_lengths(spend.into_iter().map(|v| (v.to_bits(), 1)))
                },
            )
        },
    );
    Census { cutoff, customers, recency, purchases, patterns, spend, ..Default::default() }
}

/// A tally from its keys sorted (in parallel) and counted in runs.
fn runs<K: Ord + Copy + Send>(mut keys: Vec<K>) -> BTreeMap<K, u64> {
    keys.par_sort_unstable();
    let mut out: Vec<(K, u64)> = Vec::new();
    for k in keys {
        match out.last_mut() {
            Some(last) if last.0 == k => last.1 += 1,
            _ => out.push((k, 1)),
        }
    }
    out.into_iter().collect()
}

/// [`runs`] of BG/NBD patterns. Patterns whose three parts each fit in 21 bits
/// (every pattern in practice: 2^21 days is 5,700 years) are sorted as one
/// 64-bit word each — the same order, the parts packed most significant first
/// — not as triples (~20 ms of the census at 357,143 customers, now ~12 ms).
fn pattern_runs(keys: Vec<(u32, u32, u32)>) -> BTreeMap<(u32, u32, u32), u64> {
    const BITS: u32 = 21;
    if keys.par_iter().any(|&(x, t_x, t)| (x | t_x | t) >> BITS != 0) {
        return runs(keys);
    }
    let mut packed: Vec<u64> = keys.into_par_iter().map(|(x, t_x, t)| (u64::from(x) << (2 * BITS)) | (u64::from(t_x) << BITS) | u64::from(t)).collect();
    packed.par_sort_unstable();
    let mask = (1u64 << BITS) - 1;
    let mut out: Vec<((u32, u32, u32), u64)> = Vec::new();
    for k in packed {
        let key = ((k >> (2 * BITS)) as u32, ((k >> BITS) & mask) as u32, (k & mask) as u32);
        match out.last_mut() {
            Some(last) if last.0 == key => last.1 += 1,
            _ => out.push((key, 1)),
        }
    }
    out.into_iter().collect()
}

/// [`runs`] of keys that are small whole numbers (`at` gives each its number:
/// days since the last purchase, purchases), counted over their range instead
/// of sorted when it spans fewer than 2^20 numbers.
fn dense_runs<K: Ord + Copy + Send>(keys: Vec<K>, at: impl Fn(K) -> i64) -> BTreeMap<K, u64> {
    let (Some(lo), Some(hi)) = (keys.iter().map(|&k| at(k)).min(), keys.iter().map(|&k| at(k)).max()) else {
        return BTreeMap::new();
    };
    let span = match hi.checked_sub(lo) {
        Some(span) if span < 1 << 20 => span as usize + 1,
        _ => return runs(keys),
    };
    let mut count: Vec<(Option<K>, u64)> = vec![(None, 0); span];
    for k in keys {
        let slot = &mut count[(at(k) - lo) as usize];
        *slot = (Some(k), slot.1 + 1);
    }
    count.into_iter().filter_map(|(k, n)| Some((k?, n))).collect()
}

/// One customer's spend per category, as [`crate::summary::summarize`] adds it (each
/// category's values in the order met, the first one taken as it is), by code.
struct CategorySums {
    sum: Vec<f64>,
    /// Codes met so far, in the order met.
    met: Vec<u16>,
    seen: Vec<bool>,
}

impl CategorySums {
    fn new(categories: usize) -> CategorySums {
        CategorySums { sum: vec![0.0; categories], met: Vec::new(), seen: vec![false; categories] }
    }

    #[inline]
    fn add(&mut self, k: u16, v: f64) {
        let i = usize::from(k);
        if k == NONE_CODE || i >= self.sum.len() {
            return;
        }
        if self.seen[i] {
            self.sum[i] += v;
        } else {
            self.seen[i] = true;
            self.sum[i] = v;
            self.met.push(k);
        }
    }

    /// The sums met, each once, leaving none.
    fn drain(&mut self) -> impl Iterator<Item = (u16, f64)> + '_ {
        let (sum, seen) = (&self.sum, &mut self.seen);
        self.met.drain(..).map(move |k| {
            seen[usize::from(k)] = false;
            (k, sum[usize::from(k)])
        })
    }
}

/// A customer's BG/NBD pattern at cutoff `t`, in days.
pub(crate) fn pattern_key(s: &Summary, t: Day) -> (u32, u32, u32) {
    pattern(s.distinct_days, s.first, s.last, t)
}

/// The BG/NBD pattern (repeat purchase days, days from the first purchase to
/// the last, days from the first to `t`) of a customer who bought on
/// `distinct_days` days from `first` to `last`.
fn pattern(distinct_days: u32, first: Day, last: Day, t: Day) -> (u32, u32, u32) {
    let days = |d: i64| u32::try_from(d.max(0)).unwrap_or(u32::MAX);
    (distinct_days.saturating_sub(1), days(i64::from(last) - i64::from(first)), days(i64::from(t) - i64::from(first)))
}

/// The value at 0-based position `k` of the sorted multiset `(value, count)`.
fn nth(v: &[(f64, u64)], k: u64) -> f64 {
    let mut seen = 0;
    for &(x, n) in v {
        seen += n;
        if k < seen {
            return x;
        }
    }
    v.last().map_or(0.0, |l| l.0)
}

/// Quintile edges (0.2, 0.4, 0.6, 0.8-quantiles, linear interpolation as numpy's
/// default) of a sorted multiset.
fn breakpoints(v: &[(f64, u64)]) -> [f64; 4] {
    let n: u64 = v.iter().map(|p| p.1).sum();
    if n == 0 {
        return [0.0; 4];
    }
    let q = |p: f64| {
        let h = (n - 1) as f64 * p;
        let lo = h.floor() as u64;
        let hi = (lo + 1).min(n - 1);
        let (a, b) = (nth(v, lo), nth(v, hi));
        a + (h - lo as f64) * (b - a)
    };
    [q(0.2), q(0.4), q(0.6), q(0.8)]
}

fn category_units(v: f64) -> i64 {
    // Saturating float-to-int conversion; NaN counts 0.
    (v * CATEGORY_UNITS).round() as i64
}

/// Integer counts that add without overflow (saturating at the type's maximum).
trait Tally: Copy + Default {
    fn plus(self, other: Self) -> Self;
}
impl Tally for u64 {
    fn plus(self, other: Self) -> Self {
        self.saturating_add(other)
    }
}
impl Tally for i64 {
    fn plus(self, other: Self) -> Self {
        self.saturating_add(other)
    }
}

fn add_all<K: Ord + Clone, V: Tally>(into: &mut BTreeMap<K, V>, from: &BTreeMap<K, V>) {
    for (k, &v) in from {
        let e = into.entry(k.clone()).or_default();
        *e = e.plus(v);
    }
}

/// Merges adjacent equal values (already sorted) by adding their counts.
fn run_lengths(sorted: impl Iterator<Item = (u64, u64)>) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (b, n) in sorted {
        match out.last_mut() {
            Some(last) if last.0 == b => last.1 += n,
            _ => out.push((b, n)),
        }
    }
    out
}

/// Gaps between consecutive purchase days before `cutoff`, over every customer.
fn gap_counts(history: &History, cutoff: Day) -> Vec<u64> {
    let mut h = gap_histogram(history, cutoff, |_| true);
    let last = h.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1);
    h.truncate(last);
    h
}

/// A map with composite keys as a list of `[key, value]` pairs (JSON object keys
/// must be strings).
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(m: &BTreeMap<K, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>, K: Deserialize<'de> + Ord, V: Deserialize<'de> + std::ops::AddAssign + Default>(
        d: D,
    ) -> Result<BTreeMap<K, V>, D::Error> {
        let v: Vec<(K, V)> = Vec::deserialize(d)?;
        let mut m = BTreeMap::new();
        for (k, n) in v {
            *m.entry(k).or_default() += n;
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::summarize;
    use crate::{Line, LoadOptions};
    use proptest::prelude::*;

    /// The census as it was first computed: customer by customer, into the maps.
    fn inserted(history: &History, cutoff: Day, sums: &[Option<Summary>]) -> Census {
        let mut c = Census { cutoff, present: history.present(), ..Default::default() };
        let mut spend: Vec<f64> = Vec::new();
        for s in sums.iter().flatten() {
            c.customers += 1;
            *c.recency.entry(i64::from(cutoff) - i64::from(s.last)).or_default() += 1;
            *c.purchases.entry(s.purchases).or_default() += 1;
            spend.push(s.gross - s.returned);
            *c.patterns.entry(pattern_key(s, cutoff)).or_default() += 1;
            for &(k, n) in &s.channels {
                *c.channels.entry(history.channels()[usize::from(k)].clone()).or_default() += u64::from(n);
            }
            for &(k, n) in &s.regions {
                *c.regions.entry(history.regions()[usize::from(k)].clone()).or_default() += u64::from(n);
            }
            for &(k, v) in &s.categories {
                let e = c.categories.entry(history.categories()[usize::from(k)].clone()).or_default();
                *e = e.saturating_add(category_units(v));
            }
        }
        spend.sort_by(f64::total_cmp);
        c.spend = run_lengths(spend.into_iter().map(|v| (v.to_bits(), 1)));
        c
    }

    proptest! {
        /// Sorted runs and tallies by code give the census that inserting customer by
        /// customer gives, level names, empty tallies and saturated sums included.
        #[test]
        fn the_census_equals_the_one_inserted_customer_by_customer(
            rows in proptest::collection::vec((0u8..12, 0i32..60, prop_oneof![Just(0.0), Just(-0.0), Just(1e15), -50.0f64..200.0], 0usize..4, 0usize..3, 0usize..4), 1..120),
            cutoff in 1i32..70,
        ) {
            let ids: Vec<String> = (0..12).map(|c| format!("c{c}")).collect();
            let channel = [None, Some("app"), Some("store"), Some("web")];
            let region = [None, Some("north"), Some("south")];
            let category = [None, Some("bakery"), Some("dairy"), Some("tiny")];
            let lines: Vec<Line> = rows
                .iter()
                .map(|&(c, day, amount, ch, re, ca)| Line {
                    customer: &ids[usize::from(c)],
                    day,
                    // A category whose value rounds to 0 units still has its (zero) tally.
                    amount: if ca == 3 { 1e-6 } else { amount },
                    channel: channel[ch],
                    region: region[re],
                    category: category[ca],
                    ..Default::default()
                })
                .collect();
            let (h, _) = History::from_lines(lines, false, &LoadOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let sums: Vec<Option<Summary>> = (0..h.num_customers()).map(|c| summarize(&h, c, cutoff, &[])).collect();
            prop_assert_eq!(Census::of_summaries(&h, cutoff, &sums), inserted(&h, cutoff, &sums));
            // Customers summarized in the order their events lie (chunk by chunk), not id order: the same census.
            prop_assert_eq!(Census::without_gaps(&h, cutoff), inserted(&h, cutoff, &sums));
            // Counts of two stretches of customers, joined either way round: the same census.
            let split = usize::from(rows[0].0) % (sums.len() + 1);
            let counts = |part: &[Option<Summary>]| {
                let mut t = Counts::new(&h, cutoff);
                part.iter().flatten().for_each(|s| t.add(s));
                t
            };
            let (a, b) = sums.split_at(split);
            prop_assert_eq!(counts(a).join(counts(b)).census(&h), inserted(&h, cutoff, &sums));
            prop_assert_eq!(counts(b).join(counts(a)).census(&h), inserted(&h, cutoff, &sums));
            // Counted from the parts, each tally gathering its own column: the same census.
            prop_assert_eq!(Counts::census_of_parts(&h, cutoff, vec![counts(a), counts(b)]), inserted(&h, cutoff, &sums));
            prop_assert_eq!(Counts::census_of_parts(&h, cutoff, vec![counts(b), Counts::new(&h, cutoff), counts(a)]), inserted(&h, cutoff, &sums));
        }
    }

    /// A received census with a negative category value is refused: the sums of
    /// such values would depend on the order of the merge.
    #[test]
    fn a_negative_category_value_is_refused() {
        let line = |customer, day, amount| Line { customer, day, amount, category: Some("dairy"), ..Default::default() };
        let (h, _) = History::from_lines([line("a", 1, 4.0), line("b", 2, 6.0)], false, &LoadOptions::default()).unwrap();
        let mut c = Census::of(&h, 10);
        assert_eq!(c.categories.get("dairy"), Some(&100_000));
        assert!(c.validate().is_ok());
        c.categories.insert("dairy".into(), -1);
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains("a negative category value"), "{e}");
    }

    /// The customers the census's pass counts are those with a purchase before
    /// the cutoff (`History::with_purchase_before`), in index order, on a
    /// history of many chunks with return-only customers and customers whose
    /// purchases all come later; the census is the one counted without them.
    #[test]
    fn the_census_pass_finds_the_buyers() {
        let h = crate::history::many_chunk_history();
        let mut sizes = Vec::new();
        for cutoff in [0, 1, 4, 12, 20, 100] {
            let (census, buyers) = Census::without_gaps_with_buyers(&h, cutoff);
            assert_eq!(buyers, h.with_purchase_before(cutoff), "cutoff {cutoff}");
            assert_eq!(census, Census::without_gaps(&h, cutoff), "cutoff {cutoff}");
            assert_eq!(census.customers, buyers.len() as u64);
            sizes.push(buyers.len());
        }
        assert_eq!((sizes[0], sizes[5]), (0, 225), "{sizes:?}");
    }

    /// A tally as a plain map, key by key.
    fn counted<K: Ord + Copy>(keys: &[K]) -> BTreeMap<K, u64> {
        let mut m = BTreeMap::new();
        for &k in keys {
            *m.entry(k).or_insert(0) += 1;
        }
        m
    }

    proptest! {
        /// Patterns packed into words, and small numbers counted over their range,
        /// tally as counting key by key does: with parts at and past 21 bits
        /// (sorted as triples then), and ranges at and past 2^20 (sorted then).
        #[test]
        fn packed_and_dense_tallies_are_plain_counts(
            small in proptest::collection::vec((0u32..5, 0u32..40, 0u32..60), 0..300),
            big in prop_oneof![Just(None), Just(Some((1u32 << 21) - 1)), Just(Some(1u32 << 21)), Just(Some(u32::MAX))],
            days in proptest::collection::vec(-3i64..500, 0..300),
            far in prop_oneof![Just(None), Just(Some((1i64 << 20) - 4)), Just(Some(1i64 << 20)), Just(Some(i64::MAX)), Just(Some(i64::MIN))],
        ) {
            let mut patterns = small;
            if let Some(b) = big {
                patterns.extend([(b, 0, 1), (1, b, b), (0, 0, b), (b, b, b)]);
            }
            prop_assert_eq!(pattern_runs(patterns.clone()), counted(&patterns));
            let mut recency = days;
            if let Some(f) = far {
                recency.push(f);
            }
            prop_assert_eq!(dense_runs(recency.clone(), |d| d), counted(&recency));
            let purchases: Vec<u32> = recency.iter().map(|&d| d.unsigned_abs() as u32).collect();
            prop_assert_eq!(dense_runs(purchases.clone(), i64::from), counted(&purchases));
        }
    }

    #[test]
    fn a_census_round_trips_through_json_exactly() {
        let mut c = Census { cutoff: 19_000, customers: 3, ..Default::default() };
        c.patterns.insert((1, 20, 30), 2);
        c.patterns.insert((0, 0, 5), 1);
        c.recency.insert(12, 3);
        c.spend = vec![(0.1f64.to_bits(), 1), ((1.0f64 / 3.0).to_bits(), 2)];
        c.categories.insert("bakery".into(), 12_345);
        let text = serde_json::to_string(&c).unwrap_or_default();
        let back: Census = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, c);
    }
}
