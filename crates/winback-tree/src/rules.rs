//! Rules: conditions on schema features, and the sentence a marketer reads.
//!
//! Thresholds are midpoints between observed values (`90.5`); for integer-valued
//! kinds (days, counts, scores) they are written as whole numbers, so
//! `recency_days ≥ 90.5 and < 180.5` reads "last purchase 91–180 days ago".

use serde::{Deserialize, Serialize};
use winback_core::features::{Feature, FeatureKind};

/// `lower ≤ value < upper` on one feature (either bound may be absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    /// Feature index.
    pub feature: usize,
    /// Feature name.
    pub name: String,
    /// Inclusive lower bound.
    pub lower: Option<f64>,
    /// Exclusive upper bound.
    pub upper: Option<f64>,
}

impl Condition {
    /// Whether `v` satisfies the condition.
    pub fn holds(&self, v: f64) -> bool {
        self.lower.is_none_or(|l| v >= l) && self.upper.is_none_or(|u| v < u)
    }

    /// The condition in symbols: `3.5 <= purchases < 7.5`.
    pub fn formula(&self) -> String {
        match (self.lower, self.upper) {
            (Some(l), Some(u)) => format!("{l} <= {} < {u}", self.name),
            (Some(l), None) => format!("{} >= {l}", self.name),
            (None, Some(u)) => format!("{} < {u}", self.name),
            (None, None) => format!("any {}", self.name),
        }
    }
}

fn label(name: &str) -> String {
    match name {
        "gap_mean_days" | "gap_mean" => "usual gap between purchases".into(),
        "tenure" => "customer for".into(),
        "purchases" => "purchases".into(),
        "tenure_days" => "customer for".into(),
        "spend_total" => "total spend".into(),
        "spend_mean" => "spend per purchase".into(),
        "gap_cv" => "irregularity of gaps (cv)".into(),
        "overdue_ratio" => "overdue ratio (recency / usual gap)".into(),
        "spend_trend" => "spend trend".into(),
        "returned_share" => "returned share of value".into(),
        "distinct_categories" => "categories bought".into(),
        "top_category_share" => "share of the top category".into(),
        "rfm_r" => "RFM recency score".into(),
        "rfm_f" => "RFM frequency score".into(),
        "rfm_m" => "RFM monetary score".into(),
        "btyd_p_alive" => "chance still a customer from the purchase pattern".into(),
        "recency_pct" => "rank by time since the last purchase in the list (0% = most recent)".into(),
        "btyd_p_buy_pct" => "rank by chance of buying in the list (0% = least likely)".into(),
        other => {
            if let Some(h) = other.strip_prefix("btyd_p_buy_").and_then(|s| s.strip_suffix('d')) {
                return format!("chance of buying within {h} days from the purchase pattern");
            }
            if let Some(h) = other.strip_prefix("btyd_purchases_").and_then(|s| s.strip_suffix('d')) {
                return format!("expected purchases within {h} days from the purchase pattern");
            }
            if let Some(w) = other.strip_prefix("purchases_").and_then(|s| s.strip_suffix('d')) {
                return format!("purchases in the last {w} days");
            }
            if let Some(w) = other.strip_prefix("spend_").and_then(|s| s.strip_suffix('d')) {
                return format!("spend in the last {w} days");
            }
            if let Some(ch) = other.strip_prefix("channel_share=") {
                return format!("share of purchases {ch}");
            }
            other.replace('_', " ")
        }
    }
}

/// Whole-number bounds for integer kinds: `x ≥ 90.5` → `x ≥ 91`, `x < 180.5` → `x ≤ 180`.
fn int_range(lower: Option<f64>, upper: Option<f64>) -> (Option<i64>, Option<i64>) {
    (lower.map(|l| l.ceil() as i64), upper.map(|u| (u.ceil() - 1.0) as i64))
}

fn int_phrase(lo: Option<i64>, hi: Option<i64>, unit: &str) -> String {
    // "1 purchase", "at most 1 purchase", but "2 purchases".
    let one = matches!((lo, hi), (Some(1), Some(1)) | (None, Some(1)));
    let unit = match unit {
        "" => String::new(),
        u if one => format!(" {}", u.strip_suffix('s').unwrap_or(u)),
        u => format!(" {u}"),
    };
    match (lo, hi) {
        (Some(a), Some(b)) if a == b => format!("{a}{unit}"),
        (Some(a), Some(b)) => format!("{a}–{b}{unit}"),
        (Some(a), None) => format!("{a} or more{unit}"),
        (None, Some(b)) => format!("at most {b}{unit}"),
        (None, None) => "any".into(),
    }
}

