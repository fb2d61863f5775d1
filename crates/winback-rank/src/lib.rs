//! # winback-rank
//!
//! From groups to a contact priority list that says where to stop.
//!
//! This crate knows groups, not trees or histories: [`Candidate`]s (a group id,
//! its size, probability with interval, and the spend of returning customers)
//! come in as plain data; a [`Plan`] comes out: the groups in objective order,
//! cumulative contacts, expected win-backs, revenue, cost, profit and ROI, the
//! stop point, and what the groups left out save.
//!
//! ```
//! use winback_rank::{plan, Candidate, Objective, PlanParams};
//! let c = |group, size, p| Candidate::new(group, size, p, p * 0.8, p * 1.2, 50.0);
//! let groups = [c(1, 100, 0.40), c(2, 200, 0.25), c(3, 300, 0.10), c(4, 400, 0.02)];
//! let params = PlanParams { objective: Objective::Probability, target_winbacks: Some(80.0), ..Default::default() };
//! let p = plan(&groups, &params)?;
//! // 40 from group 1, then 50 from group 2: the target of 80 is reached after two groups.
//! assert_eq!(p.groups_contacted(), vec![1, 2]);
//! assert_eq!(p.contacts, 300);
//! assert!((p.expected_winbacks - 90.0).abs() < 1e-9);
//! assert_eq!(p.groups_skipped(), vec![3, 4]);
//! # Ok::<(), winback_rank::Error>(())
//! ```

mod error;

use serde::{Deserialize, Serialize};
use winback_stats::{Beta, Rng};

pub use error::{Error, Result};

/// A group to consider contacting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Group id.
    pub group: usize,
    /// Customers in the group.
    pub size: usize,
    /// Probability of a win-back per contacted customer.
    pub probability: f64,
    /// Interval low.
    pub low: f64,
    /// Interval high.
    pub high: f64,
    /// Mean spend of a returning customer (before margin), finite and at least 0.
    pub return_spend: f64,
    /// The probability's Beta posterior, if known (used as the prior for feedback).
    pub posterior: Option<Beta>,
    /// A readable description (the group's rule).
    pub label: String,
    /// The measured effect of contacting the group (contact rate − control rate),
    /// when a wave with a control group was recorded ([`effects`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
}

impl Candidate {
    /// A candidate without posterior or label.
    pub fn new(group: usize, size: usize, probability: f64, low: f64, high: f64, return_spend: f64) -> Candidate {
        Candidate { group, size, probability, low, high, return_spend, posterior: None, label: String::new(), effect: None }
    }

    /// The Beta behind the probability: the stored posterior, or one with the same
    /// mean whose 90% interval is about as wide as `[low, high]`.
    pub fn beta(&self) -> Beta {
        if let Some(b) = self.posterior {
            return b;
        }
        let p = self.probability.clamp(1e-6, 1.0 - 1e-6);
        let sd = ((self.high - self.low) / (2.0 * 1.645)).max(1e-6);
        let strength = (p * (1.0 - p) / (sd * sd) - 1.0).clamp(1.0, 1e7);
        Beta::from_mean(p, strength)
    }
}

/// What the plan maximises, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Probability of a win-back.
    #[default]
    Probability,
    /// Expected profit per contact: p × value − cost.
    Profit,
    /// Return on the contact cost: (p × value − cost) / cost.
    Roi,
    /// Win-backs caused by the contact: the measured effect (contact rate −
    /// control rate) per contact, or the incremental profit per contact
    /// (effect × value − cost) when a cost is given. Groups without a measured
    /// effect, or whose effect interval lies wholly below `min_effect`, are left
    /// out ("no measurable effect"); the plan's win-backs, revenue and profit are
    /// those the contact causes (contacts × effect), and a target counts them.
    Incremental,
}

