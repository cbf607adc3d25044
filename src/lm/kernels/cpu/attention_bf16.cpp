// The bf16 inference attention core on oneDNN's batched matmul (see attention_bf16.h): the two batched
// products (QKᵀ and PV) as oneDNN matmul primitives with the masked softmax in f32 between them.
#include "lm/kernels/cpu/attention_bf16.h"

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "lm/core/error.h"
#include "lm/kernels/cpu/attention.h"
#include "lm/kernels/cpu/dnnl_context.h"
#include "lm/kernels/cpu/linear_bf16.h"
#include "lm/kernels/cpu/parallel.h"

namespace lm::cpu {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using dims = dnnl::memory::dims;

// scores (B,NH,T,T) f32 = Q (B,NH,T,HS) · Kᵀ, K stored (B,NH,T,HS) and read as the (B,NH,HS,T) matrix (tag abdc).
dnnl::matmul::primitive_desc scores_pd(int64_t B, int64_t NH, int64_t T, int64_t HS) {
  dnnl::memory::desc q({B, NH, T, HS}, dt::bf16, tag::abcd), k({B, NH, HS, T}, dt::bf16, tag::abdc);
  dnnl::memory::desc s({B, NH, T, T}, dt::f32, tag::abcd);
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(q, k, s), dnnl_ctx().eng);
}

// out (B,NH,T,HS) f32, written with the strides of the merged (B,T,C) layout, = P (B,NH,T,T) · V (B,NH,T,HS).
dnnl::memory::desc out_desc(int64_t B, int64_t NH, int64_t T, int64_t HS) {
  const int64_t C = NH * HS;
  return dnnl::memory::desc({B, NH, T, HS}, dt::f32, dims{T * C, HS, C, 1});
}
dnnl::matmul::primitive_desc context_pd(int64_t B, int64_t NH, int64_t T, int64_t HS) {
  dnnl::memory::desc p({B, NH, T, T}, dt::bf16, tag::abcd), v({B, NH, T, HS}, dt::bf16, tag::abcd);
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(p, v, out_desc(B, NH, T, HS)), dnnl_ctx().eng);
}

bool native(const std::string& impl) { return impl.find("brg") != std::string::npos; }

}  // namespace

bool attention_bf16_available() {
  static const bool ok = [] {
    try {
      return native(scores_pd(2, 2, 64, 64).impl_info_str()) && native(context_pd(2, 2, 64, 64).impl_info_str());
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return ok;
}

struct AttentionBf16::Impl {
  std::tuple<int64_t, int64_t, int64_t, int64_t> key{-1, -1, -1, -1};
  dnnl::matmul scores, context;
  std::vector<uint16_t> q, k, v, p;  // bf16 (B,NH,T,HS) x3 and (B,NH,T,T)
};

AttentionBf16::AttentionBf16() = default;
AttentionBf16::~AttentionBf16() = default;
AttentionBf16::AttentionBf16(AttentionBf16&&) noexcept = default;
AttentionBf16& AttentionBf16::operator=(AttentionBf16&&) noexcept = default;

void AttentionBf16::forward(float* out, float* att, const float* qkv, const int32_t* key_mask, int64_t B, int64_t T,
                            int64_t C, int64_t NH, bool causal, float scale) {
  LM_CHECK_AS(ErrorCode::Unsupported, attention_bf16_available(),
              "bf16 attention: oneDNN has no native batched bf16 matmul on this CPU");
  LM_CHECK(B >= 1 && T >= 1 && NH >= 1 && C % NH == 0, "bf16 attention: bad shape B={} T={} C={} NH={}", B, T, C,
           NH);
  if (!impl_) impl_ = std::make_unique<Impl>();
  Impl& im = *impl_;
  const int64_t HS = C / NH, C3 = 3 * C;
  const auto key = std::make_tuple(B, T, C, NH);
  if (im.key != key) {
    try {
      im.scores = dnnl::matmul(scores_pd(B, NH, T, HS));
      im.context = dnnl::matmul(context_pd(B, NH, T, HS));
    } catch (const dnnl::error& e) {
      LM_THROW(ErrorCode::Internal, "bf16 attention: oneDNN rejected B={} T={} C={} NH={}: {}", B, T, C, NH, e.what());
    }
    const size_t n = static_cast<size_t>(B * T * C);
    im.q.resize(n);
    im.k.resize(n);
    im.v.resize(n);
    im.p.resize(static_cast<size_t>(B * NH * T * T));
    im.key = key;
  }
  sync_thread_count();
  // q·scale, k, v -> head-major bf16 copies (the softmax scale folded into q).
#pragma omp parallel for schedule(static)
  for (int64_t bt = 0; bt < B * T; ++bt) {
    const int64_t b = bt / T, t = bt % T;
    const float* row = qkv + bt * C3;
    for (int64_t h = 0; h < NH; ++h) {
      const int64_t dst = ((b * NH + h) * T + t) * HS;
      round_to_bf16(im.q.data() + dst, row + h * HS, HS, scale);
      round_to_bf16(im.k.data() + dst, row + C + h * HS, HS, 1.0f);
      round_to_bf16(im.v.data() + dst, row + 2 * C + h * HS, HS, 1.0f);
    }
  }
  auto& c = dnnl_ctx();
  const dnnl::memory::desc hd({B, NH, T, HS}, dt::bf16, tag::abcd);
  dnnl::memory mq(hd, c.eng, im.q.data()), mv(hd, c.eng, im.v.data());
  dnnl::memory mk(dnnl::memory::desc({B, NH, HS, T}, dt::bf16, tag::abdc), c.eng, im.k.data());
  dnnl::memory ms(dnnl::memory::desc({B, NH, T, T}, dt::f32, tag::abcd), c.eng, att);
  im.scores.execute(c.strm, {{DNNL_ARG_SRC, mq}, {DNNL_ARG_WEIGHTS, mk}, {DNNL_ARG_DST, ms}});
  c.strm.wait();
  // The f32 kernel's masked softmax on the (already scaled) scores, then the probabilities rounded to bf16.
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < B * NH * T; ++r) {
    const int64_t b = r / (NH * T), t = r % T, L = causal ? t + 1 : T;
    float* s = att + r * T;
    attention_softmax_row(s, L, T, key_mask ? key_mask + b * T : nullptr);
    round_to_bf16(im.p.data() + r * T, s, T);
  }
  dnnl::memory mp(dnnl::memory::desc({B, NH, T, T}, dt::bf16, tag::abcd), c.eng, im.p.data());
  dnnl::memory mo(out_desc(B, NH, T, HS), c.eng, out);
  im.context.execute(c.strm, {{DNNL_ARG_SRC, mp}, {DNNL_ARG_WEIGHTS, mv}, {DNNL_ARG_DST, mo}});
  c.strm.wait();
}

}  // namespace lm::cpu
