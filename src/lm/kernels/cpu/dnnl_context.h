// The process's oneDNN CPU engine and stream, shared by the primitive-based kernels (linear_bf16, linear_int8).
// Only kernels/cpu includes oneDNN headers.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace lm::cpu {

struct DnnlContext {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
};

inline DnnlContext& dnnl_ctx() {
  static DnnlContext d;
  return d;
}

}  // namespace lm::cpu
