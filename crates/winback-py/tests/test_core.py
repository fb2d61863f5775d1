"""Lapse threshold and features (winback-core through the binding)."""
import json

import pandas as pd
import pytest
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


def test_a_history_read_for_a_cutoff_leaves_out_the_later_rows(tmp_path, retail_table):
    """Issue 10: read_history(only_before=...) counts the rows on or after the cutoff
    (without a warning: they were asked to be left out), decodes no Parquet row group
    dated wholly after it, and gives the features of the rows before it."""
    import datetime as dt
    import warnings

    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    cut = dt.date(2011, 9, 1)
    i = retail_table.schema.get_field_index("invoice_date")
    t = retail_table.set_column(i, "invoice_date", pc.cast(retail_table["invoice_date"], pa.date32())).sort_by("invoice_date")
    # Rows with an id only (strict mode below reads them all).
    t = t.filter(pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(t["customer_id"])), 0), False))
    pq.write_table(t, tmp_path / "time.parquet", row_group_size=2000)
    before = t.filter(pc.less(t["invoice_date"], pa.scalar(cut)))
    pq.write_table(before, tmp_path / "before.parquet")
    after = t.num_rows - before.num_rows
    assert 0 < after < t.num_rows
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        h = winback.read_history(tmp_path / "time.parquet", only_before=cut, **COLUMNS)
    assert not [w for w in seen if "after_cutoff" in str(w.message)]
    report = json.loads(h.report_json)
    assert dict(report["skipped"])["after_cutoff"] == after
    assert report["rows_read"] == t.num_rows
    got = winback.features(h, at=cut.isoformat(), all=True)
    want = winback.features(tmp_path / "before.parquet", at=cut.isoformat(), all=True, **COLUMNS)
    pd.testing.assert_frame_equal(got, want)
    # Strict mode checks every row: nothing is counted as after the cutoff.
    strict = winback.read_history(tmp_path / "time.parquet", only_before="2011-09-01", strict=True, **COLUMNS)
    assert "after_cutoff" not in dict(json.loads(strict.report_json)["skipped"])
    with pytest.raises(winback.WinbackParamError):
        winback.read_history(tmp_path / "time.parquet", only_before="2011-13-01", **COLUMNS)


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
