// The template evaluator: scopes as jinja2 resolves them (a for-loop iteration, macro call, with block and
// the generation body each get a child scope), output buffers with provenance marks, the generation spans,
// and the limits (output bytes, loop iterations, call depth, recursion). Expressions are in eval_expr.cpp,
// filters in filters.cpp, tests and globals in tests.cpp, str/dict/list methods in methods.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lm/tokenize/jinja/ast.h"
#include "lm/tokenize/jinja/errors.h"
#include "lm/tokenize/jinja/value.h"

namespace lm::jinja {

struct Limits {
  size_t max_output_bytes = 64u << 20;
  int64_t max_loop_iterations = 10'000'000;
  int max_call_depth = 256;
};

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};
using ScopePtr = std::shared_ptr<Scope>;

enum class Flow { Normal, Break, Continue };

class Evaluator {
 public:
  Evaluator(const Limits& limits, int64_t now_unix) : limits_(limits), now_unix_(now_unix) {}

  // Renders body with the given root scope; generation spans go to generation_spans().
  Str render(const Body& body, ScopePtr root);
  // The {% generation %} spans as transformers records them: code point offsets [begin, end) where begin is
  // the length of the top-level output when the block ran (so a block inside a macro or set block is
  // misplaced there too); empty blocks are left out.
  const std::vector<std::pair<size_t, size_t>>& generation_spans() const { return gen_; }
  int line() const { return line_; }
  int64_t now_unix() const { return now_unix_; }

  // Expressions (eval_expr.cpp).
  Value eval(const Expr& e);
  Value getattr(const Value& obj, const std::string& name);
  Value getitem(const Value& obj, const Value& key);
  Value call(const Value& fn, CallArgs& args);
  Value binary(const std::string& op, const Value& a, const Value& b);
  bool contains(const Value& container, const Value& item);
  // The items of an iterable (list, tuple, dict keys, string characters; undefined: none); consumes
  // iterators.
  std::vector<Value> iterate(const Value& v);
  // len() or throws TypeError.
  int64_t length(const Value& v);

  // Filters, tests (filters.cpp, tests.cpp); throw for unknown names.
  Value filter(const std::string& name, const Value& v, CallArgs& args);
  // A {% filter %} / {% set x | f %} chain (f's argument 0 is the inner filter) applied to v, innermost first.
  Value apply_filter_chain(const Expr* chain, Value v);
  bool test(const std::string& name, const Value& v, CallArgs& args);
  bool has_filter(const std::string& name) const;
  bool has_test(const std::string& name) const;
  // Methods of str/dict/list values (methods.cpp): a bound method value, or undefined when there is none.
  Value method(const Value& self, const std::string& name);

  // Limits: loop iterations / created elements, created bytes, recursion.
  void charge(int64_t n);
  void check_size(size_t bytes) const;
  struct Recursion {
    Evaluator& ev;
    explicit Recursion(Evaluator& e);
    ~Recursion() { --ev.recursion_; }
  };

  ScopePtr scope() const { return scope_; }
  ScopePtr root_scope() const { return root_; }

 private:
  Flow exec(const Body& body, Str& out);
  Flow exec_stmt(const Stmt& s, Str& out);
  Flow exec_for(const Stmt& s, Str& out);
  Str run_loop(const Stmt& s, const Value& iterable, int depth0, Str* out_direct);
  void exec_set(const Stmt& s, Str& out);
  void define_macro(const Stmt& s);
  Value call_macro(const Stmt& s, const std::weak_ptr<Scope>& def_scope, CallArgs& args, const Value* caller);
  void assign(const Target& t, const Value& v);
  void write(Str& out, const Str& s);
  Str capture(const Body& body, ScopePtr scope);

  Limits limits_;
  int64_t now_unix_;
  int64_t iterations_ = 0;
  int64_t created_bytes_ = 0;
  int call_depth_ = 0;
  int recursion_ = 0;
  int line_ = 0;
  ScopePtr root_, scope_;
  Str* root_out_ = nullptr;
  size_t root_counted_ = 0, root_chars_ = 0;  // code points in root_out_->text[0, root_counted_)
  std::vector<std::pair<size_t, size_t>> gen_;
};

// RAII: enter a scope for the duration of a block.
struct ScopeGuard {
  ScopePtr& slot;
  ScopePtr saved;
  ScopeGuard(ScopePtr& s, ScopePtr next) : slot(s), saved(s) { slot = std::move(next); }
  ~ScopeGuard() { slot = saved; }
};

// Builtin globals: range, dict, namespace, raise_exception, strftime_now (tests.cpp).
void add_builtin_globals(Scope& root);

// Python string helpers on UTF-8 with provenance (pystr.cpp).
namespace pystr {
std::vector<std::pair<size_t, size_t>> codepoints(std::string_view s);  // byte ranges of each code point
Str substr(const Str& s, size_t begin, size_t end);                     // byte range, keeping marks
Str strip(const Str& s, const Value* chars, bool left, bool right);
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);        // str.title()
std::string jinja_title(std::string_view s);  // the title filter
std::string capitalize(std::string_view s);
Str replace(const Str& s, const std::string& old, const Str& repl, int64_t count);
std::vector<Str> splitlines(const Str& s, bool keepends);
std::vector<Value> split(const Str& s, const Value* sep, int64_t maxsplit, bool from_right);
std::string json_dumps(const Value& v, const Value& indent, bool ensure_ascii, bool sort_keys,
                       const Value& separators, bool* marked);
std::string printf_format(const std::string& fmt, const Value& args);
std::string str_format(const std::string& fmt, const CallArgs& args);
std::string strftime(const std::string& fmt, int64_t unix_time);
// Python int(s, base) and float(s); false when s is not a number of that form.
bool parse_int(const std::string& s, int base, int64_t& out);
bool parse_float(const std::string& s, double& out);
}  // namespace pystr

}  // namespace lm::jinja
