#!/usr/bin/env python3
"""winback vs DuckDB vs polars: loading a purchase file and computing per-customer
features at a cutoff, on the same synthetic data.

What is measured, per file size (lines) and format (CSV, Parquet/Snappy):
  * winback: `target/release/examples/features FILE 2023-07-01` (load, group lines
    into purchases, lapse threshold, ~45 features per customer);
  * winback-cli: the user's command, `target/release/winback features --transactions
    FILE --at 2023-07-01 --all` with the column flags and `-o FILE.parquet -q --json`
    (the program on mimalloc; the table of 49 columns, id and 48 features, written
    as Parquet; no lapse figures printed, so its lapse columns show "–");
  * winback-cli-pgo: the same command with the profile-guided build of the
    program, `target/pgo/release/winback` (`bash scripts/pgo_build.sh`, trained on
    the bundled samples and the generator's 1M-line logs, not on the files timed);
  * DuckDB (threads = all cores) and polars (lazy, streaming engine) running the
    equivalent aggregation: lines with date < cutoff -> purchases (one per
    (customer_id, order_id): earliest date, sum of positive / of negative amounts)
    -> per customer: purchases, first/last purchase, recency, tenure, total/mean
    spend, returned value, purchases and net spend in the last 90/180/365 days,
    mean and population sd of the gaps between consecutive distinct purchase days,
    distinct categories, top category's share of value, purchases per channel,
    main region; plus the 0.9 quantile of all gaps (the lapse threshold).
    The result is materialised (a DuckDB table, a polars DataFrame).
Each run is its own process, started by a fresh wrapper process that reports the
wall time and its child's peak RSS (getrusage(RUSAGE_CHILDREN).ru_maxrss). The
table gives the best wall time of --repeat runs and the largest peak RSS; the
1-minute load average before each run is recorded (the machine may be shared).
The engines take turns, so each round's runs are seconds apart: "paired ÷ DuckDB"
is the median (and range) of each round's wall time over DuckDB's in the same
round, which a slow minute moves less than the ratio of the two best times.
Every other round runs the engines in reverse order, so that no engine always
follows the same one: on a VM whose balloon hands freed memory back to the host,
a process finds the memory its predecessor just freed quick to touch and the
rest slow, and with a fixed order DuckDB (~800 MB) always followed winback
(~300 MB) and met more cold memory.
As a fidelity check every engine reports customers with a purchase before the
cutoff, the lapse threshold and the number of lapsed customers.

Row order: `--layouts time customer random` (default all three): the generator
writes each layout (time order = sorted by date, as warehouses and point-of-sale
exports write logs; customer order; seeded shuffle), and the Parquet copy keeps
the row order.

Real purchase logs: `--real completejourney online_retail` runs the same engines on
the real data sets in ../shared/data instead of the generator's logs, each turned
once (with DuckDB) into the benchmark's columns, rows in the order the export has
them (time order, as warehouses write), ids as they are (integers), CSV and
Parquet: dunnhumby Complete Journey (household_id, basket_id, date_local,
sales_value, quantity, store_id as region, the product's department as category,
channel "store"; cutoff 2017-10-01) and UCI Online Retail (lines with a CustomerID
only; InvoiceNo, InvoiceDate's day, Amount, Quantity, Country as region, StockCode
as category, channel "online"; cutoff 2011-09-01).

Run (no cargo: the `generate` and `features` examples and the program must already be
built, `cargo build --release -p winback-core --examples --features parquet` and
`cargo build --release -p winback-cli`; `--engines winback duckdb polars` leaves the
program out):
    python3 benches/compare_duckdb.py --lines 1000000 10000000
    python3 benches/compare_duckdb.py --lines 100000000 --repeat 1
    python3 benches/compare_duckdb.py --lines 10000000 --layouts time --floor   # decoding alone
    python3 benches/compare_duckdb.py --real completejourney online_retail --engines winback-cli duckdb
Data, venv and results go to bench-out/ (git-ignored); results of earlier
invocations are kept in bench-out/results.json and the table in
bench-out/compare.md covers all of them.
"""
import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out"
VENV = OUT / "venv"
VPY = VENV / "bin" / "python"
EXAMPLES = ROOT / "target" / "release" / "examples"
CUTOFF = "2023-07-01"
WINDOWS = (90, 180, 365)
CHANNELS = ("app", "online", "store")  # the generator's channels
LINES_PER_CUSTOMER = 28
# "winback": winback-core's `features` example (load, lapse, features; nothing written).
# "winback-cli": the user's command, `winback features --all ... -o FILE.parquet` (the
# program on mimalloc, the table of 49 columns, id and 48 features, written as Parquet).
# "winback-cli-pgo": the same command, the profile-guided build (scripts/pgo_build.sh).
ENGINES = ("winback", "winback-cli", "winback-cli-pgo", "duckdb", "polars")
CLI = ROOT / "target" / "release" / "winback"
CLI_PGO = ROOT / "target" / "pgo" / "release" / "winback"
LAYOUTS = ("time", "customer", "random")  # time first: the order real exports have
SHARED = ROOT.parent / "shared" / "data"
# Real data sets (--real): the cutoff, and the query turning the export into the
# benchmark's columns in its own row order ({src}: the data set's folder).
REAL = {
    "completejourney": ("2017-10-01", """
        SELECT t.household_id AS customer_id, t.basket_id AS order_id, t.date_local AS date,
            t.sales_value AS amount, t.quantity, 'store' AS channel, p.department AS category,
            t.store_id AS region
        FROM (SELECT *, row_number() OVER () AS line FROM read_csv('{src}/transactions.csv.gz')) t
        LEFT JOIN read_csv('{src}/products.csv.gz') p USING (product_id)
        ORDER BY t.line"""),
    "online_retail": ("2011-09-01", """
        SELECT CustomerID AS customer_id, InvoiceNo AS order_id, CAST(InvoiceDate AS DATE) AS date,
            Amount AS amount, Quantity AS quantity, 'online' AS channel, StockCode AS category,
            Country AS region
        FROM (SELECT *, row_number() OVER () AS line FROM read_csv('{src}/online_retail.csv.gz'))
        WHERE CustomerID IS NOT NULL
        ORDER BY line"""),
}
DUCKDB_COLUMNS = ("{'customer_id': 'VARCHAR', 'order_id': 'VARCHAR', 'date': 'DATE', 'amount': 'DOUBLE', "
                  "'quantity': 'INTEGER', 'channel': 'VARCHAR', 'category': 'VARCHAR', 'region': 'VARCHAR'}")


