//! The tables every interface writes, as Arrow record batches: the CLI writes
//! them to CSV or Parquet, the Python package hands them to pyarrow, pandas or
//! polars. One definition of each table's columns.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch, StringArray, UInt64Array};
use ndarray::Axis;
use rayon::prelude::*;
use winback_core::features::FeatureMatrix;
use winback_core::profile::{Profile, Profiles};
use winback_core::History;
use winback_rank::ContactRow;

use crate::error::Result;
use crate::model::{Scores, WinbackModel};

fn batch(cols: Vec<(&str, ArrayRef)>) -> Result<RecordBatch> {
    RecordBatch::try_from_iter(cols).map_err(|source| winback_core::Error::Arrow { file: "<table>".into(), source }.into())
}

fn text(v: impl Iterator<Item = String>) -> ArrayRef {
    Arc::new(StringArray::from(v.collect::<Vec<_>>()))
}

fn count(v: impl Iterator<Item = usize>) -> ArrayRef {
    Arc::new(UInt64Array::from(v.map(|x| x as u64).collect::<Vec<_>>()))
}

fn number(v: impl Iterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from(v.collect::<Vec<_>>()))
}

/// The scores table: `customer_id, group, probability, probability_low,
/// probability_high, priority, rule`, one row per lapsed customer.
pub fn scores_table(model: &WinbackModel, scores: &Scores) -> Result<RecordBatch> {
    let c = &scores.customers;
    let rule = |g: usize| model.segmentation.group(g).map_or(String::new(), |g| g.sentence.clone());
    batch(vec![
        ("customer_id", text(c.iter().map(|x| x.customer_id.clone()))),
        ("group", count(c.iter().map(|x| x.group))),
        ("probability", number(c.iter().map(|x| x.probability))),
        ("probability_low", number(c.iter().map(|x| x.probability_low))),
        ("probability_high", number(c.iter().map(|x| x.probability_high))),
        ("priority", number(c.iter().map(|x| x.priority))),
        ("rule", text(c.iter().map(|x| rule(x.group)))),
    ])
}

/// The contact list: `rank, arm, customer_id, group, probability, expected_value,
/// rule` (`rank` 1..n on contacted rows, empty on control rows).
pub fn contacts_table(list: &[ContactRow]) -> Result<RecordBatch> {
    let rank: Vec<Option<u64>> = list.iter().map(|r| (r.rank > 0).then_some(r.rank as u64)).collect();
    batch(vec![
        ("rank", Arc::new(UInt64Array::from(rank)) as ArrayRef),
        ("arm", text(list.iter().map(|r| r.arm.name().to_string()))),
        ("customer_id", text(list.iter().map(|r| r.customer.clone()))),
        ("group", count(list.iter().map(|r| r.group))),
        ("probability", number(list.iter().map(|r| r.probability))),
        ("expected_value", number(list.iter().map(|r| r.expected_value))),
        ("rule", text(list.iter().map(|r| r.rule.clone()))),
    ])
}

/// The feature table: `customer_id` and one column per feature. A column-major
/// matrix (as [`crate::feature_table`] returns) gives its memory to the table:
/// each column is a slice of it, nothing is copied. A row-major one is copied
/// column by column.
pub fn features_table(history: &History, x: FeatureMatrix) -> Result<RecordBatch> {
    if x.x.ncols() != x.schema.features.len() {
        let message = format!("the matrix has {} columns for {} features", x.x.ncols(), x.schema.features.len());
        return Err(winback_core::Error::InvalidSchema { field: "features".into(), message }.into());
    }
    let ids = StringArray::from_iter_values(x.customers.iter().map(|&i| history.customer_ids()[i].as_str()));
    let mut cols: Vec<(&str, ArrayRef)> = vec![("customer_id", Arc::new(ids))];
    let n = x.x.nrows();
    if x.x.t().is_standard_layout() {
        // Column-major and contiguous: one buffer, the columns slices of it.
        let (values, offset) = x.x.into_raw_vec_and_offset();
        let all = Float64Array::from(values);
        let start = offset.unwrap_or(0);
        for (j, f) in x.schema.features.iter().enumerate() {
            cols.push((f.name.as_str(), Arc::new(all.slice(start + j * n, n))));
        }
        return batch(cols);
    }
    // The matrix holds rows, so reading one column straight down loads a cache line
    // per value. Instead, 8 columns (one cache line of a row) at a time, by blocks
    // of rows, the column groups in parallel.
    let mut columns: Vec<Vec<f64>> = (0..x.x.ncols()).map(|_| Vec::with_capacity(n)).collect();
    columns.par_chunks_mut(8).enumerate().for_each(|(g, group)| {
        for block in x.x.axis_chunks_iter(Axis(0), 512) {
            for (i, column) in group.iter_mut().enumerate() {
                column.extend(block.column(8 * g + i).iter().copied());
            }
        }
    });
    for (f, column) in x.schema.features.iter().zip(columns) {
        cols.push((f.name.as_str(), Arc::new(Float64Array::from(column))));
    }
    batch(cols)
}

