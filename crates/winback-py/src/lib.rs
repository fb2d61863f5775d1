//! Python bindings of winback: conversion only. Tables arrive through the Arrow
//! C stream interface (`__arrow_c_stream__`: pyarrow, polars, pandas ≥ 2.2,
//! DuckDB), batch by batch; results leave as pyarrow record batches. Every step
//! calls the `winback` facade; heavy calls release the interpreter lock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow_array::ffi_stream::RecordBatchStreamReader as ArrowArrayStreamReader;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use pyo3::prelude::*;
use winback::core::date::{format_day, parse_iso_date, DateFormat, Day, TimeSettings, Zone};
use winback::core::lapse::LapseRule;
use winback::core::read::ColumnMap;
use winback::core::LoadOptions;
use winback::rank::PlanParams;
use winback::tree::Segmenter;
use winback::{Config, WinbackModel};

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
        WinbackParamError(e.to_string())
    } else {
        WinbackDataError(e.to_string())
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
}

/// Reads a purchase history from any object with `__arrow_c_stream__`.
#[pyfunction]
#[pyo3(signature = (data, customer_id_col, datetime_col, monetary_value_col, quantity_col=None, order_id_col=None, channel_col=None, category_col=None, region_col=None, cancelled_col=None, date_format=None, time_zone=None, strict=false, source="<dataframe>", attributes=None, attributes_key="customer_id", threads=None))]
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
    attributes: Option<&Bound<'_, PyAny>>,
    attributes_key: &str,
    threads: Option<usize>,
) -> PyResult<History> {
    let attrs = attributes.map(|a| read_attributes(a, attributes_key)).transpose()?;
    let reader = ArrowArrayStreamReader::from_pyarrow_bound(data)?;
    let id_type = {
        use arrow_array::RecordBatchReader;
        reader.schema().field_with_name(customer_id_col).map(|f| f.data_type().to_string().to_lowercase()).unwrap_or_default()
    };
    let mut map = ColumnMap::new(customer_id_col, datetime_col, monetary_value_col);
    map.quantity = quantity_col;
    map.order = order_id_col;
    map.channel = channel_col;
    map.category = category_col;
    map.region = region_col;
    map.cancelled = cancelled_col;
    if let Some(f) = date_format {
        map.date_format = DateFormat::Custom(f);
    }
    if let Some(z) = time_zone {
        map.time = TimeSettings { day_zone: if z.eq_ignore_ascii_case("utc") { Zone::Utc } else { Zone::Named(z) }, naive_zone: Zone::AsWritten };
    }
    let opts = LoadOptions { strict, ..Default::default() };
    let source = source.to_string();
    let (h, report) = run(py, threads, move || winback::core::arrow::read_record_batches(reader, &source, &map, &opts))?.map_err(err)?;
    let h = match attrs {
        Some(a) => h.with_attributes(a),
        None => h,
    };
    Ok(History { inner: Arc::new(h), report_json: serde_json::to_string(&report).unwrap_or_default(), id_type })
}

