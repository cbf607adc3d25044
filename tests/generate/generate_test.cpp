// Generation: the KV-cache path equals the full forward at every step; greedy continuations equal the PyTorch
// reference (tests/reference); left-padded batches equal single prompts; seeded sampling is reproducible; the
// logits processors follow HF; beam search finds the exact best sequence when the beam covers the vocabulary.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/generate/generator.h"
#include "lm/generate/sampler.h"
#include "lm/io/safetensors.h"
#include "lm/models/gpt/gpt.h"
#include "lm/models/model.h"

namespace lm {
namespace {

std::string ref_dir(const std::string& n) { return test::source_dir() + "/tests/reference/" + n; }

std::unique_ptr<models::Gpt> load_gpt(const std::string& dir) {
  auto m = models::load_model_dir(dir);
  return std::unique_ptr<models::Gpt>(dynamic_cast<models::Gpt*>(m.release()));
}

std::vector<int32_t> read_ids(const SafetensorsFile& f, const std::string& name) {
  Tensor t = f.tensor(name);
  const int32_t* p = t.ptr<int32_t>();
  return std::vector<int32_t>(p, p + t.numel());
}

TEST(KvCache, MatchesFullForwardAtEveryStep) {
  set_num_threads(2);
  auto gpt = load_gpt(ref_dir("gpt2_tiny_b"));
  const int64_t T = 20, V = gpt->vocab_size();
  OwnedTensor ids(Shape{1, T}, DType::I32);
  for (int64_t t = 0; t < T; ++t) ids.t.ptr<int32_t>()[t] = static_cast<int32_t>((t * 37 + 11) % V);
  gpt->forward(ids.t, Tensor());
  std::vector<float> full(gpt->logits().f32(), gpt->logits().f32() + T * V);
  auto cache = gpt->make_kv_cache(1, T);
  const int64_t P = 6;
  OwnedTensor pre(Shape{1, P, V});
  gpt->forward_cached(ids.t.view(Shape{T}).slice0(0, P).view(Shape{1, P}), *cache, {}, {}, pre.t);
  EXPECT_LT(test::max_abs_diff(pre.f32(), full.data(), P * V), 1e-5);
  for (int64_t t = P; t < T; ++t) {
    OwnedTensor one(Shape{1, 1}, DType::I32);
    one.t.ptr<int32_t>()[0] = ids.t.ptr<int32_t>()[t];
    gpt->forward_cached(one.t, *cache);
    EXPECT_LT(test::max_abs_diff(cache->logits.f32(), full.data() + t * V, V), 1e-5) << "position " << t;
  }
}

// Decode steps give the same bits on any team size (each output element is computed by one thread), which lets
// AdaptiveThreads (core/cpu_load.h) shrink the team on a busy machine without changing a generated token. A random
// 2-layer model wide enough (128) that both threads of a team get rows, f32 and bf16 decode weights.
TEST(KvCache, DecodeStepsAreBitwiseTheSameOnAnyTeamSize) {
  Json cfg = {{"model_type", "gpt2"}, {"vocab_size", 300}, {"n_positions", 64}, {"n_layer", 2}, {"n_head", 4},
              {"n_embd", 128}};
  auto m = models::create_model(cfg);
  m->init_weights(7);
  models::CausalLM& lm = *m->causal_lm();
  const int64_t V = m->vocab_size(), P = 5, steps = 12;
  for (DType w : {DType::F32, DType::BF16}) {
    lm.set_decode_dtype(w);
    std::vector<std::vector<float>> runs;
    for (int mode = 0; mode < 3; ++mode) {  // team 2 throughout, team 1 throughout, switching every step
      set_num_threads(mode == 1 ? 1 : 2);
      auto cache = lm.make_kv_cache(1, P + steps);
      OwnedTensor pre(Shape{1, P}, DType::I32);
      for (int64_t t = 0; t < P; ++t) pre.t.ptr<int32_t>()[t] = static_cast<int32_t>(t * 31 % V);
      lm.forward_cached(pre.t, *cache);
      std::vector<float> all;
      for (int64_t s = 0; s < steps; ++s) {
        if (mode == 2) set_thread_cap(s % 2 ? 1 : 0);
        OwnedTensor one(Shape{1, 1}, DType::I32);
        one.t.ptr<int32_t>()[0] = static_cast<int32_t>((s * 17 + 3) % V);
        lm.forward_cached(one.t, *cache);
        all.insert(all.end(), cache->logits.f32(), cache->logits.f32() + V);
      }
      set_thread_cap(0);
      runs.push_back(all);
    }
    for (int mode = 1; mode < 3; ++mode)
      EXPECT_EQ(std::memcmp(runs[0].data(), runs[static_cast<size_t>(mode)].data(), runs[0].size() * sizeof(float)), 0)
          << "decode weights " << dtype_name(w) << ", mode " << mode;
  }
  set_num_threads(2);
}

TEST(Generate, GreedyEqualsPyTorchReference) {
  set_num_threads(2);
  std::string dir = ref_dir("gpt2_tiny_a");
  SafetensorsFile vec(dir + "/vectors.safetensors");
  auto prompt = read_ids(vec, "greedy_prompt");
  generate::GenerateOptions opt;
  opt.max_new_tokens = 8;
  opt.sampling.greedy = true;
  auto gpt = load_gpt(dir);
  EXPECT_EQ(generate::generate(*gpt, {prompt}, opt).ids[0], read_ids(vec, "greedy_out"));
  // The trained weights (adamw.*) give a context-dependent continuation, a stronger test.
  std::vector<NamedTensor> trained;
  for (const auto& e : vec.tensors())
    if (e.name.rfind("adamw.transformer.", 0) == 0) trained.push_back({e.name.substr(6), vec.tensor(e.name)});
  std::string tdir = test::temp_dir("gen_trained");
  write_safetensors(tdir + "/model.safetensors", trained);
  write_file_atomic(tdir + "/config.json", read_file(dir + "/config.json"));
  auto g2 = load_gpt(tdir);
  EXPECT_EQ(generate::generate(*g2, {prompt}, opt).ids[0], read_ids(vec, "adamw.greedy_out"));
}

TEST(Generate, LeftPaddedBatchEqualsSinglePrompts) {
  set_num_threads(2);
  auto gpt = load_gpt(ref_dir("gpt2_tiny_b"));
  std::vector<std::vector<int32_t>> prompts = {{5, 17, 99, 3}, {42}, {7, 7, 120, 33, 2, 150, 9}};
  generate::GenerateOptions opt;
  opt.max_new_tokens = 6;
  opt.sampling.greedy = true;
  auto batch = generate::generate(*gpt, prompts, opt);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(batch.ids[i], generate::generate(*gpt, {prompts[i]}, opt).ids[0]);
  // Sampling: a row's draws depend on (seed, row, step) only.
  opt.sampling.greedy = false;
  opt.sampling.seed = 3;
  auto s1 = generate::generate(*gpt, prompts, opt), s2 = generate::generate(*gpt, prompts, opt);
  EXPECT_EQ(s1.ids, s2.ids);
  opt.sampling.seed = 4;
  EXPECT_NE(generate::generate(*gpt, prompts, opt).ids, s1.ids);
}

TEST(Generate, StopsAtEosAndValidatesInput) {
  auto gpt = load_gpt(ref_dir("gpt2_tiny_a"));
  generate::GenerateOptions opt;
  opt.max_new_tokens = 8;
  opt.sampling.greedy = true;
  opt.eos_id = 67;  // the reference's first greedy token for this prompt
  SafetensorsFile vec(ref_dir("gpt2_tiny_a") + "/vectors.safetensors");
  auto r = generate::generate(*gpt, {read_ids(vec, "greedy_prompt")}, opt);
  EXPECT_EQ(r.ids[0], std::vector<int32_t>{67});
  EXPECT_EQ(r.stop_reason[0], "eos");
  EXPECT_THROW(generate::generate(*gpt, {{1000}}, opt), Error);
  EXPECT_THROW(generate::generate(*gpt, {{}}, opt), Error);
  opt.max_new_tokens = 100;  // exceeds n_positions 32
  EXPECT_THROW(generate::generate(*gpt, {{1}}, opt), Error);
}

TEST(Sampler, ProcessorsFollowHf) {
  generate::SamplingOptions o;
  // Repetition penalty: positive logits divided, negative multiplied, each seen id once.
  o.greedy = true;
  o.repetition_penalty = 2.0f;
  std::vector<float> l = {4.0f, 3.0f, -1.0f};
  EXPECT_EQ(generate::select_token(l.data(), 3, o, {0, 0, 2}, 0.0f), 1);
  EXPECT_FLOAT_EQ(l[0], 2.0f);
  EXPECT_FLOAT_EQ(l[2], -2.0f);
  // top_k = 1 is greedy whatever the draw.
  generate::SamplingOptions s;
  s.top_k = 1;
  std::vector<float> m = {0.1f, 2.0f, 1.9f};
  EXPECT_EQ(generate::select_token(m.data(), 3, s, {}, 0.999f), 1);
  // top_p small keeps only the most likely token.
  generate::SamplingOptions p;
  p.top_p = 0.01f;
  std::vector<float> n = {0.0f, 0.5f, 0.4f};
  EXPECT_EQ(generate::select_token(n.data(), 3, p, {}, 0.99f), 1);
  // Plain sampling follows the softmax: the draw u selects by cumulative probability in descending order.
  generate::SamplingOptions q;
  std::vector<float> a = {0.0f, std::log(3.0f)};  // p = 0.25, 0.75
  std::vector<float> b = a;
  EXPECT_EQ(generate::select_token(a.data(), 2, q, {}, 0.70f), 1);
  EXPECT_EQ(generate::select_token(b.data(), 2, q, {}, 0.80f), 0);
  generate::SamplingOptions bad;
  bad.temperature = 0;
  EXPECT_THROW(bad.validate(), Error);
  try {
    bad.validate();
  } catch (const Error& e) {  // the library names its option, not the CLI flag
    EXPECT_EQ(std::string(e.what()).rfind("temperature must be > 0", 0), 0u) << e.what();
  }
}

TEST(BeamSearch, FullWidthBeamFindsTheBestTwoTokenContinuation) {
  set_num_threads(2);
  auto gpt = load_gpt(ref_dir("gpt2_tiny_a"));
  const int64_t V = gpt->vocab_size();
  std::vector<int32_t> prompt = {30, 64, 66};
  // Brute force: log p(a) + log p(b | a) over all pairs.
  auto logsoftmax = [&](const float* l, int64_t i) {
    double mx = *std::max_element(l, l + V), s = 0;
    for (int64_t v = 0; v < V; ++v) s += std::exp(l[v] - mx);
    return l[i] - mx - std::log(s);
  };
  double best = -1e30;
  std::vector<int32_t> arg;
  OwnedTensor x(Shape{1, 5}, DType::I32);
  for (int i = 0; i < 3; ++i) x.t.ptr<int32_t>()[i] = prompt[static_cast<size_t>(i)];
  for (int32_t a = 0; a < V; ++a) {
    x.t.ptr<int32_t>()[3] = a;
    gpt->forward(x.t.view(Shape{5}).slice0(0, 4).view(Shape{1, 4}), Tensor());
    const float* l3 = gpt->logits().f32() + 2 * V;
    const float* l4 = gpt->logits().f32() + 3 * V;
    for (int32_t b = 0; b < V; ++b) {
      double s = logsoftmax(l3, a) + logsoftmax(l4, b);
      if (s > best) best = s, arg = {a, b};
    }
  }
  generate::GenerateOptions opt;
  opt.max_new_tokens = 2;
  opt.num_beams = static_cast<int>(V);
  EXPECT_EQ(generate::generate(*gpt, {prompt}, opt).ids[0], arg);
}

}  // namespace
}  // namespace lm
