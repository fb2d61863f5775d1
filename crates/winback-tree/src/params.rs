//! Segmenter parameters, in linfa's style: a builder that takes and returns
//! `self`, checked into valid parameters by [`linfa::ParamGuard`].

use linfa::ParamGuard;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The smallest group allowed. With nobody held out (the default honest fraction
/// of 0) the limit holds exactly on the training rows. With a share held out to
/// estimate the probabilities, it is enforced on the rows that choose the splits,
/// scaled by their share; the held-out rows then land at random, so a group near
/// the limit can end a few rows below it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MinGroupSize {
    /// At least this many training rows.
    Rows(usize),
    /// At least this share of the training rows.
    Share(f64),
    /// At least `share` of the training rows and at least `rows` rows: groups
    /// that stay usable on small data too (default: 2% and 50 rows).
    ShareAtLeast {
        /// Share of the training rows.
        share: f64,
        /// Floor in rows.
        rows: usize,
    },
}

impl MinGroupSize {
    /// The minimum in rows for `n` training rows.
    pub fn rows_for(&self, n: usize) -> usize {
        match *self {
            MinGroupSize::Rows(m) => m,
            MinGroupSize::Share(s) => (s * n as f64).ceil() as usize,
            MinGroupSize::ShareAtLeast { share, rows } => ((share * n as f64).ceil() as usize).max(rows),
        }
    }
}

/// Impurity used to choose splits (evaluated with classes balanced inside the node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitCriterion {
    /// Gini impurity.
    Gini,
    /// Entropy (information gain).
    Entropy,
}

/// How classes are weighted when a split is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeighting {
    /// Weights that balance the two classes inside the node being split (default).
    /// On win-back data (5–20% come back) this keeps splits that separate rates.
    BalancedPerNode,
    /// Every row weighs 1 — a positive 1.001, so that a child with as many of each
    /// class predicts the same class in every run (splits may then fail to separate
    /// rare outcomes).
    Unweighted,
}

/// Checked parameters of the segmenter (see [`Segmenter`] for their meaning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmenterValidParams {
    pub(crate) groups: usize,
    pub(crate) min_group_size: MinGroupSize,
    pub(crate) max_group_share: f64,
    pub(crate) max_depth: usize,
    pub(crate) criterion: SplitCriterion,
    pub(crate) class_weighting: ClassWeighting,
    pub(crate) seed: u64,
    pub(crate) honest_fraction: f64,
    pub(crate) prior_strength: f64,
    pub(crate) interval_level: f64,
    pub(crate) sample_rows: usize,
    /// Honest splits tried (see [`Segmenter::restarts`]); 1 when absent from a file.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub(crate) restarts: usize,
}