/// Economics and stopping rules. Stopping rules combine: the first one met stops.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanParams {
    /// Ordering.
    pub objective: Objective,
    /// Cost of one contact (default 0).
    pub cost_per_contact: f64,
    /// Margin applied to the return spend (default 1).
    pub margin: f64,
    /// Value of one win-back, overriding return spend × margin.
    pub value_per_winback: Option<f64>,
    /// Stop before the cumulative cost exceeds this (a group may be cut short).
    pub budget: Option<f64>,
    /// Stop at this many contacts (a group may be cut short).
    pub max_contacts: Option<usize>,
    /// Stop after the first group where cumulative expected win-backs reach this.
    pub target_winbacks: Option<f64>,
    /// Leave out groups below this probability.
    pub min_probability: Option<f64>,
    /// Leave out groups whose expected profit per contact is below this. When
    /// unset and a cost is given — or under the incremental objective, where a group
    /// expected to lose win-backs loses money even at no cost — money-losing groups
    /// (expected value < 0) are left out unless `include_unprofitable`.
    pub min_expected_profit: Option<f64>,
    /// Keep money-losing groups in the plan.
    pub include_unprofitable: bool,
    /// Share of every group held out as an uncontacted control (0 = none, at most
    /// 0.9): drawn from a seeded hash of the customer id ([`in_control`]), so the
    /// same customers are held out on every run and every machine. Control
    /// customers are listed (arm `control`) but never count in contacts, cost or
    /// expected win-backs.
    #[serde(default)]
    pub control_share: f64,
    /// Seed of the holdout's hash (default 0).
    #[serde(default)]
    pub control_seed: u64,
    /// With the incremental objective: leave out groups whose effect interval lies
    /// wholly below this (default 0: contact that measurably does not help).
    #[serde(default)]
    pub min_effect: Option<f64>,
}

/// Whether a customer is in the randomised control arm of a plan with these parameters.
pub fn in_control(customer: &str, params: &PlanParams) -> bool {
    params.control_share > 0.0 && (winback_stats::hash_str(params.control_seed, customer) >> 11) as f64 / (1u64 << 53) as f64 <= params.control_share
}

/// Contacted or held out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// Contacted.
    #[default]
    Contact,
    /// Held out (not contacted) to measure what contacting changes.
    Control,
}

impl Arm {
    /// `contact` or `control`.
    pub fn name(self) -> &'static str {
        match self {
            Arm::Contact => "contact",
            Arm::Control => "control",
        }
    }
}

impl Default for PlanParams {
    fn default() -> Self {
        PlanParams {
            objective: Objective::Probability,
            cost_per_contact: 0.0,
            margin: 1.0,
            value_per_winback: None,
            budget: None,
            max_contacts: None,
            target_winbacks: None,
            min_probability: None,
            min_expected_profit: None,
            include_unprofitable: false,
            control_share: 0.0,
            control_seed: 0,
            min_effect: None,
        }
    }
}

impl PlanParams {
    /// Checks the parameters: invalid values are errors, never clamped.
    pub fn validate(&self) -> Result<()> {
        if !(self.cost_per_contact >= 0.0 && self.cost_per_contact.is_finite()) {
            return Err(Error::InvalidCost(self.cost_per_contact));
        }
        if !(self.margin > 0.0 && self.margin <= 1.0) {
            return Err(Error::InvalidMargin(self.margin));
        }
        if let Some(v) = self.value_per_winback {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(Error::InvalidValue(v));
            }
        }
        if let Some(b) = self.budget {
            if !(b >= 0.0 && b.is_finite()) {
                return Err(Error::InvalidBudget(b));
            }
        }
        if let Some(t) = self.target_winbacks {
            if !(t > 0.0 && t.is_finite()) {
                return Err(Error::InvalidTarget(t));
            }
        }
        if let Some(m) = self.min_probability {
            if !(0.0..=1.0).contains(&m) {
                return Err(Error::InvalidMinProbability(m));
            }
        }
        if let Some(m) = self.min_expected_profit {
            if !m.is_finite() {
                return Err(Error::InvalidMinProfit(m));
            }
        }
        if !(0.0..=0.9).contains(&self.control_share) {
            return Err(Error::InvalidControlShare(self.control_share));
        }
        if let Some(m) = self.min_effect {
            if !(-1.0..=1.0).contains(&m) {
                return Err(Error::InvalidMinEffect(m));
            }
        }
        if self.objective == Objective::Roi && self.cost_per_contact <= 0.0 {
            return Err(Error::RoiWithoutCost);
        }
        if self.budget.is_some() && self.cost_per_contact <= 0.0 {
            return Err(Error::BudgetWithoutCost);
        }
        Ok(())
    }

    /// Value of one win-back in a group.
    pub fn value(&self, c: &Candidate) -> f64 {
        self.value_per_winback.unwrap_or(c.return_spend * self.margin)
    }

    /// Expected profit per contact in a group.
    pub fn profit_per_contact(&self, c: &Candidate) -> f64 {
        c.probability * self.value(c) - self.cost_per_contact
    }

    /// The objective's value for a group.
    pub fn objective_value(&self, c: &Candidate) -> f64 {
        match self.objective {
            Objective::Probability => c.probability,
            Objective::Profit => self.profit_per_contact(c),
            Objective::Roi => {
                if self.cost_per_contact > 0.0 {
                    self.profit_per_contact(c) / self.cost_per_contact
                } else {
                    f64::INFINITY * c.probability.signum()
                }
            }
            Objective::Incremental => match &c.effect {
                Some(e) if self.cost_per_contact > 0.0 => e.effect * self.value(c) - self.cost_per_contact,
                Some(e) => e.effect,
                None => f64::NEG_INFINITY,
            },
        }
    }

    /// What one contact in a group yields, with its interval ends: the win-back
    /// probability, or under [`Objective::Incremental`] the measured effect (the
    /// win-backs the contact causes; 0 without a measured effect).
    pub fn rate(&self, c: &Candidate) -> (f64, f64, f64) {
        match (self.objective, &c.effect) {
            (Objective::Incremental, Some(e)) => (e.effect, e.effect_low, e.effect_high),
            (Objective::Incremental, None) => (0.0, 0.0, 0.0),
            _ => (c.probability, c.low, c.high),
        }
    }

    /// Whether the incremental objective leaves the group out: no measured
    /// effect, or an effect interval wholly below `min_effect` (default 0).
    pub fn no_measurable_effect(&self, c: &Candidate) -> bool {
        self.objective == Objective::Incremental && c.effect.as_ref().is_none_or(|e| e.effect_high < self.min_effect.unwrap_or(0.0))
    }
}

