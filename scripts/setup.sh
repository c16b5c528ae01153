#!/usr/bin/env bash
# Installs everything building and testing scorelet needs; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

rustup target add wasm32-wasip2 wasm32-unknown-unknown

# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly.
wb_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $wb_version"; then
  echo "installing wasm-bindgen-cli $wb_version"
  # Not --locked: the lock file shipped with 0.2.130 pins a webpki-roots release that is no
  # longer offered; the tool's own version stays exact.
  cargo install --root "$SCORELET_TOOLS" wasm-bindgen-cli --version "$wb_version"
fi

# Node runs the wasm32-unknown-unknown build in V8.
if ! command -v node >/dev/null; then
  apt-get update && apt-get install -y --no-install-recommends nodejs
fi
