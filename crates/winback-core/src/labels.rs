//! Labels (did they buy again within the horizon?) and stacked training sets.
//!
//! For a cutoff `T` and horizon `H`, a customer's label is whether they made a
//! purchase on a day in `[T, T+H)`, and their label spend is the value bought
//! minus the value returned in that window.
//!
//! A model is fitted where labels are known. Standing at `at`, the training
//! cutoffs are `at − H, at − 2H, …` ([`training_cutoffs`]): each one's label
//! window ends on or before `at`. Stacking several cutoffs into one training set
//! ([`TrainingSet::stacked`]) keeps a model from learning one period's base rate.
//!
//! ```
//! use winback_core::{History, Line, LoadOptions};
//! use winback_core::labels::{labels, training_cutoffs};
//! let l = |c, day, amount| Line { customer: c, day, amount, ..Default::default() };
//! let (h, _) = History::from_lines([l("a", 0, 5.0), l("a", 30, 7.0), l("b", 0, 3.0), l("b", 40, 9.0)], false, &LoadOptions::default())?;
//! let y = labels(&h, 30, 10, &[0, 1])?;
//! assert_eq!(y.repurchased, vec![true, false]); // a bought on day 30; b on day 40 = T+H, outside
//! assert_eq!(y.spend, vec![7.0, 0.0]);
//! assert_eq!(training_cutoffs(100, 30, 3)?, vec![70, 40, 10]);
//! # Ok::<(), winback_core::Error>(())
//! ```

use ndarray::{Array2, Axis, Slice};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::date::{format_day, Day};
use crate::error::{Error, Result};
use crate::features::{build_features_into, FeatureSchema};
use crate::history::History;
use crate::lapse::{Lapse, LapseRule};

/// Outcomes of a set of customers in `[cutoff, cutoff + horizon)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    /// The cutoff `T`.
    pub cutoff: Day,
    /// The horizon `H` in days.
    pub horizon: i64,
    /// Whether each customer purchased in the window.
    pub repurchased: Vec<bool>,
    /// Each customer's net spend in the window.
    pub spend: Vec<f64>,
}

/// The longest horizon accepted (100 years).
pub const MAX_HORIZON: i64 = 36_500;

/// Labels of `customers` (history indices) at `cutoff` over `horizon` days.
pub fn labels(history: &History, cutoff: Day, horizon: i64, customers: &[usize]) -> Result<Labels> {
    if !(1..=MAX_HORIZON).contains(&horizon) {
        return Err(Error::InvalidHorizon(horizon));
    }
    if let Some(&bad) = customers.iter().find(|&&c| c >= history.num_customers()) {
        return Err(Error::CustomerOutOfRange { index: bad, customers: history.num_customers() });
    }
    let end = i64::from(cutoff) + horizon;
    let (repurchased, spend): (Vec<bool>, Vec<f64>) = customers
        .par_iter()
        .map(|&c| {
            let ev = history.customer(c);
            let mut bought = false;
            let mut spend = 0.0;
            for e in ev.before(cutoff)..ev.len() {
                if i64::from(ev.day[e]) >= end {
                    break;
                }
                bought |= ev.is_purchase[e];
                spend += ev.gross[e] - ev.returned[e];
            }
            (bought, spend)
        })
        .unzip();
    Ok(Labels { cutoff, horizon, repurchased, spend })
}

/// The training cutoffs `at − H, at − 2H, …` (`count` of them), latest first.
pub fn training_cutoffs(at: Day, horizon: i64, count: usize) -> Result<Vec<Day>> {
    if !(1..=MAX_HORIZON).contains(&horizon) {
        return Err(Error::InvalidHorizon(horizon));
    }
    if count == 0 || count > 1000 {
        return Err(Error::InvalidCutoffCount(count));
    }
    Ok((1..=count as i64).map(|k| (i64::from(at) - k * horizon) as Day).collect())
}

