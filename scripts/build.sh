#!/usr/bin/env bash
# Configures and builds lmcpp into build/ (Release). Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
GEN=()
if command -v ninja >/dev/null; then GEN=(-G Ninja); fi
# A configure that failed half way leaves a cache but no build files: configure again then.
if [[ ! -f build/CMakeCache.txt || ( ! -f build/build.ninja && ! -f build/Makefile ) ]]; then
  cmake -S . -B build "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
elif (($#)); then
  cmake -S . -B build "$@"
fi
cmake --build build -j "$(nproc)"
