//! Fitting and scoring a history split by customer into shards, as a cluster
//! (Spark) holds it: every customer's lines in one shard, shards anywhere.
//!
//! Three passes, each over the shards independently, with exact messages
//! between them (a census has one entry per distinct net spend value and per
//! BG/NBD pattern, so it grows with the customers, but far slower than the lines):
//!
//! 1. [`ShardCensus::of`] on each shard: the counts every cutoff needs from all
//!    customers ([`Census`]); the driver merges them ([`ShardCensus::merge`]).
//! 2. [`FitPlan::new`] on the driver, from the merged census: the usable training
//!    cutoffs, the lapse thresholds, the feature schema (vocabularies).
//! 3. [`shard_rows`] on each shard: the stacked training rows (and the scoring
//!    list's features) with the plan's global facts; the driver gathers them and
//!    [`fit_rows`] grows the groups.
//!
//! Scoring needs pass 1 at the scoring date and then
//! [`WinbackModel::score_with`] per shard. Counts merge exactly and rows are put
//! in customer-id order before fitting, so the model equals the single-machine
//! [`WinbackModel::fit`] to the bit, whatever the shards and their order.
//!
//! ```
//! use winback::{Config, WinbackModel};
//! use winback::sharded::{fit_cutoffs, fit_rows, shard_rows, FitPlan, ShardCensus};
//! use winback::core::synthetic::{Synthetic, SyntheticConfig};
//! use winback::core::lapse::LapseRule;
//!
//! let synth = Synthetic::new(SyntheticConfig { customers: 2_000, seed: 7, ..Default::default() });
//! let at = synth.config().start + 600;
//! let config = Config { lapse: LapseRule::Fixed { days: 45 }, ..Default::default() };
//! // Two shards: the even and the odd customers.
//! let shards = [synth.history_of(|c| c % 2 == 0)?.0, synth.history_of(|c| c % 2 == 1)?.0];
//! let cutoffs = fit_cutoffs(at, &config)?;
//! let mut census = ShardCensus::default();
//! for h in &shards {
//!     census.merge(&ShardCensus::of(h, &cutoffs))?;
//! }
//! let plan = FitPlan::new(&config, at, &census)?;
//! let mut rows = shard_rows(&shards[1], &plan)?;
//! rows.append(shard_rows(&shards[0], &plan)?)?;
//! let model = fit_rows(&plan, rows)?;
//! // The same model as fitted on one machine from all the lines.
//! let whole = synth.history_of(|_| true)?.0;
//! assert_eq!(model, WinbackModel::fit(&whole, at, &config)?);
//! # Ok::<(), winback::Error>(())
//! ```

use ndarray::{concatenate, Array2, Axis};
use serde::{Deserialize, Serialize};
use linfa::ParamGuard;
use winback_core::census::Census;
use winback_core::date::{format_day, Day};
use winback_core::features::{build_features_with, FeatureMatrix, FeatureOptions, FeatureSchema};
use winback_core::labels::{labels, training_cutoffs};
use winback_core::lapse::LapseRule;
use winback_core::History;

use crate::error::{Error, Result};
use crate::model::{choose_cutoffs, customer_key, grow, Rows};
use crate::{Config, LapseSummary, SkippedCutoff, WinbackModel};

/// One shard's censuses at several cutoffs, and its first and last day of data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShardCensus {
    /// First day with a line (`None`: no lines).
    pub first_day: Option<Day>,
    /// Last day with a line.
    pub last_day: Option<Day>,
    /// One census per cutoff, in the order asked.
    pub censuses: Vec<Census>,
}

impl ShardCensus {
    /// The censuses of `history` at each of `cutoffs`.
    pub fn of(history: &History, cutoffs: &[Day]) -> ShardCensus {
        let nonempty = history.num_customers() > 0;
        let (first, last) = history.day_range();
        ShardCensus {
            first_day: nonempty.then_some(first),
            last_day: nonempty.then_some(last),
            censuses: cutoffs.iter().map(|&t| Census::of(history, t)).collect(),
        }
    }

