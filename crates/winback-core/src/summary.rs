//! Per-customer facts before a cutoff — purchases, first and last day, gaps,
//! spend in windows, category, channel and region mixes — from which the
//! features, the census and the profiles are computed; and the histogram of
//! gaps between purchase days that the lapse threshold is read from.
//!
//! This is the bottom of the cutoff-side modules: [`crate::census`],
//! [`crate::lapse`], [`crate::features`] and [`crate::profile`] build on it, and
//! it uses none of them.

use rayon::prelude::*;

use crate::date::Day;
use crate::history::{History, NONE_CODE};

/// Per-customer facts before the cutoff, from which every feature is computed.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Summary {
    pub(crate) purchases: u32,
    pub(crate) first: Day,
    pub(crate) last: Day,
    pub(crate) distinct_days: u32,
    pub(crate) gap_sum: f64,
    pub(crate) gap_sq: f64,
    pub(crate) gross: f64,
    pub(crate) returned: f64,
    pub(crate) win_purchases: Vec<u32>,
    pub(crate) win_spend: Vec<f64>,
    pub(crate) trend_recent: f64,
    pub(crate) trend_prev: f64,
    pub(crate) categories: Vec<(u16, f64)>,
    pub(crate) channels: Vec<(u16, u32)>,
    pub(crate) first_channel: u16,
    pub(crate) regions: Vec<(u16, u32)>,
}

fn bump<T: std::ops::AddAssign + Copy>(acc: &mut Vec<(u16, T)>, k: u16, v: T) {
    if k == NONE_CODE {
        return;
    }
    match acc.iter_mut().find(|(x, _)| *x == k) {
        Some((_, a)) => *a += v,
        None => acc.push((k, v)),
    }
}

/// Customer `c`'s facts before day `t` (spend and purchases also in each of
/// `windows`, days back from `t`); `None` without a purchase before `t`.
pub(crate) fn summarize(h: &History, c: usize, t: Day, windows: &[i64]) -> Option<Summary> {
    let mut s = Summary::default();
    summarize_into(h, c, t, windows, &mut s).then_some(s)
}

/// [`summarize`] into `s`, whose vectors are reused (what it held is
/// replaced); whether the customer has a purchase before `t` (else `s` holds
/// no meaning).
pub(crate) fn summarize_into(h: &History, c: usize, t: Day, windows: &[i64], s: &mut Summary) -> bool {
    let ev = h.customer(c);
    // Reset in place (taking the summary out and putting a new one back moved
    // ~200 bytes three times a row); every field is named, so a new one cannot be
    // left holding the last customer's value.
    let Summary { purchases, first, last, distinct_days, gap_sum, gap_sq, gross, returned, win_purchases, win_spend, trend_recent, trend_prev, categories, channels, first_channel, regions } = s;
    (*purchases, *first, *last, *distinct_days) = (0, Day::default(), Day::default(), 0);
    (*gap_sum, *gap_sq, *gross, *returned, *trend_recent, *trend_prev) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    *first_channel = NONE_CODE;
    categories.clear();
    channels.clear();
    regions.clear();
    win_purchases.clear();
    win_purchases.resize(windows.len(), 0);
    win_spend.clear();
    win_spend.resize(windows.len(), 0.0);
    let mut prev_day: Option<Day> = None;
    for e in 0..ev.before(t) {
        let d = ev.day[e];
        let (g, ret) = (ev.gross[e], ev.returned[e]);
        s.gross += g;
        s.returned += ret;
        let age = i64::from(t) - i64::from(d);
        for (i, &w) in windows.iter().enumerate() {
            if age <= w {
                s.win_spend[i] += g - ret;
                if ev.is_purchase[e] {
                    s.win_purchases[i] += 1;
                }
            }
        }
        if !ev.is_purchase[e] {
            continue;
        }
        if age <= 180 {
            s.trend_recent += g;
        } else if age <= 360 {
            s.trend_prev += g;
        }
        if s.purchases == 0 {
            s.first = d;
            s.first_channel = ev.channel[e];
        }
        s.purchases += 1;
        s.last = d;
        match prev_day {
            Some(p) if p == d => {}
            Some(p) => {
                let gap = f64::from(d - p);
                s.gap_sum += gap;
                s.gap_sq += gap * gap;
                s.distinct_days += 1;
            }
            None => s.distinct_days += 1,
        }
        prev_day = Some(d);
        for (k, v) in ev.categories(e) {
            bump(&mut s.categories, k, v);
        }
        bump(&mut s.channels, ev.channel[e], 1);
        bump(&mut s.regions, ev.region[e], 1);
    }
    s.purchases > 0
}

