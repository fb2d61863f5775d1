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

import json
import os
from typing import Any, Optional, Sequence

import pyarrow as pa

from . import _winback
from ._winback import WinbackDataError, WinbackError, WinbackParamError

# rayon's worker threads do not survive fork(): a forked child (multiprocessing)
# switches to a fresh pool instead of deadlocking.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_winback._after_fork)

__all__ = [
    "WinbackModel",
    "NotFittedError",
    "WinbackDataError",
    "WinbackParamError",
    "WinbackError",
    "lapse_threshold",
    "features",
    "read_history",
]


class NotFittedError(ValueError, AttributeError):
    """The model is used before `fit` (same bases as scikit-learn's)."""


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


def _as_stream(data: Any) -> Any:
    """Anything with `__arrow_c_stream__` passes as is (pyarrow, polars, pandas >= 2.2, DuckDB);
    a plain pandas DataFrame goes through pyarrow."""
    if hasattr(data, "__arrow_c_stream__"):
        return data
    try:
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return pa.Table.from_pandas(data, preserve_index=False)
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f"expected a table with __arrow_c_stream__ (pyarrow, polars, pandas), got {type(data).__name__}")


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
):
    """Reads a transactions table into a columnar history (streamed batch by batch).

    `attributes` is an optional customer table keyed by `attributes_key` (numeric,
    date and categorical columns: region, age band, join date, scores...).
    `n_threads` caps the threads (default: all cores, or RAYON_NUM_THREADS).
    """
    if isinstance(data, _winback.History):
        return data
    return _winback.read_history(
        _as_stream(data),
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
        attributes=None if attributes is None else _as_stream(attributes),
        attributes_key=attributes_key,
        threads=n_threads,
    )


def _output(batch: pa.RecordBatch, output: str) -> Any:
    table = pa.Table.from_batches([batch])
    if output == "pandas":
        return table.to_pandas()
    if output == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if output == "pyarrow":
        return table
    raise WinbackParamError(f"output must be 'pandas', 'polars' or 'pyarrow', got {output!r}")


def lapse_threshold(data: Any, at: str, lapse_days: Optional[int] = None, quantile: float = 0.9, **columns: Any) -> dict:
    """The lapse threshold at `at`: threshold, gap distribution, and how many are lapsed.

    `lapse_days` fixes the threshold; otherwise it is the `quantile` of the gaps
    between purchase days before `at`.
    """
    h = read_history(data, **columns)
    out = json.loads(_winback.lapse_threshold(h, at, lapse_days=lapse_days, lapse_quantile=None if lapse_days else quantile))
    return out


def features(data: Any, at: str, lapse_days: Optional[int] = None, quantile: float = 0.9, all: bool = False, output: str = "pandas", **columns: Any) -> Any:
    """The feature table (one row per lapsed customer, or every customer with `all=True`)."""
    h = read_history(data, **columns)
    return _output(_winback.features(h, at, lapse_days=lapse_days, lapse_quantile=None if lapse_days else quantile, all=all), output)


