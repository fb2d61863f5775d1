//! Features of a customer table alone, without a purchase history: the traits a
//! past campaign knew about each customer before it ran (months since the last
//! purchase, past spend, channel, region...), for uplift groups fitted on a
//! campaign whose customers came from another system.
//!
//! Columns are typed as in [`crate::attributes`]; numeric columns are used as they
//! are, categorical ones as one-hot levels (the most frequent `max_levels` plus
//! `other`), date columns as days before `at` (left out without `at`), each with a
//! `_missing` indicator where values are missing. A numeric column of 0/1 reads
//! as a yes/no in rules, one of whole numbers as a count. Learned once, applied to any
//! table with the same columns (new levels count as `other`).
//!
//! ```
//! use winback_core::attributes::Attributes;
//! use winback_core::read::CsvOptions;
//! use winback_core::traits::TraitSchema;
//! let data = "id,recency,channel\n1,3,Web\n2,,Phone\n3,10,Web\n";
//! let table = Attributes::read_csv_from(data.as_bytes(), "traits.csv", "id", &CsvOptions::default())?;
//! let schema = TraitSchema::learn(&table, 8, None)?;
//! assert_eq!(schema.names(), ["recency", "recency_missing", "channel=Phone", "channel=Web"]);
//! let x = schema.build(&table)?;
//! assert_eq!(x.row(1).to_vec(), [0.0, 1.0, 1.0, 0.0]);
//! # Ok::<(), winback_core::Error>(())
//! ```

use std::collections::BTreeMap;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::attributes::{AttrValues, Attributes};
use crate::date::Day;
use crate::error::{Error, Result};
use crate::features::{attr_value, attribute_features, vocab_map, Feature, FeatureKind, Source};

/// The columns of a trait matrix (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraitSchema {
    /// The features, in matrix order.
    pub features: Vec<Feature>,
    /// Kept levels of each categorical column.
    pub levels: BTreeMap<String, Vec<String>>,
    /// The date date columns are measured from (none: date columns unused).
    pub at: Option<Day>,
}

impl TraitSchema {
    /// Learns the columns of `table` (every column of it; drop the outcome and arm
    /// columns first).
    pub fn learn(table: &Attributes, max_levels: usize, at: Option<Day>) -> Result<TraitSchema> {
        if max_levels == 0 {
            return Err(Error::InvalidMaxLevels(0));
        }
        let mut features = Vec::new();
        let mut add = |name: String, kind: FeatureKind, unit: &str, source: Source| features.push(Feature { name, kind, unit: unit.to_string(), source });
        let levels = attribute_features(table, max_levels, at.is_some(), &mut add);
        // Rules read better when a 0/1 column is a yes/no and a whole-number column a count.
        for f in &mut features {
            if let (Source::AttrNumber(n), FeatureKind::Number) = (&f.source, &f.kind) {
                if let Some(AttrValues::Numeric(v)) = table.column(n).map(|c| &c.values) {
                    let known = || v.iter().filter(|x| !x.is_nan());
                    if known().all(|&x| x == 0.0 || x == 1.0) {
                        f.kind = FeatureKind::Indicator;
                    } else if known().all(|&x| x.fract() == 0.0 && x.abs() < 1e15) {
                        f.kind = FeatureKind::Count;
                    }
                }
            }
        }
        Ok(TraitSchema { features, levels, at })
    }

    /// The feature names.
    pub fn names(&self) -> Vec<&str> {
        self.features.iter().map(|f| f.name.as_str()).collect()
    }

    /// The matrix of `table`: one row per table row (in its order), one column per
    /// feature. Fails when a column the schema needs is missing or has changed type.
    pub fn build(&self, table: &Attributes) -> Result<Array2<f64>> {
        let cutoff = self.at.unwrap_or(Day::MAX);
        let maps: BTreeMap<String, Vec<Option<usize>>> = table
            .columns()
            .iter()
            .filter_map(|c| match (&c.values, self.levels.get(&c.name)) {
                (AttrValues::Categorical { levels, .. }, Some(kept)) => Some((c.name.clone(), vocab_map(levels, kept))),
                _ => None,
            })
            .collect();
        let mut x = Array2::<f64>::zeros((table.len(), self.features.len()));
        for (j, f) in self.features.iter().enumerate() {
            let Some(name) = f.source.attribute_column() else {
                return Err(Error::MissingAttributeColumn { feature: f.name.clone(), column: String::new() });
            };
            let col = table.column(name).ok_or_else(|| Error::MissingAttributeColumn { feature: f.name.clone(), column: name.to_string() })?;
            let fits = matches!(
                (&f.source, &col.values),
                (Source::AttrNumber(_), AttrValues::Numeric(_))
                    | (Source::AttrDays(_), AttrValues::Date(_))
                    | (Source::AttrLevel(..), AttrValues::Categorical { .. })
                    | (Source::AttrMissing(_), _)
            );
            if !fits {
                return Err(Error::MissingAttributeColumn { feature: f.name.clone(), column: format!("{name} (of another type)") });
            }
            for r in 0..table.len() {
                let v = attr_value(&f.source, &col.values, r, cutoff, &maps);
                x[(r, j)] = if v.is_finite() { v } else { 0.0 };
            }
        }
        Ok(x)
    }
}
