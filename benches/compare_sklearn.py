"""Compare winback's segmentation fit with scikit-learn's DecisionTreeClassifier.

What it measures, for each ``--rows`` size (30 columns by default):

* winback: ``target/release/examples/fit_bench ROWS COLS MATRIX`` builds a seeded
  matrix (integer-valued and continuous features, ~22% positive outcome) and
  times the segmenter's fit: a best-first tree of 10 leaves grown from
  linfa-trees depth-1 stumps, min leaf 2% of rows, max leaf share 25%, 30% of
  rows held out for honest leaf probabilities.  The binary prints ``fit_s`` and
  ``train_auc``; best of ``--repeat`` runs with rayon's default thread count,
  plus one run with ``RAYON_NUM_THREADS=1``.  The matrix is written on the first
  run only if the file is missing (later runs pass no output path).
* scikit-learn: the same matrix, loaded with ``np.fromfile`` (layout: u64 rows
  LE, u64 cols LE, rows*cols f64 LE row-major, rows u8 labels), and
  ``DecisionTreeClassifier(max_leaf_nodes=10, random_state=0).fit`` timed, best
  of ``--repeat``, in two settings:
    (a) defaults;
    (b) ``class_weight='balanced', min_samples_leaf=int(0.02 * 0.7 * rows)``,
        the closest match to winback's constraints.
  Training AUC is ``roc_auc_score(y, predict_proba(X)[:, 1])``.

Before every timed run the script waits (polling ``pgrep -f`` every 10 s, at
most ``--max-wait`` seconds) until no other benchmark process matching
``compare_duckdb|duckdb|polars|examples/features|examples/generate`` is running
and other processes (e.g. a cargo build) use fewer than ``--idle-cores`` cores,
and records the load averages at that moment; it also records the CPU seconds
other processes burnt during each timed run, to flag disturbed runs.

Output: a markdown table (rows, engine/setting, threads, best fit seconds, all
runs, AUC, load averages, other processes' CPU seconds) and the ratios winback / sklearn(default) and
winback / sklearn(balanced), printed and written to
``bench-out/compare_sklearn.md``.

Command (from the repository root; uses or creates ``bench-out/venv`` and
installs ``scikit-learn numpy`` there when missing)::

    python3 benches/compare_sklearn.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench-out"
VENV = OUT_DIR / "venv"
VENV_PY = VENV / "bin" / "python"
REQS = ROOT / "benches" / "requirements-bench.txt"
FIT_BENCH = ROOT / "target" / "release" / "examples" / "fit_bench"
BUSY = "compare_duckdb|duckdb|polars|examples/features|examples/generate"
PACKAGES = ["scikit-learn", "numpy"]


# --------------------------------------------------------------------------
# environment
# --------------------------------------------------------------------------

def ensure_requirements_file() -> None:
    """Append the packages this script needs to requirements-bench.txt."""
    lines = REQS.read_text().splitlines() if REQS.exists() else []
    names = {re.split(r"[<>=!~\[ ;]", l.strip(), maxsplit=1)[0].lower() for l in lines if l.strip()}
    missing = [p for p in PACKAGES if p.lower() not in names]
    if missing:
        text = REQS.read_text() if REQS.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        REQS.write_text(text + "".join(p + "\n" for p in missing))


def ensure_venv() -> None:
    """Re-exec inside bench-out/venv, creating it and installing packages if needed."""
    ensure_requirements_file()
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VENV_PY.exists():
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run([str(VENV_PY), "-c", "import sklearn, numpy"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(VENV_PY), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    os.execv(str(VENV_PY), [str(VENV_PY), str(Path(__file__).resolve()), *sys.argv[1:]])


# --------------------------------------------------------------------------
# quiet-machine guard
# --------------------------------------------------------------------------

def own_pids() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            pid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def busy_processes() -> list[str]:
    p = subprocess.run(["pgrep", "-af", BUSY], capture_output=True, text=True)
    mine = own_pids()
    out = []
    for line in p.stdout.splitlines():
        pid, _, cmd = line.partition(" ")
        if pid.isdigit() and int(pid) not in mine:
            out.append(line[:160])
    return out


def cpu_busy_s() -> float:
    """Machine-wide non-idle CPU seconds so far (all cores, steal included)."""
    f = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (f + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class OtherCpu:
    """CPU seconds burnt by *other* processes between start() and stop()."""

    def start(self) -> None:
        self.busy0, self.own0 = cpu_busy_s(), own_cpu_s()

    def stop(self) -> float:
        return max(0.0, (cpu_busy_s() - self.busy0) - (own_cpu_s() - self.own0))


def busy_cores(window: float = 3.0) -> float:
    """Average number of cores busy with other work over `window` seconds."""
    m = OtherCpu()
    m.start()
    time.sleep(window)
    return m.stop() / window


def wait_quiet(max_wait: float, idle_cores: float, log: list[str]) -> tuple[str, float]:
    """Wait (polling every 10 s, at most max_wait s) until no competing benchmark
    runs and other processes use less than `idle_cores` cores; return
    (load averages [+ flags], seconds waited)."""
    t0 = time.monotonic()
    announced = False
    while True:
        busy = busy_processes()
        cores = busy_cores()
        if not busy and cores < idle_cores:
            break
        waited = time.monotonic() - t0
        why = busy[0] if busy else f"other processes busy on {cores:.2f} cores"
        if waited >= max_wait:
            msg = f"WARNING: still busy after {waited:.0f} s, timing anyway: {why}"
            print(msg, flush=True)
            log.append(msg)
            load = "/".join(f"{x:.2f}" for x in os.getloadavg())
            return load + " (BUSY)", waited
        if not announced:
            print(f"waiting for a quiet machine: {why}", flush=True)
            announced = True
        time.sleep(10)
    if announced:
        time.sleep(20)  # let the other benchmark's caches/threads wind down
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    return load, time.monotonic() - t0


# --------------------------------------------------------------------------
# winback
# --------------------------------------------------------------------------

def matrix_path(rows: int, cols: int) -> Path:
    if rows == 1_000_000 and cols == 30:
        return OUT_DIR / "matrix.bin"
    return OUT_DIR / f"matrix_{rows}x{cols}.bin"


def matrix_ok(path: Path, rows: int, cols: int) -> bool:
    if not path.exists() or path.stat().st_size != 16 + rows * cols * 8 + rows:
        return False
    with path.open("rb") as f:
        head = f.read(16)
    return int.from_bytes(head[:8], "little") == rows and int.from_bytes(head[8:], "little") == cols


def run_winback(rows: int, cols: int, path: Path, threads: int | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAYON_NUM_THREADS", None)
    if threads is not None:
        env["RAYON_NUM_THREADS"] = str(threads)
    args = [str(FIT_BENCH), str(rows), str(cols)]
    if not matrix_ok(path, rows, cols):
        args.append(str(path))
    p = subprocess.run(args, capture_output=True, text=True, env=env, check=True)
    line = p.stdout.strip().splitlines()[-1]
    return dict(kv.split("=", 1) for kv in line.split())


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    ap.add_argument("--cols", type=int, default=30)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-wait", type=float, default=1200.0, help="seconds to wait for a quiet machine")
    ap.add_argument("--idle-cores", type=float, default=0.3,
                    help="also wait until other processes use fewer cores than this (3 s sample)")
    ap.add_argument("--out", type=Path, default=OUT_DIR / "compare_sklearn.md")
    args = ap.parse_args()

    # sklearn's trees are single-threaded; leave OpenMP/BLAS at their defaults.
    os.environ.pop("OMP_NUM_THREADS", None)
    ensure_venv()

    import numpy as np
    import sklearn
    from sklearn.metrics import roc_auc_score
    from sklearn.tree import DecisionTreeClassifier

    if not FIT_BENCH.exists():
        sys.exit(f"{FIT_BENCH} missing: cargo build --release -p winback-tree --example fit_bench")

    notes: list[str] = []
    table: list[tuple] = []  # rows, engine, threads, best, runs, auc, loads, other-CPU seconds
    meter = OtherCpu()
    ratios: list[str] = []

    for rows in args.rows:
        cols = args.cols
        path = matrix_path(rows, cols)
        print(f"== {rows} x {cols} ({path})", flush=True)

        # winback, default threads, best of N
        wb_runs, wb_loads, wb_other, wb = [], [], [], {}
        for i in range(args.repeat):
            load, waited = wait_quiet(args.max_wait, args.idle_cores, notes)
            meter.start()
            wb = run_winback(rows, cols, path, None)
            wb_other.append(meter.stop())
            wb_runs.append(float(wb["fit_s"]))
            wb_loads.append(load)
            print(f"winback run {i + 1}: fit_s={wb['fit_s']} threads={wb['threads']} load={load} "
                  f"waited={waited:.0f}s other_cpu_s={wb_other[-1]:.2f}", flush=True)
        wb_best = min(wb_runs)
        table.append((rows, "winback (rayon default)", wb["threads"], wb_best, wb_runs, float(wb["train_auc"]), wb_loads, wb_other))

        # winback, one thread, one run
        load, waited = wait_quiet(args.max_wait, args.idle_cores, notes)
        meter.start()
        wb1 = run_winback(rows, cols, path, 1)
        other = meter.stop()
        print(f"winback 1-thread: fit_s={wb1['fit_s']} threads={wb1['threads']} load={load} other_cpu_s={other:.2f}", flush=True)
        wb1_s = float(wb1["fit_s"])
        table.append((rows, "winback (RAYON_NUM_THREADS=1, 1 run)", wb1["threads"], wb1_s, [wb1_s], float(wb1["train_auc"]), [load], [other]))

        # load matrix
        assert matrix_ok(path, rows, cols), f"{path} has unexpected size/header"
        n = rows * cols
        X = np.fromfile(path, dtype="<f8", count=n, offset=16).reshape(rows, cols)
        y = np.fromfile(path, dtype=np.uint8, count=rows, offset=16 + n * 8)
        print(f"loaded X{X.shape} positives={y.mean():.3f} (winback says {wb['positives']})", flush=True)
        t = time.perf_counter()
        X.astype(np.float32)
        conv_s = time.perf_counter() - t

        settings = [
            ("sklearn default", {}),
            ("sklearn balanced, min_samples_leaf=%d" % int(0.02 * 0.7 * rows),
             {"class_weight": "balanced", "min_samples_leaf": int(0.02 * 0.7 * rows)}),
        ]
        sk_best = {}
        for name, extra in settings:
            runs, loads, others, clf = [], [], [], None
            for i in range(args.repeat):
                load, waited = wait_quiet(args.max_wait, args.idle_cores, notes)
                clf = DecisionTreeClassifier(max_leaf_nodes=10, random_state=0, **extra)
                meter.start()
                t = time.perf_counter()
                clf.fit(X, y)
                runs.append(time.perf_counter() - t)
                others.append(meter.stop())
                loads.append(load)
                print(f"{name} run {i + 1}: {runs[-1]:.3f}s load={load} waited={waited:.0f}s "
                      f"other_cpu_s={others[-1]:.2f}", flush=True)
            auc = roc_auc_score(y, clf.predict_proba(X)[:, 1])
            sk_best[name] = min(runs)
            table.append((rows, f"{name} (leaves={clf.get_n_leaves()})", "1", min(runs), runs, auc, loads, others))

        (d_name, d_s), (b_name, b_s) = list(sk_best.items())
        ratios.append(
            f"- {rows:,} rows: winback ÷ sklearn(default) = {wb_best / d_s:.2f}, "
            f"winback ÷ sklearn(balanced) = {wb_best / b_s:.2f}; "
            f"1-thread winback ÷ sklearn(default) = {wb1_s / d_s:.2f}, "
            f"÷ sklearn(balanced) = {wb1_s / b_s:.2f}"
        )
        notes.append(f"{rows:,} rows: float64→float32 copy of X (inside every sklearn fit) takes {conv_s:.3f} s")
        del X, y

    md = [
        f"# winback vs scikit-learn {sklearn.__version__} (numpy {np.__version__}), {os.cpu_count()} CPUs",
        "",
        "| rows | engine / setting | threads | fit s (best of runs) | all runs (s) | train AUC "
        "| load avg 1/5/15 before each run | other processes' CPU-s during each run |",
        "| ---: | --- | ---: | ---: | --- | ---: | --- | --- |",
    ]
    for rows, eng, thr, best, runs, auc, loads, others in table:
        md.append(
            f"| {rows:,} | {eng} | {thr} | {best:.3f} | {', '.join(f'{r:.3f}' for r in runs)} "
            f"| {auc:.4f} | {'; '.join(loads)} | {', '.join(f'{o:.2f}' for o in others)} |"
        )
    md += ["", "Ratios (fit seconds, best of runs; < 1 means winback is faster):", "", *ratios, ""]
    md += [
        "Notes:",
        "",
        "- winback fits its splits on 70% of rows and estimates leaf probabilities on the 30% held out;"
        " its `train_auc` scores those honest probabilities on all rows. sklearn fits on all rows and"
        " its AUC uses in-sample leaf frequencies.",
        "- `min_samples_leaf` is 2% of the 70% training share, as in winback; sklearn has no counterpart"
        " to winback's 25% max-leaf-share rule.",
        "- sklearn's `fit` is single-threaded and includes validating/copying X to float32.",
        "- Before each run the script waited for no `" + BUSY + "` process and for other processes"
        f" to use < {args.idle_cores} cores (3 s sample). 'Other CPU-s' is machine-wide busy CPU time"
        " during the run minus this script's own (winback: the whole binary, incl. matrix generation);"
        " runs with a large figure were disturbed.",
        *[f"- {n}" for n in notes],
        "",
        "Command: `python3 benches/compare_sklearn.py " + " ".join(sys.argv[1:]) + "`",
        "",
    ]
    text = "\n".join(md)
    print()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
