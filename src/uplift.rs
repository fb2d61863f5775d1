//! Uplift groups from a past campaign with a randomized control group: who does
//! a contact *move*, not only who comes back.
//!
//! A campaign table has one row per customer: an id, the arm (contacted or
//! control), the outcome (came back / visited / bought within the horizon, 0/1)
//! and the traits known before the campaign. [`UpliftModel::fit`] grows an
//! uplift tree on the traits ([`winback_tree::uplift`]): about ten readable
//! groups, each with the honest effect of a contact (contact rate − control
//! rate) and its interval. [`UpliftModel::evaluate`] measures it on other
//! customers of the campaign: the effect per group, the Qini curve, its
//! coefficient and the uplift in the top 30%.
//!
//! Every row is used or counted: rows whose arm is neither level, or whose arm
//! or outcome is missing, are counted in the [`UpliftReport`]; an outcome that is
//! not 0/1 is refused with the customer, column and value.
//!
//! ```
//! use winback::core::attributes::Attributes;
//! use winback::core::read::CsvOptions;
//! use winback::uplift::{UpliftModel, UpliftOptions};
//! use winback::tree::{MinGroupSize, Segmenter};
//!
//! // 4,000 customers; contact moves those with recency 1 (+25 points), not recency 9.
//! let mut csv = String::from("id,arm,visit,recency\n");
//! for i in 0..4000 {
//!     let arm = if i % 2 == 0 { "mail" } else { "none" };
//!     let recency = if (i / 2) % 2 == 0 { 1 } else { 9 };
//!     let base = (i / 4) % 10 < 2;
//!     let moved = arm == "mail" && recency == 1 && (i / 4) % 8 >= 2 && (i / 4) % 8 < 4;
//!     csv += &format!("{i},{arm},{},{recency}\n", u8::from(base || moved));
//! }
//! let table = Attributes::read_csv_from(csv.as_bytes(), "campaign.csv", "id", &CsvOptions::default())?;
//! let options = UpliftOptions {
//!     segmenter: Segmenter::params().groups(2).min_group_size(MinGroupSize::Rows(200)),
//!     ..UpliftOptions::new("arm", "mail", "none", "visit")
//! };
//! let model = UpliftModel::fit(&table, &options)?;
//! assert_eq!(model.tree.groups[0].sentence, "recency at most 4");
//! assert!(model.tree.groups[0].effect_low > 0.1);
//! assert_eq!(model.report.contacted + model.report.control, 4000);
//! let eval = model.evaluate(&table)?;
//! assert!(eval.qini_coefficient > 0.0);
//! let again = UpliftModel::from_json(&model.to_json()?, "uplift.json")?;
//! assert_eq!(again, model);
//! # Ok::<(), winback::Error>(())
//! ```

use linfa::ParamGuard;
use serde::{Deserialize, Serialize};
use winback_core::attributes::{AttrColumn, AttrValues, Attributes, AttributesReport};
use winback_core::date::Day;
use winback_core::traits::TraitSchema;
use winback_rank::{Effect, Outcome};
use winback_stats::metrics::{qini_coefficient, qini_curve, uplift_at};
use winback_tree::{Segmenter, Uplift, UpliftData};

use crate::error::{Error, Result};

/// Format version of an uplift model file.
pub const UPLIFT_FORMAT_VERSION: u32 = 1;

/// How to read a campaign table and grow the tree.
#[derive(Debug, Clone, PartialEq)]
pub struct UpliftOptions {
    /// The arm column.
    pub arm_col: String,
    /// Its value for contacted customers.
    pub treatment: String,
    /// Its value for the control group.
    pub control: String,
    /// The outcome column: 0/1 (or true/false, yes/no).
    pub outcome_col: String,
    /// Other columns that are not traits known before the campaign (other
    /// outcomes, say): left out of the features.
    pub exclude: Vec<String>,
    /// Tree parameters (groups, minimum size, seed, honest fraction, interval level...).
    pub segmenter: Segmenter,
    /// Most levels kept per categorical trait.
    pub max_levels: usize,
    /// The campaign's date, from which date traits are measured (none: date traits unused).
    pub at: Option<Day>,
    /// Kinds and units of numeric traits that are winback features (from
    /// [`with_history_features`]), so that their rules read as in the repurchase
    /// groups ("last purchase 31–90 days ago").
    pub feature_kinds: Vec<winback_core::features::Feature>,
}

