//! Feedback after a wave: outcomes are recorded once, contacts never exceed what
//! is left of a group across waves, and a failed step leaves the model as it was.
#![allow(clippy::unwrap_used, clippy::panic)]

use winback::core::lapse::LapseRule;
use winback::core::synthetic::{Synthetic, SyntheticConfig};
use winback::rank::{Objective, PlanParams};
use winback::{read_outcomes, read_outcomes_with, Config, Error, WinbackModel};

fn fitted() -> (winback::core::History, i32, WinbackModel) {
    let s = Synthetic::new(SyntheticConfig { customers: 3_000, seed: 9, ..Default::default() });
    let h = s.history().unwrap().0;
    let at = s.config().start + 600;
    let m = WinbackModel::fit(&h, at, &Config { lapse: LapseRule::Fixed { days: 45 }, ..Default::default() }).unwrap();
    (h, at, m)
}

#[test]
fn the_same_outcomes_are_recorded_once() {
    // Issue 9, 2.4: applying the same file twice updated the model twice.
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let size1 = s.customers.iter().filter(|c| c.group == 1).count() as u64;
    let csv = format!("group,contacted,came_back\n1,{},{}\n", size1 / 2, size1 / 10);
    let wave = read_outcomes(csv.as_bytes(), "wave1.csv").unwrap();
    let p0 = m.segmentation.groups[0].probability;
    let fb = m.feedback(&s, &wave, &PlanParams::default()).unwrap();
    assert_eq!(fb.wave, 1);
    let p1 = m.segmentation.groups[0].probability;
    assert_ne!(p0, p1);
    // Group 1 has half of its customers left, and they are the ones not contacted.
    let left1 = fb.left.iter().find(|c| c.group == 1).unwrap().size as u64;
    assert_eq!(left1, size1 - size1 / 2);
    assert_eq!(fb.contacts.iter().filter(|c| c.group == 1).count() as u64, left1);
    // The same content (another file name, rows in another order) is refused, and the model is unchanged.
    let again = read_outcomes(csv.as_bytes(), "copy-of-wave1.csv").unwrap();
    let before = m.clone();
    let e = m.feedback(&s, &again, &PlanParams::default()).unwrap_err();
    assert!(matches!(e, Error::WaveAlreadyRecorded { wave: 1, .. }), "{e}");
    assert_eq!(e.to_string(), "copy-of-wave1.csv: these outcomes were already recorded into the model (wave 1); a wave is recorded once");
    assert_eq!(m, before);
    // The waves survive a save and load.
    let back = WinbackModel::from_json(&m.to_json().unwrap(), "m.json").unwrap();
    assert_eq!(back.waves, m.waves);
    let e = back.clone().feedback(&s, &again, &PlanParams::default()).unwrap_err();
    assert!(matches!(e, Error::WaveAlreadyRecorded { .. }));
}

#[test]
fn contacts_never_exceed_what_is_left_across_waves() {
    // Issue 9, 2.4: by the third run, 300 contacted from a group of 113 were accepted.
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let n = s.customers.iter().filter(|c| c.group == 2).count() as u64;
    let first = read_outcomes(format!("group,contacted,came_back\n2,{},1\n", n - 3).as_bytes(), "w1.csv").unwrap();
    m.feedback(&s, &first, &PlanParams::default()).unwrap();
    let second = read_outcomes("group,contacted,came_back\n2,4,0\n".as_bytes(), "w2.csv").unwrap();
    let e = m.feedback(&s, &second, &PlanParams::default()).unwrap_err();
    assert_eq!(e.to_string(), "w2.csv: group 2: 4 contacted, but only 3 of its customers are left after the recorded waves");
    let third = read_outcomes("group,contacted,came_back\n2,3,0\n".as_bytes(), "w3.csv").unwrap();
    let fb = m.feedback(&s, &third, &PlanParams::default()).unwrap();
    assert!(fb.left.iter().all(|c| c.group != 2), "group 2 is used up");
    assert!(fb.contacts.iter().all(|c| c.group != 2));
}

