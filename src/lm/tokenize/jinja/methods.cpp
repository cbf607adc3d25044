// Methods of str, dict and list values (the non-mutating ones the sandbox allows; mutating ones give an
// undefined that raises SecurityError when called), and loop.cycle/loop.changed.
#include <algorithm>

#include "lm/tokenize/jinja/eval.h"
#include "lm/tokenize/jinja/lexer.h"
#include "lm/tokenize/unicode.h"

namespace lm::jinja {

namespace {

using Fn = std::function<Value(Evaluator&, CallArgs&)>;

Value bound(const std::string& name, Fn fn) {
  auto f = std::make_shared<FuncObj>();
  f->name = name;
  f->fn = std::move(fn);
  return Value::func(f);
}

Value unsafe(const Value& self, const std::string& name) {
  return Value::undefined("access to attribute '" + name + "' of '" + type_name(self) + "' object is unsafe.",
                          true);
}

const Value& need(const CallArgs& a, size_t i, const char* what) {
  if (i >= a.args.size()) throw EvalError(std::string(what) + "() missing required argument");
  return a.args[i];
}

const std::string& need_str(const Value& v, const char* what) {
  if (!v.is_string()) throw EvalError(std::string(what) + "() argument must be str, not " + type_name(v));
  return v.text();
}

int64_t opt_int(const CallArgs& a, size_t i, const char* name, int64_t dflt) {
  const Value* v = a.get(i, name);
  if (!v || v->is_none()) return dflt;
  if (!v->is_int())
    throw EvalError(std::string("'") + type_name(*v) + "' object cannot be interpreted as an integer");
  return v->as_int();
}

// Byte offset of code point index i (clamped like Python slice bounds).
size_t cp_offset(const std::vector<std::pair<size_t, size_t>>& cps, int64_t i, size_t total) {
  const int64_t n = static_cast<int64_t>(cps.size());
  if (i < 0) i = std::max<int64_t>(0, i + n);
  if (i >= n) return total;
  return cps[static_cast<size_t>(i)].first;
}

int64_t cp_index(const std::vector<std::pair<size_t, size_t>>& cps, size_t byte) {
  return std::lower_bound(cps.begin(), cps.end(), std::make_pair(byte, size_t(0))) - cps.begin();
}

bool starts_or_ends(const std::string& s, const Value& x, bool ends) {
  auto one = [&](const std::string& p) {
    if (p.size() > s.size()) return false;
    return ends ? s.compare(s.size() - p.size(), p.size(), p) == 0 : s.compare(0, p.size(), p) == 0;
  };
  if (x.is_string()) return one(x.text());
  if (x.is_tuple()) {
    for (const auto& it : x.items())
      if (one(need_str(it, ends ? "endswith" : "startswith"))) return true;
    return false;
  }
  throw EvalError(std::string(ends ? "endswith" : "startswith") +
                  " first arg must be str or a tuple of str, not " + type_name(x));
}

template <class Pred>
bool all_cps(const std::string& s, Pred p) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size();) {
    int len = 1;
    const int32_t cp = unicode::decode_utf8(s, i, len);
    if (!p(cp)) return false;
    i += len;
  }
  return true;
}

