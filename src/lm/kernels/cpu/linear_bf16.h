// bf16 linear layer on oneDNN's matmul primitive (Sapphire Rapids: AMX tiles, "brg:avx512_core_amx_bf16";
// older AVX512_BF16 CPUs: vdpbf16ps brgemm), for inference:
//   out (M,N) f32 = bf16(inp (M,K) f32) · bf16(W (N,K))ᵀ + bias (N) f32, products accumulated in f32.
// The weights are rounded to bf16 (nearest even) and reordered ONCE into the primitive's blocked layout (the
// pre-packing oneDNN prefers; measured 523 -> 568 GFLOP/s at M 4096, 343 -> 457 at M 37 on 2 threads); the
// activations are rounded to bf16 on every call into a per-object scratch. One primitive per distinct M is
// created on first use (about 1 ms) and cached, so the same object serves batches of any size. Not thread-safe:
// one forward at a time per object (the model owns its layers).
#pragma once

#include <cstdint>
#include <memory>

namespace lm::cpu {

class PackedLinearBf16 {
 public:
  PackedLinearBf16();
  ~PackedLinearBf16();
  PackedLinearBf16(PackedLinearBf16&&) noexcept;
  PackedLinearBf16& operator=(PackedLinearBf16&&) noexcept;

  // Packs w (N,K) row-major f32 (an nn.Linear weight). Throws Unsupported if this CPU/oneDNN has no bf16
  // matmul implementation (see linear_bf16_available()).
  void pack(const float* w, int64_t N, int64_t K);
  bool packed() const;
  int64_t out_features() const;
  int64_t in_features() const;
  // out (M,N) = inp (M,K) · Wᵀ + bias (bias may be null). M >= 0.
  void forward(float* out, const float* inp, const float* bias, int64_t M);
  // The fused variants for a feed-forward block without the f32 round trip in between:
  // out_bf16 (M,N) = bf16(gelu_erf(inp · Wᵀ + bias)) (GELU as a oneDNN post-op on the f32 accumulator), and
  // out (M,N) f32 = inp_bf16 (M,K) · Wᵀ + bias with the input already bf16 (no conversion pass).
  void forward_gelu_to_bf16(uint16_t* out_bf16, const float* inp, const float* bias, int64_t M);
  void forward_from_bf16(float* out, const uint16_t* inp_bf16, const float* bias, int64_t M);

  struct Impl;  // opaque (oneDNN types stay out of this header)

 private:
  std::unique_ptr<Impl> impl_;
};

// dst[i] = bf16(src[i] · mul) (nearest even; the product in f32, exact for mul = 1 or a power of two) for n
// values, on the calling thread: vcvtneps2bf16 where the CPU has it (every CPU with a native bf16 matmul), else
// the scalar conversion (same results for finite values).
void round_to_bf16(uint16_t* dst, const float* src, int64_t n, float mul = 1.0f);

// True when oneDNN has a native bf16 matmul on this CPU (AMX or AVX512_BF16); without one the bf16 path would
// run oneDNN's reference kernels, far slower than sgemm, so callers fall back to f32 and say so.
bool linear_bf16_available();
// The oneDNN implementation name chosen for a representative bf16 matmul ("brg:avx512_core_amx_bf16", ...).
const char* linear_bf16_impl();

}  // namespace lm::cpu
