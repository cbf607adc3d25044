// Per-thread CUDA state (stream, cuBLAS/cuBLASLt handles, workspace, scratch) and CUDA error translation.
#include "lm/core/cuda/runtime.h"

#include <string>

namespace lm::cuda {

namespace {

// Strips the source tree prefix so messages read "src/lm/...:42".
const char* short_path(const char* file) {
  std::string_view f(file);
  size_t p = f.rfind("src/lm/");
  return p == std::string_view::npos ? file : file + p;
}

// Owned per thread; destroyed at thread exit. Errors in teardown are ignored: at process exit the runtime may
// already be unloading (cudaErrorCudartUnloading), and a destructor must not throw.
struct ThreadState {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cublasLtHandle_t cublaslt = nullptr;
  void* workspace = nullptr;
  void* scratch = nullptr;
  size_t scratch_bytes = 0;

  ~ThreadState() {
    if (scratch) cudaFree(scratch);
    if (workspace) cudaFree(workspace);
    if (cublaslt) cublasLtDestroy(cublaslt);
    if (cublas) cublasDestroy(cublas);
    if (stream) cudaStreamDestroy(stream);
  }
};

thread_local ThreadState tls;

// Throws Unsupported when no device is usable, before any stream or handle is created: cuBLAS would report a
// missing device as a generic NOT_INITIALIZED (Internal), and a user asking for CUDA on a machine without one made a
// usage error, not hit a runtime failure.
void require_device() {
  thread_local bool ok = false;
  if (ok) return;
  LM_CHECK_AS(ErrorCode::Unsupported, device_count() > 0, "no usable CUDA device (cudaGetDeviceCount reports none)");
  ok = true;
}

}  // namespace

void throw_cuda_error(cudaError_t e, const char* expr, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so later calls are not poisoned by it
  ErrorCode code = ErrorCode::Internal;
  if (e == cudaErrorMemoryAllocation) code = ErrorCode::OutOfMemory;
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver || e == cudaErrorStubLibrary ||
      e == cudaErrorDevicesUnavailable)
    code = ErrorCode::Unsupported;
  LM_THROW(code, "CUDA error {} ({}) in {}, at {}:{}", cudaGetErrorName(e), cudaGetErrorString(e), expr,
           short_path(file), line);
}

void throw_cublas_error(cublasStatus_t s, const char* expr, const char* file, int line) {
  ErrorCode code = s == CUBLAS_STATUS_ALLOC_FAILED ? ErrorCode::OutOfMemory
                   : s == CUBLAS_STATUS_NOT_SUPPORTED ? ErrorCode::Unsupported
                                                       : ErrorCode::Internal;
  LM_THROW(code, "cuBLAS error {} ({}) in {}, at {}:{}", cublasGetStatusName(s), cublasGetStatusString(s), expr,
           short_path(file), line);
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

cudaStream_t stream() {
  require_device();
  if (!tls.stream) LM_CUDA_CHECK(cudaStreamCreateWithFlags(&tls.stream, cudaStreamNonBlocking));
  return tls.stream;
}

cublasHandle_t cublas() {
  require_device();
  if (!tls.cublas) {
    LM_CUBLAS_CHECK(cublasCreate(&tls.cublas));
    LM_CUBLAS_CHECK(cublasSetStream(tls.cublas, stream()));
    // Device-side alpha/beta are never used: scalars come from the host.
    LM_CUBLAS_CHECK(cublasSetPointerMode(tls.cublas, CUBLAS_POINTER_MODE_HOST));
  }
  return tls.cublas;
}

cublasLtHandle_t cublaslt() {
  require_device();
  if (!tls.cublaslt) LM_CUBLAS_CHECK(cublasLtCreate(&tls.cublaslt));
  return tls.cublaslt;
}

void* cublaslt_workspace() {
  require_device();
  if (!tls.workspace) LM_CUDA_CHECK(cudaMalloc(&tls.workspace, kCublasLtWorkspaceBytes));
  return tls.workspace;
}

void* scratch(size_t bytes) {
  require_device();
  if (bytes <= tls.scratch_bytes) return tls.scratch;
  if (tls.scratch) {
    LM_CUDA_CHECK(cudaStreamSynchronize(stream()));
    LM_CUDA_CHECK(cudaFree(tls.scratch));
    tls.scratch = nullptr;
    tls.scratch_bytes = 0;
  }
  // Round up so slowly growing requests do not reallocate every time.
  size_t n = (bytes + (size_t(1) << 20) - 1) & ~((size_t(1) << 20) - 1);
  LM_CUDA_CHECK(cudaMalloc(&tls.scratch, n));
  tls.scratch_bytes = n;
  return tls.scratch;
}

void synchronize() { LM_CUDA_CHECK(cudaStreamSynchronize(stream())); }

}  // namespace lm::cuda
