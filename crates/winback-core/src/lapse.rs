//! Who has lapsed at a cutoff.
//!
//! A customer is **lapsed at `T`** when they bought at least once before `T` and
//! not in the last `L` days: `T − last purchase day ≥ L`. `L` is either fixed
//! ([`LapseRule::Fixed`]) or learned from the history before `T`
//! ([`LapseRule::FromHistory`]): the q-quantile of the gaps between consecutive
//! purchase days of the same customer (every gap of every customer counts once;
//! linear interpolation between order statistics, rounded up to whole days).
//! With [`LapseRule::FromHistoryBySegment`] each segment (main category or main
//! channel) gets its own threshold, falling back to the global one where a
//! segment has too few gaps — a brand that sells both fast- and slow-repurchase
//! goods should not call a sofa buyer lapsed after three weeks.
//!
//! ```
//! use winback_core::{History, Line, LoadOptions};
//! use winback_core::lapse::LapseRule;
//! let l = |c, day| Line { customer: c, day, amount: 1.0, ..Default::default() };
//! // a: gaps 10, 10, 10 ; b: gap 40
//! let (h, _) = History::from_lines([l("a", 0), l("a", 10), l("a", 20), l("a", 30), l("b", 0), l("b", 40)], false, &LoadOptions::default())?;
//! let lapse = LapseRule::FromHistory { quantile: 0.5 }.resolve(&h, 100)?;
//! assert_eq!(lapse.threshold_days, 10);
//! assert_eq!(lapse.gaps.as_ref().unwrap().count, 4);
//! assert_eq!(lapse.lapsed, vec![0, 1]); // 70 and 60 days since their last purchase
//! # Ok::<(), winback_core::Error>(())
//! ```

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::date::{format_day, Day};
use crate::error::{Error, Result};
use crate::history::{History, NONE_CODE};
use crate::summary::{argmax, gap_histogram};

/// Which segment gets its own lapse threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentBy {
    /// The category with the most spend before the cutoff.
    MainCategory,
    /// The channel with the most purchases before the cutoff.
    MainChannel,
}

/// How the lapse threshold `L` (days without purchase) is decided.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LapseRule {
    /// A given number of days.
    Fixed {
        /// `L`, at least 1.
        days: i64,
    },
    /// The `quantile` (in (0, 1); 0.9 is usual) of the gaps between purchase days.
    FromHistory {
        /// The quantile.
        quantile: f64,
    },
    /// One learned threshold per segment; segments with fewer than `min_gaps`
    /// gaps use the global threshold.
    FromHistoryBySegment {
        /// The quantile.
        quantile: f64,
        /// The segmentation.
        by: SegmentBy,
        /// Minimum number of gaps for a segment to get its own threshold.
        min_gaps: usize,
    },
}

impl Default for LapseRule {
    fn default() -> Self {
        LapseRule::FromHistory { quantile: 0.9 }
    }
}

/// The distribution of gaps between consecutive purchase days.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GapDistribution {
    /// Number of gaps.
    pub count: u64,
    /// Mean gap in days.
    pub mean: f64,
    /// `(q, gap days)` for q in 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99.
    pub quantiles: Vec<(f64, f64)>,
    /// `histogram[g]` = number of gaps of exactly `g` days (for charts).
    pub histogram: Vec<u64>,
}

/// A segment's own threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentThreshold {
    /// Segment level (category or channel name); `""` for customers without one.
    pub segment: String,
    /// Its threshold in days.
    pub threshold_days: i64,
    /// Gaps observed in the segment.
    pub gaps: u64,
    /// Whether the global threshold was used for lack of gaps.
    pub fallback: bool,
}

/// A lapse rule applied at a cutoff: the threshold, why, and who is lapsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lapse {
    /// The rule.
    pub rule: LapseRule,
    /// The cutoff `T`.
    pub cutoff: Day,
    /// The (global) threshold `L` in days.
    pub threshold_days: i64,
    /// Per-segment thresholds (for [`LapseRule::FromHistoryBySegment`]).
    pub segments: Vec<SegmentThreshold>,
    /// The gap distribution before `T` (learned rules only).
    pub gaps: Option<GapDistribution>,
    /// Customers with at least one purchase before `T`.
    pub customers_with_history: usize,
    /// Lapsed customers (history indices, ascending).
    pub lapsed: Vec<usize>,
}