fn one() -> usize {
    1
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

impl SegmenterValidParams {
    /// Checks parameters that did not come through [`Segmenter`] (read from a
    /// model file, say) exactly as [`ParamGuard::check_ref`] does.
    pub fn validate(&self) -> Result<()> {
        Segmenter(self.clone()).check_ref().map(|_| ())
    }
    /// Target number of groups K.
    pub fn groups(&self) -> usize {
        self.groups
    }
    /// Minimum group size.
    pub fn min_group_size(&self) -> MinGroupSize {
        self.min_group_size
    }
    /// Maximum share of the training rows in one group.
    pub fn max_group_share(&self) -> f64 {
        self.max_group_share
    }
    /// Maximum number of conditions of a rule (see [`Segmenter::max_depth`]).
    pub fn max_depth(&self) -> usize {
        self.max_depth
    }
    /// Split criterion.
    pub fn criterion(&self) -> SplitCriterion {
        self.criterion
    }
    /// Class weighting.
    pub fn class_weighting(&self) -> ClassWeighting {
        self.class_weighting
    }
    /// Seed (honest split, row sampling).
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Share of customers held out to estimate group probabilities (0: none, the
    /// splits and the probabilities use every row).
    pub fn honest_fraction(&self) -> f64 {
        self.honest_fraction
    }
    /// Weight of the base-rate prior, in customers.
    pub fn prior_strength(&self) -> f64 {
        self.prior_strength
    }
    /// Level of the probability intervals.
    pub fn interval_level(&self) -> f64 {
        self.interval_level
    }
    /// Rows sampled to choose one split in a large node.
    pub fn sample_rows(&self) -> usize {
        self.sample_rows
    }
    /// Honest splits tried.
    pub fn restarts(&self) -> usize {
        self.restarts
    }
}

/// Parameters of the segmenter, as a builder.
///
/// ```
/// use linfa::ParamGuard;
/// use winback_tree::{Segmenter, MinGroupSize};
/// let p = Segmenter::params().groups(8).min_group_size(MinGroupSize::Share(0.02)).seed(7);
/// let checked = p.check_ref()?;
/// assert_eq!(checked.groups(), 8);
/// assert!(Segmenter::params().groups(1).check_ref().is_err());
/// assert!(Segmenter::params().max_group_share(1.5).check_ref().is_err());
/// # Ok::<(), winback_tree::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segmenter(SegmenterValidParams);

impl Default for Segmenter {
    fn default() -> Self {
        Segmenter(SegmenterValidParams {
            groups: 10,
            min_group_size: MinGroupSize::ShareAtLeast { share: 0.02, rows: 50 },
            max_group_share: 0.25,
            max_depth: 6,
            criterion: SplitCriterion::Gini,
            class_weighting: ClassWeighting::BalancedPerNode,
            seed: 42,
            honest_fraction: 0.3,
            prior_strength: 20.0,
            interval_level: 0.9,
            sample_rows: 100_000,
            restarts: 1,
        })
    }
}

impl Segmenter {
    /// Default parameters: 10 groups, groups of at least 2% of rows (and 50 rows) and at most 25%,
    /// depth 6, Gini with classes balanced per node, 30% of customers held out for
    /// honest probabilities, a base-rate prior worth 20 customers, 90% intervals,
    /// 100,000 rows sampled per split, seed 42.
    pub fn params() -> Segmenter {
        Segmenter::default()
    }
    /// Target number of groups K (the result has between K−2 and K when the data allow).
    pub fn groups(mut self, k: usize) -> Self {
        self.0.groups = k;
        self
    }
    /// Minimum group size.
    pub fn min_group_size(mut self, m: MinGroupSize) -> Self {
        self.0.min_group_size = m;
        self
    }
    /// Maximum share of the training rows in one group (default 0.25).
    pub fn max_group_share(mut self, s: f64) -> Self {
        self.0.max_group_share = s;
        self
    }
    /// Maximum number of conditions of a group's rule (default 6): the distinct
    /// features on its path, as the rule's sentence shows them. A group whose rule
    /// has them all may still be split on one of its features (narrowing a range,
    /// "spend 131–236" instead of "spend under 236"), never on a new one. An
    /// uplift tree counts every split on the path instead.
    pub fn max_depth(mut self, d: usize) -> Self {
        self.0.max_depth = d;
        self
    }
    /// Split criterion (default Gini).
    pub fn criterion(mut self, c: SplitCriterion) -> Self {
        self.0.criterion = c;
        self
    }
    /// Class weighting (default balanced per node).
    pub fn class_weighting(mut self, w: ClassWeighting) -> Self {
        self.0.class_weighting = w;
        self
    }
    /// Seed.
    pub fn seed(mut self, s: u64) -> Self {
        self.0.seed = s;
        self
    }
    /// Share of customers held out for honest probabilities, in [0, 0.9] (default
    /// 0.3). The held-out customers never choose a split; they alone estimate the
    /// groups' probabilities. 0 holds out nobody: every row chooses the splits and
    /// estimates the probabilities (in-sample, shrunk to the base rate by the
    /// prior), which removes the luck of the draw and, on a few thousand customers,
    /// ranked and calibrated better on the next period (the `winback` facade's
    /// default for win-back groups; see its README). An uplift tree needs held-out
    /// customers, and so do [`Segmenter::restarts`].
    pub fn honest_fraction(mut self, f: f64) -> Self {
        self.0.honest_fraction = f;
        self
    }
    /// Prior strength in customers (default 20).
    pub fn prior_strength(mut self, s: f64) -> Self {
        self.0.prior_strength = s;
        self
    }
    /// Interval level (default 0.9).
    pub fn interval_level(mut self, l: f64) -> Self {
        self.0.interval_level = l;
        self
    }
    /// Rows sampled (seeded) to choose a split in nodes larger than this (default 100,000).
    pub fn sample_rows(mut self, n: usize) -> Self {
        self.0.sample_rows = n;
        self
    }
    /// Honest splits to try (default 1, at most 64): the tree is grown with seeds
    /// `seed`, `seed + 1`, …, each on its own split of the customers, and the one
    /// whose held-out customers it ranks best (AUC of the group probabilities on
    /// the customers that did not choose its splits) is kept; its parameters stay
    /// as given (a refit tries the same seeds) and its note names the seed kept.
    /// Which customers are held out moves the tree a lot on a few thousand
    /// customers; trying several reduces that luck at the cost of time.
    pub fn restarts(mut self, n: usize) -> Self {
        self.0.restarts = n;
        self
    }
}

impl ParamGuard for Segmenter {
    type Checked = SegmenterValidParams;
    type Error = Error;

    fn check_ref(&self) -> Result<&SegmenterValidParams> {
        let p = &self.0;
        if p.groups < 2 {
            return Err(Error::InvalidGroups(p.groups));
        }
        match p.min_group_size {
            MinGroupSize::Rows(0) => return Err(Error::InvalidMinGroupSize("0 rows".into())),
            MinGroupSize::Share(s) | MinGroupSize::ShareAtLeast { share: s, .. } if !(s > 0.0 && s <= 0.5) => {
                return Err(Error::InvalidMinGroupSize(format!("share {s}")))
            }
            _ => {}
        }
        if !(p.max_group_share > 0.0 && p.max_group_share <= 1.0) {
            return Err(Error::InvalidMaxGroupShare(p.max_group_share));
        }
        if p.max_depth < 1 {
            return Err(Error::InvalidMaxDepth(p.max_depth));
        }
        if !(p.honest_fraction >= 0.0 && p.honest_fraction <= 0.9) {
            return Err(Error::InvalidHonestFraction(p.honest_fraction));
        }
        if !(p.prior_strength > 0.0 && p.prior_strength.is_finite()) {
            return Err(Error::InvalidPriorStrength(p.prior_strength));
        }
        if !(p.interval_level > 0.0 && p.interval_level < 1.0) {
            return Err(Error::InvalidIntervalLevel(p.interval_level));
        }
        if p.sample_rows < 100 {
            return Err(Error::InvalidSampleRows(p.sample_rows));
        }
        if !(1..=64).contains(&p.restarts) {
            return Err(Error::InvalidRestarts(p.restarts));
        }
        if p.restarts > 1 && p.honest_fraction == 0.0 {
            return Err(Error::RestartsWithoutHoldout(p.restarts));
        }
        Ok(p)
    }

    fn check(self) -> Result<SegmenterValidParams> {
        self.check_ref()?;
        Ok(self.0)
    }
}
