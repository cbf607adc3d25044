// Plain / bzip2 / gzip / zstd streaming decompression with offset tracking for error messages.
#include "lm/data/compressed_reader.h"

#include <bzlib.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <vector>

#include "lm/core/error.h"
#include "lm/core/threads.h"

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

  // Parallel multistream bzip2 (file input only): rounds of up to kRound compressed bytes cut at stream
  // starts, the streams of a round decoded on all threads, the output served in order.
  static constexpr size_t kRound = 16 << 20;
  bool par = false;
  uint64_t par_next = 0;  // file offset of the next round (a stream start)
  std::string par_out;
  size_t par_pos = 0;

  uint64_t consumed() const { return par ? par_next : fed - avail; }

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

  [[noreturn]] void fail(const std::string& what) const { fail_at(what, consumed(), produced); }
  [[noreturn]] void fail_at(const std::string& what, uint64_t compressed, uint64_t uncompressed) const {
    LM_THROW(ErrorCode::BadFormat, "{} {} data in {} at compressed byte {} (uncompressed byte {})", what,
             compression_name(comp), name, compressed, uncompressed);
  }

  // Offsets where a bzip2 stream starts: "BZh" + level digit + the 48-bit magic of a first block (pi) or of
  // an empty stream's end (sqrt(pi)). These are byte aligned only at stream starts.
  static std::vector<size_t> stream_starts(const char* p, size_t n) {
    static const unsigned char kBlock[6] = {0x31, 0x41, 0x59, 0x26, 0x53, 0x59};
    static const unsigned char kEnd[6] = {0x17, 0x72, 0x45, 0x38, 0x50, 0x90};
    std::vector<size_t> out;
    for (size_t i = 0; i + 10 <= n; ++i) {
      const char* q = static_cast<const char*>(std::memchr(p + i, 'B', n - 9 - i));
      if (!q) break;
      i = static_cast<size_t>(q - p);
      if (p[i + 1] == 'Z' && p[i + 2] == 'h' && p[i + 3] >= '1' && p[i + 3] <= '9' &&
          (std::memcmp(p + i + 4, kBlock, 6) == 0 || std::memcmp(p + i + 4, kEnd, 6) == 0))
        out.push_back(i);
    }
    return out;
  }

  struct UnitResult {
    std::string out;
    size_t used = 0;  // input bytes consumed when it stopped
    const char* error = nullptr;
  };

  // Decodes complete bzip2 streams back to back from [p, p + n).
  static UnitResult decode_unit(const char* p, size_t n) {
    UnitResult r;
    r.out.reserve(n * 5);
    size_t pos = 0;
    while (pos < n) {
      bz_stream z{};
      if (BZ2_bzDecompressInit(&z, 0, 0) != BZ_OK) {
        r.error = "out of memory in";
        return r;
      }
      int ret = BZ_OK;
      char tmp[1 << 16];
      while (ret == BZ_OK) {
        z.next_in = const_cast<char*>(p + pos);
        z.avail_in = static_cast<unsigned>(std::min<size_t>(n - pos, 1u << 30));
        z.next_out = tmp;
        z.avail_out = sizeof tmp;
        unsigned before = z.avail_in;
        ret = BZ2_bzDecompress(&z);
        pos += before - z.avail_in;
        r.out.append(tmp, sizeof tmp - z.avail_out);
        if (ret == BZ_OK && pos == n && z.avail_out != 0) {
          ret = BZ_UNEXPECTED_EOF;  // input ended inside the stream
        }
      }
      BZ2_bzDecompressEnd(&z);
      r.used = pos;
      if (ret != BZ_STREAM_END) {
        r.error = ret == BZ_UNEXPECTED_EOF     ? "truncated"
                  : ret == BZ_DATA_ERROR_MAGIC ? "bad stream magic in"
                                               : "corrupt";
        return r;
      }
    }
    return r;
  }

  struct Round {
    std::string out;
    uint64_t next = 0;  // file offset after the round
    bool end = false;   // nothing left to read
    const char* error = nullptr;
    uint64_t error_compressed = 0;  // absolute offset
    uint64_t error_out = 0;         // uncompressed bytes of this round before the error
  };

  // Decodes the round starting at file offset `at` (a stream start). Pure apart from pread: runs ahead on
  // another thread while the previous round is parsed.
  Round compute_round(uint64_t at) const {
    Round rd;
    size_t want = kRound;
    std::vector<char> piece;
    std::vector<size_t> starts;
    size_t cut = 0;
    for (;;) {
      piece.resize(want);
      size_t got = 0;
      while (got < want) {
        ssize_t r = ::pread(::fileno(file), piece.data() + got, want - got, static_cast<off_t>(at + got));
        if (r < 0 && errno == EINTR) continue;
        LM_CHECK(r >= 0, "cannot read {}: {}", name, std::strerror(errno));
        if (r == 0) break;
        got += static_cast<size_t>(r);
      }
      piece.resize(got);
      if (got == 0) {
        rd.end = true;
        return rd;
      }
      bool at_eof = got < want;
      starts = stream_starts(piece.data(), piece.size());
      if (starts.empty() || starts[0] != 0) {
        rd.error = "bad stream magic in";
        rd.error_compressed = at;
        return rd;
      }
      cut = at_eof ? piece.size() : (starts.size() > 1 ? starts.back() : 0);
      if (cut > 0) break;
      LM_CHECK_AS(ErrorCode::BadFormat, want < (size_t{1} << 30),
                  "bzip2 stream over 1 GiB in {} at compressed byte {}", name, at);
      want *= 2;  // one stream larger than the round
    }
    // Units of at least 1 MiB of whole streams.
    std::vector<std::pair<size_t, size_t>> units;
    size_t ub = 0;
    for (size_t s : starts) {
      if (s >= cut) break;
      if (s - ub >= (1u << 20)) {
        units.emplace_back(ub, s);
        ub = s;
      }
    }
    units.emplace_back(ub, cut);
    std::vector<UnitResult> res(units.size());
    parallel_for(static_cast<int64_t>(units.size()), [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) {
        auto [u0, u1] = units[static_cast<size_t>(i)];
        res[static_cast<size_t>(i)] = decode_unit(piece.data() + u0, u1 - u0);
      }
    });
    for (size_t i = 0; i < units.size(); ++i) {
      if (res[i].error) {
        // A false stream start inside compressed data (odds ~2^-80 per byte) would split a stream: decode the
        // rest of the round sequentially before calling it corrupt.
        UnitResult whole = decode_unit(piece.data() + units[i].first, cut - units[i].first);
        if (whole.error) {
          rd.error = whole.error;
          rd.error_compressed = at + units[i].first + whole.used;
          rd.error_out = rd.out.size() + whole.out.size();
          return rd;
        }
        rd.out += whole.out;
        break;
      }
      rd.out += res[i].out;
    }
    rd.next = at + cut;
    return rd;
  }

  std::future<Round> ahead;

  // Takes the next round (computed ahead when possible) and starts decoding the one after it.
  bool par_round() {
    Round rd = ahead.valid() ? ahead.get() : compute_round(par_next);
    if (rd.end) return false;
    if (rd.error) fail_at(rd.error, rd.error_compressed, produced + par_out.size() - par_pos + rd.error_out);
    par_out = std::move(rd.out);
    par_pos = 0;
    par_next = rd.next;
    ahead = std::async(std::launch::async, [this, at = rd.next] { return compute_round(at); });
    return true;
  }

  size_t read_bz2_parallel(char* out, size_t n) {
    while (par_pos == par_out.size()) {
      if (!par_round()) return 0;
    }
    size_t k = std::min(n, par_out.size() - par_pos);
    std::memcpy(out, par_out.data() + par_pos, k);
    par_pos += k;
    return k;
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
    // Several stream starts in the first chunk: a multistream file (like the pages-articles-multistream
    // dumps), decoded in parallel rounds.
    if (comp == Compression::Bzip2 && file && num_threads() > 1 && stream_starts(in, avail).size() >= 2) {
      par = true;
      avail = 0;
      eof = true;
    }
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
  // Small files (folders of short texts) get a buffer of their size, not the full chunk.
  impl_->buf.resize(std::clamp<size_t>(static_cast<size_t>(impl_->total_size) + 1, 4096, Impl::kChunk));
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
  if (impl_->ahead.valid()) impl_->ahead.wait();
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
      got = m.par ? m.read_bz2_parallel(out, n) : m.read_bz2(out, n);
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
