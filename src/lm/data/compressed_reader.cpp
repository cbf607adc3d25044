// Plain / bzip2 / gzip / zstd streaming decompression with offset tracking for error messages.
#include "lm/data/compressed_reader.h"

#include <bzlib.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "lm/core/error.h"

namespace lm {

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::None:
      return "plain";
    case Compression::Bzip2:
      return "bzip2";
    case Compression::Gzip:
      return "gzip";
    case Compression::Zstd:
      return "zstd";
  }
  return "?";
}

Compression detect_compression(std::string_view h) {
  if (h.size() >= 3 && h[0] == 'B' && h[1] == 'Z' && h[2] == 'h') return Compression::Bzip2;
  if (h.size() >= 2 && static_cast<uint8_t>(h[0]) == 0x1f && static_cast<uint8_t>(h[1]) == 0x8b)
    return Compression::Gzip;
  if (h.size() >= 4 && static_cast<uint8_t>(h[0]) == 0x28 && static_cast<uint8_t>(h[1]) == 0xb5 &&
      static_cast<uint8_t>(h[2]) == 0x2f && static_cast<uint8_t>(h[3]) == 0xfd)
    return Compression::Zstd;
  return Compression::None;
}

struct CompressedReader::Impl {
  static constexpr size_t kChunk = 1 << 20;
  std::string name;
  std::FILE* file = nullptr;
  std::vector<char> buf;
  // Current input window [in, in + avail).
  const char* in = nullptr;
  size_t avail = 0;
  bool eof = false;  // no more input beyond the window
  uint64_t fed = 0;  // input bytes handed to the window so far
  uint64_t produced = 0;
  uint64_t total_size = 0;
  Compression comp = Compression::None;
  bool done = false;

  bz_stream bz{};
  bool bz_active = false;
  z_stream gz{};
  bool gz_init = false;
  ZSTD_DStream* zs = nullptr;
  size_t zs_last = 0;  // last ZSTD_decompressStream hint; 0 = at a frame boundary

  uint64_t consumed() const { return fed - avail; }

  // Refills the window when it is empty; returns false at end of input.
  bool fill() {
    if (avail > 0) return true;
    if (eof) return false;
    if (!file) {
      eof = true;
      return false;
    }
    size_t n = std::fread(buf.data(), 1, buf.size(), file);
    if (n == 0) {
      LM_CHECK(!std::ferror(file), "cannot read {}: {}", name, std::strerror(errno));
      eof = true;
      return false;
    }
    in = buf.data();
    avail = n;
    fed += n;
    return true;
  }

  [[noreturn]] void fail(const std::string& what) const {
    LM_THROW(ErrorCode::BadFormat, "{} {} data in {} at compressed byte {} (uncompressed byte {})", what,
             compression_name(comp), name, consumed(), produced);
  }

  void start() {
    // Peek at the first bytes to detect the format; a file shorter than 4 bytes is fine.
    if (file) {
      size_t n = std::fread(buf.data(), 1, buf.size(), file);
      LM_CHECK(!std::ferror(file), "cannot read {}: {}", name, std::strerror(errno));
      in = buf.data();
      avail = n;
      fed = n;
      if (n == 0) eof = true;
    }
    comp = detect_compression(std::string_view(in ? in : "", avail));
    if (comp == Compression::Zstd) {
      zs = ZSTD_createDStream();
      LM_CHECK_AS(ErrorCode::OutOfMemory, zs != nullptr, "cannot create zstd stream");
      ZSTD_initDStream(zs);
    } else if (comp == Compression::Gzip) {
      LM_CHECK_AS(ErrorCode::OutOfMemory, inflateInit2(&gz, 15 + 32) == Z_OK, "cannot init zlib");
      gz_init = true;
    }
  }

  size_t read_plain(char* out, size_t n) {
    size_t got = 0;
    while (got < n && fill()) {
      size_t k = std::min(n - got, avail);
      std::memcpy(out + got, in, k);
      in += k;
      avail -= k;
      got += k;
    }
    return got;
  }

  size_t read_bz2(char* out, size_t n) {
    size_t got = 0;
    while (got == 0) {
      if (!bz_active) {
        // A multistream file is several complete bzip2 streams back to back: start the next one if any.
        if (!fill()) return 0;
        bz = bz_stream{};
        LM_CHECK_AS(ErrorCode::OutOfMemory, BZ2_bzDecompressInit(&bz, 0, 0) == BZ_OK, "cannot init bzip2");
        bz_active = true;
      }
      if (!fill()) fail("truncated");
      bz.next_in = const_cast<char*>(in);
      bz.avail_in = static_cast<unsigned>(std::min<size_t>(avail, 1u << 30));
      bz.next_out = out + got;
      bz.avail_out = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
      unsigned in_before = bz.avail_in, out_before = bz.avail_out;
      int ret = BZ2_bzDecompress(&bz);
      size_t used = in_before - bz.avail_in;
      in += used;
      avail -= used;
      got += out_before - bz.avail_out;
      if (ret == BZ_STREAM_END) {
        BZ2_bzDecompressEnd(&bz);
        bz_active = false;
      } else if (ret != BZ_OK) {
        fail(ret == BZ_DATA_ERROR_MAGIC ? "bad stream magic in" : "corrupt");
      }
    }
    return got;
  }

