// Jinja values with Python semantics: undefined, None, bool, int, float, str (with per-byte provenance
// marks), list/tuple, dict (insertion ordered), namespace, callables and the loop object. Containers are
// shared and immutable (the sandbox forbids mutation) except namespace attributes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lm::jinja {

// A string and its provenance: marks is empty (no byte marked) or one byte per text byte (1 = from messages).
struct Str {
  std::string text;
  std::string marks;
  bool any_marked() const { return !marks.empty(); }
  void append(const Str& o);
  void append(std::string_view s);  // unmarked
  void append_marked(std::string_view s, bool marked);
  // Drops the marks when no byte is marked.
  void normalize();
};

enum class Kind : uint8_t { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Func, Loop };

class Value;
struct ListObj;
struct DictObj;
struct FuncObj;
struct LoopObj;
struct UndefObj;

class Value {
 public:
  Value() = default;
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s, bool marked = false);
  static Value string(Str s);
  static Value list(std::vector<Value> items, bool tuple = false);
  static Value iterator(std::vector<Value> items);
  static Value view(std::vector<Value> items, std::string name);
  static Value dict(std::shared_ptr<DictObj> d);
  static Value ns(std::shared_ptr<DictObj> d);
  static Value func(std::shared_ptr<FuncObj> f);
  static Value loop(std::shared_ptr<LoopObj> l);
  // Undefined with a message used when it is used in a failing way (e.g. "'x' is undefined").
  static Value undefined(std::string hint = {}, bool security = false);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int || kind_ == Kind::Bool; }  // Python: bool is an int
  bool is_number() const { return is_int() || kind_ == Kind::Float; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const;
  bool is_iter() const;  // a one-shot iterator
  bool is_view() const;  // dict_items / dict_keys / dict_values
  bool is_seq() const { return kind_ == Kind::List && !is_iter() && !is_view(); }  // list or tuple
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_callable() const { return kind_ == Kind::Func; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::Float ? static_cast<int64_t>(f_) : i_; }
  double as_double() const { return kind_ == Kind::Float ? f_ : static_cast<double>(i_); }
  const Str& str() const;  // String only
  const std::string& text() const { return str().text; }
  const std::vector<Value>& items() const;  // List only (all items, also those an iterator consumed)
  const ListObj& list_obj() const;
  DictObj& dict_obj() const;  // Dict or Namespace
  const FuncObj& func_obj() const;
  LoopObj& loop_obj() const;
  const UndefObj* undef_obj() const;
  // Nesting depth of containers (1 for a scalar).
  int depth() const;
  bool same_object(const Value& o) const { return obj_ && obj_ == o.obj_; }

  bool truthy() const;

 private:
  Kind kind_ = Kind::Undefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<void> obj_;
};

struct ListObj {
  std::vector<Value> items;
  bool tuple = false;
  // A one-shot iterator (what map/select/unique/reverse/items give in jinja2): always true, no len(), no
  // indexing; iterating consumes it from pos.
  bool iter = false;
  size_t pos = 0;
  std::string view;  // "dict_items"/"dict_keys"/"dict_values": repr as view([...]), not subscriptable
  int depth = 1;
};

struct DictObj {
  std::vector<std::pair<Value, Value>> items;
  int depth = 1;
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  void set(const Value& key, Value v);
};

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
  const Value* kwarg(std::string_view name) const;
  // The argument at position i or named `name`, or nullptr.
  const Value* get(size_t i, std::string_view name) const;
};

class Evaluator;
struct FuncObj {
  std::string name;
  std::function<Value(Evaluator&, CallArgs&)> fn;
};

struct LoopObj {
  int64_t index0 = 0, length = 0;
  int depth0 = 0;
  std::shared_ptr<std::vector<Value>> seq;  // the (filtered) items being iterated
  Value last_changed;
  bool has_changed = false;
  std::function<Value(Evaluator&, CallArgs&)> recurse;  // loop(...) for recursive loops
};

struct UndefObj {
  std::string hint;
  bool security = false;
};

// Python equality (1 == 1.0 == True, list != tuple, undefined == undefined).
bool py_equal(const Value& a, const Value& b);
// Python ordering; throws lm::Error (TypeError) when the types do not order. Returns <0, 0, >0.
int py_compare(const Value& a, const Value& b);
// Python str() and repr(); marked (when non-null) is set when any marked string contributed.
std::string py_str(const Value& v, bool* marked = nullptr);
std::string py_repr(const Value& v, bool* marked = nullptr);
std::string repr_string(std::string_view s);
std::string float_repr(double d);
// str() as a Str keeping per-byte marks of strings (containers are fully marked when any part is).
Str to_str(const Value& v);
// True when v or anything inside is a marked string.
bool contains_marked(const Value& v);
// Python type name for error messages ("str", "int", "dict", ...).
const char* type_name(const Value& v);

}  // namespace lm::jinja
