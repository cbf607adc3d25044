// Thread count and a std::thread static-partition parallel_for.
#include "lm/core/threads.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>
#include <vector>

namespace lm {

namespace {
std::atomic<int> g_threads{0};
std::atomic<bool> g_automatic{true};
std::atomic<int> g_cap{0};
}

int hardware_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

void set_num_threads(int n) {
  g_automatic = n <= 0;
  g_threads = n <= 0 ? hardware_threads() : n;
  omp_set_num_threads(num_threads());
}

int num_threads() {
  const int n = g_threads > 0 ? g_threads.load() : hardware_threads();
  const int cap = g_cap.load();
  return cap > 0 ? std::min(n, cap) : n;
}

bool threads_automatic() { return g_automatic; }

void set_thread_cap(int n) {
  g_cap = std::max(0, n);
  omp_set_num_threads(num_threads());  // this thread's team; kernels on other threads sync at their entry
}

void parallel_for(int64_t n, const std::function<void(int64_t, int64_t, int)>& fn, int threads) {
  int nt = threads > 0 ? threads : num_threads();
  nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nt, n)));
  if (nt == 1) {
    if (n > 0) fn(0, n, 0);
    return;
  }
  std::vector<std::thread> workers;
  std::vector<std::exception_ptr> errors(nt);
  for (int w = 0; w < nt; ++w) {
    int64_t b = n * w / nt, e = n * (w + 1) / nt;
    workers.emplace_back([&, b, e, w] {
      try {
        fn(b, e, w);
      } catch (...) {
        errors[w] = std::current_exception();
      }
    });
  }
  for (auto& t : workers) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace lm
