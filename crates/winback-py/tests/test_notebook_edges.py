"""What a notebook user met on awkward but ordinary inputs (a review of the package as a
data scientist uses it): each test failed before its fix."""
import json
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from sklearn.base import clone

import winback
import winback.plot
from conftest import AT, COLUMNS, RETAIL, ROOT

FIT = ROOT / "datasets" / "hillstrom_fit.csv.gz"
HOLDOUT = ROOT / "datasets" / "hillstrom_holdout.csv.gz"
UPLIFT = dict(arm_col="segment", treatment="Womens E-Mail", control="No E-Mail", outcome_col="visit")


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", winback.WinbackDataWarning)
        return winback.WinbackModel(**COLUMNS).fit(str(RETAIL), AT)


def test_a_loaded_uplift_model_refits_the_same_way(tmp_path):
    # load() kept only the arm and outcome columns: a clone of it put the excluded
    # outcome columns (conversion, spend) back into the traits, with 10 groups for 6.
    up = winback.UpliftModel(exclude=["conversion", "spend"], groups=6, seed=3, **UPLIFT).fit(str(FIT))
    up.save(tmp_path / "u.json")
    back = winback.UpliftModel.load(tmp_path / "u.json")
    assert (list(back.exclude), back.groups, back.seed) == (["conversion", "spend"], 6, 3)
    again = clone(back).fit(str(FIT))
    assert again.feature_names_ == up.feature_names_
    assert again.model_.to_json() == up.model_.to_json()
    # Ids leave in the type they came in (int64), as WinbackModel.score gives them.
    table = pacsv.read_csv(HOLDOUT)
    assert str(table.schema.field("customer_id").type) == "int64"
    assert up.score(table)["customer_id"].dtype == "int64"
    assert up.plan(table, cost_per_contact=0.1, value_per_winback=1.0).contacts["customer_id"].dtype == "int64"
    # A path is read by winback's CSV reader (as the CLI reads it): same groups, ids still int64.
    by_path = up.score(str(HOLDOUT))
    assert by_path["customer_id"].dtype == "int64"
    assert by_path["group"].tolist() == up.score(table)["group"].tolist()