    /// Adds another shard's censuses (the same cutoffs; an empty default on
    /// either side is fine). Each census of `other` is validated first
    /// ([`Census::validate`]): it may come from another machine.
    pub fn merge(&mut self, other: &ShardCensus) -> Result<()> {
        for c in &other.censuses {
            c.validate()?;
        }
        if other.censuses.is_empty() && other.first_day.is_none() {
            return Ok(());
        }
        if self.censuses.is_empty() && self.first_day.is_none() {
            self.censuses = other.censuses.iter().map(|c| Census { cutoff: c.cutoff, ..Default::default() }).collect();
        }
        let mine: Vec<Day> = self.censuses.iter().map(|c| c.cutoff).collect();
        let theirs: Vec<Day> = other.censuses.iter().map(|c| c.cutoff).collect();
        if mine != theirs {
            return Err(Error::ShardMismatch { message: format!("census cutoffs {} and {}", days(&mine), days(&theirs)) });
        }
        for (a, b) in self.censuses.iter_mut().zip(&other.censuses) {
            a.merge(b)?;
        }
        self.first_day = min_opt(self.first_day, other.first_day, Day::min);
        self.last_day = min_opt(self.last_day, other.last_day, Day::max);
        Ok(())
    }

    /// The census at `cutoff`.
    pub fn at(&self, cutoff: Day) -> Result<&Census> {
        self.censuses
            .iter()
            .find(|c| c.cutoff == cutoff)
            .ok_or_else(|| Error::ShardMismatch { message: format!("no census at {}", format_day(cutoff)) })
    }
}

fn min_opt(a: Option<Day>, b: Option<Day>, pick: fn(Day, Day) -> Day) -> Option<Day> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

fn days(v: &[Day]) -> String {
    format!("[{}]", v.iter().map(|&d| format_day(d)).collect::<Vec<_>>().join(", "))
}

/// The cutoffs whose censuses a fit standing at `at` needs: `at` itself, then the
/// candidate training cutoffs `at − H, at − 2H, …`.
pub fn fit_cutoffs(at: Day, config: &Config) -> Result<Vec<Day>> {
    let config = config.resolved()?;
    let mut v = vec![at];
    v.extend(training_cutoffs(at, config.horizon_days, config.training_cutoffs)?);
    Ok(v)
}

/// What the driver decides from the merged census before the shards build their
/// rows: everything a fit needs from all customers at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitPlan {
    /// The configuration, resolved (BG/NBD horizon; an `auto` priority is resolved
    /// when the groups are grown).
    pub config: Config,
    /// The date the fit stands at.
    pub at: Day,
    /// Training cutoffs used, latest first.
    pub usable: Vec<Day>,
    /// Candidate cutoffs left out, with the reason.
    pub skipped: Vec<SkippedCutoff>,
    /// The feature schema, learned at the latest usable cutoff.
    pub schema: FeatureSchema,
    /// The lapse decision at `at`.
    pub lapse: LapseSummary,
    /// Whether the scoring list's features are gathered to size the groups.
    pub scoring: bool,
    /// The merged censuses at the usable cutoffs and at `at`.
    pub census: ShardCensus,
    /// Share of customers whose rows are built ([`FitPlan::limit_rows`]); `None`: all.
    #[serde(default)]
    pub sample: Option<f64>,
}

impl FitPlan {
    /// The plan of a fit standing at `at`, from the merged census of every shard at
    /// [`fit_cutoffs`]. Lapse rules by segment and percentile features need every
    /// customer at once and are refused; customer attributes are not used (the
    /// schema is learned without them).
    pub fn new(config: &Config, at: Day, census: &ShardCensus) -> Result<FitPlan> {
        let config = config.resolved()?;
        if matches!(config.lapse, LapseRule::FromHistoryBySegment { .. }) {
            return Err(winback_core::Error::NotShardable { what: "a lapse rule by segment".into() }.into());
        }
        if config.features.percentiles {
            return Err(winback_core::Error::NotShardable { what: "percentile features".into() }.into());
        }
        let (Some(first), Some(last)) = (census.first_day, census.last_day) else {
            return Err(winback_core::Error::NoHistoryBefore(format_day(at)).into());
        };
        // Every cutoff of the fit must have its census (a missing one is a caller's error, not a skipped cutoff).
        for t in fit_cutoffs(at, &config)? {
            census.at(t)?;
        }
        let at_census = census.at(at)?;
        // The lapse count at `at`: its threshold sets the default minimum history
        // (a failure to learn it is reported after the cutoffs).
        let count_at = config.lapse.count_in(at_census);
        let lapse_days = count_at.as_ref().map_or(config.horizon_days, |c| c.threshold_days);
        let (usable, skipped) = choose_cutoffs(&config, at, lapse_days, first, last, |t| Ok(config.lapse.count_in(census.at(t)?)?.lapsed))?;
        let schema = FeatureSchema::learn_with(census.at(usable[0])?, None, &config.features)?;
        let count = count_at?;
        let lapse = LapseSummary {
            rule: config.lapse,
            cutoff: at,
            threshold_days: count.threshold_days,
            segments: Vec::new(),
            gaps: count.gaps,
            customers_with_history: usize::try_from(count.customers_with_history).unwrap_or(usize::MAX),
            lapsed: usize::try_from(count.lapsed).unwrap_or(usize::MAX),
        };
        let scoring = config.size_on_scoring_list && count.lapsed > 0;
        let mut keep = usable.clone();
        keep.push(at);
        let kept = ShardCensus {
            first_day: census.first_day,
            last_day: census.last_day,
            censuses: census.censuses.iter().filter(|c| keep.contains(&c.cutoff)).cloned().collect(),
        };
        Ok(FitPlan { config, at, usable, skipped, schema, lapse, scoring, census: kept, sample: None })
    }
}

