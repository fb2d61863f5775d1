"""Issue 9: bad input from Python never panics, never silently drops rows, and
every error derives from winback.WinbackError."""
import datetime as dt
import json
import re
import sys
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


def test_categorical_ids_come_back_in_their_values_type():
    # A pandas "category" of integer ids (an Arrow dictionary of int64) came back as
    # text ("1"), so a merge on the caller's frame found no row.
    df = small()
    cat = df.assign(customer_id=df["customer_id"].astype("category"))
    text = df.assign(customer_id=df["customer_id"].astype(str).astype("category"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f_cat = winback.features(cat, at="2024-04-01", lapse_days=30)
        f_text = winback.features(text, at="2024-04-01", lapse_days=30)
        m = winback.WinbackModel(lapse_days=30, horizon_days=14, min_history_days=7, training_cutoffs=1, groups=2).fit(cat, at="2024-03-01")
        scores = m.score(cat, at="2024-04-01")
    assert f_cat["customer_id"].dtype == np.int64 and f_cat["customer_id"].tolist() == [1, 2, 3, 4]
    assert f_text["customer_id"].tolist() == ["1", "2", "3", "4"]  # text categories stay text
    assert scores["customer_id"].dtype == np.int64
    assert len(df.merge(scores[["customer_id", "group"]], on="customer_id")) == int(df["customer_id"].isin(scores["customer_id"]).sum()) > 0


def test_dates_of_every_kind_and_bounded_threads():
    df = small()
    want = winback.lapse_threshold(df, at="2024-04-01", lapse_days=30)
    assert want["cutoff"] == "2024-04-01"  # a date as text, never a day number (19814)
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
    assert one["rows"][0]["cutoff"] == "2011-10-01"  # as training_cutoffs_, not the day number 15248
    default = m.backtest(retail_table, at=AT)
    # Three cutoffs one horizon (60 days) apart, the latest one horizon before `at`, oldest first.
    assert [r["cutoff"] for r in default["rows"]] == ["2011-06-13", "2011-08-12", "2011-10-11"] == sorted(m.training_cutoffs_)


def test_feedback_records_a_wave_once(retail_table):
    m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    scores = m.score(retail_table, at=AT)
    first = scores[scores["group"] == 1].head(20)
    outcomes = pd.DataFrame({"customer_id": first["customer_id"], "contacted": 1, "came_back": [i % 3 == 0 for i in range(len(first))]})
    before = m._groups[0]["probability"]
    plan = m.feedback(retail_table, at=AT, outcomes=outcomes, source="wave1.csv")
    assert m._groups[0]["probability"] != before
    assert len(m.waves_) == 1 and len(m.waves_[0]["contacted"]) == 20
    assert m.waves_[0]["at"] == AT  # the wave's date as text, not the day number 15318
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
    assert isinstance(m.groups_, pd.DataFrame) and list(m.groups_.columns) == ["id", "size", "share", "came_back", "probability", "low", "high", "order_score", "pooled", "rule"]
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
    # The message names the file, as the CLI's does (not "<json>").
    with pytest.raises(winback.WinbackDataError, match=rf"^{re.escape(str(path))}: invalid model file: field `schema.features\[9\].source`"):
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


def test_model_files_are_named_by_their_path_in_errors(tmp_path):
    # A bad file read by load() is named by its path, as the CLI names it, never "<json>".
    not_json = tmp_path / "bad.json"
    not_json.write_text("{oops")
    for cls in (winback.WinbackModel, winback.UpliftModel):
        for path in (str(not_json), not_json):
            with pytest.raises(winback.WinbackDataError) as e:
                cls.load(path)
            assert str(e.value) == f"{not_json}: not a winback model file: key must be a string at line 1 column 2"
    other_version = tmp_path / "v99.json"
    other_version.write_text(json.dumps({"format_version": 99}))
    with pytest.raises(winback.WinbackDataError) as e:
        winback.WinbackModel.load(str(other_version))
    assert str(e.value) == (f"{other_version}: model file format version 99 is not supported "
                            "(this build reads versions 2 to 5; refit the model with this version)")


def test_unknown_keywords_name_the_function_called():
    # A misspelt keyword named read_history() in a TypeError; now a WinbackParamError
    # names the function called and the keywords it takes, as plan() does.
    df = small()
    read_keys = ["customer_id_col", "datetime_col", "monetary_value_col", "quantity_col", "order_id_col", "channel_col",
                 "category_col", "region_col", "cancelled_col", "date_format", "time_zone", "strict", "attributes",
                 "attributes_key", "n_threads", "skip_zero_amounts", "progress", "drop_duplicates", "only_before"]
    calls = [
        (lambda: winback.lapse_threshold(df, at="2024-04-01", lapse_dayz=30), "lapse_threshold", ["lapse_dayz"],
         ["at", "lapse_days", "quantile"]),
        (lambda: winback.features(df, at="2024-04-01", customer_col="customer_id", lapse_dayz=30), "features",
         ["customer_col", "lapse_dayz"], ["at", "lapse_days", "quantile", "all", "output"]),
        (lambda: winback.bgnbd(df, at="2024-04-01", date_col="date"), "bgnbd", ["date_col"], ["at"]),
    ]
    for call, name, unknown, own in calls:
        with pytest.raises(winback.WinbackParamError) as e:
            call()
        assert str(e.value) == f"{name}(): unknown keyword(s) {unknown}; known: {own + read_keys}"
    # The keywords read_history takes still pass through.
    assert winback.lapse_threshold(df, at="2024-04-01", lapse_days=30, customer_id_col="customer_id", strict=True)["lapsed"] == 4


def _records(call):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        call()
    return [x for x in w if issubclass(x.category, winback.WinbackDataWarning)]


def test_warnings_point_at_the_callers_line(retail_table):
    # Issue: a WinbackDataWarning was reported at winback/__init__.py (`h = read_history(...)`);
    # every entry point that reads a table warns at the caller's line. The Online Retail
    # sample has rows without a customer id (skipped: one warning per read).
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    assert [(x.filename, x.lineno) for x in w] == [(__file__, line)]
    scores = m.score(retail_table, at=AT)
    first = scores[scores["group"] == 1].head(5)
    outcomes = pd.DataFrame({"customer_id": first["customer_id"], "contacted": 1, "came_back": [1, 0, 0, 1, 0]})
    dup = pd.DataFrame({"customer_id": [1, 1, 2], "age": [30, 31, 40]})
    calls = {
        "read_history": lambda: winback.read_history(retail_table, **COLUMNS),
        "lapse_threshold": lambda: winback.lapse_threshold(retail_table, at=AT, **COLUMNS),
        "features": lambda: winback.features(retail_table, at=AT, **COLUMNS),
        "bgnbd": lambda: winback.bgnbd(retail_table, at=AT, **COLUMNS),
        "fit": lambda: winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT),
        "score": lambda: m.score(retail_table, at=AT),
        "profile": lambda: m.profile(retail_table, at=AT),
        "predict_proba": lambda: m.predict_proba(retail_table, at=AT),
        "assign": lambda: m.assign(retail_table, at=AT),
        "plan": lambda: m.plan(retail_table, at=AT),
        "contact_list": lambda: m.contact_list(retail_table, at=AT),
        "backtest": lambda: m.backtest(retail_table, at=AT, cutoffs="2011-10-01"),
        "feedback": lambda: m.feedback(retail_table, at=AT, outcomes=outcomes),
        # Attribute keys repeated: the attributes warning.
        "read_history(attributes=)": lambda: winback.read_history(small(), attributes=dup),
        "features(attributes=)": lambda: winback.features(small(), at="2024-04-01", lapse_days=30, attributes=dup),
    }
    for name, call in calls.items():
        got = _records(call)
        assert got, name
        assert [x.filename for x in got] == [__file__] * len(got), (name, [(x.filename, x.lineno) for x in got])


def test_group_share_warnings_point_at_the_callers_line(retail_table):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
    # Scored far from the fitting date, a group holds more than the maximum share.
    for call in (lambda: m.score(retail_table, at="2011-06-01"), lambda: m.plan(retail_table, at="2011-06-01"),
                 lambda: m.profile(retail_table, at="2011-06-01"), lambda: m.contact_list(retail_table, at="2011-06-01")):
        got = [x for x in _records(call) if "above the maximum share" in str(x.message)]
        assert got and [x.filename for x in got] == [__file__] * len(got), [(x.filename, x.lineno) for x in got]


class _RecordingModel:
    """Stands for the native model: records what feedback() is given."""

    def __init__(self, model):
        self.model = model
        self.calls = []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def feedback(self, history, at, outcomes_csv, source, params, threads=None):
        self.calls.append(outcomes_csv)
        return self.model.feedback(history, at, outcomes_csv, source, params, threads=threads)


def test_empty_outcomes_go_to_rust_unchanged(retail_table):
    # No special case in Python: an empty outcomes table reaches the Rust reader as its
    # header alone (the Rust facade decides whether an empty wave is refused).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT)
        rec = m.model_ = _RecordingModel(m.model_)
        empty = pd.DataFrame({"customer_id": pd.Series([], dtype=str), "contacted": pd.Series([], dtype="int64"),
                              "came_back": pd.Series([], dtype="int64")})
        try:
            m.feedback(retail_table, at=AT, outcomes=empty)
        except winback.WinbackDataError:
            pass  # once the facade refuses empty outcomes
    assert rec.calls == ['"customer_id","contacted","came_back"\n']


def test_wrong_arguments_and_missing_files_are_winback_errors(tmp_path):
    # Issue 9's promise, found broken in a review: a number for the data raised a bare
    # TypeError, a missing or directory model file a bare FileNotFoundError/IsADirectoryError.
    with pytest.raises(winback.WinbackTypeError, match="got int") as e:
        winback.features(42, at="2024-04-01")
    assert isinstance(e.value, TypeError) and isinstance(e.value, winback.WinbackError)
    for path in (tmp_path / "nope.json", tmp_path):
        for cls in (winback.WinbackModel, winback.UpliftModel):
            with pytest.raises(winback.WinbackDataError, match=re.escape(f"cannot read {path}")):
                cls.load(path)
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b"{\xe9}")
    with pytest.raises(winback.WinbackDataError, match="cannot read"):
        winback.WinbackModel.load(bad)


