// Shared pieces of the `lmcpp bench` modes (train, prefill/decode/membw, bert): timing, peak RSS, medians and the
// GPT benchmark shapes.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "lm/core/cpu_load.h"
#include "lm/core/error.h"
#include "lm/core/profile.h"
#include "lm/core/threads.h"
#include "lm/core/json.h"
#include "lm/models/model.h"

namespace lm::cli {

using BenchClock = std::chrono::steady_clock;

inline double seconds_since(BenchClock::time_point t0) {
  return std::chrono::duration<double>(BenchClock::now() - t0).count();
}

inline double peak_rss_mb() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The load other processes put on the machine while the benchmark ran (cores, averaged; nullopt where unknown):
// every bench reports it, "other_cpu_cores" in --json, and warns on stderr when it is not an idle-machine number.
inline std::optional<double> bench_load(const LoadMeter& meter) {
  const std::optional<double> load = meter.other_cores();
  if (load && *load >= 0.25)
    std::fprintf(stderr,
                 "lmcpp: warning: other processes used %.2f of the %d cores while this benchmark ran: its numbers are "
                 "not an idle machine's\n", *load, hardware_threads());
  return load;
}
inline Json load_json(const std::optional<double>& load) { return load ? Json(*load) : Json(nullptr); }
inline std::string load_text(const std::optional<double>& load) {
  char buf[96];
  if (!load) return "machine load: unknown";
  std::snprintf(buf, sizeof buf, "machine load: other processes used %.2f of %d cores", *load, hardware_threads());
  return buf;
}

// The HF config of a benchmark shape, dropout off: S (vocab 50304, 6 layers, 6 heads, 384), 124M (GPT-2 small),
// 124M-pad (its vocabulary padded to 50304, a multiple of 64, as llm.c trains it: the LM head's GEMMs then have
// aligned leading dimensions, what tensor-core GEMM kernels want on a GPU), small (the quickstart's 4-layer,
// 256-wide GPT with a 4096-token vocabulary; T 128), tiny (tests).
inline Json bench_model_config(const std::string& shape) {
  Json c = {{"model_type", "gpt2"}, {"n_positions", 1024}, {"resid_pdrop", 0.0}, {"embd_pdrop", 0.0},
            {"attn_pdrop", 0.0}};
  auto set = [&](int64_t V, int64_t L, int64_t NH, int64_t C) {
    c["vocab_size"] = V, c["n_layer"] = L, c["n_head"] = NH, c["n_embd"] = C;
  };
  if (shape == "S") {
    set(50304, 6, 6, 384);
  } else if (shape == "124M" || shape == "124M-pad") {
    set(shape == "124M" ? 50257 : 50304, 12, 12, 768);
  } else if (shape == "small") {  // the quickstart's model: 4 layers, 256 wide, a 4096-token vocabulary
    set(4096, 4, 4, 256);
  } else if (shape == "tiny") {
    set(512, 2, 4, 64);
    c["n_positions"] = 256;
  } else if (shape == "bert-base") {
    LM_THROW(ErrorCode::Unsupported, "--shape bert-base is the shape of `lmcpp bench classify`; train, prefill and "
             "decode run GPT shapes (S, 124M, tiny)");
  } else {
    LM_THROW(ErrorCode::InvalidArgument, "--shape {} is not one of S, 124M, 124M-pad, small, tiny", shape);
  }
  return c;
}

// The --profile table: per op class, ms per timed step (mean) and share of the mean step; "other" is the rest
// (zeroing, copies, heads, ...). To stderr so --json stays one line on stdout.
inline void print_profile(const std::vector<double>& times, const char* unit) {
  double total = 0, accounted = 0;
  for (double t : times) total += t;
  total /= static_cast<double>(times.size());
  std::fprintf(stderr, "profile (ms per %s, mean of %zu timed %ss):\n", unit, times.size(), unit);
  for (size_t i = 0; i < static_cast<size_t>(prof::Op::Count); ++i) {
    double ms = prof::totals().seconds[i] / static_cast<double>(times.size());
    if (ms == 0) continue;
    accounted += ms;
    std::fprintf(stderr, "  %-16s %9.1f ms %5.1f%%\n", prof::op_name(static_cast<prof::Op>(i)), ms * 1e3,
                 100 * ms / total);
  }
  std::fprintf(stderr, "  %-16s %9.1f ms %5.1f%%\n  %-16s %9.1f ms\n", "other", (total - accounted) * 1e3,
               100 * (total - accounted) / total, unit, total * 1e3);
}

}  // namespace lm::cli
