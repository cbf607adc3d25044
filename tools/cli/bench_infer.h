// `lmcpp bench prefill|decode|membw` (bench_infer.cpp), dispatched from cmd_bench.cpp.
#pragma once

#include <string>

#include "args.h"

namespace lm::cli {

// Usage lines appended to `lmcpp bench --help`.
#define LM_BENCH_INFER_USAGE                                                                                    \
  "\n"                                                                                                          \
  "       lmcpp bench prefill [--shape 124M|S|tiny] [--threads N] [--weights f32|bf16] [--prompt T] [--reps N]\n" \
  "                           [--warmup N] [--json] [--save-model DIR]\n"                                           \
  "       lmcpp bench decode  [--shape 124M|S|tiny] [--threads N] [--weights f32|bf16] [--tokens N] [--reps N]\n"  \
  "                           [--warmup N] [--json] [--save-model DIR] [--membw-mb MB]\n"                        \
  "                           [--model DIR [--adapter DIR] [--text FILE] [--ppl-tokens N]]\n"                     \
  "       lmcpp bench membw   [--threads N] [--membw-mb MB] [--json]\n"                                           \
  "  prefill: one forward of a T-token prompt (default 512) through the KV cache, batch 1, last logits only;\n"    \
  "  tokens/s = T / median time. decode: N tokens (default 128) one at a time from an empty cache, batch 1;\n"    \
  "  tokens/s = N / median time of the whole run (llama-bench's tg). Random weights (seed 1234, shape 124M =\n"   \
  "  GPT-2 small by default). --weights bf16 decodes from a bf16 copy of the matrices (f32 accumulation);\n"      \
  "  prefill always multiplies with the f32 weights (sgemm). decode also measures the read bandwidth (a\n"        \
  "  STREAM-like sum over a --membw-mb buffer, default 512) and reports bound = bandwidth / bytes read per\n"     \
  "  token. --save-model DIR writes the benchmarked weights as an HF directory (for the llama.cpp comparison).\n" \
  "  --model DIR benchmarks a trained GPT instead (--adapter DIR: with a PEFT LoRA adapter applied unmerged);\n"    \
  "  with --text FILE, decode also reports the perplexity of the\n"                                              \
  "  file's first --ppl-tokens tokens (default 4096) through the decode path (windows of n_positions tokens).\n"  \
  "  --json: one JSON line. prefill: {\"bench\", \"shape\", \"weights\", \"threads\", \"prompt_tokens\",\n"     \
  "  \"tokens_per_s\", \"ms\", \"peak_rss_mb\", \"reps\"}; decode: {\"bench\", \"shape\", \"weights\", \"threads\",\n" \
  "  \"tokens\", \"tokens_per_s\", \"ms_per_token\", \"peak_rss_mb\", \"bytes_per_token\", \"membw_gbs\",\n"       \
  "  \"bound_tokens_per_s\", \"fraction_of_bound\", \"gemv_bf16_isa\", \"reps\"} (+ \"perplexity\",\n"            \
  "  \"perplexity_tokens\" with --text); membw: {\"bench\", \"threads\", \"buffer_mb\", \"read_gbs\",\n"            \
  "  \"read_gbs_median\"}."

int run_bench_infer(const std::string& what, Args& a);

}  // namespace lm::cli