impl UpliftOptions {
    /// The tree's size and seed as the CLI and Python give them: `groups` groups,
    /// each at least `min_group_share` of the rows (and 50 rows), honest split `seed`.
    pub fn tree(mut self, groups: usize, min_group_share: f64, seed: u64) -> Self {
        self.segmenter = Segmenter::params().groups(groups).min_group_size(winback_tree::MinGroupSize::ShareAtLeast { share: min_group_share, rows: 50 }).seed(seed);
        self
    }

    /// Options with the default tree (10 groups, each at least 2% of the rows, 30% held out).
    pub fn new(arm_col: &str, treatment: &str, control: &str, outcome_col: &str) -> Self {
        UpliftOptions {
            arm_col: arm_col.into(),
            treatment: treatment.into(),
            control: control.into(),
            outcome_col: outcome_col.into(),
            exclude: Vec::new(),
            segmenter: Segmenter::default(),
            max_levels: 8,
            at: None,
            feature_kinds: Vec::new(),
        }
    }
}

/// What reading a campaign table did with its rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpliftReport {
    /// The table's own report (rows read, empty and repeated ids).
    pub table: AttributesReport,
    /// Rows used.
    pub rows: usize,
    /// Of which contacted.
    pub contacted: usize,
    /// Of which in the control group.
    pub control: usize,
    /// Rows left out: arm is another value (another treatment, say).
    pub other_arm: usize,
    /// Rows left out: arm missing.
    pub missing_arm: usize,
    /// Rows left out: outcome missing.
    pub missing_outcome: usize,
    /// Columns not used as traits (the arm, the outcome, excluded columns, date
    /// columns without a campaign date).
    pub unused_columns: Vec<String>,
}

/// A fitted uplift model: the trait schema, the tree and what the fit read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpliftModel {
    /// [`UPLIFT_FORMAT_VERSION`].
    pub format_version: u32,
    /// The arm column, its treatment and control values, the outcome column.
    pub arm_col: String,
    /// Treatment value.
    pub treatment: String,
    /// Control value.
    pub control: String,
    /// Outcome column.
    pub outcome_col: String,
    /// The trait features.
    pub schema: TraitSchema,
    /// The tree and its groups.
    pub tree: Uplift,
    /// The fit's row counts.
    pub report: UpliftReport,
    /// Columns left out of the traits at fit (outcomes of the campaign, say), so
    /// that a refit of a loaded model leaves them out too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// A customer's uplift group and its effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpliftScore {
    /// Customer id.
    pub customer_id: String,
    /// Group (1 = largest effect).
    pub group: usize,
    /// The group's honest effect of a contact.
    pub effect: f64,
    /// Lower end of its interval.
    pub effect_low: f64,
    /// Upper end.
    pub effect_high: f64,
}

/// An uplift model measured on a campaign table (other customers than the fit's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpliftEvaluation {
    /// Rows measured, contacted and control.
    pub report: UpliftReport,
    /// Each group's observed effect on these rows (Beta(1, 1) priors, interval at
    /// the model's level).
    pub groups: Vec<Effect>,
    /// The Qini curve of the group effects: (share of the list, win-backs caused
    /// among its contacted customers ÷ list size; see [`winback_stats::metrics::qini_curve`]).
    pub qini: Vec<(f64, f64)>,
    /// Area between the curve and the random line.
    pub qini_coefficient: f64,
    /// Effect among the top 30% of the list.
    pub uplift_at_30: Option<f64>,
}

