//! Features at a cutoff: what we know of each customer from purchases strictly
//! before `T`.
//!
//! A [`FeatureSchema`] is learned once (which features exist, the vocabularies of
//! categorical ones) from the history before a cutoff, then applied at any
//! cutoff with [`build_features`], so that a model fitted on one period scores
//! another with the same columns. Levels unseen when the schema was learned
//! fall into the feature's `other` level.
//!
//! ## The features
//!
//! | name | kind | definition |
//! | --- | --- | --- |
//! | `recency_days` | days | `T` − last purchase day |
//! | `purchases` | count | purchases (orders, or customer-days) |
//! | `tenure_days` | days | `T` − first purchase day |
//! | `spend_total` | money | purchased value − returned value |
//! | `spend_mean` | money | `spend_total` ÷ `purchases` |
//! | `gap_mean_days` | days | mean gap between consecutive distinct purchase days |
//! | `gap_cv` | ratio | coefficient of variation (population sd ÷ mean) of those gaps |
//! | `single_purchase_day` | indicator | 1 when the customer bought on one day only (no gap) |
//! | `overdue_ratio` | ratio | `recency_days` ÷ `gap_mean_days` |
//! | `purchases_{90,180,365}d`, `spend_{90,180,365}d` | count, money | in `[T − w, T)`; spend net of returns |
//! | `spend_trend` | ratio | `(a − b) ÷ (a + b)`, `a` = purchased value in `[T−180, T)`, `b` in `[T−360, T−180)`; 0 when both are 0 |
//! | `returned_share` | share | returned value ÷ purchased value (0 when nothing was purchased) |
//! | `distinct_categories`, `top_category_share` | count, share | categories bought; the largest category's share of purchased value |
//! | `main_category=L` | category level | category with most purchased value |
//! | `channel_share=L` | share | share of purchases made in channel `L` |
//! | `main_channel=L`, `first_channel=L` | category level | most used channel; channel of the first purchase |
//! | `main_region=L` | category level | store/region with most purchases |
//! | `rfm_r`, `rfm_f`, `rfm_m` | score | quintile scores 1–5 (5 = most recent / most frequent / highest spend) against all customers with a purchase before `T` |
//! | `abc_class=A/B/C` | category level | Pareto class: A = the top customers making 80% of net spend, B the next 15%, C the rest |
//! | `btyd_p_alive` | probability | BG/NBD chance that the customer is still a customer ("alive") |
//! | `btyd_p_buy_{H}d` | probability | BG/NBD chance of at least one purchase in the next `H` days |
//! | `btyd_purchases_{H}d` | ratio | BG/NBD expected purchases in the next `H` days |
//! | `recency_pct`, `btyd_p_buy_pct` | share | percentile of `recency_days` (of `btyd_p_buy_{H}d`) among the rows built together — the lapsed list at the cutoff when fitting and scoring: `(below + ½·equal) ÷ rows` |
//! | attribute columns | number, days, category level | numeric as is; dates as days before `T`; categorical one-hot |
//!
//! **The BG/NBD features** come from a buy-till-you-die model
//! ([`winback_stats::btyd::BgNbd`]) fitted by maximum likelihood, without labels,
//! on every customer with a purchase before `T` (like the RFM breakpoints): a
//! customer's pattern is `x` = purchase days after the first, `t_x` = days from
//! the first to the last purchase day, age = days from the first purchase day to
//! `T`. They capture the interaction of recency and frequency that a single
//! recency threshold misses: a long silence means more from a frequent buyer.
//! `H` is [`FeatureOptions::btyd_horizon_days`] (the facade uses the model's horizon).
//!
//! **Percentiles age well.** The lapsed list at a later date is older than the
//! lists a model was trained on (everyone's recency grows); a split on absolute
//! recency learned on the training lists can then put most of the new list in
//! one group. The percentile features place each customer within their own
//! cutoff's list, so training lists and the scored list cover the same range.
//!
//! **No gap, no NaN.** A customer who bought on a single day has no gap: they get
//! `single_purchase_day = 1`, `gap_mean_days = tenure_days` (the gap is at least
//! as long as what we have seen), `gap_cv = 0` and therefore
//! `overdue_ratio = 1`. Missing numeric attributes are `0` with a
//! `<name>_missing = 1` indicator (dates on or after the cutoff count as
//! missing); customers absent from the attribute table
//! get `attributes_missing = 1`. No feature is ever NaN or infinite.
//!
//! Ties in "main" levels go to the level that sorts first. Categorical features
//! keep the `max_levels` most frequent levels (before `T`) and put the rest in
//! `other`.

use std::collections::BTreeMap;

use ndarray::{Array2, ArrayViewMut2, Axis, ShapeBuilder};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::attributes::AttrValues;
use crate::date::{format_day, Day};
use crate::error::{Error, Result};
use crate::history::{History, NONE_CODE};
use crate::summary::{argmax, summarize, summarize_into, Summary};
use winback_stats::btyd::{BgNbd, HorizonTerms, Pattern};

use crate::census::{pattern_key, Census, Population};

/// What a feature measures; drives how rules about it are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureKind {
    /// A number of days.
    Days,
    /// A count (purchases, categories).
    Count,
    /// An amount of money.
    Money,
    /// A share in [0, 1].
    Share,
    /// A ratio (unbounded).
    Ratio,
    /// 0/1.
    Indicator,
    /// A score from 1 to 5.
    Score,
    /// A probability in [0, 1] from a model (written with one decimal: 8.3%).
    Probability,
    /// A plain number (numeric attribute).
    Number,
    /// One level of a one-hot encoded categorical: 1 when `group` is `level`.
    CategoryLevel {
        /// The categorical feature (`main_channel`).
        group: String,
        /// The level (`online`, or `other`).
        level: String,
    },
}

/// Where a feature's value comes from (used to compute it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// `recency_days`.
    Recency,
    /// `purchases`.
    Purchases,
    /// `tenure_days`.
    Tenure,
    /// `spend_total`.
    SpendTotal,
    /// `spend_mean`.
    SpendMean,
    /// `gap_mean_days`.
    GapMean,
    /// `gap_cv`.
    GapCv,
    /// `single_purchase_day`.
    SinglePurchaseDay,
    /// `overdue_ratio`.
    Overdue,
    /// `purchases_{w}d` (index into the windows).
    PurchasesIn(usize),
    /// `spend_{w}d`.
    SpendIn(usize),
    /// `spend_trend`.
    SpendTrend,
    /// `returned_share`.
    ReturnedShare,
    /// `distinct_categories`.
    DistinctCategories,
    /// `top_category_share`.
    TopCategoryShare,
    /// `main_category=L` (index into the category vocabulary; `None` = other).
    MainCategory(Option<usize>),
    /// `channel_share=L`.
    ChannelShare(Option<usize>),
    /// `main_channel=L`.
    MainChannel(Option<usize>),
    /// `first_channel=L`.
    FirstChannel(Option<usize>),
    /// `main_region=L`.
    MainRegion(Option<usize>),
    /// `rfm_r`.
    RfmR,
    /// `rfm_f`.
    RfmF,
    /// `rfm_m`.
    RfmM,
    /// `abc_class=A|B|C` (0, 1, 2).
    Abc(u8),
    /// A numeric attribute (column name).
    AttrNumber(String),
    /// A date attribute, as days before the cutoff.
    AttrDays(String),
    /// Missing indicator of an attribute.
    AttrMissing(String),
    /// A level of a categorical attribute (`None` = other).
    AttrLevel(String, Option<usize>),
    /// The customer has no row in the attribute table.
    NoAttributes,
    /// `btyd_p_alive`.
    BtydAlive,
    /// `btyd_p_buy_{H}d`.
    BtydBuy,
    /// `btyd_purchases_{H}d`.
    BtydPurchases,
    /// `recency_pct`.
    RecencyPct,
    /// `btyd_p_buy_pct`.
    BtydBuyPct,
}

