// libFuzzer target: wikitext cleaner on arbitrary markup (linear-time passes, bounded recursion).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lm/data/wikitext.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lm::clean_wikitext(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
