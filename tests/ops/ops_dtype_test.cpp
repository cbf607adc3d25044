// Storage dtypes at the ops layer: f32 everywhere, bf16 only for CUDA tensors (CPU bf16 data is one clear error
// naming the op and the argument), mixed dtypes rejected; ops::convert rounds f32 -> bf16 to nearest even as the
// bfloat16 format defines it (checked on values exactly halfway between two bf16 numbers).
#include <gtest/gtest.h>

#include "lm/core/buffer.h"
#include "lm/core/error.h"
#include "lm/ops/adamw.h"
#include "lm/ops/matmul.h"
#include "lm/ops/residual.h"
#include "lm/ops/convert.h"

namespace lm {
namespace {

TEST(OpsDtype, Bf16OnCpuAndMixedDtypesAreErrors) {
  OwnedTensor a(Shape{2, 4}, DType::BF16), w(Shape{3, 4}, DType::BF16), out(Shape{2, 3}, DType::BF16);
  try {
    ops::matmul_forward(out.t, a.t, w.t, Tensor());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("matmul_forward: out must be f32 (or bf16 on cuda), got bf16 on cpu"),
              std::string::npos)
        << e.what();
  }
  OwnedTensor x(Shape{8}), y(Shape{8}, DType::BF16), z(Shape{8});
  try {
    ops::residual_forward(z.t, x.t, y.t);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("residual_forward: b is bf16 but out is f32"), std::string::npos) << e.what();
  }
}

TEST(OpsDtype, ConvertRoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1). 1 + 3*2^-8 lies halfway between
  // 1 + 2^-7 and 1 + 2^-6: ties to even give 1 + 2^-6. 1 + 2^-8 + 2^-20 is above the midpoint: up to 1 + 2^-7.
  const float in[5] = {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, 1.0f + 0x1p-8f + 0x1p-20f, -2.5f, 0.0f};
  const float want[5] = {1.0f, 1.0f + 0x1p-6f, 1.0f + 0x1p-7f, -2.5f, 0.0f};
  OwnedTensor src(Shape{5}), mid(Shape{5}, DType::BF16), back(Shape{5});
  for (int i = 0; i < 5; ++i) src.f32()[i] = in[i];
  ops::convert(mid.t, src.t);
  ops::convert(back.t, mid.t);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(back.f32()[i], want[i]) << i;
  OwnedTensor wrong(Shape{4}, DType::BF16);
  EXPECT_THROW(ops::convert(wrong.t, src.t), Error);
}

}  // namespace
}  // namespace lm
