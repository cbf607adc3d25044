// int8 linear layer for inference (dynamic quantization) on oneDNN's matmul primitive (Sapphire Rapids: AMX
// tiles, "brg:avx512_core_amx_int8"; AVX512-VNNI CPUs: VNNI brgemm/gemm), exact integer products:
//   weights, once at pack time, symmetric per output channel:  sw[n] = max_k |W[n,k]| / Q (1 if that max is
//                                                             below 1e-30: the row quantizes to zeros),
//                                                             Wq[n,k] = clamp(rne(W[n,k] · (Q / max_k|W[n,k]|)), ±Q)
//     with Q = linear_int8_weight_qmax(): 127 where oneDNN has VNNI (AVX512-VNNI, AVX-VNNI, AMX), 63 elsewhere
//     (AVX2 and older AVX-512 sum u8·s8 pairs in a saturating int16; 7-bit weights keep the sum exact)
//   activations, at every call, symmetric per group of rows:   the M rows form groups of group_rows consecutive
//     rows (one group of all M by default; BERT uses one group per sequence); a = max |inp| over the group's rows
//     whose row_mask is not 0 (all its rows when row_mask is null or all 0), sx = a / 127 (1 if a < 1e-30: the
//     group quantizes to zeros),
//                                                             Xq[m,k] = clamp(rne(inp[m,k] · (127 / a)), ±127)
//   out[m,n] = f32(Σ_k Xq[m,k]·Wq[n,k]) · (sx·sw[n]) + bias[n]   (then erf-GELU in the GELU variant)
// (rne: round to nearest, ties to even; 127/a, sx·sw[n] and the products in f32.) Per-sequence groups that skip
// the padding rows make a sequence's outputs independent of the rest of the batch and of its padding. The int32
// sum is exact; the scale, bias and GELU are oneDNN post-ops on the accumulator (per-column binary multiply and
// add: per-row scales or runtime output-scale attributes would drop oneDNN 2.6 off the AMX kernel, so each group
// is one matmul call). The weights are reordered once into the primitive's blocked layout; one primitive per
// distinct group size, cached. A non-finite value in a counted row is an error (a NaN would otherwise vanish into
// the quantization). Not thread-safe: one forward at a time per object.
#pragma once

#include <cstdint>
#include <memory>

namespace lm::cpu {

class PackedLinearInt8 {
 public:
  PackedLinearInt8();
  ~PackedLinearInt8();
  PackedLinearInt8(PackedLinearInt8&&) noexcept;
  PackedLinearInt8& operator=(PackedLinearInt8&&) noexcept;

  // Quantizes and packs w (N,K) row-major f32 (an nn.Linear weight). Throws Unsupported if this CPU/oneDNN has
  // no native int8 matmul (see linear_int8_available()), InvalidArgument for a non-finite weight.
  void pack(const float* w, int64_t N, int64_t K);
  bool packed() const;
  int64_t out_features() const;
  int64_t in_features() const;
  // out (M,N) = dequant(quant(inp) · Wqᵀ) + bias (bias may be null); with gelu, erf-GELU of that. M >= 0.
  // group_rows <= 0: one group; row_mask (M) may be null.
  void forward(float* out, const float* inp, const float* bias, int64_t M, bool gelu = false,
               int64_t group_rows = 0, const int32_t* row_mask = nullptr);

  struct Impl;  // opaque (oneDNN types stay out of this header)

 private:
  std::unique_ptr<Impl> impl_;
};

// The activation quantization above: x (M,K) row-major -> q (M,K) and scales[g] = sx of each of the
// ceil(M / group_rows) groups (group_rows <= 0: one group). Throws InvalidArgument naming `what` when a counted
// row holds a NaN or an infinity.
void quantize_s8_groups(int8_t* q, float* scales, const float* x, int64_t M, int64_t K, int64_t group_rows,
                        const int32_t* row_mask, const char* what);

// True when oneDNN has a native (non-reference) int8 matmul with these post-ops on this CPU.
bool linear_int8_available();
// The weight range Q of this CPU (see the top of this file): 127 with VNNI, 63 without.
int linear_int8_weight_qmax();
// The oneDNN implementation name chosen for a representative int8 matmul ("brg:avx512_core_amx_int8", ...).
const char* linear_int8_impl();

}  // namespace lm::cpu
