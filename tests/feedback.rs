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
