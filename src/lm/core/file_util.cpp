// Atomic writes (temp + fsync + rename) and small file helpers.
#include "lm/core/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "lm/core/error.h"

namespace lm {

namespace fs = std::filesystem;

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  std::random_device rd;
  tmp_ = fmt::format("{}.tmp-{}-{:x}", path_, ::getpid(), rd());
  f_ = std::fopen(tmp_.c_str(), "wb");
  LM_CHECK_AS(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::InvalidArgument, f_ != nullptr,
              "cannot create {}: {}", path_, std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (f_) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
}

void AtomicFile::write(const void* data, size_t n) {
  LM_ASSERT(f_ != nullptr, "write after commit");
  if (n && std::fwrite(data, 1, n, f_) != n)
    LM_THROW(ErrorCode::Internal, "write to {} failed: {}", path_, std::strerror(errno));
}

void AtomicFile::commit() {
  LM_ASSERT(f_ != nullptr, "double commit");
  bool ok = std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0;
  int e = errno;
  ok = (std::fclose(f_) == 0) && ok;
  f_ = nullptr;
  if (!ok) {
    std::remove(tmp_.c_str());
    LM_THROW(ErrorCode::Internal, "cannot write {}: {}", path_, std::strerror(e));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    e = errno;
    std::remove(tmp_.c_str());
    LM_THROW(ErrorCode::Internal, "cannot rename {} to {}: {}", tmp_, path_, std::strerror(e));
  }
  fs::path parent = fs::path(path_).parent_path();
  fsync_dir(parent.empty() ? "." : parent.string());
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

std::string read_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  LM_CHECK_AS(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::InvalidArgument, f != nullptr,
              "cannot open {}: {}", path, std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  bool err = std::ferror(f);
  std::fclose(f);
  LM_CHECK(!err, "cannot read {}", path);
  return out;
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  LM_CHECK(!ec && fs::is_directory(path), "cannot create directory {}: {}", path, ec.message());
}

std::string path_join(const std::string& a, const std::string& b) { return (fs::path(a) / b).string(); }

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace lm
