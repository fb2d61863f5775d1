//! A buy-till-you-die model: BG/NBD (Fader, Hardie & Lee 2005), fitted by
//! maximum likelihood on every customer's purchase pattern, with no labels.
//!
//! A customer buys at a Poisson rate `λ ~ Gamma(r, α)` while alive and, after
//! each purchase, drops out with probability `p ~ Beta(a, b)`. A customer's
//! pattern is `(x, t_x, T)`: repeat purchases `x` (purchase days after the
//! first), the time of the last one `t_x` and the age `T`, both measured from
//! the first purchase (in days here). From the fitted population the model
//! gives, per customer, the chance of still being alive, the expected purchases
//! in the next `t` days and the chance of at least one purchase in them.
//!
//! ```
//! use winback_stats::btyd::{BgNbd, Pattern};
//! let data: Vec<Pattern> = (0..200)
//!     .map(|i| {
//!         let x = f64::from(i % 7);
//!         Pattern { x, t_x: if x > 0.0 { 10.0 * x + f64::from(i % 13) } else { 0.0 }, t: 120.0, weight: 1.0 }
//!     })
//!     .collect();
//! let m = BgNbd::fit(&data).expect("fits");
//! // The fit is a maximum: any nearby parameter gives a lower likelihood.
//! let ll = m.log_likelihood(&data);
//! assert!(ll > BgNbd { r: m.r * 1.05, ..m }.log_likelihood(&data));
//! assert!(ll > BgNbd { b: m.b * 0.95, ..m }.log_likelihood(&data));
//! // A frequent buyer seen recently is more likely alive than one long silent.
//! let recent = Pattern { x: 5.0, t_x: 115.0, t: 120.0, weight: 1.0 };
//! let silent = Pattern { x: 5.0, t_x: 40.0, t: 120.0, weight: 1.0 };
//! assert!(m.p_alive(&recent) > m.p_alive(&silent));
//! assert!(m.p_buy(&recent, 60.0) > m.p_buy(&silent, 60.0));
//! ```

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::ln_gamma;

/// Distinct patterns above which [`BgNbd::fit`] rounds times to a coarser grid.
pub const MAX_PATTERNS: usize = 20_000;

/// One customer's purchase pattern (or `weight` identical customers).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Pattern {
    /// Repeat purchases: purchase days after the first one.
    pub x: f64,
    /// Time from the first purchase to the last one (0 when `x` = 0).
    pub t_x: f64,
    /// Time from the first purchase to the end of observation (≥ `t_x`).
    pub t: f64,
    /// How many customers share this pattern (1 for one customer).
    pub weight: f64,
}

/// The parts of [`BgNbd::p_buy`] and [`BgNbd::expected_purchases`] over one
/// horizon that depend on `x` and `T` only ([`BgNbd::horizon_terms`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HorizonTerms {
    buy_if_alive: f64,
    purchases_numerator: f64,
}

/// BG/NBD parameters: purchase rate `Gamma(r, α)` (α in the time unit of the
/// patterns), dropout probability `Beta(a, b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the purchase-rate gamma.
    pub r: f64,
    /// Scale of the purchase-rate gamma (time units).
    pub alpha: f64,
    /// Dropout beta's first shape.
    pub a: f64,
    /// Dropout beta's second shape.
    pub b: f64,
}

/// `ln(e^u + e^v)` without overflow.
#[inline]
fn log_add(u: f64, v: f64) -> f64 {
    let m = u.max(v);
    if m == f64::NEG_INFINITY {
        return m;
    }
    // The larger term is e^0 = 1 exactly: one exponential, not two (the same
    // bits; the likelihood takes this for every pattern at every step of the fit).
    if m.is_finite() {
        if u >= v {
            return m + (1.0 + (v - m).exp()).ln();
        }
        if v > u {
            return m + ((u - m).exp() + 1.0).ln();
        }
    }
    m + ((u - m).exp() + (v - m).exp()).ln()
}

impl BgNbd {
    /// Whether every parameter is finite and positive.
    pub fn is_valid(&self) -> bool {
        [self.r, self.alpha, self.a, self.b].iter().all(|v| v.is_finite() && *v > 0.0)
    }

