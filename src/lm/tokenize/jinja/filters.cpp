// jinja2's builtin filters (filters.py) that chat templates use, plus transformers' tojson. Filters that
// jinja2 writes as generators (map, select*, reject*, unique, items, reverse of a list, batch) return
// one-shot iterators.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

#include "lm/tokenize/jinja/eval.h"
#include "lm/tokenize/jinja/filter_args.h"
#include "lm/tokenize/jinja/lexer.h"
#include "lm/tokenize/unicode.h"

namespace lm::jinja {

namespace {

using FilterFn = Value (*)(Evaluator&, const Value&, CallArgs&);

}  // namespace

// filters_text.cpp
Value f_center(Evaluator& ev, const Value& v, CallArgs& a);
Value f_wordcount(Evaluator& ev, const Value& v, CallArgs& a);
Value f_truncate(Evaluator& ev, const Value& v, CallArgs& a);
Value f_format(Evaluator& ev, const Value& v, CallArgs& a);
Value f_batch(Evaluator& ev, const Value& v, CallArgs& a);

namespace {


// make_attrgetter: "a.b.0" -> getitem per part (digit parts as integers); an undefined result becomes `dflt`.
Value get_path(Evaluator& ev, Value item, const Value& attr, const Value* dflt = nullptr) {
  std::vector<Value> parts;
  if (attr.is_string()) {
    const std::string& s = attr.text();
    size_t b = 0;
    while (true) {
      const size_t e = s.find('.', b);
      const std::string part = s.substr(b, e == std::string::npos ? std::string::npos : e - b);
      if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos && part.size() < 18)
        parts.push_back(Value::integer(std::stoll(part)));
      else
        parts.push_back(Value::string(part));
      if (e == std::string::npos) break;
      b = e + 1;
    }
  } else if (!attr.is_none()) {
    parts.push_back(attr);
  }
  for (const auto& p : parts) {
    item = ev.getitem(item, p);
    if (dflt && item.is_undefined()) item = *dflt;
  }
  return item;
}

Value lower_if_str(const Value& v) {
  return v.is_string() ? Value::string(pystr::lower(v.text()), v.str().any_marked()) : v;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::vector<Value> sorted_by(Evaluator& ev, std::vector<Value> items, const Value* attr, bool case_sensitive,
                             bool reverse) {
  std::vector<std::pair<std::vector<Value>, size_t>> keys;
  ev.charge(static_cast<int64_t>(items.size()));
  for (size_t i = 0; i < items.size(); ++i) {
    std::vector<Value> k;
    if (attr && attr->is_string() && attr->text().find(',') != std::string::npos) {
      std::string rest = attr->text();
      size_t b = 0;
      while (true) {
        const size_t e = rest.find(',', b);
        k.push_back(
            get_path(ev, items[i], Value::string(rest.substr(b, e == std::string::npos ? e : e - b))));
        if (e == std::string::npos) break;
        b = e + 1;
      }
    } else {
      k.push_back(attr ? get_path(ev, items[i], *attr) : items[i]);
    }
    if (!case_sensitive)
      for (auto& x : k) x = lower_if_str(x);
    keys.emplace_back(std::move(k), i);
  }
  std::stable_sort(keys.begin(), keys.end(), [&](const auto& a, const auto& b) {
    const int c = py_compare(Value::list(a.first), Value::list(b.first));
    return reverse ? c > 0 : c < 0;
  });
  std::vector<Value> out;
  for (const auto& [k, i] : keys) out.push_back(items[i]);
  return out;
}

Value select_impl(Evaluator& ev, const Value& v, CallArgs& a, bool want, bool by_attr) {
  std::vector<Value> out;
  if (!v.truthy()) return Value::iterator({});
  size_t off = 0;
  const Value* attr = nullptr;
  if (by_attr) {
    if (a.args.empty()) throw EvalError("Missing parameter for attribute name");
    attr = &a.args[0];
    off = 1;
  }
  const bool has_test = a.args.size() > off;
  std::string test_name;
  CallArgs targs;
  if (has_test) {
    if (!a.args[off].is_string()) throw EvalError("test name must be a string");
    test_name = a.args[off].text();
    targs.args.assign(a.args.begin() + static_cast<std::ptrdiff_t>(off + 1), a.args.end());
    targs.kwargs = a.kwargs;
  }
  for (const auto& item : ev.iterate(v)) {
    ev.charge(1);
    const Value x = attr ? get_path(ev, item, *attr) : item;
    CallArgs ta = targs;
    const bool ok = has_test ? ev.test(test_name, x, ta) : x.truthy();
    if (ok == want) out.push_back(item);
  }
  return Value::iterator(std::move(out));
}

Value f_select(Evaluator& ev, const Value& v, CallArgs& a) { return select_impl(ev, v, a, true, false); }
Value f_reject(Evaluator& ev, const Value& v, CallArgs& a) { return select_impl(ev, v, a, false, false); }
Value f_selectattr(Evaluator& ev, const Value& v, CallArgs& a) { return select_impl(ev, v, a, true, true); }
Value f_rejectattr(Evaluator& ev, const Value& v, CallArgs& a) { return select_impl(ev, v, a, false, true); }

Value f_map(Evaluator& ev, const Value& v, CallArgs& a) {
  std::vector<Value> out;
  if (!v.truthy()) return Value::iterator({});
  const Value* attribute = a.args.empty() ? a.kwarg("attribute") : nullptr;
  if (attribute) {
    const Value* dflt = a.kwarg("default");
    for (const auto& item : ev.iterate(v)) {
      ev.charge(1);
      out.push_back(get_path(ev, item, *attribute, dflt && !dflt->is_none() ? dflt : nullptr));
    }
    return Value::iterator(std::move(out));
  }
  if (a.args.empty()) throw EvalError("map requires a filter argument");
  if (!a.args[0].is_string()) throw EvalError("map filter name must be a string");
  const std::string name = a.args[0].text();
  CallArgs fa;
  fa.args.assign(a.args.begin() + 1, a.args.end());
  fa.kwargs = a.kwargs;
  for (const auto& item : ev.iterate(v)) {
    ev.charge(1);
    CallArgs c = fa;
    out.push_back(ev.filter(name, item, c));
  }
  return Value::iterator(std::move(out));
}

Value f_tojson(Evaluator& ev, const Value& v, CallArgs& a) {
  const Value* ea = arg(a, 0, "ensure_ascii");
  const Value* indent = arg(a, 1, "indent");
  const Value* seps = arg(a, 2, "separators");
  const bool sort = arg_bool(a, 3, "sort_keys");
  bool marked = false;
  std::string s = pystr::json_dumps(v, indent ? *indent : Value::none(), ea && ea->truthy(), sort,
                                    seps ? *seps : Value::none(), &marked);
  ev.check_size(s.size());
  return Value::string(std::move(s), marked);
}

Value f_indent(Evaluator& ev, const Value& v, CallArgs& a) {
  if (!v.is_string()) {
    if (v.is_undefined()) throw_undefined(v);
    throw EvalError(std::string("unsupported operand type(s) for +=: '") + type_name(v) + "' and 'str'");
  }
  const Value* w = arg(a, 0, "width");
  Str ind;
  if (w && w->is_string())
    ind = w->str();
  else
    ind.text = std::string(static_cast<size_t>(std::clamp<int64_t>(w ? w->as_int() : 4, 0, 1 << 16)), ' ');
  const bool first = arg_bool(a, 1, "first"), blank = arg_bool(a, 2, "blank");
  Str s = v.str();
  s.append("\n");
  std::vector<Str> lines = pystr::splitlines(s, false);
  Str rv;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) rv.append("\n");
    if (i && (blank || !lines[i].text.empty())) rv.append(ind);
    rv.append(lines[i]);
    ev.check_size(rv.text.size());
  }
  if (first) {
    Str r = ind;
    r.append(rv);
    return Value::string(std::move(r));
  }
  return Value::string(std::move(rv));
}