/// The profiles as one flat table, one row per group and a last row `all`:
/// `group, size, share, recency_days_q25/median/q75, purchases_…, tenure_days_…,
/// spend_total_…, spend_per_purchase_…, one_time_share, suggested_channel,
/// suggested_channel_share, top_categories, main_regions, description` (the
/// lists as `name share (lift ×L, n customers)` joined by `; `).
pub fn profiles_table(p: &Profiles) -> Result<RecordBatch> {
    let rows: Vec<(String, &Profile)> = p.groups.iter().map(|g| (g.group.to_string(), &g.profile)).chain(std::iter::once(("all".to_string(), &p.all))).collect();
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        ("group", text(rows.iter().map(|r| r.0.clone()))),
        ("size", count(rows.iter().map(|r| r.1.size))),
        ("share", number(rows.iter().map(|r| r.1.share))),
    ];
    type Pick = fn(&Profile) -> winback_core::profile::Quartiles;
    let measures: [(&str, &str, &str, Pick); 5] = [
        ("recency_days_q25", "recency_days_median", "recency_days_q75", |p| p.recency_days),
        ("purchases_q25", "purchases_median", "purchases_q75", |p| p.purchases),
        ("tenure_days_q25", "tenure_days_median", "tenure_days_q75", |p| p.tenure_days),
        ("spend_total_q25", "spend_total_median", "spend_total_q75", |p| p.spend_total),
        ("spend_per_purchase_q25", "spend_per_purchase_median", "spend_per_purchase_q75", |p| p.spend_per_purchase),
    ];
    for (a, b, c, f) in measures {
        cols.push((a, number(rows.iter().map(|r| f(r.1).q25))));
        cols.push((b, number(rows.iter().map(|r| f(r.1).median))));
        cols.push((c, number(rows.iter().map(|r| f(r.1).q75))));
    }
    cols.push(("one_time_share", number(rows.iter().map(|r| r.1.one_time_share))));
    cols.push(("suggested_channel", text(rows.iter().map(|r| r.1.suggested_channel.as_ref().map_or(String::new(), |c| c.channel.clone())))));
    let channel_share: Vec<Option<f64>> = rows.iter().map(|r| r.1.suggested_channel.as_ref().map(|c| c.share)).collect();
    cols.push(("suggested_channel_share", Arc::new(Float64Array::from(channel_share))));
    cols.push((
        "top_categories",
        text(rows.iter().map(|r| {
            r.1.top_categories.iter().map(|c| format!("{} {:.1}% (lift {:.2}, {} customer{})", c.category, c.share * 100.0, c.lift, c.customers, if c.customers == 1 { "" } else { "s" })).collect::<Vec<_>>().join("; ")
        })),
    ));
    cols.push((
        "main_regions",
        text(rows.iter().map(|r| r.1.main_regions.iter().map(|c| format!("{} {:.1}% (lift {:.2}, {} customer{})", c.level, c.share * 100.0, c.lift, c.customers, if c.customers == 1 { "" } else { "s" })).collect::<Vec<_>>().join("; "))),
    ));
    cols.push(("description", text(rows.iter().map(|r| r.1.description.clone()))));
    batch(cols)
}

