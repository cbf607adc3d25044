// CPU load of other processes (/proc/stat minus getrusage) and the adaptive decode team size.
#include "lm/core/cpu_load.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "lm/core/threads.h"

namespace lm {

CpuTimes read_cpu_times() {
  CpuTimes t;
  t.at = std::chrono::steady_clock::now();
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return t;
  unsigned long long user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0;
  const int n = std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait, &irq,
                            &softirq);
  std::fclose(f);
  const long hz = sysconf(_SC_CLK_TCK);
  if (n != 7 || hz <= 0) return t;
  t.machine_busy_s = static_cast<double>(user + nice + sys + irq + softirq) / static_cast<double>(hz);
  struct rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  t.self_s = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
             1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  t.valid = true;
  return t;
}

std::optional<double> other_cores_between(const CpuTimes& a, const CpuTimes& b) {
  if (!a.valid || !b.valid) return std::nullopt;
  const double wall = std::chrono::duration<double>(b.at - a.at).count();
  if (wall < 0.05) return std::nullopt;
  const double others = (b.machine_busy_s - a.machine_busy_s) - (b.self_s - a.self_s);
  return std::clamp(others / wall, 0.0, static_cast<double>(hardware_threads()));
}

AdaptiveThreads::AdaptiveThreads(double period_s) : period_s_(period_s) {
  active_ = threads_automatic() && hardware_threads() > 1;
  full_ = team_ = num_threads();
  if (active_) last_ = read_cpu_times();
  active_ = active_ && last_.valid;
}

AdaptiveThreads::~AdaptiveThreads() {
  if (active_) set_thread_cap(0);
}

void AdaptiveThreads::release() {
  if (active_ && capped_) set_thread_cap(0);
  capped_ = false;
}

void AdaptiveThreads::step() {
  if (!active_) return;
  if (!capped_ && team_ != full_) set_thread_cap(team_);  // after a release()
  capped_ = team_ != full_;
  // The clock first: /proc/stat is read once a period, not once a token.
  if (std::chrono::duration<double>(std::chrono::steady_clock::now() - last_.at).count() < period_s_) return;
  const CpuTimes now = read_cpu_times();
  const std::optional<double> others = other_cores_between(last_, now);
  last_ = now;
  if (!others) return;
  // A core counts as taken when another process used most of it (0.6: a half-busy neighbour leaves us both).
  const int taken = static_cast<int>(std::floor(*others + 0.4));
  const int want = std::clamp(full_ - taken, 1, full_);
  if (want != team_) {
    team_ = want;
    set_thread_cap(want == full_ ? 0 : want);
    capped_ = want != full_;
  }
}

}  // namespace lm