def test_a_path_gives_integer_ids_as_a_table_does(model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", winback.WinbackDataWarning)
        from_path = model.score(str(RETAIL), AT)
        from_table = model.score(pacsv.read_csv(RETAIL), AT)
    assert from_path["customer_id"].dtype == from_table["customer_id"].dtype == "int64"
    assert from_path["customer_id"].tolist() == from_table["customer_id"].tolist()
    # Ids that are not plain integers stay text.
    t = pa.table({"customer_id": ["007", "007", "12"], "date": ["2024-01-01", "2024-02-01", "2024-01-05"], "amount": [1.0, 2.0, 3.0]})
    path = ROOT / "target" / "padded_ids.csv"
    path.parent.mkdir(exist_ok=True)
    pacsv.write_csv(t, path)
    got = winback.features(str(path), "2024-03-01", all=True)
    assert sorted(got["customer_id"]) == ["007", "12"]


def test_attributes_that_match_nobody_warn_and_paths_are_read(model, tmp_path):
    table = pacsv.read_csv(RETAIL)
    attrs = pd.DataFrame({"customer_id": [1, 2, 3], "segment": ["a", "b", "a"]})
    with pytest.warns(winback.WinbackDataWarning, match="none of the 3 rows matches a customer"):
        winback.read_history(table, attributes=attrs, **COLUMNS)
    ids = table["customer_id"].unique().to_pylist()[:3]
    path = tmp_path / "attrs.csv"
    pd.DataFrame({"customer_id": ids, "segment": ["a", "b", "a"]}).to_csv(path, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", winback.WinbackDataWarning)
        warnings.filterwarnings("ignore", message=".*rows skipped.*")
        h = winback.read_history(table, attributes=str(path), **COLUMNS)
    assert h.attributes_report_json
    # A path is read by winback's CSV reader, as the CLI reads it: an "unknown" age is a
    # missing number counted in the report (pyarrow made the ages categories, silently).
    many = tmp_path / "many.csv"
    rows = [(i, str(20 + i % 50)) for i in ids] + [(f"x{i}", str(20 + i % 50)) for i in range(40)] + [("y", "unknown")]
    pd.DataFrame(rows, columns=["customer_id", "age"]).to_csv(many, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", winback.WinbackDataWarning)
        h = winback.read_history(table, attributes=str(many), **COLUMNS)
    report = json.loads(h.attributes_report_json)
    assert report["unread"] == [{"column": "age", "kind": "number", "count": 1, "example": "unknown"}]
    winback.features(table, AT, quantile=np.float64(0.9), **COLUMNS)


def test_mixed_object_ids_are_one_customer_and_unmapped_columns_are_not_read():
    df = pd.DataFrame({"customer_id": [1, 1, "2", 3.0, 3, 3], "date": ["2024-01-01", "2024-02-01", "2024-01-05", "2024-01-07", "2024-02-07", "2024-02-20"],
                       "amount": [1.0] * 6, "note": [1 + 2j] * 6})
    got = winback.features(df, "2024-03-01", all=True)
    assert sorted(zip(got["customer_id"], got["purchases"])) == [("1", 2.0), ("2", 1.0), ("3", 3.0)]
    twice = pd.DataFrame([["a", "2024-01-01", 1.0, 2.0]], columns=["customer_id", "date", "amount", "amount"])
    with pytest.raises(winback.WinbackDataError, match="column `amount` appears 2 times"):
        winback.features(twice, "2024-03-01")


def test_bad_parameters_are_winback_errors(model, tmp_path):
    table = pacsv.read_csv(RETAIL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", winback.WinbackDataWarning)
        for k, v in (("cost_per_contact", float("nan")), ("budget", float("inf"))):
            with pytest.raises(winback.WinbackParamError, match=f"^{k} must be a finite number, got {v!r}$"):
                model.plan(table, AT, **{k: v})
        with pytest.raises(winback.WinbackParamError, match="lapse_quantile must be a number, got '0.9'"):
            winback.WinbackModel(lapse_quantile="0.9", **COLUMNS).fit(table, AT)
        with pytest.raises(winback.WinbackParamError, match="quantile must be a number"):
            winback.features(table, AT, quantile="0.9", **COLUMNS)
        with pytest.raises(winback.WinbackParamError, match="column names are text, got 0"):
            winback.features(table, AT, customer_id_col=0)
        # Cutoffs as a DatetimeIndex or one numpy date.
        bt = model.backtest(table, AT, cutoffs=pd.date_range("2011-08-01", periods=2, freq="MS"))
        assert [r["cutoff"] for r in bt["rows"]] == ["2011-08-01", "2011-09-01"]
        bt = model.backtest(table, AT, cutoffs=np.datetime64("2011-09-01"))
        assert [r["cutoff"] for r in bt["rows"]] == ["2011-09-01"]
    with pytest.raises(winback.NotFittedError):
        winback.plot.groups(winback.WinbackModel())


def test_a_loaded_model_knows_its_date_and_outputs_have_integer_types(model, tmp_path):
    model.save(tmp_path / "m.json")
    back = winback.WinbackModel.load(tmp_path / "m.json")
    assert back.fitted_at_ == model.fitted_at_ == AT
    table = pacsv.read_csv(RETAIL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", winback.WinbackDataWarning)
        s = model.score(table, AT)
        p = model.plan(table, AT, control_share=0.2)
    assert s["group"].dtype == "int64" and model.groups_["id"].dtype == "int64"
    assert str(p.contacts["rank"].dtype) == "Int64"
    assert p.contacts["rank"].isna().sum() == (p.contacts["arm"] == "control").sum() > 0


def test_feedback_warns_as_score_does_and_reads_an_outcomes_file(model, tmp_path):
    table = pacsv.read_csv(RETAIL)
    late = "2012-06-01"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", winback.WinbackDataWarning)
        first = model.score(table, late).head(3)
    path = tmp_path / "wave.csv"
    pd.DataFrame({"customer_id": first["customer_id"], "contacted": 1, "came_back": [1, 0, 0]}).to_csv(path, index=False)
    m = clone(model)
    m.model_, m.fitted_at_ = model.model_, model.fitted_at_
    m._learned()
    with pytest.warns(winback.WinbackDataWarning, match="with data up to 2011-12-09"):
        m.feedback(table, late, outcomes=str(path))
    assert len(m.model_.to_json()) > len(model.model_.to_json())  # the wave is in the model


def test_the_gains_stop_point_sits_inside_a_group_cut_short(model):
    import matplotlib

    matplotlib.use("Agg")
    table = pacsv.read_csv(RETAIL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", winback.WinbackDataWarning)
        plan = model.plan(table, AT, objective="profit", cost_per_contact=2, margin=0.3, budget=500)
    cut = plan["cut_short"]
    assert cut is not None
    ax = winback.plot.gains(plan)
    x, y = ax.collections[-1].get_offsets()[0]
    total = sum(s["size"] for s in plan["steps"]) + sum(k["customers"] for k in plan["skipped"] if k["group"] != cut["group"])
    assert x == pytest.approx(plan["contacts"] / total, rel=1e-9)
    point = [g for g in plan["gains"] if g["group"] == cut["group"]][0]
    assert x < point["contact_share"] and y < point["winback_share"]


def test_strict_covers_the_attribute_table(tmp_path):
    # strict=True refused bad transaction rows but let a short attribute row through.
    tx = pd.DataFrame({"customer_id": [1, 1, 2, 2], "date": ["2024-01-05", "2024-03-01", "2024-02-01", "2024-02-20"],
                       "amount": [10.0, 12.0, 8.0, 9.0]})
    attrs = tmp_path / "attrs.csv"
    attrs.write_text("customer_id,age,region\n1,34,North\n2,41\n")
    with pytest.raises(winback.WinbackDataError, match="strict mode refuses 1 rows with another field count"):
        winback.read_history(tx, strict=True, attributes=str(attrs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = winback.read_history(tx, attributes=str(attrs))
    assert json.loads(h.attributes_report_json)["malformed"] == 1
