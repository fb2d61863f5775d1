"""Customer attributes from a table, thread count, and safety after fork()."""
import multiprocessing as mp
import pathlib

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import winback
from conftest import ROOT

CJ = dict(customer_id_col="household_id", datetime_col="date", monetary_value_col="sales_value",
          order_id_col="basket_id", category_col="department", region_col="store_id", quantity_col="quantity")


@pytest.fixture(scope="module")
def cj():
    tx = pacsv.read_csv(ROOT / "datasets" / "completejourney_baskets.csv.gz",
                        convert_options=pacsv.ConvertOptions(column_types={"household_id": pa.string(), "basket_id": pa.string(), "store_id": pa.string()}))
    demo = pacsv.read_csv(ROOT / "datasets" / "completejourney_demographics.csv",
                          convert_options=pacsv.ConvertOptions(column_types={"household_id": pa.string()}))
    return tx, demo


def test_attributes_become_features(cj):
    tx, demo = cj
    h = winback.read_history(tx, attributes=demo, attributes_key="household_id", **CJ)
    assert h.num_customers() == 1200
    m = winback.WinbackModel(lapse_days=30, attributes_key="household_id", **CJ).fit(tx, at="2018-01-01", attributes=demo)
    names = m.feature_names_
    assert "attributes_missing" in names and "age=65+" in names and "kids_count=3+" in names
    scores = m.score(tx, at="2018-01-01", attributes=demo)
    assert len(scores) == 140


def test_thread_count_gives_the_same_model(cj):
    tx, _ = cj
    one = winback.WinbackModel(lapse_days=30, n_threads=1, **CJ).fit(tx, at="2018-01-01")
    two = winback.WinbackModel(lapse_days=30, n_threads=2, **CJ).fit(tx, at="2018-01-01")
    assert one.model_.to_json() == two.model_.to_json()


def _fit_in_child(q):
    tx = pacsv.read_csv(ROOT / "datasets" / "online_retail_invoices.csv.gz",
                        convert_options=pacsv.ConvertOptions(column_types={"customer_id": pa.string(), "invoice_no": pa.string()}))
    m = winback.WinbackModel(datetime_col="invoice_date", order_id_col="invoice_no").fit(tx, at="2011-12-10")
    q.put(m.lapse_days_)


def test_no_deadlock_after_fork(retail_table):
    # The parent uses the thread pool first; then a forked child must still work.
    winback.lapse_threshold(retail_table, at="2011-12-10", datetime_col="invoice_date")
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_fit_in_child, args=(q,))
    p.start()
    p.join(120)
    assert p.exitcode == 0, "child deadlocked or failed"
    assert q.get(timeout=5) == 110


def test_attribute_keys_missing_or_repeated_are_counted(cj):
    tx, demo = cj
    dup = pa.concat_tables([demo, demo.slice(0, 3)])
    with pytest.warns(winback.WinbackDataWarning, match="0 without key and 3 with a repeated key"):
        h = winback.read_history(tx, attributes=dup, attributes_key="household_id", **CJ)
    assert h.num_customers() == 1200
