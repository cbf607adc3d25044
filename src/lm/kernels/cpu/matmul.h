// Fast fp32 linear layer: out (N,OC) = inp (N,C) · weight (OC,C)ᵀ + bias (OC, may be null), via cpu::sgemm.
#pragma once

#include <cstdint>

namespace lm::cpu {

void matmul_forward(float* out, const float* inp, const float* weight, const float* bias, int64_t N,
                    int64_t C, int64_t OC);
// Accumulates dinp (N,C) += dout · W, dweight (OC,C) += doutᵀ · inp, dbias (OC) += Σ_n dout; null skips.
// overwrite_dinp: dinp = dout · W instead (beta 0: dinp is never read). overwrite_dweight: dweight = doutᵀ · inp
// and dbias = Σ_n dout (the first backward after zero_grad: no zeroing pass, no read of the old values).
void matmul_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, int64_t N, int64_t C, int64_t OC, bool overwrite_dinp = false,
                     bool overwrite_dweight = false);

}  // namespace lm::cpu
