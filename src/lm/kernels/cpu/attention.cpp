// Attention kernels: parallel over the B*NH (batch, head) pairs (static), each pair processed with
// single-threaded sgemm calls on row blocks of kBlock queries. With causal masking a block of queries
// [t0,t1) only needs keys [0,t1), so scores, P·V and the backward GEMMs skip (almost) all of the masked
// upper triangle; masked probabilities are stored as exact zeros, which the backward relies on.
#include "lm/kernels/cpu/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "lm/core/rng.h"

#include "lm/kernels/cpu/gemm.h"
#include "lm/kernels/cpu/parallel.h"
#include "lm/kernels/cpu/vec_math.h"

namespace lm::cpu {

// Turns the scores p[0, ncols) of query row t into probabilities over all T columns (p has T entries).
// Keys j >= L (causal) and padded keys get exactly 0; a row with no visible key is uniform over [0, L),
// which is what HF's finfo.min masking yields (all masked scores equal finfo.min after rounding).
LM_CPU_CLONES void attention_softmax_row(float* p, int64_t L, int64_t T, const int32_t* mask_row) {
  float mx = -INFINITY;
  if (mask_row) {
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < L; ++j) mx = ((mask_row[j] != 0) & (p[j] > mx)) ? p[j] : mx;  // branch-free
  } else {
#pragma omp simd reduction(max : mx)
    for (int64_t j = 0; j < L; ++j) mx = p[j] > mx ? p[j] : mx;
  }
  if (mx == -INFINITY) {
    const float u = 1.0f / static_cast<float>(L);
    for (int64_t j = 0; j < L; ++j) p[j] = u;
  } else {
    float sum = 0.0f;
    if (mask_row) {
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < L; ++j) {
        const float e_all = exp_approx(p[j] - mx);  // unconditional, then select: no control flow
        const float e = mask_row[j] == 0 ? 0.0f : e_all;
        p[j] = e;
        sum += e;
      }
    } else {
#pragma omp simd reduction(+ : sum)
      for (int64_t j = 0; j < L; ++j) {
        const float e = exp_approx(p[j] - mx);
        p[j] = e;
        sum += e;
      }
    }
    const float inv = 1.0f / sum;
#pragma omp simd
    for (int64_t j = 0; j < L; ++j) p[j] *= inv;
  }
  for (int64_t j = L; j < T; ++j) p[j] = 0.0f;
}

namespace {

constexpr int64_t kBlock = 64;

// dS = P ⊙ (dP - Σ P dP) * scale over one row's n computed columns, in place over dP.
LM_CPU_CLONES void softmax_backward_row(float* ds, const float* p, int64_t n, float scale) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int64_t j = 0; j < n; ++j) dot += p[j] * ds[j];
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) ds[j] = p[j] * (ds[j] - dot) * scale;
}

// Dropout multipliers of row t's first n columns (0 or 1/(1-p)), from the same counter as the reference.
void dropout_row(float* m, const ref::AttnDropout& drop, uint64_t row_base, int64_t n) {
  const Rng rng(drop.seed, drop.stream);
  const float keep = 1.0f / (1.0f - drop.p);
  int64_t j = 0;
  // Four uniforms per Philox block, aligned to the counter.
  while (j < n && ((row_base + static_cast<uint64_t>(j)) & 3) != 0) {
    m[j] = rng.uniform(row_base + static_cast<uint64_t>(j)) >= drop.p ? keep : 0.0f;
    ++j;
  }
  for (; j + 4 <= n; j += 4) {
    const auto blk = rng.block((row_base + static_cast<uint64_t>(j)) >> 2);
    for (int k = 0; k < 4; ++k)
      m[j + k] = static_cast<float>(blk[static_cast<size_t>(k)] >> 8) * (1.0f / 16777216.0f) >= drop.p ? keep : 0.0f;
  }
  for (; j < n; ++j) m[j] = rng.uniform(row_base + static_cast<uint64_t>(j)) >= drop.p ? keep : 0.0f;
}

// Per-thread scratch that only grows (no allocation once a training run has reached its shape).
float* scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