/// A campaign table split into traits, arms and outcomes (rows left out dropped).
struct Campaign {
    traits: Attributes,
    treated: Vec<bool>,
    y: Vec<bool>,
    report: UpliftReport,
}

fn value_text(values: &AttrValues, r: usize) -> Option<String> {
    match values {
        AttrValues::Numeric(v) => (!v[r].is_nan()).then(|| format!("{}", v[r])),
        AttrValues::Date(v) => v[r].map(winback_core::date::format_day),
        AttrValues::Categorical { levels, codes } => (codes[r] != u32::MAX).then(|| levels[codes[r] as usize].clone()),
    }
}

fn column<'a>(table: &'a Attributes, name: &str) -> Result<&'a AttrColumn> {
    table.column(name).ok_or_else(|| Error::CampaignColumn {
        column: name.into(),
        message: format!("no such column (columns: {})", table.columns().iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")),
    })
}

/// A campaign or scoring table must have one row per customer: a repeated or
/// empty id would be dropped by the table (its first row kept), so it is refused.
fn one_row_per_customer(table: &Attributes) -> Result<()> {
    let r = table.report();
    if r.duplicate_keys > 0 || r.missing_key > 0 {
        return Err(Error::CampaignColumn {
            column: "(customer id)".into(),
            message: format!("{} repeated and {} empty customer ids: one row per customer is needed", r.duplicate_keys, r.missing_key),
        });
    }
    Ok(())
}

fn campaign(table: &Attributes, o: &UpliftOptions, schema: Option<&TraitSchema>) -> Result<Campaign> {
    one_row_per_customer(table)?;
    if let Some(x) = o.exclude.iter().find(|x| table.column(x).is_none()) {
        return Err(Error::CampaignColumn { column: x.clone(), message: "excluded, but the table has no such column (a misspelt name would leave an outcome among the traits)".into() });
    }
    if o.treatment == o.control {
        return Err(Error::CampaignColumn { column: o.arm_col.clone(), message: format!("treatment and control are the same value {:?}", o.treatment) });
    }
    let arm = column(table, &o.arm_col)?;
    let outcome = column(table, &o.outcome_col)?;
    let mut report = UpliftReport { table: table.report().clone(), ..Default::default() };
    let (mut keep, mut treated, mut y) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen_arms = std::collections::BTreeSet::new();
    for r in 0..table.len() {
        let a = value_text(&arm.values, r);
        let is_t = match a.as_deref() {
            None => {
                report.missing_arm += 1;
                continue;
            }
            Some(v) if v == o.treatment => true,
            Some(v) if v == o.control => false,
            Some(v) => {
                seen_arms.insert(v.to_string());
                report.other_arm += 1;
                continue;
            }
        };
        let Some(v) = value_text(&outcome.values, r) else {
            report.missing_outcome += 1;
            continue;
        };
        let back = match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" => false,
            _ => return Err(Error::BadCampaignValue { customer: table.ids()[r].clone(), column: o.outcome_col.clone(), value: v, message: "an outcome is 0 or 1 (true/false, yes/no)".into() }),
        };
        keep.push(r);
        treated.push(is_t);
        y.push(back);
    }
    let contacted = treated.iter().filter(|&&t| t).count();
    for (level, n) in [(&o.treatment, contacted), (&o.control, treated.len() - contacted)] {
        if n == 0 {
            return Err(Error::CampaignColumn {
                column: o.arm_col.clone(),
                message: format!("no row with arm {level:?} and an outcome (other values seen: {:?})", seen_arms.iter().take(10).collect::<Vec<_>>()),
            });
        }
    }
    // Rows in id order, whatever order the table came in: the same table gives the same model.
    let mut order: Vec<usize> = (0..keep.len()).collect();
    order.sort_by(|&a, &b| table.ids()[keep[a]].cmp(&table.ids()[keep[b]]));
    let keep: Vec<usize> = order.iter().map(|&i| keep[i]).collect();
    let treated: Vec<bool> = order.iter().map(|&i| treated[i]).collect();
    let y: Vec<bool> = order.iter().map(|&i| y[i]).collect();
    report.rows = keep.len();
    report.contacted = contacted;
    report.control = keep.len() - contacted;
    let drop = |name: &str| name == o.arm_col || name == o.outcome_col || o.exclude.iter().any(|e| e == name);
    let columns: Vec<AttrColumn> = table
        .columns()
        .iter()
        .filter(|c| {
            let used = !drop(&c.name) && (o.at.is_some() || !matches!(c.values, AttrValues::Date(_))) && schema.is_none_or(|s| s.levels.contains_key(&c.name) || s.features.iter().any(|f| f.source.attribute_column() == Some(c.name.as_str())));
            if !used {
                report.unused_columns.push(c.name.clone());
            }
            used
        })
        .map(|c| AttrColumn {
            name: c.name.clone(),
            values: match &c.values {
                AttrValues::Numeric(v) => AttrValues::Numeric(keep.iter().map(|&r| v[r]).collect()),
                AttrValues::Date(v) => AttrValues::Date(keep.iter().map(|&r| v[r]).collect()),
                AttrValues::Categorical { levels, codes } => AttrValues::Categorical { levels: levels.clone(), codes: keep.iter().map(|&r| codes[r]).collect() },
            },
        })
        .collect();
    let ids = keep.iter().map(|&r| table.ids()[r].clone()).collect();
    Ok(Campaign { traits: Attributes::from_columns(ids, columns)?, treated, y, report })
}

