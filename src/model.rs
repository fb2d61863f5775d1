//! [`WinbackModel`]: lapse rule + feature schema + segmentation, fitted standing
//! at a date, applied at any later date, saved as one JSON model file.

use std::path::Path;

use linfa::ParamGuard;
use serde::{Deserialize, Serialize};
use winback_core::date::{format_day, Day};
use winback_core::features::{build_features, FeatureMatrix, FeatureOptions, FeatureSchema};
use winback_core::labels::{training_cutoffs, TrainingSet};
use winback_core::lapse::{Lapse, LapseRule};
use winback_core::History;
use winback_rank::{contact_list, plan, Candidate, ContactRow, CustomerScore, Plan, PlanParams};
use winback_tree::{Segmentation, Segmenter, TrainingData};

use crate::error::{Error, Result};

/// Version of the model file format written and read by this build.
pub const FORMAT_VERSION: u32 = 1;

/// How a model is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Who is lapsed (default: the 0.9-quantile of purchase gaps).
    pub lapse: LapseRule,
    /// Days after the cutoff in which a purchase counts as a win-back (default 60).
    pub horizon_days: i64,
    /// Feature options.
    pub features: FeatureOptions,
    /// Segmenter parameters.
    pub segmenter: Segmenter,
    /// Number of stacked training cutoffs `at − H, at − 2H, …` (default 3).
    /// Cutoffs with less than `min_history_days` of data before them, or without
    /// lapsed customers, are dropped: in the first weeks of a data extract every
    /// customer looks new, which is not what the model will see when scoring.
    pub training_cutoffs: usize,
    /// Minimum days of data before a training cutoff (default 90).
    pub min_history_days: i64,
    /// Feature that orders customers inside a group in the contact list (higher first).
    pub priority_feature: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lapse: LapseRule::default(),
            horizon_days: 60,
            features: FeatureOptions::default(),
            segmenter: Segmenter::params(),
            training_cutoffs: 3,
            min_history_days: 90,
            priority_feature: "overdue_ratio".into(),
        }
    }
}

/// A fitted win-back model. `Send + Sync`; saved and loaded as JSON (data only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Training rows (lapsed customers × cutoffs).
    pub training_rows: usize,
    /// The groups.
    pub segmentation: Segmentation,
}

impl WinbackModel {
    /// The scored customers not contacted yet, in each group's priority order:
    /// those in `contacted` are left out; without ids (per-group outcomes), the
    /// first `contacted` customers of each group in priority order are taken as
    /// the ones the wave reached (the contact list's order).
    pub fn remaining(scores: &Scores, outcomes: &[winback_rank::Outcome], contacted: &std::collections::HashSet<String>) -> Vec<CustomerScore> {
        let mut by_group: std::collections::BTreeMap<usize, Vec<&ScoredCustomer>> = std::collections::BTreeMap::new();
        for c in &scores.customers {
            by_group.entry(c.group).or_default().push(c);
        }
        let mut out = Vec::new();
        for (g, mut list) in by_group {
            list.sort_by(|a, b| b.priority.total_cmp(&a.priority).then_with(|| a.customer_id.cmp(&b.customer_id)));
            let skip = if contacted.is_empty() { outcomes.iter().filter(|o| o.group == g).map(|o| o.contacted as usize).sum() } else { 0 };
            out.extend(
                list.into_iter()
                    .filter(|c| !contacted.contains(&c.customer_id))
                    .skip(skip)
                    .map(|c| CustomerScore { customer: c.customer_id.clone(), group: c.group, score: c.priority }),
            );
        }
        out
    }
}

