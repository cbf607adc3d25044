// Tensor-level linear layer and GEMM: inp (N,C) with leading dims flattened, weight (OC,C), bias (OC).
#include "lm/ops/matmul.h"

#include "lm/kernels/cpu/gemm.h"
#include "lm/kernels/cpu/matmul.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/matmul.h"
#endif

namespace lm::ops {

using namespace detail;

namespace {
// out/dout must be inp's shape with the last dim replaced by OC.
void check_out_shape(const char* op, const Tensor& out, const char* out_name, const Tensor& inp, int64_t OC) {
  LM_CHECK(out.ndim() == inp.ndim() && rows(out) == rows(inp) && last_dim(out) == OC,
           "{}: {} must be {} with last dim {} (weight rows), got {}", op, out_name, inp.shape.str(), OC,
           out.shape.str());
  for (int i = 0; i + 1 < inp.ndim(); ++i)
    LM_CHECK(out.dim(i) == inp.dim(i), "{}: {} shape {} does not match inp {}", op, out_name, out.shape.str(),
             inp.shape.str());
}

void check_weight(const char* op, const Tensor& inp, const Tensor& weight) {
  check_defined(inp, op, "inp");
  LM_CHECK(inp.ndim() >= 1, "{}: inp must have at least 1 dim", op);
  check_defined(weight, op, "weight");
  LM_CHECK(weight.ndim() == 2 && weight.dim(1) == last_dim(inp),
           "{}: weight must be (OC,{}) for inp {}, got {}", op, last_dim(inp), inp.shape.str(),
           weight.shape.str());
}
}  // namespace

void matmul_forward(Tensor out, Tensor inp, Tensor weight, Tensor bias) {
  const char* op = "matmul_forward";
  check_weight(op, inp, weight);
  const int64_t OC = weight.dim(0);
  check_defined(out, op, "out");
  check_out_shape(op, out, "out", inp, OC);
  if (bias.defined()) check_shape(bias, Shape{OC}, op, "bias");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&out, "out"}, {&inp, "inp"}, {&weight, "weight"}, {&bias, "bias"}});
  LM_CHECK(out.data != inp.data && out.data != weight.data, "{}: out must not alias inp or weight", op);
  switch (common_device(op, {&out, &inp, &weight, &bias})) {
    case Device::CPU:
      cpu::matmul_forward(out.f32(), inp.f32(), weight.f32(), bias.defined() ? bias.f32() : nullptr,
                          rows(inp), last_dim(inp), OC);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::matmul_forward(dt, out.data, inp.data, weight.data, bias.defined() ? bias.data : nullptr, rows(inp),
                           last_dim(inp), OC);
      return;
#endif
    default:
      unsupported_device(op, inp.device);
  }
}

void matmul_backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                     bool overwrite_dinp, bool overwrite_dweight) {
  const char* op = "matmul_backward";
  check_weight(op, inp, weight);
  const int64_t OC = weight.dim(0);
  check_defined(dout, op, "dout");
  check_out_shape(op, dout, "dout", inp, OC);
  if (dinp.defined()) check_same_shape(dinp, inp, op, "dinp", "inp");
  if (dweight.defined()) check_same_shape(dweight, weight, op, "dweight", "weight");
  if (dbias.defined()) check_shape(dbias, Shape{OC}, op, "dbias");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&dout, "dout"}, {&inp, "inp"}, {&weight, "weight"}, {&dinp, "dinp"},
                                   {&dweight, "dweight"}, {&dbias, "dbias"}});
  switch (common_device(op, {&dinp, &dweight, &dbias, &dout, &inp, &weight})) {
    case Device::CPU:
      cpu::matmul_backward(dinp.defined() ? dinp.f32() : nullptr, dweight.defined() ? dweight.f32() : nullptr,
                           dbias.defined() ? dbias.f32() : nullptr, dout.f32(), inp.f32(), weight.f32(),
                           rows(inp), last_dim(inp), OC, overwrite_dinp, overwrite_dweight);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      // beta 0 for overwritten outputs: no zeroing pass and no read of the old values (as on the CPU).
      cuda::matmul_backward(dt, dinp.defined() ? dinp.data : nullptr, dweight.defined() ? dweight.data : nullptr,
                            dbias.defined() ? dbias.data : nullptr, dout.data, inp.data, weight.data, rows(inp),
                            last_dim(inp), OC, overwrite_dinp, overwrite_dweight);
      return;
#endif
    default:
      unsupported_device(op, inp.device);
  }
}

