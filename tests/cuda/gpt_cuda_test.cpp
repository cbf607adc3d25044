// GPT-2 on the GPU: in f32 the same model on Device::CUDA gives what it gives on the CPU — loss, logits, every
// gradient, three AdamW steps, with and without dropout (the device draws the CPU's Philox masks) — and
// init/save/load stage through the host bitwise; in bf16 (mixed precision) it matches the f32 CPU model at the
// bf16 tolerances. Then the trainer and `bench train` end to end with "device": "cuda" (f32 and bf16). Tolerances: fp32 with different summation orders (cuBLAS vs oneDNN) — 1e-5 normwise on the
// loss and logits, 1e-4 on gradients and on parameters after Adam (which divides by sqrt(v) and so amplifies
// relative gradient rounding on the smallest gradients).
#include <gtest/gtest.h>

#include <cmath>

#include "cuda/cuda_test_util.h"
#include "lm/core/file_util.h"
#include "lm/generate/generator.h"
#include "lm/models/gpt/gpt.h"
#include "lm/ops/adamw.h"
#include "lm/train/optimizer.h"
#include "lm/ops/convert.h"
#include "train/train_test_util.h"

namespace lm::test {
namespace {

models::GptConfig tiny_config(float pdrop) {
  models::GptConfig c;
  c.vocab_size = 37;
  c.n_positions = 16;
  c.n_embd = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.resid_pdrop = c.embd_pdrop = c.attn_pdrop = pdrop;
  return c;
}

std::vector<float> host_copy(const Tensor& t) {
  std::vector<float> h(static_cast<size_t>(t.numel()));
  copy_bytes(h.data(), Device::CPU, t.data, t.device, t.nbytes());
  return h;
}

double rel(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  return rel_error(a.data(), b.data(), static_cast<int64_t>(std::min(a.size(), b.size())));
}

class GptCuda : public ::testing::TestWithParam<float> {};

TEST_P(GptCuda, ForwardBackwardAndAdamWMatchCpu) {
  LM_REQUIRE_CUDA();
  const float pdrop = GetParam();
  const models::GptConfig cfg = tiny_config(pdrop);
  const int64_t B = 3, T = 11;
  models::Gpt cpu(cfg), gpu(cfg, Device::CUDA);
  cpu.init_weights(7);
  gpu.init_weights(7);
  ASSERT_EQ(host_copy(gpu.flat_params()), host_copy(cpu.flat_params()));  // host-side init, copied bitwise

  OwnedTensor x(Shape{B, T}, DType::I32), y(Shape{B, T}, DType::I32);
  for (int64_t i = 0; i < B * T; ++i) {
    x.t.ptr<int32_t>()[i] = static_cast<int32_t>((i * 7 + 3) % cfg.vocab_size);
    y.t.ptr<int32_t>()[i] = i % 5 == 4 ? -100 : static_cast<int32_t>((i * 11 + 1) % cfg.vocab_size);
  }
  Buffer xb(x.t.nbytes(), Device::CUDA), yb(y.t.nbytes(), Device::CUDA);
  Tensor xd(xb.data(), x.t.shape, DType::I32, Device::CUDA), yd(yb.data(), y.t.shape, DType::I32, Device::CUDA);
  copy_tensor(xd, x.t);
  copy_tensor(yd, y.t);

  train::AdamWConfig oc;
  const float lr = 1e-2f;
  oc.weight_decay = 0.1f;
  oc.grad_clip = 1.0f;
  train::AdamW ocpu(cpu, oc), ogpu(gpu, oc);
  for (int step = 0; step < 3; ++step) {
    cpu.set_training(true, 11, static_cast<uint64_t>(step));
    gpu.set_training(true, 11, static_cast<uint64_t>(step));
    cpu.zero_grad();
    gpu.zero_grad();
    const float lc = cpu.forward(x.t, y.t), lg = gpu.forward(xd, yd);
    EXPECT_NEAR(lg, lc, 1e-5 * std::abs(lc)) << "step " << step;
    EXPECT_EQ(gpu.last_num_targets(), cpu.last_num_targets());
    if (step == 0) {
      EXPECT_LE(rel(host_copy(gpu.logits()), host_copy(cpu.logits())), 1e-5);
    }
    cpu.backward();
    gpu.backward();
    EXPECT_LE(rel(host_copy(gpu.flat_grads()), host_copy(cpu.flat_grads())), 1e-4) << "step " << step;
    const double nc = ocpu.step(lr), ng = ogpu.step(lr);
    EXPECT_NEAR(ng, nc, 1e-4 * nc) << "step " << step;
    EXPECT_LE(rel(host_copy(gpu.flat_params()), host_copy(cpu.flat_params())), 1e-4) << "step " << step;
  }
  // The moments too (what a checkpoint saves).
  EXPECT_LE(rel(host_copy(ogpu.moments_v()), host_copy(ocpu.moments_v())), 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Dropout, GptCuda, ::testing::Values(0.0f, 0.1f),
                         [](const ::testing::TestParamInfo<float>& i) { return i.param == 0 ? "none" : "p01"; });

// bf16 (mixed precision) against the f32 CPU model, at the bf16 tolerances: logits <= 3e-3 and gradients
// <= 1e-2 normwise on the first step. Then three clipped AdamW steps: the f32 masters move as the CPU's do (the
// update direction within 5e-2 normwise: bf16 gradients change Adam's per-element ratio m/sqrt(v) slightly), and
// the bf16 copy the model computes with is exactly bf16(master) after every step.
TEST(GptCudaBf16, MatchesTheF32CpuModelAtBf16Tolerances) {
  LM_REQUIRE_CUDA();
  const models::GptConfig cfg = tiny_config(0.0f);
  const int64_t B = 3, T = 11;
  models::Gpt cpu(cfg), gpu(cfg, Device::CUDA, DType::BF16);
  cpu.init_weights(9);
  gpu.init_weights(9);
  ASSERT_EQ(host_copy(gpu.flat_params()), host_copy(cpu.flat_params()));  // f32 masters, bitwise
  OwnedTensor x(Shape{B, T}, DType::I32), y(Shape{B, T}, DType::I32);
  for (int64_t i = 0; i < B * T; ++i) {
    x.t.ptr<int32_t>()[i] = static_cast<int32_t>((i * 5 + 2) % cfg.vocab_size);
    y.t.ptr<int32_t>()[i] = static_cast<int32_t>((i * 13 + 4) % cfg.vocab_size);
  }
  Buffer xb(x.t.nbytes(), Device::CUDA), yb(y.t.nbytes(), Device::CUDA);
  Tensor xd(xb.data(), x.t.shape, DType::I32, Device::CUDA), yd(yb.data(), y.t.shape, DType::I32, Device::CUDA);
  copy_tensor(xd, x.t);
  copy_tensor(yd, y.t);
  // A bf16 device tensor read back as f32.
  auto host_f32 = [](const Tensor& t) {
    OwnedTensor h(Shape{t.numel()});
    Buffer tmp(static_cast<size_t>(t.numel()) * 4, Device::CUDA);
    Tensor f(tmp.data(), Shape{t.numel()}, DType::F32, Device::CUDA);
    ops::convert(f, Tensor(t.data, Shape{t.numel()}, t.dtype, t.device));
    copy_tensor(h.t, f);
    return std::vector<float>(h.f32(), h.f32() + h.numel());
  };
  train::AdamWConfig oc;
  const float lr = 1e-2f;
  oc.weight_decay = 0.1f;
  oc.grad_clip = 1.0f;
  train::AdamW ocpu(cpu, oc), ogpu(gpu, oc);
  const std::vector<float> p0 = host_copy(cpu.flat_params());
  for (int step = 0; step < 3; ++step) {
    cpu.zero_grad();
    gpu.zero_grad();
    const float lc = cpu.forward(x.t, y.t), lg = gpu.forward(xd, yd);
    EXPECT_NEAR(lg, lc, 3e-3 * std::abs(lc)) << "step " << step;
    if (step == 0) {
      EXPECT_EQ(gpu.logits().dtype, DType::BF16);
      EXPECT_LE(rel(host_f32(gpu.logits()), host_copy(cpu.logits())), 3e-3);
    }
    cpu.backward();
    gpu.backward();
    if (step == 0) {
      EXPECT_EQ(gpu.flat_grads().dtype, DType::BF16);
      EXPECT_LE(rel(host_f32(gpu.flat_grads()), host_copy(cpu.flat_grads())), 1e-2);
    }
    ocpu.step(lr);
    ogpu.step(lr);
    // The bf16 copy is bf16(master), element for element.
    for (const auto& p : gpu.param_list()) {
      ASSERT_TRUE(p.param_copy.defined()) << p.name;
      const std::vector<float> master = host_copy(p.param), copy = host_f32(p.param_copy);
      for (size_t i = 0; i < master.size(); ++i)
        ASSERT_EQ(copy[i], bf16_to_f32(f32_to_bf16(master[i]))) << p.name << "[" << i << "] step " << step;
    }
  }
  std::vector<float> dc = host_copy(cpu.flat_params()), dg = host_copy(gpu.flat_params());
  for (size_t i = 0; i < p0.size(); ++i) {
    dc[i] -= p0[i];
    dg[i] -= p0[i];
  }
  EXPECT_LE(rel(dg, dc), 5e-2);
}

TEST(GptCudaIo, SaveLoadStageThroughTheHost) {
  LM_REQUIRE_CUDA();
  const models::GptConfig cfg = tiny_config(0.0f);
  models::Gpt cpu(cfg), gpu(cfg, Device::CUDA);
  cpu.init_weights(3);
  gpu.init_weights(3);
  const std::string dir = temp_dir("gpt_cuda_io");
  cpu.save_hf(path_join(dir, "cpu"));
  gpu.save_hf(path_join(dir, "gpu"));
  EXPECT_EQ(read_file(path_join(dir, "gpu/model.safetensors")), read_file(path_join(dir, "cpu/model.safetensors")));
  models::Gpt back(cfg, Device::CUDA);
  back.load_safetensors(path_join(dir, "cpu/model.safetensors"));
  EXPECT_EQ(host_copy(back.flat_params()), host_copy(cpu.flat_params()));
}

// Generation on the GPU: a left-padded batch prefilled through the device KV cache, then decode steps, gives the
// CPU's last-position logits (1e-5 normwise); greedy and beam search pick the CPU's tokens.
TEST(GptCudaGenerate, KvCacheLogitsAndSearchMatchCpu) {
  LM_REQUIRE_CUDA();
  const models::GptConfig cfg = tiny_config(0.1f);  // dropout must not apply in inference
  models::Gpt cpu(cfg), gpu(cfg, Device::CUDA);
  cpu.init_weights(21);
  gpu.copy_params_from(cpu);
  ASSERT_EQ(host_copy(gpu.flat_params()), host_copy(cpu.flat_params()));
  const int64_t B = 2, P = 5, Tmax = 9;
  auto cc = cpu.make_kv_cache(B, Tmax), gc = gpu.make_kv_cache(B, Tmax);
  OwnedTensor ids(Shape{B, P}, DType::I32), pos(Shape{B, P}, DType::I32), mask(Shape{B, Tmax}, DType::I32);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t off = b == 0 ? 0 : 2;  // row 1 is left-padded by two
    for (int64_t t = 0; t < Tmax; ++t) mask.t.ptr<int32_t>()[b * Tmax + t] = t >= off ? 1 : 0;
    for (int64_t t = 0; t < P; ++t) {
      ids.t.ptr<int32_t>()[b * P + t] = static_cast<int32_t>((3 * t + 7 * b + 1) % cfg.vocab_size);
      pos.t.ptr<int32_t>()[b * P + t] = t >= off ? static_cast<int32_t>(t - off) : 1;
    }
  }
  cpu.forward_cached(ids.t, *cc, pos.t, mask.t);
  gpu.forward_cached(ids.t, *gc, pos.t, mask.t);
  auto logits = [](const models::KvCache& c) {
    return std::vector<float>(c.logits.f32(), c.logits.f32() + c.logits.numel());
  };
  EXPECT_LE(rel(logits(*gc), logits(*cc)), 1e-5);
  OwnedTensor step(Shape{B, 1}, DType::I32), spos(Shape{B, 1}, DType::I32);
  for (int s = 0; s < 3; ++s) {
    for (int64_t b = 0; b < B; ++b) {
      step.t.ptr<int32_t>()[b] = static_cast<int32_t>((11 * s + b) % cfg.vocab_size);
      spos.t.ptr<int32_t>()[b] = static_cast<int32_t>((b == 0 ? P : P - 2) + s);
    }
    cpu.forward_cached(step.t, *cc, spos.t, mask.t);
    gpu.forward_cached(step.t, *gc, spos.t, mask.t);
    EXPECT_LE(rel(logits(*gc), logits(*cc)), 1e-5) << "step " << s;
  }
  generate::GenerateOptions opt;
  opt.max_new_tokens = 6;
  opt.sampling.greedy = true;
  const std::vector<std::vector<int32_t>> prompts = {{1, 2, 3, 4}, {5, 6}};
  EXPECT_EQ(generate::generate(gpu, prompts, opt).ids, generate::generate(cpu, prompts, opt).ids);
  opt.num_beams = 3;
  const std::vector<std::vector<int32_t>> one = {{7, 8, 9}};
  EXPECT_EQ(generate::generate(gpu, one, opt).ids, generate::generate(cpu, one, opt).ids);
}

TEST(GptCudaGenerate, CliGeneratesOnTheGpu) {
  LM_REQUIRE_CUDA();
  models::Gpt cpu(tiny_config(0.0f));
  cpu.init_weights(5);
  const std::string dir = path_join(temp_dir("gpt_cuda_cli"), "model");
  cpu.save_hf(dir);
  auto a = run_cli({"generate", "--model", dir, "--ids", "1,2,3", "--greedy", "--ignore-eos", "--max-new-tokens", "5",
                    "--json"});
  auto b = run_cli({"generate", "--model", dir, "--ids", "1,2,3", "--greedy", "--ignore-eos", "--max-new-tokens", "5",
                    "--json", "--device", "cuda"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(Json::parse(b.out)["ids"], Json::parse(a.out)["ids"]);
}

TEST(GptCudaIo, HostBatchOnADeviceModelIsAnError) {
  LM_REQUIRE_CUDA();
  models::Gpt gpu(tiny_config(0.0f), Device::CUDA);
  gpu.init_weights(1);
  OwnedTensor x(Shape{1, 4}, DType::I32);
  try {
    gpu.forward(x.t, Tensor());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ids are on cpu but the model is on cuda"), std::string::npos) << e.what();
  }
  auto cache = gpu.make_kv_cache(1, 8);
  OwnedTensor all(Shape{1, 4, 37});
  EXPECT_THROW(gpu.forward_cached(x.t, *cache, Tensor(), Tensor(), all.t), Error);  // all_logits: CPU models only
}

// The trainer with "device": "cuda": the losses of 8 steps (grad accumulation, dropout, eval, checkpoints) follow
// the CPU run's, and a run killed after step 6 resumes from step 4 to the same losses.
TEST(GptCudaTrainer, TrainsLikeTheCpuAndResumes) {
  LM_REQUIRE_CUDA();
  std::string data = make_data("cuda_trainer_data", 40);
  std::string work = temp_dir("cuda_trainer");
  std::string cfg = write_config(work, data, 8);
  auto cpu = run_cli({"train", "--config", cfg, "--out", path_join(work, "cpu")});
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  auto gpu = run_cli({"train", "--config", cfg, "--set", "device=cuda", "--out", path_join(work, "gpu")});
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
  auto lc = train_losses(path_join(work, "cpu")), lg = train_losses(path_join(work, "gpu"));
  ASSERT_EQ(lc.size(), 8u);
  ASSERT_EQ(lg.size(), 8u);
  for (size_t i = 0; i < lc.size(); ++i) EXPECT_NEAR(lg[i].second, lc[i].second, 1e-3) << "step " << lc[i].first;
  setenv("LM_TEST_KILL_AT_STEP", "6", 1);
  auto k = run_cli({"train", "--config", cfg, "--set", "device=cuda", "--out", path_join(work, "gpu_resumed")});
  unsetenv("LM_TEST_KILL_AT_STEP");
  ASSERT_EQ(k.exit_code, 128 + 9) << k.err;
  auto r = run_cli({"train", "--config", cfg, "--set", "device=cuda", "--out", path_join(work, "gpu_resumed")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lr = train_losses(path_join(work, "gpu_resumed"));
  ASSERT_EQ(lr.size(), 8u);
  for (size_t i = 0; i < lg.size(); ++i) EXPECT_NEAR(lr[i].second, lg[i].second, 1e-5) << "step " << lg[i].first;
}

// bf16 training through the trainer: the 8 losses follow the f32 CPU run's within bf16 noise.
TEST(GptCudaTrainer, Bf16TrainsLikeTheF32Cpu) {
  LM_REQUIRE_CUDA();
  std::string data = make_data("cuda_trainer_bf16_data", 40);
  std::string work = temp_dir("cuda_trainer_bf16");
  std::string cfg = write_config(work, data, 8);
  auto cpu = run_cli({"train", "--config", cfg, "--out", path_join(work, "cpu")});
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  auto gpu = run_cli({"train", "--config", cfg, "--set", "device=cuda", "--set", "dtype=bf16", "--out",
                      path_join(work, "gpu")});
  ASSERT_EQ(gpu.exit_code, 0) << gpu.err;
  auto lc = train_losses(path_join(work, "cpu")), lg = train_losses(path_join(work, "gpu"));
  ASSERT_EQ(lg.size(), lc.size());
  for (size_t i = 0; i < lc.size(); ++i) EXPECT_NEAR(lg[i].second, lc[i].second, 3e-2) << "step " << lc[i].first;
}

TEST(GptCudaBench, BenchTrainRunsOnTheGpu) {
  LM_REQUIRE_CUDA();
  for (const char* dt : {"f32", "bf16"}) {
    auto r = run_cli({"bench", "train", "--shape", "tiny", "--device", "cuda", "--dtype", dt, "--steps", "2",
                      "--warmup", "1", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Json j = Json::parse(r.out);
    EXPECT_EQ(j["device"], "cuda");
    EXPECT_EQ(j["dtype"], dt);
    EXPECT_GT(j["tokens_per_s"].get<double>(), 0.0);
    EXPECT_TRUE(std::isfinite(j["loss"].get<double>()));
  }
}

}  // namespace
}  // namespace lm::test
