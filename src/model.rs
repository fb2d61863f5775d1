//! [`WinbackModel`]: lapse rule + feature schema + segmentation, fitted standing
//! at a date, applied at any later date, saved as one JSON model file.

use std::path::Path;

use linfa::ParamGuard;
use serde::{Deserialize, Serialize};
use winback_core::date::{format_day, Day};
use winback_core::features::{build_features, FeatureMatrix, FeatureOptions, FeatureSchema};
use winback_core::labels::{training_cutoffs, TrainingSet};
use winback_core::profile::{profiles, Profiles};
use winback_core::lapse::{Lapse, LapseRule};
use winback_core::History;
use winback_rank::{contact_list_exempting, plan, Candidate, ContactRow, CustomerScore, Outcome, Plan, PlanParams, StopReason};
use winback_tree::{Segmentation, Segmenter, TrainingData};

use crate::error::{Error, Result};
use crate::order::{order_scores, smoothed_target, OrderModel};

/// Version of the model file format written and read by this build.
pub const FORMAT_VERSION: u32 = 5;

/// The oldest model file format this build reads. Version 2 lacks
/// [`Config::split_on`] and [`Wave::held_out`] (read as `outcomes` and no ids,
/// how such files were made); versions 2 and 3 lack [`Config::group_order`]
/// (read as `observed`, how their groups were ordered); versions 2 to 4 lack
/// [`WinbackModel::order_model`] (their priority is a feature, as it was). A file
/// read is written back as [`FORMAT_VERSION`].
pub const OLDEST_FORMAT_VERSION: u32 = 2;

/// The default [`Config::priority_feature`]: resolved when fitting, to
/// [`ORDER_CHANCE`] when the groups are ordered by a smooth chance
/// ([`GroupOrder::Smoothed`]) and its regression could be fitted, else to the
/// BG/NBD chance of buying within the horizon (`btyd_p_buy_{H}d`), or
/// `overdue_ratio` when the BG/NBD features are off.
pub const AUTO_PRIORITY: &str = "auto";

/// The [`Config::priority_feature`] that orders customers inside a group by the
/// ordering regression's chance of coming back ([`WinbackModel::order_model`]:
/// log recency, purchases, spend and tenure and, with the BG/NBD features on, the
/// log-odds of the BG/NBD chance, fitted on the training rows) instead of by one
/// feature. On the full real data
/// (README, "Accuracy") it ranked the contact list better than the BG/NBD chance
/// alone at 16 of 19 scoring dates over three data sets.
pub const ORDER_CHANCE: &str = "order_chance";

/// How a model is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Who is lapsed (default: the 0.9-quantile of purchase gaps).
    pub lapse: LapseRule,
    /// Days after the cutoff in which a purchase counts as a win-back (default 60).
    pub horizon_days: i64,
    /// Feature options.
    pub features: FeatureOptions,
    /// Segmenter parameters (default: the tree's defaults with nobody held out,
    /// `honest_fraction(0.0)`: every training row chooses the splits and estimates
    /// the groups' probabilities, shrunk to the base rate. Measured on the full
    /// Online Retail and Complete Journey data (README, "Accuracy"), holding 30% of
    /// the customers out to estimate the probabilities ranked and calibrated worse
    /// on the next period, and which 30% moved the results as much as any change).
    pub segmenter: Segmenter,
    /// Number of stacked training cutoffs `at − H, at − 2H, …` (default 3).
    /// Cutoffs with less than the minimum history before them, or without
    /// lapsed customers, are dropped: in the first weeks of a data extract every
    /// customer looks new, which is not what the model will see when scoring.
    pub training_cutoffs: usize,
    /// Minimum days of data before a training cutoff, 1 to 36500. `None` (the
    /// default) derives it from the horizon and the lapse threshold at the fitting
    /// date: twice the smaller of the two, at least 28 and at most 90 days (90 for
    /// the default 60-day horizon when customers lapse after 45 days or more; 56
    /// for a 28-day horizon, so a 4-month log still gives two training cutoffs;
    /// 28 for a grocery list lapsed after 13 days, whose customers show their
    /// pattern within weeks). See [`Config::min_history`].
    pub min_history_days: Option<i64>,
    /// What orders customers inside a group in the contact list (higher first):
    /// a feature's name, or [`ORDER_CHANCE`] (the ordering regression's chance).
    /// The default, [`AUTO_PRIORITY`], is [`ORDER_CHANCE`] when the groups are
    /// ordered by a smooth chance, else the BG/NBD chance of buying within the
    /// horizon (`btyd_p_buy_{H}d`), or `overdue_ratio` when the BG/NBD features are
    /// off; the fitted model stores what it resolved to. When the regression
    /// cannot be fitted (one outcome only), [`ORDER_CHANCE`] falls back to that
    /// feature and the model's note says so. `auto` and `order_chance` always mean
    /// these (a customer attribute of either name cannot be the priority).
    pub priority_feature: String,
    /// Size the groups on the list that will be contacted too (default true): the
    /// lapsed customers at the fitting date (their features, never their
    /// outcomes). A group above the maximum share of that list is split first,
    /// and no split leaves a group with less than the minimum share of it.
    #[serde(default = "yes")]
    pub size_on_scoring_list: bool,
    /// Weight of each older training cutoff in the groups' probabilities relative
    /// to the next more recent one, in [0, 1] (default 1: all cutoffs weigh the
    /// same). 0.5 makes the latest cutoff weigh 1, the one before 0.5, then 0.25,
    /// so that probabilities follow the latest base rate; 0 uses the latest cutoff
    /// alone. The splits always use every row. Measured on the full Online Retail
    /// and Complete Journey data (README, "Quality"), 0.5 did not lower the
    /// calibration error on the next period, hence the default.
    #[serde(default = "one")]
    pub recent_weight: f64,
    /// What chooses the groups' splits (default [`SplitOn::Outcomes`]). The
    /// groups' probabilities always come from the outcomes.
    #[serde(default = "outcomes")]
    pub split_on: SplitOn,
    /// What orders the groups and numbers them (default [`GroupOrder::Smoothed`];
    /// a model file that does not say was ordered by [`GroupOrder::Observed`]).
    #[serde(default = "observed")]
    pub group_order: GroupOrder,
}

