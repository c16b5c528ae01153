#!/usr/bin/env bash
# Builds the core for both wasm targets and assembles what the JS engines load:
#   wasm32-wasip2:          $SCORELET_WASI_WASM   (the WASI command component)
#                           scorelet_spin.wasm, scorelet_spin_p2.wasm (the HTTP scoring components,
#                           WASI 0.3 and 0.2; `scorelet serve` runs them), and their lean builds
#                           without tract, scorelet_spin_lean.wasm, scorelet_spin_p2_lean.wasm
#                           (`scorelet build`/`serve --bundle` pick them when the model runs on
#                           the compiled engine)
#   wasm32-unknown-unknown: size-optimized (profile wasm-size: opt-level "s", fat LTO), without
#                           tract (the browser package is compiled-engine only), twice: `+simd128`
#                           (.cargo/config.toml; the kernels' Wasm SIMD paths are compile-time)
#                           and a baseline without SIMD for older engines
#     $SCORELET_WEB_NODE/            the package for Node (baseline)
#     $SCORELET_WEB_PKG/{baseline,simd128}/   the ES-module package for pages and apps
#     $SCORELET_WEB_PKG/worker/      the same with `handleRequest` (feature `worker`, simd128)
#     $SCORELET_SITE/                the demo page (www/) with both builds and onnxruntime-web,
#                                    for `scorelet registry serve --site`
#     $SCORELET_WORKER/              the worker (worker/) for workerd, model from the registry
#
# Usage: scripts/build-wasm.sh [--components]   (--components: the wasm32-wasip2 builds only)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

cargo build --release --locked -p scorelet-wasi -p scorelet-spin -p scorelet-spin-p2 --target wasm32-wasip2
# The lean components resolve features without tract, so they build in their own directory.
cargo build --release --locked -p scorelet-spin -p scorelet-spin-p2 --target wasm32-wasip2 --no-default-features \
  --target-dir "$CARGO_TARGET_DIR/lean"
for c in scorelet_spin scorelet_spin_p2; do
  cp "$CARGO_TARGET_DIR/lean/wasm32-wasip2/release/$c.wasm" "$CARGO_TARGET_DIR/wasm32-wasip2/release/${c}_lean.wasm"
done
[ "${1:-}" = "--components" ] && exit 0

web() { cargo build --profile wasm-size --locked -p scorelet-web --target wasm32-unknown-unknown "$@"; }
simd="$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-size/scorelet_web.wasm"
# The worker's build first: the feature changes only this crate, so both share the target
# directory and the page's build below relinks in seconds (and leaves its own file in place).
web --features worker
cp "$simd" "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-size/scorelet_web_worker.wasm"
web
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=-simd128" web --target-dir "$CARGO_TARGET_DIR/baseline"
baseline="$CARGO_TARGET_DIR/baseline/wasm32-unknown-unknown/wasm-size/scorelet_web.wasm"

# The name section is 2 MB of function names: gone. (`strip` in the profile would also drop the
# target_features section wasm-bindgen reads.)
# `__wbg_reset_state()` is how callers recover from a panic inside the package (a fresh
# instance of the compiled module; crates/web/src/trap.rs).
bindgen() { wasm-bindgen --remove-name-section --remove-producers-section --experimental-reset-state-function "$@"; }
rm -rf "$SCORELET_WEB_NODE" "$SCORELET_WEB_PKG"
bindgen --target nodejs --out-dir "$SCORELET_WEB_NODE" "$baseline"
bindgen --target web --out-dir "$SCORELET_WEB_PKG/baseline" "$baseline"
bindgen --target web --out-dir "$SCORELET_WEB_PKG/simd128" "$simd"
bindgen --target web --out-name scorelet_web --out-dir "$SCORELET_WEB_PKG/worker" \
  "$CARGO_TARGET_DIR/wasm32-unknown-unknown/wasm-size/scorelet_web_worker.wasm"

# No wasm-opt: Debian's binaryen (108) cannot parse what rustc 1.95 emits (`table.fill`,
# "invalid code after misc prefix: 17"), and opt-level "s" + LTO already did the size work.

rm -rf "$SCORELET_SITE"
mkdir -p "$SCORELET_SITE/vendor/onnxruntime-web"
cp -r www/. "$SCORELET_SITE/"
mkdir -p "$SCORELET_SITE/pkg"
cp -r "$SCORELET_WEB_PKG/baseline" "$SCORELET_WEB_PKG/simd128" "$SCORELET_SITE/pkg/"
ort=js/node_modules/onnxruntime-web/dist
cp "$ort"/ort.wasm.min.mjs "$ort"/ort-wasm-simd-threaded.mjs "$ort"/ort-wasm-simd-threaded.wasm \
  "$SCORELET_SITE/vendor/onnxruntime-web/"

rm -rf "$SCORELET_WORKER"
node worker/assemble.mjs --pkg "$SCORELET_WEB_PKG/worker" --out "$SCORELET_WORKER"

ls -l "$SCORELET_WASI_WASM" "$CARGO_TARGET_DIR"/wasm32-wasip2/release/scorelet_spin*.wasm \
  "$SCORELET_WEB_NODE"/*.wasm "$SCORELET_WEB_PKG"/*/*.wasm
