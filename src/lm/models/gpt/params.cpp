// GPT-2 parameters: the parameter table (visit_gpt_params, the one description of every tensor), the arenas it
// sizes and binds (parameters, gradients, the bf16 mixed-precision copies), the lazy zero_grad and the
// optimizer's parameter list.
#include <algorithm>
#include <cstring>
#include <set>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/models/gpt/gpt.h"
#include "lm/ops/adamw.h"
#include "lm/ops/convert.h"

namespace lm::models {

void visit_gpt_params(GptParams& p, const GptConfig& c, const std::function<void(const GptParamSpec&, Tensor&)>& f) {
  const int64_t C = c.n_embd, I = c.inner();
  LM_ASSERT(static_cast<int64_t>(p.h.size()) == c.n_layer);
  f({"transformer.wte.weight", Shape{c.vocab_size, C}, false, false, "token_embd.weight"}, p.emb.wte);
  f({"transformer.wpe.weight", Shape{c.n_positions, C}, false, false, "position_embd.weight"}, p.emb.wpe);
  for (int64_t l = 0; l < c.n_layer; ++l) {
    const std::string n = "transformer.h." + std::to_string(l) + ".";
    const std::string g = "blk." + std::to_string(l) + ".";
    GptBlockParams& b = p.h[static_cast<size_t>(l)];
    f({n + "ln_1.weight", Shape{C}, false, false, g + "attn_norm.weight"}, b.ln_1.w);
    f({n + "ln_1.bias", Shape{C}, false, false, g + "attn_norm.bias"}, b.ln_1.b);
    f({n + "attn.c_attn.weight", Shape{3 * C, C}, true, true, g + "attn_qkv.weight"}, b.attn.qkv.w);
    f({n + "attn.c_attn.bias", Shape{3 * C}, false, false, g + "attn_qkv.bias"}, b.attn.qkv.b);
    f({n + "attn.c_proj.weight", Shape{C, C}, true, true, g + "attn_output.weight"}, b.attn.proj.w);
    f({n + "attn.c_proj.bias", Shape{C}, false, false, g + "attn_output.bias"}, b.attn.proj.b);
    f({n + "ln_2.weight", Shape{C}, false, false, g + "ffn_norm.weight"}, b.ln_2.w);
    f({n + "ln_2.bias", Shape{C}, false, false, g + "ffn_norm.bias"}, b.ln_2.b);
    f({n + "mlp.c_fc.weight", Shape{I, C}, true, true, g + "ffn_up.weight"}, b.mlp.fc.w);
    f({n + "mlp.c_fc.bias", Shape{I}, false, false, g + "ffn_up.bias"}, b.mlp.fc.b);
    f({n + "mlp.c_proj.weight", Shape{C, I}, true, true, g + "ffn_down.weight"}, b.mlp.proj.w);
    f({n + "mlp.c_proj.bias", Shape{C}, false, false, g + "ffn_down.bias"}, b.mlp.proj.b);
  }
  f({"transformer.ln_f.weight", Shape{C}, false, false, "output_norm.weight"}, p.ln_f.w);
  f({"transformer.ln_f.bias", Shape{C}, false, false, "output_norm.bias"}, p.ln_f.b);
}

std::vector<GptParamSpec> gpt_param_specs(const GptConfig& c) {
  GptParams p;
  p.h.resize(static_cast<size_t>(c.n_layer));
  std::vector<GptParamSpec> s;
  visit_gpt_params(p, c, [&](const GptParamSpec& spec, Tensor&) { s.push_back(spec); });
  return s;
}

namespace {

// Sizes `arena` for every parameter of the table (in table order) and binds p's tensors to it.
void bind_params(GptParams& p, Arena& arena, const GptConfig& c) {
  p = GptParams{};
  p.h.assign(static_cast<size_t>(c.n_layer), GptBlockParams{});
  std::vector<size_t> slots;
  visit_gpt_params(p, c, [&](const GptParamSpec& s, Tensor&) { slots.push_back(arena.reserve(s.shape)); });
  arena.allocate();
  size_t i = 0;
  visit_gpt_params(p, c, [&](const GptParamSpec&, Tensor& t) { t = arena.tensor(slots[i++]); });
}

// Binds p into `base`, a buffer of dtype dt laid out element for element like the f32 arena holding `ref`: every
// tensor at the same element offset, so flat views of the two line up (the optimizer relies on it).
void bind_mirror(GptParams& p, GptParams& ref, const Arena& ref_arena, void* base, DType dt, Device dev,
                 const GptConfig& c) {
  std::vector<Tensor> refs;
  visit_gpt_params(ref, c, [&](const GptParamSpec&, Tensor& t) { refs.push_back(t); });
  p = GptParams{};
  p.h.assign(static_cast<size_t>(c.n_layer), GptBlockParams{});
  size_t i = 0;
  visit_gpt_params(p, c, [&](const GptParamSpec&, Tensor& t) {
    const Tensor& src = refs[i++];
    const size_t elem = static_cast<size_t>(static_cast<char*>(src.data) - static_cast<char*>(ref_arena.data())) / 4;
    t = Tensor(static_cast<char*>(base) + elem * dtype_size(dt), src.shape, dt, dev);
  });
}

}  // namespace

Gpt::Gpt(const GptConfig& config, Device device, DType dtype)
    : config_(config),
      device_(device),
      dtype_(dtype),
      hf_config_(config.to_hf()),
      params_arena_("params", device),
      grads_arena_("grads", device),
      acts_arena_("acts", device) {
  LM_CHECK_AS(ErrorCode::Unsupported, dtype == DType::F32 || (dtype == DType::BF16 && device == Device::CUDA),
              "gpt2: compute dtype {} on {} is not supported (f32 anywhere, bf16 on cuda)", dtype_name(dtype),
              device_name(device));
  for (const auto& s : gpt_param_specs(config_)) num_params_ += s.shape.numel();
  bind_params(params_, params_arena_, config_);
  if (dtype_ == DType::BF16) {
    params16_buf_ = Buffer(params_arena_.bytes() / 2, device_);
    bind_mirror(params16_, params_, params_arena_, params16_buf_.data(), DType::BF16, device_, config_);
  }
}

void Gpt::copy_params_from(const Gpt& src) {
  LM_CHECK(src.config_.to_hf() == config_.to_hf(), "gpt2 copy_params_from: the two models' configs differ");
  LM_ASSERT(src.params_arena_.bytes() == params_arena_.bytes());
  copy_bytes(params_arena_.data(), device_, src.params_arena_.data(), src.device_, params_arena_.bytes());
  sync_param_copy();
}

std::unique_ptr<Model> Gpt::to(Device device) const {
  auto m = std::make_unique<Gpt>(config_, device);
  m->copy_params_from(*this);
  return m;
}

void Gpt::sync_param_copy() {
  if (dtype_ != DType::BF16) return;
  const int64_t n = static_cast<int64_t>(params_arena_.bytes() / 4);
  ops::convert(Tensor(params16_buf_.data(), Shape{n}, DType::BF16, device_), params_arena_.flat_f32());
}

void Gpt::zero_bytes(void* p, size_t n) const {
  // null: an undefined gradient of a frozen model (an undefined Tensor still reports one element).
  if (n == 0 || p == nullptr) return;
  if (device_ == Device::CPU)
    std::memset(p, 0, n);
  else
    device_zero(device_, p, n);
}

void Gpt::with_host_params(bool copy_in, bool copy_out, const std::function<void(GptParams&)>& fn) const {
  GptParams& mine = const_cast<GptParams&>(params_);
  if (device_ == Device::CPU) {
    fn(mine);
    return;
  }
  // The same table in the same order gives the same slot offsets, so the whole arena copies as one block.
  Arena host("params-host", Device::CPU);
  GptParams hp;
  bind_params(hp, host, config_);
  LM_ASSERT(host.bytes() == params_arena_.bytes());
  if (copy_in) copy_bytes(host.data(), Device::CPU, params_arena_.data(), device_, host.bytes());
  fn(hp);
  if (copy_out) copy_bytes(params_arena_.data(), device_, host.data(), Device::CPU, host.bytes());
}

GptParams& Gpt::grad_slots() {
  if (grads_ready_) return grads_;
  if (frozen_) {  // no arena: undefined gradients except the trainable tensors'
    grads_ = GptParams{};
    grads_.h.assign(static_cast<size_t>(config_.n_layer), GptBlockParams{});
    visit_gpt_params(grads_, config_, [&](const GptParamSpec& s, Tensor& t) {
      auto it = trainable_.find(s.name);
      if (it != trainable_.end()) t = it->second.grad;
    });
    grads_base_ = nullptr;
    grads_bytes_ = 0;
    grads_ready_ = true;
    return grads_;
  }
  if (dtype_ == DType::F32) {
    bind_params(grads_, grads_arena_, config_);
    grads_base_ = grads_arena_.data();
    grads_bytes_ = grads_arena_.bytes();
  } else {  // bf16 gradients at the parameters' element offsets
    grads_bytes_ = params_arena_.bytes() / 4 * dtype_size(dtype_);
    grads16_buf_ = Buffer(grads_bytes_, device_);
    grads_base_ = grads16_buf_.data();
    bind_mirror(grads_, params_, params_arena_, grads_base_, dtype_, device_, config_);
  }
  grads_ready_ = true;
  // The alignment gaps between the tensors (flat_grads covers them; no op writes them), for the lazy zero_grad.
  std::vector<std::pair<size_t, size_t>> spans;
  char* const base = static_cast<char*>(grads_base_);
  visit_gpt_params(grads_, config_, [&](const GptParamSpec&, Tensor& t) {
    const size_t b = static_cast<size_t>(static_cast<char*>(t.data) - base);
    spans.push_back({b, b + t.nbytes()});
  });
  std::sort(spans.begin(), spans.end());
  size_t at = 0;
  for (const auto& [b, e] : spans) {
    if (b > at) grad_gaps_.push_back({at, b - at});
    at = std::max(at, e);
  }
  if (grads_bytes_ > at) grad_gaps_.push_back({at, grads_bytes_ - at});
  return grads_;
}

GptParams& Gpt::grads() {
  grad_slots();
  if (grads_zero_pending_) {
    zero_bytes(grads_base_, grads_bytes_);
    grads_zero_pending_ = false;
  }
  return grads_;
}

Tensor Gpt::flat_grads() {
  grads();
  return Tensor(grads_base_, Shape{static_cast<int64_t>(grads_bytes_ / dtype_size(dtype_))}, dtype_, device_);
}

// Lazy: the next backward overwrites every gradient instead of accumulating (saves a pass over the arena and the
// GEMMs' read of the old values); anything that looks at the gradients first gets real zeros (grads()).
void Gpt::zero_grad() {
  grad_slots();
  grads_zero_pending_ = true;
}

std::vector<LinearSite> Gpt::linear_sites() {
  std::vector<LinearSite> out;
  const int64_t C = config_.n_embd, I = config_.inner();
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    GptBlockParams& b = params_.h[static_cast<size_t>(l)];
    const std::string n = "transformer.h." + std::to_string(l) + ".";
    auto site = [&](const std::string& module, nn::Linear& lin, int64_t rows, int64_t in) {
      out.push_back({n + module, n + module + ".weight", &lin.lora, 0, rows, in, /*fan_in_fan_out=*/true, lin.w});
    };
    site("attn.c_attn", b.attn.qkv, 3 * C, C);
    site("attn.c_proj", b.attn.proj, C, C);
    site("mlp.c_fc", b.mlp.fc, I, C);
    site("mlp.c_proj", b.mlp.proj, C, I);
  }
  return out;
}

