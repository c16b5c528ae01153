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

# Debian packages: Node (V8 runs the wasm32-unknown-unknown build), Chromium (the browser
# test and benchmark; playwright-core downloads no browser of its own) and Prometheus (the
# metrics test scrapes `scorelet serve` with it).
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v chromium >/dev/null || missing+=(chromium fonts-dejavu-core)
command -v prometheus >/dev/null || missing+=(prometheus)
if ((${#missing[@]})); then
  sudo_=""; [[ $(id -u) -ne 0 ]] && sudo_="sudo"
  echo "installing ${missing[*]}"
  $sudo_ apt-get update && $sudo_ apt-get install -y --no-install-recommends "${missing[@]}"
fi

# JS tooling pinned by js/package-lock.json: playwright-core, workerd, onnxruntime-web.
stamp=js/node_modules/.scorelet-lock
lock=$(sha256sum js/package-lock.json | cut -d' ' -f1)
if [[ $(cat "$stamp" 2>/dev/null) != "$lock" ]]; then
  # `npm install`, not `npm ci`: the lock lists only the platform packages this machine resolves
  # (workerd ships one per OS), which `npm ci` refuses; versions and integrity still come from it.
  (cd js && npm install --no-audit --no-fund)
  echo "$lock" > "$stamp"
fi
