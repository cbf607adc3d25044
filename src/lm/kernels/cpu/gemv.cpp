// GEMV for decoding: the threads split the OC output rows into contiguous static chunks; each thread streams
// its weight rows once, front to back, for up to four input rows held against each loaded weight vector (with
// two or more input rows, the AVX-512 f32 kernel takes two weight rows per pass, so each input load feeds two
// FMAs; not the bf16 one, whose vdpbf16ps throughput, not its loads, bounds it: docs/performance.md).
// With more than four input rows a thread takes its rows in tiles of ~kGemvTileBytes of weights and runs
// every block of four input rows over a tile before the next: the tile comes from DRAM once, then from L2.
// Every output is one dot product in a fixed order, so results are reproducible for a given ISA path (and
// do not depend on N, on the tiling or on the thread count). bf16 weights: with AVX512_BF16 the activations
// are rounded to bf16 once per call and vdpbf16ps multiplies pairs into f32 accumulators (relative error of
// each product ~2^-8 from the two roundings, sums in f32); otherwise the weights are widened to f32 (a
// 16-bit shift, exact) and multiplied with f32 activations. Paths: AVX-512 (f32) / AVX512_BF16 (bf16);
// AVX2+FMA for CPUs without AVX-512 (both weight types); a portable loop (ISA clones) for the rest.
#include "lm/kernels/cpu/gemv.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <type_traits>
#include <vector>

#include "lm/core/dtype.h"
#include "lm/kernels/cpu/parallel.h"
#include "lm/kernels/cpu/vec_math.h"

#define LM_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define LM_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma,avx512bf16")))
// Same 64 bytes seen as 32 bf16 (a vector cast, no instruction).
#define LM_BH(v) ((__m512bh)(v))
// Keeps a loaded vector in a register: without it GCC folds the load into each FMA that uses it (one load per
// FMA again, which the two-row kernels exist to avoid).
#define LM_IN_REG(v) asm("" : "+v"(v))

namespace lm::cpu {
namespace {

GemvPath g_path_cap = GemvPath::Auto;  // test hook: the best path allowed
bool allow(GemvPath p) { return static_cast<int>(p) <= static_cast<int>(g_path_cap); }

bool has_avx512() {
  static const bool v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return v;
}
bool has_avx512_bf16() {
  static const bool v = has_avx512() && __builtin_cpu_supports("avx512bf16");
  return v;
}

// Sum of the 16 lanes by a fixed tree of shuffles (GCC 12's _mm512_reduce_add_ps trips
// -Wmaybe-uninitialized).
LM_AVX512 inline float hsum(__m512 v) {
  // The zero-masking forms (all lanes kept) avoid the headers' _mm512_undefined_ps, which warns the same way.
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(0xFFFF, v, v, 0xB1));
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(0xFFFF, v, 0x4E));
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(0xFFFF, v, 0xB1));
  return _mm512_cvtss_f32(v);
}

// Calls fn(std::integral_constant<int, NB>) for the row-block size nb in 1..4 (kernels are templated on NB).
template <typename Fn>
void with_nb(int64_t nb, Fn&& fn) {
  switch (nb) {
    case 1:
      return fn(std::integral_constant<int, 1>{});
    case 2:
      return fn(std::integral_constant<int, 2>{});
    case 3:
      return fn(std::integral_constant<int, 3>{});
    default:
      return fn(std::integral_constant<int, 4>{});
  }
}

// ---- AVX-512 ----
//
// One weight row at a time, front to back: each thread reads its share of the matrix as a single sequential
// stream, which the hardware prefetchers follow at full speed. (Reading 4 rows at once, interleaved, with
// software prefetches of the rows 8 ahead, streamed at 40-65% of that rate on a Zen 4: the GPT-2 124M decode
// chain of 49 GEMVs took 11.2 ms instead of 7.3 with bf16 weights, 17.4 instead of 14.6 with f32.) Each input
// row has two accumulators (two 64-byte vectors per step); NB <= 4 inputs share every weight load.

