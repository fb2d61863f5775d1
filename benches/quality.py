"""Quality benchmark: winback against simple and standard win-back scores on the full
real data in ``../shared/data``.

What it measures
================

For each data set (UCI Online Retail, dunnhumby Complete Journey; full data, not the
samples in ``datasets/``; and CDNOW, below) and each scoring date T (three by default,
``--or-dates`` / ``--cj-dates`` / ``--cdnow-dates``), with horizon H (``--horizon``, 60
days):

* **The list** is the customers lapsed at T: the rows of ``winback.features(df, at=T)``
  (lapse threshold learned by winback: the 0.9-quantile of gaps between purchase days
  before T; ``--or-lapse-days`` / ``--cj-lapse-days`` fix it instead). Every method
  scores exactly this list.
* **The label** is "bought in [T, T+H)". It is taken from winback itself so that a
  purchase means what winback means by one (an order on a day that is not only
  returns; zero-amount orders count): ``winback.features(df, at=T+H, all=True)``
  gives ``recency_days`` at T+H for every customer, and a customer bought in
  [T, T+H) iff that recency is <= H. The script checks this against pandas on every
  customer of every list (purchase day = a day with an invoice / basket row that is
  not a cancellation and has amount >= 0) and prints the number of disagreements.
* **Methods**, all fitted "one horizon before" — they see nothing on or after T:
    - ``winback``: ``WinbackModel(horizon_days=H, groups=10).fit(df, at=T)`` (winback
      trains itself on the lapsed customers at T-H, T-2H, T-3H, those with enough
      history before them), then ``.score(df, at=T)``; score = the group probability.
    - ``recency deciles``: score = -recency_days; probability = the training rate of
      its bin (10 equal-frequency bins of recency on the training rows).
    - ``RFM quintile sum``: score = rfm_r + rfm_f + rfm_m; probability = the training
      rate of that score value (training base rate for a value unseen in training).
    - ``BG/NBD raw``: lifetimes' ``BetaGeoFitter`` fitted on every customer's purchase
      days before T (``summary_data_from_transaction_data`` with
      ``observation_period_end`` = T - 1 day, ``freq='D'``: frequency = repeat purchase
      days, recency t_x and age T_age in days). Score and probability =
      P(>= 1 purchase in the H days T .. T+H-1) = P_alive * (1 - ((a+T_age)/(a+T_age+H))^(r+x))
      (the BG/NBD closed form; P_alive from lifetimes), used as is. The fit starts with
      ``penalizer_coef=0``; when lifetimes raises ConvergenceError (its BFGS reports
      "precision loss" because the maximum is on the boundary a -> 0, i.e. no dropout,
      which is what happens on Online Retail) it is refitted with 1e-4, 1e-3, 1e-2 and
      the penalizer used is recorded. The closed form is checked, at every date, against
      lifetimes' own likelihood (seeing (x, t_x) over (0, T+H] means no purchase in
      (T, T+H], so P(none) = L(x, t_x, T+H) / L(x, t_x, T)) for 25 customers, and against
      lifetimes' ``probability_of_n_purchases_up_to_time`` for a new customer.
    - ``BG/NBD calibrated``: the same score, probability = the training rate of its
      decile bin (BG/NBD fitted before T-H and scored on the lapsed list at T-H).
    - ``sklearn tree``: ``DecisionTreeClassifier(max_leaf_nodes=10,
      min_samples_leaf=0.01, random_state=0)`` on the numeric feature columns (all
      columns of ``winback.features`` except customer_id).
    - ``sklearn HGB``: ``HistGradientBoostingClassifier(random_state=0)``, same columns.
  The baselines' training rows are the lapsed customers at T-H
  (``winback.features(df, at=T-H)``, threshold learned at T-H) with the label
  "bought in [T-H, T)" (recency at T <= H). Feature columns at T are aligned to the
  training columns (a category column unseen in training is dropped, a missing one is 0).
* **Metrics** on the list at T: AUC (``sklearn.metrics.roc_auc_score`` on the score),
  Brier (of the probability), ECE (10 equal-width probability bins [0, .1), ...,
  [.9, 1]; the mean |mean predicted - observed rate| weighted by bin size — note that
  winback's own ``backtest`` bins by group instead), capture@60 (share of the buyers
  found in the top 60% of the list, ranked by score descending, ties broken by
  ascending customer id, top = ceil(0.6 n) rows), n and base rate. For methods that
  put customers in groups (winback groups, recency and BG/NBD deciles, RFM score
  values, tree leaves): groups present on the list and the largest group's share of it.
  Fit time is the wall time of the method's fit (winback: ``fit``; BG/NBD: both fits).
* **Cross-check**: ``model.backtest(df, at=T+H, cutoffs=[T])`` is run too; its
  model/recency/RFM AUCs must equal the ones computed here (same list, same labels),
  and its ECE (bins = groups) is shown next to ours.

Outputs: one markdown table per data set (date x method) and a per-method summary,
printed and written to ``bench-out/quality.md``; every number in
``bench-out/quality.json``. Both record the winback commit and package versions.

Data (full files, aggregated as ``datasets/derive_samples.py`` does for the bundled
samples): Online Retail lines with a CustomerID (cast to int), one row per invoice
(Amount and Quantity summed; date, country, cancellation flag from its first line):
order = InvoiceNo, date = InvoiceDate, amount = Amount, quantity = Quantity, region =
Country, cancelled = IsCancellation. Complete Journey, one row per basket x department
(sales_value and quantity summed; store and date from the basket's first line):
customer = household_id, order = basket_id, date = date_local, amount = sales_value,
quantity = quantity, region = store_id, category = department (from products.csv.gz).
CDNOW (``--datasets cdnow``, on by default): the full ``CDNOW_master.txt`` that the
``lifetimes`` package ships (69,659 lines, 23,570 customers who first bought in Q1 1997,
their purchases to June 1998; read from the installed package, not from ``../shared``):
customer = customer_id, date, amount = dollar_value, quantity = number_of_cds; no order
id, so a purchase is a customer's day. It is a single acquisition cohort with a falling
base rate, unlike the other two, and it guided no change: it was added after the
current defaults were chosen, with its three quarterly dates fixed before its first run.
The aggregation matters for the drop-duplicates load option: lines equal in every
mapped column (customer, day, order, amount, quantity, region/category/channel, cancel
flag) are kept by default and counted as identical lines; with ``drop_duplicates=True``
raw Online Retail lines — two products of one invoice with the same quantity and
amount — would lose about 37% of the lines and a quarter of the spend. The script
measures both on every run (winback's counts and the same rule in pandas) and reports
them under the tables.

HistGradientBoosting runs with ``OMP_NUM_THREADS=1`` (set before sklearn is imported,
unless already set): with OpenMP's default threads its fits on ~1,000 rows took 3-30 s
instead of 0.1 s on the busy 2-core machine, after the BG/NBD fits.

Command (from the repository root)::

    python3 benches/quality.py

It uses or creates ``bench-out/venv``, installs ``scikit-learn scipy pandas pyarrow
numpy lifetimes`` there when missing, and builds winback into it from
``crates/winback-py`` (``pip install maturin``, then ``maturin develop --release`` with
``CARGO_TARGET_DIR=target/py``) when ``import winback`` fails. To use an interpreter
that already has winback instead (missing packages are pip-installed into it)::

    python3 benches/quality.py --python .venv/bin/python     # or WINBACK_BENCH_PYTHON=...

lifetimes 0.11.3 (the last release, 2020) works with pandas 3.1.1, numpy 2.4.6, scipy
1.17.1 and autograd 1.9.1 (checked on the CDNOW example: r=0.243, alpha=4.414,
a=0.793, b=2.426, as published); the versions used are recorded in the output.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench-out"
DATA = ROOT.parent / "shared" / "data"
PACKAGES = ["scikit-learn", "scipy", "pandas", "pyarrow", "numpy", "lifetimes"]
IMPORTS = "import sklearn, scipy, pandas, pyarrow, numpy, lifetimes"

SEED = 42  # winback's seed: which customers choose the splits and which estimate (--seed)
OR_DATES = ["2011-06-01", "2011-08-01", "2011-10-10"]
CJ_DATES = ["2017-07-01", "2017-09-01", "2017-11-01"]
# CDNOW (lifetimes' copy): chosen once, quarterly, before any run on it.
CDNOW_DATES = ["1997-10-01", "1998-01-01", "1998-04-01"]


# --------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------

def ensure_env(python: str | None) -> None:
    """Re-exec inside the benchmark interpreter (benches/benchenv.py)."""
    import benchenv

    benchenv.ensure_env(__file__, python, PACKAGES, IMPORTS)


# --------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------

OR_COLS = dict(customer_id_col="CustomerID", datetime_col="InvoiceDate", monetary_value_col="Amount",
               order_id_col="InvoiceNo", region_col="Country", cancelled_col="IsCancellation",
               quantity_col="Quantity")
CJ_COLS = dict(customer_id_col="household_id", datetime_col="date_local", monetary_value_col="sales_value",
               order_id_col="basket_id", region_col="store_id", category_col="department",
               quantity_col="quantity")

CDNOW_COLS = dict(customer_id_col="customer_id", datetime_col="date", monetary_value_col="dollar_value",
                  quantity_col="number_of_cds")


def load_cdnow(data: Path):
    """CDNOW (a music retailer's customers first buying in Q1 1997, their purchases to
    June 1998), the full ``CDNOW_master.txt`` that the ``lifetimes`` package ships
    (``data`` is not used): one row per line of the file, no order id, so the lines of
    one customer and day form one purchase; amounts of 0 are kept (zero-amount
    purchases)."""
    import lifetimes
    import pandas as pd

    path = Path(lifetimes.__file__).parent / "datasets" / "CDNOW_master.txt"
    df = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": "int64", "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d").dt.strftime("%Y-%m-%d")
    df = df[list(CDNOW_COLS.values())]
    p = df[df["dollar_value"] >= 0]
    days = pd.DataFrame({"customer_id": p["customer_id"].to_numpy(), "day": pd.to_datetime(p["date"])}).drop_duplicates()
    note = f"{len(df)} lines (lifetimes {lifetimes.__version__}'s CDNOW_master.txt), {df['customer_id'].nunique()} customers"
    return df, days, note


def load_online_retail(data: Path):
    """One row per invoice, as datasets/derive_samples.py: amount and quantity summed
    over the invoice's lines; customer, date, country and cancellation flag from its
    first line. Lines without a CustomerID are dropped; the id is cast to int."""
    import pandas as pd

    df = pd.read_csv(data / "online_retail" / "online_retail.csv.gz",
                     dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "float64", "Country": str})
    n_all = len(df)
    df = df[df["CustomerID"].notna()]
    n_id = len(df)
    df = (df.groupby("InvoiceNo", sort=False)
            .agg(CustomerID=("CustomerID", "first"), InvoiceDate=("InvoiceDate", "first"), Amount=("Amount", "sum"),
                 Quantity=("Quantity", "sum"), Country=("Country", "first"), IsCancellation=("IsCancellation", "first"))
            .reset_index())
    df["CustomerID"] = df["CustomerID"].astype("int64")
    df["Amount"] = df["Amount"].round(2)
    df = df[list(OR_COLS.values())]
    # pandas' purchase days, for the label check and BG/NBD: invoices that are not
    # cancellations and whose amount is not negative.
    p = df[~df["IsCancellation"].astype(bool) & (df["Amount"] >= 0)]
    days = pd.DataFrame({"customer_id": p["CustomerID"].to_numpy(),
                         "day": pd.to_datetime(p["InvoiceDate"].str.slice(0, 10))}).drop_duplicates()
    note = f"{n_all} lines, {n_id} with a CustomerID, {len(df)} invoices"
    return df, days, note


def load_complete_journey(data: Path):
    """One row per basket x department, as datasets/derive_samples.py: sales_value and
    quantity summed; store and date from the basket's first line; department joined
    from products.csv.gz (empty when the product is unknown)."""
    import pandas as pd

    cj = data / "completejourney"
    df = pd.read_csv(cj / "transactions.csv.gz",
                     usecols=["household_id", "store_id", "basket_id", "product_id", "quantity", "sales_value", "date_local"],
                     dtype={"store_id": str, "basket_id": str})
    n_lines = len(df)
    prod = pd.read_csv(cj / "products.csv.gz", usecols=["product_id", "department"])
    df = df.merge(prod, on="product_id", how="left")
    df["department"] = df["department"].fillna("")
    first = df.groupby("basket_id", sort=False)[["store_id", "date_local"]].first()
    df = (df.groupby(["household_id", "basket_id", "department"], sort=False)
            .agg(sales_value=("sales_value", "sum"), quantity=("quantity", "sum")).reset_index())
    df = df.join(first, on="basket_id")
    df["sales_value"] = df["sales_value"].round(2)
    df = df[list(CJ_COLS.values())]
    p = df[df["sales_value"] >= 0]
    days = pd.DataFrame({"customer_id": p["household_id"].to_numpy(),
                         "day": pd.to_datetime(p["date_local"])}).drop_duplicates()
    note = f"{n_lines} lines, {len(df)} basket x department rows"
    return df, days, note


# --------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------

def ece_equal_width(p, y, bins: int = 10) -> float:
    import numpy as np

    b = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for k in range(bins):
        m = b == k
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return float(total / len(p))


def capture_at(score, y, ids, share: float = 0.6) -> float:
    """Share of the positives in the top ceil(share * n) rows by score (desc), ties by id (asc)."""
    import numpy as np

    order = np.lexsort((ids, -score))
    k = math.ceil(share * len(score))
    return float(y[order[:k]].sum() / max(y.sum(), 1))


def metrics(score, prob, y, ids, group=None) -> dict:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    out = {
        "n": int(len(y)),
        "base_rate": float(y.mean()),
        "auc": float(roc_auc_score(y, score)),
        "brier": float(np.mean((prob - y) ** 2)),
        "ece": ece_equal_width(prob, y),
        "capture_at_60": capture_at(score, y, ids),
        "mean_prob": float(prob.mean()),
        "groups_present": None,
        "largest_share": None,
    }
    if group is not None:
        _, counts = np.unique(np.asarray(group), return_counts=True)
        out["groups_present"] = int(len(counts))
        out["largest_share"] = float(counts.max() / len(y))
    return out


def auc_fast(score, y) -> float:
    """AUC by ranks (ties count half), the same number as sklearn's roc_auc_score."""
    import numpy as np
    from scipy.stats import rankdata

    r = rankdata(score)
    pos = y.astype(bool)
    n1 = int(pos.sum())
    n0 = len(y) - n1
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def goal_check(ours, peers: dict, prob, y, draws: int = 1000, seed: int = 0) -> dict:
    """How far winback's contact order is from the best peer, and whether an ECE of 0.02 can be
    seen on this list at all.

    * The AUC gap (winback minus the best of ``peers`` on this list) with a paired bootstrap
      90% interval: the list is resampled with replacement ``draws`` times and both AUCs are
      computed on every resample (resamples without a buyer or a non-buyer are redrawn).
    * The ECE floor: the ECE a perfectly calibrated model would show on this list — outcomes
      drawn as Bernoulli(winback's own probabilities) ``draws`` times; its mean and 95th
      percentile. An ECE below the floor is luck; a target below it cannot be checked here.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(y)
    names = list(peers)
    base = {k: auc_fast(ours, y) - auc_fast(peers[k], y) for k in names}
    diffs = {k: [] for k in names}
    drawn = 0
    while drawn < draws:
        i = rng.integers(0, n, n)
        yi = y[i]
        if yi.min() == yi.max():
            continue
        drawn += 1
        a = auc_fast(ours[i], yi)
        for k in names:
            diffs[k].append(a - auc_fast(peers[k][i], yi))
    gaps = {k: {"gap": float(base[k]), "ci90": [float(np.percentile(diffs[k], 5)), float(np.percentile(diffs[k], 95))],
                "sd": float(np.std(diffs[k], ddof=1))} for k in names}
    best = min(names, key=lambda k: base[k])
    floor = np.array([ece_equal_width(prob, (rng.random(n) < prob).astype(int)) for _ in range(draws)])
    return {"best_peer": best, "auc_gap": gaps[best]["gap"], "auc_gap_ci90": gaps[best]["ci90"], "gaps": gaps,
            "ece_floor_mean": float(floor.mean()), "ece_floor_p95": float(np.percentile(floor, 95)), "draws": draws}


def equal_frequency_cuts(v, k: int = 10):
    """Cut points at the 1/k .. (k-1)/k quantiles (linear), duplicates removed (as winback-stats)."""
    import numpy as np

    return np.unique(np.quantile(v, [i / k for i in range(1, k)]))


def bin_rates(train_bin, train_y, test_bin):
    """Probability of each test row = the training rate of its bin (base rate if unseen)."""
    import numpy as np
    import pandas as pd

    rate = pd.Series(train_y).groupby(np.asarray(train_bin)).mean()
    p = pd.Series(test_bin).map(rate)
    unseen = int(p.isna().sum())
    return p.fillna(float(np.mean(train_y))).to_numpy(dtype=float), unseen


# --------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------

PENALIZERS = (0.0, 1e-4, 1e-3, 1e-2)


def bgnbd_fit(days, at):
    """Fit BG/NBD on every customer's purchase days before `at` (observation end = at - 1 day).

    lifetimes' optimiser (BFGS) stops with "precision loss" when the maximum lies on the
    boundary (a -> 0: no dropout, which is what the Online Retail data say); lifetimes
    then raises ConvergenceError and advises a penalizer. We try penalizer_coef 0 first,
    then 1e-4, 1e-3, 1e-2, and record the one used."""
    import contextlib
    import io

    import pandas as pd
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import ConvergenceError, summary_data_from_transaction_data

    end = pd.Timestamp(at) - pd.Timedelta(days=1)
    tx = days[days["day"] <= end]
    s = summary_data_from_transaction_data(tx, "customer_id", "day", observation_period_end=end, freq="D")
    for pen in PENALIZERS:
        bg = BetaGeoFitter(penalizer_coef=pen)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                bg.fit(s["frequency"], s["recency"], s["T"])
            return bg, s, pen
        except ConvergenceError:
            continue
    raise RuntimeError(f"BG/NBD did not converge at {at} with any penalizer in {PENALIZERS}")


def bgnbd_p_any(bg, x, t_x, T_age, h):
    """P(>= 1 purchase in (T_age, T_age + h]) = P_alive * (1 - ((alpha+T)/(alpha+T+h))^(r+x))."""
    import numpy as np

    r, alpha = bg.params_["r"], bg.params_["alpha"]
    p_alive = bg.conditional_probability_alive(x, t_x, T_age)
    return p_alive * (1.0 - np.exp((r + x) * np.log((alpha + T_age) / (alpha + T_age + h))))


def bgnbd_p_any_from_likelihood(bg, x, t_x, T_age, h) -> float:
    """The same probability from lifetimes' own BG/NBD likelihood: seeing (x, t_x) over
    (0, T+h] means no purchase in (T, T+h], so P(none | x, t_x, T) = L(x, t_x, T+h) / L(x, t_x, T)."""
    import numpy as np

    logp = np.log(bg.params_[["r", "alpha", "a", "b"]].to_numpy(dtype=float))
    one = lambda age: -bg._negative_log_likelihood(logp, np.array([int(x)]), np.array([float(t_x)]),
                                                    np.array([float(age)]), np.array([1]), 0.0)
    return float(1.0 - np.exp(one(T_age + h) - one(T_age)))


def check_bgnbd(bg, s, h) -> dict:
    """Closed form vs lifetimes' likelihood ratio (a spread of customers) and vs
    lifetimes' probability_of_n_purchases_up_to_time for a new customer (x = t_x = T = 0)."""
    import numpy as np

    pick = s.sort_values(["frequency", "recency", "T"])
    idx = np.unique(np.linspace(0, len(pick) - 1, 25).astype(int))
    diffs = []
    for i in idx:
        row = pick.iloc[i]
        closed = float(bgnbd_p_any(bg, np.array([row["frequency"]]), np.array([row["recency"]]), np.array([row["T"]]), h)[0])
        diffs.append(abs(closed - bgnbd_p_any_from_likelihood(bg, row["frequency"], row["recency"], row["T"], h)))
    new_closed = float(bgnbd_p_any(bg, np.array([0.0]), np.array([0.0]), np.array([0.0]), h)[0])
    new_lifetimes = float(1.0 - bg.probability_of_n_purchases_up_to_time(h, 0))
    return {"max_abs_diff_vs_likelihood_ratio": max(diffs), "customers_checked": len(diffs),
            "new_customer_closed_form": new_closed, "new_customer_lifetimes": new_lifetimes}


