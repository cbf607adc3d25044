// `lmcpp bench classify [--shape bert-base]`: inference throughput of a sequence classifier (BERT-base with 2
// labels) on random weights and random ids, batch B of full-length sequences (no padding), eval mode (no
// dropout). Reports sequences/s and tokens/s (median over timed batches), peak RSS, and the fraction of the
// measured sgemm peak (the model's forward FLOPs per token).
#include "bench_classify.h"
#include "bench_util.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "lm/core/buffer.h"
#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/core/rng.h"
#include "lm/core/threads.h"
#include "lm/models/model.h"
#include "lm/train/flops.h"

namespace lm::cli {

int run_bench_classify(Args& a) {
  std::string shape = a.get_or("--shape", "bert-base");
  std::string device = a.get_or("--device", "cpu");
  int threads = static_cast<int>(a.get_int("--threads", 0));
  bool json = a.flag("--json");
  bool profile = a.flag("--profile");
  int64_t steps = a.get_int("--steps", 10);
  int64_t warmup = a.get_int("--warmup", 2);
  int64_t B = a.get_int("--batch", 32);
  int64_t T = a.get_int("--seq", 128);
  const std::string weights = a.get_or("--weights", "f32");
  a.finish();
  const DType wdt = parse_bert_weights(weights);
  LM_CHECK_AS(ErrorCode::Unsupported, device == "cpu", "--device {}: this build has only the CPU backend", device);
  LM_CHECK(shape == "bert-base" || shape == "bert-tiny", "bench classify: --shape {} is not bert-base or bert-tiny",
           shape);
  LM_CHECK(steps >= 1 && warmup >= 0 && B >= 1 && T >= 1 && T <= 512,
           "bench classify: steps and batch must be positive and seq in [1, 512]");
  set_num_threads(threads);

  Json j = Json::object();
  j["model_type"] = "bert";
  j["architectures"] = Json::array({"BertForSequenceClassification"});
  if (shape == "bert-tiny") {  // for tests: 2 layers, C 64
    j["hidden_size"] = 64;
    j["num_hidden_layers"] = 2;
    j["num_attention_heads"] = 2;
    j["intermediate_size"] = 256;
  }
  double peak = train::measure_sgemm_peak();
  std::unique_ptr<models::Model> m = models::create_model(j);
  models::Model& model = *m;
  LM_CHECK(T <= model.max_positions(), "bench classify: --seq {} exceeds the model's {} positions", T,
           model.max_positions());
  model.init_weights(1234);
  model.set_inference_dtype(wdt);
  OwnedTensor ids(Shape{B, T}, DType::I32);
  Rng rng(7);
  for (int64_t i = 0; i < B * T; ++i)
    ids.t.ptr<int32_t>()[i] = static_cast<int32_t>(rng.next_below(static_cast<uint64_t>(model.vocab_size())));
  models::Batch batch;
  batch.input_ids = ids.t;
  std::vector<double> times;
  prof::totals() = prof::Totals{};
  const LoadMeter meter;
  for (int64_t s = 0; s < warmup + steps; ++s) {
    prof::totals().enabled = profile && s >= warmup;  // the profile covers the timed batches only
    auto t0 = BenchClock::now();
    model.forward(batch);
    const double dt = seconds_since(t0);
    if (s >= warmup) times.push_back(dt);
    if (!json) std::fprintf(stderr, "batch %lld: %.1f ms\n", static_cast<long long>(s), dt * 1e3);
  }
  prof::totals().enabled = false;
  const std::optional<double> load = bench_load(meter);
  if (profile) print_profile(times, "batch");
  const double step_s = median(times);
  const double flops_per_token = model.forward_flops_per_token(T);
  const double tps = static_cast<double>(B * T) / step_s;
  const double rss_mb = peak_rss_mb();
  // Probed again after the timed batches (and after reading the peak RSS, which its matrices would raise): one
  // probe in a slow minute would understate the peak.
  peak = std::max(peak, train::measure_sgemm_peak());
  const double frac = tps * flops_per_token / peak;
  if (json) {
    const OrderedJson j = {{"bench", "classify"},
                           {"shape", shape},
                           {"batch", B},
                           {"seq", T},
                           {"threads", num_threads()},
                           {"weights", weights},
                           {"sequences_per_s", static_cast<double>(B) / step_s},
                           {"tokens_per_s", tps},
                           {"batch_ms", step_s * 1e3},
                           {"peak_rss_mb", rss_mb},
                           {"mfu", frac},
                           {"sgemm_peak_gflops", peak / 1e9},
                           {"params", model.num_parameters()},
                           {"other_cpu_cores", load_json(load)}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("classify %s %s weights B=%lld T=%lld threads=%d: %.2f sequences/s, %.1f tokens/s (%.1f ms/batch, median of %lld), "
                "peak RSS %.0f MB\n", shape.c_str(), weights.c_str(), static_cast<long long>(B), static_cast<long long>(T),
                num_threads(), static_cast<double>(B) / step_s, tps, step_s * 1e3, static_cast<long long>(steps),
                rss_mb);
    std::printf("%.1f%% of the measured sgemm peak %.1f GFLOP/s%s\n", 100 * frac, peak / 1e9,
                wdt == DType::F32 ? "" : " (bf16 / int8 GEMMs: compare with the bf16 / int8 matmul peak, not this)");
    std::printf("%s\n", load_text(load).c_str());
  }
  return 0;
}

}  // namespace lm::cli