class WinbackModel:
    """Groups of lapsed customers with honest win-back probabilities, and a contact plan.

    Follows scikit-learn's conventions: ``__init__`` only stores its arguments,
    ``fit`` returns ``self``, learned state ends in ``_``, ``get_params`` /
    ``set_params`` make ``sklearn.base.clone`` work, and pickling goes through
    the same JSON model file as ``save``.

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
        seed: int = 42,
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
    ):
        self.horizon_days = horizon_days
        self.lapse_days = lapse_days
        self.lapse_quantile = lapse_quantile
        self.groups = groups
        self.training_cutoffs = training_cutoffs
        self.seed = seed
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

    # -- scikit-learn protocol -------------------------------------------------
    _PARAMS = (
        "horizon_days",
        "lapse_days",
        "lapse_quantile",
        "groups",
        "training_cutoffs",
        "seed",
        *_COLUMN_KEYS,
        "attributes_key",
        "n_threads",
        "output",
    )

    def get_params(self, deep: bool = True) -> dict:
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params: Any) -> "WinbackModel":
        for k, v in params.items():
            if k not in self._PARAMS:
                raise WinbackParamError(f"unknown parameter {k!r}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v != _DEFAULTS.get(k))
        return f"WinbackModel({args})"

    # -- fitting ---------------------------------------------------------------
    def _history(self, data: Any, attributes: Any = None):
        return read_history(data, attributes=attributes, attributes_key=self.attributes_key,
                            n_threads=self.n_threads, **{k: getattr(self, k) for k in _COLUMN_KEYS})

    def fit(self, data: Any, at: str, attributes: Any = None) -> "WinbackModel":
        """Fits standing at `at` (training on `at − H`, `at − 2H`, ...). Returns self.

        `attributes`: an optional customer table keyed by `attributes_key`; pass the
        same table to `score`/`plan` later.
        """
        h = self._history(data, attributes)
        self.model_ = _winback.Model.fit(
            h,
            at,
            horizon_days=self.horizon_days,
            lapse_days=self.lapse_days,
            lapse_quantile=None if self.lapse_days else self.lapse_quantile,
            groups=self.groups,
            training_cutoffs=self.training_cutoffs,
            seed=self.seed,
            threads=self.n_threads,
        )
        self.fitted_at_ = at
        self._learned()
        return self

    def _learned(self) -> None:
        self.lapse_days_ = self.model_.lapse_days
        self.feature_names_ = list(self.model_.feature_names)
        self.training_cutoffs_ = list(self.model_.training_cutoffs)
        self.groups_ = _GroupTable(json.loads(self.model_.groups_json()), self.output)

    def _check(self) -> Any:
        if not hasattr(self, "model_"):
            raise NotFittedError("This WinbackModel is not fitted yet: call fit(data, at=...) first.")
        return self.model_

    # -- using -----------------------------------------------------------------
    def score(self, data: Any, at: str, attributes: Any = None) -> Any:
        """The lapsed customers at `at` with group, probability and its 90% interval."""
        m = self._check()
        return _output(m.score(self._history(data, attributes), at), self.output)

    def predict_proba(self, data: Any, at: str) -> Any:
        """Probability of a win-back within the horizon, per lapsed customer (a Series/column)."""
        s = self.score(data, at)
        return s["probability"]

    def assign(self, data: Any, at: str) -> Any:
        """Group id per lapsed customer."""
        s = self.score(data, at)
        return s["group"]

    def plan(self, data: Any, at: str, attributes: Any = None, **params: Any) -> "Plan":
        """The contact plan: groups in objective order, cumulative figures, the stop point.

        Parameters: objective ('probability', 'profit', 'roi'), cost_per_contact,
        margin, value_per_winback, budget, target_winbacks, max_contacts,
        min_probability, include_unprofitable.
        """
        m = self._check()
        plan_json, contacts = m.plan(self._history(data, attributes), at, **params)
        return Plan(json.loads(plan_json), _output(contacts, self.output))

    def contact_list(self, data: Any, at: str, **params: Any) -> Any:
        """The customers to contact, in priority order."""
        return self.plan(data, at, **params).contacts

    def backtest(self, data: Any, at: str, cutoffs: Sequence[str]) -> dict:
        """Rolling backtest against recency-only and RFM rankings (a dict per cutoff)."""
        h = self._history(data)
        return json.loads(
            _winback.backtest(
                h,
                at,
                list(cutoffs),
                horizon_days=self.horizon_days,
                lapse_days=self.lapse_days,
                lapse_quantile=None if self.lapse_days else self.lapse_quantile,
                groups=self.groups,
                training_cutoffs=self.training_cutoffs,
                seed=self.seed,
            )
        )

    # -- persistence -----------------------------------------------------------
    def save(self, path: str) -> None:
        """Writes the JSON model file (the same file the CLI reads)."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self._check().to_json())

    @classmethod
    def load(cls, path: str, **params: Any) -> "WinbackModel":
        """Reads a JSON model file."""
        with open(path, encoding="utf-8") as f:
            text = f.read()
        obj = cls(**params)
        obj.model_ = _winback.Model.from_json(text)
        obj._learned()
        return obj

    def __getstate__(self) -> dict:
        state = {"params": self.get_params()}
        if hasattr(self, "model_"):
            state["model_json"] = self.model_.to_json()
            state["fitted_at_"] = getattr(self, "fitted_at_", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state["params"])
        if "model_json" in state:
            self.model_ = _winback.Model.from_json(state["model_json"])
            self.fitted_at_ = state.get("fitted_at_")
            self._learned()

    def _repr_html_(self) -> str:
        if not hasattr(self, "model_"):
            return f"<pre>{self!r} (not fitted)</pre>"
        return self.groups_._repr_html_()


_DEFAULTS = WinbackModel().get_params()


def _esc(s: Any) -> str:
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _GroupTable(list):
    """The groups (a list of dicts) with a notebook display and a DataFrame view."""

    def __init__(self, groups: list, output: str):
        super().__init__(groups)
        self._out = output

    def to_frame(self) -> Any:
        cols = ["id", "size", "share", "came_back", "probability", "low", "high", "sentence"]
        table = pa.table({c: [g[c] for g in self] for c in cols})
        return _output(table.to_batches()[0] if len(self) else pa.RecordBatch.from_pydict({c: [] for c in cols}), self._out)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{g['id']}</td><td>{g['size']}</td><td>{g['share']:.1%}</td><td>{g['probability']:.3f}</td>"
            f"<td>[{g['low']:.3f}, {g['high']:.3f}]</td><td>{_esc(g['sentence'])}</td></tr>"
            for g in self
        )
        return ("<table><tr><th>group</th><th>size</th><th>share</th><th>probability</th><th>90% interval</th>"
                f"<th>rule</th></tr>{rows}</table>")


class Plan:
    """A contact plan: `summary` (dict), `steps` (table), `contacts` (table), `gains`."""

    def __init__(self, summary: dict, contacts: Any):
        self.summary = summary
        self.contacts = contacts

    def __getitem__(self, key: str) -> Any:
        return self.summary[key]

    @property
    def steps(self) -> list:
        return self.summary["steps"]

    @property
    def gains(self) -> list:
        return self.summary["gains"]

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{s['group']}</td><td>{s['probability']:.3f}</td><td>{s['contacts']}</td><td>{s['cum_contacts']}</td>"
            f"<td>{s['cum_expected_winbacks']:.1f}</td><td>{s['cum_cost']:.2f}</td><td>{s['cum_profit']:.2f}</td></tr>"
            for s in self.steps
        )
        s = self.summary
        return ("<table><tr><th>group</th><th>p</th><th>contacts</th><th>cumulative</th><th>win-backs</th><th>cost</th>"
                f"<th>profit</th></tr>{rows}</table><p>stop: {_esc(s['stop'])}; not contacted: groups "
                f"{_esc(s['groups_skipped'])}, cost saved {s['cost_saved']:.2f}</p>")

    def __repr__(self) -> str:
        s = self.summary
        return (f"Plan(contacts={s['contacts']}, expected_winbacks={s['expected_winbacks']:.1f}, "
                f"stop={s['stop']!r}, groups_contacted={s['groups_contacted']}, groups_skipped={s['groups_skipped']})")