Value f_default(Evaluator&, const Value& v, CallArgs& a) {
  const Value* d = arg(a, 0, "default_value");
  if (v.is_undefined() || (arg_bool(a, 1, "boolean") && !v.truthy())) return d ? *d : Value::string("");
  return v;
}

Value f_join(Evaluator& ev, const Value& v, CallArgs& a) {
  const Value* d = arg(a, 0, "d");
  const Value* attr = arg(a, 1, "attribute");
  const Str sep = d ? to_str(*d) : Str{};
  Str out;
  bool first = true;
  for (const auto& x : ev.iterate(v)) {
    if (!first) out.append(sep);
    first = false;
    out.append(to_str(attr ? get_path(ev, x, *attr) : x));
    ev.check_size(out.text.size());
  }
  return Value::string(std::move(out));
}

Value f_length(Evaluator& ev, const Value& v, CallArgs&) { return Value::integer(ev.length(v)); }
Value f_list(Evaluator& ev, const Value& v, CallArgs&) { return Value::list(ev.iterate(v)); }
Value f_string(Evaluator&, const Value& v, CallArgs&) { return Value::string(to_str(v)); }
Value f_safe(Evaluator&, const Value& v, CallArgs&) { return v.is_string() ? v : Value::string(to_str(v)); }
Value f_trim(Evaluator&, const Value& v, CallArgs& a) {
  return Value::string(pystr::strip(to_str(v), arg(a, 0, "chars"), true, true));
}
Value f_upper(Evaluator&, const Value& v, CallArgs&) { return marked_string(pystr::upper(py_str(v)), v); }
Value f_lower(Evaluator&, const Value& v, CallArgs&) { return marked_string(pystr::lower(py_str(v)), v); }
Value f_title(Evaluator&, const Value& v, CallArgs&) {
  return marked_string(pystr::jinja_title(py_str(v)), v);
}
Value f_capitalize(Evaluator&, const Value& v, CallArgs&) {
  return marked_string(pystr::capitalize(py_str(v)), v);
}
Value f_escape(Evaluator&, const Value& v, CallArgs&) { return marked_string(html_escape(py_str(v)), v); }
Value f_pprint(Evaluator&, const Value& v, CallArgs&) { return marked_string(py_repr(v), v); }

