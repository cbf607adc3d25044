// CUDA fused softmax cross-entropy over the vocabulary with ignore_index. Shapes: logits/dlogits (N,V) of dtype dt
// (f32|bf16); targets (N) i32 (validated by the caller: in [0,V) or ignore_index); losses (N) f32. One block per
// row computes max and Σexp in one online pass (fp32); probabilities are never stored: backward writes
// (softmax - onehot)·dloss straight into dlogits, which may alias logits (in-place, as the GPT LM head does).
#pragma once

#include <cstdint>

#include "lm/core/dtype.h"

namespace lm::cuda {

// losses[n] = logsumexp(logits[n]) - logits[n, target] (0 for ignored rows).
void cross_entropy_forward(DType dt, float* losses, const void* logits, const int32_t* targets, int ignore_index,
                           int64_t N, int64_t V);
// dlogits = (softmax - onehot) * dloss, 0 for ignored rows (overwrites).
void cross_entropy_backward(DType dt, void* dlogits, const void* logits, const int32_t* targets, float dloss,
                            int ignore_index, int64_t N, int64_t V);
// Both in one pass over the logits: losses as forward, then logits are overwritten by their gradient.
void cross_entropy_forward_backward(DType dt, float* losses, void* logits, const int32_t* targets, float dloss,
                                    int ignore_index, int64_t N, int64_t V);

}  // namespace lm::cuda