/// A shard's rows for a sharded fit ([`crate::sharded::shard_rows`]):
/// `cutoff_day` (days since 1970-01-01), `customer_id`, `came_back`, `spend`, then
/// one column per feature of the plan's schema. Values pass through Arrow
/// unchanged, so the driver fits on the very numbers the shards computed.
pub fn shard_rows_table(rows: &crate::sharded::ShardRows, schema: &winback_core::features::FeatureSchema) -> Result<RecordBatch> {
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        ("cutoff_day", Arc::new(Int32Array::from(rows.cutoff.clone())) as ArrayRef),
        ("customer_id", text(rows.customer_id.iter().cloned())),
        ("came_back", Arc::new(BooleanArray::from(rows.came_back.clone())) as ArrayRef),
        ("spend", number(rows.spend.iter().copied())),
    ];
    for (j, f) in schema.features.iter().enumerate() {
        cols.push((f.name.as_str(), number(rows.x.column(j).iter().copied())));
    }
    batch(cols)
}

/// Rows read back from batches of [`shard_rows_table`] (any number, any order).
pub fn shard_rows_from(batches: &[RecordBatch], schema: &winback_core::features::FeatureSchema) -> Result<crate::sharded::ShardRows> {
    use crate::error::Error;
    let bad = |message: String| Error::ShardMismatch { message };
    let k = schema.features.len();
    let mut rows = crate::sharded::ShardRows { x: ndarray::Array2::zeros((0, k)), ..Default::default() };
    for b in batches {
        let col = |name: &str| b.column_by_name(name).ok_or_else(|| bad(format!("the rows have no column `{name}`")));
        let typed = |name: &str, want: &str| bad(format!("column `{name}` is not {want}"));
        let cutoff = col("cutoff_day")?.as_any().downcast_ref::<Int32Array>().ok_or_else(|| typed("cutoff_day", "int32"))?;
        let ids = col("customer_id")?.as_any().downcast_ref::<StringArray>().ok_or_else(|| typed("customer_id", "utf8"))?;
        let came = col("came_back")?.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| typed("came_back", "boolean"))?;
        let spend = col("spend")?.as_any().downcast_ref::<Float64Array>().ok_or_else(|| typed("spend", "float64"))?;
        let feats: Vec<&Float64Array> = schema
            .features
            .iter()
            .map(|f| col(&f.name)?.as_any().downcast_ref::<Float64Array>().ok_or_else(|| typed(&f.name, "float64")))
            .collect::<Result<_>>()?;
        let nulls = [cutoff.null_count(), ids.null_count(), came.null_count(), spend.null_count()].iter().sum::<usize>()
            + feats.iter().map(|a| a.null_count()).sum::<usize>();
        if nulls > 0 {
            return Err(bad(format!("{nulls} empty values in the rows")));
        }
        let n = b.num_rows();
        let mut x = ndarray::Array2::zeros((n, k));
        for (j, a) in feats.iter().enumerate() {
            for (i, v) in a.values().iter().enumerate() {
                x[(i, j)] = *v;
            }
        }
        rows.append(crate::sharded::ShardRows {
            cutoff: cutoff.values().to_vec(),
            customer_id: (0..n).map(|i| ids.value(i).to_string()).collect(),
            came_back: (0..n).map(|i| came.value(i)).collect(),
            spend: spend.values().to_vec(),
            x,
        })?;
    }
    Ok(rows)
}

