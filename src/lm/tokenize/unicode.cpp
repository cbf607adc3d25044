// Unicode helpers over utf8proc: categories, White_Space, NFD, lowercase, and a lenient UTF-8 decoder whose
// fast path is plain ASCII.
#include "lm/tokenize/unicode.h"

#include <utf8proc.h>

#include <cstdlib>

#include "lm/core/error.h"

namespace lm::unicode {

int32_t decode_utf8(std::string_view s, size_t i, int& len) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + i;
  size_t left = s.size() - i;
  unsigned char c = p[0];
  len = 1;
  if (c < 0x80) return c;
  int n;
  int32_t cp, min;
  if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return kInvalidCodepoint;
  }
  if (left < static_cast<size_t>(n)) return kInvalidCodepoint;
  for (int k = 1; k < n; ++k) {
    if ((p[k] & 0xC0) != 0x80) return kInvalidCodepoint;
    cp = (cp << 6) | (p[k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return kInvalidCodepoint;
  len = n;
  return cp;
}

void append_utf8(std::string& out, int32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    int len;
    if (decode_utf8(s, i, len) == kInvalidCodepoint) return false;
    i += len;
  }
  return true;
}

std::string to_valid_utf8(std::string_view s) {
  if (is_valid_utf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t i = 0; i < s.size();) {
    int len;
    int32_t cp = decode_utf8(s, i, len);
    if (cp == kInvalidCodepoint)
      append_utf8(out, 0xFFFD);
    else
      out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

size_t count_codepoints(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    int len;
    decode_utf8(s, i, len);
    i += len;
  }
  return n;
}

bool is_white_space(int32_t cp) {
  if (cp < 0x80) return cp == ' ' || (cp >= 0x09 && cp <= 0x0D);
  switch (cp) {
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

static utf8proc_category_t category(int32_t cp) {
  if (cp < 0 || cp > 0x10FFFF) return UTF8PROC_CATEGORY_CN;
  return utf8proc_category(cp);
}

bool is_letter(int32_t cp) {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

bool is_number(int32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO;
}

bool is_punctuation(int32_t cp) {
  auto c = category(cp);
  return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

bool is_mark_nonspacing(int32_t cp) { return category(cp) == UTF8PROC_CATEGORY_MN; }

bool is_uppercase_letter(int32_t cp) {
  if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
  auto c = category(cp);
  return (c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LT) && utf8proc_tolower(cp) != cp;
}

bool is_bert_control(int32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  auto c = category(cp);
  return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CN ||
         c == UTF8PROC_CATEGORY_CO;
}

bool is_cjk_ideograph(int32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

std::string nfd(std::string_view valid_utf8) {
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(valid_utf8.data()),
                                    static_cast<utf8proc_ssize_t>(valid_utf8.size()), &dst, UTF8PROC_DECOMPOSE);
  LM_CHECK_AS(ErrorCode::Internal, n >= 0, "NFD failed: {}, in unicode::nfd", utf8proc_errmsg(n));
  std::string out(reinterpret_cast<char*>(dst), static_cast<size_t>(n));
  std::free(dst);
  return out;
}

void append_decomposition(std::u32string& out, int32_t cp) {
  utf8proc_int32_t buf[32];
  int boundclass = 0;
  utf8proc_ssize_t n = utf8proc_decompose_char(cp, buf, 32, UTF8PROC_DECOMPOSE, &boundclass);
  if (n < 0 || n > 32) {
    out.push_back(static_cast<char32_t>(cp));
    return;
  }
  for (utf8proc_ssize_t i = 0; i < n; ++i) out.push_back(static_cast<char32_t>(buf[i]));
}

int combining_class(int32_t cp) {
  if (cp < 0x300) return 0;
  return utf8proc_get_property(cp)->combining_class;
}

void append_lower(std::string& out, int32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
  } else if (cp == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE: full lowercase is i + U+0307
    out.push_back('i');
    append_utf8(out, 0x307);
  } else {
    append_utf8(out, utf8proc_tolower(cp));
  }
}

}  // namespace lm::unicode