template <int NB>
LM_AVX512 void rows_f32_avx512(float* out, const float* inp, const float* w, const float* bias, int64_t C,
                               int64_t OC, int64_t o0, int64_t o1) {
  const int64_t C2 = C & ~int64_t{31}, C1 = C & ~int64_t{15};
  const __mmask16 tail = static_cast<__mmask16>((1u << (C - C1)) - 1u);
  for (int64_t o = o0; o < o1; ++o) {
    const float* wr = w + o * C;
    __m512 acc[NB][2];
#pragma GCC unroll 4
    for (int n = 0; n < NB; ++n) acc[n][0] = acc[n][1] = _mm512_setzero_ps();
    for (int64_t c = 0; c < C2; c += 32) {
      const __m512 w0 = _mm512_loadu_ps(wr + c), w1 = _mm512_loadu_ps(wr + c + 16);
#pragma GCC unroll 4
      for (int n = 0; n < NB; ++n) {
        acc[n][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(inp + n * C + c), acc[n][0]);
        acc[n][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(inp + n * C + c + 16), acc[n][1]);
      }
    }
    if (C1 > C2) {
      const __m512 w0 = _mm512_loadu_ps(wr + C2);
#pragma GCC unroll 4
      for (int n = 0; n < NB; ++n)
        acc[n][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(inp + n * C + C2), acc[n][0]);
    }
    if (tail) {
      const __m512 w0 = _mm512_maskz_loadu_ps(tail, wr + C1);
#pragma GCC unroll 4
      for (int n = 0; n < NB; ++n)
        acc[n][1] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(tail, inp + n * C + C1), acc[n][1]);
    }
#pragma GCC unroll 4
    for (int n = 0; n < NB; ++n)
      out[n * OC + o] = hsum(_mm512_add_ps(acc[n][0], acc[n][1])) + (bias ? bias[o] : 0.0f);
  }
}

// NB >= 2: two weight rows (outputs o, o+1) per pass over C, so each input load feeds two FMAs (per 32
// floats: 4 weight loads + 2*NB input loads for 4*NB FMAs, instead of 2 + 2*NB for 2*NB). Every output keeps
// exactly the accumulators, chunk order, tails and final sum of rows_f32_avx512 (results are bitwise the
// same); an odd last row goes to rows_f32_avx512. NB = 1 stays one row at a time (the streaming path above).
template <int NB>
LM_AVX512 void rows_f32_avx512_x2(float* out, const float* inp, const float* w, const float* bias, int64_t C,
                                  int64_t OC, int64_t o0, int64_t o1) {
  if constexpr (NB == 1) {
    rows_f32_avx512<1>(out, inp, w, bias, C, OC, o0, o1);
  } else {
    const int64_t C2 = C & ~int64_t{31}, C1 = C & ~int64_t{15};
    const __mmask16 tail = static_cast<__mmask16>((1u << (C - C1)) - 1u);
    int64_t o = o0;
    for (; o + 1 < o1; o += 2) {
      const float* wa = w + o * C;
      const float* wb = wa + C;
      __m512 acc[NB][2], bcc[NB][2];
#pragma GCC unroll 4
      for (int n = 0; n < NB; ++n) acc[n][0] = acc[n][1] = bcc[n][0] = bcc[n][1] = _mm512_setzero_ps();
      for (int64_t c = 0; c < C2; c += 32) {
        const __m512 a0 = _mm512_loadu_ps(wa + c), a1 = _mm512_loadu_ps(wa + c + 16);
        const __m512 b0 = _mm512_loadu_ps(wb + c), b1 = _mm512_loadu_ps(wb + c + 16);
#pragma GCC unroll 4
        for (int n = 0; n < NB; ++n) {
          __m512 x0 = _mm512_loadu_ps(inp + n * C + c), x1 = _mm512_loadu_ps(inp + n * C + c + 16);
          LM_IN_REG(x0);
          LM_IN_REG(x1);
          acc[n][0] = _mm512_fmadd_ps(a0, x0, acc[n][0]);
          bcc[n][0] = _mm512_fmadd_ps(b0, x0, bcc[n][0]);
          acc[n][1] = _mm512_fmadd_ps(a1, x1, acc[n][1]);
          bcc[n][1] = _mm512_fmadd_ps(b1, x1, bcc[n][1]);
        }
      }
      if (C1 > C2) {
        const __m512 a0 = _mm512_loadu_ps(wa + C2), b0 = _mm512_loadu_ps(wb + C2);
#pragma GCC unroll 4
        for (int n = 0; n < NB; ++n) {
          const __m512 x0 = _mm512_loadu_ps(inp + n * C + C2);
          acc[n][0] = _mm512_fmadd_ps(a0, x0, acc[n][0]);
          bcc[n][0] = _mm512_fmadd_ps(b0, x0, bcc[n][0]);
        }
      }
      if (tail) {
        const __m512 a0 = _mm512_maskz_loadu_ps(tail, wa + C1), b0 = _mm512_maskz_loadu_ps(tail, wb + C1);
#pragma GCC unroll 4
        for (int n = 0; n < NB; ++n) {
          const __m512 x0 = _mm512_maskz_loadu_ps(tail, inp + n * C + C1);
          acc[n][1] = _mm512_fmadd_ps(a0, x0, acc[n][1]);
          bcc[n][1] = _mm512_fmadd_ps(b0, x0, bcc[n][1]);
        }
      }
#pragma GCC unroll 4
      for (int n = 0; n < NB; ++n) {
        out[n * OC + o] = hsum(_mm512_add_ps(acc[n][0], acc[n][1])) + (bias ? bias[o] : 0.0f);
        out[n * OC + o + 1] = hsum(_mm512_add_ps(bcc[n][0], bcc[n][1])) + (bias ? bias[o + 1] : 0.0f);
      }
    }
    if (o < o1) rows_f32_avx512<NB>(out, inp, w, bias, C, OC, o, o1);
  }
}

