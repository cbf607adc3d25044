// Static work partitioning shared by the CPU kernels: contiguous chunks fixed by (n, thread id, team size),
// so every element is always handled by the same thread in the same order (bitwise-reproducible reductions).
// Also keeps OpenMP's team size (a per-calling-thread setting) equal to lm::num_threads().
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "lm/core/threads.h"

namespace lm::cpu {

// [begin, end) of chunk `tid` of `nt` over [0, n); boundaries are multiples of `align` (e.g. 16 floats = one
// cache line, so column-partitioned writers never share a line).
inline void static_chunk(int64_t n, int tid, int nt, int64_t align, int64_t* begin, int64_t* end) {
  int64_t units = (n + align - 1) / align;
  *begin = std::min(n, units * tid / nt * align);
  *end = std::min(n, units * (tid + 1) / nt * align);
}

// omp_set_num_threads only sets the calling thread's team size, so a kernel called from another std::thread
// (server workers, data loaders) would otherwise run on OpenMP's default. Every kernel entry calls this;
// oneDNN's sgemm then picks the same count up through omp_get_max_threads(). No-op inside a parallel region.
inline void sync_thread_count() {
  const int n = num_threads();
  if (!omp_in_parallel() && omp_get_max_threads() != n) omp_set_num_threads(n);
}

}  // namespace lm::cpu
