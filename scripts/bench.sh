#!/usr/bin/env bash
# The benchmark suite in one command: scorelet against onnxruntime (+ pandas), a FastAPI server,
# MLflow's scoring server and onnxruntime-web, side by side on this machine.
#   scripts/bench.sh           → out/bench/results.{md,json,svg}   (about 10 minutes)
#   scripts/bench.sh --smoke   → every step, briefly (CI: keeps the suite from rotting)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/setup.sh >&2
scripts/build-wasm.sh >&2
scripts/build.sh >&2

# The Python peers in their own pinned environment.
python/bench/setup-venv.sh
venv=python/bench/.venv
"$venv/bin/python" python/bench/run.py "$@"
