#!/usr/bin/env bash
# The main job end to end on the embedded defaults: train on the Telco data, then score rows
# natively and with the very same core compiled to WebAssembly (wasip2 under wasmtime, and
# wasm32-unknown-unknown under Node's V8), and show the three agree.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
scripts/build-wasm.sh
cargo build --release --locked -p scorelet-cli -p scorelet-host --examples
scorelet="$CARGO_TARGET_DIR/release/scorelet"

out=out/demo
rm -rf "$out" && mkdir -p "$out"
echo "== train: data/telco-churn.csv → $out/churn (logistic regression, INT8)"
"$scorelet" train --data data/telco-churn.csv --target Churn --positive Yes \
  --spec examples/telco.toml --name churn --out "$out/churn"
"$scorelet" check --bundle "$out/churn"

echo "== score 5 rows natively"
head -6 data/telco-churn.csv > "$out/rows.csv"
"$scorelet" predict --bundle "$out/churn" --input "$out/rows.csv" --quiet | tee "$out/native.jsonl"

echo "== the same rows in WebAssembly"
python3 - "$out/rows.csv" > "$out/rows.jsonl" <<'PY'
import csv, json, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(json.dumps(r))
PY
"$CARGO_TARGET_DIR/release/examples/run-wasi" "$SCORELET_WASI_WASM" "$out/churn" < "$out/rows.jsonl" > "$out/wasi.jsonl"
node tests/parity/score.cjs "$SCORELET_WEB_NODE" "$out/churn" < "$out/rows.jsonl" > "$out/v8.jsonl"
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
native = [json.loads(l) for l in open(f"{d}/native.jsonl")]
for target in ("wasi", "v8"):
    other = [json.loads(l)["prediction"] for l in open(f"{d}/{target}.jsonl")]
    assert other == native, f"{target} differs from native"
    print(f"{target:>5}: {len(other)} predictions identical to native")
PY
