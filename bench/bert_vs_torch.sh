#!/usr/bin/env bash
# Side-by-side BERT-base sequence-classification inference (batch 32, T 128, random weights, 2 threads):
# `lmcpp bench classify` (--weights f32, bf16 and int8) vs bench/torch_bert.py (PyTorch 1.13, OPENBLAS_CORETYPE=SkylakeX,
# no_grad, eval; --impl plain and nn.TransformerEncoder's fast path; --dtype fp32 and bf16, the latter running
# oneDNN's AMX kernels; --dtype int8 = quantize_dynamic, plain only: the fast path rejects quantized layers), all
# eight interleaved ROUNDS times. Prints each JSON line, then the median tokens/s of each and the ratios: lmcpp
# f32 / the faster torch fp32, lmcpp bf16 / the faster torch bf16, lmcpp int8 / torch int8, and lmcpp's best /
# torch's best setting overall.
# Usage: bash bench/bert_vs_torch.sh [ROUNDS=3] [STEPS=3] [B=32] [T=128]
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
STEPS=${2:-3}
B=${3:-32}
T=${4:-128}
field() { sed -E "s/.*\"$1\": ?([0-9.eE+-]+).*/\1/" <<<"$2"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# bf16 runs only where the CPU multiplies bf16 natively (AVX512_BF16 or AMX): lmcpp refuses it elsewhere with one
# error line, and PyTorch would emulate it far below its fp32 speed, which is no peer's best setting.
LW=(f32 int8); TD=(fp32)
if grep -qw -e avx512_bf16 -e amx_bf16 /proc/cpuinfo; then LW=(f32 bf16 int8); TD=(fp32 bf16); fi
declare -A R
for r in $(seq "$ROUNDS"); do
  for w in "${LW[@]}"; do
    J=$(build/lmcpp bench classify --shape bert-base --batch "$B" --seq "$T" --threads 2 --steps "$STEPS" --warmup 1 \
        --weights "$w" --json)
    echo "round $r lmcpp-$w: $J"; R[lmcpp-$w]+="$(field tokens_per_s "$J") "
  done
  for d in "${TD[@]}"; do
    for i in plain nn; do
      J=$(/usr/bin/python3 bench/torch_bert.py --impl "$i" --dtype "$d" --batch "$B" --seq "$T" --steps "$STEPS" \
          --warmup 1 --threads 2)
      echo "round $r torch-$i-$d: $J"; R[torch-$i-$d]+="$(field tokens_per_s "$J") "
    done
  done
  J=$(/usr/bin/python3 bench/torch_bert.py --impl plain --dtype int8 --batch "$B" --seq "$T" --steps "$STEPS" \
      --warmup 1 --threads 2)
  echo "round $r torch-plain-int8: $J"; R[torch-plain-int8]+="$(field tokens_per_s "$J") "
done
declare -A M
for k in lmcpp-f32 lmcpp-bf16 lmcpp-int8 torch-plain-fp32 torch-nn-fp32 torch-plain-bf16 torch-nn-bf16 \
         torch-plain-int8; do
  M[$k]=0  # a setting this CPU does not run (bf16 without native bf16)
  [[ -n ${R[$k]:-} ]] && M[$k]=$(tr ' ' '\n' <<<"${R[$k]}" | grep . | median)
  printf "median tokens/s %-18s %8.1f\n" "$k" "${M[$k]}"
done
awk -v lf="${M[lmcpp-f32]}" -v lb="${M[lmcpp-bf16]}" -v li="${M[lmcpp-int8]}" -v pf="${M[torch-plain-fp32]}" \
    -v nf="${M[torch-nn-fp32]}" -v pb="${M[torch-plain-bf16]}" -v nb="${M[torch-nn-bf16]}" \
    -v pi="${M[torch-plain-int8]}" 'function max(a, b) { return a > b ? a : b }
  BEGIN { tf = max(pf, nf); tb = max(pb, nb)
    printf "ratio lmcpp f32 / faster torch fp32: %.2fx\n", lf / tf
    if (tb > 0) printf "ratio lmcpp bf16 / faster torch bf16: %.2fx\n", lb / tb
    else print "ratio lmcpp bf16 / faster torch bf16: n/a (no native bf16 on this CPU)"
    printf "ratio lmcpp int8 / torch int8: %.2fx\n", li / pi
    printf "ratio lmcpp best / torch best setting: %.2fx\n", max(max(lf, lb), li) / max(max(tf, tb), pi) }'
