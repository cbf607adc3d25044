// Expression evaluation with Python semantics: names, literals, attribute/item access as jinja2's sandboxed
// environment does it (attribute first for `.`, item first for `[]`), slicing, calls, arithmetic,
// comparisons, `in`, short-circuit and/or returning operands, and the inline if.
#include <fmt/format.h>

#include <cmath>
#include <limits>

#include "lm/tokenize/jinja/eval.h"

namespace lm::jinja {

namespace {

std::string obj_repr_for_undefined(const Value& obj) {
  if (obj.is_none()) return "None";
  return std::string(type_name(obj)) + " object";
}

Value missing_attr(const Value& obj, const std::string& name) {
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", obj_repr_for_undefined(obj), name));
}

[[noreturn]] void type_error_operands(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) throw_undefined(a);
  if (b.is_undefined()) throw_undefined(b);
  throw EvalError("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) +
                  "'");
}

int64_t checked(long double r, int64_t v) {
  if (r > static_cast<long double>(INT64_MAX) || r < static_cast<long double>(INT64_MIN))
    throw EvalError("integer overflow (integers beyond 64 bits are not supported)");
  return v;
}

// Python's slice.indices(): clamps start/stop for length n and the step.
void slice_indices(int64_t n, const Value& a, const Value& b, const Value& c, int64_t& start, int64_t& stop,
                   int64_t& step) {
  auto as_idx = [](const Value& v) {
    if (!v.is_int()) throw EvalError("slice indices must be integers or None or have an __index__ method");
    return v.as_int();
  };
  step = c.is_none() ? 1 : as_idx(c);
  if (step == 0) throw EvalError("slice step cannot be zero");
  const int64_t lo = step < 0 ? -1 : 0, hi = step < 0 ? n - 1 : n;
  auto adjust = [&](const Value& v, int64_t dflt) {
    if (v.is_none()) return dflt;
    int64_t x = as_idx(v);
    if (x < 0) {
      x += n;
      if (x < lo) x = lo;
    } else if (x > hi) {
      x = hi;
    }
    return x;
  };
  start = adjust(a, step < 0 ? n - 1 : 0);
  stop = adjust(b, step < 0 ? -1 : n);
}

}  // namespace

void throw_undefined(const Value& v) {
  const UndefObj* u = v.undef_obj();
  if (u && !u->hint.empty()) throw EvalError(u->hint);
  throw EvalError("value is undefined");
}

std::vector<Value> Evaluator::iterate(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
      return {};
    case Kind::List: {
      ListObj& l = const_cast<ListObj&>(v.list_obj());
      if (!l.iter) return l.items;
      std::vector<Value> rest(l.items.begin() + static_cast<std::ptrdiff_t>(std::min(l.pos, l.items.size())),
                              l.items.end());
      l.pos = l.items.size();
      return rest;
    }
    case Kind::Dict: {
      std::vector<Value> keys;
      for (const auto& [k, x] : v.dict_obj().items) keys.push_back(k);
      return keys;
    }
    case Kind::String: {
      std::vector<Value> chars;
      const Str& s = v.str();
      for (const auto& [b, e] : pystr::codepoints(s.text))
        chars.push_back(Value::string(pystr::substr(s, b, e)));
      charge(static_cast<int64_t>(chars.size()) / 16);
      return chars;
    }
    default:
      throw EvalError(std::string("'") + type_name(v) + "' object is not iterable");
  }
}

int64_t Evaluator::length(const Value& v) {
  switch (v.kind()) {
    case Kind::Undefined:
      return 0;
    case Kind::String:
      return static_cast<int64_t>(pystr::codepoints(v.text()).size());
    case Kind::List:
      if (v.is_iter()) throw EvalError("object of type 'generator' has no len()");
      return static_cast<int64_t>(v.items().size());
    case Kind::Dict:
      return static_cast<int64_t>(v.dict_obj().items.size());
    case Kind::Loop:
      return v.loop_obj().length;
    default:
      throw EvalError(std::string("object of type '") + type_name(v) + "' has no len()");
  }
}

bool Evaluator::contains(const Value& c, const Value& item) {
  switch (c.kind()) {
    case Kind::Undefined:
      return false;
    case Kind::String:
      if (!item.is_string())
        throw EvalError(std::string("'in <string>' requires string as left operand, not ") + type_name(item));
      return c.text().find(item.text()) != std::string::npos;
    case Kind::List:
      for (const auto& x : iterate(c))
        if (py_equal(x, item)) return true;
      return false;
    case Kind::Dict:
      return c.dict_obj().find(item) != nullptr;
    default:
      throw EvalError(std::string("argument of type '") + type_name(c) + "' is not iterable");
  }
}

