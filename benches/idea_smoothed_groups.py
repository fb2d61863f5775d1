"""An idea for issue 14, measured and not kept: each group's probability taken as the
mean, over its training rows, of a logistic regression's chance (log recency, log
purchases, log spend, log tenure, the BG/NBD chance of buying), instead of the rows'
observed rate. The groups (winback's tree) are unchanged; their order and
probabilities change.

Run with an interpreter that has winback, scikit-learn, scipy and pandas (the quality
benchmark's, `python3 benches/quality.py` builds one in bench-out/venv; or
`.venv/bin/python` after `bash scripts/test.sh`), on the full data in ../shared/data:

    .venv/bin/python benches/idea_smoothed_groups.py

Prints, per scoring date, the contact-order AUC and the ECE of winback as it is and
with smoothed group probabilities, and the logistic regression's own AUC. Same lists,
labels and training cutoffs as benches/quality.py (60-day horizon).
"""
import datetime as dt
import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import quality as q  # noqa: E402
import winback  # noqa: E402
from scipy.stats import rankdata  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

H = 60


def labels_at(hist, ids, end):
    allf = winback.features(hist, at=end, all=True)
    rec = pd.Series(allf["recency_days"].to_numpy(), index=allf["customer_id"].to_numpy())
    return (rec.reindex(ids).to_numpy() <= H).astype(int)


def linear(f):
    cols = [np.log1p(f["recency_days"].to_numpy(float)), np.log1p(f["purchases"].to_numpy(float)),
            np.log1p(np.maximum(f["spend_total"].to_numpy(float), 0)), np.log1p(f["tenure_days"].to_numpy(float))]
    if "btyd_p_buy_60d" in f:
        cols.append(f["btyd_p_buy_60d"].to_numpy(float))
    return np.column_stack(cols)


def scores(model, hist, at, ids):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.score(hist, at=at).set_index("customer_id").reindex(ids)


def run(name, hist, cols, dates):
    for T in dates:
        Tn = (dt.date.fromisoformat(T) + dt.timedelta(days=H)).isoformat()
        test = winback.features(hist, at=T)
        ids = test["customer_id"].to_numpy()
        y = labels_at(hist, ids, Tn)
        model = winback.WinbackModel(horizon_days=H, groups=10, seed=42, **cols)
        model.fit(hist, at=T)
        sc = scores(model, hist, T, ids)
        p, g, prio = sc["probability"].to_numpy(float), sc["group"].to_numpy(), sc["priority"].to_numpy(float)
        # The model's own training rows: the lapsed list at each training cutoff, its
        # outcome in the next 60 days, its group.
        xs, ys, gs = [], [], []
        for c in model.training_cutoffs_:
            c = str(c)[:10]
            f = winback.features(hist, at=c)
            xs.append(linear(f))
            ys.append(labels_at(hist, f["customer_id"].to_numpy(), (dt.date.fromisoformat(c) + dt.timedelta(days=H)).isoformat()))
            gs.append(scores(model, hist, c, f["customer_id"].to_numpy())["group"].to_numpy())
        X, Y, G = np.vstack(xs), np.concatenate(ys), np.concatenate(gs)
        scale = StandardScaler().fit(X)
        lr = LogisticRegression(max_iter=1000).fit(scale.transform(X), Y)
        smooth = pd.Series(lr.predict_proba(scale.transform(X))[:, 1]).groupby(G).mean()
        ps = smooth.reindex(g).to_numpy()
        order = lambda prob: prob + 1e-6 * rankdata(prio) / len(prio)  # noqa: E731
        print(f"{name} {T}: contact-order AUC {roc_auc_score(y, order(p)):.3f} -> {roc_auc_score(y, order(ps)):.3f} smoothed; "
              f"ECE {q.ece_equal_width(p, y):.3f} -> {q.ece_equal_width(ps, y):.3f}; "
              f"logistic regression alone AUC {roc_auc_score(y, lr.decision_function(scale.transform(linear(test)))):.3f}", flush=True)


def main():
    data = q.DATA
    df, _, _ = q.load_online_retail(data)
    run("Online Retail", winback.read_history(df, **q.OR_COLS), q.OR_COLS, q.OR_DATES)
    df, _, _ = q.load_complete_journey(data)
    run("Complete Journey", winback.read_history(df, **q.CJ_COLS), q.CJ_COLS, q.CJ_DATES)


if __name__ == "__main__":
    main()
