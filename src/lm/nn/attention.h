// nn::Attention — multi-head self-attention block: qkv = x·Wqkvᵀ (q | k | v fused, (3C, C)), per-head scaled
// dot-product attention (causal or not, key padding mask, dropout on the probabilities), then the output
// projection. Also the KV-cache variant for incremental decoding. Shapes: x, out (B,T,C); qkv (B,T,3C); att
// (B,NH,T,T) softmax probabilities; k/v caches (B,NH,Tmax,HS).
#pragma once

#include <cstdint>

#include "lm/core/tensor.h"
#include "lm/nn/linear.h"
#include "lm/ops/attention.h"
#include "lm/ops/attention_bf16.h"

namespace lm::nn {

struct Attention {
  Linear qkv;   // (3C, C), (3C)
  Linear proj;  // (C, C), (C)
};

// Saved for backward.
struct AttentionActs {
  Tensor qkv;   // (B,T,3C)
  Tensor att;   // (B,NH,T,T)
  Tensor atty;  // (B,T,C) attention output before the projection
  AttentionActs rows(int64_t B) const { return {qkv.slice0(0, B), att.slice0(0, B), atty.slice0(0, B)}; }
};

struct AttentionCopies {
  LinearCopy qkv, proj;
};

// How a forward runs: the attention spec (heads, causal, scale, dropout), the key padding mask (B,T) i32 (1 =
// attend), the linear mode and its weight copies, and the bf16 attention state (eval; null = f32 attention).
struct AttentionRun {
  ops::AttentionSpec spec;
  Tensor key_mask;
  LinearMode mode;
  AttentionCopies* copies = nullptr;
  ops::AttentionBf16* bf16 = nullptr;
};

// Backward scratch: d atty (B,T,C), d qkv (B,T,3C), d att (B,NH,T,T).
struct AttentionScratch {
  Tensor datty, dqkv, datt;
  AttentionScratch rows(int64_t B) const { return {datty.slice0(0, B), dqkv.slice0(0, B), datt.slice0(0, B)}; }
};

void attention_forward(const Attention& p, Tensor out, const AttentionActs& a, Tensor inp, const AttentionRun& run);
// dinp (+)= d inp (overwrite_dinp writes it); g += the weight gradients (overwrite_grads writes them).
void attention_backward(const Attention& p, const Attention& g, Tensor dinp, Tensor dout, const AttentionActs& a,
                        Tensor inp, const AttentionScratch& s, const ops::AttentionSpec& spec, bool overwrite_dinp,
                        bool overwrite_grads);

// Incremental: Tn new positions after `past` cached ones. Their keys/values are appended to k/v and attended
// over with every cached position. qkv (B,Tn,3C) and atty (B,Tn,C) are scratch. prefill_att (B,NH,Tn,Tn), when
// defined and past == 0 without a key mask, runs the whole-prompt attention kernel of training instead (faster
// for long prompts). Dropout never applies.
void attention_kv_forward(const Attention& p, Tensor out, Tensor qkv, Tensor atty, Tensor k_cache, Tensor v_cache,
                          Tensor inp, int64_t past, const AttentionRun& run, Tensor prefill_att = {});

}  // namespace lm::nn
