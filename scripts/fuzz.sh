#!/usr/bin/env bash
# Fuzzes the parsers that take untrusted bytes with libFuzzer: the ONNX decoder and compiled-engine
# plan builder (`onnx_decode`), the `/invocations` + OIP v2 request parsers on raw bytes
# (`invocations`) and on structure-aware JSON (`invocations_json`), the registry's tar upload
# reader with the bundle loader (`registry_upload`), its Range parser (`range`), the core's
# `Fetch` against a lying registry (`fetch`) and `profile.json` with the drift statistics
# (`profile`). Corpora live in fuzz/seeds/TARGET (new finds go to the target directory;
# `-merge=1` them into the seeds to keep them).
# Uses nightly Rust with the coverage instrumentation cargo-fuzz sets (no cargo-fuzz needed).
#   scripts/fuzz.sh                     every target, 60 s each (scripts/test.sh: 15 s each)
#   scripts/fuzz.sh onnx_decode 600     one target, 10 minutes
# A crash leaves its input in $CARGO_TARGET_DIR/fuzz/artifacts/TARGET/; rerun it with
#   $CARGO_TARGET_DIR/fuzz/x86_64-unknown-linux-gnu/release/TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
# Nightly cannot be downloaded everywhere: without it, say so and pass (the same inputs run as
# bounded property tests on stable: tests/bad_input.rs, crates/registry/tests/parsers.rs).
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "SKIPPED fuzzing: no nightly toolchain (rustup toolchain install nightly --profile minimal)" >&2
  exit 0
fi
targets=${1:-onnx_decode invocations invocations_json registry_upload range fetch profile}
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
  "$out/$host/release/$t" -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=131072 -timeout=10 \
    -artifact_prefix="$out/artifacts/$t/" "$out/corpus/$t" "fuzz/seeds/$t"
done