/// The campaign table with winback's own features of each customer at `at` (the
/// wave's scoring date) added as trait columns, computed from the purchase
/// history strictly before `at`: recency, frequency, spend, gaps, channels,
/// BG/NBD scores... A customer without a purchase before `at` keeps its row, with
/// those columns missing (the tree sees a `_missing` indicator). A table column
/// that has a feature's name is refused (ambiguous).
///
/// So a wave planned with a control group (`customer_id,arm,came_back` outcomes)
/// grows uplift groups on the same traits the repurchase groups use.
/// Returns the table and the features added (for [`UpliftOptions::feature_kinds`]).
pub fn with_history_features(
    table: &Attributes,
    history: &winback_core::History,
    at: Day,
    options: &winback_core::features::FeatureOptions,
) -> Result<(Attributes, Vec<winback_core::features::Feature>)> {
    history_columns(table, history, at, options, |_| true)
}

/// [`with_history_features`] adding only the features whose names `keep` accepts.
fn history_columns(
    table: &Attributes,
    history: &winback_core::History,
    at: Day,
    options: &winback_core::features::FeatureOptions,
    keep: impl Fn(&str) -> bool,
) -> Result<(Attributes, Vec<winback_core::features::Feature>)> {
    let mut schema = winback_core::features::FeatureSchema::learn(history, at, options)?;
    schema.features.retain(|f| keep(&f.name));
    let rows: Vec<Option<usize>> = table.ids().iter().map(|id| history.customer_index(id).filter(|&c| history.last_purchase_before(c, at).is_some())).collect();
    let known: Vec<usize> = rows.iter().flatten().copied().collect();
    let x = winback_core::features::build_features(history, &schema, at, &known)?;
    let mut columns: Vec<AttrColumn> = table.columns().to_vec();
    for (j, f) in schema.features.iter().enumerate() {
        if columns.iter().any(|c| c.name == f.name) {
            return Err(Error::CampaignColumn { column: f.name.clone(), message: "the table has a column with the name of a history feature".into() });
        }
        let mut k = 0;
        let values = rows
            .iter()
            .map(|r| match r {
                Some(_) => {
                    k += 1;
                    x.x[(k - 1, j)]
                }
                None => f64::NAN,
            })
            .collect();
        columns.push(AttrColumn { name: f.name.clone(), values: AttrValues::Numeric(values) });
    }
    Ok((table.with_columns(columns)?, schema.features))
}


