// Whether this build carries the CUDA backend.
#include "lm/core/device.h"

namespace lm {

bool cuda_compiled() {
#ifdef LM_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace lm
