// The recursive-descent parser (jinja2's parser.py): statements in parser.cpp, expressions in
// parser_expr.cpp. Nesting is bounded (kMaxParseDepth) so hostile input cannot overflow the stack.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "lm/tokenize/jinja/ast.h"
#include "lm/tokenize/jinja/errors.h"
#include "lm/tokenize/jinja/lexer.h"

namespace lm::jinja {

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}
  ParsedTemplate parse();

  // Expressions (parser_expr.cpp).
  ExprPtr parse_expression(bool with_condexpr = true);
  ExprPtr parse_tuple(bool simplified = false, bool with_condexpr = true,
                      std::initializer_list<const char*> extra_end = {}, bool explicit_parens = false);
  ExprPtr parse_filter(ExprPtr node, bool start_inline = false);
  void parse_call_args(Expr& call);

 private:
  // Statements (parser.cpp).
  Body subparse(std::initializer_list<const char*> end_tokens, bool* hit_end);
  Body parse_statements(std::initializer_list<const char*> end_tokens, bool drop_needle);
  StmtPtr parse_statement();
  StmtPtr parse_for();
  StmtPtr parse_if();
  StmtPtr parse_set();
  StmtPtr parse_macro();
  StmtPtr parse_call_block();
  StmtPtr parse_with();
  void parse_signature(Stmt& s);
  Target parse_assign_target(bool with_tuple, bool name_only, std::initializer_list<const char*> extra_end,
                             bool with_namespace);
  Target to_target(const Expr& e);

  // Expressions.
  ExprPtr parse_condexpr();
  ExprPtr parse_or();
  ExprPtr parse_and();
  ExprPtr parse_not();
  ExprPtr parse_compare();
  ExprPtr parse_math1();
  ExprPtr parse_concat();
  ExprPtr parse_math2();
  ExprPtr parse_pow();
  ExprPtr parse_unary(bool with_filter = true);
  ExprPtr parse_primary();
  ExprPtr parse_postfix(ExprPtr node);
  ExprPtr parse_filter_expr(ExprPtr node);
  ExprPtr parse_subscript(ExprPtr node);
  ExprPtr parse_subscribed();
  ExprPtr parse_test(ExprPtr node);
  ExprPtr parse_list();
  ExprPtr parse_dict();
  bool is_tuple_end(std::initializer_list<const char*> extra_end) const;

 public:
  // Token helpers.
  const Token& cur() const { return t_[p_]; }
  const Token& look() const { return t_[p_ + 1 < t_.size() ? p_ + 1 : p_]; }
  void next() {
    if (p_ + 1 < t_.size()) ++p_;
  }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().value == op; }
  bool is_name(const char* n) const { return cur().type == Tok::Name && cur().value == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  void expect_op(const char* op);
  std::string expect_name();
  void expect(Tok t);
  [[noreturn]] void fail(const std::string& msg) const { throw EvalError(msg, cur().line); }
  std::string describe(const Token& t) const;

  ExprPtr make(ExprKind k, int line) const;
  void add_kid(Expr& e, ExprPtr kid) const;
  void enter() {
    if (++depth_ > kMaxParseDepth) fail("template nesting too deep");
  }
  void leave() { --depth_; }

 private:
  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
  bool has_generation_ = false;
  int loop_depth_ = 0;
  bool* macro_uses_varargs_ = nullptr;
};

// RAII guard for Parser::enter/leave.
struct DepthGuard {
  Parser& p;
  explicit DepthGuard(Parser& parser) : p(parser) { p.enter(); }
  ~DepthGuard() { p.leave(); }
};

}  // namespace lm::jinja
