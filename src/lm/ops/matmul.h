// Linear layer: out = inp · weightᵀ + bias, weight (OC, C) as nn.Linear.
// Shapes: inp (N,C) (leading dims flattened), weight (OC,C), bias (OC) or undefined, out (N,OC).
// GEMMs go through one wrapper (kernels/cpu/gemm) over oneDNN's sgemm.
#pragma once

#include "lm/core/tensor.h"

namespace lm::ops {

void matmul_forward(Tensor out, Tensor inp, Tensor weight, Tensor bias);
// Accumulates: dinp += dout · W, dweight += doutᵀ · inp, dbias += Σ_rows dout. Any of dinp/dweight/dbias may be
// undefined to skip it. overwrite_dinp: dinp = dout · W (its old contents are ignored: no zeroing pass first).
// overwrite_dweight: dweight = doutᵀ · inp and dbias = Σ_rows dout, likewise (the first backward into freshly
// "zeroed" gradients).
void matmul_backward(Tensor dinp, Tensor dweight, Tensor dbias, Tensor dout, Tensor inp, Tensor weight,
                     bool overwrite_dinp = false, bool overwrite_dweight = false);

// Plain row-major GEMM on f32 tensors: C = alpha * op(A) · op(B) + beta * C (A (M,K) or (K,M) when trans_a, ...).
void gemm(Tensor c, Tensor a, Tensor b, bool trans_a, bool trans_b, float alpha = 1.0f, float beta = 0.0f);

// Columns [begin, begin + n) of a 2-D row-major tensor (n < 0: to the last column).
struct Cols {
  int64_t begin = 0, n = -1;
};
// gemm over column blocks: a, b and c stand for the blocks ca, cb, cc of the 2-D tensors (the leading dimension
// stays each tensor's full row length). LoRA adds into the rows of a fused output that one module owns. CPU.
void gemm_cols(Tensor c, Cols cc, Tensor a, Cols ca, Tensor b, Cols cb, bool trans_a, bool trans_b,
               float alpha = 1.0f, float beta = 0.0f);

}  // namespace lm::ops
