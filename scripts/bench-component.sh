#!/usr/bin/env bash
# Cold start, steady-state latency and size of the scoring component (WASI 0.3) under the
# embedded wasmtime host. Prints a Markdown table; writes out/bench/component.json.
# Usage: scripts/bench-component.sh [ROUNDS]   (default 10)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/build-wasm.sh >/dev/null
scripts/build.sh
scorelet="$CARGO_TARGET_DIR/release/scorelet"
dir=out/bench/component
rm -rf "$dir" && mkdir -p "$dir"
"$scorelet" train --quiet --data data/telco-churn.csv --target Churn --positive Yes \
  --spec examples/telco.toml --model mlp --name churn --output "$dir/churn" >/dev/null
"$scorelet" build --bundle "$dir/churn" -o "$dir/churn.wasm" 2>&1 | tail -1
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$CARGO_TARGET_DIR/release/examples/cold_start" "$dir/churn" "$dir/churn.wasm" "${1:-10}"
