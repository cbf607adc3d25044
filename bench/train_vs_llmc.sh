#!/usr/bin/env bash
# Side-by-side training throughput: lmcpp bench train vs llm.c's CPU trainer (train_gpt2.c), same shape, B and T,
# random weights and tokens, 2 threads, interleaved ROUNDS times; prints each run and the ratio of medians.
# llm.c is not part of this repository: LLMC_DIR must hold its train_gpt2.c and llmc/ (e.g. extracted from a
# github:karpathy/llm.c snapshot). This script writes a patched copy, train_gpt2_bench.c, next to it (B, T and the
# step count from the environment; the periodic validation and sampling switched off, so only training steps
# run) and builds it with the flags of llm.c's Makefile (gcc -Ofast -march=native -fopenmp -DOMP).
# Usage: bash bench/train_vs_llmc.sh [ROUNDS=2] [STEPS=4] [B=4] [T=256] [SHAPE=124M]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
STEPS=${2:-4}
B=${3:-4}
T=${4:-256}
SHAPE=${5:-124M}
LLMC_DIR=${LLMC_DIR:-/work/peers/llm.c}
case "$SHAPE" in
  124M) DIMS=(--n_layer 12 --n_head 12 --n_embd 768 --vocab 50257) ;;
  S) DIMS=(--n_layer 6 --n_head 6 --n_embd 384 --vocab 50304) ;;
  *) echo "shape $SHAPE: use 124M or S" >&2; exit 2 ;;
esac
ROOT=$PWD
(
  cd "$LLMC_DIR"
  sed -e 's/int B = 4;/int B = atoi(getenv("LLMC_B"));/' \
      -e 's/int T = 64;/int T = atoi(getenv("LLMC_T"));/' \
      -e 's/step <= 40;/step <= atoi(getenv("LLMC_STEPS"));/' \
      -e 's/if (step % 10 == 0) {/if (0) {/' \
      -e 's/if (step > 0 \&\& step % 20 == 0) {/if (0) {/' train_gpt2.c > train_gpt2_bench.c
  grep -q 'getenv("LLMC_STEPS")' train_gpt2_bench.c || { echo "patching train_gpt2.c failed" >&2; exit 1; }
  gcc -Ofast -march=native -fopenmp -DOMP -Wno-unused-result train_gpt2_bench.c -lm -o train_gpt2_bench
  /usr/bin/python3 "$ROOT/bench/llmc_checkpoint.py" --dir . "${DIMS[@]}" > /dev/null
)
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
L_ALL=(); C_ALL=()
for r in $(seq "$ROUNDS"); do
  J=$(build/lmcpp bench train --shape "$SHAPE" --threads 2 --batch "$B" --seq "$T" --steps "$STEPS" --warmup 1 --json)
  echo "round $r lmcpp: $J"
  L_ALL+=("$(sed -E 's/.*"tokens_per_s": ?([0-9.eE+-]+).*/\1/' <<<"$J")")
  # llm.c: step 0 is warm-up; the median of the printed step times of steps 1..STEPS.
  MS=$(cd "$LLMC_DIR" && OMP_NUM_THREADS=2 LLMC_B=$B LLMC_T=$T LLMC_STEPS=$STEPS ./train_gpt2_bench |
       sed -nE 's/^step ([0-9]+): .*took ([0-9.]+) ms.*/\1 \2/p' | awk '$1 > 0 {print $2}' | median)
  TPS=$(awk -v b="$B" -v t="$T" -v ms="$MS" 'BEGIN {printf "%.2f", b * t / (ms / 1000)}')
  echo "round $r llm.c: {\"tokens_per_s\": $TPS, \"step_ms\": $MS, \"batch\": $B, \"seq\": $T}"
  C_ALL+=("$TPS")
done
LM=$(printf '%s\n' "${L_ALL[@]}" | median)
LC=$(printf '%s\n' "${C_ALL[@]}" | median)
awk -v a="$LM" -v b="$LC" 'BEGIN {printf "median tokens/s: lmcpp %.1f, llm.c %.1f, ratio %.2fx\n", a, b, a / b}'
