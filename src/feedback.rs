//! After a contact wave: record its outcomes once, and re-plan what is left.
//!
//! A model keeps the [`Wave`]s it has recorded (in its model file), so that the
//! same outcomes are never counted twice and no group is contacted beyond what
//! is left of it across waves.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use winback_core::date::Day;
use winback_rank::{Candidate, ContactRow, CustomerScore, Effect, Outcome, Plan, PlanParams};

use crate::error::{Error, Result};
use crate::model::{candidate, ScoredCustomer, Scores, Wave, WinbackModel};
use crate::outcomes::WaveOutcomes;

/// One recorded wave as `winback campaign` prints it: both arms pooled over the
/// wave's groups, and the win-backs the contact caused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaveSummary {
    /// Wave number (1 = first recorded).
    pub wave: usize,
    /// Its scoring date.
    pub at: Day,
    /// Customers contacted.
    pub contacted: u64,
    /// Of which came back.
    pub contacted_came_back: u64,
    /// Customers held out (0 without a control arm).
    pub control: u64,
    /// Of which came back anyway.
    pub control_came_back: u64,
    /// Effect per contact (pooled contact rate − control rate) with its interval;
    /// `None` without a control arm.
    pub effect: Option<(f64, f64, f64)>,
    /// Win-backs caused: contacts × effect, with the interval's ends.
    pub incremental_winbacks: Option<(f64, f64, f64)>,
}

impl WaveSummary {
    /// Cost per win-back caused, for a cost per contact (`None` without a control
    /// arm or when the contact caused none).
    pub fn cost_per_incremental(&self, cost_per_contact: f64) -> Option<f64> {
        self.incremental_winbacks.filter(|w| w.0 > 0.0).map(|w| cost_per_contact * self.contacted as f64 / w.0)
    }
}

/// What [`WinbackModel::feedback`] returns: the wave recorded and the plan for what is left.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    /// The wave's number (1 = first recorded).
    pub wave: usize,
    /// The groups with their updated probabilities and what is left of them.
    pub left: Vec<Candidate>,
    /// The plan for what is left.
    pub plan: Plan,
    /// The contact list for what is left.
    pub contacts: Vec<ContactRow>,
    /// The effect of contact per group, over the recorded waves in which the
    /// group had both arms (empty when no wave had a control arm).
    pub effects: Vec<Effect>,
}

impl WinbackModel {
    /// The scored customers not contacted in any recorded wave, in each group's
    /// priority order. Per-customer waves remove their ids; per-group waves
    /// (counts only) remove the first customers of each group in priority order,
    /// as the contact list ordered them.
    pub fn remaining(&self, scores: &Scores) -> Vec<CustomerScore> {
        self.remaining_of(&scores.customers)
    }

    /// [`WinbackModel::remaining`] for scored customers given as rows.
    pub(crate) fn remaining_of(&self, scored: &[ScoredCustomer]) -> Vec<CustomerScore> {
        let by_group = by_priority(scored);
        let taken = self.taken(&by_group);
        by_group
            .values()
            .flatten()
            .filter(|c| !taken.contains_key(c.customer_id.as_str()))
            .map(|c| CustomerScore { customer: c.customer_id.clone(), group: c.group, score: c.priority })
            .collect()
    }

