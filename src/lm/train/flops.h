// FLOP accounting and the machine's GEMM peak, for MFU: training FLOPs per token are 6N for the weight matmuls
// (N = non-embedding matmul parameters + the LM head) plus 6·L·T·C for attention (QKᵀ and AV, forward and
// backward, causal counted in full as the PaLM appendix does).
#pragma once

#include <cstdint>
#include <string_view>

#include "lm/models/bert.h"
#include "lm/models/gpt.h"

namespace lm::train {

double gpt_train_flops_per_token(const models::GptConfig& c, int64_t T);
// Forward-only FLOPs per token at context length T (2N + 2·L·T·C).
double gpt_forward_flops_per_token(const models::GptConfig& c, int64_t T);
// BERT pretraining FLOPs per token at sequence length T: 6N over the encoder matmuls, the MLM transform and the
// tied decoder (at head_fraction of the positions: 1 as HF computes it, the masking rate with the sparse head)
// plus 12·L·T·C for bidirectional attention.
double bert_train_flops_per_token(const models::BertConfig& c, int64_t T, double head_fraction = 1.0);
// Best-of-5 FLOP/s of the library's sgemm on a 2048×2048×1024 product with the current thread count (~0.3 s).
double measure_sgemm_peak();

// Dense (no sparsity) bf16 tensor-core peak in FLOP/s, fp32 accumulation, of a GPU named as cudaDeviceProp::name
// ("NVIDIA H200", "NVIDIA H100 80GB HBM3", ...), from the vendors' datasheets (boost clock); 0 when the device is
// not in the table, and then callers warn instead of printing an MFU.
double gpu_dense_bf16_peak_flops(std::string_view device_name);
// fp32 peak without tensor cores (the f32 training mode runs cuBLAS with CUBLAS_COMPUTE_32F, no TF32), same
// table rules: 0 for unknown devices.
double gpu_fp32_peak_flops(std::string_view device_name);

}  // namespace lm::train
