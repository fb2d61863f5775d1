"""Lapse threshold and features (winback-core through the binding)."""
import pandas as pd

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
