// Token shard reader (mmap + validation) and streaming writer (temp file, header patched at commit, fsync,
// rename). See shard.h for the byte layout.
#include "lm/data/shard.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm {
namespace {

uint32_t load_u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t load_u64(const uint8_t* p) { return load_u32(p) | (static_cast<uint64_t>(load_u32(p + 4)) << 32); }
void store_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void store_u64(uint8_t* p, uint64_t v) {
  store_u32(p, static_cast<uint32_t>(v));
  store_u32(p + 4, static_cast<uint32_t>(v >> 32));
}

void encode_header(const ShardHeader& h, uint8_t* out) {
  std::memset(out, 0, kShardHeaderBytes);
  std::memcpy(out, kShardMagic, 8);
  store_u32(out + 8, h.version);
  store_u32(out + 12, h.dtype_bytes);
  store_u64(out + 16, h.tokens);
  store_u64(out + 24, h.documents);
  store_u32(out + 32, h.vocab_size);
  store_u32(out + 36, static_cast<uint32_t>(h.eos_id));
}

uint32_t token_at(const uint8_t* tokens, uint32_t dtype, uint64_t i) {
  if (dtype == 2)
    return static_cast<uint32_t>(tokens[2 * i]) | (static_cast<uint32_t>(tokens[2 * i + 1]) << 8);
  return load_u32(tokens + 4 * i);
}

void validate_tokens_impl(const ShardHeader& h, const uint8_t* tokens, const std::string& name) {
  if (h.vocab_size == 0) return;
  for (uint64_t i = 0; i < h.tokens; ++i) {
    uint32_t t = token_at(tokens, h.dtype_bytes, i);
    LM_CHECK_AS(ErrorCode::BadFormat, t < h.vocab_size,
                "token {} at index {} of shard {} is >= vocab_size {}", t, i, name, h.vocab_size);
  }
}

}  // namespace

