// Inference linear layer with bf16 weights packed once for oneDNN's AMX / AVX512_BF16 matmul
// (kernels/cpu/linear_bf16.h): out = bf16(inp) · bf16(weight)ᵀ + bias, f32 accumulation and output.
// Shapes as matmul_forward: inp (N,C) with leading dims flattened, weight (OC,C), bias (OC) or undefined.
// CPU tensors only; no backward (training keeps the f32 path).
#pragma once

#include "lm/core/tensor.h"
#include "lm/kernels/cpu/linear_bf16.h"

namespace lm::ops {

using PackedLinearBf16 = cpu::PackedLinearBf16;

// Packs weight (OC,C) f32 into w.
void pack_linear_bf16(PackedLinearBf16& w, Tensor weight);
void linear_bf16_forward(Tensor out, Tensor inp, PackedLinearBf16& w, Tensor bias);
// Feed-forward pair without the f32 intermediate: mid (N,OC) bf16 (uint16 bit patterns, a U16 tensor) =
// bf16(gelu_erf(inp · w1ᵀ + b1)), then out = mid · w2ᵀ + b2 in f32 (GELU as a oneDNN post-op).
void linear_bf16_gelu_forward(Tensor mid, Tensor inp, PackedLinearBf16& w1, Tensor b1);
void linear_bf16_from_bf16_forward(Tensor out, Tensor mid, PackedLinearBf16& w2, Tensor b2);
// Whether this CPU has a native bf16 matmul (else callers keep f32 and say so).
bool linear_bf16_available();

}  // namespace lm::ops
