// Jinja values: construction, Python equality/ordering, str() and repr() (with float repr as Python prints
// it).
#include "lm/tokenize/jinja/value.h"

#include <utf8proc.h>

#include <charconv>
#include <cmath>
#include <cstdio>

#include "lm/tokenize/jinja/errors.h"
#include "lm/tokenize/unicode.h"

namespace lm::jinja {

void Str::append(const Str& o) {
  const bool track = !marks.empty() || !o.marks.empty();
  if (track) marks.resize(text.size(), '\0');
  text += o.text;
  if (track) {
    if (o.marks.empty())
      marks.append(o.text.size(), '\0');
    else
      marks += o.marks;
  }
}

void Str::append(std::string_view s) {
  text += s;
  if (!marks.empty()) marks.resize(text.size(), '\0');
}

void Str::append_marked(std::string_view s, bool marked) {
  const bool track = marked || !marks.empty();
  if (track) marks.resize(text.size(), '\0');
  text += s;
  if (track) marks.append(s.size(), marked ? '\1' : '\0');
}

void Str::normalize() {
  if (!marks.empty() && marks.find('\1') == std::string::npos) marks.clear();
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}
Value Value::boolean(bool b) {
  Value v;
  v.kind_ = Kind::Bool;
  v.b_ = b;
  v.i_ = b ? 1 : 0;
  return v;
}
Value Value::integer(int64_t i) {
  Value v;
  v.kind_ = Kind::Int;
  v.i_ = i;
  return v;
}
Value Value::number(double f) {
  Value v;
  v.kind_ = Kind::Float;
  v.f_ = f;
  return v;
}
Value Value::string(std::string s, bool marked) {
  Str st;
  st.text = std::move(s);
  if (marked && !st.text.empty()) st.marks.assign(st.text.size(), '\1');
  return string(std::move(st));
}
Value Value::string(Str s) {
  Value v;
  v.kind_ = Kind::String;
  s.normalize();
  v.obj_ = std::make_shared<Str>(std::move(s));
  return v;
}
Value Value::list(std::vector<Value> items, bool tuple) {
  auto l = std::make_shared<ListObj>();
  int d = 0;
  for (const auto& it : items) d = std::max(d, it.depth());
  if (d + 1 > kMaxValueDepth) throw EvalError("value nesting too deep");
  l->depth = d + 1;
  l->items = std::move(items);
  l->tuple = tuple;
  Value v;
  v.kind_ = Kind::List;
  v.obj_ = std::move(l);
  return v;
}
Value Value::dict(std::shared_ptr<DictObj> d) {
  int depth = 0;
  for (const auto& [k, it] : d->items) depth = std::max(depth, it.depth());
  if (depth + 1 > kMaxValueDepth) throw EvalError("value nesting too deep");
  d->depth = depth + 1;
  Value v;
  v.kind_ = Kind::Dict;
  v.obj_ = std::move(d);
  return v;
}
Value Value::ns(std::shared_ptr<DictObj> d) {
  Value v;
  v.kind_ = Kind::Namespace;
  v.obj_ = std::move(d);
  return v;
}
Value Value::func(std::shared_ptr<FuncObj> f) {
  Value v;
  v.kind_ = Kind::Func;
  v.obj_ = std::move(f);
  return v;
}
Value Value::loop(std::shared_ptr<LoopObj> l) {
  Value v;
  v.kind_ = Kind::Loop;
  v.obj_ = std::move(l);
  return v;
}
Value Value::undefined(std::string hint, bool security) {
  Value v;
  if (!hint.empty()) {
    auto u = std::make_shared<UndefObj>();
    u->hint = std::move(hint);
    u->security = security;
    v.obj_ = std::move(u);
  }
  return v;
}

bool Value::is_tuple() const { return kind_ == Kind::List && list_obj().tuple; }
bool Value::is_iter() const { return kind_ == Kind::List && list_obj().iter; }
bool Value::is_view() const { return kind_ == Kind::List && !list_obj().view.empty(); }

Value Value::iterator(std::vector<Value> items) {
  Value v = list(std::move(items));
  static_cast<ListObj*>(v.obj_.get())->iter = true;
  return v;
}

Value Value::view(std::vector<Value> items, std::string name) {
  Value v = list(std::move(items));
  static_cast<ListObj*>(v.obj_.get())->view = std::move(name);
  return v;
}
const Str& Value::str() const { return *static_cast<const Str*>(obj_.get()); }
const std::vector<Value>& Value::items() const { return list_obj().items; }
const ListObj& Value::list_obj() const { return *static_cast<const ListObj*>(obj_.get()); }
DictObj& Value::dict_obj() const { return *static_cast<DictObj*>(obj_.get()); }
const FuncObj& Value::func_obj() const { return *static_cast<const FuncObj*>(obj_.get()); }
LoopObj& Value::loop_obj() const { return *static_cast<LoopObj*>(obj_.get()); }
const UndefObj* Value::undef_obj() const {
  return kind_ == Kind::Undefined ? static_cast<const UndefObj*>(obj_.get()) : nullptr;
}

int Value::depth() const {
  if (kind_ == Kind::List) return list_obj().depth;
  if (kind_ == Kind::Dict) return dict_obj().depth;
  return 1;
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return b_;
    case Kind::Int:
      return i_ != 0;
    case Kind::Float:
      return f_ != 0;
    case Kind::String:
      return !str().text.empty();
    case Kind::List:
      return is_iter() || !items().empty();
    case Kind::Dict:
      return !dict_obj().items.empty();
    default:
      return true;
  }
}

