// ggml tensor types as GGUF files store them: the type table (block size, bytes per block) of every ggml
// type, and f32 <-> F32/F16/BF16/Q8_0/Q4_0 conversion of rows of n elements (n a multiple of the block size,
// ne[0] of a tensor). Block layouts (little-endian), from ggml's reference quantizers (ggml-quants.c, *_ref):
//   Q8_0  32 elements in 34 bytes: f16 d, int8 q[32];            x = q * d
//   Q4_0  32 elements in 18 bytes: f16 d, uint8 qs[16];          x = (nibble - 8) * d; element j < 16 is the
//   low
//                                                                nibble of qs[j], element 16 + j its high
//                                                                nibble
#pragma once

#include <cstdint>

namespace lm {

// The ggml types lmcpp converts to and from f32 (ggml's enum values).
enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8, BF16 = 30 };

// Block size and bytes per block of any ggml type code (gguf-py GGML_QUANT_SIZES), for listing and validating
// files with types lmcpp does not convert (Q4_K, IQ2_XS, ...).
struct GgmlTypeLayout {
  uint32_t code;
  const char* name;  // lower case, as llama.cpp prints them ("q4_k")
  int64_t block;     // elements per block
  int64_t bytes;     // bytes per block
};
// nullptr for codes this table does not know (removed or newer than lmcpp).
const GgmlTypeLayout* ggml_type_layout(uint32_t code);
// True for the codes of GgmlType (the types read_f32/ggml_dequantize accept).
bool ggml_type_supported(uint32_t code);

const char* ggml_type_name(GgmlType t);  // "f32", "f16", "q4_0", "q8_0", "bf16"
int64_t ggml_block_size(GgmlType t);     // 1 or 32
int64_t ggml_type_bytes(GgmlType t);     // bytes per block: 4, 2, 18, 34, 2
// Bytes of a row of ne0 elements; InvalidArgument unless ne0 >= 0 is a multiple of the block size.
int64_t ggml_row_bytes(GgmlType t, int64_t ne0);

// src[n] f32 -> dst[ggml_row_bytes(t, n)] bytes of type t; n a multiple of the block size (else
// InvalidArgument). F16/BF16 round to nearest even. Q8_0 is ggml's quantize_row_q8_0_ref bit for bit: amax =
// max |x|, d = amax / 127, id = d ? 1 / d : 0, stored fp16(d), q = roundf(x * id) (half away from zero). Q4_0
// is quantize_row_q4_0_ref: m = the first x of largest |x|, d = m / -8, id = d ? 1 / d : 0, q = min(15,
// (int)(x * id + 8.5)). Non-finite inputs give unspecified codes (never undefined behaviour).
void ggml_quantize(GgmlType t, const float* src, int64_t n, uint8_t* dst);
// src[ggml_row_bytes(t, n)] bytes of type t -> dst[n] f32.
void ggml_dequantize(GgmlType t, const uint8_t* src, int64_t n, float* dst);

}  // namespace lm
