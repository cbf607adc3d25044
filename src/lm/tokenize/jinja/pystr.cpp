// Python str operations on UTF-8 text that keep per-byte provenance marks where bytes are kept (slices,
// strip, split, replace); case mappings go through utf8proc (simple mappings, plus ß -> SS for upper()).
#include <utf8proc.h>

#include <algorithm>

#include "lm/tokenize/jinja/eval.h"
#include "lm/tokenize/jinja/lexer.h"
#include "lm/tokenize/unicode.h"

namespace lm::jinja::pystr {

std::vector<std::pair<size_t, size_t>> codepoints(std::string_view s) {
  std::vector<std::pair<size_t, size_t>> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    int len = 1;
    unicode::decode_utf8(s, i, len);
    out.emplace_back(i, i + len);
    i += len;
  }
  return out;
}

Str substr(const Str& s, size_t begin, size_t end) {
  Str r;
  if (end <= begin) return r;
  r.text = s.text.substr(begin, end - begin);
  if (!s.marks.empty()) {
    r.marks = s.marks.substr(begin, end - begin);
    r.normalize();
  }
  return r;
}

namespace {

bool in_chars(int32_t cp, const std::string* chars) {
  if (!chars) return py_isspace(cp);
  for (size_t i = 0; i < chars->size();) {
    int len = 1;
    if (unicode::decode_utf8(*chars, i, len) == cp) return true;
    i += len;
  }
  return false;
}

bool is_cased(int32_t cp) {
  const auto c = utf8proc_category(cp);
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT;
}

template <class F>
std::string map_cps(std::string_view s, F f) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    int len = 1;
    const int32_t cp = unicode::decode_utf8(s, i, len);
    if (cp < 0)
      out.append(s.substr(i, len));
    else
      f(out, cp);
    i += len;
  }
  return out;
}

void put_upper(std::string& out, int32_t cp) {
  if (cp == 0xDF) {
    out += "SS";
    return;
  }
  unicode::append_utf8(out, utf8proc_toupper(cp));
}
void put_lower(std::string& out, int32_t cp) { unicode::append_utf8(out, utf8proc_tolower(cp)); }
void put_title(std::string& out, int32_t cp) { unicode::append_utf8(out, utf8proc_totitle(cp)); }

}  // namespace

Str strip(const Str& s, const Value* chars, bool left, bool right) {
  const std::string* cs = nullptr;
  if (chars && !chars->is_none()) {
    if (!chars->is_string()) throw EvalError("strip arg must be None or str");
    cs = &chars->text();
  }
  const auto cps = codepoints(s.text);
  size_t b = 0, e = cps.size();
  auto cp_at = [&](size_t k) {
    int len = 1;
    return unicode::decode_utf8(s.text, cps[k].first, len);
  };
  if (left)
    while (b < e && in_chars(cp_at(b), cs)) ++b;
  if (right)
    while (e > b && in_chars(cp_at(e - 1), cs)) --e;
  if (b == e) return Str{};
  return substr(s, cps[b].first, cps[e - 1].second);
}

std::string upper(std::string_view s) { return map_cps(s, put_upper); }
std::string lower(std::string_view s) { return map_cps(s, put_lower); }

std::string title(std::string_view s) {
  bool prev_cased = false;
  return map_cps(s, [&](std::string& out, int32_t cp) {
    if (prev_cased)
      put_lower(out, cp);
    else
      put_title(out, cp);
    prev_cased = is_cased(cp);
  });
}

std::string capitalize(std::string_view s) {
  bool first = true;
  return map_cps(s, [&](std::string& out, int32_t cp) {
    if (first)
      put_title(out, cp);
    else
      put_lower(out, cp);
    first = false;
  });
}

std::string jinja_title(std::string_view s) {
  // re.split(r"([-\s({\[<]+)") then item[0].upper() + item[1:].lower() for each non-empty item.
  auto is_sep = [](int32_t cp) {
    return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || py_isspace(cp);
  };
  std::string out;
  bool at_item_start = true;
  bool prev_sep = false;
  bool first_cp = true;
  for (size_t i = 0; i < s.size();) {
    int len = 1;
    const int32_t cp = unicode::decode_utf8(s, i, len);
    const bool sep = cp >= 0 && is_sep(cp);
    if (first_cp || sep != prev_sep) at_item_start = true;
    if (cp < 0)
      out.append(s.substr(i, len));
    else if (at_item_start)
      put_upper(out, cp);
    else
      put_lower(out, cp);
    at_item_start = false;
    prev_sep = sep;
    first_cp = false;
    i += len;
  }
  return out;
}