impl UpliftModel {
    /// Fits uplift groups on a campaign table (see the module docs).
    pub fn fit(table: &Attributes, options: &UpliftOptions) -> Result<UpliftModel> {
        let params = options.segmenter.check_ref()?;
        let c = campaign(table, options, None)?;
        let mut schema = TraitSchema::learn(&c.traits, options.max_levels, options.at)?;
        for f in &mut schema.features {
            if let Some(k) = options.feature_kinds.iter().find(|k| k.name == f.name && matches!(f.source, winback_core::features::Source::AttrNumber(_))) {
                f.kind = k.kind.clone();
                f.unit = k.unit.clone();
            }
        }
        if schema.features.is_empty() {
            return Err(Error::CampaignColumn { column: options.outcome_col.clone(), message: "the table has no trait column besides the arm and the outcome".into() });
        }
        let x = schema.build(&c.traits)?;
        // The honest split hashes the customer id: the same customers are held out whatever the row order.
        let keys: Vec<usize> = c.traits.ids().iter().map(|id| winback_stats::hash_str(0, id) as usize).collect();
        let tree = params.fit_uplift(&UpliftData { x: x.view(), treated: &c.treated, y: &c.y, customer: Some(&keys), features: &schema.features })?;
        Ok(UpliftModel {
            format_version: UPLIFT_FORMAT_VERSION,
            arm_col: options.arm_col.clone(),
            treatment: options.treatment.clone(),
            control: options.control.clone(),
            outcome_col: options.outcome_col.clone(),
            schema,
            tree,
            report: c.report,
            exclude: options.exclude.clone(),
        })
    }

    /// The group and effect of every customer of a trait table (the arm and
    /// outcome columns may be absent: a list not yet contacted).
    pub fn score(&self, table: &Attributes) -> Result<Vec<UpliftScore>> {
        one_row_per_customer(table)?;
        let x = self.schema.build(table)?;
        let groups = self.tree.assign(x.view())?;
        groups
            .into_iter()
            .zip(table.ids())
            .map(|(g, id)| {
                let gr = self.group(g)?;
                Ok(UpliftScore { customer_id: id.clone(), group: g, effect: gr.effect, effect_low: gr.effect_low, effect_high: gr.effect_high })
            })
            .collect()
    }

    /// A group by id, or an error naming it (a model edited in memory).
    fn group(&self, g: usize) -> Result<&winback_tree::UpliftGroup> {
        self.tree.group(g).ok_or_else(|| Error::Tree(winback_tree::Error::InvalidSegmentation(format!("group {g} is not a group of this tree"))))
    }

