// The Jinja lexer: a hand-written equivalent of jinja2's regex rules (lexer.py) for the default delimiters.
#include "lm/tokenize/jinja/lexer.h"

#include <cmath>
#include <cstdlib>

#include "lm/tokenize/jinja/errors.h"
#include "lm/tokenize/unicode.h"

namespace lm::jinja {

bool py_isspace(int32_t cp) {
  if (cp >= 0x09 && cp <= 0x0d) return true;
  if (cp >= 0x1c && cp <= 0x20) return true;
  if (cp == 0x85 || cp == 0xa0 || cp == 0x1680 || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
      cp == 0x205f || cp == 0x3000)
    return true;
  return cp >= 0x2000 && cp <= 0x200a;
}

namespace {

// Length of the whitespace run (Python \s) starting at i.
size_t ws_run(const std::string& s, size_t i) {
  size_t j = i;
  while (j < s.size()) {
    int len = 1;
    const int32_t cp = unicode::decode_utf8(s, j, len);
    if (!py_isspace(cp)) break;
    j += len;
  }
  return j - i;
}

// Python str.rstrip(): the length of s without trailing whitespace.
size_t rstrip_len(const std::string& s) {
  size_t end = s.size();
  while (end > 0) {
    size_t b = end - 1;
    while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80 && end - b < 4) --b;
    int len = 1;
    const int32_t cp = unicode::decode_utf8(s, b, len);
    if (b + len != end || !py_isspace(cp)) break;
    end = b;
  }
  return end;
}

int count_nl(const std::string& s, size_t a, size_t b) {
  int n = 0;
  for (size_t i = a; i < b; ++i) n += s[i] == '\n';
  return n;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : s_(std::move(src)) {}
  std::vector<Token> run();

 private:
  void root();
  void emit_text(std::string text, char sign, bool is_var);
  bool try_raw(size_t tag);
  void comment(size_t start);
  void tag(bool is_block);
  void tag_token();
  void lex_number();
  void push(Tok t, std::string v) {
    Token tk;
    tk.type = t;
    tk.value = std::move(v);
    tk.line = line_;
    out_.push_back(std::move(tk));
  }
  [[noreturn]] void fail(const std::string& msg) { throw EvalError(msg, line_); }
  // The end of a block tag at pos_ ("+%}", "-%}\s*", "%}\n?"); 0 when none.
  size_t block_end_len(size_t p) const;

  std::string s_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

size_t Lexer::block_end_len(size_t p) const {
  if (s_.compare(p, 3, "+%}") == 0) return 3;
  if (s_.compare(p, 3, "-%}") == 0) return 3 + ws_run(s_, p + 3);
  if (s_.compare(p, 2, "%}") == 0) return 2 + (p + 2 < s_.size() && s_[p + 2] == '\n');
  return 0;
}

void Lexer::emit_text(std::string text, char sign, bool is_var) {
  if (sign == '-') {
    text.resize(rstrip_len(text));
  } else if (sign != '+' && !is_var) {
    const size_t nl = text.rfind('\n');
    const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if ((l_pos > 0 || line_starting_) && l_pos < text.size() && ws_run(text, l_pos) == text.size() - l_pos)
      text.resize(l_pos);
  }
  if (!text.empty()) push(Tok::Data, std::move(text));
}

bool Lexer::try_raw(size_t tag) {
  // {%(-|+|)\s*raw\s*(-%}\s*|%})
  size_t p = tag + 2;
  if (p < s_.size() && (s_[p] == '-' || s_[p] == '+')) ++p;
  p += ws_run(s_, p);
  if (s_.compare(p, 3, "raw") != 0) return false;
  p += 3;
  p += ws_run(s_, p);
  size_t end;
  if (s_.compare(p, 3, "-%}") == 0)
    end = p + 3 + ws_run(s_, p + 3);
  else if (s_.compare(p, 2, "%}") == 0)
    end = p + 2;
  else
    return false;
  const char sign = (s_[tag + 2] == '-' || s_[tag + 2] == '+') ? s_[tag + 2] : 0;
  emit_text(s_.substr(pos_, tag - pos_), sign, false);
  line_ += count_nl(s_, pos_, end);
  // Body up to {%(-|+|)\s*endraw\s*(+%}|-%}\s*|%}\n?)
  size_t q = end;
  while (true) {
    const size_t b = s_.find("{%", q);
    if (b == std::string::npos) fail("Missing end of raw directive");
    size_t r = b + 2;
    char bsign = 0;
    if (r < s_.size() && (s_[r] == '-' || s_[r] == '+')) bsign = s_[r++];
    r += ws_run(s_, r);
    if (s_.compare(r, 6, "endraw") == 0) {
      r += 6;
      r += ws_run(s_, r);
      const size_t el = block_end_len(r);
      if (el) {
        line_starting_ = false;
        const size_t body_line = line_;
        (void)body_line;
        emit_text(s_.substr(end, b - end), bsign, false);
        line_ += count_nl(s_, end, r + el);
        pos_ = r + el;
        line_starting_ = s_[pos_ - 1] == '\n';
        return true;
      }
    }
    q = b + 2;
  }
}

void Lexer::comment(size_t start) {
  // (.*?)(\+#}|\-#}\s*|#}\n?)
  const size_t p = s_.find("#}", start);
  if (p == std::string::npos) fail("Missing end of comment tag");
  size_t end = p + 2;
  if (p > start && s_[p - 1] == '-')
    end += ws_run(s_, end);
  else if (!(p > start && s_[p - 1] == '+') && end < s_.size() && s_[end] == '\n')
    ++end;
  line_ += count_nl(s_, pos_, end);
  pos_ = end;
  line_starting_ = s_[end - 1] == '\n';
}

std::vector<Token> Lexer::run() {
  // Newlines: \r\n, \r and \n all become \n; one trailing newline is dropped.
  std::string n;
  n.reserve(s_.size());
  for (size_t i = 0; i < s_.size(); ++i) {
    if (s_[i] == '\r') {
      n += '\n';
      if (i + 1 < s_.size() && s_[i + 1] == '\n') ++i;
    } else {
      n += s_[i];
    }
  }
  if (!n.empty() && n.back() == '\n') n.pop_back();
  s_ = std::move(n);
  while (pos_ < s_.size()) root();
  push(Tok::Eof, "");
  return std::move(out_);
}

void Lexer::root() {
  size_t t = pos_;
  while (true) {
    t = s_.find('{', t);
    if (t == std::string::npos || t + 1 >= s_.size()) {
      push(Tok::Data, s_.substr(pos_));
      line_ += count_nl(s_, pos_, s_.size());
      pos_ = s_.size();
      return;
    }
    const char c = s_[t + 1];
    if (c == '%' || c == '{' || c == '#') break;
    ++t;
  }
  const char c = s_[t + 1];
  if (c == '%' && try_raw(t)) return;
  char sign = 0;
  if (t + 2 < s_.size() && (s_[t + 2] == '-' || s_[t + 2] == '+')) sign = s_[t + 2];
  emit_text(s_.substr(pos_, t - pos_), sign, c == '{');
  line_ += count_nl(s_, pos_, t);
  line_starting_ = false;
  pos_ = t + 2 + (sign ? 1 : 0);
  if (c == '#') {
    comment(pos_);
  } else {
    push(c == '%' ? Tok::BlockBegin : Tok::VarBegin, "");
    tag(c == '%');
  }
}

void Lexer::tag(bool is_block) {
  std::vector<char> balance;
  while (true) {
    if (pos_ >= s_.size())
      fail(is_block ? "unexpected end of template, expected 'end of statement block'"
                    : "unexpected end of template, expected 'end of print statement'");
    if (balance.empty()) {
      size_t el = 0;
      if (is_block) {
        el = block_end_len(pos_);
      } else if (s_.compare(pos_, 3, "-}}") == 0) {
        el = 3 + ws_run(s_, pos_ + 3);
      } else if (s_.compare(pos_, 2, "}}") == 0) {
        el = 2;
      }
      if (el) {
        push(is_block ? Tok::BlockEnd : Tok::VarEnd, "");
        line_ += count_nl(s_, pos_, pos_ + el);
        pos_ += el;
        line_starting_ = s_[pos_ - 1] == '\n';
        return;
      }
    }
    const size_t ws = ws_run(s_, pos_);
    if (ws) {
      line_ += count_nl(s_, pos_, pos_ + ws);
      pos_ += ws;
      continue;
    }
    const size_t before = out_.size();
    tag_token();
    if (out_.size() > before && out_.back().type == Tok::Op) {
      const std::string& op = out_.back().value;
      if (op == "{" || op == "(" || op == "[") {
        balance.push_back(op == "{" ? '}' : (op == "(" ? ')' : ']'));
      } else if (op == "}" || op == ")" || op == "]") {
        if (balance.empty()) fail("unexpected '" + op + "'");
        if (balance.back() != op[0])
          fail("unexpected '" + op + "', expected '" + std::string(1, balance.back()) + "'");
        balance.pop_back();
      }
    }
  }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

// Python's unicode-escape decoding of a string literal body.
std::string unescape(const std::string& b, int line) {
  std::string out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (b[i] != '\\' || i + 1 >= b.size()) {
      out += b[i];
      continue;
    }
    const char e = b[++i];
    auto hex = [&](int n) {
      int32_t v = 0;
      for (int k = 1; k <= n; ++k) {
        if (i + k >= b.size()) throw EvalError("truncated escape", line);
        const char h = b[i + k];
        int d = is_digit(h)              ? h - '0'
                : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                         : -1;
        if (d < 0) throw EvalError("truncated escape", line);
        v = v * 16 + d;
      }
      i += n;
      return v;
    };
    switch (e) {
      case '\n':
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
        unicode::append_utf8(out, hex(2));
        break;
      case 'u':
      case 'U': {
        int32_t cp = hex(e == 'u' ? 4 : 8);
        if (cp > 0x10FFFF) throw EvalError("illegal Unicode character", line);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate cannot be UTF-8
        unicode::append_utf8(out, cp);
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0';
          for (int k = 0; k < 2 && i + 1 < b.size() && b[i + 1] >= '0' && b[i + 1] <= '7'; ++k)
            v = v * 8 + (b[++i] - '0');
          unicode::append_utf8(out, v);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

// float: digits with a . fraction and/or an exponent (not preceded by '.'); else an integer (decimal without
// leading zeros, 0x/0o/0b), as jinja2's float_re and integer_re.
void Lexer::lex_number() {
  const char c = s_[pos_];
  const int line = line_;
  size_t p = pos_;
  auto digits = [&](size_t q) {
    size_t r = q;
    while (r < s_.size() &&
           (is_digit(s_[r]) || (s_[r] == '_' && r + 1 < s_.size() && is_digit(s_[r + 1]) && r > q)))
      ++r;
    return r;
  };
  p = digits(pos_);
  size_t f = p;
  bool is_float = false;
  if (f < s_.size() && s_[f] == '.' && f + 1 < s_.size() && is_digit(s_[f + 1])) {
    f = digits(f + 1);
    is_float = true;
  }
  if (f < s_.size() && (s_[f] == 'e' || s_[f] == 'E')) {
    size_t g = f + 1;
    if (g < s_.size() && (s_[g] == '+' || s_[g] == '-')) ++g;
    if (g < s_.size() && is_digit(s_[g])) {
      f = digits(g);
      is_float = true;
    }
  }
  const bool after_dot = pos_ > 0 && s_[pos_ - 1] == '.';
  if (is_float && !after_dot) {
    std::string txt;
    for (size_t k = pos_; k < f; ++k)
      if (s_[k] != '_') txt += s_[k];
    Token tk;
    tk.type = Tok::Float;
    tk.value = txt;
    tk.fval = std::strtod(txt.c_str(), nullptr);
    tk.line = line;
    out_.push_back(tk);
    pos_ = f;
    return;
  }
  // integer: decimal (no leading zero except "0"), 0x/0o/0b
  Token tk;
  tk.type = Tok::Integer;
  tk.line = line;
  int base = 10;
  size_t q = pos_;
  if (c == '0' && pos_ + 2 < s_.size() + 1 && pos_ + 1 < s_.size()) {
    const char x = static_cast<char>(s_[pos_ + 1] | 0x20);
    if (x == 'x') base = 16;
    if (x == 'o') base = 8;
    if (x == 'b') base = 2;
  }
  if (base != 10) q += 2;
  uint64_t v = 0;
  size_t r = q;
  bool overflow = false;
  auto digit_of = [&](char h) {
    int d = is_digit(h) ? h - '0' : ((h | 0x20) >= 'a' && (h | 0x20) <= 'f') ? (h | 0x20) - 'a' + 10 : 99;
    return d < base ? d : -1;
  };
  if (base == 10 && c == '0') {
    while (r < s_.size() && (s_[r] == '0' || (s_[r] == '_' && r + 1 < s_.size() && s_[r + 1] == '0'))) ++r;
  } else {
    while (r < s_.size()) {
      if (s_[r] == '_' && r + 1 < s_.size() && digit_of(s_[r + 1]) >= 0 && (r > q || base != 10)) {
        ++r;
        continue;
      }
      const int d = digit_of(s_[r]);
      if (d < 0) break;
      if (v > (UINT64_C(1) << 62)) overflow = true;
      v = v * base + d;
      ++r;
    }
    if (r == q) {  // "0x" with no digits: the integer 0 then a name
      r = pos_ + 1;
      v = 0;
    }
  }
  if (overflow || v > static_cast<uint64_t>(INT64_MAX)) fail("integer literal too large");
  tk.ival = static_cast<int64_t>(v);
  tk.value = s_.substr(pos_, r - pos_);
  out_.push_back(tk);
  pos_ = r;
  return;
}

void Lexer::tag_token() {
  const char c = s_[pos_];
  const int line = line_;
  if (is_digit(c)) {
    lex_number();
    return;
  }
  if (is_name_start(c) || static_cast<unsigned char>(c) >= 0x80) {
    size_t p = pos_;
    while (p < s_.size() &&
           (is_name_start(s_[p]) || is_digit(s_[p]) || static_cast<unsigned char>(s_[p]) >= 0x80)) {
      if (static_cast<unsigned char>(s_[p]) >= 0x80) {
        int len = 1;
        const int32_t cp = unicode::decode_utf8(s_, p, len);
        if (cp < 0 || py_isspace(cp) ||
            !(unicode::is_letter(cp) || unicode::is_number(cp) || unicode::is_mark_nonspacing(cp)))
          break;
        p += len;
      } else {
        ++p;
      }
    }
    if (p == pos_) fail("unexpected char at " + std::to_string(pos_));
    push(Tok::Name, s_.substr(pos_, p - pos_));
    pos_ = p;
    return;
  }
  if (c == '\'' || c == '"') {
    size_t p = pos_ + 1;
    while (p < s_.size() && s_[p] != c) p += (s_[p] == '\\') ? 2 : 1;
    if (p >= s_.size()) fail("unexpected char '" + std::string(1, c) + "'");
    const std::string body = s_.substr(pos_ + 1, p - pos_ - 1);
    Token tk;
    tk.type = Tok::String;
    tk.line = line;
    tk.value = unescape(body, line);
    out_.push_back(std::move(tk));
    line_ += count_nl(s_, pos_, p);
    pos_ = p + 1;
    return;
  }
  static const char* kOps2[] = {"//", "**", "==", "!=", ">=", "<="};
  for (const char* op : kOps2)
    if (s_.compare(pos_, 2, op) == 0) {
      push(Tok::Op, op);
      pos_ += 2;
      return;
    }
  static const std::string kOps1 = "+-/*%~[](){}><=.:|,;";
  if (kOps1.find(c) != std::string::npos) {
    push(Tok::Op, std::string(1, c));
    ++pos_;
    return;
  }
  fail(std::string("unexpected char '") + c + "'");
}

}  // namespace

std::vector<Token> lex(const std::string& source) { return Lexer(source).run(); }

}  // namespace lm::jinja
