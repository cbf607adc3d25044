// Streaming byte reader over a plain, bzip2 (single- or multistream), gzip (multi-member) or zstd file or
// in-memory buffer; the format is detected from the leading magic bytes, not the file name. Reads in bounded
// chunks and tracks both offsets, so a truncated or corrupt input is reported as BadFormat naming the file
// and the compressed/uncompressed byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace lm {

enum class Compression { None, Bzip2, Gzip, Zstd };

const char* compression_name(Compression c);
// Detects the compression from the first bytes (BZh / 1f 8b / 28 b5 2f fd); anything else is None.
Compression detect_compression(std::string_view head);

class CompressedReader {
 public:
  // Opens a file (NotFound if absent).
  explicit CompressedReader(const std::string& path);
  // Reads from memory (not copied: `data` must outlive the reader); `name` is used in error messages.
  CompressedReader(std::string_view data, std::string name);
  ~CompressedReader();
  CompressedReader(const CompressedReader&) = delete;
  CompressedReader& operator=(const CompressedReader&) = delete;

  // Fills up to n bytes of decompressed data; returns 0 only at the clean end of the input.
  // Throws BadFormat on corrupt or truncated input.
  size_t read(char* out, size_t n);

  Compression compression() const;
  const std::string& name() const;
  // Bytes consumed from the underlying file / bytes produced so far.
  uint64_t compressed_offset() const;
  uint64_t uncompressed_offset() const;
  // Size of the underlying file or buffer (for progress), 0 when unknown.
  uint64_t compressed_size() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace lm
