#!/usr/bin/env bash
# Loopback load test of the registry: starts `scorelet registry serve`, publishes the Telco MLP
# bundle, then sends a bounded number of GETs for the manifest and for model.onnx and prints
# requests/s and p50/p99 latency (JSON lines).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
REQUESTS=${REQUESTS:-20000}
CONNECTIONS=${CONNECTIONS:-4}
scripts/build.sh >&2
bin="$CARGO_TARGET_DIR/release"
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
export SCORELET_REGISTRY_TOKEN=bench-token-0123456789
"$bin/scorelet" train --data data/telco-churn.csv --target Churn --positive Yes --spec examples/telco.toml \
  --model mlp --name churn --output "$work/bundle" -q 2>/dev/null
"$bin/scorelet" registry serve --root "$work/store" --addr 127.0.0.1:0 2> "$work/log" &
server=$!
for _ in $(seq 50); do grep -q "registry on" "$work/log" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/log" | head -1)
SCORELET_REGISTRY_URL=$url "$bin/scorelet" push --bundle "$work/bundle" >&2
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $REQUESTS requests over $CONNECTIONS connections" >&2
"$bin/loadgen" "$url/v1/models/churn/versions/1/manifest.json" - "$REQUESTS" "$CONNECTIONS"
"$bin/loadgen" "$url/v1/models/churn/versions/1/files/model.onnx" - "$REQUESTS" "$CONNECTIONS"
"$bin/loadgen" "$url/v1/models/churn/aliases" - "$REQUESTS" "$CONNECTIONS"
