// Multi-head self-attention core for bf16 inference (no backward), on oneDNN's batched matmul (Sapphire Rapids:
// AMX tiles, "brg:avx512_core_amx_bf16"): the same function as cpu::attention_forward without dropout,
//   out (B,T,C) = softmax(scale · Q·Kᵀ + mask) · V per head,
// with scale·Q, K and V rounded to bf16 (nearest even) into head-major (B,NH,T,HS) copies, the scores Q·Kᵀ accumulated
// in f32 into att (B,NH,T,T), the masked softmax in f32 (attention_softmax_row, the f32 kernel's), and the
// probabilities rounded to bf16 for P·V (f32 accumulation, written straight into the merged-head layout). att
// ends holding the f32 probabilities. One primitive pair per (B,T,C,NH), cached; not thread-safe (one forward at
// a time per object; the model owns one).
#pragma once

#include <cstdint>
#include <memory>

namespace lm::cpu {

class AttentionBf16 {
 public:
  AttentionBf16();
  ~AttentionBf16();
  AttentionBf16(AttentionBf16&&) noexcept;
  AttentionBf16& operator=(AttentionBf16&&) noexcept;

  // qkv (B,T,3C) f32 (q | k | v, head h = columns h*HS:(h+1)*HS of each), key_mask (B,T) or null.
  void forward(float* out, float* att, const float* qkv, const int32_t* key_mask, int64_t B, int64_t T, int64_t C,
               int64_t NH, bool causal, float scale);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// True when oneDNN runs this attention's batched bf16 matmuls natively (AMX or AVX512_BF16) on this CPU.
bool attention_bf16_available();

}  // namespace lm::cpu
