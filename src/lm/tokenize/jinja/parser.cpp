// Statement parsing (jinja2's parser.py subparse/parse_statement) plus the generation and loop-control tags
// of transformers' environment.
#include "lm/tokenize/jinja/parser.h"

namespace lm::jinja {

namespace {

bool at_end(const Parser& p, std::initializer_list<const char*> end_tokens) {
  for (const char* e : end_tokens)
    if (p.is_name(e)) return true;
  return false;
}

std::string end_list(std::initializer_list<const char*> end_tokens) {
  std::string s;
  for (const char* e : end_tokens) s += std::string(s.empty() ? "" : " or ") + "'" + e + "'";
  return s;
}

}  // namespace

ParsedTemplate Parser::parse() {
  ParsedTemplate t;
  bool hit = false;
  t.body = subparse({}, &hit);
  if (cur().type != Tok::Eof) fail("unexpected '" + describe(cur()) + "'");
  t.has_generation = has_generation_;
  return t;
}

Body Parser::subparse(std::initializer_list<const char*> end_tokens, bool* hit_end) {
  DepthGuard g(*this);
  Body body;
  StmtPtr out;
  auto flush = [&] {
    if (out) body.push_back(std::move(out));
  };
  auto output = [&](int line) -> Stmt& {
    if (!out) {
      out = std::make_unique<Stmt>();
      out->kind = StmtKind::Output;
      out->line = line;
    }
    return *out;
  };
  *hit_end = false;
  while (cur().type != Tok::Eof) {
    const Token& tk = cur();
    if (tk.type == Tok::Data) {
      auto c = make(ExprKind::Const, tk.line);
      c->value = Value::string(tk.value);
      output(tk.line).exprs.push_back(std::move(c));
      next();
    } else if (tk.type == Tok::VarBegin) {
      next();
      Stmt& o = output(cur().line);
      o.exprs.push_back(parse_tuple(false, true));
      expect(Tok::VarEnd);
    } else if (tk.type == Tok::BlockBegin) {
      flush();
      next();
      if (at_end(*this, end_tokens)) {
        *hit_end = true;
        return body;
      }
      body.push_back(parse_statement());
      expect(Tok::BlockEnd);
    } else {
      fail("unexpected '" + describe(tk) + "'");
    }
  }
  flush();
  return body;
}

Body Parser::parse_statements(std::initializer_list<const char*> end_tokens, bool drop_needle) {
  skip_op(":");
  expect(Tok::BlockEnd);
  bool hit = false;
  Body b = subparse(end_tokens, &hit);
  if (!hit)
    fail("Unexpected end of template. Jinja was looking for the following tags: " + end_list(end_tokens) +
         ".");
  if (drop_needle) next();
  return b;
}

StmtPtr Parser::parse_statement() {
  if (cur().type != Tok::Name) fail("tag name expected");
  const std::string& n = cur().value;
  if (n == "for") return parse_for();
  if (n == "if") return parse_if();
  if (n == "set") return parse_set();
  if (n == "macro") return parse_macro();
  if (n == "call") return parse_call_block();
  if (n == "with") return parse_with();
  auto s = std::make_unique<Stmt>();
  s->line = cur().line;
  if (n == "break" || n == "continue") {
    if (loop_depth_ == 0) fail("'" + n + "' outside loop");
    s->kind = n == "break" ? StmtKind::Break : StmtKind::Continue;
    next();
    return s;
  }
  if (n == "filter") {
    s->kind = StmtKind::FilterBlock;
    next();
    s->filter = parse_filter(nullptr, true);
    s->bodies.push_back(parse_statements({"endfilter"}, true));
    return s;
  }
  if (n == "generation") {
    s->kind = StmtKind::Generation;
    has_generation_ = true;
    next();
    const int saved = loop_depth_;
    loop_depth_ = 0;  // the body is a caller() function: break/continue cannot reach an outer loop
    s->bodies.push_back(parse_statements({"endgeneration"}, true));
    loop_depth_ = saved;
    return s;
  }
  fail("Encountered unknown tag '" + n + "'.");
}

StmtPtr Parser::parse_for() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::For;
  s->line = cur().line;
  next();
  s->target = parse_assign_target(true, false, {"in"}, false);
  if (!skip_name("in")) fail("expected token 'in', got '" + describe(cur()) + "'");
  s->exprs.push_back(parse_tuple(false, false, {"recursive"}));
  if (skip_name("if"))
    s->exprs.push_back(parse_expression());
  else
    s->exprs.push_back(nullptr);
  s->recursive = skip_name("recursive");
  ++loop_depth_;
  s->bodies.push_back(parse_statements({"endfor", "else"}, false));
  --loop_depth_;
  const bool is_else = is_name("else");
  next();
  if (is_else) s->bodies.push_back(parse_statements({"endfor"}, true));
  return s;
}