impl Source {
    /// The attribute (or trait) column a feature reads, for attribute sources.
    pub fn attribute_column(&self) -> Option<&str> {
        match self {
            Source::AttrNumber(n) | Source::AttrDays(n) | Source::AttrMissing(n) | Source::AttrLevel(n, _) => Some(n),
            _ => None,
        }
    }
}

/// One column of the feature matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    /// Column name (`recency_days`, `main_channel=online`).
    pub name: String,
    /// What it measures.
    pub kind: FeatureKind,
    /// Unit for display (`days`, `purchases`, `currency`, ...; empty when none).
    pub unit: String,
    /// How it is computed.
    pub source: Source,
}

/// Options of the feature set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureOptions {
    /// Recent windows in days (default 90, 180, 365).
    pub windows: Vec<i64>,
    /// Maximum one-hot levels per categorical before `other` (default 8).
    pub max_levels: usize,
    /// Include RFM scores and the ABC class (default true).
    pub rfm: bool,
    /// Include customer attributes when the history has them (default true).
    pub attributes: bool,
    /// Include the BG/NBD features for this horizon in days (default 60; `None` =
    /// no BG/NBD features, as in model files written before they existed). When
    /// fitting, the facade sets it to the model's horizon.
    #[serde(default)]
    pub btyd_horizon_days: Option<i64>,
    /// Include percentile features within the rows built together (default false:
    /// measured on the full real data they helped Complete Journey a little and hurt
    /// Online Retail, see the README; they keep a single acquisition cohort's groups
    /// within the size limits).
    #[serde(default)]
    pub percentiles: bool,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        FeatureOptions { windows: vec![90, 180, 365], max_levels: 8, rfm: true, attributes: true, btyd_horizon_days: Some(60), percentiles: false }
    }
}

/// The columns of a feature matrix, with vocabularies; learned once, applied at any cutoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSchema {
    /// The columns, in matrix order.
    pub features: Vec<Feature>,
    /// The options it was learned with.
    pub options: FeatureOptions,
    /// The cutoff whose history the vocabularies come from.
    pub learned_at: Day,
    /// Category vocabulary kept (others are `other`).
    pub categories: Vec<String>,
    /// Channel vocabulary kept.
    pub channels: Vec<String>,
    /// Region vocabulary kept.
    pub regions: Vec<String>,
    /// Kept levels of each categorical attribute.
    pub attribute_levels: BTreeMap<String, Vec<String>>,
    /// How purchases were counted when the schema was learned: `Some(true)` by
    /// order id (an order id column was mapped), `Some(false)` by customer-day;
    /// `None` when unknown (model files written before it was recorded). A
    /// history that counts purchases the other way is refused: `purchases`,
    /// gaps and BG/NBD features would mean something else than when fitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purchases_by_order: Option<bool>,
}

/// A feature matrix: one row per customer, one column per schema feature.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMatrix {
    /// The cutoff.
    pub cutoff: Day,
    /// History indices of the rows' customers.
    pub customers: Vec<usize>,
    /// Values, `customers.len() × schema.features.len()`; never NaN. Row-major
    /// from [`build_features`], column-major from [`learn_and_build`].
    pub x: Array2<f64>,
    /// The schema.
    pub schema: FeatureSchema,
    /// The BG/NBD model fitted at the cutoff (when the schema has BG/NBD features
    /// and the fit converged; otherwise those features are 0).
    pub btyd: Option<BgNbd>,
}

impl FeatureMatrix {
    /// The value of a named feature for row `row`.
    pub fn value(&self, row: usize, name: &str) -> Option<f64> {
        let j = self.schema.index(name)?;
        self.x.get((row, j)).copied()
    }
}