/// One contacted group in the plan, with cumulative figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Group id.
    pub group: usize,
    /// Group label.
    pub label: String,
    /// Customers in the group.
    pub size: usize,
    /// Contacted in this step (less than `size` when a budget or cap cut the group).
    pub contacts: usize,
    /// Probability.
    pub probability: f64,
    /// Objective value.
    pub objective: f64,
    /// Value of a win-back.
    pub value_per_winback: f64,
    /// Expected win-backs in this step.
    pub expected_winbacks: f64,
    /// Cumulative contacts.
    pub cum_contacts: usize,
    /// Cumulative expected win-backs.
    pub cum_expected_winbacks: f64,
    /// Cumulative low end (sum of the groups' interval lows × contacts; conservative).
    pub cum_winbacks_low: f64,
    /// Cumulative high end.
    pub cum_winbacks_high: f64,
    /// Cumulative expected revenue.
    pub cum_revenue: f64,
    /// Cumulative cost.
    pub cum_cost: f64,
    /// Cumulative expected profit.
    pub cum_profit: f64,
    /// Cumulative ROI (profit ÷ cost; `None` without cost).
    pub cum_roi: Option<f64>,
}

/// Why a group is not (fully) contacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The target of win-backs was reached before it.
    TargetReached,
    /// The budget was spent.
    Budget,
    /// The contact cap was reached.
    MaxContacts,
    /// Below the minimum probability.
    MinProbability,
    /// Expected profit per contact below the minimum (or negative).
    Unprofitable,
    /// Every group was contacted.
    AllContacted,
    /// Incremental objective: no measured effect, or an effect interval wholly
    /// below the minimum effect.
    NoMeasurableEffect,
    /// Every customer left in the group is held out as a control (a plan's control share).
    HeldOut,
}

/// A group left out (or the uncontacted rest of a group cut short).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    /// Group id.
    pub group: usize,
    /// Customers not contacted (with a control share: also the group's held-out
    /// customers that are not listed as controls, who cost nothing either way).
    pub customers: usize,
    /// Why.
    pub reason: StopReason,
    /// Cost not spent on them.
    pub cost_saved: f64,
    /// Expected win-backs given up.
    pub winbacks_forgone: f64,
}

/// The contact plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The parameters.
    pub params: PlanParams,
    /// Contacted groups in order.
    pub steps: Vec<Step>,
    /// Groups (or parts) not contacted.
    pub skipped: Vec<Skipped>,
    /// Why the plan stopped where it did.
    pub stop: StopReason,
    /// Total contacts.
    pub contacts: usize,
    /// Total expected win-backs.
    pub expected_winbacks: f64,
    /// Total expected revenue.
    pub revenue: f64,
    /// Total cost.
    pub cost: f64,
    /// Total expected profit.
    pub profit: f64,
    /// Cost of the customers not contacted.
    pub cost_saved: f64,
    /// Gains curve over every group in objective order (contacted or not).
    pub gains: Vec<GainsRow>,
}

impl Plan {
    /// Ids of the contacted groups, in order.
    pub fn groups_contacted(&self) -> Vec<usize> {
        self.steps.iter().map(|s| s.group).collect()
    }
    /// Ids of the groups with nobody contacted.
    pub fn groups_skipped(&self) -> Vec<usize> {
        self.skipped.iter().filter(|s| !self.steps.iter().any(|st| st.group == s.group)).map(|s| s.group).collect()
    }

