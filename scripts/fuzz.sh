#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz + libFuzzer, on the nightly toolchain) of
# every reader of untrusted input: CSV, Parquet, model files, outcome files and
# the CLI's --config TOML. New inputs go to target/fuzz-corpus/<target>; the
# seeds in fuzz/corpus/<target> stay as committed. A crash stops the run and
# leaves the input in fuzz/artifacts/<target>/.
# Usage: bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 600 s, all five)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(csv_reader parquet_reader model_loader outcomes_reader config_toml)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
for t in "${targets[@]}"; do
  mkdir -p "target/fuzz-corpus/$t"
  echo "== $t: ${secs}s"
  (cd fuzz && cargo +nightly fuzz run --dev "$t" "../target/fuzz-corpus/$t" "corpus/$t" -- \
      -max_total_time="$secs" -rss_limit_mb=4096 -timeout=30 -print_final_stats=1) 2>&1 \
    | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|Done|==[0-9]+== ERROR|SUMMARY|thread '.*' panicked)" || true
  if ls "fuzz/artifacts/$t"/crash-* >/dev/null 2>&1; then
    echo "$t: CRASH, see fuzz/artifacts/$t" >&2
    exit 1
  fi
done