#[test]
fn a_customer_is_contacted_in_one_wave_only() {
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let ids: Vec<&str> = s.customers.iter().take(3).map(|c| c.customer_id.as_str()).collect();
    let csv1 = format!("customer_id,contacted,came_back\n{},1,1\n{},1,0\n", ids[0], ids[1]);
    let w1 = read_outcomes_with(csv1.as_bytes(), "w1.csv", Some(&s)).unwrap();
    assert_eq!(w1.contacted.len(), 2);
    let fb = m.feedback(&s, &w1, &PlanParams::default()).unwrap();
    assert!(fb.contacts.iter().all(|c| c.customer != ids[0] && c.customer != ids[1]));
    assert_eq!(fb.contacts.len(), s.customers.len() - 2);
    let csv2 = format!("customer_id,contacted,came_back\n{},yes,no\n{},1,0\n", ids[2], ids[1]);
    let w2 = read_outcomes_with(csv2.as_bytes(), "w2.csv", Some(&s)).unwrap();
    let e = m.feedback(&s, &w2, &PlanParams::default()).unwrap_err();
    assert_eq!(e.to_string(), format!("w2.csv: customer {:?} was already contacted in wave 1", ids[1]));
}

#[test]
fn a_bad_plan_flag_leaves_the_model_unchanged() {
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let wave = read_outcomes("group,contacted,came_back\n1,5,1\n".as_bytes(), "w.csv").unwrap();
    let before = m.clone();
    let bad = PlanParams { objective: Objective::Roi, ..Default::default() };
    assert!(matches!(m.feedback(&s, &wave, &bad), Err(Error::Rank(winback::rank::Error::RoiWithoutCost))));
    assert_eq!(m, before);
    // Corrected, the wave is recorded once.
    m.feedback(&s, &wave, &PlanParams::default()).unwrap();
    assert_eq!(m.waves.len(), 1);
}

#[test]
fn outcome_files_name_file_line_column_and_value() {
    let e = read_outcomes("group,contacted,came_back\n1,10,2\n1,5,1\n".as_bytes(), "w.csv").unwrap_err();
    assert_eq!(e.to_string(), "w.csv, line 3, column `group`: group listed twice (value \"1\")");
    let e = read_outcomes("group,contacted,came_back\n1,10,12\n".as_bytes(), "w.csv").unwrap_err();
    assert_eq!(e.to_string(), "w.csv, line 2, column `came_back`: more came back than were contacted (value \"12\")");
    let e = read_outcomes("grp,contacted,came_back\n".as_bytes(), "w.csv").unwrap_err();
    assert_eq!(e.to_string(), "w.csv, line 1, column `group`: missing column (value \"grp,contacted,came_back\")");
}

