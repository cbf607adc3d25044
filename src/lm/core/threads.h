// Thread-count setting shared by the CPU kernels (OpenMP) and by library code that fans out with std::thread
// (tokenizer batches, data preparation). Determinism: results depend on the count, so it is part of a run's config.
#pragma once

#include <cstdint>
#include <functional>

namespace lm {

// n <= 0 means "all hardware threads". Sets the OpenMP team size used by kernels/cpu.
void set_num_threads(int n);
int num_threads();  // the configured count, lowered by a cap while one is set
int hardware_threads();
// True when the count is "all hardware threads" (set_num_threads(n <= 0), or never set), not a user's choice.
bool threads_automatic();
// A temporary cap on num_threads() (AdaptiveThreads, cpu_load.h); 0 removes it. Thread-safe.
void set_thread_cap(int n);

// Runs fn(begin, end, worker) over [0, n) split into num_threads() contiguous static chunks on std::threads.
// Exceptions from workers are rethrown (the first one) after all workers finish.
void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end, int worker)>& fn,
                  int threads = 0);

}  // namespace lm
