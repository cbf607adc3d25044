// `lmcpp bench prefill|decode|membw`: inference throughput of a GPT on random weights at batch 1 through the
// real KV-cache path (CausalLM::forward_cached, as `lmcpp generate` runs it), and the machine's memory read bandwidth,
// which bounds decoding (every weight byte is read once per token). Medians over timed repetitions.
#include "bench_infer.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <cmath>
#include <vector>

#include "bench_util.h"
#include "lm/core/cpu_load.h"
#include "lm/interop/open.h"
#include "lm/core/buffer.h"
#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/core/file_util.h"
#include "lm/core/rng.h"
#include "lm/core/threads.h"
#include "lm/kernels/cpu/gemv.h"
#include "lm/models/model.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

using Clock = BenchClock;

struct Membw {
  double best_gbs = 0, median_gbs = 0;
};

// Read bandwidth: sums of a buffer far larger than the caches, best and median of `reps` passes.
Membw measure_membw(int64_t mb, int reps) {
  const int64_t n = mb * (int64_t{1} << 20) / 4;
  Buffer buf(static_cast<size_t>(n) * 4);
  float* p = buf.as<float>();
  // First touch on all threads (pages spread as the reads will be).
  parallel_for(n, [&](int64_t b, int64_t e, int) { std::fill(p + b, p + e, 1.0f); });
  std::vector<double> gbs;
  volatile double sink = 0;
  for (int r = 0; r < reps + 1; ++r) {
    auto t0 = Clock::now();
    sink = sink + cpu::read_sum(p, n);
    double dt = seconds_since(t0);
    if (r > 0) gbs.push_back(static_cast<double>(n) * 4 / dt / 1e9);
  }
  return {*std::max_element(gbs.begin(), gbs.end()), median(gbs)};
}

std::vector<int32_t> random_ids(int64_t n, int64_t V) {
  Rng rng(99);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = static_cast<int32_t>(rng.next_below(static_cast<uint64_t>(V)));
  return ids;
}

// Perplexity of `ids` through the decode path: windows of up to Tw tokens, each decoded one token at a time from
// an empty cache (teacher forcing), every token after a window's first one scored. Untimed.
double decode_perplexity(const models::CausalLM& model, const std::vector<int32_t>& ids, int64_t Tw, int64_t* scored) {
  const int64_t V = model.model().vocab_size();
  auto cache = model.make_kv_cache(1, Tw);
  double nll = 0;
  *scored = 0;
  for (size_t w0 = 0; w0 + 1 < ids.size(); w0 += static_cast<size_t>(Tw)) {
    const size_t w1 = std::min(ids.size(), w0 + static_cast<size_t>(Tw));
    cache->past = 0;
    for (size_t t = w0; t < w1; ++t) {
      model.forward_cached(Tensor(const_cast<int32_t*>(ids.data()) + t, Shape{1, 1}, DType::I32), *cache);
      if (t + 1 >= w1) break;
      const float* l = cache->logits.f32();
      const float mx = *std::max_element(l, l + V);
      double z = 0;
      for (int64_t v = 0; v < V; ++v) z += std::exp(static_cast<double>(l[v] - mx));
      nll += mx + std::log(z) - l[ids[t + 1]];
      ++*scored;
    }
  }
  return std::exp(nll / static_cast<double>(std::max<int64_t>(*scored, 1)));
}

int run_membw(Args& a) {
  const int threads = static_cast<int>(a.get_int("--threads", 0));
  const int64_t mb = a.get_int("--membw-mb", 512);
  const int64_t reps = a.get_int("--reps", 5);
  const bool json = a.flag("--json");
  a.finish();
  LM_CHECK(mb >= 1 && reps >= 1, "bench membw: --membw-mb and --reps must be positive");
  set_num_threads(threads);
  Membw m = measure_membw(mb, static_cast<int>(reps));
  if (json)
    std::printf("%s\n", OrderedJson{{"bench", "membw"},
                                      {"threads", num_threads()},
                                      {"buffer_mb", mb},
                                      {"read_gbs", m.best_gbs},
                                      {"read_gbs_median", m.median_gbs}}
                             .dump()
                             .c_str());
  else
    std::printf("membw threads=%d: read %.2f GB/s (best of %lld passes over %lld MB; median %.2f)\n", num_threads(),
                m.best_gbs, static_cast<long long>(reps), static_cast<long long>(mb), m.median_gbs);
  return 0;
}

}  // namespace

