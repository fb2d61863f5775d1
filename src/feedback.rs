//! After a contact wave: record its outcomes once, and re-plan what is left.
//!
//! A model keeps the [`Wave`]s it has recorded (in its model file), so that the
//! same outcomes are never counted twice and no group is contacted beyond what
//! is left of it across waves.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use winback_core::date::Day;
use winback_rank::{contact_list, plan, Candidate, ContactRow, CustomerScore, Outcome, Plan, PlanParams};

use crate::error::{Error, Result};
use crate::model::{candidate, ScoredCustomer, Scores, WinbackModel};
use crate::outcomes::WaveOutcomes;

/// A recorded contact wave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Wave {
    /// Fingerprint of the outcomes' content ([`WaveOutcomes::fingerprint`]).
    pub fingerprint: String,
    /// The scoring date of the wave.
    pub at: Day,
    /// Per-group counts.
    pub outcomes: Vec<Outcome>,
    /// Ids of the customers contacted (per-customer outcomes), sorted.
    pub contacted: Vec<String>,
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
}

impl WinbackModel {
    /// The scored customers not contacted in any recorded wave, in each group's
    /// priority order. Per-customer waves remove their ids; per-group waves
    /// (counts only) remove the first customers of each group in priority order,
    /// as the contact list ordered them.
    pub fn remaining(&self, scores: &Scores) -> Vec<CustomerScore> {
        let contacted: HashSet<&str> = self.waves.iter().flat_map(|w| w.contacted.iter().map(String::as_str)).collect();
        let mut skip: BTreeMap<usize, usize> = BTreeMap::new();
        for w in self.waves.iter().filter(|w| w.contacted.is_empty()) {
            for o in &w.outcomes {
                *skip.entry(o.group).or_default() += o.contacted as usize;
            }
        }
        let mut by_group: BTreeMap<usize, Vec<&ScoredCustomer>> = BTreeMap::new();
        for c in &scores.customers {
            by_group.entry(c.group).or_default().push(c);
        }
        let mut out = Vec::new();
        for (g, mut list) in by_group {
            list.sort_by(|a, b| b.priority.total_cmp(&a.priority).then_with(|| a.customer_id.cmp(&b.customer_id)));
            out.extend(
                list.into_iter()
                    .filter(|c| !contacted.contains(c.customer_id.as_str()))
                    .skip(skip.get(&g).copied().unwrap_or(0))
                    .map(|c| CustomerScore { customer: c.customer_id.clone(), group: c.group, score: c.priority }),
            );
        }
        out
    }

    /// The groups present in `scores` as plan candidates, sized by what is left
    /// after the recorded waves (groups with nobody left are kept, with size 0).
    fn left_candidates(&self, scores: &Scores) -> Vec<Candidate> {
        let mut size = vec![0usize; self.segmentation.groups.len() + 1];
        for c in self.remaining(scores) {
            size[c.group] += 1;
        }
        self.segmentation.groups.iter().map(|g| candidate(g, size[g.id])).collect()
    }

    /// Records a wave's outcomes: each group's probability becomes its
    /// Beta-Binomial posterior (the current estimate as prior), with a new interval
    /// at the model's level, and the wave is kept in the model. Refused: outcomes
    /// already recorded (same fingerprint), a customer contacted in an earlier
    /// wave, and more contacts in a group than are left of it. Returns the
    /// candidates left in `scores`, ready to re-plan.
    pub fn record_outcomes(&mut self, scores: &Scores, wave: &WaveOutcomes) -> Result<Vec<Candidate>> {
        if let Some(i) = self.waves.iter().position(|w| w.fingerprint == wave.fingerprint) {
            return Err(Error::WaveAlreadyRecorded { file: wave.source.clone(), wave: i + 1 });
        }
        for (i, w) in self.waves.iter().enumerate() {
            if let Some(id) = wave.contacted.iter().find(|id| w.contacted.binary_search(id).is_ok()) {
                return Err(Error::AlreadyContacted { file: wave.source.clone(), customer: id.clone(), wave: i + 1 });
            }
        }
        let level = self.segmentation.params.interval_level();
        // For a per-customer wave, its own customers are still "left" until recorded.
        let all = self.left_candidates(scores);
        for o in &wave.outcomes {
            let c = all.iter().find(|c| c.group == o.group).ok_or(winback_rank::Error::UnknownGroup(o.group))?;
            if o.contacted > c.size as u64 {
                return Err(Error::ContactsExceedGroup { file: wave.source.clone(), group: o.group, contacted: o.contacted, left: c.size });
            }
        }
        let updated = winback_rank::record_outcomes(&all, &wave.outcomes, level)?;
        for (g, c) in self.segmentation.groups.iter_mut().zip(&updated) {
            g.probability = c.probability;
            g.low = c.low;
            g.high = c.high;
            if let Some(b) = c.posterior {
                g.alpha = b.alpha;
                g.beta = b.beta;
            }
        }
        self.waves.push(Wave { fingerprint: wave.fingerprint.clone(), at: scores.at, outcomes: wave.outcomes.clone(), contacted: wave.contacted.clone() });
        // rank's update already took the wave's contacts out of the sizes: no second pass over the customers.
        Ok(updated.into_iter().filter(|c| c.size > 0).collect())
    }

    /// Records a wave and plans what is left: the whole feedback step. The model
    /// is changed only when everything succeeded (parameters, outcomes, plan),
    /// so a corrected re-run never counts a wave twice.
    pub fn feedback(&mut self, scores: &Scores, wave: &WaveOutcomes, params: &PlanParams) -> Result<Feedback> {
        params.validate()?;
        let mut next = self.clone();
        let left = next.record_outcomes(scores, wave)?;
        let p = plan(&left, params)?;
        let contacts = contact_list(&p, &left, &next.remaining(scores))?;
        *self = next;
        Ok(Feedback { wave: self.waves.len(), left, plan: p, contacts })
    }
}