Value Evaluator::getattr(const Value& obj, const std::string& name) {
  switch (obj.kind()) {
    case Kind::Undefined:
      throw_undefined(obj);
    case Kind::Dict: {
      Value m = method(obj, name);
      if (!m.is_undefined() || m.undef_obj()) return m;
      if (const Value* v = obj.dict_obj().find(name)) return *v;
      return missing_attr(obj, name);
    }
    case Kind::Namespace:
      if (const Value* v = obj.dict_obj().find(name)) return *v;
      return Value::undefined("'Namespace object' has no attribute '" + name + "'");
    case Kind::Loop: {
      const LoopObj& l = obj.loop_obj();
      const int64_t i = l.index0, n = l.length;
      if (name == "index0") return Value::integer(i);
      if (name == "index") return Value::integer(i + 1);
      if (name == "revindex0") return Value::integer(n - i - 1);
      if (name == "revindex") return Value::integer(n - i);
      if (name == "first") return Value::boolean(i == 0);
      if (name == "last") return Value::boolean(i == n - 1);
      if (name == "length") return Value::integer(n);
      if (name == "depth0") return Value::integer(l.depth0);
      if (name == "depth") return Value::integer(l.depth0 + 1);
      if (name == "previtem") return i > 0 ? (*l.seq)[i - 1] : Value::undefined("there is no previous item");
      if (name == "nextitem") return i + 1 < n ? (*l.seq)[i + 1] : Value::undefined("there is no next item");
      return method(obj, name);
    }
    case Kind::String:
    case Kind::List: {
      Value m = method(obj, name);
      if (!m.is_undefined() || m.undef_obj()) return m;
      return missing_attr(obj, name);
    }
    default:
      return missing_attr(obj, name);
  }
}

