#!/usr/bin/env bash
# Training on more rows than fit comfortably in memory as strings: generates a 1 M-row Telco-like
# CSV (python/gen_large_telco.py), trains it with `scorelet train` (logistic regression and MLP)
# and with scikit-learn (`pd.read_csv` + a LogisticRegression pipeline), and prints peak RSS and
# wall time of each from `/usr/bin/time -v`.
#   scripts/bench-train-memory.sh [ROWS]     (default 1000000; results in doc/training.md)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
rows=${1:-1000000}
scripts/build.sh >&2
python/bench/setup-venv.sh
work=out/train-memory
mkdir -p "$work"
data="$work/telco-$rows.csv"
[[ -f $data ]] || python3 python/gen_large_telco.py "$rows" "$data"
echo "data: $data, $(du -h "$data" | cut -f1), $rows rows; machine: $(nproc) cores"

measure() {
  local label=$1; shift
  /usr/bin/time -v "$@" > "$work/$label.out" 2> "$work/$label.time"
  local rss secs
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$work/$label.time")
  secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/$label.time")
  printf "| %-34s | %7s MB | %9s |\n" "$label" "$rss" "$secs"
}

echo "| run | peak RSS | wall time |"
echo "|---|---|---|"
for model in linear mlp; do
  rm -rf "$work/bundle-$model"
  measure "scorelet train --model $model" "$CARGO_TARGET_DIR/release/scorelet" train -q --data "$data" \
    --target Churn --positive Yes --spec examples/telco.toml --model "$model" --name churn --output "$work/bundle-$model"
done
measure "pandas read_csv + sklearn LogisticRegression" python/bench/.venv/bin/python python/bench/train_memory_peer.py "$data"
echo "scikit-learn: $(cat "$work/pandas read_csv + sklearn LogisticRegression.out")"