/// Issue 12, items 2–3: a wave with a control group. The contact list of a plan
/// with a holdout becomes the outcome file (`customer_id,arm,came_back`); the
/// effect per group counts both arms; the incremental objective plans on it; the
/// campaign summary adds each wave up; the same outcomes are refused twice.
#[test]
fn a_wave_with_a_control_group_measures_the_effect_of_contact() {
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let params = PlanParams { control_share: 0.3, ..Default::default() };
    let (_, list) = m.plan(&s, &params).unwrap();
    let controls = list.iter().filter(|r| r.arm == winback::rank::Arm::Control).count();
    assert!(controls > 100, "{controls} control customers");
    // Outcomes: contacted customers come back one in three (by position), control one in six.
    let mut csv = String::from("customer_id,arm,came_back\n");
    let mut want: std::collections::BTreeMap<usize, [u64; 4]> = std::collections::BTreeMap::new();
    for (i, r) in list.iter().enumerate() {
        let control = r.arm == winback::rank::Arm::Control;
        let back = if control { i % 6 == 0 } else { i % 3 == 0 };
        csv.push_str(&format!("{},{},{}\n", r.customer, r.arm.name(), u8::from(back)));
        let w = want.entry(r.group).or_default();
        let k = if control { 2 } else { 0 };
        w[k] += 1;
        w[k + 1] += u64::from(back);
    }
    let wave = read_outcomes_with(csv.as_bytes(), "wave1.csv", Some(&s)).unwrap();
    assert_eq!(wave.contacted.len(), list.len() - controls);
    let fb = m.feedback(&s, &wave, &PlanParams { objective: Objective::Incremental, ..Default::default() }).unwrap();
    assert_eq!(fb.effects.len(), want.len());
    for e in &fb.effects {
        assert_eq!([e.contacted, e.contacted_came_back, e.control, e.control_came_back], want[&e.group], "group {}", e.group);
        let (a, b) = ((e.contacted_came_back + 1) as f64 / (e.contacted + 2) as f64, (e.control_came_back + 1) as f64 / (e.control + 2) as f64);
        assert!((e.effect - (a - b)).abs() < 1e-12 && e.effect_low < e.effect && e.effect < e.effect_high);
    }
    // The incremental plan leaves out the groups never held out and those whose effect lies below 0.
    for k in &fb.plan.skipped {
        if k.reason == winback::rank::StopReason::NoMeasurableEffect {
            assert!(fb.effects.iter().find(|e| e.group == k.group).is_none_or(|e| e.effect_high < 0.0), "{k:?}");
        }
    }
    for step in &fb.plan.steps {
        assert!(fb.effects.iter().any(|e| e.group == step.group && e.effect_high >= 0.0));
    }
    // The campaign: one wave, both arms added up, win-backs caused = contacts × effect.
    let waves = m.campaign().unwrap();
    assert_eq!(waves.len(), 1);
    let w = &waves[0];
    let total = |k: usize| want.values().map(|v| v[k]).sum::<u64>();
    assert_eq!([w.contacted, w.contacted_came_back, w.control, w.control_came_back], [total(0), total(1), total(2), total(3)]);
    let (e, lo, hi) = w.effect.unwrap();
    let (n, nlo, nhi) = w.incremental_winbacks.unwrap();
    assert!((n - e * w.contacted as f64).abs() < 1e-9 && nlo < n && n < nhi && lo < e && e < hi);
    assert!((w.cost_per_incremental(2.0).unwrap() - 2.0 * w.contacted as f64 / n).abs() < 1e-9);
    // Recorded once; the control arm survives a save and load.
    let again = read_outcomes_with(csv.as_bytes(), "again.csv", Some(&s)).unwrap();
    assert!(matches!(m.clone().feedback(&s, &again, &PlanParams::default()), Err(Error::WaveAlreadyRecorded { .. })));
    let back = WinbackModel::from_json(&m.to_json().unwrap(), "m.json").unwrap();
    assert_eq!(back.effects().unwrap(), m.effects().unwrap());
    // One wave: its own effects are the pooled ones; there is no second wave.
    assert_eq!(m.wave_effects(1).unwrap(), Some(m.effects().unwrap()));
    assert_eq!(m.wave_effects(2).unwrap(), None);
}

#[test]
fn per_group_outcomes_with_arms_and_old_files_keep_their_fingerprint() {
    let csv = "group,arm,contacted,came_back\n1,contact,100,30\n1,control,50,10\n2,contact,200,20\n";
    let w = read_outcomes(csv.as_bytes(), "w.csv").unwrap();
    assert_eq!(w.outcomes.iter().map(|o| (o.group, o.contacted, o.came_back)).collect::<Vec<_>>(), vec![(1, 100, 30), (2, 200, 20)]);
    assert_eq!(w.control.iter().map(|o| (o.group, o.contacted, o.came_back)).collect::<Vec<_>>(), vec![(1, 50, 10)]);
    let e = read_outcomes("group,arm,contacted,came_back\n1,test,1,0\n".as_bytes(), "w.csv").unwrap_err();
    assert_eq!(e.to_string(), "w.csv, line 2, column `arm`: not `contact` or `control` (value \"test\")");
    // A file without arms has the fingerprint it had before arms existed: FNV-1a of
    // "group\n" + "key␟contacted␟came_back\n" per row, rows sorted.
    let old = read_outcomes("group,contacted,came_back\n2,80,3\n1,100,12\n".as_bytes(), "old.csv").unwrap();
    let canon = "group\n1\u{1f}100\u{1f}12\n2\u{1f}80\u{1f}3\n";
    let fnv = canon.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    assert_eq!(old.fingerprint, format!("{fnv:016x}"));
    assert!(old.control.is_empty());
    // The same counts written with an all-`contact` arm column are the same outcomes.
    let armed = read_outcomes("group,arm,contacted,came_back\n1,contact,100,12\n2,contact,80,3\n".as_bytes(), "armed.csv").unwrap();
    assert_eq!(armed.fingerprint, old.fingerprint);
    // Per customer, `arm` and `contacted` together are ambiguous.
    let e = read_outcomes("customer_id,arm,contacted,came_back\na,contact,0,0\n".as_bytes(), "w.csv").unwrap_err();
    assert!(e.to_string().contains("take no `contacted` column"), "{e}");
}

