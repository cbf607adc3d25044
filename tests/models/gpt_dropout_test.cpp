// GPT-2 dropout (embd, attention probabilities, residual): active only in training mode, masks fixed by
// (seed, step) so the loss is a smooth function of the weights and backward matches finite differences; a
// different step gives different masks; eval mode is unaffected.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "harness/harness.h"
#include "lm/core/threads.h"
#include "lm/models/gpt/gpt.h"

namespace lm {
namespace {

void check_dropout(float embd, float resid, float attn) {
  SCOPED_TRACE(::testing::Message() << "embd " << embd << " resid " << resid << " attn " << attn);
  set_num_threads(2);
  models::GptConfig c;
  c.vocab_size = 31;
  c.n_positions = 12;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.embd_pdrop = embd;
  c.resid_pdrop = resid;
  c.attn_pdrop = attn;
  models::Gpt m(c);
  m.init_weights(5);
  OwnedTensor x(Shape{2, 9}, DType::I32), y(Shape{2, 9}, DType::I32);
  for (int i = 0; i < 18; ++i) {
    x.t.ptr<int32_t>()[i] = (i * 7 + 1) % 31;
    y.t.ptr<int32_t>()[i] = (i * 5 + 3) % 31;
  }
  m.set_training(false);
  const float eval_loss = m.forward(x.t, y.t);
  m.set_training(true, 42, 3);
  const float l0 = m.forward(x.t, y.t);
  EXPECT_NE(l0, eval_loss);
  EXPECT_EQ(m.forward(x.t, y.t), l0);  // same (seed, step): same masks
  m.set_training(true, 42, 4);
  EXPECT_NE(m.forward(x.t, y.t), l0);
  m.set_training(true, 42, 3);
  m.zero_grad();
  m.forward(x.t, y.t);
  m.backward();
  // Central differences on a spread of entries of every parameter tensor (float32: h = 1e-2 on weights of
  // std 0.02-1; the loss is smooth because the masks are fixed).
  int checked = 0;
  double worst = 0;
  for (auto& p : m.param_list()) {
    for (int64_t k = 0; k < p.param.numel(); k += std::max<int64_t>(1, p.param.numel() / 2)) {
      float* w = p.param.f32() + k;
      const float old = *w, h = 1e-2f;
      *w = old + h;
      const double lp = m.forward(x.t, y.t);
      *w = old - h;
      const double lm_ = m.forward(x.t, y.t);
      *w = old;
      const double fd = (lp - lm_) / (2 * h), g = p.grad.f32()[k];
      // float32 forward noise (~1e-6 relative on the loss) puts ~2e-4 of noise on the difference quotient.
      const double err = std::max(0.0, std::fabs(fd - g) - 2e-4) / std::max(1e-3, std::fabs(fd) + std::fabs(g));
      worst = std::max(worst, err);
      EXPECT_LT(err, 3e-2) << p.name << "[" << k << "] fd " << fd << " analytic " << g;
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
  std::printf("worst relative error %.3g\n", worst);
}

TEST(GptDropout, EmbeddingDropoutGradients) { check_dropout(0.2f, 0, 0); }
TEST(GptDropout, ResidualDropoutGradients) { check_dropout(0, 0.2f, 0); }
TEST(GptDropout, AttentionDropoutGradients) { check_dropout(0, 0, 0.3f); }

}  // namespace
}  // namespace lm
