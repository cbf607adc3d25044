// libFuzzer target for the tokenizer file readers and encoders: the first byte picks which file the rest becomes
// (vocab.json for a BPE with a fixed merges.txt, merges.txt with a fixed vocabulary, vocab.txt, tokenizer.json,
// char_vocab.json); a loaded tokenizer then encodes and decodes the same bytes. Only lm::Error may escape.
#include <unistd.h>

#include <cstdint>
#include <string>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/tokenize/bpe.h"
#include "lm/tokenize/tokenizer.h"

namespace {

std::string dir_for(int mode) {
  std::string d = "/tmp/lmcpp_tokenizer_fuzz_" + std::to_string(::getpid()) + "_" + std::to_string(mode);
  lm::make_dirs(d);
  return d;
}

std::string byte_vocab_json() {
  std::string s = "{";
  for (int b = 0; b < 256; ++b) {
    std::string t = lm::byte_level_encode(std::string(1, static_cast<char>(b)));
    s += lm::Json(t).dump() + ":" + std::to_string(b) + ",";
  }
  return s + "\"ab\":256,\"\\u0120a\":257}";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  int mode = data[0] % 5;
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string dir = dir_for(mode);
  try {
    switch (mode) {
      case 0:
        lm::write_file_atomic(dir + "/vocab.json", body);
        lm::write_file_atomic(dir + "/merges.txt", "#version: 0.2\na b\n");
        break;
      case 1:
        lm::write_file_atomic(dir + "/vocab.json", byte_vocab_json());
        lm::write_file_atomic(dir + "/merges.txt", body);
        break;
      case 2:
        lm::write_file_atomic(dir + "/vocab.txt", body);
        break;
      case 3:
        lm::write_file_atomic(dir + "/tokenizer.json", body);
        break;
      default:
        lm::write_file_atomic(dir + "/char_vocab.json", body);
        break;
    }
    auto tok = lm::load_tokenizer(dir);
    auto ids = tok->encode(body);
    tok->decode(ids);
  } catch (const lm::Error&) {
  }
  return 0;
}