/// What orders the groups ([`Config::group_order`]), and so the contact plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupOrder {
    /// Each group's own probability (its training rows' outcomes).
    Observed,
    /// A smooth chance of coming back: a logistic regression
    /// ([`winback_stats::logistic::Logistic`], ridge 1) on log recency, log
    /// purchases, log spend, log tenure and the log-odds of the BG/NBD chance of
    /// buying within the horizon, fitted on every training row. Groups are numbered by the mean
    /// chance of their rows ([`winback_tree::Group::order_score`]); where the
    /// groups' own outcomes go against that order, adjacent groups pool their
    /// outcomes into one probability ([`winback_tree::Group::pooled`]), so that
    /// probabilities still fall with the group id and stay estimated from
    /// outcomes. A group's own rate from a few hundred rows orders it with noise
    /// as large as the gaps between groups. Falls back to
    /// [`GroupOrder::Observed`] (the model's note says so) when the regression
    /// cannot be fitted (one outcome only). With an honest fraction above 0 the
    /// scores are averaged, and the runs pooled, on the held-out rows, but the
    /// regression's few coefficients are fitted on every row (their outcomes
    /// included).
    Smoothed,
}

impl GroupOrder {
    /// Parses the option's name as the CLI and Python write it (`observed`,
    /// `smoothed`); `None` for any other text.
    pub fn parse(s: &str) -> Option<GroupOrder> {
        match s {
            "observed" => Some(GroupOrder::Observed),
            "smoothed" => Some(GroupOrder::Smoothed),
            _ => None,
        }
    }
}

fn observed() -> GroupOrder {
    GroupOrder::Observed
}

/// What chooses the groups' splits ([`Config::split_on`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitOn {
    /// The training rows' outcomes (came back within the horizon or not).
    Outcomes,
    /// A smoothed chance of coming back: a logistic regression
    /// ([`winback_stats::logistic::Logistic`], ridge 1) on log recency and the
    /// BG/NBD chance of buying within the horizon (recency alone when the BG/NBD
    /// features are off), fitted on the same training rows and their outcomes.
    /// Each row then counts as its chance of a return when the tree chooses a
    /// split, so the splits follow a smooth score rather than the noise of a few
    /// hundred outcomes per group. Both traits are ones a data extract's start
    /// does not cut short (tenure, lifetime purchases and spend are). Measured on
    /// the full real data (README, "Accuracy"): better on some dates and worse on
    /// others, inside the noise, with calibration mixed, hence not the default.
    /// Falls back to the outcomes when the regression cannot be fitted (one
    /// outcome only; the model's note says so). Refused with an honest fraction
    /// above 0.
    Smoothed,
}

impl SplitOn {
    /// Parses the option's name as the CLI and Python write it (`outcomes`,
    /// `smoothed`); `None` for any other text.
    pub fn parse(s: &str) -> Option<SplitOn> {
        match s {
            "outcomes" => Some(SplitOn::Outcomes),
            "smoothed" => Some(SplitOn::Smoothed),
            _ => None,
        }
    }
}

fn outcomes() -> SplitOn {
    SplitOn::Outcomes
}

fn yes() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lapse: LapseRule::default(),
            horizon_days: 60,
            features: FeatureOptions::default(),
            segmenter: Segmenter::params().honest_fraction(0.0),
            training_cutoffs: 3,
            min_history_days: None,
            priority_feature: AUTO_PRIORITY.into(),
            size_on_scoring_list: true,
            recent_weight: 1.0,
            split_on: SplitOn::Outcomes,
            group_order: GroupOrder::Smoothed,
        }
    }
}

impl Config {
    /// The config of the options every interface offers (CLI flags, Python
    /// keywords); the rest keeps its defaults. Checked when fitting.
    pub fn from_options(lapse: LapseRule, horizon_days: i64, groups: usize, seed: u64, training_cutoffs: usize, min_history_days: Option<i64>) -> Config {
        let d = Config::default();
        Config { lapse, horizon_days, segmenter: d.segmenter.clone().groups(groups).seed(seed), training_cutoffs, min_history_days, ..d }
    }

    /// The same config with `fraction` of the customers held out to estimate the
    /// groups' probabilities (in [0, 0.9]; default 0: nobody held out, see
    /// [`Config::segmenter`]). Checked when fitting.
    pub fn with_honest_fraction(mut self, fraction: f64) -> Config {
        self.segmenter = self.segmenter.honest_fraction(fraction);
        self
    }

    /// The same config with the splits chosen by `split_on` (see [`SplitOn`]).
    pub fn with_split_on(mut self, split_on: SplitOn) -> Config {
        self.split_on = split_on;
        self
    }

    /// The same config with the groups ordered by `group_order` (see [`GroupOrder`]).
    pub fn with_group_order(mut self, group_order: GroupOrder) -> Config {
        self.group_order = group_order;
        self
    }