    /// The group contacted in part (a budget or a contact cap stopped the plan
    /// inside it), with its customers left out.
    pub fn cut_short(&self) -> Option<CutShort> {
        self.skipped
            .iter()
            .find(|s| self.steps.iter().any(|st| st.group == s.group))
            .map(|s| CutShort { group: s.group, customers: s.customers })
    }

    /// What the plan leaves out, in words, as every interface prints it:
    /// `groups [3, 4] and 183 of group 2 (1097 customers)`, or `nobody (0 customers)`.
    pub fn not_contacted(&self) -> String {
        let mut parts = Vec::new();
        let groups = self.groups_skipped();
        if !groups.is_empty() {
            parts.push(format!("group{} {:?}", if groups.len() == 1 { "" } else { "s" }, groups));
        }
        if let Some(c) = self.cut_short() {
            parts.push(format!("{} of group {}", c.customers, c.group));
        }
        let what = if parts.is_empty() { "nobody".to_string() } else { parts.join(" and ") };
        let n: usize = self.skipped.iter().fold(0usize, |a, s| a.saturating_add(s.customers));
        format!("{what} ({n} customer{})", if n == 1 { "" } else { "s" })
    }

    /// Where the plan stops on its gains curve: (share of customers, share of expected
    /// win-backs) of the groups contacted — after the last group contacted, or within
    /// it, in proportion to the contacts made, when a budget or a cap cut it short.
    /// A group skipped before the last one contacted (below the minimum probability,
    /// say) adds nothing, so the point then lies off the curve, at what the plan
    /// contacts. `None` when nobody is contacted.
    pub fn stop_point(&self) -> Option<(f64, f64)> {
        let contacted = self.groups_contacted();
        let (mut prev, mut at, mut any) = ((0.0, 0.0), (0.0, 0.0), false);
        for g in &self.gains {
            if contacted.contains(&g.group) {
                let frac = self.steps.iter().find(|s| s.group == g.group).filter(|s| s.size > 0).map_or(1.0, |s| s.contacts as f64 / s.size as f64);
                at = (at.0 + frac * (g.contact_share - prev.0), at.1 + frac * (g.winback_share - prev.1));
                any = true;
            }
            prev = (g.contact_share, g.winback_share);
        }
        any.then_some(at)
    }

    /// The plan as every interface shows it (CLI `--json`, Python `Plan`):
    /// totals, contacted and skipped group ids, steps, skipped groups, gains.
    pub fn summary(&self) -> PlanSummary<'_> {
        PlanSummary {
            groups_contacted: self.groups_contacted(),
            groups_skipped: self.groups_skipped(),
            cut_short: self.cut_short(),
            not_contacted: self.not_contacted(),
            contacts: self.contacts,
            expected_winbacks: self.expected_winbacks,
            revenue: self.revenue,
            cost: self.cost,
            profit: self.profit,
            cost_saved: self.cost_saved,
            stop: self.stop,
            steps: &self.steps,
            skipped: &self.skipped,
            gains: &self.gains,
            stop_point: self.stop_point(),
        }
    }
}

/// The group a plan contacted in part: its id and the customers left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutShort {
    /// Group id.
    pub group: usize,
    /// Its customers not contacted.
    pub customers: usize,
}

/// A plan's summary for display and JSON (see [`Plan::summary`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanSummary<'a> {
    /// Contacted group ids, in order.
    pub groups_contacted: Vec<usize>,
    /// Group ids with nobody contacted.
    pub groups_skipped: Vec<usize>,
    /// The group contacted in part, if any.
    pub cut_short: Option<CutShort>,
    /// What is left out, in words ([`Plan::not_contacted`]).
    pub not_contacted: String,
    /// Total contacts.
    pub contacts: usize,
    /// Total expected win-backs.
    pub expected_winbacks: f64,
    /// Total expected revenue.
    pub revenue: f64,
    /// Total cost.
    pub cost: f64,
    /// Total expected profit.
    pub profit: f64,
    /// Cost of the customers not contacted.
    pub cost_saved: f64,
    /// Why the plan stopped.
    pub stop: StopReason,
    /// The contacted groups.
    pub steps: &'a [Step],
    /// The groups (or parts) left out.
    pub skipped: &'a [Skipped],
    /// The gains curve.
    pub gains: &'a [GainsRow],
    /// Where the plan stops on the gains curve ([`Plan::stop_point`]).
    pub stop_point: Option<(f64, f64)>,
}

/// One point of the gains chart: after contacting the groups up to this one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GainsRow {
    /// Group id.
    pub group: usize,
    /// Cumulative share of customers contacted.
    pub contact_share: f64,
    /// Cumulative share of expected win-backs.
    pub winback_share: f64,
}