/// The key with the largest value; ties go to the smaller key. `NONE_CODE` when empty.
pub(crate) fn argmax<T: PartialOrd + Copy>(acc: &[(u16, T)]) -> u16 {
    let mut best: Option<(u16, T)> = None;
    for &(k, v) in acc {
        best = match best {
            Some((bk, bv)) if bv > v || (bv == v && bk < k) => Some((bk, bv)),
            _ => Some((k, v)),
        };
    }
    best.map_or(NONE_CODE, |(k, _)| k)
}

/// Counts of gaps (in days) between consecutive distinct purchase days before `cutoff`,
/// over the customers `keep` selects.
pub(crate) fn gap_histogram(history: &History, cutoff: Day, keep: impl Fn(usize) -> bool + Sync) -> Vec<u64> {
    let span = (history.last_day - history.first_day).max(0) as usize + 1;
    (0..history.num_customers())
        .into_par_iter()
        .fold(
            || vec![0u64; span],
            |mut h, c| {
                if keep(c) {
                    let mut prev: Option<Day> = None;
                    let ev = history.customer(c);
                    for e in 0..ev.before(cutoff) {
                        if !ev.is_purchase[e] {
                            continue;
                        }
                        let d = ev.day[e];
                        if let Some(p) = prev {
                            if d > p {
                                h[(d - p) as usize] += 1;
                            }
                        }
                        prev = Some(d);
                    }
                }
                h
            },
        )
        .reduce(
            || vec![0u64; span],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Line, LoadOptions};
    use proptest::prelude::*;

    proptest! {
        /// A scratch summary reused from customer to customer (and from one set of
        /// windows to another) holds what a fresh summary holds, customers without
        /// a purchase before the cutoff included.
        #[test]
        fn a_reused_summary_is_a_fresh_one(
            rows in proptest::collection::vec((0u8..6, 0i32..60, prop_oneof![Just(0.0), Just(-0.0), -50.0f64..200.0], 0usize..3, 0usize..3, 0usize..4), 1..80),
            cutoff in 1i32..70,
        ) {
            let ids: Vec<String> = (0..6).map(|c| format!("c{c}")).collect();
            let channel = [None, Some("app"), Some("store")];
            let region = [None, Some("north"), Some("south")];
            let category = [None, Some("bakery"), Some("dairy"), Some("fruit")];
            let lines: Vec<Line> = rows
                .iter()
                .map(|&(c, day, amount, ch, re, ca)| Line { customer: &ids[usize::from(c)], day, amount, channel: channel[ch], region: region[re], category: category[ca], ..Default::default() })
                .collect();
            let (h, _) = History::from_lines(lines, false, &LoadOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut scratch = Summary::default();
            for windows in [&[30i64, 7, 90][..], &[], &[14]] {
                for c in (0..h.num_customers()).chain((0..h.num_customers()).rev()) {
                    let fresh = summarize(&h, c, cutoff, windows);
                    let found = summarize_into(&h, c, cutoff, windows, &mut scratch);
                    prop_assert_eq!(found, fresh.is_some());
                    if let Some(fresh) = fresh {
                        prop_assert_eq!(&scratch, &fresh);
                    }
                }
            }
        }
    }
}
