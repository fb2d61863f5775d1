"""winback on Apache Spark: the same numbers as on one machine, past one machine.

The per-customer work runs on the executors, in Rust, on Arrow batches (no pandas
on the way); what needs every customer at once is computed exactly from counts.
Every call makes these passes over the data:

1. **Census** — the rows are hash-partitioned by customer (``repartition(n,
   customer)``: all of a customer's rows land in one partition) and each partition,
   read into a Rust history through ``mapInArrow``, returns its *census* at the
   dates needed: customers per recency, purchase count, net spend and BG/NBD
   pattern, the purchase-gap histogram and purchases per channel, region and
   category. Censuses are counts, so the driver merges them exactly: the learned
   lapse threshold, the RFM quintile edges, the ABC classes, the BG/NBD fit and the
   vocabularies are the ones the whole history gives.
2. **Rows** — each partition builds its customers' features (and, to fit, their
   training rows with labels) with those global facts.
3. **Driver** — ``fit`` collects the stacked training rows (one row per lapsed
   customer per training cutoff, plus the features of the list being scored,
   which size the groups) and fits the same ``WinbackModel``; ``plan`` collects
   the scores (customer, group, priority) and plans as on one machine.

Because counts merge exactly and rows are put in customer-id order before
fitting, features, model file and scores equal the single-machine package's to
the bit, whatever the partitioning and row order. Customer attributes, lapse
rules by segment and percentile features need every customer at once and are
not offered here.

>>> from winback import spark as wbs                                  # doctest: +SKIP
>>> model = wbs.fit(winback.WinbackModel(horizon_days=60), sdf, at="2011-12-10")  # doctest: +SKIP
>>> scores = wbs.score(model, sdf, at="2011-12-10")                   # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import json
import warnings
from typing import Any, Iterator, Optional, Tuple

import pyarrow as pa

from . import Plan, WinbackModel, _COLUMN_KEYS, _int, _iso, _output, _plan_params, _stacklevel, _warn_dates, _winback
from ._errors import NotFittedError, WinbackDataError, WinbackDataWarning, WinbackError, WinbackParamError, WinbackTypeError

__all__ = ["features", "fit", "score", "plan"]

#: Above this many training rows (about 1.6 GB on the driver with 40 features),
#: ``fit`` builds them for a seeded sample of customers (the same customers on every
#: run) and the model records the share (``model.training_sample_``); pass
#: ``max_training_rows`` to change it.
MAX_TRAINING_ROWS = 5_000_000


def _columns(model: Optional[WinbackModel] = None, **columns: Any) -> dict:
    cols = {k: getattr(model, k) for k in _COLUMN_KEYS} if model is not None else {}
    cols.setdefault("customer_id_col", "customer_id")
    cols.setdefault("datetime_col", "date")
    cols.setdefault("monetary_value_col", "amount")
    unknown = sorted(set(columns) - set(_COLUMN_KEYS))
    if unknown:
        raise WinbackParamError(f"unknown column keyword(s) {unknown}; expected some of {list(_COLUMN_KEYS)}")
    cols.update(columns)
    return cols


def _require_spark(sdf: Any) -> None:
    if not hasattr(sdf, "sparkSession") or not hasattr(sdf, "mapInArrow"):
        raise WinbackParamError(f"winback.spark needs a Spark DataFrame, got {type(sdf).__module__}.{type(sdf).__name__} "
                                "(for pandas, polars or pyarrow tables use winback.WinbackModel and winback.features)")


def _check_columns(sdf: Any, cols: dict) -> list:
    """The mapped column names, each once, after checking that the DataFrame has each
    exactly once (after a join two columns can share a name, and Spark would fail deep
    in the job): checked before anything reads a column."""
    _require_spark(sdf)
    names = list(dict.fromkeys(v for v in cols.values() if v))
    missing = [c for c in names if c not in sdf.columns]
    if missing:
        raise WinbackParamError(f"the DataFrame has no column(s) {missing} (columns: {sdf.columns})")
    twice = sorted({c for c in names if sdf.columns.count(c) > 1})
    if twice:
        raise WinbackParamError(f"the DataFrame has more than one column named {twice} (after a join?): select or rename one")
    return names


def _by_customer(sdf: Any, cols: dict, partitions: Optional[int]):
    """The mapped columns only, hash-partitioned by customer. The key is the id as the
    Rust loader reads it (text, surrounding whitespace removed), so that " C1" and "C1"
    (one customer to winback) always land in the same partition."""
    from pyspark.sql import functions as F

    names = _check_columns(sdf, cols)
    if partitions is None:
        try:
            partitions = sdf.rdd.getNumPartitions()
        except Exception:  # Spark Connect has no RDDs
            partitions = int(sdf.sparkSession.conf.get("spark.sql.shuffle.partitions", "200"))
        # An empty DataFrame can have no partition at all: one, so that the load
        # reports "no usable purchase rows" rather than a bad `partitions`.
        partitions = max(partitions, 1)
    n = _int("partitions", partitions, 1)
    # (?U): \s is Unicode White_Space, as Rust's trim() (no-break and ideographic spaces too).
    # Each mapped column once, renamed to a plain internal name: one column may serve two
    # roles, and names with dots or backticks (legal in Spark) break mapInArrow.
    alias = {c: f"_wb{i}" for i, c in enumerate(names)}
    renamed = {k: (alias[v] if v else v) for k, v in cols.items()}
    id_col = F.col(alias[cols["customer_id_col"]])
    if dict(sdf.dtypes).get(cols["customer_id_col"]) in ("double", "float"):
        # -0.0 + 0.0 is 0.0: the two zeros are one id to the loader, so one partition.
        id_col = id_col + F.lit(0.0)
    key = F.regexp_replace(id_col.cast("string"), r"(?U)^\s+|\s+$", "")
    return sdf.select(*[F.col(_quote(c)).alias(alias[c]) for c in names]).repartition(n, key), renamed


#: The load report's skip reasons in the loader's order (winback_core::SkipReason::ALL).
_SKIP_ORDER = ("missing_id", "bad_date", "bad_amount", "zero_amount", "return", "duplicate", "after_end", "bad_quantity",
               "bad_flag", "malformed", "after_cutoff")


class _WorkerErrors:
    """Around a Spark action: a winback error raised on an executor comes back wrapped
    in Spark's own exception (a Python worker trace inside a Java one); raised again
    as the winback error it was, with its message."""

    _PATTERN = r"winback\._errors\.(WinbackDataError|WinbackParamError|WinbackTypeError|NotFittedError|WinbackError): (.*?)(?:\n|$)"

    def __enter__(self) -> "_WorkerErrors":
        return self

    def __exit__(self, kind: Any, error: Any, tb: Any) -> bool:
        if error is None or isinstance(error, WinbackError):
            return False
        import re

        found = re.findall(self._PATTERN, str(error))
        if not found:
            return False
        name, message = found[-1]
        cls = {"WinbackDataError": WinbackDataError, "WinbackParamError": WinbackParamError,
               "WinbackTypeError": WinbackTypeError, "NotFittedError": NotFittedError}.get(name, WinbackError)
        raise cls(message.strip()) from None


def _in_reason_order(counts: dict) -> list:
    """(reason, count) pairs in the loader's reason order."""
    order = {r: i for i, r in enumerate(_SKIP_ORDER)}
    return sorted(counts.items(), key=lambda x: (order.get(x[0], len(order)), x[0]))