// The timed runs of bench prefill (one forward over the prompt) or decode (one forward per token, the team
// adapting to the load as generate's does): seconds per run after the warm-up.
std::vector<double> time_runs(models::CausalLM& model, models::KvCache& cache, const std::vector<int32_t>& ids,
                              bool prefill, int64_t warmup, int64_t reps, bool json) {
  const int64_t T = static_cast<int64_t>(ids.size());
  std::vector<double> times;
  for (int64_t r = 0; r < warmup + reps; ++r) {
    cache.past = 0;
    auto t0 = Clock::now();
    if (prefill) {
      model.forward_cached(Tensor(const_cast<int32_t*>(ids.data()), Shape{1, T}, DType::I32), cache);
    } else {
      AdaptiveThreads adapt;  // as generate decodes: the team leaves the cores other processes use
      for (int64_t t = 0; t < T; ++t) {
        adapt.step();
        model.forward_cached(Tensor(const_cast<int32_t*>(ids.data()) + t, Shape{1, 1}, DType::I32), cache);
      }
    }
    const double dt = seconds_since(t0);
    if (r >= warmup) times.push_back(dt);
    if (!json)
      std::fprintf(stderr, "%s rep %lld: %.1f ms (%.1f tokens/s)\n", prefill ? "prefill" : "decode",
                   static_cast<long long>(r), dt * 1e3, static_cast<double>(T) / dt);
  }
  return times;
}

