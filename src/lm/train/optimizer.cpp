// AdamW with clipping over named parameter tensors.
#include "lm/train/optimizer.h"

#include <cmath>

namespace lm::train {

AdamW::AdamW(models::Model& model, const AdamWConfig& cfg) : model_(model), cfg_(cfg) {
  params_ = model_.param_list();
  std::vector<size_t> ms, vs;
  for (const auto& p : params_) {
    ms.push_back(m_arena_.reserve(p.param.shape));
    vs.push_back(v_arena_.reserve(p.param.shape));
  }
  m_arena_.allocate();
  v_arena_.allocate();
  for (size_t i = 0; i < params_.size(); ++i) {
    m_.push_back(m_arena_.tensor(ms[i]));
    v_.push_back(v_arena_.tensor(vs[i]));
  }
}

double AdamW::grad_norm() { return std::sqrt(ops::sum_squares(model_.flat_grads())); }

double AdamW::step(float lr) {
  double norm = grad_norm();
  if (cfg_.grad_clip > 0) {
    // torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied when < 1.
    double coef = cfg_.grad_clip / (norm + 1e-6);
    if (coef < 1.0) ops::scale_inplace(model_.flat_grads(), static_cast<float>(coef));
  }
  ++step_;
  for (size_t i = 0; i < params_.size(); ++i) {
    ops::AdamWParams hp;
    hp.lr = lr;
    hp.beta1 = cfg_.beta1;
    hp.beta2 = cfg_.beta2;
    hp.eps = cfg_.eps;
    hp.weight_decay = params_[i].decay ? cfg_.weight_decay : 0.0f;
    hp.step = step_;
    ops::adamw_update(params_[i].param, params_[i].grad, m_[i], v_[i], hp);
  }
  return norm;
}

std::vector<std::pair<std::string, Tensor>> AdamW::state_tensors() {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.push_back({"exp_avg." + params_[i].name, m_[i]});
    out.push_back({"exp_avg_sq." + params_[i].name, v_[i]});
  }
  return out;
}

}  // namespace lm::train