Value string_method(const Value& self, const std::string& name) {
  const Str& s = self.str();
  const std::string& t = s.text;
  const bool marked = s.any_marked();
  auto str_result = [marked](std::string r) { return Value::string(std::move(r), marked); };
  if (name == "strip" || name == "lstrip" || name == "rstrip")
    return bound(name, [self, name](Evaluator&, CallArgs& a) {
      const Value* chars = a.get(0, "chars");
      return Value::string(pystr::strip(self.str(), chars, name != "rstrip", name != "lstrip"));
    });
  if (name == "split" || name == "rsplit")
    return bound(name, [self, name](Evaluator& ev, CallArgs& a) {
      const Value* sep = a.get(0, "sep");
      auto parts = pystr::split(self.str(), sep, opt_int(a, 1, "maxsplit", -1), name == "rsplit");
      ev.charge(static_cast<int64_t>(parts.size()) / 16);
      return Value::list(std::move(parts));
    });
  if (name == "splitlines")
    return bound(name, [self](Evaluator&, CallArgs& a) {
      const bool keep = a.get(0, "keepends") && a.get(0, "keepends")->truthy();
      std::vector<Value> out;
      for (auto& line : pystr::splitlines(self.str(), keep)) out.push_back(Value::string(std::move(line)));
      return Value::list(std::move(out));
    });
  if (name == "startswith" || name == "endswith")
    return bound(name, [t, name](Evaluator&, CallArgs& a) {
      return Value::boolean(starts_or_ends(t, need(a, 0, name.c_str()), name == "endswith"));
    });
  if (name == "replace")
    return bound(name, [self](Evaluator& ev, CallArgs& a) {
      const std::string& old = need_str(need(a, 0, "replace"), "replace");
      const Value& repl = need(a, 1, "replace");
      need_str(repl, "replace");
      const int64_t count = opt_int(a, 2, "count", -1);
      Str r = pystr::replace(self.str(), old, repl.str(), count);
      ev.check_size(r.text.size());
      return Value::string(std::move(r));
    });
  if (name == "upper") return bound(name, [=](Evaluator&, CallArgs&) { return str_result(pystr::upper(t)); });
  if (name == "lower" || name == "casefold")
    return bound(name, [=](Evaluator&, CallArgs&) { return str_result(pystr::lower(t)); });
  if (name == "title") return bound(name, [=](Evaluator&, CallArgs&) { return str_result(pystr::title(t)); });
  if (name == "capitalize")
    return bound(name, [=](Evaluator&, CallArgs&) { return str_result(pystr::capitalize(t)); });
  return Value();
}

// The searching, formatting, joining and classifying methods of str.
Value string_method2(const Value& self, const std::string& name) {
  const Str& s = self.str();
  const std::string& t = s.text;
  const bool marked = s.any_marked();
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex" || name == "count")
    return bound(name, [t, name](Evaluator&, CallArgs& a) {
      const std::string& sub = need_str(need(a, 0, name.c_str()), name.c_str());
      const auto cps = pystr::codepoints(t);
      const int64_t n = static_cast<int64_t>(cps.size());
      int64_t st = opt_int(a, 1, "start", 0), en = opt_int(a, 2, "end", n);
      const size_t b = cp_offset(cps, st, t.size()),
                   e = en < 0 && en + n < 0 ? 0 : cp_offset(cps, en, t.size());
      if (name == "count") {
        if (b > e) return Value::integer(0);
        if (sub.empty()) return Value::integer(cp_index(cps, e) - cp_index(cps, b) + 1);
        int64_t c = 0;
        for (size_t p = t.find(sub, b); p != std::string::npos && p + sub.size() <= e;
             p = t.find(sub, p + sub.size()))
          ++c;
        return Value::integer(c);
      }
      size_t pos = std::string::npos;
      if (b <= e && e - b >= sub.size()) {
        const std::string_view w(t.data() + b, e - b);
        const size_t r = name[0] == 'r' ? w.rfind(sub) : w.find(sub);
        if (r != std::string::npos) pos = b + r;
      }
      if (pos == std::string::npos) {
        if (name == "index" || name == "rindex") throw EvalError("substring not found");
        return Value::integer(-1);
      }
      return Value::integer(cp_index(cps, pos));
    });
  if (name == "format")
    return bound(name, [t, marked](Evaluator&, CallArgs& a) {
      bool m = marked;
      for (const auto& x : a.args) m = m || contains_marked(x);
      for (const auto& [k, x] : a.kwargs) m = m || contains_marked(x);
      return Value::string(pystr::str_format(t, a), m);
    });
  if (name == "join")
    return bound(name, [self](Evaluator& ev, CallArgs& a) {
      Str out;
      bool first = true;
      for (const auto& x : ev.iterate(need(a, 0, "join"))) {
        if (!x.is_string())
          throw EvalError(std::string("sequence item: expected str instance, ") + type_name(x) + " found");
        if (!first) out.append(self.str());
        first = false;
        out.append(x.str());
        ev.check_size(out.text.size());
      }
      return Value::string(std::move(out));
    });
  if (name == "isdigit" || name == "isdecimal" || name == "isnumeric")
    return bound(name, [t](Evaluator&, CallArgs&) {
      return Value::boolean(all_cps(t, [](int32_t c) { return unicode::is_number(c); }));
    });
  if (name == "isalpha")
    return bound(name, [t](Evaluator&, CallArgs&) { return Value::boolean(all_cps(t, unicode::is_letter)); });
  if (name == "isalnum")
    return bound(name, [t](Evaluator&, CallArgs&) {
      return Value::boolean(
          all_cps(t, [](int32_t c) { return unicode::is_letter(c) || unicode::is_number(c); }));
    });
  if (name == "isspace")
    return bound(name, [t](Evaluator&, CallArgs&) { return Value::boolean(all_cps(t, py_isspace)); });
  if (name == "isupper" || name == "islower")
    return bound(name, [t, name](Evaluator&, CallArgs&) {
      const std::string up = pystr::upper(t), lo = pystr::lower(t);
      const bool cased = up != lo;
      return Value::boolean(cased && (name == "isupper" ? t == up : t == lo));
    });
  if (name == "removeprefix" || name == "removesuffix")
    return bound(name, [self, name](Evaluator&, CallArgs& a) {
      const std::string& p = need_str(need(a, 0, name.c_str()), name.c_str());
      const std::string& st = self.text();
      if (name == "removeprefix" && st.compare(0, p.size(), p) == 0)
        return Value::string(pystr::substr(self.str(), p.size(), st.size()));
      if (name == "removesuffix" && !p.empty() && p.size() <= st.size() &&
          st.compare(st.size() - p.size(), p.size(), p) == 0)
        return Value::string(pystr::substr(self.str(), 0, st.size() - p.size()));
      return self;
    });
  return Value();
}

