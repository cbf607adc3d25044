#!/usr/bin/env bash
# Side-by-side training throughput on one machine in one run: lmcpp bench train vs bench/torch_gpt.py (PyTorch at
# its best setting: OPENBLAS_CORETYPE=SkylakeX on AVX-512 CPUs), same shape, batch and sequence length, interleaved ROUNDS times
# (lmcpp, torch, lmcpp, torch, ...); prints each JSON line and the ratio of the median tokens/s and peak RSS.
# Usage: bash bench/train_vs_torch.sh [ROUNDS=2] [STEPS=5] [SHAPE=S|124M] [B] [T] [extra lmcpp bench args...]
#   LORA=R: both train a LoRA adapter of rank R (alpha 2R) on c_attn instead of every weight.
#   defaults: S -> B 8, T 256; 124M -> B 4, T 256 (use B 1, T 1024 for the long context).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-2}
STEPS=${2:-5}
SHAPE=${3:-S}
case "$SHAPE" in
  S) DIMS=(--n_layer 6 --n_head 6 --n_embd 384 --vocab 50304); DB=8 ;;
  124M) DIMS=(--n_layer 12 --n_head 12 --n_embd 768 --vocab 50257); DB=4 ;;
  *) echo "shape $SHAPE: use S or 124M" >&2; exit 2 ;;
esac
B=${4:-$DB}
T=${5:-256}
shift $(( $# > 5 ? 5 : $# )) || true
field() { sed -E "s/.*\"$1\": ?([0-9.eE+-]+).*/\1/" <<<"$2"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# PyTorch at its best: Debian's OpenBLAS 0.3.21 does not recognise Sapphire Rapids and falls back to generic
# kernels unless told its core type; on CPUs without AVX-512 (e.g. Zen 3, detected as "Zen") its own choice is
# the best one, and SkylakeX would stop on an illegal instruction.
PEER_ENV=()
if grep -qw avx512f /proc/cpuinfo; then PEER_ENV=(OPENBLAS_CORETYPE=SkylakeX); fi
LT=(); LR=(); TT=(); TR=()
for r in $(seq "$ROUNDS"); do
  LORA_ARGS=(); PEER_LORA=()
  if [ -n "${LORA:-}" ]; then LORA_ARGS=(--lora "r=$LORA,alpha=$((2 * LORA))"); PEER_LORA=(--lora "$LORA"); fi
  J=$(build/lmcpp bench train --shape "$SHAPE" --batch "$B" --seq "$T" --threads 2 --steps "$STEPS" --warmup 1 --json \
      "${LORA_ARGS[@]}" "$@")
  echo "round $r lmcpp: $J"
  LT+=("$(field tokens_per_s "$J")"); LR+=("$(field peak_rss_mb "$J")")
  J=$(env "${PEER_ENV[@]}" /usr/bin/python3 bench/torch_gpt.py "${DIMS[@]}" --batch "$B" --seq "$T" \
      --steps "$STEPS" --warmup 1 --threads 2 "${PEER_LORA[@]}")
  echo "round $r torch (${PEER_ENV[*]:-OpenBLAS as detected}): $J"
  TT+=("$(field tokens_per_s "$J")"); TR+=("$(field peak_rss_mb "$J")")
done
a=$(printf '%s\n' "${LT[@]}" | median); b=$(printf '%s\n' "${TT[@]}" | median)
c=$(printf '%s\n' "${LR[@]}" | median); d=$(printf '%s\n' "${TR[@]}" | median)
# Also the median of the per-round ratios (each lmcpp run over the PyTorch run right after it): on a host whose
# speed drifts, neighbouring runs see similar conditions.
PR=()
for i in "${!LT[@]}"; do PR+=("$(awk -v x="${LT[$i]}" -v y="${TT[$i]}" 'BEGIN {printf "%.4f", x / y}')"); done
e=$(printf '%s\n' "${PR[@]}" | median)
echo "per-round ratios: ${PR[*]}"
awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" -v e="$e" -v s="$SHAPE" -v B="$B" -v T="$T" 'BEGIN {
  printf "%s B=%d T=%d median tokens/s: lmcpp %.1f, torch %.1f, ratio %.2fx (median per-round ratio %.2fx); peak RSS MB: lmcpp %.0f, torch %.0f, ratio %.3f\n",
         s, B, T, a, b, a / b, e, c, d, c / d }'
