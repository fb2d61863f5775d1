//! How good a ranking and its probabilities are, against what happened.
//!
//! All functions take a score (or probability) per customer and the outcome.
//! Ties are handled explicitly: AUC counts a tied pair as ½, and capture@k
//! splits a block of tied scores across the cut pro rata. NaN scores rank above
//! every number and tie with each other, so a result never depends on row order.
//! Given slices of different lengths, every function reads the customers all of
//! them cover (the shortest length counts).
//!
//! ```
//! use winback_stats::metrics::{auc, brier, capture_at};
//! let p = [0.9, 0.8, 0.3, 0.1];
//! let y = [true, false, true, false];
//! assert_eq!(auc(&p, &y), 0.75);
//! assert!((brier(&p, &y) - (0.01 + 0.64 + 0.49 + 0.01) / 4.0).abs() < 1e-12);
//! assert_eq!(capture_at(&p, &y, 0.5), 0.5);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Two scores in one block of ties (every NaN ties with every other).
fn same(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// The order of two scores: numbers by value, every NaN above every number (a NaN
/// computed at run time, 0/0, carries the sign bit, which `total_cmp` alone puts
/// below every number).
fn order(a: f64, b: f64) -> std::cmp::Ordering {
    let canon = |v: f64| if v.is_nan() { f64::NAN } else { v };
    canon(a).total_cmp(&canon(b))
}

/// Area under the ROC curve (Mann–Whitney, ties count ½). 0.5 when one class is absent.
pub fn auc(score: &[f64], y: &[bool]) -> f64 {
    let (score, y) = (&score[..score.len().min(y.len())], &y[..score.len().min(y.len())]);
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| order(score[a], score[b]));
    let (mut rank_sum, mut pos) = (0.0, 0usize);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && same(score[idx[j + 1]], score[idx[i]]) {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if y[k] {
                rank_sum += avg_rank;
                pos += 1;
            }
        }
        i = j + 1;
    }
    let neg = score.len() - pos;
    if pos == 0 || neg == 0 {
        return 0.5;
    }
    (rank_sum - (pos * (pos + 1)) as f64 / 2.0) / (pos as f64 * neg as f64)
}

/// Mean squared error of the probabilities.
pub fn brier(p: &[f64], y: &[bool]) -> f64 {
    let n = p.len().min(y.len());
    if n == 0 {
        return 0.0;
    }
    p.iter().zip(y).map(|(&p, &y)| (p - f64::from(u8::from(y))).powi(2)).sum::<f64>() / n as f64
}

/// Mean negative log-likelihood (probabilities clipped to [1e-15, 1 − 1e-15]).
pub fn log_loss(p: &[f64], y: &[bool]) -> f64 {
    let n = p.len().min(y.len());
    if n == 0 {
        return 0.0;
    }
    p.iter()
        .zip(y)
        .map(|(&p, &y)| {
            let p = p.clamp(1e-15, 1.0 - 1e-15);
            if y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum::<f64>()
        / n as f64
}

/// One bin of a calibration table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRow {
    /// The bin (group id, or decile 1..=10).
    pub bin: usize,
    /// Customers in it.
    pub count: usize,
    /// Mean predicted probability.
    pub predicted: f64,
    /// Observed rate.
    pub observed: f64,
}

/// Predicted vs observed per bin (`bin[i]` is row i's bin: its group, say).
pub fn calibration_table(p: &[f64], y: &[bool], bin: &[usize]) -> Vec<CalibrationRow> {
    let mut acc: BTreeMap<usize, (usize, f64, usize)> = BTreeMap::new();
    for i in 0..p.len().min(y.len()).min(bin.len()) {
        let a = acc.entry(bin[i]).or_default();
        a.0 += 1;
        a.1 += p[i];
        a.2 += usize::from(y[i]);
    }
    acc.into_iter()
        .map(|(b, (n, sp, k))| CalibrationRow { bin: b, count: n, predicted: sp / n as f64, observed: k as f64 / n as f64 })
        .collect()
}

/// Expected calibration error: Σ (n_b / N) |predicted_b − observed_b| over a table.
pub fn ece(table: &[CalibrationRow]) -> f64 {
    let n: usize = table.iter().map(|r| r.count).sum();
    if n == 0 {
        return 0.0;
    }
    table.iter().map(|r| r.count as f64 * (r.predicted - r.observed).abs()).sum::<f64>() / n as f64
}

/// Equal-frequency decile (1..=10, higher for higher scores) of each row, ties kept
/// together: a block of tied scores takes the decile of its first (lowest-ranked)
/// row, so with large ties the top deciles can be empty.
pub fn deciles(score: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| order(score[a], score[b]));
    let n = score.len().max(1);
    let mut out = vec![1; score.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && same(score[idx[j + 1]], score[idx[i]]) {
            j += 1;
        }
        let d = 1 + (i * 10 / n).min(9);
        for &k in &idx[i..=j] {
            out[k] = d;
        }
        i = j + 1;
    }
    out
}

