#!/usr/bin/env bash
# Builds the core for both wasm targets:
#   wasm32-wasip2:          $SCORELET_WASI_WASM   (the WASI command component)
#                           scorelet_spin.wasm, scorelet_spin_p2.wasm (the HTTP scoring components,
#                           WASI 0.3 and 0.2; `scorelet serve` runs them)
#   wasm32-unknown-unknown: $SCORELET_WEB_NODE/   (wasm-bindgen package for Node)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo build --release --locked -p scorelet-wasi -p scorelet-spin -p scorelet-spin-p2 --target wasm32-wasip2
cargo build --release --locked -p scorelet-web --target wasm32-unknown-unknown
wasm-bindgen --target nodejs --out-dir "$SCORELET_WEB_NODE" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/scorelet_web.wasm"
ls -l "$SCORELET_WASI_WASM" "$CARGO_TARGET_DIR"/wasm32-wasip2/release/scorelet_spin*.wasm "$SCORELET_WEB_NODE"/*.wasm