impl FitPlan {
    /// Rows the shards will build: the lapsed customers at every usable cutoff,
    /// and at `at` when the scoring list sizes the groups (counted from the census).
    pub fn expected_rows(&self) -> Result<u64> {
        let mut n = 0;
        for &t in &self.usable {
            n += self.config.lapse.count_in(self.census.at(t)?)?.lapsed;
        }
        if self.scoring {
            n += self.lapse.lapsed as u64;
        }
        Ok(n)
    }

    /// Caps the rows gathered on the driver: above `max_rows`, a seeded sample of
    /// customers (a hash of the id and the model's seed, so the same customers
    /// on every run, whole customers with all their cutoffs) builds rows, with the
    /// share `max_rows ÷ expected rows`; the fitted model records the share
    /// (`WinbackModel::training_sample`). Returns the share (1 = no sampling).
    pub fn limit_rows(&mut self, max_rows: u64) -> Result<f64> {
        let expected = self.expected_rows()?;
        self.sample = (max_rows > 0 && expected > max_rows).then(|| max_rows as f64 / expected as f64);
        Ok(self.sample.unwrap_or(1.0))
    }

    /// Whether a customer's rows are built under the plan's sample.
    pub fn in_sample(&self, customer: &str) -> bool {
        self.sample.is_none_or(|f| (winback_stats::hash_str(self.config.segmenter.check_ref().map_or(0, |p| p.seed()) ^ 0x5a3c_1e5d, customer) >> 11) as f64 / (1u64 << 53) as f64 <= f)
    }
}

/// Rows built on one shard: the lapsed customers at each training cutoff with
/// their features and outcome, and (cutoff = the fit's date) the scoring list's
/// features, which have no outcome.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShardRows {
    /// The cutoff of each row.
    pub cutoff: Vec<Day>,
    /// The customer id of each row.
    pub customer_id: Vec<String>,
    /// Whether the customer bought within the horizon after the cutoff.
    pub came_back: Vec<bool>,
    /// What they spent in that window.
    pub spend: Vec<f64>,
    /// Features, one column per schema feature.
    pub x: Array2<f64>,
}

impl ShardRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.cutoff.len()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.cutoff.is_empty()
    }
    /// Adds another shard's rows.
    pub fn append(&mut self, other: ShardRows) -> Result<()> {
        if other.is_empty() {
            return Ok(());
        }
        if self.is_empty() {
            *self = other;
            return Ok(());
        }
        if self.x.ncols() != other.x.ncols() {
            return Err(Error::ShardMismatch { message: format!("rows with {} and {} features", self.x.ncols(), other.x.ncols()) });
        }
        self.cutoff.extend(other.cutoff);
        self.customer_id.extend(other.customer_id);
        self.came_back.extend(other.came_back);
        self.spend.extend(other.spend);
        self.x = concatenate(Axis(0), &[self.x.view(), other.x.view()]).map_err(|e| Error::ShardMismatch { message: e.to_string() })?;
        Ok(())
    }
}

