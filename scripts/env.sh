# Sourced by the other scripts: where builds and tools live.
# The target directory sits outside the clone (under ~/.cache) so CI and fresh clones reuse a
# previous build when there is one; it is created when there is not.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/scorelet/target}"
export SCORELET_TOOLS="${SCORELET_TOOLS:-$HOME/.cache/scorelet/tools}"
export PATH="$SCORELET_TOOLS/bin:$HOME/.cargo/bin:$PATH"
export SCORELET_WASI_WASM="$CARGO_TARGET_DIR/wasm32-wasip2/release/scorelet-wasi.wasm"
export SCORELET_WEB_NODE="$CARGO_TARGET_DIR/web-node"
mkdir -p "$CARGO_TARGET_DIR" "$SCORELET_TOOLS"
export SCORELET_WEB_PKG="$CARGO_TARGET_DIR/web-pkg"
export SCORELET_SITE="$CARGO_TARGET_DIR/site"
export SCORELET_WORKER="$CARGO_TARGET_DIR/worker"
