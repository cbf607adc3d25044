// encode_one / encode_batch: content ids per sequence, truncation to max_length minus the special tokens the
// template adds, the template, then batch padding.
#include "lm/tokenize/batch.h"

#include <algorithm>

#include "lm/core/error.h"
#include "lm/core/threads.h"
#include "lm/tokenize/bpe.h"
#include "lm/tokenize/wordpiece.h"

namespace lm {

Truncation parse_truncation(const std::string& s) {
  if (s == "longest_first") return Truncation::LongestFirst;
  if (s == "only_first") return Truncation::OnlyFirst;
  if (s == "only_second") return Truncation::OnlySecond;
  if (s == "none" || s.empty()) return Truncation::None;
  LM_THROW(ErrorCode::InvalidArgument, "unknown truncation '{}' (longest_first, only_first, only_second)", s);
}

namespace {

using Offsets = std::vector<std::pair<int64_t, int64_t>>;

void content(const Tokenizer& tok, std::string_view text, bool want_offsets, std::vector<int32_t>& ids,
             Offsets& offs) {
  if (want_offsets && tok.type() == "bpe") {
    static_cast<const BpeTokenizer&>(tok).encode_into(text, ids, &offs);
    return;
  }
  if (want_offsets && tok.type() == "wordpiece") {
    static_cast<const WordPieceTokenizer&>(tok).encode_with_offsets(text, ids, offs);
    return;
  }
  ids = tok.encode(text, false);
  if (want_offsets) {
    LM_CHECK_AS(ErrorCode::Unsupported, tok.type() == "char", "offsets are not supported for {} tokenizers",
                tok.type());
    int64_t pos = 0;
    for (int32_t id : ids) {
      int64_t len = static_cast<int64_t>(tok.decode({id}).size());
      offs.push_back({pos, pos + len});
      pos += len;
    }
  }
}

// Byte offsets -> code point offsets of text (an offset inside a character counts as its start).
void to_char_offsets(std::string_view text, Offsets& offs) {
  if (offs.empty()) return;
  std::vector<int64_t> char_at(text.size() + 1);
  int64_t c = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++c;
    char_at[i + 1] = c;
  }
  // char_at[i]: characters starting before byte i; a character starting at byte i has index char_at[i].
  for (auto& [b, e] : offs) {
    size_t bb = static_cast<size_t>(b), ee = static_cast<size_t>(e);
    int64_t nb = char_at[bb];
    if (bb < text.size() && (static_cast<unsigned char>(text[bb]) & 0xC0) == 0x80) nb = char_at[bb] - 1;
    b = nb;
    e = char_at[ee];
  }
}

void truncate_to(std::vector<int32_t>& ids, Offsets& offs, size_t n) {
  if (ids.size() > n) ids.resize(n);
  if (offs.size() > n) offs.resize(n);
}

}  // namespace

