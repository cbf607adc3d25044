// Learning-rate schedules.
#include "lm/train/schedule.h"

#include <algorithm>
#include <cmath>

#include "lm/core/error.h"

namespace lm::train {

void LrSchedule::validate() const {
  LM_CHECK(kind == "constant" || kind == "linear" || kind == "cosine" || kind == "wsd",
           "lr_schedule \"{}\" is not one of constant, linear, cosine, wsd", kind);
  LM_CHECK(lr > 0 && std::isfinite(lr), "lr must be positive, got {}", lr);
  LM_CHECK(min_lr >= 0 && min_lr <= lr, "min_lr {} must be in [0, lr]", min_lr);
  LM_CHECK(warmup_steps >= 0, "warmup_steps must be >= 0");
  LM_CHECK(max_steps >= 1, "max_steps must be >= 1");
  LM_CHECK(decay_fraction > 0 && decay_fraction <= 1, "decay_fraction must be in (0, 1]");
}

double LrSchedule::at(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return lr * static_cast<double>(step + 1) / warmup_steps;
  if (kind == "constant") return lr;
  const double span = static_cast<double>(std::max<int64_t>(1, max_steps - warmup_steps));
  const double progress = std::clamp(static_cast<double>(step - warmup_steps) / span, 0.0, 1.0);
  if (kind == "linear") return min_lr + (lr - min_lr) * (1.0 - progress);
  if (kind == "cosine") return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(M_PI * progress));
  // wsd
  const double decay_start = 1.0 - decay_fraction;
  if (progress < decay_start) return lr;
  return min_lr + (lr - min_lr) * (1.0 - (progress - decay_start) / decay_fraction);
}

}  // namespace lm::train
