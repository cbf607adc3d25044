// Character classes for the GPT-2 pre-tokenizer: an ASCII table and the utf8proc fallback.
#include "lm/tokenize/pretokenize.h"

namespace lm::detail {

namespace {
constexpr CharClass ascii_class(int c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CharClass::Letter;
  if (c >= '0' && c <= '9') return CharClass::Number;
  if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return CharClass::Space;
  return CharClass::Other;
}
struct AsciiTable {
  CharClass v[128];
  constexpr AsciiTable() : v() {
    for (int c = 0; c < 128; ++c) v[c] = ascii_class(c);
  }
};
constexpr AsciiTable kTable;
}  // namespace

const CharClass kAsciiClass[128] = {
#define LM_ROW(b) kTable.v[b], kTable.v[b + 1], kTable.v[b + 2], kTable.v[b + 3], kTable.v[b + 4], kTable.v[b + 5], \
                  kTable.v[b + 6], kTable.v[b + 7]
    LM_ROW(0),  LM_ROW(8),  LM_ROW(16), LM_ROW(24), LM_ROW(32), LM_ROW(40), LM_ROW(48), LM_ROW(56),
    LM_ROW(64), LM_ROW(72), LM_ROW(80), LM_ROW(88), LM_ROW(96), LM_ROW(104), LM_ROW(112), LM_ROW(120),
#undef LM_ROW
};

CharClass classify_slow(int32_t cp) {
  if (cp == unicode::kInvalidCodepoint) return CharClass::Other;
  if (unicode::is_white_space(cp)) return CharClass::Space;
  if (unicode::is_letter(cp)) return CharClass::Letter;
  if (unicode::is_number(cp)) return CharClass::Number;
  return CharClass::Other;
}

}  // namespace lm::detail
