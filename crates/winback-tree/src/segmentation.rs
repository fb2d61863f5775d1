//! Growing the groups, estimating their probabilities honestly, and assigning customers.
//!
//! ## How the tree is grown
//!
//! linfa-trees 0.8.1 is the split engine, driven one split at a time:
//!
//! 1. The training rows are divided by customer (seeded hash): `1 − honest_fraction`
//!    of the customers choose the splits, the rest only estimate probabilities.
//!    With an honest fraction of 0 nobody is held out: every row does both.
//! 2. Best-first growth: for each leaf, a depth-1 linfa tree is fitted on **that
//!    leaf's rows only** (so every row is in the node — this sidesteps linfa's
//!    tie-skipping bug in child nodes) with weights that balance the two classes
//!    inside the node (so the stump never collapses on imbalanced data). Nodes
//!    over `sample_rows` rows choose their split on a seeded sample, then the split
//!    is applied to all their rows with linfa's own rule, `x < threshold` → left.
//! 3. A leaf holding more than `max_group_share` of the rows is split first
//!    (largest first); otherwise the leaf whose split has the largest
//!    `rows × impurity decrease` (balanced criterion) is split, until K groups.
//!    A split is only taken when both sides keep the minimum group size in real
//!    rows; a leaf whose rule has the maximum number of conditions (distinct
//!    features) may only be split on one of them.
//! 4. Each group's probability is the posterior mean of
//!    `Beta(m·p₀, m·(1−p₀))` updated with the **held-out** customers' outcomes in
//!    that group (`p₀` the base rate, `m` the prior strength; every row of the
//!    group when nothing is held out), with an equal-tailed interval. A group of
//!    40 customers with no repurchase therefore does not claim 0%.
//!
//! Groups are numbered 1..K by decreasing probability, or, when an order score is
//! given ([`TrainingData::order`]), by decreasing score, with the probabilities
//! of runs of groups whose outcomes go against it pooled so that they still do
//! not rise with the id.

use std::collections::BTreeMap;

use linfa::dataset::Dataset;
use linfa::prelude::Fit;
use linfa_trees::{DecisionTree, SplitQuality};
use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use winback_core::features::Feature;
use winback_stats::{mix, Beta};

use crate::error::{Error, Result};
use crate::params::{ClassWeighting, MinGroupSize, SegmenterValidParams, SplitCriterion};
use crate::rules::{sentence, Condition};

/// Training input: features, outcomes, and optionally label spend and customer keys.
#[derive(Debug, Clone, Copy)]
pub struct TrainingData<'a> {
    /// Feature matrix (rows × schema features); must be finite.
    pub x: ArrayView2<'a, f64>,
    /// Whether each row bought again within the horizon.
    pub y: &'a [bool],
    /// Each row's spend within the horizon (for "mean spend of those who came back").
    pub spend: Option<&'a [f64]>,
    /// A customer key per row: rows of one customer (stacked cutoffs) stay on the
    /// same side of the honest split. Without it, each row is its own customer.
    pub customer: Option<&'a [usize]>,
    /// The feature schema's columns (names and kinds, for rules).
    pub features: &'a [Feature],
    /// Weight of each row in the groups' probabilities and the base rate (splits
    /// ignore it): the facade gives the most recent training cutoff more weight, so
    /// that probabilities follow the latest base rate. `None` = every row weighs 1.
    pub weight: Option<&'a [f64]>,
    /// A smoothed chance of coming back per row, in [0, 1], that chooses the
    /// splits in place of the outcomes (the groups' sizes, probabilities and
    /// ordering still come from the outcomes). Each row then counts as `t` of a
    /// return and `1 − t` of a non-return, so a split follows the smooth score's
    /// landscape rather than the noise of a few hundred outcomes. A node in which
    /// the target allows no split (linfa finds no impurity decrease: the target is
    /// constant there, or every split it prefers leaves a side too small) is split
    /// on the outcomes instead; the two kinds of split compete for the next group
    /// by their own impurity decrease. `None` = the outcomes choose the splits.
    pub target: Option<&'a [f64]>,
    /// A smooth chance of coming back per row, in [0, 1], that orders the groups
    /// (see [`Group::order_score`]): each group's score is the mean over the rows
    /// that estimate its probability, groups are numbered by decreasing score, and
    /// the probabilities are pooled (pool adjacent violators) where the groups'
    /// own outcomes go against that order, so that they still decrease with the
    /// group id. A group's rate from a few hundred rows orders it with noise as
    /// large as the gaps between groups; a score fitted on every row does not.
    /// `None` = groups ordered by their own probabilities.
    pub order: Option<&'a [f64]>,
}

/// A node of the fitted tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// `(feature, threshold, left child, right child)`; `x < threshold` goes left.
    pub split: Option<(usize, f64, usize, usize)>,
    /// The group id of a leaf.
    pub group: Option<usize>,
    /// Rows (split part) in the node.
    pub rows: usize,
    /// Of which came back.
    pub positives: usize,
}

/// The largest Beta parameter a model file may hold (a prior plus counts of customers).
pub const MAX_BETA: f64 = 1e12;

/// One group: a leaf with its rule and honest probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// 1 = highest probability (ties: pooled groups, numbered by their order
    /// score). Recorded waves then update each group's probability on its own.
    pub id: usize,
    /// The conditions that define it (one per feature, merged along the path).
    pub rule: Vec<Condition>,
    /// The rule as a sentence.
    pub sentence: String,
    /// Training rows in the group (split and held-out parts).
    pub size: usize,
    /// Share of all training rows.
    pub share: f64,
    /// Training rows that came back.
    pub came_back: usize,
    /// `came_back / size` (optimistic: the split part chose the rule).
    pub observed_rate: f64,
    /// Held-out rows in the group: the rows its probability is estimated on (every
    /// row of the group when the honest fraction is 0).
    pub honest_size: usize,
    /// Of those, the rows that came back.
    pub honest_came_back: usize,
    /// Repurchase probability (posterior mean of the held-out rows, or of every
    /// row when nothing is held out).
    pub probability: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// Posterior α (for later updates).
    pub alpha: f64,
    /// Posterior β.
    pub beta: f64,
    /// Mean of `spend_total` (past spend) in the group, if the schema has it.
    pub mean_past_spend: Option<f64>,
    /// Mean horizon spend of those who came back, if spend was given.
    pub mean_return_spend: Option<f64>,
    /// Share of the scoring list (the lapsed customers at the fitting date) in the
    /// group, when the segmentation was fitted for one ([`SegmenterValidParams::fit_for`]).
    #[serde(default)]
    pub scoring_share: Option<f64>,
    /// The mean smooth chance of the group's estimating rows when the groups were
    /// ordered by one ([`TrainingData::order`]); ids follow it. Its probability
    /// is then pooled with its neighbours' where their outcomes went against that
    /// order ([`Group::pooled`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_score: Option<f64>,
    /// The groups (ids, this one included) whose outcomes were pooled into this
    /// group's probability because their own rates went against the order of
    /// their smooth scores; empty when the group's probability is its own. They
    /// share one posterior when fitted; a recorded wave updates each group's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pooled: Vec<usize>,
}

impl Group {
    /// The run of groups this group's fitted probability is pooled with, as
    /// displayed ("3-6"); `None` when it is its own.
    pub fn pooled_run(&self) -> Option<String> {
        match (self.pooled.first(), self.pooled.last()) {
            (Some(a), Some(b)) => Some(format!("{a}-{b}")),
            _ => None,
        }
    }
}

/// A fitted segmentation: the tree, its groups, and why it has that many.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segmentation {
    /// The parameters it was fitted with.
    pub params: SegmenterValidParams,
    /// The features (columns) it expects.
    pub features: Vec<Feature>,
    /// Tree nodes; node 0 is the root.
    pub nodes: Vec<Node>,
    /// Groups by id − 1.
    pub groups: Vec<Group>,
    /// Base rate of the training rows.
    pub base_rate: f64,
    /// Training rows.
    pub rows: usize,
    /// Why there are fewer than K − 2 groups, or a size limit could not be met.
    pub note: Option<String>,
}

/// A candidate split of a leaf.
#[derive(Debug, Clone)]
struct Candidate {
    feature: usize,
    threshold: f64,
    left: Vec<u32>,
    right: Vec<u32>,
    priority: f64,
}

/// Why a leaf cannot be split.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Blocked {
    Depth,
    Size,
    Pure,
}



fn impurity(criterion: SplitCriterion, pos: f64, neg: f64) -> f64 {
    let n = pos + neg;
    if n <= 0.0 {
        return 0.0;
    }
    let (p, q) = (pos / n, neg / n);
    match criterion {
        SplitCriterion::Gini => 1.0 - p * p - q * q,
        SplitCriterion::Entropy => -[p, q].iter().filter(|&&v| v > 0.0).map(|v| v * v.log2()).sum::<f64>(),
    }
}

