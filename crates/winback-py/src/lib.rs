//! Python bindings of winback: conversion only. Tables arrive through the Arrow
//! C stream interface (`__arrow_c_stream__`: pyarrow, polars, pandas ≥ 2.2,
//! DuckDB), batch by batch; results leave as pyarrow record batches. Every step
//! calls the `winback` facade; heavy calls release the interpreter lock.

/// The extension's allocator for Rust's own allocations (Python and pyarrow keep
/// theirs). Measured on a 100M-line fit from Python: glibc kept the loader's freed
/// per-partition buffers in its per-thread arenas (see the README, "Memory on a
/// large job"); mimalloc gives them back. Built with `no_thp`, as the CLI is (the
/// kernel zeroing transparent huge pages otherwise took much of the time).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::ffi_stream::RecordBatchStreamReader as ArrowArrayStreamReader;
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use pyo3::prelude::*;
use winback::core::date::{format_day, parse_iso_date, Day};
use winback::core::lapse::LapseRule;
use winback::core::read::ColumnMap;
use winback::core::LoadOptions;
use winback::rank::PlanParams;
use winback::{Config, GroupOrder, SplitOn, WinbackModel};

/// An exception of the Python package's own classes (`winback._errors`: every one
/// derives from `WinbackError`, data and parameter errors from `ValueError` too).
fn py_error(class: &str, message: String) -> PyErr {
    Python::attach(|py| {
        let cls = py.import("winback._errors").and_then(|m| m.getattr(class));
        match cls.and_then(|c| c.call1((message.clone(),))) {
            Ok(obj) => PyErr::from_value(obj),
            Err(e) => e,
        }
    })
}

#[allow(non_snake_case)]
fn WinbackError(message: impl Into<String>) -> PyErr {
    py_error("WinbackError", message.into())
}

#[allow(non_snake_case)]
fn WinbackDataError(message: impl Into<String>) -> PyErr {
    py_error("WinbackDataError", message.into())
}

#[allow(non_snake_case)]
fn WinbackParamError(message: impl Into<String>) -> PyErr {
    py_error("WinbackParamError", message.into())
}

fn err(e: impl Into<winback::Error>) -> PyErr {
    let e = e.into();
    if e.is_parameter() {
        return WinbackParamError(e.to_string());
    }
    let out = WinbackDataError(e.to_string());
    // Rows that were all skipped: the exception carries their load report
    // (`load_report`, a dict), so that a caller merging reports (winback.spark)
    // counts them without reading the message.
    if let winback::Error::Core(winback::core::Error::EmptyInput { report, .. }) = &e {
        if let Ok(json) = serde_json::to_string(report) {
            Python::attach(|py| {
                let report = py.import("json").and_then(|m| m.getattr("loads")).and_then(|f| f.call1((json,)));
                if let Ok(report) = report {
                    let _ = out.value(py).setattr("load_report", report);
                }
            });
        }
    }
    out
}

/// A save's error: a file that cannot be written is an `OSError`, as `open` raises it.
fn save_err(e: winback::Error) -> PyErr {
    match e {
        winback::Error::Io { .. } => pyo3::exceptions::PyOSError::new_err(e.to_string()),
        other => err(other),
    }
}

/// The most threads a call may ask for.
const MAX_THREADS: usize = 1024;

/// Set in a forked child (see `_after_fork`): rayon's global pool has no threads
/// there, so work runs on a fresh pool instead of deadlocking.
static FORKED: AtomicBool = AtomicBool::new(false);

/// Marks this process as a forked child (registered with `os.register_at_fork`).
#[pyfunction]
fn _after_fork() {
    FORKED.store(true, Ordering::SeqCst);
}

/// Runs `f` without the interpreter lock, on `threads` threads when given (or one
/// in a forked child), else on rayon's global pool (`RAYON_NUM_THREADS`).
/// A panic (a bug) becomes a `WinbackError`, never a `PanicException`.
fn run<T: Send>(py: Python<'_>, threads: Option<usize>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    if let Some(n) = threads {
        if !(1..=MAX_THREADS).contains(&n) {
            return Err(WinbackParamError(format!("n_threads must be between 1 and {MAX_THREADS}, got {n}")));
        }
    }
    let guarded = move || std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let forked = FORKED.load(Ordering::SeqCst);
    let out = match (threads, forked) {
        (None, false) => py.detach(guarded),
        (n, _) => {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(n.unwrap_or(1)).build().map_err(|e| WinbackError(e.to_string()))?;
            py.detach(|| pool.install(guarded))
        }
    };
    out.map_err(|p| {
        let what = p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_default();
        WinbackError(format!("internal error (please report it): {what}"))
    })
}

fn day(s: &str) -> PyResult<Day> {
    parse_iso_date(s).ok_or_else(|| WinbackParamError(format!("date {s:?} is not YYYY-MM-DD")))
}

