// GPT decode weights: the optional bf16 copy of the matrices that decode steps stream (c_attn, attn c_proj, c_fc,
// mlp c_proj per block, wte as the LM head), converted once with round-to-nearest-even; and the byte count a
// decode step reads, for the bandwidth bound reported by `lmcpp bench decode`.
#include <vector>

#include "lm/core/dtype.h"
#include "lm/core/error.h"
#include "lm/models/gpt.h"

namespace lm::models {

namespace {
constexpr Tensor GptBlockParams::*kMatrices[] = {&GptBlockParams::c_attn_w, &GptBlockParams::attn_c_proj_w,
                                                  &GptBlockParams::c_fc_w, &GptBlockParams::mlp_c_proj_w};

void convert(const Tensor& src, const Tensor& dst) {
  const float* s = src.f32();
  uint16_t* d = static_cast<uint16_t*>(dst.data);
  const int64_t n = src.numel();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
}
}  // namespace

void Gpt::set_decode_dtype(DType dt) {
  LM_CHECK_AS(ErrorCode::Unsupported, device_ == Device::CPU, "gpt2 decode weights: decoding runs on the CPU only");
  LM_CHECK_AS(ErrorCode::Unsupported, dt == DType::F32 || dt == DType::BF16,
              "gpt2 decode weights must be f32 or bf16, got {}", dtype_name(dt));
  decode_h_.clear();
  decode_wte_ = Tensor();
  decode_arena_ = Arena("decode");
  decode_dtype_ = dt;
  if (dt == DType::F32) return;
  const size_t L = static_cast<size_t>(config_.n_layer);
  std::vector<size_t> slots;
  for (size_t l = 0; l < L; ++l)
    for (auto m : kMatrices) slots.push_back(decode_arena_.reserve((params_.h[l].*m).shape, DType::BF16));
  const size_t wte_slot = decode_arena_.reserve(params_.wte.shape, DType::BF16);
  decode_arena_.allocate();
  decode_h_.resize(L);
  size_t i = 0;
  for (size_t l = 0; l < L; ++l)
    for (auto m : kMatrices) {
      decode_h_[l].*m = decode_arena_.tensor(slots[i++]);
      convert(params_.h[l].*m, decode_h_[l].*m);
    }
  decode_wte_ = decode_arena_.tensor(wte_slot);
  convert(params_.wte, decode_wte_);
}

int64_t Gpt::decode_weight_bytes() const {
  const int64_t w = static_cast<int64_t>(dtype_size(decode_dtype_));
  int64_t matrices = params_.wte.numel(), vectors = params_.ln_f_w.numel() + params_.ln_f_b.numel();
  for (const auto& b : params_.h) {
    for (auto m : kMatrices) matrices += (b.*m).numel();
    for (const Tensor* v : {&b.ln_1_w, &b.ln_1_b, &b.c_attn_b, &b.attn_c_proj_b, &b.ln_2_w, &b.ln_2_b, &b.c_fc_b,
                            &b.mlp_c_proj_b})
      vectors += v->numel();
  }
  return matrices * w + vectors * 4;
}

}  // namespace lm::models
