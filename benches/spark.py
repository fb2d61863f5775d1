#!/usr/bin/env python3
"""winback on Spark vs on one machine: `fit` on the same Parquet file of purchase lines.

Each run is its own process; this script is the wrapper that starts it and reports
its wall time and the peak RSS of the largest process under it
(getrusage(RUSAGE_CHILDREN).ru_maxrss: on Spark that is the driver's JVM, which in
local mode also runs the executors; the Python workers are smaller). Modes:

  * single   — `winback.WinbackModel().fit(path, at)`: the Rust loader reads the file;
  * local[N] — `winback.spark.fit(model, spark.read.parquet(path), at)` with N cores
    (N partitions per core, at least 4), driver memory 8g.

Every run prints the SHA-256 of its model file: all modes must agree (the sharded
fit equals the single-machine one to the bit).

Run with the project's test venv (it has winback, pyarrow and pyspark):
    .venv/bin/python benches/spark.py --file bench-out/synth_10000000_time.parquet --at 2023-07-01
A file is written first when missing (`--lines`, time order, with the `generate`
example: `cargo build --release -p winback-core --examples --features parquet`).
"""
import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = dict(customer_id_col="customer_id", datetime_col="date", monetary_value_col="amount",
               quantity_col="quantity", order_id_col="order_id", channel_col="channel", category_col="category",
               region_col="region")


def child(mode: str, path: str, at: str) -> None:
    import warnings

    import winback

    warnings.simplefilter("ignore")
    t0 = time.time()
    model = winback.WinbackModel(**COLUMNS)
    if mode == "single":
        model.fit(path, at)
        startup = 0.0
    else:
        from pyspark.sql import SparkSession
        from winback import spark as wbs

        cores = int(mode[len("local["):-1])
        os.environ["PYSPARK_PYTHON"] = sys.executable
        spark = (SparkSession.builder.master(mode).config("spark.ui.enabled", "false")
                 .config("spark.driver.memory", "8g").config("spark.sql.shuffle.partitions", str(max(4, 2 * cores)))
                 .config("spark.pyspark.python", sys.executable).getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        startup = time.time() - t0
        sdf = spark.read.parquet(path)
        wbs.fit(model, sdf, at, partitions=max(4, 2 * cores))
        spark.stop()
    sha = hashlib.sha256(model.model_.to_json().encode()).hexdigest()[:16]
    print(json.dumps({"mode": mode, "seconds_in_process": round(time.time() - t0, 2), "spark_startup": round(startup, 2),
                      "groups": len(model.groups_), "model_sha": sha}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", default=str(ROOT / "bench-out" / "synth_10000000_time.parquet"))
    ap.add_argument("--at", default="2023-07-01")
    ap.add_argument("--modes", nargs="+", default=["single", "local[1]", "local[2]"])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.file, args.at)
        return
    if not Path(args.file).exists():
        sys.exit(f"{args.file} is missing: write it with the generate example (see compare_duckdb.py --layouts time)")
    rows = []
    for mode in args.modes:
        for _ in range(args.repeat):
            t0 = time.time()
            wrapper = ("import resource, subprocess, sys, time; t=time.time(); "
                       "r=subprocess.run(sys.argv[1:], capture_output=True, text=True); "
                       "print(r.stdout.strip().splitlines()[-1] if r.returncode == 0 else 'FAILED ' + r.stderr[-2000:]); "
                       "print(round(time.time()-t, 2)); "
                       "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
            out = subprocess.run([sys.executable, "-c", wrapper, sys.executable, __file__, "--child", mode, "--file", args.file,
                                  "--at", args.at], capture_output=True, text=True, check=True).stdout.strip().splitlines()
            if out[0].startswith("FAILED"):
                sys.exit(f"{mode}: {out[0]}")
            res = json.loads(out[0])
            res.update(wall=float(out[1]), peak_mb=round(int(out[2]) / 1024), load=round(os.getloadavg()[0], 2))
            rows.append(res)
            print(json.dumps(res), flush=True)
    print()
    print("| mode | wall s | Spark start s | peak MB (largest process) | groups | model SHA-256 |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['mode']} | {r['wall']:.1f} | {r['spark_startup']:.1f} | {r['peak_mb']} | {r['groups']} | {r['model_sha']} |")
    shas = {r["model_sha"] for r in rows}
    print("\nsame model file in every mode:", len(shas) == 1)


if __name__ == "__main__":
    main()
