"""Uplift benchmark: winback's uplift groups against scikit-uplift on a real
randomized campaign, the Hillstrom e-mail experiment (``../shared/data/hillstrom``,
64,000 customers; falls back to the bundled halves in ``datasets/``).

What it measures
================

* **Campaign**: the women's e-mail arm (treatment) against no e-mail (control),
  outcome ``visit`` within two weeks (``--target conversion`` for purchases); the
  men's e-mail arm is left out. 42,693 customers.
* **Split**: 70% fit / 30% test, stratified on arm x outcome, ``random_state`` =
  ``--split-seed`` (42 by default, as in scikit-uplift's Hillstrom tutorial, whose
  class-transformation model reaches uplift@30% ≈ 0.066 on this target). ``--repeats``
  more splits (seeds 43, 44, ...) give the spread over splits.
* **Traits** (known before the campaign): recency, history, mens, womens, newbie,
  history_segment, zip_code, channel. winback reads them as a table (categorical
  columns one-hot inside winback); the scikit-uplift models get the same columns with
  ``pandas.get_dummies``.
* **Methods**, each fitted on the fit part only:
    - ``winback groups``: ``winback.UpliftModel(groups=10)``: an uplift tree grown with
      linfa-trees on the class-transformed outcome; score = the group's honest effect.
    - ``two models (sklift)``: ``sklift.models.TwoModels`` (vanilla), one
      ``HistGradientBoostingClassifier`` per arm; score = P(visit | mail) - P(visit | none).
    - ``class transformation (sklift)``: ``sklift.models.ClassTransformation`` with a
      ``HistGradientBoostingClassifier``; score = 2 P(z = 1) - 1.
    - ``10-leaf tree on z (sklearn)``: ``DecisionTreeClassifier(max_leaf_nodes=10,
      min_samples_leaf=0.02)`` on the class-transformed outcome (arms balanced by
      sample weights) — the readable peer.
    - ``random``: a seeded random score (what 0 means).
* **Metrics** on the test part, with scikit-uplift's definitions: ``uplift_at_k``
  (k = 0.3, strategy ``overall``: the top 30% of the list, treatment rate minus control
  rate there), ``qini_auc_score`` (area between the Qini curve and the random line,
  divided by the perfect model's area) and ``uplift_auc_score`` (AUUC, the same for the
  uplift curve). Ties in a score (winback's groups) are blocks in scikit-uplift's curves.
  90% intervals: 300 bootstrap resamples of the test rows (seeded), percentiles.
* **winback's effect table** on the test part: each group's contact rate, control
  rate and effect with its 90% interval (Beta posteriors), next to the effect the fit
  estimated on its held-out customers.

Run (from the repository root; makes ``bench-out/venv`` with scikit-uplift,
scikit-learn and pandas and builds winback into it, or ``--python`` an interpreter that
has winback)::

    python3 benches/uplift.py [--python .venv/bin/python] [--repeats 4]

Writes ``bench-out/uplift.md`` and ``bench-out/uplift.json``.
"""

from __future__ import annotations

import argparse
import warnings
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench-out"
DATA = ROOT.parent / "shared" / "data" / "hillstrom" / "hillstrom.csv.gz"
PACKAGES = ["scikit-uplift", "scikit-learn", "pandas", "numpy", "pyarrow"]
IMPORTS = "import sklift, sklearn, pandas, numpy, pyarrow"
TRAITS = ["recency", "history", "mens", "womens", "newbie", "history_segment", "zip_code", "channel"]


def load(path: Path):
    import pandas as pd

    if path.exists():
        return pd.read_csv(path), str(path)
    halves = [ROOT / "datasets" / f"hillstrom_{h}.csv.gz" for h in ("fit", "holdout")]
    return pd.concat([pd.read_csv(p) for p in halves], ignore_index=True), " + ".join(str(p) for p in halves)


