//! Uplift groups on a real randomized campaign (the Hillstrom e-mail experiment,
//! bundled in two halves) and on hand-made tables: effects of the right sign on
//! customers the fit never saw, rows counted, bad values and tampered files refused.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use winback::core::attributes::Attributes;
use winback::core::read::CsvOptions;
use winback::tree::{MinGroupSize, Segmenter};
use winback::rank::PlanParams;
use winback::uplift::{UpliftModel, UpliftOptions};
use winback::Error;

fn hillstrom(half: &str) -> Attributes {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets").join(format!("hillstrom_{half}.csv.gz"));
    Attributes::read_csv(p, "customer_id", &CsvOptions::default()).unwrap()
}

fn womens_visit() -> UpliftOptions {
    UpliftOptions { exclude: vec!["conversion".into(), "spend".into()], ..UpliftOptions::new("segment", "Womens E-Mail", "No E-Mail", "visit") }
}

#[test]
fn hillstrom_groups_keep_their_sign_on_held_out_customers() {
    let model = UpliftModel::fit(&hillstrom("fit"), &womens_visit()).unwrap();
    let r = &model.report;
    // Every one of the 32,000 rows of the half is used or counted (the men's e-mail arm is left out).
    assert_eq!(r.rows + r.other_arm + r.missing_arm + r.missing_outcome, 32_000);
    assert_eq!((r.contacted, r.control, r.other_arm), (10_673, 10_657, 10_670));
    assert_eq!(r.unused_columns, ["segment", "visit", "conversion", "spend"]);
    assert!(model.tree.groups.len() >= 8, "{:?}", model.tree.note);

    let eval = model.evaluate(&hillstrom("holdout")).unwrap();
    assert_eq!(eval.report.rows, 21_363);
    // Groups whose fitted effect is surely positive are positive on the other half too.
    let sure: Vec<usize> = model.tree.groups.iter().filter(|g| g.effect_low > 0.0).map(|g| g.id).collect();
    assert!(sure.len() >= 2, "{sure:?}");
    for g in &sure {
        let e = &eval.groups[g - 1];
        assert!(e.effect > 0.0, "group {g}: {e:?}");
    }
    // The top half of the groups (by fitted effect) beats the bottom half on the other customers.
    let pooled = |ids: &[usize]| {
        let (mut n1, mut k1, mut n0, mut k0) = (0u64, 0u64, 0u64, 0u64);
        for &g in ids {
            let e = &eval.groups[g - 1];
            (n1, k1, n0, k0) = (n1 + e.contacted, k1 + e.contacted_came_back, n0 + e.control, k0 + e.control_came_back);
        }
        k1 as f64 / n1 as f64 - k0 as f64 / n0 as f64
    };
    let k = model.tree.groups.len();
    let (top, bottom): (Vec<usize>, Vec<usize>) = (1..=k).partition(|&g| g <= k / 2);
    assert!(pooled(&top) > pooled(&bottom) + 0.02, "top {} bottom {}", pooled(&top), pooled(&bottom));
    // Better than a random order, and the e-mail works overall (visits +4.5 points in the data).
    assert!(eval.qini_coefficient > 0.0);
    assert!(eval.uplift_at_30.unwrap() > 0.05);
    assert_eq!(eval.qini.first(), Some(&(0.0, 0.0)));
    assert_eq!(eval.qini.last().map(|p| p.0), Some(1.0));
}

fn table(csv: &str) -> Attributes {
    Attributes::read_csv_from(csv.as_bytes(), "campaign.csv", "id", &CsvOptions::default()).unwrap()
}

/// 2,000 customers: contact moves those with `vip` = 1 by 30 points, nobody else.
fn vip_campaign(reverse: bool) -> String {
    let mut rows: Vec<String> = (0..2000)
        .map(|i| {
            let arm = if i % 2 == 0 { "mail" } else { "none" };
            let vip = (i / 2) % 2;
            let base = (i / 4) % 10 < 2;
            let moved = arm == "mail" && vip == 1 && (i / 4) % 10 >= 2 && (i / 4) % 10 < 5;
            format!("c{i:05},{arm},{},{vip},1", u8::from(base || moved))
        })
        .collect();
    if reverse {
        rows.reverse();
    }
    format!("id,arm,came_back,vip,constant\n{}\n", rows.join("\n"))
}