Value dict_method(const Value& self, const std::string& name) {
  if (name == "items" || name == "keys" || name == "values")
    return bound(name, [self, name](Evaluator& ev, CallArgs&) {
      std::vector<Value> out;
      for (const auto& [k, v] : self.dict_obj().items) {
        if (name == "items")
          out.push_back(Value::list({k, v}, true));
        else
          out.push_back(name == "keys" ? k : v);
      }
      ev.charge(static_cast<int64_t>(out.size()) / 16);
      return Value::view(std::move(out), "dict_" + name);
    });
  if (name == "get")
    return bound(name, [self](Evaluator&, CallArgs& a) {
      const Value& k = need(a, 0, "get");
      if (const Value* v = self.dict_obj().find(k)) return *v;
      return a.args.size() > 1 ? a.args[1] : Value::none();
    });
  if (name == "copy")
    return bound(name, [self](Evaluator&, CallArgs&) {
      auto d = std::make_shared<DictObj>(self.dict_obj());
      return Value::dict(d);
    });
  if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" || name == "clear" ||
      name == "fromkeys")
    return unsafe(self, name);
  return Value();
}

Value list_method(const Value& self, const std::string& name) {
  if (name == "index" || name == "count")
    return bound(name, [self, name](Evaluator&, CallArgs& a) {
      const Value& x = need(a, 0, name.c_str());
      int64_t c = 0;
      const auto& it = self.items();
      for (size_t i = 0; i < it.size(); ++i)
        if (py_equal(it[i], x)) {
          if (name == "index") return Value::integer(static_cast<int64_t>(i));
          ++c;
        }
      if (name == "index") throw EvalError(py_repr(x) + " is not in list");
      return Value::integer(c);
    });
  if (name == "copy" && !self.is_tuple())
    return bound(name, [self](Evaluator&, CallArgs&) { return Value::list(self.items()); });
  if (!self.is_tuple() && (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
                           name == "remove" || name == "reverse" || name == "sort" || name == "clear"))
    return unsafe(self, name);
  return Value();
}

Value loop_method(const Value& self, const std::string& name) {
  if (name == "cycle")
    return bound(name, [self](Evaluator&, CallArgs& a) {
      if (a.args.empty()) throw EvalError("no items for cycling given");
      return a.args[static_cast<size_t>(self.loop_obj().index0) % a.args.size()];
    });
  if (name == "changed")
    return bound(name, [self](Evaluator&, CallArgs& a) {
      LoopObj& l = self.loop_obj();
      const Value v = Value::list(a.args);
      if (l.has_changed && py_equal(l.last_changed, v)) return Value::boolean(false);
      l.has_changed = true;
      l.last_changed = v;
      return Value::boolean(true);
    });
  return Value::undefined("'LoopContext object' has no attribute '" + name + "'");
}

}  // namespace

Value Evaluator::method(const Value& self, const std::string& name) {
  switch (self.kind()) {
    case Kind::String: {
      Value m = string_method(self, name);
      return m.is_undefined() ? string_method2(self, name) : m;
    }
    case Kind::Dict:
      return dict_method(self, name);
    case Kind::List:
      if (self.is_view() || self.is_iter()) return Value();
      return list_method(self, name);
    case Kind::Loop:
      return loop_method(self, name);
    default:
      return Value();
  }
}

}  // namespace lm::jinja
