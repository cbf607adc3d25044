// Tensor-level LayerNorm: inp (N,C) with any leading dims flattened, then dispatch on device.
#include "lm/ops/layernorm.h"

#include "lm/kernels/cpu/layernorm.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/layernorm.h"
#endif

namespace lm::ops {

using namespace detail;

namespace {
void check_ln_params(const char* op, const Tensor& inp, const Tensor& w, const Tensor& b_or_db,
                     const char* b_name, const Tensor& mean, const Tensor& rstd) {
  check_defined(inp, op, "inp");
  LM_CHECK(inp.ndim() >= 1 && last_dim(inp) > 0, "{}: inp must have a non-empty last dim, got {}", op,
           inp.shape.str());
  const int64_t N = rows(inp), C = last_dim(inp);
  check_defined(w, op, "w");
  check_shape(w, Shape{C}, op, "w");
  check_defined(b_or_db, op, b_name);
  check_shape(b_or_db, Shape{C}, op, b_name);
  check_f32(mean, op, "mean");
  LM_CHECK(mean.numel() == N, "{}: mean must have {} elements (one per row), got {}", op, N,
           mean.shape.str());
  check_f32(rstd, op, "rstd");
  LM_CHECK(rstd.numel() == N, "{}: rstd must have {} elements (one per row), got {}", op, N,
           rstd.shape.str());
}
}  // namespace

void layernorm_forward(Tensor out, Tensor mean, Tensor rstd, Tensor inp, Tensor w, Tensor b, float eps) {
  const char* op = "layernorm_forward";
  check_ln_params(op, inp, w, b, "b", mean, rstd);
  check_defined(out, op, "out");
  check_same_shape(out, inp, op, "out", "inp");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&out, "out"}, {&inp, "inp"}, {&w, "w"}, {&b, "b"}});
  LM_CHECK(eps >= 0.0f, "{}: eps must be >= 0, got {}", op, eps);
  switch (common_device(op, {&out, &mean, &rstd, &inp, &w, &b})) {
    case Device::CPU:
      cpu::layernorm_forward(out.f32(), mean.f32(), rstd.f32(), inp.f32(), w.f32(), b.f32(), eps, rows(inp),
                             last_dim(inp));
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::layernorm_forward(dt, out.data, mean.f32(), rstd.f32(), inp.data, w.data, b.data, eps, rows(inp),
                              last_dim(inp));
      return;
#endif
    default:
      unsupported_device(op, inp.device);
  }
}

void layernorm_backward(Tensor dinp, Tensor dw, Tensor db, Tensor dout, Tensor inp, Tensor w, Tensor mean,
                        Tensor rstd) {
  const char* op = "layernorm_backward";
  // A frozen LayerNorm (adapter training) passes neither dw nor db: only dinp is computed.
  const bool frozen = !dw.defined() && !db.defined();
  check_ln_params(op, inp, w, frozen ? w : db, "db", mean, rstd);
  if (!frozen) {
    check_defined(dw, op, "dw");
    check_same_shape(dw, w, op, "dw", "w");
  }
  check_defined(dinp, op, "dinp");
  check_same_shape(dinp, inp, op, "dinp", "inp");
  check_defined(dout, op, "dout");
  check_same_shape(dout, inp, op, "dout", "inp");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&dinp, "dinp"}, {&dw, "dw"}, {&db, "db"}, {&dout, "dout"}, {&inp, "inp"},
                                   {&w, "w"}});
  switch (common_device(op, {&dinp, &dw, &db, &dout, &inp, &w, &mean, &rstd})) {
    case Device::CPU:
      cpu::layernorm_backward(dinp.f32(), frozen ? nullptr : dw.f32(), frozen ? nullptr : db.f32(), dout.f32(),
                              inp.f32(), w.f32(), mean.f32(), rstd.f32(), rows(inp), last_dim(inp));
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      LM_CHECK_AS(ErrorCode::Unsupported, !frozen, "{}: a frozen LayerNorm (no dw/db) is CPU-only", op);
      cuda::layernorm_backward(dt, dinp.data, dw.data, db.data, dout.data, inp.data, w.data, mean.f32(),
                               rstd.f32(), rows(inp), last_dim(inp));
      return;
#endif
    default:
      unsupported_device(op, inp.device);
  }
}

}  // namespace lm::ops