def _at(at: Any) -> str:
    """`at` as YYYY-MM-DD, checked on the driver (a bad date must not fail inside the tasks,
    where it would come back as a Java stack trace)."""
    text = _iso(at)
    try:
        _dt.date.fromisoformat(text)
    except ValueError:
        raise WinbackParamError(f'date "{text}" is not YYYY-MM-DD') from None
    return text


def _read_partition(batches: list, cols: dict, load: Optional[dict] = None):
    """The partition's rows as ``(history, None)``; ``(None, report)`` when every row
    was skipped (the report counts them: one partition of null ids is not an error
    when other partitions have purchases); ``(None, None)`` for an empty partition."""
    batches = [b for b in batches if b.num_rows]
    if not batches:
        return None, None
    table = pa.Table.from_batches(batches)
    try:
        return _winback.read_history(table, source="<spark partition>", threads=1, **(load or {}), **cols), None
    except WinbackDataError as e:
        # No usable row: the loader's exception carries the load report of the rows it read.
        report = getattr(e, "load_report", None)
        if report is None:
            raise
        return None, report


def _history(batches: list, cols: dict, load: Optional[dict] = None):
    """The partition's rows as a Rust history (None when it has no usable row)."""
    return _read_partition(batches, cols, load)[0]


def _load_options(model: WinbackModel) -> dict:
    """The model's load options, as read_history takes them."""
    return {"skip_zero_amounts": bool(model.skip_zero_amounts), "drop_duplicates": bool(getattr(model, "drop_duplicates", False))}