StmtPtr Parser::parse_if() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::If;
  s->line = cur().line;
  next();
  while (true) {
    s->exprs.push_back(parse_tuple(false, false));
    s->bodies.push_back(parse_statements({"elif", "else", "endif"}, false));
    const std::string tag = cur().value;
    next();
    if (tag == "elif") continue;
    if (tag == "else") s->bodies.push_back(parse_statements({"endif"}, true));
    break;
  }
  return s;
}

StmtPtr Parser::parse_set() {
  auto s = std::make_unique<Stmt>();
  s->line = cur().line;
  next();
  s->target = parse_assign_target(true, false, {}, true);
  if (skip_op("=")) {
    s->kind = StmtKind::Set;
    s->exprs.push_back(parse_tuple());
    return s;
  }
  s->kind = StmtKind::SetBlock;
  if (is_op("|")) s->filter = parse_filter(nullptr);
  s->bodies.push_back(parse_statements({"endset"}, true));
  return s;
}

void Parser::parse_signature(Stmt& s) {
  expect_op("(");
  while (!is_op(")")) {
    if (!s.params.empty()) expect_op(",");
    s.params.push_back(expect_name());
    if (skip_op("="))
      s.defaults.push_back(parse_expression());
    else if (!s.defaults.empty())
      fail("non-default argument follows default argument");
  }
  expect_op(")");
}

StmtPtr Parser::parse_macro() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::Macro;
  s->line = cur().line;
  next();
  s->name = expect_name();
  parse_signature(*s);
  bool* saved = macro_uses_varargs_;
  const int saved_loops = loop_depth_;
  macro_uses_varargs_ = &s->uses_varargs;
  loop_depth_ = 0;
  s->bodies.push_back(parse_statements({"endmacro"}, true));
  macro_uses_varargs_ = saved;
  loop_depth_ = saved_loops;
  if (saved && s->uses_varargs) *saved = true;
  return s;
}

StmtPtr Parser::parse_call_block() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::CallBlock;
  s->line = cur().line;
  next();
  if (is_op("(")) parse_signature(*s);
  s->exprs.push_back(parse_expression());
  if (s->exprs[0]->kind != ExprKind::Call) fail("expected call");
  const int saved_loops = loop_depth_;
  loop_depth_ = 0;
  s->bodies.push_back(parse_statements({"endcall"}, true));
  loop_depth_ = saved_loops;
  return s;
}

StmtPtr Parser::parse_with() {
  auto s = std::make_unique<Stmt>();
  s->kind = StmtKind::With;
  s->line = cur().line;
  next();
  while (cur().type != Tok::BlockEnd) {
    if (!s->targets.empty()) expect_op(",");
    s->targets.push_back(parse_assign_target(true, false, {}, false));
    expect_op("=");
    s->exprs.push_back(parse_expression());
  }
  s->bodies.push_back(parse_statements({"endwith"}, true));
  return s;
}

Target Parser::to_target(const Expr& e) {
  Target t;
  if (e.kind == ExprKind::Name) {
    t.name = e.name;
    return t;
  }
  if (e.kind == ExprKind::Tuple) {
    t.kind = Target::Kind::Tuple;
    for (const auto& k : e.kids) t.items.push_back(to_target(*k));
    return t;
  }
  fail(e.kind == ExprKind::Const ? "can't assign to 'const'" : "can't assign to this expression");
}

Target Parser::parse_assign_target(bool with_tuple, bool name_only,
                                   std::initializer_list<const char*> extra_end, bool with_namespace) {
  if (with_namespace && cur().type == Tok::Name && look().type == Tok::Op && look().value == ".") {
    Target t;
    t.kind = Target::Kind::NSRef;
    t.name = expect_name();
    next();
    t.attr = expect_name();
    return t;
  }
  if (name_only) {
    Target t;
    t.name = expect_name();
    return t;
  }
  ExprPtr e = with_tuple ? parse_tuple(true, true, extra_end) : parse_primary();
  return to_target(*e);
}

ParsedTemplate parse_template(const std::string& source) { return Parser(lex(source)).parse(); }

}  // namespace lm::jinja