void gemm(Tensor c, Tensor a, Tensor b, bool trans_a, bool trans_b, float alpha, float beta) {
  const char* op = "gemm";
  check_f32(a, op, "a");
  check_f32(b, op, "b");
  check_f32(c, op, "c");
  LM_CHECK(a.ndim() == 2 && b.ndim() == 2 && c.ndim() == 2, "{}: a, b, c must be 2-D, got {} {} {}", op,
           a.shape.str(), b.shape.str(), c.shape.str());
  const int64_t M = trans_a ? a.dim(1) : a.dim(0), K = trans_a ? a.dim(0) : a.dim(1);
  const int64_t KB = trans_b ? b.dim(1) : b.dim(0), N = trans_b ? b.dim(0) : b.dim(1);
  LM_CHECK(K == KB, "{}: inner dimensions differ: op(a) is ({},{}) and op(b) is ({},{})", op, M, K, KB, N);
  check_shape(c, Shape{M, N}, op, "c");
  switch (common_device(op, {&c, &a, &b})) {
    case Device::CPU:
      cpu::sgemm(trans_a, trans_b, M, N, K, alpha, a.f32(), a.dim(1), b.f32(), b.dim(1), beta, c.f32(), N);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::gemm(DType::F32, trans_a, trans_b, M, N, K, alpha, a.data, a.dim(1), b.data, b.dim(1), beta, c.data, N);
      return;
#endif
    default:
      unsupported_device(op, c.device);
  }
}

void gemm_cols(Tensor c, Cols cc, Tensor a, Cols ca, Tensor b, Cols cb, bool trans_a, bool trans_b, float alpha,
               float beta) {
  const char* op = "gemm_cols";
  check_f32(a, op, "a");
  check_f32(b, op, "b");
  check_f32(c, op, "c");
  LM_CHECK(a.ndim() == 2 && b.ndim() == 2 && c.ndim() == 2, "{}: a, b, c must be 2-D, got {} {} {}", op,
           a.shape.str(), b.shape.str(), c.shape.str());
  auto width = [&](const Tensor& t, Cols& k, const char* what) {
    if (k.n < 0) k.n = t.dim(1) - k.begin;
    LM_CHECK(k.begin >= 0 && k.begin + k.n <= t.dim(1), "{}: columns [{}, {}) outside {} of shape {}", op, k.begin,
             k.begin + k.n, what, t.shape.str());
    return k.n;
  };
  const int64_t wa = width(a, ca, "a"), wb = width(b, cb, "b"), wc = width(c, cc, "c");
  const int64_t M = trans_a ? wa : a.dim(0), K = trans_a ? a.dim(0) : wa;
  const int64_t KB = trans_b ? wb : b.dim(0), N = trans_b ? b.dim(0) : wb;
  LM_CHECK(K == KB && c.dim(0) == M && wc == N, "{}: op(a) ({},{}) times op(b) ({},{}) does not fit c block ({},{})",
           op, M, K, KB, N, c.dim(0), wc);
  LM_CHECK_AS(ErrorCode::Unsupported, common_device(op, {&c, &a, &b}) == Device::CPU, "{}: CPU only", op);
  if (M == 0 || N == 0) return;
  cpu::sgemm(trans_a, trans_b, M, N, K, alpha, a.f32() + ca.begin, a.dim(1), b.f32() + cb.begin, b.dim(1), beta,
             c.f32() + cc.begin, c.dim(1));
}

}  // namespace lm::ops