Value Evaluator::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) throw_undefined(obj);
  if (key.kind() == Kind::List && key.list_obj().view == "slice") {
    const auto& k = key.items();
    int64_t start, stop, step;
    if (obj.is_string()) {
      const auto cps = pystr::codepoints(obj.text());
      slice_indices(static_cast<int64_t>(cps.size()), k[0], k[1], k[2], start, stop, step);
      Str out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        const auto& [b, e] = cps[static_cast<size_t>(i)];
        if (step == 1) {  // contiguous: one substring
          const size_t end_b = stop > start ? cps[static_cast<size_t>(stop - 1)].second : b;
          return Value::string(pystr::substr(obj.str(), b, end_b));
        }
        out.append(pystr::substr(obj.str(), b, e));
      }
      return Value::string(std::move(out));
    }
    if (obj.is_seq()) {
      const auto& it = obj.items();
      slice_indices(static_cast<int64_t>(it.size()), k[0], k[1], k[2], start, stop, step);
      std::vector<Value> out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        out.push_back(it[static_cast<size_t>(i)]);
      charge(static_cast<int64_t>(out.size()) / 16);
      return Value::list(std::move(out), obj.is_tuple());
    }
    return Value::undefined(fmt::format("'{}' object is not subscriptable", obj_repr_for_undefined(obj)));
  }
  if (obj.is_dict()) {
    if (const Value* v = obj.dict_obj().find(key)) return *v;
  } else if ((obj.is_seq() || obj.is_string()) && key.is_int()) {
    int64_t i = key.as_int();
    if (obj.is_string()) {
      const auto cps = pystr::codepoints(obj.text());
      const int64_t n = static_cast<int64_t>(cps.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return Value::string(pystr::substr(obj.str(), cps[i].first, cps[i].second));
    } else {
      const int64_t n = static_cast<int64_t>(obj.items().size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return obj.items()[static_cast<size_t>(i)];
    }
    return Value::undefined(fmt::format("'{}' has no element {}", obj_repr_for_undefined(obj), py_repr(key)));
  }
  if (key.is_string()) return getattr(obj, key.text());
  return Value::undefined(fmt::format("'{}' has no element {}", obj_repr_for_undefined(obj), py_repr(key)));
}

Value Evaluator::call(const Value& fn, CallArgs& args) {
  if (fn.is_callable()) {
    Recursion r(*this);
    return fn.func_obj().fn(*this, args);
  }
  if (fn.kind() == Kind::Loop && fn.loop_obj().recurse) return fn.loop_obj().recurse(*this, args);
  if (fn.is_undefined()) throw_undefined(fn);
  throw EvalError(std::string("'") + type_name(fn) + "' object is not callable");
}

Value Evaluator::binary(const std::string& op, const Value& a, const Value& b) {
  const bool ints = a.is_int() && b.is_int();
  const bool nums = a.is_number() && b.is_number();
  const char c = op[0];
  if (op == "+") {
    if (ints)
      return Value::integer(
          checked(static_cast<long double>(a.as_int()) + b.as_int(), a.as_int() + b.as_int()));
    if (nums) return Value::number(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) {
      check_size(a.text().size() + b.text().size());
      Str s = a.str();
      s.append(b.str());
      return Value::string(std::move(s));
    }
    if (a.is_seq() && b.is_seq() && a.is_tuple() == b.is_tuple()) {
      std::vector<Value> v = a.items();
      v.insert(v.end(), b.items().begin(), b.items().end());
      charge(static_cast<int64_t>(v.size()) / 16);
      return Value::list(std::move(v), a.is_tuple());
    }
    if (a.is_string() && !b.is_undefined())
      throw EvalError(std::string("can only concatenate str (not \"") + type_name(b) + "\") to str");
    type_error_operands("+", a, b);
  }
  if (op == "-") {
    if (ints)
      return Value::integer(
          checked(static_cast<long double>(a.as_int()) - b.as_int(), a.as_int() - b.as_int()));
    if (nums) return Value::number(a.as_double() - b.as_double());
    type_error_operands("-", a, b);
  }
  if (op == "*") {
    if (ints)
      return Value::integer(
          checked(static_cast<long double>(a.as_int()) * b.as_int(), a.as_int() * b.as_int()));
    if (nums) return Value::number(a.as_double() * b.as_double());
    const Value* seq = (a.is_string() || a.is_seq()) && b.is_int()
                           ? &a
                           : ((b.is_string() || b.is_seq()) && a.is_int() ? &b : nullptr);
    if (seq) {
      const int64_t n = std::max<int64_t>(0, (seq == &a ? b : a).as_int());
      if (seq->is_string()) {
        check_size(static_cast<size_t>(std::min<int64_t>(n, INT32_MAX)) * seq->text().size());
        Str s;
        for (int64_t i = 0; i < n; ++i) s.append(seq->str());
        return Value::string(std::move(s));
      }
      charge(n * static_cast<int64_t>(seq->items().size()));
      std::vector<Value> v;
      for (int64_t i = 0; i < n; ++i) v.insert(v.end(), seq->items().begin(), seq->items().end());
      return Value::list(std::move(v), seq->is_tuple());
    }
    type_error_operands("*", a, b);
  }
  if (op == "/" || op == "//" || op == "%") {
    if (a.is_string() && c == '%')
      return Value::string(pystr::printf_format(a.text(), b), contains_marked(a) || contains_marked(b));
    if (!nums) type_error_operands(op, a, b);
    if (b.as_double() == 0)
      throw EvalError(op == "/" ? "division by zero" : "integer division or modulo by zero");
    if (op == "/") return Value::number(a.as_double() / b.as_double());
    if (ints) {
      const int64_t x = a.as_int(), y = b.as_int();
      if (x == INT64_MIN && y == -1) throw EvalError("integer overflow");
      int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        --q;
        r += y;
      }
      return Value::integer(op == "//" ? q : r);
    }
    // Python's float divmod.
    const double x = a.as_double(), y = b.as_double();
    double mod = std::fmod(x, y);
    double div = (x - mod) / y;
    if (mod != 0) {
      if ((y < 0) != (mod < 0)) {
        mod += y;
        div -= 1.0;
      }
    } else {
      mod = std::copysign(0.0, y);
    }
    if (op == "%") return Value::number(mod);
    double fl;
    if (div != 0) {
      fl = std::floor(div);
      if (div - fl > 0.5) fl += 1.0;
    } else {
      fl = std::copysign(0.0, x / y);
    }
    return Value::number(fl);
  }
  if (op == "**") {
    if (ints && b.as_int() >= 0) {
      long double r = 1;
      int64_t v = 1;
      for (int64_t i = 0; i < b.as_int(); ++i) {
        r *= a.as_int();
        v = checked(r, v * a.as_int());
        if (v == 0 || v == 1) break;
      }
      return Value::integer(v);
    }
    if (nums) return Value::number(std::pow(a.as_double(), b.as_double()));
    type_error_operands("**", a, b);
  }
  throw EvalError("unknown operator " + op);
}

