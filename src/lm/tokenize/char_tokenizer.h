// Character-level tokenizer (nanoGPT's shakespeare_char): one id per Unicode code point of a vocabulary learned
// from a corpus (sorted by code point). Saved as char_vocab.json {"type": "char", "chars": [...]}. Characters
// outside the vocabulary throw InvalidArgument unless the vocabulary has an "unk" character set; invalid UTF-8
// bytes read as U+FFFD.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "lm/tokenize/tokenizer.h"

namespace lm {

class CharTokenizer final : public Tokenizer {
 public:
  static constexpr const char* kFileName = "char_vocab.json";
  // chars: code points in id order; unk: index of the replacement for unknown characters or -1.
  explicit CharTokenizer(std::vector<int32_t> chars, int32_t unk = -1);
  static std::unique_ptr<CharTokenizer> load(const std::string& path);
  // The sorted set of code points in the texts.
  static std::unique_ptr<CharTokenizer> train(const std::vector<std::string>& texts);

  std::string type() const override { return "char"; }
  int64_t vocab_size() const override { return static_cast<int64_t>(chars_.size()); }
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
  std::optional<int32_t> eos_id() const override { return std::nullopt; }
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  void save(const std::string& dir, int64_t model_max_length = 0) const override;

 private:
  std::vector<int32_t> chars_;
  std::unordered_map<int32_t, int32_t> index_;
  int32_t ascii_[128];
  int32_t unk_ = -1;
};

}  // namespace lm
