// nn::Lora — the LoRA decorator of a linear layer (Hu et al. 2021; HF PEFT's lora.Linear):
//   out[:, rows of module m] += scale_m · (dropout(x) · A_mᵀ) · B_mᵀ,  scale = alpha / r (rsLoRA: alpha / √r).
// A layer carries a LoraLayer through nn::Linear::lora; linear_forward / linear_backward run it after the base
// matmul, so a model never tests for adapters. One layer may hold several modules over disjoint row blocks of
// its output (BERT's query / key / value are row blocks of one fused (3C, C) matrix); a module over the whole
// output is one block (GPT-2's c_attn). The base weight's own gradient is the model's business (frozen: none).
// Shapes: x (N, in) (leading dims flattened), A (r, in), B (rows, r), out (N, OC), h = dropout(x)·Aᵀ (N, r).
#pragma once

#include <cstdint>
#include <vector>

#include "lm/core/tensor.h"

namespace lm::nn {

// What one forward of the whole model shares: training (dropout on, h kept for backward) and the Philox seed and
// step stream the dropout masks come from (module i of step s draws stream s · num_modules + i).
struct LoraRun {
  bool training = false;
  uint64_t seed = 0, stream = 0;
  int64_t num_modules = 0;
};

// One adapted module: rows [row0, row0 + B.dim(0)) of the layer's output.
struct LoraModule {
  Tensor a, b;          // (r, in), (rows, r): PEFT's lora_A.weight, lora_B.weight
  Tensor ga, gb;        // their gradients (undefined when the adapter is not trained)
  int64_t row0 = 0;
  float scale = 1.0f;   // alpha / r, or alpha / sqrt(r)
  float dropout = 0.0f; // on the module's input, training only
  int64_t index = 0;    // dropout stream among the run's modules
  std::vector<float> h; // (N, r) of the last training forward, for backward
};

struct LoraLayer {
  std::vector<LoraModule> modules;
  const LoraRun* run = nullptr;  // null: inference (no dropout, nothing kept)
};

// out (N, OC) += every module's term. Profiled as Op::MatmulFwd by the caller.
void lora_forward(LoraLayer& l, Tensor out, Tensor inp);
// Backward of the last training forward, with dh = scale · dout_m · B (N, r): dinp (N, in) += dropout'(dh · A),
// gb += scale · dout_mᵀ · h, ga += dhᵀ · dropout(x) (gradients accumulate; undefined ones and dinp are skipped).
void lora_backward(LoraLayer& l, Tensor dinp, Tensor dout, Tensor inp);

}  // namespace lm::nn