# --------------------------------------------------------------------------
# one data set, one date
# --------------------------------------------------------------------------

def run_date(name: str, hist, cols: dict, days, T: str, H: int, lapse: int | None, log) -> dict:
    import numpy as np
    import pandas as pd
    import winback
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.tree import DecisionTreeClassifier

    Td = dt.date.fromisoformat(T)
    T_prev = (Td - dt.timedelta(days=H)).isoformat()
    T_next = (Td + dt.timedelta(days=H)).isoformat()

    def labels_at(list_ids, label_end):
        """bought in [label_end - H, label_end): recency at label_end <= H (winback's definition)."""
        allf = winback.features(hist, at=label_end, all=True)
        rec = pd.Series(allf["recency_days"].to_numpy(), index=allf["customer_id"].to_numpy())
        r = rec.reindex(list_ids)
        assert r.notna().all(), "a lapsed customer is missing from the all-customer table"
        return (r.to_numpy() <= H).astype(int)

    test = winback.features(hist, at=T, lapse_days=lapse).sort_values("customer_id").reset_index(drop=True)
    train = winback.features(hist, at=T_prev, lapse_days=lapse).sort_values("customer_id").reset_index(drop=True)
    ids = test["customer_id"].to_numpy()
    y = labels_at(ids, T_next)
    y_tr = labels_at(train["customer_id"].to_numpy(), T)
    lapse_T = winback.lapse_threshold(hist, at=T, lapse_days=lapse)["threshold_days"]
    lapse_prev = winback.lapse_threshold(hist, at=T_prev, lapse_days=lapse)["threshold_days"]

    # labels vs pandas: a purchase day in [T, T+H)
    win = days[(days["day"] >= pd.Timestamp(T)) & (days["day"] < pd.Timestamp(T_next))]
    y_pd = np.isin(ids, win["customer_id"].unique()).astype(int)
    mismatch = np.flatnonzero(y_pd != y)
    label_check = {"customers": int(len(ids)), "disagreements": int(len(mismatch)),
                   "examples": [int(i) for i in ids[mismatch[:5]]]}
    log(f"  {T}: list {len(ids)} (lapse {lapse_T} d), base rate {y.mean():.3f}; training list at {T_prev}: "
        f"{len(train)} (lapse {lapse_prev} d), rate {y_tr.mean():.3f}; labels vs pandas: {len(mismatch)} disagreements")

    rows = {}

    # winback
    model = winback.WinbackModel(horizon_days=H, groups=10, lapse_days=lapse, seed=SEED, **cols)
    t0 = time.perf_counter()
    model.fit(hist, at=T)
    fit_s = time.perf_counter() - t0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sc = model.score(hist, at=T)
    score_warnings = sorted({str(w.message) for w in caught})
    for w in score_warnings:
        log(f"    winback warning: {w}")
    assert len(sc) == len(ids) and set(sc["customer_id"]) == set(ids), "score list != features list"
    sc = sc.set_index("customer_id").reindex(ids)
    p = sc["probability"].to_numpy(dtype=float)
    m = metrics(p, p, y, ids, sc["group"].to_numpy())
    m.update(fit_s=fit_s, groups_fitted=len(model.groups_), training_cutoffs=[str(c) for c in model.training_cutoffs_],
             lapse_days=int(model.lapse_days_), min_history_days=min(90, max(28, 2 * min(H, int(model.lapse_days_)))), score_warnings=score_warnings)
    assert int(model.lapse_days_) == int(lapse_T), "the model's lapse threshold differs from features'"
    rows["winback"] = m
    # The contact order: group probability, then the priority inside the group (the
    # ordering regression's chance by default), as the contact list orders customers.
    prio = sc["priority"].to_numpy(dtype=float)
    span = max(float(np.nanmax(prio) - np.nanmin(prio)), 1e-12)
    order_score = p + 1e-6 * (prio - np.nanmin(prio)) / span
    m2 = metrics(order_score, p, y, ids, sc["group"].to_numpy())
    m2.update(fit_s=fit_s)
    rows["winback, contact order"] = m2

    # Two options against the default, contact order as above: split_on="smoothed" (a
    # logistic regression's chance chooses the splits; probabilities from the
    # outcomes) and group_order="observed" (groups ordered by their own probabilities,
    # the default before the smoothed group order).
    for name, options in VARIANTS.items():
        vm = winback.WinbackModel(horizon_days=H, groups=10, lapse_days=lapse, seed=SEED, **options, **cols)
        t0 = time.perf_counter()
        vm.fit(hist, at=T)
        v_fit_s = time.perf_counter() - t0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vsc = vm.score(hist, at=T).set_index("customer_id").reindex(ids)
        vp = vsc["probability"].to_numpy(dtype=float)
        vprio = vsc["priority"].to_numpy(dtype=float)
        vspan = max(float(np.nanmax(vprio) - np.nanmin(vprio)), 1e-12)
        mv = metrics(vp + 1e-6 * (vprio - np.nanmin(vprio)) / vspan, vp, y, ids, vsc["group"].to_numpy())
        mv.update(fit_s=v_fit_s)
        rows[name] = mv
    log(f"    winback: {len(model.groups_)} groups, cutoffs {m['training_cutoffs']}, fit {fit_s:.2f} s, AUC {m['auc']:.3f}")

    # cross-check with winback's own backtest (same list, labels, model)
    bt = model.backtest(hist, at=T_next, cutoffs=[T])["rows"][0]
    cross = {"model_auc": bt["model"]["auc"], "recency_auc": bt["recency"]["auc"],
             "rfm_auc": bt["rfm"]["auc"] if bt.get("rfm") else None,
             "n": bt["model"]["count"], "base_rate": bt["model"]["base_rate"],
             "model_ece_by_group": bt["model"]["ece"], "recency_ece_by_bin": bt["recency"]["ece"],
             "rfm_ece_by_value": bt["rfm"]["ece"] if bt.get("rfm") else None,
             "model_capture_at_60_ties_pro_rata": bt["model"]["capture_at_60"]}

    # recency deciles
    t0 = time.perf_counter()
    cuts = equal_frequency_cuts(-train["recency_days"].to_numpy())
    b_tr = np.searchsorted(cuts, -train["recency_days"].to_numpy(), side="right")
    b_te = np.searchsorted(cuts, -test["recency_days"].to_numpy(), side="right")
    prob, unseen = bin_rates(b_tr, y_tr, b_te)
    fit_s = time.perf_counter() - t0
    rows["recency deciles"] = dict(metrics(-test["recency_days"].to_numpy(), prob, y, ids, b_te), fit_s=fit_s, unseen_bins=unseen)

    # RFM quintile sum
    t0 = time.perf_counter()
    rfm = lambda f: (f["rfm_r"] + f["rfm_f"] + f["rfm_m"]).to_numpy()
    prob, unseen = bin_rates(rfm(train), y_tr, rfm(test))
    fit_s = time.perf_counter() - t0
    rows["RFM quintile sum"] = dict(metrics(rfm(test), prob, y, ids, rfm(test)), fit_s=fit_s, unseen_bins=unseen)

    # BG/NBD
    t0 = time.perf_counter()
    bg, s, pen = bgnbd_fit(days, T)
    fit_T = time.perf_counter() - t0
    t0 = time.perf_counter()
    bg_prev, s_prev, pen_prev = bgnbd_fit(days, T_prev)
    fit_prev = time.perf_counter() - t0

    def bg_score(bgm, summ, list_ids):
        r = summ.reindex(list_ids)
        assert r.notna().all().all(), "a lapsed customer has no BG/NBD summary"
        return bgnbd_p_any(bgm, r["frequency"].to_numpy(), r["recency"].to_numpy(), r["T"].to_numpy(), H)

    p_bg = bg_score(bg, s, ids)
    rows["BG/NBD raw"] = dict(metrics(p_bg, p_bg, y, ids), fit_s=fit_T,
                              params={k: float(v) for k, v in bg.params_.items()}, penalizer=pen,
                              customers_fitted=int(len(s)))
    p_bg_tr = bg_score(bg_prev, s_prev, train["customer_id"].to_numpy())
    cuts = equal_frequency_cuts(p_bg_tr)
    b_tr = np.searchsorted(cuts, p_bg_tr, side="right")
    b_te = np.searchsorted(cuts, p_bg, side="right")
    prob, unseen = bin_rates(b_tr, y_tr, b_te)
    rows["BG/NBD calibrated"] = dict(metrics(p_bg, prob, y, ids, b_te), fit_s=fit_T + fit_prev, unseen_bins=unseen,
                                     params_at_T_minus_H={k: float(v) for k, v in bg_prev.params_.items()},
                                     penalizer_at_T_minus_H=pen_prev)
    bg_check = check_bgnbd(bg, s, H)

    # sklearn
    feat = [c for c in train.columns if c != "customer_id"]
    X_tr = train[feat].to_numpy(dtype=float)
    X_te = test.reindex(columns=feat, fill_value=0.0)[feat].to_numpy(dtype=float)
    dropped = sorted(set(test.columns) - set(train.columns))
    tree = DecisionTreeClassifier(max_leaf_nodes=10, min_samples_leaf=0.01, random_state=0)
    t0 = time.perf_counter()
    tree.fit(X_tr, y_tr)
    fit_s = time.perf_counter() - t0
    p = tree.predict_proba(X_te)[:, 1]
    rows["sklearn tree (10 leaves)"] = dict(metrics(p, p, y, ids, tree.apply(X_te)), fit_s=fit_s, leaves=int(tree.get_n_leaves()))
    hgb = HistGradientBoostingClassifier(random_state=0)
    t0 = time.perf_counter()
    hgb.fit(X_tr, y_tr)
    fit_s = time.perf_counter() - t0
    p = hgb.predict_proba(X_te)[:, 1]
    rows["sklearn HGB"] = dict(metrics(p, p, y, ids), fit_s=fit_s)

    for k in ("recency", "rfm"):
        ours = rows["recency deciles" if k == "recency" else "RFM quintile sum"]["auc"]
        if cross[f"{k}_auc"] is not None and abs(cross[f"{k}_auc"] - ours) > 1e-9:
            log(f"    WARNING: {k} AUC {ours:.6f} != winback backtest {cross[f'{k}_auc']:.6f}")
    if abs(cross["model_auc"] - rows["winback"]["auc"]) > 1e-9:
        log(f"    WARNING: winback AUC {rows['winback']['auc']:.6f} != winback backtest {cross['model_auc']:.6f}")

    # The goal of issue 14 with its uncertainty: the gap to the best single score (recency,
    # RFM, BG/NBD) with a paired bootstrap interval, and the ECE a calibrated model would show.
    peer_scores = {"recency deciles": -test["recency_days"].to_numpy(dtype=float), "RFM quintile sum": rfm(test).astype(float),
                   "BG/NBD raw": np.asarray(p_bg, dtype=float)}
    gc = goal_check(order_score, peer_scores, sc["probability"].to_numpy(dtype=float), y)
    gc["ece"] = rows["winback"]["ece"]
    assert abs(gc["auc_gap"] - (m2["auc"] - rows[gc["best_peer"]]["auc"])) < 1e-9, "bootstrap AUC differs from sklearn's"
    log(f"    gap to {gc['best_peer']}: {gc['auc_gap']:+.3f} (90% {gc['auc_gap_ci90'][0]:+.3f} to {gc['auc_gap_ci90'][1]:+.3f}); "
        f"ECE {gc['ece']:.3f}, a calibrated model's {gc['ece_floor_mean']:.3f} (95th pct {gc['ece_floor_p95']:.3f})")

    return {
        "goal_check": gc,
        "date": T, "train_date": T_prev, "label_end": T_next, "horizon": H,
        "lapse_days": lapse_T, "lapse_days_train": lapse_prev,
        "n": int(len(ids)), "base_rate": float(y.mean()), "n_train": int(len(train)), "train_rate": float(y_tr.mean()),
        "features": len(feat), "feature_columns_unseen_in_training": dropped,
        "label_check_vs_pandas": label_check, "winback_backtest_cross_check": cross, "bgnbd_check": bg_check,
        "methods": rows,
    }


