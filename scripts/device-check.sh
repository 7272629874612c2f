#!/usr/bin/env bash
# On a GPU machine without LLVM: builds the runtime and its tests, runs the
# GPU tests (ctest label gpu) and the unit tests, compute-sanitizer over the
# kernels, and (when built) delta-bench. Inputs: a package compiled elsewhere
# and, where the machine lacks them, GoogleTest sources and nlohmann-json.
# Usage: scripts/device-check.sh PACKAGE_DIR [GTEST_SOURCE_DIR] [EXTRA_INCLUDE_DIR] [MODEL_PACKAGE_DIR] [BENCH_PACKAGE_DIR]
# (scripts/device-bundle.sh gathers all five on the build machine.)
# delta-bench times BENCH_PACKAGE_DIR (default: PACKAGE_DIR).
# Logs go to $OUT (or ./device-logs).
set -uo pipefail
cd "$(dirname "$0")/.."
pkg="$(realpath "$1")"
gtest="${2:+$(realpath "$2")}"
extra="${3:+$(realpath "$3")}"
model="${4:+$(realpath "$4")}"
bench="$(realpath "${5:-$1}")"
out="${OUT:-$PWD/device-logs}"
mkdir -p "$out"
build=/tmp/deltajit-device-build

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DDELTAJIT_ENABLE_COMPILER=OFF -DDELTAJIT_ENABLE_RUNTIME=ON \
  -DDELTAJIT_TEST_PACKAGE_DIR="$pkg" \
  ${gtest:+-DDELTAJIT_GTEST_SOURCE_DIR="$gtest"} \
  ${extra:+-DDELTAJIT_EXTRA_INCLUDE_DIR="$extra"} \
  ${model:+-DDELTAJIT_TEST_MODEL_PACKAGE_DIR="$model"} >"$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; exit 1; }
ninja -C "$build" >"$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv | tee "$out/gpu.txt"

export DELTAJIT_CACHE_DIR=/tmp/deltajit-cache
ctest --test-dir "$build" -L gpu --output-on-failure -V 2>&1 | tee "$out/ctest-gpu.log" |
  grep -E "RESULT|DEVICE|tests passed|tests failed|Failed|SKIPPED|FAILED|Test #" | head -150
ctest --test-dir "$build" -L unit 2>&1 | tail -3 | tee "$out/ctest-unit.log"

if command -v compute-sanitizer >/dev/null; then
  DELTAJIT_TEST_PACKAGE="$pkg" compute-sanitizer --tool memcheck --print-limit 20 \
    "$build/test/gpu/deltajit-gpu-tests" \
    --gtest_filter='Gpu/ForwardShapes.MatchesOracle/4:GpuForward.VariableLength:GpuForward.SingleToken:Gpu/DecodeShapes.MatchesOracle/4' \
    >"$out/memcheck.log" 2>&1
  tail -5 "$out/memcheck.log"
fi

if [ -x "$build/bin/delta-bench" ]; then
  "$build/bin/delta-bench" --package "$bench" --json "$out/bench.json" 2>&1 |
    tee "$out/bench.txt"
fi

if [ -n "$model" ]; then
  "$build/bin/delta-run" --package "$model" --lengths 5,64,300 --steps 32 2>&1 |
    tee "$out/delta-run.txt"
fi