fn validate(candidates: &[Candidate]) -> Result<()> {
    if candidates.is_empty() {
        return Err(Error::NoCandidates);
    }
    let mut ids: Vec<usize> = candidates.iter().map(|c| c.group).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::DuplicateGroup(w[0]));
    }
    for c in candidates {
        let ok = (0.0..=1.0).contains(&c.probability) && c.low <= c.probability + 1e-12 && c.probability <= c.high + 1e-12 && c.low >= 0.0 && c.high <= 1.0;
        if !ok {
            return Err(Error::InvalidProbability { group: c.group, probability: c.probability, low: c.low, high: c.high });
        }
        if !(c.return_spend.is_finite() && c.return_spend >= 0.0) {
            return Err(Error::InvalidReturnSpend { group: c.group, value: c.return_spend });
        }
    }
    Ok(())
}

/// Candidates in objective order (ties: higher probability, then smaller id).
pub fn order(candidates: &[Candidate], params: &PlanParams) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..candidates.len()).collect();
    idx.sort_by(|&a, &b| {
        let (ca, cb) = (&candidates[a], &candidates[b]);
        params
            .objective_value(cb)
            .total_cmp(&params.objective_value(ca))
            .then(cb.probability.total_cmp(&ca.probability))
            .then(ca.group.cmp(&cb.group))
    });
    idx
}

/// Builds the plan (see [`PlanParams`] for the stopping rules).
pub fn plan(candidates: &[Candidate], params: &PlanParams) -> Result<Plan> {
    validate(candidates)?;
    params.validate()?;
    if params.objective == Objective::Incremental && !candidates.is_empty() && candidates.iter().all(|c| c.effect.is_none()) {
        return Err(Error::NoEffectMeasured);
    }
    let ord = order(candidates, params);
    let mut steps: Vec<Step> = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut stop = StopReason::AllContacted;
    let (mut contacts, mut wb, mut lo, mut hi, mut rev, mut cost) = (0usize, 0.0, 0.0, 0.0, 0.0, 0.0);
    // With a cost, or under the incremental objective (where a group whose contact is
    // expected to lose win-backs has a negative value even when contacts are free),
    // groups with a negative expected value are left out unless asked for.
    let min_profit = params
        .min_expected_profit
        .or(((params.cost_per_contact > 0.0 || params.objective == Objective::Incremental) && !params.include_unprofitable).then_some(0.0));
    let mut halted: Option<StopReason> = None;
    // The skipped groups from here on come after the last group contacted: why the plan ends.
    let mut tail_from = 0;
    for &i in &ord {
        let c = &candidates[i];
        let value = params.value(c);
        let skip = |customers: usize, reason: StopReason| Skipped {
            group: c.group,
            customers,
            reason,
            cost_saved: customers as f64 * params.cost_per_contact,
            winbacks_forgone: customers as f64 * params.rate(c).0,
        };
        if let Some(r) = halted {
            skipped.push(skip(c.size, r));
            continue;
        }
        if params.no_measurable_effect(c) {
            skipped.push(skip(c.size, StopReason::NoMeasurableEffect));
            continue;
        }
        if params.min_probability.is_some_and(|m| c.probability < m) {
            skipped.push(skip(c.size, StopReason::MinProbability));
            continue;
        }
        // Money either way: under the incremental objective, of the win-backs the contact causes.
        let profit = params.rate(c).0 * value - params.cost_per_contact;
        // A contact expected to lose win-backs, even when a win-back is worth nothing
        // here (an uplift model knows no spend: effect × 0 is not below 0).
        let harmful = params.objective == Objective::Incremental
            && params.min_expected_profit.is_none()
            && !params.include_unprofitable
            && c.effect.as_ref().is_some_and(|e| e.effect < 0.0);
        if harmful || min_profit.is_some_and(|m| profit < m) {
            skipped.push(skip(c.size, StopReason::Unprofitable));
            continue;
        }
        let mut n = c.size;
        let mut cut: Option<StopReason> = None;
        if let Some(maxc) = params.max_contacts {
            if contacts.saturating_add(n) >= maxc {
                if contacts.saturating_add(n) > maxc {
                    cut = Some(StopReason::MaxContacts);
                }
                n = maxc.saturating_sub(contacts);
                halted = Some(StopReason::MaxContacts);
            }
        }
        if let (Some(b), true) = (params.budget, params.cost_per_contact > 0.0) {
            let affordable = ((b - cost) / params.cost_per_contact + 1e-9).floor().max(0.0) as usize;
            if affordable <= n {
                if affordable < n {
                    cut = Some(StopReason::Budget);
                }
                n = affordable;
                halted = Some(StopReason::Budget);
            }
        }
        if n > 0 {
            let (rate, low, high) = params.rate(c);
            let e = n as f64 * rate;
            contacts = contacts.saturating_add(n);
            wb += e;
            lo += n as f64 * low;
            hi += n as f64 * high;
            rev += e * value;
            cost += n as f64 * params.cost_per_contact;
            steps.push(Step {
                group: c.group,
                label: c.label.clone(),
                size: c.size,
                contacts: n,
                probability: c.probability,
                objective: params.objective_value(c),
                value_per_winback: value,
                expected_winbacks: e,
                cum_contacts: contacts,
                cum_expected_winbacks: wb,
                cum_winbacks_low: lo,
                cum_winbacks_high: hi,
                cum_revenue: rev,
                cum_cost: cost,
                cum_profit: rev - cost,
                cum_roi: (cost > 0.0).then(|| (rev - cost) / cost),
            });
            tail_from = skipped.len();
        }
        if n < c.size {
            skipped.push(skip(c.size - n, cut.or(halted).unwrap_or(StopReason::Budget)));
        }
        if let Some(r) = halted {
            stop = r;
            continue;
        }
        if params.target_winbacks.is_some_and(|t| wb >= t - 1e-9) {
            halted = Some(StopReason::TargetReached);
            stop = StopReason::TargetReached;
        }
    }
    // Not halted: the reason of the first group left out after the last one
    // contacted (a group skipped mid-order, say below the minimum probability
    // under the profit objective, did not end the plan); with none there, the first
    // group left out.
    if halted.is_none() && !skipped.is_empty() {
        stop = skipped.get(tail_from).unwrap_or(&skipped[0]).reason;
    }
    // Nobody left out: every group was contacted, whatever limit was met on the way
    // (a contact cap or budget exactly the list's size read "max contacts").
    if skipped.is_empty() {
        stop = StopReason::AllContacted;
    }
    // Gains over every group in objective order.
    let total_n: usize = candidates.iter().fold(0usize, |a, c| a.saturating_add(c.size));
    let total_wb: f64 = candidates.iter().map(|c| c.size as f64 * c.probability).sum();
    let (mut cn, mut cw) = (0usize, 0.0);
    let gains = ord
        .iter()
        .map(|&i| {
            let c = &candidates[i];
            cn = cn.saturating_add(c.size);
            cw += c.size as f64 * c.probability;
            GainsRow {
                group: c.group,
                contact_share: if total_n > 0 { cn as f64 / total_n as f64 } else { 0.0 },
                winback_share: if total_wb > 0.0 { cw / total_wb } else { 0.0 },
            }
        })
        .collect();
    // `+ 0.0`: an empty f64 sum is -0.0, which JSON would show as such.
    let cost_saved = skipped.iter().map(|s| s.cost_saved).sum::<f64>() + 0.0;
    Ok(Plan { params: params.clone(), steps, skipped, stop, contacts, expected_winbacks: wb, revenue: rev, cost, profit: rev - cost, cost_saved, gains })
}

