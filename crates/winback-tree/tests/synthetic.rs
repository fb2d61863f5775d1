//! On the synthetic generator with known truth: the groups respect the limits,
//! their honest probabilities are calibrated on a later, held-out period, and
//! groups ordered by probability have increasing true probability.
#![allow(clippy::unwrap_used, clippy::panic)]

use linfa::ParamGuard;
use winback_core::features::{build_features, FeatureOptions, FeatureSchema};
use winback_core::labels::{labels, training_cutoffs, TrainingSet};
use winback_core::lapse::LapseRule;
use winback_core::synthetic::{Synthetic, SyntheticConfig};
use winback_tree::metrics::{calibration_table, ece, evaluate};
use winback_tree::{Segmentation, Segmenter, TrainingData};

struct Fitted {
    synth: Synthetic,
    seg: Segmentation,
    train: TrainingSet,
}

fn fit(customers: usize, seasonality: f64) -> Fitted {
    fit_with(customers, seasonality, Segmenter::params().check_ref().unwrap().honest_fraction())
}

/// [`fit`] with `honest` of the customers held out (0: nobody, the facade's default).
fn fit_with(customers: usize, seasonality: f64, honest: f64) -> Fitted {
    let synth = Synthetic::new(SyntheticConfig { customers, seed: 11, seasonality, ..Default::default() });
    let (h, _) = synth.history().unwrap();
    let at = synth.config().start + 600;
    let horizon = 60;
    // A year of stacked cutoffs (6 × 60 days): every season weighs in, so the model
    // is not fitted to one period's base rate (the generator has a ±30% yearly season).
    let cutoffs = training_cutoffs(at, horizon, 6).unwrap();
    let schema = FeatureSchema::learn(&h, cutoffs[0], &FeatureOptions::default()).unwrap();
    let rule = LapseRule::Fixed { days: 45 };
    let train = TrainingSet::stacked(&h, &schema, &rule, at, horizon, &cutoffs).unwrap();
    let seg = Segmenter::params()
        .honest_fraction(honest)
        .check()
        .unwrap()
        .fit(&TrainingData {
            x: train.x.view(),
            y: &train.y,
            spend: Some(&train.spend),
            customer: Some(&train.customers),
            features: &schema.features,
            weight: None,
            target: None,
            order: None,
        })
        .unwrap();
    Fitted { synth, seg, train }
}

#[test]
fn groups_limits_counts_and_round_trip() {
    let f = fit(20_000, 0.3);
    let seg = &f.seg;
    let k = seg.groups.len();
    assert!((8..=10).contains(&k), "{k} groups; note {:?}", seg.note);
    let n = f.train.len();
    for g in &seg.groups {
        assert!(g.share <= 0.25 + 0.02, "group {} holds {:.3}", g.id, g.share);
        assert!(g.size as f64 >= 0.02 * n as f64 * 0.8, "group {} has {} rows", g.id, g.size);
        assert!(g.probability > 0.0 && g.probability < 1.0);
        assert!(g.low <= g.probability && g.probability <= g.high);
    }
    // Sorted by probability, ids 1..K.
    assert!(seg.groups.windows(2).all(|w| w[0].probability >= w[1].probability));
    assert_eq!(seg.groups.iter().map(|g| g.id).collect::<Vec<_>>(), (1..=k).collect::<Vec<_>>());
    // Customer-weighted mean of the honest probabilities is close to the base rate.
    let mean: f64 = seg.groups.iter().map(|g| g.probability * g.size as f64).sum::<f64>() / n as f64;
    assert!((mean - seg.base_rate).abs() < 0.01, "weighted mean {mean} vs base rate {}", seg.base_rate);
    // Assigning the training rows reproduces the stored counts.
    let a = seg.assign(f.train.x.view()).unwrap();
    for g in &seg.groups {
        let rows: Vec<usize> = (0..n).filter(|&r| a[r] == g.id).collect();
        assert_eq!(rows.len(), g.size);
        assert_eq!(rows.iter().filter(|&&r| f.train.y[r]).count(), g.came_back);
        for &r in &rows {
            assert!(g.rule.iter().all(|c| c.holds(f.train.x[(r, c.feature)])), "row {r} breaks the rule of group {}", g.id);
        }
    }
    // Saved and reloaded: identical assignment and groups.
    let back = Segmentation::from_json(&seg.to_json().unwrap()).unwrap();
    assert_eq!(&back, seg);
    assert_eq!(back.assign(f.train.x.view()).unwrap(), a);
    // Exports mention every group.
    assert_eq!(seg.groups_csv().lines().count(), k + 1);
    assert_eq!(seg.to_dot().matches("group ").count(), k);
}

