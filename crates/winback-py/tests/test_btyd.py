"""The BG/NBD model behind the btyd_* features against lifetimes (issue 14, item 2)."""
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from scipy.special import gammaln

import winback
from conftest import ROOT

import lifetimes  # installed by scripts/test.sh (requirements-test.txt): a missing package fails, never skips

# On this sample the likelihood's maximum lies on a ridge (a, b → ∞ with a/(a+b), the
# dropout probability per purchase, fixed near 3e-4): lifetimes' BFGS reports
# "precision loss" at earlier dates; at this one it converges.
AT = "2017-12-01"


def _summary(tx: pd.DataFrame, at: str) -> pd.DataFrame:
    """x, t_x, T in days as winback defines them: purchase days strictly before `at`."""
    at = pd.Timestamp(at)
    days = tx.loc[(tx["sales_value"] >= 0) & (tx["date"] < at), ["household_id", "date"]].drop_duplicates()
    g = days.groupby("household_id")["date"]
    first, last, n = g.min(), g.max(), g.nunique()
    return pd.DataFrame({
        "frequency": (n - 1).astype(float),
        "recency": (last - first).dt.days.astype(float),
        "T": (at - first).dt.days.astype(float),
    })


def _loglik(p: dict, s: pd.DataFrame) -> float:
    """Fader, Hardie & Lee (2005), eq. 6, written independently of both libraries."""
    r, alpha, a, b = p["r"], p["alpha"], p["a"], p["b"]
    x, tx, T = s["frequency"].to_numpy(), s["recency"].to_numpy(), s["T"].to_numpy()
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    t1 = -(r + x) * np.log(alpha + T)
    t2 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx), -np.inf)
    return float(np.sum(common + np.logaddexp(t1, t2)))


def _lifetimes_fit(s: pd.DataFrame) -> dict:
    """lifetimes' BG/NBD fit. On this ridge its BFGS may stop with "precision loss"
    (scipy's status 2) though its gradient is zero to 1e-7 — whether it does moved
    with the machine (a fresh CI machine raised ConvergenceError where earlier ones
    converged, with the same data and older numpy/scipy/pandas/pyarrow too). Then
    the same minimisation lifetimes runs (its own likelihood, start and tolerance)
    is taken at the point it stopped, provided that point is a stationary one."""
    try:
        bgf = lifetimes.BetaGeoFitter(penalizer_coef=0.0).fit(s["frequency"], s["recency"], s["T"])
        return {k: float(bgf.params_[k]) for k in ("r", "alpha", "a", "b")}
    except lifetimes.utils.ConvergenceError:
        pass
    from autograd import value_and_grad
    from lifetimes.utils import _scale_time
    from scipy.optimize import minimize
    freq = s["frequency"].to_numpy().astype(int)
    scale = _scale_time(s["T"].to_numpy())
    args = (freq, s["recency"].to_numpy() * scale, s["T"].to_numpy() * scale, np.ones_like(freq), 0.0)
    nll = lifetimes.BetaGeoFitter._negative_log_likelihood
    out = minimize(value_and_grad(nll), jac=True, tol=1e-7, x0=0.1 * np.ones(4), args=args)
    assert out.success or (out.status == 2 and np.max(np.abs(out.jac)) < 1e-5), out
    r, alpha, a, b = np.exp(out.x)
    return {"r": float(r), "alpha": float(alpha / scale), "a": float(a), "b": float(b)}


def test_bgnbd_matches_lifetimes_on_the_complete_journey_sample():
    table = pacsv.read_csv(ROOT / "datasets" / "completejourney_baskets.csv.gz",
                           convert_options=pacsv.ConvertOptions(column_types={"household_id": pa.string(), "basket_id": pa.string()}))
    ours = winback.bgnbd(table, AT, customer_id_col="household_id", datetime_col="date", monetary_value_col="sales_value",
                         order_id_col="basket_id")
    assert ours is not None
    tx = table.to_pandas()
    tx["date"] = pd.to_datetime(tx["date"])
    s = _summary(tx, AT)
    theirs = _lifetimes_fit(s)
    # Both are maxima of the same likelihood: ours is at least as high; r, alpha and the
    # identified dropout a/(a+b) agree (a and b alone are not identified on the ridge).
    assert _loglik(ours, s) >= _loglik(theirs, s) - 1e-9 * abs(_loglik(theirs, s))
    assert ours["r"] == pytest.approx(theirs["r"], rel=1e-3)
    assert ours["alpha"] == pytest.approx(theirs["alpha"], rel=1e-3)
    drop = lambda p: p["a"] / (p["a"] + p["b"])
    assert drop(ours) == pytest.approx(drop(theirs), rel=0.02)

def test_bgnbd_features_are_in_the_feature_table(retail_table):
    from conftest import COLUMNS
    f = winback.features(retail_table, "2011-10-01", **COLUMNS)
    for c in ("btyd_p_alive", "btyd_p_buy_60d", "btyd_purchases_60d"):
        assert c in f.columns
        assert f[c].between(0, 1e6).all()
    assert (f["btyd_p_buy_60d"] <= f["btyd_p_alive"] + 1e-12).all()
