#!/usr/bin/env bash
# Builds every native artifact the scripts run (the `scorelet` binary, the Lambda `bootstrap`,
# `loadgen`, the examples) with the package selection and profile `cargo test --release
# --workspace` uses: one feature resolution, so the tests, the demo and the benchmarks share
# every compiled crate instead of building the workspace again with other features.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release --locked --workspace --bins --examples "$@"
