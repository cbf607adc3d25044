#!/usr/bin/env bash
# Side-by-side training throughput on one machine in one run: lmcpp bench train vs bench/torch_gpt.py (PyTorch at
# its best setting, OPENBLAS_CORETYPE=SkylakeX, and as installed), interleaved ROUNDS times; prints each JSON line.
# Usage: bash bench/train_vs_torch.sh [ROUNDS=2] [STEPS=5] [extra lmcpp bench args...]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
STEPS=${2:-5}
shift $(( $# > 2 ? 2 : $# )) || true
for r in $(seq "$ROUNDS"); do
  echo "round $r lmcpp: $(build/lmcpp bench train --shape S --threads 2 --steps "$STEPS" --warmup 1 --json "$@")"
  echo "round $r torch-skylakex: $(OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_gpt.py --steps "$STEPS" --warmup 1 --threads 2)"
done