    /// Who the recorded waves took among the scored customers: id -> wave number
    /// (1 = the first). Per-customer waves took their ids; then each per-group wave,
    /// in order, took the next customers of each group in priority order not yet
    /// taken: as many as it contacted plus, with a control arm, as many as it held
    /// out (the contact list mixes both in priority order, and counts do not say
    /// which of them were controls, so the whole block is taken).
    fn taken<'a>(&self, by_group: &BTreeMap<usize, Vec<&'a ScoredCustomer>>) -> HashMap<&'a str, usize> {
        let mut taken: HashMap<&'a str, usize> = HashMap::new();
        for c in by_group.values().flatten() {
            if let Some(i) = self.waves.iter().position(|w| w.contacted.binary_search(&c.customer_id).is_ok()) {
                taken.insert(c.customer_id.as_str(), i + 1);
            }
        }
        let mut cursor: BTreeMap<usize, usize> = BTreeMap::new();
        for (i, w) in self.waves.iter().enumerate().filter(|(_, w)| w.contacted.is_empty()) {
            for o in &w.outcomes {
                let Some(list) = by_group.get(&o.group) else { continue };
                let at = cursor.entry(o.group).or_default();
                let held: u64 = w.control.iter().filter(|k| k.group == o.group).map(|k| k.contacted).sum();
                let mut n = o.contacted.saturating_add(held);
                while n > 0 && *at < list.len() {
                    let id = list[*at].customer_id.as_str();
                    *at += 1;
                    if !taken.contains_key(id) {
                        taken.insert(id, i + 1);
                        n -= 1;
                    }
                }
            }
        }
        taken
    }

    /// The groups present in `scores` as plan candidates, sized by what is left
    /// after the recorded waves (groups with nobody left are kept, with size 0).
    fn left_candidates(&self, scores: &Scores) -> Vec<Candidate> {
        let mut size = vec![0usize; self.segmentation.groups.len() + 1];
        for c in self.remaining(scores) {
            size[c.group] += 1;
        }
        let effects = self.effects().unwrap_or_default();
        self.segmentation.groups.iter().map(|g| self.with_effect(candidate(g, size[g.id]), &effects)).collect()
    }

    /// The effect of contact per group: [`winback_rank::effects`] at the model's
    /// interval level, over the recorded waves in which the group had both arms
    /// (contacted customers and a control group, same wave, same conditions).
    /// Groups never measured that way are absent; empty when no wave had a control arm.
    pub fn effects(&self) -> Result<Vec<Effect>> {
        self.effects_in(&self.waves)
    }

    /// The effect of contact per group measured in one recorded wave (1 = the
    /// first), as [`WinbackModel::effects`] does over all of them; empty when the
    /// wave had no control arm. `None` when there is no such wave.
    pub fn wave_effects(&self, wave: usize) -> Result<Option<Vec<Effect>>> {
        match wave.checked_sub(1).and_then(|i| self.waves.get(i)) {
            Some(w) => Ok(Some(self.effects_in(std::slice::from_ref(w))?)),
            None => Ok(None),
        }
    }

    fn effects_in(&self, waves: &[Wave]) -> Result<Vec<Effect>> {
        let (mut contact, mut control) = (Vec::new(), Vec::new());
        for w in waves {
            for o in &w.outcomes {
                let held: Vec<&Outcome> = w.control.iter().filter(|k| k.group == o.group && k.contacted > 0).collect();
                if o.contacted > 0 && !held.is_empty() {
                    contact.push(*o);
                    control.extend(held.into_iter().copied());
                }
            }
        }
        Ok(winback_rank::effects(&contact, &control, self.segmentation.params.interval_level())?)
    }

    /// The candidate with its group's measured effect, when there is one (a group
    /// never measured in both arms has no effect to plan on).
    pub(crate) fn with_effect(&self, mut c: Candidate, effects: &[Effect]) -> Candidate {
        c.effect = effects.iter().find(|e| e.group == c.group && e.contacted > 0 && e.control > 0).cloned();
        c
    }

    /// Records a wave's outcomes: each group's probability becomes its
    /// Beta-Binomial posterior (the current estimate as prior), with a new interval
    /// at the model's level, and the wave is kept in the model. Refused: outcomes
    /// already recorded (same fingerprint), a customer contacted in an earlier
    /// wave, and more contacts in a group than are left of it. Returns the
    /// candidates left in `scores`, ready to re-plan.
    pub fn record_outcomes(&mut self, scores: &Scores, wave: &WaveOutcomes) -> Result<Vec<Candidate>> {
        // A wave is its contacts: a control arm alone measures nothing (and its
        // customers, kept by count only, could be recorded again).
        if wave.outcomes.iter().all(|o| o.contacted == 0) {
            return Err(Error::EmptyWave { file: wave.source.clone() });
        }
        if let Some(i) = self.waves.iter().position(|w| w.fingerprint == wave.fingerprint) {
            return Err(Error::WaveAlreadyRecorded { file: wave.source.clone(), wave: i + 1 });
        }
        for (i, w) in self.waves.iter().enumerate() {
            if let Some(id) = wave.contacted.iter().find(|id| w.contacted.binary_search(id).is_ok()) {
                return Err(Error::AlreadyContacted { file: wave.source.clone(), customer: id.clone(), wave: i + 1 });
            }
            // A control customer is measured once: the pooled effects would count them twice.
            if let Some(id) = wave.held_out.iter().find(|id| w.held_out.binary_search(id).is_ok()) {
                return Err(Error::AlreadyHeldOut { file: wave.source.clone(), customer: id.clone(), wave: i + 1 });
            }
        }
        // Customers a per-group wave took (the first of their group in priority order).
        if !wave.contacted.is_empty() {
            let taken = self.taken(&by_priority(&scores.customers));
            if let Some((id, i)) = wave.contacted.iter().find_map(|id| taken.get(id.as_str()).map(|&i| (id, i))) {
                return Err(Error::AlreadyContacted { file: wave.source.clone(), customer: id.clone(), wave: i });
            }
        }
        let level = self.segmentation.params.interval_level();
        // For a per-customer wave, its own customers are still "left" until recorded.
        let all = self.left_candidates(scores);
        for o in wave.outcomes.iter().chain(&wave.control) {
            let groups = self.segmentation.groups.len();
            let c = all.iter().find(|c| c.group == o.group).ok_or_else(|| Error::UnknownOutcomeGroup { file: wave.source.clone(), group: o.group, groups })?;
            // Saturating: counts near u64::MAX must not wrap below the group's size.
            let total = |l: &[Outcome]| l.iter().filter(|k| k.group == o.group).fold(0u64, |a, k| a.saturating_add(k.contacted));
            let contacted = total(&wave.outcomes).saturating_add(total(&wave.control));
            if contacted > c.size as u64 {
                return Err(Error::ContactsExceedGroup { file: wave.source.clone(), group: o.group, contacted, left: c.size });
            }
        }
        let updated = winback_rank::record_outcomes(&all, &wave.outcomes, level)?;
        // Changed on a copy, kept only when every step succeeded: a failed call leaves the model as it was.
        let mut next = self.clone();
        for (g, c) in next.segmentation.groups.iter_mut().zip(&updated) {
            g.probability = c.probability;
            g.low = c.low;
            g.high = c.high;
            if let Some(b) = c.posterior {
                g.alpha = b.alpha;
                g.beta = b.beta;
            }
        }
        next.waves.push(Wave {
            fingerprint: wave.fingerprint.clone(),
            at: scores.at,
            outcomes: wave.outcomes.clone(),
            contacted: wave.contacted.clone(),
            control: wave.control.clone(),
            held_out: wave.held_out.clone(),
        });
        // What is left, counted on the customers (a wave's held-out block included).
        next.effects()?;
        let left = next.left_candidates(scores).into_iter().filter(|c| c.size > 0).collect();
        *self = next;
        Ok(left)
    }

    /// The recorded waves, each with both arms pooled over its groups and the
    /// win-backs the contact caused (see [`WaveSummary`]). Pooling is unbiased when
    /// every group held out the same share (a plan's `control_share` does); with
    /// per-group shares that differ, read [`WinbackModel::effects`] instead.
    pub fn campaign(&self) -> Result<Vec<WaveSummary>> {
        let level = self.segmentation.params.interval_level();
        self.waves
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let sum = |l: &[Outcome]| l.iter().fold((0u64, 0u64), |a, o| (a.0.saturating_add(o.contacted), a.1.saturating_add(o.came_back)));
                let ((n1, k1), (n0, k0)) = (sum(&w.outcomes), sum(&w.control));
                // An effect needs both arms.
                let effect = if n0 > 0 && n1 > 0 {
                    let e = winback_rank::effects(&[Outcome { group: 1, contacted: n1, came_back: k1 }], &[Outcome { group: 1, contacted: n0, came_back: k0 }], level)?;
                    e.first().map(|e| (e.effect, e.effect_low, e.effect_high))
                } else {
                    None
                };
                let n = n1 as f64;
                Ok(WaveSummary {
                    wave: i + 1,
                    at: w.at,
                    contacted: n1,
                    contacted_came_back: k1,
                    control: n0,
                    control_came_back: k0,
                    effect,
                    incremental_winbacks: effect.map(|(m, lo, hi)| (n * m, n * lo, n * hi)),
                })
            })
            .collect()
    }

    /// Records a wave and plans what is left: the whole feedback step. The model
    /// is changed only when everything succeeded (parameters, outcomes, plan),
    /// so a corrected re-run never counts a wave twice.
    pub fn feedback(&mut self, scores: &Scores, wave: &WaveOutcomes, params: &PlanParams) -> Result<Feedback> {
        params.validate()?;
        let mut next = self.clone();
        let left = next.record_outcomes(scores, wave)?;
        // The re-plan is the plan of what is left, control share included.
        let (p, contacts) = next.plan_customers(&scores.customers, params)?;
        let effects = next.effects()?;
        *self = next;
        Ok(Feedback { wave: self.waves.len(), left, plan: p, contacts, effects })
    }
}

/// The scored customers by group, each group in priority order (ties by id).
fn by_priority(scored: &[ScoredCustomer]) -> BTreeMap<usize, Vec<&ScoredCustomer>> {
    let mut by_group: BTreeMap<usize, Vec<&ScoredCustomer>> = BTreeMap::new();
    for c in scored {
        by_group.entry(c.group).or_default().push(c);
    }
    for list in by_group.values_mut() {
        list.sort_by(|a, b| b.priority.total_cmp(&a.priority).then_with(|| a.customer_id.cmp(&b.customer_id)));
    }
    by_group
}
