#!/usr/bin/env python3
"""Builds of `winback` side by side: `winback features --all ... --timings` on one
file, every variant once per round in a fresh random order, medians of the whole
process (wall time, peak memory, minor page faults, system CPU, read with
`os.wait4`) and of each step `--timings` prints (wall and CPU).

The machine's speed moves by 10% from one minute to the next (see "Memory and
files on this machine" in the README), so builds are compared within the same
rounds, never against a figure from another run.

    python3 benches/alternate.py --runs 8 \\
        old=-:/tmp/winback-old \\
        new=-:target/release/winback \\
        new-flag='WINBACK_X=1;RAYON_NUM_THREADS=2':target/release/winback

A variant is NAME=ENV:BINARY, ENV being `-` or `KEY=VALUE` pairs separated by
`;`, set on top of this process's environment. Each variant's table goes to
/tmp/alternate_NAME.parquet (compare them with `cmp`).
"""
import argparse
import os
import random
import re
import statistics
import subprocess
import time

FLAGS = ("--at 2023-07-01 --all --customer-col customer_id --date-col date --amount-col amount "
         "--quantity-col quantity --order-col order_id --channel-col channel --category-col category "
         "--region-col region -q --timings").split()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=6, help="rounds (each variant once per round)")
    ap.add_argument("--file", default="bench-out/synth_10000000_time_int.parquet",
                    help="transactions (default: the 10M time-ordered integer-id file compare_duckdb.py writes)")
    ap.add_argument("variants", nargs="+", help="NAME=ENV:BINARY")
    args = ap.parse_args()
    variants = []
    for v in args.variants:
        name, rest = v.split("=", 1)
        env_text, binary = rest.split(":", 1)
        env = dict(os.environ)
        if env_text != "-":
            for kv in env_text.split(";"):
                k, val = kv.split("=", 1)
                env[k] = val
        variants.append((name, env, binary))
    results = {name: {} for name, _, _ in variants}
    for _ in range(args.runs):
        order = variants[:]
        random.shuffle(order)
        for name, env, binary in order:
            cmd = [binary, "features", "--transactions", args.file, *FLAGS, "-o", f"/tmp/alternate_{name}.parquet"]
            start = time.perf_counter()
            p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            err = p.stderr.read()
            _, status, usage = os.wait4(p.pid, 0)
            wall = time.perf_counter() - start
            if status != 0:
                raise SystemExit(f"{name} failed:\n{err}")
            r = results[name]
            r.setdefault("process s", []).append(wall)
            r.setdefault("peak MB", []).append(usage.ru_maxrss / 1024)
            r.setdefault("faults k", []).append(usage.ru_minflt / 1000)
            r.setdefault("system s", []).append(usage.ru_stime)
            for line in err.splitlines()[1:]:
                m = re.match(r"\s+(.*?)\s+([0-9.]+)\s+([0-9.]+)$", line)
                if m:
                    step = m.group(1)[:14]
                    r.setdefault(step + " wall", []).append(float(m.group(2)))
                    r.setdefault(step + " cpu", []).append(float(m.group(3)))
    names = [name for name, _, _ in variants]
    print(f"medians of {args.runs} rounds".ljust(22) + "".join(n.rjust(12) for n in names))
    for key in results[names[0]]:
        print(key.ljust(22) + "".join(f"{statistics.median(results[n][key]):12.3f}" for n in names))
    # Each round's process time over the first variant's in the same round: the
    # machine's drift between rounds (10% and more) cancels out of the pairs.
    if args.runs >= 4:
        first = results[names[0]]["process s"]
        for stat, label in ((lambda v: statistics.median(v), "paired median"), (lambda v: statistics.quantiles(v, n=4)[0], "paired 1st quartile"), (lambda v: statistics.quantiles(v, n=4)[2], "paired 3rd quartile")):
            print(f"{label} ÷ {names[0]}"[:22].ljust(22) + "".join(f"{stat([x / f for x, f in zip(results[n]['process s'], first)]):12.3f}" for n in names))
        print("rounds faster".ljust(22) + "".join(f"{sum(x < f for x, f in zip(results[n]['process s'], first)):12d}" for n in names))


if __name__ == "__main__":
    main()
