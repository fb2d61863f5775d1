//! A model file is untrusted input: every field is validated on load, a refusal
//! names the field, and whatever is accepted scores inside [0, 1] without a panic.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Value};
use winback::core::lapse::LapseRule;
use winback::core::synthetic::{Synthetic, SyntheticConfig};
use winback::core::History;
use winback::rank::PlanParams;
use winback::{Config, Error, WinbackModel};

struct Fixture {
    history: History,
    at: i32,
    json: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let s = Synthetic::new(SyntheticConfig { customers: 3_000, seed: 5, ..Default::default() });
        let history = s.history().unwrap().0;
        let at = s.config().start + 600;
        let model = WinbackModel::fit(&history, at, &Config { lapse: LapseRule::Fixed { days: 45 }, ..Default::default() }).unwrap();
        Fixture { history, at, json: model.to_json().unwrap() }
    })
}

fn value() -> Value {
    serde_json::from_str(&fixture().json).unwrap()
}

/// The message of loading `v`, which must be refused.
fn refused(v: &Value) -> String {
    match WinbackModel::from_json(&v.to_string(), "m.json") {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_valid_file_round_trips_and_stores_each_fact_once() {
    let v = value();
    let m = WinbackModel::from_json(&fixture().json, "m.json").unwrap();
    assert_eq!(m.to_json().unwrap(), fixture().json);
    // The threshold, the lapse rule and the features are stored once.
    assert!(v.get("lapse_days").is_none());
    assert!(v["lapse"].get("rule").is_none());
    assert!(v["segmentation"].get("features").is_none());
    assert!(v["schema"].get("options").is_none());
    assert_eq!(m.lapse_days, 45);
    assert_eq!(m.segmentation.features, m.schema.features);
}

#[test]
fn empty_windows_are_refused_not_a_panic() {
    // Issue 9, 2.1: `windows: []` made score/plan index out of bounds.
    let mut v = value();
    v["config"]["features"]["windows"] = json!([]);
    let e = refused(&v);
    assert!(e.starts_with("m.json: invalid model file: field `schema.features[9].source`"), "{e}");
}

#[test]
fn probabilities_outside_0_1_are_refused() {
    // Issue 9, 2.2: probability 2.0, -1 or 1e308 was scored as written.
    for bad in [json!(2.0), json!(-1), json!(1e308)] {
        let mut v = value();
        v["segmentation"]["groups"][0]["probability"] = bad.clone();
        let e = refused(&v);
        assert!(e.contains("field `segmentation.groups[0].probability`") && e.contains("not a probability in [0, 1]"), "{bad}: {e}");
    }
}

#[test]
fn each_kind_of_bad_field_is_named() {
    type Tamper = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Tamper, &str)> = vec![
        ("horizon 0", Box::new(|v| v["config"]["horizon_days"] = json!(0)), "field `config.horizon_days`: horizon must be between 1 and 36500 days, got 0"),
        ("horizon -60", Box::new(|v| v["config"]["horizon_days"] = json!(-60)), "field `config.horizon_days`"),
        ("window -5", Box::new(|v| v["config"]["features"]["windows"][0] = json!(-5)), "field `config.features.windows`"),
        ("huge window", Box::new(|v| v["config"]["features"]["windows"][0] = json!(1_000_000_000)), "field `config.features.windows`"),
        ("negative alpha", Box::new(|v| v["segmentation"]["groups"][1]["alpha"] = json!(-3.0)), "field `segmentation.groups[1].alpha`"),
        ("probability edited", Box::new(|v| v["segmentation"]["groups"][0]["probability"] = json!(0.99)), "field `segmentation.groups[0].probability`: 0.99 differs from the posterior mean"),
        ("interval edited", Box::new(|v| v["segmentation"]["groups"][0]["high"] = json!(0.999)), "field `segmentation.groups[0].low`: ["),
        ("alpha edited", Box::new(|v| v["segmentation"]["groups"][0]["alpha"] = json!(1e6)), "field `segmentation.groups[0].probability`"),
        ("regions emptied", Box::new(|v| v["schema"]["regions"] = json!([])), "field `schema.features["),
        ("threshold differs", Box::new(|v| v["lapse"]["threshold_days"] = json!(46)), "field `lapse.threshold_days`: 46 differs from the fixed rule's 45 days"),
        ("lapse days 0", Box::new(|v| v["config"]["lapse"]["days"] = json!(0)), "field `config.lapse`"),
        ("wrong type", Box::new(|v| v["segmentation"]["groups"][2]["size"] = json!("many")), "field `segmentation.groups[2].size`: invalid type: string"),
        ("missing", Box::new(|v| { v["segmentation"]["groups"][2].as_object_mut().unwrap().remove("beta"); }), "missing field `beta`"),
        ("unknown", Box::new(|v| v["surprise"] = json!(1)), "unknown field `surprise`"),
        ("split to the root", Box::new(|v| v["segmentation"]["nodes"][0]["split"][2] = json!(0)), "field `segmentation.nodes[0].split`"),
        ("priority feature", Box::new(|v| { v["config"]["priority_feature"] = json!("shoe_size"); v.as_object_mut().unwrap().remove("order_model"); }), "field `config.priority_feature`"),
        // The ordering regression that orders customers inside the groups.
        ("order model, feature priority", Box::new(|v| v["config"]["priority_feature"] = json!("recency_days")), "field `order_model`: present, but config.priority_feature is \"recency_days\""),
        ("order model missing", Box::new(|v| { v.as_object_mut().unwrap().remove("order_model"); }), "field `order_model`: missing"),
        ("order model, unknown feature", Box::new(|v| v["order_model"]["columns"][0]["feature"] = json!("shoe_size")), "field `order_model`: \"shoe_size\" is not a feature"),
        ("order model, zero spread", Box::new(|v| v["order_model"]["regression"]["scale"][0] = json!(0.0)), "field `order_model`: the regression must have"),
        ("order model, a column too many", Box::new(|v| { let c = v["order_model"]["columns"][0].clone(); v["order_model"]["columns"].as_array_mut().unwrap().push(c); }), "field `order_model`: the regression must have"),
        ("order model, unknown scale", Box::new(|v| v["order_model"]["columns"][0]["scale"] = json!("cube")), "unknown variant `cube`"),
        ("order model, unknown field", Box::new(|v| v["order_model"]["regression"]["extra"] = json!(1)), "unknown field `extra`"),
        ("fitted in year 30000", Box::new(|v| v["fitted_at"] = json!(10_000_000)), "field `fitted_at`"),
        ("no cutoffs", Box::new(|v| v["training_cutoffs"] = json!([])), "field `training_cutoffs`"),
        // Found in a review: an edited row count was read without a word.
        ("training rows edited", Box::new(|v| v["training_rows"] = json!(5)), "field `training_rows`: 5 where segmentation.rows counts"),
        ("split out of the tree", Box::new(|v| v["segmentation"]["nodes"][0]["split"][0] = json!(999)), "field `segmentation.nodes[0].split`: feature 999, threshold"),
        ("huge spend", Box::new(|v| v["segmentation"]["groups"][0]["mean_return_spend"] = json!(1e300)), "field `segmentation.groups[0].mean_return_spend`: 1e300 is not a representable amount"),
        // Facts stored for reading must say what the tree and the counts say.
        ("rule emptied", Box::new(|v| v["segmentation"]["groups"][0]["rule"] = json!([])), "field `segmentation.groups[0].rule`: differs from the tree's path"),
        ("share 1", Box::new(|v| v["segmentation"]["groups"][0]["share"] = json!(1.0)), "field `segmentation.groups[0].share`: 1 differs from size / rows"),
        ("huge size", Box::new(|v| v["segmentation"]["groups"][0]["size"] = json!(u64::MAX)), "field `segmentation.groups[0].size`"),
        ("huge alpha and beta", Box::new(|v| { v["segmentation"]["groups"][0]["alpha"] = json!(1e300); v["segmentation"]["groups"][0]["beta"] = json!(1e300); }), "field `segmentation.groups[0].alpha`: 1e300 is not a Beta parameter in (0, 1e12]"),
        // Waves.
        ("group twice in a wave", Box::new(|v| v["waves"] = json!([{"fingerprint": "f", "at": v["fitted_at"], "outcomes": [{"group": 1, "contacted": 5, "came_back": 1}, {"group": 1, "contacted": 3, "came_back": 1}], "contacted": [], "control": []}])), "field `waves[0].outcomes[1]`: group 1 appears twice"),
        ("absurd count", Box::new(|v| v["waves"] = json!([{"fingerprint": "f", "at": v["fitted_at"], "outcomes": [{"group": 1, "contacted": u64::MAX, "came_back": 1}], "contacted": [], "control": []}])), "field `waves[0].outcomes[0]`: 18446744073709551615 contacted"),
        ("ids and counts differ", Box::new(|v| v["waves"] = json!([{"fingerprint": "f", "at": v["fitted_at"], "outcomes": [{"group": 1, "contacted": 5, "came_back": 1}], "contacted": ["a", "b"], "control": []}])), "field `waves[0].contacted`: 2 customer ids where the outcomes count 5 contacted"),
        ("ids unsorted", Box::new(|v| v["waves"] = json!([{"fingerprint": "f", "at": v["fitted_at"], "outcomes": [{"group": 1, "contacted": 2, "came_back": 1}], "contacted": ["b", "a"], "control": []}])), "field `waves[0].contacted`: ids must be sorted and distinct"),
    ];
    for (what, tamper, want) in cases {
        let mut v = value();
        tamper(&mut v);
        let e = WinbackModel::from_json(&v.to_string(), "m.json").map(|_| ()).map_err(|e| e.to_string());
        assert!(e.as_ref().is_err_and(|e| e.contains(want)), "{what}: {e:?}");
    }
}

#[test]
fn a_sentence_is_reworded_from_its_rule_and_an_old_control_only_wave_is_read() {
    // A sentence edited by hand (or worded by an older build) is rewritten from the
    // rule on load, never shown as written; a control-only wave (recorded by earlier
    // builds) is read and shows no effect.
    let mut v = value();
    let real = v["segmentation"]["groups"][0]["sentence"].clone();
    v["segmentation"]["groups"][0]["sentence"] = json!("customer for at most 10 days");
    v["waves"] = json!([{"fingerprint": "f", "at": v["fitted_at"], "outcomes": [{"group": 1, "contacted": 0, "came_back": 0}], "contacted": [], "control": [{"group": 1, "contacted": 5, "came_back": 1}]}]);
    let m = WinbackModel::from_json(&v.to_string(), "m.json").unwrap();
    assert_eq!(json!(m.segmentation.groups[0].sentence), real);
    let waves = m.campaign().unwrap();
    assert_eq!((waves[0].contacted, waves[0].control, waves[0].effect), (0, 5, None));
}

#[test]
fn an_ordering_regression_whose_terms_overflow_still_gives_chances() {
    // Finite parts that no fit gives (huge coefficients, a tiny spread) pass the
    // checks; every priority is still a chance in [0, 1], never NaN.
    let f = fixture();
    let mut v = value();
    let p = v["order_model"]["columns"].as_array().unwrap().len();
    v["order_model"]["regression"]["coef"] = json!((0..p).map(|i| if i % 2 == 0 { 1e308 } else { -1e308 }).collect::<Vec<f64>>());
    v["order_model"]["regression"]["scale"][0] = json!(1e-300);
    let m = WinbackModel::from_json(&v.to_string(), "m.json").unwrap();
    let s = m.score(&f.history, f.at).unwrap();
    assert!(!s.customers.is_empty());
    assert!(s.customers.iter().all(|c| (0.0..=1.0).contains(&c.priority)));
}

#[test]
fn another_format_version_is_refused_with_a_clear_message() {
    let mut v = value();
    v["format_version"] = json!(1);
    let e = refused(&v);
    assert_eq!(e, "m.json: model file format version 1 is not supported (this build reads versions 2 to 5; refit the model with this version)");
    let e = WinbackModel::from_json("{\"hello\": 1}", "x.json").unwrap_err();
    assert_eq!(e.to_string(), "x.json: invalid model file: field `format_version`: missing, or not a whole number");
    assert!(matches!(WinbackModel::from_json("not json", "x.json"), Err(Error::BadModelFile { .. })));
}

/// Every path to a value in a JSON tree, as keys and indices.
fn paths(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                at.push(Step::Key(k.clone()));
                paths(x, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(Step::Index(i));
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

fn get_mut<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, s| match s {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn replacement(k: usize) -> Option<Value> {
    [
        Some(json!(-1)),
        Some(json!(0)),
        Some(json!(2.0)),
        Some(json!(1e308)),
        Some(json!(-1e308)),
        Some(json!(0.5)),
        Some(json!(u64::MAX)),
        Some(json!(3)),
        Some(json!("")),
        Some(json!("x")),
        Some(json!(true)),
        Some(Value::Null),
        Some(json!([])),
        Some(json!({})),
        None, // remove the key, or empty the array
    ][k]
    .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn any_tampered_field_is_refused_by_name_or_scores_in_0_1(pick in any::<prop::sample::Index>(), k in 0usize..15) {
        let f = fixture();
        let mut v = value();
        let mut all = Vec::new();
        paths(&v, &mut Vec::new(), &mut all);
        let path = pick.get(&all[1..]).clone();
        match replacement(k) {
            Some(r) => *get_mut(&mut v, &path) = r,
            None => {
                let (last, parent) = path.split_last().unwrap();
                match (get_mut(&mut v, parent), last) {
                    (Value::Object(m), Step::Key(key)) => { m.remove(key); }
                    (Value::Array(a), Step::Index(_)) => a.clear(),
                    _ => unreachable!(),
                }
            }
        }
        let keys: Vec<&str> = path.iter().filter_map(|s| match s { Step::Key(k) => Some(k.as_str()), Step::Index(_) => None }).collect();
        match WinbackModel::from_json(&v.to_string(), "m.json") {
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(keys.iter().any(|k| msg.contains(k)) || matches!(e, Error::UnsupportedVersion { .. }), "{path:?}: {msg}");
            }
            Ok(m) => {
                if let Ok(s) = m.score(&f.history, f.at) {
                    for c in &s.customers {
                        prop_assert!((0.0..=1.0).contains(&c.probability) && c.probability_low <= c.probability_high, "{path:?}: {c:?}");
                    }
                    let _ = m.plan(&s, &PlanParams::default());
                }
            }
        }
    }
}

/// Saving replaces the file whole through a temporary file: an existing file keeps
/// its permissions, a link keeps pointing at the (new) model, and no temporary file is left.
#[cfg(unix)]
#[test]
fn save_keeps_permissions_and_links() {
    use std::os::unix::fs::PermissionsExt;
    let m = WinbackModel::from_json(&fixture().json, "m.json").unwrap();
    let dir = std::env::temp_dir().join(format!("winback-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("model.json");
    std::fs::write(&file, "old").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = dir.join("current.json");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    m.save(&link).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), fixture().json);
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let names: Vec<String> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    std::fs::remove_dir_all(&dir).ok();
}
