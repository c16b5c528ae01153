#!/usr/bin/env bash
# Sets up, builds every target and runs every test. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
start=$(date +%s)
# Tests that need the wasm builds, Node, Chromium or workerd fail here if those are missing,
# instead of skipping as they do under a plain `cargo test` (tests/support/mod.rs).
export SCORELET_TEST_ALL=1
# Each step's time on stderr at the end, so a slow CI run says where its minutes went.
times=()
step() {
  local t=$(date +%s)
  "$@"
  times+=("$(( $(date +%s) - t ))s  $*")
}

step scripts/setup.sh
step cargo fmt --all --check
step scripts/build-wasm.sh
step cargo clippy --release --locked --workspace --all-targets -- -D warnings
step cargo clippy --release --locked --workspace --all-targets --features scorelet-registry/faults -- -D warnings
# The worker's code exists only in the wasm build with its feature (the page's package lacks it).
step cargo clippy --release --locked -p scorelet-web --features worker --target wasm32-unknown-unknown -- -D warnings
step cargo test --release --locked --workspace --no-run
step cargo test --release --locked --workspace
# The store under crashes and power loss: failpoints and a power-loss model compiled in for
# this test only (the same workspace selection, so only scorelet-registry builds again).
step cargo test --release --locked --workspace --features scorelet-registry/faults --test faults
# The Lambda package carries an executable bootstrap and a precompiled component (the bootstrap
# the tests just built: a `-p scorelet-lambda` build would resolve features anew and recompile).
step scripts/package-lambda.sh --bootstrap "$CARGO_TARGET_DIR/release/bootstrap" \
  --component "$CARGO_TARGET_DIR/wasm32-wasip2/release/scorelet_spin.wasm" \
  --out "$CARGO_TARGET_DIR/lambda-test.zip" >/dev/null
# Coverage-guided fuzzing of every parser target, briefly (skipped without nightly).
step scripts/fuzz.sh "" 15
# The benchmark suite, every step briefly, so it cannot rot (its numbers mean nothing).
step scripts/bench.sh --smoke --out "$CARGO_TARGET_DIR/bench-smoke" >/dev/null

printf '  %s\n' "${times[@]}" >&2
echo "scripts/test.sh: all passed in $(( $(date +%s) - start ))s"