    /// The log-likelihood of one pattern (not weighted), eq. 6 of Fader, Hardie & Lee (2005):
    /// `L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^(r+x))
    ///    + [x > 0] B(a+1, b+x−1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^(r+x))`.
    pub fn log_likelihood_one(&self, p: &Pattern) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let x = p.x;
        // B(a, b+x)/B(a, b) = Γ(b+x)Γ(a+b)/(Γ(b)Γ(a+b+x)).
        let common = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + ln_gamma(a + b) - ln_gamma(b) - ln_gamma(a + b + x) + ln_gamma(b + x);
        let repeat = if x > 0.0 { a.ln() - (b + x - 1.0).ln() } else { 0.0 };
        self.log_likelihood_rest(p, common, repeat)
    }

    /// The part of the log-likelihood that depends on `t_x` and `T`, given the parts that
    /// depend on `x` only: `common` and `repeat` = ln(a/(b+x−1)) (B(a+1, b+x−1)/B(a, b+x)).
    #[inline]
    fn log_likelihood_rest(&self, p: &Pattern, common: f64, repeat: f64) -> f64 {
        self.log_likelihood_rest_ln(p.x, common, repeat, (self.alpha + p.t).ln(), (self.alpha + p.t_x).ln())
    }

    /// [`BgNbd::log_likelihood_rest`] given ln(α + T) and ln(α + t_x) (the fit computes
    /// them once per distinct time, not once per pattern: the same values, to the bit).
    #[inline]
    fn log_likelihood_rest_ln(&self, x: f64, common: f64, repeat: f64, ln_at: f64, ln_atx: f64) -> f64 {
        let rx = self.r + x;
        let t1 = -rx * ln_at;
        if x > 0.0 {
            let t2 = repeat - rx * ln_atx;
            common + log_add(t1, t2)
        } else {
            common + t1
        }
    }

    /// The weighted log-likelihood of a data set.
    pub fn log_likelihood(&self, data: &[Pattern]) -> f64 {
        data.iter().map(|p| p.weight * self.log_likelihood_one(p)).sum()
    }

    /// The chance that a customer with this pattern is still alive at the end of observation.
    pub fn p_alive(&self, p: &Pattern) -> f64 {
        if p.x <= 0.0 {
            return 1.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let odds = (a / (b + p.x - 1.0)).ln() + (r + p.x) * ((alpha + p.t) / (alpha + p.t_x)).ln();
        1.0 / (1.0 + odds.exp())
    }

    /// The chance of at least one purchase in the next `t` time units:
    /// `P(alive) · (1 − ((α+T)/(α+T+t))^(r+x))` (while alive and not buying, a
    /// BG/NBD customer cannot drop out; the rate's posterior is `Gamma(r+x, α+T)`).
    pub fn p_buy(&self, p: &Pattern, t: f64) -> f64 {
        self.p_alive(p) * self.buy_if_alive(p.x, p.t, t)
    }

    /// `1 − ((α+T)/(α+T+t))^(r+x)`: the chance of a purchase in the next `t` for an
    /// alive customer with `x` repeat purchases at age `T` (`age`).
    fn buy_if_alive(&self, x: f64, age: f64, t: f64) -> f64 {
        let none_if_alive = (self.r + x) * ((self.alpha + age) / (self.alpha + age + t)).ln();
        -none_if_alive.exp_m1()
    }

    /// What [`BgNbd::p_buy`] and [`BgNbd::expected_purchases`] over the next `t`
    /// time units compute from `x` and `T` (`age`) alone — the hypergeometric
    /// series among it — which many customers share (on the benchmark's 10M
    /// lines, a few tens of thousands of pairs among 357,143 customers, against
    /// 232,901 distinct patterns): computed once per pair and passed to
    /// [`BgNbd::p_buy_from`] and [`BgNbd::expected_purchases_from`], they give
    /// those two to the bit.
    pub fn horizon_terms(&self, x: f64, age: f64, t: f64) -> HorizonTerms {
        HorizonTerms { buy_if_alive: self.buy_if_alive(x, age, t), purchases_numerator: self.purchases_numerator(x, age, t) }
    }

    /// [`BgNbd::p_buy`] from the customer's [`BgNbd::p_alive`] and the terms of its
    /// `x` and `T` ([`BgNbd::horizon_terms`] over the same `t`).
    pub fn p_buy_from(&self, p_alive: f64, terms: &HorizonTerms) -> f64 {
        p_alive * terms.buy_if_alive
    }

    /// Expected purchases in the next `t` time units (eq. 10 of the paper):
    /// `E = (a+b+x−1)/(a−1) · (1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z)) / (1 + [x>0] a/(b+x−1) ((α+T)/(α+t_x))^(r+x))`,
    /// `z = t/(α+T+t)`. The hypergeometric part is summed in whichever of two equal
    /// forms converges faster — as written, or after Euler's transformation
    /// `(1−z)^(a−1) ₂F₁(a+b−1−r, a−1; a+b+x−1; z)`, whose parameters do not grow with
    /// `x` — and in logarithms, so that the large `a` and `b` of a fit on a ridge (both
    /// in the millions) neither overflow nor cancel. At `a` = 1 the limit is taken
    /// numerically. Never negative; should the sum still fail (a non-finite result), the
    /// bound it cannot exceed is returned: an alive customer who never drops out,
    /// `P(alive) (r+x) t / (α+T)`.
    pub fn expected_purchases(&self, p: &Pattern, t: f64) -> f64 {
        self.expected_from(self.purchases_numerator(p.x, p.t, t), p, t)
    }

    /// [`BgNbd::expected_purchases`] from the terms of the pattern's `x` and `T`
    /// ([`BgNbd::horizon_terms`] over the same `t`).
    pub fn expected_purchases_from(&self, terms: &HorizonTerms, p: &Pattern, t: f64) -> f64 {
        self.expected_from(terms.purchases_numerator, p, t)
    }

    /// Eq. 10's numerator, `(a+b+x−1)/(a−1) · (1 − (1−z)^(r+x) ₂F₁(…))`: `x` and
    /// `T` (`age`) alone.
    fn purchases_numerator(&self, x: f64, age: f64, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let a = Self::a_off_one(a);
        let z = t / (alpha + age + t);
        let c = a + b + x - 1.0;
        // ln(1−z) without cancellation: 1−z = (α+T)/(α+T+t).
        let ln_1mz = ((alpha + age) / (alpha + age + t)).ln();
        // Both forms give ln((1−z)^(r+x) ₂F₁(r+x, b+x; c; z)); the one whose terms
        // shrink sooner is summed (a term's ratio tends to p·q/c · z at its start).
        let euler = (a + b - 1.0 - r).abs() * (a - 1.0).abs() <= (r + x) * (b + x);
        // The sum can be negative (a one-purchase customer with a + b < 1 has c < 0):
        // its sign is carried apart from the logarithm of its size.
        let ((ln_f, sign), pre) = if euler {
            (ln_hyp2f1(a + b - 1.0 - r, a - 1.0, c, z), (a - 1.0) * ln_1mz)
        } else {
            (ln_hyp2f1(r + x, b + x, c, z), (r + x) * ln_1mz)
        };
        let ln_rest = pre + ln_f;
        let one_minus = if sign > 0.0 { -ln_rest.exp_m1() } else { 1.0 + ln_rest.exp() };
        c / (a - 1.0) * one_minus
    }

    /// `a`, moved off 1 (where eq. 10 is 0/0) by 1e-6.
    fn a_off_one(a: f64) -> f64 {
        if (a - 1.0).abs() < 1e-6 {
            1.0 + 1e-6
        } else {
            a
        }
    }

    /// Eq. 10 from its numerator `num` ([`BgNbd::purchases_numerator`]).
    fn expected_from(&self, num: f64, p: &Pattern, t: f64) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let a = Self::a_off_one(a);
        let x = p.x;
        let den = if x > 0.0 { 1.0 + (a / (b + x - 1.0)) * ((alpha + p.t) / (alpha + p.t_x)).powf(r + x) } else { 1.0 };
        let e = num / den;
        if e.is_finite() {
            e.max(0.0)
        } else {
            self.p_alive(p) * (r + x) * t / (alpha + p.t)
        }
    }

    /// Maximum-likelihood fit (Nelder–Mead on the logarithms of the parameters,
    /// restarted from its own optimum until it stops improving). With more than
    /// [`MAX_PATTERNS`] distinct patterns, `t` and `t_x` are rounded to multiples of
    /// 2, 4, … 64 time units (the smallest that leaves at most that many) before fitting. Time is rescaled
    /// internally so that the mean age is 1; `alpha` is returned in the patterns'
    /// unit. Deterministic: the same patterns in any order give the same fit.
    /// `None` when no pattern has positive weight and age, or the best point found is
    /// not finite. On a likelihood ridge (no repeat buyers: r → 0, α → ∞; everyone
    /// seen at the end: a → 0, b → ∞) the search stops at its iteration limit at some
    /// point of the ridge and returns it: parameters there are not identified, though
    /// the chances they give are (see the README on Complete Journey and Online Retail).
    pub fn fit(data: &[Pattern]) -> Option<BgNbd> {
        let pts: Vec<Pattern> = data.iter().copied().filter(|p| p.weight > 0.0 && p.t > 0.0 && p.x >= 0.0 && p.t_x >= 0.0 && p.t_x <= p.t).collect();
        if pts.is_empty() {
            return None;
        }
        // Order-independent: identical patterns merged, in sorted order ([`fit_grid`]).
        // Past MAX_PATTERNS distinct patterns, times are rounded to a coarser grid
        // (2, 4, … 64 units) until few enough remain: the fit's cost follows distinct
        // patterns, not customers.
        let (_, mut merged) = fit_grid(&pts);
        let total: f64 = merged.iter().map(|p| p.weight).sum();
        let scale = merged.iter().map(|p| p.weight * p.t).sum::<f64>() / total;
        for p in &mut merged {
            p.t /= scale;
            p.t_x /= scale;
        }
        // Patterns grouped by x: the x-only part is computed once per distinct x.
        let mut xs: Vec<f64> = Vec::new();
        let mut group_of: Vec<u32> = Vec::with_capacity(merged.len());
        for p in &merged {
            if xs.last() != Some(&p.x) {
                xs.push(p.x);
            }
            group_of.push((xs.len() - 1) as u32);
        }
        // The distinct times (T and t_x together), and each pattern's places among them:
        // ln(α + time) is computed once per distinct time and evaluation.
        let mut times: Vec<f64> = merged.iter().flat_map(|p| [p.t, p.t_x]).collect();
        times.sort_by(f64::total_cmp);
        times.dedup_by(|a, b| a.total_cmp(b).is_eq());
        // Every time is in `times` (built from these very values); `unwrap_or_else` keeps
        // the nearest place should it not be.
        let place = |v: f64| times.binary_search_by(|t| t.total_cmp(&v)).unwrap_or_else(|i| i.min(times.len() - 1)) as u32;
        let at: Vec<(u32, u32)> = merged.iter().map(|p| (place(p.t), place(p.t_x))).collect();
        // The log-likelihood is summed in fixed chunks of patterns, each in order, and
        // the chunks' sums in order: the same bits on any number of threads, and the
        // chunks in parallel on large data (17,750 patterns from 357k customers).
        const CHUNK: usize = 2048;
        let objective = |v: &[f64; 4]| -> f64 {
            let m = BgNbd { r: v[0].exp(), alpha: v[1].exp(), a: v[2].exp(), b: v[3].exp() };
            if !m.is_valid() {
                return f64::INFINITY;
            }
            let base = ln_gamma(m.a + m.b) - ln_gamma(m.b) - ln_gamma(m.r) + m.r * m.alpha.ln();
            let parts: Vec<(f64, f64)> = xs
                .iter()
                .map(|&x| {
                    let common = base + ln_gamma(m.r + x) - ln_gamma(m.a + m.b + x) + ln_gamma(m.b + x);
                    let repeat = if x > 0.0 { m.a.ln() - (m.b + x - 1.0).ln() } else { 0.0 };
                    (common, repeat)
                })
                .collect();
            let ln_time: Vec<f64> = times.iter().map(|&t| (m.alpha + t).ln()).collect();
            let chunk_sum = |(k, chunk): (usize, &[Pattern])| -> f64 {
                let mut ll = 0.0;
                for (i, p) in chunk.iter().enumerate() {
                    let (common, repeat) = parts[group_of[k * CHUNK + i] as usize];
                    let (it, itx) = at[k * CHUNK + i];
                    ll += p.weight * m.log_likelihood_rest_ln(p.x, common, repeat, ln_time[it as usize], ln_time[itx as usize]);
                }
                ll
            };
            let sums: Vec<f64> = if merged.len() > CHUNK {
                merged.par_chunks(CHUNK).enumerate().map(chunk_sum).collect()
            } else {
                merged.chunks(CHUNK).enumerate().map(chunk_sum).collect()
            };
            let nll = -sums.iter().sum::<f64>() / total;
            if nll.is_finite() {
                nll
            } else {
                f64::INFINITY
            }
        };
        let mut best = [0.0f64; 4];
        let mut best_val = objective(&best);
        for _ in 0..4 {
            let (v, val) = nelder_mead(&objective, best, 0.5, 3000, 1e-10);
            let improved = best_val - val;
            if val < best_val {
                best = v;
                best_val = val;
            }
            if improved.is_nan() || improved <= 1e-9 {
                break;
            }
        }
        let m = BgNbd { r: best[0].exp(), alpha: best[1].exp() * scale, a: best[2].exp(), b: best[3].exp() };
        (m.is_valid() && best_val.is_finite()).then_some(m)
    }
}

