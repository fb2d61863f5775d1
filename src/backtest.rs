//! Rolling backtest: fit standing at each cutoff `T` (training windows end by
//! `T`), score the lapsed customers at `T`, and compare with what they did in
//! `[T, T+H)`. Two baselines go through the same code: a recency-only ranking
//! and the RFM score (R + F + M quintiles), each calibrated on the same training
//! rows (the training rate of its bin).

use serde::{Deserialize, Serialize};
use winback_core::date::{format_day, Day};
use winback_core::labels::labels;
use winback_core::History;
use winback_stats::metrics::{auc, capture_at, evaluate, lift_top_decile, Metrics};

use crate::error::{Error, Result};
use crate::model::{Config, WinbackModel};

/// Metrics of the grouped model and the two baselines at one cutoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestRow {
    /// The cutoff.
    pub cutoff: Day,
    /// Groups of the model fitted at that cutoff.
    pub groups: usize,
    /// Groups with at least one customer of the list scored at the cutoff.
    #[serde(default)]
    pub groups_present: usize,
    /// The largest group's share of the list scored at the cutoff.
    #[serde(default)]
    pub largest_share: f64,
    /// The grouped model (ranking and calibration by group probability: customers
    /// of one group tie).
    pub model: Metrics,
    /// AUC of the model's contact order: by group, then by the priority inside
    /// the group (the ordering regression's chance or the priority feature: what a
    /// full contact list does).
    #[serde(default)]
    pub contact_order_auc: f64,
    /// Ranking by recency alone (10 equal-frequency bins for calibration).
    pub recency: Metrics,
    /// Ranking by the RFM score (one bin per score), when RFM features are on.
    pub rfm: Option<Metrics>,
    /// Ranking by the BG/NBD chance of buying within the horizon (10 equal-frequency
    /// bins for calibration), when the BG/NBD features are on.
    #[serde(default)]
    pub btyd: Option<Metrics>,
}

/// Mean and standard deviation of a metric across cutoffs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Mean.
    pub mean: f64,
    /// Standard deviation (population).
    pub sd: f64,
}

/// A rolling backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    /// One row per cutoff, in the order given.
    pub rows: Vec<BacktestRow>,
}

fn spread(v: &[f64]) -> Spread {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
    Spread { mean, sd }
}

impl Backtest {
    /// Spread of a metric across cutoffs for `which` = "model", "recency", "rfm" or "btyd".
    pub fn spread(&self, which: &str, metric: impl Fn(&Metrics) -> f64) -> Option<Spread> {
        let v: Vec<f64> = self
            .rows
            .iter()
            .filter_map(|r| match which {
                "model" => Some(&r.model),
                "recency" => Some(&r.recency),
                "rfm" => r.rfm.as_ref(),
                "btyd" => r.btyd.as_ref(),
                _ => None,
            })
            .map(metric)
            .collect();
        (!v.is_empty()).then(|| spread(&v))
    }

    /// A markdown table: AUC, Brier, ECE, capture@60, lift, groups-to-80 per cutoff and method.
    pub fn table(&self) -> String {
        let mut s = String::from("| cutoff | method | n | base rate | AUC | Brier | ECE | capture@60 | lift top 10% | groups to 80% |\n|---|---|---|---|---|---|---|---|---|---|\n");
        for r in &self.rows {
            let mut line = |name: &str, m: &Metrics| {
                s.push_str(&format!(
                    "| {} | {name} | {} | {:.3} | {:.3} | {:.4} | {:.4} | {:.3} | {:.2} | {} |\n",
                    format_day(r.cutoff),
                    m.count,
                    m.base_rate,
                    m.auc,
                    m.brier,
                    m.ece,
                    m.capture_at_60,
                    m.lift_top_decile,
                    m.groups_to_80.map_or("-".into(), |g| g.to_string())
                ));
            };
            line(&format!("model ({} groups, {} on the list, largest {:.0}%; contact order AUC {:.3})", r.groups, r.groups_present, r.largest_share * 100.0, r.contact_order_auc), &r.model);
            line("recency only (10 bins)", &r.recency);
            if let Some(m) = &r.rfm {
                line("RFM score", m);
            }
            if let Some(m) = &r.btyd {
                line("BG/NBD P(buy within H)", m);
            }
        }
        s
    }
}

