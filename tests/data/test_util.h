// Helpers shared by the data tests: in-memory bzip2/gzip/zstd compression of fixtures and a tiny byte-level
// tokenizer (id = byte value, eos = 256) standing in for the real tokenizers.
#pragma once

#include <bzlib.h>
#include <zlib.h>
#include <zstd.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "lm/tokenize/tokenizer.h"

namespace lm::test {

inline std::string bz2_compress(std::string_view s) {
  unsigned int cap = static_cast<unsigned int>(s.size() + s.size() / 50 + 1024);
  std::string out(cap, '\0');
  int r = BZ2_bzBuffToBuffCompress(out.data(), &cap, const_cast<char*>(s.data()),
                                   static_cast<unsigned int>(s.size()), 9, 0, 0);
  if (r != BZ_OK) throw std::runtime_error("bz2 compress failed");
  out.resize(cap);
  return out;
}

inline std::string gzip_compress(std::string_view s) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, s.size()) + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  z.avail_in = static_cast<uInt>(s.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("gzip compress failed");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

inline std::string zstd_compress(std::string_view s) {
  std::string out(ZSTD_compressBound(s.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), s.data(), s.size(), 3);
  if (ZSTD_isError(n)) throw std::runtime_error("zstd compress failed");
  out.resize(n);
  return out;
}

// Byte-level tokenizer: every byte is its own id; eos = 256.
class ByteTokenizer : public Tokenizer {
 public:
  std::string type() const override { return "char"; }
  int64_t vocab_size() const override { return 257; }
  std::vector<int32_t> encode(std::string_view text, bool = true) const override {
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = false) const override {
    std::string s;
    for (int32_t id : ids) {
      if (id == 256) {
        if (!skip_special) s += "<|endoftext|>";
      } else {
        s += static_cast<char>(id);
      }
    }
    return s;
  }
  std::optional<int32_t> eos_id() const override { return 256; }
  std::optional<int32_t> token_to_id(std::string_view) const override { return std::nullopt; }
  void save(const std::string&, int64_t = 0) const override {}
};

}  // namespace lm::test
