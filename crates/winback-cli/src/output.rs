//! Tables out: CSV (file or stdout) or Parquet, chosen by the file's extension.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};

use crate::Failure;

/// A column of an output table.
pub enum Col {
    /// Text.
    Str(Vec<String>),
    /// Numbers.
    F64(Vec<f64>),
    /// Counts and ids.
    U64(Vec<u64>),
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::Str(v) => v.len(),
            Col::F64(v) => v.len(),
            Col::U64(v) => v.len(),
        }
    }
    fn cell(&self, r: usize) -> String {
        match self {
            Col::Str(v) => v[r].clone(),
            Col::F64(v) => format!("{}", v[r]),
            Col::U64(v) => v[r].to_string(),
        }
    }
}

/// Named columns of equal length.
#[derive(Default)]
pub struct Table {
    cols: Vec<(String, Col)>,
}

impl Table {
    /// Adds a column.
    pub fn push(&mut self, name: &str, c: Col) {
        self.cols.push((name.to_string(), c));
    }

    fn rows(&self) -> usize {
        self.cols.first().map_or(0, |(_, c)| c.len())
    }

    /// Writes to `target`: `-` = CSV on stdout, `*.parquet` = Parquet, else CSV.
    pub fn write(&self, target: &str) -> Result<(), Failure> {
        let fail = |e: String| Failure::Data(format!("cannot write {target}: {e}"));
        if target.ends_with(".parquet") {
            let arrays: Vec<(String, ArrayRef)> = self
                .cols
                .iter()
                .map(|(n, c)| {
                    let a: ArrayRef = match c {
                        Col::Str(v) => Arc::new(StringArray::from(v.clone())),
                        Col::F64(v) => Arc::new(Float64Array::from(v.clone())),
                        Col::U64(v) => Arc::new(UInt64Array::from(v.clone())),
                    };
                    (n.clone(), a)
                })
                .collect();
            let batch = RecordBatch::try_from_iter(arrays).map_err(|e| fail(e.to_string()))?;
            let f = std::fs::File::create(target).map_err(|e| fail(e.to_string()))?;
            let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).map_err(|e| fail(e.to_string()))?;
            w.write(&batch).map_err(|e| fail(e.to_string()))?;
            w.close().map_err(|e| fail(e.to_string()))?;
            return Ok(());
        }
        let sink: Box<dyn std::io::Write> = if target == "-" {
            Box::new(std::io::stdout().lock())
        } else {
            Box::new(std::fs::File::create(target).map_err(|e| fail(e.to_string()))?)
        };
        let mut w = csv::Writer::from_writer(std::io::BufWriter::new(sink));
        w.write_record(self.cols.iter().map(|(n, _)| n.as_str())).map_err(|e| fail(e.to_string()))?;
        for r in 0..self.rows() {
            w.write_record(self.cols.iter().map(|(_, c)| c.cell(r))).map_err(|e| fail(e.to_string()))?;
        }
        w.flush().map_err(|e| fail(e.to_string()))
    }
}