/// The impurity decrease of a split under the node's class weights.
pub(crate) fn weighted_gain(criterion: SplitCriterion, wp: f64, wn: f64, left: (f64, f64), right: (f64, f64)) -> f64 {
    let (lp, ln) = (left.0 * wp, left.1 * wn);
    let (rp, rn) = (right.0 * wp, right.1 * wn);
    let total = lp + ln + rp + rn;
    if total <= 0.0 {
        return 0.0;
    }
    impurity(criterion, lp + rp, ln + rn) - ((lp + ln) / total) * impurity(criterion, lp, ln) - ((rp + rn) / total) * impurity(criterion, rp, rn)
}

/// Class weights of a node: balanced (each class weighs half) or 1.
pub(crate) fn class_weights(w: ClassWeighting, pos: usize, neg: usize) -> (f64, f64) {
    weights_of_masses(w, pos as f64, neg as f64, (pos + neg) as f64)
}

/// [`class_weights`] on soft counts: each row is `t` of a return and `1 − t` of
/// a non-return. Balanced weights make both soft classes weigh half.
pub(crate) fn soft_class_weights(w: ClassWeighting, t: impl Iterator<Item = f64>) -> (f64, f64) {
    let (n, pos) = t.fold((0.0, 0.0), |(n, pos), v| (n + 1.0, pos + v));
    weights_of_masses(w, pos, n - pos, n)
}

/// Class weights for masses `pos` and `neg` of returns and non-returns (counts,
/// or sums of soft targets) over `n` rows.
fn weights_of_masses(w: ClassWeighting, pos: f64, neg: f64, n: f64) -> (f64, f64) {
    // A mass too small to weigh (a subnormal soft sum, say) would give infinite
    // weights; whole counts are 0 or at least 1.
    let tiny = f64::EPSILON * n;
    match w {
        ClassWeighting::BalancedPerNode if pos > tiny && neg > tiny => (n / (2.0 * pos), n / (2.0 * neg)),
        // Unweighted, a child with as many positives as negatives predicts whichever
        // class linfa's HashMap yields first, and its pruning (siblings predicting one
        // class merge) then kept or dropped the split from run to run. A positive
        // weighing 0.1% more breaks such ties the same way every time.
        ClassWeighting::Unweighted => (1.001, 1.0),
        ClassWeighting::BalancedPerNode => (1.0, 1.0),
    }
}

/// The split linfa-trees chooses for the rows `rows` (a depth-1 tree fitted on them
/// alone, classes weighted per `params`), with at least `min_rows` rows per side.
/// `None` when no split is possible. Deterministic. Labels must cover the matrix's
/// rows ([`Error::RowMismatch`]), `rows` must index them (the same error, naming the
/// largest index), and the rows' features must be finite ([`Error::NonFinite`]).
pub fn best_split(x: ArrayView2<'_, f64>, y: &[bool], rows: &[u32], params: &SegmenterValidParams, min_rows: usize) -> Result<Option<(usize, f64)>> {
    if y.len() != x.nrows() {
        return Err(Error::RowMismatch { what: "labels", rows: x.nrows(), got: y.len() });
    }
    if let Some(&r) = rows.iter().find(|&&r| r as usize >= x.nrows()) {
        return Err(Error::RowMismatch { what: "a row index (its value + 1)", rows: x.nrows(), got: r as usize + 1 });
    }
    for &r in rows {
        if let Some((j, &v)) = x.row(r as usize).iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::NonFinite { row: r as usize, column: j.to_string(), value: v });
        }
    }
    Ok(choose_split(x, y, rows, params, min_rows, 0)?.map(|c| (c.feature, c.threshold)))
}

/// The scoring list's side of a node: its rows (of the scoring matrix) and the
/// fewest a child may keep.
#[derive(Clone, Copy)]
struct ScoringSide<'x, 'r> {
    x: ArrayView2<'x, f64>,
    rows: &'r [u32],
    min_rows: usize,
    /// The most a group may hold (the maximum share of the list).
    max_rows: usize,
}

fn choose_split(x: ArrayView2<'_, f64>, y: &[bool], rows: &[u32], params: &SegmenterValidParams, min_rows: usize, node_id: u64) -> Result<Option<Candidate>> {
    choose_split_for(x, y, None, rows, params, min_rows, node_id, None, None)
}

/// [`choose_split`], also keeping at least `scoring.min_rows` rows of the
/// scoring list on each side: a split that would leave a child (nearly) empty on
/// the list being contacted is refused, and the next-best feature is tried.
/// With `only`, the split may use those features alone (a rule that already has
/// the maximum number of conditions may narrow one of them, not add one).
#[allow(clippy::too_many_arguments)]
fn choose_split_for(
    x: ArrayView2<'_, f64>,
    y: &[bool],
    soft: Option<&[f64]>,
    rows: &[u32],
    params: &SegmenterValidParams,
    min_rows: usize,
    node_id: u64,
    scoring: Option<ScoringSide<'_, '_>>,
    only: Option<&[usize]>,
) -> Result<Option<Candidate>> {
    let pos = rows.iter().filter(|&&r| y[r as usize]).count();
    let neg = rows.len() - pos;
    if pos == 0 || neg == 0 || rows.len() < min_rows.max(1).saturating_mul(2) {
        return Ok(None);
    }
    // Seeded sample of large nodes: the rows with the smallest hashes.
    let sample = seeded_sample(rows, params.seed ^ node_id, params.sample_rows);
    let spos = sample.iter().filter(|&&r| y[r as usize]).count();
    let sneg = sample.len() - spos;
    if spos == 0 || sneg == 0 {
        return Ok(None);
    }
    // With a smoothed target, each row enters twice: as a return weighing `t` and
    // as a non-return weighing `1 − t` (times the class weights, balanced on these
    // soft counts).
    let (wp, wn) = match soft {
        None => class_weights(params.class_weighting, spos, sneg),
        Some(t) => soft_class_weights(params.class_weighting, sample.iter().map(|&r| t[r as usize])),
    };
    let copies = if soft.is_some() { 2 } else { 1 };
    let p = x.ncols();
    let mut records = Array2::<f64>::zeros((sample.len() * copies, p));
    for c in 0..copies {
        for (i, &r) in sample.iter().enumerate() {
            records.row_mut(c * sample.len() + i).assign(&x.row(r as usize));
        }
    }
    // A row's weight in the stump (both copies together).
    let row_weight = |r: u32| match soft {
        None => {
            if y[r as usize] {
                wp
            } else {
                wn
            }
        }
        Some(t) => wp * t[r as usize] + wn * (1.0 - t[r as usize]),
    };
    // Features a split may not use are made constant (linfa never splits on them).
    let mut excluded = 0usize;
    if let Some(only) = only {
        for j in (0..p).filter(|j| !only.contains(j)) {
            records.column_mut(j).fill(0.0);
            excluded += 1;
        }
        if excluded >= p {
            return Ok(None);
        }
    }
    let (targets, weights): (Array1<bool>, Array1<f32>) = match soft {
        None => (sample.iter().map(|&r| y[r as usize]).collect(), sample.iter().map(|&r| if y[r as usize] { wp as f32 } else { wn as f32 }).collect()),
        Some(t) => (
            sample.iter().map(|_| true).chain(sample.iter().map(|_| false)).collect(),
            sample.iter().map(|&r| (wp * t[r as usize]) as f32).chain(sample.iter().map(|&r| (wn * (1.0 - t[r as usize])) as f32)).collect(),
        ),
    };
    let quality = match params.criterion {
        SplitCriterion::Gini => SplitQuality::Gini,
        SplitCriterion::Entropy => SplitQuality::Entropy,
    };
    // The minimum in the sample, scaled; the real-row minimum is re-checked below.
    let scale = sample.len() as f64 / rows.len() as f64;
    let min_sample_rows = (min_rows as f64 * scale).max(1.0);
    let w_min = wp.min(wn);
    let first_weight = ((min_sample_rows - 0.5) * w_min).max(0.5) as f32;
    let mut min_weight = first_weight;
    // The impurity decrease of a split on all the node's rows (soft counts with a target).
    let gain_of = |left: &[u32], right: &[u32]| {
        let count = |side: &[u32]| match soft {
            None => {
                let k = side.iter().filter(|&&r| y[r as usize]).count();
                (k as f64, (side.len() - k) as f64)
            }
            Some(t) => {
                let k: f64 = side.iter().map(|&r| t[r as usize]).sum();
                (k, side.len() as f64 - k)
            }
        };
        let (wp_all, wn_all) = match soft {
            None => class_weights(params.class_weighting, pos, neg),
            Some(t) => soft_class_weights(params.class_weighting, rows.iter().map(|&r| t[r as usize])),
        };
        weighted_gain(params.criterion, wp_all, wn_all, count(left), count(right))
    };
    let mut fallback: Option<Candidate> = None;
    for _attempt in 0..(12 + p) {
        let dataset = Dataset::new(records.clone(), targets.clone()).with_weights(weights.clone());
        let tree = DecisionTree::params()
            .split_quality(quality)
            .max_depth(Some(1))
            .min_weight_split(2.0)
            .min_weight_leaf(min_weight)
            .min_impurity_decrease(1e-12)
            .fit(&dataset)
            .map_err(|e| Error::Linfa(e.to_string()))?;
        let root = tree.root_node();
        if root.is_leaf() {
            return Ok(fallback);
        }
        let (feature, threshold, _) = root.split();
        let (left, right): (Vec<u32>, Vec<u32>) = rows.iter().partition(|&&r| x[(r as usize, feature)] < threshold);
        let too_small = |side: &[u32]| side.len() < min_rows;
        if !too_small(&left) && !too_small(&right) {
            let candidate = Candidate { feature, threshold, priority: gain_of(&left, &right) * rows.len() as f64, left, right };
            let Some(s) = scoring else { return Ok(Some(candidate)) };
            let sleft = s.rows.iter().filter(|&&r| s.x[(r as usize, feature)] < threshold).count();
            let sright = s.rows.len() - sleft;
            // A child above the maximum share of the list with too few training rows
            // to be split again would stay oversized for good: another feature is
            // tried first, and this split is kept only if none is found.
            let stuck = |list: usize, train: usize| list > s.max_rows && train < min_rows.saturating_mul(2);
            let empty = sleft < s.min_rows || sright < s.min_rows;
            if !empty && !stuck(sleft, candidate.left.len()) && !stuck(sright, candidate.right.len()) {
                return Ok(Some(candidate));
            }
            if !empty && fallback.is_none() {
                fallback = Some(candidate);
            }
            // Fine on the training rows, (nearly) empty on the scoring list or stuck
            // there: this feature cannot split this node; make it constant and ask again.
            records.column_mut(feature).fill(0.0);
            excluded += 1;
            if excluded >= p {
                return Ok(fallback);
            }
            min_weight = first_weight;
            continue;
        }
        // Too small in real rows: demand more weight of each side and ask again.
        let small = if left.len() < right.len() { &left } else { &right };
        let small_weight: f64 = small.iter().filter(|r| sample.binary_search(r).is_ok()).map(|&r| row_weight(r)).sum();
        let next = (small_weight * 1.05 + w_min) as f32;
        if next <= min_weight {
            min_weight *= 1.5;
        } else {
            min_weight = next;
        }
    }
    Ok(fallback)
}

