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
#include "lm/core/json.h"
#include "lm/core/file_util.h"
#include "lm/core/threads.h"
#include "lm/tokenize/batch.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

const CommandSpec kBenchTokenize{
    .name = "bench-tokenize",
    .summary = "tokenizer encode throughput in MB/s (1 thread and N threads)",
    .description = "Encodes every line of the files (no special tokens), R times on 1 thread and on N threads, and "
                   "prints the median throughput in MB/s of UTF-8 input.",
    .flags = {
        string_flag("--tokenizer", "DIR", "tokenizer directory").required(),
        repeated_flag("--input", "FILE", "text files; each line is one text").rest().required(),
        int_flag("--threads", "N", 0, "threads of the second measurement (0: all)"),
        int_flag("--repeat", "R", 3, "runs per measurement (the median is printed)"),
        bool_flag("--json", "one JSON line {\"tokenizer\", \"bytes\", \"lines\", \"tokens\", \"mb_per_s_1\", \"mb_per_s_n\", "
                            "\"threads\"}"),
    },
    .examples = {
        {.command = "lmcpp bench-tokenize --tokenizer ../shared/data/tokenizers/gpt2 --input ../shared/data/tinyshakespeare/input.txt --json"},
    },
};

int run_bench_tokenize(const Flags& f) {
  const std::string dir = f.str("--tokenizer");
  const std::vector<std::string>& inputs = f.all("--input");
  int threads = static_cast<int>(f.i64("--threads"));
  const int repeat = static_cast<int>(f.i64("--repeat"));
  const bool json = f.on("--json");
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
    std::printf("%s\n", OrderedJson{{"tokenizer", tok->type()},
                                      {"bytes", bytes},
                                      {"lines", lines.size()},
                                      {"tokens", tokens},
                                      {"mb_per_s_1", mbs1},
                                      {"mb_per_s_n", mbsn},
                                      {"threads", threads}}
                             .dump()
                             .c_str());
  else
    std::printf("lmcpp %-9s %8.1f MB  %9lld tokens  1 thread: %7.2f MB/s  %d threads: %7.2f MB/s\n",
                tok->type().c_str(), bytes / 1e6, static_cast<long long>(tokens), mbs1, threads, mbsn);
  return 0;
}

LM_DECLARE_COMMAND(kBenchTokenize, run_bench_tokenize);

}  // namespace
}  // namespace lm::cli
