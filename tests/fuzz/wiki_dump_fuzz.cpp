// libFuzzer target: MediaWiki XML dump reader (any compression) and the wikitext cleaner on every page.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lm/core/error.h"
#include "lm/data/wiki_dump.h"
#include "lm/data/wikitext.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    lm::WikiDumpOptions opt;
    opt.max_page_bytes = 1 << 20;
    lm::read_wiki_dump_memory(
        std::string_view(reinterpret_cast<const char*>(data), size), "fuzz",
        [](const lm::WikiPage& p, const lm::WikiDumpStats&) {
          lm::clean_wikitext(p.text);
          return true;
        },
        opt);
  } catch (const lm::Error&) {
  }
  return 0;
}
