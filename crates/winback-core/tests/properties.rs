//! Invariants: no leakage from on/after the cutoff (features, lapse, group profiles), independence from row order,
//! and the same result whatever the number of threads.
#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;
use winback_core::features::{build_features, FeatureOptions, FeatureSchema};
use winback_core::lapse::LapseRule;
use winback_core::{History, Line, LoadOptions, SkipReason};

#[derive(Debug, Clone)]
struct Row {
    customer: usize,
    day: i32,
    cents: i64,
    order: Option<u8>,
    /// Unknown quantity, channel, category or region on some lines (the loader
    /// stores such a column only from its first known value on).
    quantity: Option<u8>,
    channel: Option<usize>,
    category: Option<usize>,
    region: Option<usize>,
    cancelled: bool,
}

// Short ids are keyed inline by the loader, ids over 15 bytes through a byte arena:
// both kinds, so both paths meet in one partition or another.
const IDS: [&str; 6] = ["a", "b", "c", "4711", "customer-0000000000000001", "customer-0000000000000002"];
const CHANNELS: [&str; 3] = ["app", "online", "store"];
const CATEGORIES: [&str; 4] = ["x", "y", "z", "w"];
const ORDERS: [&str; 8] = ["o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7"];

fn row(day_range: std::ops::Range<i32>) -> impl Strategy<Value = Row> {
    let some = |p| proptest::option::weighted(p, 0..3usize);
    (
        (0..IDS.len(), day_range, -500i64..5_000, proptest::option::of(0u8..8)),
        (proptest::option::weighted(0.8, 1u8..4), some(0.8), proptest::option::weighted(0.8, 0..4usize), some(0.9), proptest::bool::weighted(0.05)),
    )
        .prop_map(|((customer, day, cents, order), (quantity, channel, category, region, cancelled))| Row {
            customer,
            day,
            cents,
            order,
            quantity,
            channel,
            category,
            region,
            cancelled,
        })
}

fn to_line(r: &Row) -> Line<'static> {
    Line {
        customer: IDS[r.customer],
        day: r.day,
        amount: r.cents as f64 / 100.0,
        quantity: r.quantity.map(f64::from),
        // Order ids are per customer in real data; prefixing keeps them so.
        order: r.order.map(|o| ORDERS[usize::from(o)]),
        channel: r.channel.map(|c| CHANNELS[c]),
        category: r.category.map(|c| CATEGORIES[c]),
        region: r.region.map(|c| ["n", "s", "e"][c]),
        cancelled: r.cancelled,
    }
}

fn history(rows: &[Row], orders: bool) -> Option<History> {
    History::from_lines(rows.iter().map(to_line), orders, &LoadOptions::default()).ok().map(|(h, _)| h)
}