const Value* DictObj::find(const Value& key) const {
  for (const auto& [k, v] : items)
    if (py_equal(k, key)) return &v;
  return nullptr;
}

const Value* DictObj::find(std::string_view key) const {
  for (const auto& [k, v] : items)
    if (k.is_string() && k.text() == key) return &v;
  return nullptr;
}

void DictObj::set(const Value& key, Value v) {
  for (auto& [k, old] : items)
    if (py_equal(k, key)) {
      old = std::move(v);
      return;
    }
  items.emplace_back(key, std::move(v));
}

const Value* CallArgs::kwarg(std::string_view name) const {
  for (const auto& [k, v] : kwargs)
    if (k == name) return &v;
  return nullptr;
}

const Value* CallArgs::get(size_t i, std::string_view name) const {
  if (i < args.size()) return &args[i];
  return kwarg(name);
}

bool py_equal(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Kind::Float || b.kind() == Kind::Float) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Kind::Undefined:
    case Kind::None:
      return true;
    case Kind::String:
      return a.text() == b.text();
    case Kind::List: {
      if (a.is_iter() || b.is_iter()) return a.same_object(b);
      if (a.is_tuple() != b.is_tuple() || a.is_view() != b.is_view() || a.items().size() != b.items().size())
        return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!py_equal(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case Kind::Dict: {
      const auto& x = a.dict_obj().items;
      const auto& y = b.dict_obj();
      if (x.size() != y.items.size()) return false;
      for (const auto& [k, v] : x) {
        const Value* o = y.find(k);
        if (!o || !py_equal(v, *o)) return false;
      }
      return true;
    }
    default:
      return a.same_object(b);
  }
}

int py_compare(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.kind() == Kind::Float || b.kind() == Kind::Float) {
      const double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.text().compare(b.text());  // UTF-8 byte order = code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!py_equal(x[i], y[i])) return py_compare(x[i], y[i]);
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  if (a.is_undefined() || b.is_undefined()) throw_undefined(a.is_undefined() ? a : b);
  throw EvalError(std::string("'<' not supported between instances of '") + type_name(a) + "' and '" +
                  type_name(b) + "'");
}

const char* type_name(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::List:
      return v.is_iter() ? "generator" : v.is_view() ? "dict_items" : v.is_tuple() ? "tuple" : "list";
    case Kind::Dict:
      return "dict";
    case Kind::Namespace:
      return "Namespace";
    case Kind::Func:
      return "function";
    case Kind::Loop:
      return "LoopContext";
  }
  return "object";
}

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  // sci = [-]D[.DDD]e(+|-)XX
  std::string out;
  size_t p = 0;
  if (sci[0] == '-') {
    out += '-';
    p = 1;
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (size_t i = p; i < e; ++i)
    if (sci[i] != '.') digits += sci[i];
  const int exp = std::stoi(sci.substr(e + 1));
  const int decpt = exp + 1;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-decpt), '0');
      out += digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out += digits + std::string(decpt - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, decpt) + "." + digits.substr(decpt);
    }
    return out;
  }
  out += digits.substr(0, 1);
  if (digits.size() > 1) {
    out += '.';
    out.append(digits, 1);
  }
  char eb[16];
  std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return out + eb;
}