/// A purchase history read from a table.
#[pyclass(frozen, module = "winback._winback")]
struct History {
    inner: Arc<winback::core::History>,
    /// The load report as JSON.
    #[pyo3(get)]
    report_json: String,
    /// The Arrow type of the customer id column (`int64`, `double`, `string`...),
    /// so ids can leave in the type they came in.
    #[pyo3(get)]
    id_type: String,
    /// The attribute table's report as JSON (rows read, missing and repeated keys,
    /// rows for customers without purchases), or an empty string.
    #[pyo3(get)]
    attributes_report_json: String,
}

/// Progress of a read handed to a Python callable `(step, done, total, unit, final)`
/// at most every 200 ms (`total` is `None` when unknown; `unit` is "bytes" or "rows").
struct PyProgress {
    callback: Py<PyAny>,
    done: std::sync::atomic::AtomicU64,
    state: std::sync::Mutex<(String, Option<u64>, &'static str, std::time::Instant)>,
}

impl PyProgress {
    fn call(&self, last: bool) {
        let Ok(s) = self.state.lock() else { return };
        let (step, total, unit) = (s.0.clone(), s.1, s.2);
        drop(s);
        let done = self.done.load(Ordering::Relaxed);
        Python::attach(|py| {
            // A failing callback must not stop the read: its error is printed and dropped.
            if let Err(e) = self.callback.call1(py, (step, done, total, unit, last)) {
                e.print(py);
            }
        });
    }
}

impl winback::core::progress::Progress for PyProgress {
    fn begin(&self, step: &str, total: Option<u64>, unit: winback::core::progress::Unit) {
        self.done.store(0, Ordering::Relaxed);
        if let Ok(mut s) = self.state.lock() {
            let unit = match unit {
                winback::core::progress::Unit::Bytes => "bytes",
                winback::core::progress::Unit::Rows => "rows",
            };
            *s = (step.to_string(), total, unit, std::time::Instant::now());
        }
        self.call(false);
    }
    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        let due = match self.state.try_lock() {
            Ok(mut s) if s.3.elapsed() >= std::time::Duration::from_millis(200) => {
                s.3 = std::time::Instant::now();
                true
            }
            _ => false,
        };
        if due {
            self.call(false);
        }
    }
    fn finish(&self) {
        self.call(true);
    }
}

/// Reads a purchase history from any object with `__arrow_c_stream__`, or a path.
#[pyfunction]
#[pyo3(signature = (data, customer_id_col, datetime_col, monetary_value_col, quantity_col=None, order_id_col=None, channel_col=None, category_col=None, region_col=None, cancelled_col=None, date_format=None, time_zone=None, strict=false, source="<dataframe>", skip_zero_amounts=false, drop_duplicates=false, attributes=None, attributes_key="customer_id", threads=None, progress=None, progress_total=None, only_before=None))]
#[allow(clippy::too_many_arguments)]
fn read_history(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    customer_id_col: &str,
    datetime_col: &str,
    monetary_value_col: &str,
    quantity_col: Option<String>,
    order_id_col: Option<String>,
    channel_col: Option<String>,
    category_col: Option<String>,
    region_col: Option<String>,
    cancelled_col: Option<String>,
    date_format: Option<String>,
    time_zone: Option<String>,
    strict: bool,
    source: &str,
    skip_zero_amounts: bool,
    drop_duplicates: bool,
    attributes: Option<&Bound<'_, PyAny>>,
    attributes_key: &str,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    progress_total: Option<u64>,
    only_before: Option<String>,
) -> PyResult<History> {
    let only_before = only_before.as_deref().map(day).transpose()?;
    let attrs = attributes.map(|a| read_attributes(a, attributes_key)).transpose()?;
    // strict covers the attribute table too, as in the CLI.
    if let Some(a) = attrs.as_ref().filter(|_| strict) {
        a.report().strict("attributes").map_err(err)?;
    }
    // A path (file, directory of Parquet files, or pattern) is read by the facade;
    // anything else is an Arrow stream.
    let path: Option<String> = data.extract::<String>().ok();
    let reader = match &path {
        Some(_) => None,
        None => Some(ArrowArrayStreamReader::from_pyarrow_bound(data)?),
    };
    let id_type = match &reader {
        Some(r) => {
            use arrow_array::RecordBatchReader;
            r.schema().field_with_name(customer_id_col).map(|f| f.data_type().to_string().to_lowercase()).unwrap_or_default()
        }
        None => String::new(),
    };
    let mut map = ColumnMap::new(customer_id_col, datetime_col, monetary_value_col);
    map.quantity = quantity_col;
    map.order = order_id_col;
    map.channel = channel_col;
    map.category = category_col;
    map.region = region_col;
    map.cancelled = cancelled_col;
    if let Some(f) = date_format {
        map = map.date_format(winback::core::date::DateFormat::Custom(f));
    }
    if let Some(z) = time_zone {
        map = map.time_zone(&z);
    }
    let opts = LoadOptions { strict, skip_zero_amounts, drop_duplicates, only_before, ..Default::default() };
    let source = source.to_string();
    let sink = progress.map(|callback| PyProgress {
        callback,
        done: std::sync::atomic::AtomicU64::new(0),
        state: std::sync::Mutex::new((String::new(), None, "bytes", std::time::Instant::now())),
    });
    let (h, report) = match (reader, path) {
        (Some(reader), _) => run(py, threads, move || {
            use winback::core::progress::{Progress, Unit};
            match &sink {
                Some(p) => {
                    p.begin(&format!("reading {source}"), progress_total, Unit::Rows);
                    let counted = reader.inspect(|b| {
                        if let Ok(b) = b {
                            p.advance(b.num_rows() as u64);
                        }
                    });
                    let out = winback::core::arrow::read_record_batches_with(counted, &source, &map, &opts, p);
                    p.finish();
                    out
                }
                None => winback::core::arrow::read_record_batches(reader, &source, &map, &opts),
            }
        })?
        .map_err(err)?,
        (None, Some(path)) => {
            run(py, threads, move || match &sink {
                Some(p) => winback::read_history_with(std::path::Path::new(&path), &map, &Default::default(), &opts, p),
                None => winback::read_history(std::path::Path::new(&path), &map, &Default::default(), &opts),
            })?
            .map_err(err)?
        }
        (None, None) => return Err(WinbackError("no data")),
    };
    // A file names no id type: ids written as plain integers (no plus sign, no
    // leading zero; "-5" is one) leave as int64, as a table's int64 column would.
    let id_type = if id_type.is_empty() && h.ids_are_integers() {
        "int64".to_string()
    } else {
        id_type
    };
    let h = match attrs {
        Some(a) => h.with_attributes(a),
        None => h,
    };
    let attributes_report_json = h.attributes().map(|a| serde_json::to_string(a.report()).unwrap_or_default()).unwrap_or_default();
    Ok(History { inner: Arc::new(h), report_json: serde_json::to_string(&report).unwrap_or_default(), id_type, attributes_report_json })
}

