//! Uplift groups: a tree grown on the **effect of a contact** (contact rate −
//! control rate) instead of the repurchase rate, from a past campaign with a
//! randomized control group.
//!
//! ## How the tree is grown
//!
//! Best-first, like the repurchase tree ([`crate::segmentation`]): the training
//! rows are divided by customer (seeded hash) into the part that chooses the
//! splits and the held-out part that estimates the effects. A leaf's split is
//! the one that spreads the effect most between its children, `n_L·u_L² +
//! n_R·u_R² − n·u²` with `u` = contact rate − control rate of a set of rows (the
//! "squared difference of treatment effects between children" of uplift trees,
//! weighted by size), found by an exact scan of every feature's sorted values on
//! the node's rows (a seeded sample of `sample_rows` in larger nodes); thresholds
//! are midpoints and `x < threshold` goes left, as in the repurchase tree. Every
//! side keeps the minimum group size in rows and, in each arm, at least half its
//! share of that minimum (an effect needs both arms). A group above the maximum
//! share is split first; otherwise the leaf whose split spreads the effect most
//! is split, until K groups. The split criterion and class weighting parameters
//! do not apply (they are the repurchase tree's).
//!
//! ## Honest effects
//!
//! Each group's rates are Beta posteriors of the **held-out** customers of each
//! arm, with the arm's overall rate as prior worth `prior_strength` customers;
//! the effect is the difference with an equal-tailed interval at
//! `interval_level` ([`Beta::difference_interval`]). Groups are numbered 1..K by
//! decreasing effect.
//!
//! ```
//! use linfa::ParamGuard;
//! use ndarray::Array2;
//! use winback_core::features::{Feature, FeatureKind, Source};
//! use winback_tree::{MinGroupSize, Segmenter, UpliftData};
//!
//! // The contact works for customers with x = 0 (+20 points) and not at all for x = 10.
//! let n = 8000;
//! let x = Array2::from_shape_fn((n, 1), |(i, _)| if (i / 2) % 100 < 50 { 0.0 } else { 10.0 });
//! let treated: Vec<bool> = (0..n).map(|i| i % 2 == 0).collect();
//! let y: Vec<bool> = (0..n).map(|i| {
//!     let base = (i / 200) % 10 < 2; // 20% come back anyway
//!     let moved = treated[i] && x[(i, 0)] == 0.0 && (i / 200) % 10 >= 2 && (i / 200) % 10 < 4;
//!     base || moved
//! }).collect();
//! let features = vec![Feature { name: "x".into(), kind: FeatureKind::Number, unit: String::new(), source: Source::AttrNumber("x".into()) }];
//! let up = Segmenter::params().groups(2).min_group_size(MinGroupSize::Rows(400)).check()?
//!     .fit_uplift(&UpliftData { x: x.view(), treated: &treated, y: &y, customer: None, features: &features })?;
//! assert_eq!(up.groups.len(), 2);
//! assert_eq!(up.groups[0].sentence, "x under 5.00");
//! assert!(up.groups[0].effect > 0.1 && up.groups[1].effect.abs() < 0.1);
//! assert_eq!(up.assign(x.view())?[0], 1);
//! # Ok::<(), winback_tree::Error>(())
//! ```

use ndarray::ArrayView2;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use winback_core::features::Feature;
use winback_stats::Beta;

use crate::error::{Error, Result};
use crate::params::SegmenterValidParams;
use crate::rules::{sentence, Condition};
use crate::segmentation::{check_finite, honest_rows, leaf_of, path_conditions, rule_ok, seeded_sample, validate_tree, Node, MAX_BETA};

/// Training input of an uplift tree: one row per customer of a past campaign.
#[derive(Debug, Clone, Copy)]
pub struct UpliftData<'a> {
    /// Feature matrix (rows × features), known before the campaign; must be finite.
    pub x: ArrayView2<'a, f64>,
    /// Whether each row was contacted (`false` = the randomized control group).
    pub treated: &'a [bool],
    /// Whether each row came back (bought, visited) within the horizon.
    pub y: &'a [bool],
    /// A customer key per row (rows of one customer stay on one side of the
    /// honest split); `None` = each row is its own customer.
    pub customer: Option<&'a [usize]>,
    /// The features (names and kinds, for rules).
    pub features: &'a [Feature],
}