Value Evaluator::eval(const Expr& e) {
  Recursion r(*this);
  line_ = e.line;
  switch (e.kind) {
    case ExprKind::Const:
      return e.value;
    case ExprKind::Name: {
      if (const Value* v = scope_->find(e.name)) return *v;
      return Value::undefined("'" + e.name + "' is undefined");
    }
    case ExprKind::List:
    case ExprKind::Tuple: {
      std::vector<Value> items;
      for (const auto& k : e.kids) items.push_back(eval(*k));
      return Value::list(std::move(items), e.kind == ExprKind::Tuple);
    }
    case ExprKind::Dict: {
      auto d = std::make_shared<DictObj>();
      for (size_t i = 0; i + 1 < e.kids.size(); i += 2) {
        Value k = eval(*e.kids[i]);
        if (k.kind() == Kind::List && !k.is_tuple()) throw EvalError("unhashable type: 'list'");
        if (k.is_dict()) throw EvalError("unhashable type: 'dict'");
        d->set(k, eval(*e.kids[i + 1]));
      }
      return Value::dict(d);
    }
    case ExprKind::Getattr:
      return getattr(eval(*e.kids[0]), e.name);
    case ExprKind::Getitem:
      return getitem(eval(*e.kids[0]), eval(*e.kids[1]));
    case ExprKind::Slice: {
      std::vector<Value> parts;
      for (const auto& k : e.kids) parts.push_back(k ? eval(*k) : Value::none());
      return Value::view(std::move(parts), "slice");
    }
    case ExprKind::Call: {
      const Value fn = eval(*e.kids[0]);
      CallArgs a;
      for (size_t i = 1; i < e.kids.size(); ++i) a.args.push_back(eval(*e.kids[i]));
      for (const auto& [k, v] : e.kwargs) a.kwargs.emplace_back(k, eval(*v));
      return call(fn, a);
    }
    case ExprKind::Filter:
    case ExprKind::Test: {
      const Value v = eval(*e.kids[0]);
      CallArgs a;
      for (size_t i = 1; i < e.kids.size(); ++i) a.args.push_back(eval(*e.kids[i]));
      for (const auto& [k, x] : e.kwargs) a.kwargs.emplace_back(k, eval(*x));
      line_ = e.line;
      if (e.kind == ExprKind::Filter) return filter(e.name, v, a);
      return Value::boolean(test(e.name, v, a));
    }
    case ExprKind::Neg:
    case ExprKind::Pos: {
      const Value v = eval(*e.kids[0]);
      if (v.is_undefined()) throw_undefined(v);
      if (!v.is_number())
        throw EvalError(std::string("bad operand type for unary ") + (e.kind == ExprKind::Neg ? "-" : "+") +
                        ": '" + type_name(v) + "'");
      if (e.kind == ExprKind::Pos) return v.is_bool() ? Value::integer(v.as_int()) : v;
      if (v.kind() == Kind::Float) return Value::number(-v.as_double());
      if (v.as_int() == INT64_MIN) throw EvalError("integer overflow");
      return Value::integer(-v.as_int());
    }
    case ExprKind::Not:
      return Value::boolean(!eval(*e.kids[0]).truthy());
    case ExprKind::Binary:
      return binary(e.name, eval(*e.kids[0]), eval(*e.kids[1]));
    case ExprKind::And: {
      Value a = eval(*e.kids[0]);
      return a.truthy() ? eval(*e.kids[1]) : a;
    }
    case ExprKind::Or: {
      Value a = eval(*e.kids[0]);
      return a.truthy() ? a : eval(*e.kids[1]);
    }
    case ExprKind::Concat: {
      Str s;
      for (const auto& k : e.kids) {
        Str part = to_str(eval(*k));
        check_size(s.text.size() + part.text.size());
        s.append(part);
      }
      return Value::string(std::move(s));
    }
    case ExprKind::Compare: {
      Value left = eval(*e.kids[0]);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.kids[i + 1]);
        const std::string& op = e.ops[i];
        bool ok;
        if (op == "==")
          ok = py_equal(left, right);
        else if (op == "!=")
          ok = !py_equal(left, right);
        else if (op == "in")
          ok = contains(right, left);
        else if (op == "notin")
          ok = !contains(right, left);
        else {
          const int c = py_compare(left, right);
          ok = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
        }
        if (!ok) return Value::boolean(false);
        left = std::move(right);
      }
      return Value::boolean(true);
    }
    case ExprKind::CondExpr: {
      if (eval(*e.kids[0]).truthy()) return eval(*e.kids[1]);
      if (e.kids[2]) return eval(*e.kids[2]);
      return Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                              " evaluated to false and no else section was defined.");
    }
  }
  return Value();
}

}  // namespace lm::jinja
