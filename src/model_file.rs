//! The model file: the serialized form of a [`WinbackModel`], where each fact is
//! stored once, and the validation that turns an untrusted file back into a
//! model.
//!
//! A model file is data from outside: a hand-edited, truncated or hostile file
//! must be refused with a message naming the field, never panic or score
//! outside [0, 1]. [`ModelFile`] is what the JSON holds; `WinbackModel::try_from`
//! checks it whole (parameters, dates, lapse decision, feature schema, tree,
//! group statistics, waves) before anything uses it.

use std::collections::{BTreeMap, HashSet};

use linfa::ParamGuard;
use serde::{Deserialize, Serialize};
use winback_core::date::{day_from_ymd, Day};
use winback_core::features::{Feature, FeatureSchema};
use winback_core::lapse::{GapDistribution, LapseRule, SegmentThreshold};
use winback_tree::{Group, Node, Segmentation};

use crate::error::Error;
use crate::model::Wave;
use crate::model::{Config, LapseSummary, SkippedCutoff, WinbackModel, FORMAT_VERSION, OLDEST_FORMAT_VERSION, ORDER_CHANCE};
use crate::order::OrderModel;

/// The lapse decision at the fitting date, as stored (the rule is in the config,
/// the date is `fitted_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LapseFile {
    /// The (global) threshold in days.
    pub threshold_days: i64,
    /// Per-segment thresholds.
    pub segments: Vec<SegmentThreshold>,
    /// The gap distribution.
    pub gaps: Option<GapDistribution>,
    /// Customers with a purchase before the date.
    pub customers_with_history: usize,
    /// Customers lapsed at the date.
    pub lapsed: usize,
}

/// The feature schema, as stored (its options are the config's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFile {
    /// The columns, in matrix order.
    pub features: Vec<Feature>,
    /// The cutoff whose history the vocabularies come from.
    pub learned_at: Day,
    /// Category vocabulary.
    pub categories: Vec<String>,
    /// Channel vocabulary.
    pub channels: Vec<String>,
    /// Region vocabulary.
    pub regions: Vec<String>,
    /// Kept levels of each categorical attribute.
    pub attribute_levels: BTreeMap<String, Vec<String>>,
    /// Purchases counted by order id (`true`) or by customer-day (`false`);
    /// absent in files written before it was recorded (then not checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchases_by_order: Option<bool>,
}

/// The segmentation, as stored (its features are the schema's, its parameters
/// the config's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentationFile {
    /// Tree nodes; node 0 is the root.
    pub nodes: Vec<Node>,
    /// Groups by id − 1.
    pub groups: Vec<Group>,
    /// Base rate of the training rows.
    pub base_rate: f64,
    /// Training rows.
    pub rows: usize,
    /// Why there are fewer groups than asked, or a size limit could not be met.
    pub note: Option<String>,
}

/// What a model file holds (format version 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// How the model was fitted (lapse rule, horizon, feature options, segmenter parameters).
    pub config: Config,
    /// The date it was fitted standing at.
    pub fitted_at: Day,
    /// The lapse decision at `fitted_at`.
    pub lapse: LapseFile,
    /// The feature schema.
    pub schema: SchemaFile,
    /// The training cutoffs used, latest first.
    pub training_cutoffs: Vec<Day>,
    /// Cutoffs left out, and why.
    pub skipped_cutoffs: Vec<SkippedCutoff>,
    /// Training rows.
    pub training_rows: usize,
    /// The tree and its groups.
    pub segmentation: SegmentationFile,
    /// Recorded contact waves.
    pub waves: Vec<Wave>,
    /// Share of customers sampled for training (a cluster fit above its row limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_sample: Option<f64>,
    /// The ordering regression, when it orders customers inside the groups
    /// (`config.priority_feature` = `order_chance`; format 5 on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_model: Option<OrderModel>,
}

