#!/usr/bin/env bash
# The test command of the README: sets up, builds and runs the whole suite (unit, golden, e2e, slow),
# then the bounded fuzz runs and the LM_CUDA=ON compile-and-link check. CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 900
bash scripts/fuzz.sh
# The CUDA backend: compile and link (no GPU needed; skipped with one line where the toolkit is absent).
bash scripts/build_cuda.sh