    /// The minimum days of data before a training cutoff when customers lapse
    /// after `lapse_days` days: the given value, or twice the smaller of the
    /// horizon and `lapse_days`, within 28..=90 days.
    ///
    /// ```
    /// use winback::Config;
    /// let c = Config::default(); // 60-day horizon
    /// assert_eq!(c.min_history(90), 90);
    /// assert_eq!(c.min_history(30), 60);
    /// assert_eq!(c.min_history(13), 28);
    /// assert_eq!(Config { min_history_days: Some(10), ..Config::default() }.min_history(13), 10);
    /// ```
    pub fn min_history(&self, lapse_days: i64) -> i64 {
        self.min_history_days.unwrap_or_else(|| (2 * self.horizon_days.min(lapse_days.max(1))).clamp(28, 90))
    }

    /// Checks every parameter (invalid values are errors, never clamped).
    pub fn validate(&self) -> Result<()> {
        use winback_core::Error as C;
        self.lapse.validate()?;
        if !(1..=winback_core::labels::MAX_HORIZON).contains(&self.horizon_days) {
            return Err(C::InvalidHorizon(self.horizon_days).into());
        }
        if !(1..=1000).contains(&self.training_cutoffs) {
            return Err(C::InvalidCutoffCount(self.training_cutoffs).into());
        }
        if let Some(d) = self.min_history_days {
            if !(1..=36_500).contains(&d) {
                return Err(Error::InvalidMinHistory(d));
            }
        }
        if self.features.max_levels == 0 {
            return Err(C::InvalidMaxLevels(0).into());
        }
        if let Some(&w) = self.features.windows.iter().find(|&&w| !(1..=36_500).contains(&w)) {
            return Err(Error::InvalidWindow(w));
        }
        if !(0.0..=1.0).contains(&self.recent_weight) {
            return Err(Error::InvalidRecentWeight(self.recent_weight));
        }
        if self.priority_feature.trim().is_empty() {
            return Err(Error::UnknownPriorityFeature { name: self.priority_feature.clone(), available: String::new() });
        }
        let segmenter = self.segmenter.check_ref()?;
        // The smoother is fitted on every training row: held-out customers' outcomes
        // would help choose the splits their estimates are meant to be honest about.
        if self.split_on == SplitOn::Smoothed && segmenter.honest_fraction() > 0.0 {
            return Err(Error::SmoothedWithHoldout(segmenter.honest_fraction()));
        }
        Ok(())
    }
}

/// A fitted win-back model. `Send + Sync`; saved and loaded as JSON (data only).
///
/// Its serialized form is a [`crate::ModelFile`], where each fact is stored once;
/// deserializing validates the whole file (see [`WinbackModel::from_json`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "crate::model_file::ModelFile", into = "crate::model_file::ModelFile")]
pub struct WinbackModel {
    /// Model file format version.
    pub format_version: u32,
    /// How it was fitted.
    pub config: Config,
    /// The date it was fitted standing at.
    pub fitted_at: Day,
    /// The lapse threshold in days (learned at `fitted_at` for learned rules), used when scoring.
    pub lapse_days: i64,
    /// The lapse decision at `fitted_at` (threshold, gap distribution, counts).
    pub lapse: LapseSummary,
    /// The feature schema with its vocabularies.
    pub schema: FeatureSchema,
    /// The training cutoffs used.
    pub training_cutoffs: Vec<Day>,
    /// The cutoffs `at − kH` that were not used, and why.
    pub skipped_cutoffs: Vec<SkippedCutoff>,
    /// Training rows (lapsed customers × cutoffs).
    pub training_rows: usize,
    /// The groups.
    pub segmentation: Segmentation,
    /// The contact waves whose outcomes were recorded, oldest first.
    pub waves: Vec<Wave>,
    /// The share of customers whose rows trained the model, when a cluster fit
    /// sampled them (`None`: every customer; see [`crate::sharded::FitPlan::limit_rows`]).
    pub training_sample: Option<f64>,
    /// The ordering regression, kept when it orders customers inside the groups
    /// (`config.priority_feature` is [`ORDER_CHANCE`]); `None` otherwise.
    pub order_model: Option<OrderModel>,
}

/// A recorded contact wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    /// Fingerprint of the outcomes' content ([`crate::WaveOutcomes::fingerprint`]).
    pub fingerprint: String,
    /// The scoring date of the wave.
    pub at: Day,
    /// Per-group counts.
    pub outcomes: Vec<Outcome>,
    /// Ids of the customers contacted (per-customer outcomes), sorted.
    pub contacted: Vec<String>,
    /// Per-group counts of the control arm (`contacted` = customers held out).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub control: Vec<Outcome>,
    /// Ids of the customers held out (per-customer outcomes with an `arm`
    /// column), sorted. Later plans list them like anyone not contacted but never
    /// hold them out again, so no customer is counted in two waves' control arms.
    /// Empty in files written before they were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_out: Vec<String>,
}

/// A group as a plan candidate of `size` customers.
pub(crate) fn candidate(g: &winback_tree::Group, size: usize) -> Candidate {
    Candidate {
        group: g.id,
        size,
        probability: g.probability,
        low: g.low,
        high: g.high,
        return_spend: g.mean_return_spend.unwrap_or(0.0),
        posterior: winback_stats::Beta::new(g.alpha, g.beta),
        label: g.sentence.clone(),
        effect: None,
    }
}

/// A training cutoff that `fit` left out, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedCutoff {
    /// The cutoff.
    pub cutoff: Day,
    /// Why it was not used.
    pub reason: String,
}

