"""winback.spark gives the single-machine numbers to the bit: features, model file,
scores and plan, on the bundled samples, in Spark local[2] with the rows shuffled
over several partitions. Spark must start: these tests fail (never skip) unless
WINBACK_SKIP_SPARK=1 is set (README, "On a Spark cluster")."""
import json
import os
import sys
import warnings

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import winback
from winback import spark as wbs
from conftest import AT, ROOT

if os.environ.get("WINBACK_SKIP_SPARK") == "1":
    pytest.skip("WINBACK_SKIP_SPARK=1: Spark tests turned off", allow_module_level=True)

RETAIL_COLS = dict(customer_id_col="customer_id", datetime_col="invoice_date", monetary_value_col="amount",
                   quantity_col="quantity", order_id_col="invoice_no", region_col="country", cancelled_col="is_cancellation")
CJ_COLS = dict(customer_id_col="household_id", datetime_col="date", monetary_value_col="sales_value", quantity_col="quantity",
               order_id_col="basket_id", category_col="department", region_col="store_id")


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    s = (SparkSession.builder.master("local[2]").appName("winback-tests")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
         .config("spark.pyspark.python", sys.executable).getOrCreate())
    yield s
    s.stop()


def shuffled(spark, table: pa.Table, seed: int = 7):
    from pyspark.sql.functions import rand

    return spark.createDataFrame(table).orderBy(rand(seed)).repartition(5)


@pytest.fixture(scope="module")
def retail():
    return pacsv.read_csv(ROOT / "datasets" / "online_retail_invoices.csv.gz")


def by_id(df):
    return df.sort_values("customer_id").reset_index(drop=True)


def test_features_model_scores_and_plan_are_the_single_machine_ones(spark, retail):
    warnings.simplefilter("ignore", winback.WinbackDataWarning)
    sdf = shuffled(spark, retail)
    assert sdf.rdd.getNumPartitions() >= 4

    f_spark = by_id(wbs.features(sdf, AT, partitions=4, **RETAIL_COLS).toPandas())
    f_one = by_id(winback.features(retail, AT, **RETAIL_COLS))
    assert len(f_one) > 1000
    assert list(f_spark.columns) == list(f_one.columns)
    assert f_spark["customer_id"].dtype == f_one["customer_id"].dtype == "int64"
    assert f_spark.equals(f_one)

    one = winback.WinbackModel(**RETAIL_COLS).fit(retail, AT)
    sharded = wbs.fit(winback.WinbackModel(**RETAIL_COLS), sdf, AT, partitions=4)
    assert sharded.model_.to_json() == one.model_.to_json()
    # Every count of the load report adds up over partitions to the single machine's.
    assert {k: v for k, v in sharded.load_report_.items() if k != "source"} == \
        {k: v for k, v in one.load_report_.items() if k != "source"}
    assert sharded.load_report_["customers"] > 1000 and sharded.load_report_["purchases"] > sharded.load_report_["customers"]

    s_spark = by_id(wbs.score(sharded, sdf, AT, partitions=4).toPandas())
    s_one = by_id(one.score(retail, AT))
    s_one["group"] = s_one["group"].astype("int64")
    assert s_spark.equals(s_one)

    params = dict(objective="profit", cost_per_contact=1.0, margin=0.3, target_winbacks=150, control_share=0.1)
    plan, contacts = wbs.plan(sharded, sdf, AT, partitions=4, **params)
    plan_one = one.plan(retail, AT, **params)
    assert plan._data == plan_one._data
    c_spark = contacts.toPandas()
    c_one = plan_one.contacts
    assert len(c_spark) == len(c_one) > 0
    assert c_spark["customer_id"].tolist() == c_one["customer_id"].tolist()
    assert c_spark["arm"].tolist() == c_one["arm"].tolist()
    # The Plan's own table comes in the model's output type.
    sharded.output = "polars"
    plan_pl, _ = wbs.plan(sharded, sdf, AT, partitions=4, **params)
    assert type(plan_pl.contacts).__module__.startswith("polars")
    assert plan_pl.contacts["customer_id"].to_list() == c_one["customer_id"].tolist()