def _census(part, cols: dict, cutoffs: list, load: dict) -> Tuple[str, dict]:
    """Pass 1: every partition's census at `cutoffs`, merged on the driver; and the
    load reports, added up."""
    def run(it: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        h, skipped_only = _read_partition(list(it), cols, load)
        if h is not None:
            yield pa.RecordBatch.from_pydict({"census": [_winback.shard_census(h, cutoffs)], "report": [h.report_json]})
        elif skipped_only is not None:
            yield pa.RecordBatch.from_pydict({"census": [None], "report": [json.dumps(skipped_only)]}, schema=pa.schema([("census", pa.string()), ("report", pa.string())]))

    with _WorkerErrors():
        rows = part.mapInArrow(run, "census string, report string").collect()
    censuses = [r["census"] for r in rows if r["census"] is not None]
    if not censuses:
        report = {"rows_read": 0, "skipped": {}}
        for r in rows:
            rep = json.loads(r["report"])
            report["rows_read"] += rep.get("rows_read", 0)
            for reason, n in rep.get("skipped", []):
                report["skipped"][reason] = report["skipped"].get(reason, 0) + n
        reasons = ", ".join(f"{c} {r}" for r, c in _in_reason_order(report["skipped"]))
        raise WinbackDataError(f"<spark>: no usable purchase rows ({report['rows_read']} rows read" + (f"; skipped: {reasons})" if reasons else ")"))
    merged = _winback.merge_censuses(censuses)
    # Every count adds up over partitions (a customer's rows are all in one partition).
    counts = ("rows_read", "rows_used", "returns", "customers", "purchases", "zero_amount_purchases", "identical_lines")
    report = {"source": "<spark>", **{k: 0 for k in counts}, "skipped": {}, "zero_amount_only": []}
    for r in rows:
        rep = json.loads(r["report"])
        for k in counts:
            report[k] += rep.get(k, 0)
        for reason, n in rep.get("skipped", []):
            report["skipped"][reason] = report["skipped"].get(reason, 0) + n
        report["zero_amount_only"] += rep.get("zero_amount_only", [])
        if rep.get("dates"):
            # ISO dates compare as text: the span is the earliest first and the latest last.
            first, last = rep["dates"]
            old = report.get("dates")
            report["dates"] = [min(first, old[0]), max(last, old[1])] if old else [first, last]
    report["skipped"] = [[r, n] for r, n in _in_reason_order(report["skipped"])]  # as one machine's JSON gives them
    report["zero_amount_only"].sort()
    if report["skipped"]:
        n = sum(c for _, c in report["skipped"])
        reasons = ", ".join(f"{c} {r}" for r, c in report["skipped"])
        warnings.warn(WinbackDataWarning(f"spark: {n} of {report['rows_read']} rows skipped ({reasons})"), stacklevel=_stacklevel())
    _warn_dates(report)
    return merged, report


def _id_type(sdf: Any, col: str) -> str:
    """`int64` for integer id columns, which leave as bigint, and for float id columns whose
    every usable value is whole (what pandas makes of integer ids with a missing value: one
    machine gives them back as integers too; this costs one pass over that column); every
    other type leaves as text (decided on the driver, so that every task returns the same schema)."""
    from pyspark.sql import functions as F

    _require_spark(sdf)
    if col not in sdf.columns:
        raise WinbackParamError(f"the DataFrame has no column(s) {[col]} (columns: {sdf.columns})")
    t = sdf.schema[col].dataType.simpleString()
    if t in ("bigint", "int", "smallint", "tinyint"):
        return "int64"
    if t in ("double", "float"):
        c = F.col(_quote(col))
        # NaN and infinite ids are missing ids (skipped), so they do not count.
        usable = c.isNotNull() & ~F.isnan(c) & (F.abs(c) != float("inf"))
        text = usable & ((c != F.floor(c)) | (F.abs(c) >= 9.2e18))
        return "string" if sdf.filter(text).limit(1).count() else "int64"
    return "string"


def _ids_back(batch: pa.RecordBatch, id_type: str) -> pa.RecordBatch:
    """Customer ids leave in the type they came in (integer ids as int64, as ``winback.features``
    gives them); unsigned counts become int64 (Spark has no unsigned types)."""
    cols, names = [], []
    for name, col in zip(batch.schema.names, batch.columns):
        if name == "customer_id" and id_type == "int64":
            col = col.cast(pa.int64())
        elif pa.types.is_unsigned_integer(col.type):
            col = col.cast(pa.int64())
        cols.append(col)
        names.append(name)
    return pa.RecordBatch.from_arrays(cols, names=names)


def _quote(name: str) -> str:
    """A column name for a DDL schema string (feature names hold data values such as
    ``main_category=<name>``: backticks inside are doubled)."""
    return "`" + name.replace("`", "``") + "`"


def _id_ddl(id_type: str) -> str:
    return "bigint" if id_type == "int64" else "string"


def features(sdf: Any, at: Any, lapse_days: Optional[int] = None, quantile: float = 0.9, all: bool = False,
             partitions: Optional[int] = None, skip_zero_amounts: bool = False, drop_duplicates: bool = False,
             **columns: Any):
    """The feature table at `at` as a Spark DataFrame (``winback.features`` on a cluster).

    Parameters
    ----------
    sdf : pyspark.sql.DataFrame
        Transactions; column keywords as in ``winback.read_history``.
    at : date
    all : bool
        Every customer with a purchase before `at` instead of the lapsed only.
    partitions : int, optional
        Partitions to hash the customers into (default: the DataFrame's).

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id`` (bigint when the ids came as integers, else string) and one
        double column per feature.
    """
    cols = _columns(**columns)
    at = _at(at)
    lapse_days = _int("lapse_days", lapse_days, 1, 36500, optional=True)
    lapse_quantile = None if lapse_days else quantile
    _check_columns(sdf, cols)
    id_type = _id_type(sdf, cols["customer_id_col"])
    part, cols = _by_customer(sdf, cols, partitions)
    load = {"skip_zero_amounts": bool(skip_zero_amounts), "drop_duplicates": bool(drop_duplicates)}
    merged, _ = _census(part, cols, [at], load)
    names = _winback.census_feature_names(merged, at)
    schema = ", ".join([f"customer_id {_id_ddl(id_type)}"] + [f"{_quote(n)} double" for n in names])

    def run(it: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        h = _history(list(it), cols, load)
        if h is None:
            return
        b = _winback.features_with(h, at, merged, lapse_days=lapse_days, lapse_quantile=lapse_quantile, all=all)
        yield _ids_back(b, id_type)

    return part.mapInArrow(run, schema)


def fit(model: WinbackModel, sdf: Any, at: Any, partitions: Optional[int] = None,
        max_training_rows: int = MAX_TRAINING_ROWS) -> WinbackModel:
    """Fits `model` standing at `at` on a Spark DataFrame; returns the fitted model.

    The model's column names and options apply as in ``WinbackModel.fit``. The
    stacked training table is built on the executors and collected to the driver.
    When the census says it would exceed ``max_training_rows`` rows, a seeded sample
    of whole customers (a hash of the id and the model's seed) builds the rows,
    with the share ``max_training_rows / expected rows``; the model records it
    (``training_sample_``; ``None`` when every customer was used).
    """
    opts = model._fit_options()
    cols = _columns(model)
    at = _at(at)
    load = _load_options(model)
    _check_columns(sdf, cols)
    id_type = _id_type(sdf, cols["customer_id_col"])
    # Two passes read the partitioned rows: shuffle them once.
    part, cols = _by_customer(sdf, cols, partitions)
    part = part.persist()
    try:
        cutoffs = _winback.fit_cutoffs(at, opts)
        merged, report = _census(part, cols, cutoffs, load)
        plan = _winback.fit_plan(merged, at, opts, max_rows=_int("max_training_rows", max_training_rows, 1))
        expected = json.loads(plan)

        def run(it: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            h = _history(list(it), cols, load)
            if h is None:
                return
            yield _winback.shard_rows(h, plan)

        rows = part.mapInArrow(run, _rows_schema(expected))
        with _WorkerErrors():
            table = rows.toArrow() if hasattr(rows, "toArrow") else pa.Table.from_pandas(rows.toPandas(), preserve_index=False)
    finally:
        part.unpersist()
    table = table.cast(_rows_arrow_schema(expected))
    model.model_ = _winback.Model.fit_rows(plan, table)
    model.fitted_at_ = at
    model.load_report_ = report
    model._id_type = id_type
    model._learned()
    return model


def _rows_arrow_schema(plan: dict) -> pa.Schema:
    fields = [pa.field("cutoff_day", pa.int32()), pa.field("customer_id", pa.string()), pa.field("came_back", pa.bool_()),
              pa.field("spend", pa.float64())]
    fields += [pa.field(f["name"], pa.float64()) for f in plan["schema"]["features"]]
    return pa.schema(fields)


def _rows_schema(plan: dict) -> str:
    parts = ["cutoff_day int", "customer_id string", "came_back boolean", "spend double"]
    parts += [f"{_quote(f['name'])} double" for f in plan["schema"]["features"]]
    return ", ".join(parts)


def _score_df(model: WinbackModel, sdf: Any, at: str, partitions: Optional[int]):
    m = model._check()
    cols = _columns(model)
    load = _load_options(model)
    _check_columns(sdf, cols)
    id_type = _id_type(sdf, cols["customer_id_col"])
    part, cols = _by_customer(sdf, cols, partitions)
    merged, report = _census(part, cols, [at], load)
    schema = (f"customer_id {_id_ddl(id_type)}, `group` bigint, probability double, probability_low double, "
              "probability_high double, priority double, rule string")
    model_json = m.to_json()

    def run(it: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        h = _history(list(it), cols, load)
        if h is None:
            return
        mm = _winback.Model.from_json(model_json)
        yield _ids_back(mm.score_with(h, at, merged), id_type)

    return part.mapInArrow(run, schema), id_type, report


def _warn_scoring(model: WinbackModel, at: str, report: dict, counts: dict) -> None:
    """The warnings one machine's scoring gives (a date before the model's fitting
    date, a group above the maximum share, ...), from every shard's group counts."""
    m = model._check()
    k = len(json.loads(m.groups_json()))
    by_group = [int(counts.get(g, 0)) for g in range(1, k + 1)]
    data_end = (report.get("dates") or [at, at])[1]
    for w in m.scoring_warnings(at, data_end, by_group):
        warnings.warn(WinbackDataWarning(w), stacklevel=_stacklevel())


def score(model: WinbackModel, sdf: Any, at: Any, partitions: Optional[int] = None):
    """The lapsed customers at `at` with group and probability, as a Spark DataFrame
    (the columns of ``WinbackModel.score``). Group shares above the model's maximum
    warn (``WinbackDataWarning``), counted with a Spark aggregation."""
    at = _at(at)
    df, _, report = _score_df(model, sdf, at, partitions)
    with _WorkerErrors():
        counts = {r["group"]: r["count"] for r in df.groupBy("group").count().collect()}
    _warn_scoring(model, at, report, counts)
    return df


def plan(model: WinbackModel, sdf: Any, at: Any, partitions: Optional[int] = None, **params: Any):
    """The contact plan and the contact list (a Spark DataFrame), as ``WinbackModel.plan``.

    The scores are computed on the executors; the customer, group and priority of
    each lapsed customer are collected to the driver, which plans as on one
    machine (the contact list is at most the lapsed list)."""
    at = _at(at)
    m = model._check()
    df, id_type, report = _score_df(model, sdf, at, partitions)
    spark = df.sparkSession
    scores = df.select("customer_id", "group", "probability", "probability_low", "probability_high", "priority")
    with _WorkerErrors():
        table = scores.toArrow() if hasattr(scores, "toArrow") else pa.Table.from_pandas(scores.toPandas(), preserve_index=False)
    counts = {row["values"]: row["counts"] for row in table.column("group").value_counts().to_pylist()}
    _warn_scoring(model, at, report, counts)
    plan_json, contacts = m.plan_scores(table, _plan_params(params))
    contacts = pa.Table.from_batches([_ids_back(contacts, id_type)])
    try:
        contacts_df = spark.createDataFrame(contacts)  # Spark 4 takes Arrow tables
    except TypeError:  # pragma: no cover - Spark 3
        contacts_df = spark.createDataFrame(contacts.to_pandas())
    # The Plan's own table in the model's output type, as WinbackModel.plan gives it.
    return Plan(json.loads(plan_json), _output(contacts, model.output, id_type), model.output), contacts_df
