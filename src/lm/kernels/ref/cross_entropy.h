// Reference softmax cross-entropy with ignore_index, templated over float|double.
// Shapes: logits/dlogits (N,V), targets (N) i32 (validated by the ops layer), losses (N).
#pragma once

#include <cmath>
#include <cstdint>

namespace lm::ref {

// losses[n] = logsumexp(logits[n]) - logits[n, target] (0 if ignored); returns the count of non-ignored rows.
template <typename F>
int64_t cross_entropy_forward(F* losses, const F* logits, const int32_t* targets, int ignore_index, int64_t N,
                              int64_t V) {
  int64_t count = 0;
  for (int64_t n = 0; n < N; ++n) {
    if (targets[n] == ignore_index) {
      losses[n] = 0;
      continue;
    }
    const F* x = logits + n * V;
    F m = x[0];
    for (int64_t v = 1; v < V; ++v) m = x[v] > m ? x[v] : m;
    F s = 0;
    for (int64_t v = 0; v < V; ++v) s += std::exp(x[v] - m);
    losses[n] = std::log(s) + m - x[targets[n]];
    ++count;
  }
  return count;
}

// dlogits = (softmax - onehot) * dloss, 0 for ignored rows (overwrites; may alias logits).
template <typename F>
void cross_entropy_backward(F* dlogits, const F* logits, const int32_t* targets, F dloss, int ignore_index,
                            int64_t N, int64_t V) {
  for (int64_t n = 0; n < N; ++n) {
    const F* x = logits + n * V;
    F* dx = dlogits + n * V;
    if (targets[n] == ignore_index) {
      for (int64_t v = 0; v < V; ++v) dx[v] = 0;
      continue;
    }
    F m = x[0];
    for (int64_t v = 1; v < V; ++v) m = x[v] > m ? x[v] : m;
    F s = 0;
    for (int64_t v = 0; v < V; ++v) s += std::exp(x[v] - m);
    for (int64_t v = 0; v < V; ++v) dx[v] = std::exp(x[v] - m) / s * dloss;
    dx[targets[n]] -= dloss;
  }
}

}  // namespace lm::ref
