//! # winback
//!
//! Which lapsed customers to contact first to win them back, with what chance of
//! success, and where to stop.
//!
//! This facade ties the pipeline: a [`WinbackModel`] is a lapse rule, a feature
//! schema and a segmentation into about ten groups with honest probabilities,
//! fitted standing at a date ([`WinbackModel::fit`]), applied at a later one
//! ([`WinbackModel::score`]), turned into a contact plan that says where to stop
//! ([`WinbackModel::plan`]), checked by a rolling [`backtest()`], and saved as a
//! versioned JSON model file. The steps live in their own crates, re-exported
//! here: [`core`] (history → features), [`tree`] (groups), [`rank`] (plans).
//!
//! ```
//! use winback::{Config, WinbackModel};
//! use winback::core::synthetic::{Synthetic, SyntheticConfig};
//! use winback::core::lapse::LapseRule;
//! use winback::rank::{Objective, PlanParams};
//!
//! let synth = Synthetic::new(SyntheticConfig { customers: 3_000, seed: 1, ..Default::default() });
//! let (history, _report) = synth.history()?;
//! let at = synth.config().start + 600;
//! let config = Config { lapse: LapseRule::Fixed { days: 45 }, ..Default::default() };
//!
//! let model = WinbackModel::fit(&history, at, &config)?;
//! let scores = model.score(&history, at)?;
//! let params = PlanParams { objective: Objective::Profit, cost_per_contact: 1.0, margin: 0.4, ..Default::default() };
//! let (plan, contacts) = model.plan(&scores, &params)?;
//! assert!(model.segmentation.groups.len() >= 8);
//! assert_eq!(contacts.len(), plan.contacts);
//! assert!(plan.steps.windows(2).all(|w| w[0].objective >= w[1].objective));
//! # Ok::<(), winback::Error>(())
//! ```

mod backtest;
mod describe;
mod error;
mod feedback;
mod model;
mod model_file;
mod order;
mod outcomes;
mod report;
pub mod sharded;
pub mod uplift;
#[cfg(feature = "arrow")]
mod tables;

pub use backtest::{backtest, default_cutoffs, Backtest, BacktestRow, Spread};
pub use describe::{btyd, feature_blocks, feature_table, lapse, Who};
pub use error::{Error, Result};
pub use feedback::{Feedback, WaveSummary};
pub use model::{Config, GroupOrder, LapseSummary, ScoredCustomer, Scores, SkippedCutoff, SplitOn, Wave, WinbackModel, AUTO_PRIORITY, FORMAT_VERSION, OLDEST_FORMAT_VERSION, ORDER_CHANCE};
pub use order::{OrderColumn, OrderModel, Scale};
pub use model_file::{LapseFile, ModelFile, ModelFileError, SchemaFile, SegmentationFile};
pub use outcomes::{read_outcomes, read_outcomes_with, WaveOutcomes};
pub use report::{ReportData, ReportOptions};
#[cfg(feature = "arrow")]
pub use tables::{contacts_table, features_table, profiles_table, scores_table, shard_rows_from, shard_rows_table, uplift_groups_table, uplift_scores_table};
pub use winback_core as core;
pub use winback_rank as rank;
pub use winback_tree as tree;

/// Reads a purchase history from a file, choosing the reader by extension:
/// `.parquet` (with the `parquet` feature), else CSV (`.gz` decompressed). A
/// directory of Parquet files (Spark's `part-*.parquet`, hive-style `date=…/`
/// folders) or a file pattern (`exports/part-*.parquet`) is read as one dataset
/// ([`core::arrow::read_parquet_dataset`]).
pub fn read_history(
    path: &std::path::Path,
    map: &core::read::ColumnMap,
    csv: &core::read::CsvOptions,
    options: &core::LoadOptions,
) -> Result<(core::History, core::LoadReport)> {
    read_history_with(path, map, csv, options, &core::progress::Silent)
}

/// [`read_history`], reporting how far the read is to `progress` (bytes of a CSV
/// file, rows of Parquet files; see [`core::progress`]).
pub fn read_history_with(
    path: &std::path::Path,
    map: &core::read::ColumnMap,
    csv: &core::read::CsvOptions,
    options: &core::LoadOptions,
    progress: &dyn core::progress::Progress,
) -> Result<(core::History, core::LoadReport)> {
    let is_parquet = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let dataset = path.is_dir() || name.contains('*') || name.contains('?');
    if is_parquet || dataset {
        #[cfg(feature = "parquet")]
        return Ok(if dataset {
            core::arrow::read_parquet_dataset_with(path, map, options, progress)?
        } else {
            core::arrow::read_parquet_with(path, map, options, progress)?
        });
        #[cfg(not(feature = "parquet"))]
        return Err(Error::NoParquetSupport { path: path.display().to_string() });
    }
    Ok(core::read::read_csv_with(path, map, csv, options, progress)?)
}
