// Python formatting: json.dumps as transformers' tojson calls it, printf-style `%`, str.format (the common
// subset), and time.strftime in the C locale.
#include <locale.h>

#include <algorithm>
#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "lm/tokenize/jinja/eval.h"
#include "lm/tokenize/unicode.h"

namespace lm::jinja::pystr {

namespace {

void json_string(const std::string& s, bool ensure_ascii, std::string& out) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    char buf[16];
    if (c < 0x80) {
      switch (c) {
        case '"':
          out += "\\\"";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        default:
          if (c < 0x20) {
            std::snprintf(buf, sizeof(buf), "\\u%04x", c);
            out += buf;
          } else {
            out += static_cast<char>(c);
          }
      }
      ++i;
      continue;
    }
    int len = 1;
    int32_t cp = unicode::decode_utf8(s, i, len);
    if (!ensure_ascii) {
      out.append(s, i, len);
    } else {
      if (cp < 0) cp = 0xFFFD;
      if (cp >= 0x10000) {
        const int32_t v = cp - 0x10000;
        std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
      } else {
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      }
      out += buf;
    }
    i += len;
  }
  out += '"';
}

struct JsonOpts {
  bool indent = false;
  std::string indent_str, item_sep, key_sep;
  bool ensure_ascii = false, sort_keys = false;
};

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return float_repr(d);
}

void dump(const Value& v, const JsonOpts& o, int level, std::string& out, bool* marked) {
  auto newline = [&](int lvl) {
    out += '\n';
    for (int i = 0; i < lvl; ++i) out += o.indent_str;
  };
  switch (v.kind()) {
    case Kind::None:
      out += "null";
      return;
    case Kind::Bool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Kind::Int:
      out += std::to_string(v.as_int());
      return;
    case Kind::Float:
      out += json_float(v.as_double());
      return;
    case Kind::String:
      if (v.str().any_marked()) *marked = true;
      json_string(v.text(), o.ensure_ascii, out);
      return;
    case Kind::List: {
      if (v.is_iter() || v.is_view())
        throw EvalError(std::string("Object of type ") + type_name(v) + " is not JSON serializable");
      const auto& items = v.items();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_sep;
        if (o.indent) newline(level + 1);
        dump(items[i], o, level + 1, out, marked);
      }
      if (o.indent) newline(level);
      out += ']';
      return;
    }
    case Kind::Dict: {
      std::vector<const std::pair<Value, Value>*> items;
      for (const auto& kv : v.dict_obj().items) items.push_back(&kv);
      if (items.empty()) {
        out += "{}";
        return;
      }
      if (o.sort_keys)
        std::stable_sort(items.begin(), items.end(),
                         [](const auto* a, const auto* b) { return py_compare(a->first, b->first) < 0; });
      out += '{';
      bool first = true;
      for (const auto* kv : items) {
        const Value& k = kv->first;
        std::string key;
        if (k.is_string()) {
          if (k.str().any_marked()) *marked = true;
          key = k.text();
        } else if (k.kind() == Kind::Float) {
          key = json_float(k.as_double());
        } else if (k.is_bool()) {
          key = k.as_bool() ? "true" : "false";
        } else if (k.is_int()) {
          key = std::to_string(k.as_int());
        } else if (k.is_none()) {
          key = "null";
        } else {
          throw EvalError(std::string("keys must be str, int, float, bool or None, not ") + type_name(k));
        }
        if (!first) out += o.item_sep;
        first = false;
        if (o.indent) newline(level + 1);
        json_string(key, o.ensure_ascii, out);
        out += o.key_sep;
        dump(kv->second, o, level + 1, out, marked);
      }
      if (o.indent) newline(level);
      out += '}';
      return;
    }
    default:
      throw EvalError(std::string("Object of type ") + type_name(v) + " is not JSON serializable");
  }
}

