// The training loop: one optimizer step over grad_accum micro-batches per rank (the loss is a mean over the
// global step: each micro-batch's backward is scaled by its weight over the global weight), gradient reduction,
// the NaN/Inf guard, AdamW on the schedule, metrics and progress, periodic evaluation with best-model selection
// and early stopping, checkpoints. Determinism: the data order is a function of (seed, epoch, step), dropout
// masks of (seed, step, rank, micro-batch), and CPU kernels are bitwise reproducible for a thread count, so a
// resumed run continues exactly as an uninterrupted one would.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/log.h"
#include "lm/core/progress.h"
#include "lm/core/threads.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/flops.h"
#include "lm/train/trainer_impl.h"

namespace lm::train {

std::atomic<bool> g_stop_requested{false};

Json Trainer::train_step(double peak) {
  auto t0 = std::chrono::steady_clock::now();
  const CommStats comm0 = comm_.stats();
  const int64_t K = cfg_.grad_accum;
  // Weights of all micro-batches (of all ranks) first: the loss is a mean over the global step (causal LM: over
  // every target token, so each micro-batch's backward is scaled by 1 / (global targets), not 1 / its own).
  std::vector<double> weight(static_cast<size_t>(K));
  double totals[2] = {0, 0};  // Σ weight, Σ tokens; exact: integers far below 2^53
  for (int64_t k = 0; k < K; ++k) {
    totals[0] += weight[static_cast<size_t>(k)] = obj_->fetch(k);
    totals[1] += static_cast<double>(obj_->tokens(k));
  }
  comm_.all_reduce_sum(totals, 2);
  const double total = totals[0];
  model().zero_grad();
  double loss_sum = 0;
  Json parts = Json::object();
  double parts_n = 0;
  for (int64_t k = 0; k < K; ++k) {
    const double w = weight[static_cast<size_t>(k)];
    if (w <= 0) continue;  // an empty micro-batch (an epoch's last batch split over more ranks than it fills)
    // Dropout masks: a distinct stream per (step, rank, micro-batch), reproducible on resume. Ranks get their
    // own streams so data-parallel workers never share masks.
    const uint64_t stream = static_cast<uint64_t>((step_ * world_ + rank_) * K + k);
    const float l = model().forward(obj_->batch(k), {true, cfg_.seed, stream});
    const Json lp = model().loss_parts();
    for (auto& [name, v] : lp.items()) {
      const double sum = parts.value(name, 0.0) + v.get<double>();
      parts[name] = sum;
    }
    parts_n += 1;
    model().backward(static_cast<float>(w / (total * model().loss_weight())));
    loss_sum += l * w;
  }
  comm_.all_reduce_sum(&loss_sum, 1);
  Json m{{"step", step_ + 1}, {"loss", total > 0 ? loss_sum / total : NAN}};
  if (!parts.empty()) {  // the loss's parts, means over the step's micro-batches
    std::vector<double> acc;
    for (auto& [name, v] : parts.items()) acc.push_back(v.get<double>());
    acc.push_back(parts_n);
    comm_.all_reduce_sum(acc.data(), static_cast<int64_t>(acc.size()));
    size_t i = 0;
    for (auto& [name, v] : parts.items()) v = acc[i++] / acc.back();
  }
  const double loss = m["loss"].get<double>(), lr = cfg_.schedule.at(step_);
  const double gnorm = reduce_gradients();
  if (!std::isfinite(loss) || !std::isfinite(gnorm)) {
    ++nonfinite_streak_;
    log_warn("step {}: non-finite loss or gradient (loss {}, grad norm {}); update skipped", step_ + 1, loss, gnorm);
    LM_CHECK_AS(ErrorCode::Internal, nonfinite_streak_ < cfg_.max_nonfinite,
                "training diverged: {} consecutive non-finite steps up to step {}; the weights of the last "
                "checkpoint are intact (lower lr or raise warmup_steps)",
                nonfinite_streak_, step_ + 1);
    model().zero_grad();
    m = {{"step", step_ + 1}, {"event", "skipped_nonfinite"},
         {"loss", std::isfinite(loss) ? Json(loss) : Json(nullptr)},
         {"grad_norm", std::isfinite(gnorm) ? Json(gnorm) : Json(nullptr)}};
  } else {
    nonfinite_streak_ = 0;
    if (cfg_.zero) {
      opt_->update(static_cast<float>(lr), gnorm);
      gather_params();
    } else {
      opt_->step(static_cast<float>(lr));
    }
  }
  device_synchronize(cfg_.device);  // GPU kernels are asynchronous: the step ends when the device is done
  ++step_;
  const int64_t step_tokens = static_cast<int64_t>(totals[1]);
  tokens_ += step_tokens;
  if (m.contains("event")) return m;
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double tps = static_cast<double>(step_tokens) / dt;
  const double mfu = peak > 0 ? tps * model().train_flops_per_token(obj_->seq_len()) / peak / world_ : 0.0;
  m = {{"step", step_}, {"loss", loss}, {"lr", lr}, {"grad_norm", gnorm}, {"tokens", tokens_}, {"tokens_per_s", tps},
       {"mfu", mfu}};
  if (obj_->steps_per_epoch() > 0) m["epoch"] = (step_ - 1) / obj_->steps_per_epoch() + 1;
  for (auto& [k, v] : parts.items()) m[k] = v;
  if (world_ > 1) {  // this rank's collective traffic (ring-algorithm bytes sent) and time blocked in them
    m["comm_bytes"] = comm_.stats().bytes - comm0.bytes;
    m["comm_s"] = comm_.stats().seconds - comm0.seconds;
  }
  return m;
}

bool Trainer::evaluate_and_select(TrainResult& res) {
  const Json ev = obj_->evaluate(model());
  const std::string key = obj_->best_metric();
  const double metric = ev.is_object() && ev.contains(key) ? ev.at(key).get<double>() : NAN;
  if (!std::isfinite(metric)) return false;
  const bool improved = better(metric);
  Json line{{"step", step_}};
  if (obj_->steps_per_epoch() > 0) line["epoch"] = (step_ - 1) / obj_->steps_per_epoch() + 1;
  std::string extra;
  for (auto& [k, v] : ev.items()) {
    line[k] = v;
    if (k != key && k.rfind("val_", 0) == 0 && v.is_number() && k != "val_loss" && k.find("perplexity") == k.npos)
      extra += v.is_number_integer() ? fmt::format(", {} {}", k.substr(4), format_count(v.get<int64_t>()))
                                     : fmt::format(", {} {:.4f}", k.substr(4), v.get<double>());  // counts whole
  }
  if (metrics_) metrics_->write(line);
  res.evals.push_back(line);
  if (ev.contains("val_perplexity"))
    extra = fmt::format(" (perplexity {:.2f})", ev["val_perplexity"].get<double>()) + extra;
  else if (ev.contains("val_mlm_perplexity"))
    extra = fmt::format(" (MLM perplexity {:.2f})", ev["val_mlm_perplexity"].get<double>()) + extra;
  if (key != "val_loss" && ev.contains("val_loss") && ev["val_loss"].is_number())
    extra = fmt::format(" (loss {:.4f})", ev["val_loss"].get<double>()) + extra;
  log_info("step {}: {} {:.4f}{}{}", step_, key == "val_loss" ? "val loss" : key.substr(4), metric, extra,
           improved ? " best so far" : "");
  if (improved) {
    best_metric_ = metric;
    best_step_ = step_;
    bad_evals_ = 0;
    res.best_eval = line;
    if (rank_ == 0 && cfg_.keep_best && !job_.out_is_best)
      write_dir_atomically(path_join(out_, "best"), [&](const std::string& d) { save_model_dir(d); });
    if (rank_ == 0 && job_.out_is_best) save_model_dir(out_);
  } else if (++bad_evals_ >= cfg_.early_stopping_patience && cfg_.early_stopping_patience > 0) {
    log_info("early stopping at step {}: no improvement of {} > {} in {} evals", step_, key,
             cfg_.early_stopping_min_delta, bad_evals_);
    return true;
  }
  return false;
}

namespace {

// The MFU denominator: the machine's sgemm peak on CPU (re-measured at each evaluation and the best kept, so a
// peak read while other work held the cores does not inflate MFU for the whole run); on a GPU the datasheet peak
// of the mode (f32: fp32 CUDA cores, no TF32; bf16: dense bf16 tensor cores), 0 (no MFU) for unknown GPUs.
double hardware_peak(const TrainConfig& cfg, std::string* desc) {
  if (cfg.device == Device::CPU) {
    const double peak = measure_sgemm_peak();
    *desc = fmt::format("sgemm peak {:.0f} GFLOP/s", peak / 1e9);
    return peak;
  }
  const std::string gpu = cuda_device_name(0);
  const bool bf16 = cfg.dtype == DType::BF16;
  const double peak = bf16 ? gpu_dense_bf16_peak_flops(gpu) : gpu_fp32_peak_flops(gpu);
  const char* what = bf16 ? "dense bf16" : "fp32";
  *desc = peak > 0 ? fmt::format("GPU {} ({} peak {:.1f} TFLOP/s)", gpu, what, peak / 1e12)
                   : fmt::format("GPU {} (no {} peak known: MFU reported as 0)", gpu, what);
  return peak;
}

}  // namespace

void Trainer::setup(TrainResult& res) {
  LM_CHECK_AS(ErrorCode::Unsupported, cfg_.device == Device::CPU || world_ == 1,
              "train config: \"device\": \"cuda\" runs on one process; multi-GPU data parallel (NCCL) is not "
              "implemented ({} ranks were started)", world_);
  LM_CHECK_AS(ErrorCode::Unsupported, cfg_.device == Device::CPU || cuda_device_count() > 0,
              "train config: \"device\": \"cuda\" but no CUDA device is visible (driver or GPU missing)");
  set_num_threads(cfg_.threads);
  if (rank_ != 0 && log_level() < LogLevel::Warn) set_log_level(LogLevel::Warn);  // rank 0 speaks for the job
  if (rank_ == 0) make_dirs(out_);
  if (!cfg_.data.empty()) {
    const std::string meta_path = path_join(cfg_.data, "meta.json");
    LM_CHECK_AS(ErrorCode::NotFound, file_exists(meta_path), "{} not found: \"data\" must be a directory written by "
                "lmcpp prepare", meta_path);
    data_meta_ = read_json_file(meta_path);
    std::string tdir = path_join(cfg_.data, data_meta_.value("tokenizer_dir", std::string("tokenizer")));
    if (has_tokenizer_files(tdir)) tokenizer_dir_ = tdir;
  }
  if (!job_.tokenizer_dir.empty()) tokenizer_dir_ = job_.tokenizer_dir;

  int64_t resume_step = -1;
  std::string resume_dir = newest_checkpoint(out_, &resume_step);
  if (world_ > 1) {  // rank 0's choice, so that no rank resumes from a different checkpoint
    comm_.broadcast(&resume_step, sizeof resume_step, 0);
    resume_dir = resume_step < 0 ? "" : path_join(path_join(out_, "checkpoints"), step_dir_name(resume_step));
  }
  if (!resume_dir.empty()) {  // a changed run must not quietly continue the old one
    const std::vector<std::string> changes = resume_config_changes(out_, cfg_.raw);
    LM_CHECK(changes.empty(), "{} holds a run with another config ({}): resume it with the same config, or start "
             "afresh in another directory", out_, fmt::join(changes, "; "));
  }
  build_model(resume_dir);
  obj_ = job_.objective ? job_.objective(model(), comm_)
                        : make_pretraining_objective(cfg_, data_meta_, tokenizer_dir_, model(), comm_);
  best_metric_ = obj_->higher_is_better() ? -INFINITY : INFINITY;
  if (job_.epochs > 0) {
    const int64_t per_epoch = obj_->steps_per_epoch();
    LM_CHECK(per_epoch > 0, "the {} objective has no epochs", obj_->name());
    cfg_.max_steps = job_.epochs * per_epoch;
    cfg_.eval_every = per_epoch;
    if (cfg_.save_every <= 0) cfg_.save_every = per_epoch;
    cfg_.schedule.max_steps = cfg_.max_steps;
    cfg_.schedule.warmup_steps = static_cast<int64_t>(std::ceil(job_.warmup_ratio * static_cast<double>(cfg_.max_steps)));
    cfg_.schedule.validate();
  }
  setup_optimizer();
  if (!resume_dir.empty()) {
    res.resumed_from = resume_step;
    restore_state(resume_dir, read_json_file(path_join(resume_dir, "trainer_state.json")));
  }
  if (rank_ == 0) {  // only rank 0 writes OUT; the others log nothing
    write_file_atomic(path_join(out_, "train_config.json"), cfg_.raw.dump(2) + "\n");
    metrics_ = std::make_unique<MetricsLog>(out_, resume_dir.empty() ? -1 : step_);
  }
  fresh_ = resume_dir.empty();
}

TrainResult Trainer::run() {
  TrainResult res;
  setup(res);
  auto plot = [&] {
    if (metrics_) metrics_->plot("lmcpp " + job_.title + ": " + out_);
  };
  std::string peak_desc;
  double peak = hardware_peak(cfg_, &peak_desc);
  const int64_t B = cfg_.batch_size, T = obj_->seq_len(), K = cfg_.grad_accum;
  log_info("model: {}, {} parameters ({:.2f}M); objective {}; data: {}; batch {}x{}x{}x{} ranks = {} "
           "tokens/step; {} threads/rank; {}",
           model().model_type(), model().num_parameters(), model().num_parameters() / 1e6, obj_->name(),
           obj_->data_summary(), B, T, K, world_, B * T * K * world_, num_threads(), peak_desc);
  if (world_ > 1)
    log_info("data parallel: {} ranks ({} backend){}, collective timeout {} s", world_, comm_.backend(),
             cfg_.zero ? ", ZeRO stage 1" : "", comm_.timeout_s());
  if (fresh_ && metrics_)
    metrics_->write({{"event", "start"}, {"model_type", model().model_type()}, {"objective", obj_->name()},
                     {"parameters", model().num_parameters()}, {"tokens_per_step", B * T * K * world_},
                     {"threads", num_threads()}, {"world_size", world_}, {"zero", cfg_.zero}});

  Progress progress(job_.title, static_cast<double>(cfg_.max_steps - step_), "steps",
                    job_.progress ? 10.0 : 1e30);
  auto t_start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return elapsed_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  };
  const int64_t first_step = step_;
  double last_loss = NAN;
  for (bool last = false; step_ < cfg_.max_steps && !last;) {
    Json m = train_step(peak);
    if (!m.contains("event")) {
      last_loss = m["loss"].get<double>();
      m["elapsed_s"] = elapsed();
    }
    res.losses.push_back(static_cast<float>(m["loss"].is_number() ? m["loss"].get<double>() : NAN));
    if (metrics_ && (m.contains("event") || step_ % cfg_.log_every == 0 || step_ == cfg_.max_steps))
      metrics_->write(m);
    if (rank_ == 0 && job_.progress && !m.contains("event"))
      progress.update(static_cast<double>(step_ - first_step),
                      fmt::format("step {}/{} loss {:.4f} lr {:.2e} {:.0f} tok/s MFU {:.1f}%", step_, cfg_.max_steps,
                                  last_loss, m["lr"].get<double>(), m["tokens_per_s"].get<double>(),
                                  100 * m["mfu"].get<double>()));
    last = step_ >= cfg_.max_steps || (cfg_.max_tokens > 0 && tokens_ >= cfg_.max_tokens);
    // Wall time and Ctrl-C are per process: rank 0 decides for everyone.
    int8_t flags[2] = {static_cast<int8_t>(cfg_.max_time_s > 0 && elapsed() >= cfg_.max_time_s),
                       static_cast<int8_t>(g_stop_requested.load())};
    comm_.broadcast(flags, sizeof flags, 0);
    last = last || flags[0] || flags[1];
    res.interrupted = res.interrupted || flags[1];
    if ((cfg_.eval_every > 0 && step_ % cfg_.eval_every == 0) || last) {
      if (cfg_.device == Device::CPU) peak = std::max(peak, measure_sgemm_peak());
      if (evaluate_and_select(res)) last = res.early_stopped = true;
      plot();
    }
    if ((cfg_.save_every > 0 && step_ % cfg_.save_every == 0) || last) {
      elapsed_before_ = elapsed();
      t_start = std::chrono::steady_clock::now();
      save_checkpoint(step_);
    }
    // Test hook for the resume test: a real SIGKILL at a chosen step, between checkpoints.
    if (const char* k = std::getenv("LM_TEST_KILL_AT_STEP"); k && std::atoll(k) == step_) std::raise(SIGKILL);
    // Test hook for the collective watchdog: this process stops taking part (a hung rank).
    if (const char* h = std::getenv("LM_TEST_HANG_AT_STEP"); h && std::atoll(h) == step_)
      for (;;) ::pause();
  }
  if (step_ == first_step && step_ >= cfg_.max_steps) log_info("nothing to do: already at step {}", step_);
  if (rank_ == 0 && job_.progress) progress.finish(fmt::format("loss {:.4f}", last_loss));
  plot();
  res.steps = step_;
  res.rank = rank_;
  res.world_size = world_;
  res.last_loss = last_loss;
  res.best_val_loss = best_metric_;
  res.best_metric = obj_->best_metric();
  res.best_step = best_step_;
  res.train_seconds = elapsed();
  return res;
}

TrainResult run_training(const TrainConfig& cfg, const std::string& out_dir, const TrainJob& job) {
  std::unique_ptr<Communicator> comm = make_communicator();
  Trainer t(cfg, out_dir, job, *comm);
  if (comm->world_size() == 1) return t.run();
  try {
    return t.run();
  } catch (const std::exception& e) {
    // The other ranks are (or will be) blocked in a collective: say why and end the whole job.
    const auto* le = dynamic_cast<const Error*>(&e);
    std::fprintf(stderr, "lmcpp: error: %s (rank %d of %d; stopping all ranks)\n", e.what(), comm->rank(),
                 comm->world_size());
    comm->abort(le && le->is_input_error() ? 2 : 1);
    throw;  // not reached: abort() ends the process
  }
}

}  // namespace lm::train
