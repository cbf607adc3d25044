// `lmcpp info`: build facts (version, CUDA compiled, threads, GEMM backend).
#include <cstdio>

#include "command.h"
#include "lm/core/device.h"
#include "lm/core/threads.h"
#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/device_info.h"
#endif

namespace lm::cli {
namespace {

const CommandSpec kInfo{
    .name = "info",
    .summary = "print build and machine facts",
    .description = "Prints the version, whether CUDA is compiled in (and the visible GPUs), the hardware threads "
                   "and the GEMM backend.",
    .flags = {bool_flag("--json", "one JSON object: {\"version\", \"cuda\", \"hardware_threads\", \"gemm\"}")},
};

int run_info(const Flags& f) {
  const bool json = f.on("--json");
  std::string gpus;
#ifdef LM_WITH_CUDA
  for (const auto& d : cuda::list_devices())
    gpus += (gpus.empty() ? "" : ", ") + d.name + " (sm_" + std::to_string(d.sm_major) + std::to_string(d.sm_minor) + ")";
#endif
  if (!json && cuda_compiled()) std::printf("cuda devices: %s\n", gpus.empty() ? "none" : gpus.c_str());
  if (json)
    std::printf("{\"version\": \"%s\", \"cuda\": %s, \"hardware_threads\": %d, \"gemm\": \"oneDNN\"}\n", LM_VERSION,
                cuda_compiled() ? "true" : "false", hardware_threads());
  else
    std::printf("lmcpp %s\ncuda: %s\nhardware threads: %d\ngemm: oneDNN sgemm\n", LM_VERSION,
                cuda_compiled() ? "compiled" : "not compiled", hardware_threads());
  return 0;
}

LM_DECLARE_COMMAND(kInfo, run_info);

}  // namespace
}  // namespace lm::cli
