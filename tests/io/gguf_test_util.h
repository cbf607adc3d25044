// Helpers of the GGUF tests: a little-endian byte builder for hand-made file images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lm/io/gguf.h"

namespace lm::test {

struct Img {
  std::vector<uint8_t> b;
  Img& u8(uint8_t v) { return raw(&v, 1); }
  Img& u32(uint32_t v) { return raw(&v, 4); }
  Img& u64(uint64_t v) { return raw(&v, 8); }
  Img& f32(float v) { return raw(&v, 4); }
  Img& str(const std::string& s) { return u64(s.size()).raw(s.data(), s.size()); }
  Img& raw(const void* p, size_t n) {
    b.insert(b.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
    return *this;
  }
  Img& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
  // Zero padding up to the next multiple of a.
  Img& pad(size_t a) { return zeros((a - b.size() % a) % a); }
};

inline GgufFile open_mem(const std::vector<uint8_t>& b, const std::string& name = "mem.gguf") {
  return GgufFile::from_memory(b, name);
}

}  // namespace lm::test