/// A scored customer, for the contact list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerScore {
    /// Customer id.
    pub customer: String,
    /// Group id.
    pub group: usize,
    /// Individual priority inside the group (higher first; e.g. the overdue ratio).
    pub score: f64,
}

/// One row of the contact list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactRow {
    /// 1-based rank among the contacted rows; 0 for control rows.
    pub rank: usize,
    /// Contacted, or held out as control.
    #[serde(default)]
    pub arm: Arm,
    /// Customer id.
    pub customer: String,
    /// Group id.
    pub group: usize,
    /// Group probability.
    pub probability: f64,
    /// Expected value of contacting, as the plan counts it: the rate planned on (the
    /// group probability, or the measured effect under the incremental objective) × value − cost.
    pub expected_value: f64,
    /// The group's rule.
    pub rule: String,
}

/// The contact list of a plan: its contacted customers in priority order. Within
/// a group customers go by decreasing score, ties by customer id; a group cut
/// short keeps its best-scored customers. With a control share, the candidates'
/// sizes must count contactable customers only (see [`in_control`]); the control
/// customers met while walking a contacted group's list are listed after each of
/// them, with arm `control` and rank 0, so that both arms come from the same part
/// of the group.
pub fn contact_list(plan: &Plan, candidates: &[Candidate], customers: &[CustomerScore]) -> Result<Vec<ContactRow>> {
    contact_list_exempting(plan, candidates, customers, &|_| false)
}