/// One uplift group: a leaf with its rule and its honest effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpliftGroup {
    /// 1 = largest effect.
    pub id: usize,
    /// The conditions that define it.
    pub rule: Vec<Condition>,
    /// The rule as a sentence.
    pub sentence: String,
    /// Training rows in the group (both arms, split and held-out parts).
    pub size: usize,
    /// Share of all training rows.
    pub share: f64,
    /// Contacted rows in the group / of which came back (all rows).
    pub contacted: usize,
    /// Contacted rows that came back.
    pub contacted_came_back: usize,
    /// Control rows in the group.
    pub control: usize,
    /// Control rows that came back.
    pub control_came_back: usize,
    /// Held-out contacted rows / of which came back.
    pub honest_contacted: usize,
    /// Held-out contacted rows that came back.
    pub honest_contacted_came_back: usize,
    /// Held-out control rows.
    pub honest_control: usize,
    /// Held-out control rows that came back.
    pub honest_control_came_back: usize,
    /// Posterior of the contact arm's rate (held-out rows).
    pub contact_posterior: Beta,
    /// Posterior of the control arm's rate (held-out rows).
    pub control_posterior: Beta,
    /// Posterior mean of the contact rate.
    pub contact_rate: f64,
    /// Posterior mean of the control rate.
    pub control_rate: f64,
    /// Effect of a contact: `contact_rate − control_rate`.
    pub effect: f64,
    /// Lower end of the effect's interval.
    pub effect_low: f64,
    /// Upper end of the effect's interval.
    pub effect_high: f64,
}

/// A fitted uplift tree: nodes, groups ordered by effect, and the campaign's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uplift {
    /// The parameters it was fitted with.
    pub params: SegmenterValidParams,
    /// The features (columns) it expects.
    pub features: Vec<Feature>,
    /// Tree nodes; node 0 is the root (`positives` counts `z = 1` rows).
    pub nodes: Vec<Node>,
    /// Groups by id − 1.
    pub groups: Vec<UpliftGroup>,
    /// Training rows.
    pub rows: usize,
    /// Share of contacted rows.
    pub treated_share: f64,
    /// Rate of the contacted rows.
    pub contact_rate: f64,
    /// Rate of the control rows.
    pub control_rate: f64,
    /// Why there are fewer than K groups, if so.
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

/// Counts of one set of rows: (contacted, contacted came back, control, control came back).
fn arm_counts(rows: &[u32], treated: &[bool], y: &[bool]) -> [f64; 4] {
    let mut c = [0.0; 4];
    for &r in rows {
        let (r, base) = (r as usize, if treated[r as usize] { 0 } else { 2 });
        c[base] += 1.0;
        if y[r] {
            c[base + 1] += 1.0;
        }
    }
    c
}

/// The effect of a set of rows from its counts (0 without both arms).
fn effect_of(c: [f64; 4]) -> f64 {
    if c[0] > 0.0 && c[2] > 0.0 {
        c[1] / c[0] - c[3] / c[2]
    } else {
        0.0
    }
}

/// The class-transformed outcome: a contacted customer who came back, or a
/// control customer who did not (what each node's `positives` count).
fn is_z(treated: bool, y: bool) -> bool {
    treated == y
}