void attention_forward(float* out, float* att, const float* qkv, const int32_t* key_mask, int64_t B,
                       int64_t T, int64_t C, int64_t NH, bool causal, float scale, const ref::AttnDropout& drop) {
  sync_thread_count();
  const int64_t HS = C / NH, C3 = 3 * C;
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * NH; ++bh) {
    const int64_t b = bh / NH, h = bh % NH;
    const float* q = qkv + b * T * C3 + h * HS;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* P = att + bh * T * T;
    float* o = out + b * T * C + h * HS;
    const int32_t* mask_row = key_mask ? key_mask + b * T : nullptr;
    for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
      const int64_t t1 = std::min(T, t0 + kBlock), rows = t1 - t0, ncols = causal ? t1 : T;
      sgemm(false, true, rows, ncols, HS, scale, q + t0 * C3, C3, k, C3, 0.0f, P + t0 * T, T);
      for (int64_t t = t0; t < t1; ++t) attention_softmax_row(P + t * T, causal ? t + 1 : T, T, mask_row);
      if (drop.p > 0.0f) {
        // P·V with the dropped probabilities; att keeps P for the softmax backward.
        float* pd = scratch(static_cast<size_t>(kBlock * T * 2));
        float* m = pd + kBlock * T;
        for (int64_t t = t0; t < t1; ++t) {
          dropout_row(m, drop, static_cast<uint64_t>((bh * T + t) * T), ncols);
          for (int64_t j = 0; j < ncols; ++j) pd[(t - t0) * ncols + j] = P[t * T + j] * m[j];
        }
        sgemm(false, false, rows, HS, ncols, 1.0f, pd, ncols, v, C3, 0.0f, o + t0 * C, C);
      } else {
        sgemm(false, false, rows, HS, ncols, 1.0f, P + t0 * T, T, v, C3, 0.0f, o + t0 * C, C);
      }
    }
  }
}

void attention_backward(float* dqkv, float* datt, const float* dout, const float* qkv, const float* att,
                        int64_t B, int64_t T, int64_t C, int64_t NH, bool causal, float scale,
                        const ref::AttnDropout& drop) {
  sync_thread_count();
  const int64_t HS = C / NH, C3 = 3 * C;
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * NH; ++bh) {
    const int64_t b = bh / NH, h = bh % NH;
    const float* q = qkv + b * T * C3 + h * HS;
    const float* k = q + C;
    const float* v = q + 2 * C;
    float* dq = dqkv + b * T * C3 + h * HS;
    float* dk = dq + C;
    float* dv = dq + 2 * C;
    const float* P = att + bh * T * T;
    float* dS = datt + bh * T * T;
    const float* dy = dout + b * T * C + h * HS;
    // Query blocks: dP = dout · Vᵀ, dS = P ⊙ (dP - Σ P dP) * scale (in place), dQ += dS · K.
    for (int64_t t0 = 0; t0 < T; t0 += kBlock) {
      const int64_t t1 = std::min(T, t0 + kBlock), rows = t1 - t0, ncols = causal ? t1 : T;
      sgemm(false, true, rows, ncols, HS, 1.0f, dy + t0 * C, C, v, C3, 0.0f, dS + t0 * T, T);
      if (drop.p > 0.0f) {
        // d(dropped P) -> dP through the same mask.
        float* m = scratch(static_cast<size_t>(T));
        for (int64_t t = t0; t < t1; ++t) {
          dropout_row(m, drop, static_cast<uint64_t>((bh * T + t) * T), ncols);
          for (int64_t j = 0; j < ncols; ++j) dS[t * T + j] *= m[j];
        }
      }
      for (int64_t t = t0; t < t1; ++t) softmax_backward_row(dS + t * T, P + t * T, ncols, scale);
      sgemm(false, false, rows, HS, ncols, 1.0f, dS + t0 * T, T, k, C3, 1.0f, dq + t0 * C3, C3);
    }
    // With dropout, dV needs the dropped probabilities: rebuild them once for this (b, h).
    const float* Pv = P;
    if (drop.p > 0.0f) {
      float* pd = scratch(static_cast<size_t>(T * T + T));
      float* m = pd + T * T;
      for (int64_t t = 0; t < T; ++t) {
        const int64_t n = causal ? t + 1 : T;
        dropout_row(m, drop, static_cast<uint64_t>((bh * T + t) * T), n);
        for (int64_t j = 0; j < n; ++j) pd[t * T + j] = P[t * T + j] * m[j];
        for (int64_t j = n; j < T; ++j) pd[t * T + j] = 0.0f;
      }
      Pv = pd;
    }
    // Key blocks [j0,j1): only queries t >= j0 see them when causal. dV += Pᵀ · dout, dK += dSᵀ · Q.
    for (int64_t j0 = 0; j0 < T; j0 += kBlock) {
      const int64_t j1 = std::min(T, j0 + kBlock), keys = j1 - j0, r0 = causal ? j0 : 0;
      sgemm(true, false, keys, HS, T - r0, 1.0f, Pv + r0 * T + j0, T, dy + r0 * C, C, 1.0f, dv + j0 * C3, C3);
      sgemm(true, false, keys, HS, T - r0, 1.0f, dS + r0 * T + j0, T, q + r0 * C3, C3, 1.0f, dk + j0 * C3,
            C3);
    }
  }
}

}  // namespace lm::cpu