def test_customers_with_only_zero_amounts_are_listed_as_on_one_machine(spark, retail):
    # With zero amounts skipped, customers 900001 and 900002 have no purchase; one
    # partition may hold nothing else (its rows all skipped): both are still listed.
    warnings.simplefilter("ignore", winback.WinbackDataWarning)
    extra = pa.table({c: pa.array([retail[c][0].as_py()] * 3, retail.schema.field(c).type) for c in retail.column_names})
    extra = extra.set_column(extra.column_names.index("customer_id"), "customer_id",
                             pa.array([900001, 900002, 900002], retail.schema.field("customer_id").type))
    extra = extra.set_column(extra.column_names.index("amount"), "amount", pa.array([0.0, 0.0, 0.0], retail.schema.field("amount").type))
    data = pa.concat_tables([retail, extra])
    kw = dict(skip_zero_amounts=True, **RETAIL_COLS)
    one = winback.WinbackModel(**kw).fit(data, AT)
    assert one.load_report_["zero_amount_only"] == ["13256", "900001", "900002"]  # 13256: in the sample already
    for n in (3, 7):
        sharded = wbs.fit(winback.WinbackModel(**kw), shuffled(spark, data), AT, partitions=n)
        assert {k: v for k, v in sharded.load_report_.items() if k != "source"} == \
            {k: v for k, v in one.load_report_.items() if k != "source"}, n


def test_complete_journey_model_is_the_single_machine_one(spark):
    warnings.simplefilter("ignore", winback.WinbackDataWarning)
    table = pacsv.read_csv(ROOT / "datasets" / "completejourney_baskets.csv.gz")
    sdf = shuffled(spark, table, seed=3)
    kw = dict(horizon_days=28, **CJ_COLS)
    one = winback.WinbackModel(**kw).fit(table, "2018-01-01")
    sharded = wbs.fit(winback.WinbackModel(**kw), sdf, "2018-01-01", partitions=6)
    assert sharded.model_.to_json() == one.model_.to_json()
    assert len(sharded.groups_) >= 5


def test_a_missing_column_is_named(spark, retail):
    sdf = shuffled(spark, retail)
    with pytest.raises(winback.WinbackParamError, match="no column"):
        wbs.features(sdf, AT, **dict(RETAIL_COLS, region_col="region"))


def test_a_row_limit_fits_on_a_seeded_sample_of_customers(spark, retail):
    warnings.simplefilter("ignore", winback.WinbackDataWarning)
    sdf = shuffled(spark, retail)
    full = wbs.fit(winback.WinbackModel(**RETAIL_COLS), sdf, AT, partitions=4)
    assert full.training_sample_ is None
    expected = full.model_.to_json()
    sampled = wbs.fit(winback.WinbackModel(**RETAIL_COLS), sdf, AT, partitions=4, max_training_rows=1500)
    rows = json.loads(expected)["training_rows"] + json.loads(expected)["lapse"]["lapsed"]
    assert sampled.training_sample_ == pytest.approx(1500 / rows, rel=1e-12)
    assert 0.2 * rows < json.loads(sampled.model_.to_json())["training_rows"] < 0.4 * rows
    assert sampled.model_.to_json() != expected