/// A lapse decision without its list of customers (what a model file keeps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LapseSummary {
    /// The rule.
    pub rule: LapseRule,
    /// The date.
    pub cutoff: Day,
    /// The (global) threshold in days.
    pub threshold_days: i64,
    /// Per-segment thresholds.
    pub segments: Vec<winback_core::lapse::SegmentThreshold>,
    /// The gap distribution.
    pub gaps: Option<winback_core::lapse::GapDistribution>,
    /// Customers with a purchase before the date.
    pub customers_with_history: usize,
    /// Customers lapsed at the date.
    pub lapsed: usize,
}

impl From<&Lapse> for LapseSummary {
    fn from(l: &Lapse) -> Self {
        LapseSummary {
            rule: l.rule,
            cutoff: l.cutoff,
            threshold_days: l.threshold_days,
            segments: l.segments.clone(),
            gaps: l.gaps.clone(),
            customers_with_history: l.customers_with_history,
            lapsed: l.lapsed.len(),
        }
    }
}

/// One scored lapsed customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredCustomer {
    /// Customer id.
    pub customer_id: String,
    /// Group id (1 = highest probability when fitted; see [`winback_tree::Group::id`]).
    pub group: usize,
    /// Group probability of a win-back within the horizon.
    pub probability: f64,
    /// Interval low.
    pub probability_low: f64,
    /// Interval high.
    pub probability_high: f64,
    /// The individual priority inside the group: the ordering regression's chance
    /// ([`ORDER_CHANCE`]) or the priority feature's value.
    pub priority: f64,
}

/// The lapsed customers at a date, with groups and probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    /// The date.
    pub at: Day,
    /// Lapse decision at that date.
    pub lapse: Lapse,
    /// One row per lapsed customer, in history (customer id) order.
    pub customers: Vec<ScoredCustomer>,
    /// Their features.
    pub features: FeatureMatrix,
    /// Each group's share of these customers, by group id − 1.
    pub group_shares: Vec<f64>,
    /// What to check before using these scores, in words: groups above the
    /// model's maximum share of this list ("refit standing at this date"), and a
    /// date more than a horizon after the last day of the data (every recency
    /// then counts days the data does not cover). Empty when all is well.
    pub warnings: Vec<String>,
}

pub(crate) struct Fitted {
    pub model: WinbackModel,
    pub train: TrainingSet,
}

impl WinbackModel {
    /// Fits standing at `at`: trains on the lapsed customers at `at − H, at − 2H, …`
    /// (whose outcome windows end by `at`), with features learned from history
    /// before each cutoff.
    pub fn fit(history: &History, at: Day, config: &Config) -> Result<WinbackModel> {
        Ok(Self::fit_full(history, at, config)?.model)
    }

    pub(crate) fn fit_full(history: &History, at: Day, config: &Config) -> Result<Fitted> {
        let config = &config.resolved()?;
        let (first, last) = history.day_range();
        // The lapse decision at `at`: its threshold sets the default minimum history
        // (a failure to learn it is reported after the cutoffs, as before).
        let lapse_at = config.lapse.resolve(history, at);
        let lapse_days = lapse_at.as_ref().map_or(config.horizon_days, |l| l.threshold_days);
        let (usable, skipped) = choose_cutoffs(config, at, lapse_days, first, last, |t| Ok(config.lapse.resolve(history, t)?.lapsed.len() as u64))?;
        let schema = FeatureSchema::learn(history, usable[0], &config.features)?;
        let train = TrainingSet::stacked(history, &schema, &config.lapse, at, config.horizon_days, &usable)?;
        let lapse = lapse_at?;
        // The list that will be contacted: its features (never its outcomes) size the groups.
        let scoring = if config.size_on_scoring_list && !lapse.lapsed.is_empty() {
            Some(build_features(history, &schema, at, &lapse.lapsed)?)
        } else {
            None
        };
        let keys: Vec<usize> = train.customers.iter().map(|&c| customer_key(&history.customer_ids()[c])).collect();
        let rows = Rows { x: train.x.view(), y: &train.y, spend: &train.spend, keys: &keys, cutoff: &train.row_cutoff };
        let model = grow(config, at, usable, skipped, schema, LapseSummary::from(&lapse), &rows, scoring.as_ref().map(|m| m.x.view()))?;
        Ok(Fitted { model, train })
    }

    /// What each group's customers are like at `at` (from purchases before `at`,
    /// never outcomes): see [`winback_core::profile`].
    pub fn profile(&self, history: &History, at: Day) -> Result<Profiles> {
        let scores = self.score(history, at)?;
        Ok(self.profile_scores(history, &scores))
    }

    /// The profiles of already computed scores (same history).
    pub fn profile_scores(&self, history: &History, scores: &Scores) -> Profiles {
        let group_of: Vec<usize> = scores.customers.iter().map(|c| c.group).collect();
        profiles(history, scores.at, &scores.lapse.lapsed, &group_of, self.segmentation.groups.len())
    }

    /// The lapse rule used when scoring: the learned threshold, fixed; per-segment
    /// rules are learned again at the scoring date.
    pub fn scoring_rule(&self) -> LapseRule {
        match self.config.lapse {
            LapseRule::FromHistoryBySegment { .. } => self.config.lapse,
            _ => LapseRule::Fixed { days: self.lapse_days },
        }
    }

    /// The lapsed customers at `at`, with group and probability. Their features are
    /// built with the model's schema (unseen category levels count as `other`); a
    /// history without a column the model needs is refused.
    pub fn score(&self, history: &History, at: Day) -> Result<Scores> {
        let lapse = self.scoring_rule().resolve(history, at)?;
        let features = build_features(history, &self.schema, at, &lapse.lapsed)?;
        self.scores_of(history, at, lapse, features)
    }