/// The best split of `rows` by the spread of the children's effects,
/// `n_L·u_L² + n_R·u_R² − n·u²` (u = contact rate − control rate of a set of
/// rows), found by scanning every feature's sorted values (midpoint thresholds,
/// `x < t` left) on the node's seeded sample; each side keeps `min_rows` rows and
/// `min_arm` rows of each arm, checked on the sample (scaled) and then on all the
/// node's rows. Ties go to the lower feature, then the lower threshold. `None`
/// when no split keeps the sizes.
fn choose_uplift_split(data: &UpliftData<'_>, rows: &[u32], params: &SegmenterValidParams, min_rows: usize, min_arm: [usize; 2], node_id: u64) -> Option<Candidate> {
    let all = arm_counts(rows, data.treated, data.y);
    if rows.len() < min_rows.max(1).saturating_mul(2) || (all[0] as usize) < min_arm[0].saturating_mul(2) || (all[2] as usize) < min_arm[1].saturating_mul(2) {
        return None;
    }
    let sample = seeded_sample(rows, params.seed ^ node_id ^ 0x5eed_0f0f, params.sample_rows);
    let scale = sample.len() as f64 / rows.len() as f64;
    let (s_rows, s_t, s_c) = ((min_rows as f64 * scale).max(1.0), (min_arm[0] as f64 * scale).max(1.0), (min_arm[1] as f64 * scale).max(1.0));
    let total = arm_counts(&sample, data.treated, data.y);
    let spread = |l: [f64; 4], r: [f64; 4], whole: [f64; 4]| (l[0] + l[2]) * effect_of(l).powi(2) + (r[0] + r[2]) * effect_of(r).powi(2) - (whole[0] + whole[2]) * effect_of(whole).powi(2);
    let fits = |c: [f64; 4]| c[0] + c[2] >= s_rows && c[0] >= s_t && c[2] >= s_c;
    // Every admissible (gain, feature, threshold) of the sample, best first.
    let mut found: Vec<(f64, usize, f64)> = (0..data.x.ncols())
        .into_par_iter()
        .flat_map_iter(|j| {
            let mut order: Vec<(f64, u32)> = sample.iter().map(|&r| (data.x[(r as usize, j)], r)).collect();
            order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut left = [0.0; 4];
            let mut out = Vec::new();
            for w in 0..order.len().saturating_sub(1) {
                let r = order[w].1 as usize;
                let arm = if data.treated[r] { 0 } else { 2 };
                left[arm] += 1.0;
                if data.y[r] {
                    left[arm + 1] += 1.0;
                }
                let (a, b) = (order[w].0, order[w + 1].0);
                let t = a + (b - a) / 2.0;
                if !(a < t && t <= b) {
                    continue;
                }
                let right = [total[0] - left[0], total[1] - left[1], total[2] - left[2], total[3] - left[3]];
                if fits(left) && fits(right) {
                    out.push((spread(left, right, total), j, t));
                }
            }
            out
        })
        .collect();
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.total_cmp(&b.2)));
    // The sizes hold on the sample; check them on all the node's rows (a sampled node).
    for &(_, feature, threshold) in found.iter().take(64) {
        let (left, right): (Vec<u32>, Vec<u32>) = rows.iter().partition(|&&r| data.x[(r as usize, feature)] < threshold);
        let (cl, cr) = (arm_counts(&left, data.treated, data.y), arm_counts(&right, data.treated, data.y));
        let ok = |side: &[u32], c: [f64; 4]| side.len() >= min_rows && c[0] as usize >= min_arm[0] && c[2] as usize >= min_arm[1];
        if ok(&left, cl) && ok(&right, cr) {
            return Some(Candidate { feature, threshold, left, right, priority: spread(cl, cr, all) });
        }
    }
    None
}

