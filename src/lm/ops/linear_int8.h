// Inference linear layer with int8 weights (per output channel) and dynamically quantized int8 activations (per
// tensor), packed once for oneDNN's AMX / VNNI int8 matmul (kernels/cpu/linear_int8.h has the exact scheme):
// out = dequant(quant(inp) · Wqᵀ) + bias in f32, optionally followed by erf-GELU.
// Shapes as matmul_forward: inp (N,C) with leading dims flattened, weight (OC,C), bias (OC) or undefined.
// CPU tensors only; no backward (training keeps the f32 path).
#pragma once

#include "lm/core/tensor.h"
#include "lm/kernels/cpu/linear_int8.h"

namespace lm::ops {

using PackedLinearInt8 = cpu::PackedLinearInt8;

// Quantizes and packs weight (OC,C) f32 into w.
void pack_linear_int8(PackedLinearInt8& w, Tensor weight);
// out = dequant(quant(inp) · Wqᵀ) + bias; with gelu = true, erf-GELU of that (a oneDNN post-op). The activation
// scale is taken per group of group_rows consecutive rows of inp (<= 0: one scale for all rows), over the rows
// whose row_mask (I32, one value per row of inp, e.g. a (B,T) attention mask) is not 0; row_mask may be undefined.
void linear_int8_forward(Tensor out, Tensor inp, PackedLinearInt8& w, Tensor bias, bool gelu = false,
                         int64_t group_rows = 0, Tensor row_mask = Tensor());
// Whether this CPU has a native int8 matmul (else callers keep f32 and say so).
bool linear_int8_available();
// The weight range: 127 where the CPU has VNNI, 63 where oneDNN's int8 kernels would saturate an int16 pair sum.
inline int linear_int8_weight_qmax() { return cpu::linear_int8_weight_qmax(); }

}  // namespace lm::ops