/// Share of all positives found in the top `share` of the list ranked by score
/// (highest first); a block of tied scores across the cut counts pro rata.
pub fn capture_at(score: &[f64], y: &[bool], share: f64) -> f64 {
    let (score, y) = (&score[..score.len().min(y.len())], &y[..score.len().min(y.len())]);
    let total = y.iter().filter(|&&b| b).count();
    if total == 0 || score.is_empty() {
        return 0.0;
    }
    let mut idx: Vec<usize> = (0..score.len()).collect();
    idx.sort_by(|&a, &b| order(score[b], score[a]));
    let k = share.clamp(0.0, 1.0) * score.len() as f64;
    let (mut taken, mut found) = (0.0, 0.0);
    let mut i = 0;
    while i < idx.len() && taken < k {
        let mut j = i;
        while j + 1 < idx.len() && same(score[idx[j + 1]], score[idx[i]]) {
            j += 1;
        }
        let block = (j - i + 1) as f64;
        let pos = idx[i..=j].iter().filter(|&&r| y[r]).count() as f64;
        let frac = ((k - taken) / block).min(1.0);
        found += pos * frac;
        taken += block * frac;
        i = j + 1;
    }
    found / total as f64
}

/// Cumulative arm counts down a list ranked by score, one entry per block of
/// tied scores: (rows so far, contacted, contacted who came back, control, control who came back).
fn uplift_blocks(score: &[f64], treated: &[bool], y: &[bool]) -> Vec<[f64; 5]> {
    let n = score.len().min(treated.len()).min(y.len());
    let mut idx: Vec<usize> = (0..n).collect();
    idx.sort_by(|&a, &b| order(score[b], score[a]).then(a.cmp(&b)));
    let mut acc = [0.0; 5];
    let mut out = vec![acc];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && same(score[idx[j + 1]], score[idx[i]]) {
            j += 1;
        }
        for &r in &idx[i..=j] {
            let arm = if treated[r] { 1 } else { 3 };
            acc[0] += 1.0;
            acc[arm] += 1.0;
            if y[r] {
                acc[arm + 1] += 1.0;
            }
        }
        out.push(acc);
        i = j + 1;
    }
    out
}

/// The Qini curve of an uplift score on a randomized campaign: points
/// `(share of the list, Q ÷ list size)` at the end of each block of tied scores
/// (highest score first), where `Q = Y_t − Y_c · N_t / N_c` for the top of the
/// list: the win-backs the contact caused **among its contacted customers**
/// (contacted who came back, minus the control's rate times the contacted
/// count; 0 while one arm is empty). With a share `s` of the list contacted,
/// contacting all of the top would cause about `Q ÷ s` as many. `score`,
/// `treated` and `y` have one value per customer (the shortest length counts). Starts at `(0, 0)`; straight between points (a tied block is taken
/// pro rata).
///
/// ```
/// use winback_stats::metrics::{qini_curve, qini_coefficient, uplift_at};
/// // Two groups: the top one responds to contact (2/2 vs 0/2), the other not (1/2 vs 1/2).
/// let score = [0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0];
/// let treated = [true, true, false, false, true, true, false, false];
/// let y = [true, true, false, false, true, false, true, false];
/// assert_eq!(qini_curve(&score, &treated, &y), vec![(0.0, 0.0), (0.5, 0.25), (1.0, 0.25)]);
/// // Area under the curve (0.0625 + 0.125) minus the random line's (0.125).
/// assert!((qini_coefficient(&score, &treated, &y) - 0.0625).abs() < 1e-12);
/// assert_eq!(uplift_at(&score, &treated, &y, 0.5), Some(1.0));
/// assert_eq!(uplift_at(&score, &treated, &y, 1.0), Some(0.75 - 0.25));
/// assert_eq!(uplift_at(&score, &treated, &y, 0.25), Some(1.0)); // half of the top block, pro rata
/// ```
pub fn qini_curve(score: &[f64], treated: &[bool], y: &[bool]) -> Vec<(f64, f64)> {
    let n = score.len().min(treated.len()).min(y.len()).max(1) as f64;
    uplift_blocks(score, treated, y)
        .into_iter()
        .map(|[rows, nt, yt, nc, yc]| {
            let q = if nt > 0.0 && nc > 0.0 { yt - yc * nt / nc } else { 0.0 };
            (rows / n, q / n)
        })
        .collect()
}

