// Statement execution: output, if, for (filter, else, loop object, recursive loops, break/continue), set
// (names, tuples, namespace attributes, blocks), macros and call blocks, filter/with blocks and {% generation
// %}.
#include "lm/tokenize/jinja/eval.h"

#include "lm/tokenize/jinja/lexer.h"

namespace lm::jinja {

namespace {
constexpr int kMaxRecursion = 1500;  // nested eval/exec frames (expressions, blocks and macro calls together)

bool holds_namespace(const Value& v, int budget = 100000) {
  if (v.kind() == Kind::Namespace || v.kind() == Kind::Loop) return true;
  if (v.kind() == Kind::List) {
    for (const auto& x : v.items())
      if (--budget < 0 || holds_namespace(x, budget)) return true;
  } else if (v.kind() == Kind::Dict) {
    for (const auto& [k, x] : v.dict_obj().items)
      if (--budget < 0 || holds_namespace(x, budget)) return true;
  }
  return false;
}
}  // namespace

Evaluator::Recursion::Recursion(Evaluator& e) : ev(e) {
  if (++ev.recursion_ > kMaxRecursion) {
    --ev.recursion_;
    throw EvalError("template recursion too deep");
  }
}

void Evaluator::charge(int64_t n) {
  iterations_ += n;
  if (iterations_ > limits_.max_loop_iterations)
    throw EvalError("loop iteration limit exceeded (" + std::to_string(limits_.max_loop_iterations) + ")");
}

void Evaluator::check_size(size_t bytes) const {
  if (bytes > limits_.max_output_bytes)
    throw EvalError("output size limit exceeded (" + std::to_string(limits_.max_output_bytes) + " bytes)");
}

void Evaluator::write(Str& out, const Str& s) {
  check_size(out.text.size() + s.text.size());
  created_bytes_ += static_cast<int64_t>(s.text.size());
  if (created_bytes_ > 16 * static_cast<int64_t>(limits_.max_output_bytes) + (1 << 20))
    throw EvalError("template work limit exceeded");
  out.append(s);
}

Str Evaluator::render(const Body& body, ScopePtr root) {
  root_ = root;
  scope_ = root;
  Str out;
  root_out_ = &out;
  exec(body, out);
  root_out_ = nullptr;
  out.normalize();
  return out;
}

Flow Evaluator::exec(const Body& body, Str& out) {
  for (const auto& s : body) {
    const Flow f = exec_stmt(*s, out);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

Str Evaluator::capture(const Body& body, ScopePtr scope) {
  ScopeGuard g(scope_, std::move(scope));
  Str buf;
  exec(body, buf);
  return buf;
}

Flow Evaluator::exec_stmt(const Stmt& s, Str& out) {
  Recursion r(*this);
  line_ = s.line;
  switch (s.kind) {
    case StmtKind::Output:
      for (const auto& e : s.exprs) {
        if (e->kind == ExprKind::Const && e->value.is_string()) {
          write(out, e->value.str());
        } else {
          const Value v = eval(*e);
          write(out, to_str(v));
        }
      }
      return Flow::Normal;
    case StmtKind::If:
      for (size_t i = 0; i < s.exprs.size(); ++i) {
        line_ = s.exprs[i]->line;
        if (eval(*s.exprs[i]).truthy()) return exec(s.bodies[i], out);
      }
      if (s.bodies.size() > s.exprs.size()) return exec(s.bodies.back(), out);
      return Flow::Normal;
    case StmtKind::For:
      return exec_for(s, out);
    case StmtKind::Set:
    case StmtKind::SetBlock:
      exec_set(s, out);
      return Flow::Normal;
    case StmtKind::Macro:
      define_macro(s);
      return Flow::Normal;
    case StmtKind::CallBlock: {
      // caller() renders the body in a child scope of the current one.
      const Stmt* body_stmt = &s;
      std::weak_ptr<Scope> def = scope_;
      auto f = std::make_shared<FuncObj>();
      f->name = "caller";
      f->fn = [this, body_stmt, def](Evaluator&, CallArgs& a) {
        return call_macro(*body_stmt, def, a, nullptr);
      };
      const Value caller = Value::func(f);
      const Expr& call = *s.exprs[0];
      const Value fn = eval(*call.kids[0]);
      CallArgs args;
      for (size_t i = 1; i < call.kids.size(); ++i) args.args.push_back(eval(*call.kids[i]));
      for (const auto& [k, v] : call.kwargs) args.kwargs.emplace_back(k, eval(*v));
      args.kwargs.emplace_back("caller", caller);
      write(out, to_str(this->call(fn, args)));
      return Flow::Normal;
    }
    case StmtKind::FilterBlock: {
      Str body = capture(s.bodies[0], scope_);
      const Value v = apply_filter_chain(s.filter.get(), Value::string(std::move(body)));
      write(out, to_str(v));
      return Flow::Normal;
    }
    case StmtKind::With: {
      auto sc = std::make_shared<Scope>();
      sc->parent = scope_;
      std::vector<Value> vals;
      for (const auto& e : s.exprs) vals.push_back(eval(*e));
      ScopeGuard g(scope_, sc);
      for (size_t i = 0; i < s.targets.size(); ++i) assign(s.targets[i], vals[i]);
      return exec(s.bodies[0], out);
    }
    case StmtKind::Generation: {
      auto sc = std::make_shared<Scope>();
      sc->parent = scope_;
      Str body = capture(s.bodies[0], sc);
      // transformers' AssistantTracker: the span starts at the length (in characters) of the top-level output
      // so far and is as long as the body; render() maps these character offsets to bytes of the final text.
      if (root_out_) {
        for (; root_counted_ < root_out_->text.size(); ++root_counted_)
          root_chars_ += (static_cast<unsigned char>(root_out_->text[root_counted_]) & 0xC0) != 0x80;
      }
      size_t n = 0;
      for (char c : body.text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
      if (n) gen_.emplace_back(root_chars_, root_chars_ + n);
      write(out, body);
      return Flow::Normal;
    }
    case StmtKind::Break:
      return Flow::Break;
    case StmtKind::Continue:
      return Flow::Continue;
  }
  return Flow::Normal;
}

Flow Evaluator::exec_for(const Stmt& s, Str& out) {
  const Value iterable = eval(*s.exprs[0]);
  run_loop(s, iterable, 0, &out);
  return Flow::Normal;
}

Str Evaluator::run_loop(const Stmt& s, const Value& iterable, int depth0, Str* out_direct) {
  Str local;
  Str& out = out_direct ? *out_direct : local;
  std::vector<Value> items = iterate(iterable);
  charge(static_cast<int64_t>(items.size()) / 16);
  const ScopePtr outer = scope_;
  if (s.exprs[1]) {  // {% for x in xs if cond %}: the test sees the target but not `loop`
    std::vector<Value> kept;
    for (auto& it : items) {
      charge(1);
      auto sc = std::make_shared<Scope>();
      sc->parent = outer;
      ScopeGuard g(scope_, sc);
      assign(s.target, it);
      if (eval(*s.exprs[1]).truthy()) kept.push_back(std::move(it));
    }
    items = std::move(kept);
  }
  if (items.empty()) {
    if (s.bodies.size() > 1) exec(s.bodies[1], out);
    return local;
  }
  auto seq = std::make_shared<std::vector<Value>>(std::move(items));
  auto lo = std::make_shared<LoopObj>();
  lo->seq = seq;
  lo->length = static_cast<int64_t>(seq->size());
  lo->depth0 = depth0;
  if (s.recursive) {
    const Stmt* sp = &s;
    lo->recurse = [sp, depth0](Evaluator& ev, CallArgs& a) {
      if (a.args.size() != 1) throw EvalError("loop() takes exactly one argument");
      return Value::string(ev.run_loop(*sp, a.args[0], depth0 + 1, nullptr));
    };
  }
  const Value loop_val = Value::loop(lo);
  for (size_t i = 0; i < seq->size(); ++i) {
    charge(1);
    lo->index0 = static_cast<int64_t>(i);
    auto sc = std::make_shared<Scope>();
    sc->parent = outer;
    ScopeGuard g(scope_, sc);
    sc->vars["loop"] = loop_val;
    assign(s.target, (*seq)[i]);
    if (exec(s.bodies[0], out) == Flow::Break) break;
  }
  return local;
}

void Evaluator::assign(const Target& t, const Value& v) {
  switch (t.kind) {
    case Target::Kind::Name:
      scope_->vars[t.name] = v;
      return;
    case Target::Kind::Tuple: {
      std::vector<Value> parts = iterate(v);
      if (parts.size() != t.items.size())
        throw EvalError(parts.size() < t.items.size()
                            ? "not enough values to unpack (expected " + std::to_string(t.items.size()) +
                                  ", got " + std::to_string(parts.size()) + ")"
                            : "too many values to unpack (expected " + std::to_string(t.items.size()) + ")");
      for (size_t i = 0; i < parts.size(); ++i) assign(t.items[i], parts[i]);
      return;
    }
    case Target::Kind::NSRef: {
      const Value* ns = scope_->find(t.name);
      if (!ns || ns->kind() != Kind::Namespace)
        throw EvalError("cannot assign attribute on non-namespace object");
      if (holds_namespace(v))
        throw EvalError("a namespace attribute cannot hold a namespace or loop (unsupported)");
      ns->dict_obj().set(Value::string(t.attr), v);
      return;
    }
  }
}

void Evaluator::exec_set(const Stmt& s, Str& out) {
  if (s.kind == StmtKind::Set) {
    assign(s.target, eval(*s.exprs[0]));
    return;
  }
  (void)out;
  Value v = Value::string(capture(s.bodies[0], scope_));
  if (s.filter) v = apply_filter_chain(s.filter.get(), std::move(v));
  assign(s.target, v);
}

void Evaluator::define_macro(const Stmt& s) {
  const Stmt* sp = &s;
  std::weak_ptr<Scope> def = scope_;
  auto f = std::make_shared<FuncObj>();
  f->name = s.name;
  f->fn = [this, sp, def](Evaluator&, CallArgs& a) { return call_macro(*sp, def, a, nullptr); };
  scope_->vars[s.name] = Value::func(f);
}

Value Evaluator::call_macro(const Stmt& s, const std::weak_ptr<Scope>& def_scope, CallArgs& args,
                            const Value* caller) {
  if (call_depth_ >= limits_.max_call_depth) throw EvalError("macro recursion limit exceeded");
  ++call_depth_;
  struct DepthDown {
    int& d;
    ~DepthDown() { --d; }
  } down{call_depth_};
  auto sc = std::make_shared<Scope>();
  ScopePtr parent = def_scope.lock();
  sc->parent = parent ? parent : root_;
  const bool is_caller = s.kind == StmtKind::CallBlock;
  const std::string name = is_caller ? "caller" : s.name;
  std::vector<Value> varargs;
  for (size_t i = 0; i < args.args.size(); ++i) {
    if (i < s.params.size())
      sc->vars[s.params[i]] = args.args[i];
    else if (s.uses_varargs)
      varargs.push_back(args.args[i]);
    else
      throw EvalError("macro '" + name + "' takes not more than " + std::to_string(s.params.size()) +
                      " argument(s)");
  }
  auto kw = std::make_shared<DictObj>();
  for (const auto& [k, v] : args.kwargs) {
    bool is_param = false;
    for (size_t i = 0; i < s.params.size(); ++i)
      if (s.params[i] == k) {
        if (i < args.args.size())
          throw EvalError("macro '" + name + "' got multiple values for argument '" + k + "'");
        sc->vars[k] = v;
        is_param = true;
      }
    if (is_param) continue;
    if (k == "caller" && !is_caller) {
      sc->vars["caller"] = v;
      continue;
    }
    if (!s.uses_varargs) throw EvalError("macro '" + name + "' takes no keyword argument '" + k + "'");
    kw->items.emplace_back(Value::string(k), v);
  }
  if (caller) sc->vars["caller"] = *caller;
  sc->vars["varargs"] = Value::list(std::move(varargs), true);
  sc->vars["kwargs"] = Value::dict(kw);
  ScopeGuard g(scope_, sc);
  const size_t first_default = s.params.size() - s.defaults.size();
  for (size_t i = 0; i < s.params.size(); ++i) {
    if (sc->vars.count(s.params[i])) continue;
    if (i >= first_default)
      sc->vars[s.params[i]] = eval(*s.defaults[i - first_default]);
    else
      sc->vars[s.params[i]] = Value::undefined("parameter '" + s.params[i] + "' was not provided");
  }
  Str buf;
  exec(s.bodies[0], buf);
  return Value::string(std::move(buf));
}

Value Evaluator::apply_filter_chain(const Expr* chain, Value v) {
  std::vector<const Expr*> links;
  for (const Expr* f = chain; f; f = f->kids[0].get()) links.push_back(f);
  for (auto it = links.rbegin(); it != links.rend(); ++it) {
    CallArgs a;
    for (size_t i = 1; i < (*it)->kids.size(); ++i) a.args.push_back(eval(*(*it)->kids[i]));
    for (const auto& [k, x] : (*it)->kwargs) a.kwargs.emplace_back(k, eval(*x));
    v = this->filter((*it)->name, v, a);
  }
  return v;
}

}  // namespace lm::jinja