def test_a_placeholder_date_is_flagged():
    # Found in a review: a line dated 0001-01-01 is a valid date, read as a purchase,
    # and every tenure and gap of its customer is off by two thousand years.
    df = small()
    df.loc[0, "date"] = "0001-01-01"
    with pytest.warns(winback.WinbackDataWarning, match=r"dates span 0001-01-01 to 2024-03-01: a placeholder date"):
        h = winback.read_history(df)
    assert json.loads(h.report_json)["dates"] == ["0001-01-01", "2024-03-01"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert json.loads(winback.read_history(small()).report_json)["dates"] == ["2024-01-02", "2024-03-01"]


def test_reading_keywords_on_a_read_history_are_refused_not_ignored():
    # Found in a review: features(history, datetime_col="zzz") ignored the keyword.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = winback.read_history(small())
        with pytest.raises(winback.WinbackParamError, match=r"features\(\): \['datetime_col'\] apply when reading"):
            winback.features(h, at="2024-04-01", datetime_col="zzz")
        with pytest.raises(winback.WinbackParamError, match=r"lapse_threshold\(\): \['strict'\] apply when reading"):
            winback.lapse_threshold(h, at="2024-04-01", strict=True)
        # n_threads is about the call, not the reading: allowed.
        assert len(winback.features(h, at="2024-04-01", lapse_days=30, n_threads=1)) == 4
    assert isinstance(winback.__version__, str) and winback.__version__[0].isdigit()


def test_strict_errors_on_a_frame_name_the_row_and_its_index():
    # Found in a review: "<dataframe>, line 2" for iloc[1] whose index label was 200,
    # and a NaN amount shown as (value "").
    df = pd.DataFrame({"customer_id": [1, 2, 3], "date": ["2024-01-01", "2024-01-02", "bad"],
                       "amount": [1.0, np.nan, 3.0]}, index=[100, 200, 300])
    with pytest.raises(winback.WinbackDataError, match=re.escape("<dataframe>, row 2 (iloc[1], index 200), column `amount`: ")) as e:
        winback.read_history(df, strict=True)
    assert str(e.value).endswith("(value missing)")
    with pytest.raises(winback.WinbackDataError, match=re.escape("row 2 (iloc[1], index 300), column `date`: unparseable date (value \"bad\")")):
        winback.read_history(df.iloc[[0, 2]], strict=True)
    twice = pd.DataFrame({"customer_id": [1, 1], "date": ["2024-01-01"] * 2, "amount": [1.0, 1.0]})
    with pytest.raises(winback.WinbackDataError, match=re.escape("<dataframe>, row 2 (iloc[1], index 1): exact duplicate of row 1")):
        winback.read_history(twice, strict=True, drop_duplicates=True)


def test_ids_written_as_floats_beside_integers_are_flagged(tmp_path):
    # Found in a review: "17850.0" on some rows and "17850" on others (a float
    # column exported as text) made two customers without a word.
    f = tmp_path / "ids.csv"
    f.write_text("customer_id,date,amount\n17850,2024-01-05,20\n17850.0,2024-02-01,7.5\n12,2024-01-07,3\n")
    with pytest.warns(winback.WinbackDataWarning, match=r"1 customer ids are another id with a decimal zero added \(17850.0\)"):
        h = winback.read_history(str(f))
    assert h.num_customers() == 3 and json.loads(h.report_json)["float_twins"] == ["17850.0"]
