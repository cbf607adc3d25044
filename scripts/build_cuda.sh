#!/usr/bin/env bash
# Compile-and-link check of the CUDA build (LM_CUDA=ON, sm_90 SASS + PTX) into build-cuda/: library, lmcpp, the
# CUDA tests and cuda_ops_bench. Needs no GPU (CI has none). Prints one skip line and succeeds when nvcc is absent.
# JOBS (default 2) sets the parallelism; extra arguments go to cmake's configure step. By default only the targets
# that differ from the CPU build are built (lmcpp, lmcpp_test_cuda, cuda_ops_bench and the library under them);
# ALL=1 builds every target of the CUDA configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
CUDA_ROOT=${CUDA_HOME:-/usr/local/cuda}
NVCC=$CUDA_ROOT/bin/nvcc
if [[ ! -x $NVCC ]]; then
  echo "build_cuda: skipped: $NVCC not found (the CUDA toolkit is optional)"
  exit 0
fi
GEN=()
if command -v ninja >/dev/null; then GEN=(-G Ninja); fi
if [[ ! -f build-cuda/CMakeCache.txt ]]; then
  cmake -S . -B build-cuda "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DLM_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" "$@"
elif (($#)); then
  cmake -S . -B build-cuda "$@"
fi
start=$(date +%s)
TARGETS=(--target lmcpp lmcpp_test_cuda cuda_ops_bench)
if [[ ${ALL:-0} == 1 ]]; then TARGETS=(); fi
cmake --build build-cuda -j "${JOBS:-2}" "${TARGETS[@]}"
echo "build_cuda: LM_CUDA=ON build compiled and linked in $(($(date +%s) - start)) s"
