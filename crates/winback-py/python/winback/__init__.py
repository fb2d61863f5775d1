"""winback: which lapsed customers to contact first to win them back, with what
chance of success, and where to stop.

A thin Python front on the Rust library: every computation happens in Rust;
this module converts tables and follows scikit-learn's estimator conventions.

>>> import pandas as pd, winback
>>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"],
...                    "date": ["2024-01-05", "2024-02-04", "2024-05-20"],
...                    "amount": [20.0, 30.0, 15.0]})
>>> winback.lapse_threshold(tx, at="2024-06-01", lapse_days=60)["lapsed"]
1
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import math
import operator
import os
import re
import sys
import warnings
from typing import Any, Optional, Sequence, Tuple, Union

import pyarrow as pa

from . import _winback
from ._errors import NotFittedError, WinbackDataError, WinbackDataWarning, WinbackError, WinbackParamError, WinbackTypeError

# rayon's worker threads do not survive fork(): a forked child (multiprocessing)
# switches to a fresh pool instead of deadlocking.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_winback._after_fork)

__all__ = [
    "WinbackModel",
    "UpliftModel",
    "Plan",
    "NotFittedError",
    "WinbackDataError",
    "WinbackDataWarning",
    "WinbackParamError",
    "WinbackTypeError",
    "WinbackError",
    "lapse_threshold",
    "features",
    "read_history",
]

_COLUMN_KEYS = (
    "customer_id_col",
    "datetime_col",
    "monetary_value_col",
    "quantity_col",
    "order_id_col",
    "channel_col",
    "category_col",
    "region_col",
    "cancelled_col",
)

_MAX_THREADS = 1024

Date = Union[str, _dt.date, Any]


def _iso(at: Any, name: str = "at") -> str:
    """A date as ``YYYY-MM-DD``: a string, ``datetime.date``/``datetime``,
    ``pandas.Timestamp`` or ``numpy.datetime64``."""
    if isinstance(at, str):
        return at
    if isinstance(at, _dt.datetime):
        return at.date().isoformat()
    if isinstance(at, _dt.date):
        return at.isoformat()
    if hasattr(at, "to_pydatetime"):  # pandas.Timestamp
        return at.to_pydatetime().date().isoformat()
    if type(at).__name__ == "datetime64":
        return str(at.astype("datetime64[D]"))
    raise WinbackParamError(f"{name} must be a date (YYYY-MM-DD text, datetime.date, pandas.Timestamp), got {type(at).__name__}")


_EPOCH = _dt.date(1970, 1, 1)


def _day(n: int) -> str:
    """A day number of the Rust results (days since 1970-01-01) as ``YYYY-MM-DD``,
    as ``training_cutoffs_`` and ``fitted_at_`` give dates."""
    return (_EPOCH + _dt.timedelta(days=n)).isoformat()


_PACKAGE_DIR = os.path.dirname(__file__) + os.sep


def _stacklevel() -> int:
    """The ``stacklevel`` that makes ``warnings.warn``, called in the function that
    calls this, point at the first frame outside the winback package: the user's
    line, however deep in the package the warning is raised."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def _int(name: str, v: Any, low: int, high: Optional[int] = None, optional: bool = False) -> Optional[int]:
    """An integer parameter in [low, high], or a WinbackParamError naming it."""
    if v is None and optional:
        return None
    if isinstance(v, bool):
        raise WinbackParamError(f"{name} must be a whole number, got {v!r}")
    try:
        i = operator.index(v)
    except TypeError:
        raise WinbackParamError(f"{name} must be a whole number, got {v!r}") from None
    if i < low or (high is not None and i > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise WinbackParamError(f"{name} must be {bound}, got {i}")
    return i


def _threads(n: Any) -> Optional[int]:
    """The ``n_threads`` of a call (None: rayon's global pool, ``RAYON_NUM_THREADS``)."""
    return _int("n_threads", n, 1, _MAX_THREADS, optional=True)


def _number(name: str, v: Any) -> float:
    """A real-number parameter (NumPy scalars too; its range is checked where it is
    used), or a WinbackParamError naming it."""
    import numbers

    if isinstance(v, bool) or type(v).__name__ == "bool_" or not isinstance(v, numbers.Real):
        raise WinbackParamError(f"{name} must be a number, got {v!r}")
    return float(v)


def _share(name: str, v: Any, low: float, high: float) -> float:
    """A real-number parameter in [low, high], or a WinbackParamError naming it."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or not (low <= float(v) <= high):
        raise WinbackParamError(f"{name} must be a number between {low} and {high}, got {v!r}")
    return float(v)


def _text(x: Any) -> Optional[str]:
    """A value of a mixed object column as the loader reads it (a whole float as an integer)."""
    if x is None or (isinstance(x, float) and x != x):
        return None
    if isinstance(x, float) and x.is_integer() and abs(x) < 9.0e15:
        return str(int(x))
    return str(x)


def _as_stream(data: Any, columns: Optional[Sequence[str]] = None) -> Any:
    """Anything with `__arrow_c_stream__` passes as is (pyarrow, polars, pandas >= 2.2, DuckDB);
    a polars LazyFrame is collected; a plain pandas DataFrame goes through pyarrow, its
    `columns` only when given (the others are never read). Object columns that pyarrow
    cannot type (numbers mixed with text such as "1,234.50") are passed as text, so the
    loader counts their bad values in the load report instead of failing."""
    if isinstance(data, (str, os.PathLike)):
        # A path: a CSV or Parquet file, a directory of Parquet files (part-*.parquet,
        # hive-style date=.../ folders) or a pattern such as "exports/part-*.parquet".
        return os.fspath(data)
    if type(data).__name__ == "LazyFrame" and hasattr(data, "collect"):
        data = data.collect()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        if columns is not None:
            names = list(dict.fromkeys(c for c in columns if c is not None))
            for c in names:
                n = sum(1 for x in data.columns if x == c)
                if n > 1:
                    raise WinbackDataError(f"<pandas>: column `{c}` appears {n} times in the header: which one is meant is ambiguous (rename the copies)")
            if all(c in data.columns for c in names):
                data = data[names]
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            fixed = data.copy()
            for c in fixed.columns:
                if fixed[c].dtype == object:
                    fixed[c] = fixed[c].map(_text)
            return pa.Table.from_pandas(fixed, preserve_index=False)
    if hasattr(data, "__arrow_c_stream__"):
        return data
    raise WinbackTypeError(f"expected a table with __arrow_c_stream__ (pyarrow, polars, pandas) or a path, got {type(data).__name__}")


try:
    from importlib.metadata import version as _version

    __version__ = _version("winback")
except Exception:  # noqa: BLE001 - not installed as a distribution (a source checkout)
    __version__ = "0.1.0"

# As the CLI's load report (winback_core::report::LONG_SPAN_YEARS): no purchase log runs this long.
_LONG_SPAN_YEARS = 50


def _warn_report(report: dict) -> None:
    # Rows after the cutoff the caller read for were asked to be left out: no warning.
    skipped = [(r, c) for r, c in report.get("skipped", []) if r != "after_cutoff"]
    if skipped:
        n = sum(c for _, c in skipped)
        reasons = ", ".join(f"{c} {r}" for r, c in skipped)
        warnings.warn(
            WinbackDataWarning(f"{report['source']}: {n} of {report['rows_read']} rows skipped ({reasons}); see load_report_"),
            stacklevel=_stacklevel(),
        )
    _warn_dates(report)
    if report.get("float_twin_count"):
        warnings.warn(
            WinbackDataWarning(f"{report['source']}: {report['float_twin_count']} customer ids are another id with a decimal "
                               f"zero added ({', '.join(report['float_twins'])}): one customer written two ways? (counted as two)"),
            stacklevel=_stacklevel(),
        )


def _warn_dates(report: dict) -> None:
    """A `WinbackDataWarning` when the report's dates span more than no purchase log runs."""
    dates = report.get("dates")
    if dates and int(dates[1][:4]) - int(dates[0][:4]) > _LONG_SPAN_YEARS:
        warnings.warn(
            WinbackDataWarning(f"{report['source']}: the dates span {dates[0]} to {dates[1]}: a placeholder date (such as "
                               "0001-01-01 or 9999-12-31) is read as a real purchase; fix it or filter it out"),
            stacklevel=_stacklevel(),
        )


_read_native = _winback.read_history


def _name_the_row(e: WinbackDataError, data: Any) -> None:
    """A strict-mode error on a table says "row N" (1-based position) and, for pandas,
    the row's ``iloc`` and index label (a NaN value reads "value missing" as a null does)."""
    m = re.match(r"^(<[a-z]+>), (?:line|row) (\d+)(,|:)(.*)$", str(e), re.S)
    if not m:
        return
    n = int(m.group(2))
    where = f"row {n}"
    index = getattr(data, "index", None)
    if index is not None and hasattr(data, "iloc") and 0 < n <= len(index):
        label = index[n - 1]
        label = label.item() if hasattr(label, "item") else label  # 200, not np.int64(200)
        where += f" (iloc[{n - 1}], index {label!r})"
    rest = re.sub(r"duplicate of (?:line|row) (\d+)", r"duplicate of row \1", m.group(4))
    e.args = (f"{m.group(1)}, {where}{m.group(3)}{rest}",)


def read_history(
    data: Any,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str = "amount",
    quantity_col: Optional[str] = None,
    order_id_col: Optional[str] = None,
    channel_col: Optional[str] = None,
    category_col: Optional[str] = None,
    region_col: Optional[str] = None,
    cancelled_col: Optional[str] = None,
    date_format: Optional[str] = None,
    time_zone: Optional[str] = None,
    strict: bool = False,
    attributes: Any = None,
    attributes_key: str = "customer_id",
    n_threads: Optional[int] = None,
    skip_zero_amounts: bool = False,
    progress: bool = False,
    drop_duplicates: bool = False,
    only_before: Any = None,
):
    """Reads a transactions table into a columnar history (streamed batch by batch).

    Parameters
    ----------
    data : table or path
        pyarrow, polars, pandas, or anything with ``__arrow_c_stream__`` (DuckDB); or a
        path: a CSV or Parquet file, a directory of Parquet files as Spark, DuckDB and
        warehouses write them (``part-*.parquet``, hive-style ``date=2023-01-01/``
        folders) or a pattern (``"exports/part-*.parquet"``); the load report then
        counts the rows per file (``files``).
    customer_id_col, datetime_col, monetary_value_col, ... : str
        The columns (lifetimes-style names); the optional ones may be ``None``.
    strict : bool
        Refuse any bad row (error naming row, column and value) instead of counting it.
    attributes : table, optional
        A customer table keyed by ``attributes_key`` (numeric, date and categorical columns).
    n_threads : int, optional
        Threads to use, 1 to 1024 (default: all cores, or ``RAYON_NUM_THREADS``).
    skip_zero_amounts : bool
        Skip lines with amount 0 (default: they are purchases with no spend — a
        free item or a fully discounted order is still a visit).
    drop_duplicates : bool
        Skip lines identical to another in every mapped column, as after a file was
        loaded twice (default: kept and counted in the load report's
        ``identical_lines`` — two products of the same price and quantity on one
        order look identical when the product column is not mapped).
    progress : bool
        Show the read's progress on stderr (in a notebook, under the cell): percentage,
        rate and time left — bytes of a CSV file, rows of Parquet files or of a table.
    only_before : date, optional
        The cutoff the history is read for, when nothing on or after it is needed
        (features, a lapse threshold or scores at that date use only earlier days):
        rows dated on or after it are counted in the load report (``after_cutoff``)
        and not kept, and Parquet row groups whose date statistics put every row
        there are not even decoded — a log in time order with the cutoff inside it
        reads that much faster. Ignored with ``strict``, which checks every row.

    Returns
    -------
    History
        The history; ``history.report_json`` is the load report. Skipped rows
        raise a ``WinbackDataWarning`` with their counts by reason.
    """
    if isinstance(data, _winback.History):
        return data
    mapped = [customer_id_col, datetime_col, monetary_value_col, quantity_col, order_id_col, channel_col, category_col, region_col, cancelled_col]
    for c in mapped:
        if c is not None and not isinstance(c, str):
            raise WinbackParamError(f"column names are text, got {c!r} ({type(c).__name__})")
    stream = _as_stream(data, mapped)
    try:
        h = _read_native(
        stream,
        customer_id_col,
        datetime_col,
        monetary_value_col,
        quantity_col=quantity_col,
        order_id_col=order_id_col,
        channel_col=channel_col,
        category_col=category_col,
        region_col=region_col,
        cancelled_col=cancelled_col,
        date_format=date_format,
        time_zone=time_zone,
        strict=strict,
        skip_zero_amounts=bool(skip_zero_amounts),
        drop_duplicates=bool(drop_duplicates),
        attributes=None if attributes is None else _as_stream(attributes),
        attributes_key=attributes_key,
        threads=_int("n_threads", n_threads, 1, _MAX_THREADS, optional=True),
        progress=_ProgressLine() if progress else None,
        progress_total=stream.num_rows if progress and isinstance(stream, pa.Table) else None,
        only_before=None if only_before is None else _iso(only_before, "only_before"),
        )
    except WinbackDataError as e:
        _name_the_row(e, data)
        raise
    _warn_report(json.loads(h.report_json))
    if h.attributes_report_json:
        a = json.loads(h.attributes_report_json)
        if a["missing_key"] or a["duplicate_keys"]:
            warnings.warn(
                WinbackDataWarning(f"attributes: {a['rows_read']} rows read, {a['missing_key']} without key and "
                                   f"{a['duplicate_keys']} with a repeated key left out (first kept)"),
                stacklevel=_stacklevel(),
            )
        kept = a["rows_read"] - a["missing_key"] - a["duplicate_keys"] - a.get("malformed", 0)
        if kept > 0 and a["unmatched"] == kept:
            warnings.warn(
                WinbackDataWarning(f"attributes: none of the {kept} rows matches a customer of the transactions "
                                   f"(keys are compared as text: check `attributes_key` and the id formats)"),
                stacklevel=_stacklevel(),
            )
    return h


#: The keywords of ``read_history`` (all but ``data``), which the functions that read
#: a table pass on.
_READ_KEYS = tuple(inspect.signature(read_history).parameters)[1:]


def _read_options(func: Any, columns: dict, data: Any = None) -> dict:
    """The keywords `func` passes on to ``read_history``, or a WinbackParamError naming
    `func` and every keyword it takes (its own and ``read_history``'s). With a
    `History` as the data, keywords about reading it (all but ``n_threads``) are
    refused: the history is read already, and they would be silently ignored."""
    unknown = sorted(set(columns) - set(_READ_KEYS))
    if unknown:
        own = [k for k, p in inspect.signature(func).parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD][1:]
        raise WinbackParamError(f"{func.__name__}(): unknown keyword(s) {unknown}; known: {own + list(_READ_KEYS)}")
    if isinstance(data, _winback.History):
        late = sorted(set(columns) - {"n_threads"})
        if late:
            raise WinbackParamError(f"{func.__name__}(): {late} apply when reading, and this history is read already: "
                                    "give them to read_history, or pass the table or path instead")
    return columns


class _ProgressLine:
    """Draws a read's progress on one line of stderr: step, percentage, rate and time left.
    Called from Rust at most every 200 ms with ``(step, done, total, unit, final)``."""

    def __init__(self, stream: Any = None):
        import sys
        import time

        self._out = stream or sys.stderr
        self._clock = time.monotonic
        self._start = self._clock()

    @staticmethod
    def _size(n: float, unit: str) -> str:
        if unit != "bytes":
            return f"{n:,.0f} rows"
        for u in ("B", "KB", "MB", "GB"):
            if n < 1024 or u == "GB":
                return f"{n:.1f} {u}" if u != "B" else f"{n:.0f} B"
            n /= 1024
        return f"{n:.1f} GB"  # pragma: no cover

    def line(self, step: str, done: int, total: Optional[int], unit: str, final: bool) -> str:
        if done == 0 and not final:
            self._start = self._clock()
        spent = max(self._clock() - self._start, 1e-9)
        rate = done / spent
        if total:
            pct = min(100.0, 100.0 * done / total)
            eta = (total - done) / rate if rate > 0 and done < total else 0.0
            return f"{step}: {pct:5.1f}% {self._size(done, unit)} of {self._size(total, unit)}, {self._size(rate, unit)}/s, ETA {eta:.0f} s"
        return f"{step}: {self._size(done, unit)}, {self._size(rate, unit)}/s"

    def __call__(self, step: str, done: int, total: Optional[int], unit: str, final: bool) -> None:
        self._out.write("\r" + self.line(step, done, total, unit, final) + ("\n" if final else ""))
        self._out.flush()


def _ids_back(table: pa.Table, id_type: str) -> pa.Table:
    """Customer ids leave in the type they came in: integer (and whole float) ids as int64;
    from a file (`id_type` "path"), ids written as plain integers (no leading zero) as int64."""
    if id_type == "path" and "customer_id" in table.column_names:
        col = table["customer_id"]
        try:
            ints = col.cast(pa.int64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return table
        if not ints.cast(pa.string()).equals(col.cast(pa.string())):
            return table  # "007" stays text
        return table.set_column(table.column_names.index("customer_id"), "customer_id", ints)
    # A categorical column (pandas "category", an Arrow dictionary) comes back in the
    # type of its values: `dictionary(int8, int64)` ids leave as int64.
    dictionary = re.match(r"dictionary\(\s*[^,]+,\s*([^,)]+)", id_type)
    if dictionary:
        id_type = dictionary.group(1).strip()
    if "customer_id" not in table.column_names or not (id_type.startswith(("int", "uint")) or id_type in ("double", "float", "halffloat", "float64", "float32")):
        return table
    try:
        ids = table["customer_id"].cast(pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return table  # non-whole float ids stay text
    return table.set_column(table.column_names.index("customer_id"), "customer_id", ids)


def _output(data: Union[pa.RecordBatch, pa.Table], output: str, id_type: str = "") -> Any:
    table = pa.Table.from_batches([data]) if isinstance(data, pa.RecordBatch) else data
    table = _ids_back(table, id_type)
    # Counts and group ids leave as int64 (as groups_ gives them; Spark has no unsigned types).
    for i, f in enumerate(table.schema):
        if pa.types.is_unsigned_integer(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.int64()))
    if output == "pandas":
        df = table.to_pandas()
        # An integer column with missing values (a control's rank) stays integer: nullable Int64, not float.
        for f in table.schema:
            if pa.types.is_integer(f.type) and table.column(f.name).null_count:
                df[f.name] = df[f.name].astype("Int64")
        return df
    if output == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if output == "pyarrow":
        return table
    raise WinbackParamError(f"output must be 'pandas', 'polars' or 'pyarrow', got {output!r}")


def _rows(rows: list, columns: Sequence[str], output: str) -> Any:
    """A list of dicts as a table of the user's output type (empty lists keep their columns)."""
    if rows:
        table = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    else:
        table = pa.table({c: pa.array([], pa.null()) for c in columns})
    return _output(table, output)


def lapse_threshold(data: Any, at: Date, lapse_days: Optional[int] = None, quantile: float = 0.9, **columns: Any) -> dict:
    """The lapse threshold at `at`: threshold, gap distribution, and how many are lapsed.

    Parameters
    ----------
    data : table
        Transactions (see ``read_history``); column keywords as there.
    at : date
        The date we stand at (text ``YYYY-MM-DD``, ``datetime.date``, ``pandas.Timestamp``).
    lapse_days : int, optional
        A fixed threshold; otherwise the `quantile` of the gaps between purchase days before `at`.

    Returns
    -------
    dict
        ``cutoff`` (`at`, ``YYYY-MM-DD``), ``threshold_days``, ``gaps`` (count, mean, quantiles, histogram),
        ``customers_with_history``, ``lapsed``.
    """
    opts = _read_options(lapse_threshold, columns, data)
    day = _iso(at)
    h = read_history(data, **{"only_before": day, **opts})
    lapse_days = _int("lapse_days", lapse_days, 1, 36500, optional=True)
    quantile = None if lapse_days else _number("quantile", quantile)
    out = json.loads(_winback.lapse_threshold(h, day, lapse_days=lapse_days, lapse_quantile=quantile, threads=_threads(opts.get("n_threads"))))
    out["cutoff"] = _day(out["cutoff"])
    return out


def bgnbd(data: Any, at: Date, **columns: Any) -> Optional[dict]:
    """The BG/NBD model behind the ``btyd_*`` features, fitted at `at`.

    Maximum likelihood on every customer's purchase days strictly before `at`
    (time in days; frequency = purchase days after the first, recency = days from
    the first to the last, T = days from the first purchase day to `at`), as
    ``lifetimes.BetaGeoFitter`` with ``penalizer_coef=0``.

    Returns
    -------
    dict or None
        ``r``, ``alpha``, ``a``, ``b``; ``None`` when the fit does not converge.
    """
    opts = _read_options(bgnbd, columns, data)
    day = _iso(at)
    h = read_history(data, **{"only_before": day, **opts})
    p = _winback.bgnbd(h, day, threads=_threads(opts.get("n_threads")))
    return None if p is None else dict(zip(("r", "alpha", "a", "b"), p))


def features(data: Any, at: Date, lapse_days: Optional[int] = None, quantile: float = 0.9, all: bool = False, output: str = "pandas", **columns: Any) -> Any:
    """The feature table at `at`.

    Parameters
    ----------
    data : table
        Transactions (see ``read_history``); column keywords as there.
    at : date
        The date we stand at. Nothing dated on or after it is used, so a table or
        file is read for it (``read_history``'s ``only_before``): later rows are
        counted in the load report, not kept.
    all : bool
        Every customer with a purchase before `at` instead of the lapsed only.
    output : {'pandas', 'polars', 'pyarrow'}

    Returns
    -------
    table
        ``customer_id`` (in the type it came in) and one column per feature.
    """
    opts = _read_options(features, columns, data)
    # Features at `at` use nothing dated on or after it: such rows are not kept.
    day = _iso(at)
    h = read_history(data, **{"only_before": day, **opts})
    lapse_days = _int("lapse_days", lapse_days, 1, 36500, optional=True)
    quantile = None if lapse_days else _number("quantile", quantile)
    batch = _winback.features(h, day, lapse_days=lapse_days, lapse_quantile=quantile, all=all, threads=_threads(opts.get("n_threads")))
    return _output(batch, output, h.id_type)


_PLAN_KEYS = (
    "objective",
    "cost_per_contact",
    "margin",
    "value_per_winback",
    "budget",
    "target_winbacks",
    "max_contacts",
    "min_probability",
    "min_expected_profit",
    "include_unprofitable",
    "control_share",
    "control_seed",
    "min_effect",
)


def _plan_params(params: dict) -> str:
    unknown = sorted(set(params) - set(_PLAN_KEYS))
    if unknown:
        raise WinbackParamError(f"unknown plan parameter(s) {unknown}; known: {list(_PLAN_KEYS)}")
    p = {"objective": "probability", "cost_per_contact": 0.0, "margin": 1.0, "value_per_winback": None, "budget": None,
         "max_contacts": None, "target_winbacks": None, "min_probability": None, "min_expected_profit": None,
         "include_unprofitable": False, "control_share": 0.0, "control_seed": 0, "min_effect": None}
    p.update(params)
    if p["objective"] not in ("probability", "profit", "roi", "incremental"):
        raise WinbackParamError(f"objective must be 'probability', 'profit', 'roi' or 'incremental', got {p['objective']!r}")
    p["max_contacts"] = _int("max_contacts", p["max_contacts"], 0, optional=True)
    p["control_seed"] = _int("control_seed", p["control_seed"], 0, 2**64 - 1)
    for k in ("cost_per_contact", "margin", "value_per_winback", "budget", "target_winbacks", "min_probability", "min_expected_profit", "control_share"):
        if p[k] is not None:
            if isinstance(p[k], bool) or not isinstance(p[k], (int, float)) and not hasattr(p[k], "__float__"):
                raise WinbackParamError(f"{k} must be a number, got {p[k]!r}")
            p[k] = float(p[k])
            if not math.isfinite(p[k]):
                raise WinbackParamError(f"{k} must be a finite number, got {p[k]!r}")
    return json.dumps(p)


class _Estimator:
    """What both estimators share: scikit-learn's parameter protocol over ``_PARAMS``,
    and pickling through the JSON model file (``_NATIVE.from_json``; the attributes in
    ``_EXTRA_STATE`` travel beside it)."""

    _PARAMS: tuple = ()
    _EXTRA_STATE: tuple = ()
    _NATIVE: Any = None

    def get_params(self, deep: bool = True) -> dict:
        """The constructor's parameters (scikit-learn protocol)."""
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params: Any) -> Any:
        """Sets constructor parameters (scikit-learn protocol); returns self."""
        for k, v in params.items():
            if k not in self._PARAMS:
                raise WinbackParamError(f"unknown parameter {k!r}")
            setattr(self, k, v)
        return self

    def __getstate__(self) -> dict:
        state = {"params": self.get_params()}
        if hasattr(self, "model_"):
            state["model_json"] = self.model_.to_json()
            for k in self._EXTRA_STATE:
                state[k] = getattr(self, k, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state["params"])
        if "model_json" in state:
            self.model_ = self._NATIVE.from_json(state["model_json"])
            for k in self._EXTRA_STATE:
                setattr(self, k, state.get(k))
            self._learned()


class WinbackModel(_Estimator):
    """Groups of lapsed customers with honest win-back probabilities, and a contact plan.

    Follows scikit-learn's conventions: ``__init__`` only stores its arguments,
    ``fit`` returns ``self``, learned state ends in ``_``, ``get_params`` /
    ``set_params`` make ``sklearn.base.clone`` work, and pickling goes through
    the same JSON model file as ``save``.

    Parameters
    ----------
    horizon_days : int
        Days after the date in which a purchase counts as a win-back (1 to 36500).
    lapse_days : int, optional
        A fixed lapse threshold; otherwise learned as the `lapse_quantile` of purchase gaps.
    groups : int
        Target number of groups (at least 2).
    training_cutoffs : int
        Stacked training cutoffs ``at − H, at − 2H, ...``.
    min_history_days : int, optional
        Days of data needed before a training cutoff (default: twice the smaller of the horizon and
        the lapse threshold at ``at``, within 28–90).
    seed : int
        Seed of the held-out split (with ``honest_fraction`` above 0) and of the row
        sample of splits over 100,000 rows.
    honest_fraction : float
        Share of customers held out to estimate the groups' probabilities, 0 to 0.9.
        The default 0 holds nobody out: every training row chooses the splits and
        estimates the probabilities (measured on the full Online Retail and
        Complete Journey data, it ranked and calibrated better on the next period
        than holding 30% out, and does not depend on the seed).
    split_on : {'outcomes', 'smoothed'}
        What chooses the groups' splits: the training outcomes (default), or a smoothed
        chance of coming back (a logistic regression on log recency and the BG/NBD chance,
        fitted on the same rows); the groups' probabilities always come from the outcomes.
    group_order : {'smoothed', 'observed'}
        What numbers the groups and so orders the plan: a smooth chance of coming back
        (default; a logistic regression on log recency, purchases, spend and tenure and the
        BG/NBD chance, fitted on every training row; adjacent groups whose own outcomes go
        against it share one probability, ``pooled`` in ``groups_``), or each group's own
        probability.
    *_col : str
        Column names (lifetimes-style).
    n_threads : int, optional
        Threads, 1 to 1024.
    output : {'pandas', 'polars', 'pyarrow'}
        Type of the tables returned.
    progress : bool
        Show each read's progress on stderr (percentage, rate, time left).
    skip_zero_amounts, drop_duplicates : bool
        Load options of every read, as in :func:`read_history` (zero-amount lines
        are purchases with no spend, and identical lines are kept and counted,
        unless these say otherwise).

    >>> model = WinbackModel(horizon_days=60, groups=10)          # doctest: +SKIP
    >>> model.fit(transactions, at="2011-12-10", order_id_col="invoice_no")  # doctest: +SKIP
    >>> model.groups_                                               # doctest: +SKIP
    """

    def __init__(
        self,
        horizon_days: int = 60,
        lapse_days: Optional[int] = None,
        lapse_quantile: float = 0.9,
        groups: int = 10,
        training_cutoffs: int = 3,
        min_history_days: Optional[int] = None,
        seed: int = 42,
        honest_fraction: float = 0.0,
        split_on: str = "outcomes",
        group_order: str = "smoothed",
        customer_id_col: str = "customer_id",
        datetime_col: str = "date",
        monetary_value_col: str = "amount",
        quantity_col: Optional[str] = None,
        order_id_col: Optional[str] = None,
        channel_col: Optional[str] = None,
        category_col: Optional[str] = None,
        region_col: Optional[str] = None,
        cancelled_col: Optional[str] = None,
        attributes_key: str = "customer_id",
        n_threads: Optional[int] = None,
        output: str = "pandas",
        skip_zero_amounts: bool = False,
        progress: bool = False,
        drop_duplicates: bool = False,
    ):
        self.horizon_days = horizon_days
        self.lapse_days = lapse_days
        self.lapse_quantile = lapse_quantile
        self.groups = groups
        self.training_cutoffs = training_cutoffs
        self.min_history_days = min_history_days
        self.seed = seed
        self.honest_fraction = honest_fraction
        self.split_on = split_on
        self.group_order = group_order
        self.customer_id_col = customer_id_col
        self.datetime_col = datetime_col
        self.monetary_value_col = monetary_value_col
        self.quantity_col = quantity_col
        self.order_id_col = order_id_col
        self.channel_col = channel_col
        self.category_col = category_col
        self.region_col = region_col
        self.cancelled_col = cancelled_col
        self.attributes_key = attributes_key
        self.n_threads = n_threads
        self.output = output
        self.skip_zero_amounts = skip_zero_amounts
        self.progress = progress
        self.drop_duplicates = drop_duplicates

    # -- scikit-learn protocol (get_params, set_params and pickling: _Estimator) --
    _EXTRA_STATE = ("fitted_at_",)
    _NATIVE = _winback.Model
    _PARAMS = (
        "horizon_days",
        "lapse_days",
        "lapse_quantile",
        "groups",
        "training_cutoffs",
        "min_history_days",
        "seed",
        "honest_fraction",
        "split_on",
        "group_order",
        *_COLUMN_KEYS,
        "attributes_key",
        "n_threads",
        "output",
        "skip_zero_amounts",
        "progress",
        "drop_duplicates",
    )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v != _DEFAULTS.get(k))
        return f"WinbackModel({args})"

    # -- fitting ---------------------------------------------------------------
    def _history(self, data: Any, attributes: Any = None):
        h = read_history(data, attributes=attributes, attributes_key=self.attributes_key, n_threads=self.n_threads,
                         skip_zero_amounts=self.skip_zero_amounts, progress=bool(getattr(self, "progress", False)),
                         drop_duplicates=bool(getattr(self, "drop_duplicates", False)),
                         **{k: getattr(self, k) for k in _COLUMN_KEYS})
        self.load_report_ = json.loads(h.report_json)
        self._id_type = h.id_type
        return h

    def fit(self, data: Any, at: Date, attributes: Any = None) -> "WinbackModel":
        """Fits standing at `at` (training on ``at − H``, ``at − 2H``, ...).

        Parameters
        ----------
        data : table
            Transactions (pyarrow, polars, pandas, or any ``__arrow_c_stream__``).
        at : date
            The date we stand at (text, ``datetime.date``, ``pandas.Timestamp``).
        attributes : table, optional
            A customer table keyed by ``attributes_key``; pass the same table to ``score``/``plan``.

        Returns
        -------
        WinbackModel
            self, with ``groups_``, ``lapse_days_``, ``training_cutoffs_``, ``load_report_``.
        """
        h = self._history(data, attributes)
        self.model_ = _winback.Model.fit(
            h, _iso(at), self._fit_options(), threads=_int("n_threads", self.n_threads, 1, _MAX_THREADS, optional=True)
        )
        self.fitted_at_ = _iso(at)
        self._learned()
        return self

    def _fit_options(self) -> dict:
        """The fitting parameters, checked (a WinbackParamError names the one out of range)."""
        lapse_days = _int("lapse_days", self.lapse_days, 1, 36500, optional=True)
        return dict(
            horizon_days=_int("horizon_days", self.horizon_days, 1, 36500),
            lapse_days=lapse_days,
            lapse_quantile=None if lapse_days else _number("lapse_quantile", self.lapse_quantile),
            groups=_int("groups", self.groups, 2, 10_000),
            training_cutoffs=_int("training_cutoffs", self.training_cutoffs, 1, 1000),
            seed=_int("seed", self.seed, 0, 2**64 - 1),
            min_history_days=_int("min_history_days", self.min_history_days, 1, 36500, optional=True),
            honest_fraction=_share("honest_fraction", getattr(self, "honest_fraction", 0.0), 0.0, 0.9),
            split_on=_split_on(getattr(self, "split_on", "outcomes")),
            group_order=_group_order(getattr(self, "group_order", "smoothed")),
        )

    def _learned(self) -> None:
        self.fitted_at_ = self.model_.fitted_at
        self.lapse_days_ = self.model_.lapse_days
        self.training_sample_ = self.model_.training_sample
        self.feature_names_ = list(self.model_.feature_names)
        self.training_cutoffs_ = list(self.model_.training_cutoffs)
        self._groups = json.loads(self.model_.groups_json())

    @property
    def groups_(self) -> Any:
        """The groups as a table (id, size, share, came_back, probability, low, high,
        order_score, pooled, rule). ``order_score``: the smooth chance that numbers the
        groups (``group_order="smoothed"``); ``pooled``: the run of groups (``"3-6"``) whose
        outcomes share this group's probability because their own rates went against that
        order, or None."""
        self._check()
        rows = [dict(g, rule=g["sentence"], pooled=_pooled(g) or None) for g in self._groups]
        return _rows(rows, ["id", "size", "share", "came_back", "probability", "low", "high", "order_score", "pooled", "rule"], self.output)

    @property
    def effects_(self) -> Any:
        """The effect of contact per group over the recorded waves with a control group:
        group, contacted, contacted_came_back, control, control_came_back, contact_rate,
        control_rate, effect, effect_low, effect_high (empty without such a wave)."""
        rows = json.loads(self._check().effects_json())
        return _rows(rows, ["group", "contacted", "contacted_came_back", "control", "control_came_back", "contact_rate",
                            "control_rate", "effect", "effect_low", "effect_high"], self.output)

    @property
    def waves_(self) -> list:
        """The recorded contact waves (fingerprint, date ``at`` as ``YYYY-MM-DD``, per-group
        outcomes, contacted ids)."""
        waves = json.loads(self._check().waves_json())
        for w in waves:
            w["at"] = _day(w["at"])
        return waves

    def _check(self) -> Any:
        if not hasattr(self, "model_"):
            raise NotFittedError("This WinbackModel is not fitted yet: call fit(data, at=...) first.")
        return self.model_

    # -- using -----------------------------------------------------------------
    def score(self, data: Any, at: Date, attributes: Any = None) -> Any:
        """The lapsed customers at `at` with group, probability and its 90% interval.

        Returns
        -------
        table
            customer_id (in the type it came in), group, probability, probability_low,
            probability_high, priority, rule — joinable back to the caller's table.
        """
        m = self._check()
        h = self._history(data, attributes)
        return _output(m.score(h, _iso(at), threads=_threads(self.n_threads)), self.output, h.id_type)

    def profile(self, data: Any, at: Date, attributes: Any = None, as_dict: bool = False) -> Any:
        """What each group's customers are like at `at` (purchases before `at`, never outcomes).

        Returns
        -------
        table or dict
            One row per group and a last row ``all``: size, share, quartiles of recency,
            purchases, tenure, spend and spend per purchase, one-time share, suggested
            channel and its share, top categories and main regions (with lift and customer
            counts), and a one-line description — in the model's ``output`` type. With
            ``as_dict=True`` the full profiles (``{"groups": [...], "all": {...}}``, with the
            ABC/RFM/channel/attribute mixes) as a dict.
        """
        m = self._check()
        h = self._history(data, attributes)
        table, js = m.profile(h, _iso(at), threads=_threads(self.n_threads))
        if as_dict:
            return json.loads(js)
        return _output(table, self.output)

    def predict_proba(self, data: Any, at: Date, attributes: Any = None) -> Any:
        """Probabilities of (no win-back, win-back) per lapsed customer: an array of shape (n, 2),
        rows in the order of ``score``."""
        import numpy as np

        p = np.asarray(self._scores_pa(data, at, attributes)["probability"].to_numpy(), dtype=float)
        return np.column_stack([1.0 - p, p])

    def _scores_pa(self, data: Any, at: Date, attributes: Any = None) -> pa.Table:
        m = self._check()
        return pa.Table.from_batches([m.score(self._history(data, attributes), _iso(at), threads=_threads(self.n_threads))])

    def assign(self, data: Any, at: Date, attributes: Any = None) -> Any:
        """Group id per lapsed customer (rows in the order of ``score``), as a numpy array."""
        return self._scores_pa(data, at, attributes)["group"].to_numpy()

    def plan(self, data: Any, at: Date, attributes: Any = None, **params: Any) -> "Plan":
        """The contact plan: groups in objective order, cumulative figures, the stop point.

        Parameters
        ----------
        objective : {'probability', 'profit', 'roi', 'incremental'}
        cost_per_contact, margin, value_per_winback : float
        budget, target_winbacks, min_probability, min_expected_profit : float, optional
        max_contacts : int, optional
        include_unprofitable : bool

        Returns
        -------
        Plan
        """
        m = self._check()
        h = self._history(data, attributes)
        plan_json, contacts = m.plan(h, _iso(at), _plan_params(params), threads=_threads(self.n_threads))
        return Plan(json.loads(plan_json), _output(contacts, self.output, h.id_type), self.output)

    def contact_list(self, data: Any, at: Date, attributes: Any = None, **params: Any) -> Any:
        """The customers to contact, in priority order (the plan's ``contacts``)."""
        return self.plan(data, at, attributes=attributes, **params).contacts

    def feedback(self, data: Any, at: Date, outcomes: Any, attributes: Any = None, source: str = "<outcomes>", **params: Any) -> "Plan":
        """Records a contact wave's outcomes and plans what is left.

        Parameters
        ----------
        outcomes : table
            Per group (``group, contacted, came_back``: counts) or per customer
            (``customer_id, contacted, came_back``: 0/1 or true/false). With a control
            group (a plan with ``control_share``), an ``arm`` column (``contact`` or
            ``control``): ``customer_id, arm, came_back`` or ``group, arm, contacted,
            came_back``; the effect of contact per group is then ``effects_``, and
            ``objective="incremental"`` plans on it.
        source : str
            A name for messages (the file the outcomes came from).
        **params
            Plan parameters, as for ``plan``.

        Returns
        -------
        Plan
            The plan for the customers not contacted yet. The model's probabilities
            are updated and the wave is kept (``waves_``); the same outcomes are
            refused a second time, and a group is never contacted beyond what is left of it.
        """
        m = self._check()
        h = self._history(data, attributes)
        import io

        import pyarrow.csv as pacsv

        if isinstance(outcomes, (str, os.PathLike)):
            # A file is read as written: errors name its own lines.
            import gzip

            path = os.fspath(outcomes)
            with (gzip.open(path, "rt", encoding="utf-8") if path.endswith(".gz") else open(path, encoding="utf-8")) as f:
                text = f.read()
            source = path if source == "<outcomes>" else source
        else:
            table = _as_stream(outcomes)
            table = table if isinstance(table, pa.Table) else pa.RecordBatchReader.from_stream(table).read_all()
            buf = io.BytesIO()
            pacsv.write_csv(table, buf)
            text = buf.getvalue().decode("utf-8")
        new, plan_json, contacts = m.feedback(h, _iso(at), text, source, _plan_params(params), threads=_threads(self.n_threads))
        self.model_ = new
        self._learned()
        return Plan(json.loads(plan_json), _output(contacts, self.output, h.id_type), self.output)

    def backtest(self, data: Any, at: Date, cutoffs: Union[None, Date, Sequence[Date]] = None, attributes: Any = None) -> dict:
        """Rolling backtest against recency-only and RFM rankings.

        Parameters
        ----------
        cutoffs : date or list of dates, optional
            Default: three cutoffs one horizon apart, the latest one horizon before `at`.

        Returns
        -------
        dict
            ``rows``: one per cutoff (``cutoff``, ``YYYY-MM-DD``) with the model's, recency's and RFM's metrics.
        """
        h = self._history(data, attributes)
        if cutoffs is not None:
            one = isinstance(cutoffs, (str, _dt.date)) or type(cutoffs).__name__ in ("Timestamp", "datetime64")
            try:
                cutoffs = [_iso(cutoffs, "cutoffs")] if one else [_iso(c, "cutoffs") for c in cutoffs]  # lists, DatetimeIndex, arrays
            except TypeError:
                raise WinbackParamError(f"cutoffs must be a date or a sequence of dates, got {type(cutoffs).__name__}") from None
        out = json.loads(_winback.backtest(h, _iso(at), cutoffs, self._fit_options(), threads=_threads(self.n_threads)))
        for row in out["rows"]:
            row["cutoff"] = _day(row["cutoff"])
        return out

    # -- persistence -----------------------------------------------------------
    def save(self, path: str) -> None:
        """Writes the JSON model file (the same file the CLI reads), atomically: the
        file is either the old model or the new one, never half of one."""
        self._check().save(os.fspath(path))

    @classmethod
    def load(cls, path: str, **params: Any) -> "WinbackModel":
        """Reads a JSON model file (validated whole). The fitting parameters
        (horizon, lapse rule, groups, cutoffs, seed) come from the file, so
        ``sklearn.base.clone`` of a loaded model trains the same model; `params`
        sets the others (column names, output type)."""
        model = _from_file(_winback.Model, path, "<json>")
        cfg = json.loads(model.config_json())
        seg = cfg["segmenter"]
        lapse = cfg["lapse"]
        fitted = dict(
            horizon_days=cfg["horizon_days"],
            lapse_days=lapse["days"] if lapse["kind"] == "fixed" else None,
            lapse_quantile=lapse.get("quantile", 0.9),
            groups=seg["groups"],
            training_cutoffs=cfg["training_cutoffs"],
            min_history_days=cfg["min_history_days"],
            seed=seg["seed"],
            honest_fraction=seg["honest_fraction"],
            split_on=cfg.get("split_on", "outcomes"),
            group_order=cfg.get("group_order", "observed"),
        )
        obj = cls(**{**fitted, **params})
        obj.model_ = model
        obj._learned()
        return obj


    def _repr_html_(self) -> str:
        if not hasattr(self, "model_"):
            return f"<pre>{_esc(repr(self))} (not fitted)</pre>"
        rows = "".join(
            f"<tr><td>{g['id']}</td><td>{g['size']}</td><td>{g['share']:.1%}</td><td>{g['probability']:.3f}</td>"
            f"<td>[{g['low']:.3f}, {g['high']:.3f}]</td><td>{_pooled(g)}</td><td>{_esc(g['sentence'])}</td></tr>"
            for g in self._groups
        )
        return ("<table><tr><th>group</th><th>size</th><th>share</th><th>probability</th><th>90% interval</th>"
                f"<th>pooled</th><th>rule</th></tr>{rows}</table>")


