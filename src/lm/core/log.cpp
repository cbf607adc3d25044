// stderr logger.
#include "lm/core/log.h"

#include <cstdio>
#include <mutex>

namespace lm {

namespace {
LogLevel g_level = LogLevel::Info;
std::mutex g_mu;
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
LogLevel log_level() { return g_level; }

void log_line(LogLevel level, const std::string& msg) {
  static const char* kTags[] = {"debug", "info", "warning", "error", ""};
  std::lock_guard<std::mutex> lock(g_mu);
  if (level == LogLevel::Info)
    std::fprintf(stderr, "%s\n", msg.c_str());
  else
    std::fprintf(stderr, "lmcpp: %s: %s\n", kTags[static_cast<int>(level)], msg.c_str());
}

}  // namespace lm
