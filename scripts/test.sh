#!/usr/bin/env bash
# Sets up and runs every test of the project on a fresh machine: Rust, then Python.
# Usage: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# The CLI's report test opens the HTML report in headless Chromium (Debian's package).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (Debian package) for the report test..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
export WINBACK_REQUIRE_BROWSER=1
# The fuzz crate's libfuzzer-sys dependency compiles libFuzzer (C++) even for its stable smoke test.
if ! command -v c++ >/dev/null 2>&1; then
  echo "installing g++ (Debian package) for libfuzzer-sys..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq g++ >/dev/null
fi

# The Spark tests (winback.spark, pyspark from requirements-test.txt) need a Java 17+ runtime.
if ! command -v java >/dev/null 2>&1; then
  echo "installing a Java runtime (Debian package) for the Spark tests..."
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

# A one-off build gains nothing from incremental caches, which cost disk (CI has little).
export CARGO_INCREMENTAL=0

# Rust: unit, integration and doc tests of the workspace's default members
# (the Python binding crate stays outside them, so this needs no Python).
cargo test --workspace --all-features --no-fail-fast
# Lints: clippy's warnings and missing docs are errors.
cargo clippy --workspace --all-targets --all-features -- -D warnings -D missing_docs

# Python: a virtual environment of our own, the package built into it with maturin, pytest.
python3 -m venv "$ROOT/.venv"
"$ROOT/.venv/bin/pip" install -q --upgrade pip
"$ROOT/.venv/bin/pip" install -q -r crates/winback-py/requirements-test.txt
(cd crates/winback-py && VIRTUAL_ENV="$ROOT/.venv" PATH="$ROOT/.venv/bin:$PATH" CARGO_TARGET_DIR="$ROOT/target/py" maturin develop --release -q)
# Spark runs its Python workers with this interpreter (the one with winback and pyarrow).
export PYSPARK_PYTHON="$ROOT/.venv/bin/python"
(cd crates/winback-py/tests && "$ROOT/.venv/bin/python" -m pytest -q)
