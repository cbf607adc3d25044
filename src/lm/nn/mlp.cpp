// nn::Mlp: the feed-forward block over the linear and GELU ops, with the fused bf16 / int8 eval paths.
#include "lm/nn/mlp.h"

#include "lm/core/profile.h"

namespace lm::nn {

void mlp_forward(const Mlp& p, Tensor out, const MlpActs& a, Tensor inp, ops::GeluKind act, const LinearMode& mode,
                 MlpCopies* copies) {
  // The fused paths apply GELU inside the first matmul, before an adapter's term could be added.
  const bool erf = act == ops::GeluKind::Erf && !p.fc.lora && !p.proj.lora;
  if (mode.kind == LinearKind::PackedBf16 && erf) {
    prof::Scope ps(prof::Op::MatmulFwd);
    Tensor mid(a.fch.data, a.fch.shape, DType::U16, a.fch.device);  // bf16 (B,T,I) in the first half of fch
    ops::linear_bf16_gelu_forward(mid, inp, copies->fc.bf16, p.fc.b);
    ops::linear_bf16_from_bf16_forward(out, mid, copies->proj.bf16, p.proj.b);
    return;
  }
  if (mode.kind == LinearKind::Int8 && erf) {
    prof::Scope ps(prof::Op::MatmulFwd);
    ops::linear_int8_forward(a.fch_act, inp, copies->fc.i8, p.fc.b, /*gelu=*/true, mode.group_rows, mode.row_mask);
    ops::linear_int8_forward(out, a.fch_act, copies->proj.i8, p.proj.b, false, mode.group_rows, mode.row_mask);
    return;
  }
  linear_forward(p.fc, a.fch, inp, mode, copies ? &copies->fc : nullptr);
  {
    prof::Scope ps(prof::Op::Gelu);
    ops::gelu_forward(a.fch_act, a.fch, act);
  }
  linear_forward(p.proj, out, a.fch_act, mode, copies ? &copies->proj : nullptr);
}

void mlp_backward(const Mlp& p, const Mlp& g, Tensor dinp, Tensor dout, const MlpActs& a, Tensor inp,
                  ops::GeluKind act, const MlpScratch& s, bool recompute_act, bool overwrite_dinp,
                  bool overwrite_grads) {
  if (recompute_act) {
    prof::Scope ps(prof::Op::Gelu);
    ops::gelu_forward(a.fch_act, a.fch, act);
  }
  // The GEMM and the GELU backward overwrite their input gradients (no zeroing pass, no read of old values).
  linear_backward(p.proj, g.proj, s.dact, dout, a.fch_act, /*overwrite_dinp=*/true, overwrite_grads);
  {
    prof::Scope ps(prof::Op::Gelu);
    ops::gelu_backward(s.dpre, s.dact, a.fch, act, /*overwrite=*/true);
  }
  linear_backward(p.fc, g.fc, dinp, s.dpre, inp, overwrite_dinp, overwrite_grads);
}

}  // namespace lm::nn
