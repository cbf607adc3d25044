// nn span search (see span.h).
#include "lm/nn/span.h"

namespace lm::nn {

SpanChoice best_span(const float* s, const float* e, const std::vector<uint8_t>& allowed, int64_t max_answer_length) {
  SpanChoice best;
  const int64_t n = static_cast<int64_t>(allowed.size());
  for (int64_t i = 0; i < n; ++i) {
    if (!allowed[static_cast<size_t>(i)]) continue;
    for (int64_t k = i; k < n && k < i + max_answer_length; ++k) {
      if (!allowed[static_cast<size_t>(k)]) break;
      const double score = static_cast<double>(s[i]) + static_cast<double>(e[k]);
      if (score > best.score) best = {i, k, score};
    }
  }
  return best;
}

}  // namespace lm::nn