std::string pad(std::string s, int64_t width, char align, char fill = ' ') {
  const int64_t n = static_cast<int64_t>(unicode::count_codepoints(s));
  if (width <= n) return s;
  const size_t k = static_cast<size_t>(std::min<int64_t>(width - n, 1 << 20));
  if (align == '<') return s + std::string(k, fill);
  if (align == '^') return std::string(k / 2, fill) + s + std::string(k - k / 2, fill);
  return std::string(k, fill) + s;
}

// One conversion of printf formatting (flags, width, precision already parsed).
std::string convert(char conv, const std::string& flags, int64_t width, int64_t prec, const Value& v) {
  const bool left = flags.find('-') != std::string::npos;
  if (conv == 's' || conv == 'r' || conv == 'a') {
    std::string s = conv == 's' ? py_str(v) : py_repr(v);
    if (prec >= 0) {
      const auto cps = codepoints(s);
      if (static_cast<size_t>(prec) < cps.size()) s.resize(cps[static_cast<size_t>(prec)].first);
    }
    return pad(s, width, left ? '<' : '>');
  }
  if (v.is_undefined()) throw_undefined(v);
  if (!v.is_number())
    throw EvalError(std::string("%") + conv + " format: a real number is required, not " + type_name(v));
  std::string spec = "%" + flags;
  if (width >= 0) spec += std::to_string(std::min<int64_t>(width, 1 << 16));
  std::vector<char> bufv(static_cast<size_t>(std::max<int64_t>(width, 0) + std::max<int64_t>(prec, 0) + 400));
  char* buf = bufv.data();
  if (conv == 'd' || conv == 'i' || conv == 'u' || conv == 'x' || conv == 'X' || conv == 'o') {
    if (prec >= 0) spec += "." + std::to_string(std::min<int64_t>(prec, 1 << 15));
    const long long x =
        v.kind() == Kind::Float ? static_cast<long long>(std::trunc(v.as_double())) : v.as_int();
    spec += std::string("ll") + (conv == 'i' || conv == 'u' ? 'd' : conv);
    std::snprintf(buf, bufv.size(), spec.c_str(), x);
    return buf;
  }
  if (conv == 'c') {
    std::string s;
    unicode::append_utf8(s, static_cast<int32_t>(std::clamp<int64_t>(v.as_int(), 0, 0x10FFFF)));
    return pad(s, width, left ? '<' : '>');
  }
  spec += "." + std::to_string(prec >= 0 ? std::min<int64_t>(prec, 1 << 15) : 6) + conv;
  std::snprintf(buf, bufv.size(), spec.c_str(), v.as_double());
  return buf;
}

}  // namespace

std::string json_dumps(const Value& v, const Value& indent, bool ensure_ascii, bool sort_keys,
                       const Value& separators, bool* marked) {
  JsonOpts o;
  o.ensure_ascii = ensure_ascii;
  o.sort_keys = sort_keys;
  if (!indent.is_none() && !indent.is_undefined()) {
    o.indent = true;
    if (indent.is_string())
      o.indent_str = indent.text();
    else if (indent.is_int())
      o.indent_str = std::string(static_cast<size_t>(std::clamp<int64_t>(indent.as_int(), 0, 1 << 10)), ' ');
    else
      throw EvalError(std::string("indent must be an int or a str, not ") + type_name(indent));
  }
  o.item_sep = o.indent ? "," : ", ";
  o.key_sep = ": ";
  if (separators.kind() == Kind::List && !separators.is_iter()) {
    const auto& s = separators.items();
    if (s.size() != 2 || !s[0].is_string() || !s[1].is_string())
      throw EvalError("separators must be a pair of str");
    o.item_sep = s[0].text();
    o.key_sep = s[1].text();
  }
  std::string out;
  dump(v, o, 0, out, marked);
  return out;
}

