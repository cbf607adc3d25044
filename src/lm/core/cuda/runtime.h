// CUDA runtime glue, compiled only with LM_CUDA=ON (never include this from code the CPU build compiles):
// error checks that turn CUDA / cuBLAS status codes into lm::Error with file and line, and the calling thread's
// stream, cuBLAS + cuBLASLt handles (bound to that stream), cuBLASLt workspace and a grow-only scratch buffer.
// Every kernel launch and library call of the backend goes to stream(): work of one thread is ordered, and
// threads never share a stream or a handle (cuBLAS handles are not safe to share across concurrent threads).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "lm/core/error.h"

namespace lm::cuda {

// Throws lm::Error: OutOfMemory for allocation failures, Unsupported when no driver / device is usable,
// Internal otherwise. The message names the failing expression and file:line.
[[noreturn]] void throw_cuda_error(cudaError_t e, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t s, const char* expr, const char* file, int line);

// Number of usable CUDA devices; 0 (never an exception) without a driver or GPU. Clears the sticky error.
int device_count();

// The calling thread's non-blocking stream, created on first use on the current device.
cudaStream_t stream();
// The calling thread's cuBLAS handle (stream set to stream(), default math: no TF32 for fp32) and cuBLASLt handle.
cublasHandle_t cublas();
cublasLtHandle_t cublaslt();
// The calling thread's cuBLASLt workspace (device memory, fixed size).
void* cublaslt_workspace();
constexpr size_t kCublasLtWorkspaceBytes = size_t(32) << 20;
// Device scratch of at least `bytes` for the calling thread: grow-only, reused by the next call, so kernels
// that need temporary space (permuted Q/K/V, reduction partials, sort buffers) allocate only when a larger size
// is first seen (at the first step). Growing synchronises the stream before freeing the old block.
void* scratch(size_t bytes);
// Waits for the calling thread's stream; throws the first asynchronous error.
void synchronize();

}  // namespace lm::cuda

#define LM_CUDA_CHECK(expr)                                                                \
  do {                                                                                     \
    cudaError_t lm_cuda_err_ = (expr);                                                     \
    if (lm_cuda_err_ != cudaSuccess) ::lm::cuda::throw_cuda_error(lm_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define LM_CUBLAS_CHECK(expr)                                                                       \
  do {                                                                                              \
    cublasStatus_t lm_cublas_st_ = (expr);                                                          \
    if (lm_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                                     \
      ::lm::cuda::throw_cublas_error(lm_cublas_st_, #expr, __FILE__, __LINE__);                    \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, execution errors at the next sync.
#define LM_CUDA_CHECK_LAUNCH() LM_CUDA_CHECK(cudaGetLastError())