/// The rows of a node a split is chosen on: all of them, or the `limit` rows with
/// the smallest seeded hashes (sorted), so that a large node's split is chosen on a
/// reproducible sample.
pub(crate) fn seeded_sample(rows: &[u32], seed: u64, limit: usize) -> Vec<u32> {
    if rows.len() <= limit {
        return rows.to_vec();
    }
    let mut keyed: Vec<(u64, u32)> = rows.iter().map(|&r| (mix(seed, u64::from(r)), r)).collect();
    keyed.select_nth_unstable(limit - 1);
    keyed.truncate(limit);
    let mut s: Vec<u32> = keyed.into_iter().map(|(_, r)| r).collect();
    s.sort_unstable();
    s
}

/// Which rows are held out (true) to estimate the groups: a seeded hash of the
/// customer key (or of the row), so a customer's rows stay on one side.
pub(crate) fn honest_rows(n: usize, customer: Option<&[usize]>, seed: u64, fraction: f64) -> Vec<bool> {
    let threshold = (fraction * u64::MAX as f64) as u64;
    (0..n).map(|r| mix(seed ^ 0x0bad_5eed, customer.map_or(r, |c| c[r]) as u64) < threshold).collect()
}

/// The leaf node a row lands in (`x < threshold` goes left, as linfa-trees predicts).
#[inline]
pub(crate) fn leaf_of(nodes: &[Node], row: ndarray::ArrayView1<'_, f64>) -> usize {
    let mut i = 0;
    while let Some((f, t, l, r)) = nodes[i].split {
        i = if row[f] < t { l } else { r };
    }
    i
}

/// The merged conditions (one per feature) on the path from the root to `leaf`.
pub(crate) fn path_conditions(nodes: &[Node], features: &[Feature], leaf: usize) -> Vec<Condition> {
    let mut parent = vec![usize::MAX; nodes.len()];
    for (i, nd) in nodes.iter().enumerate() {
        if let Some((_, _, l, r)) = nd.split {
            parent[l] = i;
            parent[r] = i;
        }
    }
    let mut conds: BTreeMap<usize, Condition> = BTreeMap::new();
    let mut i = leaf;
    while parent[i] != usize::MAX {
        let p = parent[i];
        if let Some((f, t, l, _)) = nodes[p].split {
            let c = conds.entry(f).or_insert_with(|| Condition { feature: f, name: features[f].name.clone(), lower: None, upper: None });
            if i == l {
                c.upper = Some(c.upper.map_or(t, |u| u.min(t)));
            } else {
                c.lower = Some(c.lower.map_or(t, |lo| lo.max(t)));
            }
        }
        i = p;
    }
    conds.into_values().collect()
}

/// Checks a tree read from a file: children after their parent and in range,
/// split features in range, one parent per node, every leaf in a group 1..=k and
/// each group the group of exactly one leaf. The message names the field.
pub(crate) fn validate_tree(nodes: &[Node], k: usize, n_features: usize) -> std::result::Result<(), String> {
    if nodes.is_empty() {
        return Err("nodes: empty".into());
    }
    let mut leaves = vec![0usize; k + 1];
    for (i, n) in nodes.iter().enumerate() {
        match (n.split, n.group) {
            (Some((f, t, l, r)), None) => {
                // Children after their parent: the tree has no cycle, and routing ends.
                if f >= n_features || !t.is_finite() || l <= i || r <= i || l >= nodes.len() || r >= nodes.len() || l == r {
                    return Err(format!(
                        "nodes[{i}].split: feature {f}, threshold {t}, children {l} and {r} is not a split of this tree \
                         (it needs a feature below {n_features}, a finite threshold, and two distinct children after node {i} among the {} nodes)",
                        nodes.len()
                    ));
                }
            }
            (Some(_), Some(_)) => return Err(format!("nodes[{i}]: both a split and a group")),
            (None, Some(g)) if (1..=k).contains(&g) => leaves[g] += 1,
            (None, g) => return Err(format!("nodes[{i}].group: {g:?}, where a leaf needs a group in 1..={k}")),
        }
        if n.positives > n.rows {
            return Err(format!("nodes[{i}].positives: {} is more than its {} rows", n.positives, n.rows));
        }
    }
    // Every node but the root has exactly one parent.
    let mut parents = vec![0usize; nodes.len()];
    for n in nodes {
        if let Some((_, _, l, r)) = n.split {
            parents[l] += 1;
            parents[r] += 1;
        }
    }
    if let Some(i) = (1..nodes.len()).find(|&i| parents[i] != 1) {
        return Err(format!("nodes[{i}]: reached from {} parents (a tree node has one)", parents[i]));
    }
    if let Some(g) = (1..=k).find(|&g| leaves[g] != 1) {
        return Err(format!("groups[{}].id: group {g} is the group of {} leaves (one expected)", g - 1, leaves[g]));
    }
    Ok(())
}

/// Checks that every rule condition names a feature of the tree with finite bounds.
pub(crate) fn rule_ok(rule: &[Condition], features: &[Feature]) -> Option<usize> {
    rule.iter().position(|c| {
        !(c.feature < features.len() && c.name == features[c.feature].name && c.lower.is_none_or(f64::is_finite) && c.upper.is_none_or(f64::is_finite))
    })
}

impl SegmenterValidParams {
    /// Fits the groups (see the module docs for how).
    pub fn fit(&self, data: &TrainingData<'_>) -> Result<Segmentation> {
        self.fit_for(data, None)
    }