#[test]
fn outcomes_where_nobody_was_contacted_or_of_an_unknown_group_are_refused() {
    // A header-only file (or every count 0) was recorded as an empty wave.
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let before = m.clone();
    let controls_only = "group,arm,contacted,came_back\n1,control,30,5\n";
    for (csv, file) in [("group,contacted,came_back\n", "empty.csv"), ("group,contacted,came_back\n1,0,0\n2,0,0\n", "zeros.csv"), (controls_only, "controls.csv")] {
        let wave = read_outcomes(csv.as_bytes(), file).unwrap();
        let e = m.feedback(&s, &wave, &PlanParams::default()).unwrap_err();
        assert!(matches!(e, Error::EmptyWave { .. }), "{e}");
        assert_eq!(e.to_string(), format!("{file}: nobody was contacted in these outcomes (no row, every `contacted` is 0, or a control arm only): there is no wave to record"));
        assert!(!e.is_parameter());
    }
    let groups = m.segmentation.groups.len();
    let wave = read_outcomes(format!("group,contacted,came_back\n{},10,1\n", groups + 1).as_bytes(), "w.csv").unwrap();
    let e = m.feedback(&s, &wave, &PlanParams::default()).unwrap_err();
    assert_eq!(e.to_string(), format!("w.csv: group {} is not a group of the model (it has groups 1 to {groups})", groups + 1));
    assert_eq!(m, before);
    assert!(m.waves.is_empty());
}

#[test]
fn plan_lists_only_the_customers_the_recorded_waves_left() {
    // `plan` on a model with recorded waves listed the contacted customers again.
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let (_, all) = m.plan(&s, &PlanParams::default()).unwrap();
    assert_eq!(all.len(), s.customers.len());
    // A per-group wave takes the first 10 of group 1 by priority, a per-customer wave 2 others.
    let first10: Vec<String> = all.iter().filter(|c| c.group == 1).take(10).map(|c| c.customer.clone()).collect();
    m.feedback(&s, &read_outcomes("group,contacted,came_back\n1,10,3\n".as_bytes(), "w1.csv").unwrap(), &PlanParams::default()).unwrap();
    let (_, after) = m.plan(&s, &PlanParams::default()).unwrap();
    assert_eq!(after.len(), s.customers.len() - 10);
    assert!(after.iter().all(|c| !first10.contains(&c.customer)));
    // Those 10 cannot be recorded again one by one.
    let csv = format!("customer_id,contacted,came_back\n{},1,0\n", first10[3]);
    let e = m.feedback(&s, &read_outcomes_with(csv.as_bytes(), "w2.csv", Some(&s)).unwrap(), &PlanParams::default()).unwrap_err();
    assert_eq!(e.to_string(), format!("w2.csv: customer {:?} was already contacted in wave 1", first10[3]));
    let two: Vec<String> = after.iter().filter(|c| c.group == 2).take(2).map(|c| c.customer.clone()).collect();
    let csv = format!("customer_id,contacted,came_back\n{},1,0\n{},1,1\n", two[0], two[1]);
    m.feedback(&s, &read_outcomes_with(csv.as_bytes(), "w3.csv", Some(&s)).unwrap(), &PlanParams::default()).unwrap();
    let (p, last) = m.plan(&s, &PlanParams::default()).unwrap();
    assert_eq!(last.len(), s.customers.len() - 12);
    assert!(last.iter().all(|c| !first10.contains(&c.customer) && !two.contains(&c.customer)));
    let size = |g: usize| p.steps.iter().find(|st| st.group == g).map(|st| st.size).unwrap();
    assert_eq!(size(1), s.customers.iter().filter(|c| c.group == 1).count() - 10);
    assert_eq!(size(2), s.customers.iter().filter(|c| c.group == 2).count() - 2);
}