int run_bench_infer(const std::string& what, Args& a) {
  if (what == "membw") return run_membw(a);
  const std::string shape = a.get_or("--shape", "124M");
  const std::string device = a.get_or("--device", "cpu");
  const int threads = static_cast<int>(a.get_int("--threads", 0));
  const std::string weights = a.get_or("--weights", "f32");
  const bool json = a.flag("--json");
  const int64_t reps = a.get_int("--reps", 5);
  const int64_t warmup = a.get_int("--warmup", 1);
  const int64_t T = what == "prefill" ? a.get_int("--prompt", 512) : a.get_int("--tokens", 128);
  const int64_t membw_mb = what == "decode" ? a.get_int("--membw-mb", 512) : 0;
  const auto save_dir = a.get("--save-model");
  const auto model_dir = a.get("--model");
  const std::string adapter = a.get_or("--adapter", "");
  const auto text_file = a.get("--text");
  const int64_t ppl_tokens = a.get_int("--ppl-tokens", 4096);
  a.finish();
  LM_CHECK(!text_file || model_dir, "--text needs --model (a trained model and its tokenizer)");
  LM_CHECK(adapter.empty() || model_dir, "--adapter needs --model (the model the adapter applies to)");
  LM_CHECK_AS(ErrorCode::Unsupported, device == "cpu", "--device {}: inference benchmarks run on the CPU", device);
  LM_CHECK(weights == "f32" || weights == "bf16", "--weights must be f32 or bf16, got '{}'", weights);
  LM_CHECK(reps >= 1 && warmup >= 0 && T >= 1, "bench {}: --reps, --warmup and the token count must be positive",
           what);
  set_num_threads(threads);
  // Random weights of a named shape, or a model directory (then --text can measure the decode perplexity).
  std::unique_ptr<models::Model> m;
  if (model_dir) {
    m = interop::load_model(*model_dir, adapter);
  } else {
    m = models::create_model(bench_model_config(shape));
    m->init_weights(1234);
  }
  LM_CHECK_AS(ErrorCode::Unsupported, m->causal_lm() != nullptr, "bench {} needs a causal language model (gpt2); "
              "{} is {}", what, model_dir ? *model_dir : shape, m->architecture());
  models::CausalLM& model = *m->causal_lm();
  const int64_t n_positions = m->max_positions();
  LM_CHECK(T <= n_positions, "bench {}: {} tokens exceed n_positions {}", what, T, n_positions);
  if (save_dir) m->save_hf(*save_dir);
  model.set_decode_dtype(weights == "bf16" ? DType::BF16 : DType::F32);
  std::vector<int32_t> ids = random_ids(T, m->vocab_size());
  double ppl = 0;
  int64_t ppl_scored = 0;
  if (text_file) {
    auto tok = interop::load_model_tokenizer(interop::tokenizer_source(*model_dir, adapter));
    std::vector<int32_t> text_ids = tok->encode(read_file(*text_file), false);
    if (static_cast<int64_t>(text_ids.size()) > ppl_tokens) text_ids.resize(static_cast<size_t>(ppl_tokens));
    LM_CHECK(text_ids.size() >= 2, "--text {}: fewer than 2 tokens", *text_file);
    ppl = decode_perplexity(model, text_ids, std::min<int64_t>(n_positions, 1024), &ppl_scored);
    if (static_cast<int64_t>(text_ids.size()) >= T) ids.assign(text_ids.begin(), text_ids.begin() + T);
  }
  auto cache = model.make_kv_cache(1, T);

  const LoadMeter meter;
  const std::vector<double> times = time_runs(model, *cache, ids, what == "prefill", warmup, reps, json);
  const std::optional<double> load = bench_load(meter);
  const std::string shape_name = model_dir ? *model_dir : shape;
  const double run_s = median(times);
  const double tps = static_cast<double>(T) / run_s;
  const double rss = peak_rss_mb();
  if (what == "prefill") {
    if (json)
      std::printf("%s\n", OrderedJson{{"bench", "prefill"}, {"shape", shape_name}, {"weights", weights},
                                        {"threads", num_threads()}, {"prompt_tokens", T}, {"tokens_per_s", tps},
                                        {"ms", run_s * 1e3}, {"peak_rss_mb", rss}, {"reps", reps},
                                        {"other_cpu_cores", load_json(load)}}
                               .dump()
                               .c_str());
    else
      std::printf("prefill %s weights=%s threads=%d: %lld tokens in %.1f ms = %.1f tokens/s (median of %lld), "
                  "peak RSS %.0f MB\n",
                  shape_name.c_str(), weights.c_str(), num_threads(), static_cast<long long>(T), run_s * 1e3, tps,
                  static_cast<long long>(reps), rss);
    if (!json) std::printf("%s\n", load_text(load).c_str());
    return 0;
  }
  // Bytes one decode step reads: the decode weights, the embedding rows, and the KV cache so far (f32),
  // averaged over the run's positions 0..T-1.
  const double kv_avg = static_cast<double>(model.kv_bytes_per_position()) * static_cast<double>(T + 1) / 2.0;
  const double bytes = static_cast<double>(model.decode_weight_bytes()) + kv_avg +
                       2.0 * static_cast<double>(model.hidden_size()) * 4.0;
  const Membw bw = measure_membw(membw_mb, 5);
  const double bound = bw.best_gbs * 1e9 / bytes;
  if (json) {
    OrderedJson j = {{"bench", "decode"}, {"shape", shape_name}, {"weights", weights}, {"threads", num_threads()},
                     {"tokens", T}, {"tokens_per_s", tps}, {"ms_per_token", run_s * 1e3 / static_cast<double>(T)},
                     {"peak_rss_mb", rss}, {"bytes_per_token", bytes}, {"membw_gbs", bw.best_gbs},
                     {"bound_tokens_per_s", bound}, {"fraction_of_bound", tps / bound},
                     {"gemv_bf16_isa", cpu::gemv_bf16_isa()}, {"reps", reps}, {"other_cpu_cores", load_json(load)}};
    if (text_file) {
      j["perplexity"] = ppl;
      j["perplexity_tokens"] = ppl_scored;
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("decode %s weights=%s threads=%d: %lld tokens, %.2f ms/token = %.1f tokens/s (median of %lld), "
                "peak RSS %.0f MB\n",
                shape_name.c_str(), weights.c_str(), num_threads(), static_cast<long long>(T), run_s * 1e3 / T, tps,
                static_cast<long long>(reps), rss);
    std::printf("read bandwidth %.2f GB/s, %.1f MB read per token: bound %.1f tokens/s, reached %.0f%%\n",
                bw.best_gbs, bytes / 1e6, bound, 100 * tps / bound);
    if (text_file)
      std::printf("decode perplexity of %s: %.4f over %lld tokens\n", text_file->c_str(), ppl,
                  static_cast<long long>(ppl_scored));
    std::printf("%s\n", load_text(load).c_str());
  }
  return 0;
}

}  // namespace lm::cli