    /// [`WinbackModel::score`] for one shard of the customers (see
    /// [`crate::sharded`]): the facts that need every customer come from `census`,
    /// the merged census of all shards at `at`. Each customer's row equals the
    /// single-machine one; `group_shares` and `warnings` are this shard's.
    pub fn score_with(&self, history: &History, at: Day, census: &winback_core::census::Census) -> Result<Scores> {
        let lapse = self.scoring_rule().resolve_with(history, at, census)?;
        let features = winback_core::features::build_features_with(history, &self.schema, at, &lapse.lapsed, census)?;
        self.scores_of(history, at, lapse, features)
    }

    fn scores_of(&self, history: &History, at: Day, lapse: Lapse, features: FeatureMatrix) -> Result<Scores> {
        let groups = self.segmentation.assign(features.x.view())?;
        let priority: Vec<f64> = match &self.order_model {
            Some(m) if self.config.priority_feature == ORDER_CHANCE => m.chances(&self.schema, features.x.view())?,
            // A model assembled by hand with the regression's priority but no regression.
            None if self.config.priority_feature == ORDER_CHANCE => {
                return Err(Error::UnknownPriorityFeature { name: ORDER_CHANCE.into(), available: self.schema.names().join(", ") });
            }
            _ => {
                let j = self.schema.index(&self.config.priority_feature);
                (0..features.x.nrows()).map(|i| j.map_or(0.0, |j| features.x[(i, j)])).collect()
            }
        };
        let customers = lapse
            .lapsed
            .iter()
            .enumerate()
            .map(|(i, &c)| {
                let g = &self.segmentation.groups[groups[i] - 1];
                ScoredCustomer {
                    customer_id: history.customer_ids()[c].clone(),
                    group: g.id,
                    probability: g.probability,
                    probability_low: g.low,
                    probability_high: g.high,
                    priority: priority[i],
                }
            })
            .collect::<Vec<_>>();
        let k = self.segmentation.groups.len();
        let mut count = vec![0usize; k];
        for c in &customers {
            count[c.group - 1] += 1;
        }
        let n = customers.len().max(1) as f64;
        let group_shares: Vec<f64> = count.iter().map(|&c| c as f64 / n).collect();
        let warnings = self.scoring_warnings(at, history.day_range().1, &count);
        Ok(Scores { at, lapse, customers, features, group_shares, warnings })
    }

    /// What to check before using scores at `at`, in words (the `warnings` of
    /// [`Scores`]): a date more than a horizon after `data_end` (the last day of the
    /// data), a wave recorded per group at another date, a date before the model's
    /// fitting date, and groups above the model's maximum share of the list, from
    /// `group_counts` (customers scored per group, by group id − 1). A cluster's
    /// scoring calls it on the driver with the counts of every shard.
    pub fn scoring_warnings(&self, at: Day, data_end: Day, group_counts: &[usize]) -> Vec<String> {
        let listed: usize = group_counts.iter().sum();
        let n = listed.max(1) as f64;
        let group_shares: Vec<f64> = group_counts.iter().map(|&c| c as f64 / n).collect();
        let max = self.segmentation.params.max_group_share();
        let mut warnings: Vec<String> = Vec::new();
        let past = i64::from(at) - i64::from(data_end) - 1;
        if past > self.config.horizon_days {
            warnings.push(format!(
                "scoring at {} with data up to {}: the {past} days in between count as days without a purchase for every customer; is the data complete?",
                format_day(at),
                format_day(data_end)
            ));
        }
        if let Some((i, w)) = self.waves.iter().enumerate().find(|(_, w)| w.contacted.is_empty() && w.at != at) {
            warnings.push(format!(
                "wave {} (counts per group) was recorded at {}: the customers it contacted are taken to be the first of each group by priority at {}, which may be others; plan at the wave's date, or record outcomes per customer",
                i + 1,
                format_day(w.at),
                format_day(at)
            ));
        }
        if at < self.fitted_at {
            warnings.push(format!(
                "scoring at {}, before the model's fitting date {}: its groups and probabilities were learned from outcomes after {}; to plan at that date, fit standing at it",
                format_day(at),
                format_day(self.fitted_at),
                format_day(at)
            ));
        }
        warnings.extend(group_shares
            .iter()
            .enumerate()
            .filter(|(_, &s)| s > max && listed >= 100)
            .map(|(g, &s)| {
                let head = format!("group {} holds {:.1}% of the {} lapsed customers at {}, above the maximum share of {:.0}%", g + 1, s * 100.0, listed, format_day(at), max * 100.0);
                match self.segmentation.groups.get(g).and_then(|group| group.scoring_share) {
                    _ if at == self.fitted_at => format!("{head}: the training data could not support a finer split there (see the model's note)"),
                    Some(f) => format!("{head} (it held {:.1}% at {}): refit standing at this date", f * 100.0, format_day(self.fitted_at)),
                    None => format!("{head}: refit standing at this date"),
                }
            }));
        warnings
    }

    /// The groups present in `scores` as plan candidates (size = customers scored).
    pub fn candidates(&self, scores: &Scores) -> Vec<Candidate> {
        let mut size = vec![0usize; self.segmentation.groups.len() + 1];
        for c in &scores.customers {
            size[c.group] += 1;
        }
        self.segmentation
            .groups
            .iter()
            .filter(|g| size[g.id] > 0)
            .map(|g| candidate(g, size[g.id]))
            .collect()
    }