uint32_t shard_dtype_for_vocab(int64_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

ShardHeader parse_shard_header(const uint8_t* data, size_t size, const std::string& name) {
  LM_CHECK_AS(ErrorCode::BadFormat, size >= kShardHeaderBytes,
              "{} is not a token shard: {} bytes is shorter than the {}-byte header", name, size,
              kShardHeaderBytes);
  LM_CHECK_AS(ErrorCode::BadFormat, std::memcmp(data, kShardMagic, 8) == 0,
              "{} is not a token shard (bad magic; expected LMSHARD1)", name);
  ShardHeader h;
  h.version = load_u32(data + 8);
  LM_CHECK_AS(ErrorCode::BadFormat, h.version == kShardVersion,
              "{}: unsupported shard version {} (expected {})", name, h.version, kShardVersion);
  h.dtype_bytes = load_u32(data + 12);
  LM_CHECK_AS(ErrorCode::BadFormat, h.dtype_bytes == 2 || h.dtype_bytes == 4,
              "{}: bad token dtype {} (expected 2 or 4 bytes)", name, h.dtype_bytes);
  h.tokens = load_u64(data + 16);
  h.documents = load_u64(data + 24);
  h.vocab_size = load_u32(data + 32);
  h.eos_id = static_cast<int32_t>(load_u32(data + 36));
  uint64_t payload = size - kShardHeaderBytes;
  LM_CHECK_AS(
      ErrorCode::BadFormat, h.tokens <= payload / h.dtype_bytes && payload == h.tokens * h.dtype_bytes,
      "{}: header says {} tokens of {} bytes but the file holds {} bytes of tokens (truncated or corrupt)",
      name, h.tokens, h.dtype_bytes, payload);
  LM_CHECK_AS(ErrorCode::BadFormat,
              h.eos_id >= -1 && (h.vocab_size == 0 || h.eos_id < static_cast<int64_t>(h.vocab_size)),
              "{}: bad eos id {} for vocab_size {}", name, h.eos_id, h.vocab_size);
  LM_CHECK_AS(ErrorCode::BadFormat, h.dtype_bytes == 4 || h.vocab_size <= 65536,
              "{}: vocab_size {} does not fit 2-byte tokens", name, h.vocab_size);
  return h;
}

void validate_shard_memory(const uint8_t* data, size_t size, const std::string& name) {
  ShardHeader h = parse_shard_header(data, size, name);
  validate_tokens_impl(h, data + kShardHeaderBytes, name);
}

Shard::Shard(const std::string& path) : file_(path) {
  header_ = parse_shard_header(file_.data(), file_.size(), path);
  tokens_ = file_.data() + kShardHeaderBytes;
}

uint32_t Shard::token(uint64_t i) const {
  LM_CHECK(i < header_.tokens, "token index {} out of range for shard {} of {} tokens", i, path(),
           header_.tokens);
  return token_at(tokens_, header_.dtype_bytes, i);
}

void Shard::read(uint64_t begin, uint64_t n, int32_t* out) const {
  LM_CHECK(begin <= header_.tokens && n <= header_.tokens - begin,
           "range [{}, {}) outside shard {} of {} tokens", begin, begin + n, path(), header_.tokens);
  if (header_.dtype_bytes == 2) {
    const uint8_t* p = tokens_ + 2 * begin;
    for (uint64_t i = 0; i < n; ++i)
      out[i] =
          static_cast<int32_t>(static_cast<uint32_t>(p[2 * i]) | (static_cast<uint32_t>(p[2 * i + 1]) << 8));
  } else {
    const uint8_t* p = tokens_ + 4 * begin;
    for (uint64_t i = 0; i < n; ++i) out[i] = static_cast<int32_t>(load_u32(p + 4 * i));
  }
}

void Shard::validate_tokens() const { validate_tokens_impl(header_, tokens_, path()); }

ShardWriter::ShardWriter(std::string path, uint32_t dtype_bytes, uint32_t vocab_size, int32_t eos_id)
    : path_(std::move(path)) {
  LM_CHECK(dtype_bytes == 2 || dtype_bytes == 4, "shard dtype must be 2 or 4 bytes, got {}", dtype_bytes);
  LM_CHECK(dtype_bytes == 4 || vocab_size <= 65536, "vocab_size {} needs 4-byte tokens", vocab_size);
  header_.dtype_bytes = dtype_bytes;
  header_.vocab_size = vocab_size;
  header_.eos_id = eos_id;
  std::random_device rd;
  tmp_ = fmt::format("{}.tmp-{}-{:x}", path_, ::getpid(), rd());
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  LM_CHECK_AS(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::InvalidArgument, fd_ >= 0,
              "cannot create {}: {}", path_, std::strerror(errno));
  buf_.resize(kShardHeaderBytes);  // placeholder, rewritten at commit
  encode_header(header_, buf_.data());
}

ShardWriter::~ShardWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void ShardWriter::append(const int32_t* ids, size_t n) {
  LM_ASSERT(fd_ >= 0, "append after commit");
  uint64_t limit =
      header_.vocab_size ? header_.vocab_size : (header_.dtype_bytes == 2 ? 65536ull : 1ull << 32);
  size_t at = buf_.size();
  buf_.resize(at + n * header_.dtype_bytes);
  uint8_t* p = buf_.data() + at;
  for (size_t i = 0; i < n; ++i) {
    int32_t t = ids[i];
    LM_CHECK(t >= 0 && static_cast<uint64_t>(t) < limit, "token id {} does not fit shard {} (limit {})", t,
             path_, limit);
    if (header_.dtype_bytes == 2) {
      p[2 * i] = static_cast<uint8_t>(t);
      p[2 * i + 1] = static_cast<uint8_t>(t >> 8);
    } else {
      store_u32(p + 4 * i, static_cast<uint32_t>(t));
    }
  }
  header_.tokens += n;
  if (buf_.size() >= (4u << 20)) flush();
}

void ShardWriter::flush() {
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t w = ::write(fd_, buf_.data() + off, buf_.size() - off);
    if (w < 0 && errno == EINTR) continue;
    LM_CHECK_AS(ErrorCode::Internal, w > 0, "write to {} failed: {}", tmp_, std::strerror(errno));
    off += static_cast<size_t>(w);
  }
  buf_.clear();
}

void ShardWriter::commit() {
  LM_ASSERT(fd_ >= 0, "double commit");
  flush();
  uint8_t hdr[kShardHeaderBytes];
  encode_header(header_, hdr);
  bool ok = ::pwrite(fd_, hdr, sizeof hdr, 0) == static_cast<ssize_t>(sizeof hdr) && ::fsync(fd_) == 0;
  int e = errno;
  ok = ::close(fd_) == 0 && ok;
  fd_ = -1;
  if (!ok || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    if (ok) e = errno;
    ::unlink(tmp_.c_str());
    LM_THROW(ErrorCode::Internal, "cannot write {}: {}", path_, std::strerror(e));
  }
  std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  fsync_dir(parent.empty() ? "." : parent.string());
}

}  // namespace lm
