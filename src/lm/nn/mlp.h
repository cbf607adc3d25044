// nn::Mlp — the feed-forward block: out = proj(GELU(fc(x))). Shapes: x, out (B,T,C); fch / fch_act (B,T,I) the
// pre- and post-activation, I = the inner size.
#pragma once

#include "lm/core/tensor.h"
#include "lm/nn/linear.h"
#include "lm/ops/gelu.h"

namespace lm::nn {

struct Mlp {
  Linear fc;    // (I, C), (I)
  Linear proj;  // (C, I), (C)
};

struct MlpActs {
  Tensor fch;      // (B,T,I) fc output, pre-activation
  Tensor fch_act;  // (B,T,I) GELU output (a model may keep it in shared scratch and recompute it in backward)
  MlpActs rows(int64_t B) const { return {fch.slice0(0, B), fch_act.slice0(0, B)}; }
};

struct MlpCopies {
  LinearCopy fc, proj;
};

// Backward scratch: d of the activation output and of the pre-activation, (B,T,I) each (dpre may alias
// fch_act: it is written after its last read).
struct MlpScratch {
  Tensor dact, dpre;
};

// With mode PackedBf16 or Int8 and the exact (erf) GELU, the activation is fused into the first matmul (oneDNN
// post-op); PackedBf16 then hands the second matmul a bf16 intermediate kept in fch's storage.
void mlp_forward(const Mlp& p, Tensor out, const MlpActs& a, Tensor inp, ops::GeluKind act,
                 const LinearMode& mode = {}, MlpCopies* copies = nullptr);
// recompute_act: a.fch_act is recomputed from a.fch first (it was not kept). dinp (+)= d inp, g (+)= as in
// linear_backward.
void mlp_backward(const Mlp& p, const Mlp& g, Tensor dinp, Tensor dout, const MlpActs& a, Tensor inp,
                  ops::GeluKind act, const MlpScratch& s, bool recompute_act, bool overwrite_dinp,
                  bool overwrite_grads);

}  // namespace lm::nn