    /// The contact plan and contact list for `scores`. With recorded waves, only
    /// the customers they left are planned ([`WinbackModel::remaining`]): nobody
    /// contacted in a recorded wave is listed again.
    pub fn plan(&self, scores: &Scores, params: &PlanParams) -> Result<(Plan, Vec<ContactRow>)> {
        self.plan_customers(&scores.customers, params)
    }

    /// The contact plan and contact list for scored customers given as rows (the
    /// union of every shard's scores on a cluster, in any order: they are put in
    /// customer-id order, as [`WinbackModel::score`] gives them). A customer scored
    /// twice (its lines split over two shards) is refused.
    pub fn plan_customers(&self, scored: &[ScoredCustomer], params: &PlanParams) -> Result<(Plan, Vec<ContactRow>)> {
        params.validate()?;
        let mut sorted;
        let scored = if scored.windows(2).all(|w| w[0].customer_id < w[1].customer_id) {
            scored
        } else {
            sorted = scored.to_vec();
            sorted.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
            if let Some(w) = sorted.windows(2).find(|w| w[0].customer_id == w[1].customer_id) {
                return Err(Error::ShardMismatch {
                    message: format!("customer {:?} is scored twice: each customer's lines must all be in one shard", w[0].customer_id),
                });
            }
            &sorted[..]
        };
        let mut size = vec![0usize; self.segmentation.groups.len() + 1];
        for c in scored {
            match size.get_mut(c.group) {
                Some(n) if c.group > 0 => *n += 1,
                _ => return Err(Error::UnknownGroup { customer: c.customer_id.clone(), group: c.group, groups: self.segmentation.groups.len() }),
            }
        }
        // Customers contacted in a recorded wave are not planned again.
        let customers: Vec<CustomerScore> = if self.waves.is_empty() {
            scored.iter().map(|c| CustomerScore { customer: c.customer_id.clone(), group: c.group, score: c.priority }).collect()
        } else {
            size.iter_mut().for_each(|n| *n = 0);
            let left = self.remaining_of(scored);
            left.iter().for_each(|c| size[c.group] += 1);
            left
        };
        let effects = self.effects()?;
        let candidates: Vec<Candidate> =
            self.segmentation.groups.iter().filter(|g| size[g.id] > 0).map(|g| self.with_effect(candidate(g, size[g.id]), &effects)).collect();
        // Customers held out in a recorded wave are measured: never held out again.
        let measured: std::collections::HashSet<&str> = self.waves.iter().flat_map(|w| w.held_out.iter().map(String::as_str)).collect();
        plan_with_controls(candidates, customers, params, &|id| measured.contains(id))
    }

    /// The model as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::BadModelFile { path: "<memory>".into(), message: e.to_string() })
    }

    /// Reads a model from JSON and validates it whole: another format version,
    /// a missing or unknown field, a value of the wrong type, and any value that
    /// is out of range or inconsistent with the rest (a probability of 2, an
    /// empty window list, a split on a feature that does not exist, ...) are
    /// refused with an error naming the field. `source` names the file in messages.
    pub fn from_json(s: &str, source: &str) -> Result<WinbackModel> {
        let path = source.to_string();
        let v: serde_json::Value =
            serde_json::from_str(s).map_err(|e| Error::BadModelFile { path: path.clone(), message: e.to_string() })?;
        let found = v.get("format_version").and_then(serde_json::Value::as_u64).ok_or_else(|| Error::InvalidModel {
            path: path.clone(),
            field: "format_version".into(),
            message: "missing, or not a whole number".into(),
        })?;
        if !(u64::from(OLDEST_FORMAT_VERSION)..=u64::from(FORMAT_VERSION)).contains(&found) {
            return Err(Error::UnsupportedVersion { path, found, supported: FORMAT_VERSION, oldest: OLDEST_FORMAT_VERSION });
        }
        let file: crate::ModelFile = serde_path_to_error::deserialize(v).map_err(|e| {
            let field = e.path().to_string();
            Error::InvalidModel { path: path.clone(), field, message: e.into_inner().to_string() }
        })?;
        WinbackModel::try_from(file).map_err(|e| Error::InvalidModel { path, field: e.field, message: e.message })
    }

    /// Writes the model file: to a temporary file beside it (flushed to disk),
    /// then renamed over it, so that an interrupted write never leaves half a
    /// model (the file is either the old model or the new one). An existing
    /// file keeps its permissions; a symbolic link is followed (its target is replaced).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        save_atomically(path.as_ref(), self.to_json()?.as_bytes())
    }

    /// Reads a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<WinbackModel> {
        let path = path.as_ref();
        let s = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        Self::from_json(&s, &path.display().to_string())
    }
}

impl Config {
    /// The configuration a fit uses: validated and the BG/NBD horizon set to the
    /// model's own ([`AUTO_PRIORITY`] is resolved when the groups are grown).
    pub(crate) fn resolved(&self) -> Result<Config> {
        self.validate()?;
        let mut config = self.clone();
        if config.features.btyd_horizon_days.is_some() {
            config.features.btyd_horizon_days = Some(config.horizon_days);
        }
        config.segmenter.check_ref()?;
        Ok(config)
    }

    /// The feature [`AUTO_PRIORITY`] resolves to when no ordering regression
    /// orders customers: the BG/NBD chance of buying within the horizon, or
    /// `overdue_ratio` when the BG/NBD features are off.
    fn feature_priority(&self) -> String {
        match self.features.btyd_horizon_days {
            Some(h) => format!("btyd_p_buy_{h}d"),
            None => "overdue_ratio".into(),
        }
    }
}