/// The Qini coefficient: the area between the [`qini_curve`] and the straight
/// line from `(0, 0)` to its end (a random order), in incremental win-backs per
/// customer × share of the list. 0 for a score that ranks no better than chance.
pub fn qini_coefficient(score: &[f64], treated: &[bool], y: &[bool]) -> f64 {
    let c = qini_curve(score, treated, y);
    let area: f64 = c.windows(2).map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0).sum();
    let end = c.last().map_or(0.0, |p| p.1);
    area - end / 2.0
}

/// The effect (contact rate − control rate) among the top `share` of the list
/// ranked by score; a block of tied scores across the cut counts pro rata.
/// `None` when the top of the list lacks one of the arms.
pub fn uplift_at(score: &[f64], treated: &[bool], y: &[bool], share: f64) -> Option<f64> {
    let blocks = uplift_blocks(score, treated, y);
    let k = share.clamp(0.0, 1.0) * blocks.last().map_or(0.0, |b| b[0]);
    let mut at = [0.0; 5];
    for w in blocks.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b[0] <= k {
            at = b;
            continue;
        }
        let frac = (k - a[0]) / (b[0] - a[0]);
        for i in 0..5 {
            at[i] = a[i] + frac * (b[i] - a[i]);
        }
        break;
    }
    (at[1] > 0.0 && at[3] > 0.0).then(|| at[2] / at[1] - at[4] / at[3])
}

/// Lift in the top decile: capture@10% ÷ 0.10.
pub fn lift_top_decile(score: &[f64], y: &[bool]) -> f64 {
    capture_at(score, y, 0.1) / 0.1
}

/// Number of groups, contacted in order of decreasing predicted probability, needed
/// to reach `share` of the actual win-backs. `None` if never reached (no win-backs).
pub fn groups_to_share(group: &[usize], p: &[f64], y: &[bool], share: f64) -> Option<usize> {
    let table = calibration_table(p, y, group);
    let total: f64 = table.iter().map(|r| r.observed * r.count as f64).sum();
    if total <= 0.0 {
        return None;
    }
    let mut order: Vec<&CalibrationRow> = table.iter().collect();
    order.sort_by(|a, b| b.predicted.total_cmp(&a.predicted).then(a.bin.cmp(&b.bin)));
    let mut got = 0.0;
    for (i, r) in order.iter().enumerate() {
        got += r.observed * r.count as f64;
        if got >= share * total - 1e-9 {
            return Some(i + 1);
        }
    }
    None
}

/// The metrics of one scored list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Customers scored.
    pub count: usize,
    /// Share who came back.
    pub base_rate: f64,
    /// ROC AUC.
    pub auc: f64,
    /// Brier score (for rank-only baselines: of the calibrated decile rates).
    pub brier: f64,
    /// Log loss.
    pub log_loss: f64,
    /// Expected calibration error over the bins.
    pub ece: f64,
    /// Share of win-backs in the top 60% of the list.
    pub capture_at_60: f64,
    /// Lift in the top decile.
    pub lift_top_decile: f64,
    /// Groups (or deciles, for baselines) needed to reach 80% of win-backs.
    pub groups_to_80: Option<usize>,
    /// Calibration table.
    pub calibration: Vec<CalibrationRow>,
}

