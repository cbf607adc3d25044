// The int8 inference linear layer on oneDNN's matmul (see linear_int8.h for the quantization scheme): packing
// W once per output channel, quantizing the activations, the matmul and its dequantizing (and GELU) post-ops.
#include "lm/kernels/cpu/linear_int8.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <vector>

#include "lm/core/error.h"
#include "lm/kernels/cpu/dnnl_context.h"
#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::matmul::primitive_desc make_pd(int64_t M, int64_t N, int64_t K, const dnnl::memory::desc& wd, bool gelu) {
  auto& c = dnnl_ctx();
  dnnl::memory::desc src({M, K}, dt::s8, tag::ab);
  dnnl::memory::desc dst({M, N}, dt::f32, tag::ab);
  dnnl::memory::desc col({1, N}, dt::f32, tag::ab);
  dnnl::primitive_attr attr;
  dnnl::post_ops po;
  po.append_binary(dnnl::algorithm::binary_mul, col);  // sx·sw[n]
  po.append_binary(dnnl::algorithm::binary_add, col);  // bias[n]
  if (gelu) po.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
  attr.set_post_ops(po);
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wd, dst), attr, c.eng);
}

const std::string& probe_impl() {
  static const std::string name = [] {
    try {
      auto pd = make_pd(256, 256, 256, dnnl::memory::desc({256, 256}, dt::s8, tag::any), true);
      return std::string(pd.impl_info_str());
    } catch (const dnnl::error& e) {
      return std::string("none (") + e.what() + ")";
    }
  }();
  return name;
}

// Without VNNI (AVX2, AVX-512 before Cascade Lake) oneDNN's int8 kernels multiply with vpmaddubsw: the s8
// activations are shifted to u8 (0..254) and each pair of u8·s8 products is summed into an int16 that saturates
// at 32767. 2·254·127 overflows it; 2·254·63 = 32004 does not. So on those CPUs the weights use 7 bits (±63), as
// PyTorch's fbgemm reduce_range does for its activations, and the int32 result stays exact.
int weight_qmax_for_isa() {
  using isa = dnnl::cpu_isa;
  const isa i = dnnl::get_effective_cpu_isa();
  const bool vnni = i == isa::avx512_core_vnni || i == isa::avx512_core_bf16 || i == isa::avx512_core_amx ||
                    i == isa::avx2_vnni;
  return vnni ? 127 : 63;
}

// GCC 12 reports the _mm*_undefined_* operands of the masked builtins behind these intrinsics as uninitialized
// (false positives: the masks are all ones).
#pragma GCC diagnostic push
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"

// Below this max |x| a group (or weight row) quantizes to zeros with scale 1: 127 / a would overflow to
// infinity for denormal maxima, and 0 · inf is NaN.
constexpr float kTinyMax = 1e-30f;

bool have_avx512() {
  static const bool v = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
  return v;
}

// max |x| over [b, e) and whether any value is NaN or infinite.
__attribute__((target("avx512f,avx512bw"))) float absmax_avx512(const float* x, int64_t n, bool* bad) {
  const __m512 big = _mm512_set1_ps(FLT_MAX);
  __m512 m = _mm512_setzero_ps();
  __mmask16 nonfinite = 0;
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 a = _mm512_abs_ps(_mm512_loadu_ps(x + i));
    nonfinite |= _mm512_cmp_ps_mask(a, big, _CMP_NLE_UQ);  // NaN or > FLT_MAX
    m = _mm512_max_ps(m, a);
  }
  // The 16 lanes reduced through memory (GCC 12's _mm512_reduce_max_ps trips -Wmaybe-uninitialized).
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, m);
  float r = 0.0f;
  for (float v : lanes) r = std::max(r, v);
  bool b = nonfinite != 0;
  for (; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (!(a <= FLT_MAX)) b = true;
    r = std::max(r, a);
  }
  *bad = b;
  return r;
}

float absmax_scalar(const float* x, int64_t n, bool* bad) {
  float r = 0.0f;
  bool b = false;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (!(a <= FLT_MAX)) b = true;
    r = std::max(r, a);
  }
  *bad = b;
  return r;
}

inline int8_t quant_one(float x, float inv, float qmax = 127.0f) {
  const float v = std::nearbyint(x * inv);  // the default rounding mode: nearest, ties to even
  return static_cast<int8_t>(std::min(qmax, std::max(-qmax, v)));
}

// q = clamp(rne(x · inv), ±127); cvtps2dq rounds with MXCSR's mode (nearest even by default), as nearbyint.
__attribute__((target("avx512f,avx512bw"))) void quant_avx512(int8_t* q, const float* x, int64_t n, float inv) {
  const __m512 s = _mm512_set1_ps(inv);
  const __m512i lo = _mm512_set1_epi32(-127), hi = _mm512_set1_epi32(127);
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), s));
    v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + i), _mm512_cvtepi32_epi8(v));
  }
  for (; i < n; ++i) q[i] = quant_one(x[i], inv);
}

