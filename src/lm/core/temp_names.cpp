// Temporary sibling names carrying the writer's pid, and the removal of those left by processes that are
// gone.
#include "lm/core/temp_names.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <random>

#include "lm/core/log.h"

namespace lm {

namespace fs = std::filesystem;

namespace {
fs::path normal_path(const std::string& path) {
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "out/" names "out"
  return p;
}
}  // namespace

std::string temp_sibling_prefix(const std::string& path) {
  return "." + normal_path(path).filename().string() + ".lmcpp-tmp-";
}

std::string temp_sibling(const std::string& path) {
  std::random_device rd;
  fs::path p = normal_path(path);
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "%ld-%08x", static_cast<long>(::getpid()),
                static_cast<unsigned>(rd()));
  return (p.parent_path() / (temp_sibling_prefix(path) + suffix)).string();
}

bool process_alive(long pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

int remove_stale_temporaries(const std::string& dir, const std::string& prefix) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return 0;
  int removed = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind(prefix, 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(n.c_str() + prefix.size(), &end, 10);
    if (end == n.c_str() + prefix.size() || (*end != '-' && *end != '\0')) continue;  // not our pattern
    if (pid == static_cast<long>(::getpid()) || process_alive(pid)) continue;
    std::error_code rec;
    fs::remove_all(e.path(), rec);
    if (!rec) {
      ++removed;
      log_info("removed {}, left by an interrupted run (process {} is gone)", e.path().string(), pid);
    }
  }
  return removed;
}

}  // namespace lm
