#!/usr/bin/env bash
# Sets up, builds every target and runs every test. This is what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
start=$(date +%s)

scripts/setup.sh
cargo fmt --all --check
scripts/build-wasm.sh
cargo clippy --release --locked --workspace --all-targets -- -D warnings
cargo test --release --locked --workspace
# The Lambda package: builds, carries an executable bootstrap and a precompiled component.
scripts/package-lambda.sh --out "$CARGO_TARGET_DIR/lambda-test.zip" >/dev/null

echo "scripts/test.sh: all passed in $(( $(date +%s) - start ))s"
