//! The tables every interface writes, as Arrow record batches: the CLI writes
//! them to CSV or Parquet, the Python package hands them to pyarrow, pandas or
//! polars. One definition of each table's columns.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use winback_core::features::FeatureMatrix;
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

/// The contact list: `rank, customer_id, group, probability, expected_value, rule`.
pub fn contacts_table(list: &[ContactRow]) -> Result<RecordBatch> {
    batch(vec![
        ("rank", count(list.iter().map(|r| r.rank))),
        ("customer_id", text(list.iter().map(|r| r.customer.clone()))),
        ("group", count(list.iter().map(|r| r.group))),
        ("probability", number(list.iter().map(|r| r.probability))),
        ("expected_value", number(list.iter().map(|r| r.expected_value))),
        ("rule", text(list.iter().map(|r| r.rule.clone()))),
    ])
}

/// The feature table: `customer_id` and one column per feature.
pub fn features_table(history: &History, x: &FeatureMatrix) -> Result<RecordBatch> {
    let mut cols: Vec<(&str, ArrayRef)> = vec![("customer_id", text(x.customers.iter().map(|&i| history.customer_ids()[i].clone())))];
    for (j, f) in x.schema.features.iter().enumerate() {
        cols.push((f.name.as_str(), number(x.x.column(j).iter().copied())));
    }
    batch(cols)
}