impl FeatureSchema {
    /// Checks a schema that did not come from [`FeatureSchema::learn`] (read from
    /// a model file, say): options in range, every feature's source inside the
    /// windows and vocabularies, and every name the one its source gives, so that
    /// features are computed exactly as when the schema was learned.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: String, message: String| Err(Error::InvalidSchema { field, message });
        if self.options.max_levels == 0 {
            return bad("options.max_levels".into(), "must be at least 1".into());
        }
        for (i, &w) in self.options.windows.iter().enumerate() {
            if !(1..=36_500).contains(&w) {
                return bad(format!("options.windows[{i}]"), format!("{w} is not a window of 1 to 36500 days"));
            }
        }
        if let Some(h) = self.options.btyd_horizon_days {
            if !(1..=36_500).contains(&h) {
                return bad("options.btyd_horizon_days".into(), format!("{h} is not a horizon of 1 to 36500 days"));
            }
        }
        for (name, vocab) in [("categories", &self.categories), ("channels", &self.channels), ("regions", &self.regions)] {
            if vocab.windows(2).any(|w| w[0] >= w[1]) {
                return bad(name.into(), "levels must be distinct and sorted".into());
            }
        }
        for (attr, levels) in &self.attribute_levels {
            if levels.windows(2).any(|w| w[0] >= w[1]) {
                return bad(format!("attribute_levels.{attr}"), "levels must be distinct and sorted".into());
            }
        }
        if self.features.is_empty() {
            return bad("features".into(), "empty".into());
        }
        let mut seen = std::collections::HashSet::new();
        for (j, f) in self.features.iter().enumerate() {
            let Some(expected) = self.name_of(&f.source) else {
                return bad(format!("features[{j}].source"), format!("{:?} points outside the schema's windows or vocabularies", f.source));
            };
            if f.name != expected {
                return bad(format!("features[{j}].name"), format!("{:?} is not the name of its source ({expected:?})", f.name));
            }
            if !seen.insert(f.name.as_str()) {
                return bad(format!("features[{j}].name"), format!("{:?} appears twice", f.name));
            }
        }
        Ok(())
    }

    /// The column name a source has in this schema (`None` when it points
    /// outside the windows or vocabularies).
    fn name_of(&self, source: &Source) -> Option<String> {
        let level = |group: &str, vocab: &[String], i: &Option<usize>| match i {
            Some(i) => vocab.get(*i).map(|l| format!("{group}={l}")),
            None => Some(format!("{group}=other")),
        };
        let attr_ok = |n: &str| !n.is_empty();
        Some(match source {
            Source::Recency => "recency_days".into(),
            Source::Purchases => "purchases".into(),
            Source::Tenure => "tenure_days".into(),
            Source::SpendTotal => "spend_total".into(),
            Source::SpendMean => "spend_mean".into(),
            Source::GapMean => "gap_mean_days".into(),
            Source::GapCv => "gap_cv".into(),
            Source::SinglePurchaseDay => "single_purchase_day".into(),
            Source::Overdue => "overdue_ratio".into(),
            Source::PurchasesIn(i) => format!("purchases_{}d", self.options.windows.get(*i)?),
            Source::SpendIn(i) => format!("spend_{}d", self.options.windows.get(*i)?),
            Source::SpendTrend => "spend_trend".into(),
            Source::ReturnedShare => "returned_share".into(),
            Source::DistinctCategories => "distinct_categories".into(),
            Source::TopCategoryShare => "top_category_share".into(),
            Source::MainCategory(i) => level("main_category", &self.categories, i)?,
            Source::ChannelShare(i) => level("channel_share", &self.channels, i)?,
            Source::MainChannel(i) => level("main_channel", &self.channels, i)?,
            Source::FirstChannel(i) => level("first_channel", &self.channels, i)?,
            Source::MainRegion(i) => level("main_region", &self.regions, i)?,
            Source::RfmR => "rfm_r".into(),
            Source::RfmF => "rfm_f".into(),
            Source::RfmM => "rfm_m".into(),
            Source::Abc(i) => format!("abc_class={}", ["A", "B", "C"].get(usize::from(*i))?),
            Source::AttrNumber(n) if attr_ok(n) => n.clone(),
            Source::AttrDays(n) if attr_ok(n) => format!("{n}_days"),
            Source::AttrMissing(n) if attr_ok(n) => format!("{n}_missing"),
            Source::AttrLevel(n, i) if attr_ok(n) => match i {
                Some(i) => format!("{n}={}", self.attribute_levels.get(n)?.get(*i)?),
                None => format!("{n}=other"),
            },
            Source::NoAttributes => "attributes_missing".into(),
            Source::BtydAlive => {
                self.options.btyd_horizon_days?;
                "btyd_p_alive".into()
            }
            Source::BtydBuy => format!("btyd_p_buy_{}d", self.options.btyd_horizon_days?),
            Source::BtydPurchases => format!("btyd_purchases_{}d", self.options.btyd_horizon_days?),
            Source::RecencyPct if self.options.percentiles => "recency_pct".into(),
            Source::BtydBuyPct if self.options.percentiles => {
                self.options.btyd_horizon_days?;
                "btyd_p_buy_pct".into()
            }
            Source::RecencyPct | Source::BtydBuyPct => return None,
            Source::AttrNumber(_) | Source::AttrDays(_) | Source::AttrMissing(_) | Source::AttrLevel(..) => return None,
        })
    }

    /// Index of a feature by name.
    pub fn index(&self, name: &str) -> Option<usize> {
        self.features.iter().position(|f| f.name == name)
    }
    /// Feature names in order.
    pub fn names(&self) -> Vec<&str> {
        self.features.iter().map(|f| f.name.as_str()).collect()
    }

    /// Learns the feature set and vocabularies from the history before `cutoff`.
    pub fn learn(history: &History, cutoff: Day, options: &FeatureOptions) -> Result<FeatureSchema> {
        FeatureSchema::learn_with(&Census::without_gaps(history, cutoff), history.attributes(), options)
    }

    /// Learns the feature set from a [`Census`] (the counts of every customer at its
    /// cutoff, merged from shards on a cluster) and the customer attributes, if any.
    /// [`FeatureSchema::learn`] is this with the census of the whole history.
    pub fn learn_with(census: &Census, attributes: Option<&crate::attributes::Attributes>, options: &FeatureOptions) -> Result<FeatureSchema> {
        if options.max_levels == 0 {
            return Err(Error::InvalidMaxLevels(0));
        }
        if let Some(&w) = options.windows.iter().find(|&&w| w < 1) {
            return Err(Error::InvalidHorizon(w));
        }
        if let Some(h) = options.btyd_horizon_days.filter(|h| !(1..=36_500).contains(h)) {
            return Err(Error::InvalidHorizon(h));
        }
        let cutoff = census.cutoff;
        let present = census.present;
        if census.customers == 0 {
            return Err(Error::NoHistoryBefore(format_day(cutoff)));
        }
        // Purchase frequencies before the cutoff (category value for categories), by
        // level name in sorted order, for the vocabularies.
        let split = |m: Vec<(String, f64)>| -> (Vec<String>, Vec<f64>) { m.into_iter().unzip() };
        let (chan_names, chan) = split(census.channels.iter().map(|(k, &n)| (k.clone(), n as f64)).collect());
        let (reg_names, reg) = split(census.regions.iter().map(|(k, &n)| (k.clone(), n as f64)).collect());
        let (cat_names, cat) = split(census.categories.iter().map(|(k, &n)| (k.clone(), n as f64)).collect());
        let seen = |freq: &[f64]| freq.iter().filter(|&&f| f > 0.0).count();
        let top = |freq: &[f64], names: &[String]| -> Vec<String> {
            let mut idx: Vec<usize> = (0..freq.len()).filter(|&i| freq[i] > 0.0).collect();
            idx.sort_by(|&a, &b| freq[b].total_cmp(&freq[a]).then(a.cmp(&b)));
            idx.truncate(options.max_levels);
            let mut v: Vec<String> = idx.into_iter().map(|i| names[i].clone()).collect();
            v.sort();
            v
        };
        let channels = if present.channel { top(&chan, &chan_names) } else { Vec::new() };
        let categories = if present.category { top(&cat, &cat_names) } else { Vec::new() };
        let regions = if present.region { top(&reg, &reg_names) } else { Vec::new() };

        let mut f = Vec::new();
        let mut add = |name: String, kind: FeatureKind, unit: &str, source: Source| {
            f.push(Feature { name, kind, unit: unit.to_string(), source });
        };
        add("recency_days".into(), FeatureKind::Days, "days", Source::Recency);
        add("purchases".into(), FeatureKind::Count, "purchases", Source::Purchases);
        add("tenure_days".into(), FeatureKind::Days, "days", Source::Tenure);
        add("spend_total".into(), FeatureKind::Money, "currency", Source::SpendTotal);
        add("spend_mean".into(), FeatureKind::Money, "currency", Source::SpendMean);
        add("gap_mean_days".into(), FeatureKind::Days, "days", Source::GapMean);
        add("gap_cv".into(), FeatureKind::Ratio, "", Source::GapCv);
        add("single_purchase_day".into(), FeatureKind::Indicator, "", Source::SinglePurchaseDay);
        add("overdue_ratio".into(), FeatureKind::Ratio, "", Source::Overdue);
        for (i, w) in options.windows.iter().enumerate() {
            add(format!("purchases_{w}d"), FeatureKind::Count, "purchases", Source::PurchasesIn(i));
            add(format!("spend_{w}d"), FeatureKind::Money, "currency", Source::SpendIn(i));
        }
        add("spend_trend".into(), FeatureKind::Ratio, "", Source::SpendTrend);
        add("returned_share".into(), FeatureKind::Share, "share", Source::ReturnedShare);
        let levels = |group: &str, vocab: &[String], full: usize, mk: &dyn Fn(Option<usize>) -> Source, add: &mut dyn FnMut(String, FeatureKind, &str, Source)| {
            for (i, l) in vocab.iter().enumerate() {
                add(format!("{group}={l}"), FeatureKind::CategoryLevel { group: group.into(), level: l.clone() }, "", mk(Some(i)));
            }
            if full > vocab.len() {
                add(format!("{group}=other"), FeatureKind::CategoryLevel { group: group.into(), level: "other".into() }, "", mk(None));
            }
        };
        if present.category && !categories.is_empty() {
            add("distinct_categories".into(), FeatureKind::Count, "categories", Source::DistinctCategories);
            add("top_category_share".into(), FeatureKind::Share, "share", Source::TopCategoryShare);
            if seen(&cat) > 1 {
                levels("main_category", &categories, seen(&cat), &Source::MainCategory, &mut add);
            }
        }
        if present.channel && seen(&chan) > 1 {
            for (i, l) in channels.iter().enumerate() {
                add(format!("channel_share={l}"), FeatureKind::Share, "share", Source::ChannelShare(Some(i)));
            }
            if seen(&chan) > channels.len() {
                add("channel_share=other".into(), FeatureKind::Share, "share", Source::ChannelShare(None));
            }
            levels("main_channel", &channels, seen(&chan), &Source::MainChannel, &mut add);
            levels("first_channel", &channels, seen(&chan), &Source::FirstChannel, &mut add);
        }
        if present.region && seen(&reg) > 1 {
            levels("main_region", &regions, seen(&reg), &Source::MainRegion, &mut add);
        }
        if options.rfm {
            add("rfm_r".into(), FeatureKind::Score, "", Source::RfmR);
            add("rfm_f".into(), FeatureKind::Score, "", Source::RfmF);
            add("rfm_m".into(), FeatureKind::Score, "", Source::RfmM);
            for (i, l) in ["A", "B", "C"].iter().enumerate() {
                add(
                    format!("abc_class={l}"),
                    FeatureKind::CategoryLevel { group: "abc_class".into(), level: (*l).into() },
                    "",
                    Source::Abc(i as u8),
                );
            }
        }
        if let Some(h) = options.btyd_horizon_days {
            add("btyd_p_alive".into(), FeatureKind::Probability, "", Source::BtydAlive);
            add(format!("btyd_p_buy_{h}d"), FeatureKind::Probability, "", Source::BtydBuy);
            add(format!("btyd_purchases_{h}d"), FeatureKind::Ratio, "purchases", Source::BtydPurchases);
        }
        if options.percentiles {
            add("recency_pct".into(), FeatureKind::Share, "share", Source::RecencyPct);
            if options.btyd_horizon_days.is_some() {
                add("btyd_p_buy_pct".into(), FeatureKind::Share, "share", Source::BtydBuyPct);
            }
        }
        let attribute_levels = match (options.attributes, attributes) {
            (true, Some(attrs)) => {
                add("attributes_missing".into(), FeatureKind::Indicator, "", Source::NoAttributes);
                attribute_features(attrs, options.max_levels, true, &mut add)
            }
            _ => BTreeMap::new(),
        };
        Ok(FeatureSchema {
            features: f,
            options: options.clone(),
            learned_at: cutoff,
            categories,
            channels,
            regions,
            attribute_levels,
            purchases_by_order: Some(present.order),
        })
    }
}

