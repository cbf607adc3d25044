// `lmcpp bench train`: training throughput on random weights and data. Reports the median over timed steps after
// warm-up, peak RSS, and MFU against the measured sgemm peak of this machine (CPU). `bench prefill|decode|membw`
// live in bench_infer.cpp, `bench classify` in bench_classify.cpp; this file dispatches to them.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <vector>

#include "bench_classify.h"
#include "bench_infer.h"
#include "bench_util.h"
#include "command.h"
#include "lm/core/buffer.h"
#include "lm/core/device.h"
#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/core/profile.h"
#include "lm/core/rng.h"
#include "lm/core/threads.h"
#include "lm/models/lora.h"
#include "lm/models/model.h"
#include "lm/ops/matmul.h"
#include "lm/train/flops.h"
#include "lm/train/optimizer.h"

namespace lm::cli {
namespace {

using Clock = BenchClock;

// The benchmarked model: random weights, or a LoRA adapter (the family's default targets) on a frozen one.
std::unique_ptr<models::Model> train_model(const Json& cfg, Device dev, DType dtype, int64_t T, const std::string& lora) {
  std::unique_ptr<models::Model> m = models::create_model(cfg, dev, dtype);
  LM_CHECK(T <= m->max_positions(), "--seq {} exceeds n_positions {}", T, m->max_positions());
  m->init_weights(1234);
  if (lora.empty()) return m;
  LM_CHECK_AS(ErrorCode::Unsupported, dev == Device::CPU, "bench train --lora: adapters train on the CPU");
  return std::make_unique<models::LoraModel>(std::move(m), LoraSpec::from_flag(lora), 1);
}

int run_bench(Args& a) {
  const std::string what = a.positional().empty() ? "" : a.positional()[0];
  if (!a.positional().empty()) a.positional().erase(a.positional().begin());
  if (what == "classify") return run_bench_classify(a);
  if (what == "prefill" || what == "decode" || what == "membw") return run_bench_infer(what, a);
  const std::string shape = a.get_or("--shape", "S");
  const std::string device = a.get_or("--device", "cpu"), dtype_arg = a.get_or("--dtype", "f32");
  const int threads = static_cast<int>(a.get_int("--threads", 0));
  const bool json = a.flag("--json"), profile = a.flag("--profile");
  const int64_t steps = a.get_int("--steps", 10), warmup = a.get_int("--warmup", 2), B = a.get_int("--batch", 8);
  const int64_t T = a.get_int("--seq", shape == "tiny" ? 64 : shape == "small" ? 128 : 256);
  const std::string lora = a.get_or("--lora", "");
  a.finish();
  LM_CHECK(what == "train", "bench: expected train, prefill, decode, membw or classify, got '{}'", what);
  LM_CHECK(device == "cpu" || device == "cuda", "--device {} is not one of cpu, cuda", device);
  // No silent CPU fallback: --device cuda without a backend or a GPU is a clear error.
  LM_CHECK_AS(ErrorCode::Unsupported, device == "cpu" || cuda_compiled(), "{}",
              "bench train --device cuda: this build has no CUDA backend (configure with -DLM_CUDA=ON)");
  const Device dev = device == "cuda" ? Device::CUDA : Device::CPU;
  LM_CHECK(dtype_arg == "f32" || dtype_arg == "bf16", "--dtype {} is not one of f32, bf16", dtype_arg);
  const DType dtype = dtype_arg == "bf16" ? DType::BF16 : DType::F32;
  LM_CHECK_AS(ErrorCode::Unsupported, dtype == DType::F32 || dev == Device::CUDA,
              "bench train --dtype bf16: mixed precision runs on --device cuda only");
  LM_CHECK_AS(ErrorCode::Unsupported, dev == Device::CPU || cuda_device_count() > 0, "{}",
              "bench train --device cuda: no CUDA device is visible (driver or GPU missing)");
  LM_CHECK(steps >= 1 && warmup >= 0 && B >= 1 && T >= 2, "bench: steps, batch and seq must be positive");
  set_num_threads(threads);

  const Json cfg = bench_model_config(shape);
  // MFU reference: the measured sgemm peak on CPU; on CUDA the datasheet peak of the mode: fp32 CUDA cores for f32
  // (GEMMs without TF32), dense bf16 tensor cores for bf16. Unknown GPUs get no MFU (a warning), never a made-up one.
  double peak = 0;
  std::string peak_what = "the measured sgemm peak";
  if (dev == Device::CPU) {
    peak = train::measure_sgemm_peak();
  } else {
    const std::string gpu = cuda_device_name(0);
    const bool bf16 = dtype == DType::BF16;
    peak = bf16 ? train::gpu_dense_bf16_peak_flops(gpu) : train::gpu_fp32_peak_flops(gpu);
    peak_what = std::string(bf16 ? "the dense bf16 tensor-core peak of " : "the fp32 (non-tensor-core) peak of ") + gpu;
    if (peak == 0)
      std::fprintf(stderr, "lmcpp: warning: no %s peak known for GPU '%s': MFU not reported\n", bf16 ? "bf16" : "fp32",
                   gpu.c_str());
  }
  const std::unique_ptr<models::Model> m = train_model(cfg, dev, dtype, T, lora);
  models::Model& model = *m;
  train::AdamWConfig oc;
  const float lr = 3e-4f;
  oc.weight_decay = 0.1f;
  oc.grad_clip = 1.0f;
  train::AdamW opt(model, oc);
  OwnedTensor x(Shape{B, T}, DType::I32), y(Shape{B, T}, DType::I32);
  Rng rng(99);
  for (int64_t i = 0; i < B * T; ++i) {
    x.t.ptr<int32_t>()[i] = static_cast<int32_t>(rng.next_below(static_cast<uint64_t>(model.vocab_size())));
    y.t.ptr<int32_t>()[i] = static_cast<int32_t>(rng.next_below(static_cast<uint64_t>(model.vocab_size())));
  }
  Arena batch_arena("bench-batch", dev);
  const size_t xs = batch_arena.reserve(Shape{B, T}, DType::I32), ys = batch_arena.reserve(Shape{B, T}, DType::I32);
  batch_arena.allocate();
  Tensor xd = batch_arena.tensor(xs), yd = batch_arena.tensor(ys);
  copy_tensor(xd, x.t);
  copy_tensor(yd, y.t);
  std::vector<double> times;
  float loss = 0;
  const LoadMeter meter;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    prof::totals().enabled = profile && s >= warmup;  // the profile covers the timed steps only
    auto t0 = Clock::now();
    model.zero_grad();
    models::Batch batch;
    batch.input_ids = xd;
    batch.labels = yd;
    loss = model.forward(batch, {/*training=*/true});
    model.backward(1.0f / static_cast<float>(model.last_num_targets()));  // the mean over the batch's targets
    {
      prof::Scope ps(prof::Op::AdamW);
      opt.step(lr);
    }
    device_synchronize(dev);  // GPU work is asynchronous: the step ends when the device is done
    double dt = seconds_since(t0);
    if (s >= warmup) times.push_back(dt);
    if (!json)
      std::fprintf(stderr, "step %lld: %.1f ms loss %.4f\n", static_cast<long long>(s), dt * 1e3, loss);
  }
  prof::totals().enabled = false;
  const std::optional<double> load = bench_load(meter);
  // The peak RSS of training, read before the second probe below: the probe's 32 MB of matrices would otherwise
  // raise the high-water mark while the model is alive.
  const double rss_mb = peak_rss_mb();
  // The probe again after the timed steps: on a shared host one probe can land in a slow minute and report a low
  // peak (an MFU of 120% was seen); the better of the two is the hardware's figure.
  if (dev == Device::CPU) peak = std::max(peak, train::measure_sgemm_peak());
  double step_s = median(times);
  if (profile) print_profile(times, "step");
  double tps = static_cast<double>(B * T) / step_s;
  double mfu = peak > 0 ? tps * model.train_flops_per_token(T) / peak : 0.0;
  if (json) {
    const char* peak_key =
        dev == Device::CPU ? "sgemm_peak_gflops" : (dtype == DType::BF16 ? "gpu_bf16_peak_gflops" : "gpu_fp32_peak_gflops");
    const OrderedJson j = {{"bench", "train"},     {"device", device},     {"dtype", dtype_arg},    {"shape", shape},
                           {"batch", B},           {"seq", T},             {"threads", num_threads()},
                           {"tokens_per_s", tps},  {"step_ms", step_s * 1e3}, {"peak_rss_mb", rss_mb}, {"mfu", mfu},
                           {peak_key, peak / 1e9}, {"loss", loss},         {"params", model.num_parameters()},
                           {"trainable_params", model.trainable_parameters()},
                           {"lora", lora.empty() ? Json() : model.adapter_config()},
                           {"other_cpu_cores", load_json(load)}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("train %s on %s B=%lld T=%lld threads=%d: %.1f tokens/s (%.1f ms/step, median of %lld), peak RSS %.0f MB\n",
                shape.c_str(), device.c_str(), static_cast<long long>(B), static_cast<long long>(T), num_threads(), tps,
                step_s * 1e3, static_cast<long long>(steps), rss_mb);
    if (peak > 0) std::printf("MFU %.1f%% of %s, %.1f GFLOP/s\n", 100 * mfu, peak_what.c_str(), peak / 1e9);
    std::printf("%s\n", load_text(load).c_str());
  }
  return 0;
}

LM_COMMAND(.name = "bench",
           .summary = "throughput benchmarks: train, prefill, decode, classify (tokens/s, peak RSS, MFU), membw",
           .usage = "usage: lmcpp bench train [--shape S|124M|124M-pad|small|tiny] [--device cpu|cuda] [--dtype f32|bf16]\n"
           "                         [--threads N] [--batch B] [--seq T] [--steps N] [--warmup N] [--lora r=R,alpha=A]\n"
           "                         [--profile] [--json]\n"
           "       lmcpp bench classify [--shape bert-base] [--threads N] [--batch B] [--seq T] [--steps N]\n"
           "                        [--weights f32|bf16|int8] [--profile] [--json]\n"
           "  Trains on random tokens with AdamW (--lora: a LoRA adapter on the frozen model, PEFT's default targets)\n"
           "  and reports tokens/s (median over timed steps), peak RSS and MFU\n"
           "  (6N + attention FLOPs per token over the measured sgemm peak: a 2048x2048x1024 sgemm probed before\n"
           "  and after the timed steps, the better of the two). Shape S: vocab 50304, 6 layers,\n"
           "  6 heads, n_embd 384 (T 256, batch 8 by default); 124M: GPT-2 small; small: the quickstart's 4-layer\n"
           "  256-wide GPT, vocab 4096 (T 128); 124M-pad: 124M with the\n"
           "  vocabulary padded to 50304 (llm.c's training shape). --profile prints the time per op class\n"
           "  (matmul fwd/bwd, attention fwd/bwd, layernorm, gelu, LM head + cross-entropy, adamw, other) to stderr.\n"
           "  bench classify: sequence-classification inference (BertForSequenceClassification) on random weights\n"
           "  (12 layers, 768, vocab 30522; batch 32, T 128 by default): sequences/s and tokens/s. --weights bf16:\n"
           "  the encoder's linear layers on oneDNN's AMX / AVX512_BF16 matmul from pre-packed bf16 weights; int8:\n"
           "  dynamically quantized on oneDNN's AMX / VNNI int8 matmul (s8 weights per channel, s8 activations).\n"
           "  --device cuda (LM_CUDA=ON builds): the same step on the GPU; --dtype f32 (no TF32, MFU against the GPU's\n"
           "  fp32 peak) or bf16 (mixed precision: bf16 weights copy, activations and gradients, f32 master weights and\n"
           "  moments; MFU against the dense bf16 peak); see docs/cuda.md.\n"
           "  --json prints one JSON line. train: {\"bench\", \"device\", \"dtype\", \"shape\", \"batch\", \"seq\",\n"
           "  \"threads\", \"tokens_per_s\", \"step_ms\", \"peak_rss_mb\", \"mfu\", \"sgemm_peak_gflops\" (cuda:\n"
           "  \"gpu_fp32_peak_gflops\" or \"gpu_bf16_peak_gflops\"), \"loss\", \"params\"}; classify: {\"bench\", \"shape\",\n"
           "  \"batch\", \"seq\", \"threads\", \"weights\", \"sequences_per_s\", \"tokens_per_s\", \"batch_ms\",\n"
           "  \"peak_rss_mb\", \"mfu\", \"sgemm_peak_gflops\", \"params\"}." LM_BENCH_INFER_USAGE,
           .run = run_bench,
           .examples = {{.command = "lmcpp bench train --shape S --threads 2 --json",
                         .comment = "training tokens/s, peak RSS and MFU of a 6-layer GPT"},
                        {.command = "lmcpp bench decode --threads 2 --weights bf16 --json",
                         .comment = "GPT-2 124M decoding, batch 1, against the memory-bandwidth bound"},
                        {.command = "lmcpp bench classify --shape bert-base --weights int8 --json"}});

}  // namespace
}  // namespace lm::cli