    /// The next wave's plan on the uplift groups: `scores` ([`UpliftModel::score`]
    /// of the list to contact) are planned by the **effect** of contact
    /// (`Objective::Incremental` whatever `params.objective` says): groups in
    /// decreasing effect, win-backs counted as those the contact causes
    /// (contacts × effect), groups whose effect interval lies wholly below
    /// `min_effect` (default 0) left out, and with a cost and a value per win-back
    /// (`value_per_winback`; an uplift model knows no spend) money-losing groups
    /// too (a cost without a value is refused: [`Error::UpliftCostWithoutValue`]).
    /// A group whose held-out customers lack one arm has no measured effect and is
    /// left out; with no group measured, [`Error::UpliftNoMeasuredEffect`]. `control_share` keeps a holdout in every group, as in
    /// [`crate::WinbackModel::plan`]. Returns the plan and the contact list.
    pub fn plan(&self, scores: &[UpliftScore], params: &winback_rank::PlanParams) -> Result<(winback_rank::Plan, Vec<winback_rank::ContactRow>)> {
        let params = winback_rank::PlanParams { objective: winback_rank::Objective::Incremental, ..params.clone() };
        params.validate()?;
        if params.cost_per_contact > 0.0 && params.value_per_winback.is_none() {
            return Err(Error::UpliftCostWithoutValue);
        }
        // Customer-id order whatever order the list came in; a customer listed twice is refused.
        let mut sorted = scores.to_vec();
        sorted.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        if let Some(w) = sorted.windows(2).find(|w| w[0].customer_id == w[1].customer_id) {
            return Err(Error::CampaignColumn { column: "(customer id)".into(), message: format!("customer {:?} is listed twice", w[0].customer_id) });
        }
        let scores = &sorted[..];
        let mut size = std::collections::BTreeMap::<usize, usize>::new();
        for s in scores {
            self.group(s.group)?;
            *size.entry(s.group).or_default() += 1;
        }
        let level = self.tree.params.interval_level();
        let candidates: Vec<winback_rank::Candidate> = size
            .iter()
            .map(|(&g, &n)| {
                let gr = &self.tree.groups[g - 1];
                let (low, high) = gr.contact_posterior.interval(level);
                let effect = Effect {
                    group: g,
                    contacted: gr.honest_contacted as u64,
                    contacted_came_back: gr.honest_contacted_came_back as u64,
                    control: gr.honest_control as u64,
                    control_came_back: gr.honest_control_came_back as u64,
                    contact_rate: gr.contact_rate,
                    control_rate: gr.control_rate,
                    effect: gr.effect,
                    effect_low: gr.effect_low,
                    effect_high: gr.effect_high,
                };
                // An arm with no held-out customer measured nothing: the group's rate
                // there is the prior alone, and the plan treats the effect as unknown.
                let measured = gr.honest_contacted > 0 && gr.honest_control > 0;
                winback_rank::Candidate {
                    posterior: Some(gr.contact_posterior),
                    label: gr.sentence.clone(),
                    effect: measured.then_some(effect),
                    ..winback_rank::Candidate::new(g, n, gr.contact_rate, low, high, 0.0)
                }
            })
            .collect();
        // The planner's own advice (record a wave with a control group) is the winback
        // model's; an uplift model measures its effects when fitted.
        if !candidates.is_empty() && candidates.iter().all(|c| c.effect.is_none()) {
            return Err(Error::UpliftNoMeasuredEffect);
        }
        let customers: Vec<winback_rank::CustomerScore> = scores.iter().map(|s| winback_rank::CustomerScore { customer: s.customer_id.clone(), group: s.group, score: 0.0 }).collect();
        // The control share can hold out every measured group whole: the same answer.
        crate::model::plan_with_controls(candidates, customers, &params, &|_| false).map_err(|e| match e {
            Error::Rank(winback_rank::Error::NoEffectMeasured) => Error::UpliftNoMeasuredEffect,
            other => other,
        })
    }

    /// [`UpliftModel::evaluate`] on a table that may lack the history's features: a
    /// model grown on a table with them ([`with_history_features`], CLI `uplift
    /// --transactions`) gets them added at the model's own date, as the fit did.
    /// Only the columns the model reads and the table lacks are added, so a history
    /// carrying other columns (customer attributes of the same name as the table's,
    /// say) is not a clash.
    pub fn evaluate_with_history(&self, table: &Attributes, history: &winback_core::History) -> Result<UpliftEvaluation> {
        let lacking: Vec<&str> = self.schema.features.iter().filter_map(|f| f.source.attribute_column()).filter(|n| table.column(n).is_none()).collect();
        match self.schema.at {
            Some(at) if !lacking.is_empty() => self.evaluate(&history_columns(table, history, at, &Default::default(), |n| lacking.contains(&n))?.0),
            _ => self.evaluate(table),
        }
    }

