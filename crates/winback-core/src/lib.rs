//! # winback-core
//!
//! Purchase history → lapsed customers → feature matrix and labels.
//!
//! This crate knows purchase histories and time, nothing about trees. It reads
//! transactions (CSV, Parquet, Arrow, Rust values) into a columnar [`History`],
//! decides who has lapsed at a cutoff ([`lapse`]), describes customers by
//! measurable traits built only from purchases strictly before the cutoff
//! ([`features`]), and labels whether they bought again within the horizon
//! ([`labels`]).
//!
//! ```
//! use winback_core::{History, Line, LoadOptions, date::day_from_ymd};
//! use winback_core::features::{FeatureOptions, FeatureSchema, build_features};
//! use winback_core::lapse::LapseRule;
//!
//! let d = |m, dd| day_from_ymd(2024, m, dd);
//! let lines = [
//!     Line { customer: "ann", day: d(1, 5), amount: 20.0, ..Default::default() },
//!     Line { customer: "ann", day: d(2, 4), amount: 30.0, ..Default::default() },
//!     Line { customer: "bob", day: d(5, 20), amount: 15.0, ..Default::default() },
//! ];
//! let (history, _report) = History::from_lines(lines, false, &LoadOptions::default())?;
//!
//! // Who has gone 60 days or more without buying, standing at June 1st?
//! let cutoff = d(6, 1);
//! let lapse = LapseRule::Fixed { days: 60 }.resolve(&history, cutoff)?;
//! assert_eq!(lapse.lapsed, vec![0]); // ann (index 0): last purchase Feb 4th
//!
//! let schema = FeatureSchema::learn(&history, cutoff, &FeatureOptions::default())?;
//! let x = build_features(&history, &schema, cutoff, &lapse.lapsed)?;
//! assert_eq!(x.value(0, "recency_days"), Some(118.0));
//! assert_eq!(x.value(0, "purchases"), Some(2.0));
//! assert_eq!(x.value(0, "spend_total"), Some(50.0));
//! # Ok::<(), winback_core::Error>(())
//! ```

pub mod attributes;
pub mod census;
mod columns;
pub mod date;
mod error;
pub mod features;
mod hash;
pub mod history;
pub mod labels;
pub mod lapse;
pub mod profile;
pub mod progress;
pub mod read;
pub mod report;
mod summary;
pub mod synthetic;
pub mod traits;
#[cfg(feature = "arrow")]
pub mod arrow;
#[cfg(feature = "arrow")]
mod dataset;

pub use error::{Error, Numbering, Result};
pub use history::{Event, History, Line, LoadOptions, Present};
pub use report::{FileRows, LoadReport, SkipReason};