def run_split(df, target: str, seed: int, boot: int):
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.tree import DecisionTreeClassifier
    from sklift.metrics import qini_auc_score, uplift_at_k, uplift_auc_score
    from sklift.models import ClassTransformation, TwoModels

    import winback

    data = df[df.segment.isin(["Womens E-Mail", "No E-Mail"])].reset_index(drop=True)
    treat = (data.segment == "Womens E-Mail").astype(int).to_numpy()
    y = data[target].astype(int).to_numpy()
    strat = treat * 2 + y
    idx_fit, idx_test = train_test_split(np.arange(len(data)), test_size=0.3, random_state=seed, stratify=strat)
    fit, test = data.iloc[idx_fit], data.iloc[idx_test]
    dummies = pd.get_dummies(data[TRAITS], columns=["history_segment", "zip_code", "channel"], dtype=float)
    x_fit, x_test = dummies.iloc[idx_fit], dummies.iloc[idx_test]
    t_fit, t_test, y_fit, y_test = treat[idx_fit], treat[idx_test], y[idx_fit], y[idx_test]

    scores, times, extra = {}, {}, {}
    t0 = time.perf_counter()
    # Only the id, the arm, the target and the traits are given: the other outcomes are not in the table.
    up = winback.UpliftModel(arm_col="segment", treatment="Womens E-Mail", control="No E-Mail", outcome_col=target, groups=10)
    cols = ["customer_id", "segment", target, *TRAITS]
    up.fit(fit[cols])
    times["winback groups"] = time.perf_counter() - t0
    scores["winback groups"] = up.predict(test[cols])
    ev = up.evaluate(test[cols])
    extra["groups"] = up.groups_.to_dict("records")
    extra["test_groups"] = ev["groups"].to_dict("records")
    extra["winback_qini_coefficient"] = ev["qini_coefficient"]
    extra["winback_uplift_at_30"] = ev["uplift_at_30"]

    t0 = time.perf_counter()
    tm = TwoModels(estimator_trmnt=HistGradientBoostingClassifier(random_state=0), estimator_ctrl=HistGradientBoostingClassifier(random_state=0),
                   method="vanilla")
    tm.fit(x_fit, y_fit, t_fit)
    times["two models (sklift)"] = time.perf_counter() - t0
    scores["two models (sklift)"] = tm.predict(x_test)

    t0 = time.perf_counter()
    ct = ClassTransformation(estimator=HistGradientBoostingClassifier(random_state=0))
    ct.fit(x_fit, y_fit, t_fit)
    times["class transformation (sklift)"] = time.perf_counter() - t0
    scores["class transformation (sklift)"] = ct.predict(x_test)

    t0 = time.perf_counter()
    z = (t_fit == y_fit).astype(int)
    w = np.where(t_fit == 1, 0.5 / t_fit.mean(), 0.5 / (1 - t_fit.mean()))
    tree = DecisionTreeClassifier(max_leaf_nodes=10, min_samples_leaf=0.02, random_state=0).fit(x_fit, z, sample_weight=w)
    times["10-leaf tree on z (sklearn)"] = time.perf_counter() - t0
    scores["10-leaf tree on z (sklearn)"] = 2 * tree.predict_proba(x_test)[:, 1] - 1

    scores["random"] = np.random.default_rng(seed).random(len(idx_test))
    times["random"] = 0.0

    rng = np.random.default_rng(1000 + seed)
    samples = [rng.integers(0, len(idx_test), len(idx_test)) for _ in range(boot)]
    rows = {}
    for name, s in scores.items():
        s = np.asarray(s, dtype=float)

        def metrics(ix):
            return (uplift_at_k(y_test[ix], s[ix], t_test[ix], strategy="overall", k=0.3),
                    qini_auc_score(y_test[ix], s[ix], t_test[ix]),
                    uplift_auc_score(y_test[ix], s[ix], t_test[ix]))

        point = metrics(np.arange(len(idx_test)))
        if samples:
            bs = np.array([metrics(ix) for ix in samples])
            lo, hi = np.percentile(bs, 5, axis=0), np.percentile(bs, 95, axis=0)
        else:
            lo = hi = [float("nan")] * 3
        rows[name] = {"uplift_at_30": point[0], "qini_auc": point[1], "auuc": point[2],
                      "uplift_at_30_ci": [lo[0], hi[0]], "qini_auc_ci": [lo[1], hi[1]], "auuc_ci": [lo[2], hi[2]],
                      "fit_seconds": times[name]}
    return {"seed": seed, "n_fit": len(idx_fit), "n_test": len(idx_test), "methods": rows, **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=os.environ.get("WINBACK_BENCH_PYTHON"))
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--target", choices=["visit", "conversion"], default="visit")
    ap.add_argument("--split-seed", type=int, default=42)
    ap.add_argument("--repeats", type=int, default=4, help="more splits (seeds split-seed+1, ...) for the spread")
    ap.add_argument("--bootstrap", type=int, default=300)
    ap.add_argument("--out", type=Path, default=OUT_DIR / "uplift.md")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import benchenv

    benchenv.ensure_env(__file__, args.python, PACKAGES, IMPORTS)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)  # scikit-uplift 0.5.1 calls a deprecated scikit-learn helper
    import sklift
    import sklearn

    df, source = load(args.data)
    runs = [run_split(df, args.target, args.split_seed + i, args.bootstrap if i == 0 else 0) for i in range(args.repeats + 1)]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    first = runs[0]
    out = [f"# Uplift on the Hillstrom e-mail experiment (women's e-mail vs none, target `{args.target}`)", "",
           f"Data {source}; fit {first['n_fit']} / test {first['n_test']} customers (70/30 stratified, seed {args.split_seed}); "
           f"winback {commit}, scikit-uplift {sklift.__version__}, scikit-learn {sklearn.__version__}; "
           f"90% intervals from {args.bootstrap} bootstrap resamples of the test rows.", "",
           "| method | uplift@30% | Qini AUC | AUUC | fit s |", "| --- | --- | --- | --- | --- |"]
    for name, m in first["methods"].items():
        ci = lambda k: f"{m[k]:.4f} [{m[k + '_ci'][0]:.4f}, {m[k + '_ci'][1]:.4f}]"
        out.append(f"| {name} | {ci('uplift_at_30')} | {ci('qini_auc')} | {ci('auuc')} | {m['fit_seconds']:.2f} |")
    if len(runs) > 1:
        out += ["", f"Over {len(runs)} splits (seeds {args.split_seed}–{args.split_seed + len(runs) - 1}): mean (min–max).", "",
                "| method | uplift@30% | Qini AUC | AUUC |", "| --- | --- | --- | --- |"]
        for name in first["methods"]:
            cell = lambda k: (lambda v: f"{sum(v) / len(v):.4f} ({min(v):.4f}–{max(v):.4f})")([r["methods"][name][k] for r in runs])
            out.append(f"| {name} | {cell('uplift_at_30')} | {cell('qini_auc')} | {cell('auuc')} |")
    out += ["", f"winback's groups (seed {args.split_seed}): effect estimated at fit on its held-out customers, and measured on the test part.", "",
            "| group | rule | fit: size | fit: effect [90%] | test: contacted / control | test: effect [90%] |",
            "| --- | --- | --- | --- | --- | --- |"]
    for g, t in zip(first["groups"], first["test_groups"]):
        out.append(f"| {g['group']} | {g['rule']} | {g['size']} | {g['effect']:+.3f} [{g['effect_low']:+.3f}, {g['effect_high']:+.3f}] | "
                   f"{t['contacted']} / {t['control']} | {t['effect']:+.3f} [{t['effect_low']:+.3f}, {t['effect_high']:+.3f}] |")
    text = "\n".join(out) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps({"commit": commit, "source": source, "runs": runs}, indent=1, default=float))
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
