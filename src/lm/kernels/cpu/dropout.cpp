// Dropout kernels. The mask is a pure function of the element index, so any partition gives the same result.
// Philox4x32-10 is evaluated here lane-parallel (one block of four elements per SIMD lane, 32x32->64-bit
// multiplies vectorise as vpmuludq) in runtime ISA clones; it is the same function as lm::philox4x32 and the
// uniform is computed exactly as Rng::uniform ((u32 >> 8) * 2^-24), so masks match the reference bitwise.
#include "lm/kernels/cpu/dropout.h"

#include <omp.h>

#include "lm/core/rng.h"
#include "lm/kernels/cpu/parallel.h"
#include "lm/kernels/cpu/vec_math.h"

namespace lm::cpu {

namespace {

inline float to_uniform(uint32_t u) { return static_cast<float>(u >> 8) * (1.0f / 16777216.0f); }

struct PhiloxKey {
  uint32_t s0, s1, k0, k1;  // stream words (counter words 2, 3) and key words
};

PhiloxKey make_key(uint64_t seed, uint64_t stream) {
  return {static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32), static_cast<uint32_t>(seed),
          static_cast<uint32_t>(seed >> 32)};
}

// One Philox4x32 round (same constants as lm::philox4x32), as straight-line code for the vectoriser.
inline void philox_round(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, uint32_t& ka, uint32_t& kb) {
  const uint64_t p0 = static_cast<uint64_t>(0xD2511F53u) * r0;
  const uint64_t p1 = static_cast<uint64_t>(0xCD9E8D57u) * r2;
  const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ r1 ^ ka, n1 = static_cast<uint32_t>(p1);
  const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ r3 ^ kb, n3 = static_cast<uint32_t>(p0);
  r0 = n0;
  r1 = n1;
  r2 = n2;
  r3 = n3;
  ka += 0x9E3779B9u;
  kb += 0xBB67AE85u;
}

// Philox4x32-10 of counter (blk, stream) under key (seed), rounds written out (no loop: GCC's vectoriser
// rejects an inner loop as control flow).
#define LM_PHILOX_BLOCK(blk, key, r0, r1, r2, r3)                                                         \
  uint32_t r0 = static_cast<uint32_t>(blk), r1 = static_cast<uint32_t>(static_cast<uint64_t>(blk) >> 32), \
           r2 = (key).s0, r3 = (key).s1, ka = (key).k0, kb = (key).k1;                                    \
  philox_round(r0, r1, r2, r3, ka, kb);                                                                   \
  philox_round(r0, r1, r2, r3, ka, kb);                                                                   \
  philox_round(r0, r1, r2, r3, ka, kb);                                                                   \
  philox_round(r0, r1, r2, r3, ka, kb);                                                                   \
  philox_round(r0, r1, r2, r3, ka, kb);                                                                   \
  philox_round(r0, r1, r2, r3, ka, kb);                                                                   \
  philox_round(r0, r1, r2, r3, ka, kb);                                                                   \
  philox_round(r0, r1, r2, r3, ka, kb);                                                                   \
  philox_round(r0, r1, r2, r3, ka, kb);                                                                   \
  philox_round(r0, r1, r2, r3, ka, kb);

// Full blocks [blk0, blk1): elements 4*blk .. 4*blk+3. Loads and products are unconditional and the mask a
// select, so the loop has no control flow and vectorises.
LM_CPU_CLONES void forward_blocks(float* out, const float* inp, int64_t blk0, int64_t blk1, float p,
                                  float scale, PhiloxKey key) {
#pragma omp simd
  for (int64_t blk = blk0; blk < blk1; ++blk) {
    LM_PHILOX_BLOCK(blk, key, r0, r1, r2, r3)
    const int64_t i = 4 * blk;
    const float x0 = inp[i + 0] * scale;
    out[i + 0] = to_uniform(r0) >= p ? x0 : 0.0f;
    const float x1 = inp[i + 1] * scale;
    out[i + 1] = to_uniform(r1) >= p ? x1 : 0.0f;
    const float x2 = inp[i + 2] * scale;
    out[i + 2] = to_uniform(r2) >= p ? x2 : 0.0f;
    const float x3 = inp[i + 3] * scale;
    out[i + 3] = to_uniform(r3) >= p ? x3 : 0.0f;
  }
}

LM_CPU_CLONES void backward_blocks(float* dinp, const float* dout, int64_t blk0, int64_t blk1, float p,
                                   float scale, PhiloxKey key) {
#pragma omp simd
  for (int64_t blk = blk0; blk < blk1; ++blk) {
    LM_PHILOX_BLOCK(blk, key, r0, r1, r2, r3)
    const int64_t i = 4 * blk;
    // Dropped elements add +0.0f (branch-free), identical to skipping them except for a -0.0f gradient.
    const float d0 = dout[i + 0] * scale;
    dinp[i + 0] += to_uniform(r0) >= p ? d0 : 0.0f;
    const float d1 = dout[i + 1] * scale;
    dinp[i + 1] += to_uniform(r1) >= p ? d1 : 0.0f;
    const float d2 = dout[i + 2] * scale;
    dinp[i + 2] += to_uniform(r2) >= p ? d2 : 0.0f;
    const float d3 = dout[i + 3] * scale;
    dinp[i + 3] += to_uniform(r3) >= p ? d3 : 0.0f;
  }
}

}  // namespace

void dropout_forward(float* out, const float* inp, int64_t n, float p, uint64_t seed, uint64_t stream) {
  sync_thread_count();
  const PhiloxKey key = make_key(seed, stream);
  const float scale = 1.0f / (1.0f - p);
  const int64_t full = n / 4;
#pragma omp parallel
  {
    int64_t b, e;
    static_chunk(full, omp_get_thread_num(), omp_get_num_threads(), 4, &b, &e);
    if (b < e) forward_blocks(out, inp, b, e, p, scale, key);
  }
  // Ragged tail (< 4 elements) from the reference generator.
  const Rng rng(seed, stream);
  for (int64_t i = full * 4; i < n; ++i)
    out[i] = rng.uniform(static_cast<uint64_t>(i)) >= p ? inp[i] * scale : 0.0f;
}

void dropout_backward(float* dinp, const float* dout, int64_t n, float p, uint64_t seed, uint64_t stream) {
  sync_thread_count();
  const PhiloxKey key = make_key(seed, stream);
  const float scale = 1.0f / (1.0f - p);
  const int64_t full = n / 4;
#pragma omp parallel
  {
    int64_t b, e;
    static_chunk(full, omp_get_thread_num(), omp_get_num_threads(), 4, &b, &e);
    if (b < e) backward_blocks(dinp, dout, b, e, p, scale, key);
  }
  const Rng rng(seed, stream);
  for (int64_t i = full * 4; i < n; ++i)
    if (rng.uniform(static_cast<uint64_t>(i)) >= p) dinp[i] += dout[i] * scale;
}

}  // namespace lm::cpu