/// A group as a plan candidate of `size` customers.
fn candidate(g: &winback_tree::Group, size: usize) -> Candidate {
    Candidate {
        group: g.id,
        size,
        probability: g.probability,
        low: g.low,
        high: g.high,
        return_spend: g.mean_return_spend.unwrap_or(0.0),
        posterior: winback_stats::Beta::new(g.alpha, g.beta),
        label: g.sentence.clone(),
    }
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
    /// Group id (1 = highest probability).
    pub group: usize,
    /// Group probability of a win-back within the horizon.
    pub probability: f64,
    /// Interval low.
    pub probability_low: f64,
    /// Interval high.
    pub probability_high: f64,
    /// The individual priority inside the group (the priority feature's value).
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
        let params = config.segmenter.check_ref()?;
        config.lapse.validate()?;
        let h = config.horizon_days;
        let all = training_cutoffs(at, h, config.training_cutoffs)?;
        let (first, last) = (i64::from(history.day_range().0), i64::from(history.day_range().1));
        let usable: Vec<Day> = all
            .into_iter()
            .filter(|&t| i64::from(t) - first >= config.min_history_days.max(1))
            // Every label window must be observed in full.
            .filter(|&t| i64::from(t) + h <= last + 1)
            .filter(|&t| config.lapse.resolve(history, t).is_ok_and(|l| !l.lapsed.is_empty()))
            .collect();
        let Some(&latest) = usable.first() else {
            return Err(Error::NoTrainingCutoff { at: format_day(at), horizon: h });
        };
        let schema = FeatureSchema::learn(history, latest, &config.features)?;
        let train = TrainingSet::stacked(history, &schema, &config.lapse, at, h, &usable)?;
        let segmentation = params.fit(&TrainingData {
            x: train.x.view(),
            y: &train.y,
            spend: Some(&train.spend),
            customer: Some(&train.customers),
            features: &schema.features,
        })?;
        let lapse = config.lapse.resolve(history, at)?;
        let model = WinbackModel {
            format_version: FORMAT_VERSION,
            config: config.clone(),
            fitted_at: at,
            lapse_days: lapse.threshold_days,
            lapse: LapseSummary::from(&lapse),
            schema,
            training_cutoffs: usable,
            training_rows: train.len(),
            segmentation,
        };
        Ok(Fitted { model, train })
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
        let features = build_features(history, &self.schema, at, &lapse.lapsed).map_err(|e| match e {
            winback_core::Error::SchemaMismatch(m) => Error::SchemaMismatch(m),
            other => Error::Core(other),
        })?;
        let groups = self.segmentation.assign(features.x.view())?;
        let prio = self.schema.index(&self.config.priority_feature);
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
                    priority: prio.map_or(0.0, |j| features.x[(i, j)]),
                }
            })
            .collect();
        Ok(Scores { at, lapse, customers, features })
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

    /// The contact plan and contact list for `scores`.
    pub fn plan(&self, scores: &Scores, params: &PlanParams) -> Result<(Plan, Vec<ContactRow>)> {
        let candidates = self.candidates(scores);
        let p = plan(&candidates, params)?;
        let customers: Vec<CustomerScore> =
            scores.customers.iter().map(|c| CustomerScore { customer: c.customer_id.clone(), group: c.group, score: c.priority }).collect();
        let list = contact_list(&p, &candidates, &customers)?;
        Ok((p, list))
    }

    /// The model as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::BadModelFile { path: "<memory>".into(), message: e.to_string() })
    }

    /// Reads a model from JSON, refusing another format version.
    pub fn from_json(s: &str, source: &str) -> Result<WinbackModel> {
        let bad = |e: serde_json::Error| Error::BadModelFile { path: source.to_string(), message: e.to_string() };
        let v: serde_json::Value = serde_json::from_str(s).map_err(bad)?;
        let found = v.get("format_version").and_then(serde_json::Value::as_u64).ok_or_else(|| Error::BadModelFile {
            path: source.to_string(),
            message: "no format_version".into(),
        })?;
        if found != u64::from(FORMAT_VERSION) {
            return Err(Error::UnsupportedVersion { found: found as u32, supported: FORMAT_VERSION });
        }
        let m: WinbackModel = serde_json::from_value(v).map_err(bad)?;
        // A model file is data: check it before it is used.
        m.segmentation.validate().map_err(|e| Error::BadModelFile { path: source.to_string(), message: e.to_string() })?;
        if m.segmentation.features != m.schema.features {
            return Err(Error::BadModelFile { path: source.to_string(), message: "the segmentation's features differ from the schema's".into() });
        }
        Ok(m)
    }

    /// Writes the model file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_json()?).map_err(|source| Error::Io { path: path.display().to_string(), source })
    }

    /// Reads a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<WinbackModel> {
        let path = path.as_ref();
        let s = std::fs::read_to_string(path).map_err(|source| Error::Io { path: path.display().to_string(), source })?;
        Self::from_json(&s, &path.display().to_string())
    }
}

impl WinbackModel {
    /// Records a contact wave's outcomes into the model: each group's probability
    /// becomes its Beta-Binomial posterior (the current estimate as prior), with a
    /// new interval at the model's level. Returns the updated candidates for
    /// `scores` with the contacted customers removed from the group sizes, ready to
    /// re-plan.
    pub fn record_outcomes(&mut self, scores: &Scores, outcomes: &[winback_rank::Outcome]) -> Result<Vec<Candidate>> {
        let level = self.segmentation.params.interval_level();
        // Group sizes of this wave's scores: outcomes beyond them are refused.
        let mut size = vec![0usize; self.segmentation.groups.len() + 1];
        for c in &scores.customers {
            size[c.group] += 1;
        }
        let all: Vec<Candidate> = self.segmentation.groups.iter().map(|g| candidate(g, size[g.id])).collect();
        let updated = winback_rank::record_outcomes(&all, outcomes, level)?;
        for (g, c) in self.segmentation.groups.iter_mut().zip(&updated) {
            g.probability = c.probability;
            g.low = c.low;
            g.high = c.high;
            if let Some(b) = c.posterior {
                g.alpha = b.alpha;
                g.beta = b.beta;
            }
        }
        let mut left = self.candidates(scores);
        for c in &mut left {
            let contacted: u64 = outcomes.iter().filter(|o| o.group == c.group).map(|o| o.contacted).sum();
            c.size = c.size.saturating_sub(contacted as usize);
            if let Some(g) = self.segmentation.group(c.group) {
                *c = Candidate { size: c.size, ..candidate(g, 0) };
            }
        }
        Ok(left)
    }
}