/// A customer attribute table from any `__arrow_c_stream__` object (typed by the
/// core reader: numeric, date or categorical; empty and repeated keys counted).
fn read_attributes(data: &Bound<'_, PyAny>, key: &str) -> PyResult<winback::core::attributes::Attributes> {
    // A path: winback's own CSV reader (columns typed as the CLI types them, bad rows counted).
    if let Ok(path) = data.extract::<String>() {
        return winback::core::attributes::Attributes::read_csv(&path, key, &Default::default()).map_err(err);
    }
    let reader = ArrowArrayStreamReader::from_pyarrow_bound(data)?;
    winback::core::arrow::read_attribute_batches(reader, "attributes", key).map_err(err)
}

#[pymethods]
impl History {
    /// Number of customers.
    fn num_customers(&self) -> usize {
        self.inner.num_customers()
    }
}


/// The lapse decision at `at` as JSON (threshold, gap distribution, counts).
#[pyfunction]
#[pyo3(signature = (history, at, lapse_days=None, lapse_quantile=None, threads=None))]
fn lapse_threshold(py: Python<'_>, history: &History, at: &str, lapse_days: Option<i64>, lapse_quantile: Option<f64>, threads: Option<usize>) -> PyResult<String> {
    let at = day(at)?;
    let h = Arc::clone(&history.inner);
    let l = run(py, threads, move || winback::lapse(&h, at, &LapseRule::from_options(lapse_days, lapse_quantile)))?.map_err(err)?;
    let summary = winback::LapseSummary::from(&l);
    Ok(serde_json::to_string(&summary).unwrap_or_default())
}


/// The feature table of the lapsed (or all) customers at `at`.
#[pyfunction]
#[pyo3(signature = (history, at, threads=None))]
fn bgnbd(py: Python<'_>, history: &History, at: &str, threads: Option<usize>) -> PyResult<Option<(f64, f64, f64, f64)>> {
    let at = day(at)?;
    let h = Arc::clone(&history.inner);
    Ok(run(py, threads, move || winback::btyd(&h, at))?.map(|m| (m.r, m.alpha, m.a, m.b)))
}

#[pyfunction]
#[pyo3(signature = (history, at, lapse_days=None, lapse_quantile=None, all=false, threads=None))]
fn features<'py>(py: Python<'py>, history: &History, at: &str, lapse_days: Option<i64>, lapse_quantile: Option<f64>, all: bool, threads: Option<usize>) -> PyResult<Bound<'py, PyAny>> {
    let at = day(at)?;
    let h = Arc::clone(&history.inner);
    let who = if all { winback::Who::All } else { winback::Who::Lapsed };
    let table = run(py, threads, move || -> winback::Result<_> {
        let x = winback::feature_table(&h, at, &LapseRule::from_options(lapse_days, lapse_quantile), who, &Default::default())?;
        winback::features_table(&h, x)
    })?
    .map_err(err)?;
    table.to_pyarrow(py)
}

