// AdamW with clipping over the flat parameter arena, per parameter segment of the owned range.
#include "lm/train/optimizer.h"

#include <algorithm>
#include <cmath>

#include "lm/core/error.h"
#include "lm/ops/sum_squares.h"

namespace lm::train {

AdamW::AdamW(models::Model& model, const AdamWConfig& cfg, int64_t begin, int64_t end) : model_(model), cfg_(cfg) {
  params_ = model_.param_list();
  Tensor fp = model_.flat_params(), fg = model_.flat_grads();
  n_flat_ = fp.numel();
  LM_ASSERT(fg.numel() == n_flat_ && fg.device == fp.device);
  device_ = fp.device;
  // The moments live where the parameters do (the update is one device kernel per parameter segment).
  m_arena_ = Arena("adam_m", device_);
  v_arena_ = Arena("adam_v", device_);
  begin_ = begin;
  end_ = end < 0 ? n_flat_ : end;
  LM_CHECK(0 <= begin_ && begin_ <= end_ && end_ <= n_flat_, "optimizer range [{}, {}) outside the {} parameters",
           begin_, end_, n_flat_);
  // Element offset of a tensor inside a flat arena view (the gradients may be bf16 in a mixed-precision model,
  // laid out at the parameters' element offsets).
  auto elem_off = [](const Tensor& t, const Tensor& flat) {
    return static_cast<int64_t>((static_cast<const char*>(t.data) - static_cast<const char*>(flat.data)) /
                                static_cast<std::ptrdiff_t>(dtype_size(flat.dtype)));
  };
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    int64_t off = elem_off(p.param, fp);
    // Params and grads share one layout; the sharded update and checkpoints rely on it.
    LM_ASSERT(off >= 0 && off + p.param.numel() <= n_flat_ && elem_off(p.grad, fg) == off && p.grad.dtype == fg.dtype);
    offsets_.push_back(off);
    int64_t lo = std::max(off, begin_), hi = std::min(off + p.param.numel(), end_);
    if (lo < hi) segments_.push_back({i, lo, hi});
  }
  size_t ms = m_arena_.reserve(Shape{std::max<int64_t>(end_ - begin_, 1)});
  size_t vs = v_arena_.reserve(Shape{std::max<int64_t>(end_ - begin_, 1)});
  m_arena_.allocate();
  v_arena_.allocate();
  m_ = m_arena_.tensor(ms);
  v_ = v_arena_.tensor(vs);
  if (end_ == begin_) {  // an empty shard (more ranks than parameters): keep zero-length views
    m_ = Tensor(m_.data, Shape{0}, DType::F32, device_);
    v_ = Tensor(v_.data, Shape{0}, DType::F32, device_);
  }
}

double AdamW::grad_norm() { return std::sqrt(ops::sum_squares(model_.flat_grads())); }

double AdamW::range_sum_squares() {
  if (end_ == begin_) return 0.0;
  return ops::sum_squares(model_.flat_grads().slice0(begin_, end_));
}

double AdamW::step(float lr) {
  double norm = std::sqrt(range_sum_squares());
  update(lr, norm);
  return norm;
}

void AdamW::update(float lr, double norm) {
  // torch.nn.utils.clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied when < 1. The update multiplies each
  // gradient by it as it reads it (the same float product as scaling the gradients first, one pass fewer); the
  // gradients themselves stay unclipped.
  model_.flat_grads();  // a model with a pending (lazy) zero_grad materialises it: the update reads p.grad
  float grad_scale = 1.0f;
  if (cfg_.grad_clip > 0 && end_ > begin_) {
    double coef = cfg_.grad_clip / (norm + 1e-6);
    if (coef < 1.0) grad_scale = static_cast<float>(coef);
  }
  ++step_;
  for (const auto& s : segments_) {
    const auto& p = params_[s.param];
    const int64_t in_param = s.lo - offsets_[s.param], n = s.hi - s.lo;
    ops::AdamWParams hp;
    hp.lr = lr;
    hp.beta1 = cfg_.beta1;
    hp.beta2 = cfg_.beta2;
    hp.eps = cfg_.eps;
    hp.weight_decay = p.decay ? cfg_.weight_decay : 0.0f;
    hp.step = step_;
    hp.grad_scale = grad_scale;
    const DType f = DType::F32;
    // A range of a tensor of any dtype (bf16 gradients and parameter copies in mixed precision).
    auto part = [&](const Tensor& t) {
      return Tensor(static_cast<char*>(t.data) + static_cast<size_t>(in_param) * dtype_size(t.dtype), Shape{n}, t.dtype,
                    device_);
    };
    ops::adamw_update(part(p.param), part(p.grad), Tensor(m_.f32() + (s.lo - begin_), Shape{n}, f, device_),
                      Tensor(v_.f32() + (s.lo - begin_), Shape{n}, f, device_), hp,
                      p.param_copy.defined() ? part(p.param_copy) : Tensor());
  }
}

std::vector<std::pair<std::string, Tensor>> AdamW::state_tensors() {
  LM_CHECK_AS(ErrorCode::Internal, begin_ == 0 && end_ == n_flat_,
              "named optimizer state of a sharded optimizer: gather the moments first");
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.push_back({"exp_avg." + params_[i].name,
                   Tensor(m_.f32() + offsets_[i], params_[i].param.shape, DType::F32, device_)});
    out.push_back({"exp_avg_sq." + params_[i].name,
                   Tensor(v_.f32() + offsets_[i], params_[i].param.shape, DType::F32, device_)});
  }
  return out;
}

}  // namespace lm::train