/// The key that keeps a customer's stacked rows on one side of the honest split:
/// a hash of the id, so the split depends on the customer alone (not on who else
/// is in the data, nor on which machine holds the row).
pub(crate) fn customer_key(id: &str) -> usize {
    winback_stats::hash_str(0x5eed_c057, id) as usize
}

/// The training cutoffs `at − H, at − 2H, …` a fit can use, and the others with
/// the reason; `lapse_days` is the lapse threshold at `at` (for the default
/// minimum history), `lapsed(t)` counts the customers lapsed at `t` (or fails).
pub(crate) fn choose_cutoffs(
    config: &Config,
    at: Day,
    lapse_days: i64,
    first: Day,
    last: Day,
    lapsed: impl Fn(Day) -> std::result::Result<u64, Error>,
) -> Result<(Vec<Day>, Vec<SkippedCutoff>)> {
    let h = config.horizon_days;
    let min_history = config.min_history(lapse_days);
    let (first, last) = (i64::from(first), i64::from(last));
    let mut usable = Vec::new();
    let mut skipped = Vec::new();
    for t in training_cutoffs(at, h, config.training_cutoffs)? {
        let reason = if i64::from(t) < first {
            Some(format!("before the first day of data ({})", format_day(first as Day)))
        } else if i64::from(t) - first < min_history {
            Some(format!("{} days of data before it, fewer than the minimum {min_history}", i64::from(t) - first))
        } else if i64::from(t) + h > last + 1 {
            // Every label window must be observed in full.
            Some(format!("its {h}-day window runs past the end of the data ({})", format_day(last as Day)))
        } else {
            match lapsed(t) {
                Ok(n) if n > 0 => None,
                Ok(_) => Some("nobody lapsed".to_string()),
                Err(e) => Some(e.to_string()),
            }
        };
        match reason {
            None => usable.push(t),
            Some(r) => skipped.push(SkippedCutoff { cutoff: t, reason: r }),
        }
    }
    if usable.is_empty() {
        let why = skipped.iter().map(|s| format!("{}: {}", format_day(s.cutoff), s.reason)).collect::<Vec<_>>().join("; ");
        return Err(Error::NoTrainingCutoff { at: format_day(at), horizon: h, min_history, why });
    }
    Ok((usable, skipped))
}

/// Stacked training rows, in cutoff order (latest first), then customer id order.
pub(crate) struct Rows<'a> {
    pub x: ndarray::ArrayView2<'a, f64>,
    pub y: &'a [bool],
    pub spend: &'a [f64],
    pub keys: &'a [usize],
    pub cutoff: &'a [Day],
}

/// Grows the groups on the training rows (sized on the scoring list's features
/// too, when given) and assembles the model: the one step the single-machine
/// and the sharded fits share after their rows are built.
#[allow(clippy::too_many_arguments)]
pub(crate) fn grow(
    config: &Config,
    at: Day,
    usable: Vec<Day>,
    skipped: Vec<SkippedCutoff>,
    schema: FeatureSchema,
    lapse: LapseSummary,
    rows: &Rows<'_>,
    scoring: Option<ndarray::ArrayView2<'_, f64>>,
) -> Result<WinbackModel> {
    let mut config = config.clone();
    // The ordering regression: fitted when it orders the groups or the customers inside them.
    let chance_priority = config.priority_feature == ORDER_CHANCE || (config.priority_feature == AUTO_PRIORITY && config.group_order == GroupOrder::Smoothed);
    let (fitted, chances) = (config.group_order == GroupOrder::Smoothed || chance_priority).then(|| order_scores(&schema, rows.x, rows.y)).flatten().unzip();
    let order = match config.group_order {
        GroupOrder::Observed => None,
        GroupOrder::Smoothed => chances,
    };
    let mut order_model = None;
    let mut unprioritized = None;
    if config.priority_feature == AUTO_PRIORITY || config.priority_feature == ORDER_CHANCE {
        match fitted {
            Some(model) if chance_priority => {
                config.priority_feature = ORDER_CHANCE.into();
                order_model = Some(model);
            }
            _ => {
                let feature = config.feature_priority();
                if config.priority_feature == ORDER_CHANCE {
                    unprioritized = Some(format!("customers inside a group ordered by {feature}: the ordering regression could not be fitted on these rows"));
                }
                config.priority_feature = feature;
            }
        }
    }
    if order_model.is_none() && schema.index(&config.priority_feature).is_none() {
        return Err(Error::UnknownPriorityFeature { name: config.priority_feature.clone(), available: schema.names().join(", ") });
    }
    let config = &config;
    let params = config.segmenter.check_ref()?;
    // Cutoff k (0 = the latest) weighs recent_weight^k in the probabilities.
    let weight: Vec<f64> = rows
        .cutoff
        .iter()
        .map(|t| {
            let k = usable.iter().position(|u| u == t).unwrap_or(0);
            config.recent_weight.powi(i32::try_from(k).unwrap_or(i32::MAX))
        })
        .collect();
    let target = match config.split_on {
        SplitOn::Outcomes => None,
        SplitOn::Smoothed => smoothed_target(&schema, rows.x, rows.y),
    };
    let unsmoothed = (config.split_on == SplitOn::Smoothed && target.is_none())
        .then_some("split on the outcomes: the smoothing regression could not be fitted on these rows");
    let unordered = (config.group_order == GroupOrder::Smoothed && order.is_none())
        .then_some("groups ordered by their own probabilities: the ordering regression could not be fitted on these rows");
    let mut segmentation = params.fit_for(
        &TrainingData {
            x: rows.x.view(),
            y: rows.y,
            spend: Some(rows.spend),
            customer: Some(rows.keys),
            features: &schema.features,
            weight: Some(&weight),
            target: target.as_deref(),
            order: order.as_deref(),
        },
        scoring,
    )?;
    for why in [unsmoothed.map(str::to_string), unordered.map(str::to_string), unprioritized].into_iter().flatten() {
        segmentation.note = Some(segmentation.note.map_or(why.to_string(), |n| format!("{n}; {why}")));
    }
    Ok(WinbackModel {
        format_version: FORMAT_VERSION,
        config: config.clone(),
        fitted_at: at,
        lapse_days: lapse.threshold_days,
        lapse,
        schema,
        training_cutoffs: usable,
        skipped_cutoffs: skipped,
        training_rows: rows.y.len(),
        segmentation,
        waves: Vec::new(),
        training_sample: None,
        order_model,
    })
}