/// Later-period calibration; returns the ECE. Without a seasonal feature, the
/// model cannot know that the later window falls in a busier season than the
/// year-average it was fitted on, so the generator's yearly season (±30% by
/// default) costs calibration: see `calibration_under_seasonality`.
fn later_period(seasonality: f64, honest: f64) -> f64 {
    let f = fit_with(40_000, seasonality, honest);
    let (h, _) = f.synth.history().unwrap();
    // Apply at `at` (a period after every training label window) and compare with what happened.
    let at = f.synth.config().start + 600;
    let lapse = LapseRule::Fixed { days: 45 }.resolve(&h, at).unwrap();
    let schema = &f.train.schema;
    let x = build_features(&h, schema, at, &lapse.lapsed).unwrap();
    let y = labels(&h, at, 60, &lapse.lapsed).unwrap().repurchased;
    let groups = f.seg.assign(x.x.view()).unwrap();
    let p: Vec<f64> = groups.iter().map(|&g| f.seg.group(g).unwrap().probability).collect();
    let m = evaluate(&p, &y, &groups);
    eprintln!("later period: n={} base={:.4} auc={:.3} ece={:.4} brier={:.4}", m.count, m.base_rate, m.auc, m.ece, m.brier);
    eprint!("{}", f.seg.rules_text());
    for r in &m.calibration {
        eprintln!("  group {:>2}: n={:>6} predicted {:.4} observed {:.4}", r.bin, r.count, r.predicted, r.observed);
    }
    let ece_later = m.ece;
    // Truth: mean true probability per group, in order of predicted probability.
    let truth_of = |c: usize| {
        let id = &h.customer_ids()[c];
        let i = f.synth.truth().iter().position(|t| &t.id == id).unwrap();
        f.synth.true_probability(i, at, 60)
    };
    let t: Vec<f64> = lapse.lapsed.iter().map(|&c| truth_of(c)).collect();
    let true_by_group = calibration_table(&t, &vec![false; t.len()], &groups);
    let means: Vec<(usize, f64)> = true_by_group.iter().map(|r| (r.bin, r.predicted)).collect();
    eprintln!("true probability by group: {means:?}");
    // Group ids are in decreasing predicted probability: true means must decrease too
    // (a group of under 1% of customers may swap with its neighbour within 0.01).
    for w in means.windows(2) {
        assert!(w[0].1 >= w[1].1 - 0.01, "group {} true {:.4} < group {} true {:.4}", w[0].0, w[0].1, w[1].0, w[1].1);
    }
    assert!((ece(&calibration_table(&p, &y, &groups)) - ece_later).abs() < 1e-12);
    ece_later
}

#[test]
fn calibrated_on_a_later_period_and_ordered_by_truth() {
    let e = later_period(0.0, 0.3);
    assert!(e <= 0.02, "ECE {e:.4} on the held-out period");
}

/// The same with nobody held out (every row chooses the splits and estimates the
/// probabilities, the facade's default): in-sample estimates stay calibrated on
/// the later period and ordered by the true probabilities.
#[test]
fn nobody_held_out_is_calibrated_and_ordered_by_truth() {
    let e = later_period(0.0, 0.0);
    assert!(e <= 0.02, "ECE {e:.4} on the held-out period, nobody held out");
    let e = later_period(0.3, 0.0);
    assert!(e <= 0.04, "ECE {e:.4} on the held-out period with seasonality, nobody held out");
}

