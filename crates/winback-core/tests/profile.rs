//! Group profiles on a hand-made history, every number computed by hand.
#![allow(clippy::unwrap_used, clippy::panic)]

use winback_core::profile::{profiles, Profiles};
use winback_core::{History, Line};

fn line<'a>(customer: &'a str, day: i32, amount: f64, channel: &'a str, category: &'a str, region: &'a str) -> Line<'a> {
    Line { customer, day, amount, channel: Some(channel), category: Some(category), region: Some(region), ..Default::default() }
}

fn lines(extra: bool) -> Vec<Line<'static>> {
    let mut v = vec![
        line("a", 10, 30.0, "app", "bakery", "N"),
        line("a", 70, 20.0, "app", "dairy", "N"),
        line("b", 40, 10.0, "store", "bakery", "S"),
        line("c", 20, 40.0, "app", "meat", "N"),
        line("c", 50, 10.0, "app", "meat", "N"),
        line("c", 90, 20.0, "store", "meat", "N"),
        line("d", 95, 5.0, "store", "dairy", "S"),
    ];
    if extra {
        // On and after the scoring date: must change nothing.
        v.push(line("a", 100, 999.0, "store", "toys", "S"));
        v.push(line("d", 120, 999.0, "app", "toys", "N"));
    }
    v
}

fn run(extra: bool) -> Profiles {
    let (h, _) = History::from_lines(lines(extra), false, &Default::default()).unwrap();
    let ids = ["a", "b", "c", "d"].map(|c| h.customer_index(c).unwrap());
    // Group 1 = a, c; group 2 = b, d.
    profiles(&h, 100, &ids, &[1, 2, 1, 2], 2)
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} vs {b}");
}

#[test]
fn every_number_by_hand() {
    let p = run(false);
    let (all, g1, g2) = (&p.all, &p.groups[0].profile, &p.groups[1].profile);
    assert_eq!((all.size, g1.size, g2.size), (4, 2, 2));
    close(g1.share, 0.5);
    // Recency 30, 60, 10, 5: sorted 5, 10, 30, 60 (numpy's linear quantiles).
    close(all.recency_days.median, 20.0);
    close(all.recency_days.q25, 8.75);
    close(all.recency_days.q75, 37.5);
    // Group 1: a (30 days, 2 purchases, 50.00) and c (10 days, 3 purchases, 70.00).
    close(g1.recency_days.q25, 15.0);
    close(g1.recency_days.median, 20.0);
    close(g1.purchases.median, 2.5);
    close(g1.tenure_days.median, 85.0); // 90 and 80
    close(g1.spend_total.median, 60.0);
    close(g1.spend_per_purchase.median, (25.0 + 70.0 / 3.0) / 2.0);
    close(g1.one_time_share, 0.0);
    close(g2.one_time_share, 1.0);
    close(all.one_time_share, 0.5);
    // Main channel: group 1 all app (lift 1.0 / 0.5 = 2), group 2 all store.
    let ch = g1.suggested_channel.as_ref().unwrap();
    assert_eq!((ch.channel.as_str(), ch.share), ("app", 1.0));
    assert_eq!(g1.main_channel[0].level, "app");
    close(g1.main_channel[0].lift, 2.0);
    assert_eq!(g1.main_channel[0].customers, 2);
    assert_eq!(g2.suggested_channel.as_ref().unwrap().channel, "store");
    // First channel: a app, c app; b store, d store.
    assert_eq!(g1.first_channel[0].level, "app");
    // Categories by value: group 1 meat 70, bakery 30, dairy 20 of 120;
    // the list: meat 70, bakery 40, dairy 25 of 135.
    let c = &g1.top_categories;
    assert_eq!(c.iter().map(|x| x.category.as_str()).collect::<Vec<_>>(), ["meat", "bakery", "dairy"]);
    close(c[0].share, 70.0 / 120.0);
    close(c[0].lift, (70.0 / 120.0) / (70.0 / 135.0));
    assert_eq!(c[0].customers, 1);
    close(c[1].lift, (30.0 / 120.0) / (40.0 / 135.0));
    let c2 = &g2.top_categories;
    close(c2[0].share, 10.0 / 15.0);
    close(c2[0].lift, (10.0 / 15.0) / (40.0 / 135.0));
    // Regions: group 1 all N (lift 2).
    assert_eq!(g1.main_regions[0].level, "N");
    close(g1.main_regions[0].lift, 2.0);
    // ABC on net spend c 70, a 50, b 10, d 5 of 135: c, a → A (share before 0, 0.52);
    // b → B (0.89); d → C (0.96).
    assert_eq!(g1.abc_class.len(), 1);
    assert_eq!(g1.abc_class[0].level, "A");
    close(g1.abc_class[0].lift, 2.0);
    assert_eq!(g2.abc_class.iter().map(|l| (l.level.as_str(), l.customers)).collect::<Vec<_>>(), [("B", 1), ("C", 1)]);
    // Descriptions: the category and region lifts rest on fewer than 10 customers.
    assert_eq!(g1.description, "mostly app buyers; 0% one-time buyers");
    assert_eq!(g2.description, "mostly store buyers; 100% one-time buyers");
    // JSON names as the issue asks.
    let j = serde_json::to_value(&p).unwrap();
    assert_eq!(j["groups"][0]["group"], 1);
    assert_eq!(j["groups"][0]["size"], 2);
    assert_eq!(j["groups"][0]["recency_days"]["median"], 20.0);
    assert_eq!(j["groups"][0]["suggested_channel"]["channel"], "app");
    assert_eq!(j["groups"][0]["top_categories"][0]["category"], "meat");
    assert!(j["all"]["size"] == 4);
}

