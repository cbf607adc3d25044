// CUDA GELU (tanh and erf forms) forward and accumulating backward vs kernels/ref, f32 and bf16.
#include "lm/kernels/cuda/gelu.h"

#include <gtest/gtest.h>

#include "cuda/cuda_test_util.h"
#include "lm/kernels/ref/gelu.h"

namespace lm::test {
namespace {

class CudaGelu : public CudaDType {};

TEST_P(CudaGelu, BothFormsMatchRef) {
  LM_REQUIRE_CUDA();
  const DType dt = GetParam();
  const int64_t n = 3001;
  for (bool tanh_form : {true, false}) {
    auto x = round_to(randn(n, 1, 2.0), dt), dout = round_to(randn(n, 2), dt), dinp = round_to(randn(n, 3), dt);
    DevArray d_x(x, dt), d_out(n, dt), d_dout(dout, dt), d_dinp(dinp, dt);
    cuda::gelu_forward(dt, d_out.p(), d_x.p(), n, tanh_form);
    cuda::gelu_backward(dt, d_dinp.p(), d_dout.p(), d_x.p(), n, tanh_form);
    std::vector<double> out(n);
    ref::gelu_forward(out.data(), x.data(), n, tanh_form);
    ref::gelu_backward(dinp.data(), dout.data(), x.data(), n, tanh_form);
    EXPECT_LE(rel_err(d_out.get(), out), fwd_tol(dt)) << "tanh_form " << tanh_form;
    EXPECT_LE(rel_err(d_dinp.get(), dinp), grad_tol(dt)) << "tanh_form " << tanh_form;
  }
}

INSTANTIATE_TEST_SUITE_P(DType, CudaGelu, ::testing::Values(DType::F32, DType::BF16), dtype_param_name);

}  // namespace
}  // namespace lm::test