/// Bin of `v` given ascending cut points: the number of cut points ≤ `v`.
fn bin_of(v: f64, cuts: &[f64]) -> usize {
    cuts.partition_point(|&c| c <= v)
}


/// Calibrates a one-number ranking on training rows: bin rates, then the metrics
/// of the test rows (ranking metrics from the raw score, calibration from the bins).
fn baseline(train_score: &[f64], train_y: &[bool], test_score: &[f64], test_y: &[bool], binning: impl Fn(f64) -> usize) -> Metrics {
    let base = train_y.iter().filter(|&&b| b).count() as f64 / train_y.len().max(1) as f64;
    let mut acc: std::collections::BTreeMap<usize, (f64, f64)> = std::collections::BTreeMap::new();
    for (s, &y) in train_score.iter().zip(train_y) {
        let a = acc.entry(binning(*s)).or_default();
        a.0 += 1.0;
        a.1 += f64::from(u8::from(y));
    }
    let rate = |b: usize| acc.get(&b).map_or(base, |(n, k)| k / n);
    let bins: Vec<usize> = test_score.iter().map(|&s| binning(s)).collect();
    let p: Vec<f64> = bins.iter().map(|&b| rate(b)).collect();
    let mut m = evaluate(&p, test_y, &bins);
    m.auc = auc(test_score, test_y);
    m.capture_at_60 = capture_at(test_score, test_y, 0.6);
    m.lift_top_decile = lift_top_decile(test_score, test_y);
    m
}

/// The default backtest cutoffs standing at `at`: up to `n` cutoffs one horizon
/// apart, the latest one horizon before `at`, oldest first, keeping those whose
/// own fit has a training cutoff with the config's minimum history before it
/// (for the lapse threshold at that cutoff, see [`Config::min_history`]).
///
/// ```
/// use winback::{default_cutoffs, Config};
/// use winback::core::lapse::LapseRule;
/// use winback::core::History;
/// use winback::core::Line;
/// let lines: Vec<Line> = (0..400).map(|d| Line { customer: "a", day: d, amount: 1.0, ..Default::default() }).collect();
/// let (h, _) = History::from_lines(lines, false, &Default::default())?;
/// // Horizon 60, lapsed after 60 days, minimum history 90: cutoffs 160, 220, 280 (fits at 100, 160, 220).
/// let config = Config { lapse: LapseRule::Fixed { days: 60 }, ..Config::default() };
/// assert_eq!(default_cutoffs(&h, 340, &config, 3), vec![160, 220, 280]);
/// assert_eq!(default_cutoffs(&h, 250, &config, 3), vec![190]);
/// assert_eq!(default_cutoffs(&h, 200, &config, 3), Vec::<i32>::new());
/// // A daily buyer: the learned threshold is 1 day, the minimum history 28 days.
/// assert_eq!(default_cutoffs(&h, 200, &Config::default(), 3), vec![140]);
/// # Ok::<(), winback::Error>(())
/// ```
pub fn default_cutoffs(history: &History, at: Day, config: &Config, n: usize) -> Vec<Day> {
    let h = config.horizon_days;
    let (first, last) = (i64::from(history.day_range().0), i64::from(history.day_range().1));
    (1..=n as i64)
        .rev()
        .map(|k| i64::from(at) - k * h)
        // Every window observed in full (`backtest` refuses one that runs past the data).
        .filter(|&t| t + h <= last + 1)
        .filter(|&t| {
            // The fit at `t` uses the lapse threshold at `t` for its minimum history.
            let lapse_days = Day::try_from(t).ok().and_then(|d| config.lapse.resolve(history, d).ok()).map_or(h, |l| l.threshold_days);
            t - h - first >= config.min_history(lapse_days)
        })
        .map(|t| t as Day)
        .collect()
}

