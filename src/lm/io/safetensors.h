// safetensors reader (zero-copy over mmap, every header field validated) and streaming atomic writer.
// Byte layout (huggingface/safetensors README "Format", safetensors/src/tensor.rs):
//   [0, 8)          N: u64 little-endian, the header length (at most 100,000,000, as the Rust crate)
//   [8, 8+N)        UTF-8 JSON object starting with '{', optionally padded with trailing spaces:
//                     {"__metadata__": {str: str, ...},            (optional)
//                      "<name>": {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]}, ...}
//   [8+N, EOF)      data section; tensor bytes at [8+N+begin, 8+N+end), little-endian, C order. Sorted by offset the
//                   tensors tile the data section exactly: no holes, no overlap, last end == data size.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/mmap.h"
#include "lm/core/tensor.h"

namespace lm {

// Largest accepted header (bytes), the limit of the reference Rust implementation.
constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;     // byte offsets relative to the data section, [begin, end)
  std::span<const uint8_t> bytes;  // the tensor's bytes inside the file image (may be unaligned)
};

class SafetensorsFile {
 public:
  // Maps `path` read-only and validates the whole header; throws lm::Error (BadFormat for malformed files,
  // Unsupported for valid files using dtypes or ranks lmcpp lacks, NotFound/InvalidArgument if unreadable).
  explicit SafetensorsFile(const std::string& path);
  // Same validation over a copy of `bytes`; `name` stands in for the path in error messages (tests, fuzzing).
  static SafetensorsFile from_memory(std::span<const uint8_t> bytes, const std::string& name);

  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;

  const std::string& path() const { return path_; }
  // All tensors in data-offset (file) order.
  const std::vector<SafetensorsEntry>& tensors() const { return entries_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // nullptr when absent.
  const SafetensorsEntry* find(const std::string& name) const;
  // Throws NotFound naming the file when absent.
  const SafetensorsEntry& entry(const std::string& name) const;
  // The "__metadata__" map (empty when absent).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Size of the data section in bytes.
  uint64_t data_size() const { return data_size_; }

  // A read-only view (never write through .data): points into the file image when the bytes are aligned for the
  // dtype (always so for files whose writer aligned them, as the Rust crate and write_safetensors do); otherwise
  // the bytes are copied once into a 64-byte aligned buffer owned by this object and cached, so the view stays
  // valid as long as the SafetensorsFile lives. Thread-safe. Throws NotFound when absent.
  Tensor tensor(const std::string& name) const;

  // Converts tensor `name` (F32, BF16 or F16) to f32 into dst[expected.numel()]; throws BadFormat naming the
  // file and tensor unless its shape equals `expected`, Unsupported for other dtypes. Any alignment works.
  void read_f32(const std::string& name, float* dst, const Shape& expected) const;

 private:
  SafetensorsFile() = default;
  void parse(const uint8_t* data, size_t size);

  struct CopyCache;
  std::string path_;
  MappedFile map_;  // the file image when opened from a path
  Buffer owned_;    // the file image when opened from memory
  uint64_t data_size_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::unique_ptr<CopyCache> copies_;  // aligned copies of unaligned tensors, filled lazily by tensor()
};

struct NamedTensor {
  std::string name;
  Tensor tensor;  // CPU, contiguous; any dtype
};

// Writes a safetensors file atomically (temp + fsync + rename), streaming each tensor's bytes from its memory.
// Order is deterministic and the same as the Rust crate's (hence Python's save_file): descending dtype in the
// crate's enum order (I64 > F32 > U32 > I32 > BF16 > F16 > U16 > U8), then name; header keys in that order with
// "__metadata__" first; header padded with spaces to a multiple of 8. Since element sizes never increase along that
// order, every tensor lands aligned for its dtype. Throws InvalidArgument on duplicate/reserved names.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The exact bytes write_safetensors puts before the data section (8-byte length + padded header), and the order
// in which tensor data follows; exposed for tests.
std::string safetensors_header(const std::vector<NamedTensor>& tensors, const std::map<std::string, std::string>& metadata,
                               std::vector<size_t>* order);

}  // namespace lm
