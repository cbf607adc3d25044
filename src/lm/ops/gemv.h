// Linear layer for a few rows (decoding): out = inp · weightᵀ + bias with weight (OC,C) f32 or bf16 (then f32
// accumulation). Shapes: inp (N,C) (leading dims flattened), weight (OC,C), bias (OC) or undefined, out (N,OC).
// Reads the weights from memory once per call, whatever N (matmul_forward's sgemm is far from the memory
// bandwidth at N=1).
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

void gemv_forward(Tensor out, Tensor inp, Tensor weight, Tensor bias);

}  // namespace lm::ops
