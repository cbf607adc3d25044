// Error code names and the abort path of LM_ASSERT.
#include "lm/core/error.h"

#include <cstdio>
#include <cstdlib>

namespace lm {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "invalid argument";
    case ErrorCode::NotFound: return "not found";
    case ErrorCode::BadFormat: return "bad format";
    case ErrorCode::Unsupported: return "unsupported";
    case ErrorCode::OutOfMemory: return "out of memory";
    case ErrorCode::Internal: return "internal error";
  }
  return "error";
}

void assert_fail(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "lmcpp: internal assertion failed: %s at %s:%d %s\n", expr, file, line, msg.c_str());
  std::abort();
}

}  // namespace lm