/// [`contact_list`], where the customers `exempt` names are never held out (they
/// were a control group once already and are measured): with a control share,
/// they are contacted like anyone not in the control arm. The candidates' sizes
/// must then count them as contactable.
pub fn contact_list_exempting(plan: &Plan, candidates: &[Candidate], customers: &[CustomerScore], exempt: &dyn Fn(&str) -> bool) -> Result<Vec<ContactRow>> {
    let mut by_group: std::collections::BTreeMap<usize, Vec<&CustomerScore>> = std::collections::BTreeMap::new();
    for c in customers {
        if !candidates.iter().any(|k| k.group == c.group) {
            return Err(Error::UnknownCustomerGroup { customer: c.customer.clone(), group: c.group });
        }
        by_group.entry(c.group).or_default().push(c);
    }
    let mut rows = Vec::new();
    let mut contacted = 0usize;
    for step in &plan.steps {
        let Some(cand) = candidates.iter().find(|k| k.group == step.group) else { continue };
        let mut list = by_group.remove(&step.group).unwrap_or_default();
        list.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.customer.cmp(&b.customer)));
        // What a contact is expected to bring, as the plan counts it: the rate it
        // plans on (the measured effect under the incremental objective) × value − cost.
        let ev = plan.params.rate(cand).0 * plan.params.value(cand) - plan.params.cost_per_contact;
        let mut taken = 0;
        // A group contacted in full lists all its control customers; one cut short,
        // those met before its last contact.
        let full = step.contacts >= cand.size;
        for c in list {
            let control = in_control(&c.customer, &plan.params) && !exempt(&c.customer);
            if taken == step.contacts && (!full || !control) {
                if full {
                    continue;
                }
                break;
            }
            let (rank, arm, value) = if control {
                (0, Arm::Control, 0.0)
            } else {
                contacted += 1;
                taken += 1;
                (contacted, Arm::Contact, ev)
            };
            rows.push(ContactRow { rank, arm, customer: c.customer.clone(), group: c.group, probability: cand.probability, expected_value: value, rule: cand.label.clone() });
        }
    }
    Ok(rows)
}

/// What happened to a wave's contacts in one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Group id.
    pub group: usize,
    /// Customers contacted in the wave.
    pub contacted: u64,
    /// Of which came back within the horizon.
    pub came_back: u64,
}

/// A group's outcomes in both arms of recorded waves and the incremental effect
/// of contacting it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Group id.
    pub group: usize,
    /// Customers contacted.
    pub contacted: u64,
    /// Of which came back.
    pub contacted_came_back: u64,
    /// Customers held out (control arm).
    pub control: u64,
    /// Of which came back anyway.
    pub control_came_back: u64,
    /// Posterior mean return rate of the contacted (uniform Beta(1, 1) prior).
    pub contact_rate: f64,
    /// Posterior mean return rate of the control arm (same prior).
    pub control_rate: f64,
    /// `contact_rate − control_rate`: win-backs caused per contact.
    pub effect: f64,
    /// Low end of the effect's equal-tailed interval.
    pub effect_low: f64,
    /// High end.
    pub effect_high: f64,
}

/// The effect of contact per group from the outcomes of both arms (counts added
/// over waves; `contacted` of a control outcome = customers held out): each
/// arm's rate has a Beta(1, 1) prior and a Beta posterior; the effect is the
/// difference of the posterior rates with its equal-tailed interval at `level`
/// ([`Beta::difference_interval`]: exact quadrature, no sampling). Groups appear
/// in id order; a group with no control customers gets the prior's wide interval.
///
/// ```
/// use winback_rank::{effects, Outcome};
/// let contact = [Outcome { group: 1, contacted: 100, came_back: 30 }];
/// let control = [Outcome { group: 1, contacted: 50, came_back: 10 }];
/// let e = &effects(&contact, &control, 0.9)?[0];
/// assert!((e.effect - (31.0 / 102.0 - 11.0 / 52.0)).abs() < 1e-12);
/// assert!(e.effect_low < 0.0 && e.effect_high > e.effect);
/// # Ok::<(), winback_rank::Error>(())
/// ```
pub fn effects(contact: &[Outcome], control: &[Outcome], level: f64) -> Result<Vec<Effect>> {
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::InvalidLevel(level));
    }
    let mut by: std::collections::BTreeMap<usize, [u64; 4]> = std::collections::BTreeMap::new();
    for (arm, list) in [(0usize, contact), (2, control)] {
        for o in list {
            if o.came_back > o.contacted {
                return Err(Error::InvalidFeedback { group: o.group, contacted: o.contacted, came_back: o.came_back, size: o.contacted as usize });
            }
            let e = by.entry(o.group).or_default();
            e[arm] = e[arm].saturating_add(o.contacted);
            e[arm + 1] = e[arm + 1].saturating_add(o.came_back);
        }
    }
    let prior = Beta { alpha: 1.0, beta: 1.0 };
    Ok(by
        .into_iter()
        .map(|(group, [n1, k1, n0, k0])| {
            let (a, b) = (prior.update(k1, n1), prior.update(k0, n0));
            let (effect, effect_low, effect_high) = a.difference_interval(&b, level);
            Effect {
                group,
                contacted: n1,
                contacted_came_back: k1,
                control: n0,
                control_came_back: k0,
                contact_rate: a.mean(),
                control_rate: b.mean(),
                effect,
                effect_low,
                effect_high,
            }
        })
        .collect())
}

