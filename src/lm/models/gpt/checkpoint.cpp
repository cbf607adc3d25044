// GPT-2 weights in and out: HF-style initialisation, loading an HF model.safetensors (Conv1D matrices transposed
// to nn.Linear layout), and writing an HF directory. Every loop runs over the parameter table (params.cpp).
#include <cmath>
#include <cstring>
#include <set>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/rng.h"
#include "lm/io/safetensors.h"
#include "lm/models/gpt/gpt.h"

namespace lm::models {

namespace {

// (rows, cols) row-major -> (cols, rows) row-major.
void transpose(float* dst, const float* src, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * rows + r] = src[r * cols + c];
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

void Gpt::init_weights(uint64_t seed) {
  with_host_params(false, true, [&](GptParams& params) { init_host(params, seed); });
  sync_param_copy();
}

void Gpt::init_host(GptParams& params, uint64_t seed) const {
  const float std0 = config_.initializer_range;
  const float std_proj = std0 / std::sqrt(2.0f * static_cast<float>(config_.n_layer));
  uint64_t i = 0;
  visit_gpt_params(params, config_, [&](const GptParamSpec& s, Tensor& t) {
    const uint64_t index = i++;
    std::memset(t.data, 0, t.nbytes());
    float* x = t.f32();
    const bool is_bias = ends_with(s.name, ".bias");
    const bool is_ln = s.name.find("ln_") != std::string::npos;
    if (is_ln && !is_bias) {
      for (int64_t k = 0; k < t.numel(); ++k) x[k] = 1.0f;
    } else if (!is_bias) {
      const float sd = s.name.find("c_proj.weight") != std::string::npos ? std_proj : std0;
      Rng r(seed, 1000 + index);  // one stream per tensor: independent of tensor order and thread count
      for (int64_t k = 0; k < t.numel(); ++k) x[k] = sd * r.normal(static_cast<uint64_t>(k));
    }
  });
}

void Gpt::load_safetensors(const std::string& path) {
  with_host_params(false, true, [&](GptParams& params) { load_host(params, path); });
  sync_param_copy();
}

void Gpt::load_host(GptParams& params, const std::string& path) const {
  SafetensorsFile f(path);
  const bool prefixed = f.contains("transformer.wte.weight");
  LM_CHECK_AS(ErrorCode::BadFormat, prefixed || f.contains("wte.weight"),
              "{}: no wte.weight or transformer.wte.weight; not a GPT-2 checkpoint", path);
  const size_t strip = prefixed ? 0 : std::strlen("transformer.");
  std::set<std::string> known;
  std::vector<float> tmp;
  visit_gpt_params(params, config_, [&](const GptParamSpec& s, Tensor& dst) {
    const std::string name = s.name.substr(strip);
    known.insert(name);
    LM_CHECK_AS(ErrorCode::BadFormat, f.contains(name), "{}: missing tensor {}", path, name);
    if (s.conv1d) {
      // HF Conv1D stores (in, out) = (C_in, OC); we hold (OC, C_in).
      Shape hf{s.shape[1], s.shape[0]};
      tmp.resize(static_cast<size_t>(hf.numel()));
      f.read_f32(name, tmp.data(), hf);
      transpose(dst.f32(), tmp.data(), hf[0], hf[1]);
    } else {
      f.read_f32(name, dst.f32(), s.shape);
    }
  });
  // Tied head: HF omits lm_head.weight; older .bin-converted saves may carry a copy, which must match wte.
  const Tensor& wte = params.emb.wte;
  if (f.contains("lm_head.weight")) {
    tmp.resize(static_cast<size_t>(wte.numel()));
    f.read_f32("lm_head.weight", tmp.data(), wte.shape);
    LM_CHECK_AS(ErrorCode::Unsupported, std::memcmp(tmp.data(), wte.data, wte.nbytes()) == 0,
                "{}: lm_head.weight differs from wte (untied LM head) which gpt2 does not support", path);
  }
  // Any other tensor that is not a known legacy buffer is an error: a silently ignored weight is a wrong model.
  for (const auto& e : f.tensors()) {
    const std::string& n = e.name;
    if (n == "lm_head.weight" || ends_with(n, "attn.bias") || ends_with(n, "attn.masked_bias")) continue;
    LM_CHECK_AS(ErrorCode::BadFormat, known.count(n), "{}: unexpected tensor {} for this gpt2 config", path, n);
  }
}

void Gpt::save_hf(const std::string& dir) const {
  make_dirs(dir);
  // Conv1D weights are written transposed back to HF's (in, out) layout.
  with_host_params(true, false, [&](GptParams& p) {
    std::vector<std::unique_ptr<OwnedTensor>> owned;
    std::vector<NamedTensor> out;
    visit_gpt_params(p, config_, [&](const GptParamSpec& s, Tensor& t) {
      if (!s.conv1d) {
        out.push_back({s.name, t});
        return;
      }
      auto o = std::make_unique<OwnedTensor>(Shape{s.shape[1], s.shape[0]});
      transpose(o->f32(), t.f32(), s.shape[0], s.shape[1]);
      out.push_back({s.name, o->t});
      owned.push_back(std::move(o));
    });
    write_safetensors(path_join(dir, "model.safetensors"), out, {{"format", "pt"}});
  });
  write_file_atomic(path_join(dir, "config.json"), hf_config_.dump(2) + "\n");
  Json gen{{"bos_token_id", config_.bos_token_id}, {"eos_token_id", config_.eos_token_id},
           {"pad_token_id", config_.eos_token_id}};
  write_file_atomic(path_join(dir, "generation_config.json"), gen.dump(2) + "\n");
}

}  // namespace lm::models
