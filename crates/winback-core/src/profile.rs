//! Group profiles: what the customers of each group are like, from their
//! purchases strictly before the scoring date (never their outcomes), so that a
//! marketer can choose the channel, the message and the offer.
//!
//! For a set of customers (the lapsed list, and each group of it) a [`Profile`]
//! gives the size and share; median and quartiles of recency, purchases, tenure,
//! total spend and spend per purchase; the share of one-time buyers (one
//! purchase day); the ABC class and RFM score mix; the main and first channel
//! shares with the **suggested contact channel** (the main channel most of them
//! use); the top categories by share of purchased value; the main regions; and
//! the levels of categorical customer attributes. Every share of a group comes
//! with its **lift** against the whole list and the **number of customers**
//! behind it, so that a lift on 12 customers is not read like one on 1,200.
//!
//! ```
//! use winback_core::{History, Line};
//! use winback_core::profile::profiles;
//! let lines = [
//!     Line { customer: "a", day: 0, amount: 10.0, channel: Some("app"), ..Default::default() },
//!     Line { customer: "a", day: 10, amount: 30.0, channel: Some("app"), ..Default::default() },
//!     Line { customer: "b", day: 5, amount: 20.0, channel: Some("store"), ..Default::default() },
//! ];
//! let (h, _) = History::from_lines(lines, false, &Default::default())?;
//! // Customers 0 ("a") and 1 ("b") at day 40, in groups 1 and 2.
//! let p = profiles(&h, 40, &[0, 1], &[1, 2], 2);
//! assert_eq!(p.all.size, 2);
//! assert_eq!(p.groups[0].profile.recency_days.median, 30.0);
//! assert_eq!(p.groups[0].profile.suggested_channel.as_ref().map(|c| c.channel.as_str()), Some("app"));
//! assert_eq!(p.groups[1].profile.one_time_share, 1.0);
//! # Ok::<(), winback_core::Error>(())
//! ```

use std::collections::BTreeMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::attributes::AttrValues;
use crate::date::Day;
use crate::features::{population, score_high, score_low};
use crate::history::{History, NONE_CODE};
use crate::summary::{argmax, summarize, Summary};

/// Median and quartiles of a measure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quartiles {
    /// 25th percentile.
    pub q25: f64,
    /// Median.
    pub median: f64,
    /// 75th percentile.
    pub q75: f64,
}

/// One level's share of a group, with its lift against the whole list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelShare {
    /// The level (`app`, `A`, `65+`).
    pub level: String,
    /// Share of the group's customers at this level.
    pub share: f64,
    /// `share` ÷ the level's share of the whole list (1 = as usual).
    pub lift: f64,
    /// Customers of the group at this level.
    pub customers: usize,
}

/// A category's share of the group's purchased value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryShare {
    /// The category.
    pub category: String,
    /// Share of the group's purchased value in this category.
    pub share: f64,
    /// `share` ÷ the category's share of the whole list's purchased value.
    pub lift: f64,
    /// Customers of the group who bought the category.
    pub customers: usize,
}

/// The channel to reach a group: the main channel most of its customers use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuggestedChannel {
    /// The channel.
    pub channel: String,
    /// Share of the group's customers whose main channel it is.
    pub share: f64,
}

/// What a set of customers is like at the scoring date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Customers.
    pub size: usize,
    /// Share of the whole list.
    pub share: f64,
    /// Days since the last purchase.
    pub recency_days: Quartiles,
    /// Purchases before the date.
    pub purchases: Quartiles,
    /// Days since the first purchase.
    pub tenure_days: Quartiles,
    /// Purchased value net of returns.
    pub spend_total: Quartiles,
    /// `spend_total` ÷ purchases.
    pub spend_per_purchase: Quartiles,
    /// Share who bought on one day only.
    pub one_time_share: f64,
    /// ABC (Pareto) class mix against every customer with a purchase before the date.
    pub abc_class: Vec<LevelShare>,
    /// RFM recency score mix (1–5, 5 = most recent).
    pub rfm_r: Vec<LevelShare>,
    /// RFM frequency score mix.
    pub rfm_f: Vec<LevelShare>,
    /// RFM monetary score mix.
    pub rfm_m: Vec<LevelShare>,
    /// Main channel mix (empty without a channel column).
    pub main_channel: Vec<LevelShare>,
    /// First purchase channel mix.
    pub first_channel: Vec<LevelShare>,
    /// The channel to reach them (`None` without a channel column).
    pub suggested_channel: Option<SuggestedChannel>,
    /// Categories by share of purchased value, largest first (at most 5).
    pub top_categories: Vec<CategoryShare>,
    /// Main regions, largest first (at most 5).
    pub main_regions: Vec<LevelShare>,
    /// Categorical customer attributes: level mix among the group's customers whose
    /// value is known (lifts against the list's customers whose value is known), largest first.
    pub attributes: BTreeMap<String, Vec<LevelShare>>,
    /// One line in plain words from the largest lifts.
    pub description: String,
}