impl From<WinbackModel> for ModelFile {
    fn from(m: WinbackModel) -> ModelFile {
        ModelFile {
            format_version: m.format_version,
            config: m.config,
            fitted_at: m.fitted_at,
            lapse: LapseFile {
                threshold_days: m.lapse.threshold_days,
                segments: m.lapse.segments,
                gaps: m.lapse.gaps,
                customers_with_history: m.lapse.customers_with_history,
                lapsed: m.lapse.lapsed,
            },
            schema: SchemaFile {
                features: m.schema.features,
                learned_at: m.schema.learned_at,
                categories: m.schema.categories,
                channels: m.schema.channels,
                regions: m.schema.regions,
                attribute_levels: m.schema.attribute_levels,
                purchases_by_order: m.schema.purchases_by_order,
            },
            training_cutoffs: m.training_cutoffs,
            skipped_cutoffs: m.skipped_cutoffs,
            training_rows: m.training_rows,
            segmentation: SegmentationFile {
                nodes: m.segmentation.nodes,
                groups: m.segmentation.groups,
                base_rate: m.segmentation.base_rate,
                rows: m.segmentation.rows,
                note: m.segmentation.note,
            },
            waves: m.waves,
            training_sample: m.training_sample,
            order_model: m.order_model,
        }
    }
}

/// Why a model file was refused: the field (a path such as
/// `segmentation.groups[2].probability`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFileError {
    /// The field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ModelFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.message)
    }
}

fn refuse<T>(field: impl Into<String>, message: impl Into<String>) -> Result<T, ModelFileError> {
    Err(ModelFileError { field: field.into(), message: message.into() })
}

/// The most customers a wave's count may name (a history indexes customers with 32 bits).
const MAX_WAVE_COUNT: u64 = u32::MAX as u64;

/// The dates a model may name: years 1 to 9999.
fn check_day(field: &str, d: Day) -> Result<(), ModelFileError> {
    if !(day_from_ymd(1, 1, 1)..=day_from_ymd(9999, 12, 31)).contains(&d) {
        return refuse(field, format!("day {d} is not a date of years 1 to 9999"));
    }
    Ok(())
}

/// The config field an invalid parameter belongs to.
fn config_field(e: &Error) -> &'static str {
    use winback_core::Error as C;
    match e {
        Error::Core(C::InvalidHorizon(_)) => "config.horizon_days",
        Error::Core(C::InvalidCutoffCount(_)) => "config.training_cutoffs",
        Error::Core(C::InvalidLapseDays(_) | C::InvalidQuantile(_)) => "config.lapse",
        Error::Core(C::InvalidMaxLevels(_)) => "config.features.max_levels",
        Error::InvalidWindow(_) => "config.features.windows",
        Error::InvalidMinHistory(_) => "config.min_history_days",
        Error::InvalidRecentWeight(_) => "config.recent_weight",
        Error::UnknownPriorityFeature { .. } => "config.priority_feature",
        Error::Tree(_) => "config.segmenter",
        _ => "config",
    }
}

impl TryFrom<ModelFile> for WinbackModel {
    type Error = ModelFileError;

    fn try_from(f: ModelFile) -> Result<WinbackModel, ModelFileError> {
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&f.format_version) {
            return refuse("format_version", format!("version {} (this build reads {OLDEST_FORMAT_VERSION} to {FORMAT_VERSION})", f.format_version));
        }
        let c = &f.config;
        if let Err(e) = c.validate() {
            return refuse(config_field(&e), e.to_string());
        }
        check_day("fitted_at", f.fitted_at)?;

        // The lapse decision.
        let l = &f.lapse;
        if !(1..=36_500).contains(&l.threshold_days) {
            return refuse("lapse.threshold_days", format!("{} is not a threshold of 1 to 36500 days", l.threshold_days));
        }
        if let LapseRule::Fixed { days } = c.lapse {
            if days != l.threshold_days {
                return refuse("lapse.threshold_days", format!("{} differs from the fixed rule's {days} days (config.lapse)", l.threshold_days));
            }
        }
        for (i, s) in l.segments.iter().enumerate() {
            if !(1..=36_500).contains(&s.threshold_days) {
                return refuse(format!("lapse.segments[{i}].threshold_days"), format!("{} is not a threshold of 1 to 36500 days", s.threshold_days));
            }
        }
        if let Some(g) = &l.gaps {
            let finite = g.mean.is_finite() && g.quantiles.iter().all(|(q, v)| q.is_finite() && v.is_finite());
            if !finite {
                return refuse("lapse.gaps", "mean and quantiles must be finite numbers");
            }
            if g.histogram.len() > 36_501 {
                return refuse("lapse.gaps.histogram", format!("{} bins: gaps are at most 36500 days", g.histogram.len()));
            }
        }
        if l.lapsed > l.customers_with_history {
            return refuse("lapse.lapsed", format!("{} lapsed of {} customers with history", l.lapsed, l.customers_with_history));
        }

