// Files the tools write are written to a temporary name in the same directory, fsynced, then renamed, so a
// crash never leaves a half-written output. AtomicFile is that protocol; read_file/write_file_atomic wrap it.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace lm {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temporary file if commit() was not called
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // fsync, close, rename over the final path, fsync the directory.
  void commit();
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
};

void write_file_atomic(const std::string& path, std::string_view content);
std::string read_file(const std::string& path);
bool file_exists(const std::string& path);
bool is_directory(const std::string& path);
// mkdir -p
void make_dirs(const std::string& path);
std::string path_join(const std::string& a, const std::string& b);
// fsync a directory so that renames inside it are durable.
void fsync_dir(const std::string& dir);

}  // namespace lm