    /// Fits the groups so that they also hold on `scoring`: the features of the
    /// list that will be contacted (the lapsed customers at the date the model
    /// stands at; their outcomes are not known and not used). A group above the
    /// maximum share of that list is split first, like one above the maximum
    /// share of the training rows, and no split may leave a child with less than
    /// the minimum share of it. Each group records its share of the list
    /// ([`Group::scoring_share`]).
    ///
    /// With `restarts` > 1, one tree per seed `seed + i` and the one that ranks its
    /// own held-out customers best is returned (see [`crate::Segmenter::restarts`]).
    pub fn fit_for(&self, data: &TrainingData<'_>, scoring: Option<ArrayView2<'_, f64>>) -> Result<Segmentation> {
        if self.restarts <= 1 {
            return self.fit_once(data, scoring);
        }
        let mut best: Option<(f64, Segmentation)> = None;
        for i in 0..self.restarts as u64 {
            let params = SegmenterValidParams { seed: self.seed.wrapping_add(i), ..self.clone() };
            let seg = params.fit_once(data, scoring)?;
            let honest = honest_rows(data.x.nrows(), data.customer, params.seed, params.honest_fraction);
            let rows: Vec<usize> = (0..data.x.nrows()).filter(|&r| honest[r]).collect();
            let groups = seg.assign_unchecked(data.x.select(ndarray::Axis(0), &rows).view());
            let p: Vec<f64> = groups.iter().map(|&g| seg.groups[g - 1].probability).collect();
            let y: Vec<bool> = rows.iter().map(|&r| data.y[r]).collect();
            let auc = crate::metrics::auc(&p, &y);
            if best.as_ref().is_none_or(|(b, _)| auc > *b) {
                best = Some((auc, seg));
            }
        }
        let (auc, mut seg) = best.ok_or(Error::Empty)?;
        // The parameters as given (a refit tries the same seeds); the note says which split won.
        let kept = format!("honest split of seed {} kept, best of {} (held-out AUC {auc:.3})", seg.params.seed, self.restarts);
        seg.note = Some(seg.note.map_or(kept.clone(), |n| format!("{n}; {kept}")));
        seg.params = self.clone();
        Ok(seg)
    }

    fn fit_once(&self, data: &TrainingData<'_>, scoring: Option<ArrayView2<'_, f64>>) -> Result<Segmentation> {
        let n = data.x.nrows();
        let p = data.x.ncols();
        if n == 0 {
            return Err(Error::Empty);
        }
        if data.y.len() != n {
            return Err(Error::RowMismatch { what: "labels", rows: n, got: data.y.len() });
        }
        if let Some(s) = data.spend {
            if s.len() != n {
                return Err(Error::RowMismatch { what: "spend", rows: n, got: s.len() });
            }
        }
        if let Some(c) = data.customer {
            if c.len() != n {
                return Err(Error::RowMismatch { what: "customer keys", rows: n, got: c.len() });
            }
        }
        if let Some(w) = data.weight {
            if w.len() != n {
                return Err(Error::RowMismatch { what: "weights", rows: n, got: w.len() });
            }
            if let Some(r) = w.iter().position(|v| !v.is_finite() || *v < 0.0) {
                return Err(Error::BadWeight { row: r, value: w[r] });
            }
            if w.iter().sum::<f64>() <= 0.0 {
                return Err(Error::BadWeight { row: 0, value: 0.0 });
            }
        }
        if let Some(t) = data.target {
            if t.len() != n {
                return Err(Error::RowMismatch { what: "smoothed targets", rows: n, got: t.len() });
            }
            if let Some(r) = t.iter().position(|v| !(0.0..=1.0).contains(v)) {
                return Err(Error::BadTarget { what: "smoothed targets", row: r, value: t[r] });
            }
        }
        if let Some(t) = data.order {
            if t.len() != n {
                return Err(Error::RowMismatch { what: "order scores", rows: n, got: t.len() });
            }
            if let Some(r) = t.iter().position(|v| !(0.0..=1.0).contains(v)) {
                return Err(Error::BadTarget { what: "order scores", row: r, value: t[r] });
            }
        }
        if data.features.len() != p {
            return Err(Error::ColumnMismatch { expected: data.features.len(), got: p });
        }
        check_finite(data.x, data.features)?;
        if let Some(s) = scoring {
            if s.ncols() != p {
                return Err(Error::ColumnMismatch { expected: p, got: s.ncols() });
            }
            check_finite(s, data.features)?;
        }
        let scoring = scoring.filter(|s| s.nrows() > 0);
        let n_scoring = scoring.map_or(0, |s| s.nrows());
        let smax = (self.max_group_share * n_scoring as f64).floor() as usize;
        let smin = match self.min_group_size {
            MinGroupSize::Rows(_) => 1,
            MinGroupSize::Share(s) | MinGroupSize::ShareAtLeast { share: s, .. } => ((s * n_scoring as f64).ceil() as usize).max(1),
        };

        // Honest split by customer (none with an honest fraction of 0: every row
        // chooses the splits and estimates the probabilities).
        let held_out = self.honest_fraction > 0.0;
        let honest = if held_out { honest_rows(n, data.customer, self.seed, self.honest_fraction) } else { vec![false; n] };
        let split_rows: Vec<u32> = (0..n as u32).filter(|&r| !honest[r as usize]).collect();
        if split_rows.is_empty() || (held_out && split_rows.len() == n) {
            return Err(Error::Empty);
        }
        let total_min = self.min_group_size.rows_for(n);
        let min_rows = ((total_min as f64) * split_rows.len() as f64 / n as f64).ceil().max(1.0) as usize;
        let max_rows = (self.max_group_share * split_rows.len() as f64).floor() as usize;

        let mut nodes: Vec<Node> = Vec::new();
        let mut rows_of: Vec<Vec<u32>> = Vec::new();
        // Rows of the scoring list in each node.
        let mut srows_of: Vec<Vec<u32>> = vec![(0..n_scoring as u32).collect()];
        // The distinct features on each node's path: its rule's conditions.
        let mut depth: Vec<Vec<usize>> = Vec::new();
        let mut cand: Vec<Option<std::result::Result<Candidate, Blocked>>> = Vec::new();
        let count_pos = |rows: &[u32]| rows.iter().filter(|&&r| data.y[r as usize]).count();
        nodes.push(Node { split: None, group: None, rows: split_rows.len(), positives: count_pos(&split_rows) });
        rows_of.push(split_rows);
        depth.push(Vec::new());
        cand.push(None);
        let mut leaves = vec![0usize];
        let mut note = None;

        while leaves.len() < self.groups {
            // Candidate splits of new leaves, in parallel (each is independent and seeded).
            let todo: Vec<usize> = leaves.iter().copied().filter(|&l| cand[l].is_none()).collect();
            let found: Vec<(usize, Result<std::result::Result<Candidate, Blocked>>)> = todo
                .par_iter()
                .map(|&l| {
                    let pos = nodes[l].positives;
                    if pos == 0 || pos == rows_of[l].len() {
                        return (l, Ok(Err(Blocked::Pure)));
                    }
                    // A rule at the maximum number of conditions may still narrow one.
                    let full = depth[l].len() >= self.max_depth;
                    let side = scoring.map(|x| ScoringSide { x, rows: &srows_of[l], min_rows: smin, max_rows: smax });
                    let only = full.then_some(depth[l].as_slice());
                    let blocked = if full { Blocked::Depth } else { Blocked::Size };
                    // A smoothed target that cannot tell the node's rows apart (nearly
                    // constant within it) leaves the choice to the outcomes.
                    let c = match choose_split_for(data.x, data.y, data.target, &rows_of[l], self, min_rows, l as u64, side, only) {
                        Ok(None) if data.target.is_some() => choose_split_for(data.x, data.y, None, &rows_of[l], self, min_rows, l as u64, side, only),
                        other => other,
                    }
                    .map(|c| c.ok_or(blocked));
                    (l, c)
                })
                .collect();
            for (l, c) in found {
                cand[l] = Some(c?);
            }
            let splittable: Vec<usize> = leaves.iter().copied().filter(|&l| matches!(cand[l], Some(Ok(_)))).collect();
            if splittable.is_empty() {
                let why: Vec<Blocked> = leaves.iter().filter_map(|&l| cand[l].as_ref().and_then(|c| c.as_ref().err().copied())).collect();
                note = Some(format!(
                    "stopped at {} groups: no group can be split further ({} at the maximum depth {}, {} without a split that keeps {} rows on each side, {} with one outcome only)",
                    leaves.len(),
                    why.iter().filter(|&&b| b == Blocked::Depth).count(),
                    self.max_depth,
                    why.iter().filter(|&&b| b == Blocked::Size).count(),
                    total_min,
                    why.iter().filter(|&&b| b == Blocked::Pure).count(),
                ));
                break;
            }
            // Oversized on the training rows or on the scoring list: the largest share first.
            let share = |l: usize| {
                let t = rows_of[l].len() as f64 / nodes[0].rows.max(1) as f64;
                let s = if n_scoring > 0 { srows_of[l].len() as f64 / n_scoring as f64 } else { 0.0 };
                t.max(s)
            };
            let oversized = splittable
                .iter()
                .copied()
                .filter(|&l| rows_of[l].len() > max_rows || (n_scoring > 0 && srows_of[l].len() > smax))
                .max_by(|&a, &b| share(a).total_cmp(&share(b)).then(b.cmp(&a)));
            let pick = oversized.unwrap_or_else(|| {
                splittable
                    .iter()
                    .copied()
                    .max_by(|&a, &b| {
                        let pa = cand[a].as_ref().and_then(|c| c.as_ref().ok()).map_or(0.0, |c| c.priority);
                        let pb = cand[b].as_ref().and_then(|c| c.as_ref().ok()).map_or(0.0, |c| c.priority);
                        pa.total_cmp(&pb).then(b.cmp(&a))
                    })
                    .unwrap_or(splittable[0])
            });
            let Some(Ok(c)) = cand[pick].take() else { break };
            let (li, ri) = (nodes.len(), nodes.len() + 1);
            for side in [&c.left, &c.right] {
                nodes.push(Node { split: None, group: None, rows: side.len(), positives: count_pos(side) });
                let mut path = depth[pick].clone();
                if !path.contains(&c.feature) {
                    path.push(c.feature);
                }
                depth.push(path);
                cand.push(None);
            }
            if let Some(sx) = scoring {
                let (sl, sr): (Vec<u32>, Vec<u32>) = srows_of[pick].iter().partition(|&&r| sx[(r as usize, c.feature)] < c.threshold);
                srows_of.push(sl);
                srows_of.push(sr);
            } else {
                srows_of.push(Vec::new());
                srows_of.push(Vec::new());
            }
            srows_of[pick] = Vec::new();
            rows_of.push(c.left);
            rows_of.push(c.right);
            rows_of[pick] = Vec::new();
            nodes[pick].split = Some((c.feature, c.threshold, li, ri));
            cand[pick] = None;
            leaves.retain(|&l| l != pick);
            leaves.push(li);
            leaves.push(ri);
        }
        if note.is_none() {
            let big: Vec<usize> = leaves.iter().copied().filter(|&l| rows_of[l].len() > max_rows || (n_scoring > 0 && srows_of[l].len() > smax)).collect();
            if !big.is_empty() {
                let splittable = big.iter().filter(|&&l| !matches!(cand[l], Some(Err(_)))).count();
                note = Some(if splittable > 0 {
                    format!(
                        "{} group(s) hold more than {:.0}% of the rows or of the scoring list: the {} groups were used up splitting larger groups first (allow more groups or a larger maximum share)",
                        big.len(),
                        self.max_group_share * 100.0,
                        self.groups
                    )
                } else {
                    format!("{} group(s) hold more than {:.0}% of the rows or of the scoring list and cannot be split further (depth or minimum size)", big.len(), self.max_group_share * 100.0)
                });
            }
        }

        let mut seg = Segmentation {
            params: self.clone(),
            features: data.features.to_vec(),
            nodes,
            groups: Vec::new(),
            base_rate: {
                let w = |r: usize| data.weight.map_or(1.0, |w| w[r]);
                let (pos, all) = (0..n).fold((0.0, 0.0), |(p, a), r| (p + if data.y[r] { w(r) } else { 0.0 }, a + w(r)));
                pos / all
            },
            rows: n,
            note,
        };
        let estimating = if held_out { honest } else { vec![true; n] };
        seg.estimate(data, &estimating, &leaves);
        if n_scoring > 0 {
            for &l in &leaves {
                if let Some(g) = seg.nodes[l].group {
                    seg.groups[g - 1].scoring_share = Some(srows_of[l].len() as f64 / n_scoring as f64);
                }
            }
        }
        Ok(seg)
    }
}