Value f_replace(Evaluator& ev, const Value& v, CallArgs& a) {
  const Value* o = arg(a, 0, "old");
  const Value* n = arg(a, 1, "new");
  if (!o || !n) throw EvalError("replace() missing required argument");
  const Value* c = arg(a, 2, "count");
  Str r = pystr::replace(to_str(v), py_str(*o), to_str(*n), c && !c->is_none() ? c->as_int() : -1);
  ev.check_size(r.text.size());
  return Value::string(std::move(r));
}

Value f_first(Evaluator& ev, const Value& v, CallArgs&) {
  if (v.is_iter()) {
    ListObj& l = const_cast<ListObj&>(v.list_obj());
    if (l.pos < l.items.size()) return l.items[l.pos++];
    return Value::undefined("No first item, sequence was empty.");
  }
  auto items = ev.iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(Evaluator& ev, const Value& v, CallArgs&) {
  if (v.is_iter()) throw EvalError("'generator' object is not reversible");
  auto items = ev.iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_reverse(Evaluator& ev, const Value& v, CallArgs&) {
  if (v.is_string()) {
    Str out;
    const auto cps = pystr::codepoints(v.text());
    for (auto it = cps.rbegin(); it != cps.rend(); ++it)
      out.append(pystr::substr(v.str(), it->first, it->second));
    return Value::string(std::move(out));
  }
  auto items = ev.iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::iterator(std::move(items));
}

Value f_int(Evaluator&, const Value& v, CallArgs& a) {
  const Value* d = arg(a, 0, "default");
  const int64_t base = arg_int(a, 1, "base", 10);
  if (v.is_undefined()) throw_undefined(v);
  if (v.kind() == Kind::Float) {
    const double x = v.as_double();
    if (std::isfinite(x) && std::fabs(x) < 9.2e18) return Value::integer(static_cast<int64_t>(x));
  } else if (v.is_int()) {
    return Value::integer(v.as_int());
  } else if (v.is_string()) {
    int64_t i;
    if (pystr::parse_int(v.text(), static_cast<int>(base), i)) return Value::integer(i);
    double f;
    if (pystr::parse_float(v.text(), f) && std::isfinite(f) && std::fabs(f) < 9.2e18)
      return Value::integer(static_cast<int64_t>(f));
  }
  return d ? *d : Value::integer(0);
}

Value f_float(Evaluator&, const Value& v, CallArgs& a) {
  const Value* d = arg(a, 0, "default");
  if (v.is_undefined()) throw_undefined(v);
  if (v.is_number()) return Value::number(v.as_double());
  double f;
  if (v.is_string() && pystr::parse_float(v.text(), f)) return Value::number(f);
  return d ? *d : Value::number(0.0);
}

Value f_abs(Evaluator&, const Value& v, CallArgs&) {
  if (v.kind() == Kind::Float) return Value::number(std::fabs(v.as_double()));
  if (v.is_int()) {
    if (v.as_int() == INT64_MIN) throw EvalError("integer overflow");
    return Value::integer(std::llabs(v.as_int()));
  }
  if (v.is_undefined()) throw_undefined(v);
  throw EvalError(std::string("bad operand type for abs(): '") + type_name(v) + "'");
}

Value f_round(Evaluator&, const Value& v, CallArgs& a) {
  const int64_t prec = arg_int(a, 0, "precision", 0);
  const Value* m = arg(a, 1, "method");
  const std::string method = m ? py_str(*m) : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    throw EvalError("method must be common, ceil or floor");
  if (v.is_undefined()) throw_undefined(v);
  if (!v.is_number())
    throw EvalError(std::string("type ") + type_name(v) + " doesn't define __round__ method");
  if (method == "common") {
    if (v.is_int()) return Value::integer(v.as_int());
    const double x = v.as_double();
    if (!std::isfinite(x) || prec > 300) return Value::number(x);
    if (prec < 0) {
      const double p = std::pow(10.0, static_cast<double>(-prec));
      return Value::number(std::nearbyint(x / p) * p);
    }
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(prec), x);
    return Value::number(std::strtod(buf, nullptr));
  }
  const double p = std::pow(10.0, static_cast<double>(prec));
  const double x = v.as_double() * p;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / p);
}

