//! A seeded synthetic purchase history whose true repurchase probabilities are known.
//!
//! Each customer has a latent purchase rate and a latent dropout hazard, drawn
//! from gamma distributions (so customers differ a lot, as in real retail), made
//! to depend on observable attributes (age band, region, preferred channel):
//!
//! * the customer joins with a first purchase on a uniform day in the first 70%
//!   of the period (or, in the single-cohort mode
//!   [`SyntheticConfig::join_within_days`], in its first days, as after a launch);
//! * on every later day while alive, they buy with probability
//!   `1 − exp(−rate × season(day))`, where `season` is a yearly sine (±30%,
//!   peak in December);
//! * at the end of every day they stay alive with probability `1 − dropout`.
//!
//! A purchase is an order of 1–4 lines in categories (a favourite category with
//! probability 0.6), mostly in the preferred channel (80%), with a spend level per
//! customer; 5% of orders see one line returned 1–14 days later (a negative
//! line). Because the generator knows every customer's parameters and whether
//! they are still alive at a cutoff, [`Synthetic::true_probability`] gives the
//! exact probability of a purchase in `[T, T+H)` — the ground truth for
//! calibration tests.
//!
//! Generation is per customer, with a per-customer random stream derived from
//! the seed, so any size is reproducible and can be streamed to disk
//! ([`Synthetic::write_csv`]) without holding it in memory.
//!
//! ```
//! use winback_core::synthetic::{SyntheticConfig, Synthetic};
//! let s = Synthetic::new(SyntheticConfig { customers: 200, seed: 7, ..Default::default() });
//! let (history, report) = s.history()?;
//! assert_eq!(history.num_customers(), 200);
//! assert!(report.returns > 0);
//! let p = s.true_probability(0, s.config().start + 500, 60);
//! assert!((0.0..=1.0).contains(&p));
//! # Ok::<(), winback_core::Error>(())
//! ```

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::attributes::{AttrColumn, AttrValues, Attributes};
use crate::date::{day_from_ymd, format_day, Day};
use crate::error::{Error, Result};
use crate::history::{History, Line, LoadOptions};
use crate::report::LoadReport;
use winback_stats::Rng;

/// Row order of a written history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Customer by customer, each in day order (the generator's natural order).
    Customer,
    /// By day, as warehouses, point-of-sale systems and `COPY ... TO` exports write logs.
    Time,
    /// Shuffled (seeded).
    Random,
}

/// Parameters of the generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticConfig {
    /// Number of customers.
    pub customers: usize,
    /// First day of the period.
    pub start: Day,
    /// Length of the period in days.
    pub days: i64,
    /// Seed.
    pub seed: u64,
    /// Mean purchase rate per day (default 1/30).
    pub mean_rate: f64,
    /// Gamma shape of the purchase rate (smaller = more heterogeneous; default 0.9).
    pub rate_shape: f64,
    /// Mean dropout hazard per day (default 1/400).
    pub mean_dropout: f64,
    /// Gamma shape of the dropout hazard (default 1.5).
    pub dropout_shape: f64,
    /// Probability that an order has a returned line (default 0.05).
    pub return_prob: f64,
    /// Amplitude of the yearly seasonality (default 0.3).
    pub seasonality: f64,
    /// Single-cohort mode: everyone joins within the first this many days (e.g.
    /// 90: acquired in the first quarter, as after a launch). `None` (default):
    /// joins spread over the first 70% of the period.
    #[serde(default)]
    pub join_within_days: Option<i64>,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            customers: 10_000,
            start: day_from_ymd(2022, 1, 1),
            days: 730,
            seed: 42,
            mean_rate: 1.0 / 30.0,
            rate_shape: 0.9,
            mean_dropout: 1.0 / 400.0,
            dropout_shape: 1.5,
            return_prob: 0.05,
            seasonality: 0.3,
            join_within_days: None,
        }
    }
}