pub(crate) fn check_finite(x: ArrayView2<'_, f64>, features: &[Feature]) -> Result<()> {
    for (r, row) in x.outer_iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            if !v.is_finite() {
                return Err(Error::NonFinite { row: r, column: features.get(j).map_or_else(|| j.to_string(), |f| f.name.clone()), value: v });
            }
        }
    }
    Ok(())
}

impl Segmentation {
    /// Counts per leaf, posteriors from the `honest` rows (the held-out ones, or
    /// every row when nothing is held out), group ids by decreasing probability (or
    /// order score, the probabilities pooled where they go against it).
    fn estimate(&mut self, data: &TrainingData<'_>, honest: &[bool], leaves: &[usize]) {
        let n = data.x.nrows();
        let leaf_of: Vec<usize> = (0..n).into_par_iter().map(|r| self.leaf(data.x.row(r))).collect();
        #[derive(Default, Clone)]
        struct Acc {
            size: usize,
            back: usize,
            hsize: usize,
            hback: usize,
            hw: f64,
            hbw: f64,
            past: f64,
            ret_spend: f64,
            /// Order scores summed (weighted) over the estimating rows, and over all rows.
            score_w: f64,
            score_all: f64,
        }
        let mut acc: BTreeMap<usize, Acc> = leaves.iter().map(|&l| (l, Acc::default())).collect();
        let past_col = self.features.iter().position(|f| f.name == "spend_total");
        for r in 0..n {
            let a = acc.entry(leaf_of[r]).or_default();
            a.size += 1;
            if let Some(j) = past_col {
                a.past += data.x[(r, j)];
            }
            if data.y[r] {
                a.back += 1;
                if let Some(s) = data.spend {
                    a.ret_spend += s[r];
                }
            }
            if let Some(o) = data.order {
                a.score_all += o[r];
            }
            if honest[r] {
                let w = data.weight.map_or(1.0, |w| w[r]);
                if let Some(o) = data.order {
                    a.score_w += w * o[r];
                }
                a.hsize += 1;
                a.hback += usize::from(data.y[r]);
                a.hw += w;
                if data.y[r] {
                    a.hbw += w;
                }
            }
        }
        let prior = Beta::from_mean(self.base_rate, self.params.prior_strength);
        // A group where nobody came back in training is valued at the overall mean
        // spend of those who came back, not at 0.
        let overall_return_spend = data.spend.map(|s| {
            let (sum, n) = (0..n).filter(|&r| data.y[r]).fold((0.0, 0usize), |(a, k), r| (a + s[r], k + 1));
            if n > 0 {
                sum / n as f64
            } else {
                0.0
            }
        });
        // (leaf, pooling counts (weighted came back, weighted rows), order score).
        let mut order: Vec<(usize, f64, f64, Option<f64>)> = Vec::with_capacity(acc.len());
        let own = |back: f64, rows: f64| prior.update_weighted(back, rows).mean();
        let mut groups: Vec<(usize, Group)> = acc
            .into_iter()
            .map(|(leaf, a)| {
                let score = data.order.map(|_| if a.hw > 0.0 { a.score_w / a.hw } else if a.size > 0 { a.score_all / a.size as f64 } else { 0.0 });
                order.push((leaf, a.hbw, a.hw, score));
                let post = prior.update_weighted(a.hbw, a.hw);
                let (low, high) = post.interval(self.params.interval_level);
                let rule = self.path_conditions(leaf);
                let g = Group {
                    id: 0,
                    sentence: sentence(&rule, &self.features),
                    rule,
                    size: a.size,
                    share: a.size as f64 / n as f64,
                    came_back: a.back,
                    observed_rate: if a.size > 0 { a.back as f64 / a.size as f64 } else { 0.0 },
                    honest_size: a.hsize,
                    honest_came_back: a.hback,
                    probability: post.mean(),
                    low,
                    high,
                    alpha: post.alpha,
                    beta: post.beta,
                    mean_past_spend: past_col.map(|_| if a.size > 0 { a.past / a.size as f64 } else { 0.0 }),
                    // Net of returns, a mean can fall below 0; a win-back is never worth less
                    // than nothing (a NaN is kept, for validation to name).
                    mean_return_spend: overall_return_spend.map(|all| {
                        let m = if a.back > 0 { a.ret_spend / a.back as f64 } else { all };
                        if m < 0.0 {
                            0.0
                        } else {
                            m
                        }
                    }),
                    scoring_share: None,
                    order_score: score,
                    pooled: Vec::new(),
                };
                (leaf, g)
            })
            .collect();
        if data.order.is_some() {
            // By decreasing order score; then pool adjacent violators: a run of groups
            // whose rates rise along that order shares the posterior of its pooled rows.
            // Equal scores: the higher own rate first (no needless pooling), then the leaf.
            order.sort_by(|a, b| b.3.unwrap_or(0.0).total_cmp(&a.3.unwrap_or(0.0)).then(own(b.1, b.2).total_cmp(&own(a.1, a.2))).then(a.0.cmp(&b.0)));
            let mut blocks: Vec<(f64, f64, Vec<usize>)> = Vec::new();
            for &(leaf, back, rows, _) in &order {
                blocks.push((back, rows, vec![leaf]));
                while blocks.len() > 1 {
                    let k = blocks.len();
                    if own(blocks[k - 2].0, blocks[k - 2].1) >= own(blocks[k - 1].0, blocks[k - 1].1) {
                        break;
                    }
                    let (b, r, m) = blocks.pop().unwrap_or_default();
                    let last = blocks.len() - 1;
                    blocks[last].0 += b;
                    blocks[last].1 += r;
                    blocks[last].2.extend(m);
                }
            }
            let position: BTreeMap<usize, usize> = order.iter().enumerate().map(|(i, o)| (o.0, i)).collect();
            for (back, rows, members) in &blocks {
                if members.len() < 2 {
                    continue;
                }
                let post = prior.update_weighted(*back, *rows);
                let (low, high) = post.interval(self.params.interval_level);
                let mut pooled: Vec<usize> = members.iter().map(|l| position[l] + 1).collect();
                pooled.sort_unstable();
                for (_, g) in groups.iter_mut().filter(|(l, _)| members.contains(l)) {
                    g.probability = post.mean();
                    g.low = low;
                    g.high = high;
                    g.alpha = post.alpha;
                    g.beta = post.beta;
                    g.pooled = pooled.clone();
                }
            }
            groups.sort_by_key(|(leaf, _)| position[leaf]);
        } else {
            groups.sort_by(|a, b| b.1.probability.total_cmp(&a.1.probability).then(a.0.cmp(&b.0)));
        }
        for (i, (leaf, g)) in groups.iter_mut().enumerate() {
            g.id = i + 1;
            self.nodes[*leaf].group = Some(i + 1);
        }
        self.groups = groups.into_iter().map(|(_, g)| g).collect();
    }