/// The features of a customer attribute table, in column order, through `add`
/// (name, kind, unit, source): numeric columns as numbers, date columns as days
/// before the cutoff (only when `dates`), categorical columns as their
/// `max_levels` most frequent levels plus `other`, and a `_missing` indicator
/// where values are missing. Returns the kept levels of each categorical column.
pub(crate) fn attribute_features(
    attrs: &crate::attributes::Attributes,
    max_levels: usize,
    dates: bool,
    add: &mut dyn FnMut(String, FeatureKind, &str, Source),
) -> BTreeMap<String, Vec<String>> {
    let mut attribute_levels = BTreeMap::new();
    for col in attrs.columns() {
        let name = &col.name;
        match &col.values {
            AttrValues::Numeric(v) => {
                add(name.clone(), FeatureKind::Number, "", Source::AttrNumber(name.clone()));
                if v.iter().any(|x| x.is_nan()) {
                    add(format!("{name}_missing"), FeatureKind::Indicator, "", Source::AttrMissing(name.clone()));
                }
            }
            AttrValues::Date(_) if dates => {
                add(format!("{name}_days"), FeatureKind::Days, "days", Source::AttrDays(name.clone()));
                // Always present: a date on or after the cutoff counts as missing at that cutoff.
                add(format!("{name}_missing"), FeatureKind::Indicator, "", Source::AttrMissing(name.clone()));
            }
            AttrValues::Date(_) => {}
            AttrValues::Categorical { levels: lv, codes } => {
                let mut freq = vec![0usize; lv.len()];
                for &k in codes {
                    if k != u32::MAX {
                        freq[k as usize] += 1;
                    }
                }
                let mut idx: Vec<usize> = (0..freq.len()).filter(|&i| freq[i] > 0).collect();
                let seen = idx.len();
                idx.sort_by(|&a, &b| freq[b].cmp(&freq[a]).then(a.cmp(&b)));
                idx.truncate(max_levels);
                let mut kept: Vec<String> = idx.into_iter().map(|i| lv[i].clone()).collect();
                kept.sort();
                for (i, l) in kept.iter().enumerate() {
                    add(format!("{name}={l}"), FeatureKind::CategoryLevel { group: name.clone(), level: l.clone() }, "", Source::AttrLevel(name.clone(), Some(i)));
                }
                if seen > kept.len() {
                    add(format!("{name}=other"), FeatureKind::CategoryLevel { group: name.clone(), level: "other".into() }, "", Source::AttrLevel(name.clone(), None));
                }
                if codes.contains(&u32::MAX) {
                    add(format!("{name}_missing"), FeatureKind::Indicator, "", Source::AttrMissing(name.clone()));
                }
                attribute_levels.insert(name.clone(), kept);
            }
        }
    }
    attribute_levels
}

/// Population facts at `t` from every customer's summary (through a [`Census`],
/// as a cluster computes them).
pub(crate) fn population(t: Day, sums: &[Option<Summary>], btyd: bool) -> Population {
    Census::from_summaries(t, sums).population(btyd)
}

pub(crate) fn score_high(v: f64, bp: &[f64; 4]) -> f64 {
    1.0 + bp.iter().filter(|&&b| v > b).count() as f64
}
pub(crate) fn score_low(v: f64, bp: &[f64; 4]) -> f64 {
    1.0 + bp.iter().filter(|&&b| v <= b).count() as f64
}

/// Maps a history code to the schema's vocabulary position (`None` = other / absent).
pub(crate) fn vocab_map(history_names: &[String], schema_names: &[String]) -> Vec<Option<usize>> {
    history_names.iter().map(|n| schema_names.iter().position(|s| s == n)).collect()
}

/// Builds the feature matrix of `customers` (history indices) at `cutoff`, using
/// only events strictly before it.
///
/// Fails when a customer has no purchase before the cutoff, or when the schema
/// needs a column the history lacks.
pub fn build_features(history: &History, schema: &FeatureSchema, cutoff: Day, customers: &[usize]) -> Result<FeatureMatrix> {
    build(history, schema, cutoff, customers, None)
}

/// [`build_features`] for a shard of the customers: the facts that need every
/// customer (RFM edges, ABC classes, the BG/NBD fit) come from `census`, the
/// merged census of all shards at `cutoff`, instead of from `history`. With the
/// census of the whole history, the result equals [`build_features`] to the bit.
/// Percentile features need every customer's value and are refused.
pub fn build_features_with(history: &History, schema: &FeatureSchema, cutoff: Day, customers: &[usize], census: &Census) -> Result<FeatureMatrix> {
    if census.cutoff != cutoff {
        return Err(Error::CensusCutoff { census: format_day(census.cutoff), cutoff: format_day(cutoff) });
    }
    if let Some(f) = schema.features.iter().find(|f| matches!(f.source, Source::RecencyPct | Source::BtydBuyPct)) {
        return Err(Error::NotShardable { what: format!("the percentile feature {}", f.name) });
    }
    build(history, schema, cutoff, customers, Some(census))
}

/// [`FeatureSchema::learn`] and [`build_features`] at one cutoff, in one pass over
/// the customers instead of two (each customer's purchases before the cutoff are
/// summarized once, for the vocabularies and population facts and for the rows):
/// the same schema and matrix, to the bit, in about two thirds of the time.
/// The matrix is column-major (each feature's values contiguous, as a table's
/// columns are; [`build_features`]' is row-major): same values, other layout.
///
/// ```
/// use winback_core::{History, Line};
/// use winback_core::features::{build_features, learn_and_build, FeatureOptions, FeatureSchema};
/// let lines: Vec<Line> = (0..40u32)
///     .flat_map(|c| (0..(c % 4 + 1)).map(move |k| (c, k)))
///     .map(|(c, k)| Line { customer: Box::leak(format!("c{c}").into_boxed_str()), day: (c % 20 + 15 * k) as i32, amount: 3.0 + f64::from(k), ..Default::default() })
///     .collect();
/// let (h, _) = History::from_lines(lines, false, &Default::default())?;
/// let rows = [0, 5, 9];
/// let (schema, x) = learn_and_build(&h, 100, &FeatureOptions::default(), &rows)?;
/// let apart = build_features(&h, &FeatureSchema::learn(&h, 100, &FeatureOptions::default())?, 100, &rows)?;
/// assert_eq!(schema.names(), FeatureSchema::learn(&h, 100, &FeatureOptions::default())?.names());
/// assert_eq!(x.x, apart.x);
/// assert!(x.x.t().is_standard_layout() && apart.x.is_standard_layout());
/// # Ok::<(), winback_core::Error>(())
/// ```
pub fn learn_and_build(history: &History, cutoff: Day, options: &FeatureOptions, customers: &[usize]) -> Result<(FeatureSchema, FeatureMatrix)> {
    check_windows(options)?;
    let sums: Vec<Option<Summary>> = (0..history.num_customers()).into_par_iter().map(|c| summarize(history, c, cutoff, &options.windows)).collect();
    let census = Census::of_summaries(history, cutoff, &sums);
    let schema = FeatureSchema::learn_with(&census, history.attributes(), options)?;
    let x = build_from(history, &schema, cutoff, customers, Known { census: Some(&census), sums: Some(sums), population: None, terms: None }, Layout::Columns)?;
    Ok((schema, x))
}

