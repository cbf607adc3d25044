// libFuzzer target for the server's request parser and text stream: the first byte picks completions or chat,
// the rest is a request body (JSON) turned into prompts and validated sampling options with a small byte-level
// BPE (so text prompts and chat rendering run too). A second pass feeds the bytes through the text stream in
// pieces with stop strings taken from the input and checks its invariants: the emitted text is valid UTF-8 and
// never contains a whole stop string. Only lm::Error may escape the parser.
#include <cstdint>
#include <memory>
#include <string>

#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/generate/openai.h"
#include "lm/generate/session.h"
#include "lm/tokenize/bpe.h"
#include "lm/tokenize/chat_format.h"

namespace {

const lm::Tokenizer& tokenizer() {
  static std::unique_ptr<lm::BpeTokenizer> tok = [] {
    std::vector<std::pair<std::string, int32_t>> vocab;
    for (int b = 0; b < 256; ++b) vocab.push_back({lm::byte_level_encode(std::string(1, static_cast<char>(b))), b});
    vocab.push_back({"<|endoftext|>", 256});
    return std::make_unique<lm::BpeTokenizer>(vocab, std::vector<std::pair<std::string, std::string>>{});
  }();
  return *tok;
}

// The built-in ChatML over that tokenizer.
const lm::ChatFormat& chat_format() {
  static lm::ChatFormat f = [] {
    lm::ChatFormat c;
    c.source.source = lm::chatml_template_source();
    c.source.origin = "built-in ChatML";
    c.source.builtin = true;
    c.tmpl = std::make_shared<const lm::ChatTemplate>(lm::ChatTemplate::parse(c.source.source, c.source.origin));
    c.tok = &tokenizer();
    return c;
  }();
  return f;
}

void check_stream(const std::string& s) {
  // Stop strings: the text up to the first newline, split at '|'.
  const size_t nl = s.find('\n');
  if (nl == std::string::npos || nl == 0) return;
  std::vector<std::string> stops;
  std::string cur;
  for (char c : s.substr(0, nl)) {
    if (c == '|') {
      if (!cur.empty()) stops.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) stops.push_back(cur);
  // Stop strings come from JSON, so they are valid UTF-8; one holding U+FFFD could match the replacement the
  // stream itself writes for invalid bytes. Such cases are not stop strings the server can receive.
  std::erase_if(stops, [](const std::string& st) {
    return lm::generate::sanitize_utf8(st) != st || st.find("\xEF\xBF\xBD") != std::string::npos;
  });
  lm::generate::TextStream ts(stops);
  std::string out;
  bool stopped = false;
  const std::string body = s.substr(nl + 1);
  for (size_t i = 0; i < body.size() && !stopped; i += 1 + (static_cast<unsigned char>(body[i]) % 5))
    out += ts.push(body.substr(i, 1 + (static_cast<unsigned char>(body[i]) % 5)), &stopped);
  if (!stopped) out += ts.finish();
  if (lm::generate::sanitize_utf8(out) != out) __builtin_trap();
  for (const auto& st : stops)
    if (out.find(st) != std::string::npos) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool chat = data[0] & 1;
  const std::string s(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    const lm::Json body = lm::Json::parse(s, nullptr, false);
    if (!body.is_discarded()) lm::generate::parse_request(body, chat, &tokenizer(), 257, &chat_format());
  } catch (const lm::Error&) {
  } catch (const lm::Json::exception&) {
  }
  check_stream(s);
  return 0;
}
