// Device: where a tensor's memory lives. CPU always; CUDA only in builds with LM_CUDA=ON.
#pragma once

#include <string_view>

namespace lm {

enum class Device : uint8_t { CPU, CUDA };

inline std::string_view device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

// True when this build includes the CUDA backend (LM_CUDA=ON); the device may still be absent at run time.
bool cuda_compiled();

}  // namespace lm
