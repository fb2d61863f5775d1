#!/usr/bin/env python3
"""Derive the small real-data samples shipped in ``datasets/``.

Usage (from the repository root)::

    python3 datasets/derive_samples.py ../shared/data

``argv[1]`` is the folder holding the public data (``completejourney/`` and
``online_retail/``); it defaults to ``../shared/data`` relative to the
repository root. Outputs are written next to this script:

* ``completejourney_baskets.csv.gz``   basket x department lines (dunnhumby)
* ``completejourney_demographics.csv`` demographics of the sampled households
* ``online_retail_invoices.csv.gz``    one row per invoice (UCI Online Retail)
* ``hillstrom_fit.csv.gz``, ``hillstrom_holdout.csv.gz``  the Hillstrom e-mail
  experiment, every customer, split in two halves at random (fit / measure)

Only the Python standard library is used. The output is deterministic:
fixed seed, sorted inputs before sampling, gzip with mtime=0 and an empty
embedded file name, ``\\n`` line endings. Re-running gives byte-identical files.
"""

import csv
import gzip
import io
import random
import sys
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

SEED = 20261122
EXTRA_HOUSEHOLDS = 399  # households without demographics added to the 801 with

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
CENT = Decimal("0.01")


def open_text(path):
    path = Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, "r", encoding="utf-8", newline="")


def money(value):
    """Round a Decimal to 2 decimals (half up) and avoid a '-0.00'."""
    q = value.quantize(CENT, rounding=ROUND_HALF_UP)
    if q == 0:
        q = Decimal("0.00")
    return format(q, "f")


def write_csv_gz(path, header, rows):
    """Write a gzip CSV deterministically (mtime=0, empty file name)."""
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            with io.TextIOWrapper(gz, encoding="utf-8", newline="") as text:
                w = csv.writer(text, lineterminator="\n")
                w.writerow(header)
                w.writerows(rows)


def write_csv(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def normalise_timestamp(s):
    """Return ISO 'YYYY-MM-DDTHH:MM:SS' for the timestamp formats seen in the source."""
    s = s.strip()
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                "%Y-%m-%d %H:%M", "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S"):
        try:
            return datetime.strptime(s, fmt).strftime("%Y-%m-%dT%H:%M:%S")
        except ValueError:
            pass
    raise ValueError(f"unrecognised timestamp: {s!r}")


def normalise_date(s):
    return datetime.strptime(s.strip()[:10], "%Y-%m-%d").strftime("%Y-%m-%d")


def normalise_bool(s):
    v = s.strip().lower()
    if v in ("true", "t", "1", "yes"):
        return "true"
    if v in ("false", "f", "0", "no", ""):
        return "false"
    raise ValueError(f"unrecognised boolean: {s!r}")


def normalise_customer_id(s):
    s = s.strip()
    if s.endswith(".0"):
        s = s[:-2]
    return s


# --------------------------------------------------------------------------
# dunnhumby The Complete Journey
# --------------------------------------------------------------------------

def derive_completejourney(src, rng):
    cj = Path(src) / "completejourney"

    with open_text(cj / "demographics.csv") as f:
        r = csv.reader(f)
        demo_header = next(r)
        demo_rows = [row for row in r]
    demo_ids = {row[0] for row in demo_rows}

    departments = {}
    with open_text(cj / "products.csv.gz") as f:
        for row in csv.DictReader(f):
            departments[row["product_id"]] = row["department"]

    # First pass: all households seen in the transactions.
    all_households = set()
    with open_text(cj / "transactions.csv.gz") as f:
        for row in csv.DictReader(f):
            all_households.add(row["household_id"])

    without_demo = sorted(all_households - demo_ids, key=int)
    n_extra = min(EXTRA_HOUSEHOLDS, len(without_demo))
    extra = rng.sample(without_demo, n_extra)
    chosen = demo_ids | set(extra)

    # Second pass: aggregate lines per (household, basket, department).
    basket_info = {}  # basket_id -> (household_id, store_id, date)
    agg = {}  # (basket_id, department) -> [sales Decimal, quantity int]
    lines = 0
    missing_dept = 0
    with open_text(cj / "transactions.csv.gz") as f:
        for row in csv.DictReader(f):
            hh = row["household_id"]
            if hh not in chosen:
                continue
            lines += 1
            basket = row["basket_id"]
            if basket not in basket_info:
                basket_info[basket] = (hh, row["store_id"], normalise_date(row["date_local"]))
            dept = departments.get(row["product_id"])
            if dept is None:
                dept = ""
                missing_dept += 1
            key = (basket, dept)
            acc = agg.get(key)
            if acc is None:
                acc = agg[key] = [Decimal(0), 0]
            acc[0] += Decimal(row["sales_value"])
            acc[1] += int(row["quantity"])

    rows = []
    for (basket, dept), (sales, qty) in agg.items():
        hh, store, date = basket_info[basket]
        rows.append((hh, basket, store, date, dept, money(sales), str(qty)))
    rows.sort(key=lambda r: (r[3], int(r[1]), r[4]))

    write_csv_gz(
        HERE / "completejourney_baskets.csv.gz",
        ["household_id", "basket_id", "store_id", "date", "department", "sales_value", "quantity"],
        rows,
    )

    demo_out = sorted((row for row in demo_rows if row[0] in chosen), key=lambda r: int(r[0]))
    write_csv(HERE / "completejourney_demographics.csv", demo_header, demo_out)

    dates = [r[3] for r in rows]
    print("completejourney_baskets.csv.gz")
    print(f"  source lines used      {lines}")
    print(f"  lines without dept     {missing_dept}")
    print(f"  rows                   {len(rows)}")
    print(f"  households             {len({r[0] for r in rows})} "
          f"({len(demo_ids)} with demographics + {n_extra} sampled of {len(without_demo)} without)")
    print(f"  baskets                {len(basket_info)}")
    print(f"  stores                 {len({r[2] for r in rows})}")
    print(f"  departments            {len({r[4] for r in rows})}")
    print(f"  date range             {min(dates)} .. {max(dates)}")
    print("completejourney_demographics.csv")
    print(f"  rows                   {len(demo_out)}")