/// Gauss's hypergeometric series `₂F₁(a, b; c; z)` for `0 ≤ z < 1`.
#[cfg(test)]
fn hyp2f1(a: f64, b: f64, c: f64, z: f64) -> f64 {
    let (ln, sign) = ln_hyp2f1(a, b, c, z);
    sign * ln.exp()
}

/// Gauss's hypergeometric series `₂F₁(a, b; c; z)` for `0 ≤ z < 1` as the logarithm
/// of its size and its sign (±1), summed with a running scale so that terms beyond
/// `f64`'s range (parameters in the millions) neither overflow nor lose the sum.
fn ln_hyp2f1(a: f64, b: f64, c: f64, z: f64) -> (f64, f64) {
    // sum and term are both scaled by e^(−shift).
    let (mut term, mut sum, mut shift) = (1.0f64, 1.0f64, 0.0f64);
    for k in 0..1_000_000 {
        let k = f64::from(k);
        term *= (a + k) * (b + k) / ((c + k) * (k + 1.0)) * z;
        sum += term;
        if sum.abs() > 1e250 {
            term /= 1e250;
            sum /= 1e250;
            shift += 1e250f64.ln();
        }
        if term.abs() <= 1e-16 * sum.abs() || !term.is_finite() {
            break;
        }
    }
    (sum.abs().ln() + shift, if sum < 0.0 { -1.0 } else { 1.0 })
}

