"""The estimator: same numbers as Rust, scikit-learn conventions, pickling, errors."""
import json
import pickle
import re

import pytest

import winback
from conftest import AT, COLUMNS, ROOT


def golden_groups():
    """group id -> (size, came_back, probability, low, high, sentence) from the Rust end-to-end golden file."""
    out = {}
    for line in (ROOT / "tests" / "golden" / "online_retail.txt").read_text().splitlines():
        m = re.match(r"group +(\d+) \| n +(\d+) \| back +(\d+) \| p ([\d.]+) \[([\d.]+), ([\d.]+)\] \| order ([\d.]+) (?:\| pooled (\d+)-(\d+) )?\| (.*)", line)
        if m:
            g = m.groups()
            pooled = f"{g[7]}-{g[8]}" if g[7] else None
            out[int(g[0])] = (int(g[1]), int(g[2]), float(g[3]), float(g[4]), float(g[5]), float(g[6]), pooled, g[9])
    return out


def test_same_groups_as_rust_for_every_input_kind(retail):
    model = winback.WinbackModel(**COLUMNS).fit(retail, at=AT)
    assert model.lapse_days_ == 110
    want = golden_groups()
    assert len(model.groups_) == len(want) == 10
    for g in model.groups_.to_dict("records"):
        size, back, p, lo, hi, order, pooled, sentence = want[g["id"]]
        assert (g["size"], g["came_back"], g["rule"]) == (size, back, sentence)
        assert round(g["probability"], 4) == p and round(g["low"], 4) == lo and round(g["high"], 4) == hi
        assert round(g["order_score"], 4) == order
        assert g["pooled"] == pooled if pooled else g["pooled"] is None or g["pooled"] != g["pooled"]  # None, or NaN in pandas


def test_score_plan_contact_list(retail_table):
    model = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    scores = model.score(retail_table, at=AT)
    assert list(scores.columns[:5]) == ["customer_id", "group", "probability", "probability_low", "probability_high"]
    assert len(scores) == 1297
    proba = model.predict_proba(retail_table, at=AT)
    assert proba.shape == (1297, 2) and (proba[:, 1] == scores["probability"].to_numpy()).all()
    assert ((proba[:, 0] + proba[:, 1]) == 1.0).all()
    plan = model.plan(retail_table, at=AT, objective="profit", cost_per_contact=2.0, margin=0.3, target_winbacks=200)
    assert plan["stop"] == "target_reached"
    assert plan["contacts"] == len(plan.contacts)
    assert list(plan.contacts.columns) == ["rank", "arm", "customer_id", "group", "probability", "expected_value", "rule"]
    assert "stop" in plan._repr_html_() and "<table>" in model._repr_html_() and "<th>pooled</th>" in model._repr_html_()
    # A contact cap that stops inside a group names what is left of it.
    capped = model.plan(retail_table, at=AT, max_contacts=200)
    cut = capped["cut_short"]
    assert cut is not None and capped["contacts"] == 200
    skipped = sum(k["customers"] for k in capped["skipped"])
    assert capped["not_contacted"] == f"groups {capped['groups_skipped']} and {cut['customers']} of group {cut['group']} ({skipped} customers)"
    assert f"and {cut['customers']} of group {cut['group']}" in capped._repr_html_()


def test_outputs_polars_and_pyarrow(retail_table):
    import polars as pl
    import pyarrow as pa

    m = winback.WinbackModel(output="polars", **COLUMNS).fit(retail_table, at=AT)
    assert isinstance(m.score(retail_table, at=AT), pl.DataFrame)
    m.set_params(output="pyarrow")
    assert isinstance(m.score(retail_table, at=AT), pa.Table)


def test_sklearn_conventions_clone_and_pickle(retail_table, tmp_path):
    from sklearn.base import clone

    m = winback.WinbackModel(groups=8, **COLUMNS)
    assert not hasattr(m, "groups_")
    with pytest.raises(winback.NotFittedError):
        m.score(retail_table, at=AT)
    c = clone(m)
    assert c.get_params() == m.get_params() and c is not m
    m.fit(retail_table, at=AT)
    back = pickle.loads(pickle.dumps(m))
    assert back.get_params() == m.get_params()
    assert back.score(retail_table, at=AT).equals(m.score(retail_table, at=AT))
    path = tmp_path / "model.json"
    m.save(str(path))
    loaded = winback.WinbackModel.load(str(path), **COLUMNS)
    assert loaded.groups_.equals(m.groups_)
    # load() restores the fitting parameters: a clone of a loaded model trains the same model.
    assert loaded.get_params() == m.get_params()
    assert clone(loaded).fit(retail_table, at=AT).model_.to_json() == m.model_.to_json()


