"""The benchmark scripts' environment: re-exec a script inside an interpreter that
has winback and the packages the script compares against.

``ensure_env`` uses the interpreter given (``--python``), or ``bench-out/venv``
(created, with the packages pip-installed and winback built into it with
``maturin develop --release``, ``CARGO_TARGET_DIR=target/py``, when missing).
The packages are also listed in ``benches/requirements-bench.txt``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench-out"
VENV = OUT_DIR / "venv"
VENV_PY = VENV / "bin" / "python"
REQS = ROOT / "benches" / "requirements-bench.txt"
PY_CRATE = ROOT / "crates" / "winback-py"
CHILD_MARK = "WINBACK_BENCH_CHILD"


def ensure_requirements_file(packages: Sequence[str]) -> None:
    """Append the packages a script needs to requirements-bench.txt."""
    lines = REQS.read_text().splitlines() if REQS.exists() else []
    names = {re.split(r"[<>=!~\[ ;]", l.strip(), maxsplit=1)[0].lower() for l in lines if l.strip()}
    missing = [p for p in packages if re.split(r"[<>=!~\[ ;]", p, maxsplit=1)[0].lower() not in names]
    if missing:
        text = REQS.read_text() if REQS.exists() else ""
        if text and not text.endswith("\n"):
            text += "\n"
        REQS.write_text(text + "".join(p + "\n" for p in missing))


def ensure_env(script: str, python: Optional[str], packages: Sequence[str], imports: str) -> None:
    """Re-exec `script` inside the benchmark interpreter (see the module docs); returns
    at once when already there."""
    ensure_requirements_file(packages)
    if os.environ.get(CHILD_MARK) == "1":
        return
    if python:
        py = Path(python).absolute()
        if not py.exists():
            sys.exit(f"--python {python}: no such interpreter")
    else:
        py = VENV_PY
        if not py.exists():
            OUT_DIR.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if subprocess.run([str(py), "-c", imports], capture_output=True).returncode != 0:
        print(f"installing {' '.join(packages)} into {py}", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *packages], check=True)
    if subprocess.run([str(py), "-c", "import winback"], capture_output=True).returncode != 0:
        if python:
            sys.exit(f"{py} cannot import winback; omit --python to build it into {VENV}")
        print(f"building winback into {VENV} (maturin develop --release, CARGO_TARGET_DIR=target/py)", flush=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "maturin"], check=True)
        env = dict(os.environ, VIRTUAL_ENV=str(VENV), PATH=f"{VENV / 'bin'}:{os.environ.get('PATH', '')}",
                   CARGO_TARGET_DIR=str(ROOT / "target" / "py"))
        subprocess.run([str(VENV / "bin" / "maturin"), "develop", "--release"], cwd=PY_CRATE, env=env, check=True)
    env = dict(os.environ, **{CHILD_MARK: "1"})
    os.execve(str(py), [str(py), str(Path(script).resolve()), *sys.argv[1:]], env)
