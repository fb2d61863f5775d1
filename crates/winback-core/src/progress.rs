//! How far a long step is: readers report bytes or rows as they go, so a
//! front end can show a bar with a percentage, a rate and an estimate of the
//! time left (the CLI on a terminal; Python with `progress=True`).
//!
//! ```
//! use std::sync::Mutex;
//! use winback_core::progress::{Progress, Unit};
//! use winback_core::read::{read_csv_with, ColumnMap, CsvOptions};
//!
//! /// Each step: its name, total and units done.
//! #[derive(Default)]
//! struct Steps(Mutex<Vec<(String, Option<u64>, u64)>>);
//! impl Progress for Steps {
//!     fn begin(&self, step: &str, total: Option<u64>, _unit: Unit) { self.0.lock().unwrap().push((step.into(), total, 0)) }
//!     fn advance(&self, n: u64) { self.0.lock().unwrap().last_mut().unwrap().2 += n }
//!     fn finish(&self) {}
//! }
//! let path = std::env::temp_dir().join(format!("winback-progress-doc-{}.csv", std::process::id()));
//! std::fs::write(&path, "customer_id,date,amount\na,2024-01-05,20\nb,2024-02-01,7.5\n").unwrap();
//! let steps = Steps::default();
//! let map = ColumnMap::new("customer_id", "date", "amount");
//! read_csv_with(&path, &map, &CsvOptions::default(), &Default::default(), &steps)?;
//! // Every byte of the file was reported against its size, then every line grouped.
//! let size = std::fs::metadata(&path).unwrap().len();
//! assert_eq!(steps.0.into_inner().unwrap(), [
//!     (format!("reading {}", path.display()), Some(size), size),
//!     ("grouping lines into purchases".to_string(), Some(2), 2),
//! ]);
//! std::fs::remove_file(&path).ok();
//! # Ok::<(), winback_core::Error>(())
//! ```

use std::io::Read;

/// What the total and the increments count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes of a file (compressed bytes for a `.gz` file).
    Bytes,
    /// Rows of a table.
    Rows,
}

/// Receives the progress of a long step. Called from worker threads: keep
/// `advance` cheap (an atomic add) and draw at your own pace.
pub trait Progress: Sync {
    /// A step begins (`"reading sales.csv"`), with its total when known.
    fn begin(&self, step: &str, total: Option<u64>, unit: Unit);
    /// `n` more units are done.
    fn advance(&self, n: u64);
    /// The step is over (also after an error).
    fn finish(&self);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str, _: Option<u64>, _: Unit) {}
    fn advance(&self, _: u64) {}
    fn finish(&self) {}
}

/// A reader that reports the bytes read through it.
pub(crate) struct Counted<'p, R> {
    pub(crate) inner: R,
    pub(crate) progress: &'p dyn Progress,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.advance(n as u64);
        Ok(n)
    }
}

/// Runs `f` between `begin` and `finish` (finish also on error).
pub(crate) fn step<T>(progress: &dyn Progress, what: &str, total: Option<u64>, unit: Unit, f: impl FnOnce() -> T) -> T {
    progress.begin(what, total, unit);
    let out = f();
    progress.finish();
    out
}
