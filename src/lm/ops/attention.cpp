// Tensor-level attention core: qkv (B,T,3C), out (B,T,C), att (B,NH,T,T), key_mask (B,T) i32 (optional).
#include "lm/ops/attention.h"

#include <cmath>

#include "lm/kernels/cpu/attention.h"
#include "lm/ops/attention_bf16.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/attention.h"
#endif

namespace lm::ops {

using namespace detail;

namespace {
struct Dims {
  int64_t B, T, C, NH;
};

Dims check_attention_args(const char* op, const Tensor& qkv, const Tensor& att, const char* att_name,
                          const AttentionSpec& spec) {
  check_defined(qkv, op, "qkv");
  LM_CHECK(qkv.ndim() == 3 && qkv.dim(2) % 3 == 0, "{}: qkv must be (B,T,3C), got {}", op, qkv.shape.str());
  Dims d{qkv.dim(0), qkv.dim(1), qkv.dim(2) / 3, spec.n_head};
  LM_CHECK(d.NH >= 1 && d.C % d.NH == 0 && d.C > 0, "{}: C = {} must be a positive multiple of n_head = {}",
           op, d.C, d.NH);
  LM_CHECK(std::isfinite(spec.scale), "{}: scale must be finite, got {}", op, spec.scale);
  LM_CHECK(spec.dropout >= 0.0f && spec.dropout < 1.0f, "{}: dropout {} must be in [0, 1)", op, spec.dropout);
  check_defined(att, op, att_name);
  check_shape(att, Shape{d.B, d.NH, d.T, d.T}, op, att_name);
  return d;
}
}  // namespace

void attention_forward(Tensor out, Tensor att, Tensor qkv, const AttentionSpec& spec, Tensor key_mask) {
  const char* op = "attention_forward";
  const Dims d = check_attention_args(op, qkv, att, "att", spec);
  check_defined(out, op, "out");
  check_shape(out, Shape{d.B, d.T, d.C}, op, "out");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&out, "out"}, {&att, "att"}, {&qkv, "qkv"}});
  if (key_mask.defined()) {
    check_dtype(key_mask, DType::I32, op, "key_mask");
    check_shape(key_mask, Shape{d.B, d.T}, op, "key_mask");
  }
  switch (common_device(op, {&out, &att, &qkv, &key_mask})) {
    case Device::CPU:
      cpu::attention_forward(out.f32(), att.f32(), qkv.f32(),
                             key_mask.defined() ? key_mask.ptr<int32_t>() : nullptr, d.B, d.T, d.C, d.NH,
                             spec.causal, spec.scale, {spec.dropout, spec.seed, spec.stream});
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::attention_forward(dt, out.data, att.data, qkv.data,
                              key_mask.defined() ? key_mask.ptr<int32_t>() : nullptr, d.B, d.T, d.C, d.NH, spec.causal,
                              spec.scale, {spec.dropout, spec.seed, spec.stream});
      return;
#endif
    default:
      unsupported_device(op, qkv.device);
  }
}

void attention_bf16_forward(Tensor out, Tensor att, Tensor qkv, const AttentionSpec& spec, Tensor key_mask,
                            AttentionBf16& state) {
  const char* op = "attention_bf16_forward";
  const Dims d = check_attention_args(op, qkv, att, "att", spec);
  LM_CHECK(spec.dropout == 0.0f, "{}: inference only, dropout must be 0, got {}", op, spec.dropout);
  check_f32(out, op, "out");
  check_shape(out, Shape{d.B, d.T, d.C}, op, "out");
  check_f32(att, op, "att");
  check_f32(qkv, op, "qkv");
  if (key_mask.defined()) {
    check_dtype(key_mask, DType::I32, op, "key_mask");
    check_shape(key_mask, Shape{d.B, d.T}, op, "key_mask");
  }
  LM_CHECK(common_device(op, {&out, &att, &qkv, &key_mask}) == Device::CPU, "{}: CPU tensors only", op);
  state.forward(out.f32(), att.f32(), qkv.f32(), key_mask.defined() ? key_mask.ptr<int32_t>() : nullptr, d.B, d.T,
                d.C, d.NH, spec.causal, spec.scale);
}

bool attention_bf16_available() { return cpu::attention_bf16_available(); }

void attention_backward(Tensor dqkv, Tensor datt, Tensor dout, Tensor qkv, Tensor att,
                        const AttentionSpec& spec) {
  const char* op = "attention_backward";
  const Dims d = check_attention_args(op, qkv, att, "att", spec);
  check_defined(datt, op, "datt");
  check_same_shape(datt, att, op, "datt", "att");
  check_defined(dqkv, op, "dqkv");
  check_same_shape(dqkv, qkv, op, "dqkv", "qkv");
  check_defined(dout, op, "dout");
  check_shape(dout, Shape{d.B, d.T, d.C}, op, "dout");
  [[maybe_unused]] const DType dt = data_dtype(op, {{&dqkv, "dqkv"}, {&datt, "datt"}, {&dout, "dout"}, {&qkv, "qkv"}, {&att, "att"}});
  switch (common_device(op, {&dqkv, &datt, &dout, &qkv, &att})) {
    case Device::CPU:
      cpu::attention_backward(dqkv.f32(), datt.f32(), dout.f32(), qkv.f32(), att.f32(), d.B, d.T, d.C, d.NH,
                              spec.causal, spec.scale, {spec.dropout, spec.seed, spec.stream});
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::attention_backward(dt, dqkv.data, datt.data, dout.data, qkv.data, att.data, d.B, d.T, d.C, d.NH,
                               spec.scale, {spec.dropout, spec.seed, spec.stream});
      return;
#endif
    default:
      unsupported_device(op, qkv.device);
  }
}

}  // namespace lm::ops
