// Inside models/bert: the head object — one implementation per BertHead (heads.cpp), chosen once at
// construction by make_bert_head — and ArenaPlan, which the encoder, the head and the parameter table use to lay
// out their tensors. The head runs on the encoder output h (B,T,C) and owns its activations and scratch.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/models/bert/bert.h"

namespace lm::models {

// Tensors reserved one by one in an arena, then bound (the views written back) when it is allocated.
class ArenaPlan {
 public:
  ArenaPlan(const std::string& name, Device device) : arena_(name, device) {}
  void operator()(Tensor* t, const Shape& s, DType dt = DType::F32) { pending_.push_back({t, arena_.reserve(s, dt)}); }
  Arena allocate() {
    arena_.allocate();
    for (auto& [t, slot] : pending_) *t = arena_.tensor(slot);
    return std::move(arena_);
  }

 private:
  Arena arena_;
  std::vector<std::pair<Tensor*, size_t>> pending_;
};

class BertHeadImpl {
 public:
  virtual ~BertHeadImpl() = default;
  // Activations (and, when training, backward scratch) for up to B sequences of T tokens.
  virtual void reserve(ArenaPlan& plan, int64_t B, int64_t T, bool training, bool sparse_mlm) = 0;
  // Checks the shapes of the head's labels in a host batch (others are not read).
  virtual void check_labels(const BertBatch& in, int64_t B, int64_t T) const {}
  // Runs the head on h; with its labels (read on the host from `in`), returns the loss (else NaN).
  float run(const BertParams& p, Tensor h, const BertBatch& in, const BertStep& s) {
    has_loss_ = false;
    mlm_loss_ = nsp_loss_ = std::numeric_limits<float>::quiet_NaN();
    return forward(p, h, in, s);
  }
  // dh += d(scale · loss)/dh, g += the head's gradients. The logits buffers become their gradients in place.
  void run_backward(const BertParams& p, const BertParams& g, Tensor dh, Tensor h, const BertStep& s,
                    float scale) {
    backward(p, g, dh, h, s, scale);
    has_loss_ = false;
  }
  // HF ModelOutput fields of the last forward.
  virtual std::vector<std::pair<std::string, Tensor>> outputs(Tensor h, const BertStep& s) const = 0;
  virtual Json loss_parts() const { return Json::object(); }
  virtual const std::vector<int64_t>& masked_positions() const {
    static const std::vector<int64_t> none;
    return none;
  }

  bool has_loss() const { return has_loss_; }
  int64_t targets() const { return targets_; }
  float mlm_loss() const { return mlm_loss_; }
  float nsp_loss() const { return nsp_loss_; }

 protected:
  virtual float forward(const BertParams& p, Tensor h, const BertBatch& in, const BertStep& s) = 0;
  virtual void backward(const BertParams& p, const BertParams& g, Tensor dh, Tensor h, const BertStep& s,
                        float scale) = 0;

  bool has_loss_ = false;  // the last forward computed a loss that backward may run on
  int64_t targets_ = 0;    // labels that counted in the last loss
  float mlm_loss_ = 0, nsp_loss_ = 0;
};

std::unique_ptr<BertHeadImpl> make_bert_head(const BertConfig& config);

}  // namespace lm::models