Encoding encode_one(const Tokenizer& tok, std::string_view text, const std::string_view* pair,
                    const EncodeOptions& opt) {
  const bool wp = tok.type() == "wordpiece";
  std::vector<int32_t> a, b;
  Offsets oa, ob;
  content(tok, text, opt.return_offsets, a, oa);
  if (pair) content(tok, *pair, opt.return_offsets, b, ob);
  if (opt.return_offsets && opt.char_offsets) {
    to_char_offsets(text, oa);
    if (pair) to_char_offsets(*pair, ob);
  }
  int32_t cls = -1, sep = -1;
  size_t added = 0;
  if (wp && opt.add_special_tokens) {
    cls = tok.token_to_id("[CLS]").value_or(-1);
    sep = tok.token_to_id("[SEP]").value_or(-1);
    LM_CHECK_AS(ErrorCode::BadFormat, cls >= 0 && sep >= 0, "WordPiece vocabulary lacks [CLS] or [SEP]");
    added = pair ? 3 : 2;
  }
  if (opt.truncation != Truncation::None && opt.max_length > 0) {
    LM_CHECK(static_cast<size_t>(opt.max_length) >= added, "max_length {} is shorter than the {} special tokens",
             opt.max_length, added);
    size_t max_len = static_cast<size_t>(opt.max_length) - added;
    size_t total = a.size() + b.size();
    if (total > max_len) {
      size_t to_remove = total - max_len;
      if (!pair) {
        LM_CHECK(opt.truncation != Truncation::OnlySecond, "truncation error: second sequence not provided");
        truncate_to(a, oa, max_len);
      } else if (opt.truncation == Truncation::LongestFirst) {
        size_t n1 = a.size(), n2 = b.size();
        bool swap = n1 > n2;
        if (swap) std::swap(n1, n2);  // n1 is the shorter
        n2 = n1 > max_len ? n1 : std::max(n1, max_len - n1);
        if (n1 + n2 > max_len) {
          n1 = max_len / 2;
          n2 = n1 + max_len % 2;
        }
        if (swap) std::swap(n1, n2);
        truncate_to(a, oa, n1);
        truncate_to(b, ob, n2);
      } else {
        bool first = opt.truncation == Truncation::OnlyFirst;
        auto& t = first ? a : b;
        LM_CHECK(t.size() > to_remove,
                 "truncation error: the {} sequence is too short to respect max_length {}",
                 first ? "first" : "second", opt.max_length);
        truncate_to(t, first ? oa : ob, t.size() - to_remove);
      }
    }
  }
  Encoding e;
  auto push = [&](int32_t id, int32_t type, std::pair<int64_t, int64_t> off) {
    e.input_ids.push_back(id);
    e.token_type_ids.push_back(type);
    e.attention_mask.push_back(1);
    if (opt.return_offsets) e.offsets.push_back(off);
  };
  if (cls >= 0) push(cls, 0, {0, 0});
  for (size_t i = 0; i < a.size(); ++i) push(a[i], 0, opt.return_offsets ? oa[i] : std::pair<int64_t, int64_t>{});
  if (sep >= 0) push(sep, 0, {0, 0});
  if (pair) {
    for (size_t i = 0; i < b.size(); ++i) push(b[i], 1, opt.return_offsets ? ob[i] : std::pair<int64_t, int64_t>{});
    if (sep >= 0) push(sep, 1, {0, 0});
  }
  return e;
}

BatchEncoding encode_batch(const Tokenizer& tok, const std::vector<std::string>& texts,
                           const std::vector<std::string>* pairs, const EncodeOptions& opt) {
  LM_CHECK(!pairs || pairs->size() == texts.size(), "{} texts but {} pair texts", texts.size(),
           pairs ? pairs->size() : 0);
  BatchEncoding out;
  out.encodings.resize(texts.size());
  parallel_for(
      static_cast<int64_t>(texts.size()),
      [&](int64_t begin, int64_t end, int) {
        for (int64_t i = begin; i < end; ++i) {
          std::string_view p = pairs ? std::string_view((*pairs)[i]) : std::string_view();
          out.encodings[i] = encode_one(tok, texts[i], pairs ? &p : nullptr, opt);
        }
      },
      opt.threads);
  if (opt.padding != Padding::None) {
    size_t len = 0;
    if (opt.padding == Padding::Longest) {
      for (auto& e : out.encodings) len = std::max(len, e.input_ids.size());
    } else {
      LM_CHECK(opt.max_length > 0, "padding to max_length needs max_length > 0");
      len = static_cast<size_t>(opt.max_length);
    }
    if (opt.pad_to_multiple_of > 0 && len % opt.pad_to_multiple_of != 0)
      len += opt.pad_to_multiple_of - len % opt.pad_to_multiple_of;
    int32_t pad = opt.pad_id ? *opt.pad_id : tok.token_to_id("[PAD]").value_or(-1);
    LM_CHECK(pad >= 0, "padding needs a pad token: the vocabulary has no [PAD], set pad_id");
    for (auto& e : out.encodings) {
      while (e.input_ids.size() < len) {
        e.input_ids.push_back(pad);
        e.attention_mask.push_back(0);
        e.token_type_ids.push_back(0);
        if (opt.return_offsets) e.offsets.push_back({0, 0});
      }
    }
  }
  return out;
}

std::vector<std::vector<int32_t>> encode_ids_batch(const Tokenizer& tok, const std::vector<std::string>& texts,
                                                   bool add_special_tokens, int threads) {
  std::vector<std::vector<int32_t>> out(texts.size());
  parallel_for(
      static_cast<int64_t>(texts.size()),
      [&](int64_t begin, int64_t end, int) {
        for (int64_t i = begin; i < end; ++i) out[i] = tok.encode(texts[i], add_special_tokens);
      },
      threads);
  return out;
}

}  // namespace lm