// bf16 weights and bf16-rounded activations (xb: NB rows of C bf16); vdpbf16ps multiplies pairs and adds them
// into f32 lanes.
template <int NB>
LM_AVX512_BF16 void rows_bf16_dp(float* out, const uint16_t* xb, const uint16_t* w, const float* bias,
                                 int64_t C, int64_t OC, int64_t o0, int64_t o1) {
  const int64_t C2 = C & ~int64_t{63}, C1 = C & ~int64_t{31};
  const __mmask32 tail = static_cast<__mmask32>((uint64_t{1} << (C - C1)) - 1u);
  for (int64_t o = o0; o < o1; ++o) {
    const uint16_t* wr = w + o * C;
    __m512 acc[NB][2];
#pragma GCC unroll 4
    for (int n = 0; n < NB; ++n) acc[n][0] = acc[n][1] = _mm512_setzero_ps();
    for (int64_t c = 0; c < C2; c += 64) {
      const __m512i w0 = _mm512_loadu_si512(wr + c), w1 = _mm512_loadu_si512(wr + c + 32);
#pragma GCC unroll 4
      for (int n = 0; n < NB; ++n) {
        acc[n][0] = _mm512_dpbf16_ps(acc[n][0], LM_BH(w0), LM_BH(_mm512_loadu_si512(xb + n * C + c)));
        acc[n][1] = _mm512_dpbf16_ps(acc[n][1], LM_BH(w1), LM_BH(_mm512_loadu_si512(xb + n * C + c + 32)));
      }
    }
    if (C1 > C2) {
      const __m512i w0 = _mm512_loadu_si512(wr + C2);
#pragma GCC unroll 4
      for (int n = 0; n < NB; ++n)
        acc[n][0] = _mm512_dpbf16_ps(acc[n][0], LM_BH(w0), LM_BH(_mm512_loadu_si512(xb + n * C + C2)));
    }
    if (tail) {
      const __m512i w0 = _mm512_maskz_loadu_epi16(tail, wr + C1);
#pragma GCC unroll 4
      for (int n = 0; n < NB; ++n)
        acc[n][1] =
            _mm512_dpbf16_ps(acc[n][1], LM_BH(w0), LM_BH(_mm512_maskz_loadu_epi16(tail, xb + n * C + C1)));
    }
#pragma GCC unroll 4
    for (int n = 0; n < NB; ++n)
      out[n * OC + o] = hsum(_mm512_add_ps(acc[n][0], acc[n][1])) + (bias ? bias[o] : 0.0f);
  }
}

// ---- AVX2 + FMA (no AVX-512: Zen 1-3, Haswell..Alder Lake), f32 weights or bf16 widened to f32 ----

#define LM_AVX2 __attribute__((target("avx2,fma")))

bool has_avx2_fma() {
  static const bool v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return v;
}

LM_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

LM_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
// 8 bf16 -> 8 f32: zero-extend to 32 bits and shift into the high half (exact).
LM_AVX2 inline __m256 load8(const uint16_t* p) {
  const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}
inline float load1(const float* p) { return *p; }
inline float load1(const uint16_t* p) { return bf16_to_f32(*p); }