/// Groups above the maximum share of the scored list: a `WinbackDataWarning`.
fn warn_shares(py: Python<'_>, s: &winback::Scores) -> PyResult<()> {
    if s.warnings.is_empty() {
        return Ok(());
    }
    let cls = py.import("winback._errors")?.getattr("WinbackDataWarning")?;
    // Point at the user's line, however deep in the package the native call is
    // (`winback._stacklevel` counts the package's frames above this call).
    let level: i32 = py.import("winback")?.getattr("_stacklevel")?.call0()?.extract().unwrap_or(1);
    for w in &s.warnings {
        PyErr::warn(py, &cls, &std::ffi::CString::new(w.as_str()).unwrap_or_default(), level)?;
    }
    Ok(())
}

fn plan_params(json: &str) -> PyResult<PlanParams> {
    let p: PlanParams = serde_json::from_str(json).map_err(|e| WinbackParamError(format!("plan parameters: {e}")))?;
    p.validate().map_err(err)?;
    Ok(p)
}

fn plan_json(p: &winback::rank::Plan) -> String {
    serde_json::to_string(&p.summary()).unwrap_or_default()
}

/// A fitted model (see `winback.WinbackModel` for the Python estimator).
#[pyclass(frozen, module = "winback._winback")]
struct Model {
    inner: WinbackModel,
}

/// The fitting options every fitting function takes: a dict with exactly the keys
/// of `WinbackModel._fit_options()` (checked there), turned into one [`Config`].
#[derive(FromPyObject)]
#[pyo3(from_item_all)]
struct FitOptions {
    horizon_days: i64,
    lapse_days: Option<i64>,
    lapse_quantile: Option<f64>,
    groups: usize,
    training_cutoffs: usize,
    seed: u64,
    min_history_days: Option<i64>,
    honest_fraction: f64,
    split_on: String,
    group_order: String,
}

impl FitOptions {
    fn config(&self) -> PyResult<Config> {
        let lapse = LapseRule::from_options(self.lapse_days, self.lapse_quantile);
        let split_on = SplitOn::parse(&self.split_on).ok_or_else(|| WinbackParamError(format!("split_on must be 'outcomes' or 'smoothed', got {:?}", self.split_on)))?;
        let group_order = GroupOrder::parse(&self.group_order).ok_or_else(|| WinbackParamError(format!("group_order must be 'smoothed' or 'observed', got {:?}", self.group_order)))?;
        Ok(Config::from_options(lapse, self.horizon_days, self.groups, self.seed, self.training_cutoffs, self.min_history_days)
            .with_honest_fraction(self.honest_fraction)
            .with_split_on(split_on)
            .with_group_order(group_order))
    }
}

#[pymethods]
impl Model {
    /// Fits standing at `at`.
    #[staticmethod]
    #[pyo3(signature = (history, at, options, threads=None))]
    fn fit(py: Python<'_>, history: &History, at: &str, options: FitOptions, threads: Option<usize>) -> PyResult<Model> {
        let at = day(at)?;
        let config = options.config()?;
        let h = Arc::clone(&history.inner);
        let inner = run(py, threads, move || WinbackModel::fit(&h, at, &config))?.map_err(err)?;
        Ok(Model { inner })
    }

