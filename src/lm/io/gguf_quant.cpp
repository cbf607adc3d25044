// ggml type table and the f32 <-> F32/F16/BF16/Q8_0/Q4_0 row conversions (block layouts in gguf_quant.h).
#include "lm/io/gguf_quant.h"

#include <bit>
#include <cmath>
#include <cstring>

#include "lm/core/dtype.h"
#include "lm/core/error.h"

namespace lm {

static_assert(std::endian::native == std::endian::little,
              "GGUF data is little-endian; big-endian hosts unsupported");

namespace {

constexpr int64_t kQK = 32;    // elements per Q8_0/Q4_0 block
constexpr int64_t kQKK = 256;  // elements per k-quant super-block (QK_K)

// gguf-py constants.py GGML_QUANT_SIZES; codes 4, 5, 31-33 and 36-38 were removed from ggml.
constexpr GgmlTypeLayout kLayouts[] = {
    {0, "f32", 1, 4},
    {1, "f16", 1, 2},
    {2, "q4_0", kQK, 2 + 16},
    {3, "q4_1", kQK, 2 + 2 + 16},
    {6, "q5_0", kQK, 2 + 4 + 16},
    {7, "q5_1", kQK, 2 + 2 + 4 + 16},
    {8, "q8_0", kQK, 2 + 32},
    {9, "q8_1", kQK, 4 + 4 + 32},
    {10, "q2_k", kQKK, 2 + 2 + kQKK / 16 + kQKK / 4},
    {11, "q3_k", kQKK, 2 + kQKK / 4 + kQKK / 8 + 12},
    {12, "q4_k", kQKK, 2 + 2 + kQKK / 2 + 12},
    {13, "q5_k", kQKK, 2 + 2 + kQKK / 2 + kQKK / 8 + 12},
    {14, "q6_k", kQKK, 2 + kQKK / 2 + kQKK / 4 + kQKK / 16},
    {15, "q8_k", kQKK, 4 + kQKK + kQKK / 8},
    {16, "iq2_xxs", kQKK, 2 + kQKK / 4},
    {17, "iq2_xs", kQKK, 2 + kQKK / 4 + kQKK / 32},
    {18, "iq3_xxs", kQKK, 2 + kQKK / 4 + kQKK / 8},
    {19, "iq1_s", kQKK, 2 + kQKK / 8 + kQKK / 16},
    {20, "iq4_nl", kQK, 2 + 16},
    {21, "iq3_s", kQKK, 2 + kQKK / 4 + kQKK / 8 + kQKK / 32 + 4},
    {22, "iq2_s", kQKK, 2 + kQKK / 4 + kQKK / 16},
    {23, "iq4_xs", kQKK, 2 + 2 + kQKK / 2 + kQKK / 64},
    {24, "i8", 1, 1},
    {25, "i16", 1, 2},
    {26, "i32", 1, 4},
    {27, "i64", 1, 8},
    {28, "f64", 1, 8},
    {29, "iq1_m", kQKK, kQKK / 8 + kQKK / 16 + kQKK / 32},
    {30, "bf16", 1, 2},
    {34, "tq1_0", kQKK, 2 + 4 * 13},
    {35, "tq2_0", kQKK, 2 + 64},
    {39, "mxfp4", kQK, 1 + 16},
};

const GgmlTypeLayout& layout_of(GgmlType t) {
  const GgmlTypeLayout* l =
      ggml_type_supported(static_cast<uint32_t>(t)) ? ggml_type_layout(static_cast<uint32_t>(t)) : nullptr;
  LM_CHECK(l != nullptr, "ggml type {} is not one lmcpp converts (f32, f16, bf16, q8_0, q4_0)",
           static_cast<uint32_t>(t));
  return *l;
}

uint16_t load_u16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
void store_u16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// float -> integer code without undefined behaviour: NaN maps to `nan`, values are clamped to [lo, hi].
int clamp_to_int(float v, int lo, int hi, int nan) {
  if (std::isnan(v)) return nan;
  if (v <= static_cast<float>(lo)) return lo;
  if (v >= static_cast<float>(hi)) return hi;
  return static_cast<int>(v);
}

void quantize_q8_0(const float* x, int64_t nblocks, uint8_t* dst) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK, dst += 34) {
    float amax = 0.0f;
    for (int64_t j = 0; j < kQK; ++j) {
      const float a = std::fabs(x[j]);
      amax = amax > a ? amax : a;  // ggml's MAX(amax, a)
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(dst, f32_to_f16(d));
    // |x * id| <= 127 (up to rounding) for finite inputs; roundf rounds halves away from zero.
    for (int64_t j = 0; j < kQK; ++j)
      dst[2 + j] =
          static_cast<uint8_t>(static_cast<int8_t>(clamp_to_int(std::round(x[j] * id), -128, 127, 0)));
  }
}

void quantize_q4_0(const float* x, int64_t nblocks, uint8_t* dst) {
  for (int64_t b = 0; b < nblocks; ++b, x += kQK, dst += 18) {
    float amax = 0.0f, max = 0.0f;  // largest |x| and the signed x that has it (the first one on ties)
    for (int64_t j = 0; j < kQK; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    store_u16(dst, f32_to_f16(d));
    // x * id lies in [-8, 8]; + 8.5 and truncation toward zero round to the nearest of 0..16, capped at 15.
    for (int64_t j = 0; j < kQK / 2; ++j) {
      const int lo = clamp_to_int(x[j] * id + 8.5f, 0, 15, 8);
      const int hi = clamp_to_int(x[kQK / 2 + j] * id + 8.5f, 0, 15, 8);
      dst[2 + j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_q8_0(const uint8_t* src, int64_t nblocks, float* y) {
  for (int64_t b = 0; b < nblocks; ++b, src += 34, y += kQK) {
    const float d = f16_to_f32(load_u16(src));
    for (int64_t j = 0; j < kQK; ++j) y[j] = static_cast<float>(static_cast<int8_t>(src[2 + j])) * d;
  }
}

void dequantize_q4_0(const uint8_t* src, int64_t nblocks, float* y) {
  for (int64_t b = 0; b < nblocks; ++b, src += 18, y += kQK) {
    const float d = f16_to_f32(load_u16(src));
    for (int64_t j = 0; j < kQK / 2; ++j) {
      y[j] = static_cast<float>((src[2 + j] & 0x0f) - 8) * d;
      y[kQK / 2 + j] = static_cast<float>((src[2 + j] >> 4) - 8) * d;
    }
  }
}

}  // namespace

const GgmlTypeLayout* ggml_type_layout(uint32_t code) {
  for (const GgmlTypeLayout& l : kLayouts)
    if (l.code == code) return &l;
  return nullptr;
}

bool ggml_type_supported(uint32_t code) {
  switch (static_cast<GgmlType>(code)) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::Q4_0:
    case GgmlType::Q8_0:
    case GgmlType::BF16:
      return true;
  }
  return false;
}

const char* ggml_type_name(GgmlType t) { return layout_of(t).name; }
int64_t ggml_block_size(GgmlType t) { return layout_of(t).block; }
int64_t ggml_type_bytes(GgmlType t) { return layout_of(t).bytes; }

int64_t ggml_row_bytes(GgmlType t, int64_t ne0) {
  const GgmlTypeLayout& l = layout_of(t);
  LM_CHECK(ne0 >= 0 && ne0 % l.block == 0,
           "a row of {} elements is not a whole number of {}-element {} blocks", ne0, l.block, l.name);
  LM_CHECK(ne0 / l.block <= INT64_MAX / l.bytes, "a row of {} {} elements overflows 64-bit byte counts", ne0,
           l.name);
  return ne0 / l.block * l.bytes;
}

void ggml_quantize(GgmlType t, const float* src, int64_t n, uint8_t* dst) {
  const int64_t nb = ggml_row_bytes(t, n) / ggml_type_bytes(t);  // checks n
  switch (t) {
    case GgmlType::F32:
      if (n) std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) store_u16(dst + 2 * i, f32_to_f16(src[i]));
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) store_u16(dst + 2 * i, f32_to_bf16(src[i]));
      return;
    case GgmlType::Q8_0:
      quantize_q8_0(src, nb, dst);
      return;
    case GgmlType::Q4_0:
      quantize_q4_0(src, nb, dst);
      return;
  }
  LM_ASSERT(false, "unreachable: type checked by ggml_row_bytes");
}

void ggml_dequantize(GgmlType t, const uint8_t* src, int64_t n, float* dst) {
  const int64_t nb = ggml_row_bytes(t, n) / ggml_type_bytes(t);
  switch (t) {
    case GgmlType::F32:
      if (n) std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(src + 2 * i));
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(src + 2 * i));
      return;
    case GgmlType::Q8_0:
      dequantize_q8_0(src, nb, dst);
      return;
    case GgmlType::Q4_0:
      dequantize_q4_0(src, nb, dst);
      return;
  }
  LM_ASSERT(false, "unreachable: type checked by ggml_row_bytes");
}

}  // namespace lm