static bool printable(int32_t cp) {
  if (cp == ' ') return true;
  if (cp < 0x20 || cp == 0x7f) return false;
  if (cp < 0x7f) return true;
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

std::string repr_string(std::string_view s) {
  const bool dq = s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (size_t i = 0; i < s.size();) {
    int len = 1;
    const int32_t cp = unicode::decode_utf8(s, i, len);
    char buf[16];
    if (cp == unicode::kInvalidCodepoint) {
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(s[i]));
      out += buf;
    } else if (cp == '\\' || cp == q) {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (printable(cp)) {
      out.append(s.substr(i, len));
    } else {
      if (cp < 0x100)
        std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      else if (cp < 0x10000)
        std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
      else
        std::snprintf(buf, sizeof(buf), "\\U%08x", cp);
      out += buf;
    }
    i += len;
  }
  out += q;
  return out;
}

static void repr_into(const Value& v, std::string& out, bool* marked);

static void repr_dict_items(const DictObj& d, std::string& out, bool* marked) {
  bool first = true;
  for (const auto& [k, x] : d.items) {
    if (!first) out += ", ";
    first = false;
    repr_into(k, out, marked);
    out += ": ";
    repr_into(x, out, marked);
  }
}

static void repr_into(const Value& v, std::string& out, bool* marked) {
  switch (v.kind()) {
    case Kind::Undefined:
      out += "Undefined";
      return;
    case Kind::String:
      if (marked && v.str().any_marked()) *marked = true;
      out += repr_string(v.text());
      return;
    case Kind::List: {
      if (v.is_iter()) {
        out += "<generator object>";
        return;
      }
      if (v.is_view()) out += v.list_obj().view + "(";
      const bool tuple = v.is_tuple();
      out += tuple ? '(' : '[';
      const auto& it = v.items();
      for (size_t i = 0; i < it.size(); ++i) {
        if (i) out += ", ";
        repr_into(it[i], out, marked);
      }
      if (tuple && it.size() == 1) out += ',';
      out += tuple ? ')' : ']';
      if (v.is_view()) out += ")";
      return;
    }
    case Kind::Dict:
      out += '{';
      repr_dict_items(v.dict_obj(), out, marked);
      out += '}';
      return;
    case Kind::Namespace:
      out += "<Namespace {";
      repr_dict_items(v.dict_obj(), out, marked);
      out += "}>";
      return;
    default:
      out += py_str(v, marked);
      return;
  }
}

std::string py_repr(const Value& v, bool* marked) {
  std::string out;
  repr_into(v, out, marked);
  return out;
}

std::string py_str(const Value& v, bool* marked) {
  switch (v.kind()) {
    case Kind::Undefined:
      return "";
    case Kind::None:
      return "None";
    case Kind::Bool:
      return v.as_bool() ? "True" : "False";
    case Kind::Int:
      return std::to_string(v.as_int());
    case Kind::Float:
      return float_repr(v.as_double());
    case Kind::String:
      if (marked && v.str().any_marked()) *marked = true;
      return v.text();
    case Kind::Func:
      return "<function " + v.func_obj().name + ">";
    case Kind::Loop:
      return "<LoopContext>";
    default:
      return py_repr(v, marked);
  }
}

Str to_str(const Value& v) {
  if (v.is_string()) return v.str();
  bool marked = false;
  Str s;
  s.text = py_str(v, &marked);
  if (marked && !s.text.empty()) s.marks.assign(s.text.size(), '\1');
  return s;
}

bool contains_marked(const Value& v) {
  switch (v.kind()) {
    case Kind::String:
      return v.str().any_marked();
    case Kind::List:
      for (const auto& x : v.items())
        if (contains_marked(x)) return true;
      return false;
    case Kind::Dict:
    case Kind::Namespace:
      for (const auto& [k, x] : v.dict_obj().items)
        if (contains_marked(k) || contains_marked(x)) return true;
      return false;
    default:
      return false;
  }
}

}  // namespace lm::jinja
