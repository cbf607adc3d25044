// Logits processing and sampling.
#include "lm/generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "lm/core/error.h"

namespace lm::generate {

void SamplingOptions::validate() const {
  LM_CHECK(greedy || (temperature > 0 && std::isfinite(temperature)), "temperature must be > 0, got {}",
           temperature);
  LM_CHECK(top_k >= 0, "top_k must be >= 0, got {}", top_k);
  LM_CHECK(top_p > 0 && top_p <= 1, "top_p must be in (0, 1], got {}", top_p);
  LM_CHECK(repetition_penalty > 0 && std::isfinite(repetition_penalty), "repetition_penalty must be > 0, got {}",
           repetition_penalty);
}

int32_t select_token(float* logits, int64_t V, const SamplingOptions& opt, const std::vector<int32_t>& seen,
                     float uniform) {
  if (opt.repetition_penalty != 1.0f) {
    // HF RepetitionPenaltyLogitsProcessor: each distinct seen token once.
    std::vector<int32_t> uniq(seen);
    std::sort(uniq.begin(), uniq.end());
    uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());
    for (int32_t id : uniq) {
      if (id < 0 || id >= V) continue;
      float& l = logits[id];
      l = l < 0 ? l * opt.repetition_penalty : l / opt.repetition_penalty;
    }
  }
  if (opt.greedy) {
    // First maximum, as torch.argmax.
    return static_cast<int32_t>(std::max_element(logits, logits + V) - logits);
  }
  const float kNegInf = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < V; ++i) logits[i] /= opt.temperature;
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  // Candidates in descending logit order (ties by id for determinism).
  int64_t keep = V;
  if (opt.top_k > 0 && opt.top_k < V) keep = opt.top_k;
  auto cmp = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  if (keep < V) {
    std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(), cmp);
    // HF TopK keeps every token whose logit is >= the k-th largest (ties at the boundary stay in).
    const float kth = logits[idx[static_cast<size_t>(keep - 1)]];
    std::sort(idx.begin() + keep, idx.end(), cmp);
    while (keep < V && logits[idx[static_cast<size_t>(keep)]] >= kth) ++keep;
  } else {
    std::sort(idx.begin(), idx.end(), cmp);
  }
  const float mx = logits[idx[0]];
  std::vector<double> p(static_cast<size_t>(keep));
  double sum = 0;
  for (int64_t i = 0; i < keep; ++i) sum += (p[static_cast<size_t>(i)] = std::exp(static_cast<double>(logits[idx[static_cast<size_t>(i)]]) - mx));
  if (opt.top_p < 1.0f) {
    // HF TopP: drop the tail whose cumulative probability (from the least likely up) is <= 1 - top_p,
    // always keeping the most likely token.
    double cum = 0;
    int64_t k = keep;
    for (int64_t i = keep - 1; i >= 1; --i) {
      cum += p[static_cast<size_t>(i)] / sum;
      if (cum <= 1.0 - opt.top_p) k = i;
      else break;
    }
    keep = k;
    sum = 0;
    for (int64_t i = 0; i < keep; ++i) sum += p[static_cast<size_t>(i)];
  }
  (void)kNegInf;
  double target = static_cast<double>(uniform) * sum, acc = 0;
  for (int64_t i = 0; i < keep; ++i) {
    acc += p[static_cast<size_t>(i)];
    if (target < acc) return idx[static_cast<size_t>(i)];
  }
  return idx[static_cast<size_t>(keep - 1)];
}

}  // namespace lm::generate
