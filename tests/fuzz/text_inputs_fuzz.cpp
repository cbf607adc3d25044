// libFuzzer target: the file-based readers (plain text, JSON Lines, classification TSV/SST, SQuAD JSON) over
// arbitrary bytes, served from an in-memory file (memfd) so no disk I/O is involved.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "lm/core/error.h"
#include "lm/data/task_data.h"
#include "lm/data/text_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static int fd = memfd_create("lm_fuzz", 0);
  if (fd < 0) return 0;
  if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  auto ignore = [](lm::Document&) { return true; };
  try {
    lm::read_text_file(path, lm::TextSplit::PerBlankLine, ignore);
  } catch (const lm::Error&) {
  }
  try {
    lm::read_jsonl_file(path, ignore);
  } catch (const lm::Error&) {
  }
  try {
    lm::read_classification(path);
  } catch (const lm::Error&) {
  }
  try {
    lm::read_qa(path);
  } catch (const lm::Error&) {
  }
  return 0;
}
