// CUDA device discovery (built only with LM_CUDA=ON). Callers guard with lm::cuda_compiled().
#pragma once

#include <string>
#include <vector>

namespace lm::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int sm_major = 0, sm_minor = 0;
  size_t total_memory = 0;
};

// Devices visible to the CUDA runtime; empty (never an exception) when no driver or GPU is present.
std::vector<DeviceInfo> list_devices();

}  // namespace lm::cuda