#[test]
fn effects_by_hand_and_row_order_does_not_matter() {
    let options = UpliftOptions {
        segmenter: Segmenter::params().groups(2).min_group_size(MinGroupSize::Rows(100)),
        ..UpliftOptions::new("arm", "mail", "none", "came_back")
    };
    let model = UpliftModel::fit(&table(&vip_campaign(false)), &options).unwrap();
    assert_eq!(model.tree.groups[0].sentence, "vip");
    assert_eq!(model.tree.groups[1].sentence, "not vip");
    // Non-vips: 20% come back in both arms; vips: 50% contacted vs 20% control.
    let (vip, other) = (&model.tree.groups[0], &model.tree.groups[1]);
    assert_eq!((vip.contacted, vip.contacted_came_back, vip.control, vip.control_came_back), (500, 250, 500, 100));
    assert_eq!((other.contacted, other.contacted_came_back, other.control, other.control_came_back), (500, 100, 500, 100));
    assert!(vip.effect_low > 0.15 && other.effect_low < 0.0 && other.effect_high > 0.0, "{vip:?} {other:?}");
    let reversed = UpliftModel::fit(&table(&vip_campaign(true)), &options).unwrap();
    assert_eq!(reversed, model);
    // Scoring a list without arm or outcome columns.
    let list = table("id,vip,constant\na,1,1\nb,0,1\n");
    let s = model.score(&list).unwrap();
    assert_eq!((s[0].group, s[1].group), (1, 2));
    assert_eq!(s[0].effect, vip.effect);
    // The next wave, planned on the effect: 300 vips and 300 others on the list; with a
    // contact worth 1 and costing 0.1, the vips (+0.3) are contacted, the others
    // (about 0) are not; win-backs are those the contact causes. Row order does not matter.
    let mut rows: Vec<String> = (0..600).map(|i| format!("n{i:03},{},1", u8::from(i % 2 == 0))).collect();
    let plan_of = |rows: &[String]| model.plan(&model.score(&table(&format!("id,vip,constant\n{}\n", rows.join("\n")))).unwrap(), &PlanParams { cost_per_contact: 0.1, value_per_winback: Some(1.0), control_share: 0.2, ..Default::default() }).unwrap();
    let (plan, list) = plan_of(&rows);
    assert_eq!(plan.steps.iter().map(|s| s.group).collect::<Vec<_>>(), vec![1]);
    let control = list.iter().filter(|r| r.arm == winback::rank::Arm::Control).count();
    assert_eq!(plan.contacts + control, 300, "every vip is listed, contacted or held out");
    assert!(control > 30 && control < 90, "{control} held out of 300 at 20%");
    assert!((plan.expected_winbacks - plan.contacts as f64 * vip.effect).abs() < 1e-9);
    assert!(plan.skipped.iter().any(|k| k.group == 2));
    rows.reverse();
    assert_eq!(plan_of(&rows).1, list);
    // A cost without a value per win-back: refused (every group scored 0 − cost and
    // nobody was contacted, with a plan that looked fine).
    let scores = model.score(&table("id,vip,constant
a,1,1
")).unwrap();
    let e = model.plan(&scores, &PlanParams { cost_per_contact: 0.1, ..Default::default() }).unwrap_err();
    assert!(matches!(e, winback::Error::UpliftCostWithoutValue), "{e}");
    // No group with held-out customers in both arms: the uplift model's own advice,
    // not the planner's "record a wave with a control group".
    let mut one_armed = model.clone();
    for g in &mut one_armed.tree.groups {
        g.honest_control = 0;
    }
    let e = one_armed.plan(&scores, &PlanParams::default()).unwrap_err();
    assert!(matches!(e, winback::Error::UpliftNoMeasuredEffect), "{e}");
    assert!(e.is_parameter(), "a usage error (CLI exit 2, Python WinbackParamError), as the planner's was");
    // Only the vips measured, and the one vip on the list held out as a control: the
    // same answer, not the planner's advice.
    let mut vips_only = model.clone();
    vips_only.tree.groups[1].honest_control = 0;
    let params = PlanParams { control_share: 0.5, ..Default::default() };
    let held = (0..1000).map(|i| format!("v{i}")).find(|id| winback::rank::in_control(id, &params)).unwrap();
    let list = vips_only.score(&table(&format!("id,vip,constant\n{held},1,1\nother,0,1\n"))).unwrap();
    let e = vips_only.plan(&list, &params).unwrap_err();
    assert!(matches!(e, winback::Error::UpliftNoMeasuredEffect), "{e}");
    assert!(e.to_string().contains("both arms") && !e.to_string().contains("record a wave"), "{e}");
}

/// A model grown with history features is evaluated on a table that lacks them
/// (they are added from the history); a history that also carries customer
/// attributes named like the table's columns is not a clash: only the columns
/// the model reads and the table lacks are added.
#[test]
fn history_features_are_added_for_evaluation_only_where_the_table_lacks_them() {
    use winback::core::{History, Line, LoadOptions};
    let day = winback::core::date::parse_iso_date("2024-03-01").unwrap();
    let ids: Vec<String> = (0..2000).map(|i| format!("c{i:05}")).collect();
    // Everyone bought once before the campaign, 10 to 109 days before it.
    let lines: Vec<Line> = ids.iter().enumerate().map(|(i, id)| Line { customer: id.as_str(), day: day - 10 - (i % 100) as i32, amount: 5.0, ..Default::default() }).collect();
    let (history, _) = History::from_lines(lines, false, &LoadOptions::default()).unwrap();
    let options = UpliftOptions { at: Some(day), segmenter: Segmenter::params().groups(2).min_group_size(MinGroupSize::Rows(100)), ..UpliftOptions::new("arm", "mail", "none", "came_back") };
    let campaign = table(&vip_campaign(false));
    let (grown, added) = winback::uplift::with_history_features(&campaign, &history, day, &Default::default()).unwrap();
    assert!(added.iter().any(|f| f.name == "recency_days"));
    let model = UpliftModel::fit(&grown, &options).unwrap();
    let want = model.evaluate(&grown).unwrap();
    // The history also holds a `vip` attribute (as a report's --attributes would add).
    let attrs = format!("id,vip\n{}\n", ids.iter().enumerate().map(|(i, id)| format!("{id},{}", (i / 2) % 2)).collect::<Vec<_>>().join("\n"));
    let with_attrs = history.clone().with_attributes(table(&attrs));
    assert!(matches!(winback::uplift::with_history_features(&campaign, &with_attrs, day, &Default::default()), Err(Error::CampaignColumn { column, .. }) if column == "vip"));
    let got = model.evaluate_with_history(&campaign, &with_attrs).unwrap();
    assert_eq!(got.groups, want.groups);
    assert_eq!(got.qini_coefficient, want.qini_coefficient);
}

#[test]
fn rows_are_counted_and_bad_values_refused() {
    let options = UpliftOptions { segmenter: Segmenter::params().groups(2).min_group_size(MinGroupSize::Rows(2)), ..UpliftOptions::new("arm", "mail", "none", "came_back") };
    let mut good = String::from("id,arm,came_back,x\n900,other,1,3\n901,,1,4\n902,mail,,5\n");
    for i in 0..40 {
        good += &format!("{i},{},{},{}\n", if i % 2 == 0 { "mail" } else { "none" }, i % 3 % 2, i % 7);
    }
    let good = good.as_str();
    let m = UpliftModel::fit(&table(good), &options).unwrap();
    let r = &m.report;
    assert_eq!((r.rows, r.contacted, r.control, r.other_arm, r.missing_arm, r.missing_outcome), (40, 20, 20, 1, 1, 1));
    let e = UpliftModel::fit(&table("id,arm,came_back,x\n1,mail,1,1\n2,none,2,2\n"), &options).unwrap_err();
    assert!(matches!(&e, Error::BadCampaignValue { customer, column, value, .. } if customer == "2" && column == "came_back" && value == "2"), "{e}");
    let e = UpliftModel::fit(&table("id,arm,came_back,x\n1,Mail,1,1\n2,none,0,2\n"), &options).unwrap_err();
    assert!(matches!(&e, Error::CampaignColumn { column, message } if column == "arm" && message.contains("\"Mail\"")), "{e}");
    assert!(e.is_parameter());
    let e = UpliftModel::fit(&table(good), &UpliftOptions { outcome_col: "visit".into(), ..options.clone() }).unwrap_err();
    assert!(e.to_string().contains("no such column"), "{e}");
    let e = UpliftModel::fit(&table("id,arm,came_back\n1,mail,1\n2,none,0\n"), &options).unwrap_err();
    assert!(e.to_string().contains("no trait column"), "{e}");
    // A misspelt excluded column would leave an outcome among the traits: refused.
    let e = UpliftModel::fit(&table(good), &UpliftOptions { exclude: vec!["vist".into()], ..options.clone() }).unwrap_err();
    assert!(matches!(&e, Error::CampaignColumn { column, .. } if column == "vist"), "{e}");
    // One row per customer: a repeated id is refused, not silently dropped.
    let e = UpliftModel::fit(&table(&format!("{good}0,none,1,3\n")), &options).unwrap_err();
    assert!(e.to_string().contains("1 repeated and 0 empty customer ids"), "{e}");
}

#[test]
fn a_tampered_uplift_file_is_refused() {
    let options = UpliftOptions {
        segmenter: Segmenter::params().groups(2).min_group_size(MinGroupSize::Rows(100)),
        ..UpliftOptions::new("arm", "mail", "none", "came_back")
    };
    let model = UpliftModel::fit(&table(&vip_campaign(false)), &options).unwrap();
    let json = model.to_json().unwrap();
    assert_eq!(UpliftModel::from_json(&json, "u.json").unwrap(), model);
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        ("/tree/groups/0/effect_low", 5.0.into(), "effect"),
        ("/tree/groups/0/contacted_came_back", 100_000.into(), "contacted_came_back"),
        ("/tree/nodes/0/split", serde_json::json!([0, 0.5, 0, 0]), "nodes[0]"),
        ("/tree/groups/1/id", 1.into(), "groups[1]"),
        ("/format_version", 9.into(), "version 9"),
        ("/tree/contact_posterior", 1.into(), "unknown field"),
        ("/schema/features/0/source", serde_json::json!({"attr_level": ["vip", 7]}), "level 7 is not a kept level"),
        ("/schema/features/0/source", serde_json::json!({"attr_days": "vip"}), "needs the schema's `at`"),
        ("/schema/features/0/source", "recency".into(), "not a trait feature"),
        // Facts that must agree with the counts and the tree (each was accepted and drove a plan).
        ("/tree/groups/0/effect", 0.11.into(), "field `tree.groups[0].effect`: (0.11, "),
        ("/tree/groups/0/contact_rate", 0.9.into(), "field `tree.groups[0].contact_rate`: 0.9 differs from its posterior's mean"),
        ("/tree/groups/0/contact_posterior/alpha", 1e300.into(), "field `tree.groups[0].contact_posterior`"),
        ("/tree/groups/0/share", 1.0.into(), "field `tree.groups[0].share`"),
    ];
    // A sentence is reworded from its rule on load, whatever the file says.
    let mut edited = v.clone();
    edited["tree"]["groups"][0]["sentence"] = "not vip".into();
    assert_eq!(UpliftModel::from_json(&edited.to_string(), "u.json").unwrap(), model);
    for (path, value, want) in cases {
        let saved = v.clone();
        match v.pointer_mut(path) {
            Some(slot) => *slot = value,
            None => {
                v["tree"]["contact_posterior"] = value;
            }
        }
        let e = UpliftModel::from_json(&v.to_string(), "u.json").unwrap_err().to_string();
        assert!(e.contains(want), "{path}: {e}");
        v = saved;
    }
}