Str replace(const Str& s, const std::string& old, const Str& repl, int64_t count) {
  Str out;
  if (count < 0) count = INT64_MAX;
  if (old.empty()) {
    const auto cps = codepoints(s.text);
    int64_t n = 0;
    for (const auto& [b, e] : cps) {
      if (n < count) {
        out.append(repl);
        ++n;
      }
      out.append(substr(s, b, e));
    }
    if (n < count) out.append(repl);
    return out;
  }
  size_t pos = 0;
  int64_t n = 0;
  while (n < count) {
    const size_t f = s.text.find(old, pos);
    if (f == std::string::npos) break;
    out.append(substr(s, pos, f));
    out.append(repl);
    pos = f + old.size();
    ++n;
  }
  out.append(substr(s, pos, s.text.size()));
  return out;
}

std::vector<Str> splitlines(const Str& st, bool keep) {
  std::vector<Str> out;
  size_t b = 0;
  const std::string& t = st.text;
  for (size_t i = 0; i < t.size();) {
    const char c = t[i];
    size_t eol = 0;
    if (c == '\r' && i + 1 < t.size() && t[i + 1] == '\n')
      eol = 2;
    else if (c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == '\x1c' || c == '\x1d' || c == '\x1e')
      eol = 1;
    else if (t.compare(i, 2, "\xc2\x85") == 0)
      eol = 2;
    else if (t.compare(i, 3, "\xe2\x80\xa8") == 0 || t.compare(i, 3, "\xe2\x80\xa9") == 0)
      eol = 3;
    if (eol) {
      out.push_back(substr(st, b, keep ? i + eol : i));
      i += eol;
      b = i;
    } else {
      ++i;
    }
  }
  if (b < t.size()) out.push_back(substr(st, b, t.size()));
  return out;
}

std::vector<Value> split(const Str& s, const Value* sep, int64_t maxsplit, bool from_right) {
  std::vector<Value> out;
  if (maxsplit < 0) maxsplit = INT64_MAX;
  const std::string& t = s.text;
  if (!sep || sep->is_none()) {
    // Runs of whitespace; no empty strings.
    const auto cps = codepoints(t);
    auto ws = [&](size_t k) {
      int len = 1;
      return py_isspace(unicode::decode_utf8(t, cps[k].first, len));
    };
    std::vector<std::pair<size_t, size_t>> words;  // code point index ranges
    if (!from_right) {
      size_t k = 0;
      int64_t n = 0;
      while (k < cps.size()) {
        while (k < cps.size() && ws(k)) ++k;
        if (k >= cps.size()) break;
        if (n == maxsplit) {
          size_t e = cps.size();
          while (e > k && ws(e - 1)) --e;
          words.emplace_back(k, e);
          break;
        }
        size_t j = k;
        while (j < cps.size() && !ws(j)) ++j;
        words.emplace_back(k, j);
        ++n;
        k = j;
      }
    } else {
      size_t k = cps.size();
      int64_t n = 0;
      while (k > 0) {
        while (k > 0 && ws(k - 1)) --k;
        if (k == 0) break;
        if (n == maxsplit) {
          size_t b = 0;
          while (b < k && ws(b)) ++b;
          words.emplace_back(b, k);
          break;
        }
        size_t j = k;
        while (j > 0 && !ws(j - 1)) --j;
        words.emplace_back(j, k);
        ++n;
        k = j;
      }
      std::reverse(words.begin(), words.end());
    }
    for (const auto& [b, e] : words) out.push_back(Value::string(substr(s, cps[b].first, cps[e - 1].second)));
    return out;
  }
  if (!sep->is_string()) throw EvalError(std::string("must be str or None, not ") + type_name(*sep));
  const std::string& p = sep->text();
  if (p.empty()) throw EvalError("empty separator");
  std::vector<std::pair<size_t, size_t>> parts;
  if (!from_right) {
    size_t pos = 0;
    int64_t n = 0;
    while (n < maxsplit) {
      const size_t f = t.find(p, pos);
      if (f == std::string::npos) break;
      parts.emplace_back(pos, f);
      pos = f + p.size();
      ++n;
    }
    parts.emplace_back(pos, t.size());
  } else {
    size_t end = t.size();
    int64_t n = 0;
    while (n < maxsplit && end >= p.size()) {
      const size_t f = t.rfind(p, end - p.size());
      if (f == std::string::npos) break;
      parts.emplace_back(f + p.size(), end);
      end = f;
      ++n;
    }
    parts.emplace_back(0, end);
    std::reverse(parts.begin(), parts.end());
  }
  for (const auto& [b, e] : parts) out.push_back(Value::string(substr(s, b, e)));
  return out;
}

}  // namespace lm::jinja::pystr
