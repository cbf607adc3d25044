// The bf16 inference linear layer on oneDNN's matmul (see linear_bf16.h): packing W once, the matmul
// primitives, and the fused-GELU (bf16 output) and bf16-input variants of the feed-forward pair.
#include "lm/kernels/cpu/linear_bf16.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "lm/core/dtype.h"
#include "lm/core/error.h"
#include "lm/kernels/cpu/dnnl_context.h"
#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::matmul::primitive_desc make_pd(int64_t M, int64_t N, int64_t K, const dnnl::memory::desc& wd,
                                     bool gelu_bf16_out = false) {
  auto& c = dnnl_ctx();
  dnnl::memory::desc src({M, K}, dt::bf16, tag::ab);
  dnnl::memory::desc bias({1, N}, dt::f32, tag::ab);
  dnnl::memory::desc dst({M, N}, gelu_bf16_out ? dt::bf16 : dt::f32, tag::ab);
  dnnl::primitive_attr attr;
  if (gelu_bf16_out) {
    dnnl::post_ops po;
    po.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    attr.set_post_ops(po);
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wd, bias, dst), attr, c.eng);
}

bool native_impl(const std::string& name) { return name.find("ref") == std::string::npos; }

const std::string& probe_impl() {
  static const std::string name = [] {
    try {
      auto pd = make_pd(256, 256, 256, dnnl::memory::desc({256, 256}, dt::bf16, tag::any));
      return std::string(pd.impl_info_str());
    } catch (const dnnl::error& e) {
      return std::string("none (") + e.what() + ")";
    }
  }();
  return name;
}

// bf16(src[i] · mul) with vcvtneps2bf16 (same rounding as f32_to_bf16 for all finite values).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16"))) void to_bf16_avx512(uint16_t* dst,
                                                                                      const float* src,
                                                                                      int64_t n, float mul) {
  const __m512 m = _mm512_set1_ps(mul);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256bh v = _mm512_cvtneps_pbh(_mm512_mul_ps(_mm512_loadu_ps(src + i), m));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), reinterpret_cast<__m256i&>(v));
  }
  for (; i < n; ++i) dst[i] = f32_to_bf16(src[i] * mul);
}

// Round f32 -> bf16 (nearest even), parallel over chunks.
void to_bf16(uint16_t* dst, const float* src, int64_t n) {
  sync_thread_count();
  const int64_t chunk = 1 << 16;
  const int64_t nchunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (nchunks > 1)
  for (int64_t c = 0; c < nchunks; ++c) {
    const int64_t b = c * chunk, e = std::min(n, b + chunk);
    round_to_bf16(dst + b, src + b, e - b);
  }
}

}  // namespace

void round_to_bf16(uint16_t* dst, const float* src, int64_t n, float mul) {
  static const bool vec = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
  if (vec)
    to_bf16_avx512(dst, src, n, mul);
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = f32_to_bf16(src[i] * mul);
}

struct PackedLinearBf16::Impl {
  int64_t N = 0, K = 0;
  dnnl::memory::desc wdesc;
  dnnl::memory weights;                     // packed bf16, owned by oneDNN
  std::map<std::pair<int64_t, bool>, dnnl::matmul> prims;  // by (M, GELU + bf16 output)
  std::vector<uint16_t> scratch;            // bf16 activations
  std::vector<float> zero_bias;             // (N) zeros, for calls without a bias
};

PackedLinearBf16::PackedLinearBf16() = default;
PackedLinearBf16::~PackedLinearBf16() = default;
PackedLinearBf16::PackedLinearBf16(PackedLinearBf16&&) noexcept = default;
PackedLinearBf16& PackedLinearBf16::operator=(PackedLinearBf16&&) noexcept = default;

bool linear_bf16_available() { return native_impl(probe_impl()) && probe_impl().rfind("none", 0) != 0; }
const char* linear_bf16_impl() { return probe_impl().c_str(); }

