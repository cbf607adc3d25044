// The Jinja lexer as jinja2 3.1 configures it for chat templates: newlines normalized to "\n", the single
// trailing newline dropped (keep_trailing_newline off), trim_blocks and lstrip_blocks on, `-`/`+` whitespace
// control, comments dropped, {% raw %} kept as data. Tags become name/string/number/operator tokens.
#pragma once

#include <string>
#include <vector>

namespace lm::jinja {

enum class Tok {
  Data,
  VarBegin,
  VarEnd,
  BlockBegin,
  BlockEnd,
  Name,
  String,
  Integer,
  Float,
  Op,
  Eof,
};

struct Token {
  Tok type = Tok::Eof;
  std::string value;  // data text, name, unescaped string, operator, or number text
  int line = 1;
  int64_t ival = 0;
  double fval = 0;
};

// Throws EvalError (with the line) on a lexing error.
std::vector<Token> lex(const std::string& source);

// Python's str.isspace() for one code point.
bool py_isspace(int32_t cp);

}  // namespace lm::jinja