/// Records a wave's outcomes: each group's probability becomes the Beta-Binomial
/// posterior (the candidate's estimate as the prior), its interval is recomputed
/// at `level`, and its size drops by the customers contacted. Re-plan the result
/// to re-rank what is left.
pub fn record_outcomes(candidates: &[Candidate], outcomes: &[Outcome], level: f64) -> Result<Vec<Candidate>> {
    if !(level > 0.0 && level < 1.0) {
        return Err(Error::InvalidLevel(level));
    }
    let mut out = candidates.to_vec();
    for o in outcomes {
        let c = out.iter_mut().find(|c| c.group == o.group).ok_or(Error::UnknownGroup(o.group))?;
        if o.came_back > o.contacted || o.contacted > c.size as u64 {
            return Err(Error::InvalidFeedback { group: o.group, contacted: o.contacted, came_back: o.came_back, size: c.size });
        }
        let post = c.beta().update(o.came_back, o.contacted);
        let (low, high) = post.interval(level);
        c.probability = post.mean();
        c.low = low;
        c.high = high;
        c.posterior = Some(post);
        c.size -= o.contacted as usize;
    }
    Ok(out)
}

/// Thompson sampling for the next wave of `wave_size` contacts: each group gets
/// a share equal to how often it has the highest sampled objective in `draws`
/// draws from the groups' Beta posteriors — groups with wide intervals get
/// explored. The contacts add up to `wave_size` (or to every customer, when fewer),
/// apportioned by largest remainders and never more than a group's size. Under the
/// incremental objective the contact rate is sampled, as under the profit objective
/// (the effect's own posterior is not modelled here). Returns `(group, contacts)` in
/// candidate order; deterministic for a seed. Each candidate's posterior is drawn
/// on its own: candidates that share one posterior (a model's pooled groups, see
/// `winback_tree::Group::pooled`) are drawn as if independent, so such a run of
/// `m` groups wins about `m` times as often as one group with that posterior; pass
/// one candidate per run when that matters.
pub fn thompson_allocation(candidates: &[Candidate], params: &PlanParams, wave_size: usize, draws: usize, seed: u64) -> Result<Vec<(usize, usize)>> {
    validate(candidates)?;
    params.validate()?;
    let mut rng = Rng::new(seed);
    let mut wins = vec![0usize; candidates.len()];
    let betas: Vec<Beta> = candidates.iter().map(Candidate::beta).collect();
    for _ in 0..draws.max(1) {
        let mut best = (f64::NEG_INFINITY, usize::MAX);
        for (i, c) in candidates.iter().enumerate() {
            if c.size == 0 {
                continue;
            }
            let p = betas[i].sample(&mut rng);
            let v = match params.objective {
                Objective::Probability => p,
                _ => p * params.value(c) - params.cost_per_contact,
            };
            if v > best.0 {
                best = (v, i);
            }
        }
        if best.1 != usize::MAX {
            wins[best.1] += 1;
        }
    }
    // Largest remainders: the contacts add up to the wave (or to everyone, when the
    // wave is larger), no group gets more than its size (rounding each share on its
    // own gave 1 + 1 + 1 contacts to a wave of 2).
    let total = wins.iter().sum::<usize>().max(1) as f64;
    let quota: Vec<f64> = wins.iter().map(|&w| w as f64 / total * wave_size as f64).collect();
    let mut out: Vec<usize> = candidates.iter().zip(&quota).map(|(c, q)| (q.floor() as usize).min(c.size)).collect();
    let capacity: usize = candidates.iter().fold(0usize, |a, c| a.saturating_add(c.size));
    let mut left = wave_size.min(capacity).saturating_sub(out.iter().sum());
    let mut by_remainder: Vec<usize> = (0..candidates.len()).collect();
    by_remainder.sort_by(|&a, &b| (quota[b] - quota[b].floor()).total_cmp(&(quota[a] - quota[a].floor())).then(wins[b].cmp(&wins[a])).then(a.cmp(&b)));
    while left > 0 {
        let before = left;
        for &i in &by_remainder {
            if left > 0 && out[i] < candidates[i].size {
                out[i] += 1;
                left -= 1;
            }
        }
        if left == before {
            break;
        }
    }
    Ok(candidates.iter().zip(out).map(|(c, n)| (c.group, n)).collect())
}