void PackedLinearBf16::pack(const float* w, int64_t N, int64_t K) {
  LM_CHECK_AS(ErrorCode::Unsupported, linear_bf16_available(),
              "bf16 matmul: oneDNN has no native bf16 kernel on this CPU (it chose {})", probe_impl());
  LM_CHECK(N >= 1 && K >= 1, "bf16 matmul: weight shape ({}, {}) must be positive", N, K);
  auto& c = dnnl_ctx();
  auto impl = std::make_unique<Impl>();
  impl->N = N;
  impl->K = K;
  // The blocked layout oneDNN prefers for a large M; it is accepted for every M (checked in the tests).
  auto pd = make_pd(4096, N, K, dnnl::memory::desc({K, N}, dt::bf16, tag::any));
  impl->wdesc = pd.weights_desc();
  std::vector<uint16_t> plain(static_cast<size_t>(N * K));
  to_bf16(plain.data(), w, N * K);
  // W (N,K) row-major is the (K,N) matrix with strides (1, K): tag ba.
  dnnl::memory src(dnnl::memory::desc({K, N}, dt::bf16, tag::ba), c.eng, plain.data());
  impl->weights = dnnl::memory(impl->wdesc, c.eng);
  sync_thread_count();
  dnnl::reorder(src, impl->weights).execute(c.strm, src, impl->weights);
  c.strm.wait();
  impl_ = std::move(impl);
}

bool PackedLinearBf16::packed() const { return impl_ != nullptr; }
int64_t PackedLinearBf16::out_features() const { return impl_ ? impl_->N : 0; }
int64_t PackedLinearBf16::in_features() const { return impl_ ? impl_->K : 0; }

namespace {

// One matmul: src bf16 (M,K), dst f32 or (with the GELU post-op) bf16.
void run(PackedLinearBf16::Impl& im, void* out, bool gelu_bf16_out, const uint16_t* src_bf16, const float* bias,
         int64_t M) {
  auto& c = dnnl_ctx();
  const auto key = std::make_pair(M, gelu_bf16_out);
  auto it = im.prims.find(key);
  if (it == im.prims.end()) {
    try {
      it = im.prims.emplace(key, dnnl::matmul(make_pd(M, im.N, im.K, im.wdesc, gelu_bf16_out))).first;
    } catch (const dnnl::error& e) {
      LM_THROW(ErrorCode::Internal, "bf16 matmul: oneDNN rejected M={} N={} K={} with the packed weights: {}", M,
               im.N, im.K, e.what());
    }
  }
  dnnl::memory src(dnnl::memory::desc({M, im.K}, dt::bf16, tag::ab), c.eng, const_cast<uint16_t*>(src_bf16));
  dnnl::memory dst(dnnl::memory::desc({M, im.N}, gelu_bf16_out ? dt::bf16 : dt::f32, tag::ab), c.eng, out);
  if (!bias && im.zero_bias.empty()) im.zero_bias.assign(static_cast<size_t>(im.N), 0.0f);
  const float* b = bias ? bias : im.zero_bias.data();
  dnnl::memory bm(dnnl::memory::desc({1, im.N}, dt::f32, tag::ab), c.eng, const_cast<float*>(b));
  it->second.execute(c.strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, im.weights}, {DNNL_ARG_BIAS, bm},
                              {DNNL_ARG_DST, dst}});
  c.strm.wait();
}

const uint16_t* convert_input(PackedLinearBf16::Impl& im, const float* inp, int64_t M) {
  if (im.scratch.size() < static_cast<size_t>(M * im.K)) im.scratch.resize(static_cast<size_t>(M * im.K));
  to_bf16(im.scratch.data(), inp, M * im.K);
  return im.scratch.data();
}

}  // namespace

void PackedLinearBf16::forward(float* out, const float* inp, const float* bias, int64_t M) {
  LM_CHECK(impl_ != nullptr, "bf16 matmul: forward before pack");
  if (M == 0) return;
  sync_thread_count();
  run(*impl_, out, false, convert_input(*impl_, inp, M), bias, M);
}

void PackedLinearBf16::forward_gelu_to_bf16(uint16_t* out_bf16, const float* inp, const float* bias, int64_t M) {
  LM_CHECK(impl_ != nullptr, "bf16 matmul: forward before pack");
  if (M == 0) return;
  sync_thread_count();
  run(*impl_, out_bf16, true, convert_input(*impl_, inp, M), bias, M);
}

void PackedLinearBf16::forward_from_bf16(float* out, const uint16_t* inp_bf16, const float* bias, int64_t M) {
  LM_CHECK(impl_ != nullptr, "bf16 matmul: forward before pack");
  if (M == 0) return;
  sync_thread_count();
  run(*impl_, out, false, inp_bf16, bias, M);
}

}  // namespace lm::cpu