/// Rows built per block of [`FeatureBlocks::BLOCK`] rows: [`learn_and_build`]'s
/// schema and values, to the bit, without the whole matrix ever in memory (nor
/// every customer's summary once the schema is learnt) — what a table written
/// block by block needs (at 3.6M customers the matrix alone is 1.4 GB).
/// Every block is column-major, its rows the next of `customers`; there is
/// always at least one block (empty when there are no rows). A schema with
/// percentile columns (each row's rank among all rows) is built whole and
/// given as one block.
///
/// ```
/// use winback_core::{History, Line};
/// use winback_core::features::{learn_and_build, FeatureBlocks, FeatureOptions};
/// let lines: Vec<Line> = (0..40u32)
///     .map(|c| Line { customer: Box::leak(format!("c{c}").into_boxed_str()), day: (c % 20) as i32, amount: 3.0 + f64::from(c), ..Default::default() })
///     .collect();
/// let (h, _) = History::from_lines(lines, false, &Default::default())?;
/// let rows: Vec<usize> = (0..40).collect();
/// let (schema, whole) = learn_and_build(&h, 30, &FeatureOptions::default(), &rows)?;
/// let blocks = FeatureBlocks::new(&h, 30, &FeatureOptions::default(), rows)?;
/// assert_eq!(blocks.schema(), &schema);
/// let parts: Vec<_> = blocks.collect::<Result<_, _>>()?;
/// assert_eq!(parts.len(), 1);
/// assert_eq!(parts[0].x, whole.x);
/// # Ok::<(), winback_core::Error>(())
/// ```
pub struct FeatureBlocks<'h> {
    history: &'h History,
    cutoff: Day,
    schema: FeatureSchema,
    census: Census,
    population: Option<Population>,
    /// The BG/NBD terms of the census's `(x, T)` pairs, made once for every block.
    terms: Option<TermsTable>,
    customers: Vec<usize>,
    /// Rows given so far.
    done: usize,
    started: bool,
    block: usize,
}

impl<'h> FeatureBlocks<'h> {
    /// Rows per block (about 6 MB of values at 48 features; a program writing
    /// blocks as they come holds two or three). Against 4,096 rows, `winback
    /// features` at 10M lines (357,143 rows, Parquet written with 256 KiB
    /// dictionaries) took 0.015–0.045 s less in its last step (three batches of
    /// 8–12 alternated runs: fewer, longer calls into the column encoders) and
    /// peaked ~20 MB higher; 32,768 rows was no faster and peaked ~45 MB higher.
    pub const BLOCK: usize = 1 << 14;

    /// Learns the schema at `cutoff` for the rows `customers` (the customers are
    /// summarized a block at a time for the census; only its counts are kept).
    pub fn new(history: &'h History, cutoff: Day, options: &FeatureOptions, customers: Vec<usize>) -> Result<Self> {
        check_windows(options)?;
        if let Some(&bad) = customers.iter().find(|&&c| c >= history.num_customers()) {
            return Err(Error::CustomerOutOfRange { index: bad, customers: history.num_customers() });
        }
        Self::learn(history, cutoff, options, Census::without_gaps(history, cutoff), customers)
    }

    /// [`FeatureBlocks::new`] for every customer with a purchase before
    /// `cutoff` (the rows [`History::with_purchase_before`] gives), found by the
    /// census's own pass over every customer rather than by a second one
    /// (`winback features --all` at 10M lines, 20 alternated runs: learning
    /// 0.120 → 0.115 s wall, 0.200 → 0.190 s CPU).
    ///
    /// ```
    /// use winback_core::{History, Line};
    /// use winback_core::features::{FeatureBlocks, FeatureOptions};
    /// let lines: Vec<Line> = (0..40u32)
    ///     .map(|c| Line { customer: Box::leak(format!("c{c}").into_boxed_str()), day: (c % 20) as i32 * 3, amount: 3.0, ..Default::default() })
    ///     .collect();
    /// let (h, _) = History::from_lines(lines, false, &Default::default())?;
    /// let buyers = FeatureBlocks::of_buyers(&h, 30, &FeatureOptions::default())?;
    /// assert_eq!(buyers.rows(), 20); // days 0, 3, ... 27
    /// let listed = FeatureBlocks::new(&h, 30, &FeatureOptions::default(), h.with_purchase_before(30))?;
    /// let (a, b): (Vec<_>, Vec<_>) = (buyers.collect::<Result<_, _>>()?, listed.collect::<Result<_, _>>()?);
    /// assert_eq!((&a[0].customers, &a[0].x), (&b[0].customers, &b[0].x));
    /// # Ok::<(), winback_core::Error>(())
    /// ```
    pub fn of_buyers(history: &'h History, cutoff: Day, options: &FeatureOptions) -> Result<Self> {
        check_windows(options)?;
        let (census, customers) = Census::without_gaps_with_buyers(history, cutoff);
        Self::learn(history, cutoff, options, census, customers)
    }

    /// Learns the schema from `census` for the rows `customers` (checked).
    fn learn(history: &'h History, cutoff: Day, options: &FeatureOptions, census: Census, customers: Vec<usize>) -> Result<Self> {
        let schema = FeatureSchema::learn_with(&census, history.attributes(), options)?;
        let (need_btyd, need_population) = population_needs(&schema);
        let population = need_population.then(|| census.population(need_btyd));
        let terms = TermsTable::of(&schema, &census, population.as_ref().and_then(|p| p.btyd));
        Ok(FeatureBlocks { history, cutoff, schema, census, population, terms, customers, done: 0, started: false, block: Self::BLOCK })
    }

    /// Blocks of `rows` rows (at least 1) instead of [`FeatureBlocks::BLOCK`].
    pub fn with_block_rows(mut self, rows: usize) -> Self {
        self.block = rows.max(1);
        self
    }

    /// The schema every block has.
    pub fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    /// Rows in all (the blocks' rows together).
    pub fn rows(&self) -> usize {
        self.customers.len()
    }

    fn block(&mut self) -> Result<FeatureMatrix> {
        let percentiles = self.schema.features.iter().any(|f| matches!(f.source, Source::RecencyPct | Source::BtydBuyPct));
        let range = if percentiles { 0..self.customers.len() } else { self.done..(self.done + self.block).min(self.customers.len()) };
        self.done = range.end;
        let known = Known { census: Some(&self.census), sums: None, population: Some(&self.population), terms: self.terms.as_ref() };
        build_from(self.history, &self.schema, self.cutoff, &self.customers[range], known, Layout::Columns)
    }
}

impl Iterator for FeatureBlocks<'_> {
    type Item = Result<FeatureMatrix>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.started && self.done >= self.customers.len() {
            return None;
        }
        self.started = true;
        let b = self.block();
        if b.is_err() {
            // One error ends the blocks.
            self.done = self.customers.len();
        }
        Some(b)
    }
}

/// Refuses a window of less than a day (before any customer is summarized).
fn check_windows(options: &FeatureOptions) -> Result<()> {
    match options.windows.iter().find(|&&w| w < 1) {
        Some(&w) => Err(Error::InvalidHorizon(w)),
        None => Ok(()),
    }
}

/// Whether a schema's features need the BG/NBD fit, and population facts at all
/// (the fit, RFM breakpoints or ABC cuts).
fn population_needs(schema: &FeatureSchema) -> (bool, bool) {
    let btyd = schema.features.iter().any(|f| matches!(f.source, Source::BtydAlive | Source::BtydBuy | Source::BtydPurchases));
    (btyd, btyd || schema.features.iter().any(|f| matches!(f.source, Source::RfmR | Source::RfmF | Source::RfmM | Source::Abc(_))))
}

/// How a feature matrix lies in memory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Row-major: each customer's values together (what the tree reads).
    Rows,
    /// Column-major: each feature's values together (a table takes its columns
    /// without copying them).
    Columns,
}

