//! A ridge-penalised logistic regression on a few standardised columns, fitted by
//! Newton's method: the smooth score the segmentation may cut instead of the raw
//! outcomes (see `winback_tree::TrainingData::target`).
//!
//! The objective is scikit-learn's `LogisticRegression(C = 1 / ridge)` on columns
//! standardised to mean 0 and population standard deviation 1: the sum of the
//! rows' log losses plus `ridge / 2 · Σ βⱼ²` (the intercept is not penalised).
//! A column whose values are all equal keeps a coefficient of 0. Sums run in row
//! order, so the same rows give the same result whatever the thread count (the
//! last bits follow the platform's `exp` and `ln_1p`).
//!
//! ```
//! use winback_stats::logistic::Logistic;
//! // Two columns, seven rows (row-major), four of them came back.
//! let x = [1.0, 10.0, 2.0, 30.0, 3.0, 20.0, 4.0, 50.0, 5.0, 40.0, 6.0, 60.0, 7.0, 15.0];
//! let y = [false, false, true, false, true, true, true];
//! let m = Logistic::fit(&x, 2, &y, 1.0).expect("both outcomes present");
//! // scikit-learn 1.9.1, LogisticRegression(C=1) on the standardised columns:
//! // coefficients 1.041230227465, -0.142859896024; intercept 0.369224325213.
//! assert!((m.coefficients()[0] - 1.041230227465).abs() < 1e-9);
//! assert!((m.coefficients()[1] + 0.142859896024).abs() < 1e-9);
//! assert!((m.intercept() - 0.369224325213).abs() < 1e-9);
//! assert!((m.chance(&[3.5, 35.0]) - 0.521314778447).abs() < 1e-9);
//! ```

use serde::{Deserialize, Serialize};

/// A fitted logistic regression (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logistic {
    mean: Vec<f64>,
    scale: Vec<f64>,
    coef: Vec<f64>,
    intercept: f64,
}

const MAX_ITER: usize = 100;

