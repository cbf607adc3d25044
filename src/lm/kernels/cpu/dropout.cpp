// Dropout kernels. The mask is a pure function of the element index, so any partition gives the same result;
// the uniform is computed exactly as Rng::uniform ((u32 >> 8) * 2^-24) from the Philox block of index i/4.
#include "lm/kernels/cpu/dropout.h"

#include "lm/core/rng.h"
#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

namespace {
inline float block_uniform(uint32_t u) { return static_cast<float>(u >> 8) * (1.0f / 16777216.0f); }
}  // namespace

void dropout_forward(float* out, const float* inp, int64_t n, float p, uint64_t seed, uint64_t stream) {
  sync_thread_count();
  const Rng rng(seed, stream);
  const float scale = 1.0f / (1.0f - p);
  const int64_t nblocks = (n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    auto r = rng.block(static_cast<uint64_t>(blk));
    for (int k = 0; k < 4; ++k) {
      int64_t i = blk * 4 + k;
      if (i < n) out[i] = block_uniform(r[k]) >= p ? inp[i] * scale : 0.0f;
    }
  }
}

void dropout_backward(float* dinp, const float* dout, int64_t n, float p, uint64_t seed, uint64_t stream) {
  sync_thread_count();
  const Rng rng(seed, stream);
  const float scale = 1.0f / (1.0f - p);
  const int64_t nblocks = (n + 3) / 4;
#pragma omp parallel for schedule(static)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    auto r = rng.block(static_cast<uint64_t>(blk));
    for (int k = 0; k < 4; ++k) {
      int64_t i = blk * 4 + k;
      if (i < n && block_uniform(r[k]) >= p) dinp[i] += dout[i] * scale;
    }
  }
}

}  // namespace lm::cpu
