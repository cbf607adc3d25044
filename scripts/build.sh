#!/usr/bin/env bash
# Configures and builds lmcpp into build/ (Release). `--target T` (repeatable) builds only T (the quickstart builds
# the lmcpp target alone); every other argument goes to cmake's configure step and re-runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
GEN=()
if command -v ninja >/dev/null; then GEN=(-G Ninja); fi
CONFIGURE=()
TARGETS=()
while (($#)); do
  if [[ $1 == --target ]]; then
    (($# >= 2)) || { echo "build: --target needs a target name" >&2; exit 2; }
    TARGETS+=(--target "$2"); shift 2
  else
    CONFIGURE+=("$1"); shift
  fi
done
# A configure that failed half way leaves a cache but no build files: configure again then.
if [[ ! -f build/CMakeCache.txt || ( ! -f build/build.ninja && ! -f build/Makefile ) ]]; then
  cmake -S . -B build "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release "${CONFIGURE[@]}"
elif ((${#CONFIGURE[@]})); then
  cmake -S . -B build "${CONFIGURE[@]}"
fi
cmake --build build -j "$(nproc)" "${TARGETS[@]}"