#[test]
fn counts_that_would_overflow_are_refused() {
    // 1 + (2^64 - 1) wrapped to 0 and passed the "more than are left" check.
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let csv = format!("group,arm,contacted,came_back\n1,contact,1,1\n1,control,{},0\n", u64::MAX);
    let e = m.feedback(&s, &read_outcomes(csv.as_bytes(), "ovf.csv").unwrap(), &PlanParams::default()).unwrap_err();
    assert!(matches!(e, Error::ContactsExceedGroup { contacted: u64::MAX, .. }), "{e}");
    assert!(m.waves.is_empty());
}

#[test]
fn with_a_control_share_every_customer_is_contacted_listed_as_control_or_not_contacted() {
    // Would-be controls of groups not contacted appeared nowhere (150 + 42 + 892 of 1,297).
    let (h, at, m) = fitted();
    let s = m.score(&h, at).unwrap();
    for budget in [None, Some(301.0), Some(1.0)] {
        let params = PlanParams { cost_per_contact: 1.0, budget, control_share: 0.2, ..PlanParams::default() };
        let (p, list) = m.plan(&s, &params).unwrap();
        let controls = list.iter().filter(|r| r.arm == winback::rank::Arm::Control).count();
        let not_contacted: usize = p.skipped.iter().map(|k| k.customers).sum();
        assert_eq!(p.contacts + controls + not_contacted, s.customers.len(), "budget {budget:?}");
        assert_eq!(list.len() - controls, p.contacts);
    }
}

#[test]
fn a_per_group_wave_with_a_control_arm_takes_its_whole_block() {
    // The first `contacted` customers of the group were marked as taken, but the list
    // had controls mixed in among them: contacted customers came back in the next plan.
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let params = PlanParams { cost_per_contact: 1.0, budget: Some(150.0), control_share: 0.2, ..PlanParams::default() };
    let (_, list) = m.plan(&s, &params).unwrap();
    let first = list[0].group;
    let contacted: Vec<String> = list.iter().filter(|r| r.group == first && r.arm == winback::rank::Arm::Contact).map(|r| r.customer.clone()).collect();
    let held = list.iter().filter(|r| r.group == first && r.arm == winback::rank::Arm::Control).count();
    assert!(!contacted.is_empty() && held > 0);
    let csv = format!("group,arm,contacted,came_back\n{first},contact,{},1\n{first},control,{held},0\n", contacted.len());
    // The re-plan of feedback, with a control share again: every customer accounted for once.
    let fb = m.feedback(&s, &read_outcomes(csv.as_bytes(), "w.csv").unwrap(), &params).unwrap();
    let controls = fb.contacts.iter().filter(|r| r.arm == winback::rank::Arm::Control).count();
    let not_contacted: usize = fb.plan.skipped.iter().map(|k| k.customers).sum();
    assert_eq!(fb.plan.contacts, fb.contacts.len() - controls);
    assert_eq!(fb.plan.contacts + controls + not_contacted, s.customers.len() - contacted.len() - held);
    for (p, rows) in [(None, fb.contacts.clone()), (Some(()), m.plan(&s, &PlanParams::default()).unwrap().1)] {
        assert!(rows.iter().all(|r| !contacted.contains(&r.customer)), "{p:?}: a contacted customer is listed again");
    }
}

#[test]
fn a_per_group_wave_read_at_another_date_warns() {
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    m.feedback(&s, &read_outcomes("group,contacted,came_back\n1,5,1\n".as_bytes(), "w.csv").unwrap(), &PlanParams::default()).unwrap();
    assert!(m.score(&h, at).unwrap().warnings.iter().all(|w| !w.contains("counts per group")));
    let later = m.score(&h, at + 7).unwrap();
    assert!(later.warnings.iter().any(|w| w.starts_with("wave 1 (counts per group) was recorded at ")), "{:?}", later.warnings);
}

