// Internal errors of the Jinja engine. EvalError carries jinja2's message (TypeError text, "'x' is
// undefined"); ChatTemplate turns it into one lm::Error naming the template and the line being evaluated.
#pragma once

#include <stdexcept>
#include <string>

namespace lm::jinja {

class Value;

constexpr int kMaxValueDepth = 256;  // nesting of lists/dicts a template may build
constexpr int kMaxParseDepth = 128;  // nesting of expressions and blocks in the source

class EvalError : public std::runtime_error {
 public:
  explicit EvalError(const std::string& msg, int line = 0) : std::runtime_error(msg), line_(line) {}
  int line() const { return line_; }

 private:
  int line_;
};

// raise_exception(msg) in a template: what() is exactly msg.
class RaisedError : public std::runtime_error {
 public:
  explicit RaisedError(const std::string& msg) : std::runtime_error(msg) {}
};

// Throws the error of using an undefined value ("'x' is undefined" or its own hint).
[[noreturn]] void throw_undefined(const Value& v);

}  // namespace lm::jinja
