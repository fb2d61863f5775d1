"""UpliftModel on the bundled halves of the Hillstrom e-mail experiment: the same
groups from pandas, polars and pyarrow, effects of the right sign on the other half,
errors of the package's own classes, pickling, the Qini plot."""

import json
import pickle

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import winback
from conftest import ROOT

FIT = ROOT / "datasets" / "hillstrom_fit.csv.gz"
HOLDOUT = ROOT / "datasets" / "hillstrom_holdout.csv.gz"


def model(**kw):
    return winback.UpliftModel(arm_col="segment", treatment="Womens E-Mail", control="No E-Mail", outcome_col="visit",
                               exclude=["conversion", "spend"], **kw)


@pytest.fixture(scope="module")
def fitted():
    return model().fit(str(FIT))


def test_groups_hold_on_the_other_half(fitted):
    r = fitted.report_
    assert (r["rows"], r["contacted"], r["control"], r["other_arm"]) == (21330, 10673, 10657, 10670)
    g = fitted.groups_
    assert list(g.columns) == ["group", "size", "share", "contacted", "contacted_came_back", "control", "control_came_back",
                               "contact_rate", "control_rate", "effect", "effect_low", "effect_high", "rule"]
    assert g["size"].sum() == 21330
    assert list(g["effect"]) == sorted(g["effect"], reverse=True)
    e = fitted.evaluate(str(HOLDOUT))
    assert e["report"]["rows"] == 21363
    assert e["qini_coefficient"] > 0 and e["uplift_at_30"] > 0.05
    assert e["qini"][0] == (0.0, 0.0) and e["qini"][-1][0] == 1.0
    test = e["groups"].set_index("group")
    for _, row in g[g["effect_low"] > 0].iterrows():
        assert test.loc[row["group"], "effect"] > 0, row["rule"]


def test_same_groups_from_every_table_type(fitted):
    table = pacsv.read_csv(FIT)
    for data in (table, table.to_pandas(), __import__("polars").from_arrow(table)):
        other = model().fit(data)
        assert other.groups_.equals(fitted.groups_)
    hold = pacsv.read_csv(HOLDOUT)
    scores = fitted.score(hold)
    assert list(scores.columns) == ["customer_id", "group", "effect", "effect_low", "effect_high"]
    assert (fitted.predict(hold) == scores["effect"].to_numpy()).all()


def test_errors_and_files(fitted, tmp_path):
    bad = pa.table({"customer_id": ["1", "2"], "segment": ["Womens E-Mail", "No E-Mail"], "visit": [1, 2], "recency": [1, 2]})
    plain = winback.UpliftModel(arm_col="segment", treatment="Womens E-Mail", control="No E-Mail", outcome_col="visit")
    with pytest.raises(winback.WinbackDataError, match=r'customer "2", column `visit`.*value "2"'):
        plain.fit(bad)
    typo = pa.table({"customer_id": ["1", "2"], "segment": ["Womens E-mail", "No E-Mail"], "visit": [1, 0], "recency": [1, 2]})
    with pytest.raises(winback.WinbackParamError, match="Womens E-Mail"):
        plain.fit(typo)
    with pytest.raises(winback.NotFittedError):
        model().groups_
    again = pickle.loads(pickle.dumps(fitted))
    assert again.groups_.equals(fitted.groups_)
    path = tmp_path / "uplift.json"
    fitted.save(str(path))
    assert winback.UpliftModel.load(str(path)).groups_.equals(fitted.groups_)
    doc = json.loads(path.read_text())
    doc["tree"]["groups"][0]["effect_high"] = -5
    path.write_text(json.dumps(doc))
    with pytest.raises(winback.WinbackDataError, match="effect"):
        winback.UpliftModel.load(str(path))


def test_qini_plot(fitted):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from winback import plot

    e = fitted.evaluate(str(HOLDOUT))
    ax = plot.qini({"winback": e, "by hand": [(0.0, 0.0), (1.0, e["qini"][-1][1])]})
    lines = ax.get_lines()
    assert len(lines) == 4  # two curves, each with its random line
    assert list(lines[0].get_xdata()) == [p[0] for p in e["qini"]]
    assert "Qini" in ax.get_legend().get_texts()[0].get_text()
    plt.close("all")


def test_boolean_arms_and_loaded_parameters(fitted, tmp_path):
    import numpy as np

    n = 400
    t = pa.table({"customer_id": [f"c{i}" for i in range(n)], "mailed": [i % 2 == 0 for i in range(n)],
                  "visit": [int((i // 2) % 5 == 0 or (i % 2 == 0 and (i // 2) % 7 == 0)) for i in range(n)],
                  "recency": [i % 12 for i in range(n)]})
    for yes, no in ((True, False), (np.True_, np.False_)):
        up = winback.UpliftModel(arm_col="mailed", treatment=yes, control=no, outcome_col="visit", groups=2).fit(t)
        assert up.report_["contacted"] == n // 2 and up.report_["control"] == n // 2
    with pytest.raises(winback.WinbackParamError, match="no such column"):
        winback.UpliftModel(arm_col="mailed", treatment=True, control=False, outcome_col="visit", exclude=["vist"]).fit(t)
    path = tmp_path / "u.json"
    fitted.save(str(path))
    loaded = winback.UpliftModel.load(str(path))
    assert (loaded.arm_col, loaded.treatment, loaded.control, loaded.outcome_col) == ("segment", "Womens E-Mail", "No E-Mail", "visit")


def test_next_wave_planned_on_the_effect(fitted):
    plan = fitted.plan(str(HOLDOUT), cost_per_contact=0.15, value_per_winback=3.0, control_share=0.1)
    g = fitted.groups_.set_index("group")
    steps = plan.steps
    assert len(steps) >= 1
    # Every group contacted pays for its contact (effect x 3 > 0.15); the order is by effect.
    for grp in steps["group"]:
        assert g.loc[grp, "effect"] * 3.0 > 0.15
    assert list(steps["group"]) == sorted(steps["group"], key=lambda k: -g.loc[k, "effect"])
    arms = plan.contacts["arm"].value_counts()
    assert arms["contact"] == plan["contacts"] and 0 < arms["control"] < arms["contact"]
