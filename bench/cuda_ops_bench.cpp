// GPU microbenchmark of the CUDA kernels at GPT-2 124M training shapes (bf16 storage, fp32 accumulation): times
// every kernel of one training step with CUDA events (median over iterations), reports the GEMMs' TFLOP/s against
// the device's dense bf16 peak (from train::gpu_dense_bf16_peak_flops; unknown devices: a warning, no fraction),
// and a kernel-sum estimate of one step (12 layers forward + backward, LM head, AdamW) as tokens/s.
// The estimate is NOT an end-to-end training measurement: the GPT model is not wired to CUDA yet (docs/cuda.md).
// Usage: cuda_ops_bench [--batch B] [--seq T] [--iters N] [--json]   (defaults B=16 T=1024 iters=20)
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/cuda/runtime.h"
#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/kernels/cuda/adamw.h"
#include "lm/kernels/cuda/attention.h"
#include "lm/kernels/cuda/convert.h"
#include "lm/kernels/cuda/cross_entropy.h"
#include "lm/kernels/cuda/encoder.h"
#include "lm/kernels/cuda/gelu.h"
#include "lm/kernels/cuda/global_norm.h"
#include "lm/kernels/cuda/layernorm.h"
#include "lm/kernels/cuda/matmul.h"
#include "lm/train/flops.h"