/// A customer attribute table from any `__arrow_c_stream__` object: numeric
/// columns stay numbers, date/timestamp columns become dates, the rest are
/// categorical. Rows with an empty or repeated key are ignored (first kept).
fn read_attributes(data: &Bound<'_, PyAny>, key: &str) -> PyResult<winback::core::attributes::Attributes> {
    use arrow_array::cast::AsArray;
    use arrow_array::Array;
    use arrow_schema::DataType;
    use winback::core::attributes::{AttrColumn, AttrValues, Attributes};
    let reader = ArrowArrayStreamReader::from_pyarrow_bound(data)?;
    let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().map_err(|e| WinbackDataError(format!("attributes: {e}")))?;
    let Some(first) = batches.first() else { return Err(WinbackDataError("attributes: empty table")) };
    let schema = first.schema();
    let k = schema.index_of(key).map_err(|_| WinbackDataError(format!("attributes: column `{key}` not found")))?;
    let cast = |a: &ArrayRef, t: &DataType| arrow_cast::cast(a, t).map_err(|e| WinbackDataError(format!("attributes: {e}")));
    let mut ids = Vec::new();
    let mut cols: Vec<(String, DataType, Vec<ArrayRef>)> = schema.fields().iter().enumerate().filter(|(i, _)| *i != k).map(|(_, f)| (f.name().clone(), f.data_type().clone(), Vec::new())).collect();
    for b in &batches {
        let idc = cast(b.column(k), &DataType::Utf8)?;
        let idc = idc.as_string::<i32>();
        ids.extend((0..b.num_rows()).map(|r| if idc.is_valid(r) { idc.value(r).to_string() } else { String::new() }));
        let mut j = 0;
        for (i, _) in schema.fields().iter().enumerate() {
            if i == k {
                continue;
            }
            cols[j].2.push(b.column(i).clone());
            j += 1;
        }
    }
    let mut out = Vec::new();
    for (name, dt, arrays) in cols {
        let values = if dt.is_numeric() {
            let mut v = Vec::new();
            for a in &arrays {
                let f = cast(a, &DataType::Float64)?;
                let f = f.as_primitive::<arrow_array::types::Float64Type>();
                v.extend((0..f.len()).map(|r| if f.is_valid(r) { f.value(r) } else { f64::NAN }));
            }
            AttrValues::Numeric(v)
        } else if matches!(dt, DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)) {
            let mut v = Vec::new();
            for a in &arrays {
                let d = cast(a, &DataType::Date32)?;
                let d = d.as_primitive::<arrow_array::types::Date32Type>();
                v.extend((0..d.len()).map(|r| d.is_valid(r).then(|| d.value(r))));
            }
            AttrValues::Date(v)
        } else {
            let mut raw: Vec<Option<String>> = Vec::new();
            for a in &arrays {
                let s = cast(a, &DataType::Utf8)?;
                let s = s.as_string::<i32>();
                raw.extend((0..s.len()).map(|r| (s.is_valid(r) && !s.value(r).is_empty()).then(|| s.value(r).to_string())));
            }
            let mut levels: Vec<String> = raw.iter().flatten().cloned().collect();
            levels.sort_unstable();
            levels.dedup();
            let codes = raw.iter().map(|x| x.as_ref().and_then(|x| levels.binary_search(x).ok()).map_or(u32::MAX, |i| i as u32)).collect();
            AttrValues::Categorical { levels, codes }
        };
        out.push(AttrColumn { name, values });
    }
    // Drop empty and repeated keys (first kept), keeping the columns aligned.
    let mut seen = std::collections::HashSet::new();
    let keep: Vec<bool> = ids.iter().map(|id| !id.is_empty() && seen.insert(id.clone())).collect();
    if keep.iter().any(|k| !k) {
        fn pick<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut it = keep.iter();
            v.retain(|_| *it.next().unwrap_or(&false));
        }
        for c in &mut out {
            match &mut c.values {
                AttrValues::Numeric(v) => pick(v, &keep),
                AttrValues::Date(v) => pick(v, &keep),
                AttrValues::Categorical { codes, .. } => pick(codes, &keep),
            }
        }
        pick(&mut ids, &keep);
    }
    Attributes::from_columns(ids, out).map_err(err)
}

#[pymethods]
impl History {
    /// Number of customers.
    fn num_customers(&self) -> usize {
        self.inner.num_customers()
    }
}

fn rule_of(days: Option<i64>, quantile: Option<f64>) -> LapseRule {
    match (days, quantile) {
        (Some(days), _) => LapseRule::Fixed { days },
        (None, Some(quantile)) => LapseRule::FromHistory { quantile },
        (None, None) => LapseRule::default(),
    }
}

/// The lapse decision at `at` as JSON (threshold, gap distribution, counts).
#[pyfunction]
#[pyo3(signature = (history, at, lapse_days=None, lapse_quantile=None))]
fn lapse_threshold(py: Python<'_>, history: &History, at: &str, lapse_days: Option<i64>, lapse_quantile: Option<f64>) -> PyResult<String> {
    let at = day(at)?;
    let h = Arc::clone(&history.inner);
    let l = run(py, None, move || winback::lapse(&h, at, &rule_of(lapse_days, lapse_quantile)))?.map_err(err)?;
    let summary = winback::LapseSummary::from(&l);
    Ok(serde_json::to_string(&summary).unwrap_or_default())
}

fn batch(cols: Vec<(&str, ArrayRef)>) -> PyResult<RecordBatch> {
    RecordBatch::try_from_iter(cols).map_err(|e| WinbackError(e.to_string()))
}

/// The feature table of the lapsed (or all) customers at `at`.
#[pyfunction]
#[pyo3(signature = (history, at, lapse_days=None, lapse_quantile=None, all=false))]
fn features<'py>(py: Python<'py>, history: &History, at: &str, lapse_days: Option<i64>, lapse_quantile: Option<f64>, all: bool) -> PyResult<Bound<'py, PyAny>> {
    let at = day(at)?;
    let h = Arc::clone(&history.inner);
    let who = if all { winback::Who::All } else { winback::Who::Lapsed };
    let (ids, x) = run(py, None, move || -> winback::Result<_> {
        let x = winback::feature_table(&h, at, &rule_of(lapse_days, lapse_quantile), who, &Default::default())?;
        Ok((x.customers.iter().map(|&c| h.customer_ids()[c].clone()).collect::<Vec<_>>(), x))
    })?
    .map_err(err)?;
    let mut cols: Vec<(&str, ArrayRef)> = vec![("customer_id", Arc::new(StringArray::from(ids)))];
    for (j, f) in x.schema.features.iter().enumerate() {
        cols.push((f.name.as_str(), Arc::new(Float64Array::from(x.x.column(j).to_vec()))));
    }
    batch(cols)?.to_pyarrow(py)
}

