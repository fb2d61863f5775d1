//! Issue 12, item 2: the effect of contact per group from both arms, and plans on it.
#![allow(clippy::unwrap_used, clippy::panic)]

use winback_rank::{effects, plan, Candidate, Objective, Outcome, PlanParams, StopReason};
use winback_stats::Rng;

/// Two groups by hand: posterior means are exact; the interval ends are those of
/// scipy (quad of F_X(y + d)·f_Y(y), brentq), to the quadrature's 0.001.
#[test]
fn two_groups_by_hand() {
    let contact = [Outcome { group: 1, contacted: 100, came_back: 30 }, Outcome { group: 2, contacted: 200, came_back: 20 }];
    let control = [Outcome { group: 2, contacted: 100, came_back: 10 }, Outcome { group: 1, contacted: 50, came_back: 10 }];
    let e = effects(&contact, &control, 0.9).unwrap();
    assert_eq!(e.len(), 2);
    let (g1, g2) = (&e[0], &e[1]);
    assert_eq!((g1.group, g1.contacted, g1.contacted_came_back, g1.control, g1.control_came_back), (1, 100, 30, 50, 10));
    assert!((g1.contact_rate - 31.0 / 102.0).abs() < 1e-12);
    assert!((g1.control_rate - 11.0 / 52.0).abs() < 1e-12);
    assert!((g1.effect - 0.092_383_107).abs() < 1e-8);
    assert!((g1.effect_low - -0.029_119).abs() < 1e-3, "{}", g1.effect_low);
    assert!((g1.effect_high - 0.208_010).abs() < 1e-3, "{}", g1.effect_high);
    assert!((g2.effect - -0.003_882_741).abs() < 1e-8);
    assert!((g2.effect_low - -0.067_336).abs() < 1e-3, "{}", g2.effect_low);
    assert!((g2.effect_high - 0.055_192).abs() < 1e-3, "{}", g2.effect_high);
    // More customers, a narrower interval that excludes 0 (scipy: 0.06106, 0.13672).
    let big = effects(&[Outcome { group: 1, contacted: 1000, came_back: 300 }], &[Outcome { group: 1, contacted: 500, came_back: 100 }], 0.9).unwrap();
    assert!((big[0].effect_low - 0.061_055).abs() < 1e-3 && (big[0].effect_high - 0.136_715).abs() < 1e-3, "{:?}", big[0]);
    // More came back than were contacted is refused.
    assert!(effects(&[Outcome { group: 1, contacted: 5, came_back: 6 }], &[], 0.9).is_err());
}

fn binomial(rng: &mut Rng, n: u64, p: f64) -> u64 {
    (0..n).filter(|_| rng.f64() < p).count() as u64
}

/// Where contact changes nothing (both arms drawn alike), the 90% interval covers
/// 0 about 90% of the time: 160 seeded campaigns, within 3 standard errors.
#[test]
fn intervals_cover_zero_at_the_stated_rate_when_contact_does_nothing() {
    let mut rng = Rng::new(2024);
    let trials = 160;
    let mut covered = 0;
    for t in 0..trials {
        let p = [0.05, 0.2, 0.4][t % 3];
        let contact = [Outcome { group: 1, contacted: 120, came_back: binomial(&mut rng, 120, p) }];
        let control = [Outcome { group: 1, contacted: 60, came_back: binomial(&mut rng, 60, p) }];
        let e = &effects(&contact, &control, 0.9).unwrap()[0];
        if e.effect_low <= 0.0 && 0.0 <= e.effect_high {
            covered += 1;
        }
    }
    let rate = f64::from(covered) / trials as f64;
    let se = (0.9f64 * 0.1 / trials as f64).sqrt();
    assert!((rate - 0.9).abs() <= 3.0 * se, "coverage {rate:.3} over {trials} campaigns");
}