impl LapseRule {
    /// The rule of the usual options: a fixed number of days when given, else the
    /// given quantile of purchase gaps, else the default (the 0.9-quantile).
    ///
    /// ```
    /// use winback_core::lapse::LapseRule;
    /// assert_eq!(LapseRule::from_options(Some(90), Some(0.8)), LapseRule::Fixed { days: 90 });
    /// assert_eq!(LapseRule::from_options(None, Some(0.8)), LapseRule::FromHistory { quantile: 0.8 });
    /// assert_eq!(LapseRule::from_options(None, None), LapseRule::FromHistory { quantile: 0.9 });
    /// ```
    pub fn from_options(days: Option<i64>, quantile: Option<f64>) -> LapseRule {
        match (days, quantile) {
            (Some(days), _) => LapseRule::Fixed { days },
            (None, Some(quantile)) => LapseRule::FromHistory { quantile },
            (None, None) => LapseRule::default(),
        }
    }

    /// Checks the rule's parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            LapseRule::Fixed { days } if !(1..=36_500).contains(&days) => Err(Error::InvalidLapseDays(days)),
            LapseRule::FromHistory { quantile } | LapseRule::FromHistoryBySegment { quantile, .. }
                if !(quantile > 0.0 && quantile < 1.0) =>
            {
                Err(Error::InvalidQuantile(quantile))
            }
            _ => Ok(()),
        }
    }

    /// Applies the rule at `cutoff`, using only purchases strictly before it.
    pub fn resolve(&self, history: &History, cutoff: Day) -> Result<Lapse> {
        self.validate()?;
        let n = history.num_customers();
        let last: Vec<Option<Day>> = (0..n).into_par_iter().map(|c| history.last_purchase_before(c, cutoff)).collect();
        let with_history = last.iter().filter(|l| l.is_some()).count();
        if with_history == 0 {
            return Err(Error::NoHistoryBefore(format_day(cutoff)));
        }
        let (threshold, gaps, segments, seg_of) = match *self {
            LapseRule::Fixed { days } => (days, None, Vec::new(), None),
            LapseRule::FromHistory { quantile } => {
                let g = gap_histogram(history, cutoff, |_| true);
                let dist = distribution(&g).ok_or_else(|| Error::NoGaps(format_day(cutoff)))?;
                (threshold_of(&g, quantile), Some(dist), Vec::new(), None)
            }
            LapseRule::FromHistoryBySegment { quantile, by, min_gaps } => {
                let seg: Vec<u16> = (0..n).into_par_iter().map(|c| segment_of(history, c, cutoff, by)).collect();
                let g = gap_histogram(history, cutoff, |_| true);
                let dist = distribution(&g).ok_or_else(|| Error::NoGaps(format_day(cutoff)))?;
                let global = threshold_of(&g, quantile);
                let names = match by {
                    SegmentBy::MainCategory => history.categories(),
                    SegmentBy::MainChannel => history.channels(),
                };
                let mut levels: Vec<u16> = seg.clone();
                levels.sort_unstable();
                levels.dedup();
                let mut per = vec![global; usize::from(NONE_CODE) + 1];
                let mut segments = Vec::new();
                for lv in levels {
                    let gs = gap_histogram(history, cutoff, |c| seg[c] == lv);
                    let count: u64 = gs.iter().sum();
                    let fallback = (count as usize) < min_gaps.max(1);
                    let t = if fallback { global } else { threshold_of(&gs, quantile) };
                    per[usize::from(lv)] = t;
                    segments.push(SegmentThreshold {
                        segment: names.get(usize::from(lv)).cloned().unwrap_or_default(),
                        threshold_days: t,
                        gaps: count,
                        fallback,
                    });
                }
                let seg_threshold: Vec<i64> = seg.iter().map(|&s| per[usize::from(s)]).collect();
                (global, Some(dist), segments, Some(seg_threshold))
            }
        };
        let lapsed = last
            .iter()
            .enumerate()
            .filter_map(|(c, l)| {
                let t = seg_of.as_ref().map_or(threshold, |s| s[c]);
                l.filter(|&d| i64::from(cutoff) - i64::from(d) >= t).map(|_| c)
            })
            .collect();
        Ok(Lapse {
            rule: *self,
            cutoff,
            threshold_days: threshold,
            segments,
            gaps,
            customers_with_history: with_history,
            lapsed,
        })
    }
}