void Gpt::freeze(const std::vector<TrainableTensor>& trainable) {
  LM_CHECK_AS(ErrorCode::Unsupported, device_ == Device::CPU && dtype_ == DType::F32,
              "gpt2: adapters train on the CPU in f32");
  std::map<std::string, TrainableTensor> keep;
  for (const auto& t : trainable) keep[t.name] = t;
  std::set<std::string> found;
  visit_gpt_params(params_, config_, [&](const GptParamSpec& s, Tensor& t) {
    auto it = keep.find(s.name);
    if (it == keep.end()) return;
    LM_CHECK(it->second.param.shape == t.shape && it->second.grad.shape == t.shape,
             "gpt2 freeze: {} is {}, the trainable copy is {}", s.name, t.shape.str(), it->second.param.shape.str());
    std::memcpy(it->second.param.data, t.data, t.nbytes());
    t = it->second.param;
    found.insert(s.name);
  });
  for (const auto& [name, t] : keep) LM_CHECK(found.count(name), "gpt2 freeze: no parameter named {}", name);
  frozen_ = true;
  trainable_ = std::move(keep);
  grads_ready_ = false;
  grads_arena_ = Arena("grads", device_);
  grad_gaps_.clear();
  grads_zero_pending_ = false;
}

std::vector<ParamRef> Gpt::param_list() {
  grads();
  std::vector<ParamRef> out;
  visit_gpt_params(params_, config_, [&](const GptParamSpec& s, Tensor& t) {
    out.push_back({s.name, t, Tensor(), s.decay, Tensor(), s.gguf});
  });
  size_t i = 0;
  visit_gpt_params(grads_, config_, [&](const GptParamSpec&, Tensor& t) { out[i++].grad = t; });
  if (dtype_ == DType::BF16) {
    i = 0;
    visit_gpt_params(params16_, config_, [&](const GptParamSpec&, Tensor& t) { out[i++].param_copy = t; });
  }
  return out;
}

}  // namespace lm::models
