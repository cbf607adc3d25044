// The decode path (forward_cached with few rows: GEMVs over f32 or bf16 weights) against the prefill path
// (one chunk through sgemm) on the same sequences, and bf16 decode weights against f32: logits within 5% of
// their scale, perplexity of a sampled continuation within 1%, greedy choices mostly equal.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "harness/harness.h"
#include "lm/core/buffer.h"
#include "lm/core/threads.h"
#include "lm/models/gpt/gpt.h"

namespace lm {
namespace {

std::unique_ptr<models::Gpt> load_gpt(const std::string& n) {
  auto m = models::load_model_dir(test::source_dir() + "/tests/reference/" + n);
  return std::unique_ptr<models::Gpt>(dynamic_cast<models::Gpt*>(m.release()));
}

// Logits (T, B, V) of decoding ids (B,T) one position at a time.
std::vector<float> decode_all(const models::Gpt& g, const std::vector<int32_t>& ids, int64_t B, int64_t T) {
  const int64_t V = g.vocab_size();
  auto cache = g.make_kv_cache(B, T);
  std::vector<float> out(static_cast<size_t>(T * B * V));
  OwnedTensor step(Shape{B, 1}, DType::I32);
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t b = 0; b < B; ++b) step.t.ptr<int32_t>()[b] = ids[static_cast<size_t>(b * T + t)];
    g.forward_cached(step.t, *cache);
    std::copy(cache->logits.f32(), cache->logits.f32() + B * V, out.begin() + t * B * V);
  }
  return out;
}

TEST(Decode, GemvStepsEqualOneSgemmChunk) {
  set_num_threads(2);
  auto gpt = load_gpt("gpt2_tiny_b");
  const int64_t V = gpt->vocab_size(), T = 20;
  for (int64_t B : {int64_t{1}, int64_t{3}}) {
    std::vector<int32_t> ids(static_cast<size_t>(B * T));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>((i * 37 + 11) % static_cast<size_t>(V));
    auto cache = gpt->make_kv_cache(B, T);
    OwnedTensor all(Shape{B, T, V});
    gpt->forward_cached(Tensor(ids.data(), Shape{B, T}, DType::I32), *cache, {}, {}, all.t);  // 60 rows: sgemm
    auto steps = decode_all(*gpt, ids, B, T);                                                // B rows: GEMV
    for (int64_t t = 0; t < T; ++t)
      for (int64_t b = 0; b < B; ++b)
        EXPECT_LT(test::max_abs_diff(steps.data() + (t * B + b) * V, all.f32() + (b * T + t) * V, V), 1e-5)
            << "B " << B << " position " << t;
  }
}

// A random GPT with a wide init (logits spread over several nats, so the test is sensitive to the head).
std::unique_ptr<models::Gpt> wide_random_gpt() {
  models::GptConfig c;
  c.vocab_size = 300, c.n_positions = 64, c.n_embd = 96, c.n_layer = 3, c.n_head = 4;
  c.initializer_range = 0.25f;
  auto g = std::make_unique<models::Gpt>(c);
  g->init_weights(7);
  return g;
}

double mean_ce(const std::vector<float>& logits, const std::vector<int32_t>& ids, int64_t V) {
  double s = 0;
  const int64_t T = static_cast<int64_t>(ids.size());
  for (int64_t t = 0; t + 1 < T; ++t) {
    const float* l = logits.data() + t * V;
    const float mx = *std::max_element(l, l + V);
    double z = 0;
    for (int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(l[v]) - mx);
    s += mx + std::log(z) - l[ids[static_cast<size_t>(t + 1)]];
  }
  return s / static_cast<double>(T - 1);
}

TEST(Decode, Bf16WeightsCloseToF32) {
  set_num_threads(2);
  auto g = wide_random_gpt();
  const int64_t V = g->vocab_size(), T = 48;
  // The text: a continuation sampled from the f32 model itself (its perplexity is well below V).
  std::vector<int32_t> ids = {5};
  {
    auto cache = g->make_kv_cache(1, T);
    Rng rng(11);
    for (int64_t t = 0; t + 1 < T; ++t) {
      g->forward_cached(Tensor(&ids.back(), Shape{1, 1}, DType::I32), *cache);
      const float* l = cache->logits.f32();
      const float mx = *std::max_element(l, l + V);
      std::vector<double> p(static_cast<size_t>(V));
      double z = 0;
      for (int64_t v = 0; v < V; ++v) z += (p[static_cast<size_t>(v)] = std::exp(static_cast<double>(l[v]) - mx));
      double u = rng.uniform(static_cast<uint64_t>(t)) * z;
      int32_t pick = 0;
      for (; pick + 1 < V && (u -= p[static_cast<size_t>(pick)]) > 0; ++pick) {
      }
      ids.push_back(pick);
    }
  }
  auto f32 = decode_all(*g, ids, 1, T);
  g->set_decode_dtype(DType::BF16);
  EXPECT_GT(g->decode_weight_bytes(), 0);
  auto bf16 = decode_all(*g, ids, 1, T);
  double scale = 0;
  for (float x : f32) scale = std::max(scale, static_cast<double>(std::fabs(x)));
  EXPECT_GT(scale, 3.0);  // the logits do spread
  // Measured 2.5% (0.24 of 9.6) on this model: bf16 rounding (2^-9) of weights and activations, amplified by
  // three wide-init layers.
  const double diff = test::max_abs_diff(bf16.data(), f32.data(), T * V);
  EXPECT_LT(diff, 0.05 * scale);
  const double ppl32 = std::exp(mean_ce(f32, ids, V)), ppl16 = std::exp(mean_ce(bf16, ids, V));
  std::printf("logit scale %.3f, max |bf16 - f32| %.4f; perplexity f32 %.4f bf16 %.4f\n", scale, diff, ppl32, ppl16);
  EXPECT_LT(ppl32, 0.5 * static_cast<double>(V));
  EXPECT_NEAR(ppl16 / ppl32, 1.0, 0.01) << "f32 " << ppl32 << " bf16 " << ppl16;
  int same = 0;
  for (int64_t t = 0; t < T; ++t) {
    const float* a = f32.data() + t * V;
    const float* b = bf16.data() + t * V;
    same += std::max_element(a, a + V) - a == std::max_element(b, b + V) - b;
  }
  EXPECT_GE(same, T * 9 / 10);
  // Back to f32: bitwise the f32 decode again.
  g->set_decode_dtype(DType::F32);
  auto again = decode_all(*g, ids, 1, T);
  EXPECT_EQ(test::max_abs_diff(again.data(), f32.data(), T * V), 0.0);
  EXPECT_THROW(g->set_decode_dtype(DType::F16), Error);
}

}  // namespace
}  // namespace lm