#pragma GCC diagnostic pop

}  // namespace

void quantize_s8_groups(int8_t* q, float* scales, const float* x, int64_t M, int64_t K, int64_t group_rows,
                        const int32_t* row_mask, const char* what) {
  if (M <= 0 || K <= 0) return;
  const int64_t gr = group_rows > 0 ? group_rows : M;
  const int64_t G = (M + gr - 1) / gr;
  sync_thread_count();
  const bool vec = have_avx512();
  std::vector<float> rowmax(static_cast<size_t>(M));
  std::vector<char> bad(static_cast<size_t>(M));
#pragma omp parallel for schedule(static) if (M * K >= (1 << 15))
  for (int64_t r = 0; r < M; ++r) {
    bool nb = false;
    rowmax[static_cast<size_t>(r)] = vec ? absmax_avx512(x + r * K, K, &nb) : absmax_scalar(x + r * K, K, &nb);
    bad[static_cast<size_t>(r)] = nb;
  }
  std::vector<float> inv(static_cast<size_t>(G));
  for (int64_t g = 0; g < G; ++g) {
    const int64_t r0 = g * gr, r1 = std::min(M, r0 + gr);
    bool any = false;
    for (int64_t r = r0; r < r1 && !any; ++r) any = !row_mask || row_mask[r] != 0;
    float a = 0.0f;
    for (int64_t r = r0; r < r1; ++r) {
      if (any && row_mask && row_mask[r] == 0) continue;  // rows left out of the scale (padding)
      LM_CHECK_AS(ErrorCode::InvalidArgument, !bad[static_cast<size_t>(r)],
                  "int8 matmul: {} holds a NaN or an infinity in row {}; it cannot be quantized", what, r);
      a = std::max(a, rowmax[static_cast<size_t>(r)]);
    }
    inv[static_cast<size_t>(g)] = a > kTinyMax ? 127.0f / a : 1.0f;
    scales[g] = a > kTinyMax ? a / 127.0f : 1.0f;
  }
#pragma omp parallel for schedule(static) if (M * K >= (1 << 15))
  for (int64_t r = 0; r < M; ++r) {
    const float iv = inv[static_cast<size_t>(r / gr)];
    if (vec)
      quant_avx512(q + r * K, x + r * K, K, iv);
    else
      for (int64_t k = 0; k < K; ++k) q[r * K + k] = quant_one(x[r * K + k], iv);
  }
}

struct PackedLinearInt8::Impl {
  int64_t N = 0, K = 0;
  dnnl::memory::desc wdesc;
  dnnl::memory weights;                              // packed s8, owned by oneDNN
  std::vector<float> wscale;                         // sw (N)
  std::map<std::pair<int64_t, bool>, dnnl::matmul> prims;  // by (M, GELU)
  std::vector<int8_t> scratch;                       // the quantized activations
  std::vector<float> sx;                             // the activation scale of each row group
  std::vector<float> colscale, zero_bias;            // (G,N) sx[g]·sw per call; zeros for calls without a bias
};

PackedLinearInt8::PackedLinearInt8() = default;
PackedLinearInt8::~PackedLinearInt8() = default;
PackedLinearInt8::PackedLinearInt8(PackedLinearInt8&&) noexcept = default;
PackedLinearInt8& PackedLinearInt8::operator=(PackedLinearInt8&&) noexcept = default;

bool linear_int8_available() {
  const std::string& s = probe_impl();
  return s.rfind("none", 0) != 0 && s.find("ref") == std::string::npos;
}
const char* linear_int8_impl() { return probe_impl().c_str(); }
int linear_int8_weight_qmax() {
  static const int q = weight_qmax_for_isa();
  return q;
}

