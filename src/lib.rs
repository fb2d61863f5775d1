//! # winback
//!
//! Which lapsed customers to contact first to win them back, with what chance of
//! success, and where to stop. This facade ties the pipeline together; the
//! steps live in their own crates:
//!
//! * [`core`] (`winback-core`): purchase history → lapsed customers → features and labels.
//!
//! ```
//! use winback::core::{History, Line, LoadOptions, lapse::LapseRule};
//! let l = |c, day| Line { customer: c, day, amount: 10.0, ..Default::default() };
//! let (h, _) = History::from_lines([l("a", 0), l("a", 30), l("b", 80)], false, &LoadOptions::default())?;
//! let lapse = LapseRule::Fixed { days: 60 }.resolve(&h, 100)?;
//! assert_eq!(lapse.lapsed, vec![0]);
//! # Ok::<(), winback::core::Error>(())
//! ```

pub use winback_core as core;
