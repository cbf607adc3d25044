// Branch-free float exp / tanh that GCC vectorises under `omp simd` (libm's expf/tanhf stay scalar calls
// without -ffast-math), and the runtime ISA dispatch attribute for the hot loops that use them.
// exp_approx: Cephes expf (round(x/ln2) by the 1.5*2^23 trick, ln2 split in two, degree-6 polynomial),
// relative error ~2 ulp on [-87.3, 88.3]; returns exactly 0 below -87.3 and saturates above 88.3.
#pragma once

#include <cstdint>
#include <cstring>

// Hot loops are compiled three times (AVX-512, AVX2+FMA, baseline) and picked once at load time by an ifunc
// resolver (__builtin_cpu_supports): the library stays runnable on any x86-64 while the CI/dev machines
// (Sapphire Rapids) get 16-wide vectors. A given machine always runs the same clone, so results stay bitwise
// reproducible there. Apply to non-inline functions that do not contain an OpenMP region (the outlined
// region body would not be cloned): call them from inside the parallel loop instead.
#define LM_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

namespace lm::cpu {

inline float exp_approx(float x) {
  const float xc = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  const float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest integer
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n for n in [-126, 127], built in unsigned arithmetic (no signed overflow even for a NaN input, whose
  // result is NaN through p anyway).
  const uint32_t bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x < -87.3f ? 0.0f : p * scale;
}

// tanh(u) = 1 - 2/(e^{2u} + 1): absolute error ~1e-7 (relative error grows for |u| << 1, harmless where it is
// used, in 1 + tanh for GELU).
inline float tanh_approx(float u) { return 1.0f - 2.0f / (exp_approx(2.0f * u) + 1.0f); }

}  // namespace lm::cpu
