// Ids of chat renderings: transformers' apply_chat_template(tokenize=True) (special tokens matched anywhere),
// and lmcpp's safe encoding for serving and training (special tokens matched in the template's markup only).
#include <algorithm>

#include "lm/tokenize/bpe.h"
#include "lm/tokenize/chat_template.h"

namespace lm {

namespace {

// Plain stretches are encoded with added-token matching off; one stretch may span markup and content.
struct Piece {
  size_t begin = 0, end = 0;
  int32_t token = -1;  // >= 0: an added token matched in the markup
};

// Appends plain text [b, e), merging with a plain piece just before it.
void push_plain(std::vector<Piece>& out, size_t b, size_t e) {
  if (b == e) return;
  if (!out.empty() && out.back().token < 0 && out.back().end == b)
    out.back().end = e;
  else
    out.push_back({b, e, -1});
}

// Splits the markup [b, e) of text by the added-token matcher, appending pieces.
void split_markup(const AddedTokenMatcher& m, std::string_view text, size_t b, size_t e,
                  std::vector<Piece>& out) {
  auto plain = [&](size_t pb, size_t pe) { push_plain(out, pb, pe); };
  if (m.empty()) {
    plain(b, e);
    return;
  }
  m.split(
      text.substr(b, e - b), [&](size_t pb, size_t pe) { plain(b + pb, b + pe); },
      [&](int32_t id, size_t pb, size_t pe) {
        out.push_back({b + pb, b + pe, id});
      });
}

std::vector<Piece> chat_pieces(const AddedTokenMatcher& m, const ChatRender& r) {
  std::vector<Piece> pieces;
  size_t at = 0;
  for (const ByteSpan& c : r.content) {
    if (c.begin < at || c.end > r.text.size() || c.begin > c.end) continue;  // not sorted/merged: ignore
    split_markup(m, r.text, at, c.begin, pieces);
    push_plain(pieces, c.begin, c.end);
    at = c.end;
  }
  split_markup(m, r.text, at, r.text.size(), pieces);
  return pieces;
}

}  // namespace

std::vector<int32_t> encode_chat_hf(const Tokenizer& tok, const ChatRender& r) {
  return tok.encode(r.text, false);
}

std::vector<int32_t> encode_chat(const Tokenizer& tok, const ChatRender& r, std::vector<ByteSpan>* offsets) {
  std::vector<int32_t> ids;
  if (offsets) offsets->clear();
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tok);
  if (bpe) {
    TokenOffsets off;
    for (const Piece& p : chat_pieces(AddedTokenMatcher(bpe->added_tokens()), r)) {
      if (p.token >= 0) {
        ids.push_back(p.token);
        off.emplace_back(static_cast<int64_t>(p.begin), static_cast<int64_t>(p.end));
        continue;
      }
      const size_t before = off.size();
      bpe->encode_into(std::string_view(r.text).substr(p.begin, p.end - p.begin), ids, &off, false);
      for (size_t i = before; i < off.size(); ++i) {
        off[i].first += static_cast<int64_t>(p.begin);
        off[i].second += static_cast<int64_t>(p.begin);
      }
    }
    if (offsets)
      for (auto& [b, e] : off)
        offsets->push_back(
            {static_cast<size_t>(std::max<int64_t>(b, 0)), static_cast<size_t>(std::max<int64_t>(e, 0))});
    return ids;
  }
  // Other tokenizers (character-level, WordPiece): the content is plain text, the rest is encoded as a whole;
  // offsets from the decoded length of each id (exact for the character tokenizer).
  size_t at = 0;
  auto add = [&](size_t b, size_t e, bool content) {
    if (b >= e) return;
    std::string_view seg = std::string_view(r.text).substr(b, e - b);
    std::vector<int32_t> part = content ? tok.encode_text_only(seg) : tok.encode(seg, false);
    size_t pos = b;
    for (int32_t id : part) {
      const size_t len = tok.decode({id}).size();
      const size_t end = std::min(e, pos + len);
      if (offsets) offsets->push_back({pos, end});
      pos = end;
      ids.push_back(id);
    }
  };
  for (const ByteSpan& c : r.content) {
    if (c.begin < at || c.end > r.text.size() || c.begin > c.end) continue;
    add(at, c.begin, false);
    add(c.begin, c.end, true);
    at = c.end;
  }
  add(at, r.text.size(), false);
  return ids;
}

}  // namespace lm