/// Sorts the patterns, then merges identical ones (order-independent).
fn merge(pts: &mut [Pattern]) -> Vec<Pattern> {
    // The weight is part of the key: fractional weights summed in input order
    // would differ in their last bits, and Nelder–Mead would follow another path.
    // Patterns equal under this order are the same bits, so an unstable
    // (and parallel) sort gives what a stable one does.
    pts.par_sort_unstable_by(|u, v| u.x.total_cmp(&v.x).then(u.t_x.total_cmp(&v.t_x)).then(u.t.total_cmp(&v.t)).then(u.weight.total_cmp(&v.weight)));
    let mut merged: Vec<Pattern> = Vec::with_capacity(pts.len());
    for p in pts.iter() {
        match merged.last_mut() {
            Some(m) if m.x == p.x && m.t_x == p.t_x && m.t == p.t => m.weight += p.weight,
            _ => merged.push(*p),
        }
    }
    merged
}

/// A pattern's `(t_x, t)` rounded to multiples of `step` (`t` to at least one
/// step, `t_x` to at most `t`); as they are at step 1.
#[inline]
fn rounded(p: &Pattern, step: f64) -> (f64, f64) {
    if step == 1.0 {
        return (p.t_x, p.t);
    }
    let t = (p.t / step).round().max(1.0) * step;
    (((p.t_x / step).round() * step).min(t), t)
}

/// The patterns with their times [`rounded`] to `step`.
fn coarse(pts: &[Pattern], step: f64) -> Vec<Pattern> {
    pts.iter()
        .map(|p| {
            let (t_x, t) = rounded(p, step);
            Pattern { t, t_x, ..*p }
        })
        .collect()
}

/// The grid the fit rounds times to — the first of 1, 2, 4, … 64 at which at
/// most [`MAX_PATTERNS`] distinct `(x, t_x, t)` remain (64 if none) — and the
/// patterns rounded to it and merged: [`merge`] of [`coarse`] at that step, to
/// the bit. Distinct patterns are counted in a hash table of their bits — what
/// sorting and merging them gives, where equal values are equal bits — rather
/// than by sorting and merging the patterns at every step (233k patterns
/// rounded up to 16: ~0.1 s of the fit, most of it those sorts). When every
/// weight is a whole number (a census's counts) and their total is below 2^53,
/// the table that counted the chosen step also sums the weights, exactly, so
/// in any order: only the few thousand merged patterns are sorted, not the
/// patterns rounded and sorted again (at 10M lines 233k patterns, merged into
/// 17,750: 5–9 ms and a 7.5 MB copy on one core). Fractional weights (summed
/// in [`merge`]'s order, which their last bits depend on) are merged as before;
/// so is every step when a negative zero is among the values (equal to, but not
/// the bits of, zero).
fn fit_grid(pts: &[Pattern]) -> (f64, Vec<Pattern>) {
    let negative_zero = pts.iter().any(|p| [p.x, p.t_x, p.t].iter().any(|v| *v == 0.0 && v.is_sign_negative()));
    // 2^53: every whole number up to it is an f64, so every partial sum is exact.
    let exact_sums = pts.iter().all(|p| p.weight.fract() == 0.0) && pts.iter().map(|p| p.weight).sum::<f64>() <= 9_007_199_254_740_992.0;
    // The last step (64) is taken whatever it leaves.
    let limit = |s: f64| if s >= 64.0 { usize::MAX } else { MAX_PATTERNS };
    if negative_zero {
        let mut step = 1.0f64;
        loop {
            let merged = merge(&mut coarse(pts, step));
            if merged.len() <= limit(step) {
                return (step, merged);
            }
            step *= 2.0;
        }
    }
    // The patterns merged at a step whose tally found few enough.
    let merged_at = |s: f64, tallied: Vec<Pattern>| -> Vec<Pattern> {
        if exact_sums {
            let mut merged = tallied;
            // Distinct keys: no two compare equal, so an unstable sort is the order.
            merged.sort_unstable_by(|u, v| u.x.total_cmp(&v.x).then(u.t_x.total_cmp(&v.t_x)).then(u.t.total_cmp(&v.t)));
            merged
        } else {
            merge(&mut coarse(pts, s))
        }
    };
    // Step 1 alone (a census's patterns are distinct, so it is refused after
    // 20,001), then two steps side by side, the coarser kept only when the finer
    // has too many: at 10M lines the steps refused and the one chosen each
    // scanned the 233k patterns one after the other on one core while the other
    // waited (the learn step ~120 -> ~116 ms, perf sample windows).
    if let Some(tallied) = tally(pts, 1.0, limit(1.0)) {
        return (1.0, merged_at(1.0, tallied));
    }
    for (fine, coarser) in [(2.0, 4.0), (8.0, 16.0), (32.0, 64.0)] {
        let (a, b) = rayon::join(|| tally(pts, fine, limit(fine)), || tally(pts, coarser, limit(coarser)));
        if let Some(tallied) = a {
            return (fine, merged_at(fine, tallied));
        }
        if let Some(tallied) = b {
            return (coarser, merged_at(coarser, tallied));
        }
    }
    // Step 64 has no limit: its tally gives nothing only past 2^32 distinct
    // patterns, which are merged by sorting, as before.
    (64.0, merge(&mut coarse(pts, 64.0)))
}

