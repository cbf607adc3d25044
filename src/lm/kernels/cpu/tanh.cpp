// fp32 tanh: libm tanhf (correctly rounded to ~1 ulp) on static per-thread chunks. Its only user, the BERT
// pooler, sees (B,C) values, so accuracy matters more than vectorisation here.
#include "lm/kernels/cpu/tanh.h"

#include <omp.h>

#include <cmath>

#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

void tanh_forward(float* out, const float* inp, int64_t n) {
  sync_thread_count();
#pragma omp parallel if (n > 65536)
  {
    int64_t b, e;
    static_chunk(n, omp_get_thread_num(), omp_get_num_threads(), 16, &b, &e);
    for (int64_t i = b; i < e; ++i) out[i] = std::tanh(inp[i]);
  }
}

void tanh_backward(float* dinp, const float* dout, const float* out, int64_t n) {
  sync_thread_count();
#pragma omp parallel if (n > 65536)
  {
    int64_t b, e;
    static_chunk(n, omp_get_thread_num(), omp_get_num_threads(), 16, &b, &e);
    for (int64_t i = b; i < e; ++i) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
  }
}

}  // namespace lm::cpu