        // The schema.
        let schema = FeatureSchema {
            features: f.schema.features,
            options: c.features.clone(),
            learned_at: f.schema.learned_at,
            categories: f.schema.categories,
            channels: f.schema.channels,
            regions: f.schema.regions,
            attribute_levels: f.schema.attribute_levels,
            purchases_by_order: f.schema.purchases_by_order,
        };
        check_day("schema.learned_at", schema.learned_at)?;
        if schema.learned_at >= f.fitted_at {
            return refuse("schema.learned_at", "must be before fitted_at (the schema is learned at a training cutoff)");
        }
        if let Err(e) = schema.validate() {
            return match e {
                // The schema's options are the config's feature options (stored once, there).
                winback_core::Error::InvalidSchema { field, message } => match field.strip_prefix("options.") {
                    Some(option) => refuse(format!("config.features.{option}"), message),
                    None => refuse(format!("schema.{field}"), message),
                },
                other => refuse("schema", other.to_string()),
            };
        }
        match (&f.order_model, c.priority_feature == ORDER_CHANCE) {
            (Some(m), true) => {
                if let Some(why) = m.problem(&schema) {
                    return refuse("order_model", why);
                }
            }
            (None, true) => return refuse("order_model", format!("missing: config.priority_feature is {ORDER_CHANCE:?}, which needs it")),
            (Some(_), false) => return refuse("order_model", format!("present, but config.priority_feature is {:?}, not {ORDER_CHANCE:?}", c.priority_feature)),
            (None, false) => {
                if schema.index(&c.priority_feature).is_none() {
                    return refuse("config.priority_feature", format!("{:?} is not a feature of the schema", c.priority_feature));
                }
            }
        }

        // Training cutoffs: at least one, before the fitting date, latest first.
        if f.training_cutoffs.is_empty() || f.training_cutoffs.len() > c.training_cutoffs {
            return refuse("training_cutoffs", format!("{} cutoffs where 1 to {} (config.training_cutoffs) are possible", f.training_cutoffs.len(), c.training_cutoffs));
        }
        for (i, &t) in f.training_cutoffs.iter().enumerate() {
            check_day(&format!("training_cutoffs[{i}]"), t)?;
            if t >= f.fitted_at || (i > 0 && t >= f.training_cutoffs[i - 1]) {
                return refuse(format!("training_cutoffs[{i}]"), "cutoffs are before fitted_at, latest first");
            }
        }
        for (i, s) in f.skipped_cutoffs.iter().enumerate() {
            check_day(&format!("skipped_cutoffs[{i}].cutoff"), s.cutoff)?;
        }

        // The tree and its groups.
        let params = match c.segmenter.check_ref() {
            Ok(p) => p.clone(),
            Err(e) => return refuse("config.segmenter", e.to_string()),
        };
        let mut segmentation = Segmentation {
            params,
            features: schema.features.clone(),
            nodes: f.segmentation.nodes,
            groups: f.segmentation.groups,
            base_rate: f.segmentation.base_rate,
            rows: f.segmentation.rows,
            note: f.segmentation.note,
        };
        if let Err(e) = segmentation.validate() {
            return match e {
                winback_tree::Error::InvalidSegmentation(m) => {
                    let (field, message) = m.split_once(": ").unwrap_or(("", &m));
                    refuse(format!("segmentation.{field}").trim_end_matches('.').to_string(), message)
                }
                other => refuse("segmentation", other.to_string()),
            };
        }
        // The sentences say the rules, as this build words them.
        segmentation.reword();
        // The training rows are counted twice in the file: once per model, once per tree.
        if f.training_rows != segmentation.rows {
            return refuse("training_rows", format!("{} where segmentation.rows counts {} (the tree's rows are the training rows)", f.training_rows, segmentation.rows));
        }

