#!/usr/bin/env bash
# The main job end to end on the embedded defaults: train on the Telco data, publish the bundle
# to a local registry, promote it, serve it with the Wasm scoring component (which fetches
# churn@production from the registry at cold start) and score rows over HTTP; then check the
# answers against native scoring and the same core in wasip2 and in V8.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh
scripts/build-wasm.sh
scripts/build.sh
scorelet="$CARGO_TARGET_DIR/release/scorelet"

out=out/demo
rm -rf "$out" && mkdir -p "$out"
echo "== train: data/telco-churn.csv → $out/churn (MLP, INT8, gated against float)"
"$scorelet" train --data data/telco-churn.csv --target Churn --positive Yes \
  --spec examples/telco.toml --model mlp --name churn --output "$out/churn"

echo "== publish to a local registry and promote to production"
export SCORELET_REGISTRY_TOKEN=demo-token-0123456789
"$scorelet" registry serve --root "$out/registry" --addr 127.0.0.1:0 2> "$out/registry.log" &
registry=$!
serve=""
trap 'kill $registry $serve 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "registry on" "$out/registry.log" && break; sleep 0.1; done
export SCORELET_REGISTRY_URL=$(grep -o 'http://[0-9.:]*' "$out/registry.log" | head -1)
"$scorelet" push --bundle "$out/churn"
"$scorelet" promote churn 1 --to production --require 'roc_auc>=0.83' --not-worse-than production
"$scorelet" versions churn
"$scorelet" pull churn@production --output "$out/pulled"
"$scorelet" check --bundle "$out/pulled"

echo "== score 5 rows natively"
head -6 data/telco-churn.csv > "$out/rows.csv"
"$scorelet" predict --bundle "$out/pulled" --input "$out/rows.csv" --quiet | tee "$out/native.jsonl"

python3 - "$out/rows.csv" > "$out/rows.jsonl" <<'PY'
import csv, json, sys
for r in csv.DictReader(open(sys.argv[1])):
    print(json.dumps(r))
PY

echo "== serve the Wasm component: it fetches churn@production from the registry and verifies it"
"$scorelet" serve --model churn@production --addr 127.0.0.1:0 2> "$out/serve.log" &
serve=$!
for _ in $(seq 600); do grep -q "scoring on" "$out/serve.log" && break; sleep 0.1; done
cat "$out/serve.log"
url=$(grep -o 'scoring on http://[0-9.:]*' "$out/serve.log" | cut -d' ' -f3)
python3 - "$url" "$out" <<'PY'
import json, sys, urllib.request
url, d = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(f"{d}/rows.jsonl")]
req = urllib.request.Request(f"{url}/invocations", data=json.dumps({"dataframe_records": rows}).encode(),
                             headers={"content-type": "application/json"})
answer = json.load(urllib.request.urlopen(req))
print(f"POST {url}/invocations →", json.dumps(answer)[:200], "…")
native = [json.loads(l) for l in open(f"{d}/native.jsonl")]
assert answer["predictions"] == native, "the component differs from native"
print(f"component: {len(native)} predictions from {answer['model']['name']}@{answer['model']['version']}, identical to native")
PY

echo "== the same rows in the other WebAssembly builds"
"$CARGO_TARGET_DIR/release/examples/run-wasi" "$SCORELET_WASI_WASM" "$out/pulled" < "$out/rows.jsonl" > "$out/wasi.jsonl"
node tests/parity/score.cjs "$SCORELET_WEB_NODE" "$out/pulled" < "$out/rows.jsonl" > "$out/v8.jsonl"
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
native = [json.loads(l) for l in open(f"{d}/native.jsonl")]
for target in ("wasi", "v8"):
    other = [json.loads(l)["prediction"] for l in open(f"{d}/{target}.jsonl")]
    assert other == native, f"{target} differs from native"
    print(f"{target:>5}: {len(other)} predictions identical to native, bit for bit")
PY
echo "== report: $out/churn/report.html"
