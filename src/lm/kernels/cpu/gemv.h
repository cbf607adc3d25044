// Matrix-vector products for decoding (a handful of input rows): out (N,OC) = inp (N,C) · weight (OC,C)ᵀ + bias.
// Memory bound: each weight row is streamed exactly once per call (for N <= kGemvBlockRows; larger N re-reads
// the weights once per block of rows), the threads split the output rows. Weights are f32, or bf16 (uint16 bit
// patterns) with f32 accumulation. Runtime ISA dispatch: AVX-512 (+ AVX512_BF16's vdpbf16ps for bf16 weights,
// the activations then rounded to bf16 once per call), else a portable loop.
#pragma once

#include <cstdint>

namespace lm::cpu {

constexpr int64_t kGemvBlockRows = 4;

void gemv_f32(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
              int64_t OC);
void gemv_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t N, int64_t C,
               int64_t OC);

// Which bf16 path runs on this machine: "avx512_bf16", "avx512f" or "generic" (for bench output and tests).
const char* gemv_bf16_isa();
// Test hook: forces the portable bf16 path (false restores the dispatch).
void gemv_force_generic(bool on);

// Sums the floats of a large buffer on all threads (a STREAM-like read kernel): the bench's memory bandwidth.
double read_sum(const float* data, int64_t n);

}  // namespace lm::cpu
