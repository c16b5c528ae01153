#!/usr/bin/env bash
# Installs a self-contained `scorelet` binary into ROOT/bin (default ~/.local): the scoring
# components are built first and travel inside the binary, so it serves and builds components
# anywhere, without this source tree or cargo.
#   scripts/install.sh [ROOT]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
root=${1:-$HOME/.local}
scripts/setup.sh
scripts/build-wasm.sh >/dev/null
SCORELET_COMPONENTS="$CARGO_TARGET_DIR/wasm32-wasip2/release" cargo install --locked --path crates/cli --root "$root"
echo "installed $root/bin/scorelet"
