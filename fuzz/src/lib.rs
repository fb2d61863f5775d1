//! The bodies of winback's fuzz targets: every reader of untrusted input gets
//! arbitrary bytes and must answer with a value or an error, never a panic, a
//! hang or an out-of-range probability. The `fuzz_targets/` binaries hand them
//! to libFuzzer (`cargo +nightly fuzz run NAME`); `tests/smoke.rs` replays the
//! seed corpus and seeded mutations of it on stable Rust, in CI.

use std::sync::OnceLock;

use winback::core::lapse::LapseRule;
use winback::core::read::{read_csv_from, ColumnMap, CsvOptions};
use winback::core::synthetic::{Synthetic, SyntheticConfig};
use winback::core::{History, LoadOptions};
use winback::rank::PlanParams;
use winback::{Config, Scores, WinbackModel};

#[path = "../../crates/winback-cli/src/config.rs"]
mod cli_config;

/// A small history and a model fitted on it, made once.
struct Fixture {
    history: History,
    at: i32,
    model: WinbackModel,
    scores: Scores,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let s = Synthetic::new(SyntheticConfig { customers: 600, seed: 11, ..Default::default() });
        let history = s.history().expect("synthetic history").0;
        let at = s.config().start + 600;
        let config = Config { lapse: LapseRule::Fixed { days: 45 }, ..Default::default() };
        let model = WinbackModel::fit(&history, at, &config).expect("fit");
        let scores = model.score(&history, at).expect("score");
        Fixture { history, at, model, scores }
    })
}

/// A valid model file, the seed the model loader's mutations start from.
pub fn seed_model() -> String {
    fixture().model.to_json().expect("model json")
}

fn all_columns() -> ColumnMap {
    ColumnMap::new("customer_id", "date", "amount")
        .quantity("quantity")
        .order("order_id")
        .channel("channel")
        .category("category")
        .region("region")
        .cancelled("cancelled")
}

/// CSV transactions: the first byte picks strict mode and a header or not.
pub fn csv_reader(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let options = LoadOptions { strict: mode & 1 == 1, drop_duplicates: mode & 4 == 4, ..Default::default() };
    let csv = CsvOptions { delimiter: if mode & 2 == 2 { b';' } else { b',' }, has_header: true };
    if let Ok((h, report)) = read_csv_from(rest, "fuzz.csv", &all_columns(), &csv, &options) {
        assert_eq!(report.rows_used + report.total_skipped(), report.rows_read, "every row used or counted");
        // A history that loaded can be described.
        let at = h.day_range().1.saturating_add(1);
        let _ = winback::feature_table(&h, at, &LapseRule::Fixed { days: 1 }, winback::Who::All, &Default::default());
    }
}

/// Parquet files (through a temporary file: the reader reads row groups in parallel from a path).
pub fn parquet_reader(data: &[u8]) {
    // The reader turns a panic inside the parquet crate's decoder into an error
    // (`catch_unwind`); libFuzzer's panic hook would abort on it first, so this
    // target counts only panics that escape the reader.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let path = std::env::temp_dir().join(format!("winback-fuzz-{}-{:?}.parquet", std::process::id(), std::thread::current().id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    if let Ok((_, report)) = winback::core::arrow::read_parquet(&path, &all_columns(), &LoadOptions::default()) {
        assert_eq!(report.rows_used + report.total_skipped(), report.rows_read, "every row used or counted");
    }
    std::fs::remove_file(&path).ok();
}

/// Model files: refused with an error, or loaded and then scoring gives probabilities in [0, 1].
pub fn model_loader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(model) = WinbackModel::from_json(text, "fuzz.json") else { return };
    let f = fixture();
    if let Ok(scores) = model.score(&f.history, f.at) {
        for c in &scores.customers {
            assert!((0.0..=1.0).contains(&c.probability) && c.probability_low <= c.probability_high, "{c:?}");
        }
        let _ = model.plan(&scores, &PlanParams::default());
    }
}

/// Outcome files, per group and per customer, recorded into a copy of the model.
pub fn outcomes_reader(data: &[u8]) {
    let f = fixture();
    if let Ok(wave) = winback::read_outcomes(data, "fuzz.csv") {
        let _ = f.model.clone().feedback(&f.scores, &wave, &PlanParams::default());
    }
    if let Ok(wave) = winback::read_outcomes_with(data, "fuzz.csv", Some(&f.scores)) {
        let _ = f.model.clone().feedback(&f.scores, &wave, &PlanParams::default());
    }
}

/// The CLI's `--config` TOML file.
pub fn config_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let args = cli_config::split_config_flag(["winback", "fit", "--config=c.toml", "--at", "2024-01-01"].map(String::from).to_vec());
    let accepted = cli_config::Accepted {
        flags: vec![("fit".into(), vec!["at".into(), "groups".into(), "lapse-days".into()]), ("plan".into(), vec!["budget".into()])],
        overridden: vec!["at".into()],
    };
    let _ = cli_config::with_flags(args, text, "c.toml", &accepted);
}