impl Logistic {
    /// Fits on `x` (row-major, `p` columns, `y.len()` rows) with penalty `ridge`
    /// (> 0, finite). `None` when the input cannot be fitted: no rows, `x` not of
    /// `y.len() × p` values, a non-finite value, a column whose mean or spread
    /// overflows (values near `f64::MAX`), `p` = 0, an invalid `ridge`, one outcome
    /// only (the chance would be 0 or 1 for everyone), or a system too
    /// ill-conditioned to solve (identical columns with a vanishing ridge).
    pub fn fit(x: &[f64], p: usize, y: &[bool], ridge: f64) -> Option<Logistic> {
        let n = y.len();
        if n == 0 || p == 0 || x.len() != n.checked_mul(p)? || !(ridge.is_finite() && ridge > 0.0) || x.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let pos = y.iter().filter(|&&b| b).count();
        if pos == 0 || pos == n {
            return None;
        }
        let mut mean = vec![0.0; p];
        for row in x.chunks_exact(p) {
            for (m, v) in mean.iter_mut().zip(row) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        if mean.iter().any(|m| !m.is_finite()) {
            return None;
        }
        let mut scale = vec![0.0; p];
        for row in x.chunks_exact(p) {
            for ((s, v), m) in scale.iter_mut().zip(row).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let mut constant = vec![false; p];
        for (j, s) in scale.iter_mut().enumerate() {
            *s = (*s / n as f64).sqrt();
            if !s.is_finite() {
                return None;
            }
            // All values equal (tested exactly: a mean that rounds leaves a tiny spread).
            let first = x[j];
            if x.chunks_exact(p).all(|row| row[j] == first) || *s <= 0.0 {
                *s = 1.0;
                constant[j] = true;
            }
        }
        // Standardised design with the intercept last.
        let q = p + 1;
        let z: Vec<f64> = x
            .chunks_exact(p)
            .flat_map(|row| {
                let mut r: Vec<f64> = (0..p).map(|j| if constant[j] { 0.0 } else { (row[j] - mean[j]) / scale[j] }).collect();
                r.push(1.0);
                r
            })
            .collect();
        let objective = |beta: &[f64]| -> f64 {
            let mut loss = 0.0;
            for (row, &yi) in z.chunks_exact(q).zip(y) {
                let eta: f64 = row.iter().zip(beta).map(|(a, b)| a * b).sum();
                // log(1 + e^η) − y·η, stable for large |η|.
                let softplus = if eta > 0.0 { eta + (-eta).exp().ln_1p() } else { eta.exp().ln_1p() };
                loss += softplus - if yi { eta } else { 0.0 };
            }
            loss + 0.5 * ridge * beta[..p].iter().map(|b| b * b).sum::<f64>()
        };
        let mut beta = vec![0.0; q];
        let mut current = objective(&beta);
        for _ in 0..MAX_ITER {
            let mut grad = vec![0.0; q];
            let mut hess = vec![0.0; q * q];
            for (row, &yi) in z.chunks_exact(q).zip(y) {
                let eta: f64 = row.iter().zip(&beta).map(|(a, b)| a * b).sum();
                let mu = sigmoid(eta);
                let w = (mu * (1.0 - mu)).max(1e-12);
                let r = mu - if yi { 1.0 } else { 0.0 };
                for a in 0..q {
                    grad[a] += r * row[a];
                    for b in 0..=a {
                        hess[a * q + b] += w * row[a] * row[b];
                    }
                }
            }
            for a in 0..p {
                grad[a] += ridge * beta[a];
                hess[a * q + a] += ridge;
            }
            for a in 0..q {
                for b in 0..a {
                    hess[b * q + a] = hess[a * q + b];
                }
            }
            let step = solve_spd(&mut hess, &grad, q)?;
            // Newton step, halved until the objective does not rise.
            let mut t = 1.0;
            let mut accepted = false;
            for _ in 0..40 {
                let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b - t * s).collect();
                let value = objective(&trial);
                if value <= current {
                    beta = trial;
                    current = value;
                    accepted = true;
                    break;
                }
                t *= 0.5;
            }
            let size = step.iter().fold(0.0f64, |m, s| m.max((t * s).abs()));
            if !accepted || size < 1e-12 {
                break;
            }
        }
        if beta.iter().any(|b| !b.is_finite()) {
            return None;
        }
        let intercept = beta[p];
        beta.truncate(p);
        Some(Logistic { mean, scale, coef: beta, intercept })
    }

    /// Number of columns it reads.
    pub fn columns(&self) -> usize {
        self.coef.len()
    }

    /// Whether the parts are those of a fit: at least one column, as many means,
    /// spreads and coefficients as columns, every number finite and every spread
    /// above 0. A regression read from a file is checked with this before use.
    ///
    /// ```
    /// use winback_stats::logistic::Logistic;
    /// let m = Logistic::fit(&[1.0, 2.0, 3.0, 4.0], 1, &[false, true, false, true], 1.0).expect("fits");
    /// assert!(m.is_valid());
    /// assert_eq!(m.columns(), 1);
    /// ```
    pub fn is_valid(&self) -> bool {
        let p = self.coef.len();
        p > 0
            && self.mean.len() == p
            && self.scale.len() == p
            && self.intercept.is_finite()
            && self.coef.iter().chain(&self.mean).all(|v| v.is_finite())
            && self.scale.iter().all(|s| s.is_finite() && *s > 0.0)
    }

    /// The coefficients of the standardised columns.
    pub fn coefficients(&self) -> &[f64] {
        &self.coef
    }

    /// The intercept (the log-odds of a row at every column's mean).
    pub fn intercept(&self) -> f64 {
        self.intercept
    }

    /// The chance of the positive outcome for one row of the fitted columns (in
    /// their original units), always in [0, 1]. A row of another length, or a
    /// non-finite value, is read as the columns' means (their value is then not
    /// known); a column's term that overflows (parts no fit gives, read from a
    /// file) counts 0, so the chance is never NaN.
    pub fn chance(&self, row: &[f64]) -> f64 {
        let eta: f64 = if row.len() == self.coef.len() {
            row.iter()
                .zip(&self.mean)
                .zip(&self.scale)
                .zip(&self.coef)
                .map(|(((v, m), s), c)| {
                    let term = c * (v - m) / s;
                    if term.is_finite() {
                        term
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
        } else {
            0.0
        };
        sigmoid(self.intercept + eta)
    }
}

fn sigmoid(eta: f64) -> f64 {
    if eta >= 0.0 {
        1.0 / (1.0 + (-eta).exp())
    } else {
        let e = eta.exp();
        e / (1.0 + e)
    }
}

/// Solves `a·x = b` for a symmetric positive-definite `a` (`q × q`, overwritten)
/// by Cholesky; `None` when `a` is not positive definite.
fn solve_spd(a: &mut [f64], b: &[f64], q: usize) -> Option<Vec<f64>> {
    for j in 0..q {
        let mut d = a[j * q + j];
        for k in 0..j {
            d -= a[j * q + k] * a[j * q + k];
        }
        if !(d > 0.0 && d.is_finite()) {
            return None;
        }
        let d = d.sqrt();
        a[j * q + j] = d;
        for i in j + 1..q {
            let mut s = a[i * q + j];
            for k in 0..j {
                s -= a[i * q + k] * a[j * q + k];
            }
            a[i * q + j] = s / d;
        }
    }
    let mut v = b.to_vec();
    for i in 0..q {
        for k in 0..i {
            v[i] -= a[i * q + k] * v[k];
        }
        v[i] /= a[i * q + i];
    }
    for i in (0..q).rev() {
        for k in i + 1..q {
            v[i] -= a[k * q + i] * v[k];
        }
        v[i] /= a[i * q + i];
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn parts_that_no_fit_gives_are_not_valid() {
        let m = Logistic::fit(&[1.0, 2.0, 3.0, 4.0], 1, &[false, true, false, true], 1.0).unwrap();
        assert!(m.is_valid());
        let bad = [
            Logistic { scale: vec![0.0], ..m.clone() },
            Logistic { scale: vec![-1.0], ..m.clone() },
            Logistic { mean: vec![f64::NAN], ..m.clone() },
            Logistic { coef: vec![f64::INFINITY], ..m.clone() },
            Logistic { intercept: f64::NAN, ..m.clone() },
            Logistic { coef: vec![1.0, 2.0], ..m.clone() },
            Logistic { mean: vec![], scale: vec![], coef: vec![], ..m.clone() },
        ];
        for b in bad {
            assert!(!b.is_valid(), "{b:?}");
        }
        // Valid parts whose terms overflow: +inf and -inf would sum to NaN.
        let huge = Logistic { mean: vec![0.0, 0.0], scale: vec![1.0, 1e-300], coef: vec![1e308, -1e308], intercept: 0.0 };
        assert!(huge.is_valid());
        for row in [[10.0, 10.0], [1e300, -1e300], [f64::NAN, 1.0]] {
            let c = huge.chance(&row);
            assert!((0.0..=1.0).contains(&c), "{row:?}: {c}");
        }
        assert_eq!(huge.chance(&[10.0, 10.0]), 0.5);
    }

    #[test]
    fn symmetric_data_gives_even_odds_and_a_constant_column_no_weight() {
        // x = [0, 0, 1, 1] with one return each: no slope, intercept 0.
        let x = [0.0, 5.0, 0.0, 5.0, 1.0, 5.0, 1.0, 5.0];
        let m = Logistic::fit(&x, 2, &[true, false, true, false], 1.0).unwrap();
        assert!(m.coefficients()[0].abs() < 1e-12 && m.coefficients()[1] == 0.0 && m.intercept().abs() < 1e-12);
        assert!((m.chance(&[0.3, 9.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn separable_data_stays_finite_and_ordered() {
        let x: Vec<f64> = (0..20).map(f64::from).collect();
        let y: Vec<bool> = (0..20).map(|i| i >= 10).collect();
        let m = Logistic::fit(&x, 1, &y, 1.0).unwrap();
        assert!(m.coefficients()[0].is_finite() && m.coefficients()[0] > 0.0);
        let c: Vec<f64> = x.iter().map(|v| m.chance(&[*v])).collect();
        assert!(c.windows(2).all(|w| w[0] < w[1]));
        // A row of another length, or NaN, reads as the mean.
        assert_eq!(m.chance(&[]), m.chance(&[f64::NAN]));
    }

    #[test]
    fn unfittable_input_is_none() {
        assert!(Logistic::fit(&[], 1, &[], 1.0).is_none());
        assert!(Logistic::fit(&[1.0, 2.0], 1, &[true, true], 1.0).is_none());
        assert!(Logistic::fit(&[1.0, 2.0], 1, &[true, false], 0.0).is_none());
        assert!(Logistic::fit(&[1.0, f64::NAN], 1, &[true, false], 1.0).is_none());
        assert!(Logistic::fit(&[1.0, 2.0, 3.0], 1, &[true, false], 1.0).is_none());
        assert!(Logistic::fit(&[1.0, 2.0], 0, &[true, false], 1.0).is_none());
    }

    #[test]
    fn row_order_does_not_change_the_fit_beyond_rounding() {
        let x = [1.0, 10.0, 2.0, 30.0, 3.0, 20.0, 4.0, 50.0, 5.0, 40.0, 6.0, 60.0, 7.0, 15.0];
        let y = [false, false, true, false, true, true, true];
        let a = Logistic::fit(&x, 2, &y, 1.0).unwrap();
        let mut xr = Vec::new();
        let mut yr = Vec::new();
        for i in (0..7).rev() {
            xr.extend_from_slice(&x[2 * i..2 * i + 2]);
            yr.push(y[i]);
        }
        let b = Logistic::fit(&xr, 2, &yr, 1.0).unwrap();
        assert!((a.intercept() - b.intercept()).abs() < 1e-12);
        for (ca, cb) in a.coefficients().iter().zip(b.coefficients()) {
            assert!((ca - cb).abs() < 1e-12, "{ca} {cb}");
        }
    }

    #[test]
    fn values_near_the_float_limit_are_refused_not_nan() {
        // The mean overflows: no fit (a chance of NaN would be no chance).
        assert!(Logistic::fit(&[1e308, 1.7e308, 1e308, 1.7e308], 1, &[true, false, true, false], 1.0).is_none());
        // The spread overflows: refused rather than the column silently dropped.
        assert!(Logistic::fit(&[1e200, -1e200, 1e200, -1e200], 1, &[true, false, true, false], 1.0).is_none());
        // Equal values whose mean rounds (0.1 × 3 / 3) are still a constant column.
        let m = Logistic::fit(&[0.1, 1.0, 0.1, 2.0, 0.1, 3.0], 2, &[false, true, true], 1.0).unwrap();
        assert_eq!(m.coefficients()[0], 0.0);
        assert!(m.chance(&[0.1, 2.0]).is_finite());
    }
}
