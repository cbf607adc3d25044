// nn heads (see heads.h) over the linear, layernorm, GELU, tanh, dropout and row gather/scatter ops. The
// gradients of intermediate results are zeroed and then accumulated into, as the ops accumulate.
#include "lm/nn/heads.h"

#include <vector>

#include "lm/core/profile.h"
#include "lm/ops/dropout.h"
#include "lm/ops/encoder.h"
#include "lm/ops/tanh.h"
#include "lm/ops/gather_rows.h"

namespace lm::nn {

namespace {

// Flat row index of token 0 of each of B sequences of length T.
std::vector<int64_t> first_rows(int64_t B, int64_t T) {
  std::vector<int64_t> rows(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) rows[static_cast<size_t>(b)] = b * T;
  return rows;
}

// Rows of channel k (0 or 1) in a (N*2, 1) view of (N, 2) values.
std::vector<int64_t> channel_rows(int64_t N, int64_t k) {
  std::vector<int64_t> rows(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) rows[static_cast<size_t>(i)] = 2 * i + k;
  return rows;
}

}  // namespace

void pooler_forward(const Pooler& p, Tensor out, const PoolerActs& a, Tensor h) {
  const int64_t B = h.dim(0), T = h.dim(1), C = h.dim(2);
  ops::gather_rows(a.first, h.view(Shape{B * T, C}), first_rows(B, T));
  linear_forward(p.dense, a.pre, a.first);
  ops::tanh_forward(out, a.pre);
}

void pooler_backward(const Pooler& p, const Pooler& g, Tensor dh, Tensor dout, Tensor out, const PoolerActs& a,
                     const PoolerScratch& s) {
  const int64_t B = dh.dim(0), T = dh.dim(1), C = dh.dim(2);
  zero(s.dpre);
  ops::tanh_backward(s.dpre, dout, out);
  zero(s.dfirst);
  linear_backward(p.dense, g.dense, s.dfirst, s.dpre, a.first);
  ops::scatter_add_rows(dh.view(Shape{B * T, C}), s.dfirst, first_rows(B, T));
}

void mlm_head_forward(const MlmHead& p, Tensor logits, const MlmActs& a, Tensor x, ops::GeluKind act, float eps) {
  linear_forward(p.transform, a.t, x);
  {
    prof::Scope ps(prof::Op::Gelu);
    ops::gelu_forward(a.t_act, a.t, act);
  }
  layernorm_forward(p.ln, a.t_ln, a.ln, a.t_act, eps);
  linear_forward(p.decoder, logits, a.t_ln);
}

void mlm_head_backward(const MlmHead& p, const MlmHead& g, Tensor dx, Tensor dlogits, const MlmActs& a, Tensor x,
                       ops::GeluKind act, const MlmScratch& s) {
  zero(s.dln);
  linear_backward(p.decoder, g.decoder, s.dln, dlogits, a.t_ln);
  zero(s.dact);
  layernorm_backward(p.ln, g.ln, s.dact, s.dln, a.ln, a.t_act);
  zero(s.dt);
  {
    prof::Scope ps(prof::Op::Gelu);
    ops::gelu_backward(s.dt, s.dact, a.t, act);
  }
  linear_backward(p.transform, g.transform, dx, s.dt, x);
}

void classifier_forward(const Linear& p, Tensor logits, const ClassifierActs& a, Tensor x, const DropoutSpec& drop) {
  Tensor in = x;
  if (drop.active()) {
    in = a.dropped;
    ops::dropout_forward(in, x, drop.p, drop.seed, drop.stream);
  }
  linear_forward(p, logits, in);
}

void classifier_backward(const Linear& p, const Linear& g, Tensor dx, Tensor dlogits, const ClassifierActs& a,
                         Tensor x, const DropoutSpec& drop, Tensor ddropped) {
  if (!drop.active()) {
    linear_backward(p, g, dx, dlogits, x);
    return;
  }
  zero(ddropped);
  linear_backward(p, g, ddropped, dlogits, a.dropped);
  ops::dropout_backward(dx, ddropped, drop.p, drop.seed, drop.stream);
}

void span_head_forward(const Linear& p, Tensor start, Tensor end, Tensor span, Tensor h) {
  const int64_t N = h.dim(0) * h.dim(1);
  linear_forward(p, span, h);
  const Tensor col = span.view(Shape{2 * N, 1});
  ops::gather_rows(start.view(Shape{N, 1}), col, channel_rows(N, 0));
  ops::gather_rows(end.view(Shape{N, 1}), col, channel_rows(N, 1));
}

void span_head_backward(const Linear& p, const Linear& g, Tensor dh, Tensor dstart, Tensor dend, Tensor h,
                        Tensor dspan) {
  const int64_t N = h.dim(0) * h.dim(1);
  // Interleave back into (N, 2): zero, then each channel added into its rows (exactly the values).
  zero(dspan);
  const Tensor col = dspan.view(Shape{2 * N, 1});
  ops::scatter_add_rows(col, dstart.view(Shape{N, 1}), channel_rows(N, 0));
  ops::scatter_add_rows(col, dend.view(Shape{N, 1}), channel_rows(N, 1));
  linear_backward(p, g, dh, dspan, h);
}

}  // namespace lm::nn