# --------------------------------------------------------------------------
# UCI Online Retail
# --------------------------------------------------------------------------

def derive_online_retail(src):
    path = Path(src) / "online_retail" / "online_retail.csv.gz"
    inv = {}  # invoice_no -> [customer, date, amount, quantity, country, cancellation]
    lines = 0
    with open_text(path) as f:
        for row in csv.DictReader(f):
            lines += 1
            no = row["InvoiceNo"].strip()
            acc = inv.get(no)
            if acc is None:
                acc = inv[no] = [
                    normalise_customer_id(row["CustomerID"]),
                    normalise_timestamp(row["InvoiceDate"]),
                    Decimal(0),
                    0,
                    row["Country"],
                    normalise_bool(row["IsCancellation"]),
                ]
            acc[2] += Decimal(row["Amount"])
            acc[3] += int(row["Quantity"])

    rows = [
        (c, no, d, money(a), str(q), country, canc)
        for no, (c, d, a, q, country, canc) in inv.items()
    ]
    rows.sort(key=lambda r: (r[2], r[1]))

    write_csv_gz(
        HERE / "online_retail_invoices.csv.gz",
        ["customer_id", "invoice_no", "invoice_date", "amount", "quantity", "country", "is_cancellation"],
        rows,
    )

    dates = [r[2] for r in rows]
    print("online_retail_invoices.csv.gz")
    print(f"  source lines           {lines}")
    print(f"  rows (invoices)        {len(rows)}")
    print(f"  customers (with id)    {len({r[0] for r in rows if r[0]})}")
    print(f"  invoices without id    {sum(1 for r in rows if not r[0])}")
    print(f"  cancellation invoices  {sum(1 for r in rows if r[6] == 'true')}")
    print(f"  amount == 0            {sum(1 for r in rows if Decimal(r[3]) == 0)}")
    print(f"  amount < 0             {sum(1 for r in rows if Decimal(r[3]) < 0)}")
    print(f"  countries              {len({r[5] for r in rows})}")
    print(f"  date range             {min(dates)} .. {max(dates)}")


def derive_hillstrom(src):
    """Every row of the MineThatData e-mail experiment, split in two halves by a
    seeded shuffle of the customer ids: one to fit uplift groups, one to measure
    them. Values are kept as published."""
    with open_text(Path(src) / "hillstrom" / "hillstrom.csv.gz") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    body.sort(key=lambda r: int(r[0]))
    order = list(range(len(body)))
    random.Random(SEED).shuffle(order)
    half = set(order[: len(order) // 2])
    fit = [r for i, r in enumerate(body) if i in half]
    holdout = [r for i, r in enumerate(body) if i not in half]
    write_csv_gz(HERE / "hillstrom_fit.csv.gz", header, fit)
    write_csv_gz(HERE / "hillstrom_holdout.csv.gz", header, holdout)


def main(argv):
    src = Path(argv[1]) if len(argv) > 1 else REPO_ROOT / ".." / "shared" / "data"
    rng = random.Random(SEED)
    derive_completejourney(src, rng)
    derive_online_retail(src)
    derive_hillstrom(src)


if __name__ == "__main__":
    main(sys.argv)