        if let Some(f) = f.training_sample.filter(|f| !(*f > 0.0 && *f < 1.0)) {
            return refuse("training_sample", format!("{f} is not a share in (0, 1)"));
        }

        // Waves: each recorded once, about groups of this model.
        let k = segmentation.groups.len();
        let mut seen = HashSet::new();
        for (i, w) in f.waves.iter().enumerate() {
            if !seen.insert(w.fingerprint.as_str()) {
                return refuse(format!("waves[{i}].fingerprint"), "the same outcomes recorded twice");
            }
            check_day(&format!("waves[{i}].at"), w.at)?;
            for (field, list) in [("outcomes", &w.outcomes), ("control", &w.control)] {
                let mut groups = HashSet::new();
                for (j, o) in list.iter().enumerate() {
                    if !(1..=k).contains(&o.group) || o.came_back > o.contacted {
                        return refuse(format!("waves[{i}].{field}[{j}]"), format!("group {} with {} of {} back is not an outcome of this model's {k} groups", o.group, o.came_back, o.contacted));
                    }
                    if o.contacted > MAX_WAVE_COUNT {
                        return refuse(format!("waves[{i}].{field}[{j}]"), format!("{} contacted: more customers than a history holds ({MAX_WAVE_COUNT})", o.contacted));
                    }
                    if !groups.insert(o.group) {
                        return refuse(format!("waves[{i}].{field}[{j}]"), format!("group {} appears twice in one wave", o.group));
                    }
                }
            }
            // (A wave of a control arm alone, which earlier builds recorded, is read: it measures nothing.)
            let contacted: u64 = w.outcomes.iter().map(|o| o.contacted).sum();
            if !w.contacted.is_empty() {
                if !w.contacted.windows(2).all(|p| p[0] < p[1]) {
                    return refuse(format!("waves[{i}].contacted"), "ids must be sorted and distinct");
                }
                if w.contacted.len() as u64 != contacted {
                    return refuse(format!("waves[{i}].contacted"), format!("{} customer ids where the outcomes count {contacted} contacted", w.contacted.len()));
                }
            }
            // Held-out ids (per-customer waves): sorted, distinct, as many as the control
            // arm counts, none of them contacted in the same wave.
            if !w.held_out.is_empty() {
                if w.contacted.is_empty() {
                    return refuse(format!("waves[{i}].held_out"), "held-out ids on a wave without contacted ids (only per-customer waves name their controls)");
                }
                let held: u64 = w.control.iter().map(|o| o.contacted).sum();
                if !w.held_out.windows(2).all(|p| p[0] < p[1]) {
                    return refuse(format!("waves[{i}].held_out"), "ids must be sorted and distinct");
                }
                if w.held_out.len() as u64 != held {
                    return refuse(format!("waves[{i}].held_out"), format!("{} customer ids where the control arm counts {held} held out", w.held_out.len()));
                }
                if let Some(id) = w.held_out.iter().find(|id| w.contacted.binary_search(id).is_ok()) {
                    return refuse(format!("waves[{i}].held_out"), format!("customer {id:?} is both contacted and held out"));
                }
            }
        }

        let lapse = LapseSummary {
            rule: c.lapse,
            cutoff: f.fitted_at,
            threshold_days: f.lapse.threshold_days,
            segments: f.lapse.segments,
            gaps: f.lapse.gaps,
            customers_with_history: f.lapse.customers_with_history,
            lapsed: f.lapse.lapsed,
        };
        Ok(WinbackModel {
            // An older file read is a model of this build: written back as the current version.
            format_version: FORMAT_VERSION,
            config: f.config,
            fitted_at: f.fitted_at,
            lapse_days: lapse.threshold_days,
            lapse,
            schema,
            training_cutoffs: f.training_cutoffs,
            skipped_cutoffs: f.skipped_cutoffs,
            training_rows: f.training_rows,
            segmentation,
            waves: f.waves,
            training_sample: f.training_sample,
            order_model: f.order_model,
        })
    }
}
