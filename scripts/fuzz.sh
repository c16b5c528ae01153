#!/usr/bin/env bash
# Fuzzes the parsers that take untrusted bytes with libFuzzer: the ONNX decoder and compiled-engine
# plan builder (`onnx_decode`) and the `/invocations` + OIP v2 request parsers (`invocations`).
# Uses nightly Rust with the coverage instrumentation cargo-fuzz sets (no cargo-fuzz needed).
#   scripts/fuzz.sh                     both targets, 60 s each
#   scripts/fuzz.sh onnx_decode 600     one target, 10 minutes
# A crash leaves its input in $CARGO_TARGET_DIR/fuzz/artifacts/TARGET/; rerun it with
#   $CARGO_TARGET_DIR/fuzz/x86_64-unknown-linux-gnu/release/TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
rustup toolchain install nightly --profile minimal >/dev/null
targets=${1:-onnx_decode invocations}
seconds=${2:-60}
host=$(rustc -vV | sed -n 's/^host: //p')
out="$CARGO_TARGET_DIR/fuzz"
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the instrumentation off build scripts and proc macros, as cargo-fuzz does.
(cd fuzz && RUSTFLAGS="$flags" cargo +nightly build --release --locked --bins --target "$host" --target-dir "$out")
for t in $targets; do
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
  echo "== fuzzing $t for ${seconds}s" >&2
  "$out/$host/release/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
    -artifact_prefix="$out/artifacts/$t/" "$out/corpus/$t" "fuzz/seeds/$t"
done
