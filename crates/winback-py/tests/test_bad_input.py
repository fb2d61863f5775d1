"""Issue 9: bad input from Python never panics, never silently drops rows, and
every error derives from winback.WinbackError."""
import datetime as dt
import json
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import winback
from conftest import AT, COLUMNS


def small():
    return pd.DataFrame({
        "customer_id": [1, 1, 2, 2, 3, 3, 4],
        "date": ["2024-01-05", "2024-02-04", "2024-01-10", "2024-03-01", "2024-01-02", "2024-01-20", "2024-02-01"],
        "amount": [20.0, 30.0, 15.0, 5.0, 9.0, 4.0, 7.0],
    })


def test_load_report_is_shown(retail_table):
    # 2.5: amounts written "1,234.50" used to drop rows without a word.
    df = retail_table.to_pandas()
    df["amount"] = df["amount"].astype(object)
    bad = df.index[: len(df) // 20]
    df.loc[bad, "amount"] = df.loc[bad, "amount"].map(lambda v: f"{v:,.2f}" if abs(v) >= 1000 else v)
    # Rows without a customer id are counted as missing_id first.
    n_bad = int((df.loc[bad, "amount"].map(lambda v: isinstance(v, str) and "," in v) & (df.loc[bad, "customer_id"].fillna("") != "")).sum())
    assert n_bad > 0
    m = winback.WinbackModel(**COLUMNS)
    with pytest.warns(winback.WinbackDataWarning, match=r"rows skipped \(.*\d+ bad_amount"):
        m.fit(df, at=AT)
    assert dict(m.load_report_["skipped"])["bad_amount"] == n_bad
    assert m.load_report_["rows_read"] == len(df)


def test_ids_come_back_in_their_type():
    # 2.6: float64 ids (an int column with a missing value) gave "12346.0"; NaN became a customer "NaN".
    df = small()
    m = winback.WinbackModel(lapse_days=30, horizon_days=14, min_history_days=7, training_cutoffs=1, groups=2)
    scores_int = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f_int = winback.features(df, at="2024-04-01", lapse_days=30)
        assert f_int["customer_id"].dtype == np.int64
        df_float = pd.concat([df, pd.DataFrame({"customer_id": [np.nan], "date": ["2024-01-07"], "amount": [3.0]})], ignore_index=True)
        assert df_float["customer_id"].dtype == np.float64
        with pytest.warns(winback.WinbackDataWarning, match="1 missing_id"):
            f_float = winback.features(df_float, at="2024-04-01", lapse_days=30)
    assert f_float["customer_id"].tolist() == f_int["customer_id"].tolist() == [1, 2, 3, 4]
    assert f_float["customer_id"].dtype == np.int64
    # The score table joins back to the caller's frame.
    joined = df.merge(f_float[["customer_id", "recency_days"]], on="customer_id")
    assert len(joined) == len(df)
    del m, scores_int


def test_dates_of_every_kind_and_bounded_threads():
    df = small()
    want = winback.lapse_threshold(df, at="2024-04-01", lapse_days=30)
    for at in (dt.date(2024, 4, 1), dt.datetime(2024, 4, 1, 15, 30), pd.Timestamp("2024-04-01"), np.datetime64("2024-04-01")):
        assert winback.lapse_threshold(df, at=at, lapse_days=30) == want
    # 2.8: n_threads=10000 hung, -1 raised OverflowError.
    for n in (10_000, -1, 0):
        with pytest.raises(winback.WinbackParamError, match="n_threads must be between 1 and 1024"):
            winback.read_history(df, n_threads=n)
    with pytest.raises(winback.WinbackParamError, match="groups must be between 2 and 10000, got -1"):
        winback.WinbackModel(groups=-1).fit(df, at="2024-04-01")
    with pytest.raises(winback.WinbackParamError, match="at must be a date"):
        winback.lapse_threshold(df, at=20240401)


def test_backtest_cutoffs_may_be_one_date_or_default(retail_table):
    m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    one = m.backtest(retail_table, at=AT, cutoffs="2011-10-01")
    assert len(one["rows"]) == 1
    default = m.backtest(retail_table, at=AT)
    assert [r["cutoff"] for r in default["rows"]] == [sorted(r["cutoff"] for r in default["rows"])][0]
    assert len(default["rows"]) >= 1


def test_feedback_records_a_wave_once(retail_table):
    m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    scores = m.score(retail_table, at=AT)
    first = scores[scores["group"] == 1].head(20)
    outcomes = pd.DataFrame({"customer_id": first["customer_id"], "contacted": 1, "came_back": [i % 3 == 0 for i in range(len(first))]})
    before = m._groups[0]["probability"]
    plan = m.feedback(retail_table, at=AT, outcomes=outcomes, source="wave1.csv")
    assert m._groups[0]["probability"] != before
    assert len(m.waves_) == 1 and len(m.waves_[0]["contacted"]) == 20
    assert not set(plan.contacts["customer_id"]) & set(first["customer_id"])
    assert len(plan.contacts) == len(scores) - 20
    with pytest.raises(winback.WinbackDataError, match="already recorded into the model"):
        m.feedback(retail_table, at=AT, outcomes=outcomes, source="again.csv")
    # Per-group counts above what is left are refused.
    with pytest.raises(winback.WinbackDataError, match="are left after the recorded waves"):
        m.feedback(retail_table, at=AT, outcomes=pd.DataFrame({"group": [1], "contacted": [100_000], "came_back": [1]}))


def test_plan_tables(retail_table):
    m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    plan = m.plan(retail_table, at=AT, objective="profit", cost_per_contact=2.0, margin=0.3, target_winbacks=200)
    assert isinstance(plan.steps, pd.DataFrame) and len(plan.steps) == len(plan["steps"])
    assert isinstance(plan.summary, pd.DataFrame) and plan.summary["contacts"].iloc[0] == plan["contacts"]
    assert isinstance(plan.gains, pd.DataFrame) and isinstance(plan.skipped, pd.DataFrame)
    assert isinstance(m.groups_, pd.DataFrame) and list(m.groups_.columns) == ["id", "size", "share", "came_back", "probability", "low", "high", "rule"]
    with pytest.raises(winback.WinbackParamError, match="unknown plan parameter"):
        m.plan(retail_table, at=AT, budjet=10)
    with pytest.raises(winback.WinbackParamError, match="roi"):
        m.plan(retail_table, at=AT, objective="roi")


def test_a_tampered_model_is_refused_not_a_panic(retail_table, tmp_path):
    # 2.1/2.2: an empty `windows` list panicked; a probability of 2 was scored.
    m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    path = tmp_path / "m.json"
    m.save(str(path))
    v = json.loads(path.read_text())
    v["config"]["features"]["windows"] = []
    path.write_text(json.dumps(v))
    with pytest.raises(winback.WinbackDataError, match=r"invalid model file: field `schema.features\[9\].source`"):
        winback.WinbackModel.load(str(path))
    v = json.loads(m.model_.to_json())
    v["segmentation"]["groups"][0]["probability"] = 2.0
    path.write_text(json.dumps(v))
    with pytest.raises(winback.WinbackError, match=r"segmentation.groups\[0\].probability"):
        winback.WinbackModel.load(str(path))


def test_parquet_timestamps_with_a_zone_take_the_local_day(tmp_path):
    # 2.7: timestamp('s', tz='Asia/Tokyo'): the local day whatever the unit and the path (table or Parquet file).
    import pyarrow.parquet as pq

    # 2024-03-01 23:30 UTC is 2024-03-02 08:30 in Tokyo.
    instants = pa.array([1709335800, 1709335800 - 86400 * 40], pa.timestamp("s", tz="Asia/Tokyo"))
    days = []
    for unit in ("s", "ms", "us", "ns"):
        t = pa.table({"customer_id": ["a", "a"], "date": instants.cast(pa.timestamp(unit, tz="Asia/Tokyo")), "amount": [1.0, 2.0]})
        days.append(winback.features(t, at="2024-03-03", lapse_days=1)["recency_days"].tolist())
        f = tmp_path / f"{unit}.parquet"
        pq.write_table(t, f)
        days.append(winback.features(pq.read_table(f), at="2024-03-03", lapse_days=1)["recency_days"].tolist())
    assert days == [[1.0]] * 8


def test_identical_lines_are_kept_unless_dropping_is_asked():
    # Two lines equal in every mapped column (two products of one order with the
    # same price, say): kept and counted by default, skipped with drop_duplicates.
    df = pd.DataFrame({"customer_id": [1, 1, 1, 2], "date": ["2024-01-05", "2024-01-05", "2024-02-01", "2024-01-09"],
                       "amount": [10.0, 10.0, 5.0, 7.0]})
    cols = dict(customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    kept = json.loads(winback.read_history(df, **cols).report_json)
    assert (kept["rows_used"], kept["identical_lines"], kept["skipped"]) == (4, 1, [])
    with pytest.warns(winback.WinbackDataWarning, match=r"1 duplicate"):
        dropped = json.loads(winback.read_history(df, drop_duplicates=True, **cols).report_json)
    assert (dropped["rows_used"], dropped["identical_lines"], dict(dropped["skipped"])) == (3, 0, {"duplicate": 1})
    # The model carries the option (scikit-learn parameters, and into its reads).
    m = winback.WinbackModel(drop_duplicates=True, **cols)
    assert m.get_params()["drop_duplicates"] is True
    with pytest.warns(winback.WinbackDataWarning):
        m._history(df)
    assert dict(m.load_report_["skipped"]) == {"duplicate": 1}
    f = winback.features(df, at="2024-03-01", all=True, **cols)
    assert f.loc[f["customer_id"] == 1, "spend_total"].item() == 25.0
