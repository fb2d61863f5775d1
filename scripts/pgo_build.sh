#!/usr/bin/env bash
# A profile-guided (PGO) build of the `winback` program: built once with
# instrumentation, run on a training set of purchase logs, then built again
# with the profiles it wrote. The program computes the same bits (PGO only
# moves code and changes inlining); `cmp` of its outputs against the plain
# release build's is part of this script.
#
#   bash scripts/pgo_build.sh          # -> target/pgo/release/winback
#
# Training set (every command the program is benchmarked with, and others):
#   * the bundled real samples (datasets/: UCI Online Retail, dunnhumby
#     Complete Journey): `lapse`, `features --all`, `fit`, `score`;
#   * the generator's 1M-line logs in the three row orders (time, customer,
#     random), CSV and Parquet, written by benches/compare_duckdb.py
#     (--prepare-only): `features --all` and `fit`.
# The 10M and 100M benchmark files are not in it.
#
# Needs the llvm-tools rustup component (installed here when missing) for
# `llvm-profdata`, the core crate's examples (built here into target/release),
# the benchmark's Python venv (bench-out/venv, made by compare_duckdb.py when
# missing: DuckDB writes the Parquet copies), and two clean builds of the
# program (~5-6 minutes each on 2 cores) in their own target directories, so
# target/release/winback is untouched.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
GEN=target/pgo-gen
USE=target/pgo
PROF=$ROOT/target/pgo-profiles
SYSROOT=$(rustc --print sysroot)
HOST=$(rustc -vV | sed -n 's/^host: //p')
PROFDATA=$SYSROOT/lib/rustlib/$HOST/bin/llvm-profdata
if [ ! -x "$PROFDATA" ]; then
  rustup component add llvm-tools
fi
rm -rf "$PROF"
mkdir -p "$PROF"

# The generator and the benchmark's examples write the training logs.
cargo build --release -p winback-core --examples --features parquet

echo "== instrumented build"
RUSTFLAGS="-Cprofile-generate=$PROF/raw" cargo build --release -p winback-cli --target-dir "$GEN"
W=$GEN/release/winback

echo "== training"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
OR="--transactions datasets/online_retail_invoices.csv.gz --date-col invoice_date --order-col invoice_no --region-col country --cancel-col is_cancellation --quantity-col quantity"
CJ="--transactions datasets/completejourney_baskets.csv.gz --customer-col household_id --date-col date --order-col basket_id --region-col store_id --amount-col sales_value --quantity-col quantity --category-col department"
for T in "$OR --at 2011-09-01" "$CJ --at 2017-10-01"; do
  # shellcheck disable=SC2086
  $W lapse $T -q > /dev/null
  # shellcheck disable=SC2086
  $W features $T --all -o "$TMP/f.parquet" -q
  # shellcheck disable=SC2086
  $W fit $T --model "$TMP/m.json" -q > /dev/null
  # shellcheck disable=SC2086
  $W score $T --model "$TMP/m.json" -o "$TMP/s.csv" -q
done
# The generator's 1M-line logs (written once into bench-out/, as the benchmark does).
for layout in time customer random; do
  for f in $(python3 benches/compare_duckdb.py --prepare-only --lines 1000000 --layouts "$layout" --formats csv parquet | tail -1); do
    $W features --transactions "$f" --at 2023-07-01 --all --customer-col customer_id --order-col order_id \
      --date-col date --amount-col amount --quantity-col quantity --channel-col channel \
      --category-col category --region-col region -o "$TMP/g.parquet" -q
  done
done
$W fit --transactions bench-out/synth_1000000_time.parquet --order-col order_id --channel-col channel \
  --category-col category --region-col region --quantity-col quantity --at 2023-07-01 --model "$TMP/g.json" -q > /dev/null

echo "== merging $(ls "$PROF/raw" | wc -l) profiles"
"$PROFDATA" merge -o "$PROF/merged.profdata" "$PROF/raw"

echo "== optimized build"
RUSTFLAGS="-Cprofile-use=$PROF/merged.profdata" cargo build --release -p winback-cli --target-dir "$USE"
echo "built $USE/release/winback"

# Same bits as the plain build, when there is one.
if [ -x target/release/winback ]; then
  # shellcheck disable=SC2086
  target/release/winback features $OR --at 2011-09-01 --all -o "$TMP/plain.csv" -q
  # shellcheck disable=SC2086
  "$USE/release/winback" features $OR --at 2011-09-01 --all -o "$TMP/pgo.csv" -q
  cmp "$TMP/plain.csv" "$TMP/pgo.csv" && echo "features table identical to target/release/winback's"
fi
