"""An idea for issue 14 (calibration that survives drift), measured and not kept:
shift every group's probability by the drift seen in the last, partly observed
period before the scoring date (a "nowcast").

winback's probabilities come from training cutoffs at T-H, T-2H, T-3H, so a change in
the base rate after T-H is unseen. But the first h days after T-h (h < H) are fully
observed at T. The idea: with the fitted groups, take each group's rate of buying
within h days on the training cutoffs (q_g); on the customers lapsed at T-h, find the
log-odds shift d that makes sum_i sigmoid(logit(q_g(i)) + d) equal the number who
bought in [T-h, T); then score with sigmoid(logit(p_g) + d). The groups and their
order are unchanged: only the calibration moves.

Run with an interpreter that has winback, scikit-learn, scipy and pandas (the quality
benchmark's, `python3 benches/quality.py` builds one in bench-out/venv; or
`.venv/bin/python` after `bash scripts/test.sh`), on the full data in ../shared/data:

    .venv/bin/python benches/idea_nowcast_drift.py [--windows 20 30 45] [--datasets or cj cdnow]

Prints, per scoring date, the observed rate and winback's mean prediction and ECE
(10 equal-width bins, as benches/quality.py), then the same after the shift for each
window h, and the mean ECE per data set over the default dates of benches/quality.py
and over all dates. Same lists, labels and training cutoffs as benches/quality.py
(60-day horizon); the dates are its defaults plus the "ten other dates" of the README.
"""
import argparse
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

H = 60
OTHER_DATES = {
    "or": ["2011-05-01", "2011-07-01", "2011-09-01", "2011-09-20"],
    "cj": ["2017-06-01", "2017-08-01", "2017-10-01"],
    "cdnow": ["1997-08-01", "1997-12-01", "1998-03-01"],
}
SETS = {
    "or": ("Online Retail", q.load_online_retail, q.OR_COLS, q.OR_DATES),
    "cj": ("Complete Journey", q.load_complete_journey, q.CJ_COLS, q.CJ_DATES),
    "cdnow": ("CDNOW", q.load_cdnow, q.CDNOW_COLS, q.CDNOW_DATES),
}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def bought_within(hist, ids, start, h):
    """1 where the customer bought in [start, start + h): recency at start + h <= h."""
    end = (dt.date.fromisoformat(start) + dt.timedelta(days=h)).isoformat()
    allf = winback.features(hist, at=end, all=True)
    rec = pd.Series(allf["recency_days"].to_numpy(), index=allf["customer_id"].to_numpy()).reindex(ids)
    return (rec.to_numpy() <= h).astype(int)


def shift_to(base_logits, observed):
    """The d with sum(sigmoid(base_logits + d)) == observed (bisection)."""
    lo, hi = -5.0, 5.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if sigmoid(base_logits + mid).sum() < observed:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def score(model, hist, at):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.score(hist, at=at)


def run_date(hist, cols, T, windows):
    model = winback.WinbackModel(horizon_days=H, groups=10, seed=q.SEED, **cols)
    model.fit(hist, at=T)
    sc = score(model, hist, T)
    p = sc["probability"].to_numpy(float)
    y = bought_within(hist, sc["customer_id"].to_numpy(), T, H)
    out = {"n": len(p), "observed": y.mean(), "predicted": p.mean(), "ece": q.ece_equal_width(p, y)}
    cutoffs = [str(c) for c in model.training_cutoffs_]
    for h in windows:
        bought, seen = {}, {}
        for c in cutoffs:
            s = score(model, hist, c)
            for g, v in zip(s["group"].to_numpy(), bought_within(hist, s["customer_id"].to_numpy(), c, h)):
                bought[g] = bought.get(g, 0) + v
                seen[g] = seen.get(g, 0) + 1
        rate = {g: (bought[g] + 0.5) / (seen[g] + 1) for g in seen}
        fallback = float(np.mean(list(rate.values())))
        start = (dt.date.fromisoformat(T) - dt.timedelta(days=h)).isoformat()
        s = score(model, hist, start)
        recent = bought_within(hist, s["customer_id"].to_numpy(), start, h)
        base = logit(np.array([rate.get(g, fallback) for g in s["group"].to_numpy()]))
        d = shift_to(base, recent.sum())
        shifted = sigmoid(logit(p) + d)
        out[h] = {"shift": d, "expected": sigmoid(base).mean(), "seen": recent.mean(),
                  "predicted": shifted.mean(), "ece": q.ece_equal_width(shifted, y)}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--windows", type=int, nargs="+", default=[20, 30, 45], help="h, days (each < 60)")
    ap.add_argument("--datasets", nargs="+", default=list(SETS), choices=list(SETS))
    args = ap.parse_args()
    for key in args.datasets:
        title, loader, cols, defaults = SETS[key]
        df, _, _ = loader(q.DATA)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hist = winback.read_history(df, **cols)
        dates = sorted(defaults + OTHER_DATES[key])
        rows = {}
        print(f"== {title}")
        for T in dates:
            r = rows[T] = run_date(hist, cols, T, args.windows)
            line = f"{T} n={r['n']} observed {r['observed']:.3f} predicted {r['predicted']:.3f} ECE {r['ece']:.3f}"
            for h in args.windows:
                v = r[h]
                line += (f" | h={h}: shift {v['shift']:+.2f} (within h: expected {v['expected']:.3f}, seen {v['seen']:.3f})"
                         f" predicted {v['predicted']:.3f} ECE {v['ece']:.3f}")
            print(line, flush=True)
        for name, subset in (("default dates", defaults), ("all dates", dates)):
            mean = lambda f: np.mean([f(rows[T]) for T in subset])  # noqa: E731
            parts = [f"as is {mean(lambda r: r['ece']):.3f}"] + [f"h={h} {mean(lambda r, h=h: r[h]['ece']):.3f}" for h in args.windows]
            print(f"mean ECE over the {len(subset)} {name}: " + ", ".join(parts))


if __name__ == "__main__":
    main()
