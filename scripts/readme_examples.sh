#!/usr/bin/env bash
# Re-runs the README's command-line examples on the bundled Online Retail sample and
# prints what they print (the README quotes this output, shortened with "...").
# Usage: bash scripts/readme_examples.sh   (builds the CLI in release mode first)
# The wave outcomes of "A wave with a control group" are illustrative, not real: each
# listed customer comes back with its group's probability, plus 0.10 when contacted
# in groups 1-5 (Python's random, seed 1).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cargo build --release -q -p winback-cli --manifest-path "$root/Cargo.toml"
wb="$root/target/release/winback"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
T=(--transactions "$root/datasets/online_retail_invoices.csv.gz" --date-col invoice_date --order-col invoice_no --region-col country --cancel-col is_cancellation --quantity-col quantity)
run() { echo "\$ winback $*" | sed "s|$root/||g"; "$wb" "$@" 2>&1 | sed "s|$root/||g; s|$work/||g"; }
run lapse "${T[@]}" --at 2011-12-10
run fit "${T[@]}" --at 2011-12-10 --model model.json -q
run score --model model.json "${T[@]}" --at 2011-12-10 -o scores.csv
head -2 scores.csv
run plan --model model.json "${T[@]}" --at 2011-12-10 --objective profit --cost-per-contact 2 --margin 0.3 --target-winbacks 200 -o contacts.csv -q
run profile --model model.json "${T[@]}" --at 2011-12-10 -q
run backtest "${T[@]}" --at 2011-12-10 --cutoffs 2011-09-01,2011-10-01 -q
printf 'group,contacted,came_back\n1,100,38\n2,60,12\n' > wave1.csv
run feedback --model model.json --model-out model-wave1.json --outcomes wave1.csv "${T[@]}" --at 2011-12-10 --objective profit --cost-per-contact 2 --margin 0.3 --target-winbacks 150 -q
run feedback --model model-wave1.json --outcomes wave1.csv "${T[@]}" --at 2011-12-10 -q || true
run plan --model model.json "${T[@]}" --at 2011-12-10 --control-share 0.3 -o wave-a.csv -q
python3 - <<'PY'
import csv, random
rng = random.Random(1)
rows = list(csv.DictReader(open("wave-a.csv")))
with open("outcomes-a.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["customer_id", "arm", "came_back"])
    for r in rows:
        p = float(r["probability"]) + (0.10 if r["arm"] == "contact" and int(r["group"]) <= 5 else 0.0)
        w.writerow([r["customer_id"], r["arm"], int(rng.random() < p)])
PY
head -3 outcomes-a.csv
run feedback --model model.json --model-out model-a.json --outcomes outcomes-a.csv "${T[@]}" --at 2011-12-10 --objective incremental --cost-per-contact 2 --margin 0.3 -q
run campaign --model model-a.json --cost-per-contact 2