# --------------------------------------------------------------------------- DuckDB
def duckdb_source(path):
    if path.endswith(".parquet"):
        return f"read_parquet('{path}')"
    return f"read_csv('{path}', header = true, columns = {DUCKDB_COLUMNS})"


def duckdb_sql(path, cutoff):
    t = f"DATE '{cutoff}'"
    windows = "".join(f"""
        count(*) FILTER (WHERE gross > 0 AND day >= {t} - {w}) AS purchases_{w}d,
        coalesce(sum(gross - returned) FILTER (WHERE day >= {t} - {w}), 0) AS spend_{w}d,""" for w in WINDOWS)
    channels = "".join(f"""
        count(*) FILTER (WHERE gross > 0 AND channel = '{c}') AS purchases_{c},""" for c in CHANNELS)
    return f"""
CREATE TABLE features AS
WITH lines AS (
    SELECT customer_id, order_id, date, amount, channel, category, region
    FROM {duckdb_source(path)} WHERE date < {t}
), purchases AS (  -- one event per (customer, order), dated by its earliest line
    SELECT customer_id, order_id, min(date) AS day,
        coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS gross,
        coalesce(-sum(amount) FILTER (WHERE amount < 0), 0) AS returned,
        any_value(channel) FILTER (WHERE amount > 0) AS channel,
        any_value(region) FILTER (WHERE amount > 0) AS region
    FROM lines GROUP BY customer_id, order_id
), per_customer AS (  -- return-only events (gross = 0) count in spend, not as purchases
    SELECT customer_id,
        count(*) FILTER (WHERE gross > 0) AS purchases,
        min(day) FILTER (WHERE gross > 0) AS first_day,
        max(day) FILTER (WHERE gross > 0) AS last_day,
        sum(gross - returned) AS spend_total,
        sum(returned) AS returned,{windows}{channels}
    FROM purchases GROUP BY customer_id HAVING count(*) FILTER (WHERE gross > 0) > 0
), gaps AS (
    SELECT customer_id, (day - lag(day) OVER (PARTITION BY customer_id ORDER BY day))::DOUBLE AS gap
    FROM (SELECT DISTINCT customer_id, day FROM purchases WHERE gross > 0)
), gap_stats AS (
    SELECT customer_id, avg(gap) AS gap_mean, stddev_pop(gap) AS gap_sd FROM gaps GROUP BY customer_id
), category_stats AS (
    SELECT customer_id, count(*) AS distinct_categories, max(v) / sum(v) AS top_category_share
    FROM (SELECT customer_id, category, sum(amount) AS v FROM lines WHERE amount > 0 GROUP BY ALL)
    GROUP BY customer_id
), main_region AS (  -- most purchases; ties to the name that sorts first
    SELECT customer_id, first(region ORDER BY n DESC, region) AS main_region
    FROM (SELECT customer_id, region, count(*) AS n FROM purchases WHERE gross > 0 GROUP BY ALL)
    GROUP BY customer_id
)
SELECT c.*, {t} - last_day AS recency_days, {t} - first_day AS tenure_days,
    spend_total / purchases AS spend_mean,
    coalesce(gap_mean, {t} - first_day) AS gap_mean_days,  -- single purchase day: tenure
    coalesce(gap_sd, 0) AS gap_sd_days,
    distinct_categories, top_category_share, main_region,
    (SELECT greatest(ceil(quantile_cont(gap, 0.9) - 1e-9), 1) FROM gaps) AS lapse_days
FROM per_customer c
LEFT JOIN gap_stats USING (customer_id)
LEFT JOIN category_stats USING (customer_id)
LEFT JOIN main_region USING (customer_id)
"""


