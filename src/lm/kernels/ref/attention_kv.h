// Reference attention of Tn new queries against a KV cache (incremental decoding). Shapes: qkv (B,Tn,3C) for the
// new tokens; k_cache/v_cache (B,NH,Tmax,HS), the new keys/values are written at [past, past+Tn); out (B,Tn,C);
// key_mask (B,Tmax) i32 (0 = padding key) or null. Query t (absolute position past+t) attends to keys
// 0..past+t; masked keys get finfo.min as in HF, so a row whose keys are all masked is uniform over them.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace lm::ref {

template <typename F>
void attention_kv_forward(F* out, F* k_cache, F* v_cache, const F* qkv, const int32_t* key_mask, int64_t B,
                          int64_t Tn, int64_t C, int64_t NH, int64_t Tmax, int64_t past, F scale) {
  const int64_t HS = C / NH;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Tn; ++t)
      for (int64_t h = 0; h < NH; ++h) {
        const F* k = qkv + (b * Tn + t) * 3 * C + C + h * HS;
        const F* v = k + C;
        F* kc = k_cache + ((b * NH + h) * Tmax + past + t) * HS;
        F* vc = v_cache + ((b * NH + h) * Tmax + past + t) * HS;
        for (int64_t i = 0; i < HS; ++i) kc[i] = k[i], vc[i] = v[i];
      }
  const F kMin = std::numeric_limits<float>::lowest();
  std::vector<F> s(static_cast<size_t>(past + Tn));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < Tn; ++t)
      for (int64_t h = 0; h < NH; ++h) {
        const F* q = qkv + (b * Tn + t) * 3 * C + h * HS;
        const int64_t n = past + t + 1;
        F mx = -std::numeric_limits<F>::infinity();
        for (int64_t j = 0; j < n; ++j) {
          const F* kc = k_cache + ((b * NH + h) * Tmax + j) * HS;
          F d = 0;
          for (int64_t i = 0; i < HS; ++i) d += q[i] * kc[i];
          d *= scale;
          if (key_mask && key_mask[b * Tmax + j] == 0) d = kMin;
          s[j] = d;
          mx = std::max(mx, d);
        }
        F sum = 0;
        for (int64_t j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
        F* o = out + (b * Tn + t) * C + h * HS;
        for (int64_t i = 0; i < HS; ++i) o[i] = 0;
        for (int64_t j = 0; j < n; ++j) {
          const F p = s[j] / sum;
          const F* vc = v_cache + ((b * NH + h) * Tmax + j) * HS;
          for (int64_t i = 0; i < HS; ++i) o[i] += p * vc[i];
        }
      }
}

}  // namespace lm::ref
