#!/usr/bin/env bash
# Trains tree models on Telco and Adult with scorelet, LightGBM and scikit-learn on the same split,
# in one run, checks scorelet's ONNX exports with onnxruntime, and prints the table of
# doc/training.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/build.sh >&2
python/setup-venv.sh
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
python/.venv/bin/python python/compare_trees.py "$CARGO_TARGET_DIR/release/scorelet"
