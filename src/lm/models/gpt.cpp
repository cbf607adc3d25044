// GPT-2 forward and backward composed from ops, HF config parsing, and HF checkpoint load/save.
// The backward is the forward read bottom-up with the same names and a `d` prefix.
#include "lm/models/gpt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/profile.h"
#include "lm/core/rng.h"
#include "lm/io/safetensors.h"
#include "lm/ops/cross_entropy.h"
#include "lm/ops/dropout.h"
#include "lm/ops/adamw.h"
#include "lm/ops/attention_kv.h"
#include "lm/ops/encoder.h"
#include "lm/ops/gemv.h"
#include "lm/ops/layernorm.h"
#include "lm/ops/matmul.h"
#include "lm/ops/residual.h"

namespace lm::models {

namespace {

int64_t get_int(const Json& j, const char* key, int64_t def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  LM_CHECK(j[key].is_number_integer(), "config.json: \"{}\" must be an integer, got {}", key, j[key].dump());
  return j[key].get<int64_t>();
}

float get_float(const Json& j, const char* key, float def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  LM_CHECK(j[key].is_number(), "config.json: \"{}\" must be a number, got {}", key, j[key].dump());
  return j[key].get<float>();
}

bool get_bool(const Json& j, const char* key, bool def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  LM_CHECK(j[key].is_boolean(), "config.json: \"{}\" must be true or false, got {}", key, j[key].dump());
  return j[key].get<bool>();
}

}  // namespace

GptConfig GptConfig::from_hf(const Json& j) {
  LM_CHECK(j.is_object(), "GPT-2 config must be a JSON object");
  GptConfig c;
  if (j.contains("model_type"))
    LM_CHECK(j["model_type"] == "gpt2", "config.json: model_type {} is not gpt2", j["model_type"].dump());
  c.vocab_size = get_int(j, "vocab_size", c.vocab_size);
  c.n_positions = get_int(j, "n_positions", c.n_positions);
  c.n_embd = get_int(j, "n_embd", c.n_embd);
  c.n_layer = get_int(j, "n_layer", c.n_layer);
  c.n_head = get_int(j, "n_head", c.n_head);
  c.n_inner = get_int(j, "n_inner", 0);
  c.layer_norm_epsilon = get_float(j, "layer_norm_epsilon", c.layer_norm_epsilon);
  c.resid_pdrop = get_float(j, "resid_pdrop", 0.1f);
  c.embd_pdrop = get_float(j, "embd_pdrop", 0.1f);
  c.attn_pdrop = get_float(j, "attn_pdrop", 0.1f);
  c.scale_attn_weights = get_bool(j, "scale_attn_weights", true);
  c.scale_attn_by_inverse_layer_idx = get_bool(j, "scale_attn_by_inverse_layer_idx", false);
  c.initializer_range = get_float(j, "initializer_range", 0.02f);
  c.bos_token_id = get_int(j, "bos_token_id", 50256);
  c.eos_token_id = get_int(j, "eos_token_id", 50256);
  if (j.contains("activation_function")) {
    LM_CHECK(j["activation_function"].is_string(), "config.json: \"activation_function\" must be a string");
    c.activation_name = j["activation_function"].get<std::string>();
  }
  // gelu_new, gelu_pytorch_tanh and gelu_fast are the same tanh formula; "gelu" is exact erf.
  c.activation = ops::gelu_kind_from_name(c.activation_name);
  LM_CHECK_AS(ErrorCode::Unsupported, !get_bool(j, "add_cross_attention", false),
              "config.json: add_cross_attention=true (encoder-decoder GPT-2) is not supported");
  LM_CHECK_AS(ErrorCode::Unsupported, get_bool(j, "tie_word_embeddings", true),
              "config.json: tie_word_embeddings=false is not supported for gpt2 (the LM head is tied to wte)");
  LM_CHECK(c.vocab_size > 0 && c.vocab_size < (1LL << 31), "config.json: vocab_size {} out of range", c.vocab_size);
  LM_CHECK(c.n_positions > 0 && c.n_positions <= (1 << 20), "config.json: n_positions {} out of range",
           c.n_positions);
  LM_CHECK(c.n_layer > 0 && c.n_layer <= 1024, "config.json: n_layer {} out of range", c.n_layer);
  LM_CHECK(c.n_head > 0 && c.n_embd > 0 && c.n_embd % c.n_head == 0,
           "config.json: n_embd {} must be a positive multiple of n_head {}", c.n_embd, c.n_head);
  LM_CHECK(c.n_inner >= 0, "config.json: n_inner {} must be positive or null", c.n_inner);
  LM_CHECK(c.layer_norm_epsilon > 0, "config.json: layer_norm_epsilon must be positive");
  for (float p : {c.resid_pdrop, c.embd_pdrop, c.attn_pdrop})
    LM_CHECK(p >= 0 && p < 1, "config.json: dropout probability {} must be in [0, 1)", p);
  return c;
}

Json GptConfig::to_hf() const {
  Json j;
  j["model_type"] = "gpt2";
  j["architectures"] = Json::array({"GPT2LMHeadModel"});
  j["vocab_size"] = vocab_size;
  j["n_positions"] = n_positions;
  j["n_ctx"] = n_positions;
  j["n_embd"] = n_embd;
  j["n_layer"] = n_layer;
  j["n_head"] = n_head;
  j["n_inner"] = n_inner > 0 ? Json(n_inner) : Json(nullptr);
  j["activation_function"] = activation_name;
  j["layer_norm_epsilon"] = layer_norm_epsilon;
  j["resid_pdrop"] = resid_pdrop;
  j["embd_pdrop"] = embd_pdrop;
  j["attn_pdrop"] = attn_pdrop;
  j["scale_attn_weights"] = scale_attn_weights;
  j["scale_attn_by_inverse_layer_idx"] = scale_attn_by_inverse_layer_idx;
  j["reorder_and_upcast_attn"] = false;
  j["initializer_range"] = initializer_range;
  j["tie_word_embeddings"] = true;
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  j["use_cache"] = true;
  j["torch_dtype"] = "float32";
  return j;
}

std::vector<GptParamSpec> gpt_param_specs(const GptConfig& c) {
  const int64_t C = c.n_embd, I = c.inner();
  std::vector<GptParamSpec> s;
  s.push_back({"transformer.wte.weight", Shape{c.vocab_size, C}, false, false, &GptParams::wte});
  s.push_back({"transformer.wpe.weight", Shape{c.n_positions, C}, false, false, &GptParams::wpe});
  for (int l = 0; l < c.n_layer; ++l) {
    std::string p = "transformer.h." + std::to_string(l) + ".";
    auto add = [&](const char* n, Shape sh, bool conv, bool decay, Tensor GptBlockParams::*m) {
      s.push_back({p + n, sh, conv, decay, nullptr, m, l});
    };
    add("ln_1.weight", Shape{C}, false, false, &GptBlockParams::ln_1_w);
    add("ln_1.bias", Shape{C}, false, false, &GptBlockParams::ln_1_b);
    add("attn.c_attn.weight", Shape{3 * C, C}, true, true, &GptBlockParams::c_attn_w);
    add("attn.c_attn.bias", Shape{3 * C}, false, false, &GptBlockParams::c_attn_b);
    add("attn.c_proj.weight", Shape{C, C}, true, true, &GptBlockParams::attn_c_proj_w);
    add("attn.c_proj.bias", Shape{C}, false, false, &GptBlockParams::attn_c_proj_b);
    add("ln_2.weight", Shape{C}, false, false, &GptBlockParams::ln_2_w);
    add("ln_2.bias", Shape{C}, false, false, &GptBlockParams::ln_2_b);
    add("mlp.c_fc.weight", Shape{I, C}, true, true, &GptBlockParams::c_fc_w);
    add("mlp.c_fc.bias", Shape{I}, false, false, &GptBlockParams::c_fc_b);
    add("mlp.c_proj.weight", Shape{C, I}, true, true, &GptBlockParams::mlp_c_proj_w);
    add("mlp.c_proj.bias", Shape{C}, false, false, &GptBlockParams::mlp_c_proj_b);
  }
  s.push_back({"transformer.ln_f.weight", Shape{C}, false, false, &GptParams::ln_f_w});
  s.push_back({"transformer.ln_f.bias", Shape{C}, false, false, &GptParams::ln_f_b});
  return s;
}

namespace {

Tensor& slot_of(GptParams& p, const GptParamSpec& s) {
  if (s.top) return p.*(s.top);
  return p.h[static_cast<size_t>(s.layer)].*(s.block);
}

void bind_params(GptParams& p, Arena& arena, const std::vector<GptParamSpec>& specs, int64_t n_layer) {
  p.h.assign(static_cast<size_t>(n_layer), GptBlockParams{});
  std::vector<size_t> slots;
  for (const auto& s : specs) slots.push_back(arena.reserve(s.shape));
  arena.allocate();
  for (size_t i = 0; i < specs.size(); ++i) slot_of(p, specs[i]) = arena.tensor(slots[i]);
}

// Binds p into `base`, a buffer of dtype dt laid out element for element like the f32 arena holding `ref`: every
// tensor at the same element offset, so flat views of the two line up (the optimizer relies on it).
void bind_mirror(GptParams& p, GptParams& ref, const Arena& ref_arena, void* base, DType dt, Device dev,
                 const std::vector<GptParamSpec>& specs, int64_t n_layer) {
  p.h.assign(static_cast<size_t>(n_layer), GptBlockParams{});
  for (const auto& s : specs) {
    const Tensor src = slot_of(ref, s);
    const size_t elem = static_cast<size_t>(static_cast<char*>(src.data) - static_cast<char*>(ref_arena.data())) / 4;
    slot_of(p, s) = Tensor(static_cast<char*>(base) + elem * dtype_size(dt), src.shape, dt, dev);
  }
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
  specs_ = gpt_param_specs(config_);
  for (const auto& s : specs_) num_params_ += s.shape.numel();
  bind_params(params_, params_arena_, specs_, config_.n_layer);
  if (dtype_ == DType::BF16) {
    params16_buf_ = Buffer(params_arena_.bytes() / 2, device_);
    bind_mirror(params16_, params_, params_arena_, params16_buf_.data(), DType::BF16, device_, specs_, config_.n_layer);
  }
}

void Gpt::copy_params_from(const Gpt& src) {
  LM_CHECK(src.config_.to_hf() == config_.to_hf(), "gpt2 copy_params_from: the two models' configs differ");
  LM_ASSERT(src.params_arena_.bytes() == params_arena_.bytes());
  copy_bytes(params_arena_.data(), device_, src.params_arena_.data(), src.device_, params_arena_.bytes());
  sync_param_copy();
}

void Gpt::sync_param_copy() {
  if (dtype_ != DType::BF16) return;
  const int64_t n = static_cast<int64_t>(params_arena_.bytes() / 4);
  ops::convert(Tensor(params16_buf_.data(), Shape{n}, DType::BF16, device_), params_arena_.flat_f32());
}

void Gpt::zero_bytes(void* p, size_t n) const {
  if (n == 0) return;
  if (device_ == Device::CPU)
    std::memset(p, 0, n);
  else
    device_zero(device_, p, n);
}

template <typename F>
void Gpt::with_host_params(bool copy_in, bool copy_out, F&& fn) const {
  GptParams& mine = const_cast<GptParams&>(params_);
  if (device_ == Device::CPU) {
    fn(mine);
    return;
  }
  // Same specs in the same order give the same slot offsets, so the whole arena copies as one block.
  Arena host("params-host", Device::CPU);
  GptParams hp;
  bind_params(hp, host, specs_, config_.n_layer);
  LM_ASSERT(host.bytes() == params_arena_.bytes());
  if (copy_in) copy_bytes(host.data(), Device::CPU, params_arena_.data(), device_, host.bytes());
  fn(hp);
  if (copy_out) copy_bytes(params_arena_.data(), device_, host.data(), Device::CPU, host.bytes());
}

GptParams& Gpt::grad_slots() {
  if (!grads_ready_) {
    if (dtype_ == DType::F32) {
      bind_params(grads_, grads_arena_, specs_, config_.n_layer);
      grads_base_ = grads_arena_.data();
      grads_bytes_ = grads_arena_.bytes();
    } else {  // bf16 gradients at the parameters' element offsets
      grads_bytes_ = params_arena_.bytes() / 4 * dtype_size(dtype_);
      grads16_buf_ = Buffer(grads_bytes_, device_);
      grads_base_ = grads16_buf_.data();
      bind_mirror(grads_, params_, params_arena_, grads_base_, dtype_, device_, specs_, config_.n_layer);
    }
    grads_ready_ = true;
    // The alignment gaps between the tensors (flat_grads covers them; no op writes them), for the lazy zero_grad.
    std::vector<std::pair<size_t, size_t>> spans;
    char* const base = static_cast<char*>(grads_base_);
    for (const auto& s : specs_) {
      Tensor t = slot_of(grads_, s);
      const size_t b = static_cast<size_t>(static_cast<char*>(t.data) - base);
      spans.push_back({b, b + t.nbytes()});
    }
    std::sort(spans.begin(), spans.end());
    size_t at = 0;
    for (const auto& [b, e] : spans) {
      if (b > at) grad_gaps_.push_back({at, b - at});
      at = std::max(at, e);
    }
    if (grads_bytes_ > at) grad_gaps_.push_back({at, grads_bytes_ - at});
  }
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

std::vector<ParamRef> Gpt::param_list() {
  grads();
  std::vector<ParamRef> out;
  for (const auto& s : specs_) {
    out.push_back({s.name, slot_of(params_, s), slot_of(grads_, s), s.decay, Tensor()});
    if (dtype_ == DType::BF16) out.back().param_copy = slot_of(params16_, s);
  }
  return out;
}

void Gpt::init_weights(uint64_t seed) {
  with_host_params(false, true, [&](GptParams& params) { init_host(params, seed); });
  sync_param_copy();
}

void Gpt::init_host(GptParams& params, uint64_t seed) const {
  const float std0 = config_.initializer_range;
  const float std_proj = std0 / std::sqrt(2.0f * static_cast<float>(config_.n_layer));
  for (size_t i = 0; i < specs_.size(); ++i) {
    const auto& s = specs_[i];
    Tensor t = slot_of(params, s);
    std::memset(t.data, 0, t.nbytes());
    float* x = t.f32();
    const bool is_bias = s.name.size() >= 5 && s.name.compare(s.name.size() - 5, 5, ".bias") == 0;
    const bool is_ln = s.name.find("ln_") != std::string::npos;
    if (is_ln && !is_bias) {
      for (int64_t k = 0; k < t.numel(); ++k) x[k] = 1.0f;
    } else if (!is_bias) {
      const bool proj = s.name.find("c_proj.weight") != std::string::npos;
      const float sd = proj ? std_proj : std0;
      Rng r(seed, 1000 + i);  // one stream per tensor: independent of tensor order and thread count
      for (int64_t k = 0; k < t.numel(); ++k) x[k] = sd * r.normal(static_cast<uint64_t>(k));
    }
  }
}

void Gpt::load_safetensors(const std::string& path) {
  with_host_params(false, true, [&](GptParams& params) { load_host(params, path); });
  sync_param_copy();
}

void Gpt::load_host(GptParams& params, const std::string& path) const {
  SafetensorsFile f(path);
  bool prefixed = f.contains("transformer.wte.weight");
  LM_CHECK_AS(ErrorCode::BadFormat, prefixed || f.contains("wte.weight"),
              "{}: no wte.weight or transformer.wte.weight; not a GPT-2 checkpoint", path);
  std::vector<float> tmp;
  for (const auto& s : specs_) {
    std::string name = prefixed ? s.name : s.name.substr(std::strlen("transformer."));
    LM_CHECK_AS(ErrorCode::BadFormat, f.contains(name), "{}: missing tensor {}", path, name);
    Tensor dst = slot_of(params, s);
    if (s.conv1d) {
      // HF Conv1D stores (in, out) = (C_in, OC); we hold (OC, C_in).
      Shape hf{s.shape[1], s.shape[0]};
      tmp.resize(static_cast<size_t>(hf.numel()));
      f.read_f32(name, tmp.data(), hf);
      const int64_t rows = hf[0], cols = hf[1];
      float* d = dst.f32();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) d[c * rows + r] = tmp[static_cast<size_t>(r * cols + c)];
    } else {
      f.read_f32(name, dst.f32(), s.shape);
    }
  }
  // Tied head: HF omits lm_head.weight; older .bin-converted saves may carry a copy, which must match wte.
  if (f.contains("lm_head.weight")) {
    tmp.resize(static_cast<size_t>(params.wte.numel()));
    f.read_f32("lm_head.weight", tmp.data(), params.wte.shape);
    LM_CHECK_AS(ErrorCode::Unsupported, std::memcmp(tmp.data(), params.wte.data, params.wte.nbytes()) == 0,
                "{}: lm_head.weight differs from wte (untied LM head) which gpt2 does not support", path);
  }
  // Any other tensor that is not a known legacy buffer is an error: a silently ignored weight is a wrong model.
  for (const auto& e : f.tensors()) {
    const std::string& n = e.name;
    if (n == "lm_head.weight") continue;
    if (n.size() > 9 && (n.compare(n.size() - 9, 9, "attn.bias") == 0)) continue;
    if (n.size() > 16 && (n.compare(n.size() - 16, 16, "attn.masked_bias") == 0)) continue;
    bool known = false;
    for (const auto& s : specs_) {
      if (s.name == n || (!prefixed && s.name.substr(std::strlen("transformer.")) == n)) {
        known = true;
        break;
      }
    }
    LM_CHECK_AS(ErrorCode::BadFormat, known, "{}: unexpected tensor {} for this gpt2 config", path, n);
  }
}

void Gpt::save_hf(const std::string& dir) const {
  make_dirs(dir);
  // Conv1D weights are written transposed back to HF's (in, out) layout.
  with_host_params(true, false, [&](GptParams& p) {
  std::vector<std::unique_ptr<OwnedTensor>> owned;
  std::vector<NamedTensor> out;
  for (const auto& s : specs_) {
    Tensor t = slot_of(p, s);
    if (s.conv1d) {
      const int64_t rows = s.shape[0], cols = s.shape[1];  // (OC, C)
      auto o = std::make_unique<OwnedTensor>(Shape{cols, rows});
      const float* src = t.f32();
      float* d = o->f32();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) d[c * rows + r] = src[r * cols + c];
      out.push_back({s.name, o->t});
      owned.push_back(std::move(o));
    } else {
      out.push_back({s.name, t});
    }
  }
  write_safetensors(path_join(dir, "model.safetensors"), out, {{"format", "pt"}});
  });
  write_file_atomic(path_join(dir, "config.json"), hf_config_.dump(2) + "\n");
  Json gen{{"bos_token_id", config_.bos_token_id}, {"eos_token_id", config_.eos_token_id},
           {"pad_token_id", config_.eos_token_id}};
  write_file_atomic(path_join(dir, "generation_config.json"), gen.dump(2) + "\n");
}

float Gpt::forward(const Batch& batch, const ForwardOptions& opt) {
  LM_CHECK(!batch.token_type_ids.defined(),
           "token_type_ids are not used by gpt2 models (HF would embed them with wte); omit them");
  LM_CHECK(!batch.next_sentence_label.defined() && !batch.start_positions.defined() && !batch.end_positions.defined(),
           "gpt2 forward: the batch has labels of another head (next sentence / span positions)");
  set_training(opt.training, opt.seed, opt.stream);
  return forward(batch.input_ids, batch.labels, batch.attention_mask);
}

std::unique_ptr<Model> Gpt::to(Device device) const {
  auto m = std::make_unique<Gpt>(config_, device);
  m->copy_params_from(*this);
  return m;
}

namespace {
// Matmul parameters (blocks + LM head) and attention FLOPs per token per pass unit, for the FLOP counts.
double gpt_matmul_params(const GptConfig& c) {
  const double C = static_cast<double>(c.n_embd), L = static_cast<double>(c.n_layer);
  const double I = static_cast<double>(c.inner()), V = static_cast<double>(c.vocab_size);
  return L * (3 * C * C + C * C + 2 * C * I) + V * C;
}
double gpt_attention_units(const GptConfig& c, int64_t T) {
  return static_cast<double>(c.n_layer) * static_cast<double>(T) * static_cast<double>(c.n_embd);
}
}  // namespace

double GptConfig::train_flops_per_token(int64_t T) const {
  return 6.0 * gpt_matmul_params(*this) + 6.0 * gpt_attention_units(*this, T);
}

double GptConfig::forward_flops_per_token(int64_t T) const {
  return 2.0 * gpt_matmul_params(*this) + 2.0 * gpt_attention_units(*this, T);
}

ops::AttentionSpec Gpt::attn_spec(int layer) const {
  ops::AttentionSpec a;
  a.n_head = static_cast<int>(config_.n_head);
  a.causal = true;
  a.scale = config_.scale_attn_weights ? 1.0f / std::sqrt(static_cast<float>(config_.head_size())) : 1.0f;
  if (config_.scale_attn_by_inverse_layer_idx) a.scale /= static_cast<float>(layer + 1);
  if (dropout_active_ && config_.attn_pdrop > 0) {
    a.dropout = config_.attn_pdrop;
    a.seed = dropout_seed_;
    a.stream = dropout_stream(layer, 1);
  }
  return a;
}

void Gpt::reserve(int64_t B, int64_t T, bool training) {
  if (B <= max_B_ && T == max_T_ && (!training || acts_training_)) return;
  if (T == max_T_) B = std::max(B, max_B_);
  training = training || (acts_training_ && T == max_T_);
  const int64_t C = config_.n_embd, I = config_.inner(), NH = config_.n_head, V = config_.vocab_size;
  Arena a("acts", device_);
  struct Pending {
    Tensor* t;
    size_t slot;
  };
  std::vector<Pending> pend;
  // Activations in the compute dtype; LayerNorm statistics, losses and the loss's row statistics always f32.
  auto r = [&](Tensor* t, Shape s) { pend.push_back({t, a.reserve(s, dtype_)}); };
  auto rf = [&](Tensor* t, Shape s) { pend.push_back({t, a.reserve(s, DType::F32)}); };
  acts_.assign(static_cast<size_t>(config_.n_layer), GptBlockActs{});
  r(&encoded_, Shape{B, T, C});
  for (auto& l : acts_) {
    rf(&l.ln1_mean, Shape{B, T});
    rf(&l.ln1_rstd, Shape{B, T});
    r(&l.qkv, Shape{B, T, 3 * C});
    r(&l.att, Shape{B, NH, T, T});
    r(&l.atty, Shape{B, T, C});
    r(&l.residual2, Shape{B, T, C});
    rf(&l.ln2_mean, Shape{B, T});
    rf(&l.ln2_rstd, Shape{B, T});
    r(&l.fch, Shape{B, T, I});
    r(&l.residual3, Shape{B, T, C});
  }
  r(&lnf_, Shape{B, T, C});
  rf(&lnf_mean_, Shape{B, T});
  rf(&lnf_rstd_, Shape{B, T});
  r(&logits_, Shape{B * T, V});
  rf(&losses_, Shape{B * T});
  rf(&ce_stats_, Shape{B * T, 2});
  r(&proj_, Shape{B, T, C});
  r(&ln_, Shape{B, T, C});
  r(&fch_gelu_, Shape{B, T, I});
  if (training) {
    r(&dres_, Shape{B, T, C});
    r(&dln_, Shape{B, T, C});
    r(&datty_, Shape{B, T, C});
    r(&dqkv_, Shape{B, T, 3 * C});
    r(&datt_, Shape{B, NH, T, T});
    r(&dfch_gelu_, Shape{B, T, I});
    r(&dlnf_, Shape{B, T, C});
  }
  a.allocate();
  for (auto& p : pend) *p.t = a.tensor(p.slot);
  acts_arena_ = std::move(a);
  max_B_ = B;
  max_T_ = T;
  acts_training_ = training;
}

namespace {
// First n rows (dim 0) of a tensor sized for max_B, reshaped for the current batch: activations are allocated
// for (maxB, T) and a smaller batch uses the prefix.
Tensor prefix(const Tensor& t, int64_t B) { return t.slice0(0, B); }
}  // namespace

float Gpt::forward(Tensor ids, Tensor targets, Tensor attention_mask) {
  LM_CHECK(ids.dtype == DType::I32 && ids.ndim() == 2, "gpt2 forward: ids must be (B,T) int32, got {} {}",
           dtype_name(ids.dtype), ids.shape.str());
  const int64_t B = ids.dim(0), T = ids.dim(1);
  LM_CHECK(T >= 1 && T <= config_.n_positions, "gpt2 forward: sequence length {} exceeds n_positions {}", T,
           config_.n_positions);
  if (targets.defined()) check_tensor(targets, ids.shape, DType::I32, "gpt2 forward targets");
  if (attention_mask.defined()) check_tensor(attention_mask, ids.shape, DType::I32, "gpt2 forward attention_mask");
  for (const auto& [t, what] : {std::pair{&ids, "ids"}, {&targets, "targets"}, {&attention_mask, "attention_mask"}})
    LM_CHECK(!t->defined() || t->device == device_, "gpt2 forward: {} are on {} but the model is on {}", what,
             device_name(t->device), device_name(device_));
  const bool training = targets.defined();
  // Plans memory only when the shape grows or T changes (once in a training loop).
  reserve(B, T, training);
  cur_B_ = B;
  cur_T_ = T;
  ids_ = ids;
  targets_ = targets;
  const int64_t C = config_.n_embd, V = config_.vocab_size;
  const float eps = config_.layer_norm_epsilon;
  const GptParams& W = compute_params();

  Tensor encoded = prefix(encoded_, B);
  {
    prof::Scope ps(prof::Op::Residual);
    ops::encoder_forward(encoded, ids, W.wte, W.wpe);
  }
  dropout_active_ = training_ && (config_.embd_pdrop > 0 || config_.resid_pdrop > 0 || config_.attn_pdrop > 0);
  if (dropout_active_ && config_.embd_pdrop > 0)
    ops::dropout_forward(encoded, encoded, config_.embd_pdrop, dropout_seed_, dropout_stream(-1, 0));
  Tensor residual = encoded;
  for (int l = 0; l < config_.n_layer; ++l) {
    const GptBlockParams& p = W.h[static_cast<size_t>(l)];
    GptBlockActs& a = acts_[static_cast<size_t>(l)];
    Tensor ln1 = prefix(ln_, B), qkv = prefix(a.qkv, B), att = prefix(a.att, B), atty = prefix(a.atty, B);
    Tensor residual2 = prefix(a.residual2, B), ln2 = prefix(ln_, B), fch = prefix(a.fch, B);
    Tensor fch_gelu = prefix(fch_gelu_, B), residual3 = prefix(a.residual3, B), proj = prefix(proj_, B);
    {
      prof::Scope ps(prof::Op::LayerNorm);
      ops::layernorm_forward(ln1, prefix(a.ln1_mean, B), prefix(a.ln1_rstd, B), residual, p.ln_1_w, p.ln_1_b, eps);
    }
    {
      prof::Scope ps(prof::Op::MatmulFwd);
      ops::matmul_forward(qkv, ln1, p.c_attn_w, p.c_attn_b);
    }
    {
      prof::Scope ps(prof::Op::AttnFwd);
      ops::attention_forward(atty, att, qkv, attn_spec(l), attention_mask);
    }
    {
      prof::Scope ps(prof::Op::MatmulFwd);
      ops::matmul_forward(proj, atty, p.attn_c_proj_w, p.attn_c_proj_b);
    }
    if (dropout_active_ && config_.resid_pdrop > 0)
      ops::dropout_forward(proj, proj, config_.resid_pdrop, dropout_seed_, dropout_stream(l, 2));
    {
      prof::Scope ps(prof::Op::Residual);
      ops::residual_forward(residual2, residual, proj);
    }
    {
      prof::Scope ps(prof::Op::LayerNorm);
      ops::layernorm_forward(ln2, prefix(a.ln2_mean, B), prefix(a.ln2_rstd, B), residual2, p.ln_2_w, p.ln_2_b, eps);
    }
    {
      prof::Scope ps(prof::Op::MatmulFwd);
      ops::matmul_forward(fch, ln2, p.c_fc_w, p.c_fc_b);
    }
    {
      prof::Scope ps(prof::Op::Gelu);
      ops::gelu_forward(fch_gelu, fch, config_.activation);
    }
    {
      prof::Scope ps(prof::Op::MatmulFwd);
      ops::matmul_forward(proj, fch_gelu, p.mlp_c_proj_w, p.mlp_c_proj_b);
    }
    if (dropout_active_ && config_.resid_pdrop > 0)
      ops::dropout_forward(proj, proj, config_.resid_pdrop, dropout_seed_, dropout_stream(l, 3));
    {
      prof::Scope ps(prof::Op::Residual);
      ops::residual_forward(residual3, residual2, proj);
    }
    residual = residual3;
  }
  Tensor lnf = prefix(lnf_, B);
  {
    prof::Scope ps(prof::Op::LayerNorm);
    ops::layernorm_forward(lnf, prefix(lnf_mean_, B), prefix(lnf_rstd_, B), residual, W.ln_f_w, W.ln_f_b,
                           eps);
  }
  Tensor logits = logits_.slice0(0, B * T);
  {
    prof::Scope ps(prof::Op::LmHead);
    ops::matmul_forward(logits, lnf.view(Shape{B * T, C}), W.wte, Tensor());
  }
  (void)V;
  have_loss_ = false;
  if (!targets.defined()) return std::numeric_limits<float>::quiet_NaN();
  Tensor losses = losses_.slice0(0, B * T);
  {
    prof::Scope ps(prof::Op::LmHead);
    last_targets_ = ops::cross_entropy_forward(losses, logits, targets.view(Shape{B * T}), ops::kIgnoreIndex,
                                               ce_stats_.slice0(0, B * T));
  }
  have_loss_ = true;
  if (last_targets_ == 0) return std::numeric_limits<float>::quiet_NaN();
  // Mean over targets, summed in double in index order (deterministic). Device losses are read through a host copy.
  std::vector<float> host_losses;
  const float* lp = losses.f32();
  if (device_ != Device::CPU) {
    host_losses.resize(static_cast<size_t>(B * T));
    copy_bytes(host_losses.data(), Device::CPU, losses.data, device_, losses.nbytes());
    lp = host_losses.data();
  }
  double sum = 0;
  for (int64_t i = 0; i < B * T; ++i) sum += lp[i];
  return static_cast<float>(sum / static_cast<double>(last_targets_));
}

void Gpt::backward(float dloss_scale) {
  LM_CHECK(have_loss_ && acts_training_, "gpt2 backward: call forward with targets first");
  grad_slots();
  // The first backward after zero_grad writes each gradient instead of adding to it: the weight GEMMs run with
  // beta 0, the LayerNorm and position-embedding gradients (small) are zeroed here first.
  const bool fresh = grads_zero_pending_;
  grads_zero_pending_ = false;
  auto zero_if_fresh = [&](Tensor t) {
    if (fresh) zero_bytes(t.data, t.nbytes());
  };
  if (fresh)
    for (const auto& [off, n] : grad_gaps_) zero_bytes(static_cast<char*>(grads_base_) + off, n);
  const int64_t B = cur_B_, T = cur_T_, C = config_.n_embd;
  const GptParams& W = compute_params();
  if (dloss_scale == 0.0f) dloss_scale = last_targets_ > 0 ? 1.0f / static_cast<float>(last_targets_) : 0.0f;
  auto zero = [this](Tensor t) { zero_bytes(t.data, t.nbytes()); };

  Tensor logits = logits_.slice0(0, B * T);
  // Fused: the logits buffer becomes dlogits in place.
  {
    prof::Scope ps(prof::Op::LmHead);
    ops::cross_entropy_backward(logits, logits, targets_.view(Shape{B * T}), dloss_scale, ops::kIgnoreIndex,
                                ce_stats_.slice0(0, B * T));  // the forward's row max / Σexp: one pass fewer
  }
  have_loss_ = false;  // logits are gone
  Tensor dlnf = prefix(dlnf_, B);
  {
    prof::Scope ps(prof::Op::LmHead);
    ops::matmul_backward(dlnf.view(Shape{B * T, C}), grads_.wte, Tensor(), logits,
                         prefix(lnf_, B).view(Shape{B * T, C}), W.wte, /*overwrite_dinp=*/true, fresh);
  }
  Tensor dres = prefix(dres_, B);
  zero(dres);
  Tensor last = config_.n_layer > 0 ? prefix(acts_.back().residual3, B) : prefix(encoded_, B);
  {
    prof::Scope ps(prof::Op::LayerNorm);
    zero_if_fresh(grads_.ln_f_w);
    zero_if_fresh(grads_.ln_f_b);
    ops::layernorm_backward(dres, grads_.ln_f_w, grads_.ln_f_b, dlnf, last, W.ln_f_w, prefix(lnf_mean_, B),
                            prefix(lnf_rstd_, B));
  }
  for (int l = static_cast<int>(config_.n_layer) - 1; l >= 0; --l) {
    const GptBlockParams& p = W.h[static_cast<size_t>(l)];
    GptBlockParams& g = grads_.h[static_cast<size_t>(l)];
    GptBlockActs& a = acts_[static_cast<size_t>(l)];
    Tensor residual = l == 0 ? prefix(encoded_, B) : prefix(acts_[static_cast<size_t>(l - 1)].residual3, B);
    // fch_gelu_ holds this layer's GELU output until d c_proj is done, then becomes dfch; ln_ holds ln2, then ln1.
    Tensor dfch_gelu = prefix(dfch_gelu_, B), fch_gelu = prefix(fch_gelu_, B), dfch = fch_gelu, dln = prefix(dln_, B);
    Tensor ln = prefix(ln_, B);
    Tensor datty = prefix(datty_, B), dqkv = prefix(dqkv_, B), datt = prefix(datt_, B);
    // residual3 = residual2 + dropout(mlp(ln2(residual2))); dres holds d residual3.
    Tensor dproj = dres;
    if (dropout_active_ && config_.resid_pdrop > 0) {
      dproj = prefix(proj_, B);  // forward scratch, free during backward
      zero(dproj);
      ops::dropout_backward(dproj, dres, config_.resid_pdrop, dropout_seed_, dropout_stream(l, 3));
    }
    {
      prof::Scope ps(prof::Op::Gelu);
      ops::gelu_forward(fch_gelu, prefix(a.fch, B), config_.activation);
    }
    // The backward GEMMs and GELU overwrite their input gradients (no zeroing pass, no read of the old values).
    {
      prof::Scope ps(prof::Op::MatmulBwd);
      ops::matmul_backward(dfch_gelu, g.mlp_c_proj_w, g.mlp_c_proj_b, dproj, fch_gelu, p.mlp_c_proj_w, true, fresh);
    }
    {
      prof::Scope ps(prof::Op::Gelu);
      ops::gelu_backward(dfch, dfch_gelu, prefix(a.fch, B), config_.activation, /*overwrite=*/true);
    }
    {
      prof::Scope ps(prof::Op::LayerNorm);
      ops::layernorm_forward(ln, prefix(a.ln2_mean, B), prefix(a.ln2_rstd, B), prefix(a.residual2, B), p.ln_2_w,
                             p.ln_2_b, config_.layer_norm_epsilon);
    }
    {
      prof::Scope ps(prof::Op::MatmulBwd);
      ops::matmul_backward(dln, g.c_fc_w, g.c_fc_b, dfch, ln, p.c_fc_w, true, fresh);
    }
    {
      prof::Scope ps(prof::Op::LayerNorm);
      zero_if_fresh(g.ln_2_w);
      zero_if_fresh(g.ln_2_b);
      ops::layernorm_backward(dres, g.ln_2_w, g.ln_2_b, dln, prefix(a.residual2, B), p.ln_2_w, prefix(a.ln2_mean, B),
                              prefix(a.ln2_rstd, B));
    }
    // residual2 = residual + dropout(attn(ln1(residual))); dres now holds d residual2.
    dproj = dres;
    if (dropout_active_ && config_.resid_pdrop > 0) {
      dproj = prefix(proj_, B);
      zero(dproj);
      ops::dropout_backward(dproj, dres, config_.resid_pdrop, dropout_seed_, dropout_stream(l, 2));
    }
    {
      prof::Scope ps(prof::Op::MatmulBwd);
      ops::matmul_backward(datty, g.attn_c_proj_w, g.attn_c_proj_b, dproj, prefix(a.atty, B), p.attn_c_proj_w, true, fresh);
    }
    zero(dqkv);
    {
      prof::Scope ps(prof::Op::AttnBwd);
      ops::attention_backward(dqkv, datt, datty, prefix(a.qkv, B), prefix(a.att, B), attn_spec(l));
    }
    {
      prof::Scope ps(prof::Op::LayerNorm);
      ops::layernorm_forward(ln, prefix(a.ln1_mean, B), prefix(a.ln1_rstd, B), residual, p.ln_1_w, p.ln_1_b,
                             config_.layer_norm_epsilon);
    }
    {
      prof::Scope ps(prof::Op::MatmulBwd);
      ops::matmul_backward(dln, g.c_attn_w, g.c_attn_b, dqkv, ln, p.c_attn_w, true, fresh);
    }
    {
      prof::Scope ps(prof::Op::LayerNorm);
      zero_if_fresh(g.ln_1_w);
      zero_if_fresh(g.ln_1_b);
      ops::layernorm_backward(dres, g.ln_1_w, g.ln_1_b, dln, residual, p.ln_1_w, prefix(a.ln1_mean, B),
                              prefix(a.ln1_rstd, B));
    }
  }
  Tensor denc = dres;
  if (dropout_active_ && config_.embd_pdrop > 0) {
    denc = prefix(proj_, B);
    zero(denc);
    ops::dropout_backward(denc, dres, config_.embd_pdrop, dropout_seed_, dropout_stream(-1, 0));
  }
  {
    prof::Scope ps(prof::Op::Residual);
    zero_if_fresh(grads_.wpe);  // rows past T get no gradient; wte was written whole by the LM head
    ops::encoder_backward(grads_.wte, grads_.wpe, denc, ids_);
  }
  (void)T;
}

std::unique_ptr<GptKvCache> Gpt::make_kv_cache(int64_t B, int64_t Tmax) const {
  LM_CHECK(B >= 1 && Tmax >= 1, "kv cache: batch {} and length {} must be positive", B, Tmax);
  LM_CHECK(Tmax <= config_.n_positions, "kv cache: {} positions exceed n_positions {}", Tmax, config_.n_positions);
  const int64_t C = config_.n_embd, I = config_.inner(), NH = config_.n_head, HS = config_.head_size();
  auto c = std::make_unique<GptKvCache>();
  c->B = B;
  c->Tmax = Tmax;
  c->device = device_;
  c->arena = Arena("kv", device_);
  const bool dev = device_ != Device::CPU;
  std::vector<std::pair<Tensor*, size_t>> pend;
  auto r = [&](Tensor* t, Shape s) { pend.push_back({t, c->arena.reserve(s)}); };
  c->k.resize(static_cast<size_t>(config_.n_layer));
  c->v.resize(static_cast<size_t>(config_.n_layer));
  for (int64_t l = 0; l < config_.n_layer; ++l) {
    r(&c->k[static_cast<size_t>(l)], Shape{B, NH, Tmax, HS});
    r(&c->v[static_cast<size_t>(l)], Shape{B, NH, Tmax, HS});
  }
  for (Tensor* t : {&c->x, &c->x2, &c->ln, &c->atty, &c->proj}) r(t, Shape{B, Tmax, C});
  r(&c->mean, Shape{B, Tmax});
  r(&c->rstd, Shape{B, Tmax});
  r(&c->qkv, Shape{B, Tmax, 3 * C});
  r(&c->fch, Shape{B, Tmax, I});
  r(&c->fch_gelu, Shape{B, Tmax, I});
  r(&c->last, Shape{B, C});
  if (dev) {
    r(&c->dev_logits, Shape{B, config_.vocab_size});
    for (Tensor* t : {&c->ids_dev, &c->pos_dev, &c->mask_dev}) pend.push_back({t, c->arena.reserve(Shape{B, Tmax}, DType::I32)});
  } else {
    r(&c->logits, Shape{B, config_.vocab_size});
  }
  // A prefill from an empty cache runs the blocked-sgemm attention of training (much faster than row-by-row
  // against the cache for long prompts); its probabilities need (B,NH,T,T), so only for modest sizes. (CPU: on a
  // device the KV kernel's prefill is used.)
  if (!dev && B * NH * Tmax * Tmax * 4 <= (int64_t{64} << 20)) r(&c->att, Shape{B, NH, Tmax, Tmax});
  c->arena.allocate();
  for (auto& [t, slot] : pend) *t = c->arena.tensor(slot);
  if (dev) {
    c->host_logits = Buffer(static_cast<size_t>(B * config_.vocab_size) * sizeof(float));
    c->logits = Tensor(c->host_logits.data(), Shape{B, config_.vocab_size});
  }
  return c;
}

void Gpt::forward_cached(Tensor ids, GptKvCache& c, Tensor position_ids, Tensor key_mask, Tensor all_logits) const {
  LM_CHECK(ids.dtype == DType::I32 && ids.ndim() == 2 && ids.dim(0) == c.B,
           "gpt2 forward_cached: ids must be ({}, Tn) int32, got {} {}", c.B, dtype_name(ids.dtype), ids.shape.str());
  LM_CHECK(c.device == device_, "gpt2 forward_cached: the cache is on {} but the model on {}", device_name(c.device),
           device_name(device_));
  const int64_t B = c.B, Tn = ids.dim(1), C = config_.n_embd, I = config_.inner(), V = config_.vocab_size;
  LM_CHECK(Tn >= 1 && c.past + Tn <= c.Tmax, "gpt2 forward_cached: {} cached + {} new tokens exceed the cache ({})",
           c.past, Tn, c.Tmax);
  const float eps = config_.layer_norm_epsilon;
  const bool dev = device_ != Device::CPU;
  const Device d = device_;
  // Views of the scratch for this chunk: (B, Tn, ...) taken from the front of (B, Tmax, ...) buffers.
  auto v3 = [&](const Tensor& t, int64_t dd) { return Tensor(t.data, Shape{B, Tn, dd}, DType::F32, d); };
  auto v2 = [&](const Tensor& t) { return Tensor(t.data, Shape{B, Tn}, DType::F32, d); };
  if (dev) {
    // Host inputs are uploaded into the cache's staging (device inputs are used as they are).
    LM_CHECK_AS(ErrorCode::Unsupported, !all_logits.defined(),
                "gpt2 forward_cached: all_logits is not available for a {} model", device_name(d));
    auto upload = [&](Tensor& in, const Tensor& staging, Shape s) {
      if (!in.defined() || in.device == d) return;
      check_tensor(in, s, DType::I32, "gpt2 forward_cached input");
      Tensor dst(staging.data, s, DType::I32, d);
      copy_tensor(dst, in);
      in = dst;
    };
    upload(ids, c.ids_dev, Shape{B, Tn});
    upload(position_ids, c.pos_dev, Shape{B, Tn});
    upload(key_mask, c.mask_dev, Shape{B, c.Tmax});
  }
  Tensor x = v3(c.x, C), x2 = v3(c.x2, C), ln = v3(c.ln, C), atty = v3(c.atty, C), proj = v3(c.proj, C);
  Tensor qkv = v3(c.qkv, 3 * C), fch = v3(c.fch, I), fch_gelu = v3(c.fch_gelu, I);
  Tensor mean = v2(c.mean), rstd = v2(c.rstd);
  GptParams& p = const_cast<GptParams&>(params_);
  // Decode steps (few rows) are GEMVs over the decode weights (f32 or bf16); longer chunks go through sgemm.
  const bool decode = B * Tn <= kDecodeRows && !dev;  // the GEMV kernels are CPU kernels
  const bool bf16 = decode_dtype_ == DType::BF16;
  auto linear = [&](Tensor out, Tensor in, const Tensor& w, const Tensor& w16, const Tensor& bias) {
    if (decode)
      ops::gemv_forward(out, in, bf16 ? w16 : w, bias);
    else
      ops::matmul_forward(out, in, w, bias);
  };
  // A whole prompt from an empty cache without padding: the training attention kernel (no dropout in inference).
  const bool full_prefill = c.past == 0 && !decode && !key_mask.defined() && c.att.defined();
  auto spec_l = [&](int l) {
    ops::AttentionSpec a = attn_spec(l);
    a.dropout = 0.0f;
    return a;
  };
  ops::encoder_forward(x, ids, p.wte, p.wpe, c.past, position_ids);
  for (int l = 0; l < config_.n_layer; ++l) {
    const GptBlockParams& b = p.h[static_cast<size_t>(l)];
    const GptBlockParams* b16 = bf16 ? &decode_h_[static_cast<size_t>(l)] : &b;
    ops::layernorm_forward(ln, mean, rstd, x, b.ln_1_w, b.ln_1_b, eps);
    linear(qkv, ln, b.c_attn_w, b16->c_attn_w, b.c_attn_b);
    if (full_prefill) {
      ops::kv_cache_append(c.k[static_cast<size_t>(l)], c.v[static_cast<size_t>(l)], qkv, 0);
      ops::attention_forward(atty, Tensor(c.att.data, Shape{B, config_.n_head, Tn, Tn}), qkv, spec_l(l));
    } else {
      ops::attention_kv_forward(atty, c.k[static_cast<size_t>(l)], c.v[static_cast<size_t>(l)], qkv, c.past,
                                attn_spec(l), key_mask);
    }
    linear(proj, atty, b.attn_c_proj_w, b16->attn_c_proj_w, b.attn_c_proj_b);
    ops::residual_forward(x2, x, proj);
    ops::layernorm_forward(ln, mean, rstd, x2, b.ln_2_w, b.ln_2_b, eps);
    linear(fch, ln, b.c_fc_w, b16->c_fc_w, b.c_fc_b);
    ops::gelu_forward(fch_gelu, fch, config_.activation);
    linear(proj, fch_gelu, b.mlp_c_proj_w, b16->mlp_c_proj_w, b.mlp_c_proj_b);
    ops::residual_forward(x, x2, proj);
  }
  c.past += Tn;
  if (all_logits.defined()) {
    check_tensor(all_logits, Shape{B, Tn, V}, DType::F32, "gpt2 forward_cached all_logits");
    ops::layernorm_forward(ln, mean, rstd, x, p.ln_f_w, p.ln_f_b, eps);
    ops::matmul_forward(all_logits.view(Shape{B * Tn, V}), ln.view(Shape{B * Tn, C}), p.wte, Tensor());
    for (int64_t bb = 0; bb < B; ++bb)
      std::memcpy(c.logits.f32() + bb * V, all_logits.f32() + (bb * Tn + Tn - 1) * V, sizeof(float) * V);
    return;
  }
  // Only the last position's logits are needed to pick the next token: gather those rows first.
  Tensor last_x(c.x2.data, Shape{B, 1, C}, DType::F32, d);
  for (int64_t bb = 0; bb < B; ++bb)
    copy_bytes(static_cast<float*>(last_x.data) + bb * C, d, static_cast<float*>(x.data) + (bb * Tn + Tn - 1) * C, d,
               sizeof(float) * static_cast<size_t>(C));
  Tensor last = c.last.view(Shape{B, 1, C});
  ops::layernorm_forward(last, Tensor(c.mean.data, Shape{B, 1}, DType::F32, d),
                         Tensor(c.rstd.data, Shape{B, 1}, DType::F32, d), last_x, p.ln_f_w, p.ln_f_b, eps);
  if (dev) {
    ops::matmul_forward(c.dev_logits, c.last, p.wte, Tensor());
    copy_tensor(c.logits, c.dev_logits);
    return;
  }
  // The LM head on B rows is a GEMV whatever Tn was (wte is ~30% of GPT-2 small's weight bytes).
  if (B <= kDecodeRows)
    ops::gemv_forward(c.logits, c.last, bf16 && decode ? decode_wte_ : p.wte, Tensor());
  else
    ops::matmul_forward(c.logits, c.last, p.wte, Tensor());
}

void Gpt::reorder_cache(GptKvCache& c, const std::vector<int64_t>& src) const {
  LM_CHECK(static_cast<int64_t>(src.size()) == c.B, "reorder_cache: {} sources for {} rows", src.size(), c.B);
  for (int64_t s : src) LM_CHECK(s >= 0 && s < c.B, "reorder_cache: source row {} out of range [0, {})", s, c.B);
  // One snapshot of a layer's cache (on its device), then row copies out of it.
  Buffer snap;
  for (size_t l = 0; l < c.k.size(); ++l) {
    for (Tensor* t : {&c.k[l], &c.v[l]}) {
      const size_t row = t->nbytes() / static_cast<size_t>(c.B);
      if (snap.size() < t->nbytes()) snap = Buffer(t->nbytes(), c.device);
      copy_bytes(snap.data(), c.device, t->data, c.device, t->nbytes());
      for (int64_t b = 0; b < c.B; ++b)
        copy_bytes(static_cast<char*>(t->data) + static_cast<size_t>(b) * row, c.device,
                   static_cast<char*>(snap.data()) + static_cast<size_t>(src[static_cast<size_t>(b)]) * row, c.device,
                   row);
    }
  }
}

}  // namespace lm::models
