//! # winback-tree
//!
//! Lapsed customers into about ten readable groups, each with an honest
//! repurchase probability, on linfa-trees.
//!
//! Give it a feature matrix (from `winback-core`), the outcomes, and the
//! feature schema; get a [`Segmentation`]: groups with a rule, a sentence, a size
//! and a probability with a 90% interval estimated on held-out customers.
//! See [`segmentation`] for how the tree is grown around linfa-trees 0.8.1's
//! known limits.
//!
//! ```
//! use linfa::ParamGuard;
//! use ndarray::Array2;
//! use winback_core::features::{Feature, FeatureKind, Source};
//! use winback_tree::{MinGroupSize, Segmenter, TrainingData};
//!
//! // recency in days; customers seen within 60 days come back more often.
//! let n = 2000;
//! let x = Array2::from_shape_fn((n, 1), |(i, _)| (i % 200) as f64);
//! let y: Vec<bool> = (0..n).map(|i| if i % 200 < 60 { i % 3 == 0 } else { i / 200 == 0 }).collect();
//! let features = vec![Feature { name: "recency_days".into(), kind: FeatureKind::Days, unit: "days".into(), source: Source::Recency }];
//! let seg = Segmenter::params().groups(2).min_group_size(MinGroupSize::Rows(100)).check()?
//!     .fit(&TrainingData { x: x.view(), y: &y, spend: None, customer: None, features: &features, weight: None, target: None, order: None })?;
//! assert_eq!(seg.groups.len(), 2);
//! assert_eq!(seg.groups[0].sentence, "last purchase at most 58 days ago");
//! assert!(seg.groups[0].probability > seg.groups[1].probability);
//! assert_eq!(seg.assign(x.view())?[0], 1);
//! # Ok::<(), winback_tree::Error>(())
//! ```

mod error;
mod export;
/// Ranking and calibration metrics (they know no trees: they live in `winback-stats`).
pub use winback_stats::metrics;
mod params;
pub mod rules;
pub mod segmentation;
pub mod uplift;

pub use error::{Error, Result};
pub use params::{ClassWeighting, MinGroupSize, Segmenter, SegmenterValidParams, SplitCriterion};
pub use segmentation::{best_split, Group, Node, Segmentation, TrainingData};
pub use uplift::{Uplift, UpliftData, UpliftGroup};