def _pooled(g: dict) -> str:
    """The run of groups sharing this group's fitted probability ("3-6"), or ""."""
    run = g.get("pooled") or []
    return f"{run[0]}-{run[-1]}" if run else ""


def _from_file(native: Any, path: Any, placeholder: str) -> Any:
    """``native.from_json`` of the file at `path`; an error names the path (as the CLI's
    do) instead of the `placeholder` the native reader names the text by."""
    # A missing or unreadable file is a data error, as for a transactions file
    # (`features("missing.csv")`), not a bare OSError outside `WinbackError`.
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise WinbackDataError(f"cannot read {os.fspath(path)}: {getattr(e, 'strerror', None) or e}") from e
    try:
        return native.from_json(text)
    except WinbackError as e:
        msg = str(e)
        name = os.fspath(path)
        e.args = (f"{name}: {msg[len(placeholder) + 2:]}" if msg.startswith(placeholder + ": ") else f"{name}: {msg}",)
        raise


def _table(data: Any) -> Any:
    """A campaign table: a path to a CSV file (optionally .gz), read by winback's own
    CSV reader as the CLI reads it (columns typed alike, bad rows counted), or any
    table `_as_stream` takes."""
    if isinstance(data, (str, os.PathLike)):
        return os.fspath(data)
    return _as_stream(data)