/// A shard's rows for the fit `plan` describes (pass 3).
pub fn shard_rows(history: &History, plan: &FitPlan) -> Result<ShardRows> {
    let h = plan.config.horizon_days;
    let mut rows = ShardRows { x: Array2::zeros((0, plan.schema.features.len())), ..Default::default() };
    let mut cutoffs: Vec<(Day, bool)> = plan.usable.iter().map(|&t| (t, true)).collect();
    if plan.scoring {
        cutoffs.push((plan.at, false));
    }
    for (t, labelled) in cutoffs {
        let census = plan.census.at(t)?;
        let mut lapse = plan.config.lapse.resolve_with(history, t, census)?;
        if plan.sample.is_some() {
            lapse.lapsed.retain(|&c| plan.in_sample(&history.customer_ids()[c]));
        }
        let fm = build_features_with(history, &plan.schema, t, &lapse.lapsed, census)?;
        let n = lapse.lapsed.len();
        if labelled {
            let lb = labels(history, t, h, &lapse.lapsed)?;
            rows.came_back.extend(lb.repurchased);
            rows.spend.extend(lb.spend);
        } else {
            rows.came_back.extend(std::iter::repeat_n(false, n));
            rows.spend.extend(std::iter::repeat_n(0.0, n));
        }
        rows.cutoff.extend(std::iter::repeat_n(t, n));
        rows.customer_id.extend(lapse.lapsed.iter().map(|&c| history.customer_ids()[c].clone()));
        rows.x = concatenate(Axis(0), &[rows.x.view(), fm.x.view()]).map_err(|e| Error::ShardMismatch { message: e.to_string() })?;
    }
    Ok(rows)
}

/// Fits the model from every shard's rows, gathered in any order: rows are put
/// in cutoff order (latest first) and customer-id order, as the single-machine
/// fit has them. A customer with two rows at one cutoff (its lines split over
/// two shards) is refused.
pub fn fit_rows(plan: &FitPlan, rows: ShardRows) -> Result<WinbackModel> {
    let n = rows.len();
    if rows.customer_id.len() != n || rows.came_back.len() != n || rows.spend.len() != n || rows.x.nrows() != n {
        return Err(Error::ShardMismatch { message: "row columns of different lengths".into() });
    }
    if rows.x.ncols() != plan.schema.features.len() {
        return Err(Error::ShardMismatch { message: format!("rows with {} features, the plan's schema has {}", rows.x.ncols(), plan.schema.features.len()) });
    }
    let rank = |t: Day| plan.usable.iter().position(|&u| u == t).unwrap_or(plan.usable.len());
    if let Some(&t) = rows.cutoff.iter().find(|&&t| t != plan.at && !plan.usable.contains(&t)) {
        return Err(Error::ShardMismatch { message: format!("a row at {}, not a cutoff of the plan", format_day(t)) });
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| rank(rows.cutoff[a]).cmp(&rank(rows.cutoff[b])).then_with(|| rows.customer_id[a].cmp(&rows.customer_id[b])));
    if let Some(w) = order.windows(2).find(|w| rows.cutoff[w[0]] == rows.cutoff[w[1]] && rows.customer_id[w[0]] == rows.customer_id[w[1]]) {
        return Err(Error::ShardMismatch {
            message: format!(
                "customer {:?} has two rows at {}: each customer's lines must all be in one shard",
                rows.customer_id[w[0]],
                format_day(rows.cutoff[w[0]])
            ),
        });
    }
    let split = order.iter().position(|&i| rows.cutoff[i] == plan.at).unwrap_or(n);
    let (train, score) = order.split_at(split);
    let x = rows.x.select(Axis(0), train);
    let y: Vec<bool> = train.iter().map(|&i| rows.came_back[i]).collect();
    let spend: Vec<f64> = train.iter().map(|&i| rows.spend[i]).collect();
    let keys: Vec<usize> = train.iter().map(|&i| customer_key(&rows.customer_id[i])).collect();
    let cutoff: Vec<Day> = train.iter().map(|&i| rows.cutoff[i]).collect();
    let scoring = (!score.is_empty()).then(|| rows.x.select(Axis(0), score));
    let r = Rows { x: x.view(), y: &y, spend: &spend, keys: &keys, cutoff: &cutoff };
    let mut model =
        grow(&plan.config, plan.at, plan.usable.clone(), plan.skipped.clone(), plan.schema.clone(), plan.lapse.clone(), &r, scoring.as_ref().map(|m| m.view()))?;
    model.training_sample = plan.sample;
    Ok(model)
}

/// [`crate::feature_table`] for a shard: the schema is learned from `census` (the
/// merged census at `at`), the rows are this shard's customers.
pub fn feature_table_with(history: &History, at: Day, rule: &LapseRule, who: crate::Who, options: &FeatureOptions, census: &Census) -> Result<FeatureMatrix> {
    let rows: Vec<usize> = match who {
        crate::Who::Lapsed => rule.resolve_with(history, at, census)?.lapsed,
        crate::Who::All => history.with_purchase_before(at),
    };
    let schema = FeatureSchema::learn_with(census, None, options)?;
    Ok(build_features_with(history, &schema, at, &rows, census)?)
}
