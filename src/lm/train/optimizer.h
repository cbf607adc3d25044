// AdamW over a model's parameters: moments m and v in flat arenas laid out like the flat parameter arena,
// decoupled weight decay only on ParamRef::decay tensors, optional global gradient-norm clipping (torch's
// clip_grad_norm_: scale = max_norm / (norm + 1e-6) when norm > max_norm). For ZeRO stage 1 the optimizer owns
// only the range [begin, end) of the flat arena (n_flat floats): moments are (end - begin) and step/update
// touch only that range.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/models/model.h"
#include "lm/ops/adamw.h"

namespace lm::train {

struct AdamWConfig {
  // The learning rate is not here: it is the schedule's, passed to every step.
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  float grad_clip = 0.0f;  // <= 0: no clipping
};

class AdamW {
 public:
  // Owns the flat range [begin, end) (end < 0: to the end of the arena).
  AdamW(models::Model& model, const AdamWConfig& cfg, int64_t begin = 0, int64_t end = -1);
  // Global L2 norm of all gradients (deterministic for a thread count).
  double grad_norm();
  // One update with learning rate lr (the schedule's value); clips first when configured. Returns the gradient
  // norm before clipping. With a partial range the norm is that of the range only: use update() instead.
  double step(float lr);
  // Σ g² over the owned range (double; reduce over ranks for the global norm).
  double range_sum_squares();
  // Updates the owned parameters with the gradients clipped for the given global norm (the clip factor is applied
  // as the update reads each gradient; the gradient buffer itself is not modified).
  void update(float lr, double global_norm);
  int64_t steps() const { return step_; }
  void set_steps(int64_t s) { step_ = s; }
  // Moments with the parameters' names ("exp_avg.<name>", "exp_avg_sq.<name>") for checkpoints; full range only.
  std::vector<std::pair<std::string, Tensor>> state_tensors();
  const AdamWConfig& config() const { return cfg_; }

  // Flat layout, for sharded checkpoints: parameter i lives at flat offset offsets()[i].
  const std::vector<models::ParamRef>& params() const { return params_; }
  const std::vector<int64_t>& offsets() const { return offsets_; }
  int64_t flat_size() const { return n_flat_; }
  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }
  Tensor moments_m() const { return m_; }  // (end - begin)
  Tensor moments_v() const { return v_; }  // (end - begin)

 private:
  struct Segment {  // the part of parameter `param` inside the owned range: flat [lo, hi)
    size_t param;
    int64_t lo, hi;
  };
  models::Model& model_;
  AdamWConfig cfg_;
  std::vector<models::ParamRef> params_;
  std::vector<int64_t> offsets_;
  std::vector<Segment> segments_;
  int64_t n_flat_ = 0, begin_ = 0, end_ = 0;
  Device device_ = Device::CPU;  // of the parameters, gradients and moments
  Arena m_arena_{"adam_m"}, v_arena_{"adam_v"};
  Tensor m_, v_;
  int64_t step_ = 0;
};

}  // namespace lm::train
