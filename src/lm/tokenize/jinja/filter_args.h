// Argument helpers shared by the filter files (filters.cpp, filters_text.cpp): positional-or-keyword lookup,
// Python truthiness and integer coercion with jinja2's error text, and provenance-keeping string results.
#pragma once

#include <cstdint>
#include <string>

#include "lm/tokenize/jinja/eval.h"

namespace lm::jinja {

inline const Value* arg(const CallArgs& a, size_t i, const char* name) { return a.get(i, name); }

inline bool arg_bool(const CallArgs& a, size_t i, const char* name, bool dflt = false) {
  const Value* v = arg(a, i, name);
  return v ? v->truthy() : dflt;
}

inline int64_t arg_int(const CallArgs& a, size_t i, const char* name, int64_t dflt) {
  const Value* v = arg(a, i, name);
  if (!v) return dflt;
  if (v->is_undefined()) throw_undefined(*v);
  if (!v->is_number())
    throw EvalError(std::string("'") + type_name(*v) + "' object cannot be interpreted as an integer");
  return v->as_int();
}

// A string computed from `from`: wholly marked as message content when `from` holds any marked byte.
inline Value marked_string(std::string s, const Value& from) {
  return Value::string(std::move(s), contains_marked(from));
}

}  // namespace lm::jinja
