// Reference multi-head self-attention core (no projections), templated over float|double.
// Shapes: qkv/dqkv (B,T,3C) = q | k | v, head h = columns h*HS:(h+1)*HS of each; out/dout (B,T,C);
// att/datt (B,NH,T,T) softmax probabilities / scratch; key_mask (B,T) i32 or null (0 = masked key).
#pragma once

#include <cmath>
#include <cstdint>

#include "lm/core/rng.h"

namespace lm::ref {

// Attention dropout (HF attn_dropout on the probabilities): element (b,h,t,j) of the (B,NH,T,T) probabilities is
// kept iff Rng(seed, stream).uniform(((b*NH + h)*T + t)*T + j) >= p and scaled by 1/(1-p). att keeps the
// probabilities before dropout; backward regenerates the mask. p = 0: no dropout.
struct AttnDropout {
  float p = 0.0f;
  uint64_t seed = 0, stream = 0;
  // Multiplier of element `idx`: 0 or 1/(1-p).
  template <typename F>
  F factor(uint64_t idx) const {
    if (p <= 0.0f) return F(1);
    return Rng(seed, stream).uniform(idx) >= p ? F(1) / (F(1) - F(p)) : F(0);
  }
};

// Number of keys a query row t may see at all.
inline int64_t attention_row_len(bool causal, int64_t t, int64_t T) { return causal ? t + 1 : T; }

// Masking follows HF's finfo.min: a masked score contributes exp(.) = 0 unless every key of the row is
// masked, in which case finfo.min dominates every score equally and the row is uniform. Causal masking here
// is hard: keys j > t always get probability 0, and a row whose allowed keys (j <= t) are all padding is
// uniform over those. (HF GPT-2 eager adds finfo.min twice there, and newer SDPA paths unmask such rows;
// either way only padded query rows of left-padded causal batches differ, and their outputs never reach an
// unmasked position.)
template <typename F>
void attention_forward(F* out, F* att, const F* qkv, const int32_t* key_mask, int64_t B, int64_t T, int64_t C,
                       int64_t NH, bool causal, F scale, const AttnDropout& drop = {}) {
  const int64_t HS = C / NH, C3 = 3 * C;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const F* q = qkv + (b * T + t) * C3 + h * HS;
        F* p = att + ((b * NH + h) * T + t) * T;
        const int64_t L = attention_row_len(causal, t, T);
        F mx = 0;
        bool any = false;
        for (int64_t j = 0; j < L; ++j) {
          if (key_mask && key_mask[b * T + j] == 0) continue;
          const F* k = qkv + (b * T + j) * C3 + C + h * HS;
          F s = 0;
          for (int64_t i = 0; i < HS; ++i) s += q[i] * k[i];
          s *= scale;
          p[j] = s;
          if (!any || s > mx) mx = s;
          any = true;
        }
        F sum = 0;
        for (int64_t j = 0; j < T; ++j) {
          bool masked = j >= L || (key_mask && key_mask[b * T + j] == 0);
          if (!any)
            p[j] = j < L ? F(1) / static_cast<F>(L) : F(0);
          else
            p[j] = masked ? F(0) : std::exp(p[j] - mx);
          sum += p[j];
        }
        for (int64_t j = 0; j < T; ++j) p[j] /= sum;
        F* o = out + (b * T + t) * C + h * HS;
        for (int64_t i = 0; i < HS; ++i) {
          F acc = 0;
          for (int64_t j = 0; j < T; ++j)
            acc += p[j] * drop.factor<F>(static_cast<uint64_t>(((b * NH + h) * T + t) * T + j)) *
                   qkv[(b * T + j) * C3 + 2 * C + h * HS + i];
          o[i] = acc;
        }
      }
}

// dqkv += d(out)/d(qkv)ᵀ dout via the saved probabilities; datt is scratch. Uses the standard softmax
// backward on att (masked entries have att = 0 so they get no gradient), as autograd does through HF's
// additive mask.
template <typename F>
void attention_backward(F* dqkv, F* datt, const F* dout, const F* qkv, const F* att, int64_t B, int64_t T,
                        int64_t C, int64_t NH, F scale, const AttnDropout& drop = {}) {
  const int64_t HS = C / NH, C3 = 3 * C;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const F* p = att + ((b * NH + h) * T + t) * T;
        F* dp = datt + ((b * NH + h) * T + t) * T;
        const F* dy = dout + (b * T + t) * C + h * HS;
        // out = Σ_j p_j m_j v_j with m_j the dropout multiplier.
        for (int64_t j = 0; j < T; ++j) {
          const F m = drop.factor<F>(static_cast<uint64_t>(((b * NH + h) * T + t) * T + j));
          const F* v = qkv + (b * T + j) * C3 + 2 * C + h * HS;
          F* dv = dqkv + (b * T + j) * C3 + 2 * C + h * HS;
          F s = 0;
          for (int64_t i = 0; i < HS; ++i) {
            s += dy[i] * v[i];
            dv[i] += p[j] * m * dy[i];
          }
          dp[j] = s * m;
        }
        F dot = 0;
        for (int64_t j = 0; j < T; ++j) dot += p[j] * dp[j];
        const F* q = qkv + (b * T + t) * C3 + h * HS;
        F* dq = dqkv + (b * T + t) * C3 + h * HS;
        for (int64_t j = 0; j < T; ++j) {
          F ds = p[j] * (dp[j] - dot) * scale;
          const F* k = qkv + (b * T + j) * C3 + C + h * HS;
          F* dk = dqkv + (b * T + j) * C3 + C + h * HS;
          for (int64_t i = 0; i < HS; ++i) {
            dq[i] += ds * k[i];
            dk[i] += ds * q[i];
          }
        }
      }
}

}  // namespace lm::ref