// One weight row at a time, front to back, as the AVX-512 paths (reading 4 rows at once with software
// prefetches was 1.2-1.45x slower on the same GPT-2 decode chain: 8.3 instead of 12.0 ms with bf16 weights,
// 16-18 instead of 19.5-20.5 ms with f32, measured on a Zen 4 running these AVX2 kernels). The C % 8 tail is
// added after the vector sum, in scalar.
template <typename WT, int NB>
LM_AVX2 void rows_avx2(float* out, const float* inp, const WT* w, const float* bias, int64_t C, int64_t OC,
                       int64_t o0, int64_t o1) {
  const int64_t C2 = C & ~int64_t{15}, C1 = C & ~int64_t{7};
  for (int64_t o = o0; o < o1; ++o) {
    const WT* wr = w + o * C;
    __m256 acc[NB][2];
#pragma GCC unroll 4
    for (int n = 0; n < NB; ++n) acc[n][0] = acc[n][1] = _mm256_setzero_ps();
    for (int64_t c = 0; c < C2; c += 16) {
      const __m256 w0 = load8(wr + c), w1 = load8(wr + c + 8);
#pragma GCC unroll 4
      for (int n = 0; n < NB; ++n) {
        acc[n][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(inp + n * C + c), acc[n][0]);
        acc[n][1] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(inp + n * C + c + 8), acc[n][1]);
      }
    }
    if (C1 > C2) {
      const __m256 w0 = load8(wr + C2);
#pragma GCC unroll 4
      for (int n = 0; n < NB; ++n)
        acc[n][0] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(inp + n * C + C2), acc[n][0]);
    }
#pragma GCC unroll 4
    for (int n = 0; n < NB; ++n) {
      float s = hsum8(_mm256_add_ps(acc[n][0], acc[n][1]));
      for (int64_t c = C1; c < C; ++c) s += load1(wr + c) * inp[n * C + c];
      out[n * OC + o] = s + (bias ? bias[o] : 0.0f);
    }
  }
}

template <typename WT>
void rows_avx2_nb(float* out, const float* inp, const WT* w, const float* bias, int64_t nb, int64_t C,
                  int64_t OC, int64_t o0, int64_t o1) {
  with_nb(nb, [&](auto NB) { rows_avx2<WT, decltype(NB)::value>(out, inp, w, bias, C, OC, o0, o1); });
}

// ---- Portable paths (compiled for x86-64-v4/v3/baseline, picked at load) ----

LM_CPU_CLONES void rows_f32_generic(float* out, const float* inp, const float* w, const float* bias,
                                    int64_t N, int64_t C, int64_t OC, int64_t o0, int64_t o1) {
  for (int64_t o = o0; o < o1; ++o)
    for (int64_t n = 0; n < N; ++n) {
      const float* wr = w + o * C;
      const float* x = inp + n * C;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < C; ++c) s += wr[c] * x[c];
      out[n * OC + o] = s + (bias ? bias[o] : 0.0f);
    }
}

LM_CPU_CLONES void rows_bf16_generic(float* out, const float* inp, const uint16_t* w, const float* bias,
                                     int64_t N, int64_t C, int64_t OC, int64_t o0, int64_t o1) {
  for (int64_t o = o0; o < o1; ++o)
    for (int64_t n = 0; n < N; ++n) {
      const uint16_t* wr = w + o * C;
      const float* x = inp + n * C;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t c = 0; c < C; ++c) s += bf16_to_f32(wr[c]) * x[c];
      out[n * OC + o] = s + (bias ? bias[o] : 0.0f);
    }
}

template <typename Fn>
void for_row_blocks(int64_t N, Fn&& fn) {
  for (int64_t n0 = 0; n0 < N; n0 += kGemvBlockRows) fn(n0, std::min(kGemvBlockRows, N - n0));
}

// Calls fn(t0, t1) over the output rows [o0, o1) of one thread, in tiles; fn then runs every block of input
// rows over its tile. N <= kGemvBlockRows: one tile (a single block reads each weight row once anyway).
// More rows: tiles of about kGemvTileBytes of weights, which stay in L2 while the blocks after the first
// reuse them, so the weights come from DRAM once per call whatever N is (not once per block of four rows).
template <typename Fn>
void for_out_tiles(int64_t N, int64_t row_bytes, int64_t o0, int64_t o1, Fn&& fn) {
  const int64_t tile =
      N <= kGemvBlockRows ? o1 - o0 : std::max<int64_t>(1, kGemvTileBytes / std::max<int64_t>(1, row_bytes));
  for (int64_t t0 = o0; t0 < o1; t0 += tile) fn(t0, std::min(o1, t0 + tile));
}

