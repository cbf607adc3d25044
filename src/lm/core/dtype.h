// Element types of tensors and files: f32, bf16, f16, i32, i64, u16, u32, plus conversions for 16-bit floats.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace lm {

enum class DType : uint8_t { F32, BF16, F16, I32, I64, U16, U32, U8, I8 };

constexpr size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::F16: return 2;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U16: return 2;
    case DType::U32: return 4;
    case DType::U8: return 1;
    case DType::I8: return 1;
  }
  return 0;
}

// Lower-case short names ("f32", "bf16", ...).
std::string_view dtype_name(DType t);
// safetensors names ("F32", "BF16", "F16", "I32", "I64", "U16", "U32", "U8"); returns false if unknown.
bool dtype_from_safetensors(std::string_view name, DType* out);
std::string_view dtype_safetensors_name(DType t);

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<int32_t>() { return DType::I32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::I64; }
template <> constexpr DType dtype_of<uint16_t>() { return DType::U16; }
template <> constexpr DType dtype_of<uint32_t>() { return DType::U32; }
template <> constexpr DType dtype_of<uint8_t>() { return DType::U8; }

// bf16 <-> f32, round to nearest even (NaN kept quiet).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
// IEEE half <-> f32, round to nearest even, with subnormals, inf and NaN.
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

}  // namespace lm