# --------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------

# Options measured beside the default (method name -> WinbackModel keywords).
VARIANTS = {
    "winback, smoothed splits (contact order)": {"split_on": "smoothed"},
    "winback, groups ordered by own rates (contact order)": {"group_order": "observed"},
}

METHOD_ORDER = ["winback", "winback, contact order", *VARIANTS, "recency deciles", "RFM quintile sum", "BG/NBD raw", "BG/NBD calibrated",
                "sklearn tree (10 leaves)", "sklearn HGB"]


def fmt_share(v):
    return "—" if v is None else f"{v:.1%}"


def table(ds: dict) -> list[str]:
    md = ["| date | method | n | base rate | AUC | Brier | ECE | capture@60 | groups present | largest share | fit s |",
          "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in ds["dates"]:
        for name in METHOD_ORDER:
            m = r["methods"][name]
            label = name
            if name == "winback":
                nc = len(m["training_cutoffs"])
                label = f"**winback** ({m['groups_fitted']} groups, {nc} training cutoff{'s' if nc > 1 else ''})"
            gp = "—" if m["groups_present"] is None else str(m["groups_present"])
            md.append(f"| {r['date']} | {label} | {m['n']} | {m['base_rate']:.3f} | {m['auc']:.3f} | {m['brier']:.4f} "
                      f"| {m['ece']:.3f} | {m['capture_at_60']:.3f} | {gp} | {fmt_share(m['largest_share'])} | {m['fit_s']:.3f} |")
    return md


def summary(ds: dict) -> list[str]:
    import numpy as np

    md = ["| method | mean AUC | AUC range | mean Brier | mean ECE | mean capture@60 | max largest share | mean fit s |",
          "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in METHOD_ORDER:
        ms = [r["methods"][name] for r in ds["dates"]]
        auc = [m["auc"] for m in ms]
        shares = [m["largest_share"] for m in ms if m["largest_share"] is not None]
        md.append(f"| {name} | {np.mean(auc):.3f} | {min(auc):.3f}–{max(auc):.3f} | {np.mean([m['brier'] for m in ms]):.4f} "
                  f"| {np.mean([m['ece'] for m in ms]):.3f} | {np.mean([m['capture_at_60'] for m in ms]):.3f} "
                  f"| {fmt_share(max(shares)) if shares else '—'} | {np.mean([m['fit_s'] for m in ms]):.3f} |")
    return md


def goal_table(ds: dict) -> list[str]:
    """Issue 14's goal with its uncertainty: per date and on the mean over the dates."""
    import numpy as np

    extra = {"winback, smoothed splits (contact order)": "smoothed splits", "winback, groups ordered by own rates (contact order)": "groups by own rates"}
    md = ["| date | best single score | winback contact order − it: AUC (90% bootstrap interval) | ≥ −0.005? | ECE "
          "| a calibrated model's ECE on this list: mean (95th pct) | " + " | ".join(f"{v} − it: AUC, ECE" for v in extra.values()) + " |",
          "| --- | --- | --- | --- | ---: | --- | " + " | ".join("---" for _ in extra) + " |"]
    for r in ds["dates"]:
        g = r["goal_check"]
        lo, hi = g["auc_gap_ci90"]
        cells = " | ".join(f"{r['methods'][v]['auc'] - r['methods'][g['best_peer']]['auc']:+.3f}, {r['methods'][v]['ece']:.3f}" for v in extra)
        md.append(f"| {r['date']} | {g['best_peer']} | {g['auc_gap']:+.3f} ({lo:+.3f} to {hi:+.3f}) "
                  f"| {'yes' if g['auc_gap'] >= -0.005 else 'no'} | {g['ece']:.3f} | {g['ece_floor_mean']:.3f} ({g['ece_floor_p95']:.3f}) "
                  f"| {cells} |")
    peers = list(ds["dates"][0]["goal_check"]["gaps"])
    mean_auc = {k: np.mean([r["methods"][k]["auc"] for r in ds["dates"]]) for k in peers}
    best = max(peers, key=lambda k: mean_auc[k])
    gaps = [r["goal_check"]["gaps"][best] for r in ds["dates"]]
    k = len(gaps)
    mean_gap = float(np.mean([x["gap"] for x in gaps]))
    sd = float(np.sqrt(sum(x["sd"] ** 2 for x in gaps)) / k)
    cells = " | ".join(f"{np.mean([r['methods'][v]['auc'] - r['methods'][best]['auc'] for r in ds['dates']]):+.3f}, "
                       f"{np.mean([r['methods'][v]['ece'] for r in ds['dates']]):.3f}" for v in extra)
    md.append(f"| mean of {k} | {best} (best mean) | {mean_gap:+.3f} ({mean_gap - 1.645 * sd:+.3f} to {mean_gap + 1.645 * sd:+.3f}, "
              f"normal approximation) | {'yes' if mean_gap >= 0 else 'no'} (≥ 0) "
              f"| {np.mean([r['goal_check']['ece'] for r in ds['dates']]):.3f} "
              f"| {np.mean([r['goal_check']['ece_floor_mean'] for r in ds['dates']]):.3f} "
              f"| {cells} |")
    return md


def checks(ds: dict) -> list[str]:
    out = []
    for r in ds["dates"]:
        lc, cx, bc = r["label_check_vs_pandas"], r["winback_backtest_cross_check"], r["bgnbd_check"]
        wb = r["methods"]["winback"]
        out.append(
            f"- {r['date']}: lapse {r['lapse_days']} d (training list at {r['train_date']}: {r['n_train']} customers, "
            f"lapse {r['lapse_days_train']} d, rate {r['train_rate']:.3f}); winback cutoffs {', '.join(wb['training_cutoffs'])}; "
            f"labels vs pandas: {lc['disagreements']} of {lc['customers']} disagree; "
            f"winback backtest: n {cx['n']}, AUC model {cx['model_auc']:.3f} / recency {cx['recency_auc']:.3f} / "
            f"RFM {cx['rfm_auc']:.3f} (ECE by group {cx['model_ece_by_group']:.3f}, capture@60 ties pro rata "
            f"{cx['model_capture_at_60_ties_pro_rata']:.3f}); BG/NBD closed form vs lifetimes' likelihood ratio: max |diff| "
            f"{bc['max_abs_diff_vs_likelihood_ratio']:.1e} ({bc['customers_checked']} customers), new customer "
            f"{bc['new_customer_closed_form']:.6f} vs lifetimes {bc['new_customer_lifetimes']:.6f}; "
            f"BG/NBD params r={r['methods']['BG/NBD raw']['params']['r']:.3f} "
            f"alpha={r['methods']['BG/NBD raw']['params']['alpha']:.2f} a={r['methods']['BG/NBD raw']['params']['a']:.3f} "
            f"b={r['methods']['BG/NBD raw']['params']['b']:.4g} (penalizer {r['methods']['BG/NBD raw']['penalizer']:g}; "
            f"at {r['train_date']}: {r['methods']['BG/NBD calibrated']['penalizer_at_T_minus_H']:g}) "
            f"on {r['methods']['BG/NBD raw']['customers_fitted']} customers"
            + (f"; feature columns at T unseen in training (dropped): {', '.join(r['feature_columns_unseen_in_training'])}"
               if r["feature_columns_unseen_in_training"] else "")
            + "".join(f"; winback warned: \"{w}\"" for w in wb["score_warnings"])
        )
    return out


def notes(result: dict) -> list[str]:
    """The notes under the tables, from the numbers of this run."""
    out = ["Notes:", ""]
    dup = result.get("raw_line_duplicates")
    if dup:
        out.append(
            f"- The files are aggregated as the bundled samples are (`datasets/derive_samples.py`): Online Retail one row "
            f"per invoice, Complete Journey one row per basket × department. Fed the raw Online Retail lines instead, "
            f"winback's loader keeps {dup['identical_kept']:,} of {dup['rows']:,} lines that are identical to another in "
            f"every mapped column (counted as identical lines; pandas finds {dup['pandas_duplicates_on_mapped_columns']:,}); "
            f"with `drop_duplicates=True` it skips {dup['skipped_when_dropping']:,} "
            f"({dup['skipped_when_dropping'] / dup['rows']:.0%}), {dup['spend_lost']:,.0f} of {dup['spend']:,.0f} in amount "
            f"({dup['spend_lost'] / dup['spend']:.0%}): two different products with the same quantity and price on one invoice "
            f"are one line to it when the product column is not mapped, which is why dropping is off by default.")
    for key, ds in result["datasets"].items():
        pens = [(r["date"], r["methods"]["BG/NBD raw"]["penalizer"]) for r in ds["dates"]]
        pens += [(r["train_date"], r["methods"]["BG/NBD calibrated"]["penalizer_at_T_minus_H"]) for r in ds["dates"]]
        used = sorted({d for d, pen in pens if pen > 0})
        drop = [r["methods"]["BG/NBD raw"]["params"] for r in ds["dates"]]
        mean_p = [pp["a"] / (pp["a"] + pp["b"]) for pp in drop]
        if used:
            out.append(
                f"- BG/NBD on {ds['title']}: lifetimes' fit with penalizer_coef 0 raised ConvergenceError (BFGS "
                f"\"precision loss\": the likelihood's maximum lies on the boundary a → 0, no dropout) when fitted before "
                f"{', '.join(used)}; those fits use the smallest penalizer that converged (listed above). The fitted mean "
                f"dropout probability per purchase a/(a+b) is {max(mean_p):.1e} at most, so P_alive ≈ 1 and BG/NBD ranks "
                f"by repeat purchase days and age rather than by recency.")
    sizes = [r["n_train"] for ds in result["datasets"].values() for r in ds["dates"]]
    if sizes:
        out.append(f"- The baselines train on one period (the list at date − H: {min(sizes):,}–{max(sizes):,} customers); "
                   "winback stacks up to three. HistGradientBoostingClassifier runs with its defaults (no tuning) on these "
                   "rows.")
    cj = result["datasets"].get("completejourney")
    if cj and cj["lapse_rule"].startswith("learned"):
        lapses = [r["lapse_days"] for r in cj["dates"]]
        rates = [r["base_rate"] for r in cj["dates"]]
        out.append(
            f"- With the learned threshold (0.9-quantile of the gaps between purchase days) a Complete Journey household "
            f"is \"lapsed\" after {min(lapses)}{'' if min(lapses) == max(lapses) else f'–{max(lapses)}'} days without a purchase, so most of the list comes back "
            f"within {result['horizon']} days (base rate {min(rates):.2f}–{max(rates):.2f}). `--cj-lapse-days 30` gives "
            f"the stricter list of the README's sample backtest.")
    out += [
        f"- OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}: with OpenMP's default threads HistGradientBoosting took "
        "3–30 s per fit here after the BG/NBD fits (threads spinning on a busy machine) instead of 0.1 s; winback's "
        "threads are not affected.",
        "- Fit times are wall times on a shared 2-core machine (a Rust build may run alongside): read them as orders "
        "of magnitude.",
        "",
    ]
    return out


def raw_line_duplicates(data: Path) -> dict:
    """What winback's loader does with the raw Online Retail lines' identical lines (kept, or dropped on request)."""
    import pandas as pd
    import winback

    df = pd.read_csv(data / "online_retail" / "online_retail.csv.gz",
                     dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": "float64", "Country": str})
    df = df[df["CustomerID"].notna()].copy()
    df["CustomerID"] = df["CustomerID"].astype("int64")
    df = df[list(OR_COLS.values())]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = json.loads(winback.read_history(df, **OR_COLS).report_json)
        dropped = json.loads(winback.read_history(df, drop_duplicates=True, **OR_COLS).report_json)
    skipped = dict((r, c) for r, c in dropped.get("skipped", []))
    # the same rule in pandas: keep the first of each group of lines equal on the mapped columns
    key = df.assign(day=df["InvoiceDate"].str.slice(0, 10)).drop(columns="InvoiceDate")
    dup = key.duplicated(keep="first")
    pos = df["Amount"] > 0
    return {"rows": int(len(df)), "identical_kept": int(rep.get("identical_lines", 0)),
            "skipped_when_dropping": int(sum(skipped.values())), "skipped_by_reason": skipped,
            "pandas_duplicates_on_mapped_columns": int(dup.sum()),
            "spend": float(df.loc[pos, "Amount"].sum()), "spend_lost": float(df.loc[pos & dup, "Amount"].sum())}



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=os.environ.get("WINBACK_BENCH_PYTHON"),
                    help="an interpreter that already has winback (default: bench-out/venv, built if needed)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--horizon", type=int, default=60)
    ap.add_argument("--or-dates", nargs="+", default=OR_DATES, help="Online Retail scoring dates")
    ap.add_argument("--cj-dates", nargs="+", default=CJ_DATES, help="Complete Journey scoring dates")
    ap.add_argument("--cdnow-dates", nargs="+", default=CDNOW_DATES, help="CDNOW scoring dates")
    ap.add_argument("--or-lapse-days", type=int, default=None,
                    help="fixed lapse threshold for Online Retail (default: learned, 0.9-quantile of gaps)")
    ap.add_argument("--cj-lapse-days", type=int, default=None,
                    help="fixed lapse threshold for Complete Journey (default: learned, 0.9-quantile of gaps)")
    ap.add_argument("--datasets", nargs="+", default=["online_retail", "completejourney", "cdnow"],
                    choices=["online_retail", "completejourney", "cdnow"])
    ap.add_argument("--out", type=Path, default=OUT_DIR / "quality.md")
    ap.add_argument("--seed", type=int, default=42,
                    help="winback's seed (its held-out split of customers; default 42, the package default)")
    args = ap.parse_args()
    global SEED
    SEED = args.seed
    ensure_env(args.python)
    # One OpenMP/BLAS thread (set before numpy and sklearn are imported): on this busy
    # 2-core machine HistGradientBoosting's OpenMP threads, after the BG/NBD fits, spun
    # for 3-30 s per fit on ~1,000 rows instead of 0.1 s. winback's own threads (rayon)
    # are not affected.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import lifetimes
    import numpy as np
    import pandas as pd
    import pyarrow
    import scipy
    import sklearn
    import winback

    t_start = time.perf_counter()
    load_start = "/".join(f"{x:.2f}" for x in os.getloadavg())

    def log(s: str) -> None:
        print(s, flush=True)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benches"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    so = next(Path(winback.__file__).parent.glob("_winback*.so"), None)
    so_time = dt.datetime.fromtimestamp(so.stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if so else "?"
    versions = {"python": sys.version.split()[0], "winback_commit": commit + (" (tracked files outside benches/ modified)" if dirty else ""),
                "winback_extension_built": so_time, "interpreter": sys.executable,
                "scikit-learn": sklearn.__version__, "lifetimes": lifetimes.__version__, "scipy": scipy.__version__,
                "pandas": pd.__version__, "numpy": np.__version__, "pyarrow": pyarrow.__version__}
    log(f"winback {versions['winback_commit']} (extension built {so_time}); " +
        ", ".join(f"{k} {v}" for k, v in versions.items() if k not in ("winback_commit", "winback_extension_built", "interpreter")))

    specs = {
        "online_retail": ("Online Retail (UCI, full)", load_online_retail, OR_COLS, args.or_dates, args.or_lapse_days),
        "completejourney": ("Complete Journey (dunnhumby, full)", load_complete_journey, CJ_COLS, args.cj_dates,
                            args.cj_lapse_days),
        "cdnow": ("CDNOW (lifetimes' copy, full; a check on data that guided no change)", load_cdnow, CDNOW_COLS,
                  args.cdnow_dates, None),
    }
    result = {"versions": versions, "horizon": args.horizon, "datasets": {}}
    for key in args.datasets:
        title, loader, cols, dates, lapse = specs[key]
        log(f"== {title}")
        t0 = time.perf_counter()
        df, days, note = loader(args.data)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            hist = winback.read_history(df, **cols)
        load_s = time.perf_counter() - t0
        rep = json.loads(hist.report_json)
        skipped = ", ".join(str(x.message) for x in w) or "none"
        log(f"  {note}; loaded in {load_s:.1f} s; winback skipped: {skipped}")
        ds = {"title": title, "lapse_rule": f"fixed {lapse} days" if lapse else "learned (0.9-quantile of gaps)",
              "source_note": note, "load_s": load_s, "winback_load_report": rep,
              "winback_skipped": skipped, "dates": []}
        for T in dates:
            ds["dates"].append(run_date(key, hist, cols, days, T, args.horizon, lapse, log))
        result["datasets"][key] = ds
        del df, days, hist

    if "online_retail" in args.datasets:
        result["raw_line_duplicates"] = raw_line_duplicates(args.data)
        d = result["raw_line_duplicates"]
        log(f"raw Online Retail lines: winback keeps {d['identical_kept']} identical lines of {d['rows']}, skips "
            f"{d['skipped_when_dropping']} with drop_duplicates ({d['skipped_by_reason']}); pandas finds {d['pandas_duplicates_on_mapped_columns']} duplicates on the mapped columns")
    total_s = time.perf_counter() - t_start
    result["total_s"] = total_s
    cmd = "python3 benches/quality.py" + ("" if len(sys.argv) == 1 else " " + " ".join(sys.argv[1:]))
    mh = min(90, max(28, 2 * args.horizon))
    n_disagree = sum(r["label_check_vs_pandas"]["disagreements"] for ds in result["datasets"].values() for r in ds["dates"])
    md = [
        f"# Win-back quality on the full real data (horizon {args.horizon} days)",
        "",
        f"winback commit `{versions['winback_commit']}` (extension built {so_time}); scikit-learn {sklearn.__version__}, "
        f"lifetimes {lifetimes.__version__}, scipy {scipy.__version__}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"Python {versions['python']}. Command: `{cmd}` ({total_s:.0f} s in all; load average {load_start} at the start, "
        f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())} at the end, {os.cpu_count()} CPUs).",
        "",
        "Every method scores the same list (the customers lapsed at the date) and is judged on the same label "
        "(bought in [date, date + H), from winback's own purchase definition; re-derived with pandas from the "
        f"transactions: {n_disagree} disagreements over all lists). The baselines are fitted one horizon earlier: the customers "
        "lapsed at date − H, labelled by [date − H, date). winback fits itself on the lapsed customers at date − H, "
        f"− 2H, − 3H, those with {mh} days of data before them (its default). AUC and capture@60 (share of the buyers "
        "in the top 60% of the list) rank by the score, ties broken by customer id; Brier and ECE use the probability "
        "(recency, RFM and BG/NBD calibrated: the training rate of the bin; BG/NBD raw, the tree and HGB: their own). "
        "ECE: 10 equal-width probability bins, mean |predicted − observed| weighted by bin size. Groups present / "
        "largest share: winback groups, recency or BG/NBD deciles, RFM score values, tree leaves, on the list at the date. "
        "fit s: wall time of the fit (winback: `fit` on an already loaded history; BG/NBD calibrated: both BG/NBD fits).",
        "",
    ]
    for key, ds in result["datasets"].items():
        md += [f"## {ds['title']} — lapse threshold {ds['lapse_rule']}", "", f"Data: {ds['source_note']}.", "",
               *table(ds), "", "Per method over the dates:", "", *summary(ds), "",
               "The goal (issue 14) with its uncertainty — the contact order's AUC gap to the best of recency deciles, RFM "
               "and BG/NBD, with a paired bootstrap interval (the list resampled 1,000 times; the mean's interval treats the "
               "dates as independent, though their lists share customers), and the ECE a perfectly calibrated model would "
               "show on the same list (outcomes drawn from winback's own probabilities 1,000 times):", "", *goal_table(ds), "",
               "Checks and details:", "", *checks(ds), ""]
    md += notes(result)
    text = "\n".join(md)
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