#[test]
fn the_incremental_objective_plans_on_the_effect_and_leaves_out_what_it_cannot_measure() {
    let measured = |group: usize, k1: u64, k0: u64| {
        let mut c = Candidate::new(group, 500, k1 as f64 / 100.0, 0.0, 1.0, 40.0);
        c.effect = Some(effects(&[Outcome { group, contacted: 400, came_back: 4 * k1 }], &[Outcome { group, contacted: 200, came_back: 2 * k0 }], 0.9).unwrap().remove(0));
        c
    };
    // Group 1: likely to come back anyway (40% vs 38%): little effect.
    // Group 2: 25% vs 10%: the contact works. Group 3: 10% vs 20%: contact harms.
    // Group 4: never held out: no effect to plan on.
    let candidates = vec![measured(1, 40, 38), measured(2, 25, 10), measured(3, 10, 20), Candidate::new(4, 300, 0.5, 0.4, 0.6, 40.0)];
    let by_probability = plan(&candidates, &PlanParams::default()).unwrap();
    assert_eq!(by_probability.groups_contacted(), vec![4, 1, 2, 3]);
    let params = PlanParams { objective: Objective::Incremental, ..Default::default() };
    let p = plan(&candidates, &params).unwrap();
    assert_eq!(p.groups_contacted(), vec![2, 1]);
    // The plan counts the win-backs the contact causes: contacts × effect.
    let effect_of = |g: usize| candidates.iter().find(|c| c.group == g).and_then(|c| c.effect.as_ref()).map_or(0.0, |e| e.effect);
    let caused: f64 = p.steps.iter().map(|s| s.contacts as f64 * effect_of(s.group)).sum();
    assert!((p.expected_winbacks - caused).abs() < 1e-9 && caused < 0.3 * 1000.0, "{} vs {caused}", p.expected_winbacks);
    let reason = |g| p.skipped.iter().find(|s| s.group == g).map(|s| s.reason);
    assert_eq!(reason(3), Some(StopReason::NoMeasurableEffect));
    assert_eq!(reason(4), Some(StopReason::NoMeasurableEffect));
    // A higher bar leaves out group 1 too (its interval lies below 0.1).
    let strict = plan(&candidates, &PlanParams { min_effect: Some(0.1), ..params.clone() }).unwrap();
    assert_eq!(strict.groups_contacted(), vec![2]);
    // With a cost: incremental profit = effect × value − cost; group 1 loses money.
    let costly = plan(&candidates, &PlanParams { cost_per_contact: 1.0, ..params.clone() }).unwrap();
    assert_eq!(costly.groups_contacted(), vec![2]);
    assert_eq!(costly.skipped.iter().find(|s| s.group == 1).map(|s| s.reason), Some(StopReason::Unprofitable));
    // The contact list's expected values add up to the plan's profit (they used p × value − cost).
    let customers: Vec<winback_rank::CustomerScore> =
        (0..500).map(|i| winback_rank::CustomerScore { customer: format!("c{i:03}"), group: 2, score: f64::from(i) }).collect();
    let list = winback_rank::contact_list(&costly, &candidates, &customers).unwrap();
    let total: f64 = list.iter().map(|r| r.expected_value).sum();
    assert!((total - costly.profit).abs() < 1e-6, "{total} vs {}", costly.profit);
    assert!((list[0].expected_value - (effect_of(2) * 40.0 - 1.0)).abs() < 1e-12);
    assert!(PlanParams { min_effect: Some(2.0), ..params.clone() }.validate().is_err());
    // Nothing measured at all (no wave had a control group): refused, not an empty plan.
    let e = plan(&[Candidate::new(4, 300, 0.5, 0.4, 0.6, 40.0)], &params).unwrap_err();
    assert!(matches!(e, winback_rank::Error::NoEffectMeasured), "{e}");
    assert_eq!(e.kind(), winback_stats::ErrorKind::Parameter);
    // A group whose effect is negative but whose interval reaches above 0 (1% vs 2%
    // of 500 and 200: measurable, not wholly below 0), at no cost: contacting it is
    // expected to lose win-backs, so it is left out as unprofitable (it was contacted),
    // unless asked for.
    let harm = measured(5, 2, 4);
    let e5 = harm.effect.as_ref().unwrap();
    assert!(e5.effect < 0.0 && e5.effect_high > 0.0, "{e5:?}");
    let with_harm = vec![measured(2, 25, 10), harm];
    let p = plan(&with_harm, &params).unwrap();
    assert_eq!(p.groups_contacted(), vec![2]);
    assert_eq!(p.skipped.iter().find(|s| s.group == 5).map(|s| s.reason), Some(StopReason::Unprofitable));
    let all = plan(&with_harm, &PlanParams { include_unprofitable: true, ..params.clone() }).unwrap();
    assert_eq!(all.groups_contacted(), vec![2, 5]);
    // The same with a win-back worth nothing (an uplift model's candidates have no spend).
    let no_value: Vec<Candidate> = with_harm.iter().map(|c| Candidate { return_spend: 0.0, ..c.clone() }).collect();
    let p = plan(&no_value, &params).unwrap();
    assert_eq!(p.groups_contacted(), vec![2]);
}