/// Outcome files from Windows (`\r\n`) or old Macs (`\r`) name the right line.
#[test]
fn outcome_errors_name_the_line_whatever_the_line_ends() {
    for eol in ["\n", "\r\n", "\r"] {
        let csv = format!("group,contacted,came_back{eol}1,10,2{eol}2,ten,1{eol}");
        let e = read_outcomes(csv.as_bytes(), "w.csv").unwrap_err().to_string();
        assert!(e.starts_with("w.csv, line 3"), "{eol:?}: {e}");
        let ok = read_outcomes(format!("group,contacted,came_back{eol}1,10,2{eol}2,8,1{eol}").as_bytes(), "w.csv").unwrap();
        assert_eq!(ok.fingerprint, read_outcomes("group,contacted,came_back\n1,10,2\n2,8,1\n".as_bytes(), "w.csv").unwrap().fingerprint, "{eol:?}");
    }
}

/// A wave that leaves nobody to plan is recorded, with an empty re-plan: the
/// re-plan's "no candidate groups" error used to lose the whole wave. (A first
/// wave with controls leaves them; a second wave contacting them leaves nobody.)
#[test]
fn a_wave_that_leaves_nobody_to_plan_is_still_recorded() {
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let params = PlanParams { control_share: 0.3, ..Default::default() };
    let (_, list) = m.plan(&s, &params).unwrap();
    let csv = arm_outcomes(&list, |i| i % 4 == 0);
    let wave = read_outcomes_with(csv.as_bytes(), "wave1.csv", Some(&s)).unwrap();
    let fb = m.feedback(&s, &wave, &params).unwrap();
    assert_eq!(fb.wave, 1);
    // Only the controls are left; measured once, they are not held out again under
    // the same holdout: the re-plan contacts them all.
    let controls = list.iter().filter(|r| r.arm == winback::rank::Arm::Control).count();
    assert_eq!(fb.plan.contacts, controls);
    assert!(fb.contacts.iter().all(|r| r.arm == winback::rank::Arm::Contact));
    assert_eq!(m.plan(&s, &PlanParams::default()).unwrap().0.contacts, controls);
    assert_eq!(m.waves.len(), 1);
    let mut csv2 = String::from("customer_id,contacted,came_back\n");
    for r in &fb.contacts {
        csv2.push_str(&format!("{},1,0\n", r.customer));
    }
    let fb2 = m.feedback(&s, &read_outcomes_with(csv2.as_bytes(), "wave2.csv", Some(&s)).unwrap(), &params).unwrap();
    assert_eq!((fb2.wave, fb2.plan.contacts, fb2.contacts.len()), (2, 0, 0));
    assert_eq!(m.waves.len(), 2);
}

/// The report verb assembles what the report shows from the facade's own verbs:
/// the same scores, plan, waves with their effects, and the backtest at the cutoffs given.
#[test]
fn report_data_is_the_verbs_it_is_made_of() {
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let params = PlanParams { control_share: 0.3, ..Default::default() };
    let (_, list) = m.plan(&s, &params).unwrap();
    let csv = arm_outcomes(&list[..400.min(list.len())], |i| i % 3 == 0);
    m.feedback(&s, &read_outcomes_with(csv.as_bytes(), "w1.csv", Some(&s)).unwrap(), &params).unwrap();
    let cutoffs = winback::default_cutoffs(&h, at, &m.config, 1);
    let options = winback::ReportOptions { plan: params.clone(), cutoffs: cutoffs.clone(), uplift: None };
    let r = m.report_data(&h, at, &options, &winback::core::progress::Silent).unwrap();
    assert_eq!(r.scores, m.score(&h, at).unwrap());
    assert_eq!(r.plan, m.plan(&r.scores, &params).unwrap().0);
    assert_eq!(r.cutoffs, cutoffs);
    assert_eq!(r.backtest.unwrap().rows.len(), cutoffs.len());
    assert_eq!(r.waves.len(), 1);
    assert_eq!(r.waves[0].0, m.campaign().unwrap()[0]);
    assert_eq!(Some(r.waves[0].1.clone()), m.wave_effects(1).unwrap());
    assert!(!r.waves[0].1.is_empty());
}

