// Matrix-vector products for decoding (a handful of input rows): out (N,OC) = inp (N,C) · weight (OC,C)ᵀ +
// bias. Memory bound: each weight row is read from DRAM once per call, the threads split the output rows (for
// N > kGemvBlockRows, in tiles of kGemvTileBytes that stay in L2 while each block of rows runs over them, so
// the weights are not streamed again for each block). Weights are f32, or bf16 (uint16 bit patterns) with f32
// accumulation. Runtime ISA dispatch: AVX-512 (+ AVX512_BF16's vdpbf16ps for bf16 weights, the activations
// then rounded to bf16 once per call), else AVX2+FMA (bf16 widened to f32), else a portable loop.
#pragma once

#include <cstdint>

namespace lm::cpu {

constexpr int64_t kGemvBlockRows = 4;
// Weight bytes per tile of output rows when N > kGemvBlockRows (the tile plus N input rows fit a 256 KB+ L2;
// 64-256 KB measured alike at N 16-32, C 768 on an Emerald Rapids, docs/performance.md).
constexpr int64_t kGemvTileBytes = 128 * 1024;

void gemv_f32(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
              int64_t OC);
void gemv_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t N, int64_t C,
               int64_t OC);

// Which path runs on this machine: bf16 "avx512_bf16", "avx2" or "generic"; f32 "avx512", "avx2" or "generic"
// (for bench output and tests).
const char* gemv_bf16_isa();
const char* gemv_f32_isa();
// Test hook: the best path the dispatch may pick (Auto restores it), so that a test on an AVX-512 CPU also
// runs the AVX2 and portable kernels.
enum class GemvPath { Generic, Avx2, Auto };
void gemv_cap_path(GemvPath p);

// Sums the floats of a large buffer on all threads (a STREAM-like read kernel): the bench's memory bandwidth.
double read_sum(const float* data, int64_t n);

}  // namespace lm::cpu
