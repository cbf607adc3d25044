// cpu_load.h: the CPU time of other processes comes from /proc/stat minus this process's own; the thread cap lowers
// num_threads() while set; AdaptiveThreads stays out of the way when the user fixed the thread count.
#include "lm/core/cpu_load.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <ctime>

#include "lm/core/threads.h"

namespace lm {
namespace {

double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

TEST(CpuLoad, ABusyChildProcessCountsAsOtherLoad) {
  const CpuTimes a = read_cpu_times();
  if (!a.valid) GTEST_SKIP() << "no /proc/stat";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // burn 0.5 s of CPU time, however long that takes on a busy machine
    volatile double x = 0;
    while (cpu_seconds() < 0.5) x = x + 1.0;
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  const CpuTimes b = read_cpu_times();
  ASSERT_TRUE(b.valid);
  const double others_s = (b.machine_busy_s - a.machine_busy_s) - (b.self_s - a.self_s);
  EXPECT_GE(others_s, 0.4);  // the child's 0.5 s (the kernel's counters tick at 10 ms per CPU)
  const auto cores = other_cores_between(a, b);
  ASSERT_TRUE(cores.has_value());
  EXPECT_GT(*cores, 0.0);
  EXPECT_LE(*cores, static_cast<double>(hardware_threads()));
}

TEST(CpuLoad, OwnWorkIsNotOtherLoad) {
  const CpuTimes a = read_cpu_times();
  if (!a.valid) GTEST_SKIP() << "no /proc/stat";
  const double t0 = cpu_seconds();
  volatile double x = 0;
  while (cpu_seconds() - t0 < 0.3) x = x + 1.0;
  const CpuTimes b = read_cpu_times();
  EXPECT_GE(b.self_s - a.self_s, 0.28);  // counted as this process's, so subtracted from the machine's
  EXPECT_FALSE(other_cores_between(a, a).has_value());  // under 50 ms: no reading
}

// With the thread count automatic, a busy neighbour process takes a core: AdaptiveThreads lowers the team to 1
// within a few samples; release() gives the whole team back until the next step(), which re-applies the cap.
TEST(CpuLoad, AdaptiveThreadsLeaveABusyNeighboursCore) {
  if (hardware_threads() < 2) GTEST_SKIP() << "one hardware thread: nothing to give up";
  if (!read_cpu_times().valid) GTEST_SKIP() << "no /proc/stat";
  set_num_threads(0);
  const int full = num_threads();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // the neighbour: busy for 3 s of wall time
    const double t0 = static_cast<double>(time(nullptr));
    volatile double x = 0;
    while (static_cast<double>(time(nullptr)) - t0 < 3) x = x + 1.0;
    _exit(0);
  }
  int lowest = full;
  {
    AdaptiveThreads adapt(0.1);
    for (int i = 0; i < 40 && lowest == full; ++i) {  // up to 2 s
      usleep(50000);
      adapt.step();
      lowest = std::min(lowest, adapt.team());
    }
    EXPECT_LT(lowest, full) << "the team did not give the neighbour's core up";
    if (lowest < full) {
      EXPECT_EQ(num_threads(), lowest);
      adapt.release();
      EXPECT_EQ(num_threads(), full);
      adapt.step();  // within the sampling period: the cap comes back without a new sample
      EXPECT_EQ(num_threads(), adapt.team());
    }
  }
  EXPECT_EQ(num_threads(), full);  // destruction lifts the cap
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
}

TEST(CpuLoad, ThreadCapLowersTheCountWhileSet) {
  set_num_threads(0);
  const int full = num_threads();
  EXPECT_TRUE(threads_automatic());
  set_thread_cap(1);
  EXPECT_EQ(num_threads(), 1);
  set_thread_cap(0);
  EXPECT_EQ(num_threads(), full);
  set_num_threads(3);
  EXPECT_FALSE(threads_automatic());
  {
    AdaptiveThreads adapt(0.0);  // a fixed --threads: never adapted
    adapt.step();
    EXPECT_EQ(adapt.team(), 3);
    EXPECT_EQ(num_threads(), 3);
  }
  set_num_threads(0);
}

}  // namespace
}  // namespace lm