class UpliftModel(_Estimator):
    """Uplift groups from a past campaign with a randomized control group: which
    customers a contact *moves* (contact rate − control rate), in about ten
    readable groups with honest effects and 90% intervals.

    The table has one row per customer: ``customer_id_col``, the arm
    (``treatment`` / ``control`` values of ``arm_col``; other values are counted
    and left out), a 0/1 outcome and traits known before the campaign (every
    other column but ``exclude``).

    >>> import winback                                                     # doctest: +SKIP
    >>> up = winback.UpliftModel(arm_col="segment", treatment="Womens E-Mail",  # doctest: +SKIP
    ...                          control="No E-Mail", outcome_col="visit",
    ...                          exclude=["conversion", "spend"]).fit(first_half)
    >>> up.groups_                                                         # doctest: +SKIP
    >>> up.evaluate(second_half)["qini_coefficient"]                       # doctest: +SKIP
    """

    def __init__(self, arm_col: str = "arm", treatment: Any = "contact", control: Any = "control", outcome_col: str = "came_back",
                 customer_id_col: str = "customer_id", exclude: Sequence[str] = (), groups: int = 10, min_group_share: float = 0.02,
                 seed: int = 42, n_threads: Optional[int] = None, output: str = "pandas"):
        self.arm_col = arm_col
        self.treatment = treatment
        self.control = control
        self.outcome_col = outcome_col
        self.customer_id_col = customer_id_col
        self.exclude = exclude
        self.groups = groups
        self.min_group_share = min_group_share
        self.seed = seed
        self.n_threads = n_threads
        self.output = output

    _PARAMS = ("arm_col", "treatment", "control", "outcome_col", "customer_id_col", "exclude", "groups", "min_group_share", "seed",
               "n_threads", "output")
    _NATIVE = _winback.Uplift

    def __repr__(self) -> str:
        return f"UpliftModel(arm_col={self.arm_col!r}, treatment={self.treatment!r}, control={self.control!r}, outcome_col={self.outcome_col!r})"

    @staticmethod
    def _arm(v: Any) -> str:
        # Arm values are compared as the table's text: a boolean column reads
        # "true"/"false", a numeric one as Rust prints it (1.0 -> "1").
        if type(v).__name__ in ("bool", "bool_"):
            return "true" if v else "false"
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    def fit(self, data: Any) -> "UpliftModel":
        """Fits on a campaign table; returns ``self``."""
        _int("groups", self.groups, 2)
        if not isinstance(self.exclude, (list, tuple)):
            raise WinbackParamError(f"exclude must be a list of column names, got {type(self.exclude).__name__}")
        self.model_ = _winback.Uplift.fit(_table(data), self.customer_id_col, self.arm_col, self._arm(self.treatment), self._arm(self.control),
                                          self.outcome_col, exclude=list(self.exclude), groups=self.groups,
                                          min_group_share=float(self.min_group_share), seed=_int("seed", self.seed, 0),
                                          threads=_int("n_threads", self.n_threads, 1, _MAX_THREADS, optional=True))
        self._learned()
        return self

    def _learned(self) -> None:
        summary = json.loads(self.model_.summary_json())
        self.report_ = summary["report"]
        self.note_ = summary["note"]
        self.feature_names_ = summary["features"]

    def _check(self) -> Any:
        if not hasattr(self, "model_"):
            raise NotFittedError("this UpliftModel is not fitted yet: call fit(table) first")
        return self.model_

    @property
    def groups_(self) -> Any:
        """One row per group: size, arms, honest contact and control rates, effect with its interval, rule."""
        return _output(self._check().groups(), self.output)

    def _input(self, data: Any) -> Tuple[Any, str]:
        """The campaign table (a path, or a pyarrow table) and the type of its id column (ids leave in it)."""
        t = _table(data)
        if isinstance(t, str):
            return t, "path"
        t = t if isinstance(t, pa.Table) else pa.table(t)
        col = self.customer_id_col
        return t, (str(t.schema.field(col).type) if col in t.column_names else "")

    def score(self, data: Any) -> Any:
        """customer_id, group, effect, effect_low, effect_high for every row (arm and outcome not needed)."""
        t, id_type = self._input(data)
        return _output(self._check().score(t, self.customer_id_col, threads=_threads(self.n_threads)), self.output, id_type)

    def predict(self, data: Any) -> Any:
        """The effect of a contact for every row (the uplift score), as a NumPy array."""
        return self._check().score(_table(data), self.customer_id_col, threads=_threads(self.n_threads)).column("effect").to_numpy()

    def plan(self, data: Any, **params: Any) -> "Plan":
        """The next wave's plan on the uplift groups for the customers of ``data``: groups
        by decreasing effect of contact, win-backs counted as those the contact causes
        (the objective is always ``'incremental'``), stopping rules and ``control_share``
        as in ``WinbackModel.plan``; give ``value_per_winback`` with a cost (an uplift
        model knows no spend)."""
        t, id_type = self._input(data)
        plan_json, contacts = self._check().plan(t, self.customer_id_col, _plan_params({**params, "objective": "incremental"}), threads=_threads(self.n_threads))
        return Plan(json.loads(plan_json), _output(contacts, self.output, id_type), self.output)

    def evaluate(self, data: Any) -> dict:
        """Measures the groups on other customers of the campaign: ``groups`` (effect per
        group, a table), ``qini`` (list of (share, incremental per customer)),
        ``qini_coefficient``, ``uplift_at_30`` and ``report`` (rows counted)."""
        e = json.loads(self._check().evaluate(_table(data), self.customer_id_col, threads=_threads(self.n_threads)))
        e["groups"] = _rows(e["groups"], ["group", "contacted", "contacted_came_back", "control", "control_came_back", "contact_rate",
                                          "control_rate", "effect", "effect_low", "effect_high"], self.output)
        e["qini"] = [tuple(p) for p in e["qini"]]
        return e

    def save(self, path: str) -> None:
        """Writes the model file (JSON), atomically as ``WinbackModel.save`` does."""
        self._check().save(os.fspath(path))

    @classmethod
    def load(cls, path: str, **params: Any) -> "UpliftModel":
        """Reads and validates a model file written by ``save``."""
        model = _from_file(_winback.Uplift, path, "<uplift model>")
        stored = json.loads(model.summary_json())
        # The fitting parameters come from the file, so that a clone of a loaded model
        # refits the same way (the excluded columns stay out of the traits).
        fitted = {k: stored[k] for k in ("arm_col", "treatment", "control", "outcome_col", "groups", "seed")}
        fitted["exclude"] = list(stored.get("exclude", []))
        if stored.get("min_group_share") is not None:
            fitted["min_group_share"] = stored["min_group_share"]
        obj = cls(**{**fitted, **params})
        obj.model_ = model
        obj._learned()
        return obj