    /// Measures the groups on a campaign table with the same columns (customers
    /// the fit did not see): effect per group, Qini curve and coefficient, uplift
    /// in the top 30%.
    pub fn evaluate(&self, table: &Attributes) -> Result<UpliftEvaluation> {
        let options = UpliftOptions { at: self.schema.at, ..UpliftOptions::new(&self.arm_col, &self.treatment, &self.control, &self.outcome_col) };
        let c = campaign(table, &options, Some(&self.schema))?;
        let x = self.schema.build(&c.traits)?;
        let groups = self.tree.assign(x.view())?;
        let score: Vec<f64> = groups.iter().map(|&g| self.group(g).map(|x| x.effect)).collect::<Result<_>>()?;
        let k = self.tree.groups.len();
        let (mut contact, mut control) = (vec![[0u64; 2]; k], vec![[0u64; 2]; k]);
        for ((&g, &t), &back) in groups.iter().zip(&c.treated).zip(&c.y) {
            let arm = if t { &mut contact[g - 1] } else { &mut control[g - 1] };
            arm[0] += 1;
            arm[1] += u64::from(back);
        }
        let list = |v: &[[u64; 2]]| v.iter().enumerate().map(|(i, a)| Outcome { group: i + 1, contacted: a[0], came_back: a[1] }).collect::<Vec<_>>();
        let effects = winback_rank::effects(&list(&contact), &list(&control), self.tree.params.interval_level())?;
        Ok(UpliftEvaluation {
            report: c.report,
            groups: effects,
            qini: qini_curve(&score, &c.treated, &c.y),
            qini_coefficient: qini_coefficient(&score, &c.treated, &c.y),
            uplift_at_30: uplift_at(&score, &c.treated, &c.y, 0.3),
        })
    }

    /// The model as JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::BadModelFile { path: "<uplift model>".into(), message: e.to_string() })
    }

    /// Writes the model file atomically, as [`crate::WinbackModel::save`] does.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        crate::model::save_atomically(path.as_ref(), self.to_json()?.as_bytes())
    }

    /// Reads and checks a model written by [`UpliftModel::to_json`] (`path` names
    /// it in errors): an untrusted file is validated whole.
    pub fn from_json(s: &str, path: &str) -> Result<UpliftModel> {
        let mut m: UpliftModel = serde_json::from_str(s).map_err(|e| Error::BadModelFile { path: path.into(), message: e.to_string() })?;
        let invalid = |field: &str, message: String| Error::InvalidModel { path: path.into(), field: field.into(), message };
        if m.format_version != UPLIFT_FORMAT_VERSION {
            return Err(Error::UnsupportedVersion { path: path.into(), found: u64::from(m.format_version), supported: UPLIFT_FORMAT_VERSION, oldest: UPLIFT_FORMAT_VERSION });
        }
        use winback_core::features::Source;
        let mut names = std::collections::BTreeSet::new();
        for f in &m.schema.features {
            let bad = match &f.source {
                Source::AttrNumber(_) | Source::AttrMissing(_) => None,
                Source::AttrDays(_) if m.schema.at.is_none() => Some("a date trait needs the schema's `at`".to_string()),
                Source::AttrDays(_) => None,
                Source::AttrLevel(n, Some(i)) if m.schema.levels.get(n).is_none_or(|l| *i >= l.len()) => Some(format!("level {i} is not a kept level of {n:?}")),
                Source::AttrLevel(..) => None,
                _ => Some("not a trait feature".to_string()),
            };
            if let Some(message) = bad {
                return Err(invalid("schema.features", format!("{:?}: {message}", f.name)));
            }
            if !names.insert(f.name.as_str()) {
                return Err(invalid("schema.features", format!("{:?} appears twice", f.name)));
            }
        }
        m.tree.validate().map_err(|e| match e {
            // "groups[0].effect: ..." names the field inside the tree.
            winback_tree::Error::InvalidSegmentation(msg) => match msg.split_once(": ") {
                Some((field, message)) => invalid(&format!("tree.{field}"), message.to_string()),
                None => invalid("tree", msg),
            },
            other => invalid("tree", other.to_string()),
        })?;
        if m.tree.features != m.schema.features {
            return Err(invalid("tree.features", "not the schema's features".into()));
        }
        // The sentences say the rules, as this build words them.
        m.tree.reword();
        Ok(m)
    }
}