fn plan_params(json: &str) -> PyResult<PlanParams> {
    let p: PlanParams = serde_json::from_str(json).map_err(|e| WinbackParamError(format!("plan parameters: {e}")))?;
    p.validate().map_err(err)?;
    Ok(p)
}

fn plan_json(p: &winback::rank::Plan) -> String {
    serde_json::json!({
        "groups_contacted": p.groups_contacted(), "groups_skipped": p.groups_skipped(), "contacts": p.contacts,
        "expected_winbacks": p.expected_winbacks, "revenue": p.revenue, "cost": p.cost, "profit": p.profit,
        "cost_saved": p.cost_saved, "stop": p.stop, "steps": p.steps, "skipped": p.skipped, "gains": p.gains,
    })
    .to_string()
}

fn contacts_batch(list: &[winback::rank::ContactRow]) -> PyResult<RecordBatch> {
    batch(vec![
        ("rank", Arc::new(UInt64Array::from(list.iter().map(|r| r.rank as u64).collect::<Vec<_>>()))),
        ("customer_id", Arc::new(StringArray::from(list.iter().map(|r| r.customer.clone()).collect::<Vec<_>>()))),
        ("group", Arc::new(UInt64Array::from(list.iter().map(|r| r.group as u64).collect::<Vec<_>>()))),
        ("probability", Arc::new(Float64Array::from(list.iter().map(|r| r.probability).collect::<Vec<_>>()))),
        ("expected_value", Arc::new(Float64Array::from(list.iter().map(|r| r.expected_value).collect::<Vec<_>>()))),
        ("rule", Arc::new(StringArray::from(list.iter().map(|r| r.rule.clone()).collect::<Vec<_>>()))),
    ])
}

/// A fitted model (see `winback.WinbackModel` for the Python estimator).
#[pyclass(frozen, module = "winback._winback")]
struct Model {
    inner: WinbackModel,
}