fn build(history: &History, schema: &FeatureSchema, cutoff: Day, customers: &[usize], census: Option<&Census>) -> Result<FeatureMatrix> {
    build_from(history, schema, cutoff, customers, Known { census, ..Default::default() }, Layout::Rows)
}

/// What a caller of [`build_from`] already has at the cutoff, so that it is not
/// computed again: the census (a shard's: the whole data's), every customer's
/// summary under the schema's windows, the population facts (blocks of one
/// table share one BG/NBD fit).
#[derive(Default)]
struct Known<'a> {
    census: Option<&'a Census>,
    sums: Option<Vec<Option<Summary>>>,
    population: Option<&'a Option<Population>>,
    /// Made from `census` with the model `population` gives (else made here when needed).
    terms: Option<&'a TermsTable>,
}

/// The BG/NBD terms ([`BgNbd::horizon_terms`]) of every `(x, T)` pair among a
/// census's patterns, for one model and the schema's horizon: a row then looks
/// its pair up instead of summing a hypergeometric series (the same values, to
/// the bit). Tens of thousands of pairs at 357,143 customers.
struct TermsTable {
    model: BgNbd,
    horizon: f64,
    /// By `x << 32 | T` (a hash lookup: a binary search over the sorted keys was
    /// a third of the row's own work, one dependent cache miss after another).
    terms: crate::hash::FxHashMap<u64, HorizonTerms>,
}

impl TermsTable {
    /// The table when the schema has a BG/NBD purchase column and there is a model.
    fn of(schema: &FeatureSchema, census: &Census, model: Option<BgNbd>) -> Option<TermsTable> {
        let model = model?;
        let horizon = schema.options.btyd_horizon_days? as f64;
        if !schema.features.iter().any(|f| matches!(f.source, Source::BtydBuy | Source::BtydPurchases | Source::BtydBuyPct)) {
            return None;
        }
        let mut keys: Vec<u64> = census.patterns.keys().map(|&(x, _, t)| Self::key(x, t)).collect();
        keys.par_sort_unstable();
        keys.dedup();
        let terms: Vec<HorizonTerms> = keys.par_iter().map(|&k| model.horizon_terms((k >> 32) as f64, (k & 0xffff_ffff) as f64, horizon)).collect();
        Some(TermsTable { model, horizon, terms: keys.into_iter().zip(terms).collect() })
    }

    /// The table's key of `(x, T)`.
    fn key(x: u32, t: u32) -> u64 {
        (u64::from(x) << 32) | u64::from(t)
    }

    /// Whether the table was made for this model and horizon.
    fn fits(&self, model: &BgNbd, horizon: f64) -> bool {
        self.model == *model && self.horizon.to_bits() == horizon.to_bits()
    }

    /// The terms of `(x, T)`, when the table holds the pair.
    fn get(&self, x: u32, t: u32) -> Option<HorizonTerms> {
        self.terms.get(&Self::key(x, t)).copied()
    }
}

/// `build`, with what is already `known` at `cutoff`, the matrix laid out as `layout`.
fn build_from(history: &History, schema: &FeatureSchema, cutoff: Day, customers: &[usize], known: Known<'_>, layout: Layout) -> Result<FeatureMatrix> {
    let k = schema.features.len();
    let mut x = match layout {
        Layout::Rows => Array2::<f64>::zeros((customers.len(), k)),
        Layout::Columns => Array2::<f64>::zeros((customers.len(), k).f()),
    };
    let btyd = fill_rows(history, schema, cutoff, customers, known, x.view_mut())?;
    Ok(FeatureMatrix { cutoff, customers: customers.to_vec(), x, schema: schema.clone(), btyd })
}

/// [`build_features`] into `x`, a view of `customers.len()` rows and the schema's
/// columns (a stretch of a larger matrix: the training rows of one cutoff), every
/// value written.
pub(crate) fn build_features_into(history: &History, schema: &FeatureSchema, cutoff: Day, customers: &[usize], x: ArrayViewMut2<'_, f64>) -> Result<()> {
    fill_rows(history, schema, cutoff, customers, Known::default(), x).map(|_| ())
}

