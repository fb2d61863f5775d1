//! Issue 12, item 1: plans with a randomised holdout.
#![allow(clippy::unwrap_used, clippy::panic)]

use winback_rank::{contact_list, in_control, plan, Arm, Candidate, CustomerScore, Objective, PlanParams};

fn cand(group: usize, size: usize, p: f64) -> Candidate {
    Candidate { label: format!("rule {group}"), ..Candidate::new(group, size, p, p * 0.8, (p * 1.2).min(1.0), 100.0) }
}

fn customers(groups: usize, per: usize) -> Vec<CustomerScore> {
    (0..groups * per).map(|i| CustomerScore { customer: format!("cust{i:06}"), group: 1 + i / per, score: (i % 97) as f64 }).collect()
}

fn params(share: f64) -> PlanParams {
    PlanParams { objective: Objective::Profit, cost_per_contact: 2.0, margin: 0.3, control_share: share, ..Default::default() }
}

/// The candidates the facade builds: contactable customers only.
fn contactable(all: &[CustomerScore], groups: usize, p: &PlanParams) -> Vec<Candidate> {
    (1..=groups)
        .map(|g| {
            let n = all.iter().filter(|c| c.group == g && !in_control(&c.customer, p)).count();
            cand(g, n, 0.4 - 0.03 * g as f64)
        })
        .collect()
}

#[test]
fn control_share_per_group_is_within_sampling_error_and_reproducible() {
    let all = customers(5, 4_000);
    let p = params(0.1);
    for g in 1..=5 {
        let n = all.iter().filter(|c| c.group == g).count() as f64;
        let k = all.iter().filter(|c| c.group == g && in_control(&c.customer, &p)).count() as f64;
        let sd = (0.1 * 0.9 / n).sqrt();
        assert!((k / n - 0.1).abs() < 4.0 * sd, "group {g}: {}", k / n);
    }
    // The same arms on every run, and another seed gives another split.
    let arms = |p: &PlanParams| all.iter().map(|c| in_control(&c.customer, p)).collect::<Vec<_>>();
    assert_eq!(arms(&p), arms(&p));
    assert_ne!(arms(&p), arms(&PlanParams { control_seed: 9, ..p.clone() }));
    assert!(all.iter().all(|c| !in_control(&c.customer, &params(0.0))));
}

#[test]
fn control_customers_are_listed_but_never_counted() {
    let all = customers(4, 1_000);
    let p = params(0.2);
    let cands = contactable(&all, 4, &p);
    let pl = plan(&cands, &p).unwrap();
    let list = contact_list(&pl, &cands, &all).unwrap();
    let contacted: Vec<_> = list.iter().filter(|r| r.arm == Arm::Contact).collect();
    let control: Vec<_> = list.iter().filter(|r| r.arm == Arm::Control).collect();
    // Contacts and cost count the contact arm only; ranks number those rows 1..n.
    let contacts: usize = pl.steps.iter().map(|s| s.contacts).sum();
    assert_eq!(contacted.len(), contacts);
    assert_eq!(contacted.iter().map(|r| r.rank).collect::<Vec<_>>(), (1..=contacts).collect::<Vec<_>>());
    assert!((pl.steps.last().unwrap().cum_cost - 2.0 * contacts as f64).abs() < 1e-9);
    assert!(control.iter().all(|r| r.rank == 0 && r.expected_value == 0.0 && in_control(&r.customer, &p)));
    assert!(contacted.iter().all(|r| !in_control(&r.customer, &p)));
    // Every contacted group contacted in full lists all its control customers.
    for s in &pl.steps {
        let in_group = all.iter().filter(|c| c.group == s.group && in_control(&c.customer, &p)).count();
        assert_eq!(control.iter().filter(|r| r.group == s.group).count(), in_group);
    }
    // Without a holdout nothing changes: no control rows.
    let p0 = params(0.0);
    let c0 = contactable(&all, 4, &p0);
    let l0 = contact_list(&plan(&c0, &p0).unwrap(), &c0, &all).unwrap();
    assert!(l0.iter().all(|r| r.arm == Arm::Contact));
    // Out of range: an error.
    assert!(plan(&cands, &params(0.95)).is_err());
}