namespace {

using lm::Buffer;
using lm::Device;
using lm::DType;

struct Result {
  std::string name;
  double ms = 0;       // median per call
  double flops = 0;    // per call (GEMMs only)
  int per_step = 0;    // calls per training step
};

// Median time of fn over iters calls (after 2 warm-up calls), each bracketed by events on the thread's stream.
double time_ms(const std::function<void()>& fn, int iters) {
  cudaStream_t s = lm::cuda::stream();
  cudaEvent_t a, b;
  LM_CUDA_CHECK(cudaEventCreate(&a));
  LM_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 2; ++i) fn();
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) {
    LM_CUDA_CHECK(cudaEventRecord(a, s));
    fn();
    LM_CUDA_CHECK(cudaEventRecord(b, s));
    LM_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    LM_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  LM_CUDA_CHECK(cudaEventDestroy(a));
  LM_CUDA_CHECK(cudaEventDestroy(b));
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// A device buffer of n elements of dtype dt filled with small pseudo-random values (weights ~ N(0, 0.02)-like).
Buffer random_device(int64_t n, DType dt, float scale, uint32_t seed) {
  std::vector<float> h(static_cast<size_t>(n));
  uint32_t x = seed * 2654435761u + 1;
  for (auto& v : h) {
    x = x * 1664525u + 1013904223u;
    v = scale * (static_cast<float>(x >> 8) / 16777216.0f - 0.5f);
  }
  Buffer f32(static_cast<size_t>(n) * 4, Device::CUDA);
  lm::copy_bytes(f32.data(), Device::CUDA, h.data(), Device::CPU, f32.size());
  if (dt == DType::F32) return f32;
  Buffer out(static_cast<size_t>(n) * lm::dtype_size(dt), Device::CUDA);
  lm::cuda::convert(dt, out.data(), DType::F32, f32.data(), n);
  lm::device_synchronize(Device::CUDA);
  return out;
}

int run(int argc, char** argv) {
  int64_t B = 16, T = 1024;
  int iters = 20;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> int64_t {
      LM_CHECK(i + 1 < argc, "{} needs a value", a);
      return std::atoll(argv[++i]);
    };
    if (a == "--batch") B = next();
    else if (a == "--seq") T = next();
    else if (a == "--iters") iters = static_cast<int>(next());
    else if (a == "--json") json = true;
    else LM_THROW(lm::ErrorCode::InvalidArgument, "unknown argument {}", a);
  }
  LM_CHECK(B >= 1 && T >= 1 && iters >= 1, "batch, seq and iters must be positive");
  LM_CHECK_AS(lm::ErrorCode::Unsupported, lm::cuda_device_count() > 0, "cuda_ops_bench: no CUDA device");
  cudaDeviceProp prop;
  LM_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  const double peak = lm::train::gpu_dense_bf16_peak_flops(prop.name);

  const DType dt = DType::BF16;
  const int64_t C = 768, NH = 12, L = 12, V = 50304, I = 4 * C, N = B * T, maxT = 1024;
  LM_CHECK(T <= maxT, "--seq {} exceeds 1024", T);
  const float scale = 1.0f / std::sqrt(static_cast<float>(C / NH));
  const size_t e = lm::dtype_size(dt);

  // One layer's worth of weights and activations (every layer has the same shapes and kernels).
  Buffer wte = random_device(V * C, dt, 0.04f, 1), wpe = random_device(maxT * C, dt, 0.04f, 2);
  Buffer w_qkv = random_device(3 * C * C, dt, 0.04f, 3), b_qkv = random_device(3 * C, dt, 0.0f, 4);
  Buffer w_proj = random_device(C * C, dt, 0.04f, 5), b_proj = random_device(C, dt, 0.0f, 6);
  Buffer w_fc = random_device(I * C, dt, 0.04f, 7), b_fc = random_device(I, dt, 0.0f, 8);
  Buffer w_fcp = random_device(C * I, dt, 0.04f, 9), b_fcp = random_device(C, dt, 0.0f, 10);
  Buffer ln_w = random_device(C, dt, 2.0f, 11), ln_b = random_device(C, dt, 0.0f, 12);
  Buffer x = random_device(N * C, dt, 2.0f, 13), res = random_device(N * C, dt, 2.0f, 14);
  Buffer ln(N * C * e, Device::CUDA), qkv = random_device(N * 3 * C, dt, 2.0f, 15), atty(N * C * e, Device::CUDA);
  Buffer att(static_cast<size_t>(B * NH * T * T) * e, Device::CUDA), datt(att.size(), Device::CUDA);
  Buffer fch(N * I * e, Device::CUDA), fch_gelu(N * I * e, Device::CUDA), proj(N * C * e, Device::CUDA);
  Buffer mean(N * 4, Device::CUDA), rstd(N * 4, Device::CUDA);
  Buffer logits(static_cast<size_t>(N * V) * e, Device::CUDA), losses(N * 4, Device::CUDA);
  Buffer d_x(N * C * e, Device::CUDA), d_qkv(N * 3 * C * e, Device::CUDA), d_fch(N * I * e, Device::CUDA);
  Buffer dw_qkv(3 * C * C * e, Device::CUDA), db_qkv(3 * C * e, Device::CUDA), dw_fc(I * C * e, Device::CUDA),
      db_fc(I * e, Device::CUDA), dw_proj(C * C * e, Device::CUDA), db_proj(C * e, Device::CUDA),
      dw_fcp(C * I * e, Device::CUDA), db_fcp(C * e, Device::CUDA), dln_w(C * e, Device::CUDA),
      dln_b(C * e, Device::CUDA), dwte(V * C * e, Device::CUDA), dwpe(maxT * C * e, Device::CUDA);
  std::vector<int32_t> h_ids(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) h_ids[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7919) % 50257);
  Buffer ids(N * 4, Device::CUDA);
  lm::copy_bytes(ids.data(), Device::CUDA, h_ids.data(), Device::CPU, ids.size());
  auto* idp = static_cast<const int32_t*>(ids.data());
  // Parameters of the whole model for the optimizer: fp32 master + moments, bf16 copy and grads.
  const int64_t P = V * C + maxT * C + L * (3 * C * C + 3 * C + C * C + C + I * C + I + C * I + C + 4 * C) + 2 * C;
  Buffer master(P * 4, Device::CUDA), m(P * 4, Device::CUDA), v(P * 4, Device::CUDA);
  Buffer pcopy(P * e, Device::CUDA), grads = random_device(P, dt, 1e-3f, 16);
  float* mp = static_cast<float*>(mean.data());
  float* rp = static_cast<float*>(rstd.data());

  std::vector<Result> rs;
  auto add = [&](const std::string& name, int per_step, double flops, const std::function<void()>& fn) {
    rs.push_back({name, time_ms(fn, iters), flops, per_step});
    if (!json) std::fprintf(stderr, "  %-28s %8.3f ms\n", name.c_str(), rs.back().ms);
  };
  const double n = static_cast<double>(N);
  using namespace lm::cuda;
  add("encoder_forward", 1, 0, [&] { encoder_forward(dt, x.data(), idp, wte.data(), wpe.data(), 0, nullptr, B, T, C); });
  add("layernorm_fused_residual_fwd", 2 * L, 0, [&] {
    fused_residual_layernorm_forward(dt, res.data(), ln.data(), mp, rp, x.data(), proj.data(), ln_w.data(),
                                     ln_b.data(), 1e-5f, N, C);
  });
  add("matmul_qkv_fwd", L, 2 * n * C * 3 * C,
      [&] { matmul_forward(dt, qkv.data(), ln.data(), w_qkv.data(), b_qkv.data(), N, C, 3 * C); });
  add("attention_fwd", L, 4.0 * B * NH * T * T * (C / NH),
      [&] { attention_forward(dt, atty.data(), att.data(), qkv.data(), nullptr, B, T, C, NH, true, scale); });
  add("matmul_attn_proj_fwd", L, 2 * n * C * C,
      [&] { matmul_forward(dt, proj.data(), atty.data(), w_proj.data(), b_proj.data(), N, C, C); });
  add("matmul_fc_gelu_fwd", L, 2 * n * C * I, [&] {
    matmul_gelu_forward(dt, fch_gelu.data(), fch.data(), ln.data(), w_fc.data(), b_fc.data(), N, C, I);
  });
  add("matmul_mlp_proj_fwd", L, 2 * n * I * C,
      [&] { matmul_forward(dt, proj.data(), fch_gelu.data(), w_fcp.data(), b_fcp.data(), N, I, C); });
  add("matmul_lm_head_fwd", 1, 2 * n * C * V,
      [&] { matmul_forward(dt, logits.data(), ln.data(), wte.data(), nullptr, N, C, V); });
  add("cross_entropy_fwd_bwd", 1, 0, [&] {
    cross_entropy_forward_backward(dt, static_cast<float*>(losses.data()), logits.data(), idp, 1.0f / n, -100, N, V);
  });
  add("matmul_lm_head_bwd", 1, 4 * n * C * V,
      [&] { matmul_backward(dt, d_x.data(), dwte.data(), nullptr, logits.data(), ln.data(), wte.data(), N, C, V); });
  add("layernorm_bwd", 2 * L + 1, 0, [&] {
    layernorm_backward(dt, d_x.data(), dln_w.data(), dln_b.data(), proj.data(), res.data(), ln_w.data(), mp, rp, N, C);
  });
  add("matmul_mlp_proj_bwd", L, 4 * n * I * C, [&] {
    matmul_backward(dt, d_fch.data(), dw_fcp.data(), db_fcp.data(), proj.data(), fch_gelu.data(), w_fcp.data(), N, I,
                    C);
  });
  add("gelu_bwd", L, 0, [&] { gelu_backward(dt, d_fch.data(), d_fch.data(), fch.data(), N * I, true); });
  add("matmul_fc_bwd", L, 4 * n * C * I, [&] {
    matmul_backward(dt, d_x.data(), dw_fc.data(), db_fc.data(), d_fch.data(), ln.data(), w_fc.data(), N, C, I);
  });
  add("matmul_attn_proj_bwd", L, 4 * n * C * C, [&] {
    matmul_backward(dt, d_x.data(), dw_proj.data(), db_proj.data(), proj.data(), atty.data(), w_proj.data(), N, C, C);
  });
  add("attention_bwd", L, 8.0 * B * NH * T * T * (C / NH), [&] {
    attention_backward(dt, d_qkv.data(), datt.data(), proj.data(), qkv.data(), att.data(), B, T, C, NH, scale);
  });
  add("matmul_qkv_bwd", L, 4 * n * C * 3 * C, [&] {
    matmul_backward(dt, d_x.data(), dw_qkv.data(), db_qkv.data(), d_qkv.data(), ln.data(), w_qkv.data(), N, C, 3 * C);
  });
  add("encoder_bwd", 1, 0, [&] {
    encoder_backward(dt, dwte.data(), dwpe.data(), d_x.data(), idp, 0, nullptr, B, T, C);
  });
  add("global_norm", 1, 0, [&] { (void)sum_squares_host(dt, grads.data(), P); });
  int64_t step = 0;
  add("adamw", 1, 0, [&] {
    adamw_update(static_cast<float*>(master.data()), pcopy.data(), dt, grads.data(), dt, static_cast<float*>(m.data()),
                 static_cast<float*>(v.data()), P, 6e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, ++step, 1.0f);
  });

  double step_ms = 0, step_flops = 0;
  for (const Result& r : rs) {
    step_ms += r.ms * r.per_step;
    step_flops += r.flops * r.per_step;
  }
  const double tps = n / (step_ms / 1e3);
  if (json) {
    std::printf("{\"device\": \"%s\", \"batch\": %lld, \"seq\": %lld, \"dtype\": \"bf16\", \"peak_tflops\": %.1f, "
                "\"kernel_sum_step_ms\": %.3f, \"kernel_sum_tokens_per_s\": %.1f, \"ops\": [",
                prop.name, static_cast<long long>(B), static_cast<long long>(T), peak / 1e12, step_ms, tps);
    for (size_t i = 0; i < rs.size(); ++i)
      std::printf("%s{\"op\": \"%s\", \"ms\": %.4f, \"per_step\": %d, \"tflops\": %.2f}", i ? ", " : "",
                  rs[i].name.c_str(), rs[i].ms, rs[i].per_step, rs[i].flops > 0 ? rs[i].flops / rs[i].ms / 1e9 : 0.0);
    std::printf("]}\n");
    return 0;
  }
  std::printf("device %s, GPT-2 124M shapes, B=%lld T=%lld, bf16 storage / fp32 accumulation\n", prop.name,
              static_cast<long long>(B), static_cast<long long>(T));
  if (peak <= 0)
    std::printf("warning: %s is not in the dense bf16 peak table; no fraction of peak is printed\n", prop.name);
  std::printf("%-28s %10s %9s %10s %8s\n", "op", "ms/call", "per step", "TFLOP/s", "of peak");
  for (const Result& r : rs) {
    const double tf = r.flops > 0 ? r.flops / r.ms / 1e9 : 0.0;
    std::printf("%-28s %10.3f %9d", r.name.c_str(), r.ms, r.per_step);
    if (r.flops > 0) {
      std::printf(" %10.1f", tf);
      if (peak > 0) std::printf(" %7.1f%%", 100.0 * tf * 1e12 / peak);
    }
    std::printf("\n");
  }
  std::printf("kernel-sum step estimate: %.2f ms -> %.0f tokens/s (%.1f TFLOP/s in GEMMs and attention)\n", step_ms,
              tps, step_flops / step_ms / 1e9);
  if (peak > 0) std::printf("estimated MFU (GEMM+attention FLOPs over the dense bf16 peak): %.1f%%\n",
                            100.0 * step_flops / (step_ms / 1e3) / peak);
  std::printf("note: a sum of isolated kernel timings, not an end-to-end training run (see docs/cuda.md)\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const lm::Error& e) {
    std::fprintf(stderr, "cuda_ops_bench: error: %s\n", e.what());
    return e.is_input_error() ? 2 : 1;
  }
}