/// Channels, categories, regions and age bands of the synthetic brand.
pub const CHANNELS: [&str; 3] = ["app", "online", "store"];
/// Product categories.
pub const CATEGORIES: [&str; 6] = ["beauty", "garden", "grocery", "home", "kids", "sport"];
/// Regions.
pub const REGIONS: [&str; 5] = ["East", "North", "South", "West", "Central"];
/// Age bands.
pub const AGE_BANDS: [&str; 5] = ["18-24", "25-34", "35-49", "50-64", "65+"];

/// What the generator knows about a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerTruth {
    /// Customer id.
    pub id: String,
    /// Purchase rate per day (before seasonality).
    pub rate: f64,
    /// Dropout hazard per day.
    pub dropout: f64,
    /// First purchase day.
    pub join: Day,
    /// Last day on which the customer is alive (may lie after the period).
    pub last_alive: Day,
    /// Preferred channel (index into [`CHANNELS`]).
    pub channel: usize,
    /// Region (index into [`REGIONS`]).
    pub region: usize,
    /// Age band (index into [`AGE_BANDS`]).
    pub age_band: usize,
}

/// One generated line.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthLine {
    /// Customer index.
    pub customer: u32,
    /// Day.
    pub day: Day,
    /// Order number within the customer.
    pub order: u32,
    /// Value (negative for a return).
    pub amount: f64,
    /// Quantity.
    pub quantity: u32,
    /// Channel index.
    pub channel: u8,
    /// Category index.
    pub category: u8,
}

/// A generated data set: the truth per customer, and lines on demand.
#[derive(Debug, Clone)]
pub struct Synthetic {
    config: SyntheticConfig,
    truth: Vec<CustomerTruth>,
}

const AGE_WEIGHTS: [f64; 5] = [0.12, 0.24, 0.3, 0.22, 0.12];
const AGE_RATE: [f64; 5] = [0.7, 0.9, 1.1, 1.2, 1.0];
const AGE_DROPOUT: [f64; 5] = [1.6, 1.2, 1.0, 0.8, 0.7];
const CHANNEL_WEIGHTS: [f64; 3] = [0.15, 0.45, 0.4];
const CHANNEL_RATE: [f64; 3] = [1.4, 1.0, 0.85];
const REGION_RATE: [f64; 5] = [1.0, 1.15, 0.9, 1.0, 1.05];

impl Synthetic {
    /// Draws every customer's parameters (lines are generated on demand).
    pub fn new(config: SyntheticConfig) -> Synthetic {
        let truth = (0..config.customers).map(|i| draw_customer(&config, i)).collect();
        Synthetic { config, truth }
    }

    /// The configuration.
    pub fn config(&self) -> &SyntheticConfig {
        &self.config
    }

    /// The truth per customer, in customer order (ids `c0000001`, ...).
    pub fn truth(&self) -> &[CustomerTruth] {
        &self.truth
    }

    /// Seasonal multiplier of the purchase rate on a day.
    pub fn season(&self, day: Day) -> f64 {
        // Peak on December 15th.
        let phase = f64::from(day - day_from_ymd(2000, 12, 15)) / 365.25 * std::f64::consts::TAU;
        1.0 + self.config.seasonality * phase.cos()
    }

    fn daily_prob(&self, t: &CustomerTruth, day: Day) -> f64 {
        1.0 - (-t.rate * self.season(day)).exp()
    }

    /// True probability that customer `c` (index in [`Synthetic::truth`]) makes a
    /// purchase on a day in `[cutoff, cutoff + horizon)`, knowing whether they are
    /// still alive at `cutoff`. Zero before they join.
    pub fn true_probability(&self, c: usize, cutoff: Day, horizon: i64) -> f64 {
        let t = &self.truth[c];
        if cutoff > t.last_alive {
            return 0.0;
        }
        let mut alive_no_purchase = 1.0;
        let mut dead_no_purchase = 0.0;
        for k in 0..horizon {
            let day = cutoff + k as Day;
            if day <= t.join {
                // The join purchase itself is a purchase in the window.
                if day == t.join {
                    return 1.0;
                }
                continue;
            }
            alive_no_purchase *= 1.0 - self.daily_prob(t, day);
            dead_no_purchase += alive_no_purchase * t.dropout;
            alive_no_purchase *= 1.0 - t.dropout;
        }
        1.0 - (dead_no_purchase + alive_no_purchase)
    }