    /// The lapsed customers at `at`: customer_id, group, probability, interval, priority, rule.
    #[pyo3(signature = (history, at, threads=None))]
    fn score<'py>(&self, py: Python<'py>, history: &History, at: &str, threads: Option<usize>) -> PyResult<Bound<'py, PyAny>> {
        let at = day(at)?;
        let h = Arc::clone(&history.inner);
        let s = run(py, threads, || self.inner.score(&h, at))?.map_err(err)?;
        warn_shares(py, &s)?;
        winback::scores_table(&self.inner, &s).map_err(err)?.to_pyarrow(py)
    }

    /// The group profiles at `at`: the flat table and the full profiles as JSON.
    #[pyo3(signature = (history, at, threads=None))]
    fn profile<'py>(&self, py: Python<'py>, history: &History, at: &str, threads: Option<usize>) -> PyResult<(Bound<'py, PyAny>, String)> {
        let at = day(at)?;
        let h = Arc::clone(&history.inner);
        let (s, p) = run(py, threads, || -> winback::Result<_> {
            let s = self.inner.score(&h, at)?;
            let p = self.inner.profile_scores(&h, &s);
            Ok((s, p))
        })?
        .map_err(err)?;
        warn_shares(py, &s)?;
        let json = serde_json::to_string(&p).map_err(|e| WinbackError(e.to_string()))?;
        Ok((winback::profiles_table(&p).map_err(err)?.to_pyarrow(py)?, json))
    }

    /// The plan as JSON and the contact list as a record batch; `params` is the
    /// plan parameters as JSON (the fields of `winback::rank::PlanParams`).
    #[pyo3(signature = (history, at, params, threads=None))]
    fn plan<'py>(&self, py: Python<'py>, history: &History, at: &str, params: &str, threads: Option<usize>) -> PyResult<(String, Bound<'py, PyAny>)> {
        let at = day(at)?;
        let params = plan_params(params)?;
        let h = Arc::clone(&history.inner);
        let (s, p, list) = run(py, threads, || -> winback::Result<_> {
            let s = self.inner.score(&h, at)?;
            let (p, list) = self.inner.plan(&s, &params)?;
            Ok((s, p, list))
        })?
        .map_err(err)?;
        warn_shares(py, &s)?;
        Ok((plan_json(&p), winback::contacts_table(&list).map_err(err)?.to_pyarrow(py)?))
    }

    /// Records a wave's outcomes (CSV text: `group,contacted,came_back` or
    /// `customer_id,contacted,came_back`) and plans what is left. Returns the
    /// updated model (this one is unchanged), the plan as JSON and the contact list.
    #[pyo3(signature = (history, at, outcomes_csv, source, params, threads=None))]
    fn feedback<'py>(&self, py: Python<'py>, history: &History, at: &str, outcomes_csv: &str, source: &str, params: &str, threads: Option<usize>) -> PyResult<(Model, String, Bound<'py, PyAny>)> {
        let at = day(at)?;
        let params = plan_params(params)?;
        let h = Arc::clone(&history.inner);
        let mut next = self.inner.clone();
        let (s, fb) = run(py, threads, || -> winback::Result<_> {
            let s = next.score(&h, at)?;
            let wave = winback::read_outcomes_with(outcomes_csv.as_bytes(), source, Some(&s))?;
            let fb = next.feedback(&s, &wave, &params)?;
            Ok((s, fb))
        })?
        .map_err(err)?;
        warn_shares(py, &s)?;
        Ok((Model { inner: next }, plan_json(&fb.plan), winback::contacts_table(&fb.contacts).map_err(err)?.to_pyarrow(py)?))
    }

    /// Fits from every shard's rows (an Arrow stream of `shard_rows` batches) and
    /// the plan (JSON) they were built with.
    #[staticmethod]
    fn fit_rows(py: Python<'_>, plan: &str, rows: &Bound<'_, PyAny>) -> PyResult<Model> {
        let plan: winback::sharded::FitPlan = serde_json::from_str(plan).map_err(json_err)?;
        let reader = ArrowArrayStreamReader::from_pyarrow_bound(rows)?;
        let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| WinbackDataError(e.to_string()))?;
        let inner = run(py, None, move || -> winback::Result<_> {
            let rows = winback::shard_rows_from(&batches, &plan.schema)?;
            winback::sharded::fit_rows(&plan, rows)
        })?
        .map_err(err)?;
        Ok(Model { inner })
    }

    /// A shard's scores at `at`, with the merged census (JSON) at `at`.
    fn score_with<'py>(&self, py: Python<'py>, history: &History, at: &str, census: &str) -> PyResult<Bound<'py, PyAny>> {
        let at = day(at)?;
        let census = census_at(census, at)?;
        let h = Arc::clone(&history.inner);
        let s = run(py, Some(1), || self.inner.score_with(&h, at, &census))?.map_err(err)?;
        winback::scores_table(&self.inner, &s).map_err(err)?.to_pyarrow(py)
    }

    /// The warnings of scores at `at` gathered from every shard: `data_end` is the
    /// last day of the data, `group_counts` the customers scored per group (by id − 1).
    fn scoring_warnings(&self, at: &str, data_end: &str, group_counts: Vec<usize>) -> PyResult<Vec<String>> {
        let (at, data_end) = (day(at)?, day(data_end)?);
        let k = self.inner.segmentation.groups.len();
        if group_counts.len() != k {
            return Err(WinbackParamError(format!("{} group counts for a model of {k} groups", group_counts.len())));
        }
        Ok(self.inner.scoring_warnings(at, data_end, &group_counts))
    }

    /// The plan (JSON) and contact list of scored customers given as an Arrow
    /// stream (`customer_id, group, probability, probability_low, probability_high,
    /// priority`), as gathered from every shard.
    fn plan_scores<'py>(&self, py: Python<'py>, scores: &Bound<'_, PyAny>, params: &str) -> PyResult<(String, Bound<'py, PyAny>)> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::{Float64Type, Int64Type};
        let params = plan_params(params)?;
        let reader = ArrowArrayStreamReader::from_pyarrow_bound(scores)?;
        let mut scored = Vec::new();
        for b in reader {
            let b = b.map_err(|e| WinbackDataError(e.to_string()))?;
            let col = |n: &str| b.column_by_name(n).cloned().ok_or_else(|| WinbackDataError(format!("scores have no column `{n}`")));
            let ids = arrow_cast::cast(&col("customer_id")?, &arrow_schema::DataType::Utf8).map_err(|e| WinbackDataError(e.to_string()))?;
            let group = arrow_cast::cast(&col("group")?, &arrow_schema::DataType::Int64).map_err(|e| WinbackDataError(e.to_string()))?;
            let f = |n: &str| -> PyResult<arrow_array::ArrayRef> {
                arrow_cast::cast(&col(n)?, &arrow_schema::DataType::Float64).map_err(|e| WinbackDataError(e.to_string()))
            };
            let (p, lo, hi, prio) = (f("probability")?, f("probability_low")?, f("probability_high")?, f("priority")?);
            let (ids, group) = (ids.as_string::<i32>(), group.as_primitive::<Int64Type>());
            let (p, lo, hi, prio) = (p.as_primitive::<Float64Type>(), lo.as_primitive::<Float64Type>(), hi.as_primitive::<Float64Type>(), prio.as_primitive::<Float64Type>());
            {
                use arrow_array::Array;
                let nulls = ids.null_count() + group.null_count() + p.null_count() + lo.null_count() + hi.null_count() + prio.null_count();
                if nulls > 0 {
                    return Err(WinbackDataError(format!("scores have {nulls} empty values")));
                }
            }
            for i in 0..b.num_rows() {
                scored.push(winback::ScoredCustomer {
                    customer_id: ids.value(i).to_string(),
                    group: usize::try_from(group.value(i)).unwrap_or(0),
                    probability: p.value(i),
                    probability_low: lo.value(i),
                    probability_high: hi.value(i),
                    priority: prio.value(i),
                });
            }
        }
        let (p, list) = run(py, None, || self.inner.plan_customers(&scored, &params))?.map_err(err)?;
        Ok((plan_json(&p), winback::contacts_table(&list).map_err(err)?.to_pyarrow(py)?))
    }

    /// How the model was fitted, as JSON (the model file's `config`).
    fn config_json(&self) -> String {
        serde_json::to_string(&self.inner.config).unwrap_or_default()
    }

    /// The recorded waves as JSON.
    fn waves_json(&self) -> String {
        serde_json::to_string(&self.inner.waves).unwrap_or_default()
    }

    /// The effect of contact per group (recorded waves with a control arm) as JSON.
    fn effects_json(&self) -> PyResult<String> {
        let e = self.inner.effects().map_err(err)?;
        serde_json::to_string(&e).map_err(json_err)
    }

    /// The groups as JSON.
    fn groups_json(&self) -> String {
        serde_json::to_string(&self.inner.segmentation.groups).unwrap_or_default()
    }

    /// Share of customers sampled for training (`None`: all).
    #[getter]
    fn training_sample(&self) -> Option<f64> {
        self.inner.training_sample
    }

    /// Lapse threshold used when scoring.
    #[getter]
    fn lapse_days(&self) -> i64 {
        self.inner.lapse_days
    }

    /// Feature names, in matrix order.
    #[getter]
    fn feature_names(&self) -> Vec<String> {
        self.inner.schema.features.iter().map(|f| f.name.clone()).collect()
    }

    /// The date the model was fitted standing at (ISO date).
    #[getter]
    fn fitted_at(&self) -> String {
        format_day(self.inner.fitted_at)
    }

    /// Training cutoffs (ISO dates).
    #[getter]
    fn training_cutoffs(&self) -> Vec<String> {
        self.inner.training_cutoffs.iter().map(|d| format_day(*d)).collect()
    }

    /// The model file's JSON.
    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().map_err(err)
    }

    /// Writes the model file atomically (`WinbackModel::save`).
    fn save(&self, path: &str) -> PyResult<()> {
        self.inner.save(path).map_err(save_err)
    }

    /// A model from its JSON (another format version is refused).
    #[staticmethod]
    fn from_json(s: &str) -> PyResult<Model> {
        Ok(Model { inner: WinbackModel::from_json(s, "<json>").map_err(err)? })
    }
}

