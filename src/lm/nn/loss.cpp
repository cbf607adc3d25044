// nn cross-entropy loss over the cross_entropy op, with the deterministic mean.
#include "lm/nn/loss.h"

#include <limits>
#include <vector>

#include "lm/core/device_memory.h"
#include "lm/core/profile.h"

namespace lm::nn {

float mean_loss(Tensor losses, int64_t count) {
  if (count == 0) return std::numeric_limits<float>::quiet_NaN();
  const int64_t n = losses.numel();
  std::vector<float> host;
  const float* l = losses.f32();
  if (losses.device != Device::CPU) {
    host.resize(static_cast<size_t>(n));
    copy_bytes(host.data(), Device::CPU, losses.data, losses.device, static_cast<size_t>(n) * sizeof(float));
    l = host.data();
  }
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += l[i];
  return static_cast<float>(s / static_cast<double>(count));
}

LossResult cross_entropy_forward(const LossActs& a, Tensor logits, Tensor targets, int ignore_index) {
  prof::Scope ps(prof::Op::LmHead);
  const int64_t count = ops::cross_entropy_forward(a.losses, logits, targets, ignore_index, a.stats);
  return {mean_loss(a.losses, count), count};
}

void cross_entropy_backward(const LossActs& a, Tensor logits, Tensor targets, float dloss, int ignore_index) {
  prof::Scope ps(prof::Op::LmHead);
  ops::cross_entropy_backward(logits, logits, targets, dloss, ignore_index, a.stats);
}

}  // namespace lm::nn