    /// The lines of customer `c`, in day order.
    pub fn lines_of(&self, c: usize) -> Vec<SynthLine> {
        let t = &self.truth[c];
        let cfg = &self.config;
        let mut rng = Rng::new(cfg.seed ^ (c as u64).wrapping_mul(0xd1b5_4a32_d192_ed03) ^ 0x5eed);
        let end = cfg.start + cfg.days as Day; // exclusive
        let spend_level = (3.3 + 0.6 * rng.normal()).exp();
        let favourite = rng.below(CATEGORIES.len());
        let mut out = Vec::new();
        let mut order = 0u32;
        let last = t.last_alive.min(end - 1);
        let mut day = t.join;
        let mut emit = |day: Day, rng: &mut Rng, out: &mut Vec<SynthLine>| {
            order += 1;
            let channel = if rng.f64() < 0.8 { t.channel } else { rng.below(CHANNELS.len()) } as u8;
            let n_lines = 1 + rng.below(4);
            let basket = spend_level * (0.4 * rng.normal()).exp();
            let start = out.len();
            for _ in 0..n_lines {
                let category = if rng.f64() < 0.6 { favourite } else { rng.below(CATEGORIES.len()) } as u8;
                let amount = (basket / n_lines as f64 * (0.5 + rng.f64()) * 100.0).round() / 100.0;
                out.push(SynthLine { customer: c as u32, day, order, amount: amount.max(0.01), quantity: 1 + rng.below(3) as u32, channel, category });
            }
            if rng.f64() < cfg.return_prob {
                let victim = out[start + rng.below(n_lines)].clone();
                let back = day + 1 + rng.below(14) as Day;
                if back < end {
                    order += 1;
                    let share = 0.3 + 0.7 * rng.f64();
                    out.push(SynthLine { day: back, order, amount: -((victim.amount * share * 100.0).round() / 100.0).max(0.01), quantity: 1, ..victim });
                }
            }
        };
        if day < end {
            emit(day, &mut rng, &mut out);
        }
        // Later purchases: candidate days at the maximal daily probability,
        // accepted with probability p(day) / p_max (thinning), skipping geometrically.
        let p_max = 1.0 - (-t.rate * (1.0 + cfg.seasonality)).exp();
        while p_max > 0.0 && day < last {
            let u = rng.f64().max(1e-300);
            let skip = if p_max >= 1.0 { 1.0 } else { (u.ln() / (1.0 - p_max).ln()).floor() + 1.0 };
            if skip > f64::from(last - day) {
                break;
            }
            day += skip as Day;
            if rng.f64() * p_max < self.daily_prob(t, day) {
                emit(day, &mut rng, &mut out);
            }
        }
        out.sort_by_key(|l| (l.day, l.order));
        out
    }

    /// Builds the history of all customers, with attributes attached.
    pub fn history(&self) -> Result<(History, LoadReport)> {
        let (h, r) = self.history_of(|_| true)?;
        Ok((h.with_attributes(self.attributes()?), r))
    }