impl SegmenterValidParams {
    /// Fits uplift groups on a past campaign with a randomized control group (see
    /// the module docs of [`crate::uplift`]). Uses `groups`, `min_group_size`,
    /// `max_group_share`, `max_depth`, `seed`, `honest_fraction`, `prior_strength`,
    /// `interval_level` and `sample_rows`; the criterion, class weighting and
    /// restarts do not apply.
    pub fn fit_uplift(&self, data: &UpliftData<'_>) -> Result<Uplift> {
        let n = data.x.nrows();
        let p = data.x.ncols();
        if n == 0 {
            return Err(Error::Empty);
        }
        for (what, len) in [("labels", data.y.len()), ("arms", data.treated.len()), ("customer keys", data.customer.map_or(n, <[usize]>::len))] {
            if len != n {
                return Err(Error::RowMismatch { what, rows: n, got: len });
            }
        }
        if data.features.len() != p {
            return Err(Error::ColumnMismatch { expected: data.features.len(), got: p });
        }
        check_finite(data.x, data.features)?;
        let treated_n = data.treated.iter().filter(|&&t| t).count();
        if treated_n == 0 || treated_n == n {
            return Err(Error::OneArm { contacted: treated_n, control: n - treated_n });
        }
        if self.honest_fraction <= 0.0 {
            return Err(Error::UpliftWithoutHoldout(self.honest_fraction));
        }
        let honest = honest_rows(n, data.customer, self.seed, self.honest_fraction);
        let split_rows: Vec<u32> = (0..n as u32).filter(|&r| !honest[r as usize]).collect();
        if split_rows.is_empty() || split_rows.len() == n {
            return Err(Error::Empty);
        }
        let total_min = self.min_group_size.rows_for(n);
        let min_rows = ((total_min as f64) * split_rows.len() as f64 / n as f64).ceil().max(1.0) as usize;
        let sc = arm_counts(&split_rows, data.treated, data.y);
        let share_t = sc[0] / split_rows.len() as f64;
        let min_arm = [((min_rows as f64 * share_t / 2.0).ceil() as usize).max(1), ((min_rows as f64 * (1.0 - share_t) / 2.0).ceil() as usize).max(1)];
        let max_rows = (self.max_group_share * split_rows.len() as f64).floor() as usize;
        let z_count = |rows: &[u32]| rows.iter().filter(|&&r| is_z(data.treated[r as usize], data.y[r as usize])).count();

        let mut nodes = vec![Node { split: None, group: None, rows: split_rows.len(), positives: z_count(&split_rows) }];
        let mut rows_of = vec![split_rows];
        let mut depth = vec![0usize];
        let mut cand: Vec<Option<Option<Candidate>>> = vec![None];
        let mut leaves = vec![0usize];
        let mut note = None;
        while leaves.len() < self.groups {
            let todo: Vec<usize> = leaves.iter().copied().filter(|&l| cand[l].is_none()).collect();
            let found: Vec<(usize, Option<Candidate>)> = todo
                .par_iter()
                .map(|&l| {
                    if depth[l] >= self.max_depth {
                        return (l, None);
                    }
                    (l, choose_uplift_split(data, &rows_of[l], self, min_rows, min_arm, l as u64))
                })
                .collect();
            for (l, c) in found {
                cand[l] = Some(c);
            }
            let splittable: Vec<usize> = leaves.iter().copied().filter(|&l| matches!(cand[l], Some(Some(_)))).collect();
            if splittable.is_empty() {
                note = Some(format!(
                    "stopped at {} groups: no group can be split further (maximum depth {}, or no split keeping {} rows and {}/{} per arm on each side)",
                    leaves.len(),
                    self.max_depth,
                    total_min,
                    min_arm[0],
                    min_arm[1]
                ));
                break;
            }
            let priority = |l: usize| cand[l].as_ref().and_then(Option::as_ref).map_or(f64::NEG_INFINITY, |c| c.priority);
            let pick = splittable
                .iter()
                .copied()
                .filter(|&l| rows_of[l].len() > max_rows)
                .max_by(|&a, &b| rows_of[a].len().cmp(&rows_of[b].len()).then(b.cmp(&a)))
                .or_else(|| splittable.iter().copied().max_by(|&a, &b| priority(a).total_cmp(&priority(b)).then(b.cmp(&a))));
            let Some(pick) = pick else { break };
            let Some(Some(c)) = cand[pick].take() else { break };
            let (li, ri) = (nodes.len(), nodes.len() + 1);
            for side in [&c.left, &c.right] {
                nodes.push(Node { split: None, group: None, rows: side.len(), positives: z_count(side) });
                depth.push(depth[pick] + 1);
                cand.push(None);
            }
            rows_of[pick] = Vec::new();
            rows_of.push(c.left);
            rows_of.push(c.right);
            nodes[pick].split = Some((c.feature, c.threshold, li, ri));
            leaves.retain(|&l| l != pick);
            leaves.push(li);
            leaves.push(ri);
        }

        if note.is_none() {
            let big = leaves.iter().filter(|&&l| rows_of[l].len() > max_rows).count();
            if big > 0 {
                note = Some(format!(
                    "{big} group(s) hold more than {:.0}% of the rows: the {} groups were used up splitting larger groups first, or they cannot be split further (allow more groups or a larger maximum share)",
                    self.max_group_share * 100.0,
                    self.groups
                ));
            }
        }
        let all: Vec<u32> = (0..n as u32).collect();
        let tot = arm_counts(&all, data.treated, data.y);
        let mut up = Uplift {
            params: self.clone(),
            features: data.features.to_vec(),
            nodes,
            groups: Vec::new(),
            rows: n,
            treated_share: tot[0] / n as f64,
            contact_rate: tot[1] / tot[0],
            control_rate: tot[3] / tot[2],
            note,
        };
        up.estimate(data, &honest, &leaves);
        Ok(up)
    }
}

