#!/usr/bin/env bash
# Training step time with a LoRA adapter against full training, lmcpp and PyTorch side by side in one run:
# lmcpp bench train (full, then --lora r=R,alpha=2R on c_attn) and bench/torch_gpt.py (full, then --lora R: PEFT's
# lora.Linear in plain PyTorch), interleaved ROUNDS times; prints each JSON line and the medians.
# Usage: bash bench/lora_vs_full.sh [ROUNDS=2] [STEPS=4] [SHAPE=124M|S] [B=4] [T=256] [R=8]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
STEPS=${2:-4}
SHAPE=${3:-124M}
B=${4:-4}
T=${5:-256}
R=${6:-8}
case "$SHAPE" in
  S) DIMS=(--n_layer 6 --n_head 6 --n_embd 384 --vocab 50304) ;;
  124M) DIMS=(--n_layer 12 --n_head 12 --n_embd 768 --vocab 50257) ;;
  *) echo "shape $SHAPE: use S or 124M" >&2; exit 2 ;;
esac
PEER_ENV=()
if grep -qw avx512f /proc/cpuinfo; then PEER_ENV=(OPENBLAS_CORETYPE=SkylakeX); fi
field() { sed -E "s/.*\"$1\": ?([0-9.eE+-]+).*/\1/" <<<"$2"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A MS RSS
for r in $(seq "$ROUNDS"); do
  for run in lmcpp-full lmcpp-lora torch-full torch-lora; do
    case $run in
      lmcpp-full) J=$(build/lmcpp bench train --shape "$SHAPE" --batch "$B" --seq "$T" --threads 2 --steps "$STEPS" --warmup 1 --json) ;;
      lmcpp-lora) J=$(build/lmcpp bench train --shape "$SHAPE" --batch "$B" --seq "$T" --threads 2 --steps "$STEPS" --warmup 1 --json --lora "r=$R,alpha=$((2 * R))") ;;
      torch-full) J=$(env "${PEER_ENV[@]}" /usr/bin/python3 bench/torch_gpt.py "${DIMS[@]}" --batch "$B" --seq "$T" --steps "$STEPS" --warmup 1 --threads 2) ;;
      torch-lora) J=$(env "${PEER_ENV[@]}" /usr/bin/python3 bench/torch_gpt.py "${DIMS[@]}" --batch "$B" --seq "$T" --steps "$STEPS" --warmup 1 --threads 2 --lora "$R") ;;
    esac
    echo "round $r $run: $J"
    MS[$run]+="$(field step_ms "$J") "
    RSS[$run]+="$(field peak_rss_mb "$J") "
  done
done
for run in lmcpp-full lmcpp-lora torch-full torch-lora; do
  printf '%-11s median step %8.1f ms  peak RSS %6.0f MB\n' "$run" "$(tr ' ' '\n' <<<"${MS[$run]}" | grep . | median)" \
    "$(tr ' ' '\n' <<<"${RSS[$run]}" | grep . | median)"
done
