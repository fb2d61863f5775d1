//! Smooth chances of coming back: the ridge logistic regressions
//! ([`winback_stats::logistic::Logistic`]) on a few traits that order the groups
//! and the customers inside them ([`crate::GroupOrder::Smoothed`],
//! [`crate::ORDER_CHANCE`]) or choose the splits ([`crate::SplitOn::Smoothed`]),
//! and the [`OrderModel`] a fitted model keeps.

use serde::{Deserialize, Serialize};
use winback_core::features::FeatureSchema;

use crate::error::{Error, Result};

/// The ordering regression a model keeps to order customers inside a group
/// ([`crate::ORDER_CHANCE`]): the feature columns it reads, each on its scale, and the
/// fitted ridge logistic regression on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderModel {
    /// The features it reads, in the regression's column order.
    pub columns: Vec<OrderColumn>,
    /// The regression on those columns.
    pub regression: winback_stats::logistic::Logistic,
}

/// One column of an [`OrderModel`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderColumn {
    /// The feature's name in the schema.
    pub feature: String,
    /// How its value enters the regression.
    pub scale: Scale,
}

impl OrderModel {
    /// Each row's chance of coming back; `x` has the columns of `schema`, which
    /// must name every feature the model reads.
    pub fn chances(&self, schema: &FeatureSchema, x: ndarray::ArrayView2<'_, f64>) -> Result<Vec<f64>> {
        let idx = self.indices(schema).map_err(|name| Error::UnknownPriorityFeature { name, available: schema.names().join(", ") })?;
        let mut z = vec![0.0; idx.len()];
        Ok(x
            .outer_iter()
            .map(|row| {
                for (zk, &(j, s)) in z.iter_mut().zip(&idx) {
                    *zk = s.apply(row[j]);
                }
                self.regression.chance(&z)
            })
            .collect())
    }

    /// The schema position and scale of each column, or the first name the schema lacks.
    fn indices(&self, schema: &FeatureSchema) -> std::result::Result<Vec<(usize, Scale)>, String> {
        self.columns.iter().map(|c| schema.index(&c.feature).map(|j| (j, c.scale)).ok_or_else(|| c.feature.clone())).collect()
    }

    /// Why a stored regression cannot be used with `schema`, if it cannot.
    pub(crate) fn problem(&self, schema: &FeatureSchema) -> Option<String> {
        if let Err(name) = self.indices(schema) {
            return Some(format!("{name:?} is not a feature of the schema"));
        }
        if self.regression.columns() != self.columns.len() || !self.regression.is_valid() {
            return Some(format!("the regression must have {} columns of finite numbers with spreads above 0", self.columns.len()));
        }
        None
    }
}

/// Each training row's chance of coming back from a logistic regression on log
/// recency and the BG/NBD chance (see [`crate::SplitOn::Smoothed`]), or `None` when it
/// cannot be fitted (one outcome only).
pub(crate) fn smoothed_target(schema: &FeatureSchema, x: ndarray::ArrayView2<'_, f64>, y: &[bool]) -> Option<Vec<f64>> {
    use winback_core::features::Source;
    // The traits a data extract's start does not censor; the chance as it is.
    smooth_chance(schema, x, y, |s| match s {
        Source::Recency => Some(Scale::Log),
        Source::BtydBuy => Some(Scale::Linear),
        _ => None,
    })
    .map(|(_, chances)| chances)
}

/// How a column enters a smoothing regression ([`OrderModel`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// The value as it is.
    Linear,
    /// `ln(1 + max(v, 0))`: counts, days and amounts.
    Log,
    /// `ln(p / (1 − p))`, `p` kept within [1e-6, 1 − 1e-6]: a chance.
    Logit,
}

impl Scale {
    /// The value on this scale.
    pub fn apply(self, v: f64) -> f64 {
        match self {
            Scale::Linear => v,
            Scale::Log => v.max(0.0).ln_1p(),
            Scale::Logit => {
                let q = v.clamp(1e-6, 1.0 - 1e-6);
                (q / (1.0 - q)).ln()
            }
        }
    }
}

/// The ordering regression (log recency, purchases, spend and tenure and the
/// log-odds of the BG/NBD chance; see [`crate::GroupOrder::Smoothed`]) and each training
/// row's chance under it, or `None` when it cannot be fitted.
pub(crate) fn order_scores(schema: &FeatureSchema, x: ndarray::ArrayView2<'_, f64>, y: &[bool]) -> Option<(OrderModel, Vec<f64>)> {
    use winback_core::features::Source;
    smooth_chance(schema, x, y, |s| match s {
        Source::Recency | Source::Purchases | Source::SpendTotal | Source::Tenure => Some(Scale::Log),
        // On the log-odds scale, so that customers whose chance is near 0 can be told apart.
        Source::BtydBuy => Some(Scale::Logit),
        _ => None,
    })
}

/// A ridge logistic regression on the schema's columns `scale` names, each on
/// its scale, and its chance per row.
fn smooth_chance(schema: &FeatureSchema, x: ndarray::ArrayView2<'_, f64>, y: &[bool], scale: impl Fn(&winback_core::features::Source) -> Option<Scale>) -> Option<(OrderModel, Vec<f64>)> {
    let columns: Vec<(usize, Scale)> = schema.features.iter().enumerate().filter_map(|(j, f)| scale(&f.source).map(|s| (j, s))).collect();
    let p = columns.len();
    if p == 0 {
        return None;
    }
    let flat: Vec<f64> = x.outer_iter().flat_map(|row| columns.iter().map(move |&(j, s)| s.apply(row[j]))).collect();
    let regression = winback_stats::logistic::Logistic::fit(&flat, p, y, 1.0)?;
    let chances = flat.chunks_exact(p).map(|r| regression.chance(r)).collect();
    let columns = columns.iter().map(|&(j, scale)| OrderColumn { feature: schema.features[j].name.clone(), scale }).collect();
    Some((OrderModel { columns, regression }, chances))
}