Value f_items(Evaluator& ev, const Value& v, CallArgs&) {
  if (v.is_undefined()) return Value::iterator({});
  if (!v.is_dict()) throw EvalError("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, x] : v.dict_obj().items) out.push_back(Value::list({k, x}, true));
  ev.charge(static_cast<int64_t>(out.size()) / 16);
  return Value::iterator(std::move(out));
}

Value f_dictsort(Evaluator& ev, const Value& v, CallArgs& a) {
  if (!v.is_dict()) throw EvalError("dictsort: a mapping is required");
  const bool cs = arg_bool(a, 0, "case_sensitive");
  const Value* by = arg(a, 1, "by");
  const bool by_value = by && py_str(*by) == "value";
  if (by && !by_value && py_str(*by) != "key")
    throw EvalError("You can only sort by either \"key\" or \"value\"");
  std::vector<Value> items;
  for (const auto& [k, x] : v.dict_obj().items) items.push_back(Value::list({k, x}, true));
  const Value idx = Value::integer(by_value ? 1 : 0);
  return Value::list(sorted_by(ev, std::move(items), &idx, cs, arg_bool(a, 2, "reverse")));
}

Value f_sort(Evaluator& ev, const Value& v, CallArgs& a) {
  return Value::list(sorted_by(ev, ev.iterate(v), arg(a, 2, "attribute"), arg_bool(a, 1, "case_sensitive"),
                               arg_bool(a, 0, "reverse")));
}

Value f_unique(Evaluator& ev, const Value& v, CallArgs& a) {
  const bool cs = arg_bool(a, 0, "case_sensitive");
  const Value* attr = arg(a, 1, "attribute");
  std::vector<Value> seen, out;
  for (const auto& x : ev.iterate(v)) {
    Value k = attr ? get_path(ev, x, *attr) : x;
    if (!cs) k = lower_if_str(k);
    if (k.is_list() && !k.is_tuple()) throw EvalError("unhashable type: 'list'");
    if (k.is_dict()) throw EvalError("unhashable type: 'dict'");
    ev.charge(static_cast<int64_t>(seen.size()) / 8 + 1);
    bool found = false;
    for (const auto& s : seen) found = found || py_equal(s, k);
    if (!found) {
      seen.push_back(k);
      out.push_back(x);
    }
  }
  return Value::iterator(std::move(out));
}

Value min_max(Evaluator& ev, const Value& v, CallArgs& a, bool want_max) {
  const bool cs = arg_bool(a, 0, "case_sensitive");
  const Value* attr = arg(a, 1, "attribute");
  auto items = ev.iterate(v);
  if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
  size_t best = 0;
  auto key = [&](const Value& x) {
    Value k = attr ? get_path(ev, x, *attr) : x;
    return cs ? k : lower_if_str(k);
  };
  Value bk = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = key(items[i]);
    const int c = py_compare(k, bk);
    if (want_max ? c > 0 : c < 0) {
      best = i;
      bk = k;
    }
  }
  return items[best];
}
Value f_max(Evaluator& ev, const Value& v, CallArgs& a) { return min_max(ev, v, a, true); }
Value f_min(Evaluator& ev, const Value& v, CallArgs& a) { return min_max(ev, v, a, false); }

