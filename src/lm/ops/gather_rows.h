// Rows of a tensor by host indices and the backward of that gather. out (R,C) = in[idx[r]] (in (N,C));
// scatter_add_rows: dst[idx[r]] += src[r] (src (R,C), dst (N,C)), rows added in r order.
#pragma once

#include <cstdint>
#include <vector>

#include "lm/core/tensor.h"

namespace lm::ops {

// Rows by host indices (BERT's masked positions, first-token pooling, the QA logits split): out (R,C) =
// in[idx[r]] (in (N,C)); scatter_add_rows: dst[idx[r]] += src[r] (src (R,C), dst (N,C)), rows added in r order.
// Indices are checked against N; a device call uploads them (one small synchronous copy).
void gather_rows(Tensor out, Tensor in, const std::vector<int64_t>& idx);
void scatter_add_rows(Tensor dst, Tensor src, const std::vector<int64_t>& idx);

}  // namespace lm::ops
