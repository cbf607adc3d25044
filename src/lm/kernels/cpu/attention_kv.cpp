// KV-cache attention on CPU: one (b, h, t) row per work item, statically partitioned; scores in a per-thread
// buffer, exp in one pass, the weighted sum of cached values streamed row by row (decode is bound by reading the
// cache, so the loops are arranged to read each cached row once, contiguously).
#include "lm/kernels/cpu/attention_kv.h"

#include <omp.h>

#include <algorithm>
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

namespace {

// One query row q (HS) against keys/values kbase/vbase (n rows of HS, row-major), masked keys skipped via
// key_mask (n entries, 0 = padding) when given; s: scratch of n floats. Writes o (HS).
inline void attend_row(float* o, const float* q, const float* kbase, const float* vbase, const int32_t* key_mask,
                       int64_t n, int64_t HS, float scale, float* s) {
  const float kMin = std::numeric_limits<float>::lowest();
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n; ++j) {
    const float* kc = kbase + j * HS;
    float d = 0;
#pragma omp simd reduction(+ : d)
    for (int64_t i = 0; i < HS; ++i) d += q[i] * kc[i];
    d *= scale;
    if (key_mask && key_mask[j] == 0) d = kMin;
    s[j] = d;
    mx = std::max(mx, d);
  }
  float sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
  const float inv = 1.0f / sum;
  std::memset(o, 0, sizeof(float) * HS);
  for (int64_t j = 0; j < n; ++j) {
    const float p = s[j] * inv;
    const float* vc = vbase + j * HS;
#pragma omp simd
    for (int64_t i = 0; i < HS; ++i) o[i] += p * vc[i];
  }
}

}  // namespace

void attention_kv_forward(float* out, float* k_cache, float* v_cache, const float* qkv, const int32_t* key_mask,
                          int64_t B, int64_t Tn, int64_t C, int64_t NH, int64_t Tmax, int64_t past, float scale) {
  const int64_t HS = C / NH;
  // Append the new keys and values to the cache.
  kv_append(k_cache, v_cache, qkv, B, Tn, C, NH, Tmax, past);
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
      attend_row(out + (b * Tn + t) * C + h * HS, qkv + (b * Tn + t) * 3 * C + h * HS,
                 k_cache + (b * NH + h) * Tmax * HS, v_cache + (b * NH + h) * Tmax * HS,
                 key_mask ? key_mask + b * Tmax : nullptr, past + t + 1, HS, scale, s.data());
    }
  }
}

void attention_kv_ragged(float* out, const float* qkv, const KvSeq* seqs, int64_t S, int64_t C, int64_t NH,
                         float scale) {
  const int64_t HS = C / NH;
  sync_thread_count();
  // Work items: (sequence, head, new row), numbered sequence by sequence.
  std::vector<int64_t> first(static_cast<size_t>(S + 1), 0);
  int64_t longest = 0;
  for (int64_t q = 0; q < S; ++q) {
    first[static_cast<size_t>(q + 1)] = first[static_cast<size_t>(q)] + NH * seqs[q].n;
    longest = std::max(longest, seqs[q].past + seqs[q].n);
  }
  const int64_t rows = first[static_cast<size_t>(S)];
#pragma omp parallel
  {
    int64_t r0, r1;
    static_chunk(rows, omp_get_thread_num(), omp_get_num_threads(), 1, &r0, &r1);
    // Appends first (each (sequence, head, row) copies its own key and value), then every thread waits.
    for (int64_t r = r0; r < r1; ++r) {
      const auto q = static_cast<int64_t>(std::upper_bound(first.begin(), first.end(), r) - first.begin()) - 1;
      const KvSeq& sq = seqs[q];
      const int64_t h = (r - first[static_cast<size_t>(q)]) / sq.n, t = (r - first[static_cast<size_t>(q)]) % sq.n;
      const float* k = qkv + (sq.row0 + t) * 3 * C + C + h * HS;
      std::memcpy(sq.k_cache + (h * sq.Tmax + sq.past + t) * HS, k, sizeof(float) * HS);
      std::memcpy(sq.v_cache + (h * sq.Tmax + sq.past + t) * HS, k + C, sizeof(float) * HS);
    }
#pragma omp barrier
    thread_local std::vector<float> s;
    if (s.size() < static_cast<size_t>(longest)) s.resize(static_cast<size_t>(longest));
    for (int64_t r = r0; r < r1; ++r) {
      const auto q = static_cast<int64_t>(std::upper_bound(first.begin(), first.end(), r) - first.begin()) - 1;
      const KvSeq& sq = seqs[q];
      const int64_t h = (r - first[static_cast<size_t>(q)]) / sq.n, t = (r - first[static_cast<size_t>(q)]) % sq.n;
      attend_row(out + (sq.row0 + t) * C + h * HS, qkv + (sq.row0 + t) * 3 * C + h * HS,
                 sq.k_cache + h * sq.Tmax * HS, sq.v_cache + h * sq.Tmax * HS, nullptr, sq.past + t + 1, HS, scale,
                 s.data());
    }
  }
}

}  // namespace lm::cpu