  size_t read_gz(char* out, size_t n) {
    size_t got = 0;
    bool stream_end = false;
    while (got == 0) {
      if (stream_end) {
        // Multi-member gzip: another member follows if there is more input.
        if (!fill()) return 0;
        inflateReset(&gz);
        stream_end = false;
      }
      if (!fill()) fail("truncated");
      gz.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
      gz.avail_in = static_cast<uInt>(std::min<size_t>(avail, 1u << 30));
      gz.next_out = reinterpret_cast<Bytef*>(out);
      gz.avail_out = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
      uInt in_before = gz.avail_in;
      int ret = inflate(&gz, Z_NO_FLUSH);
      size_t used = in_before - gz.avail_in;
      in += used;
      avail -= used;
      got = std::min<size_t>(n, 1u << 30) - gz.avail_out;
      if (ret == Z_STREAM_END) {
        stream_end = true;
        if (got > 0 && !fill()) {
          done_gz = true;
          return got;
        }
      } else if (ret != Z_OK && ret != Z_BUF_ERROR) {
        fail("corrupt");
      }
    }
    return got;
  }
  bool done_gz = false;

  size_t read_zstd(char* out, size_t n) {
    size_t got = 0;
    while (got == 0) {
      if (!fill()) {
        if (zs_last != 0) fail("truncated");
        return 0;
      }
      ZSTD_inBuffer ib{in, avail, 0};
      ZSTD_outBuffer ob{out, n, 0};
      size_t ret = ZSTD_decompressStream(zs, &ob, &ib);
      if (ZSTD_isError(ret)) fail(std::string("corrupt (") + ZSTD_getErrorName(ret) + ")");
      in += ib.pos;
      avail -= ib.pos;
      got = ob.pos;
      zs_last = ret;
    }
    return got;
  }
};

CompressedReader::CompressedReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->name = path;
  impl_->file = std::fopen(path.c_str(), "rb");
  LM_CHECK_AS(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::InvalidArgument, impl_->file != nullptr,
              "cannot open {}: {}", path, std::strerror(errno));
  std::fseek(impl_->file, 0, SEEK_END);
  long sz = std::ftell(impl_->file);
  std::fseek(impl_->file, 0, SEEK_SET);
  impl_->total_size = sz > 0 ? static_cast<uint64_t>(sz) : 0;
  impl_->buf.resize(Impl::kChunk);
  impl_->start();
}

CompressedReader::CompressedReader(std::string_view data, std::string name)
    : impl_(std::make_unique<Impl>()) {
  impl_->name = std::move(name);
  impl_->in = data.data();
  impl_->avail = data.size();
  impl_->fed = data.size();
  impl_->eof = true;
  impl_->total_size = data.size();
  impl_->start();
}

CompressedReader::~CompressedReader() {
  if (impl_->bz_active) BZ2_bzDecompressEnd(&impl_->bz);
  if (impl_->gz_init) inflateEnd(&impl_->gz);
  if (impl_->zs) ZSTD_freeDStream(impl_->zs);
  if (impl_->file) std::fclose(impl_->file);
}

size_t CompressedReader::read(char* out, size_t n) {
  Impl& m = *impl_;
  if (m.done || n == 0) return 0;
  size_t got = 0;
  switch (m.comp) {
    case Compression::None:
      got = m.read_plain(out, n);
      break;
    case Compression::Bzip2:
      got = m.read_bz2(out, n);
      break;
    case Compression::Gzip:
      got = m.done_gz ? 0 : m.read_gz(out, n);
      break;
    case Compression::Zstd:
      got = m.read_zstd(out, n);
      break;
  }
  if (got == 0) m.done = true;
  m.produced += got;
  return got;
}

Compression CompressedReader::compression() const { return impl_->comp; }
const std::string& CompressedReader::name() const { return impl_->name; }
uint64_t CompressedReader::compressed_offset() const { return impl_->consumed(); }
uint64_t CompressedReader::uncompressed_offset() const { return impl_->produced; }
uint64_t CompressedReader::compressed_size() const { return impl_->total_size; }

}  // namespace lm