def test_ids_padded_with_unicode_spaces_are_one_customer(spark):
    # The Rust loader trims Unicode whitespace; the partition key must too, or one
    # customer's lines could be grouped in two partitions.
    ids = ["C1", "\u00a0C1", "C1\u3000", "\u2003C1", "C2"] * 8
    days = [f"2024-01-{i % 28 + 1:02d}" for i in range(len(ids))]
    t = pa.table({"customer_id": ids, "date": days, "amount": [10.0] * len(ids)})
    sdf = spark.createDataFrame(t).repartition(7)
    cols = dict(customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = wbs.features(sdf, at="2024-03-01", all=True, partitions=7, **cols).toPandas()
        want = winback.features(t, at="2024-03-01", all=True, **cols)
    assert sorted(got["customer_id"]) == ["C1", "C2"]
    assert got.set_index("customer_id")["purchases"].to_dict() == want.set_index("customer_id")["purchases"].to_dict()


def test_warnings_point_at_the_callers_line(spark, retail):
    # The rows without a customer id (skipped, counted on the driver) and the group
    # shares above the maximum warn at the caller's line, not in winback/spark.py.
    sdf = shuffled(spark, retail)
    m = winback.WinbackModel(**RETAIL_COLS)
    calls = {
        "features": lambda: wbs.features(sdf, AT, partitions=4, **RETAIL_COLS),
        "fit": lambda: wbs.fit(m, sdf, AT, partitions=4),
        "score": lambda: wbs.score(m, sdf, "2011-06-01", partitions=4),
        "plan": lambda: wbs.plan(m, sdf, AT, partitions=4),
    }
    for name, call in calls.items():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            call()
        got = [x for x in w if issubclass(x.category, winback.WinbackDataWarning)]
        assert any("rows skipped" in str(x.message) for x in got), name
        assert [x.filename for x in got] == [__file__] * len(got), (name, [(x.filename, x.lineno, str(x.message)) for x in got])
        if name == "score":
            assert any("above the maximum share" in str(x.message) for x in got)


def test_a_partition_whose_rows_are_all_skipped_is_counted_not_fatal(spark):
    # Null ids all hash to one partition; with 3 partitions it held nothing else and the
    # whole job failed ("no usable purchase rows"), while one machine warns and goes on.
    cols = dict(customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    t = pa.table({"customer_id": ["a", "a", "b", "b", None, None],
                  "date": ["2024-01-05", "2024-02-05", "2024-01-10", "2024-02-10", "2024-01-11", "2024-01-12"],
                  "amount": [10.0] * 6})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = winback.features(t, "2024-03-01", all=True, **cols)[["customer_id", "purchases"]].to_dict("list")
    sdf = spark.createDataFrame(t)
    for n in (1, 2, 3, 4, 8):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = wbs.features(sdf, "2024-03-01", all=True, partitions=n, **cols).toPandas()
        assert got[["customer_id", "purchases"]].sort_values("customer_id").to_dict("list") == want, n
        assert any("2 of 6 rows skipped (2 missing_id)" in str(w.message) for w in caught), (n, [str(w.message) for w in caught])
    # Nothing usable anywhere: the single machine's error, from the driver.
    nulls = spark.createDataFrame(pa.table({"customer_id": pa.array([None, None], pa.string()), "date": ["2024-01-05"] * 2,
                                            "amount": [1.0, 2.0]}).to_pandas())
    with pytest.raises(winback.WinbackDataError, match=r"^<spark>: no usable purchase rows \(2 rows read; skipped: 2 missing_id\)$"):
        wbs.features(nulls, "2024-03-01", partitions=3, **cols)


def test_bad_arguments_are_refused_on_the_driver(spark, retail):
    sdf = shuffled(spark, retail)
    model = winback.WinbackModel(**RETAIL_COLS)
    for at in ("2011-13-45", "10/12/2011"):
        with pytest.raises(winback.WinbackParamError, match=f'^date "{at}" is not YYYY-MM-DD$'):
            wbs.features(sdf, at, **RETAIL_COLS)
    with pytest.raises(winback.WinbackParamError, match="^partitions "):
        wbs.features(sdf, AT, partitions=0, **RETAIL_COLS)
    with pytest.raises(winback.WinbackParamError, match="^winback.spark needs a Spark DataFrame, got pyarrow"):
        wbs.fit(model, retail, at=AT)


def test_column_names_with_dots_and_shared_columns(spark):
    # `cust.id` is a legal Spark column name (not a struct field); one column may serve two roles.
    t = pa.table({"cust.id": ["a", "a", "b"], "when.day": ["2024-01-05", "2024-02-05", "2024-01-10"], "amount": [10.0, 5.0, 7.0]})
    cols = dict(customer_id_col="cust.id", datetime_col="when.day", monetary_value_col="amount")
    want = winback.features(t, "2024-03-01", all=True, **cols).sort_values("customer_id").reset_index(drop=True)
    got = wbs.features(spark.createDataFrame(t.to_pandas()), "2024-03-01", all=True, partitions=2, **cols).toPandas()
    got = got.sort_values("customer_id").reset_index(drop=True)
    assert list(got["customer_id"]) == ["a", "b"] and list(got["purchases"]) == list(want["purchases"])
    shared = dict(cols, order_id_col="when.day")
    got = wbs.features(spark.createDataFrame(t.to_pandas()), "2024-03-01", all=True, **shared).toPandas()
    assert sorted(got["customer_id"]) == ["a", "b"]
    # Backticks and spaces in names (mapInArrow failed on a backtick before the columns were renamed).
    t2 = t.rename_columns(["cust`id", "when day", "amount"])
    cols2 = dict(customer_id_col="cust`id", datetime_col="when day", monetary_value_col="amount")
    got = wbs.features(spark.createDataFrame(t2.to_pandas()), "2024-03-01", all=True, partitions=2, **cols2).toPandas()
    assert got.sort_values("customer_id")["purchases"].tolist() == list(want["purchases"])


def test_whole_float_ids_leave_as_integers_as_on_one_machine(spark):
    # pandas makes integer ids with a missing value float64; one machine gives them back as int64.
    import pandas as pd

    cols = dict(customer_id_col="cust.id", datetime_col="date", monetary_value_col="amount")  # a dot in the name, too
    df = pd.DataFrame({"cust.id": [12346.0, 12346.0, 7.0, float("nan")], "date": ["2024-01-05", "2024-02-05", "2024-01-10", "2024-01-11"],
                       "amount": [10.0, 5.0, 7.0, 1.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = winback.features(df, "2024-03-01", all=True, **cols)
        got = wbs.features(spark.createDataFrame(df), "2024-03-01", all=True, partitions=2, **cols).toPandas()
    assert want["customer_id"].dtype == got["customer_id"].dtype == "int64"
    assert sorted(got["customer_id"]) == [7, 12346]
    # One id that is not whole: text on both.
    df.loc[2, "cust.id"] = 7.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = winback.features(df, "2024-03-01", all=True, **cols)
        got = wbs.features(spark.createDataFrame(df), "2024-03-01", all=True, partitions=2, **cols).toPandas()
    assert sorted(want["customer_id"]) == sorted(got["customer_id"]) == ["12346", "7.5"]


def test_review_findings_on_spark(spark, retail):
    # Found in a review, each compared with one machine.
    sdf = shuffled(spark, retail)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ms = wbs.fit(winback.WinbackModel(**RETAIL_COLS), sdf, AT, partitions=4)
        one = winback.WinbackModel(**RETAIL_COLS).fit(retail, AT)

    # Scoring and planning warn as on one machine (a date before the fitting date, the
    # group shares with what they were at the fitting date).
    def said(call):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            call()
        return sorted(str(x.message) for x in w if issubclass(x.category, winback.WinbackDataWarning) and "rows skipped" not in str(x.message))

    for name, on_spark, alone in [
        ("score", lambda: wbs.score(ms, sdf, "2011-06-01", partitions=4), lambda: one.score(retail, at="2011-06-01")),
        ("plan", lambda: wbs.plan(ms, sdf, "2011-06-01", partitions=4, target_winbacks=50),
         lambda: one.plan(retail, at="2011-06-01", target_winbacks=50)),
    ]:
        want = said(alone)
        assert any("before the model's fitting date" in x for x in want), want
        assert said(on_spark) == want, name

    # A winback error inside the tasks comes back as itself, not as Spark's exception.
    for call in (lambda: wbs.score(ms, sdf, "2009-01-01", partitions=4), lambda: wbs.plan(ms, sdf, "2009-01-01", partitions=4)):
        with pytest.raises(winback.WinbackDataError, match="^no purchase before the cutoff 2009-01-01"):
            call()

    # An empty DataFrame (no partition at all) is no usable rows, not a bad `partitions`.
    empty = sdf.limit(0)
    with pytest.raises(winback.WinbackDataError, match=r"no usable purchase rows \(0 rows read"):
        wbs.features(empty, AT, **RETAIL_COLS)

    # Two columns of one name (after a join): refused on the driver, by name.
    joined = sdf.join(sdf.select("invoice_no", "amount"), "invoice_no")
    with pytest.raises(winback.WinbackParamError, match=r"more than one column named \['amount'\]"):
        wbs.features(joined, AT, **RETAIL_COLS)
    # ... also when the repeated column is a float id, which is typed before anything else.
    ids = spark.createDataFrame(retail.select(["customer_id", "invoice_date", "amount"]).to_pandas())
    assert dict(ids.dtypes)["customer_id"] == "double"
    twice = ids.join(ids.select("customer_id"), "customer_id").crossJoin(ids.select("customer_id").limit(1))
    with pytest.raises(winback.WinbackParamError, match=r"more than one column named \['customer_id'\]"):
        wbs.features(twice, AT, customer_id_col="customer_id", datetime_col="invoice_date", monetary_value_col="amount")

    # -0.0 and 0.0 are one id to the loader, so one partition too.
    cols = dict(customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount")
    t = pa.table({"customer_id": [0.0, -0.0] * 4 + [1.0] * 4,
                  "date": ["2011-01-01", "2011-03-01", "2011-05-01", "2011-06-01"] * 2 + ["2011-01-02", "2011-01-03", "2011-01-04", "2011-01-05"],
                  "amount": [10.0] * 12})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = winback.features(t, "2011-12-10", all=True, **cols)[["customer_id", "purchases"]]
        got = wbs.features(spark.createDataFrame(t).repartition(4), "2011-12-10", all=True, partitions=4, **cols).toPandas()
    assert by_id(got[["customer_id", "purchases"]]).to_dict("list") == by_id(want).to_dict("list")
