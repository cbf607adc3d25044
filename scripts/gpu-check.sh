#!/usr/bin/env bash
# GPU verification of the CUDA backend in one call (issue #8), for a machine with an NVIDIA GPU (target: H200):
#   1. builds with LM_CUDA=ON (scripts/build_cuda.sh, all cores),
#   2. runs the CUDA tests (every CUDA kernel vs kernels/ref, f32 and bf16; they skip without a device),
#   3. runs cuda_ops_bench: every kernel of a GPT-2 124M training step at B x T, GEMM TFLOP/s vs the dense bf16
#      peak, and a kernel-sum estimate of tokens/s (NOT an end-to-end training run),
#   4. runs `lmcpp bench train --shape 124M --device cuda --dtype bf16|f32`: the GPT model, AdamW and the step end to
#      end on the GPU (bf16 mixed precision, MFU against the dense bf16 peak; f32 without TF32, MFU against the fp32
#      peak), tokens/s logged,
#   5. if llm.c's sources are at $LLMC_DIR (default /work/peers/llm.c, with train_gpt2.cu), builds train_gpt2cu in a
#      copy under $OUT and runs it with the same B and T on random weights (-e d12) and random tokens; logs tokens/s.
# Exit status: the CUDA tests' (3 when they skipped: no visible device).
# Logs go to $OUT (default ./gpu-check-out); summary.txt has one line per stage. B (default 16) and T (1024) set the
# shape; B=16 x T=1024 fits the materialised (B,NH,T,T) attention of the current kernels in an H200's memory.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
B=${B:-16}
T=${T:-1024}
LLMC_DIR=${LLMC_DIR:-/work/peers/llm.c}
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
say() { echo "gpu-check: $*" | tee -a "$SUMMARY"; }
say "start $(date -u +%FT%TZ) B=$B T=$T"
(nvidia-smi || true) > "$OUT/nvidia-smi.txt" 2>&1
say "gpu: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo 'nvidia-smi unavailable')"

# 1. Build.
start=$(date +%s)
if JOBS=$(nproc) bash scripts/build_cuda.sh > "$OUT/build.log" 2>&1; then
  say "build: ok in $(($(date +%s) - start)) s"
else
  say "build: FAILED (tail of build.log follows)"
  tail -40 "$OUT/build.log" | tee -a "$SUMMARY"
  exit 1
fi

# 2. CUDA tests.
build-cuda/lmcpp_test_cuda --gtest_output="xml:$OUT/cuda_tests.xml" > "$OUT/cuda_tests.log" 2>&1
rc=$?
tests_rc=$rc
skipped=$(grep -c '\[  SKIPPED \]' "$OUT/cuda_tests.log" || true)
say "cuda tests: exit $rc, $(grep -E '^\[  PASSED  \]|FAILED TEST' "$OUT/cuda_tests.log" | head -3 | tr '\n' ' ') skipped lines: $skipped"
grep -E '^\[  FAILED  \]' "$OUT/cuda_tests.log" | sort -u | tee -a "$SUMMARY"
if ((skipped > 0)); then
  # On the GPU machine a skip means the device is not visible: that is a failed check, not a pass.
  say "cuda tests: SKIPPED: no CUDA device visible to the tests"
  tests_rc=3
fi

# 3. Kernel microbenchmark.
if build-cuda/cuda_ops_bench --batch "$B" --seq "$T" > "$OUT/cuda_ops_bench.txt" 2>&1 &&
   build-cuda/cuda_ops_bench --batch "$B" --seq "$T" --json > "$OUT/cuda_ops_bench.json" 2> "$OUT/cuda_ops_bench.err"; then
  say "cuda_ops_bench: $(grep -E 'kernel-sum|MFU|warning' "$OUT/cuda_ops_bench.txt" | tr '\n' ' ')"
else
  say "cuda_ops_bench: FAILED: $(tail -2 "$OUT/cuda_ops_bench.txt" | tr '\n' ' ')"
fi

# 4. End-to-end training benchmark through the CLI: bf16 mixed precision (the llm.c comparison) and f32.
# 124M-pad is the vocabulary padded to 50304 as llm.c trains (aligned LM-head GEMMs); 124M is HF's 50257.
for run in "124M-pad bf16" "124M bf16" "124M-pad f32"; do
  read -r shape dt <<<"$run"
  build-cuda/lmcpp bench train --shape "$shape" --device cuda --dtype "$dt" --batch "$B" --seq "$T" --steps 10 \
    --warmup 3 --json > "$OUT/bench_train_cuda_${shape}_$dt.json" 2> "$OUT/bench_train_cuda_${shape}_$dt.err"
  rc=$?
  say "lmcpp bench train --shape $shape --device cuda --dtype $dt: exit $rc: $(cat "$OUT/bench_train_cuda_${shape}_$dt.json" "$OUT/bench_train_cuda_${shape}_$dt.err" | tail -3 | tr '\n' ' ')"
done

# 5. llm.c side by side (optional: needs its CUDA sources; the device machine has no network).
if [[ -f $LLMC_DIR/train_gpt2.cu ]]; then
  mkdir -p "$OUT/llmc"
  # llm.c token shard: 256 int32 header (magic 20240520, version 1, token count), then uint16 tokens.
  python3 - "$OUT/llmc" <<'PY'
import random, struct, sys
d = sys.argv[1]
for name, n in (("train", 4_000_000), ("val", 200_000)):
    header = [0] * 256
    header[0], header[1], header[2] = 20240520, 1, n
    rng = random.Random(0)
    with open(f"{d}/{name}.bin", "wb") as f:
        f.write(struct.pack("<256i", *header))
        f.write(struct.pack(f"<{n}H", *(rng.randrange(50257) for _ in range(n))))
PY
  # Build in a copy under $OUT: the peer checkout is left untouched.
  rm -rf "$OUT/llmc-src" && mkdir -p "$OUT/llmc-src"
  (cd "$LLMC_DIR" && tar --exclude='*.bin' -cf - .) | tar -xf - -C "$OUT/llmc-src"  # sources only, no weights
  if make -C "$OUT/llmc-src" train_gpt2cu > "$OUT/llmc_build.log" 2>&1; then
    (cd "$OUT/llmc-src" && ./train_gpt2cu -i "$OUT/llmc/train.bin" -j "$OUT/llmc/val.bin" -e d12 -b "$B" -t "$T" -x 30 \
       -v 0 -s 0 -h 0 -o "$OUT/llmc/log") > "$OUT/llmc_train.log" 2>&1
    say "llm.c train_gpt2cu: exit $?: $(grep -E 'tok/s' "$OUT/llmc_train.log" | tail -1)"
  else
    say "llm.c: build FAILED (see llmc_build.log)"
  fi
else
  say "llm.c: skipped ($LLMC_DIR/train_gpt2.cu not found)"
fi
say "done $(date -u +%FT%TZ)"
# The exit status is the CUDA tests' (the benchmarks are reported, not judged).
exit "$tests_rc"