/// A group's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupProfile {
    /// Group id.
    pub group: usize,
    /// Its profile.
    #[serde(flatten)]
    pub profile: Profile,
}

/// Profiles of every group and of the whole list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profiles {
    /// One per group, in group order (groups without customers have size 0).
    pub groups: Vec<GroupProfile>,
    /// The whole list.
    pub all: Profile,
}

/// Per-customer facts a profile needs.
struct Facts {
    recency: f64,
    purchases: f64,
    tenure: f64,
    spend: f64,
    one_time: bool,
    abc: u8,
    rfm: [u8; 3],
    main_channel: u16,
    first_channel: u16,
    main_region: u16,
    categories: Vec<(u16, f64)>,
    attrs: Vec<u32>,
}

fn quartiles(mut v: Vec<f64>) -> Quartiles {
    v.sort_by(f64::total_cmp);
    let q = |p: f64| winback_stats::quantile_sorted(&v, p);
    Quartiles { q25: q(0.25), median: q(0.5), q75: q(0.75) }
}

/// Level counts → shares with lifts against `base` (the whole list's shares), largest first.
fn levels(counts: &BTreeMap<String, usize>, n: usize, base: &BTreeMap<String, f64>, keep: usize) -> Vec<LevelShare> {
    let mut v: Vec<LevelShare> = counts
        .iter()
        .filter(|(_, &k)| k > 0)
        .map(|(l, &k)| {
            let share = k as f64 / n.max(1) as f64;
            let b = base.get(l).copied().unwrap_or(0.0);
            LevelShare { level: l.clone(), share, lift: if b > 0.0 { share / b } else { 0.0 }, customers: k }
        })
        .collect();
    v.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.level.cmp(&b.level)));
    v.truncate(keep);
    v
}

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// Profiles of `customers` (history indices; the lapsed list) at `at`, each in
/// group `group_of[i]` (1..=`groups`). Only events strictly before `at` are used.
/// `customers` without a purchase before `at` are left out of every profile.
pub fn profiles(history: &History, at: Day, customers: &[usize], group_of: &[usize], groups: usize) -> Profiles {
    let sums: Vec<Option<Summary>> = (0..history.num_customers()).into_par_iter().map(|c| summarize(history, c, at, &[])).collect();
    let pop = population(at, &sums, false);
    let attrs = history.attributes();
    let cat_cols: Vec<(&str, &[String], &[u32])> = attrs
        .map(|a| {
            a.columns()
                .iter()
                .filter_map(|c| match &c.values {
                    AttrValues::Categorical { levels, codes } => Some((c.name.as_str(), levels.as_slice(), codes.as_slice())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let mut facts: Vec<(usize, Facts)> = Vec::new();
    for (i, &c) in customers.iter().enumerate() {
        let Some(Some(s)) = sums.get(c) else { continue };
        let recency = f64::from(at - s.last);
        let net = s.gross - s.returned;
        let arow = attrs.and_then(|a| a.row(c));
        facts.push((
            group_of.get(i).copied().unwrap_or(0),
            Facts {
                recency,
                purchases: f64::from(s.purchases),
                tenure: f64::from(at - s.first),
                spend: net,
                one_time: s.distinct_days < 2,
                abc: pop.abc(net),
                rfm: [
                    score_low(recency, &pop.r_bp) as u8,
                    score_high(f64::from(s.purchases), &pop.f_bp) as u8,
                    score_high(net, &pop.m_bp) as u8,
                ],
                main_channel: argmax(&s.channels),
                first_channel: s.first_channel,
                main_region: argmax(&s.regions),
                categories: s.categories.clone(),
                attrs: cat_cols.iter().map(|(_, _, codes)| arow.map_or(u32::MAX, |r| codes[r])).collect(),
            },
        ));
    }
    let present = history.present();
    let n_all = facts.len();
    let name = |names: &[String], code: u16| -> Option<String> { (code != NONE_CODE).then(|| names[usize::from(code)].clone()) };

    // Level counts of one set of customers.
    struct Counts {
        abc: BTreeMap<String, usize>,
        rfm: [BTreeMap<String, usize>; 3],
        main_channel: BTreeMap<String, usize>,
        first_channel: BTreeMap<String, usize>,
        region: BTreeMap<String, usize>,
        attrs: Vec<BTreeMap<String, usize>>,
        cat_value: BTreeMap<String, f64>,
        cat_customers: BTreeMap<String, usize>,
    }
    let count = |set: &[&Facts]| -> Counts {
        let mut k = Counts {
            abc: BTreeMap::new(),
            rfm: Default::default(),
            main_channel: BTreeMap::new(),
            first_channel: BTreeMap::new(),
            region: BTreeMap::new(),
            attrs: vec![BTreeMap::new(); cat_cols.len()],
            cat_value: BTreeMap::new(),
            cat_customers: BTreeMap::new(),
        };
        for f in set {
            *k.abc.entry(["A", "B", "C"][usize::from(f.abc.min(2))].to_string()).or_default() += 1;
            for (j, r) in f.rfm.iter().enumerate() {
                *k.rfm[j].entry(r.to_string()).or_default() += 1;
            }
            if let Some(l) = name(&history.channels, f.main_channel) {
                *k.main_channel.entry(l).or_default() += 1;
            }
            if let Some(l) = name(&history.channels, f.first_channel) {
                *k.first_channel.entry(l).or_default() += 1;
            }
            if let Some(l) = name(&history.regions, f.main_region) {
                *k.region.entry(l).or_default() += 1;
            }
            for (j, &code) in f.attrs.iter().enumerate() {
                if code != u32::MAX {
                    *k.attrs[j].entry(cat_cols[j].1[code as usize].clone()).or_default() += 1;
                }
            }
            for &(cat, v) in &f.categories {
                let l = history.categories[usize::from(cat)].clone();
                *k.cat_value.entry(l.clone()).or_default() += v;
                if v > 0.0 {
                    *k.cat_customers.entry(l).or_default() += 1;
                }
            }
        }
        k
    };
    let shares = |m: &BTreeMap<String, usize>, n: usize| -> BTreeMap<String, f64> { m.iter().map(|(l, &k)| (l.clone(), k as f64 / n.max(1) as f64)).collect() };
    let value_shares = |m: &BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        let total: f64 = m.values().filter(|v| **v > 0.0).sum();
        m.iter().map(|(l, &v)| (l.clone(), if total > 0.0 { v.max(0.0) / total } else { 0.0 })).collect()
    };
    let all_refs: Vec<&Facts> = facts.iter().map(|(_, f)| f).collect();
    let base = count(&all_refs);
    // Attribute shares are among the customers whose value is known: a table that
    // covers a third of the list must not make every level look over-represented.
    let known = |m: &BTreeMap<String, usize>| m.values().sum::<usize>();
    let base_attr_shares: Vec<BTreeMap<String, f64>> = base.attrs.iter().map(|m| shares(m, known(m))).collect();
    let base_cat = value_shares(&base.cat_value);

    let profile = |set: &[&Facts]| -> Profile {
        let n = set.len();
        let k = count(set);
        let q = |f: &dyn Fn(&Facts) -> f64| quartiles(set.iter().map(|x| f(x)).collect());
        let main_channel = levels(&k.main_channel, n, &shares(&base.main_channel, n_all), usize::MAX);
        let suggested_channel = if present.channel {
            main_channel.first().map(|l| SuggestedChannel { channel: l.level.clone(), share: l.share })
        } else {
            None
        };
        let cat = value_shares(&k.cat_value);
        let mut top_categories: Vec<CategoryShare> = cat
            .iter()
            .filter(|(_, &s)| s > 0.0)
            .map(|(l, &s)| {
                let b = base_cat.get(l).copied().unwrap_or(0.0);
                CategoryShare { category: l.clone(), share: s, lift: if b > 0.0 { s / b } else { 0.0 }, customers: k.cat_customers.get(l).copied().unwrap_or(0) }
            })
            .collect();
        top_categories.sort_by(|a, b| b.share.total_cmp(&a.share).then(a.category.cmp(&b.category)));
        top_categories.truncate(5);
        let attributes: BTreeMap<String, Vec<LevelShare>> =
            cat_cols.iter().enumerate().map(|(j, (nm, _, _))| (nm.to_string(), levels(&k.attrs[j], known(&k.attrs[j]), &base_attr_shares[j], usize::MAX))).collect();
        let one_time_share = set.iter().filter(|f| f.one_time).count() as f64 / n.max(1) as f64;
        let mut p = Profile {
            size: n,
            share: n as f64 / n_all.max(1) as f64,
            recency_days: q(&|f| f.recency),
            purchases: q(&|f| f.purchases),
            tenure_days: q(&|f| f.tenure),
            spend_total: q(&|f| f.spend),
            spend_per_purchase: q(&|f| f.spend / f.purchases.max(1.0)),
            one_time_share,
            abc_class: levels(&k.abc, n, &shares(&base.abc, n_all), 3),
            rfm_r: levels(&k.rfm[0], n, &shares(&base.rfm[0], n_all), 5),
            rfm_f: levels(&k.rfm[1], n, &shares(&base.rfm[1], n_all), 5),
            rfm_m: levels(&k.rfm[2], n, &shares(&base.rfm[2], n_all), 5),
            first_channel: levels(&k.first_channel, n, &shares(&base.first_channel, n_all), usize::MAX),
            main_channel,
            suggested_channel,
            top_categories,
            main_regions: levels(&k.region, n, &shares(&base.region, n_all), 5),
            attributes,
            description: String::new(),
        };
        p.description = describe(&p, None);
        p
    };
    let all = profile(&all_refs);
    let groups = (1..=groups)
        .map(|g| {
            let set: Vec<&Facts> = facts.iter().filter(|(k, _)| *k == g).map(|(_, f)| f).collect();
            let mut profile = profile(&set);
            profile.description = describe(&profile, Some(&all));
            GroupProfile { group: g, profile }
        })
        .collect();
    Profiles { groups, all }
}

/// Lifts below this, or on fewer customers than [`MIN_CUSTOMERS`], are not worth a word.
const MIN_LIFT: f64 = 1.2;
/// The fewest customers behind a lift that the description mentions.
const MIN_CUSTOMERS: usize = 10;

/// One line in plain words: the channel most use, the categories and region
/// that stand out (lift ≥ 1.2 on at least 10 customers), the attribute level
/// that stands out most, how their spend compares with the whole list's (median
/// spend at least 1.5× or at most ⅔ of it), and the share of one-time buyers.
fn describe(p: &Profile, all: Option<&Profile>) -> String {
    if p.size == 0 {
        return "nobody on the list".into();
    }
    let mut parts = Vec::new();
    if let Some(c) = &p.suggested_channel {
        if c.share >= 0.5 {
            parts.push(format!("mostly {} buyers", c.channel));
        } else {
            parts.push(format!("{} buyers first ({})", c.channel, pct(c.share)));
        }
    }
    let cats: Vec<&str> = p.top_categories.iter().filter(|c| c.lift >= MIN_LIFT && c.customers >= MIN_CUSTOMERS).take(2).map(|c| c.category.as_str()).collect();
    if !cats.is_empty() {
        parts.push(cats.join(" and "));
    }
    if let Some(r) = p.main_regions.iter().find(|r| r.lift >= MIN_LIFT && r.customers >= MIN_CUSTOMERS && r.share >= 0.3) {
        parts.push(format!("region {}", r.level));
    }
    let attr = p
        .attributes
        .iter()
        .flat_map(|(name, v)| v.iter().map(move |l| (name, l)))
        .filter(|(_, l)| l.lift >= MIN_LIFT && l.customers >= MIN_CUSTOMERS && l.share >= 0.2)
        .max_by(|a, b| a.1.lift.total_cmp(&b.1.lift).then(b.0.cmp(a.0)).then(b.1.level.cmp(&a.1.level)));
    if let Some((name, l)) = attr {
        parts.push(format!("{} {}", name.replace('_', " "), l.level));
    }
    if let Some(a) = all.filter(|a| a.spend_total.median > 0.0 && p.size >= MIN_CUSTOMERS) {
        let ratio = p.spend_total.median / a.spend_total.median;
        if ratio >= 1.5 {
            parts.push(format!("high spenders ({:.2} median, ×{ratio:.1} the list's)", p.spend_total.median));
        } else if ratio <= 2.0 / 3.0 {
            parts.push(format!("low spenders ({:.2} median, ×{ratio:.1} the list's)", p.spend_total.median));
        }
    }
    let head = parts.join(", ");
    let tail = format!("{} one-time buyers", pct(p.one_time_share));
    if head.is_empty() {
        tail
    } else {
        format!("{head}; {tail}")
    }
}