/// Rolling backtest as JSON.
#[pyfunction]
#[pyo3(signature = (history, at, cutoffs, options, threads=None))]
fn backtest(py: Python<'_>, history: &History, at: &str, cutoffs: Option<Vec<String>>, options: FitOptions, threads: Option<usize>) -> PyResult<String> {
    let at = day(at)?;
    let config = options.config()?;
    let cuts = match cutoffs {
        Some(c) => c.iter().map(|c| day(c)).collect::<PyResult<Vec<_>>>()?,
        None => winback::default_cutoffs(&history.inner, at, &config, 3),
    };
    let h = Arc::clone(&history.inner);
    let b = run(py, threads, move || winback::backtest(&h, at, &cuts, &config))?.map_err(err)?;
    Ok(serde_json::to_string(&b).unwrap_or_default())
}

// -- shards (the Spark layer): census, plan, rows, fit, score ------------------

fn json_err(e: serde_json::Error) -> PyErr {
    WinbackDataError(format!("invalid shard message: {e}"))
}

fn days_of(v: &[String]) -> PyResult<Vec<Day>> {
    v.iter().map(|d| day(d)).collect()
}

/// The cutoffs (ISO dates) whose censuses a fit standing at `at` needs.
#[pyfunction]
fn fit_cutoffs(at: &str, options: FitOptions) -> PyResult<Vec<String>> {
    Ok(winback::sharded::fit_cutoffs(day(at)?, &options.config()?).map_err(err)?.into_iter().map(format_day).collect())
}