/// Features and labels of the lapsed customers at several cutoffs, stacked.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingSet {
    /// Stacked feature rows.
    pub x: Array2<f64>,
    /// Stacked labels.
    pub y: Vec<bool>,
    /// Stacked label spend.
    pub spend: Vec<f64>,
    /// Customer (history index) of each row.
    pub customers: Vec<usize>,
    /// Cutoff of each row.
    pub row_cutoff: Vec<Day>,
    /// The lapse decision at each cutoff, in the order given.
    pub lapses: Vec<Lapse>,
    /// The schema of the columns.
    pub schema: FeatureSchema,
    /// The horizon.
    pub horizon: i64,
}

/// A `rows` × `cols` matrix of zeros, its pages first written by every core:
/// `Array2::zeros` had one thread zero the stacked training matrix (1.8 GB at
/// 100M lines), and with it take every page fault of that memory in turn.
fn zeros_on_every_core(rows: usize, cols: usize) -> Array2<f64> {
    let n = rows.saturating_mul(cols);
    let mut cells: Vec<f64> = Vec::with_capacity(n);
    cells.par_extend(rayon::iter::repeat_n(0.0, n));
    Array2::from_shape_vec((rows, cols), cells).unwrap_or_else(|_| Array2::zeros((rows, cols)))
}

impl TrainingSet {
    /// Builds the training set standing at `at`: at each cutoff, the customers
    /// lapsed under `rule` (resolved with history before that cutoff), their
    /// features, and their labels over `horizon`.
    ///
    /// Every cutoff must satisfy `cutoff + horizon ≤ at` (its labels are known at
    /// `at`); otherwise [`Error::CutoffTooLate`].
    pub fn stacked(
        history: &History,
        schema: &FeatureSchema,
        rule: &LapseRule,
        at: Day,
        horizon: i64,
        cutoffs: &[Day],
    ) -> Result<TrainingSet> {
        if !(1..=MAX_HORIZON).contains(&horizon) {
            return Err(Error::InvalidHorizon(horizon));
        }
        if cutoffs.is_empty() {
            return Err(Error::InvalidCutoffCount(0));
        }
        for &t in cutoffs {
            if i64::from(t) + horizon > i64::from(at) {
                return Err(Error::CutoffTooLate { cutoff: format_day(t), horizon, at: format_day(at) });
            }
        }
        // Every cutoff's lapsed list first, so that the stacked matrix is allocated
        // once and each cutoff's rows are built in it: the rows are never held
        // twice (at 100M lines, 1.8 GB of training rows).
        let lapses = cutoffs.iter().map(|&t| rule.resolve(history, t)).collect::<Result<Vec<_>>>()?;
        let total: usize = lapses.iter().map(|l| l.lapsed.len()).sum();
        let mut set = TrainingSet {
            x: zeros_on_every_core(total, schema.features.len()),
            y: Vec::with_capacity(total),
            spend: Vec::with_capacity(total),
            customers: Vec::with_capacity(total),
            row_cutoff: Vec::with_capacity(total),
            lapses: Vec::with_capacity(lapses.len()),
            schema: schema.clone(),
            horizon,
        };
        let mut from = 0;
        for (&t, lapse) in cutoffs.iter().zip(lapses) {
            let n = lapse.lapsed.len();
            // Built in place: no matrix of the cutoff's own to fill, copy and free
            // (at 100M lines ~0.6 GB a cutoff, written to fresh pages each time).
            build_features_into(history, schema, t, &lapse.lapsed, set.x.slice_axis_mut(Axis(0), Slice::from(from..from + n)))?;
            from += n;
            let lb = labels(history, t, horizon, &lapse.lapsed)?;
            set.y.extend(lb.repurchased);
            set.spend.extend(lb.spend);
            set.row_cutoff.extend(std::iter::repeat_n(t, n));
            set.customers.extend_from_slice(&lapse.lapsed);
            set.lapses.push(lapse);
        }
        Ok(set)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }
    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }
    /// Share of rows that repurchased.
    pub fn base_rate(&self) -> f64 {
        if self.y.is_empty() {
            0.0
        } else {
            self.y.iter().filter(|&&b| b).count() as f64 / self.y.len() as f64
        }
    }
}
