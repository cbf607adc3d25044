// Next-token selection from one row of logits (V): HF's order of processors — repetition penalty over the
// tokens seen so far, then temperature, top-k, top-p (nucleus, keeping at least one token) — followed by argmax
// (greedy) or a draw with a counter-based uniform, so a (seed, row, step) triple always picks the same token.
#pragma once

#include <cstdint>
#include <vector>

namespace lm::generate {

struct SamplingOptions {
  bool greedy = false;
  float temperature = 1.0f;
  int64_t top_k = 0;      // 0: off
  float top_p = 1.0f;     // 1: off
  float repetition_penalty = 1.0f;  // 1: off; HF: logit / p if > 0 else logit * p
  uint64_t seed = 0;
  // Throws InvalidArgument for out-of-range values.
  void validate() const;
};

// logits is modified in place (scratch). seen: ids whose logits the repetition penalty applies to.
// `uniform` in [0, 1) is the random draw for this row and step (ignored when greedy).
int32_t select_token(float* logits, int64_t V, const SamplingOptions& opt, const std::vector<int32_t>& seen,
                     float uniform);

}  // namespace lm::generate
