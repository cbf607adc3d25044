// Binary token shards: the output of `lmcpp prepare` and the input of the loaders. Read by mmap, validated
// against the header before any token is touched (shards are untrusted input).
//
// Byte layout (all integers little-endian), header is 64 bytes:
//   0  char[8] magic "LMSHARD1"
//   8  u32     version = 1
//  12  u32     dtype: bytes per token, 2 (uint16) or 4 (uint32)
//  16  u64     token count N
//  24  u64     document count (informational: documents whose tokens are in this shard)
//  32  u32     vocab_size (0 = unknown); when set every token is < vocab_size
//  36  i32     eos id (-1 = none)
//  40  u8[24]  reserved, zero
//  64  N tokens of `dtype` bytes; file size is exactly 64 + N * dtype
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lm/core/mmap.h"

namespace lm {

inline constexpr char kShardMagic[8] = {'L', 'M', 'S', 'H', 'A', 'R', 'D', '1'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr size_t kShardHeaderBytes = 64;

struct ShardHeader {
  uint32_t version = kShardVersion;
  uint32_t dtype_bytes = 2;
  uint64_t tokens = 0;
  uint64_t documents = 0;
  uint32_t vocab_size = 0;
  int32_t eos_id = -1;
};

// Smallest token width for a vocabulary: 2 bytes up to 65536 ids, else 4.
uint32_t shard_dtype_for_vocab(int64_t vocab_size);

// Parses and validates a shard held in memory (the fuzzed path): magic, version, dtype, size vs header.
// `name` is used in error messages. Throws BadFormat.
ShardHeader parse_shard_header(const uint8_t* data, size_t size, const std::string& name);

// A validated, memory-mapped shard.
class Shard {
 public:
  explicit Shard(const std::string& path);
  const ShardHeader& header() const { return header_; }
  uint64_t size() const { return header_.tokens; }
  const std::string& path() const { return file_.path(); }
  uint32_t token(uint64_t i) const;
  // Copies tokens [begin, begin + n) as int32 into out; the range must lie inside the shard.
  void read(uint64_t begin, uint64_t n, int32_t* out) const;
  // O(N) check that every token is < vocab_size (when the header sets it). Throws BadFormat.
  void validate_tokens() const;

 private:
  MappedFile file_;
  ShardHeader header_;
  const uint8_t* tokens_ = nullptr;
};

// Same validation over a memory buffer (fuzzing, tests).
void validate_shard_memory(const uint8_t* data, size_t size, const std::string& name);

// Streams tokens into a new shard: written to a temporary name, header patched with the final count, fsynced
// and renamed by commit(). Destroying an uncommitted writer removes the temporary file.
class ShardWriter {
 public:
  ShardWriter(std::string path, uint32_t dtype_bytes, uint32_t vocab_size, int32_t eos_id);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Appends tokens; each must fit the dtype and be < vocab_size when that is set (InvalidArgument otherwise).
  void append(const int32_t* ids, size_t n);
  void append(const std::vector<int32_t>& ids) { append(ids.data(), ids.size()); }
  void add_documents(uint64_t n) { header_.documents += n; }
  uint64_t tokens() const { return header_.tokens; }
  const std::string& path() const { return path_; }
  void commit();

 private:
  void flush();
  std::string path_, tmp_;
  int fd_ = -1;
  ShardHeader header_;
  std::vector<uint8_t> buf_;
};

}  // namespace lm
