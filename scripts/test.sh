#!/usr/bin/env bash
# The test command of the README: sets up (the tests' tools included), builds and runs the whole suite (unit,
# golden, e2e, slow), then the bounded fuzz runs and the LM_CUDA=ON compile-and-link check. CI (.ci/run) runs
# exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# -DLM_TESTS=ON re-runs the configure step, so a build/ first made without GoogleTest (the quickstart's) gains the
# tests now that it is installed.
bash scripts/build.sh -DLM_TESTS=ON
ctest --test-dir build --output-on-failure --no-tests=error -j "$(nproc)" --timeout 900
bash scripts/fuzz.sh
# The CUDA backend: compile and link (no GPU needed; skipped with one line where the toolkit is absent).
bash scripts/build_cuda.sh