Value f_sum(Evaluator& ev, const Value& v, CallArgs& a) {
  const Value* attr = arg(a, 0, "attribute");
  const Value* start = arg(a, 1, "start");
  Value acc = start ? *start : Value::integer(0);
  for (const auto& x : ev.iterate(v))
    acc = ev.binary("+", acc, attr && !attr->is_none() ? get_path(ev, x, *attr) : x);
  return acc;
}

Value f_attr(Evaluator& ev, const Value& v, CallArgs& a) {
  const Value* name = arg(a, 0, "name");
  if (!name || !name->is_string()) throw EvalError("attr name must be a string");
  if (v.is_dict()) {
    Value m = ev.method(v, name->text());
    return m;
  }
  return ev.getattr(v, name->text());
}

const std::unordered_map<std::string, FilterFn>& filters() {
  static const std::unordered_map<std::string, FilterFn> m = {
      {"abs", f_abs},
      {"attr", f_attr},
      {"batch", f_batch},
      {"capitalize", f_capitalize},
      {"center", f_center},
      {"count", f_length},
      {"d", f_default},
      {"default", f_default},
      {"dictsort", f_dictsort},
      {"e", f_escape},
      {"escape", f_escape},
      {"first", f_first},
      {"float", f_float},
      {"forceescape", f_escape},
      {"format", f_format},
      {"indent", f_indent},
      {"int", f_int},
      {"items", f_items},
      {"join", f_join},
      {"last", f_last},
      {"length", f_length},
      {"list", f_list},
      {"lower", f_lower},
      {"map", f_map},
      {"max", f_max},
      {"min", f_min},
      {"pprint", f_pprint},
      {"reject", f_reject},
      {"rejectattr", f_rejectattr},
      {"replace", f_replace},
      {"reverse", f_reverse},
      {"round", f_round},
      {"safe", f_safe},
      {"select", f_select},
      {"selectattr", f_selectattr},
      {"sort", f_sort},
      {"string", f_string},
      {"sum", f_sum},
      {"title", f_title},
      {"tojson", f_tojson},
      {"trim", f_trim},
      {"truncate", f_truncate},
      {"unique", f_unique},
      {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  return m;
}

}  // namespace

bool Evaluator::has_filter(const std::string& name) const { return filters().count(name) != 0; }

Value Evaluator::filter(const std::string& name, const Value& v, CallArgs& args) {
  auto it = filters().find(name);
  if (it == filters().end()) throw EvalError("No filter named '" + name + "'.");
  Recursion r(*this);
  return it->second(*this, v, args);
}

}  // namespace lm::jinja
