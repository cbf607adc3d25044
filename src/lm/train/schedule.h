// Learning-rate schedules as functions of the optimizer step (0-based): linear warmup from 0 over warmup_steps,
// then constant, linear decay, cosine decay, or warmup-stable-decay (WSD: constant until the last
// decay_fraction of training, then linear to min_lr), all ending at min_lr on max_steps.
#pragma once

#include <cstdint>
#include <string>

namespace lm::train {

struct LrSchedule {
  std::string kind = "cosine";  // constant | linear | cosine | wsd
  double lr = 6e-4;
  double min_lr = 0.0;
  int64_t warmup_steps = 0;
  int64_t max_steps = 1;
  double decay_fraction = 0.2;  // wsd only

  // Throws InvalidArgument for an unknown kind or inconsistent values.
  void validate() const;
  double at(int64_t step) const;
};

}  // namespace lm::train
