#!/usr/bin/env bash
# Two lmcpp binaries side by side, interleaved in each round (a refactor's "speed unchanged" check):
#   bash bench/compare_binaries.sh OLD_BIN NEW_BIN [ROUNDS]
# Prints one line per binary per round: training tokens/s (config S), decode tokens/s (124M f32 and bf16) and
# BERT-base classification tokens/s (f32 and int8). A binary from before the `bench classify` rename is run with
# `bench bert`. Take medians over rounds; the machine is shared and noisy.
set -uo pipefail
OLD=$1 NEW=$2 ROUNDS=${3:-3}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])" 2>/dev/null || echo nan; }
for r in $(seq "$ROUNDS"); do
  for BIN in "$OLD" "$NEW"; do
    CLS=classify
    "$BIN" bench classify --shape bert-tiny --batch 1 --seq 4 --steps 1 --warmup 0 --json >/dev/null 2>&1 || CLS=bert
    t=$("$BIN" bench train --shape S --threads 2 --steps 4 --warmup 1 --json 2>/dev/null | field tokens_per_s)
    d=$("$BIN" bench decode --shape 124M --threads 2 --json 2>/dev/null | field tokens_per_s)
    d16=$("$BIN" bench decode --shape 124M --threads 2 --weights bf16 --json 2>/dev/null | field tokens_per_s)
    c=$("$BIN" bench $CLS --shape bert-base --threads 2 --steps 3 --warmup 1 --json 2>/dev/null | field tokens_per_s)
    c8=$("$BIN" bench $CLS --shape bert-base --threads 2 --steps 3 --warmup 1 --weights int8 --json 2>/dev/null |
         field tokens_per_s)
    echo "round $r $BIN train_S $t decode_f32 $d decode_bf16 $d16 classify_f32 $c classify_int8 $c8"
  done
done
