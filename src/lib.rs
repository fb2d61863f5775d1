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
mod error;
mod model;
mod outcomes;

pub use backtest::{backtest, Backtest, BacktestRow, Spread};
pub use error::{Error, Result};
pub use model::{Config, LapseSummary, ScoredCustomer, Scores, WinbackModel, FORMAT_VERSION};
pub use outcomes::read_outcomes;
pub use winback_core as core;
pub use winback_rank as rank;
pub use winback_tree as tree;