std::string printf_format(const std::string& fmt, const Value& args) {
  std::vector<Value> pos;
  const Value* mapping = nullptr;
  if (args.is_tuple())
    pos = args.items();
  else if (args.is_dict())
    mapping = &args;
  else
    pos.push_back(args);
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) throw EvalError("incomplete format");
    const Value* arg = nullptr;
    if (fmt[i] == '(') {
      const size_t e = fmt.find(')', i);
      if (e == std::string::npos) throw EvalError("incomplete format key");
      if (!mapping) throw EvalError("format requires a mapping");
      arg = mapping->dict_obj().find(std::string_view(fmt).substr(i + 1, e - i - 1));
      if (!arg) throw EvalError("'" + fmt.substr(i + 1, e - i - 1) + "'");
      i = e + 1;
    }
    std::string flags;
    while (i < fmt.size() && std::string("-+ #0").find(fmt[i]) != std::string::npos) flags += fmt[i++];
    auto number = [&](int64_t& dst) {
      if (i < fmt.size() && fmt[i] == '*') {
        if (next >= pos.size() || !pos[next].is_int()) throw EvalError("* wants int");
        dst = pos[next++].as_int();
        ++i;
        return;
      }
      while (i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9')
        dst = std::min<int64_t>((dst < 0 ? 0 : dst) * 10 + (fmt[i++] - '0'), 1 << 20);
    };
    int64_t width = -1, prec = -1;
    number(width);
    if (i < fmt.size() && fmt[i] == '.') {
      ++i;
      prec = 0;
      number(prec);
    }
    while (i < fmt.size() && (fmt[i] == 'l' || fmt[i] == 'h' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) throw EvalError("incomplete format");
    const char conv = fmt[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (std::string("sradiuoxXeEfFgGc").find(conv) == std::string::npos)
      throw EvalError(std::string("unsupported format character '") + conv + "'");
    if (!arg) {
      if (mapping) {
        arg = mapping;
      } else {
        if (next >= pos.size()) throw EvalError("not enough arguments for format string");
        arg = &pos[next++];
      }
    }
    out += convert(conv, flags, width, prec, *arg);
  }
  if (!mapping && next < pos.size()) throw EvalError("not all arguments converted during string formatting");
  return out;
}

std::string str_format(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      throw EvalError("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t e = fmt.find('}', i);
    if (e == std::string::npos) throw EvalError("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, e - i - 1);
    i = e;
    std::string spec, conv;
    const size_t colon = field.find(':');
    if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    const size_t bang = field.find('!');
    if (bang != std::string::npos) {
      conv = field.substr(bang + 1);
      field.resize(bang);
    }
    const Value* v = nullptr;
    if (field.empty()) {
      if (auto_idx >= args.args.size())
        throw EvalError("Replacement index " + std::to_string(auto_idx) + " out of range");
      v = &args.args[auto_idx++];
    } else if (field.find_first_not_of("0123456789") == std::string::npos) {
      const size_t k = std::stoul(field.substr(0, 9));
      if (k >= args.args.size()) throw EvalError("Replacement index " + field + " out of range");
      v = &args.args[k];
    } else {
      v = args.kwarg(field);
      if (!v) throw EvalError("'" + field + "'");
    }
    std::string s = conv == "r" ? py_repr(*v) : py_str(*v);
    if (!spec.empty()) {
      // [[fill]align][0][width][.precision][type]
      char fill = ' ', align = v->is_number() ? '>' : '<';
      size_t p = 0;
      if (spec.size() >= 2 && std::string("<>^").find(spec[1]) != std::string::npos) {
        fill = spec[0];
        align = spec[1];
        p = 2;
      } else if (!spec.empty() && std::string("<>^").find(spec[0]) != std::string::npos) {
        align = spec[0];
        p = 1;
      }
      if (p < spec.size() && spec[p] == '0') {
        fill = '0';
        align = '>';
        ++p;
      }
      int64_t width = 0, prec = -1;
      while (p < spec.size() && isdigit(static_cast<unsigned char>(spec[p])))
        width = std::min<int64_t>(width * 10 + (spec[p++] - '0'), 1 << 20);
      if (p < spec.size() && spec[p] == '.') {
        ++p;
        prec = 0;
        while (p < spec.size() && isdigit(static_cast<unsigned char>(spec[p])))
          prec = std::min<int64_t>(prec * 10 + (spec[p++] - '0'), 1 << 15);
      }
      const char type = p < spec.size() ? spec[p] : 0;
      if (type && std::string("dfFeEgGxXob%s").find(type) == std::string::npos)
        throw EvalError("unsupported format spec");
      if (type && type != 's')
        s = convert(type == '%' ? 'f' : type, "", -1, prec, *v);
      else if (prec >= 0 && v->is_string())
        s = convert('s', "", -1, prec, *v);
      else if (prec >= 0 && v->kind() == Kind::Float)
        s = convert('g', "", -1, prec, *v);
      s = pad(s, width, align, fill);
    }
    out += s;
  }
  return out;
}

// Python int(str, base) / float(str); false when the text is not a number.
bool parse_int(const std::string& s0, int base, int64_t& out) {
  std::string s;
  for (char c : s0) s += c;
  size_t b = s.find_first_not_of(" \t\n\r\f\v"), e = s.find_last_not_of(" \t\n\r\f\v");
  if (b == std::string::npos) return false;
  s = s.substr(b, e - b + 1);
  bool neg = false;
  size_t i = 0;
  if (s[0] == '+' || s[0] == '-') neg = s[i++] == '-';
  if (base == 0 || base == 16 || base == 8 || base == 2) {
    if (s.size() > i + 1 && s[i] == '0') {
      const char x = static_cast<char>(s[i + 1] | 0x20);
      const int pb = x == 'x' ? 16 : x == 'o' ? 8 : x == 'b' ? 2 : 0;
      if (pb && (base == 0 || base == pb)) {
        base = pb;
        i += 2;
      }
    }
    if (base == 0) base = 10;
  }
  if (i >= s.size()) return false;
  int64_t v = 0;
  bool prev_us = true;
  for (; i < s.size(); ++i) {
    if (s[i] == '_' && !prev_us) {
      prev_us = true;
      continue;
    }
    const char c = static_cast<char>(s[i] | 0x20);
    const int d = (s[i] >= '0' && s[i] <= '9') ? s[i] - '0' : (c >= 'a' && c <= 'z') ? c - 'a' + 10 : 99;
    if (d >= base) return false;
    if (v > (INT64_MAX - d) / base) return false;
    v = v * base + d;
    prev_us = false;
  }
  if (prev_us) return false;
  out = neg ? -v : v;
  return true;
}

bool parse_float(const std::string& s0, double& out) {
  std::string s;
  for (char c : s0)
    if (c != '_') s += c;
  size_t b = s.find_first_not_of(" \t\n\r\f\v"), e = s.find_last_not_of(" \t\n\r\f\v");
  if (b == std::string::npos) return false;
  s = s.substr(b, e - b + 1);
  std::string low = lower(s);
  const std::string body = (low[0] == '+' || low[0] == '-') ? low.substr(1) : low;
  if (body == "inf" || body == "infinity" || body == "nan") {
    out = body == "nan" ? NAN : (low[0] == '-' ? -INFINITY : INFINITY);
    return true;
  }
  if (body.find_first_not_of("0123456789.e+-") != std::string::npos || body.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

std::string strftime(const std::string& fmt, int64_t unix_time) {
  static locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  localtime_r(&t, &tm);
  // Python handles %f itself (microseconds); the clock here has whole seconds.
  std::string f;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] == '%' && i + 1 < fmt.size()) {
      if (fmt[i + 1] == 'f') {
        f += "000000";
        ++i;
        continue;
      }
      f += fmt[i];
      f += fmt[++i];
      continue;
    }
    f += fmt[i];
  }
  f += '\x01';  // so an empty result is told from an error
  std::vector<char> buf(f.size() * 8 + 256);
  while (true) {
    const size_t n = strftime_l(buf.data(), buf.size(), f.c_str(), &tm, c_locale);
    if (n > 0) return std::string(buf.data(), n - 1);
    if (buf.size() > (1u << 22)) throw EvalError("strftime result too long");
    buf.resize(buf.size() * 4);
  }
}

}  // namespace lm::jinja::pystr