    /// The leaf node a row lands in.
    #[inline]
    fn leaf(&self, row: ndarray::ArrayView1<'_, f64>) -> usize {
        leaf_of(&self.nodes, row)
    }

    /// The merged conditions on the path to `leaf`.
    fn path_conditions(&self, leaf: usize) -> Vec<Condition> {
        path_conditions(&self.nodes, &self.features, leaf)
    }

    /// Rewrites every group's sentence from its rule, as this build words it (a
    /// model file stores the sentence for reading; on load it is made to say the
    /// rule, whatever an older build or an edit wrote there).
    pub fn reword(&mut self) {
        for g in &mut self.groups {
            g.sentence = sentence(&g.rule, &self.features);
        }
    }

    /// Checks that the structure is sound (for segmentations read from files):
    /// children after their parent and in range, split features in range, every
    /// leaf in a group, groups numbered 1..=K. A tampered file is refused here
    /// instead of looping or panicking when rows are assigned.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidSegmentation(m));
        self.params.validate().map_err(|e| Error::InvalidSegmentation(format!("params: {e}")))?;
        let k = self.groups.len();
        if self.nodes.is_empty() {
            return bad("nodes: empty".into());
        }
        if k == 0 {
            return bad("groups: empty".into());
        }
        if self.features.is_empty() {
            return bad("features: empty".into());
        }
        let prob = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        if !prob(self.base_rate) {
            return bad(format!("base_rate: {} is not a probability in [0, 1]", self.base_rate));
        }
        validate_tree(&self.nodes, k, self.features.len()).map_err(Error::InvalidSegmentation)?;
        for (i, g) in self.groups.iter().enumerate() {
            let at = |field: &str| format!("groups[{i}].{field}");
            if g.id != i + 1 {
                return bad(format!("{}: {} where groups are numbered 1..={k} in order", at("id"), g.id));
            }
            for (name, v) in [("probability", g.probability), ("low", g.low), ("high", g.high), ("share", g.share), ("observed_rate", g.observed_rate)] {
                if !prob(v) {
                    return bad(format!("{}: {v} is not a probability in [0, 1]", at(name)));
                }
            }
            if g.low > g.high {
                return bad(format!("{}: {} is above high = {}", at("low"), g.low, g.high));
            }
            // A posterior worth more than 10^12 customers is not one a fit or a wave
            // makes; past that the interval arithmetic loses its meaning.
            for (name, v) in [("alpha", g.alpha), ("beta", g.beta)] {
                if !(v.is_finite() && v > 0.0 && v <= MAX_BETA) {
                    return bad(format!("{}: {v:e} is not a Beta parameter in (0, {MAX_BETA:e}]", at(name)));
                }
            }
            if g.size > self.rows {
                return bad(format!("{}: {} is more than the {} training rows", at("size"), g.size, self.rows));
            }
            if self.rows > 0 && (g.share - g.size as f64 / self.rows as f64).abs() > 1e-9 {
                return bad(format!("{}: {} differs from size / rows = {} / {}", at("share"), g.share, g.size, self.rows));
            }
            if g.size > 0 && (g.observed_rate - g.came_back as f64 / g.size as f64).abs() > 1e-9 {
                return bad(format!("{}: {} differs from came_back / size = {} / {}", at("observed_rate"), g.observed_rate, g.came_back, g.size));
            }
            // Each fact once: the probability and its interval are those of the Beta
            // posterior (alpha, beta) at the segmentation's level, never edited apart.
            let post = Beta { alpha: g.alpha, beta: g.beta };
            if (g.probability - post.mean()).abs() > 1e-9 {
                return bad(format!("{}: {} differs from the posterior mean alpha / (alpha + beta) = {}", at("probability"), g.probability, post.mean()));
            }
            let (lo, hi) = post.interval(self.params.interval_level());
            if (g.low - lo).abs() > 1e-9 || (g.high - hi).abs() > 1e-9 {
                return bad(format!(
                    "{}: [{}, {}] differs from the posterior's interval [{lo}, {hi}] at the segmenter's interval_level {} (a group's interval, or the level, was edited)",
                    at("low"),
                    g.low,
                    g.high,
                    self.params.interval_level()
                ));
            }
            if g.came_back > g.size {
                return bad(format!("{}: {} is more than the group's size {}", at("came_back"), g.came_back, g.size));
            }
            if g.honest_came_back > g.honest_size {
                return bad(format!("{}: {} is more than honest_size {}", at("honest_came_back"), g.honest_came_back, g.honest_size));
            }
            for (name, v) in [("mean_past_spend", g.mean_past_spend), ("mean_return_spend", g.mean_return_spend)] {
                if let Some(v) = v {
                    if !v.is_finite() || v.abs() > 1e15 {
                        return bad(format!("{}: {v:e} is not a representable amount", at(name)));
                    }
                }
            }
            if let Some(v) = g.scoring_share {
                if !prob(v) {
                    return bad(format!("{}: {v} is not a share in [0, 1]", at("scoring_share")));
                }
            }
            if let Some(v) = g.order_score {
                if !prob(v) {
                    return bad(format!("{}: {v} is not a chance in [0, 1]", at("order_score")));
                }
            }
            if g.order_score.is_some() != self.groups[0].order_score.is_some() {
                let has = |b: bool| if b { "has one" } else { "has none" };
                return bad(format!(
                    "{}: present on some groups only: this group {}, groups[0] {} (every group has one when the groups were ordered by it)",
                    at("order_score"),
                    has(g.order_score.is_some()),
                    has(self.groups[0].order_score.is_some())
                ));
            }
            if i > 0 && g.order_score > self.groups[i - 1].order_score {
                return bad(format!("{}: {:?} is above the previous group's {:?} (groups are numbered by decreasing order score)", at("order_score"), g.order_score, self.groups[i - 1].order_score));
            }
            if !g.pooled.is_empty() {
                // In range first: the ids index the groups and are added to.
                let ok = g.pooled.len() >= 2
                    && g.pooled.iter().all(|m| (1..=k).contains(m))
                    && g.pooled.windows(2).all(|w| w[0].checked_add(1) == Some(w[1]))
                    && g.pooled.contains(&g.id)
                    && g.pooled.iter().all(|&m| self.groups[m - 1].pooled == g.pooled);
                // Their posteriors are equal when fitted; recorded waves then update each group's own.
                if !ok {
                    return bad(format!("{}: {:?} is not a run of 2 or more adjacent groups, this one included, each naming the same run", at("pooled"), g.pooled));
                }
            }
            if g.mean_return_spend.is_some_and(|v| v < 0.0) {
                return bad(format!("{} is negative", at("mean_return_spend")));
            }
            if let Some(j) = rule_ok(&g.rule, &self.features) {
                return bad(format!("{}[{j}]: not a condition on a feature of this segmentation", at("rule")));
            }
            // The rule and its sentence are the tree's path to the group's leaf, stored
            // for reading: they must say what the tree does.
            if let Some(leaf) = self.nodes.iter().position(|n| n.split.is_none() && n.group == Some(g.id)) {
                if g.rule != self.path_conditions(leaf) {
                    return bad(format!("{}: differs from the tree's path to the group's leaf (nodes[{leaf}])", at("rule")));
                }
            }
        }
        let total: usize = self.groups.iter().map(|g| g.size).sum();
        if total != self.rows {
            return bad(format!("rows: {} where the groups' sizes add up to {total}", self.rows));
        }
        Ok(())
    }

    /// Checks a matrix against the segmentation's features.
    fn check(&self, x: ArrayView2<'_, f64>) -> Result<()> {
        if x.ncols() != self.features.len() {
            return Err(Error::ColumnMismatch { expected: self.features.len(), got: x.ncols() });
        }
        check_finite(x, &self.features)
    }

    /// The group id (1..=K) of each row.
    ///
    /// Rows are routed exactly as linfa-trees predicts (`x < threshold` → left).
    pub fn assign(&self, x: ArrayView2<'_, f64>) -> Result<Vec<usize>> {
        self.check(x)?;
        Ok(self.assign_unchecked(x))
    }

    /// [`Segmentation::assign`] without the finiteness check (for benchmarks and trusted input).
    pub fn assign_unchecked(&self, x: ArrayView2<'_, f64>) -> Vec<usize> {
        let route = |row: ndarray::ArrayView1<'_, f64>| self.nodes[self.leaf(row)].group.unwrap_or(0);
        if x.nrows() < 50_000 {
            x.outer_iter().map(route).collect()
        } else {
            x.outer_iter().into_par_iter().map(route).collect()
        }
    }

    /// The honest probability of each row's group.
    pub fn predict_proba(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        Ok(self.assign(x)?.into_iter().map(|g| self.groups[g - 1].probability).collect())
    }

    /// A group by id.
    pub fn group(&self, id: usize) -> Option<&Group> {
        id.checked_sub(1).and_then(|i| self.groups.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::ParamGuard;
    use winback_core::features::{FeatureKind, Source};

    fn feature(name: &str) -> Feature {
        Feature { name: name.into(), kind: FeatureKind::Number, unit: String::new(), source: Source::AttrNumber(name.into()) }
    }

    /// A split that would leave a child above the maximum share of the scoring
    /// list with too few training rows to be split again is passed over for
    /// another feature; when no other feature splits the node, it is still taken.
    #[test]
    fn a_split_that_strands_an_oversized_group_on_the_list_is_avoided() -> Result<()> {
        // Training: a = i, b = i % 20; 3 in 4 come back below a = 80, 1 in 4 above.
        let n = 400usize;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| if j == 0 { i as f64 } else { (i % 20) as f64 });
        let y: Vec<bool> = (0..n).map(|i| if i < 80 { i % 4 != 3 } else { i % 4 == 0 }).collect();
        // The list: 60 of 100 below a = 80 (only 80 training rows there: < 2 × 50).
        let sx = Array2::from_shape_fn((100, 2), |(i, j)| if j == 0 { if i < 60 { i as f64 } else { 100.0 + 3.0 * i as f64 } } else { (i % 20) as f64 });
        let features = [feature("a"), feature("b")];
        let data = TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: None };
        let params = |groups| crate::Segmenter::params().groups(groups).min_group_size(MinGroupSize::Rows(50)).honest_fraction(0.0).check();
        // Without the list, the outcomes split on a at 80.
        let plain = params(2)?.fit(&data)?;
        let (f, t, _, _) = plain.nodes[0].split.expect("a split");
        assert!(f == 0 && t > 79.0 && t <= 81.0, "{f} {t}");
        // With it, a at 80 would strand 60% of the list in 80 rows: b splits first.
        let on_list = params(2)?.fit_for(&data, Some(sx.view()))?;
        assert_eq!(on_list.nodes[0].split.map(|s| s.0), Some(1));
        // With only a, the split is still taken.
        let xa = x.column(0).to_owned().insert_axis(ndarray::Axis(1));
        let sxa = sx.column(0).to_owned().insert_axis(ndarray::Axis(1));
        let only_a = TrainingData { x: xa.view(), features: &features[..1], ..data };
        let seg = params(2)?.fit_for(&only_a, Some(sxa.view()))?;
        let (f, t, _, _) = seg.nodes[0].split.expect("a split");
        assert!(f == 0 && t > 79.0 && t <= 81.0, "{f} {t}");
        let mut shares: Vec<f64> = seg.groups.iter().map(|g| g.scoring_share.unwrap_or(0.0)).collect();
        shares.sort_by(f64::total_cmp);
        assert_eq!(shares, vec![0.4, 0.6]);
        Ok(())
    }

    /// A smoothed target chooses the split; the outcomes still give the groups'
    /// counts and probabilities.
    #[test]
    fn a_smoothed_target_chooses_the_split_and_the_outcomes_the_probabilities() -> Result<()> {
        // Column a = i; column b = a permutation of 0..400. The outcomes follow b
        // (b >= 200: 3 in 4 come back, else 1 in 4); the target follows a.
        let n = 400usize;
        let b = |i: usize| ((i * 7919) % n) as f64;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| if j == 0 { i as f64 } else { b(i) });
        let y: Vec<bool> = (0..n).map(|i| if b(i) >= 200.0 { (b(i) as usize) % 4 != 3 } else { (b(i) as usize) % 4 == 0 }).collect();
        let t: Vec<f64> = (0..n).map(|i| if i < 200 { 0.2 } else { 0.8 }).collect();
        let features = [feature("a"), feature("b")];
        let params = crate::Segmenter::params().groups(2).min_group_size(MinGroupSize::Rows(100)).honest_fraction(0.0).prior_strength(20.0).check()?;
        let on_outcomes = params.fit(&TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: None })?;
        assert_eq!(on_outcomes.nodes[0].split.map(|s| s.0), Some(1), "the outcomes split on b");
        let data = TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: Some(&t), order: None };
        let seg = params.fit(&data)?;
        let (f, thr, _, _) = seg.nodes[0].split.expect("a split");
        assert!(f == 0 && thr > 199.0 && thr <= 200.0, "{f} {thr}");
        // Each group's counts are the real outcomes of its rows.
        let came_back = |lo: usize, hi: usize| (lo..hi).filter(|&i| y[i]).count();
        let (upper, lower) = (came_back(200, 400), came_back(0, 200));
        let mut sizes: Vec<(usize, usize)> = seg.groups.iter().map(|g| (g.size, g.came_back)).collect();
        sizes.sort_unstable();
        let mut expected = vec![(200, upper), (200, lower)];
        expected.sort_unstable();
        assert_eq!(sizes, expected);
        let base = (upper + lower) as f64 / 400.0;
        for g in &seg.groups {
            let p = (20.0 * base + g.came_back as f64) / (20.0 + 200.0);
            assert!((g.probability - p).abs() < 1e-12, "{} {p}", g.probability);
        }
        // A target that is the same for every row cannot choose: the outcomes do.
        let flat = vec![0.5; n];
        let seg = params.fit(&TrainingData { target: Some(&flat), ..data })?;
        assert_eq!(seg.nodes, on_outcomes.nodes);
        // Targets are checked.
        let short = TrainingData { target: Some(&t[..10]), ..data };
        assert!(matches!(params.fit(&short), Err(Error::RowMismatch { got: 10, .. })));
        let mut bad = t.clone();
        bad[7] = 1.5;
        assert!(matches!(params.fit(&TrainingData { target: Some(&bad), ..data }), Err(Error::BadTarget { row: 7, .. })));
        let mut nan = t.clone();
        nan[7] = f64::NAN;
        assert!(matches!(params.fit(&TrainingData { target: Some(&nan), ..data }), Err(Error::BadTarget { row: 7, .. })));
        Ok(())
    }

    /// 400 rows, x = 0..400: x < 200 come back 1 in 4 (50 of 200), x >= 200 come
    /// back 3 in 4 (150 of 200).
    fn two_bands() -> (Array2<f64>, Vec<bool>) {
        let x = Array2::from_shape_fn((400, 1), |(i, _)| i as f64);
        let y = (0..400).map(|i| if i < 200 { i % 4 == 0 } else { i % 4 != 3 }).collect();
        (x, y)
    }

    /// Nobody held out (honest fraction 0): every row estimates its group, the
    /// posterior is the base-rate prior updated with all of the group's rows, and
    /// the seed changes nothing (no split is drawn, no node is sampled).
    #[test]
    fn with_nobody_held_out_every_row_estimates_and_the_seed_does_not_matter() -> Result<()> {
        let (x, y) = two_bands();
        let features = [feature("x")];
        let data = TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: None };
        let params = |seed| crate::Segmenter::params().groups(2).min_group_size(MinGroupSize::Rows(100)).honest_fraction(0.0).prior_strength(20.0).seed(seed);
        let seg = params(1).check()?.fit(&data)?;
        assert_eq!(seg.groups.len(), 2);
        let (f, t, _, _) = seg.nodes[0].split.expect("a split");
        assert!(f == 0 && t > 199.0 && t <= 200.0, "{f} {t}");
        // Base rate 0.5, prior Beta(10, 10); group 1 = x >= 199.5: Beta(10 + 150, 10 + 50).
        let g1 = &seg.groups[0];
        assert_eq!((g1.size, g1.came_back, g1.honest_size, g1.honest_came_back), (200, 150, 200, 150));
        assert!((g1.alpha - 160.0).abs() < 1e-9 && (g1.beta - 60.0).abs() < 1e-9, "{} {}", g1.alpha, g1.beta);
        assert!((g1.probability - 160.0 / 220.0).abs() < 1e-12);
        let g2 = &seg.groups[1];
        assert_eq!((g2.size, g2.came_back, g2.honest_size, g2.honest_came_back), (200, 50, 200, 50));
        assert!((g2.probability - 60.0 / 220.0).abs() < 1e-12);
        let other = params(99).check()?.fit(&data)?;
        assert_eq!((other.nodes, other.groups), (seg.nodes, seg.groups));
        // Restarts compare held-out customers: refused without any; out of range refused.
        assert!(matches!(params(1).restarts(2).check(), Err(Error::RestartsWithoutHoldout(2))));
        for bad in [-0.1, 0.95, f64::NAN] {
            assert!(matches!(crate::Segmenter::params().honest_fraction(bad).check(), Err(Error::InvalidHonestFraction(_))), "{bad}");
        }
        Ok(())
    }

    /// An order score numbers the groups; where the groups' outcomes go against
    /// it, their rows are pooled into one posterior (and where they agree, each
    /// keeps its own).
    #[test]
    fn an_order_score_numbers_the_groups_and_pools_the_outcomes_that_go_against_it() -> Result<()> {
        let (x, y) = two_bands();
        let n = y.len();
        let features = [feature("x")];
        let params = crate::Segmenter::params().groups(2).min_group_size(MinGroupSize::Rows(100)).honest_fraction(0.0).prior_strength(20.0).check()?;
        // The score ranks the low-x rows first (0.5 against 0.25, rows 0-199 and 200-399).
        let against: Vec<f64> = (0..n).map(|i| if i < 200 { 0.5 } else { 0.25 }).collect();
        let data = TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: Some(&against) };
        let seg = params.fit(&data)?;
        let (g1, g2) = (&seg.groups[0], &seg.groups[1]);
        // Group 1 is the low-x leaf (score 0.5); its 50 of 200 are below the other's 150
        // of 200, so both share Beta(10 + 200, 10 + 200) = 0.5.
        assert_eq!((g1.size, g1.came_back, g1.order_score, g1.pooled.clone()), (200, 50, Some(0.5), vec![1, 2]));
        assert_eq!((g2.size, g2.came_back, g2.order_score, g2.pooled.clone()), (200, 150, Some(0.25), vec![1, 2]));
        for g in [g1, g2] {
            assert!((g.alpha - 210.0).abs() < 1e-9 && (g.beta - 210.0).abs() < 1e-9, "{} {}", g.alpha, g.beta);
            assert!((g.probability - 0.5).abs() < 1e-12);
            assert_eq!((g.low, g.high), Beta { alpha: 210.0, beta: 210.0 }.interval(0.9));
        }
        seg.validate()?;
        // A score that agrees with the outcomes: own posteriors, as without a score.
        let along: Vec<f64> = against.iter().map(|v| 1.0 - v).collect();
        let seg = params.fit(&TrainingData { order: Some(&along), ..data })?;
        let plain = params.fit(&TrainingData { order: None, ..data })?;
        assert_eq!(seg.groups[0].order_score, Some(0.75));
        assert!(seg.groups.iter().all(|g| g.pooled.is_empty()));
        for (a, b) in seg.groups.iter().zip(&plain.groups) {
            assert_eq!((a.id, a.size, a.alpha, a.beta, a.probability), (b.id, b.size, b.alpha, b.beta, b.probability));
        }
        assert!((seg.groups[0].probability - 160.0 / 220.0).abs() < 1e-12);
        // Scores outside [0, 1] or of the wrong length are refused.
        let mut bad = along.clone();
        bad[3] = 1.5;
        assert!(matches!(params.fit(&TrainingData { order: Some(&bad), ..data }), Err(Error::BadTarget { what: "order scores", row: 3, .. })));
        assert!(matches!(params.fit(&TrainingData { order: Some(&along[..7]), ..data }), Err(Error::RowMismatch { what: "order scores", .. })));
        // A tampered file: pooled groups that are not a run naming each other are refused.
        let mut t = params.fit(&TrainingData { order: Some(&against), ..data })?;
        t.groups[1].pooled = vec![2, 3];
        assert!(matches!(t.validate(), Err(Error::InvalidSegmentation(m)) if m.starts_with("groups[0].pooled") || m.starts_with("groups[1].pooled")));
        for ids in [vec![usize::MAX, 0], vec![1, 1], vec![2], vec![0, 1]] {
            t.groups[0].pooled = ids.clone();
            t.groups[1].pooled = ids.clone();
            assert!(matches!(t.validate(), Err(Error::InvalidSegmentation(m)) if m.starts_with("groups[0].pooled")), "{ids:?}");
        }
        let mut t = params.fit(&TrainingData { order: Some(&against), ..data })?;
        t.groups[1].order_score = Some(0.9);
        assert!(matches!(t.validate(), Err(Error::InvalidSegmentation(m)) if m.starts_with("groups[1].order_score")));
        t.groups[1].order_score = None;
        assert!(matches!(t.validate(), Err(Error::InvalidSegmentation(m)) if m.starts_with("groups[1].order_score") && m.contains("some groups only")));
        // Spend net of returns below 0 for everyone who came back: the group's mean
        // return spend is 0, and the segmentation still validates.
        let spend: Vec<f64> = (0..n).map(|i| if i < 200 { -5.0 } else { 3.0 }).collect();
        let s = params.fit(&TrainingData { spend: Some(&spend), ..data })?;
        let low_x = s.groups.iter().find(|g| g.came_back == 50).expect("the low-x group");
        assert_eq!(low_x.mean_return_spend, Some(0.0));
        assert!(s.groups.iter().any(|g| g.mean_return_spend == Some(3.0)));
        s.validate()?;
        Ok(())
    }

    /// The depth limit counts a rule's conditions (distinct features): a group at
    /// the limit may still narrow one of its features, never add another.
    #[test]
    fn a_rule_at_the_maximum_conditions_narrows_a_feature_but_adds_none() -> Result<()> {
        // Rate high in the middle band of `a` (100 <= a < 200), low outside; `b` is
        // informative too, so a split on it would be taken if allowed.
        let n = 3000;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| if j == 0 { (i % 300) as f64 } else { (i / 300) as f64 });
        let y: Vec<bool> = (0..n)
            .map(|i| {
                let (a, b) = (i % 300, i / 300);
                let k = winback_stats::mix(3, i as u64) % 100;
                k < if (100..200).contains(&a) { 70 } else { 10 } + 2 * b as u64
            })
            .collect();
        let features = [feature("a"), feature("b")];
        let data = TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: None };
        let seg = crate::Segmenter::params().groups(3).max_depth(1).min_group_size(MinGroupSize::Rows(200)).honest_fraction(0.0).check()?.fit(&data)?;
        assert_eq!(seg.groups.len(), 3, "{:?}", seg.note);
        let used: std::collections::BTreeSet<usize> = seg.nodes.iter().filter_map(|nd| nd.split.map(|s| s.0)).collect();
        assert_eq!(used.into_iter().collect::<Vec<_>>(), vec![0]);
        for g in &seg.groups {
            assert_eq!(g.rule.len(), 1, "{}", g.sentence);
        }
        // The middle band is the best group.
        assert!(seg.groups[0].rule[0].lower.is_some() && seg.groups[0].rule[0].upper.is_some(), "{}", seg.groups[0].sentence);
        // With two conditions allowed, `b` may be used.
        let two = crate::Segmenter::params().groups(3).max_depth(2).min_group_size(MinGroupSize::Rows(200)).honest_fraction(0.0).check()?.fit(&data)?;
        assert_eq!(two.groups.len(), 3);
        Ok(())
    }

    /// Restarts: the kept tree is one of the single-seed trees (the one whose own
    /// held-out rows it ranks best), its note says which, and it is the same on a
    /// re-run; out-of-range counts are refused.
    #[test]
    fn restarts_keep_the_best_single_seed_tree() -> Result<()> {
        let n = 3000;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| ((i * (j + 3)) % 97) as f64);
        let y: Vec<bool> = (0..n).map(|i| winback_stats::mix(5, i as u64) % 100 < 10 + (i % 97) as u64 / 3).collect();
        let f = |name: &str| Feature { name: name.into(), kind: FeatureKind::Number, unit: String::new(), source: Source::AttrNumber(name.into()) };
        let features = [f("a"), f("b")];
        let data = TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: None };
        let base = crate::Segmenter::params().groups(4).min_group_size(MinGroupSize::Rows(100)).seed(7);
        let best = base.clone().restarts(3).check()?.fit(&data)?;
        let singles: Vec<Segmentation> = (7..10).map(|s| base.clone().seed(s).check().and_then(|p| p.fit(&data))).collect::<Result<_>>()?;
        let kept = singles.iter().position(|s| s.groups == best.groups).expect("one of the single-seed trees");
        assert!(best.note.as_deref().is_some_and(|n| n.contains(&format!("honest split of seed {} kept, best of 3", 7 + kept))), "{:?}", best.note);
        assert_eq!(best.params.restarts(), 3);
        assert_eq!(best.params.seed(), 7);
        assert_eq!(base.clone().restarts(3).check()?.fit(&data)?, best);
        assert!(matches!(base.clone().restarts(0).check(), Err(Error::InvalidRestarts(0))));
        assert!(matches!(base.restarts(65).check(), Err(Error::InvalidRestarts(65))));
        Ok(())
    }
}
