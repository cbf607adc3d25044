#!/usr/bin/env bash
# Serving side by side on one machine in one run: `lmcpp serve` vs llama.cpp's `llama-server` on the SAME random
# GPT-2 124M weights (written by lmcpp, converted to an f32 GGUF by bench/make_gguf.py), both with 16 slots
# (--parallel 16 / -np 16, 1024 positions each) and THREADS threads, driven by bench/serve_load.mjs with 1, 4 and
# 16 concurrent clients (streamed /v1/completions, temperature 0, ignore_eos, MAX_TOKENS new tokens). Rounds
# alternate which server runs first. Each round also runs `lmcpp bench decode` (the single-stream bound the HTTP
# path is compared with). Prints every raw line, then the medians and ratios.
# Usage: bash bench/serve_vs_llamaserver.sh [ROUNDS=3] [THREADS=2] [MAX_TOKENS=64]
# Env: LLAMA_CPP (a llama.cpp tree with build/bin/llama-server; default /work/peers/llama.cpp), GPT2_TOKENIZER,
# OUT (work dir; default /tmp/lmcpp_serve_bench), PY (python3 with numpy). docs/performance.md says how to build
# llama-server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
THREADS=${2:-2}
MAXTOK=${3:-64}
LLAMA_CPP=${LLAMA_CPP:-/work/peers/llama.cpp}
PY=${PY:-/usr/bin/python3}
OUT=${OUT:-/tmp/lmcpp_serve_bench}
TOK=${GPT2_TOKENIZER:-}
if [[ -z $TOK ]]; then
  for d in ../shared/data/tokenizers/gpt2 ../../shared/data/tokenizers/gpt2; do [[ -d $d ]] && TOK=$d && break; done
fi
LS=$LLAMA_CPP/build/bin/llama-server
[[ -x $LS ]] || { echo "no $LS (see docs/performance.md)" >&2; exit 2; }
[[ -n $TOK ]] || { echo "no GPT-2 tokenizer directory; set GPT2_TOKENIZER" >&2; exit 2; }
mkdir -p "$OUT"
if [[ ! -f $OUT/model/model.safetensors ]]; then
  build/lmcpp bench decode --shape 124M --tokens 1 --reps 1 --warmup 0 --membw-mb 16 --save-model "$OUT/model" --json >/dev/null
fi
cp "$TOK"/encoder.json "$TOK"/vocab.bpe "$OUT/model/"
[[ -f $OUT/gpt2-124M-f32.gguf ]] || "$PY" bench/make_gguf.py --model "$OUT/model" --tokenizer "$TOK" \
  --out "$OUT/gpt2-124M-f32.gguf" --type f32 --gguf-py "$LLAMA_CPP/gguf-py"

PID=""
stop_server() { [[ -n $PID ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true; PID=""; }
trap stop_server EXIT
wait_health() {
  for _ in $(seq 600); do
    curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not become healthy" >&2; exit 1
}
start() {  # name port
  if [[ $1 == llama ]]; then
    "$LS" -m "$OUT/gpt2-124M-f32.gguf" --host 127.0.0.1 --port "$2" -np 16 -c 16384 -t "$THREADS" -tb "$THREADS" \
      >"$OUT/llama-server.log" 2>&1 &
  else
    build/lmcpp serve --model "$OUT/model" --host 127.0.0.1 --port "$2" --parallel 16 --threads "$THREADS" \
      >"$OUT/lmcpp-serve.log" 2>&1 &
  fi
  PID=$!
  wait_health "$2"
}
LOG=$OUT/results.txt
: > "$LOG"
echo "date: $(date -u '+%F %T UTC'); load: $(cut -d' ' -f1-3 /proc/loadavg); threads $THREADS; rounds $ROUNDS; max_tokens $MAXTOK"
for r in $(seq "$ROUNDS"); do
  order=(lmcpp llama)
  ((r % 2 == 0)) && order=(llama lmcpp)
  for s in "${order[@]}"; do
    start "$s" 18321
    node bench/serve_load.mjs http://127.0.0.1:18321 1 2 "$MAXTOK" >/dev/null  # warm-up
    for c in 1 4 16; do
      # A run whose client failed (e.g. a connection reset) prints its error to stderr and is left out.
      out=$(node bench/serve_load.mjs http://127.0.0.1:18321 "$c" $((c * 2 > 4 ? c * 2 : 4)) "$MAXTOK") ||
        out='{"failed": true}'
      echo "$s $out" | tee -a "$LOG"
    done
    stop_server
  done
  echo "decode $(build/lmcpp bench decode --threads "$THREADS" --weights f32 --reps 3 --json)" | tee -a "$LOG"
done
"$PY" - "$LOG" <<'PYEOF'
import json, statistics, sys
res, dec = {}, []
for line in open(sys.argv[1]):
    name, js = line.split(" ", 1)
    j = json.loads(js)
    if j.get("failed"):
        print(f"(a {name} run failed and is left out)"); continue
    if name == "decode":
        dec.append(j["tokens_per_s"]); continue
    res.setdefault((name, j["clients"]), []).append(j)
med = lambda xs: statistics.median(xs)
print("\n| clients | lmcpp tokens/s | llama-server tokens/s | ratio | lmcpp TTFT p50 / p99 ms | llama-server TTFT p50 / p99 ms |")
print("|---|---|---|---|---|---|")
for c in (1, 4, 16):
    a, b = res.get(("lmcpp", c), []), res.get(("llama", c), [])
    if not a or not b: continue
    ta, tb = med([x["tokens_per_s"] for x in a]), med([x["tokens_per_s"] for x in b])
    print(f"| {c} | {ta:.1f} | {tb:.1f} | {ta / tb:.2f}x | {med([x['ttft_p50_ms'] for x in a]):.0f} / {med([x['ttft_p99_ms'] for x in a]):.0f} "
          f"| {med([x['ttft_p50_ms'] for x in b]):.0f} / {med([x['ttft_p99_ms'] for x in b]):.0f} |")
one = res.get(("lmcpp", 1), [])
sixteen = res.get(("lmcpp", 16), [])
if one and sixteen:
    print(f"\nlmcpp 16 clients / 1 client aggregate: {med([x['tokens_per_s'] for x in sixteen]) / med([x['tokens_per_s'] for x in one]):.2f}x")
if one and dec:
    s = med([x["decode_per_stream_p50"] for x in one])
    print(f"lmcpp single stream over HTTP, decode rate after the first token: {s:.1f} tokens/s = "
          f"{100 * s / med(dec):.0f}% of `lmcpp bench decode` ({med(dec):.1f})")
PYEOF
