// `lmcpp bench-tokenize`: encode throughput (MB/s of UTF-8 input) of a tokenizer over the lines of text files,
// on one thread and on N threads (median of --repeat runs); bench/tokenize_bench.sh runs it next to tiktoken and
// HF tokenizers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "command.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/threads.h"
#include "lm/tokenize/batch.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

int run_bench_tokenize(Args& a) {
  std::string dir = a.require("--tokenizer");
  std::vector<std::string> inputs = a.get_all("--input");
  int threads = static_cast<int>(a.get_int("--threads", 0));
  int repeat = static_cast<int>(a.get_int("--repeat", 3));
  bool json = a.flag("--json");
  for (auto& p : a.positional()) inputs.push_back(p);
  a.positional().clear();
  a.finish();
  LM_CHECK(!inputs.empty(), "missing --input FILE..., in lmcpp bench-tokenize");
  LM_CHECK(repeat >= 1, "--repeat must be >= 1");
  if (threads <= 0) threads = hardware_threads();
  auto tok = load_tokenizer(dir);
  std::vector<std::string> lines;
  size_t bytes = 0;
  for (auto& f : inputs) {
    std::string text = read_file(f);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      lines.push_back(text.substr(pos, nl - pos));
      bytes += nl - pos;
      pos = nl + 1;
    }
  }
  auto run = [&](int nt, int64_t& tokens) {
    std::vector<double> secs;
    for (int r = 0; r < repeat; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      auto ids = encode_ids_batch(*tok, lines, false, nt);
      auto t1 = std::chrono::steady_clock::now();
      secs.push_back(std::chrono::duration<double>(t1 - t0).count());
      tokens = 0;
      for (auto& v : ids) tokens += static_cast<int64_t>(v.size());
    }
    std::sort(secs.begin(), secs.end());
    return bytes / 1e6 / secs[secs.size() / 2];
  };
  int64_t tokens = 0;
  double mbs1 = run(1, tokens);
  double mbsn = run(threads, tokens);
  if (json)
    std::printf("{\"tokenizer\": \"%s\", \"bytes\": %zu, \"lines\": %zu, \"tokens\": %lld, \"mb_per_s_1\": %.2f, "
                "\"mb_per_s_n\": %.2f, \"threads\": %d}\n",
                tok->type().c_str(), bytes, lines.size(), static_cast<long long>(tokens), mbs1, mbsn, threads);
  else
    std::printf("lmcpp %-9s %8.1f MB  %9lld tokens  1 thread: %7.2f MB/s  %d threads: %7.2f MB/s\n",
                tok->type().c_str(), bytes / 1e6, static_cast<long long>(tokens), mbs1, threads, mbsn);
  return 0;
}

LM_COMMAND("bench-tokenize", "tokenizer encode throughput in MB/s (1 thread and N threads)",
           "usage: lmcpp bench-tokenize --tokenizer DIR --input FILE... [--threads N] [--repeat R] [--json]\n"
           "  Encodes every line of the files (no special tokens), R times on 1 thread and on N threads (default:\n"
           "  all), and prints the median throughput in MB/s of UTF-8 input.",
           run_bench_tokenize);

}  // namespace
}  // namespace lm::cli