/// The patterns rounded to `step` (see [`coarse`]), those with the same
/// `(x, t_x, t)` bits merged into one whose weight is their sum (in the order
/// given), in the order first met; `None` once they are more than `most`. An
/// open-addressing table of at least twice as many slots as it may hold: the
/// grid's search only asks whether a step leaves more than [`MAX_PATTERNS`],
/// at the steps too fine that is known after a small part of the patterns, and
/// the table stays small (256 KB, not 2 MB for 233k patterns; counting them all
/// at each step was ~0.08 s of the fit's 0.23 s at 10M lines).
fn tally(pts: &[Pattern], step: f64, most: usize) -> Option<Vec<Pattern>> {
    let slots = (pts.len().min(most.saturating_add(1)) * 2).next_power_of_two().max(16);
    // Each slot: the place in `out` of the pattern it holds, or none.
    let mut table: Vec<u32> = vec![u32::MAX; slots];
    let (mask, shift) = (slots - 1, 64 - slots.trailing_zeros());
    let mut out: Vec<Pattern> = Vec::new();
    let bits = |p: &Pattern| [p.x.to_bits(), p.t_x.to_bits(), p.t.to_bits()];
    for p in pts {
        let (t_x, t) = rounded(p, step);
        let cell = Pattern { t_x, t, ..*p };
        let key = bits(&cell);
        // Values are often whole numbers (days), whose low bits are all zero: each
        // word is folded high into low before mixing, and the slot is taken from
        // the product's high bits, where every bit of the key has reached.
        let fold = |w: u64| w ^ (w >> 32) ^ (w >> 52);
        let h = (fold(key[0]).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ fold(key[1])).wrapping_mul(0xf135_7aea_2e62_a9c5) ^ fold(key[2]);
        let mut i = (h.wrapping_mul(0x2545_f491_4f6c_dd1d) >> shift) as usize;
        loop {
            match table[i] {
                u32::MAX => {
                    // More places than a u32 holds: as many as too many.
                    if out.len() == most || out.len() >= u32::MAX as usize {
                        return None;
                    }
                    table[i] = out.len() as u32;
                    out.push(cell);
                    break;
                }
                k if bits(&out[k as usize]) == key => {
                    out[k as usize].weight += p.weight;
                    break;
                }
                _ => i = (i + 1) & mask,
            }
        }
    }
    Some(out)
}