impl Uplift {
    /// Counts per leaf and arm, honest posteriors, group ids by decreasing effect.
    fn estimate(&mut self, data: &UpliftData<'_>, honest: &[bool], leaves: &[usize]) {
        let n = data.x.nrows();
        let leaf_of_row: Vec<usize> = (0..n).into_par_iter().map(|r| leaf_of(&self.nodes, data.x.row(r))).collect();
        // Per leaf: [all: contacted, back, control, back, honest: the same].
        let mut acc: std::collections::BTreeMap<usize, [usize; 8]> = leaves.iter().map(|&l| (l, [0; 8])).collect();
        for r in 0..n {
            let a = acc.entry(leaf_of_row[r]).or_default();
            let arm = if data.treated[r] { 0 } else { 2 };
            for base in [0, 4].into_iter().filter(|&b| b == 0 || honest[r]) {
                a[base + arm] += 1;
                a[base + arm + 1] += usize::from(data.y[r]);
            }
        }
        let (s, level) = (self.params.prior_strength, self.params.interval_level);
        let (prior_t, prior_c) = (Beta::from_mean(self.contact_rate, s), Beta::from_mean(self.control_rate, s));
        let mut groups: Vec<(usize, UpliftGroup)> = acc
            .into_iter()
            .map(|(leaf, a)| {
                let ct = prior_t.update(a[5] as u64, a[4] as u64);
                let cc = prior_c.update(a[7] as u64, a[6] as u64);
                let (effect, effect_low, effect_high) = ct.difference_interval(&cc, level);
                let rule = path_conditions(&self.nodes, &self.features, leaf);
                let size = a[0] + a[2];
                let g = UpliftGroup {
                    id: 0,
                    sentence: sentence(&rule, &self.features),
                    rule,
                    size,
                    share: size as f64 / n as f64,
                    contacted: a[0],
                    contacted_came_back: a[1],
                    control: a[2],
                    control_came_back: a[3],
                    honest_contacted: a[4],
                    honest_contacted_came_back: a[5],
                    honest_control: a[6],
                    honest_control_came_back: a[7],
                    contact_posterior: ct,
                    control_posterior: cc,
                    contact_rate: ct.mean(),
                    control_rate: cc.mean(),
                    effect,
                    effect_low,
                    effect_high,
                };
                (leaf, g)
            })
            .collect();
        groups.sort_by(|a, b| b.1.effect.total_cmp(&a.1.effect).then(a.0.cmp(&b.0)));
        for (i, (leaf, g)) in groups.iter_mut().enumerate() {
            g.id = i + 1;
            self.nodes[*leaf].group = Some(i + 1);
        }
        self.groups = groups.into_iter().map(|(_, g)| g).collect();
    }

    /// The group id (1..=K) of each row, routed as linfa-trees predicts.
    pub fn assign(&self, x: ArrayView2<'_, f64>) -> Result<Vec<usize>> {
        if x.ncols() != self.features.len() {
            return Err(Error::ColumnMismatch { expected: self.features.len(), got: x.ncols() });
        }
        check_finite(x, &self.features)?;
        Ok(x.outer_iter().map(|row| self.nodes[leaf_of(&self.nodes, row)].group.unwrap_or(0)).collect())
    }

    /// The honest effect of each row's group (the uplift score).
    pub fn predict_effect(&self, x: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        Ok(self.assign(x)?.into_iter().map(|g| self.groups[g - 1].effect).collect())
    }