void PackedLinearInt8::pack(const float* w, int64_t N, int64_t K) {
  LM_CHECK_AS(ErrorCode::Unsupported, linear_int8_available(),
              "int8 matmul: oneDNN has no native int8 kernel on this CPU (it chose {})", probe_impl());
  LM_CHECK(N >= 1 && K >= 1, "int8 matmul: weight shape ({}, {}) must be positive", N, K);
  auto& c = dnnl_ctx();
  auto impl = std::make_unique<Impl>();
  impl->N = N;
  impl->K = K;
  impl->wscale.resize(static_cast<size_t>(N));
  std::vector<int8_t> q(static_cast<size_t>(N * K));
  sync_thread_count();
  // Row n is quantized on its own (per output channel): the same absmax/rounding as the activations.
  std::vector<char> bad(static_cast<size_t>(N));
  const float qmax = static_cast<float>(linear_int8_weight_qmax());
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* row = w + n * K;
    bool nb = false;
    const float a = have_avx512() ? absmax_avx512(row, K, &nb) : absmax_scalar(row, K, &nb);
    bad[static_cast<size_t>(n)] = nb;
    if (nb) continue;
    const float inv = a > kTinyMax ? qmax / a : 1.0f;
    if (have_avx512() && qmax == 127.0f)
      quant_avx512(q.data() + n * K, row, K, inv);
    else
      for (int64_t k = 0; k < K; ++k) q[static_cast<size_t>(n * K + k)] = quant_one(row[k], inv, qmax);
    impl->wscale[static_cast<size_t>(n)] = a > kTinyMax ? a / qmax : 1.0f;
  }
  for (int64_t n = 0; n < N; ++n)
    LM_CHECK_AS(ErrorCode::InvalidArgument, !bad[static_cast<size_t>(n)],
                "int8 matmul: weight row {} holds a NaN or an infinity", n);
  // The blocked layout oneDNN prefers for a large M; it is accepted for every M (checked in the tests).
  auto pd = make_pd(4096, N, K, dnnl::memory::desc({K, N}, dt::s8, tag::any), false);
  impl->wdesc = pd.weights_desc();
  // Wq (N,K) row-major is the (K,N) matrix with strides (1, K): tag ba.
  dnnl::memory src(dnnl::memory::desc({K, N}, dt::s8, tag::ba), c.eng, q.data());
  impl->weights = dnnl::memory(impl->wdesc, c.eng);
  dnnl::reorder(src, impl->weights).execute(c.strm, src, impl->weights);
  c.strm.wait();
  impl_ = std::move(impl);
}

bool PackedLinearInt8::packed() const { return impl_ != nullptr; }
int64_t PackedLinearInt8::out_features() const { return impl_ ? impl_->N : 0; }
int64_t PackedLinearInt8::in_features() const { return impl_ ? impl_->K : 0; }

void PackedLinearInt8::forward(float* out, const float* inp, const float* bias, int64_t M, bool gelu,
                               int64_t group_rows, const int32_t* row_mask) {
  LM_CHECK(impl_ != nullptr, "int8 matmul: forward before pack");
  if (M == 0) return;
  Impl& im = *impl_;
  const int64_t N = im.N, K = im.K;
  const int64_t gr = group_rows > 0 ? std::min(group_rows, M) : M;
  const int64_t G = (M + gr - 1) / gr;
  sync_thread_count();
  if (im.scratch.size() < static_cast<size_t>(M * K)) im.scratch.resize(static_cast<size_t>(M * K));
  im.sx.resize(static_cast<size_t>(G));
  quantize_s8_groups(im.scratch.data(), im.sx.data(), inp, M, K, gr, row_mask, "the input activation");
  im.colscale.resize(static_cast<size_t>(G * N));
  for (int64_t g = 0; g < G; ++g)
    for (int64_t n = 0; n < N; ++n)
      im.colscale[static_cast<size_t>(g * N + n)] = im.sx[static_cast<size_t>(g)] * im.wscale[static_cast<size_t>(n)];
  if (!bias && im.zero_bias.empty()) im.zero_bias.assign(static_cast<size_t>(N), 0.0f);
  const float* b = bias ? bias : im.zero_bias.data();

  auto& c = dnnl_ctx();
  const dnnl::memory::desc col({1, N}, dt::f32, tag::ab);
  dnnl::memory bm(col, c.eng, const_cast<float*>(b));
  // One matmul per row group (each has its own activation scale); the last group may be shorter.
  for (int64_t g = 0; g < G; ++g) {
    const int64_t r0 = g * gr, rows = std::min(M, r0 + gr) - r0;
    const auto key = std::make_pair(rows, gelu);
    auto it = im.prims.find(key);
    if (it == im.prims.end()) {
      try {
        it = im.prims.emplace(key, dnnl::matmul(make_pd(rows, N, K, im.wdesc, gelu))).first;
      } catch (const dnnl::error& e) {
        LM_THROW(ErrorCode::Internal, "int8 matmul: oneDNN rejected M={} N={} K={} with the packed weights: {}",
                 rows, N, K, e.what());
      }
    }
    dnnl::memory src(dnnl::memory::desc({rows, K}, dt::s8, tag::ab), c.eng, im.scratch.data() + r0 * K);
    dnnl::memory dst(dnnl::memory::desc({rows, N}, dt::f32, tag::ab), c.eng, out + r0 * N);
    dnnl::memory sc(col, c.eng, im.colscale.data() + g * N);
    it->second.execute(c.strm, {{DNNL_ARG_SRC, src},
                                {DNNL_ARG_WEIGHTS, im.weights},
                                {DNNL_ARG_DST, dst},
                                {DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, sc},
                                {DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1, bm}});
  }
  c.strm.wait();
}

}  // namespace lm::cpu