def test_honest_fraction_holds_customers_out_when_asked(retail_table, tmp_path):
    """Default: nobody held out (each group's probability from all its training rows,
    the seed changes nothing); honest_fraction=0.3 holds 30% out, survives a save and
    load, and out-of-range values are refused by name."""
    default = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    other_seed = winback.WinbackModel(seed=7, **COLUMNS).fit(retail_table, at=AT)
    assert default.groups_.equals(other_seed.groups_)
    g = default._groups
    assert all(x["honest_size"] == x["size"] for x in g)
    held = winback.WinbackModel(honest_fraction=0.3, **COLUMNS).fit(retail_table, at=AT)
    h = held._groups
    total, honest = sum(x["size"] for x in h), sum(x["honest_size"] for x in h)
    assert 0.2 < honest / total < 0.4, (honest, total)
    path = tmp_path / "held.json"
    held.save(str(path))
    assert winback.WinbackModel.load(str(path), **COLUMNS).get_params()["honest_fraction"] == 0.3
    for bad in (-0.1, 0.95, "0.3", float("nan"), True):
        with pytest.raises(winback.WinbackParamError, match="honest_fraction must be a number between 0.0 and 0.9"):
            winback.WinbackModel(honest_fraction=bad, **COLUMNS).fit(retail_table, at=AT)


def test_group_order_numbers_the_groups_by_a_smooth_chance_or_their_own_rates(retail_table, tmp_path):
    """group_order="smoothed" (default): groups numbered by a smooth chance, probabilities
    never rising with the id (pooled where the rates go against it); "observed": by
    their own probabilities, no pooling. Same rules either way; stored in the model."""
    sm = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    ob = winback.WinbackModel(group_order="observed", **COLUMNS).fit(retail_table, at=AT)
    assert sm.get_params()["group_order"] == "smoothed" and ob.get_params()["group_order"] == "observed"
    gs, go = sm.groups_, ob.groups_
    assert sorted(gs["rule"]) == sorted(go["rule"])
    assert (gs["order_score"].diff().dropna() <= 0).all() and (gs["probability"].diff().dropna() <= 1e-15).all()
    assert gs["pooled"].notna().any() and go["pooled"].isna().all() and go["order_score"].isna().all()
    assert (go["probability"].diff().dropna() <= 0).all()
    path = tmp_path / "observed.json"
    ob.save(str(path))
    assert winback.WinbackModel.load(str(path), **COLUMNS).get_params()["group_order"] == "observed"
    for bad in ("random", None, 1):
        with pytest.raises(winback.WinbackParamError, match="group_order must be 'smoothed' or 'observed'"):
            winback.WinbackModel(group_order=bad, **COLUMNS).fit(retail_table, at=AT)


def test_split_on_smoothed_changes_the_splits_not_the_counts(retail_table, tmp_path):
    """split_on="smoothed": a logistic regression's chance chooses the splits; every
    training row is still counted once with its own outcome; the option survives a
    save and load (a clone trains the same model) and is checked by name."""
    from sklearn.base import clone

    plain = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    assert plain.get_params()["split_on"] == "outcomes"
    sm = winback.WinbackModel(split_on="smoothed", **COLUMNS).fit(retail_table, at=AT)
    rules = lambda m: sorted(g["sentence"] for g in m._groups)  # noqa: E731
    assert rules(sm) != rules(plain)
    count = lambda m: (sum(g["size"] for g in m._groups), sum(g["came_back"] for g in m._groups))  # noqa: E731
    assert count(sm) == count(plain)
    assert json.loads(sm.model_.config_json())["split_on"] == "smoothed"
    path = tmp_path / "smoothed.json"
    sm.save(str(path))
    loaded = winback.WinbackModel.load(str(path), **COLUMNS)
    assert loaded.get_params()["split_on"] == "smoothed"
    assert clone(loaded).fit(retail_table, at=AT).model_.to_json() == sm.model_.to_json()
    for bad in ("smooth", None, 1):
        with pytest.raises(winback.WinbackParamError, match="split_on must be 'outcomes' or 'smoothed'"):
            winback.WinbackModel(split_on=bad, **COLUMNS).fit(retail_table, at=AT)
    with pytest.raises(winback.WinbackParamError, match="split_on = smoothed needs every training row"):
        winback.WinbackModel(split_on="smoothed", honest_fraction=0.3, **COLUMNS).fit(retail_table, at=AT)


