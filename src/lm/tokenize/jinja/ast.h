// The syntax tree of a parsed template: expressions (jinja2's nodes.Expr subset) and statements.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lm/tokenize/jinja/value.h"

namespace lm::jinja {

enum class ExprKind {
  Const,
  Name,
  List,
  Tuple,
  Dict,     // kids: key, value, key, value, ...
  Getattr,  // kids[0].name
  Getitem,  // kids[0][kids[1]]
  Slice,    // kids: start, stop, step (each may be null)
  Call,     // kids[0](kids[1..], kwargs)
  Filter,   // kids[0]|name(kids[1..], kwargs); kids[0] null in filter blocks
  Test,     // kids[0] is name(kids[1..], kwargs)
  Neg,
  Pos,
  Not,
  Binary,  // name: + - * / // % **
  And,
  Or,
  Concat,    // kids joined with ~
  Compare,   // kids[0] ops[0] kids[1] ops[1] kids[2] ...
  CondExpr,  // kids[1] if kids[0] else kids[2] (kids[2] may be null)
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind = ExprKind::Const;
  int line = 1;
  int depth = 1;
  std::string name;
  Value value;
  std::vector<ExprPtr> kids;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
};

struct Target {
  enum class Kind { Name, Tuple, NSRef } kind = Kind::Name;
  std::string name, attr;
  std::vector<Target> items;
};

enum class StmtKind {
  Output,       // exprs: data (Const strings) and {{ }} expressions
  If,           // exprs[i] -> bodies[i]; bodies.back() is else when bodies.size() > exprs.size()
  For,          // exprs[0] iter, exprs[1] filter (may be null); bodies[0] body, bodies[1] else
  Set,          // target = exprs[0]
  SetBlock,     // target = bodies[0] rendered (| filter)
  Macro,        // name(params = defaults) bodies[0]
  CallBlock,    // exprs[0] a call; params; bodies[0] is caller()
  FilterBlock,  // bodies[0] | filter
  With,         // targets = exprs; bodies[0]
  Generation,   // bodies[0]
  Break,
  Continue,
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  StmtKind kind = StmtKind::Output;
  int line = 1;
  std::vector<ExprPtr> exprs;
  std::vector<Body> bodies;
  Target target;
  std::vector<Target> targets;
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  ExprPtr filter;                 // SetBlock/FilterBlock: a Filter chain whose innermost operand is null
  bool recursive = false;
  bool uses_varargs = false;  // macros: the body names varargs/kwargs/caller
};

struct ParsedTemplate {
  Body body;
  bool has_generation = false;
};

// Parses the token stream of source; throws EvalError with the line on a syntax error.
ParsedTemplate parse_template(const std::string& source);

}  // namespace lm::jinja
