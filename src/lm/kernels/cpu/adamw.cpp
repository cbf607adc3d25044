// AdamW in torch's order of operations: p *= 1 - lr*wd; m, v moment updates; denom = sqrt(v)/sqrt(bc2) + eps;
// p -= (lr/bc1) * m / denom. Bias corrections are computed once in double.
// sum_squares sums fixed blocks of kSumBlock elements (double) and then the block sums in index order, so the
// result does not depend on the thread count at all.
#include "lm/kernels/cpu/adamw.h"

#include <immintrin.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

namespace {
constexpr int64_t kSumBlock = 1 << 14;

struct AdamConsts {
  float beta1, beta2, eps, step_size, sqrt_bc2, decay, grad_scale;
};

// One element, in torch's order; the AVX-512 path below performs exactly these IEEE operations (no contraction
// into FMA), so both give the same bits.
inline void adam_element(float* p, const float* g, float* m, float* v, int64_t i, const AdamConsts& k) {
  float gi = g[i] * k.grad_scale;  // exact when grad_scale == 1
  float mi = k.beta1 * m[i] + (1.0f - k.beta1) * gi;
  float vi = k.beta2 * v[i] + (1.0f - k.beta2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = p[i] * k.decay - k.step_size * mi / (std::sqrt(vi) / k.sqrt_bc2 + k.eps);
}

// [b, e) with 64-byte-aligned non-temporal stores: p, m and v are written once and not read again this step, so
// streaming them past the cache saves the read-for-ownership of every written line (7 instead of 10 passes over
// the arena's size). Requires p, g, m, v to share their alignment modulo 64 bytes (arena slots guarantee it).
__attribute__((target("avx512f"), optimize("fp-contract=off"))) void adam_range_stream(float* p, const float* g,
                                                                                        float* m, float* v, int64_t b,
                                                                                        int64_t e,
                                                                                        const AdamConsts& k) {
  int64_t i = b;
  for (; i < e && (reinterpret_cast<uintptr_t>(p + i) & 63) != 0; ++i) adam_element(p, g, m, v, i, k);
  const __m512 b1 = _mm512_set1_ps(k.beta1), b2 = _mm512_set1_ps(k.beta2), ob1 = _mm512_set1_ps(1.0f - k.beta1),
               ob2 = _mm512_set1_ps(1.0f - k.beta2), gs = _mm512_set1_ps(k.grad_scale),
               dec = _mm512_set1_ps(k.decay), ss = _mm512_set1_ps(k.step_size), sb = _mm512_set1_ps(k.sqrt_bc2),
               ep = _mm512_set1_ps(k.eps);
  for (; i + 16 <= e; i += 16) {
    const __m512 gi = _mm512_mul_ps(_mm512_loadu_ps(g + i), gs);
    const __m512 mi = _mm512_add_ps(_mm512_mul_ps(b1, _mm512_load_ps(m + i)), _mm512_mul_ps(ob1, gi));
    const __m512 vi =
        _mm512_add_ps(_mm512_mul_ps(b2, _mm512_load_ps(v + i)), _mm512_mul_ps(_mm512_mul_ps(ob2, gi), gi));
    const __m512 den = _mm512_add_ps(_mm512_div_ps(_mm512_maskz_sqrt_ps(static_cast<__mmask16>(0xFFFF), vi), sb), ep);
    const __m512 pi = _mm512_sub_ps(_mm512_mul_ps(_mm512_load_ps(p + i), dec),
                                    _mm512_div_ps(_mm512_mul_ps(ss, mi), den));
    _mm512_stream_ps(m + i, mi);
    _mm512_stream_ps(v + i, vi);
    _mm512_stream_ps(p + i, pi);
  }
  for (; i < e; ++i) adam_element(p, g, m, v, i, k);
  _mm_sfence();  // streaming stores are weakly ordered: make them visible before the next op reads p, m, v
}

// The same for CPUs with AVX2 but not AVX-512 (Zen 3, Haswell..Alder Lake): 8 lanes, 32-byte streaming stores.
// target("avx2") without "fma" keeps every multiply and add separate, as the scalar element.
__attribute__((target("avx2"), optimize("fp-contract=off"))) void adam_range_stream_avx2(float* p, const float* g,
                                                                                          float* m, float* v,
                                                                                          int64_t b, int64_t e,
                                                                                          const AdamConsts& k) {
  int64_t i = b;
  for (; i < e && (reinterpret_cast<uintptr_t>(p + i) & 31) != 0; ++i) adam_element(p, g, m, v, i, k);
  const __m256 b1 = _mm256_set1_ps(k.beta1), b2 = _mm256_set1_ps(k.beta2), ob1 = _mm256_set1_ps(1.0f - k.beta1),
               ob2 = _mm256_set1_ps(1.0f - k.beta2), gs = _mm256_set1_ps(k.grad_scale),
               dec = _mm256_set1_ps(k.decay), ss = _mm256_set1_ps(k.step_size), sb = _mm256_set1_ps(k.sqrt_bc2),
               ep = _mm256_set1_ps(k.eps);
  for (; i + 8 <= e; i += 8) {
    const __m256 gi = _mm256_mul_ps(_mm256_loadu_ps(g + i), gs);
    const __m256 mi = _mm256_add_ps(_mm256_mul_ps(b1, _mm256_load_ps(m + i)), _mm256_mul_ps(ob1, gi));
    const __m256 vi =
        _mm256_add_ps(_mm256_mul_ps(b2, _mm256_load_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(ob2, gi), gi));
    const __m256 den = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), sb), ep);
    const __m256 pi = _mm256_sub_ps(_mm256_mul_ps(_mm256_load_ps(p + i), dec),
                                    _mm256_div_ps(_mm256_mul_ps(ss, mi), den));
    _mm256_stream_ps(m + i, mi);
    _mm256_stream_ps(v + i, vi);
    _mm256_stream_ps(p + i, pi);
  }
  for (; i < e; ++i) adam_element(p, g, m, v, i, k);
  _mm_sfence();
}