/// A range in words; `fmt(v, up)` prints a bound rounded down (`up` false: a lower
/// bound) or up (an upper bound), so that the words hold for every member: a group
/// of `x ≥ 0.0777` is "at least 7%", never "at least 8%".
fn num_phrase(lo: Option<f64>, hi: Option<f64>, fmt: &dyn Fn(f64, bool) -> String) -> String {
    match (lo, hi) {
        (Some(a), Some(b)) => format!("{}–{}", fmt(a, false), fmt(b, true)),
        (Some(a), None) => format!("at least {}", fmt(a, false)),
        (None, Some(b)) => format!("under {}", fmt(b, true)),
        (None, None) => "any".into(),
    }
}

/// One condition as words.
pub fn describe(c: &Condition, f: &Feature) -> String {
    match &f.kind {
        FeatureKind::CategoryLevel { group, level } => {
            let g = label(group);
            // Indicators are 0/1: the split is at 0.5.
            if c.lower.is_some() {
                format!("{g} {level}")
            } else {
                format!("{g} not {level}")
            }
        }
        FeatureKind::Indicator => {
            if let Some(base) = f.name.strip_suffix("_missing") {
                let g = label(base);
                return if c.lower.is_some() { format!("{g} unknown") } else { format!("{g} known") };
            }
            let g = label(&f.name);
            if c.lower.is_some() {
                g
            } else {
                format!("not {g}")
            }
        }
        FeatureKind::Days if f.name == "recency_days" => {
            let (lo, hi) = int_range(c.lower, c.upper);
            format!("last purchase {} ago", int_phrase(lo, hi, "days"))
        }
        // A mean gap is fractional: whole-day bounds would misstate who is in the group.
        FeatureKind::Days if f.name == "gap_mean_days" => format!("{} {} days", label(&f.name), num_phrase(c.lower, c.upper, &|v, up| decimals(v, 1, up))),
        FeatureKind::Days => {
            let (lo, hi) = int_range(c.lower, c.upper);
            format!("{} {}", label(&f.name.replace("_days", "")), int_phrase(lo, hi, "days"))
        }
        FeatureKind::Count if f.name == "purchases" => {
            let (lo, hi) = int_range(c.lower, c.upper);
            int_phrase(lo, hi, "purchases")
        }
        FeatureKind::Count | FeatureKind::Score => {
            let (lo, hi) = int_range(c.lower, c.upper);
            format!("{} {}", label(&f.name), int_phrase(lo, hi, ""))
        }
        FeatureKind::Money => format!("{} {}", label(&f.name), num_phrase(c.lower, c.upper, &|v, up| decimals(v, 2, up))),
        FeatureKind::Share => format!("{} {}", label(&f.name), num_phrase(c.lower, c.upper, &|v, up| format!("{}%", decimals(v * 100.0, 0, up)))),
        FeatureKind::Probability => format!("{} {}", label(&f.name), num_phrase(c.lower, c.upper, &|v, up| format!("{}%", decimals(v * 100.0, 1, up)))),
        FeatureKind::Ratio | FeatureKind::Number => format!("{} {}", label(&f.name), num_phrase(c.lower, c.upper, &|v, up| decimals(v, 2, up))),
    }
}

/// `v` with `places` decimals, rounded up (`up`) or down; a threshold that is
/// not 0 but would round to 0 gets two significant digits instead ("under
/// 0.0028", not "under 0.00"). Rounding never crosses the threshold's side: a
/// lower bound prints at most itself, an upper bound at least itself (a float
/// a hair off a printed value, 0.29 × 100 = 28.999…, counts as that value).
fn decimals(v: f64, places: usize, up: bool) -> String {
    if !v.is_finite() {
        return format!("{v:.places$}");
    }
    let round = |places: usize| {
        let scale = 10f64.powi(places as i32);
        let x = v * scale;
        let tol = 1e-9 * x.abs().max(1.0);
        (if up { (x - tol).ceil() } else { (x + tol).floor() }) / scale
    };
    let mut places = places;
    let mut r = round(places);
    if v != 0.0 && (r == 0.0 || (v.abs() * 10f64.powi(places as i32)).round() == 0.0) {
        // The first significant digit is at decimal place floor(-log10 |v|) + 1.
        places = ((-v.abs().log10()).floor() as usize + 2).min(15);
        r = round(places);
    }
    // `+ 0.0`: -0.0 prints as "0", not "-0".
    format!("{:.places$}", r + 0.0)
}

