// Expression parsing, precedence as jinja2: condexpr < or < and < not < compare < + - < ~ < * / // % < ** <
// unary; filters, tests and calls bind to the unary operand (so `a ~ b|upper` filters b only).
#include <cstring>

#include "lm/tokenize/jinja/parser.h"

namespace lm::jinja {

namespace {
constexpr int kMaxExprDepth = 200;
const char* const kCompareOps[] = {"==", "!=", "<", ">", "<=", ">="};
}  // namespace

ExprPtr Parser::make(ExprKind k, int line) const {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->line = line;
  return e;
}

void Parser::add_kid(Expr& e, ExprPtr kid) const {
  if (kid) {
    e.depth = std::max(e.depth, kid->depth + 1);
    if (e.depth > kMaxExprDepth) fail("expression nesting too deep");
  }
  e.kids.push_back(std::move(kid));
}

std::string Parser::describe(const Token& t) const {
  switch (t.type) {
    case Tok::Eof:
      return "end of template";
    case Tok::BlockEnd:
      return "end of statement block";
    case Tok::VarEnd:
      return "end of print statement";
    case Tok::BlockBegin:
      return "begin of statement block";
    case Tok::VarBegin:
      return "begin of print statement";
    case Tok::Data:
      return "template data / text";
    default:
      return t.value;
  }
}

void Parser::expect_op(const char* op) {
  if (!skip_op(op)) fail(std::string("expected token '") + op + "', got '" + describe(cur()) + "'");
}

std::string Parser::expect_name() {
  if (cur().type != Tok::Name) fail("expected token 'name', got '" + describe(cur()) + "'");
  std::string n = cur().value;
  next();
  return n;
}

void Parser::expect(Tok t) {
  if (cur().type != t) {
    Token want;
    want.type = t;
    fail("expected token '" + describe(want) + "', got '" + describe(cur()) + "'");
  }
  next();
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
  DepthGuard g(*this);
  return with_condexpr ? parse_condexpr() : parse_or();
}

ExprPtr Parser::parse_condexpr() {
  const int line = cur().line;
  ExprPtr e1 = parse_or();
  while (skip_name("if")) {
    ExprPtr e2 = parse_or();
    ExprPtr e3;
    if (skip_name("else")) e3 = parse_condexpr();
    auto n = make(ExprKind::CondExpr, line);
    add_kid(*n, std::move(e2));
    add_kid(*n, std::move(e1));
    add_kid(*n, std::move(e3));
    e1 = std::move(n);
  }
  return e1;
}

ExprPtr Parser::parse_or() {
  ExprPtr left = parse_and();
  while (is_name("or")) {
    const int line = cur().line;
    next();
    auto n = make(ExprKind::Or, line);
    add_kid(*n, std::move(left));
    add_kid(*n, parse_and());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::parse_and() {
  ExprPtr left = parse_not();
  while (is_name("and")) {
    const int line = cur().line;
    next();
    auto n = make(ExprKind::And, line);
    add_kid(*n, std::move(left));
    add_kid(*n, parse_not());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::parse_not() {
  if (is_name("not")) {
    DepthGuard g(*this);
    auto n = make(ExprKind::Not, cur().line);
    next();
    add_kid(*n, parse_not());
    return n;
  }
  return parse_compare();
}

ExprPtr Parser::parse_compare() {
  const int line = cur().line;
  ExprPtr expr = parse_math1();
  ExprPtr cmp;
  while (true) {
    std::string op;
    if (cur().type == Tok::Op) {
      for (const char* c : kCompareOps)
        if (cur().value == c) op = c;
    }
    if (!op.empty()) {
      next();
    } else if (skip_name("in")) {
      op = "in";
    } else if (is_name("not") && look().type == Tok::Name && look().value == "in") {
      next();
      next();
      op = "notin";
    } else {
      break;
    }
    if (!cmp) {
      cmp = make(ExprKind::Compare, line);
      add_kid(*cmp, std::move(expr));
    }
    cmp->ops.push_back(op);
    add_kid(*cmp, parse_math1());
  }
  return cmp ? std::move(cmp) : std::move(expr);
}

ExprPtr Parser::parse_math1() {
  ExprPtr left = parse_concat();
  while (is_op("+") || is_op("-")) {
    auto n = make(ExprKind::Binary, cur().line);
    n->name = cur().value;
    next();
    add_kid(*n, std::move(left));
    add_kid(*n, parse_concat());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::parse_concat() {
  const int line = cur().line;
  ExprPtr first = parse_math2();
  if (!is_op("~")) return first;
  auto n = make(ExprKind::Concat, line);
  add_kid(*n, std::move(first));
  while (skip_op("~")) add_kid(*n, parse_math2());
  return n;
}

ExprPtr Parser::parse_math2() {
  ExprPtr left = parse_pow();
  while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
    auto n = make(ExprKind::Binary, cur().line);
    n->name = cur().value;
    next();
    add_kid(*n, std::move(left));
    add_kid(*n, parse_pow());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::parse_pow() {
  ExprPtr left = parse_unary();
  while (is_op("**")) {
    auto n = make(ExprKind::Binary, cur().line);
    n->name = "**";
    next();
    add_kid(*n, std::move(left));
    add_kid(*n, parse_unary());
    left = std::move(n);
  }
  return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
  DepthGuard g(*this);
  ExprPtr node;
  if (is_op("-") || is_op("+")) {
    node = make(is_op("-") ? ExprKind::Neg : ExprKind::Pos, cur().line);
    next();
    add_kid(*node, parse_unary(false));
  } else {
    node = parse_primary();
  }
  node = parse_postfix(std::move(node));
  if (with_filter) node = parse_filter_expr(std::move(node));
  return node;
}

ExprPtr Parser::parse_primary() {
  const Token& tk = cur();
  ExprPtr node;
  if (tk.type == Tok::Name) {
    node = make(ExprKind::Const, tk.line);
    const std::string& v = tk.value;
    if (v == "true" || v == "True" || v == "false" || v == "False") {
      node->value = Value::boolean(v == "true" || v == "True");
    } else if (v == "none" || v == "None") {
      node->value = Value::none();
    } else {
      node->kind = ExprKind::Name;
      node->name = v;
      if (macro_uses_varargs_ && (v == "varargs" || v == "kwargs" || v == "caller"))
        *macro_uses_varargs_ = true;
    }
    next();
  } else if (tk.type == Tok::String) {
    node = make(ExprKind::Const, tk.line);
    std::string s;
    while (cur().type == Tok::String) {
      s += cur().value;
      next();
    }
    node->value = Value::string(std::move(s));
  } else if (tk.type == Tok::Integer || tk.type == Tok::Float) {
    node = make(ExprKind::Const, tk.line);
    node->value = tk.type == Tok::Integer ? Value::integer(tk.ival) : Value::number(tk.fval);
    next();
  } else if (is_op("(")) {
    next();
    node = parse_tuple(false, true, {}, true);
    expect_op(")");
  } else if (is_op("[")) {
    node = parse_list();
  } else if (is_op("{")) {
    node = parse_dict();
  } else {
    fail("unexpected '" + describe(tk) + "'");
  }
  return node;
}

bool Parser::is_tuple_end(std::initializer_list<const char*> extra_end) const {
  if (cur().type == Tok::VarEnd || cur().type == Tok::BlockEnd || is_op(")")) return true;
  for (const char* n : extra_end)
    if (is_name(n)) return true;
  return false;
}

ExprPtr Parser::parse_tuple(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra_end,
                            bool explicit_parens) {
  DepthGuard g(*this);
  const int line = cur().line;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) expect_op(",");
    if (is_tuple_end(extra_end)) break;
    if (simplified)
      args.push_back(parse_primary());
    else
      args.push_back(parse_expression(with_condexpr));
    if (is_op(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) fail("Expected an expression, got '" + describe(cur()) + "'");
  }
  auto n = make(ExprKind::Tuple, line);
  for (auto& a : args) add_kid(*n, std::move(a));
  return n;
}

ExprPtr Parser::parse_list() {
  DepthGuard g(*this);
  auto n = make(ExprKind::List, cur().line);
  expect_op("[");
  while (!is_op("]")) {
    if (!n->kids.empty()) expect_op(",");
    if (is_op("]")) break;
    add_kid(*n, parse_expression());
  }
  expect_op("]");
  return n;
}

ExprPtr Parser::parse_dict() {
  DepthGuard g(*this);
  auto n = make(ExprKind::Dict, cur().line);
  expect_op("{");
  while (!is_op("}")) {
    if (!n->kids.empty()) expect_op(",");
    if (is_op("}")) break;
    add_kid(*n, parse_expression());
    expect_op(":");
    add_kid(*n, parse_expression());
  }
  expect_op("}");
  return n;
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
  while (true) {
    if (is_op(".") || is_op("[")) {
      node = parse_subscript(std::move(node));
    } else if (is_op("(")) {
      auto c = make(ExprKind::Call, cur().line);
      add_kid(*c, std::move(node));
      parse_call_args(*c);
      node = std::move(c);
    } else {
      break;
    }
  }
  return node;
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    if (is_op("|")) {
      node = parse_filter(std::move(node));
    } else if (is_name("is")) {
      node = parse_test(std::move(node));
    } else if (is_op("(")) {
      auto c = make(ExprKind::Call, cur().line);
      add_kid(*c, std::move(node));
      parse_call_args(*c);
      node = std::move(c);
    } else {
      break;
    }
  }
  return node;
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
  DepthGuard g(*this);
  const int line = cur().line;
  if (skip_op(".")) {
    if (cur().type == Tok::Name) {
      auto n = make(ExprKind::Getattr, line);
      n->name = cur().value;
      next();
      add_kid(*n, std::move(node));
      return n;
    }
    if (cur().type != Tok::Integer) fail("expected name or number");
    auto n = make(ExprKind::Getitem, line);
    add_kid(*n, std::move(node));
    auto c = make(ExprKind::Const, line);
    c->value = Value::integer(cur().ival);
    next();
    add_kid(*n, std::move(c));
    return n;
  }
  expect_op("[");
  std::vector<ExprPtr> args;
  while (!is_op("]")) {
    if (!args.empty()) expect_op(",");
    args.push_back(parse_subscribed());
  }
  expect_op("]");
  auto n = make(ExprKind::Getitem, line);
  add_kid(*n, std::move(node));
  if (args.size() == 1) {
    add_kid(*n, std::move(args[0]));
  } else {
    auto t = make(ExprKind::Tuple, line);
    for (auto& a : args) add_kid(*t, std::move(a));
    add_kid(*n, std::move(t));
  }
  return n;
}

ExprPtr Parser::parse_subscribed() {
  const int line = cur().line;
  auto sl = make(ExprKind::Slice, line);
  if (skip_op(":")) {
    add_kid(*sl, nullptr);
  } else {
    ExprPtr node = parse_expression();
    if (!skip_op(":")) return node;
    add_kid(*sl, std::move(node));
  }
  if (is_op(":") || is_op("]") || is_op(","))
    add_kid(*sl, nullptr);
  else
    add_kid(*sl, parse_expression());
  if (skip_op(":")) {
    if (is_op("]") || is_op(","))
      add_kid(*sl, nullptr);
    else
      add_kid(*sl, parse_expression());
  } else {
    add_kid(*sl, nullptr);
  }
  return sl;
}

void Parser::parse_call_args(Expr& call) {
  DepthGuard g(*this);
  expect_op("(");
  bool require_comma = false;
  while (!is_op(")")) {
    if (require_comma) {
      expect_op(",");
      if (is_op(")")) break;
    }
    if (is_op("*") || is_op("**")) fail("*args and **kwargs in calls are not supported");
    if (cur().type == Tok::Name && look().type == Tok::Op && look().value == "=") {
      std::string key = cur().value;
      next();
      next();
      ExprPtr v = parse_expression();
      if (v->depth + 1 > call.depth) call.depth = v->depth + 1;
      call.kwargs.emplace_back(std::move(key), std::move(v));
    } else {
      if (!call.kwargs.empty()) fail("invalid syntax for function call expression");
      add_kid(call, parse_expression());
    }
    require_comma = true;
  }
  expect_op(")");
}

ExprPtr Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (is_op("|") || start_inline) {
    if (!start_inline) next();
    const int line = cur().line;
    std::string name = expect_name();
    while (skip_op(".")) {
      name += '.';
      name += expect_name();
    }
    auto f = make(ExprKind::Filter, line);
    f->name = std::move(name);
    add_kid(*f, std::move(node));
    if (is_op("(")) parse_call_args(*f);
    node = std::move(f);
    start_inline = false;
  }
  return node;
}

ExprPtr Parser::parse_test(ExprPtr node) {
  const int line = cur().line;
  next();  // is
  const bool negated = skip_name("not");
  std::string name = expect_name();
  while (skip_op(".")) {
    name += '.';
    name += expect_name();
  }
  auto t = make(ExprKind::Test, line);
  t->name = std::move(name);
  add_kid(*t, std::move(node));
  if (is_op("(")) {
    parse_call_args(*t);
  } else if ((cur().type == Tok::Name || cur().type == Tok::String || cur().type == Tok::Integer ||
              cur().type == Tok::Float || is_op("(") || is_op("[") || is_op("{")) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) fail("You cannot chain multiple tests with is");
    DepthGuard g(*this);
    add_kid(*t, parse_postfix(parse_primary()));
  }
  if (!negated) return t;
  auto n = make(ExprKind::Not, line);
  add_kid(*n, std::move(t));
  return n;
}

}  // namespace lm::jinja
