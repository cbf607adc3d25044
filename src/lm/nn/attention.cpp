// nn::Attention: the attention block's forward, backward and KV-cache forward over the linear and attention ops.
#include "lm/nn/attention.h"

#include "lm/core/profile.h"
#include "lm/ops/attention_kv.h"

namespace lm::nn {

void attention_forward(const Attention& p, Tensor out, const AttentionActs& a, Tensor inp, const AttentionRun& run) {
  AttentionCopies* c = run.copies;
  linear_forward(p.qkv, a.qkv, inp, run.mode, c ? &c->qkv : nullptr);
  {
    prof::Scope ps(prof::Op::AttnFwd);
    if (run.bf16)
      ops::attention_bf16_forward(a.atty, a.att, a.qkv, run.spec, run.key_mask, *run.bf16);
    else
      ops::attention_forward(a.atty, a.att, a.qkv, run.spec, run.key_mask);
  }
  linear_forward(p.proj, out, a.atty, run.mode, c ? &c->proj : nullptr);
}

void attention_backward(const Attention& p, const Attention& g, Tensor dinp, Tensor dout, const AttentionActs& a,
                        Tensor inp, const AttentionScratch& s, const ops::AttentionSpec& spec, bool overwrite_dinp,
                        bool overwrite_grads) {
  linear_backward(p.proj, g.proj, s.datty, dout, a.atty, /*overwrite_dinp=*/true, overwrite_grads);
  zero(s.dqkv);
  {
    prof::Scope ps(prof::Op::AttnBwd);
    ops::attention_backward(s.dqkv, s.datt, s.datty, a.qkv, a.att, spec);
  }
  linear_backward(p.qkv, g.qkv, dinp, s.dqkv, inp, overwrite_dinp, overwrite_grads);
}

void attention_kv_forward(const Attention& p, Tensor out, Tensor qkv, Tensor atty, Tensor k_cache, Tensor v_cache,
                          Tensor inp, int64_t past, const AttentionRun& run, Tensor prefill_att) {
  AttentionCopies* c = run.copies;
  linear_forward(p.qkv, qkv, inp, run.mode, c ? &c->qkv : nullptr);
  {
    prof::Scope ps(prof::Op::AttnFwd);
    if (prefill_att.defined()) {
      ops::kv_cache_append(k_cache, v_cache, qkv, 0);
      ops::AttentionSpec spec = run.spec;
      spec.dropout = 0.0f;
      ops::attention_forward(atty, prefill_att, qkv, spec);
    } else {
      ops::attention_kv_forward(atty, k_cache, v_cache, qkv, past, run.spec, run.key_mask);
    }
  }
  linear_forward(p.proj, out, atty, run.mode, c ? &c->proj : nullptr);
}

}  // namespace lm::nn