impl LapseRule {
    /// [`LapseRule::resolve`] for a shard of the customers: the threshold is learned
    /// from `census` (the merged census of all shards at `cutoff`), the lapsed list
    /// holds this history's customers. With the census of the whole history, the
    /// result equals [`LapseRule::resolve`]. Per-segment rules are refused.
    pub fn resolve_with(&self, history: &History, cutoff: Day, census: &crate::census::Census) -> Result<Lapse> {
        if census.cutoff != cutoff {
            return Err(Error::CensusCutoff { census: format_day(census.cutoff), cutoff: format_day(cutoff) });
        }
        let count = self.count_in(census)?;
        let threshold = count.threshold_days;
        let lapsed = (0..history.num_customers())
            .into_par_iter()
            .filter(|&c| history.last_purchase_before(c, cutoff).is_some_and(|d| i64::from(cutoff) - i64::from(d) >= threshold))
            .collect();
        Ok(Lapse {
            rule: *self,
            cutoff,
            threshold_days: threshold,
            segments: Vec::new(),
            gaps: count.gaps,
            customers_with_history: usize::try_from(count.customers_with_history).unwrap_or(usize::MAX),
            lapsed,
        })
    }

    /// The lapse decision at the census's cutoff without a history: the threshold,
    /// the gap distribution and how many customers of the census it lapses.
    pub fn count_in(&self, census: &crate::census::Census) -> Result<LapseCount> {
        self.validate()?;
        let cutoff = census.cutoff;
        if census.customers == 0 {
            return Err(Error::NoHistoryBefore(format_day(cutoff)));
        }
        let (threshold, gaps) = match *self {
            LapseRule::Fixed { days } => (days, None),
            LapseRule::FromHistory { quantile } => {
                let dist = distribution(&census.gaps).ok_or_else(|| Error::NoGaps(format_day(cutoff)))?;
                (threshold_of(&census.gaps, quantile), Some(dist))
            }
            LapseRule::FromHistoryBySegment { .. } => return Err(Error::NotShardable { what: "a lapse rule by segment".into() }),
        };
        Ok(LapseCount {
            threshold_days: threshold,
            gaps,
            customers_with_history: census.customers,
            lapsed: census.lapsed_at_least(threshold),
        })
    }
}

/// A lapse decision counted from a census (see [`LapseRule::count_in`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LapseCount {
    /// The threshold in days.
    pub threshold_days: i64,
    /// The gap distribution (learned rules only).
    pub gaps: Option<GapDistribution>,
    /// Customers with a purchase before the cutoff.
    pub customers_with_history: u64,
    /// Customers lapsed at the cutoff.
    pub lapsed: u64,
}

impl Lapse {
    /// The threshold that applies to a segment level (its own, or the global one).
    pub fn threshold_for(&self, segment: &str) -> i64 {
        self.segments.iter().find(|s| s.segment == segment).map_or(self.threshold_days, |s| s.threshold_days)
    }
}

/// The main category (by spend) or main channel (by purchases) of a customer before `cutoff`.
pub(crate) fn segment_of(history: &History, c: usize, cutoff: Day, by: SegmentBy) -> u16 {
    let mut acc: Vec<(u16, f64)> = Vec::new();
    let mut bump = |k: u16, v: f64| match acc.iter_mut().find(|(x, _)| *x == k) {
        Some((_, a)) => *a += v,
        None => acc.push((k, v)),
    };
    let ev = history.customer(c);
    for e in 0..ev.before(cutoff) {
        if !ev.is_purchase[e] {
            continue;
        }
        match by {
            SegmentBy::MainChannel => {
                if ev.channel[e] != NONE_CODE {
                    bump(ev.channel[e], 1.0);
                }
            }
            SegmentBy::MainCategory => {
                for (k, v) in ev.categories(e) {
                    bump(k, v);
                }
            }
        }
    }
    argmax(&acc)
}

