#!/usr/bin/env bash
# Packages the scoring function for AWS Lambda (runtime provided.al2023, x86_64):
#   bootstrap        the custom runtime (lambda_runtime + wasmtime), stripped
#   scorelet.wasm    the scoring component, the same file Spin runs: with --bundle, the bundle
#                    embedded and pre-initialized by `scorelet build` (which picks the lean build,
#                    no tract, for a model on the compiled engine), so the model is loaded before
#                    the first event; without, the built-in component
#   compiled/        its machine code, so a cold start deserializes instead of compiling
#   bundle/          the model as a directory, with --bundle and --component (else configure
#                    SCORELET_MODEL + SCORELET_REGISTRY_URL, or pass a component built with
#                    `scorelet build --bundle`)
#
# Usage: scripts/package-lambda.sh [--bundle DIR] [--component FILE] [--bootstrap FILE] [--out ZIP]
#   --bootstrap: use this already-built bootstrap instead of building one
# Deploy: see doc/component.md, "AWS Lambda" (SAM template in deploy/lambda/template.yaml, or the
# plain AWS CLI).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

bundle="" component="" bootstrap="" zip="out/lambda/scorelet-lambda.zip"
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle="$2"; shift 2 ;;
    --component) component="$2"; shift 2 ;;
    --bootstrap) bootstrap="$2"; shift 2 ;;
    --out) zip="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [ -z "$bootstrap" ]; then
  scripts/build.sh
  bootstrap="$CARGO_TARGET_DIR/release/bootstrap"
fi
# The bundle is checked once: a bundle that fails stops here, and the check says which engine
# serves its model.
check=""
if [ -n "$bundle" ]; then
  scripts/build.sh >&2
  check=$("$CARGO_TARGET_DIR/release/scorelet" check --bundle "$bundle")
  echo "$check"
fi
embedded=""
if [ -z "$component" ]; then
  scripts/build-wasm.sh --components >&2
  component="$CARGO_TARGET_DIR/wasm32-wasip2/release/scorelet_spin.wasm"
  if [ -n "$bundle" ]; then
    embedded=$(mktemp --suffix .wasm)
    "$CARGO_TARGET_DIR/release/scorelet" build --quiet --bundle "$bundle" -o "$embedded" >&2
    component="$embedded"
  fi
fi

# provided.al2023 ships glibc 2.34: refuse a binary that needs a newer one.
newest=$(objdump -T "$bootstrap" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)
if [ "$(printf '%s\nGLIBC_2.34\n' "$newest" | sort -V | tail -1)" != "GLIBC_2.34" ]; then
  echo "bootstrap needs $newest but provided.al2023 has glibc 2.34; build on an older system" >&2
  exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage" ${embedded:+"$embedded"}' EXIT
cp "$bootstrap" "$stage/bootstrap"
strip "$stage/bootstrap"
cp "$component" "$stage/scorelet.wasm"
"$bootstrap" precompile "$stage/scorelet.wasm" "$stage/compiled"
if [ -n "$bundle" ] && [ -z "$embedded" ]; then
  mkdir "$stage/bundle"
  python3 - "$bundle" "$stage/bundle" <<'PY'
import json, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
manifest = json.load(open(f"{src}/manifest.json"))
for name in ["manifest.json", *manifest["files"]]:
    shutil.copy(f"{src}/{name}", f"{dst}/{name}")
PY
fi
mkdir -p "$(dirname "$zip")"
zip=$(realpath "$(dirname "$zip")")/$(basename "$zip")
rm -f "$zip"
# zipfile keeps the executable bit of bootstrap.
(cd "$stage" && python3 -m zipfile -c "$zip" ./*)
python3 - "$zip" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for i in z.infolist():
    print(f"  {i.file_size:>10}  {i.compress_size:>10}  {i.filename}")
info = z.getinfo("bootstrap")
assert (info.external_attr >> 16) & 0o111, "bootstrap lost its executable bit"
PY
ls -l "$zip"