bool same_phase(const void* a, const void* b) {
  return (reinterpret_cast<uintptr_t>(a) & 63) == (reinterpret_cast<uintptr_t>(b) & 63);
}

}  // namespace

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2,
                  float eps, float wd, int64_t step, float grad_scale) {
  sync_thread_count();
  const double bc1 = 1.0 - std::pow(static_cast<double>(beta1), static_cast<double>(step));
  const double bc2 = 1.0 - std::pow(static_cast<double>(beta2), static_cast<double>(step));
  const AdamConsts k{beta1, beta2, eps, static_cast<float>(lr / bc1), static_cast<float>(std::sqrt(bc2)),
                     1.0f - lr * wd, grad_scale};
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  static const bool avx2 = __builtin_cpu_supports("avx2");
  // Streaming only pays for arrays far larger than the caches (124M: 498 MB each); small ones stay cached.
  if ((avx512 || avx2) && n >= (int64_t{1} << 20) && same_phase(p, g) && same_phase(p, m) && same_phase(p, v)) {
#pragma omp parallel
    {
      int64_t b, e;
      static_chunk(n, omp_get_thread_num(), omp_get_num_threads(), 16, &b, &e);
      if (b < e) {
        if (avx512)
          adam_range_stream(p, g, m, v, b, e, k);
        else
          adam_range_stream_avx2(p, g, m, v, b, e, k);
      }
    }
    return;
  }
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) adam_element(p, g, m, v, i, k);
}

double sum_squares(const float* x, int64_t n) {
  sync_thread_count();
  const int64_t nblocks = (n + kSumBlock - 1) / kSumBlock;
  std::vector<double> partial(static_cast<size_t>(nblocks));
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    const int64_t b = blk * kSumBlock, e = b + kSumBlock < n ? b + kSumBlock : n;
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; ++i) s += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    partial[static_cast<size_t>(blk)] = s;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

void scale_inplace(float* x, int64_t n, float s) {
  sync_thread_count();
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) x[i] *= s;
}

}  // namespace lm::cpu
