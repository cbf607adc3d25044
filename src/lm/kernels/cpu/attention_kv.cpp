// KV-cache attention on CPU: one (b, h, t) row per work item, statically partitioned; scores in a per-thread
// buffer, exp in one pass, the weighted sum of cached values streamed row by row (decode is bound by reading the
// cache, so the loops are arranged to read each cached row once, contiguously).
#include "lm/kernels/cpu/attention_kv.h"

#include <omp.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

void kv_append(float* k_cache, float* v_cache, const float* qkv, int64_t B, int64_t Tn, int64_t C, int64_t NH,
               int64_t Tmax, int64_t past) {
  const int64_t HS = C / NH;
  sync_thread_count();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Tn; ++t)
      for (int64_t h = 0; h < NH; ++h) {
        const float* k = qkv + (b * Tn + t) * 3 * C + C + h * HS;
        std::memcpy(k_cache + ((b * NH + h) * Tmax + past + t) * HS, k, sizeof(float) * HS);
        std::memcpy(v_cache + ((b * NH + h) * Tmax + past + t) * HS, k + C, sizeof(float) * HS);
      }
}

void attention_kv_forward(float* out, float* k_cache, float* v_cache, const float* qkv, const int32_t* key_mask,
                          int64_t B, int64_t Tn, int64_t C, int64_t NH, int64_t Tmax, int64_t past, float scale) {
  const int64_t HS = C / NH;
  // Append the new keys and values to the cache.
  kv_append(k_cache, v_cache, qkv, B, Tn, C, NH, Tmax, past);
  const float kMin = std::numeric_limits<float>::lowest();
  const int64_t rows = B * NH * Tn;
#pragma omp parallel
  {
    // Per-thread score row, grown once and reused (no allocation per decoded token).
    thread_local std::vector<float> s;
    if (s.size() < static_cast<size_t>(past + Tn)) s.resize(static_cast<size_t>(past + Tn));
    int64_t r0, r1;
    static_chunk(rows, omp_get_thread_num(), omp_get_num_threads(), 1, &r0, &r1);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / (NH * Tn), h = (r / Tn) % NH, t = r % Tn;
      const float* q = qkv + (b * Tn + t) * 3 * C + h * HS;
      const float* kbase = k_cache + (b * NH + h) * Tmax * HS;
      const float* vbase = v_cache + (b * NH + h) * Tmax * HS;
      const int64_t n = past + t + 1;
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t j = 0; j < n; ++j) {
        const float* kc = kbase + j * HS;
        float d = 0;
#pragma omp simd reduction(+ : d)
        for (int64_t i = 0; i < HS; ++i) d += q[i] * kc[i];
        d *= scale;
        if (key_mask && key_mask[b * Tmax + j] == 0) d = kMin;
        s[static_cast<size_t>(j)] = d;
        mx = std::max(mx, d);
      }
      float sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += (s[static_cast<size_t>(j)] = std::exp(s[static_cast<size_t>(j)] - mx));
      const float inv = 1.0f / sum;
      float* o = out + (b * Tn + t) * C + h * HS;
      std::memset(o, 0, sizeof(float) * HS);
      for (int64_t j = 0; j < n; ++j) {
        const float p = s[static_cast<size_t>(j)] * inv;
        const float* vc = vbase + j * HS;
#pragma omp simd
        for (int64_t i = 0; i < HS; ++i) o[i] += p * vc[i];
      }
    }
  }
}

}  // namespace lm::cpu
