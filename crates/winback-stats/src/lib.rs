//! # winback-stats
//!
//! The few statistical tools that both `winback-tree` (honest group
//! probabilities) and `winback-rank` (feedback after a contact wave) need, in
//! one dependency-free leaf crate so that neither depends on the other:
//! Beta posteriors with equal-tailed intervals, and a small seeded RNG with
//! gamma and beta draws (Thompson sampling, synthetic data).
//!
//! ```
//! use winback_stats::Beta;
//! // A prior worth 20 customers at a 15% base rate, then 3 of 40 came back.
//! let post = Beta::from_mean(0.15, 20.0).update(3, 40);
//! assert!((post.mean() - (3.0 + 3.0) / (20.0 + 40.0)).abs() < 1e-12);
//! let (lo, hi) = post.interval(0.90);
//! assert!(lo < post.mean() && post.mean() < hi && lo > 0.0 && hi < 1.0);
//! ```

pub mod btyd;
pub mod logistic;
pub mod metrics;
mod rng;

pub use rng::Rng;

/// A seeded 64-bit hash of a text (FNV-1a, then [`mix`]): the same on every machine
/// and every run (randomised holdouts, per-customer splits).
///
/// ```
/// use winback_stats::hash_str;
/// assert_eq!(hash_str(7, "c001"), hash_str(7, "c001"));
/// assert_ne!(hash_str(7, "c001"), hash_str(8, "c001"));
/// ```
pub fn hash_str(seed: u64, s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(seed, h)
}

/// What kind of failure an error of any winback crate is (each crate's error
/// has a `kind()`): the CLI maps `Parameter` to exit code 2 and the others to 1,
/// the Python package maps `Parameter` to `WinbackParamError` and the others to
/// `WinbackDataError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// An invalid parameter: the caller passed a bad value (a usage error).
    Parameter,
    /// Bad or insufficient data (files, tables, model files, outcomes).
    Data,
    /// A file could not be read or written.
    Io,
}

