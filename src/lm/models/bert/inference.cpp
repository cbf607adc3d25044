// BERT's eval-mode weights: bf16 or int8 copies of every encoder layer's four linear weights (nn::LinearCopy,
// packed for oneDNN), made lazily before an eval forward and made again after the weights may have changed, and
// the run settings one layer's nn calls take (nn::LinearMode, the copies, the bf16 attention state). Int8
// activations are quantized per sequence (T rows), padding rows excluded from the scale.
#include "lm/core/error.h"
#include "lm/models/bert/bert.h"

namespace lm::models {

namespace {

nn::LinearKind linear_kind(DType infer_dtype) {
  if (infer_dtype == DType::BF16) return nn::LinearKind::PackedBf16;
  if (infer_dtype == DType::I8) return nn::LinearKind::Int8;
  return nn::LinearKind::F32;
}

}  // namespace

void Bert::set_inference_dtype(DType dt) {
  LM_CHECK(dt == DType::F32 || dt == DType::BF16 || dt == DType::I8,
           "bert: inference dtype must be f32, bf16 or i8, got {}", dtype_name(dt));
  LM_CHECK_AS(ErrorCode::Unsupported, dt == DType::F32 || device_ == Device::CPU,
              "bert: {} inference weights are a CPU (oneDNN) option; this model is on {}", dtype_name(dt),
              device_name(device_));
  LM_CHECK_AS(ErrorCode::Unsupported, dt != DType::BF16 || ops::linear_bf16_available(),
              "bert: bf16 inference needs a CPU with a native bf16 matmul (AMX or AVX512_BF16); this one has none");
  LM_CHECK_AS(ErrorCode::Unsupported, dt != DType::I8 || ops::linear_int8_available(),
              "bert: int8 inference needs a CPU with a native int8 matmul (AMX or AVX512-VNNI); this one has none");
  infer_dtype_ = dt;
  copies_stale_ = true;
  copies_.clear();
}

// A training forward marks the copies stale (the optimizer may change the weights after it); an eval forward
// that reads them makes them first if they are.
void Bert::prepare_inference_copies() {
  if (step_.training) {
    copies_stale_ = true;
    return;
  }
  const nn::LinearKind kind = linear_kind(infer_dtype_);
  if (kind == nn::LinearKind::F32 || !copies_stale_) return;
  copies_.clear();
  copies_.resize(params_.layers.size());
  for (size_t l = 0; l < copies_.size(); ++l) {
    const BertLayerParams& w = params_.layers[l];
    LayerCopies& c = copies_[l];
    nn::make_linear_copy(c.attn.qkv, w.attn().qkv, kind);
    nn::make_linear_copy(c.attn.proj, w.attn().proj, kind);
    nn::make_linear_copy(c.mlp.fc, w.mlp().fc, kind);
    nn::make_linear_copy(c.mlp.proj, w.mlp().proj, kind);
  }
  copies_stale_ = false;
}

Bert::LayerRun Bert::layer_run(int l) {
  LayerRun r;
  r.attn.spec = attn_spec(l);
  r.attn.key_mask = step_.batch.attention_mask;
  const nn::LinearKind kind = linear_kind(infer_dtype_);
  if (step_.training || kind == nn::LinearKind::F32) return r;
  LayerCopies& c = copies_[static_cast<size_t>(l)];
  r.attn.mode = {kind, step_.T, step_.batch.attention_mask};
  r.attn.copies = &c.attn;
  r.attn.bf16 = attn_bf16_ ? &attn_bf16_state_ : nullptr;
  r.mlp = &c.mlp;
  return r;
}

}  // namespace lm::models