/// All metrics of probabilities `p` with bins `bin` (groups) against outcomes `y`.
pub fn evaluate(p: &[f64], y: &[bool], bin: &[usize]) -> Metrics {
    let n = p.len().min(y.len()).min(bin.len());
    let (p, y, bin) = (&p[..n], &y[..n], &bin[..n]);
    let calibration = calibration_table(p, y, bin);
    Metrics {
        count: n,
        base_rate: if n == 0 { 0.0 } else { y.iter().filter(|&&b| b).count() as f64 / n as f64 },
        auc: auc(p, y),
        brier: brier(p, y),
        log_loss: log_loss(p, y),
        ece: ece(&calibration),
        capture_at_60: capture_at(p, y, 0.6),
        lift_top_decile: lift_top_decile(p, y),
        groups_to_80: groups_to_share(bin, p, y, 0.8),
        calibration,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_scores_tie_with_each_other_whatever_the_row_order() {
        // Two NaNs are one block of ties: ½ either way (it was 0 or 1 by row order).
        assert_eq!(auc(&[f64::NAN, f64::NAN], &[true, false]), 0.5);
        assert_eq!(auc(&[f64::NAN, f64::NAN], &[false, true]), 0.5);
        // NaN ranks above every number, a NaN with its sign bit (0/0 at run time) too.
        assert_eq!(auc(&[f64::NAN, 0.3], &[true, false]), 1.0);
        assert_eq!(auc(&[-f64::NAN, 0.3], &[true, false]), 1.0);
        assert_eq!(auc(&[-f64::NAN, f64::NAN, 0.3], &[true, false, false]), 0.75);
        assert_eq!(deciles(&[f64::NAN, f64::NAN, 1.0]), deciles(&[f64::NAN, f64::NAN, 1.0]));
        let d = deciles(&[f64::NAN, 1.0, f64::NAN]);
        assert_eq!(d[0], d[2]);
        assert_eq!(capture_at(&[f64::NAN, f64::NAN, 0.1, 0.0], &[true, false, false, false], 0.25), 0.5);
    }

    #[test]
    fn slices_of_different_lengths_read_the_customers_all_cover() {
        assert_eq!(auc(&[0.9, 0.1, 0.5], &[true, false]), 1.0);
        assert_eq!(capture_at(&[0.9, 0.1, 0.5], &[true, false], 0.5), 1.0);
        assert_eq!(brier(&[1.0, 0.0, 0.5], &[true]), 0.0);
        assert_eq!(log_loss(&[0.5, 0.1], &[]), 0.0);
        let t = calibration_table(&[0.2, 0.4, 0.9], &[true, false, true], &[1, 1]);
        assert_eq!(t, vec![CalibrationRow { bin: 1, count: 2, predicted: (0.2 + 0.4) / 2.0, observed: 0.5 }]);
    }

    #[test]
    fn auc_with_ties_and_edges() {
        assert_eq!(auc(&[0.5, 0.5], &[true, false]), 0.5);
        assert_eq!(auc(&[0.1, 0.9], &[false, true]), 1.0);
        assert_eq!(auc(&[0.1, 0.9], &[true, true]), 0.5);
        // Pairs (positive, negative): (.8,.8) ½, (.8,.2) 1, (.4,.8) 0, (.4,.2) 1, (.2,.8) 0, (.2,.2) ½ → 3/6.
        assert!((auc(&[0.8, 0.8, 0.4, 0.2, 0.2], &[true, false, true, false, true]) - 0.5).abs() < 1e-12);
        // (.9,.5) 1, (.9,.1) 1, (.5,.5) ½, (.5,.1) 1 → 3.5/4.
        assert!((auc(&[0.9, 0.5, 0.5, 0.1], &[true, true, false, false]) - 0.875).abs() < 1e-12);
    }

    #[test]
    fn capture_splits_ties_pro_rata() {
        // Four tied rows, two positives, top 50%: half the tie block, so 1 of 2 positives.
        assert_eq!(capture_at(&[1.0; 4], &[true, true, false, false], 0.5), 0.5);
        assert_eq!(capture_at(&[3.0, 2.0, 1.0], &[false, false, true], 1.0), 1.0);
    }

    #[test]
    fn groups_to_80_counts_in_predicted_order() {
        // Group 1 (p .5) has 1 of 4 win-backs, group 2 (p .2) has 3: 80% needs both.
        let g = [1, 1, 2, 2, 2, 2];
        let p = [0.5, 0.5, 0.2, 0.2, 0.2, 0.2];
        let y = [true, false, true, true, true, false];
        assert_eq!(groups_to_share(&g, &p, &y, 0.8), Some(2));
        assert_eq!(groups_to_share(&g, &p, &y, 0.25), Some(1));
        let t = calibration_table(&p, &y, &g);
        assert!((ece(&t) - (2.0 * 0.0 + 4.0 * 0.55) / 6.0).abs() < 1e-12);
    }
}