/// A shard's censuses at `cutoffs` (ISO dates), as JSON.
#[pyfunction]
fn shard_census(py: Python<'_>, history: &History, cutoffs: Vec<String>) -> PyResult<String> {
    let cutoffs = days_of(&cutoffs)?;
    let h = Arc::clone(&history.inner);
    let c = run(py, Some(1), move || winback::sharded::ShardCensus::of(&h, &cutoffs))?;
    serde_json::to_string(&c).map_err(json_err)
}

/// Merges shard censuses (JSON each) into one (JSON).
#[pyfunction]
fn merge_censuses(parts: Vec<String>) -> PyResult<String> {
    let mut all = winback::sharded::ShardCensus::default();
    for p in &parts {
        let c: winback::sharded::ShardCensus = serde_json::from_str(p).map_err(json_err)?;
        all.merge(&c).map_err(err)?;
    }
    serde_json::to_string(&all).map_err(json_err)
}

/// The fit plan (JSON) from the merged census; above `max_rows` expected rows, a
/// seeded sample of customers builds them.
#[pyfunction]
#[pyo3(signature = (census, at, options, max_rows=None))]
fn fit_plan(py: Python<'_>, census: &str, at: &str, options: FitOptions, max_rows: Option<u64>) -> PyResult<String> {
    let config = options.config()?;
    let census: winback::sharded::ShardCensus = serde_json::from_str(census).map_err(json_err)?;
    let at = day(at)?;
    let plan = run(py, None, move || -> winback::Result<_> {
        let mut plan = winback::sharded::FitPlan::new(&config, at, &census)?;
        if let Some(m) = max_rows {
            plan.limit_rows(m)?;
        }
        Ok(plan)
    })?
    .map_err(err)?;
    serde_json::to_string(&plan).map_err(json_err)
}

/// A shard's training (and scoring-list) rows for the plan, as a record batch.
#[pyfunction]
fn shard_rows<'py>(py: Python<'py>, history: &History, plan: &str) -> PyResult<Bound<'py, PyAny>> {
    let plan: winback::sharded::FitPlan = serde_json::from_str(plan).map_err(json_err)?;
    let h = Arc::clone(&history.inner);
    let batch = run(py, Some(1), move || -> winback::Result<_> {
        let rows = winback::sharded::shard_rows(&h, &plan)?;
        winback::shard_rows_table(&rows, &plan.schema)
    })?
    .map_err(err)?;
    batch.to_pyarrow(py)
}

fn census_at(census: &str, at: Day) -> PyResult<winback::core::census::Census> {
    let c: winback::sharded::ShardCensus = serde_json::from_str(census).map_err(json_err)?;
    Ok(c.at(at).map_err(err)?.clone())
}

/// A shard's feature table at `at`, with the schema learned from the merged census.
#[pyfunction]
#[pyo3(signature = (history, at, census, lapse_days=None, lapse_quantile=None, all=false))]
fn features_with<'py>(py: Python<'py>, history: &History, at: &str, census: &str, lapse_days: Option<i64>, lapse_quantile: Option<f64>, all: bool) -> PyResult<Bound<'py, PyAny>> {
    let at = day(at)?;
    let census = census_at(census, at)?;
    let h = Arc::clone(&history.inner);
    let who = if all { winback::Who::All } else { winback::Who::Lapsed };
    let table = run(py, Some(1), move || -> winback::Result<_> {
        let x = winback::sharded::feature_table_with(&h, at, &LapseRule::from_options(lapse_days, lapse_quantile), who, &Default::default(), &census)?;
        winback::features_table(&h, x)
    })?
    .map_err(err)?;
    table.to_pyarrow(py)
}

/// The feature names a feature table at the merged census's date has.
#[pyfunction]
fn census_feature_names(census: &str, at: &str) -> PyResult<Vec<String>> {
    let census = census_at(census, day(at)?)?;
    let schema = winback::core::features::FeatureSchema::learn_with(&census, None, &Default::default()).map_err(err)?;
    Ok(schema.features.iter().map(|f| f.name.clone()).collect())
}

/// Uplift groups from a past campaign with a control group (`winback::uplift`).
#[pyclass(frozen, module = "winback._winback")]
struct Uplift {
    inner: winback::uplift::UpliftModel,
}

