// Test helpers implementation.
#include "harness/harness.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "lm/core/file_util.h"

namespace lm::test {

namespace fs = std::filesystem;

std::string source_dir() { return LM_SOURCE_DIR; }
std::string binary_dir() { return LM_BINARY_DIR; }
std::string lmcpp_bin() { return std::string(LM_BINARY_DIR) + "/lmcpp"; }

std::string shared_data_dir() {
  if (const char* e = std::getenv("LM_SHARED_DATA")) {
    if (fs::is_directory(e)) return e;
  }
  fs::path p = fs::path(LM_SOURCE_DIR).parent_path() / "shared" / "data";
  if (fs::is_directory(p)) return p.string();
  return "";
}

std::string temp_dir(const std::string& name) {
  fs::path p = fs::path(LM_BINARY_DIR) / "test_tmp" / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

void fill_normal(float* x, int64_t n, uint64_t seed, float std) {
  Rng r(seed, 7);
  for (int64_t i = 0; i < n; ++i) x[i] = std * r.normal(static_cast<uint64_t>(i));
}

void fill_uniform(float* x, int64_t n, uint64_t seed, float lo, float hi) {
  Rng r(seed, 9);
  for (int64_t i = 0; i < n; ++i) x[i] = lo + (hi - lo) * r.uniform(static_cast<uint64_t>(i));
}

std::vector<float> random_vec(int64_t n, uint64_t seed, float std) {
  std::vector<float> v(static_cast<size_t>(n));
  fill_normal(v.data(), n, seed, std);
  return v;
}

double rel_error(const float* a, const float* b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = static_cast<double>(a[i]) - b[i];
    num += d * d;
    den += static_cast<double>(b[i]) * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

double max_abs_diff(const float* a, const float* b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
  return m;
}

static std::string drain(int fd) {
  std::string s;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<size_t>(n));
  return s;
}

CliResult run_cli(const std::vector<std::string>& args, const std::string& input) {
  // A CLI that exits early on bad input closes its stdin; writing the rest must not kill the test process.
  std::signal(SIGPIPE, SIG_IGN);
  int in_p[2], out_p[2], err_p[2];
  if (::pipe(in_p) || ::pipe(out_p) || ::pipe(err_p)) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in_p[0], 0);
    ::dup2(out_p[1], 1);
    ::dup2(err_p[1], 2);
    for (int fd : {in_p[0], in_p[1], out_p[0], out_p[1], err_p[0], err_p[1]}) ::close(fd);
    std::vector<char*> argv;
    std::string bin = lmcpp_bin();
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(in_p[0]);
  ::close(out_p[1]);
  ::close(err_p[1]);
  std::thread writer([&] {
    size_t off = 0;
    while (off < input.size()) {
      ssize_t n = ::write(in_p[1], input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(in_p[1]);
  });
  CliResult r;
  std::thread err_reader([&] { r.err = drain(err_p[0]); });
  r.out = drain(out_p[0]);
  err_reader.join();
  writer.join();
  ::close(out_p[0]);
  ::close(err_p[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

}  // namespace lm::test
