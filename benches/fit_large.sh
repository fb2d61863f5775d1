#!/usr/bin/env bash
# `winback fit` on a large time-ordered Parquet log (the generator's data, as
# benches/compare_duckdb.py writes it): wall time and peak memory of the whole
# process, measured with /usr/bin/time.
#
#   cargo build --release -p winback-cli -p winback-core --examples --features parquet
#   bash benches/fit_large.sh            # 100M lines (98.2M, 3.57M customers)
#   bash benches/fit_large.sh 10000000   # 10M lines
#   PYTHON=.venv/bin/python bash benches/fit_large.sh   # and the same fit from Python
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${1:-100000000}
python3 benches/compare_duckdb.py --prepare-only --lines "$LINES" --layouts time --formats parquet
FILE=bench-out/synth_${LINES}_time.parquet
echo "uptime before: $(uptime)"
/usr/bin/time -f "winback fit: wall %e s, peak RSS %M KB" target/release/winback fit \
  --transactions "$FILE" --order-col order_id --channel-col channel --category-col category \
  --region-col region --quantity-col quantity --at 2023-07-01 --model "bench-out/fit_${LINES}.json" --quiet
# The same fit from Python, when an interpreter with winback is given (PYTHON=.venv/bin/python):
if [ -n "${PYTHON:-}" ]; then
  /usr/bin/time -f "python fit: wall %e s, peak RSS %M KB" "$PYTHON" benches/fit_large_py.py "$FILE"
fi