/// Feature rows keyed by customer id, at cutoff `t`, for customers with history before `t`.
fn features_by_id(h: &History, schema: &FeatureSchema, t: i32) -> Vec<(String, Vec<u64>)> {
    let custs: Vec<usize> = (0..h.num_customers()).filter(|&c| h.last_purchase_before(c, t).is_some()).collect();
    let m = build_features(h, schema, t, &custs).unwrap();
    custs
        .iter()
        .enumerate()
        .map(|(i, &c)| (h.customer_ids()[c].clone(), m.x.row(i).iter().map(|v| v.to_bits()).collect()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Adding any purchases (or returns) on or after T changes no feature, no
    /// vocabulary and no lapse decision at T.
    #[test]
    fn no_leakage(before in proptest::collection::vec(row(0..100), 1..60),
                  after in proptest::collection::vec(row(100..160), 1..40),
                  orders in proptest::bool::ANY) {
        let t = 100;
        let Some(h1) = history(&before, orders) else { return Ok(()) };
        if (0..h1.num_customers()).all(|c| h1.last_purchase_before(c, t).is_none()) {
            return Ok(());
        }
        // Order ids must not join a line after T to an order before T (a real order has one date).
        let after: Vec<Row> = after.into_iter().map(|mut r| { r.order = None; r }).collect();
        let mut all = before.clone();
        all.extend(after);
        let h2 = history(&all, orders).unwrap();
        // Loaded for the cutoff (`only_before`), the rows on or after it are counted
        // and left out: the very history of the rows before it (but for which
        // columns the lines have at all, which follows every line given).
        let (h3, r3) = History::from_lines(all.iter().map(to_line), orders, &LoadOptions { only_before: Some(t), ..Default::default() }).unwrap();
        let lines_only = |h: &History| {
            let s = format!("{h:?}");
            let at = s.find("present: Present {").unwrap();
            let end = at + s[at..].find('}').unwrap();
            format!("{}{}", &s[..at], &s[end + 1..])
        };
        prop_assert_eq!(lines_only(&h1), lines_only(&h3));
        prop_assert_eq!(h3.present(), h2.present());
        prop_assert_eq!((r3.count(SkipReason::AfterCutoff), r3.rows_read), ((all.len() - before.len()) as u64, all.len() as u64));
        let opts = FeatureOptions::default();
        let s1 = FeatureSchema::learn(&h1, t, &opts).unwrap();
        let s2 = FeatureSchema::learn(&h2, t, &opts).unwrap();
        prop_assert_eq!(&s1, &s2);
        prop_assert_eq!(features_by_id(&h1, &s1, t), features_by_id(&h2, &s2, t));
        let rule = LapseRule::Fixed { days: 10 };
        let ids = |h: &History| rule.resolve(h, t).unwrap().lapsed.iter().map(|&c| h.customer_ids()[c].clone()).collect::<Vec<_>>();
        prop_assert_eq!(ids(&h1), ids(&h2));
        // Group profiles of the lapsed list (groups by customer id) see nothing on or after T either.
        let prof = |h: &History| {
            let lapsed = rule.resolve(h, t).unwrap().lapsed;
            let groups: Vec<usize> = lapsed.iter().map(|&c| 1 + usize::from(h.customer_ids()[c].as_str() > "c")).collect();
            winback_core::profile::profiles(h, t, &lapsed, &groups, 2)
        };
        prop_assert_eq!(prof(&h1), prof(&h2));
        if let (Ok(l1), Ok(l2)) = (LapseRule::FromHistory { quantile: 0.8 }.resolve(&h1, t), LapseRule::FromHistory { quantile: 0.8 }.resolve(&h2, t)) {
            prop_assert_eq!(l1.threshold_days, l2.threshold_days);
        }
    }

    /// Shuffled input rows give a bit-identical history and features.
    #[test]
    fn row_order_does_not_matter(rows in proptest::collection::vec(row(0..100), 1..80),
                                 seed in any::<u64>(), orders in proptest::bool::ANY) {
        let t = 90;
        let Some(h1) = history(&rows, orders) else { return Ok(()) };
        if (0..h1.num_customers()).all(|c| h1.last_purchase_before(c, t).is_none()) {
            return Ok(());
        }
        let mut shuffled = rows.clone();
        // Fisher-Yates with a small LCG.
        let mut s = seed | 1;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let h2 = history(&shuffled, orders).unwrap();
        // Every column of the history (Debug prints each f64 exactly, -0.0 included).
        prop_assert_eq!(format!("{h1:?}"), format!("{h2:?}"));
        let opts = FeatureOptions::default();
        let s1 = FeatureSchema::learn(&h1, t, &opts).unwrap();
        let s2 = FeatureSchema::learn(&h2, t, &opts).unwrap();
        prop_assert_eq!(&s1, &s2);
        prop_assert_eq!(features_by_id(&h1, &s1, t), features_by_id(&h2, &s2, t));
    }
}

#[test]
fn same_result_with_one_or_many_threads() {
    let s = winback_core::synthetic::Synthetic::new(winback_core::synthetic::SyntheticConfig { customers: 3_000, ..Default::default() });
    let (h, _) = s.history().unwrap();
    let t = s.config().start + 600;
    let run = || {
        let lapse = LapseRule::FromHistory { quantile: 0.9 }.resolve(&h, t).unwrap();
        let schema = FeatureSchema::learn(&h, t, &FeatureOptions::default()).unwrap();
        let m = build_features(&h, &schema, t, &lapse.lapsed).unwrap();
        (lapse, m.x.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
    };
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
    let four = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap().install(run);
    assert_eq!(one, four);
    assert!(!one.0.lapsed.is_empty());
}