#[pymethods]
impl Uplift {
    /// Fits on a campaign table (any `__arrow_c_stream__` object) keyed by `id_col`.
    #[staticmethod]
    #[pyo3(signature = (table, id_col, arm_col, treatment, control, outcome_col, exclude=Vec::new(), groups=10, min_group_share=0.02, seed=42, threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        py: Python<'_>,
        table: &Bound<'_, PyAny>,
        id_col: &str,
        arm_col: &str,
        treatment: &str,
        control: &str,
        outcome_col: &str,
        exclude: Vec<String>,
        groups: usize,
        min_group_share: f64,
        seed: u64,
        threads: Option<usize>,
    ) -> PyResult<Uplift> {
        let t = read_attributes(table, id_col)?;
        let options = winback::uplift::UpliftOptions { exclude, ..winback::uplift::UpliftOptions::new(arm_col, treatment, control, outcome_col) }.tree(groups, min_group_share, seed);
        let inner = run(py, threads, move || winback::uplift::UpliftModel::fit(&t, &options))?.map_err(err)?;
        Ok(Uplift { inner })
    }

    /// The groups table (honest effects with intervals).
    fn groups<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        winback::uplift_groups_table(&self.inner).map_err(err)?.to_pyarrow(py)
    }

    /// Each customer's group and effect.
    #[pyo3(signature = (table, id_col, threads=None))]
    fn score<'py>(&self, py: Python<'py>, table: &Bound<'_, PyAny>, id_col: &str, threads: Option<usize>) -> PyResult<Bound<'py, PyAny>> {
        let t = read_attributes(table, id_col)?;
        let s = run(py, threads, || self.inner.score(&t))?.map_err(err)?;
        winback::uplift_scores_table(&s).map_err(err)?.to_pyarrow(py)
    }

    /// The next wave's plan on the uplift groups (by the effect of contact) for
    /// the customers of `table`: the plan as JSON and the contact list.
    #[pyo3(signature = (table, id_col, params, threads=None))]
    fn plan<'py>(&self, py: Python<'py>, table: &Bound<'_, PyAny>, id_col: &str, params: &str, threads: Option<usize>) -> PyResult<(String, Bound<'py, PyAny>)> {
        let t = read_attributes(table, id_col)?;
        let params = plan_params(params)?;
        let (p, list) = run(py, threads, || self.inner.score(&t).and_then(|s| self.inner.plan(&s, &params)))?.map_err(err)?;
        Ok((plan_json(&p), winback::contacts_table(&list).map_err(err)?.to_pyarrow(py)?))
    }

    /// The evaluation on a campaign table, as JSON.
    #[pyo3(signature = (table, id_col, threads=None))]
    fn evaluate(&self, py: Python<'_>, table: &Bound<'_, PyAny>, id_col: &str, threads: Option<usize>) -> PyResult<String> {
        let t = read_attributes(table, id_col)?;
        let e = run(py, threads, || self.inner.evaluate(&t))?.map_err(err)?;
        serde_json::to_string(&e).map_err(json_err)
    }

    /// The fit's row counts and the tree's totals, as JSON.
    fn summary_json(&self) -> String {
        let t = &self.inner.tree;
        let m = &self.inner;
        let min_share = match t.params.min_group_size() {
            winback::tree::MinGroupSize::Share(s) | winback::tree::MinGroupSize::ShareAtLeast { share: s, .. } => Some(s),
            _ => None,
        };
        serde_json::json!({"report": m.report, "contact_rate": t.contact_rate, "control_rate": t.control_rate, "note": t.note, "features": m.schema.names(),
            "arm_col": m.arm_col, "treatment": m.treatment, "control": m.control, "outcome_col": m.outcome_col,
            "exclude": m.exclude, "groups": t.params.groups(), "min_group_share": min_share, "seed": t.params.seed()})
        .to_string()
    }

    /// The model file.
    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().map_err(err)
    }

    /// Writes the model file atomically (`UpliftModel::save`).
    fn save(&self, path: &str) -> PyResult<()> {
        self.inner.save(path).map_err(save_err)
    }

    /// Reads and validates a model file.
    #[staticmethod]
    fn from_json(s: &str) -> PyResult<Uplift> {
        Ok(Uplift { inner: winback::uplift::UpliftModel::from_json(s, "<uplift model>").map_err(err)? })
    }
}

/// The native module.
#[pymodule]
fn _winback(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<History>()?;
    m.add_class::<Model>()?;
    m.add_class::<Uplift>()?;
    m.add_function(wrap_pyfunction!(read_history, m)?)?;
    m.add_function(wrap_pyfunction!(lapse_threshold, m)?)?;
    m.add_function(wrap_pyfunction!(features, m)?)?;
    m.add_function(wrap_pyfunction!(bgnbd, m)?)?;
    m.add_function(wrap_pyfunction!(backtest, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork, m)?)?;
    for f in [
        wrap_pyfunction!(fit_cutoffs, m)?,
        wrap_pyfunction!(shard_census, m)?,
        wrap_pyfunction!(merge_censuses, m)?,
        wrap_pyfunction!(fit_plan, m)?,
        wrap_pyfunction!(shard_rows, m)?,
        wrap_pyfunction!(features_with, m)?,
        wrap_pyfunction!(census_feature_names, m)?,
    ] {
        m.add_function(f)?;
    }
    Ok(())
}