/// [`build_from`]'s work, into `x` (`customers.len()` × the schema's features);
/// the BG/NBD fit used, if any.
fn fill_rows(history: &History, schema: &FeatureSchema, cutoff: Day, customers: &[usize], known: Known<'_>, mut x: ArrayViewMut2<'_, f64>) -> Result<Option<BgNbd>> {
    let Known { census, sums, population: population_given, terms: terms_given } = known;
    // Both callers size `x` so (crate-internal).
    debug_assert_eq!(x.dim(), (customers.len(), schema.features.len()));
    // A shard's columns are those of the whole data (its merged census): a shard whose
    // lines carry no channel value (built from values) still has the channel column,
    // empty for its customers, as those customers' lines are on one machine.
    let mut p = history.present();
    if let Some(c) = census {
        p.channel |= c.present.channel;
        p.category |= c.present.category;
        p.region |= c.present.region;
        p.quantity |= c.present.quantity;
    }
    if let Some(by_order) = schema.purchases_by_order {
        if by_order != p.order {
            return Err(Error::PurchaseCountMismatch { fitted_by_order: by_order });
        }
    }
    for f in &schema.features {
        let need = match f.source {
            Source::MainCategory(_) | Source::DistinctCategories | Source::TopCategoryShare => p.category.then_some(()).ok_or("a category column"),
            Source::ChannelShare(_) | Source::MainChannel(_) | Source::FirstChannel(_) => p.channel.then_some(()).ok_or("a channel column"),
            Source::MainRegion(_) => p.region.then_some(()).ok_or("a region column"),
            Source::AttrNumber(_) | Source::AttrDays(_) | Source::AttrMissing(_) | Source::AttrLevel(..) | Source::NoAttributes => {
                history.attributes().map(|_| ()).ok_or("customer attributes")
            }
            _ => Ok(()),
        };
        if let Err(needs) = need {
            return Err(Error::MissingSourceColumn { feature: f.name.clone(), needs });
        }
    }
    if let Some(&bad) = customers.iter().find(|&&c| c >= history.num_customers()) {
        return Err(Error::CustomerOutOfRange { index: bad, customers: history.num_customers() });
    }
    let windows = &schema.options.windows;
    let (need_btyd, need_population) = population_needs(schema);
    let horizon = schema.options.btyd_horizon_days.unwrap_or(0) as f64;
    let all: Vec<Option<Summary>> = sums.unwrap_or_default();
    let pop = match population_given {
        Some(p) => p.clone(),
        None => need_population.then(|| match census {
            Some(census) => census.population(need_btyd),
            // The population facts need every customer, the rows only theirs: every
            // customer is tallied (the census, equal to the summaries' to the bit),
            // not summarized and kept. Kept, the summaries of 3.6M customers were
            // ~1 GB a cutoff at 100M lines, written once and freed at once, and
            // the fit's most page-faulted memory. (Every caller that has the
            // summaries has the census too.)
            None => Census::without_gaps(history, cutoff).population(need_btyd),
        }),
    };
    let btyd = pop.as_ref().and_then(|p| p.btyd);
    // The BG/NBD terms of each (x, T) pair, made here for a large enough build
    // when not given (a pair's terms cost a row's, and rows share pairs).
    // A given table is checked once here against the model and horizon used.
    let made;
    let terms = match terms_given {
        Some(t) => Some(t),
        None => {
            made = census.filter(|_| customers.len() >= FeatureBlocks::BLOCK).and_then(|c| TermsTable::of(schema, c, btyd));
            made.as_ref()
        }
    }
    .filter(|t| btyd.is_some_and(|m| t.fits(&m, horizon)));
    let cat_map = vocab_map(&history.categories, &schema.categories);
    let chan_map = vocab_map(&history.channels, &schema.channels);
    let reg_map = vocab_map(&history.regions, &schema.regions);
    let attrs = history.attributes();
    // Per attribute column: position in the table, and level maps to the schema.
    let attr_col = |name: &str| attrs.and_then(|a| a.columns().iter().position(|c| c.name == name));
    let attr_level_maps: BTreeMap<String, Vec<Option<usize>>> = match attrs {
        Some(a) => a
            .columns()
            .iter()
            .filter_map(|c| match (&c.values, schema.attribute_levels.get(&c.name)) {
                (AttrValues::Categorical { levels, .. }, Some(kept)) => Some((c.name.clone(), vocab_map(levels, kept))),
                _ => None,
            })
            .collect(),
        None => BTreeMap::new(),
    };
    let cols: Vec<Option<usize>> = schema
        .features
        .iter()
        .map(|f| f.source.attribute_column().and_then(attr_col))
        .collect();
    for (f, col) in schema.features.iter().zip(&cols) {
        if let (Some(column), None) = (f.source.attribute_column(), col) {
            return Err(Error::MissingAttributeColumn { feature: f.name.clone(), column: column.to_string() });
        }
    }

    // Summaries given for every customer go to their rows, each dropped once its
    // row is built (at 100M lines they weigh about as much as the matrix).
    // Rows in customer order (every caller's): the summaries are moved to their
    // rows' places in the same vector, not copied into another.
    let (mine, shared) = if !all.is_empty() && customers.windows(2).all(|w| w[0] < w[1]) {
        let mut all = all;
        for (i, &c) in customers.iter().enumerate() {
            // c >= i: the place c is not yet taken by an earlier row.
            all.swap(i, c);
        }
        all.truncate(customers.len());
        (all, Vec::new())
    } else {
        (Vec::new(), all)
    };
    // The first failing row, in row order (not the first a thread met): no
    // result per row is kept.
    // Row `i` (customer `c`, its summary `given` or none): a summary made here goes
    // into the thread's scratch, whose vectors each row reuses.
    let body = |scratch: &mut Summary, i: usize, mut row: ndarray::ArrayViewMut1<'_, f64>, c: usize, given: Option<Summary>| -> std::result::Result<(), (usize, Error)> {
        let owned;
        let s = match (given, shared.get(c)) {
            (Some(s), _) => {
                owned = s;
                &owned
            }
            (None, Some(Some(s))) => s,
            _ => {
                if !summarize_into(history, c, cutoff, windows, scratch) {
                    return Err((i, Error::NoPurchaseBefore { customer: history.customer_ids[c].clone(), cutoff: format_day(cutoff) }));
                }
                &*scratch
            }
        };
        let recency = f64::from(cutoff - s.last);
        let tenure = f64::from(cutoff - s.first);
        let single = s.distinct_days < 2;
        let gaps = f64::from(s.distinct_days.saturating_sub(1));
        let gap_mean = if single { tenure } else { s.gap_sum / gaps };
        let gap_cv = if single {
            0.0
        } else {
            let var = (s.gap_sq / gaps - gap_mean * gap_mean).max(0.0);
            var.sqrt() / gap_mean
        };
        let net = s.gross - s.returned;
        let main_cat = argmax(&s.categories);
        let cat_total: f64 = s.categories.iter().map(|(_, v)| v).sum();
        let main_chan = argmax(&s.channels);
        let main_reg = argmax(&s.regions);
        let arow = attrs.and_then(|a| a.row(c));
        let (x_days, t_x_days, age_days) = pattern_key(s, cutoff);
        let pat = Pattern { x: f64::from(x_days), t_x: f64::from(t_x_days), t: f64::from(age_days), weight: 1.0 };
        // The BG/NBD columns: P(alive) once, the (x, T) terms looked up.
        let bg = btyd.map(|m| {
            let terms = terms.and_then(|t| t.get(x_days, age_days)).unwrap_or_else(|| m.horizon_terms(pat.x, pat.t, horizon));
            (m, m.p_alive(&pat), terms)
        });
        let in_vocab = |code: u16, map: &[Option<usize>], want: Option<usize>| -> bool {
            code != NONE_CODE && map[usize::from(code)] == want
        };
        for (j, f) in schema.features.iter().enumerate() {
            let v = match &f.source {
                Source::Recency => recency,
                Source::Purchases => f64::from(s.purchases),
                Source::Tenure => tenure,
                Source::SpendTotal => net,
                Source::SpendMean => net / f64::from(s.purchases),
                Source::GapMean => gap_mean,
                Source::GapCv => gap_cv,
                Source::SinglePurchaseDay => f64::from(u8::from(single)),
                Source::Overdue => recency / gap_mean,
                Source::PurchasesIn(i) => f64::from(s.win_purchases[*i]),
                Source::SpendIn(i) => s.win_spend[*i],
                Source::SpendTrend => {
                    let d = s.trend_recent + s.trend_prev;
                    if d > 0.0 {
                        (s.trend_recent - s.trend_prev) / d
                    } else {
                        0.0
                    }
                }
                Source::ReturnedShare => {
                    if s.gross > 0.0 {
                        s.returned / s.gross
                    } else {
                        0.0
                    }
                }
                Source::DistinctCategories => s.categories.len() as f64,
                Source::TopCategoryShare => {
                    let top = s.categories.iter().map(|(_, v)| *v).fold(0.0, f64::max);
                    if cat_total > 0.0 {
                        top / cat_total
                    } else {
                        0.0
                    }
                }
                Source::MainCategory(want) => f64::from(u8::from(in_vocab(main_cat, &cat_map, *want))),
                Source::MainChannel(want) => f64::from(u8::from(in_vocab(main_chan, &chan_map, *want))),
                Source::FirstChannel(want) => f64::from(u8::from(in_vocab(s.first_channel, &chan_map, *want))),
                Source::MainRegion(want) => f64::from(u8::from(in_vocab(main_reg, &reg_map, *want))),
                Source::ChannelShare(want) => {
                    let n: u32 = s.channels.iter().filter(|(k, _)| chan_map[usize::from(*k)] == *want).map(|(_, n)| n).sum();
                    f64::from(n) / f64::from(s.purchases)
                }
                Source::RfmR => pop.as_ref().map_or(0.0, |p| score_low(recency, &p.r_bp)),
                Source::RfmF => pop.as_ref().map_or(0.0, |p| score_high(f64::from(s.purchases), &p.f_bp)),
                Source::RfmM => pop.as_ref().map_or(0.0, |p| score_high(net, &p.m_bp)),
                Source::Abc(class) => pop.as_ref().map_or(0.0, |p| f64::from(u8::from(p.abc(net) == *class))),
                Source::NoAttributes => f64::from(u8::from(arow.is_none())),
                Source::BtydAlive => bg.map_or(0.0, |(_, alive, _)| alive),
                Source::BtydBuy => bg.map_or(0.0, |(m, alive, terms)| m.p_buy_from(alive, &terms)),
                Source::BtydPurchases => bg.map_or(0.0, |(m, _, terms)| m.expected_purchases_from(&terms, &pat, horizon)),
                // Filled in below, once every row is known.
                Source::RecencyPct | Source::BtydBuyPct => 0.0,
                Source::AttrNumber(_) | Source::AttrDays(_) | Source::AttrMissing(_) | Source::AttrLevel(..) => {
                    match (arow, cols[j].and_then(|ci| attrs.map(|a| &a.columns()[ci]))) {
                        (Some(r), Some(col)) => attr_value(&f.source, &col.values, r, cutoff, &attr_level_maps),
                        _ => 0.0,
                    }
                }
            };
            row[j] = if v.is_finite() { v } else { 0.0 };
        }
        Ok(())
    };
    // Without given summaries the rows are zipped with nothing else: zipped with a
    // stream of `None` summaries, every row moved a whole empty `Summary` around
    // (6% of building the features at 10M lines).
    let rows = x.axis_iter_mut(Axis(0)).into_par_iter().zip(customers.par_iter());
    let first_error = if mine.is_empty() {
        rows.enumerate()
            .map_init(Summary::default, |scratch, (i, (row, &c))| body(scratch, i, row, c, None))
            .filter_map(std::result::Result::err)
            .min_by_key(|(i, _)| *i)
    } else {
        rows.zip(mine.into_par_iter())
            .enumerate()
            .map_init(Summary::default, |scratch, (i, ((row, &c), given))| body(scratch, i, row, c, given))
            .filter_map(std::result::Result::err)
            .min_by_key(|(i, _)| *i)
    };
    drop(shared);
    if let Some((_, e)) = first_error {
        return Err(e);
    }
    for (j, f) in schema.features.iter().enumerate() {
        let of = match f.source {
            Source::RecencyPct => schema.features.iter().position(|g| g.source == Source::Recency),
            Source::BtydBuyPct => schema.features.iter().position(|g| g.source == Source::BtydBuy),
            _ => continue,
        };
        if let Some(of) = of {
            let pct = percentiles(&x.column(of).to_vec());
            x.column_mut(j).assign(&ndarray::Array1::from(pct));
        }
    }
    Ok(btyd)
}

