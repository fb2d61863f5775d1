//! Groups ordered by a smooth score ([`TrainingData::order`]): whatever the rows,
//! outcomes and scores, the groups are numbered by decreasing score, their
//! probabilities never rise with the id, and each probability is the prior
//! updated with the outcomes of its own group or of the run of groups it was
//! pooled with.
#![allow(clippy::unwrap_used, clippy::panic)]

use linfa::ParamGuard;
use ndarray::Array2;
use proptest::prelude::*;
use winback_core::features::{Feature, FeatureKind, Source};
use winback_stats::Beta;
use winback_tree::{MinGroupSize, Segmenter, TrainingData};

fn feature(name: &str) -> Feature {
    Feature { name: name.into(), kind: FeatureKind::Number, unit: String::new(), source: Source::AttrNumber(name.into()) }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn groups_follow_the_score_and_probabilities_never_rise(
        rows in prop::collection::vec((0u8..40, 0u8..40, 0.0f64..1.0, 0.0f64..1.0), 200..500),
        groups in 2usize..7,
    ) {
        let n = rows.len();
        let x = Array2::from_shape_fn((n, 2), |(i, j)| f64::from(if j == 0 { rows[i].0 } else { rows[i].1 }));
        // Outcomes loosely tied to the first feature; scores loosely tied to the second.
        let y: Vec<bool> = rows.iter().map(|r| r.2 < 0.2 + f64::from(r.0) / 80.0).collect();
        let order: Vec<f64> = rows.iter().map(|r| (r.3 + f64::from(r.1) / 40.0) / 2.0).collect();
        let features = [feature("a"), feature("b")];
        let params = Segmenter::params().groups(groups).min_group_size(MinGroupSize::Rows(30)).honest_fraction(0.0).prior_strength(20.0).check().unwrap();
        let data = TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: Some(&order) };
        let seg = params.fit(&data).unwrap();
        seg.validate().unwrap();
        let prior = Beta::from_mean(seg.base_rate, 20.0);
        let assigned = seg.assign(x.view()).unwrap();
        for (i, g) in seg.groups.iter().enumerate() {
            prop_assert_eq!(g.id, i + 1);
            // The score is the mean over the group's rows.
            let mine: Vec<usize> = (0..n).filter(|&r| assigned[r] == g.id).collect();
            let mean = mine.iter().map(|&r| order[r]).sum::<f64>() / mine.len() as f64;
            prop_assert!((g.order_score.unwrap() - mean).abs() < 1e-12);
            if i > 0 {
                let prev = &seg.groups[i - 1];
                prop_assert!(g.order_score <= prev.order_score);
                prop_assert!(g.probability <= prev.probability + 1e-15, "group {} {} above group {} {}", g.id, g.probability, prev.id, prev.probability);
            }
            // Its posterior: the prior and the outcomes of its run (itself when not pooled).
            let run: Vec<usize> = if g.pooled.is_empty() { vec![g.id] } else { g.pooled.clone() };
            let (back, size) = run.iter().fold((0usize, 0usize), |(b, s), &m| (b + seg.groups[m - 1].came_back, s + seg.groups[m - 1].size));
            let want = prior.update_weighted(back as f64, size as f64);
            prop_assert!((g.alpha - want.alpha).abs() < 1e-9 && (g.beta - want.beta).abs() < 1e-9);
            // A run is pooled only because its own rates went against the score's order.
            if g.pooled.len() >= 2 && g.pooled[0] == g.id {
                let rate = |m: usize| prior.update_weighted(seg.groups[m - 1].came_back as f64, seg.groups[m - 1].size as f64).mean();
                prop_assert!(g.pooled.windows(2).any(|w| rate(w[0]) < rate(w[1])), "pooled {:?} without a violation", g.pooled);
            }
        }
    }
}