/// A rule as a sentence: conditions joined by "; ". The empty rule is "all customers".
pub fn sentence(conds: &[Condition], features: &[Feature]) -> String {
    if conds.is_empty() {
        return "all customers".into();
    }
    // Recency first, then counts and money, then the rest, as people read them.
    let mut ordered: Vec<&Condition> = conds.iter().collect();
    let rank = |c: &Condition| match features.get(c.feature).map(|f| &f.kind) {
        _ if c.name == "recency_days" => 0,
        Some(FeatureKind::Days) => 1,
        Some(FeatureKind::Count) => 2,
        Some(FeatureKind::Money) => 3,
        Some(FeatureKind::CategoryLevel { .. }) => 5,
        _ => 4,
    };
    ordered.sort_by_key(|c| (rank(c), c.feature));
    ordered.iter().filter_map(|c| features.get(c.feature).map(|f| describe(c, f))).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use winback_core::features::Source;

    fn feat(name: &str, kind: FeatureKind) -> Feature {
        Feature { name: name.into(), kind, unit: String::new(), source: Source::Recency }
    }

    #[test]
    fn sentences_read_like_the_design() {
        let fs = vec![
            feat("recency_days", FeatureKind::Days),
            feat("purchases", FeatureKind::Count),
            feat("main_channel=online", FeatureKind::CategoryLevel { group: "main_channel".into(), level: "online".into() }),
            feat("main_region=North", FeatureKind::CategoryLevel { group: "main_region".into(), level: "North".into() }),
            feat("spend_total", FeatureKind::Money),
            feat("channel_share=online", FeatureKind::Share),
        ];
        let c = |feature: usize, lower, upper| Condition { feature, name: fs[feature].name.clone(), lower, upper };
        let s = sentence(&[c(2, Some(0.5), None), c(1, Some(2.5), None), c(0, Some(90.5), Some(180.5)), c(3, None, Some(0.5))], &fs);
        assert_eq!(s, "last purchase 91–180 days ago; 3 or more purchases; main channel online; main region not North");
        assert_eq!(sentence(&[c(1, None, Some(1.5))], &fs), "at most 1 purchase");
        assert_eq!(sentence(&[c(1, Some(1.5), Some(2.5))], &fs), "2 purchases");
        assert_eq!(sentence(&[c(4, Some(99.995), None)], &fs), "total spend at least 99.99");
        assert_eq!(sentence(&[c(4, None, Some(99.995))], &fs), "total spend under 100.00");
        // A bound is rounded toward its own side, so the words hold for every member:
        // a group of x ≥ 0.0777 is "at least 7%" (it read "at least 8%" with 7.84% members).
        assert_eq!(sentence(&[c(5, Some(0.0777), None)], &fs), "share of purchases online at least 7%");
        assert_eq!(sentence(&[c(5, None, Some(0.0777))], &fs), "share of purchases online under 8%");
        assert_eq!(sentence(&[c(5, Some(0.29), Some(0.58))], &fs), "share of purchases online 29%–58%");
        assert_eq!(sentence(&[c(4, Some(636.714_999_9), None)], &fs), "total spend at least 636.71");
        assert_eq!(sentence(&[c(4, None, Some(636.714_999_9))], &fs), "total spend under 636.72");
        assert_eq!(sentence(&[c(5, Some(0.25), Some(0.75))], &fs), "share of purchases online 25%–75%");
        assert_eq!(sentence(&[], &fs), "all customers");
        // Small thresholds keep two significant digits instead of rounding to 0.
        let cv = vec![feat("gap_cv", FeatureKind::Ratio), feat("channel_share=web", FeatureKind::Share), feat("spend_mean", FeatureKind::Money)];
        let k = |feature: usize, lower, upper| Condition { feature, name: cv[feature].name.clone(), lower, upper };
        assert_eq!(sentence(&[k(0, None, Some(0.0028))], &cv), "irregularity of gaps (cv) under 0.0028");
        assert_eq!(sentence(&[k(0, Some(0.0028), None)], &cv), "irregularity of gaps (cv) at least 0.0028");
        assert_eq!(sentence(&[k(0, Some(0.126), None)], &cv), "irregularity of gaps (cv) at least 0.12");
        assert_eq!(sentence(&[k(0, Some(0.0), None)], &cv), "irregularity of gaps (cv) at least 0.00");
        assert_eq!(sentence(&[k(1, Some(0.004), None)], &cv), "share of purchases web at least 0.40%");
        assert_eq!(sentence(&[k(1, Some(0.25), None)], &cv), "share of purchases web at least 25%");
        assert_eq!(sentence(&[k(2, None, Some(0.004))], &cv), "spend per purchase under 0.0040");
        assert_eq!(decimals(-0.00123, 2, true), "-0.0012");
        assert_eq!(decimals(-0.00123, 2, false), "-0.0013");
        assert_eq!(decimals(0.05, 2, false), "0.05");
        assert_eq!(decimals(0.099, 1, true), "0.1");
        assert_eq!(decimals(0.099, 1, false), "0.099");
        assert!(c(0, Some(90.5), Some(180.5)).holds(91.0) && !c(0, Some(90.5), Some(180.5)).holds(180.5));
    }
}