#[test]
fn nothing_on_or_after_the_scoring_date_enters() {
    assert_eq!(run(true), run(false));
}

#[test]
fn no_channel_column_means_no_suggested_channel() {
    let v: Vec<Line> = lines(false).into_iter().map(|l| Line { channel: None, ..l }).collect();
    let (h, _) = History::from_lines(v, false, &Default::default()).unwrap();
    let p = profiles(&h, 100, &[0, 1], &[1, 1], 1);
    assert!(p.groups[0].profile.suggested_channel.is_none());
    assert_eq!(serde_json::to_value(&p).unwrap()["groups"][0]["suggested_channel"], serde_json::Value::Null);
}

#[test]
fn attribute_shares_are_among_the_customers_whose_value_is_known() {
    // Only a, b and c are in the attribute table: a and b "x", c "y"; d unknown.
    // Group 1 (a, c): x 1 of 2 known, y 1 of 2; the list: x 2 of 3, y 1 of 3.
    // Before, shares were of all customers and every level looked over-represented
    // wherever the table covered more of a group than of the list.
    use winback_core::attributes::{AttrColumn, AttrValues, Attributes};
    let (h, _) = History::from_lines(lines(false), false, &Default::default()).unwrap();
    let a = Attributes::from_columns(
        vec!["a".into(), "b".into(), "c".into()],
        vec![AttrColumn { name: "seg".into(), values: AttrValues::Categorical { levels: vec!["x".into(), "y".into()], codes: vec![0, 0, 1] } }],
    )
    .unwrap();
    let h = h.with_attributes(a);
    let ids = ["a", "b", "c", "d"].map(|c| h.customer_index(c).unwrap());
    let p = profiles(&h, 100, &ids, &[1, 2, 1, 2], 2);
    let g1 = &p.groups[0].profile.attributes["seg"];
    let x = g1.iter().find(|l| l.level == "x").unwrap();
    let y = g1.iter().find(|l| l.level == "y").unwrap();
    close(x.share, 0.5);
    close(x.lift, 0.5 / (2.0 / 3.0));
    close(y.share, 0.5);
    close(y.lift, 0.5 / (1.0 / 3.0));
    // Group 2 (b known "x", d unknown): x is all of the known.
    let g2 = &p.groups[1].profile.attributes["seg"];
    close(g2[0].share, 1.0);
    assert_eq!(g2[0].customers, 1);
}