/// Runs the backtest at each cutoff in `cutoffs` (each must satisfy `T + H ≤ at`).
pub fn backtest(history: &History, at: Day, cutoffs: &[Day], config: &Config) -> Result<Backtest> {
    let h = config.horizon_days;
    let mut seen = std::collections::BTreeSet::new();
    if let Some(&t) = cutoffs.iter().find(|&&t| !seen.insert(t)) {
        return Err(Error::RepeatedBacktestCutoff(format_day(t)));
    }
    let mut rows = Vec::new();
    for &t in cutoffs {
        if i64::from(t) + h > i64::from(at) {
            return Err(Error::BacktestCutoffTooLate { cutoff: format_day(t), horizon: h, at: format_day(at) });
        }
        let data_end = history.day_range().1;
        if i64::from(t) + h > i64::from(data_end) + 1 {
            return Err(Error::WindowPastData { cutoff: format_day(t), horizon: h, data_end: format_day(data_end) });
        }
        let fitted = WinbackModel::fit_full(history, t, config)?;
        let model = &fitted.model;
        let scores = model.score(history, t)?;
        if scores.customers.is_empty() {
            return Err(Error::NobodyLapsed(format_day(t)));
        }
        let y = labels(history, t, h, &scores.lapse.lapsed)?.repurchased;
        let p: Vec<f64> = scores.customers.iter().map(|c| c.probability).collect();
        let g: Vec<usize> = scores.customers.iter().map(|c| c.group).collect();
        let m = evaluate(&p, &y, &g);
        // The contact order: group probability, then priority, then customer id.
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| {
            let (ca, cb) = (&scores.customers[a], &scores.customers[b]);
            cb.probability.total_cmp(&ca.probability).then(ca.group.cmp(&cb.group)).then(cb.priority.total_cmp(&ca.priority)).then(ca.customer_id.cmp(&cb.customer_id))
        });
        let mut position = vec![0.0; p.len()];
        for (k, &i) in order.iter().enumerate() {
            position[i] = -(k as f64);
        }
        let contact_order_auc = auc(&position, &y);

        let col = |x: &ndarray::Array2<f64>, name: &str| model.schema.index(name).map(|j| x.column(j).to_vec());
        let train_x = &fitted.train.x;
        let test_x = &scores.features.x;
        // Recency: more recent = higher score.
        let neg = |v: Vec<f64>| v.into_iter().map(|x| -x).collect::<Vec<f64>>();
        let (tr_r, te_r) = (neg(col(train_x, "recency_days").unwrap_or_default()), neg(col(test_x, "recency_days").unwrap_or_default()));
        let rc = winback_stats::equal_frequency_cuts(&tr_r, 10);
        let recency = baseline(&tr_r, &fitted.train.y, &te_r, &y, |v| bin_of(v, &rc));
        let rfm_score = |x: &ndarray::Array2<f64>| -> Option<Vec<f64>> {
            let (r, f, mm) = (col(x, "rfm_r")?, col(x, "rfm_f")?, col(x, "rfm_m")?);
            Some(r.iter().zip(&f).zip(&mm).map(|((a, b), c)| a + b + c).collect())
        };
        let rfm = match (rfm_score(train_x), rfm_score(test_x)) {
            (Some(tr), Some(te)) => Some(baseline(&tr, &fitted.train.y, &te, &y, |v| v as usize)),
            _ => None,
        };
        let btyd_name = format!("btyd_p_buy_{h}d");
        let btyd = match (col(train_x, &btyd_name), col(test_x, &btyd_name)) {
            (Some(tr), Some(te)) => {
                let cuts = winback_stats::equal_frequency_cuts(&tr, 10);
                Some(baseline(&tr, &fitted.train.y, &te, &y, |v| bin_of(v, &cuts)))
            }
            _ => None,
        };
        let groups_present = scores.group_shares.iter().filter(|&&s| s > 0.0).count();
        let largest_share = scores.group_shares.iter().copied().fold(0.0, f64::max);
        rows.push(BacktestRow { cutoff: t, groups: model.segmentation.groups.len(), groups_present, largest_share, model: m, contact_order_auc, recency, rfm, btyd });
    }
    Ok(Backtest { rows })
}
