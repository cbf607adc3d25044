// AddedTokenMatcher: repeated leftmost-longest search over the few added tokens with cached next positions.
#include "lm/tokenize/added_tokens.h"

#include <algorithm>

#include "lm/tokenize/unicode.h"

namespace lm {

AddedTokenMatcher::AddedTokenMatcher(std::vector<AddedToken> tokens) {
  for (auto& t : tokens)
    if (!t.content.empty()) tokens_.push_back(std::move(t));
}

namespace {
// Byte length of the whitespace run ending at `end` (searching back to `floor`) / starting at `begin`.
size_t ws_before(std::string_view s, size_t floor, size_t end) {
  size_t p = end;
  while (p > floor) {
    size_t q = p - 1;
    while (q > floor && (static_cast<unsigned char>(s[q]) & 0xC0) == 0x80) --q;
    int len;
    int32_t cp = unicode::decode_utf8(s, q, len);
    if (q + len != p || cp == unicode::kInvalidCodepoint || !unicode::is_white_space(cp)) break;
    p = q;
  }
  return end - p;
}
size_t ws_after(std::string_view s, size_t begin) {
  size_t p = begin;
  while (p < s.size()) {
    int len;
    int32_t cp = unicode::decode_utf8(s, p, len);
    if (cp == unicode::kInvalidCodepoint || !unicode::is_white_space(cp)) break;
    p += len;
  }
  return p - begin;
}
}  // namespace

void AddedTokenMatcher::split(std::string_view text, const std::function<void(size_t, size_t)>& on_text,
                              const std::function<void(int32_t, size_t, size_t)>& on_token) const {
  if (tokens_.empty()) {
    if (!text.empty()) on_text(0, text.size());
    return;
  }
  std::vector<size_t> next(tokens_.size());
  for (size_t k = 0; k < tokens_.size(); ++k) next[k] = text.find(tokens_[k].content);
  size_t pos = 0;
  while (true) {
    size_t best = std::string_view::npos, best_k = 0;
    for (size_t k = 0; k < tokens_.size(); ++k) {
      if (next[k] != std::string_view::npos && next[k] < pos) next[k] = text.find(tokens_[k].content, pos);
      if (next[k] == std::string_view::npos) continue;
      if (best == std::string_view::npos || next[k] < best ||
          (next[k] == best && tokens_[k].content.size() > tokens_[best_k].content.size())) {
        best = next[k];
        best_k = k;
      }
    }
    if (best == std::string_view::npos) break;
    const AddedToken& t = tokens_[best_k];
    size_t b = best, e = best + t.content.size();
    if (t.lstrip) b -= ws_before(text, pos, b);
    if (t.rstrip) e += ws_after(text, e);
    if (b > pos) on_text(pos, b);
    on_token(t.id, b, e);
    pos = e;
  }
  if (pos < text.size()) on_text(pos, text.size());
}

}  // namespace lm
