// The CPU time other processes take on this machine, from /proc/stat (all CPUs) minus this process's own time
// (getrusage). Benchmarks report it (a number measured beside another job is not an idle number), and loops whose
// results do not depend on the thread count use it to leave the cores other processes are using (cpu_load.h's
// AdaptiveThreads): on a shared 2-core machine, two threads beside one busy process spend most of their time waiting
// for each other at every barrier, one thread gets a whole core.
#pragma once

#include <chrono>
#include <optional>

namespace lm {

// Cumulative counters at one moment; other_cores_between(a, b) is the average number of cores other processes kept
// busy from a to b. Where /proc/stat is unreadable (not Linux) every reading is "unknown".
struct CpuTimes {
  double machine_busy_s = 0;  // all processes, all CPUs: user + nice + system + irq + softirq (steal excluded)
  double self_s = 0;          // this process: user + system
  std::chrono::steady_clock::time_point at{};
  bool valid = false;
};
CpuTimes read_cpu_times();
// Cores (0 .. CPUs) other processes used on average between a and b; nullopt when either reading is invalid or the
// interval is under 50 ms (the kernel's counters tick at 10 ms).
std::optional<double> other_cores_between(const CpuTimes& a, const CpuTimes& b);

// Measures the other processes' load over a span of work: start at construction, other_cores() at the end.
class LoadMeter {
 public:
  LoadMeter() : start_(read_cpu_times()) {}
  std::optional<double> other_cores() const { return other_cores_between(start_, read_cpu_times()); }

 private:
  CpuTimes start_;
};

// For a loop whose results are bitwise the same for any thread count (the decode steps: every output element is
// computed by one thread): while alive, and only when the thread count is automatic (set_num_threads(0), no
// --threads), it samples the load every `period_s` and lowers the team to the cores other processes leave free
// (at least 1), restoring it when they go. Destruction restores the configured count.
class AdaptiveThreads {
 public:
  explicit AdaptiveThreads(double period_s = 0.25);
  ~AdaptiveThreads();
  AdaptiveThreads(const AdaptiveThreads&) = delete;
  AdaptiveThreads& operator=(const AdaptiveThreads&) = delete;
  void step();          // call once per iteration; samples when the period has passed
  // Back to the configured team until the next step() (a piece of work whose bits depend on the team size: the
  // server's prefill chunks); the load sampling goes on.
  void release();
  int team() const { return team_; }

 private:
  bool active_ = false, capped_ = false;
  int full_ = 1, team_ = 1;
  double period_s_;
  CpuTimes last_;
};

}  // namespace lm