/// The k-th smallest gap (0-based) from a histogram.
fn kth(hist: &[u64], k: u64) -> f64 {
    let mut acc = 0;
    for (g, &n) in hist.iter().enumerate() {
        acc += n;
        if acc > k {
            return g as f64;
        }
    }
    (hist.len().saturating_sub(1)) as f64
}

/// The q-quantile with linear interpolation between order statistics (type 7).
pub(crate) fn quantile_of(hist: &[u64], q: f64) -> f64 {
    let n: u64 = hist.iter().sum();
    if n == 0 {
        return 0.0;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor();
    let a = kth(hist, lo as u64);
    let b = kth(hist, (lo as u64 + 1).min(n - 1));
    a + (h - lo) * (b - a)
}

fn threshold_of(hist: &[u64], q: f64) -> i64 {
    // Round up, tolerating float noise from the interpolation.
    ((quantile_of(hist, q) - 1e-9).ceil() as i64).max(1)
}

fn distribution(hist: &[u64]) -> Option<GapDistribution> {
    let count: u64 = hist.iter().sum();
    if count == 0 {
        return None;
    }
    let sum: f64 = hist.iter().enumerate().map(|(g, &n)| g as f64 * n as f64).sum();
    let last = hist.iter().rposition(|&n| n > 0).unwrap_or(0);
    Some(GapDistribution {
        count,
        mean: sum / count as f64,
        quantiles: [0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99].iter().map(|&q| (q, quantile_of(hist, q))).collect(),
        histogram: hist[..=last].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Line, LoadOptions};

    #[test]
    fn quantile_interpolates_like_numpy() {
        // gaps 1,2,3,4,10 : numpy.quantile(q=0.9) = 4 + 0.6*6 = 7.6
        let mut h = vec![0u64; 11];
        for g in [1, 2, 3, 4, 10] {
            h[g] += 1;
        }
        assert!((quantile_of(&h, 0.9) - 7.6).abs() < 1e-12);
        assert_eq!(quantile_of(&h, 0.5), 3.0);
        assert_eq!(threshold_of(&h, 0.9), 8);
    }

    #[test]
    fn invalid_parameters() {
        assert!(matches!(LapseRule::Fixed { days: 0 }.validate(), Err(Error::InvalidLapseDays(0))));
        assert!(matches!(LapseRule::FromHistory { quantile: 1.0 }.validate(), Err(Error::InvalidQuantile(_))));
        assert!(matches!(LapseRule::FromHistory { quantile: f64::NAN }.validate(), Err(Error::InvalidQuantile(_))));
    }

    #[test]
    fn boundary_and_segments() {
        let l = |c, day, cat| Line { customer: c, day, amount: 1.0, category: Some(cat), ..Default::default() };
        // fast: gaps of 2 days; slow: gaps of 100 days.
        let (h, _) = History::from_lines(
            [l("f", 0, "milk"), l("f", 2, "milk"), l("f", 4, "milk"), l("s", 0, "sofa"), l("s", 100, "sofa"), l("s", 200, "sofa")],
            false,
            &LoadOptions::default(),
        )
        .unwrap();
        // Fixed: exactly L days since the last purchase is lapsed.
        let t = 210;
        let fixed = LapseRule::Fixed { days: 10 }.resolve(&h, t).unwrap();
        assert_eq!(fixed.lapsed, vec![0, 1]);
        let fixed = LapseRule::Fixed { days: 11 }.resolve(&h, t).unwrap();
        assert_eq!(fixed.lapsed, vec![0]);
        let seg = LapseRule::FromHistoryBySegment { quantile: 0.9, by: SegmentBy::MainCategory, min_gaps: 2 }
            .resolve(&h, t)
            .unwrap();
        assert_eq!(seg.threshold_for("milk"), 2);
        assert_eq!(seg.threshold_for("sofa"), 100);
        assert_eq!(seg.lapsed, vec![0]); // the sofa buyer is not lapsed after 10 days
        // No purchase before the cutoff at all.
        assert!(matches!(LapseRule::Fixed { days: 1 }.resolve(&h, 0), Err(Error::NoHistoryBefore(_))));
    }
}
