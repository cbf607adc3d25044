// jinja2's builtin tests (tests.py) and the globals a chat template sees: range, dict, namespace (jinja2) and
// raise_exception, strftime_now (transformers).
#include <ctime>
#include <unordered_map>

#include "lm/tokenize/jinja/eval.h"

namespace lm::jinja {

namespace {

using TestFn = bool (*)(Evaluator&, const Value&, CallArgs&);

const Value& other(const CallArgs& a, const char* test) {
  if (a.args.empty()) throw EvalError(std::string("test '") + test + "' needs an argument");
  return a.args[0];
}

Value mod2(Evaluator& ev, const Value& v) { return ev.binary("%", v, Value::integer(2)); }

bool t_defined(Evaluator&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(Evaluator&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(Evaluator&, const Value& v, CallArgs&) { return v.is_none(); }
bool t_boolean(Evaluator&, const Value& v, CallArgs&) { return v.is_bool(); }
bool t_true(Evaluator&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool t_false(Evaluator&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool t_integer(Evaluator&, const Value& v, CallArgs&) { return v.kind() == Kind::Int; }
bool t_float(Evaluator&, const Value& v, CallArgs&) { return v.kind() == Kind::Float; }
bool t_number(Evaluator&, const Value& v, CallArgs&) { return v.is_number(); }
bool t_string(Evaluator&, const Value& v, CallArgs&) { return v.is_string(); }
bool t_mapping(Evaluator&, const Value& v, CallArgs&) { return v.is_dict(); }
// len() and __getitem__ both exist (jinja2's Undefined has both).
bool t_sequence(Evaluator&, const Value& v, CallArgs&) {
  return v.is_string() || v.is_dict() || v.is_undefined() || (v.is_list() && !v.is_iter() && !v.is_view());
}
bool t_iterable(Evaluator&, const Value& v, CallArgs&) {
  return v.is_string() || v.is_dict() || v.is_undefined() || v.is_list() || v.kind() == Kind::Loop;
}
bool t_callable(Evaluator&, const Value& v, CallArgs&) {
  return v.is_callable() || v.is_undefined() || (v.kind() == Kind::Loop);
}
bool t_sameas(Evaluator&, const Value& v, CallArgs& a) {
  const Value& o = other(a, "sameas");
  if (v.kind() != o.kind()) return false;
  switch (v.kind()) {
    case Kind::None:
      return true;
    case Kind::Undefined:
      return false;
    case Kind::Bool:
      return v.as_bool() == o.as_bool();
    case Kind::Int:
      return v.as_int() == o.as_int() && v.as_int() >= -5 && v.as_int() <= 256;  // CPython's small ints
    case Kind::Float:
      return false;
    default:
      return v.same_object(o);
  }
}
bool t_odd(Evaluator& ev, const Value& v, CallArgs&) { return py_equal(mod2(ev, v), Value::integer(1)); }
bool t_even(Evaluator& ev, const Value& v, CallArgs&) { return py_equal(mod2(ev, v), Value::integer(0)); }
bool t_divisibleby(Evaluator& ev, const Value& v, CallArgs& a) {
  return py_equal(ev.binary("%", v, other(a, "divisibleby")), Value::integer(0));
}
bool t_eq(Evaluator&, const Value& v, CallArgs& a) { return py_equal(v, other(a, "eq")); }
bool t_ne(Evaluator&, const Value& v, CallArgs& a) { return !py_equal(v, other(a, "ne")); }
bool t_lt(Evaluator&, const Value& v, CallArgs& a) { return py_compare(v, other(a, "lt")) < 0; }
bool t_le(Evaluator&, const Value& v, CallArgs& a) { return py_compare(v, other(a, "le")) <= 0; }
bool t_gt(Evaluator&, const Value& v, CallArgs& a) { return py_compare(v, other(a, "gt")) > 0; }
bool t_ge(Evaluator&, const Value& v, CallArgs& a) { return py_compare(v, other(a, "ge")) >= 0; }
bool t_in(Evaluator& ev, const Value& v, CallArgs& a) { return ev.contains(other(a, "in"), v); }
bool t_lower(Evaluator&, const Value& v, CallArgs&) {
  const std::string s = py_str(v);
  return pystr::lower(s) == s && pystr::upper(s) != s;
}
bool t_upper(Evaluator&, const Value& v, CallArgs&) {
  const std::string s = py_str(v);
  return pystr::upper(s) == s && pystr::lower(s) != s;
}
bool t_escaped(Evaluator&, const Value&, CallArgs&) { return false; }
bool t_filter(Evaluator& ev, const Value& v, CallArgs&) { return v.is_string() && ev.has_filter(v.text()); }
bool t_test(Evaluator& ev, const Value& v, CallArgs&) { return v.is_string() && ev.has_test(v.text()); }

const std::unordered_map<std::string, TestFn>& tests() {
  static const std::unordered_map<std::string, TestFn> m = {
      {"defined", t_defined},
      {"undefined", t_undefined},
      {"none", t_none},
      {"boolean", t_boolean},
      {"true", t_true},
      {"false", t_false},
      {"integer", t_integer},
      {"float", t_float},
      {"number", t_number},
      {"string", t_string},
      {"mapping", t_mapping},
      {"sequence", t_sequence},
      {"iterable", t_iterable},
      {"callable", t_callable},
      {"sameas", t_sameas},
      {"odd", t_odd},
      {"even", t_even},
      {"divisibleby", t_divisibleby},
      {"eq", t_eq},
      {"equalto", t_eq},
      {"==", t_eq},
      {"ne", t_ne},
      {"!=", t_ne},
      {"lt", t_lt},
      {"lessthan", t_lt},
      {"<", t_lt},
      {"le", t_le},
      {"<=", t_le},
      {"gt", t_gt},
      {"greaterthan", t_gt},
      {">", t_gt},
      {"ge", t_ge},
      {">=", t_ge},
      {"in", t_in},
      {"lower", t_lower},
      {"upper", t_upper},
      {"escaped", t_escaped},
      {"filter", t_filter},
      {"test", t_test},
  };
  return m;
}

Value make_func(const std::string& name, std::function<Value(Evaluator&, CallArgs&)> fn) {
  auto f = std::make_shared<FuncObj>();
  f->name = name;
  f->fn = std::move(fn);
  return Value::func(f);
}

Value g_range(Evaluator& ev, CallArgs& a) {
  if (!a.kwargs.empty()) throw EvalError("range() takes no keyword arguments");
  for (const auto& x : a.args)
    if (!x.is_int()) {
      if (x.is_undefined()) throw_undefined(x);
      throw EvalError(std::string("'") + type_name(x) + "' object cannot be interpreted as an integer");
    }
  int64_t start = 0, stop = 0, step = 1;
  if (a.args.size() == 1) {
    stop = a.args[0].as_int();
  } else if (a.args.size() == 2 || a.args.size() == 3) {
    start = a.args[0].as_int();
    stop = a.args[1].as_int();
    if (a.args.size() == 3) step = a.args[2].as_int();
  } else {
    throw EvalError("range expected 1 to 3 arguments, got " + std::to_string(a.args.size()));
  }
  if (step == 0) throw EvalError("range() arg 3 must not be zero");
  const long double count = step > 0 ? (static_cast<long double>(stop) - start + step - 1) / step
                                     : (static_cast<long double>(start) - stop - step - 1) / -step;
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  ev.charge(n);
  std::vector<Value> out;
  out.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.push_back(Value::integer(start + i * step));
  return Value::list(std::move(out));
}

std::shared_ptr<DictObj> dict_from(Evaluator& ev, CallArgs& a, const char* what) {
  auto d = std::make_shared<DictObj>();
  if (a.args.size() > 1) throw EvalError(std::string(what) + " expected at most 1 argument");
  if (!a.args.empty()) {
    const Value& src = a.args[0];
    if (src.is_dict() || src.kind() == Kind::Namespace) {
      for (const auto& [k, v] : src.dict_obj().items) d->set(k, v);
    } else {
      for (const auto& item : ev.iterate(src)) {
        auto kv = ev.iterate(item);
        if (kv.size() != 2) throw EvalError("dictionary update sequence element has wrong length");
        d->set(kv[0], kv[1]);
      }
    }
  }
  for (const auto& [k, v] : a.kwargs) d->set(Value::string(k), v);
  return d;
}

}  // namespace

bool Evaluator::has_test(const std::string& name) const { return tests().count(name) != 0; }

bool Evaluator::test(const std::string& name, const Value& v, CallArgs& args) {
  auto it = tests().find(name);
  if (it == tests().end()) throw EvalError("No test named '" + name + "'.");
  return it->second(*this, v, args);
}

void add_builtin_globals(Scope& root) {
  root.vars["range"] = make_func("range", g_range);
  root.vars["dict"] = make_func("dict", [](Evaluator& ev, CallArgs& a) {
    auto d = dict_from(ev, a, "dict");
    for (const auto& [k, v] : d->items)
      if (v.kind() == Kind::Namespace || v.kind() == Kind::Loop)
        throw EvalError("dict cannot hold a namespace (unsupported)");
    return Value::dict(d);
  });
  root.vars["namespace"] = make_func("namespace", [](Evaluator& ev, CallArgs& a) {
    auto d = dict_from(ev, a, "namespace");
    for (const auto& [k, v] : d->items)
      if (v.kind() == Kind::Namespace || v.kind() == Kind::Loop)
        throw EvalError("a namespace cannot hold a namespace (unsupported)");
    return Value::ns(d);
  });
  root.vars["raise_exception"] = make_func("raise_exception", [](Evaluator&, CallArgs& a) -> Value {
    const Value* m = a.get(0, "message");
    throw RaisedError(m ? py_str(*m) : std::string());
  });
  root.vars["strftime_now"] = make_func("strftime_now", [](Evaluator& ev, CallArgs& a) {
    const Value* f = a.get(0, "format");
    if (!f || !f->is_string()) throw EvalError("strftime_now() needs a format string");
    const int64_t now = ev.now_unix() >= 0 ? ev.now_unix() : static_cast<int64_t>(std::time(nullptr));
    return Value::string(pystr::strftime(f->text(), now));
  });
}

}  // namespace lm::jinja