def run_duckdb(path, cutoff):
    import duckdb
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    con.execute(f"SET temp_directory = '{OUT / 'duckdb_tmp'}'")
    con.execute(duckdb_sql(path, cutoff))
    return con.execute("SELECT count(*), max(lapse_days)::BIGINT, count(*) FILTER (WHERE recency_days >= lapse_days) "
                       "FROM features").fetchone()


# --------------------------------------------------------------------------- polars
def run_polars(path, cutoff):
    import polars as pl
    t = dt.date.fromisoformat(cutoff)
    if path.endswith(".parquet"):
        src = pl.scan_parquet(path)
    else:
        src = pl.scan_csv(path, schema={"customer_id": pl.String, "order_id": pl.String, "date": pl.Date,
                                        "amount": pl.Float64, "quantity": pl.Int32, "channel": pl.String,
                                        "category": pl.String, "region": pl.String})
    amount, day, buy = pl.col("amount"), pl.col("day"), pl.col("gross") > 0
    net = pl.col("gross") - pl.col("returned")
    lines = src.filter(pl.col("date") < t)
    purchases = lines.group_by("customer_id", "order_id").agg(
        day=pl.col("date").min(),
        gross=amount.filter(amount > 0).sum(),
        returned=(-amount).filter(amount < 0).sum(),
        channel=pl.col("channel").filter(amount > 0).first(),
        region=pl.col("region").filter(amount > 0).first(),
    )
    per_customer = purchases.group_by("customer_id").agg(
        purchases=buy.sum(),
        first_day=day.filter(buy).min(),
        last_day=day.filter(buy).max(),
        spend_total=net.sum(),
        returned=pl.col("returned").sum(),
        *[(buy & (day >= t - dt.timedelta(days=w))).sum().alias(f"purchases_{w}d") for w in WINDOWS],
        *[net.filter(day >= t - dt.timedelta(days=w)).sum().alias(f"spend_{w}d") for w in WINDOWS],
        *[(buy & (pl.col("channel") == c)).sum().alias(f"purchases_{c}") for c in CHANNELS],
    ).filter(pl.col("purchases") > 0)
    gap_lists = purchases.filter(buy).group_by("customer_id").agg(
        gaps=day.unique().sort().diff().dt.total_days().drop_nulls().cast(pl.Float64))
    gap_stats = gap_lists.select("customer_id", gap_mean=pl.col("gaps").list.mean(),
                                 gap_sd=pl.col("gaps").list.std(ddof=0))
    category_stats = (lines.filter(amount > 0).group_by("customer_id", "category").agg(v=amount.sum())
                      .group_by("customer_id").agg(distinct_categories=pl.len(),
                                                   top_category_share=pl.col("v").max() / pl.col("v").sum()))
    main_region = (purchases.filter(buy).group_by("customer_id", "region").agg(n=pl.len())
                   .group_by("customer_id").agg(
                       main_region=pl.col("region").sort_by("n", "region", descending=[True, False]).first()))
    tenure = (pl.lit(t) - pl.col("first_day")).dt.total_days()
    features = (per_customer.join(gap_stats, on="customer_id", how="left")
                .join(category_stats, on="customer_id", how="left")
                .join(main_region, on="customer_id", how="left")
                .with_columns(recency_days=(pl.lit(t) - pl.col("last_day")).dt.total_days(),
                              tenure_days=tenure,
                              spend_mean=pl.col("spend_total") / pl.col("purchases"),
                              gap_mean_days=pl.coalesce(pl.col("gap_mean"), tenure),
                              gap_sd_days=pl.col("gap_sd").fill_null(0.0)))
    q90 = gap_lists.select(pl.col("gaps").explode().quantile(0.9, interpolation="linear"))
    feats, q = pl.collect_all([features, q90], engine="streaming")
    lapse_days = max(int(-(-(q.item() - 1e-9) // 1)), 1)
    return feats.height, lapse_days, feats.filter(pl.col("recency_days") >= lapse_days).height


# --------------------------------------------------------------------------- measuring
WRAPPER = r"""
import json, resource, subprocess, sys, time
t = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t
rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": p.returncode, "wall": wall, "rss_kb": rss_kb, "out": p.stdout, "err": p.stderr[-3000:]}))
"""


def measure(cmd):
    """Runs cmd under a fresh wrapper process; returns (wall s, peak RSS MB, parsed key=value output)."""
    w = json.loads(subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True,
                                  check=True).stdout)
    if w["rc"] != 0:
        raise RuntimeError(f"{cmd} failed ({w['rc']}):\n{w['err']}")
    # The program prints JSON (--json); the example and the engines `key=value` tokens.
    if w["out"].lstrip().startswith("{"):
        kv = json.loads(w["out"])
    else:
        kv = dict(tok.split("=", 1) for tok in w["out"].split() if "=" in tok)
    return w["wall"], w["rss_kb"] / 1024, kv


def warm(path):
    """Reads the file once (into the page cache)."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def engine_cmd(engine, path, cutoff=CUTOFF):
    if engine == "winback":
        return [str(EXAMPLES / "features"), str(path), cutoff]
    if engine in ("winback-cli", "winback-cli-pgo"):
        return [str(CLI if engine == "winback-cli" else CLI_PGO), "features", "--transactions", str(path), "--at", cutoff, "--all", "--customer-col", "customer_id",
                "--date-col", "date", "--amount-col", "amount", "--quantity-col", "quantity", "--order-col", "order_id",
                "--channel-col", "channel", "--category-col", "category", "--region-col", "region",
                "-o", str(OUT / "cli_features.parquet"), "-q", "--json"]
    return [sys.executable, __file__, "--engine", engine, "--cutoff", cutoff, str(path)]


def normalise(engine, kv):
    """customers with a purchase before the cutoff, lapse days, lapsed, in-process seconds."""
    if engine == "winback":
        return int(kv["features"].split("x")[0]), int(kv["lapse_days"]), int(kv["lapsed"]), float(kv["total_s"])
    if engine in ("winback-cli", "winback-cli-pgo"):  # every customer with a purchase before the cutoff; no lapse figures printed
        return int(kv["rows"]), None, None, None
    return int(kv["customers"]), int(kv["lapse_days"]), int(kv["lapsed"]), float(kv["inner_s"])


def prepare(lines, layout):
    tag = "" if layout == "customer" else f"_{layout}"
    csv, parquet = OUT / f"synth_{lines}{tag}.csv", OUT / f"synth_{lines}{tag}.parquet"
    if not csv.exists():
        customers = max(1, round(lines / LINES_PER_CUSTOMER))
        tmp = csv.with_suffix(".csv.tmp")
        print(f"generating {csv.name} ({customers} customers)...", flush=True)
        subprocess.run([str(EXAMPLES / "generate"), "--customers", str(customers), "--seed", "42",
                        "--layout", layout, "--out", str(tmp)], check=True)
        tmp.rename(csv)
    if not parquet.exists():
        import duckdb
        print(f"converting to {parquet.name}...", flush=True)
        tmp = parquet.with_suffix(".parquet.tmp")
        # PRESERVE_INSERTION_ORDER keeps the file's row order (time order stays time order).
        con = duckdb.connect()
        con.execute("SET preserve_insertion_order = true")
        con.execute(f"COPY (SELECT * FROM {duckdb_source(str(csv))}) TO '{tmp}' (FORMAT PARQUET, COMPRESSION SNAPPY)")
        tmp.rename(parquet)
    return {"csv": csv, "parquet": parquet}


def prepare_real(name):
    """A real data set in the benchmark's columns, CSV and Parquet (Snappy), written
    once into bench-out/ from ../shared/data, its rows in the export's order."""
    src = SHARED / name
    if not src.is_dir():
        sys.exit(f"missing {src}: --real reads the data sets in ../shared/data")
    out = {"parquet": OUT / f"real_{name}.parquet", "csv": OUT / f"real_{name}.csv"}
    # The query runs once, into the Parquet file; the CSV is that file's rows, in order.
    for fmt, source, options in (("parquet", f"({REAL[name][1].format(src=src)})", "FORMAT PARQUET, COMPRESSION SNAPPY"),
                                 ("csv", f"(SELECT * FROM read_parquet('{out['parquet']}'))", "FORMAT CSV, HEADER")):
        dest = out[fmt]
        if not dest.exists():
            import duckdb
            print(f"writing {dest.name}...", flush=True)
            tmp = dest.with_name(dest.name + ".tmp")
            con = duckdb.connect()
            con.execute("SET preserve_insertion_order = true")
            con.execute(f"COPY {source} TO '{tmp}' ({options})")
            tmp.rename(dest)
    return out


def with_int_ids(files):
    """The same files with integer customer ids (c0000144 -> 144), as warehouses
    export them; written once next to the text-id files."""
    import duckdb
    out = {}
    for fmt, path in files.items():
        dest = path.with_name(path.stem + "_int" + path.suffix)
        if not dest.exists():
            print(f"writing {dest.name}...", flush=True)
            tmp = dest.with_name(dest.name + ".tmp")
            con = duckdb.connect()
            con.execute("SET preserve_insertion_order = true")
            options = "FORMAT PARQUET, COMPRESSION SNAPPY" if fmt == "parquet" else "FORMAT CSV, HEADER"
            con.execute(f"COPY (SELECT CAST(substr(customer_id, 2) AS BIGINT) AS customer_id, * EXCLUDE (customer_id) "
                        f"FROM {duckdb_source(str(path))}) TO '{tmp}' ({options})")
            tmp.rename(dest)
        out[fmt] = dest
    return out


def render(results):
    head = ("| lines | layout | format | engine | wall s (best) | in-process s | peak RSS MB | time ÷ DuckDB "
            "| paired ÷ DuckDB, median (range) | RSS ÷ DuckDB | customers | lapse days | lapsed | runs | load avg 1m before each run |")
    rows = [head, "|" + "---|" * head.count(" | ") + "---|"]
    def layout_rank(layout):  # the generator's layouts in LAYOUTS order, then the real data sets
        first = layout.split()[0]
        return LAYOUTS.index(first) if first in LAYOUTS else len(LAYOUTS)
    for r in sorted(results.values(), key=lambda r: (r["lines"], layout_rank(r.get("layout", "customer")), r.get("layout", ""), r["format"], ENGINES.index(r["engine"]))):
        lay = r.get("layout", "customer")
        d = results.get(f"{r['lines']}/{lay}/{r['format']}/duckdb") or (results.get(f"{r['lines']}/{r['format']}/duckdb") if lay == "customer" else None)
        ratio = (lambda k: f"{r[k] / d[k]:.2f}") if d else (lambda k: "–")
        inner = "–" if r["inner"] is None else f"{r['inner']:.2f}"  # the program prints no in-process time
        # Round by round (results stored before the rounds were kept show none).
        pairs = sorted(w / dw for w, dw in zip(r.get("walls", []), (d or {}).get("walls", [])))
        paired = f"{statistics.median(pairs):.2f} ({pairs[0]:.2f}–{pairs[-1]:.2f})" if pairs else "–"
        rows.append(f"| {r['file_lines']:,} | {lay} | {r['format']} | {r['engine']} | {r['wall']:.2f} | {inner} "
                    f"| {r['rss']:.0f} | {ratio('wall')} | {paired} | {ratio('rss')} | {r['customers']:,} | {r['lapse_days'] or '–'} "
                    f"| {format(r['lapsed'], ',') if r['lapsed'] is not None else '–'} | {r['runs']} | {' / '.join(f'{x:.2f}' for x in r['loads'])} |")
    return "\n".join(rows) + "\n"


def floor(path, lines, layout, repeat):
    """The least any engine spends before aggregating: decoding every column the
    command reads. arrow-rs with the loader's reader settings (the `parquet_floor`
    example, both cores) and DuckDB scanning the same columns (threads = all cores),
    both timed in-process; compare with the engines' whole runs above."""
    ex = EXAMPLES / "parquet_floor"
    if not ex.exists():
        sys.exit(f"missing {ex}: cargo build --release -p winback-core --examples --features parquet")
    arrow = min(float(subprocess.run([str(ex), str(path)], capture_output=True, text=True, check=True)
                      .stdout.split(" in ")[1].split(" s")[0]) for _ in range(repeat))
    import duckdb
    con = duckdb.connect()
    cols = ", ".join(f"sum(length({c}))" for c in ("customer_id", "order_id", "channel", "category", "region"))
    q = f"SELECT count(*), max(date), sum(amount), sum(quantity), {cols} FROM read_parquet('{path}')"
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        con.execute(q).fetchall()
        times.append(time.perf_counter() - t0)
    print(f"{lines} {layout} parquet decoding floor (best of {repeat}, in-process): arrow-rs {arrow:.3f} s, "
          f"DuckDB scan {min(times):.3f} s", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--formats", nargs="+", default=["csv", "parquet"], choices=["csv", "parquet"])
    ap.add_argument("--engines", nargs="+", default=[e for e in ENGINES if e != "winback-cli-pgo"], choices=ENGINES)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS,
                    help="row order of the generated logs: time (like real exports), customer, random")
    ap.add_argument("--int-ids", action="store_true",
                    help="integer customer ids (written from the text-id files with DuckDB), as warehouse exports have")
    ap.add_argument("--floor", action="store_true",
                    help="instead of the engines: the decoding floor of each Parquet file, arrow-rs (the "
                         "parquet_floor example) and a DuckDB scan of the same columns, in-process, best of --repeat")
    ap.add_argument("--prepare-only", action="store_true", help="only write the data files (used by benches/fit_large.sh)")
    ap.add_argument("--engine", choices=["duckdb", "polars"], help=argparse.SUPPRESS)  # internal: one run
    ap.add_argument("--cutoff", default=CUTOFF, help=argparse.SUPPRESS)  # internal: the run's cutoff
    ap.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    ap.add_argument("--real", nargs="+", choices=sorted(REAL),
                    help="instead of the generator's logs: these real data sets from ../shared/data")
    args = ap.parse_args()
    if args.real and args.int_ids:
        ap.error("--int-ids rewrites the generator's logs; the real data sets keep the ids they were exported with")
    if args.engine:
        t0 = time.perf_counter()
        customers, lapse_days, lapsed = (run_duckdb if args.engine == "duckdb" else run_polars)(args.path, args.cutoff)
        print(f"customers={customers} lapse_days={lapse_days} lapsed={lapsed} inner_s={time.perf_counter() - t0:.3f}")
        return
    if Path(sys.prefix).resolve() != VENV.resolve():  # re-run inside the venv, creating it if needed
        OUT.mkdir(exist_ok=True)
        if not VPY.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        req = Path(__file__).with_name("requirements-bench.txt")
        if subprocess.run([str(VPY), "-c", "import duckdb, polars, pyarrow"], capture_output=True).returncode:
            subprocess.run([str(VPY), "-m", "pip", "install", "-q", "-r", str(req)], check=True)
        os.execv(str(VPY), [str(VPY), __file__, *sys.argv[1:]])
    for b in ("generate", "features"):
        if not (EXAMPLES / b).exists():
            sys.exit(f"missing {EXAMPLES / b}: build the examples first (cargo build --release --examples)")
    if "winback-cli" in args.engines and not args.prepare_only and not CLI.exists():
        sys.exit(f"missing {CLI}: build the program first (cargo build --release -p winback-cli)")
    if "winback-cli-pgo" in args.engines and not args.prepare_only and not CLI_PGO.exists():
        sys.exit(f"missing {CLI_PGO}: build it first (bash scripts/pgo_build.sh)")
    store = OUT / "results.json"
    results = json.loads(store.read_text()) if store.exists() else {}
    log = open(OUT / "compare.log", "a")
    todo = [(n, lay, CUTOFF) for n in args.lines for lay in args.layouts]
    if args.real:
        todo = [(name, f"real: {name}", REAL[name][0]) for name in args.real]
    for lines, layout, cutoff in todo:
        if args.real:
            files = prepare_real(lines)
            lines = sum(1 for _ in open(files["csv"], "rb")) - 1
        else:
            files = prepare(lines, layout)
        if args.int_ids:
            files = with_int_ids(files)
            layout = f"{layout} (int ids)"
        if args.prepare_only:
            print(" ".join(str(files[f]) for f in args.formats))
            continue
        if args.floor:
            floor(files["parquet"], lines, layout, args.repeat)
            continue
        file_lines = sum(1 for _ in open(files["csv"], "rb")) - 1
        for fmt in args.formats:
            runs = {e: [] for e in args.engines}
            # Read once before the first timed run, so that no engine pays for the
            # disk: at 100M lines the first run found a file of ~1 GB out of the
            # page cache and took 17-18 s against 13-14 s for the next.
            warm(files[fmt])
            for rep in range(args.repeat):  # engines interleaved, so that load spikes hit all of them
                # Every other round in reverse order: no engine always follows the same one.
                for engine in (args.engines if rep % 2 == 0 else args.engines[::-1]):
                    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
                    load1 = os.getloadavg()[0]
                    wall, rss, kv = measure(engine_cmd(engine, files[fmt], cutoff))
                    msg = f"{lines} {layout} {fmt} {engine} rep {rep + 1}: wall {wall:.2f}s rss {rss:.0f}MB {kv} | {uptime}"
                    print(msg, flush=True)
                    log.write(msg + "\n")
                    runs[engine].append((wall, rss, load1, normalise(engine, kv)))
            for engine, rs in runs.items():
                best = min(rs, key=lambda r: r[0])
                customers, lapse_days, lapsed, inner = best[3]
                results[f"{lines}/{layout}/{fmt}/{engine}"] = dict(
                    lines=lines, layout=layout, file_lines=file_lines, format=fmt, engine=engine, wall=best[0], inner=inner,
                    rss=max(r[1] for r in rs), customers=customers, lapse_days=lapse_days, lapsed=lapsed,
                    runs=len(rs), loads=[r[2] for r in rs], walls=[r[0] for r in rs])
            store.write_text(json.dumps(results, indent=1))
    if args.prepare_only or args.floor:
        return
    table = render(results)
    (OUT / "compare.md").write_text(f"# winback vs DuckDB vs polars (cutoff {CUTOFF}; real data sets at their own, see --real; {os.cpu_count()} cores)\n\n"
                                    + table)
    print("\n" + table)


if __name__ == "__main__":
    main()
