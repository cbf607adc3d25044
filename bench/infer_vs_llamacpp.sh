#!/usr/bin/env bash
# Side-by-side inference on one machine in one run: lmcpp bench prefill/decode vs llama.cpp's llama-bench on the
# SAME random GPT-2 124M weights (written by lmcpp, converted by bench/make_gguf.py to f32 and f16 GGUF files),
# batch 1, 512-token prompt processing (f32) and 128-token generation, interleaved ROUNDS times (llama f32, lmcpp f32,
# llama f16, lmcpp bf16, ...). Prints every raw line, then the medians and ratios. Builds nothing.
# Usage: bash bench/infer_vs_llamacpp.sh [ROUNDS=3] [THREADS=2] [REPS=5]   (REPS: timed repetitions of each run)
# Env: LLAMA_CPP (a llama.cpp tree with build/bin/llama-bench; default /work/peers/llama.cpp), GPT2_TOKENIZER
# (encoder.json + vocab.bpe; default the shared data's), OUT (work dir for the model files; default
# /tmp/lmcpp_infer_bench), PY (python3 with numpy; default /usr/bin/python3). docs/performance.md says how to
# fetch and build llama.cpp.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
THREADS=${2:-2}
REPS=${3:-5}
LLAMA_CPP=${LLAMA_CPP:-/work/peers/llama.cpp}
PY=${PY:-/usr/bin/python3}
OUT=${OUT:-/tmp/lmcpp_infer_bench}
TOK=${GPT2_TOKENIZER:-}
if [[ -z $TOK ]]; then
  for d in ../shared/data/tokenizers/gpt2 ../../shared/data/tokenizers/gpt2; do [[ -d $d ]] && TOK=$d && break; done
fi
LB=$LLAMA_CPP/build/bin/llama-bench
[[ -x $LB ]] || { echo "no $LB (see docs/performance.md)" >&2; exit 2; }
[[ -n $TOK ]] || { echo "no GPT-2 tokenizer directory; set GPT2_TOKENIZER" >&2; exit 2; }
mkdir -p "$OUT"
if [[ ! -f $OUT/model/model.safetensors ]]; then
  build/lmcpp bench decode --shape 124M --tokens 1 --reps 1 --warmup 0 --membw-mb 16 --save-model "$OUT/model" --json >/dev/null
fi
for ty in f32 f16; do
  [[ -f $OUT/gpt2-124M-$ty.gguf ]] || "$PY" bench/make_gguf.py --model "$OUT/model" --tokenizer "$TOK" \
    --out "$OUT/gpt2-124M-$ty.gguf" --type $ty --gguf-py "$LLAMA_CPP/gguf-py"
done
echo "date: $(date -u '+%F %T UTC'); load: $(cut -d' ' -f1-3 /proc/loadavg); threads $THREADS; rounds $ROUNDS"
LOG=$OUT/results.txt
: > "$LOG"
for r in $(seq "$ROUNDS"); do
  echo "llama f32 $("$LB" -m "$OUT/gpt2-124M-f32.gguf" -p 512 -n 128 -t "$THREADS" -r "$REPS" -o jsonl | tr '\n' ' ')" | tee -a "$LOG"
  echo "lmcpp prefill f32 $(build/lmcpp bench prefill --threads "$THREADS" --weights f32 --reps "$REPS" --json)" | tee -a "$LOG"
  echo "lmcpp decode f32 $(build/lmcpp bench decode --threads "$THREADS" --weights f32 --reps "$REPS" --json)" | tee -a "$LOG"
  echo "llama f16 $("$LB" -m "$OUT/gpt2-124M-f16.gguf" -p 0 -n 128 -t "$THREADS" -r "$REPS" -o jsonl | tr '\n' ' ')" | tee -a "$LOG"
  echo "lmcpp decode bf16 $(build/lmcpp bench decode --threads "$THREADS" --weights bf16 --reps "$REPS" --json)" | tee -a "$LOG"
done
"$PY" - "$LOG" <<'PYEOF'
import json, statistics, sys
res = {}
for line in open(sys.argv[1]):
    words = line.split(" ", 3)
    if words[0] == "llama":
        ty = words[1]
        dec = json.JSONDecoder()
        s, i = line.split(" ", 2)[2].strip(), 0
        while i < len(s):
            o, j = dec.raw_decode(s, i)
            i = j
            while i < len(s) and s[i] == " ":
                i += 1
            key = "prefill" if o["n_prompt"] > 0 else "decode"
            res.setdefault(("llama.cpp", key, ty), []).append(o["avg_ts"])
    else:
        o = json.loads(words[3])
        res.setdefault(("lmcpp", words[1], words[2]), []).append(o["tokens_per_s"])
        if words[1] == "decode":
            res.setdefault(("bound", "decode", words[2]), []).append(o["bound_tokens_per_s"])
            res.setdefault(("membw", "decode", words[2]), []).append(o["membw_gbs"])
med = {k: statistics.median(v) for k, v in res.items()}
def row(name, peer, ours, bound=None):
    p, o = med.get(peer), med.get(ours)
    if p is None or o is None:
        return
    b = med.get(bound) if bound else None
    extra = f"  lmcpp {100 * o / b:.0f}% of bound {b:.1f}" if b else ""
    print(f"{name:34s} llama.cpp {p:8.1f}  lmcpp {o:8.1f}  ratio {o / p:5.2f}x{extra}")
print("medians (tokens/s) over rounds:", {" ".join(k): [round(x, 1) for x in v] for k, v in res.items()})
row("prefill 512, f32 weights", ("llama.cpp", "prefill", "f32"), ("lmcpp", "prefill", "f32"))
row("decode 128, f32 weights", ("llama.cpp", "decode", "f32"), ("lmcpp", "decode", "f32"), ("bound", "decode", "f32"))
row("decode 128, f16 (llama) / bf16", ("llama.cpp", "decode", "f16"), ("lmcpp", "decode", "bf16"), ("bound", "decode", "bf16"))
row("decode 128, f32 lmcpp vs f16 llama", ("llama.cpp", "decode", "f16"), ("lmcpp", "decode", "f32"))
if ("membw", "decode", "f32") in med:
    print(f"read bandwidth (median of the decode runs' best-of-5): {med[('membw', 'decode', 'f32')]:.2f} GB/s")
PYEOF