def test_error_classes_and_messages(retail_table):
    with pytest.raises(winback.WinbackParamError, match=r"lapse quantile must be in \(0, 1\), got 1.5"):
        winback.WinbackModel(lapse_quantile=1.5, **COLUMNS).fit(retail_table, at=AT)
    with pytest.raises(winback.WinbackDataError, match=r"column `when` not found"):
        winback.lapse_threshold(retail_table, at=AT, datetime_col="when")
    with pytest.raises(winback.WinbackParamError, match="is not YYYY-MM-DD"):
        winback.lapse_threshold(retail_table, at="10/12/2011", **COLUMNS)
    with pytest.raises(winback.WinbackDataError, match=r"row 2, column `customer_id`: missing customer id"):
        import pyarrow as pa

        t = pa.table({"customer_id": ["a", None], "date": ["2024-01-01", "2024-01-02"], "amount": [1.0, 2.0]})
        winback.read_history(t, strict=True)
    with pytest.raises(TypeError, match="__arrow_c_stream__"):
        winback.read_history([1, 2, 3])
    assert issubclass(winback.WinbackDataError, ValueError) and issubclass(winback.WinbackParamError, ValueError)
    for cls in (winback.WinbackDataError, winback.WinbackParamError, winback.NotFittedError):
        assert issubclass(cls, winback.WinbackError)


def test_backtest_and_plots(retail_table, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from winback import plot

    m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    bt = m.backtest(retail_table, at=AT, cutoffs=["2011-10-01"])
    assert bt["rows"][0]["model"]["count"] == 1351
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    plot.gains(m.plan(retail_table, at=AT), ax=axes[0])
    plot.calibration(bt, ax=axes[1])
    plot.groups(m, ax=axes[2])
    out = tmp_path / "plots.png"
    fig.savefig(out)
    assert out.read_bytes()[:4] == b"\x89PNG" and out.stat().st_size > 10_000


def test_profile_table_and_dict(retail_table):
    """Issue 13: model.profile gives one row per group plus `all`, in the output type, and the full dict."""
    from conftest import AT, COLUMNS
    import polars as pl

    m = winback.WinbackModel(groups=10, **COLUMNS).fit(retail_table, at=AT)
    t = m.profile(retail_table, at=AT)
    assert list(t["group"]) == [str(g) for g in range(1, len(m.groups_) + 1)] + ["all"]
    assert t["size"].iloc[-1] == t["size"].iloc[:-1].sum()
    assert {"recency_days_median", "one_time_share", "suggested_channel", "top_categories", "description"} <= set(t.columns)
    assert t["suggested_channel_share"].isna().all()  # no channel column in this data
    assert t["description"].str.contains("one-time buyers").all()
    d = m.profile(retail_table, at=AT, as_dict=True)
    assert d["groups"][0]["group"] == 1 and d["groups"][0]["suggested_channel"] is None
    assert set(d["groups"][0]["recency_days"]) == {"q25", "median", "q75"}
    assert d["all"]["size"] == len(m.score(retail_table, at=AT))
    m.set_params(output="polars")
    assert isinstance(m.profile(retail_table, at=AT), pl.DataFrame)


def test_plan_with_a_control_group(retail_table):
    """Issue 12, 1: control_share holds out a reproducible control arm that costs nothing."""
    from conftest import AT, COLUMNS

    m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    plan = m.plan(retail_table, at=AT, objective="profit", cost_per_contact=2.0, margin=0.3, control_share=0.1)
    c = plan.contacts
    contact, control = c[c["arm"] == "contact"], c[c["arm"] == "control"]
    assert len(contact) == plan["contacts"] and len(control) > 0
    assert list(contact["rank"]) == list(range(1, len(contact) + 1)) and control["rank"].isna().all()
    again = m.plan(retail_table, at=AT, objective="profit", cost_per_contact=2.0, margin=0.3, control_share=0.1).contacts
    assert list(again["customer_id"]) == list(c["customer_id"])
    with pytest.raises(winback.WinbackParamError):
        m.plan(retail_table, at=AT, control_share=0.95)


def test_outcomes_with_arms_give_effects_and_an_incremental_plan(retail_table):
    """Issue 12, 2: the contact list of a plan with a holdout, with outcomes, measures the effect of contact."""
    import pandas as pd

    m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    c = m.plan(retail_table, at=AT, control_share=0.3).contacts
    came_back = [int(i % (8 if arm == "control" else 4) == 0) for i, arm in enumerate(c["arm"])]
    outcomes = pd.DataFrame({"customer_id": c["customer_id"].astype(str), "arm": c["arm"], "came_back": came_back})
    plan = m.feedback(retail_table, at=AT, outcomes=outcomes, objective="incremental")
    e = m.effects_
    assert list(e.columns) == ["group", "contacted", "contacted_came_back", "control", "control_came_back", "contact_rate",
                               "control_rate", "effect", "effect_low", "effect_high"]
    assert e["control"].sum() == (c["arm"] == "control").sum()
    assert e["contacted"].sum() == (c["arm"] == "contact").sum()
    assert (e["effect_low"] <= e["effect"]).all() and (e["effect"] <= e["effect_high"]).all()
    assert ((e["contact_rate"] - e["control_rate"] - e["effect"]).abs() < 1e-12).all()
    measured = set(e.loc[e["effect_high"] >= 0, "group"])
    assert set(plan["groups_contacted"]) <= measured
    assert all(s["reason"] == "no_measurable_effect" for s in plan["skipped"] if s["group"] not in measured)