// Activations rounded to bf16 for vdpbf16ps, in a buffer of the calling thread reused across calls (no
// allocation per token once it has grown to the largest N*C).
const uint16_t* round_inputs_bf16(const float* inp, int64_t n) {
  thread_local std::vector<uint16_t> buf;
  if (static_cast<int64_t>(buf.size()) < n) buf.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) buf[static_cast<size_t>(i)] = f32_to_bf16(inp[i]);
  return buf.data();
}

}  // namespace

const char* gemv_bf16_isa() {
  if (allow(GemvPath::Auto) && has_avx512_bf16()) return "avx512_bf16";
  if (allow(GemvPath::Avx2) && has_avx2_fma()) return "avx2";
  return "generic";
}

const char* gemv_f32_isa() {
  if (allow(GemvPath::Auto) && has_avx512()) return "avx512";
  if (allow(GemvPath::Avx2) && has_avx2_fma()) return "avx2";
  return "generic";
}

void gemv_cap_path(GemvPath p) { g_path_cap = p; }

void gemv_f32(float* out, const float* inp, const float* weight, const float* bias, int64_t N, int64_t C,
              int64_t OC) {
  sync_thread_count();
  const bool avx512 = allow(GemvPath::Auto) && has_avx512();
  const bool avx2 = !avx512 && allow(GemvPath::Avx2) && has_avx2_fma();
#pragma omp parallel
  {
    int64_t o0, o1;
    static_chunk(OC, omp_get_thread_num(), omp_get_num_threads(), 16, &o0, &o1);
    for_out_tiles(N, C * 4, o0, o1, [&](int64_t t0, int64_t t1) {
      for_row_blocks(N, [&](int64_t n0, int64_t nb) {
        float* y = out + n0 * OC;
        const float* x = inp + n0 * C;
        if (avx2) return rows_avx2_nb(y, x, weight, bias, nb, C, OC, t0, t1);
        if (!avx512) return rows_f32_generic(y, x, weight, bias, nb, C, OC, t0, t1);
        with_nb(nb, [&](auto NB) {
          rows_f32_avx512_x2<decltype(NB)::value>(y, x, weight, bias, C, OC, t0, t1);
        });
      });
    });
  }
}

void gemv_bf16(float* out, const float* inp, const uint16_t* weight, const float* bias, int64_t N, int64_t C,
               int64_t OC) {
  sync_thread_count();
  const bool dp = allow(GemvPath::Auto) && has_avx512_bf16();
  const bool avx2 = !dp && allow(GemvPath::Avx2) && has_avx2_fma();
  const uint16_t* xb = dp ? round_inputs_bf16(inp, N * C) : nullptr;
#pragma omp parallel
  {
    int64_t o0, o1;
    static_chunk(OC, omp_get_thread_num(), omp_get_num_threads(), 16, &o0, &o1);
    for_out_tiles(N, C * 2, o0, o1, [&](int64_t t0, int64_t t1) {
      for_row_blocks(N, [&](int64_t n0, int64_t nb) {
        float* y = out + n0 * OC;
        if (avx2) return rows_avx2_nb(y, inp + n0 * C, weight, bias, nb, C, OC, t0, t1);
        if (!dp) return rows_bf16_generic(y, inp + n0 * C, weight, bias, nb, C, OC, t0, t1);
        const uint16_t* x = xb + n0 * C;
        with_nb(nb, [&](auto NB) { rows_bf16_dp<decltype(NB)::value>(y, x, weight, bias, C, OC, t0, t1); });
      });
    });
  }
}

namespace {
LM_CPU_CLONES double read_sum_range(const float* p, int64_t n) {
  // One vector of 16 partial sums: a 4-cycle add per 64 bytes is far above the memory's rate per core.
  float s[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
#pragma omp simd
    for (int k = 0; k < 16; ++k) s[k] += p[i + k];
  double t = 0;
  for (int k = 0; k < 16; ++k) t += s[k];
  for (; i < n; ++i) t += p[i];
  return t;
}
}  // namespace

double read_sum(const float* data, int64_t n) {
  sync_thread_count();
  double total = 0;
#pragma omp parallel reduction(+ : total)
  {
    int64_t i0, i1;
    static_chunk(n, omp_get_thread_num(), omp_get_num_threads(), 16, &i0, &i1);
    total += read_sum_range(data + i0, i1 - i0);
  }
  return total;
}

}  // namespace lm::cpu
