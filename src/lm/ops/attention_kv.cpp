// Tensor-level KV-cache attention: shape checks then the CPU kernel.
#include "lm/ops/attention_kv.h"

#include "lm/kernels/cpu/attention_kv.h"
#include "lm/ops/op_util.h"

#ifdef LM_WITH_CUDA
#include "lm/kernels/cuda/attention_kv.h"
#endif

namespace lm::ops {

using namespace detail;

void attention_kv_forward(Tensor out, Tensor k_cache, Tensor v_cache, Tensor qkv, int64_t past,
                          const AttentionSpec& spec, Tensor key_mask) {
  const char* op = "attention_kv_forward";
  check_f32(qkv, op, "qkv");
  LM_CHECK(qkv.ndim() == 3 && qkv.dim(2) % 3 == 0, "{}: qkv must be (B,Tn,3C), got {}", op, qkv.shape.str());
  const int64_t B = qkv.dim(0), Tn = qkv.dim(1), C = qkv.dim(2) / 3, NH = spec.n_head;
  LM_CHECK(NH >= 1 && C % NH == 0, "{}: C = {} must be a multiple of n_head = {}", op, C, NH);
  check_f32(k_cache, op, "k_cache");
  check_f32(v_cache, op, "v_cache");
  LM_CHECK(k_cache.ndim() == 4 && k_cache.dim(0) == B && k_cache.dim(1) == NH && k_cache.dim(3) == C / NH,
           "{}: k_cache must be (B,NH,Tmax,HS) = ({},{},*,{}), got {}", op, B, NH, C / NH, k_cache.shape.str());
  check_same_shape(v_cache, k_cache, op, "v_cache", "k_cache");
  const int64_t Tmax = k_cache.dim(2);
  LM_CHECK(past >= 0 && past + Tn <= Tmax, "{}: {} cached + {} new positions exceed the cache length {}", op, past,
           Tn, Tmax);
  check_f32(out, op, "out");
  check_shape(out, Shape{B, Tn, C}, op, "out");
  if (key_mask.defined()) {
    check_dtype(key_mask, DType::I32, op, "key_mask");
    check_shape(key_mask, Shape{B, Tmax}, op, "key_mask");
  }
  switch (common_device(op, {&out, &k_cache, &v_cache, &qkv, &key_mask})) {
    case Device::CPU:
      cpu::attention_kv_forward(out.f32(), k_cache.f32(), v_cache.f32(), qkv.f32(),
                                key_mask.defined() ? key_mask.ptr<int32_t>() : nullptr, B, Tn, C, NH, Tmax, past,
                                spec.scale);
      return;
#ifdef LM_WITH_CUDA
    case Device::CUDA:
      cuda::attention_kv_forward(DType::F32, out.data, k_cache.data, v_cache.data, qkv.data,
                                 key_mask.defined() ? key_mask.ptr<int32_t>() : nullptr, B, Tn, C, NH, Tmax, past,
                                 spec.scale);
      return;
#endif
    default: unsupported_device(op, qkv.device);
  }
}

void kv_cache_append(Tensor k_cache, Tensor v_cache, Tensor qkv, int64_t past) {
  const char* op = "kv_cache_append";
  check_f32(qkv, op, "qkv");
  check_f32(k_cache, op, "k_cache");
  check_f32(v_cache, op, "v_cache");
  LM_CHECK(qkv.ndim() == 3 && qkv.dim(2) % 3 == 0 && k_cache.ndim() == 4 && k_cache.dim(0) == qkv.dim(0),
           "{}: qkv must be (B,Tn,3C) and k_cache (B,NH,Tmax,HS), got {} and {}", op, qkv.shape.str(),
           k_cache.shape.str());
  check_same_shape(v_cache, k_cache, op, "v_cache", "k_cache");
  const int64_t B = qkv.dim(0), Tn = qkv.dim(1), C = qkv.dim(2) / 3, NH = k_cache.dim(1), Tmax = k_cache.dim(2);
  LM_CHECK(NH * k_cache.dim(3) == C, "{}: k_cache {} does not hold C = {}", op, k_cache.shape.str(), C);
  LM_CHECK(past >= 0 && past + Tn <= Tmax, "{}: {} cached + {} new positions exceed the cache length {}", op, past,
           Tn, Tmax);
  switch (common_device(op, {&k_cache, &v_cache, &qkv})) {
    case Device::CPU:
      cpu::kv_append(k_cache.f32(), v_cache.f32(), qkv.f32(), B, Tn, C, NH, Tmax, past);
      return;
    default: unsupported_device(op, qkv.device);
  }
}

void attention_kv_ragged(Tensor out, Tensor qkv, const std::vector<RaggedSeq>& seqs, const AttentionSpec& spec) {
  const char* op = "attention_kv_ragged";
  check_f32(qkv, op, "qkv");
  check_f32(out, op, "out");
  LM_CHECK(qkv.ndim() == 2 && qkv.dim(1) % 3 == 0, "{}: qkv must be (R,3C), got {}", op, qkv.shape.str());
  const int64_t R = qkv.dim(0), C = qkv.dim(1) / 3, NH = spec.n_head;
  LM_CHECK(NH >= 1 && C % NH == 0, "{}: C = {} must be a multiple of n_head = {}", op, C, NH);
  check_shape(out, Shape{R, C}, op, "out");
  std::vector<cpu::KvSeq> ks;
  for (const RaggedSeq& s : seqs) {
    check_f32(s.k, op, "k cache");
    check_same_shape(s.v, s.k, op, "v cache", "k cache");
    LM_CHECK(s.k.ndim() == 4 && s.k.dim(0) == 1 && s.k.dim(1) == NH && s.k.dim(3) == C / NH,
             "{}: a cache must be (1,{},Tmax,{}), got {}", op, NH, C / NH, s.k.shape.str());
    LM_CHECK(s.n >= 1 && s.row0 >= 0 && s.row0 + s.n <= R && s.past >= 0 && s.past + s.n <= s.k.dim(2),
             "{}: a sequence's rows [{}, {}) or positions {} + {} do not fit (R {}, Tmax {})", op, s.row0,
             s.row0 + s.n, s.past, s.n, R, s.k.dim(2));
    if (s.k.device != Device::CPU || s.v.device != Device::CPU) unsupported_device(op, s.k.device);
    ks.push_back({s.k.f32(), s.v.f32(), s.k.dim(2), s.past, s.row0, s.n});
  }
  if (out.device != Device::CPU || qkv.device != Device::CPU) unsupported_device(op, qkv.device);
  cpu::attention_kv_ragged(out.f32(), qkv.f32(), ks.data(), static_cast<int64_t>(ks.size()), C, NH, spec.scale);
}

}  // namespace lm::ops