/// With a holdout (`control_share` > 0): only contactable customers count in a
/// group's size, and a group held out whole leaves the plan. `customers` are
/// (id, group) pairs; groups are 1-based.
/// Plans `candidates` (sized on `customers`) and lists the contacts. With a
/// control share, each group's held-out customers are taken out of its size
/// before planning; those of a group not contacted (or met after a cut-short
/// group's last contact) are not listed and count as not contacted, and a group
/// whose every customer is held out is skipped as [`StopReason::HeldOut`]: contacts
/// plus listed controls plus not contacted = `customers`. Customers `exempt` names
/// (held out in an earlier wave) are never held out again.
pub(crate) fn plan_with_controls(
    mut candidates: Vec<Candidate>,
    customers: Vec<CustomerScore>,
    params: &PlanParams,
    exempt: &dyn Fn(&str) -> bool,
) -> Result<(Plan, Vec<ContactRow>)> {
    let before: Vec<usize> = candidates.iter().map(|c| c.group).collect();
    let control = hold_out(&mut candidates, customers.iter().filter(|c| !exempt(&c.customer)).map(|c| (c.customer.as_str(), c.group)), params);
    if candidates.is_empty() {
        // Nobody left to contact (a wave took everyone, or the rest are all held out
        // as controls): an empty plan, not an error — feedback must still record the wave.
        params.validate()?;
        let skipped: Vec<winback_rank::Skipped> = before
            .iter()
            .map(|&g| winback_rank::Skipped { group: g, customers: control.get(&g).copied().unwrap_or(0), reason: StopReason::HeldOut, cost_saved: 0.0, winbacks_forgone: 0.0 })
            .collect();
        let stop = if skipped.is_empty() { StopReason::AllContacted } else { StopReason::HeldOut };
        let empty = Plan {
            params: params.clone(),
            steps: Vec::new(),
            skipped,
            stop,
            contacts: 0,
            expected_winbacks: 0.0,
            revenue: 0.0,
            cost: 0.0,
            profit: 0.0,
            cost_saved: 0.0,
            gains: Vec::new(),
        };
        let list = contact_list_exempting(&empty, &candidates, &[], exempt)?;
        return Ok((empty, list));
    }
    let mut p = plan(&candidates, params)?;
    let held_out: Vec<usize> = before.into_iter().filter(|g| !candidates.iter().any(|c| c.group == *g)).collect();
    let customers: Vec<CustomerScore> =
        if held_out.is_empty() { customers } else { customers.into_iter().filter(|c| !held_out.contains(&c.group)).collect() };
    let list = contact_list_exempting(&p, &candidates, &customers, exempt)?;
    let mut listed: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for r in list.iter().filter(|r| r.arm == winback_rank::Arm::Control) {
        *listed.entry(r.group).or_default() += 1;
    }
    for s in &mut p.skipped {
        let held = control.get(&s.group).copied().unwrap_or(0);
        s.customers += held.saturating_sub(listed.get(&s.group).copied().unwrap_or(0));
    }
    // Groups held out whole were not contacted: "every group was contacted" no longer holds.
    if !held_out.is_empty() && p.stop == StopReason::AllContacted {
        p.stop = StopReason::HeldOut;
    }
    for g in held_out {
        let customers = control.get(&g).copied().unwrap_or(0);
        p.skipped.push(winback_rank::Skipped { group: g, customers, reason: StopReason::HeldOut, cost_saved: 0.0, winbacks_forgone: 0.0 });
    }
    Ok((p, list))
}

pub(crate) fn hold_out<'a>(candidates: &mut Vec<Candidate>, customers: impl Iterator<Item = (&'a str, usize)>, params: &PlanParams) -> std::collections::BTreeMap<usize, usize> {
    if params.control_share <= 0.0 {
        return std::collections::BTreeMap::new();
    }
    let mut control: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    for (id, group) in customers {
        if winback_rank::in_control(id, params) {
            *control.entry(group).or_default() += 1;
        }
    }
    for k in candidates.iter_mut() {
        k.size -= control.get(&k.group).copied().unwrap_or(0).min(k.size);
    }
    candidates.retain(|k| k.size > 0);
    control
}

/// Writes `bytes` to `path` through a temporary file in the same directory
/// (unique per process and call), synced, then renamed over `path`.
pub(crate) fn save_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let io = |source| Error::Io { path: path.display().to_string(), source };
    // A link is followed: the file it points to is the one replaced.
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = target.with_file_name(format!(".{name}.{}-{}.tmp", std::process::id(), CALLS.fetch_add(1, Ordering::Relaxed)));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if let Ok(meta) = std::fs::metadata(&target) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &target)
    })()
    .map_err(io);
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
