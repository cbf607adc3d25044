// libFuzzer target: token shard header and payload validation over arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "lm/core/error.h"
#include "lm/data/shard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    lm::validate_shard_memory(data, size, "fuzz");
  } catch (const lm::Error&) {
  }
  return 0;
}
