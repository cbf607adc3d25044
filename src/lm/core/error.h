// Error handling: lm::Error carries a code and one human-readable line ("<what>, <where>").
// LM_CHECK guards every boundary (user input, file contents); LM_ASSERT guards internal invariants and aborts.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace lm {

enum class ErrorCode { InvalidArgument, NotFound, BadFormat, Unsupported, OutOfMemory, Internal };

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& msg) : std::runtime_error(msg), code_(code) {}
  ErrorCode code() const { return code_; }
  // True for errors caused by the caller's input (CLI exit code 2); false for runtime failures (exit 1).
  bool is_input_error() const { return code_ != ErrorCode::OutOfMemory && code_ != ErrorCode::Internal; }

 private:
  ErrorCode code_;
};

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace lm

#define LM_THROW(code, ...) throw ::lm::Error((code), ::fmt::format(__VA_ARGS__))

// LM_CHECK(cond, "fmt", args...) -> InvalidArgument; LM_CHECK_AS(ErrorCode::BadFormat, cond, ...) for other codes.
#define LM_CHECK(cond, ...)                                              \
  do {                                                                   \
    if (!(cond)) LM_THROW(::lm::ErrorCode::InvalidArgument, __VA_ARGS__); \
  } while (0)

#define LM_CHECK_AS(code, cond, ...)    \
  do {                                  \
    if (!(cond)) LM_THROW((code), __VA_ARGS__); \
  } while (0)

#define LM_ASSERT(cond, ...)                                                                 \
  do {                                                                                       \
    if (!(cond)) ::lm::assert_fail(#cond, __FILE__, __LINE__, ::fmt::format("" __VA_ARGS__)); \
  } while (0)
