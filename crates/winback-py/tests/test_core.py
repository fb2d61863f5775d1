"""Lapse threshold and features (winback-core through the binding)."""
import json

import pandas as pd
import pyarrow as pa

import winback
from conftest import AT, COLUMNS


def test_lapse_threshold_matches_rust(retail):
    out = winback.lapse_threshold(retail, at=AT, **COLUMNS)
    assert out["threshold_days"] == 110
    assert out["lapsed"] == 1297 and out["customers_with_history"] == 4339
    assert dict((round(q, 2), v) for q, v in out["gaps"]["quantiles"])[0.5] == 28.0


def test_features_table(retail_table):
    f = winback.features(retail_table, at=AT, **COLUMNS)
    assert isinstance(f, pd.DataFrame)
    assert list(f.columns[:3]) == ["customer_id", "recency_days", "purchases"]
    assert len(f) == 1297
    assert f["recency_days"].min() >= 110
    assert not f.isna().any().any()


def test_docstring_example():
    tx = pd.DataFrame({"customer_id": ["a", "a", "b"], "date": ["2024-01-05", "2024-02-04", "2024-05-20"], "amount": [20.0, 30.0, 15.0]})
    assert winback.lapse_threshold(tx, at="2024-06-01", lapse_days=60)["lapsed"] == 1


def test_a_partitioned_parquet_directory_reads_like_the_table(tmp_path, retail_table):
    """Issue 10: a hive-partitioned directory (as Spark or pyarrow write it) and a pattern are one dataset."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from conftest import AT, COLUMNS

    t = retail_table.append_column("country_part", pc.utf8_slice_codeunits(retail_table["country"], 0, 1))
    ds.write_dataset(t, tmp_path / "hive", format="parquet", partitioning=["country_part"], partitioning_flavor="hive")
    (tmp_path / "hive" / "_SUCCESS").write_text("")
    want = winback.WinbackModel(**COLUMNS).fit(retail_table, at=AT).score(retail_table, at=AT)
    got = winback.WinbackModel(**COLUMNS).fit(str(tmp_path / "hive"), at=AT).score(tmp_path / "hive", at=AT)
    assert sorted(map(str, want["customer_id"])) == sorted(map(str, got["customer_id"]))
    assert sorted(want["probability"]) == sorted(got["probability"])
    h = winback.read_history(tmp_path / "hive", customer_id_col="customer_id", **{k: v for k, v in COLUMNS.items()})
    files = json.loads(h.report_json)["files"]
    assert len(files) > 1 and sum(f["rows_read"] for f in files) == retail_table.num_rows
    flat = tmp_path / "flat"
    flat.mkdir()
    pq.write_table(retail_table.slice(0, 10000), flat / "part-0.parquet")
    pq.write_table(retail_table.slice(10000), flat / "part-1.parquet")
    g = winback.read_history(str(flat / "part-*.parquet"), **COLUMNS)
    assert json.loads(g.report_json)["rows_read"] == retail_table.num_rows


def test_progress_shows_the_read_on_stderr(capsys, tmp_path):
    """Issue 10: progress=True draws percentage, rate and time left on stderr, ending at 100%."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import winback
    from conftest import RETAIL

    table = pacsv.read_csv(RETAIL)
    csv = tmp_path / "tx.csv"
    pacsv.write_csv(table, csv)
    kw = dict(datetime_col="invoice_date", order_id_col="invoice_no")
    for data in (str(csv), table):
        h = winback.read_history(data, progress=True, **kw)
        err = capsys.readouterr().err
        lines = [s for s in err.replace("\n", "\r").split("\r") if s]
        # The read ends at 100%, then the grouping of its lines into purchases does.
        last = [s for s in lines if s.startswith("reading ")][-1]
        assert "100.0%" in last and "ETA 0 s" in last, repr(last)
        assert lines[-1].startswith("grouping lines into purchases: 100.0%") and "ETA 0 s" in lines[-1], repr(lines[-1])
        assert h.num_customers() == winback.read_history(data, **kw).num_customers()
    assert "rows" in last and f"{table.num_rows:,} rows of {table.num_rows:,} rows" in last
    # Off by default: nothing on stderr but warnings.
    winback.read_history(table, **kw)
    assert "reading" not in capsys.readouterr().err
    m = winback.WinbackModel(progress=True, **kw)
    assert m.get_params()["progress"] is True


def test_category_columns_read_like_text(retail_table):
    """Issue 10: a region column as pandas `category` (an Arrow dictionary, read entry by
    entry) gives the feature table the text column gives, including a category no row
    uses, a missing value, and a blank that is no value."""
    df = retail_table.to_pandas()
    df.loc[df.index[:3], "country"] = None
    df.loc[df.index[3:5], "country"] = " "
    as_text = winback.features(df, at=AT, **COLUMNS)
    cat = df.assign(country=df["country"].astype(pd.CategoricalDtype(sorted(set(df["country"].dropna())) + ["Nowhere"])))
    assert isinstance(pa.Table.from_pandas(cat).schema.field("country").type, pa.DictionaryType)
    as_cat = winback.features(cat, at=AT, **COLUMNS)
    pd.testing.assert_frame_equal(as_cat, as_text)
    assert not any("Nowhere" in c for c in as_cat.columns)
