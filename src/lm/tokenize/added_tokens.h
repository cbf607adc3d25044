// Added (special) tokens such as <|endoftext|> and [CLS], matched in the raw text before pre-tokenization as
// HF tokenizers' AddedVocabulary does: leftmost match, longest on ties; lstrip/rstrip absorb neighbouring
// whitespace. Matching is on the raw text (HF's normalized=true matching on normalized text is not modelled).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lm {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = true;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  explicit AddedTokenMatcher(std::vector<AddedToken> tokens);
  bool empty() const { return tokens_.empty(); }
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // Calls on_text(begin, end) for each plain stretch (possibly none) and on_token(id, begin, end) for each match,
  // in order.
  void split(std::string_view text, const std::function<void(size_t, size_t)>& on_text,
             const std::function<void(int32_t, size_t, size_t)>& on_token) const;

 private:
  std::vector<AddedToken> tokens_;
};

}  // namespace lm