    /// The purchase history of the customers `keep` selects (by generation index),
    /// without the attribute table: one shard of the data, as a cluster partition
    /// holds it.
    pub fn history_of(&self, keep: impl Fn(usize) -> bool) -> Result<(History, LoadReport)> {
        let ids: Vec<&str> = self.truth.iter().map(|t| t.id.as_str()).collect();
        let mut order_ids: Vec<String> = Vec::new();
        let mut lines = Vec::new();
        for c in (0..self.truth.len()).filter(|&c| keep(c)) {
            lines.extend(self.lines_of(c));
        }
        order_ids.extend(lines.iter().map(|l| format!("{}-{}", l.customer, l.order)));
        let it = lines.iter().zip(&order_ids).map(|(l, o)| Line {
            customer: ids[l.customer as usize],
            day: l.day,
            amount: l.amount,
            quantity: Some(f64::from(l.quantity)),
            order: Some(o.as_str()),
            channel: Some(CHANNELS[usize::from(l.channel)]),
            category: Some(CATEGORIES[usize::from(l.category)]),
            region: Some(REGIONS[self.truth[l.customer as usize].region]),
            cancelled: false,
        });
        History::from_lines(it, true, &LoadOptions::default())
    }

    /// The customer attribute table: `age_band`, `join_channel`, `region`.
    pub fn attributes(&self) -> Result<Attributes> {
        let cat = |name: &str, levels: &[&str], f: &dyn Fn(&CustomerTruth) -> usize| {
            let mut sorted: Vec<String> = levels.iter().map(|s| s.to_string()).collect();
            sorted.sort();
            let codes = self
                .truth
                .iter()
                .map(|t| sorted.iter().position(|s| s == levels[f(t)]).map_or(u32::MAX, |p| p as u32))
                .collect();
            AttrColumn { name: name.into(), values: AttrValues::Categorical { levels: sorted, codes } }
        };
        Attributes::from_columns(
            self.truth.iter().map(|t| t.id.clone()).collect(),
            vec![
                cat("age_band", &AGE_BANDS, &|t| t.age_band),
                cat("join_channel", &CHANNELS, &|t| t.channel),
            ],
        )
    }

    /// Writes all lines as CSV with the header
    /// `customer_id,order_id,date,amount,quantity,channel,category,region`,
    /// streaming customer by customer. Returns the number of lines written.
    pub fn write_csv(&self, path: &Path) -> Result<u64> {
        self.write_csv_in(path, Layout::Customer)
    }

    /// Writes the lines as CSV in the given row order (see [`Layout`]); same columns as
    /// [`Synthetic::write_csv`]. The time and random layouts hold every line in memory.
    pub fn write_csv_in(&self, path: &Path, layout: Layout) -> Result<u64> {
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let f = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
        writeln!(w, "customer_id,order_id,date,amount,quantity,channel,category,region").map_err(io)?;
        let mut n = 0;
        let all: Box<dyn Iterator<Item = (usize, SynthLine)>> = match layout {
            Layout::Customer => Box::new((0..self.truth.len()).flat_map(|c| self.lines_of(c).into_iter().map(move |l| (c, l)))),
            Layout::Time | Layout::Random => {
                let mut v: Vec<(usize, SynthLine)> = (0..self.truth.len()).flat_map(|c| self.lines_of(c).into_iter().map(move |l| (c, l))).collect();
                if layout == Layout::Time {
                    v.sort_by_key(|(c, l)| (l.day, *c, l.order));
                } else {
                    let mut rng = Rng::new(self.config.seed ^ 0x05ee_d0f5_ca1e);
                    for i in (1..v.len()).rev() {
                        v.swap(i, rng.below(i + 1));
                    }
                }
                Box::new(v.into_iter())
            }
        };
        {
            for (c, l) in all {
                let t = &self.truth[c];
                writeln!(
                    w,
                    "{},{}-{},{},{:.2},{},{},{},{}",
                    t.id,
                    t.id,
                    l.order,
                    format_day(l.day),
                    l.amount,
                    l.quantity,
                    CHANNELS[usize::from(l.channel)],
                    CATEGORIES[usize::from(l.category)],
                    REGIONS[t.region]
                )
                .map_err(io)?;
                n += 1;
            }
        }
        w.flush().map_err(io)?;
        Ok(n)
    }

