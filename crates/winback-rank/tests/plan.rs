//! Hand-computed plans, stopping rules at their boundaries, ordering invariants,
//! contact lists and feedback.
#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;
use winback_rank::*;

fn four() -> Vec<Candidate> {
    let c = |group, size, p: f64| Candidate { label: format!("rule {group}"), ..Candidate::new(group, size, p, p * 0.8, (p * 1.2).min(1.0), 50.0) };
    vec![c(3, 300, 0.10), c(1, 100, 0.40), c(4, 400, 0.02), c(2, 200, 0.25)]
}

fn econ() -> PlanParams {
    // value per win-back = 50 × 0.5 = 25; profit per contact: 8, 4.25, 0.5, −1.5.
    PlanParams { objective: Objective::Profit, cost_per_contact: 2.0, margin: 0.5, ..Default::default() }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn four_groups_by_hand() {
    let p = plan(&four(), &econ()).unwrap();
    assert_eq!(p.groups_contacted(), vec![1, 2, 3]);
    let want = [(100, 40.0, 1000.0, 200.0, 800.0, 4.0), (300, 90.0, 2250.0, 600.0, 1650.0, 2.75), (600, 120.0, 3000.0, 1200.0, 1800.0, 1.5)];
    for (s, w) in p.steps.iter().zip(want) {
        assert_eq!(s.cum_contacts, w.0);
        assert!(close(s.cum_expected_winbacks, w.1) && close(s.cum_revenue, w.2) && close(s.cum_cost, w.3) && close(s.cum_profit, w.4));
        assert!(close(s.cum_roi.unwrap(), w.5));
    }
    // Group 4 loses 1.50 per contact: left out, 400 × 2 = 800 saved.
    assert_eq!(p.groups_skipped(), vec![4]);
    assert_eq!(p.skipped[0].reason, StopReason::Unprofitable);
    assert!(close(p.cost_saved, 800.0));
    assert_eq!(p.stop, StopReason::Unprofitable);
    // Asked to, it keeps the money-losing group.
    let all = plan(&four(), &PlanParams { include_unprofitable: true, ..econ() }).unwrap();
    assert_eq!(all.groups_contacted(), vec![1, 2, 3, 4]);
    assert!(close(all.profit, 1800.0 - 600.0));
    // Gains: cumulative shares over every group in objective order.
    let g: Vec<(usize, f64, f64)> = p.gains.iter().map(|r| (r.group, r.contact_share, r.winback_share)).collect();
    assert_eq!(g.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    assert!(close(g[0].1, 0.1) && close(g[0].2, 40.0 / 128.0) && close(g[3].1, 1.0) && close(g[3].2, 1.0));
}

#[test]
fn target_exactly_reached_and_just_missed() {
    let base = PlanParams { target_winbacks: Some(90.0), ..econ() };
    let p = plan(&four(), &base).unwrap();
    assert_eq!((p.groups_contacted(), p.stop), (vec![1, 2], StopReason::TargetReached));
    assert_eq!(p.groups_skipped(), vec![3, 4]);
    assert!(close(p.cost_saved, 300.0 * 2.0 + 400.0 * 2.0));
    let p = plan(&four(), &PlanParams { target_winbacks: Some(90.001), ..econ() }).unwrap();
    assert_eq!(p.groups_contacted(), vec![1, 2, 3]);
}

#[test]
fn budget_exact_and_one_contact_short() {
    // Groups 1 and 2 cost 200 + 400 = 600.
    let p = plan(&four(), &PlanParams { budget: Some(600.0), ..econ() }).unwrap();
    assert_eq!((p.contacts, p.stop), (300, StopReason::Budget));
    assert_eq!(p.groups_skipped(), vec![3, 4]);
    let p = plan(&four(), &PlanParams { budget: Some(598.0), ..econ() }).unwrap();
    // One contact short: group 2 is cut at 199 contacts.
    assert_eq!(p.steps[1].contacts, 199);
    assert_eq!(p.contacts, 299);
    assert!(close(p.cost, 598.0));
    assert!(p.skipped.iter().any(|s| s.group == 2 && s.customers == 1 && s.reason == StopReason::Budget));
    // A budget with free contacts was silently ignored; it is refused.
    let e = plan(&four(), &PlanParams { budget: Some(1000.0), ..Default::default() }).unwrap_err();
    assert!(matches!(e, Error::BudgetWithoutCost), "{e}");
    assert_eq!(e.to_string(), "a budget needs a cost per contact above 0 (with contacts free, it would never stop the plan)");
}

#[test]
fn what_a_plan_leaves_out_names_the_group_cut_short() {
    // A budget of 400 contacts group 1 (100) and 100 of group 2's 200: the 100 left of
    // group 2 are counted and named, not hidden in the total of the groups left out.
    let p = plan(&four(), &PlanParams { budget: Some(400.0), ..econ() }).unwrap();
    assert_eq!(p.groups_skipped(), vec![3, 4]);
    assert_eq!(p.cut_short(), Some(CutShort { group: 2, customers: 100 }));
    assert_eq!(p.not_contacted(), "groups [3, 4] and 100 of group 2 (800 customers)");
    let s = p.summary();
    assert_eq!((s.cut_short, s.not_contacted.as_str()), (Some(CutShort { group: 2, customers: 100 }), "groups [3, 4] and 100 of group 2 (800 customers)"));
    // Whole groups only; one group; nobody; and a zero cost saved is +0, not -0.
    let p = plan(&four(), &econ()).unwrap();
    assert_eq!((p.cut_short(), p.not_contacted()), (None, "group [4] (400 customers)".to_string()));
    let p = plan(&four(), &PlanParams { include_unprofitable: true, ..econ() }).unwrap();
    assert_eq!(p.not_contacted(), "nobody (0 customers)");
    assert!(p.cost_saved == 0.0 && p.cost_saved.is_sign_positive());
    let free = plan(&four(), &PlanParams::default()).unwrap();
    assert!(free.cost_saved.is_sign_positive(), "{}", free.cost_saved);
}

#[test]
fn max_contacts_and_min_probability() {
    let p = plan(&four(), &PlanParams { max_contacts: Some(150), ..Default::default() }).unwrap();
    assert_eq!(p.contacts, 150);
    assert_eq!(p.steps.iter().map(|s| s.contacts).collect::<Vec<_>>(), vec![100, 50]);
    assert_eq!(p.stop, StopReason::MaxContacts);
    let p = plan(&four(), &PlanParams { min_probability: Some(0.10), ..Default::default() }).unwrap();
    assert_eq!(p.groups_contacted(), vec![1, 2, 3]);
    assert_eq!(p.skipped[0].reason, StopReason::MinProbability);
}

/// The stop reason says why the plan ends: a group skipped mid-order (below the
/// minimum probability, but first by expected profit) does not end it.
#[test]
fn the_stop_reason_is_that_of_the_groups_after_the_last_contacted() {
    // Profit per contact (value = spend × 0.5, cost 2): group 1 0.05 × 500 − 2 = 23,
    // group 2 0.30 × 25 − 2 = 5.5, group 3 0.12 × 10 − 2 = −0.8.
    let c = |group, p: f64, spend| Candidate::new(group, 100, p, p * 0.8, (p * 1.2).min(1.0), spend);
    let cands = vec![c(1, 0.05, 1000.0), c(2, 0.30, 50.0), c(3, 0.12, 20.0)];
    let p = plan(&cands, &PlanParams { min_probability: Some(0.10), ..econ() }).unwrap();
    assert_eq!(p.groups_contacted(), vec![2]);
    assert_eq!(p.skipped.iter().map(|s| (s.group, s.reason)).collect::<Vec<_>>(), vec![(1, StopReason::MinProbability), (3, StopReason::Unprofitable)]);
    assert_eq!(p.stop, StopReason::Unprofitable);
    // The stop point counts what is contacted: group 2's 100 of 300 customers and its
    // 30 of the 5 + 30 + 12 = 47 expected win-backs (not group 1's, skipped before it).
    let (x, y) = p.stop_point().unwrap();
    assert!(close(x, 1.0 / 3.0) && close(y, 30.0 / 47.0), "{x} {y}");
    // Nothing after the last contacted group: the first group left out says why.
    let p = plan(&cands[..2], &PlanParams { min_probability: Some(0.10), ..econ() }).unwrap();
    assert_eq!((p.groups_contacted(), p.stop), (vec![2], StopReason::MinProbability));
}

#[test]
fn bad_parameters_are_errors() {
    assert!(matches!(plan(&[], &econ()), Err(Error::NoCandidates)));
    assert!(matches!(plan(&four(), &PlanParams { margin: 1.5, ..econ() }), Err(Error::InvalidMargin(_))));
    assert!(matches!(plan(&four(), &PlanParams { cost_per_contact: -1.0, ..econ() }), Err(Error::InvalidCost(_))));
    let mut dup = four();
    dup[0].group = 1;
    assert_eq!(plan(&dup, &econ()).unwrap_err().to_string(), "group 1 appears twice among the candidates");
    // A win-back worth less than nothing is refused, not planned as a loss.
    let mut negative = four();
    negative[1].return_spend = -5.0;
    let e = plan(&negative, &econ()).unwrap_err();
    assert!(matches!(e, Error::InvalidReturnSpend { group: 1, value } if value == -5.0), "{e}");
    assert_eq!(e.to_string(), "group 1: the mean spend of a returning customer must be a finite number ≥ 0, got -5");
    let mut bad = four();
    bad[0].probability = 1.5;
    assert!(matches!(plan(&bad, &econ()), Err(Error::InvalidProbability { group: 3, .. })));
}

#[test]
fn contact_list_orders_within_groups_and_breaks_ties_by_id() {
    let cands = four();
    let p = plan(&cands, &PlanParams { max_contacts: Some(103), ..econ() }).unwrap();
    let cs = |id: &str, group, score| CustomerScore { customer: id.into(), group, score };
    let mut customers: Vec<CustomerScore> = (0..100).map(|i| cs(&format!("a{i:03}"), 1, 1.0)).collect();
    customers.extend([cs("z", 2, 5.0), cs("b", 2, 2.0), cs("a", 2, 2.0), cs("c", 2, 1.0)]);
    let list = contact_list(&p, &cands, &customers).unwrap();
    assert_eq!(list.len(), 103);
    assert_eq!(list[0].customer, "a000");
    assert_eq!(list.iter().skip(100).map(|r| r.customer.as_str()).collect::<Vec<_>>(), vec!["z", "a", "b"]);
    assert_eq!(list[102].rank, 103);
    assert!(close(list[0].expected_value, 8.0));
    assert_eq!(list[0].rule, "rule 1");
    let e = contact_list(&p, &cands, &[cs("x", 9, 0.0)]).unwrap_err();
    assert_eq!(e.to_string(), "customer x is in unknown group 9");
}

#[test]
fn feedback_updates_and_reranks() {
    let cands = four();
    // Group 1 disappoints (0 of 80), group 3 surprises (150 of 200).
    let out = [Outcome { group: 1, contacted: 80, came_back: 0 }, Outcome { group: 3, contacted: 200, came_back: 150 }];
    let next = record_outcomes(&cands, &out, 0.9).unwrap();
    let g = |id| next.iter().find(|c| c.group == id).unwrap().clone();
    assert_eq!(g(1).size, 20);
    assert_eq!(g(3).size, 100);
    // Posterior mean = (α + k) / (α + β + n) with the candidate's implied prior.
    let prior1 = cands[1].beta();
    assert!(close(g(1).probability, prior1.alpha / (prior1.alpha + prior1.beta + 80.0)));
    assert!(g(1).probability < 0.40 && g(3).probability > 0.10);
    assert!(g(3).low < g(3).probability && g(3).probability < g(3).high);
    let p = plan(&next, &PlanParams::default()).unwrap();
    assert!(p.groups_contacted().iter().position(|&x| x == 3) < p.groups_contacted().iter().position(|&x| x == 1));
    assert!(matches!(record_outcomes(&cands, &[Outcome { group: 9, contacted: 1, came_back: 0 }], 0.9), Err(Error::UnknownGroup(9))));
    // A level outside (0, 1) is refused (NaN gave intervals of −1 to −1).
    for level in [f64::NAN, 1.5, 0.0] {
        assert!(matches!(record_outcomes(&cands, &[], level), Err(Error::InvalidLevel(_))));
        assert!(matches!(winback_rank::effects(&[], &[], level), Err(Error::InvalidLevel(_))));
    }
    assert!(matches!(record_outcomes(&cands, &[Outcome { group: 1, contacted: 5, came_back: 6 }], 0.9), Err(Error::InvalidFeedback { .. })));
}

#[test]
fn a_limit_met_exactly_by_the_whole_list_stops_nothing() {
    let cands = [Candidate::new(1, 100, 0.3, 0.2, 0.4, 10.0), Candidate::new(2, 50, 0.2, 0.1, 0.3, 10.0)];
    let p = plan(&cands, &PlanParams { max_contacts: Some(150), ..Default::default() }).unwrap();
    assert_eq!((p.contacts, p.stop), (150, StopReason::AllContacted));
    let p = plan(&cands, &PlanParams { cost_per_contact: 1.0, budget: Some(150.0), include_unprofitable: true, ..Default::default() }).unwrap();
    assert_eq!((p.contacts, p.stop), (150, StopReason::AllContacted));
    let p = plan(&cands, &PlanParams { max_contacts: Some(149), ..Default::default() }).unwrap();
    assert_eq!((p.contacts, p.stop), (149, StopReason::MaxContacts));
}

/// Sizes near usize::MAX (a deserialized candidate) do not overflow the counts.
#[test]
fn huge_groups_do_not_overflow() {
    let big = usize::MAX / 2 + 1;
    let cands = [Candidate::new(1, big, 0.3, 0.2, 0.4, 10.0), Candidate::new(2, big, 0.2, 0.1, 0.3, 10.0)];
    let p = plan(&cands, &PlanParams::default()).unwrap();
    assert_eq!(p.contacts, usize::MAX);
    let p = plan(&cands, &PlanParams { max_contacts: Some(10), ..Default::default() }).unwrap();
    assert_eq!((p.contacts, p.stop), (10, StopReason::MaxContacts));
}

#[test]
fn thompson_explores_uncertain_groups() {
    // Two groups with the same mean; the one with a wide interval gets a real share.
    let sure = Candidate { posterior: Some(winback_stats::Beta { alpha: 200.0, beta: 800.0 }), ..Candidate::new(1, 1000, 0.2, 0.18, 0.22, 10.0) };
    let unsure = Candidate { posterior: Some(winback_stats::Beta { alpha: 2.0, beta: 8.0 }), ..Candidate::new(2, 1000, 0.2, 0.04, 0.44, 10.0) };
    let a = thompson_allocation(&[sure.clone(), unsure.clone()], &PlanParams::default(), 100, 2000, 1).unwrap();
    assert_eq!(a, thompson_allocation(&[sure, unsure], &PlanParams::default(), 100, 2000, 1).unwrap());
    assert!(a[1].1 >= 30 && a[1].1 <= 70, "{a:?}");
    assert_eq!(a[0].1 + a[1].1, 100);
    // Three equal groups and a wave of 2: two contacts (rounding each share gave 3),
    // of 1: one (it gave 0); a wave larger than everyone: everyone.
    let same = |g| Candidate { posterior: Some(winback_stats::Beta { alpha: 20.0, beta: 80.0 }), ..Candidate::new(g, 5, 0.2, 0.1, 0.3, 10.0) };
    let three = [same(1), same(2), same(3)];
    for (wave, want) in [(2, 2), (1, 1), (100, 15)] {
        let a = thompson_allocation(&three, &PlanParams::default(), wave, 300, 7).unwrap();
        assert_eq!(a.iter().map(|x| x.1).sum::<usize>(), want, "{a:?}");
        assert!(a.iter().all(|x| x.1 <= 5));
    }
}

fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
    proptest::collection::vec((1usize..500, 0.0f64..1.0, 0.0f64..200.0), 1..12).prop_map(|v| {
        v.into_iter().enumerate().map(|(i, (size, p, spend))| Candidate::new(i + 1, size, p, p * 0.5, (p * 1.5).min(1.0), spend)).collect()
    })
}

proptest! {
    #[test]
    fn order_is_a_permutation_non_increasing_in_the_objective(cands in candidates(), obj in 0usize..3, cost in 0.0f64..5.0) {
        let params = PlanParams { objective: [Objective::Probability, Objective::Profit, Objective::Roi][obj], cost_per_contact: cost, include_unprofitable: true, ..Default::default() };
        if params.objective == Objective::Roi && cost == 0.0 {
            prop_assert!(matches!(plan(&cands, &params), Err(winback_rank::Error::RoiWithoutCost)));
            return Ok(());
        }
        let ord = order(&cands, &params);
        let mut sorted = ord.clone();
        sorted.sort_unstable();
        prop_assert_eq!(sorted, (0..cands.len()).collect::<Vec<_>>());
        for w in ord.windows(2) {
            prop_assert!(params.objective_value(&cands[w[0]]) >= params.objective_value(&cands[w[1]]));
        }
        let p = plan(&cands, &params).unwrap();
        // Every customer is either contacted or listed as skipped.
        let skipped: usize = p.skipped.iter().map(|s| s.customers).sum();
        prop_assert_eq!(p.contacts + skipped, cands.iter().map(|c| c.size).sum::<usize>());
        prop_assert!(p.steps.windows(2).all(|w| w[0].cum_contacts < w[1].cum_contacts));
    }

    #[test]
    fn budget_is_never_exceeded(cands in candidates(), budget in 0.0f64..2000.0, cost in 0.5f64..5.0) {
        let p = plan(&cands, &PlanParams { cost_per_contact: cost, budget: Some(budget), include_unprofitable: true, ..Default::default() }).unwrap();
        prop_assert!(p.cost <= budget + 1e-6);
        // Not more than one contact's cost is left unused while customers remain.
        if p.skipped.iter().any(|s| s.reason == StopReason::Budget) {
            prop_assert!(budget - p.cost < cost + 1e-6);
        }
    }
}

#[test]
fn roi_without_cost_and_non_finite_min_profit_are_refused() {
    let c = [Candidate::new(1, 10, 0.2, 0.1, 0.3, 50.0)];
    let roi = PlanParams { objective: Objective::Roi, ..Default::default() };
    assert!(matches!(plan(&c, &roi), Err(winback_rank::Error::RoiWithoutCost)));
    let nan = PlanParams { min_expected_profit: Some(f64::NAN), ..Default::default() };
    assert!(matches!(plan(&c, &nan), Err(winback_rank::Error::InvalidMinProfit(_))));
    let ok = PlanParams { objective: Objective::Roi, cost_per_contact: 1.0, ..Default::default() };
    assert!(plan(&c, &ok).is_ok());
}

#[test]
fn the_stop_point_sits_inside_a_group_cut_short() {
    // Budget 400 at 2 per contact: group 1 (100) in full, then 100 of group 2's 200.
    // Gains: 1000 customers, 128 expected win-backs (40 + 50 + 30 + 8).
    let p = plan(&four(), &PlanParams { budget: Some(400.0), ..econ() }).unwrap();
    let (x, y) = p.stop_point().unwrap();
    assert!(close(x, 0.2) && close(y, 65.0 / 128.0), "{x} {y}");
    // Without the cut, the stop is the last contacted group's point.
    let full = plan(&four(), &econ()).unwrap();
    let (x, y) = full.stop_point().unwrap();
    assert!(close(x, 0.6) && close(y, 120.0 / 128.0), "{x} {y}");
}
