// Static work partitioning shared by the CPU kernels: contiguous chunks fixed by (n, thread id, team size), so
// every element is always handled by the same thread in the same order (bitwise-reproducible reductions).
#pragma once

#include <algorithm>
#include <cstdint>

namespace lm::cpu {

// [begin, end) of chunk `tid` of `nt` over [0, n); boundaries are multiples of `align` (e.g. 16 floats = one
// cache line, so column-partitioned writers never share a line).
inline void static_chunk(int64_t n, int tid, int nt, int64_t align, int64_t* begin, int64_t* end) {
  int64_t units = (n + align - 1) / align;
  *begin = std::min(n, units * tid / nt * align);
  *end = std::min(n, units * (tid + 1) / nt * align);
}

}  // namespace lm::cpu