    /// Writes the attribute table as CSV (`customer_id,age_band,join_channel,region,join_date`).
    pub fn write_attributes_csv(&self, path: &Path) -> Result<()> {
        let io = |source| Error::Io { path: path.to_path_buf(), source };
        let f = std::fs::File::create(path).map_err(io)?;
        let mut w = std::io::BufWriter::new(f);
        writeln!(w, "customer_id,age_band,join_channel,region,join_date").map_err(io)?;
        for t in &self.truth {
            writeln!(w, "{},{},{},{},{}", t.id, AGE_BANDS[t.age_band], CHANNELS[t.channel], REGIONS[t.region], format_day(t.join))
                .map_err(io)?;
        }
        w.flush().map_err(io)
    }
}

fn draw_customer(cfg: &SyntheticConfig, i: usize) -> CustomerTruth {
    let mut rng = Rng::new(cfg.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ (i as u64).wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let age_band = rng.pick(&AGE_WEIGHTS);
    let channel = rng.pick(&CHANNEL_WEIGHTS);
    let region = rng.below(REGIONS.len());
    let rate = (rng.gamma(cfg.rate_shape, cfg.mean_rate / cfg.rate_shape) * AGE_RATE[age_band] * CHANNEL_RATE[channel] * REGION_RATE[region])
        .min(0.9);
    let dropout = (rng.gamma(cfg.dropout_shape, cfg.mean_dropout / cfg.dropout_shape) * AGE_DROPOUT[age_band]).min(0.5);
    let span = match cfg.join_within_days {
        Some(d) => d.clamp(1, cfg.days.max(1)) as f64,
        None => cfg.days as f64 * 0.7,
    };
    let join = cfg.start + (rng.f64() * span) as Day;
    // Days survived after the join day: geometric with success probability `dropout`.
    let u = rng.f64().max(1e-300);
    let survived = if dropout > 0.0 { (u.ln() / (1.0 - dropout).ln()).floor() } else { f64::from(i32::MAX / 4) };
    let last_alive = join.saturating_add(survived.min(f64::from(i32::MAX / 4)) as Day);
    CustomerTruth { id: format!("c{:07}", i + 1), rate, dropout, join, last_alive, channel, region, age_band }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_seed_dependent() {
        let a = Synthetic::new(SyntheticConfig { customers: 50, ..Default::default() });
        let b = Synthetic::new(SyntheticConfig { customers: 50, ..Default::default() });
        let c = Synthetic::new(SyntheticConfig { customers: 50, seed: 43, ..Default::default() });
        assert_eq!(a.lines_of(3), b.lines_of(3));
        assert_ne!(a.lines_of(3), c.lines_of(3));
    }

    #[test]
    fn true_probability_matches_simulation() {
        // Monte Carlo check of the closed form: re-simulate a customer's window many times.
        let s = Synthetic::new(SyntheticConfig { customers: 1, ..Default::default() });
        let mut t = s.truth[0].clone();
        t.rate = 0.02;
        t.dropout = 0.01;
        t.last_alive = i32::MAX / 2;
        let s = Synthetic { truth: vec![t.clone()], config: s.config.clone() };
        let cutoff = t.join + 100;
        let p = s.true_probability(0, cutoff, 60);
        let mut rng = Rng::new(1);
        let n = 200_000;
        let mut hits = 0;
        for _ in 0..n {
            for k in 0..60 {
                if rng.f64() < s.daily_prob(&t, cutoff + k) {
                    hits += 1;
                    break;
                }
                if rng.f64() < t.dropout {
                    break;
                }
            }
        }
        let mc = f64::from(hits) / f64::from(n);
        assert!((mc - p).abs() < 0.005, "closed form {p} vs simulation {mc}");
    }

    #[test]
    fn gamma_mean() {
        let mut r = Rng::new(3);
        let n = 100_000;
        let m: f64 = (0..n).map(|_| r.gamma(0.9, 2.0)).sum::<f64>() / f64::from(n);
        assert!((m - 1.8).abs() < 0.03, "{m}");
    }
}
