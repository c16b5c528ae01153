#!/usr/bin/env bash
# Builds the core for both wasm targets:
#   wasm32-wasip2:          $SCORELET_WASI_WASM   (the WASI command component)
#   wasm32-unknown-unknown: $SCORELET_WEB_NODE/   (wasm-bindgen package for Node)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo build --release --locked -p scorelet-wasi --target wasm32-wasip2
cargo build --release --locked -p scorelet-web --target wasm32-unknown-unknown
wasm-bindgen --target nodejs --out-dir "$SCORELET_WEB_NODE" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/scorelet_web.wasm"
ls -l "$SCORELET_WASI_WASM" "$SCORELET_WEB_NODE"/*.wasm