/// Nelder–Mead minimisation from `start` with initial steps `step`; returns the best
/// point and value after `max_iter` iterations or when the simplex's values agree
/// within `tol`.
fn nelder_mead<F: Fn(&[f64; 4]) -> f64>(f: &F, start: [f64; 4], step: f64, max_iter: usize, tol: f64) -> ([f64; 4], f64) {
    const N: usize = 4;
    let mut simplex: Vec<([f64; N], f64)> = Vec::with_capacity(N + 1);
    simplex.push((start, f(&start)));
    for i in 0..N {
        let mut p = start;
        p[i] += step;
        simplex.push((p, f(&p)));
    }
    let lerp = |from: &[f64; N], to: &[f64; N], t: f64| -> [f64; N] {
        let mut out = [0.0; N];
        for i in 0..N {
            out[i] = from[i] + t * (to[i] - from[i]);
        }
        out
    };
    for _ in 0..max_iter {
        simplex.sort_by(|u, v| u.1.total_cmp(&v.1));
        if (simplex[N].1 - simplex[0].1).abs() <= tol * (1.0 + simplex[0].1.abs()) {
            break;
        }
        let mut centroid = [0.0; N];
        for (p, _) in &simplex[..N] {
            for i in 0..N {
                centroid[i] += p[i] / N as f64;
            }
        }
        let worst = simplex[N].0;
        let reflected = lerp(&centroid, &worst, -1.0);
        let fr = f(&reflected);
        if fr < simplex[0].1 {
            let expanded = lerp(&centroid, &worst, -2.0);
            let fe = f(&expanded);
            simplex[N] = if fe < fr { (expanded, fe) } else { (reflected, fr) };
        } else if fr < simplex[N - 1].1 {
            simplex[N] = (reflected, fr);
        } else {
            let (contracted, fc) = if fr < simplex[N].1 {
                let c = lerp(&centroid, &reflected, 0.5);
                (c, f(&c))
            } else {
                let c = lerp(&centroid, &worst, 0.5);
                (c, f(&c))
            };
            if fc < simplex[N].1.min(fr) {
                simplex[N] = (contracted, fc);
            } else {
                let best = simplex[0].0;
                for s in simplex.iter_mut().skip(1) {
                    let p = lerp(&best, &s.0, 0.5);
                    *s = (p, f(&p));
                }
            }
        }
    }
    simplex.sort_by(|u, v| u.1.total_cmp(&v.1));
    simplex[0]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn pat(x: f64, t_x: f64, t: f64) -> Pattern {
        Pattern { x, t_x, t, weight: 1.0 }
    }

    /// P(buy) and expected purchases from the `(x, T)` terms are the direct ones
    /// to the bit, for every customer sharing those terms: models off and on a
    /// ridge, `a` at 1 and below, `a + b` below 1, patterns with and without
    /// repeats, at several horizons.
    #[test]
    fn horizon_terms_give_p_buy_and_expected_purchases_to_the_bit() {
        let models = [
            BgNbd { r: 1.5, alpha: 10.0, a: 2.0, b: 5.0 },
            BgNbd { r: 0.24, alpha: 4.4, a: 0.79, b: 2.4 },
            BgNbd { r: 0.3, alpha: 12.0, a: 6.7e6, b: 1.8e7 },
            BgNbd { r: 1.0, alpha: 10.0, a: 0.3, b: 0.5 },
            BgNbd { r: 2.0, alpha: 40.0, a: 1.0 + 1e-7, b: 3.0 },
        ];
        let mut checked = 0;
        for m in models {
            for horizon in [1.0, 30.0, 60.0, 365.0] {
                for x in [0.0, 1.0, 2.0, 7.0, 40.0] {
                    for age in [0.0, 1.0, 45.0, 300.0, 1000.0] {
                        let terms = m.horizon_terms(x, age, horizon);
                        for t_x in [0.0, 0.5 * age, age] {
                            let p = pat(x, if x > 0.0 { t_x } else { 0.0 }, age);
                            let alive = m.p_alive(&p);
                            assert_eq!(m.p_buy_from(alive, &terms).to_bits(), m.p_buy(&p, horizon).to_bits(), "{m:?} {p:?} {horizon}");
                            assert_eq!(m.expected_purchases_from(&terms, &p, horizon).to_bits(), m.expected_purchases(&p, horizon).to_bits(), "{m:?} {p:?} {horizon}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(checked, 5 * 4 * 5 * 5 * 3);
    }

    /// One simulated BG/NBD customer observed over `[0, t_end)`: repeat purchases and
    /// the time of the last one.
    fn simulate(rng: &mut crate::Rng, truth: &BgNbd, t_end: f64) -> (f64, f64) {
        let lambda = rng.gamma(truth.r, 1.0) / truth.alpha;
        let p = {
            let u = rng.gamma(truth.a, 1.0);
            u / (u + rng.gamma(truth.b, 1.0))
        };
        let (mut t, mut x, mut last) = (0.0f64, 0.0f64, 0.0f64);
        loop {
            t += -rng.f64().max(1e-300).ln() / lambda;
            if t >= t_end {
                break;
            }
            x += 1.0;
            last = t;
            if rng.f64() < p {
                break;
            }
        }
        (x, last)
    }

    /// `log_add` with one exponential gives the two-exponential form's bits,
    /// also with infinities and NaN on either side.
    #[test]
    fn log_add_is_the_two_exponential_form() {
        let both = |u: f64, v: f64| {
            let m = u.max(v);
            if m == f64::NEG_INFINITY {
                return m;
            }
            m + ((u - m).exp() + (v - m).exp()).ln()
        };
        let mut rng = crate::Rng::new(11);
        let special = [0.0, -0.0, 1.0, -1.0, 700.0, -745.0, -1e300, 1e300, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, f64::MIN_POSITIVE];
        let mut pairs: Vec<(f64, f64)> = special.iter().flat_map(|&u| special.iter().map(move |&v| (u, v))).collect();
        pairs.extend((0..100_000).map(|_| ((rng.f64() - 0.5) * 200.0, (rng.f64() - 0.5) * 200.0)));
        pairs.extend((0..10_000).map(|_| {
            let u = (rng.f64() - 0.5) * 2000.0;
            (u, u + (rng.f64() - 0.5) * 1e-12)
        }));
        for (u, v) in pairs {
            assert_eq!(log_add(u, v).to_bits(), both(u, v).to_bits(), "{u:e} {v:e}");
        }
    }

    /// The log-likelihood of a 3-customer history at r=α=a=b=1, computed by hand:
    /// with these parameters B(1, 1+x)/B(1, 1) = 1/(1+x), Γ(1+x)/Γ(1) = x!,
    /// B(2, x)/B(1, 1) = 1/(x(x+1)).
    #[test]
    fn log_likelihood_by_hand() {
        let m = BgNbd { r: 1.0, alpha: 1.0, a: 1.0, b: 1.0 };
        // x = 0, T = 3: L = 1 · 1 · 1/(1+3) = 1/4.
        let l0 = 0.25f64;
        // x = 1, t_x = 1, T = 3: L = 1/2 · 1/4² + 1/2 · 1/2² = 1/32 + 1/8 = 5/32.
        let l1 = 5.0f64 / 32.0;
        // x = 2, t_x = 2, T = 4: L = 1/3 · 2/5³ + 1/6 · 2/3³ = 2/375 + 1/81.
        let l2 = 2.0f64 / 375.0 + 1.0 / 81.0;
        let data = [pat(0.0, 0.0, 3.0), pat(1.0, 1.0, 3.0), pat(2.0, 2.0, 4.0)];
        let want = l0.ln() + l1.ln() + l2.ln();
        assert!((m.log_likelihood(&data) - want).abs() < 1e-12, "{} vs {want}", m.log_likelihood(&data));
        // Weights multiply.
        let w = [Pattern { weight: 3.0, ..data[1] }];
        assert!((m.log_likelihood(&w) - 3.0 * l1.ln()).abs() < 1e-12);
        // P(alive) of the second: 1 / (1 + 1/(1+1−1) · (2/2)^... ) = 1/(1 + 1·(4/2)²) = 1/5.
        assert!((m.p_alive(&data[1]) - 0.2).abs() < 1e-12);
        assert_eq!(m.p_alive(&data[0]), 1.0);
        // P(buy in 1) of the first: 1 − (4/5)^1 = 0.2.
        assert!((m.p_buy(&data[0], 1.0) - 0.2).abs() < 1e-12);
    }

    #[test]
    fn fit_recovers_simulated_parameters() {
        // Simulate BG/NBD customers with known parameters, fit, compare.
        let truth = BgNbd { r: 0.8, alpha: 20.0, a: 0.7, b: 3.0 };
        let mut rng = crate::Rng::new(7);
        let mut data = Vec::new();
        for _ in 0..6000 {
            let (x, last) = simulate(&mut rng, &truth, 365.0);
            data.push(pat(x, last, 365.0));
        }
        let m = BgNbd::fit(&data).unwrap();
        assert!((m.r / truth.r - 1.0).abs() < 0.2, "{m:?}");
        assert!((m.alpha / truth.alpha - 1.0).abs() < 0.25, "{m:?}");
        assert!((m.a / truth.a - 1.0).abs() < 0.3, "{m:?}");
        assert!((m.b / truth.b - 1.0).abs() < 0.4, "{m:?}");
        // Same data in another order: the same fit, bit for bit.
        let mut rev = data.clone();
        rev.reverse();
        assert_eq!(BgNbd::fit(&rev).unwrap(), m);
        // Expected purchases: positive, growing with t, and consistent with P(buy) (E ≥ P).
        let p = pat(3.0, 200.0, 365.0);
        let (e30, e60) = (m.expected_purchases(&p, 30.0), m.expected_purchases(&p, 60.0));
        assert!(e30 > 0.0 && e60 > e30 && e60 >= m.p_buy(&p, 60.0), "{e30} {e60}");
    }

    #[test]
    fn expected_purchases_matches_the_untransformed_formula() {
        // At x = 0 and T = 0 eq. 10 is the paper's eq. 9 with the hypergeometric function
        // before Euler's transformation: (a+b−1)/(a−1) · (1 − (α/(α+t))^r ₂F₁(r, b; a+b−1; t/(α+t))).
        let m = BgNbd { r: 1.5, alpha: 10.0, a: 2.0, b: 5.0 };
        let p = pat(0.0, 0.0, 30.0);
        let e = m.expected_purchases(&pat(0.0, 0.0, 0.0), 20.0);
        let z: f64 = 20.0 / 30.0;
        let direct = (2.0 + 5.0 - 1.0) / (2.0 - 1.0) * (1.0 - (10.0f64 / 30.0).powf(1.5) * hyp2f1(1.5, 5.0, 6.0, z));
        assert!((e - direct).abs() < 1e-9, "{e} vs {direct}");
        assert!(m.expected_purchases(&p, 20.0) > 0.0);
    }

    #[test]
    fn expected_purchases_stays_finite_and_consistent_on_a_ridge() {
        // A fit on a likelihood ridge has a and b in the millions: the transformed
        // series' terms overflowed and (1−z)^(a−1) underflowed, and E came out 0.
        for m in [
            BgNbd { r: 0.3, alpha: 12.0, a: 6.7e6, b: 1.8e7 },
            BgNbd { r: 2.0, alpha: 40.0, a: 1e10, b: 3e10 },
            BgNbd { r: 0.5, alpha: 5.0, a: 1e-6, b: 1e9 },
            BgNbd { r: 1.5, alpha: 10.0, a: 2.0, b: 5.0 },
        ] {
            for p in [pat(5.0, 115.0, 120.0), pat(0.0, 0.0, 120.0), pat(40.0, 300.0, 365.0), pat(1.0, 1.0, 2.0)] {
                let (e30, e60) = (m.expected_purchases(&p, 30.0), m.expected_purchases(&p, 60.0));
                let pb = m.p_buy(&p, 60.0);
                assert!(e60.is_finite() && e60 >= pb * (1.0 - 1e-9) && e60 > e30 && e30 > 0.0, "{m:?} {p:?}: E30 {e30} E60 {e60} P {pb}");
            }
        }
        // a + b < 1: a one-purchase customer's series has c = a+b−1 < 0 and a negative
        // sum (values by mpmath's hyp2f1 in eq. 10; the logarithm of the sum gave NaN
        // and the fallback bound, 1.5 and 20.0).
        let m = BgNbd { r: 1.0, alpha: 10.0, a: 0.3, b: 0.5 };
        assert!((m.expected_purchases(&pat(0.0, 0.0, 30.0), 60.0) - 1.0750).abs() < 1e-3, "{}", m.expected_purchases(&pat(0.0, 0.0, 30.0), 60.0));
        let m = BgNbd { r: 2.0, alpha: 1.0, a: 0.5, b: 0.3 };
        assert!((m.expected_purchases(&pat(0.0, 0.0, 5.0), 60.0) - 3.588).abs() < 2e-3, "{}", m.expected_purchases(&pat(0.0, 0.0, 5.0), 60.0));
        // With a/(a+b) → 0 (no dropout) E tends to the NBD's (r+x) t / (α+T).
        let m = BgNbd { r: 0.3, alpha: 12.0, a: 1e6, b: 1e12 };
        let p = pat(5.0, 115.0, 120.0);
        let nbd = (0.3 + 5.0) * 60.0 / (12.0 + 120.0);
        assert!((m.expected_purchases(&p, 60.0) / (m.p_alive(&p) * nbd) - 1.0).abs() < 1e-3);
        // The two forms agree where both converge (r = 0.8, α = 20, a = 0.7, b = 3;
        // x = 3, T = 365, t = 60).
        let z = 60.0 / (20.0 + 365.0 + 60.0);
        let c = 0.7 + 3.0 + 3.0 - 1.0;
        let plain = ((20.0f64 + 365.0) / 445.0).powf(3.8) * hyp2f1(3.8, 6.0, c, z);
        let euler = (1.0f64 - z).powf(-0.3) * hyp2f1(0.7 + 3.0 - 1.0 - 0.8, -0.3, c, z);
        assert!((plain / euler - 1.0).abs() < 1e-12, "{plain} vs {euler}");
    }

    #[test]
    fn many_patterns_fit_on_a_coarser_grid_close_to_the_exact_fit() {
        // 30,000 customers with distinct (t_x, T) in days: above MAX_PATTERNS.
        let truth = BgNbd { r: 0.8, alpha: 20.0, a: 0.7, b: 3.0 };
        let mut rng = crate::Rng::new(11);
        let mut data = Vec::new();
        for i in 0..30_000 {
            let t_end = 200.0 + f64::from(i % 500);
            let (x, last) = simulate(&mut rng, &truth, t_end);
            data.push(pat(x, last.floor(), t_end));
        }
        let m = BgNbd::fit(&data).unwrap();
        assert!((m.r / truth.r - 1.0).abs() < 0.15 && (m.alpha / truth.alpha - 1.0).abs() < 0.2, "{m:?}");
        let drop = |b: &BgNbd| b.a / (b.a + b.b);
        assert!((drop(&m) / drop(&truth) - 1.0).abs() < 0.25, "{m:?}");
        // Summed in parallel chunks: the same fit, bit for bit, on 1 or 3 threads.
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            assert_eq!(pool.install(|| BgNbd::fit(&data)), Some(m), "{threads} threads");
        }
    }

    /// Patterns left once sorted and merged at `step`, as the fit merged them at
    /// every step before [`fit_grid`] counted them instead.
    fn merged_by_sorting(pts: &[Pattern], step: f64) -> usize {
        merge(&mut coarse(pts, step)).len()
    }

    /// Random patterns: whole days or fractions, many repeated, some zeros.
    fn random_patterns(rng: &mut crate::Rng, n: usize, days: usize) -> Vec<Pattern> {
        (0..n)
            .map(|_| {
                let t = (1 + rng.below(days)) as f64 + if rng.below(4) == 0 { rng.f64() } else { 0.0 };
                let t_x = if rng.below(5) == 0 { 0.0 } else { (rng.below(days) as f64 * rng.f64()).min(t) };
                Pattern { x: rng.below(12) as f64, t_x, t, weight: 1.0 + rng.below(3) as f64 * 0.25 }
            })
            .collect()
    }

    /// The hash tally of distinct patterns leaves as many as sorting and merging
    /// them, at every step of the grid, and none once past `most`.
    #[test]
    fn the_tally_leaves_what_merging_leaves() {
        let mut rng = crate::Rng::new(11);
        for case in 0..200 {
            let pts = random_patterns(&mut rng, case * 7 % 400, 1 + case % 90);
            for k in 0..7 {
                let step = f64::from(1u32 << k);
                let all = merged_by_sorting(&pts, step);
                assert_eq!(tally(&pts, step, usize::MAX).map(|m| m.len()), Some(all), "case {case}, step {step}");
                let most = (case * 13 + k * 5) % 60;
                assert_eq!(tally(&pts, step, most).map(|m| m.len()), (all <= most).then_some(all), "case {case}, step {step}, most {most}");
            }
        }
    }

    /// The bits of patterns, to compare them exactly.
    fn bits(pts: &[Pattern]) -> Vec<[u64; 4]> {
        pts.iter().map(|p| [p.x.to_bits(), p.t_x.to_bits(), p.t.to_bits(), p.weight.to_bits()]).collect()
    }

    /// The grid chosen is the first at which sorting and merging leaves at most
    /// MAX_PATTERNS (64 if none), with and without a negative zero among the
    /// values (which merges with zero but has other bits); its patterns are
    /// those sorted and merged at that step, to the bit, with whole weights
    /// (summed in the tally) and fractional ones (merged by sorting).
    #[test]
    fn the_fit_grid_is_the_first_with_few_enough_patterns() {
        let reference = |pts: &[Pattern]| {
            let mut step = 1.0f64;
            while merged_by_sorting(pts, step) > MAX_PATTERNS && step < 64.0 {
                step *= 2.0;
            }
            (step, merge(&mut coarse(pts, step)))
        };
        let same = |pts: &[Pattern], what: &str| {
            let ((step, merged), (want_step, want)) = (fit_grid(pts), reference(pts));
            assert_eq!(step, want_step, "{what}");
            assert_eq!(bits(&merged), bits(&want), "{what}");
            step
        };
        let mut rng = crate::Rng::new(5);
        let mut steps = Vec::new();
        for (n, days) in [(1_000, 50), (30_000, 3_000), (60_000, 800), (60_000, 60_000), (45_000, 400)] {
            let mut pts = random_patterns(&mut rng, n, days);
            steps.push(same(&pts, &format!("{n} patterns over {days} days, fractional weights")));
            // Whole weights, as a census gives (counts of customers), some large.
            for (i, p) in pts.iter_mut().enumerate() {
                p.weight = [1.0, 2.0, 7.0, 1e12][i % 4];
            }
            steps.push(same(&pts, &format!("{n} patterns over {days} days, whole weights")));
            pts[n / 2].t_x = -0.0;
            pts[n / 3].x = -0.0;
            same(&pts, &format!("{n} patterns over {days} days, negative zeros"));
        }
        // Some steps were past 1 and some at the cap.
        assert!(steps.iter().any(|&s| s > 1.0) && steps.contains(&64.0), "{steps:?}");
    }

    /// Whole weights whose total passes 2^53 are merged by sorting (a partial
    /// sum could round): the same patterns as sorting and merging them.
    #[test]
    fn weights_past_two_to_the_53_are_merged_by_sorting() {
        let mut rng = crate::Rng::new(8);
        let mut pts = random_patterns(&mut rng, 5_000, 300);
        for (i, p) in pts.iter_mut().enumerate() {
            p.weight = if i % 2 == 0 { 9e15 } else { 3.0 };
        }
        let (step, merged) = fit_grid(&pts);
        assert_eq!(bits(&merged), bits(&merge(&mut coarse(&pts, step))));
    }

    #[test]
    fn fit_refuses_empty_data() {
        assert!(BgNbd::fit(&[]).is_none());
        assert!(BgNbd::fit(&[Pattern { weight: 0.0, ..pat(1.0, 1.0, 2.0) }]).is_none());
    }
}
