// GGUF v3 reader (zero-copy over mmap, every field validated) and atomic writer (ggml docs/gguf.md).
// Byte layout, all little-endian; a string is u64 length + bytes (no NUL):
//   u32 magic "GGUF", u32 version (2 or 3 read, 3 written), u64 tensor_count, u64 kv_count
//   kv_count x { string key, u32 value type (GgufType), value }        ARRAY value: u32 elem type, u64 count,
//   elems tensor_count x { string name, u32 n_dims (1..4), u64 ne[n_dims], u32 ggml type, u64 offset } zero
//   padding to a multiple of `general.alignment` (a U32 KV, power of two, default 32), counted from file
//   start data section: tensor bytes at data_start + offset; offsets are multiples of the alignment. ne[0] is
//   the innermost (contiguous) dimension: a tensor of PyTorch shape [A, B] has ne = {B, A}.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/mmap.h"
#include "lm/core/shape.h"
#include "lm/io/gguf_quant.h"

namespace lm {

constexpr uint64_t kGgufDefaultAlignment = 32;
constexpr int kGgufMaxArrayDepth = 8;  // arrays of arrays nest at most this deep (the reader's bound)

enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12
};
const char* gguf_type_name(GgufType t);  // "u8" ... "f64", "bool", "string", "array"; "?" for invalid codes

// One metadata value. Scalars: unsigned integer types are held in `u` (and `i` too when <= INT64_MAX), signed
// ones in `i` (and `u` too when >= 0); F32/F64 in `f`; BOOL in `b`; STRING in `s`. The writer reads unsigned
// types from `u` and signed ones from `i`. Arrays: `elem` is the element type, `count` the element count, and
// the elements are in `ints` (integer and bool elements; U64 elements above INT64_MAX wrap to negative),
// `floats` or `strings`; arrays of arrays keep only `count`.
struct GgufValue {
  GgufType type = GgufType::U32;
  GgufType elem = GgufType::U32;  // ARRAY: the element type
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
  uint64_t count = 0;

  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f32(float v);
  static GgufValue f64(double v);
  static GgufValue boolean(bool v);
  static GgufValue str(std::string v);
  static GgufValue str_array(std::vector<std::string> v);
  static GgufValue i32_array(std::vector<int32_t> v);
  static GgufValue f32_array(std::vector<float> v);
  // Arrays of any integer or BOOL element type (values range-checked when written), of F32/F64.
  static GgufValue int_array(GgufType elem, std::vector<int64_t> v);
  static GgufValue float_array(GgufType elem, std::vector<double> v);

  // Typed reads; `key` only names the value in the error (BadFormat "KEY: expected an integer, got string").
  int64_t as_int(const std::string& key) const;   // any integer type (U64 above INT64_MAX: BadFormat)
  double as_float(const std::string& key) const;  // F32/F64 or any integer
  bool as_bool(const std::string& key) const;
  const std::string& as_string(const std::string& key) const;
};

struct GgufTensorInfo {
  std::string name;
  Shape shape;                     // PyTorch order: shape[0] is the outermost dimension (= ne[n_dims-1])
  GgmlType type = GgmlType::F32;   // valid only when ggml_type_supported(raw_type)
  uint32_t raw_type = 0;           // the ggml type code as stored
  uint64_t offset = 0;             // relative to the data section
  uint64_t nbytes = 0;             // 0 for type codes ggml_type_layout does not know (their size is unknown)
  std::span<const uint8_t> bytes;  // inside the file image
};

class GgufFile {
 public:
  // Maps `path` read-only and validates header, metadata and tensor infos; throws lm::Error (BadFormat for
  // malformed files, Unsupported for GGUF v1, NotFound/InvalidArgument when unreadable).
  explicit GgufFile(const std::string& path);
  // Same validation over a copy of `bytes`; `name` stands in for the path in error messages (tests, fuzzing).
  static GgufFile from_memory(std::span<const uint8_t> bytes, const std::string& name);

  ~GgufFile();
  GgufFile(GgufFile&&) noexcept;
  GgufFile& operator=(GgufFile&&) noexcept;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  const std::vector<std::pair<std::string, GgufValue>>& kvs() const { return kvs_; }  // file order
  const GgufValue* find(const std::string& key) const;                                // nullptr if absent
  const GgufValue& get(const std::string& key) const;                      // NotFound "FILE: no key KEY"
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // tensor-info order
  const GgufTensorInfo* find_tensor(const std::string& name) const;        // nullptr if absent

  // Dequantizes/converts tensor `name` to f32 into dst[expected.numel()]; BadFormat naming file and tensor
  // unless its shape equals `expected` (PyTorch order); NotFound if absent; Unsupported for types outside
  // GgmlType.
  void read_f32(const std::string& name, float* dst, const Shape& expected) const;

 private:
  GgufFile() = default;
  void parse(const uint8_t* data, size_t size);

  std::string path_;
  MappedFile map_;  // the file image when opened from a path
  Buffer owned_;    // the file image when opened from memory
  uint32_t version_ = 0;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

// Builds a GGUF v3 file in memory order: KVs in insertion order (general.alignment first when the alignment
// is not 32 and no such key was set), tensor infos in insertion order, each tensor's data at the next
// multiple of the alignment and zero-padded to one (the file size is a multiple of the alignment, as ggml
// writes it).
class GgufWriter {
 public:
  explicit GgufWriter(uint64_t alignment = kGgufDefaultAlignment);  // a power of two below 2^32
  // Insertion order kept; a duplicate key replaces the earlier value in place. InvalidArgument for empty
  // keys, invalid type codes, arrays of arrays, and a general.alignment that is not U32 equal to the
  // writer's.
  void set(const std::string& key, GgufValue v);
  // Shape in PyTorch order (outermost first), 1..4 dims; data must hold ggml_row_bytes(type, shape.back()) *
  // rows bytes. InvalidArgument for a wrong size, a duplicate or empty name, or one of 64+ bytes (llama.cpp's
  // limit).
  void add_tensor(const std::string& name, const Shape& shape, GgmlType type, std::vector<uint8_t> data);
  // Converts shape.numel() f32 values into `type` (F32/F16/BF16/Q8_0/Q4_0) with ggml_quantize.
  void add_tensor_f32(const std::string& name, const Shape& shape, GgmlType type, const float* values);
  // Atomic: temp file in the same directory, fsync, rename; no half-written file on error.
  void write(const std::string& path) const;
  std::vector<uint8_t> to_bytes() const;  // the whole file image
  // Everything before the data section (header, KVs, tensor infos, padding).
  std::vector<uint8_t> header_bytes() const;

 private:
  struct PendingTensor {
    std::string name;
    Shape shape;
    GgmlType type;
    std::vector<uint8_t> data;
  };
  uint64_t alignment_;
  std::vector<std::pair<std::string, GgufValue>> kvs_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace lm