/// A per-customer wave's control customers are measured once: later plans list
/// them like anyone not contacted but never hold them out again (the same holdout
/// seed would), a later wave holding one out again is refused, and the ids survive
/// a save and load; a model file whose ids disagree with the counts is refused.
#[test]
fn a_per_customer_waves_controls_are_not_held_out_again() {
    let (h, at, mut m) = fitted();
    let s = m.score(&h, at).unwrap();
    let params = PlanParams { cost_per_contact: 1.0, budget: Some(200.0), control_share: 0.3, ..PlanParams::default() };
    let (_, list) = m.plan(&s, &params).unwrap();
    let mut held: Vec<String> = list.iter().filter(|r| r.arm == winback::rank::Arm::Control).map(|r| r.customer.clone()).collect();
    held.sort();
    assert!(held.len() > 20, "{} controls", held.len());
    let csv = arm_outcomes(&list, |i| i % 5 == 0);
    let wave = read_outcomes_with(csv.as_bytes(), "wave1.csv", Some(&s)).unwrap();
    assert_eq!(wave.held_out, held);
    m.feedback(&s, &wave, &params).unwrap();
    assert_eq!(m.waves[0].held_out, held);
    // The next plan, same holdout: the earlier controls are contacted, none held out again.
    let all = PlanParams { control_share: 0.3, ..PlanParams::default() };
    let (p, rows) = m.plan(&s, &all).unwrap();
    let is_held = |id: &str| held.binary_search(&id.to_string()).is_ok();
    assert!(rows.iter().filter(|r| is_held(&r.customer)).all(|r| r.arm == winback::rank::Arm::Contact));
    assert_eq!(rows.iter().filter(|r| is_held(&r.customer)).count(), held.len(), "every earlier control is listed");
    assert!(rows.iter().any(|r| r.arm == winback::rank::Arm::Control), "others are still held out");
    // Every customer left is contacted, listed as a control, or counted as not contacted.
    let controls = rows.iter().filter(|r| r.arm == winback::rank::Arm::Control).count();
    let not_contacted: usize = p.skipped.iter().map(|k| k.customers).sum();
    assert_eq!(p.contacts + controls + not_contacted, s.customers.len() - wave.contacted.len());
    // A second wave holding one of them out again is refused, naming the customer and the wave.
    let g = s.customers.iter().find(|c| c.customer_id == held[0]).unwrap().group;
    let other = rows.iter().find(|r| r.arm == winback::rank::Arm::Contact && r.group == g).map(|r| r.customer.clone()).unwrap();
    let second = format!("customer_id,arm,came_back\n{},control,0\n{other},contact,1\n", held[0]);
    let w2 = read_outcomes_with(second.as_bytes(), "w2.csv", Some(&s)).unwrap();
    let e = m.clone().feedback(&s, &w2, &PlanParams::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("w2.csv: customer {:?} was already held out as a control in wave 1: a control customer is measured once (plans after that wave never hold them out again)", held[0])
    );
    // The ids survive a save and load; counts that disagree with them, or ids on a wave without contacted ids, are refused.
    let text = m.to_json().unwrap();
    assert_eq!(WinbackModel::from_json(&text, "m.json").unwrap().waves[0].held_out, held);
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["waves"][0]["held_out"].as_array_mut().unwrap().pop();
    let e = WinbackModel::from_json(&v.to_string(), "m.json").unwrap_err().to_string();
    assert!(e.contains("waves[0].held_out") && e.contains(&format!("{} customer ids where the control arm counts {} held out", held.len() - 1, held.len())), "{e}");
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["waves"][0]["contacted"] = serde_json::json!([]);
    for o in v["waves"][0]["outcomes"].as_array_mut().unwrap() {
        o["contacted"] = serde_json::json!(0);
        o["came_back"] = serde_json::json!(0);
    }
    let e = WinbackModel::from_json(&v.to_string(), "m.json").unwrap_err().to_string();
    assert!(e.contains("waves[0].held_out") && e.contains("without contacted ids"), "{e}");
}

/// A per-customer outcome file (`customer_id,arm,came_back`) for contact-list rows;
/// row `i` came back when `back(i)`.
fn arm_outcomes(rows: &[winback::rank::ContactRow], back: impl Fn(usize) -> bool) -> String {
    let mut csv = String::from("customer_id,arm,came_back\n");
    for (i, r) in rows.iter().enumerate() {
        csv.push_str(&format!("{},{},{}\n", r.customer, r.arm.name(), u8::from(back(i))));
    }
    csv
}
