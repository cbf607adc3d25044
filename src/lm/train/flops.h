// The hardware side of MFU: the machine's sgemm peak and GPU datasheet peaks. (The FLOPs per token of a model
// come from the model: Model::train_flops_per_token.)
#pragma once

#include <cstdint>
#include <string_view>


namespace lm::train {

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
