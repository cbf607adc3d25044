// AdamW over a model's parameters: moments m and v in two flat arenas laid out like the parameters, decoupled
// weight decay only on ParamRef::decay tensors, optional global gradient-norm clipping (torch's
// clip_grad_norm_: scale = max_norm / (norm + 1e-6) when norm > max_norm).
#pragma once

#include <vector>

#include "lm/core/buffer.h"
#include "lm/models/model.h"
#include "lm/ops/adamw.h"

namespace lm::train {

struct AdamWConfig {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  float grad_clip = 0.0f;  // <= 0: no clipping
};

class AdamW {
 public:
  AdamW(models::Model& model, const AdamWConfig& cfg);
  // Global L2 norm of all gradients (deterministic for a thread count).
  double grad_norm();
  // One update with learning rate lr (the schedule's value); clips first when configured. Returns the gradient
  // norm before clipping.
  double step(float lr);
  int64_t steps() const { return step_; }
  void set_steps(int64_t s) { step_ = s; }
  // Moments with the parameters' names ("exp_avg.<name>", "exp_avg_sq.<name>") for checkpoints.
  std::vector<std::pair<std::string, Tensor>> state_tensors();
  const AdamWConfig& config() const { return cfg_; }

 private:
  models::Model& model_;
  AdamWConfig cfg_;
  std::vector<models::ParamRef> params_;
  Arena m_arena_{"adam_m"}, v_arena_{"adam_v"};
  std::vector<Tensor> m_, v_;
  int64_t step_ = 0;
};

}  // namespace lm::train