_DEFAULTS = WinbackModel().get_params()


def _split_on(value: Any) -> str:
    if not isinstance(value, str) or value not in ("outcomes", "smoothed"):
        raise WinbackParamError(f"split_on must be 'outcomes' or 'smoothed', got {value!r}")
    return value


def _group_order(value: Any) -> str:
    if not isinstance(value, str) or value not in ("smoothed", "observed"):
        raise WinbackParamError(f"group_order must be 'smoothed' or 'observed', got {value!r}")
    return value


def _esc(s: Any) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_STEP_COLUMNS = ["group", "probability", "low", "high", "contacts", "cum_contacts", "expected_winbacks", "cum_expected_winbacks",
                 "cost", "cum_cost", "profit", "cum_profit", "label"]
_SUMMARY_KEYS = ["contacts", "expected_winbacks", "revenue", "cost", "profit", "cost_saved", "stop"]


class Plan:
    """A contact plan.

    ``summary`` (one-row table: contacts, expected win-backs, revenue, cost, profit,
    cost saved, stop), ``steps`` (table: one row per group contacted, in order),
    ``skipped`` (table: groups left out and why), ``gains`` (table) and
    ``contacts`` (table: the contact list). ``plan["stop"]`` reads one figure.
    """

    def __init__(self, data: dict, contacts: Any, output: str = "pandas"):
        self._data = data
        self._out = output
        self.contacts = contacts

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    @property
    def summary(self) -> Any:
        """The plan's totals as a one-row table."""
        row = {k: self._data[k] for k in _SUMMARY_KEYS}
        row["groups_contacted"] = len(self._data["groups_contacted"])
        row["groups_skipped"] = len(self._data["groups_skipped"])
        return _rows([row], list(row), self._out)

    @property
    def steps(self) -> Any:
        """One row per group contacted, in contact order, with cumulative figures."""
        cols = list(self._data["steps"][0]) if self._data["steps"] else _STEP_COLUMNS
        return _rows(self._data["steps"], cols, self._out)

    @property
    def skipped(self) -> Any:
        """The groups left out, with the reason and the cost saved."""
        cols = list(self._data["skipped"][0]) if self._data["skipped"] else ["group", "customers", "reason"]
        return _rows(self._data["skipped"], cols, self._out)

    @property
    def gains(self) -> Any:
        """Cumulative share of contacts and of expected win-backs, group by group."""
        cols = list(self._data["gains"][0]) if self._data["gains"] else ["group", "contact_share", "winback_share"]
        return _rows(self._data["gains"], cols, self._out)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{s['group']}</td><td>{s['probability']:.3f}</td><td>{s['contacts']}</td><td>{s['cum_contacts']}</td>"
            f"<td>{s['cum_expected_winbacks']:.1f}</td><td>{s['cum_cost']:.2f}</td><td>{s['cum_profit']:.2f}</td></tr>"
            for s in self._data["steps"]
        )
        s = self._data
        return ("<table><tr><th>group</th><th>p</th><th>contacts</th><th>cumulative</th><th>win-backs</th><th>cost</th>"
                f"<th>profit</th></tr>{rows}</table><p>stop: {_esc(s['stop'])}; not contacted: "
                f"{_esc(s['not_contacted'])}, cost saved {s['cost_saved']:.2f}</p>")

    def __repr__(self) -> str:
        s = self._data
        return (f"Plan(contacts={s['contacts']}, expected_winbacks={s['expected_winbacks']:.1f}, "
                f"stop={s['stop']!r}, groups_contacted={s['groups_contacted']}, groups_skipped={s['groups_skipped']})")
