//! The verbs that describe a history at a date without a model: who is lapsed
//! (the lapse report) and the feature table.

use winback_core::date::Day;
use winback_core::features::{build_features, FeatureBlocks, FeatureMatrix, FeatureOptions, FeatureSchema};
use winback_core::lapse::{Lapse, LapseRule};
use winback_core::History;

use crate::error::Result;

/// Who is lapsed at `at` under `rule`: the threshold, the gap distribution it
/// was learned from, and the lapsed customers.
pub fn lapse(history: &History, at: Day, rule: &LapseRule) -> Result<Lapse> {
    Ok(rule.resolve(history, at)?)
}

/// Which customers a feature table describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Who {
    /// The lapsed customers at the date (default).
    #[default]
    Lapsed,
    /// Every customer with a purchase before the date.
    All,
}

/// The feature table at `at`: one row per lapsed customer (or per customer with
/// a purchase before `at`), with the schema learned from the history before `at`.
///
/// ```
/// use winback::core::{History, Line};
/// use winback::core::lapse::LapseRule;
/// let lines = [
///     Line { customer: "a", day: 0, amount: 10.0, ..Default::default() },
///     Line { customer: "a", day: 30, amount: 5.0, ..Default::default() },
///     Line { customer: "b", day: 95, amount: 7.0, ..Default::default() },
/// ];
/// let (h, _) = History::from_lines(lines, false, &Default::default())?;
/// let rule = LapseRule::Fixed { days: 60 };
/// let lapsed = winback::feature_table(&h, 100, &rule, winback::Who::Lapsed, &Default::default())?;
/// assert_eq!(lapsed.customers, vec![0]); // only "a" (70 days since the last purchase)
/// assert_eq!(lapsed.value(0, "recency_days"), Some(70.0));
/// let all = winback::feature_table(&h, 100, &rule, winback::Who::All, &Default::default())?;
/// assert_eq!(all.customers, vec![0, 1]);
/// # Ok::<(), winback::Error>(())
/// ```
pub fn feature_table(history: &History, at: Day, rule: &LapseRule, who: Who, options: &FeatureOptions) -> Result<FeatureMatrix> {
    // One pass over the customers learns the columns and builds the rows.
    Ok(winback_core::features::learn_and_build(history, at, options, &rows_of(history, at, rule, who)?)?.1)
}

fn rows_of(history: &History, at: Day, rule: &LapseRule, who: Who) -> Result<Vec<usize>> {
    Ok(match who {
        Who::Lapsed => rule.resolve(history, at)?.lapsed,
        Who::All => history.with_purchase_before(at),
    })
}

/// [`feature_table`] block by block ([`FeatureBlocks`]): the same rows and
/// values, to the bit, for writing a large table without holding all of it
/// (`winback features` writes each block as it is built).
///
/// ```
/// use winback::core::{History, Line};
/// use winback::core::lapse::LapseRule;
/// let lines = [
///     Line { customer: "a", day: 0, amount: 10.0, ..Default::default() },
///     Line { customer: "b", day: 95, amount: 7.0, ..Default::default() },
/// ];
/// let (h, _) = History::from_lines(lines, false, &Default::default())?;
/// let rule = LapseRule::Fixed { days: 60 };
/// let whole = winback::feature_table(&h, 100, &rule, winback::Who::All, &Default::default())?;
/// let blocks: Vec<_> = winback::feature_blocks(&h, 100, &rule, winback::Who::All, &Default::default())?.collect::<Result<_, _>>()?;
/// assert_eq!(blocks.len(), 1);
/// assert_eq!((&blocks[0].customers, &blocks[0].x), (&whole.customers, &whole.x));
/// # Ok::<(), winback::Error>(())
/// ```
pub fn feature_blocks<'h>(history: &'h History, at: Day, rule: &LapseRule, who: Who, options: &FeatureOptions) -> Result<FeatureBlocks<'h>> {
    Ok(match who {
        // Every buyer: found by the census's own pass (`rows_of` would pass over them again).
        Who::All => FeatureBlocks::of_buyers(history, at, options)?,
        Who::Lapsed => FeatureBlocks::new(history, at, options, rows_of(history, at, rule, who)?)?,
    })
}

/// The BG/NBD buy-till-you-die model fitted by maximum likelihood on every
/// customer's purchase days strictly before `at` (the population the BG/NBD
/// features use; see [`winback_core::features`]): time in days, `x` = purchase
/// days after the first, `t_x` = days from the first to the last, age = days from
/// the first purchase day to `at`. `None` when the fit does not converge.
///
/// ```
/// use winback::core::{History, Line};
/// let lines: Vec<Line> = (0..60u32)
///     .flat_map(|c| (0..(c % 5 + 1)).map(move |k| (c, k)))
///     .map(|(c, k)| Line { customer: Box::leak(format!("c{c}").into_boxed_str()), day: (c % 30 + 17 * k) as i32, amount: 5.0, ..Default::default() })
///     .collect();
/// let (h, _) = History::from_lines(lines, false, &Default::default())?;
/// let m = winback::btyd(&h, 120).expect("fits");
/// assert!(m.r > 0.0 && m.alpha > 0.0 && m.a > 0.0 && m.b > 0.0);
/// # Ok::<(), winback::Error>(())
/// ```
pub fn btyd(history: &History, at: Day) -> Option<winback_stats::btyd::BgNbd> {
    let options = FeatureOptions { btyd_horizon_days: Some(1), rfm: false, attributes: false, windows: Vec::new(), ..Default::default() };
    let schema = FeatureSchema::learn(history, at, &options).ok()?;
    build_features(history, &schema, at, &[]).ok()?.btyd
}
