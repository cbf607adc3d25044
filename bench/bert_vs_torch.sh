#!/usr/bin/env bash
# Side-by-side BERT-base sequence-classification inference (batch 32, T 128, random weights, 2 threads):
# `lmcpp bench bert` vs bench/torch_bert.py (PyTorch 1.13 with OPENBLAS_CORETYPE=SkylakeX, no_grad, eval), both
# torch implementations (plain ops and nn.TransformerEncoder's fast path), interleaved ROUNDS times; prints each
# JSON line and the ratio of lmcpp's median tokens/s to the faster torch implementation's median.
# Usage: bash bench/bert_vs_torch.sh [ROUNDS=2] [STEPS=5] [B=32] [T=128]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
STEPS=${2:-5}
B=${3:-32}
T=${4:-128}
field() { sed -E "s/.*\"$1\": ([0-9.]+).*/\1/" <<<"$2"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
L=(); P=(); N=()
for r in $(seq "$ROUNDS"); do
  J=$(build/lmcpp bench bert --shape bert-base --batch "$B" --seq "$T" --threads 2 --steps "$STEPS" --warmup 1 --json)
  echo "round $r lmcpp: $J"; L+=("$(field tokens_per_s "$J")")
  J=$(/usr/bin/python3 bench/torch_bert.py --impl plain --batch "$B" --seq "$T" --steps "$STEPS" --warmup 1 --threads 2)
  echo "round $r torch-plain: $J"; P+=("$(field tokens_per_s "$J")")
  J=$(/usr/bin/python3 bench/torch_bert.py --impl nn --batch "$B" --seq "$T" --steps "$STEPS" --warmup 1 --threads 2)
  echo "round $r torch-nn: $J"; N+=("$(field tokens_per_s "$J")")
done
a=$(printf '%s\n' "${L[@]}" | median); b=$(printf '%s\n' "${P[@]}" | median); c=$(printf '%s\n' "${N[@]}" | median)
awk -v a="$a" -v b="$b" -v c="$c" -v T="$T" 'BEGIN { best = b > c ? b : c
  printf "median tokens/s: lmcpp %.1f (%.2f seq/s), torch plain %.1f, torch nn %.1f; ratio to the faster torch %.2fx\n",
         a, a / T, b, c, a / best }'
