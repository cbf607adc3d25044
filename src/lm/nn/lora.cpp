// nn::Lora: the low-rank term of an adapted linear layer over the column-block GEMM and the dropout ops.
#include "lm/nn/lora.h"

#include "lm/core/error.h"
#include "lm/ops/dropout.h"
#include "lm/ops/matmul.h"

namespace lm::nn {

namespace {

// Adapter dropout draws from its own seed, apart from the model's dropout sites ("LoRA" in ASCII).
constexpr uint64_t kSeedSalt = 0x4c6f5241ull;

// Grow-only per-thread scratch: a forward in inference mode may run on several threads at once (one model
// object per thread), training keeps what backward needs in the module itself.
Tensor scratch(std::vector<float>& v, int64_t rows, int64_t cols) {
  const size_t n = static_cast<size_t>(rows * cols);
  if (v.size() < n) v.resize(n);
  return Tensor(v.data(), Shape{rows, cols});
}

thread_local std::vector<float> t_h, t_x, t_dx;

bool dropping(const LoraLayer& l, const LoraModule& m) { return l.run && l.run->training && m.dropout > 0.0f; }

uint64_t stream_of(const LoraLayer& l, const LoraModule& m) {
  return l.run->stream * static_cast<uint64_t>(l.run->num_modules) + static_cast<uint64_t>(m.index);
}

// The module's input: x itself, or dropout(x) in scratch.
Tensor module_input(const LoraLayer& l, const LoraModule& m, Tensor x) {
  if (!dropping(l, m)) return x;
  Tensor xd = scratch(t_x, x.dim(0), x.dim(1));
  ops::dropout_forward(xd, x, m.dropout, l.run->seed ^ kSeedSalt, stream_of(l, m));
  return xd;
}

Tensor as_rows(Tensor t) {
  const int64_t c = t.ndim() == 0 ? 1 : t.dim(-1);
  return t.view(Shape{c == 0 ? 0 : t.numel() / c, c});
}

}  // namespace

void lora_forward(LoraLayer& l, Tensor out, Tensor inp) {
  Tensor x = as_rows(inp), y = as_rows(out);
  const int64_t N = x.dim(0);
  const bool keep = l.run && l.run->training;
  for (auto& m : l.modules) {
    const int64_t r = m.a.dim(0), rows = m.b.dim(0);
    LM_CHECK(m.a.dim(1) == x.dim(1) && m.row0 + rows <= y.dim(1),
             "lora: a ({}) / b ({}) at row {} do not fit a linear layer ({} -> {})", m.a.shape.str(), m.b.shape.str(),
             m.row0, x.dim(1), y.dim(1));
    Tensor h = keep ? scratch(m.h, N, r) : scratch(t_h, N, r);
    ops::gemm(h, module_input(l, m, x), m.a, false, true);
    ops::gemm_cols(y, {m.row0, rows}, h, {}, m.b, {}, false, true, m.scale, 1.0f);
  }
}

void lora_backward(LoraLayer& l, Tensor dinp, Tensor dout, Tensor inp) {
  LM_CHECK(l.run && l.run->training, "lora backward: the last forward was not a training forward");
  Tensor x = as_rows(inp), dy = as_rows(dout);
  Tensor dx = dinp.defined() ? as_rows(dinp) : Tensor();
  const int64_t N = x.dim(0);
  for (auto& m : l.modules) {
    const int64_t r = m.a.dim(0), rows = m.b.dim(0);
    LM_CHECK(static_cast<int64_t>(m.h.size()) >= N * r, "lora backward: no saved forward for {} rows", N);
    Tensor h(m.h.data(), Shape{N, r});
    // dh = scale · dout_m · B (N, r), in t_h.
    Tensor dh = scratch(t_h, N, r);
    ops::gemm_cols(dh, {}, dy, {m.row0, rows}, m.b, {}, false, false, m.scale, 0.0f);
    if (m.gb.defined()) ops::gemm_cols(m.gb, {}, dy, {m.row0, rows}, h, {}, true, false, m.scale, 1.0f);
    if (m.ga.defined()) ops::gemm(m.ga, dh, module_input(l, m, x), true, false, 1.0f, 1.0f);
    if (!dx.defined()) continue;
    if (!dropping(l, m)) {
      ops::gemm(dx, dh, m.a, false, false, 1.0f, 1.0f);
      continue;
    }
    Tensor dxd = scratch(t_dx, N, x.dim(1));
    ops::gemm(dxd, dh, m.a, false, false);
    ops::dropout_backward(dx, dxd, m.dropout, l.run->seed ^ kSeedSalt, stream_of(l, m));
  }
}

}  // namespace lm::nn