/// The uplift groups: `group, size, share, contacted, contacted_came_back,
/// control, control_came_back, contact_rate, control_rate, effect, effect_low,
/// effect_high, rule` (rates and effects honest: held-out customers only).
pub fn uplift_groups_table(model: &crate::uplift::UpliftModel) -> Result<RecordBatch> {
    let g = &model.tree.groups;
    batch(vec![
        ("group", count(g.iter().map(|x| x.id))),
        ("size", count(g.iter().map(|x| x.size))),
        ("share", number(g.iter().map(|x| x.share))),
        ("contacted", count(g.iter().map(|x| x.contacted))),
        ("contacted_came_back", count(g.iter().map(|x| x.contacted_came_back))),
        ("control", count(g.iter().map(|x| x.control))),
        ("control_came_back", count(g.iter().map(|x| x.control_came_back))),
        ("contact_rate", number(g.iter().map(|x| x.contact_rate))),
        ("control_rate", number(g.iter().map(|x| x.control_rate))),
        ("effect", number(g.iter().map(|x| x.effect))),
        ("effect_low", number(g.iter().map(|x| x.effect_low))),
        ("effect_high", number(g.iter().map(|x| x.effect_high))),
        ("rule", text(g.iter().map(|x| x.sentence.clone()))),
    ])
}

/// Uplift scores: `customer_id, group, effect, effect_low, effect_high`.
pub fn uplift_scores_table(scores: &[crate::uplift::UpliftScore]) -> Result<RecordBatch> {
    batch(vec![
        ("customer_id", text(scores.iter().map(|x| x.customer_id.clone()))),
        ("group", count(scores.iter().map(|x| x.group))),
        ("effect", number(scores.iter().map(|x| x.effect))),
        ("effect_low", number(scores.iter().map(|x| x.effect_low))),
        ("effect_high", number(scores.iter().map(|x| x.effect_high))),
    ])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use winback_core::lapse::LapseRule;
    use winback_core::{Line, LoadOptions};

    fn history() -> History {
        // 1,100 customers: three blocks of rows (the last one partial) for each group
        // of 8 columns.
        let ids: Vec<String> = (0..1100).map(|c| format!("c{c:04}")).collect();
        let lines: Vec<Line> = (0..1100usize)
            .flat_map(|c| (0..(c % 5 + 1)).map(move |k| (c, k)))
            .map(|(c, k)| Line { customer: ids[c].as_str(), day: (c % 17 + 11 * k) as i32, amount: 2.5 + (c * k) as f64, channel: Some(["app", "store"][c % 2]), ..Default::default() })
            .collect();
        History::from_lines(lines, false, &LoadOptions::default()).unwrap().0
    }

    #[test]
    fn the_feature_table_holds_the_matrix_column_by_column_in_either_layout() {
        let h = history();
        let x = crate::feature_table(&h, 80, &LapseRule::Fixed { days: 1 }, crate::Who::All, &Default::default()).unwrap();
        assert!(x.x.t().is_standard_layout(), "feature_table gives a column-major matrix");
        assert!(x.x.ncols() > 8, "more than one group of 8 columns");
        let mut rows = x.clone();
        rows.x = x.x.as_standard_layout().to_owned();
        assert!(rows.x.is_standard_layout());
        for m in [x.clone(), rows] {
            let t = features_table(&h, m).unwrap();
            assert_eq!((t.num_rows(), t.num_columns()), (x.x.nrows(), x.x.ncols() + 1));
            let ids = t.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            for (r, &c) in x.customers.iter().enumerate() {
                assert_eq!(ids.value(r), h.customer_ids()[c]);
            }
            for (j, f) in x.schema.features.iter().enumerate() {
                assert_eq!(t.schema().field(j + 1).name(), &f.name);
                let col = t.column(j + 1).as_any().downcast_ref::<Float64Array>().unwrap();
                assert_eq!(col.len(), x.x.nrows());
                let want: Vec<u64> = x.x.column(j).iter().map(|v| v.to_bits()).collect();
                assert_eq!(col.values().iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{}", f.name);
            }
        }
    }

    #[test]
    fn a_matrix_without_a_column_per_feature_is_refused() {
        let h = history();
        let mut x = crate::feature_table(&h, 80, &LapseRule::Fixed { days: 1 }, crate::Who::All, &Default::default()).unwrap();
        x.x = x.x.slice_axis(Axis(1), ndarray::Slice::from(1..)).to_owned();
        let e = features_table(&h, x).unwrap_err().to_string();
        assert!(e.contains("columns for"), "{e}");
    }
}