/// The `q`-quantile (0 ≤ q ≤ 1) of values sorted ascending, interpolated
/// linearly between neighbours (numpy's default); 0 for no values. The one
/// quantile of the project: RFM breakpoints, baseline bins.
///
/// ```
/// use winback_stats::quantile_sorted;
/// assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
/// assert_eq!(quantile_sorted(&[1.0, 2.0, 3.0, 4.0], 0.0), 1.0);
/// assert_eq!(quantile_sorted(&[], 0.3), 0.0);
/// ```
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Equal-frequency cut points of `values` into at most `k` bins (the
/// `i/k`-quantiles, duplicates removed); bin of `v` = number of cuts ≤ `v`.
///
/// ```
/// let cuts = winback_stats::equal_frequency_cuts(&[5.0, 1.0, 3.0, 2.0, 4.0], 2);
/// assert_eq!(cuts, vec![3.0]);
/// ```
pub fn equal_frequency_cuts(values: &[f64], k: usize) -> Vec<f64> {
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let mut c: Vec<f64> = (1..k.max(1)).map(|i| quantile_sorted(&s, i as f64 / k as f64)).collect();
    c.dedup();
    c
}

/// Mixes a seed and a value into 64 well-spread bits (SplitMix64's finalizer on
/// `seed ^ v·φ`). The project's one stable hash for seeded choices (held-out
/// customers, per-node samples, control arms): written here, not taken from
/// `std`, so models do not change with a toolchain upgrade.
///
/// ```
/// assert_eq!(winback_stats::mix(42, 7), winback_stats::mix(42, 7));
/// assert_ne!(winback_stats::mix(42, 7), winback_stats::mix(43, 7));
/// // Fixed for ever: a golden value.
/// assert_eq!(winback_stats::mix(0, 0), 0);
/// assert_eq!(winback_stats::mix(1, 0), 0x5692_161d_100b_05e5);
/// ```
pub fn mix(seed: u64, v: u64) -> u64 {
    let mut x = seed ^ v.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
use serde::{Deserialize, Serialize};

/// Quadrature nodes of [`Beta::difference_cdf`].
pub const DIFFERENCE_NODES: usize = 256;

/// A Beta(α, β) distribution, the conjugate posterior of a rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Beta {
    /// α > 0 (pseudo-successes).
    pub alpha: f64,
    /// β > 0 (pseudo-failures).
    pub beta: f64,
}

impl Beta {
    /// Beta(α, β); both must be positive and finite (else `None`).
    pub fn new(alpha: f64, beta: f64) -> Option<Beta> {
        (alpha > 0.0 && beta > 0.0 && alpha.is_finite() && beta.is_finite()).then_some(Beta { alpha, beta })
    }

    /// The Beta with mean `mean` worth `strength` observations (`α + β = strength`).
    /// The mean is clamped into [1e-6, 1 − 1e-6] (a NaN mean is taken as ½) and the
    /// strength into [1e-6, 1e12] (a NaN strength is taken as 1e-6).
    pub fn from_mean(mean: f64, strength: f64) -> Beta {
        let m = if mean.is_nan() { 0.5 } else { mean.clamp(1e-6, 1.0 - 1e-6) };
        let s = if strength.is_nan() { 1e-6 } else { strength.clamp(1e-6, 1e12) };
        Beta { alpha: m * s, beta: (1.0 - m) * s }
    }

    /// The posterior after `successes` out of `trials` (successes ≤ trials).
    pub fn update(self, successes: u64, trials: u64) -> Beta {
        let k = successes.min(trials) as f64;
        Beta { alpha: self.alpha + k, beta: self.beta + (trials as f64 - k) }
    }

    /// The posterior after weighted observations: `successes` (weighted) out of
    /// `trials` (weighted); negative or non-finite amounts count as 0.
    pub fn update_weighted(self, successes: f64, trials: f64) -> Beta {
        let n = if trials.is_finite() { trials.max(0.0) } else { 0.0 };
        let k = if successes.is_finite() { successes.clamp(0.0, n) } else { 0.0 };
        Beta { alpha: self.alpha + k, beta: self.beta + (n - k) }
    }

    /// The mean α / (α + β).
    pub fn mean(&self) -> f64 {
        self.alpha / (self.alpha + self.beta)
    }

    /// The cumulative distribution at `x` (the regularized incomplete beta function).
    pub fn cdf(&self, x: f64) -> f64 {
        reg_inc_beta(self.alpha, self.beta, x)
    }

    /// The `p`-quantile (bisection on the cdf, accurate to 1e-12).
    pub fn quantile(&self, p: f64) -> f64 {
        let p = p.clamp(0.0, 1.0);
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..100 {
            let mid = 0.5 * (lo + hi);
            if self.cdf(mid) < p {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo < 1e-12 {
                break;
            }
        }
        0.5 * (lo + hi)
    }

    /// The equal-tailed interval holding `level` of the mass (0.90 → 5% and 95% quantiles).
    pub fn interval(&self, level: f64) -> (f64, f64) {
        let tail = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
        (self.quantile(tail), self.quantile(1.0 - tail))
    }

    /// `P(X − Y ≤ d)` for independent `X ~ self` and `Y ~ other`: the mean of
    /// `F_X(Y + d)` over [`DIFFERENCE_NODES`] midpoints of `Y`'s quantiles
    /// (deterministic quadrature, no sampling).
    pub fn difference_cdf(&self, other: &Beta, d: f64) -> f64 {
        self.difference_cdf_at(&other.nodes(), d)
    }

    fn nodes(&self) -> Vec<f64> {
        let n = DIFFERENCE_NODES as f64;
        (0..DIFFERENCE_NODES).map(|i| self.quantile((i as f64 + 0.5) / n)).collect()
    }

    fn difference_cdf_at(&self, ys: &[f64], d: f64) -> f64 {
        let sum: f64 = ys
            .iter()
            .map(|&y| {
                let x = y + d;
                if x <= 0.0 {
                    0.0
                } else if x >= 1.0 {
                    1.0
                } else {
                    self.cdf(x)
                }
            })
            .sum();
        sum / ys.len().max(1) as f64
    }

    /// The difference `X − Y` of independent rates `X ~ self` (say, of contacted
    /// customers) and `Y ~ other` (of the control group): its mean and its
    /// equal-tailed interval at `level`, from [`Beta::difference_cdf`] (ends
    /// accurate to about 0.001).
    ///
    /// ```
    /// use winback_stats::Beta;
    /// let contact = Beta::new(1.0, 1.0).unwrap().update(30, 100);
    /// let control = Beta::new(1.0, 1.0).unwrap().update(10, 50);
    /// let (mean, low, high) = contact.difference_interval(&control, 0.9);
    /// assert!((mean - (31.0 / 102.0 - 11.0 / 52.0)).abs() < 1e-12);
    /// assert!(low < 0.0 && high > 0.2); // 100 vs 50 customers: too few to be sure
    /// ```
    pub fn difference_interval(&self, other: &Beta, level: f64) -> (f64, f64, f64) {
        let ys = other.nodes();
        let tail = (1.0 - level.clamp(0.0, 1.0)) / 2.0;
        let solve = |p: f64| {
            let (mut lo, mut hi) = (-1.0f64, 1.0f64);
            for _ in 0..40 {
                let mid = 0.5 * (lo + hi);
                if self.difference_cdf_at(&ys, mid) < p {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        };
        (self.mean() - other.mean(), solve(tail), solve(1.0 - tail))
    }

    /// A random draw.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        let x = rng.gamma(self.alpha, 1.0);
        let y = rng.gamma(self.beta, 1.0);
        if x + y > 0.0 {
            x / (x + y)
        } else {
            self.mean()
        }
    }
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error below 1e-13).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularized incomplete beta function I_x(a, b).
pub fn reg_inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// Continued fraction for the incomplete beta (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    // The fraction needs about √max(a, b) terms: 500 served counts up to ~10^4, and
    // gave wrong, non-monotone values near the mean at 10^8 (a model file may hold
    // posteriors up to 10^12).
    let terms = (10.0 * a.max(b).sqrt()).clamp(500.0, 2e7) as u32;
    for m in 1..terms {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cdf_holds_for_posteriors_of_millions() {
        // Near the mean a Beta this concentrated is a normal: cdf(mean) ≈ ½.
        for (a, b) in [(1e6, 9e6), (1e8, 9e8), (1e9, 9e9)] {
            let c = Beta { alpha: a, beta: b }.cdf(0.1);
            assert!((c - 0.5).abs() < 2e-3, "Beta({a}, {b}).cdf(0.1) = {c}");
            let sd = (a * b / ((a + b) * (a + b) * (a + b + 1.0))).sqrt();
            let up = Beta { alpha: a, beta: b }.cdf(0.1 + sd);
            assert!((up - 0.8413).abs() < 2e-3, "Beta({a}, {b}).cdf(mean + sd) = {up}");
        }
    }

    #[test]
    fn degenerate_inputs_give_an_answer_instead_of_hanging_or_panicking() {
        let mut rng = Rng::new(1);
        // A NaN or infinite shape made the rejection loop spin forever.
        assert!(rng.gamma(f64::NAN, 1.0).is_nan());
        assert!(rng.gamma(f64::INFINITY, 1.0).is_nan());
        assert!(rng.gamma(0.0, 1.0).is_nan());
        assert!(rng.gamma(2.5, 1.0) > 0.0);
        // A NaN mean or strength gives a usable prior, not a NaN one.
        let b = Beta::from_mean(f64::NAN, f64::NAN);
        assert!(Beta::new(b.alpha, b.beta).is_some(), "{b:?}");
        assert!(b.sample(&mut rng).is_finite());
        let b = Beta::from_mean(0.3, f64::INFINITY);
        assert!(Beta::new(b.alpha, b.beta).is_some(), "{b:?}");
        // No weights, no range: index 0 rather than usize::MAX or a panic.
        assert_eq!(rng.pick(&[]), 0);
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn known_values() {
        // ln Γ(5) = ln 24; Γ(0.5) = √π.
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
        // Beta(1,1) is uniform; Beta(2,1) has cdf x².
        assert!((Beta { alpha: 1.0, beta: 1.0 }.cdf(0.3) - 0.3).abs() < 1e-12);
        assert!((Beta { alpha: 2.0, beta: 1.0 }.cdf(0.3) - 0.09).abs() < 1e-12);
        assert!((Beta { alpha: 2.0, beta: 1.0 }.quantile(0.25) - 0.5).abs() < 1e-9);
        // Beta(3, 17) 5% and 95% quantiles, computed independently by Simpson
        // integration of the density and bisection: 0.0444648, 0.2958020.
        let (lo, hi) = Beta { alpha: 3.0, beta: 17.0 }.interval(0.9);
        assert!((lo - 0.044_464_8).abs() < 1e-6, "{lo}");
        assert!((hi - 0.295_802_0).abs() < 1e-6, "{hi}");
    }

    #[test]
    fn tiny_groups_never_claim_certainty() {
        let prior = Beta::from_mean(0.1, 20.0);
        for (k, n) in [(0, 1), (0, 40), (40, 40), (1, 1)] {
            let p = prior.update(k, n);
            assert!(p.mean() > 0.0 && p.mean() < 1.0);
            let (lo, hi) = p.interval(0.9);
            assert!(lo > 0.0 && hi < 1.0, "{k}/{n}: {lo} {hi}");
        }
    }

    #[test]
    fn sampling_mean() {
        let b = Beta { alpha: 2.0, beta: 8.0 };
        let mut r = Rng::new(5);
        let m: f64 = (0..50_000).map(|_| b.sample(&mut r)).sum::<f64>() / 50_000.0;
        assert!((m - 0.2).abs() < 0.005, "{m}");
    }
}