/// With the default ±30% yearly season the goal (0.02) is not reached: this
/// records the figure reached (0.035 when written) so that it cannot silently worsen.
#[test]
fn calibration_under_seasonality() {
    let e = later_period(0.3, 0.3);
    assert!(e <= 0.04, "ECE {e:.4} on the held-out period with seasonality");
}

#[test]
fn tampered_segmentation_is_refused() {
    let f = fit(3_000, 0.0);
    let mut bad = f.seg.clone();
    // A node pointing back at the root would loop forever when assigning.
    if let Some(n) = bad.nodes.iter_mut().find(|n| n.split.is_some()) {
        if let Some((feat, t, _, r)) = n.split {
            n.split = Some((feat, t, 0, r));
        }
    }
    let e = Segmentation::from_json(&bad.to_json().unwrap()).unwrap_err();
    assert!(e.to_string().starts_with("invalid segmentation: nodes[0].split: "), "{e}");
    let mut bad = f.seg.clone();
    bad.groups.pop();
    assert!(Segmentation::from_json(&bad.to_json().unwrap()).is_err());
}

/// Issue 14, 1: groups sized on the list that will be contacted. The scoring
/// list is older than the training rows (as after a launch cohort ages): sized
/// on the training rows alone, one group holds most of it; fitted for it, every
/// group keeps between the minimum and the maximum share of it.
#[test]
fn groups_hold_on_the_scoring_list() {
    use linfa::ParamGuard;
    use ndarray::Array2;
    use winback_core::features::{Feature, FeatureKind, Source};
    use winback_tree::{Segmenter, TrainingData};
    let n = 20_000;
    let mut rng = winback_stats::Rng::new(7);
    // Recency 0..1000 and purchases 1..20; coming back is likelier when recent and frequent.
    let x = Array2::from_shape_fn((n, 2), |(_, j)| if j == 0 { rng.below(1000) as f64 } else { 1.0 + rng.below(20) as f64 });
    let mut rng = winback_stats::Rng::new(8);
    let y: Vec<bool> = (0..n).map(|i| rng.f64() < 0.05 + 0.3 * (1.0 - x[(i, 0)] / 1000.0) + 0.01 * x[(i, 1)]).collect();
    // The scoring list: 5,000 customers, 90% of them with recency 950 or more.
    let mut rng = winback_stats::Rng::new(9);
    let s = Array2::from_shape_fn((5_000, 2), |(i, j)| match j {
        0 if i % 10 != 0 => 950.0 + rng.below(50) as f64,
        0 => rng.below(950) as f64,
        _ => 1.0 + rng.below(20) as f64,
    });
    let features = vec![
        Feature { name: "recency_days".into(), kind: FeatureKind::Days, unit: "days".into(), source: Source::Recency },
        Feature { name: "purchases".into(), kind: FeatureKind::Count, unit: "purchases".into(), source: Source::Purchases },
    ];
    let params = Segmenter::params().groups(10).check().unwrap();
    let data = TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: None };
    let shares = |seg: &winback_tree::Segmentation| {
        let g = seg.assign(s.view()).unwrap();
        let mut c = vec![0usize; seg.groups.len()];
        for k in g {
            c[k - 1] += 1;
        }
        c.into_iter().map(|k| k as f64 / 5_000.0).collect::<Vec<_>>()
    };
    let plain = params.fit(&data).unwrap();
    let before = shares(&plain).into_iter().fold(0.0, f64::max);
    assert!(before > 0.4, "sized on training rows only, the largest group holds {before:.2} of the list");
    let fitted = params.fit_for(&data, Some(s.view())).unwrap();
    let after = shares(&fitted);
    assert_eq!(fitted.groups.len(), 10);
    for (g, sh) in fitted.groups.iter().zip(&after) {
        assert!(*sh <= 0.25 + 1e-9 && *sh >= 0.02 - 1e-9, "group {} holds {sh:.3} of the list", g.id);
        assert_eq!(g.scoring_share, Some(*sh), "recorded share = share by assignment");
    }
}
