#!/usr/bin/env bash
# scorelet vs onnxruntime-web in headless Chromium, same INT8 ONNX model on the same page:
# package size (raw, gzip -9), first load (download + compile + model load, fresh context each),
# first score, per-row latency and 100 rows per call. Telco logistic regression and MLP bundles.
#   scripts/bench-browser.sh            → out/bench/browser-{logreg,mlp}.json and browser.md
#   CALLS=50 LOADS=1 scripts/bench-browser.sh   (quick)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
CALLS=${CALLS:-1000}
LOADS=${LOADS:-5}
scripts/setup.sh >&2
scripts/build-wasm.sh >&2
scripts/build.sh >&2
scorelet="$CARGO_TARGET_DIR/release/scorelet"
out=out/bench
work=$(mktemp -d)
mkdir -p "$out"
trap 'kill $registry 2>/dev/null || true; rm -rf "$work"' EXIT

export SCORELET_REGISTRY_TOKEN=bench-token-0123456789
"$scorelet" registry serve --root "$work/store" --addr 127.0.0.1:0 --site "$SCORELET_SITE" 2> "$work/log" &
registry=$!
for _ in $(seq 50); do grep -q "registry on" "$work/log" && break; sleep 0.1; done
export SCORELET_REGISTRY_URL=$(grep -o 'http://[0-9.:]*' "$work/log" | head -1)
python3 -c '
import csv, json, sys
rows = [{k: v for k, v in r.items() if k != "Churn"} for r, _ in zip(csv.DictReader(open("data/telco-churn.csv")), range(500))]
json.dump(rows, open(sys.argv[1], "w"))' "$work/rows.json"

{
  echo "# scorelet vs onnxruntime-web in Chromium"
  echo
  echo "\`scripts/bench-browser.sh\`, $(date -u +%Y-%m-%d); $(chromium --version 2>/dev/null | head -1)"
} > "$out/browser.md"
version=0
for model in logreg mlp; do
  version=$((version + 1))
  "$scorelet" train --data data/telco-churn.csv --target Churn --positive Yes --spec examples/telco.toml \
    --model "$model" --name churn --output "$work/$model" -q >&2
  "$scorelet" push --bundle "$work/$model" >&2
  echo -e "\n## Telco $model (INT8)\n" >> "$out/browser.md"
  node js/bench-browser.mjs --site "$SCORELET_REGISTRY_URL/" --name churn --version "$version" --rows "$work/rows.json" \
    --pkg "$SCORELET_WEB_PKG/simd128" --ort js/node_modules/onnxruntime-web/dist --calls "$CALLS" --loads "$LOADS" \
    --out "$out/browser-$model.json" | tee -a "$out/browser.md"
done
echo "wrote $out/browser.md" >&2
