#!/usr/bin/env bash
# Gathers, on the build machine, what scripts/device-check.sh needs on a GPU
# machine that has no LLVM/MLIR and no network, into one folder to carry
# there: the GPU-test, model and bench packages compiled by this build's
# deltac, GoogleTest's sources and the nlohmann-json headers (both from this
# machine's Debian packages, as scripts/bootstrap.sh installs them).
# Usage: scripts/device-bundle.sh [BUILD_DIR] [OUT_DIR]
#        (defaults: build, device-bundle; OUT_DIR must not exist yet)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
out="${2:-device-bundle}"
die() { echo "device-bundle: error: $*" >&2; exit 1; }

[ -x "$build/bin/deltac" ] ||
  die "no deltac in '$build/bin': build first (scripts/bootstrap.sh)"
for p in "$build/test/gpu/delta_rule_variants.djpkg" \
         "$build/test/model/hybrid_deltanet_swa.djpkg"; do
  [ -f "$p/manifest.json" ] || die "no package '$p': build first (the default build makes it)"
done
gtest=/usr/src/googletest
nlohmann=/usr/include/nlohmann
[ -f "$gtest/CMakeLists.txt" ] || die "no GoogleTest sources in $gtest (apt-get install googletest)"
[ -f "$nlohmann/json.hpp" ] || die "no nlohmann-json headers in $nlohmann (apt-get install nlohmann-json3-dev)"
# Never write over what is there.
[ ! -e "$out" ] || die "'$out' exists; remove it or name another folder"

mkdir -p "$out/include"
cp -r "$build/test/gpu/delta_rule_variants.djpkg" "$out/test"
cp -r "$build/test/model/hybrid_deltanet_swa.djpkg" "$out/model"
"$build/bin/deltac" tools/delta-bench/Inputs/bench_kernels.mlir --emit=package \
  -o "$out/bench" --chip=sm_90a >/dev/null
cp -r "$gtest" "$out/googletest"
cp -r "$nlohmann" "$out/include/nlohmann"
echo "device-bundle: wrote '$out' ($(du -sh "$out" | cut -f1)); on the GPU machine, from the repository root:"
echo "  scripts/device-check.sh $out/test $out/googletest $out/include $out/model $out/bench"
