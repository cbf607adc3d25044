#!/usr/bin/env bash
# Throughput under load: each workload runs idle and beside ONE competing CPU-bound process (a shell busy loop, as a
# second user's job would be), in interleaved rounds (idle, loaded, idle, loaded, ...), and the script prints every
# raw number, the medians and loaded/idle per workload. The target (issue "a newcomer's tool"): every workload keeps
# >= 40% of its idle throughput on a machine whose cores are all used by lmcpp's threads when idle.
# Workloads, all at the default thread count (every core):
#   train-S     lmcpp bench train --shape S (6 layers, 384 wide, B 8, T 256): tokens/s
#   train-small lmcpp bench train --shape small (the quickstart's model: 4 layers, 256 wide, B 16, T 128): tokens/s
#   train-tiny  lmcpp bench train --shape tiny (2 layers, 64 wide, B 8, T 64; 3 ms steps): tokens/s
#   evaluate    lmcpp evaluate --task lm on tiny Shakespeare's first 256 KB with a 4-layer 256-wide GPT: tokens/s
#   prefill     lmcpp bench prefill --shape S (512-token prompt): tokens/s
#   decode      lmcpp bench decode (GPT-2 124M shape, 128 tokens): tokens/s
# Usage: bash bench/under_load.sh [ROUNDS=3] [WORKLOADS="train-S train-small train-tiny evaluate prefill decode"]
# Env: LMCPP (binary; default build/lmcpp), OUT (work dir; default /tmp/lmcpp_under_load), EXTRA_ENV (e.g.
# "OMP_WAIT_POLICY=active" to compare an OpenMP setting; passed to every lmcpp run through env).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
WORKLOADS=${2:-"train-S train-small train-tiny evaluate prefill decode"}
L=${LMCPP:-build/lmcpp}
OUT=${OUT:-/tmp/lmcpp_under_load}
read -r -a XENV <<< "${EXTRA_ENV:-}"
DATA=""
for d in ../shared/data ../../shared/data; do [[ -d $d/tinyshakespeare ]] && DATA=$d && break; done
[[ -x $L ]] || { echo "under_load: no $L (bash scripts/build.sh)" >&2; exit 2; }
mkdir -p "$OUT"
# The evaluation model and text: a fresh 4-layer GPT with the GPT-2 tokenizer; the loss is not the point.
if [[ " $WORKLOADS " == *" evaluate "* ]]; then
  [[ -n $DATA ]] || { echo "under_load: evaluate needs ../shared/data (tiny Shakespeare, GPT-2 tokenizer)" >&2; exit 2; }
  if [[ ! -f $OUT/eval_model/model.safetensors ]]; then
    "$L" init --config '{"model_type": "gpt2", "n_layer": 4, "n_head": 4, "n_embd": 256, "n_positions": 256}' \
      --tokenizer "$DATA/tokenizers/gpt2" --out "$OUT/eval_model" --overwrite >/dev/null
  fi
  head -c 262144 "$DATA/tinyshakespeare/input.txt" > "$OUT/eval.txt"
fi

# One run of a workload: prints its tokens/s.
run_one() {
  local j t0 t1
  t0=$(date +%s.%N)
  case $1 in
    train-S) j=$(env "${XENV[@]}" "$L" bench train --shape S --steps 5 --warmup 1 --json 2>/dev/null) ;;
    train-small) j=$(env "${XENV[@]}" "$L" bench train --shape small --batch 16 --steps 10 --warmup 2 --json 2>/dev/null) ;;
    train-tiny) j=$(env "${XENV[@]}" "$L" bench train --shape tiny --steps 40 --warmup 5 --json 2>/dev/null) ;;
    prefill) j=$(env "${XENV[@]}" "$L" bench prefill --shape S --reps 3 --json 2>/dev/null) ;;
    decode) j=$(env "${XENV[@]}" "$L" bench decode --reps 3 --json 2>/dev/null) ;;
    evaluate)
      j=$(env "${XENV[@]}" "$L" evaluate --model "$OUT/eval_model" --task lm --data "$OUT/eval.txt" --max-length 256 \
            --stride 256 --json 2>/dev/null) ;;
    *) echo "under_load: unknown workload $1" >&2; exit 2 ;;
  esac
  t1=$(date +%s.%N)
  # evaluate reports its token count, not a rate: its rate is tokens over the wall time of the whole command.
  python3 -c 'import json,sys; j=json.loads(sys.argv[1])
print("%.1f" % (j["tokens_per_s"] if "tokens_per_s" in j else j["tokens"] / (float(sys.argv[3]) - float(sys.argv[2]))))' \
    "$j" "$t0" "$t1"
}

BUSY_PID=""
start_load() { sh -c 'while :; do :; done' & BUSY_PID=$!; sleep 0.5; }
stop_load() { if [[ -n $BUSY_PID ]]; then kill "$BUSY_PID" 2>/dev/null || true; wait "$BUSY_PID" 2>/dev/null || true; BUSY_PID=""; fi; }
trap stop_load EXIT

echo "date: $(date -u '+%F %T UTC'); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); cores: $(nproc);" \
  "loadavg before: $(cut -d' ' -f1-3 /proc/loadavg); rounds: $ROUNDS; env: ${EXTRA_ENV:-(none)}"
LOG=$OUT/results.txt
: > "$LOG"
for r in $(seq "$ROUNDS"); do
  for w in $WORKLOADS; do
    idle=$(run_one "$w")
    start_load
    loaded=$(run_one "$w")
    stop_load
    echo "round $r $w idle $idle loaded $loaded" | tee -a "$LOG"
  done
done
python3 - "$LOG" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[2], []).append((float(f[4]), float(f[6])))
print("%-11s %14s %14s %9s %16s" % ("workload", "idle tok/s", "loaded tok/s", "loaded/idle", "per-round ratio"))
for w, v in rows.items():
    i = statistics.median(x for x, _ in v); l = statistics.median(y for _, y in v)
    per = statistics.median(y / x for x, y in v)
    print("%-11s %14.1f %14.1f %8.0f%% %15.0f%%" % (w, i, l, 100 * l / i, 100 * per))
EOF
