// The GPT-2 pre-tokenizer, hand-written: the pieces the regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// finds (leftmost-first alternation, as tiktoken's fancy-regex and HF tokenizers' Oniguruma run it), with \s the
// Unicode White_Space property. Invalid UTF-8 bytes count as one "other" character each (neither \s, \p{L}, \p{N}).
#pragma once

#include <cstdint>
#include <string_view>

#include "lm/tokenize/unicode.h"

namespace lm {

enum class CharClass : uint8_t { Letter, Number, Space, Other };

namespace detail {
extern const CharClass kAsciiClass[128];
CharClass classify_slow(int32_t cp);
}  // namespace detail

// Class of the character at s[i]; len receives its byte length.
inline CharClass char_class_at(std::string_view s, size_t i, int& len) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    len = 1;
    return detail::kAsciiClass[c];
  }
  int32_t cp = unicode::decode_utf8(s, i, len);
  return detail::classify_slow(cp);
}

// Calls emit(begin, end) for each piece of s in order; the pieces tile s exactly.
template <class Emit>
void gpt2_pretokenize(std::string_view s, Emit&& emit) {
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const size_t start = i;
    if (s[i] == '\'' && i + 1 < n) {
      char a = s[i + 1];
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        emit(start, i + 2);
        i += 2;
        continue;
      }
      if (i + 2 < n) {
        char b = s[i + 2];
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
          emit(start, i + 3);
          i += 3;
          continue;
        }
      }
    }
    int len;
    CharClass cls = char_class_at(s, i, len);
    size_t j = i + len;
    if (s[i] == ' ' && j < n) {
      int len1;
      CharClass next = char_class_at(s, j, len1);
      if (next != CharClass::Space) {
        cls = next;
        j += len1;
      }
    }
    if (cls != CharClass::Space) {
      // ` ?\p{L}+`, ` ?\p{N}+` or ` ?[^\s\p{L}\p{N}]+`: extend while the class holds.
      while (j < n) {
        int l;
        if (char_class_at(s, j, l) != cls) break;
        j += l;
      }
      emit(start, j);
      i = j;
      continue;
    }
    // Whitespace run: \s+(?!\S) gives back the last character when a non-space follows; \s+ otherwise.
    size_t last = i;
    while (j < n) {
      int l;
      if (char_class_at(s, j, l) != CharClass::Space) break;
      last = j;
      j += l;
    }
    if (j < n && last > start) j = last;
    emit(start, j);
    i = j;
  }
}

}  // namespace lm