#[pymethods]
impl Model {
    /// Fits standing at `at`.
    #[staticmethod]
    #[pyo3(signature = (history, at, horizon_days=60, lapse_days=None, lapse_quantile=None, groups=10, training_cutoffs=3, seed=42, threads=None, min_history_days=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        py: Python<'_>,
        history: &History,
        at: &str,
        horizon_days: i64,
        lapse_days: Option<i64>,
        lapse_quantile: Option<f64>,
        groups: usize,
        training_cutoffs: usize,
        seed: u64,
        threads: Option<usize>,
        min_history_days: Option<i64>,
    ) -> PyResult<Model> {
        let at = day(at)?;
        let config = Config {
            lapse: rule_of(lapse_days, lapse_quantile),
            horizon_days,
            segmenter: Segmenter::params().groups(groups).seed(seed),
            training_cutoffs,
            min_history_days,
            ..Default::default()
        };
        let h = Arc::clone(&history.inner);
        let inner = run(py, threads, move || WinbackModel::fit(&h, at, &config))?.map_err(err)?;
        Ok(Model { inner })
    }

    /// The lapsed customers at `at`: customer_id, group, probability, interval, priority, rule.
    fn score<'py>(&self, py: Python<'py>, history: &History, at: &str) -> PyResult<Bound<'py, PyAny>> {
        let at = day(at)?;
        let h = Arc::clone(&history.inner);
        let s = run(py, None, || self.inner.score(&h, at))?.map_err(err)?;
        let rule = |g: usize| self.inner.segmentation.group(g).map_or(String::new(), |g| g.sentence.clone());
        let c = &s.customers;
        batch(vec![
            ("customer_id", Arc::new(StringArray::from(c.iter().map(|x| x.customer_id.clone()).collect::<Vec<_>>()))),
            ("group", Arc::new(UInt64Array::from(c.iter().map(|x| x.group as u64).collect::<Vec<_>>()))),
            ("probability", Arc::new(Float64Array::from(c.iter().map(|x| x.probability).collect::<Vec<_>>()))),
            ("probability_low", Arc::new(Float64Array::from(c.iter().map(|x| x.probability_low).collect::<Vec<_>>()))),
            ("probability_high", Arc::new(Float64Array::from(c.iter().map(|x| x.probability_high).collect::<Vec<_>>()))),
            ("priority", Arc::new(Float64Array::from(c.iter().map(|x| x.priority).collect::<Vec<_>>()))),
            ("rule", Arc::new(StringArray::from(c.iter().map(|x| rule(x.group)).collect::<Vec<_>>()))),
        ])?
        .to_pyarrow(py)
    }

    /// The plan as JSON and the contact list as a record batch; `params` is the
    /// plan parameters as JSON (the fields of `winback::rank::PlanParams`).
    fn plan<'py>(&self, py: Python<'py>, history: &History, at: &str, params: &str) -> PyResult<(String, Bound<'py, PyAny>)> {
        let at = day(at)?;
        let params = plan_params(params)?;
        let h = Arc::clone(&history.inner);
        let (p, list) = run(py, None, || -> winback::Result<_> {
            let s = self.inner.score(&h, at)?;
            self.inner.plan(&s, &params)
        })?
        .map_err(err)?;
        Ok((plan_json(&p), contacts_batch(&list)?.to_pyarrow(py)?))
    }

    /// Records a wave's outcomes (CSV text: `group,contacted,came_back` or
    /// `customer_id,contacted,came_back`) and plans what is left. Returns the
    /// updated model (this one is unchanged), the plan as JSON and the contact list.
    fn feedback<'py>(&self, py: Python<'py>, history: &History, at: &str, outcomes_csv: &str, source: &str, params: &str) -> PyResult<(Model, String, Bound<'py, PyAny>)> {
        let at = day(at)?;
        let params = plan_params(params)?;
        let h = Arc::clone(&history.inner);
        let mut next = self.inner.clone();
        let fb = run(py, None, || -> winback::Result<_> {
            let s = next.score(&h, at)?;
            let wave = winback::read_outcomes_with(outcomes_csv.as_bytes(), source, Some(&s))?;
            next.feedback(&s, &wave, &params)
        })?
        .map_err(err)?;
        Ok((Model { inner: next }, plan_json(&fb.plan), contacts_batch(&fb.contacts)?.to_pyarrow(py)?))
    }

    /// How the model was fitted, as JSON (the model file's `config`).
    fn config_json(&self) -> String {
        serde_json::to_string(&self.inner.config).unwrap_or_default()
    }

    /// The recorded waves as JSON.
    fn waves_json(&self) -> String {
        serde_json::to_string(&self.inner.waves).unwrap_or_default()
    }

    /// The groups as JSON.
    fn groups_json(&self) -> String {
        serde_json::to_string(&self.inner.segmentation.groups).unwrap_or_default()
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

    /// Training cutoffs (ISO dates).
    #[getter]
    fn training_cutoffs(&self) -> Vec<String> {
        self.inner.training_cutoffs.iter().map(|d| format_day(*d)).collect()
    }

    /// The model file's JSON.
    fn to_json(&self) -> PyResult<String> {
        self.inner.to_json().map_err(err)
    }

    /// A model from its JSON (another format version is refused).
    #[staticmethod]
    fn from_json(s: &str) -> PyResult<Model> {
        Ok(Model { inner: WinbackModel::from_json(s, "<json>").map_err(err)? })
    }
}

/// Rolling backtest as JSON.
#[pyfunction]
#[pyo3(signature = (history, at, cutoffs=None, horizon_days=60, lapse_days=None, lapse_quantile=None, groups=10, training_cutoffs=3, seed=42, min_history_days=None))]
#[allow(clippy::too_many_arguments)]
fn backtest(
    py: Python<'_>,
    history: &History,
    at: &str,
    cutoffs: Option<Vec<String>>,
    horizon_days: i64,
    lapse_days: Option<i64>,
    lapse_quantile: Option<f64>,
    groups: usize,
    training_cutoffs: usize,
    seed: u64,
    min_history_days: Option<i64>,
) -> PyResult<String> {
    let at = day(at)?;
    let config = Config {
        lapse: rule_of(lapse_days, lapse_quantile),
        horizon_days,
        segmenter: Segmenter::params().groups(groups).seed(seed),
        training_cutoffs,
        min_history_days,
        ..Default::default()
    };
    let cuts = match cutoffs {
        Some(c) => c.iter().map(|c| day(c)).collect::<PyResult<Vec<_>>>()?,
        None => winback::default_cutoffs(&history.inner, at, &config, 3),
    };
    let h = Arc::clone(&history.inner);
    let b = run(py, None, move || winback::backtest(&h, at, &cuts, &config))?.map_err(err)?;
    Ok(serde_json::to_string(&b).unwrap_or_default())
}

/// The native module.
#[pymodule]
fn _winback(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<History>()?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(read_history, m)?)?;
    m.add_function(wrap_pyfunction!(lapse_threshold, m)?)?;
    m.add_function(wrap_pyfunction!(features, m)?)?;
    m.add_function(wrap_pyfunction!(backtest, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork, m)?)?;
    Ok(())
}