    /// Checks an uplift tree read from a file: its parameters, tree structure,
    /// groups numbered 1..=K with consistent counts, rates and intervals.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidSegmentation(m));
        self.params.validate().map_err(|e| Error::InvalidSegmentation(format!("params: {e}")))?;
        if self.params.honest_fraction <= 0.0 {
            return bad(format!("params.honest_fraction: {}, where an uplift tree's effects come from held-out customers", self.params.honest_fraction));
        }
        if self.features.is_empty() || self.groups.is_empty() {
            return bad("features and groups must not be empty".into());
        }
        validate_tree(&self.nodes, self.groups.len(), self.features.len()).map_err(Error::InvalidSegmentation)?;
        let prob = |v: f64| v.is_finite() && (0.0..=1.0).contains(&v);
        for (name, v) in [("treated_share", self.treated_share), ("contact_rate", self.contact_rate), ("control_rate", self.control_rate)] {
            if !prob(v) {
                return bad(format!("{name}: {v} is not a probability in [0, 1]"));
            }
        }
        for (i, g) in self.groups.iter().enumerate() {
            let at = |field: &str| format!("groups[{i}].{field}");
            if g.id != i + 1 {
                return bad(format!("{}: {} where groups are numbered 1..={} in order", at("id"), g.id, self.groups.len()));
            }
            for (name, v) in [("share", g.share), ("contact_rate", g.contact_rate), ("control_rate", g.control_rate)] {
                if !prob(v) {
                    return bad(format!("{}: {v} is not a probability in [0, 1]", at(name)));
                }
            }
            let diff = |v: f64| v.is_finite() && (-1.0..=1.0).contains(&v);
            if !(diff(g.effect) && diff(g.effect_low) && diff(g.effect_high) && g.effect_low <= g.effect_high) {
                return bad(format!("{}: ({}, {}, {}) is not an effect in [-1, 1] with low <= high", at("effect"), g.effect, g.effect_low, g.effect_high));
            }
            for (name, b) in [("contact_posterior", g.contact_posterior), ("control_posterior", g.control_posterior)] {
                if Beta::new(b.alpha, b.beta).is_none() {
                    return bad(format!("{}: ({}, {}) is not a Beta distribution", at(name), b.alpha, b.beta));
                }
            }
            let counts = [
                ("contacted_came_back", g.contacted_came_back, g.contacted),
                ("control_came_back", g.control_came_back, g.control),
                ("honest_contacted", g.honest_contacted, g.contacted),
                ("honest_control", g.honest_control, g.control),
                ("honest_contacted_came_back", g.honest_contacted_came_back, g.honest_contacted),
                ("honest_control_came_back", g.honest_control_came_back, g.honest_control),
            ];
            if let Some((name, v, of)) = counts.into_iter().find(|(_, v, of)| v > of) {
                return bad(format!("{}: {v} is more than {of}", at(name)));
            }
            if g.size != g.contacted + g.control {
                return bad(format!("{}: {} is not contacted + control = {}", at("size"), g.size, g.contacted + g.control));
            }
            if let Some(j) = rule_ok(&g.rule, &self.features) {
                return bad(format!("{}[{j}]: not a condition on a feature of this tree", at("rule")));
            }
            // Each fact once: the posteriors are the tree's priors updated with the
            // held-out counts, and the rates and the effect are theirs.
            let (strength, level) = (self.params.prior_strength(), self.params.interval_level());
            let arms = [
                ("contact_posterior", g.contact_posterior, self.contact_rate, g.honest_contacted_came_back, g.honest_contacted),
                ("control_posterior", g.control_posterior, self.control_rate, g.honest_control_came_back, g.honest_control),
            ];
            for (name, b, rate, back, n) in arms {
                let want = Beta::from_mean(rate, strength).update(back as u64, n as u64);
                if b.alpha > MAX_BETA || b.beta > MAX_BETA || (b.alpha - want.alpha).abs() > 1e-9 * want.alpha.max(1.0) || (b.beta - want.beta).abs() > 1e-9 * want.beta.max(1.0) {
                    return bad(format!("{}: ({}, {}) is not the prior updated with the held-out counts ({}, {})", at(name), b.alpha, b.beta, want.alpha, want.beta));
                }
            }
            for (name, v, b) in [("contact_rate", g.contact_rate, g.contact_posterior), ("control_rate", g.control_rate, g.control_posterior)] {
                if (v - b.mean()).abs() > 1e-9 {
                    return bad(format!("{}: {v} differs from its posterior's mean {}", at(name), b.mean()));
                }
            }
            let (e, lo, hi) = g.contact_posterior.difference_interval(&g.control_posterior, level);
            if (g.effect - e).abs() > 1e-9 || (g.effect_low - lo).abs() > 1e-9 || (g.effect_high - hi).abs() > 1e-9 {
                return bad(format!("{}: ({}, {}, {}) differs from the posteriors' ({e}, {lo}, {hi})", at("effect"), g.effect, g.effect_low, g.effect_high));
            }
            if self.rows > 0 && (g.share - g.size as f64 / self.rows as f64).abs() > 1e-9 {
                return bad(format!("{}: {} differs from size / rows = {} / {}", at("share"), g.share, g.size, self.rows));
            }
            if let Some(leaf) = self.nodes.iter().position(|n| n.split.is_none() && n.group == Some(g.id)) {
                if g.rule != path_conditions(&self.nodes, &self.features, leaf) {
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

    /// Rewrites every group's sentence from its rule, as this build words it (see
    /// [`crate::Segmentation::reword`]).
    pub fn reword(&mut self) {
        for g in &mut self.groups {
            g.sentence = sentence(&g.rule, &self.features);
        }
    }

    /// A group by id.
    pub fn group(&self, id: usize) -> Option<&UpliftGroup> {
        id.checked_sub(1).and_then(|i| self.groups.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linfa::ParamGuard;
    use ndarray::Array2;
    use winback_core::features::{FeatureKind, Source};

    fn feature(name: &str) -> Feature {
        Feature { name: name.into(), kind: FeatureKind::Number, unit: String::new(), source: Source::AttrNumber(name.into()) }
    }

    /// Counts by hand: 4 contacted (3 back), 2 control (0 back).
    #[test]
    fn arm_counts_and_effect_by_hand() {
        let treated = [true, true, true, true, false, false];
        let y = [true, true, false, true, false, false];
        let c = arm_counts(&[0, 1, 2, 3, 4, 5], &treated, &y);
        assert_eq!(c, [4.0, 3.0, 2.0, 0.0]);
        assert_eq!(effect_of(c), 0.75);
        assert_eq!(effect_of(arm_counts(&[0, 1], &treated, &y)), 0.0, "one arm: no effect");
    }

    /// The effect lives in feature 1 (a split on feature 0 would separate rates,
    /// not effects): the uplift tree must split on feature 1 at 50, and its honest
    /// effects are +0.3 and 0 within their intervals.
    #[test]
    fn splits_on_the_effect_not_the_rate() -> Result<()> {
        let n = 20_000;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| if j == 0 { (i % 100) as f64 } else { ((i / 100) % 100) as f64 });
        let treated: Vec<bool> = (0..n).map(|i| winback_stats::mix(1, i as u64) % 2 == 0).collect();
        let y: Vec<bool> = (0..n)
            .map(|i| {
                let u = (winback_stats::mix(2, i as u64) % 1000) as f64 / 1000.0;
                let base = if i % 100 < 50 { 0.6 } else { 0.1 }; // feature 0 moves the rate
                let lift = if treated[i] && (i / 100) % 100 < 50 { 0.3 } else { 0.0 }; // feature 1 the effect
                u < base + lift
            })
            .collect();
        let features = [feature("rate_driver"), feature("effect_driver")];
        let params = crate::Segmenter::params().groups(2).min_group_size(crate::MinGroupSize::Rows(500)).check()?;
        let up = params.fit_uplift(&UpliftData { x: x.view(), treated: &treated, y: &y, customer: None, features: &features })?;
        up.validate()?;
        assert_eq!(up.nodes[0].split.map(|s| (s.0, s.1)), Some((1, 49.5)));
        let (hi, lo) = (&up.groups[0], &up.groups[1]);
        assert_eq!(hi.sentence, "effect driver under 49.50");
        // The effect is the difference of the held-out posteriors, priors at each arm's overall rate.
        let s = params.prior_strength();
        let ct = Beta::from_mean(up.contact_rate, s).update(hi.honest_contacted_came_back as u64, hi.honest_contacted as u64);
        let cc = Beta::from_mean(up.control_rate, s).update(hi.honest_control_came_back as u64, hi.honest_control as u64);
        assert_eq!(hi.effect, ct.mean() - cc.mean());
        assert!(hi.effect_low > 0.2 && hi.effect_high < 0.35, "{hi:?}");
        assert!(lo.effect_low < 0.0 && 0.0 < lo.effect_high, "{lo:?}");
        assert_eq!(hi.size + lo.size, n);
        assert_eq!(hi.contacted + lo.contacted, treated.iter().filter(|&&t| t).count());
        // Same input, same tree, on any thread count.
        let again = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| Error::Linfa(e.to_string()))?.install(|| {
            params.fit_uplift(&UpliftData { x: x.view(), treated: &treated, y: &y, customer: None, features: &features })
        })?;
        assert_eq!(again, up);
        Ok(())
    }

    /// The root split is the exhaustive best of `n_L·u_L² + n_R·u_R² − n·u²` over
    /// every feature and midpoint, on the rows that choose splits (brute force here).
    #[test]
    fn the_root_split_is_the_exhaustive_best() -> Result<()> {
        let n = 1500;
        let x = Array2::from_shape_fn((n, 2), |(i, j)| (winback_stats::mix(10 + j as u64, i as u64) % 40) as f64);
        let treated: Vec<bool> = (0..n).map(|i| winback_stats::mix(3, i as u64) % 3 != 0).collect();
        let y: Vec<bool> = (0..n).map(|i| winback_stats::mix(4, i as u64) % 100 < 20 + if treated[i] && x[(i, 1)] < 13.0 { 15 } else { 0 }).collect();
        let features = [feature("a"), feature("b")];
        let params = crate::Segmenter::params().groups(2).min_group_size(crate::MinGroupSize::Rows(60)).check()?;
        let up = params.fit_uplift(&UpliftData { x: x.view(), treated: &treated, y: &y, customer: None, features: &features })?;
        let honest = honest_rows(n, None, params.seed(), params.honest_fraction());
        let rows: Vec<u32> = (0..n as u32).filter(|&r| !honest[r as usize]).collect();
        let min_rows = (60.0 * rows.len() as f64 / n as f64).ceil() as usize;
        let share_t = arm_counts(&rows, &treated, &y)[0] / rows.len() as f64;
        let min_arm = [(min_rows as f64 * share_t / 2.0).ceil() as usize, (min_rows as f64 * (1.0 - share_t) / 2.0).ceil() as usize];
        let mut best = (f64::NEG_INFINITY, 0, 0.0);
        for j in 0..2 {
            for t in (0..40).map(|v| v as f64 + 0.5) {
                let (l, r): (Vec<u32>, Vec<u32>) = rows.iter().partition(|&&k| x[(k as usize, j)] < t);
                let (cl, cr) = (arm_counts(&l, &treated, &y), arm_counts(&r, &treated, &y));
                let ok = |v: &[u32], c: [f64; 4]| v.len() >= min_rows && c[0] as usize >= min_arm[0] && c[2] as usize >= min_arm[1];
                if ok(&l, cl) && ok(&r, cr) {
                    let g = l.len() as f64 * effect_of(cl).powi(2) + r.len() as f64 * effect_of(cr).powi(2);
                    if g > best.0 + 1e-12 {
                        best = (g, j, t);
                    }
                }
            }
        }
        assert_eq!(up.nodes[0].split.map(|s| (s.0, s.1)), Some((best.1, best.2)));
        Ok(())
    }

    #[test]
    fn one_arm_and_tampering_are_refused() -> Result<()> {
        let x = Array2::from_shape_fn((200, 1), |(i, _)| i as f64);
        let y: Vec<bool> = (0..200).map(|i| i % 3 == 0).collect();
        let features = [feature("x")];
        let params = crate::Segmenter::params().groups(2).min_group_size(crate::MinGroupSize::Rows(20)).check()?;
        let all = vec![true; 200];
        let e = params.fit_uplift(&UpliftData { x: x.view(), treated: &all, y: &y, customer: None, features: &features });
        assert!(matches!(e, Err(Error::OneArm { contacted: 200, control: 0 })), "{e:?}");
        let treated: Vec<bool> = (0..200).map(|i| i % 2 == 0).collect();
        // Effects come from held-out customers: an honest fraction of 0 is refused.
        let none_held = crate::Segmenter::params().groups(2).min_group_size(crate::MinGroupSize::Rows(20)).honest_fraction(0.0).check()?;
        let e = none_held.fit_uplift(&UpliftData { x: x.view(), treated: &treated, y: &y, customer: None, features: &features });
        assert!(matches!(e, Err(Error::UpliftWithoutHoldout(f)) if f == 0.0), "{e:?}");
        let up = params.fit_uplift(&UpliftData { x: x.view(), treated: &treated, y: &y, customer: None, features: &features })?;
        up.validate()?;
        let mut t = up.clone();
        t.groups[0].effect_low = 2.0;
        assert!(t.validate().is_err());
        let mut t = up.clone();
        t.groups[0].honest_control = t.groups[0].control + 1;
        assert!(matches!(t.validate(), Err(Error::InvalidSegmentation(m)) if m.contains("honest_control")));
        let mut t = up.clone();
        t.params.honest_fraction = 0.0;
        assert!(matches!(t.validate(), Err(Error::InvalidSegmentation(m)) if m.contains("honest_fraction")));
        let mut t = up;
        t.nodes[0].split = Some((0, 1.0, 0, 0));
        assert!(t.validate().is_err());
        Ok(())
    }
}