/// Each value's percentile among `v`: `(below + ½·equal) ÷ n`, in [0, 1).
fn percentiles(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut out = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut k = i;
        while k < n && v[order[k]] == v[order[i]] {
            k += 1;
        }
        let p = (i as f64 + 0.5 * (k - i) as f64) / n as f64;
        for &r in &order[i..k] {
            out[r] = p;
        }
        i = k;
    }
    out
}

pub(crate) fn attr_value(source: &Source, values: &AttrValues, r: usize, cutoff: Day, maps: &BTreeMap<String, Vec<Option<usize>>>) -> f64 {
    match (source, values) {
        (Source::AttrNumber(_), AttrValues::Numeric(v)) => {
            let x = v[r];
            if x.is_nan() {
                0.0
            } else {
                x
            }
        }
        // A date on or after the cutoff is not known at the cutoff: treated as missing.
        (Source::AttrDays(_), AttrValues::Date(v)) => v[r].filter(|&d| d < cutoff).map_or(0.0, |d| (i64::from(cutoff) - i64::from(d)) as f64),
        (Source::AttrMissing(_), AttrValues::Numeric(v)) => f64::from(u8::from(v[r].is_nan())),
        (Source::AttrMissing(_), AttrValues::Date(v)) => f64::from(u8::from(v[r].is_none_or(|d| d >= cutoff))),
        (Source::AttrMissing(_), AttrValues::Categorical { codes, .. }) => f64::from(u8::from(codes[r] == u32::MAX)),
        (Source::AttrLevel(name, want), AttrValues::Categorical { codes, .. }) => {
            let code = codes[r];
            let hit = code != u32::MAX && maps.get(name).is_some_and(|m| m[code as usize] == *want);
            f64::from(u8::from(hit))
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_by_hand() {
        // 1 is below everything: (0 + ½)/4; 2: (1 + ½)/4; the two 3s: (2 + ½·2)/4.
        assert_eq!(super::percentiles(&[3.0, 1.0, 3.0, 2.0]), vec![0.75, 0.125, 0.75, 0.375]);
        assert!(super::percentiles(&[]).is_empty());
    }

    /// `n` customers `c00`, `c01`, ..., customer `c` with `c % per + 1` purchases
    /// on days `c % spread + gap * k`, of `1 + c * k` (`k` = 0, 1, ...).
    fn history(n: usize, per: usize, spread: usize, gap: usize) -> crate::History {
        #![allow(clippy::unwrap_used)]
        let ids: Vec<String> = (0..n).map(|c| format!("c{c:02}")).collect();
        let lines: Vec<crate::Line> = ids
            .iter()
            .enumerate()
            .flat_map(|(c, id)| (0..(c % per + 1)).map(move |k| crate::Line { customer: id.as_str(), day: (c % spread + gap * k) as i32, amount: 1.0 + (c * k) as f64, ..Default::default() }))
            .collect();
        crate::History::from_lines(lines, false, &Default::default()).unwrap().0
    }

    /// `learn_and_build` moves each summary to its row when the rows are in
    /// customer order, and reads them in place otherwise (any order, repeats):
    /// the same rows either way, equal to `build_features`'.
    #[test]
    fn rows_in_any_order_get_their_own_summaries() {
        #![allow(clippy::unwrap_used)]
        use super::*;
        let h = history(30, 4, 9, 11);
        let opts = FeatureOptions::default();
        let schema = FeatureSchema::learn(&h, 60, &opts).unwrap();
        for rows in [vec![0, 3, 4, 17, 29], vec![29, 3, 0, 17], vec![5, 5, 2, 5]] {
            let (_, x) = learn_and_build(&h, 60, &opts, &rows).unwrap();
            let want = build_features(&h, &schema, 60, &rows).unwrap();
            assert_eq!(x.x, want.x, "{rows:?}");
        }
    }

    /// Blocks of any size give `learn_and_build`'s rows, to the bit, in order;
    /// with percentile columns (ranks among all rows) one block holds every row;
    /// no rows still give one (empty) block.
    #[test]
    fn blocks_are_the_whole_matrix_cut_in_rows() {
        #![allow(clippy::unwrap_used)]
        use super::*;
        let h = history(50, 5, 7, 13);
        let rows: Vec<usize> = (0..50).filter(|c| c % 3 != 1).collect();
        assert_eq!(rows.len(), 33);
        for percentiles in [false, true] {
            let opts = FeatureOptions { percentiles, ..Default::default() };
            let (schema, whole) = learn_and_build(&h, 70, &opts, &rows).unwrap();
            for block in [1, 7, 32, 33, 1000] {
                let blocks: Vec<FeatureMatrix> = FeatureBlocks::new(&h, 70, &opts, rows.clone()).unwrap().with_block_rows(block).collect::<Result<_>>().unwrap();
                let sizes: Vec<usize> = blocks.iter().map(|b| b.customers.len()).collect();
                let want: Vec<usize> = if percentiles { vec![33] } else { (0..33).step_by(block).map(|a| block.min(33 - a)).collect() };
                assert_eq!(sizes, want, "block {block}, percentiles {percentiles}");
                let customers: Vec<usize> = blocks.iter().flat_map(|b| b.customers.clone()).collect();
                assert_eq!(customers, rows);
                let stacked = ndarray::concatenate(Axis(0), &blocks.iter().map(|b| b.x.view()).collect::<Vec<_>>()).unwrap();
                assert_eq!(stacked, whole.x, "block {block}, percentiles {percentiles}");
                assert!(blocks.iter().all(|b| b.schema == schema && b.btyd == whole.btyd));
            }
        }
        let none: Vec<FeatureMatrix> = FeatureBlocks::new(&h, 70, &FeatureOptions::default(), Vec::new()).unwrap().collect::<Result<_>>().unwrap();
        assert_eq!(none.len(), 1);
        assert_eq!(none[0].x.nrows(), 0);
    }

    /// A row without a purchase before the cutoff is refused, naming the first
    /// such row in row order whatever the threads met first.
    #[test]
    fn the_first_failing_row_is_named() {
        #![allow(clippy::unwrap_used, clippy::panic)]
        use super::*;
        use crate::Line;
        let ids: Vec<String> = (0..2000).map(|c| format!("c{c:04}")).collect();
        // Customers from c1000 on buy on day 50 only: nothing before the cutoff 40.
        let lines: Vec<Line> = ids.iter().enumerate().map(|(c, id)| Line { customer: id.as_str(), day: if c < 1000 { 10 } else { 50 }, amount: 2.0, ..Default::default() }).collect();
        let (h, _) = History::from_lines(lines, false, &Default::default()).unwrap();
        let rows: Vec<usize> = (0..2000).rev().step_by(3).collect::<Vec<_>>().into_iter().rev().collect();
        let first_bad = rows.iter().find(|&&c| c >= 1000).copied().unwrap();
        for threads in [1, 4] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            match pool.install(|| learn_and_build(&h, 40, &FeatureOptions::default(), &rows)) {
                Err(Error::NoPurchaseBefore { customer, .. }) => assert_eq!(customer, h.customer_ids()[first_bad]),
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
    }
}
