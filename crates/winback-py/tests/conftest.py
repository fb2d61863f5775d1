import pathlib

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
RETAIL = ROOT / "datasets" / "online_retail_invoices.csv.gz"
COLUMNS = dict(datetime_col="invoice_date", order_id_col="invoice_no", region_col="country",
               cancelled_col="is_cancellation", quantity_col="quantity")
AT = "2011-12-10"


@pytest.fixture(scope="session")
def retail_table() -> pa.Table:
    return pacsv.read_csv(RETAIL, convert_options=pacsv.ConvertOptions(column_types={"customer_id": pa.string(), "invoice_no": pa.string()}))


class StreamOnly:
    """An object that only has __arrow_c_stream__ (like a DuckDB result)."""

    def __init__(self, table: pa.Table):
        self._t = table

    def __arrow_c_stream__(self, requested_schema=None):
        return self._t.__arrow_c_stream__(requested_schema)


@pytest.fixture(params=["pyarrow", "polars", "pandas", "stream"])
def retail(request, retail_table):
    kind = request.param
    if kind == "pyarrow":
        return retail_table
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(retail_table)
    if kind == "pandas":
        return retail_table.to_pandas()
    return StreamOnly(retail_table)
