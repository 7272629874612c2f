#!/usr/bin/env bash
# Installs what deltajit's build needs (Debian 12), configures and builds it.
# Usage: scripts/bootstrap.sh [cmake-preset]   (default preset: "default")
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-default}"

packages=(cmake ninja-build ccache g++ llvm-22-dev libmlir-22-dev mlir-22-tools
          llvm-22-tools libfmt-dev libgtest-dev googletest nlohmann-json3-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
    missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

cmake --preset "$preset"
cmake --build --preset "$preset"
