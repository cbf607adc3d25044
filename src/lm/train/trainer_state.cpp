// The Trainer's state: building (or taking) the model, the optimizer and its ZeRO-1 shard, gradient reduction,
// and checkpoints (HF model directory + optimizer moments + trainer_state.json) with exact resume.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/log.h"
#include "lm/core/threads.h"
#include "lm/io/peft.h"
#include "lm/io/safetensors.h"
#include "lm/models/lora.h"
#include "lm/tokenize/hf_files.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/trainer_impl.h"

namespace lm::train {

namespace fs = std::filesystem;

std::string step_dir_name(int64_t step) { return fmt::format("step_{:08d}", step); }

std::string newest_checkpoint(const std::string& out_dir, int64_t* step) {
  *step = -1;
  std::string ck = path_join(out_dir, "checkpoints");
  if (!is_directory(ck)) return "";
  std::string best;
  for (const auto& e : fs::directory_iterator(ck)) {
    std::string n = e.path().filename().string();
    if (n.rfind("step_", 0) != 0 || !e.is_directory()) continue;
    if (!file_exists((e.path() / "trainer_state.json").string())) continue;
    int64_t s = std::atoll(n.c_str() + 5);
    if (s > *step) {
      *step = s;
      best = e.path().string();
    }
  }
  return best;
}

namespace {
void remove_tree(const std::string& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
}

// Leaves of a JSON object by dotted path ({"model": {"n_layer": 2}} -> "model.n_layer": 2).
void flatten(const Json& j, const std::string& prefix, std::map<std::string, Json>& out) {
  if (!j.is_object() || (j.empty() && !prefix.empty())) {
    out[prefix] = j;
    return;
  }
  for (auto it = j.begin(); it != j.end(); ++it)
    flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
}
}  // namespace

const std::vector<std::string>& resumable_config_keys() {
  static const std::vector<std::string> keys = {
      "max_steps",  "max_tokens", "max_time",   "eval_every",   "eval_batches", "save_every",
      "keep_last",  "keep_best",  "log_every",  "threads",      "device",       "batch_size",
      "early_stopping_patience", "early_stopping_min_delta", "max_nonfinite", "comment"};
  return keys;
}

std::vector<std::string> resume_config_changes(const std::string& out_dir, const Json& raw) {
  int64_t step = -1;
  const std::string ck = newest_checkpoint(out_dir, &step);
  if (ck.empty()) return {};
  const Json state = read_json_file(path_join(ck, "trainer_state.json"));
  if (!state.contains("train_config") || !state["train_config"].is_object()) return {};
  std::map<std::string, Json> before, after;
  flatten(state["train_config"], "", before);
  flatten(raw, "", after);
  for (const auto& [k, v] : before) after.try_emplace(k, Json());  // a key only one side has: null on the other
  for (const auto& [k, v] : after) before.try_emplace(k, Json());
  const auto& free = resumable_config_keys();
  std::vector<std::string> changes;
  for (const auto& [k, v] : after) {
    const std::string top = k.substr(0, k.find('.'));
    if (std::find(free.begin(), free.end(), top) != free.end() || before[k] == v) continue;
    changes.push_back(fmt::format("{}: {} -> {}", k, before[k].is_null() ? "(unset)" : before[k].dump(),
                                  v.is_null() ? "(unset)" : v.dump()));
  }
  return changes;
}

void write_dir_atomically(const std::string& dir, const std::function<void(const std::string&)>& fill) {
  std::string tmp = dir + ".tmp-" + std::to_string(::getpid());
  remove_tree(tmp);
  make_dirs(tmp);
  fill(tmp);
  fsync_dir(tmp);
  std::string old = dir + ".old-" + std::to_string(::getpid());
  bool had = is_directory(dir);
  if (had) fs::rename(dir, old);
  fs::rename(tmp, dir);
  fsync_dir(fs::path(dir).parent_path().string());
  if (had) remove_tree(old);
}

void Trainer::build_model(const std::string& resume_dir) {
  if (job_.model) {  // a model given in memory; a checkpoint's weights replace its own on resume
    model_ = job_.model;
    if (!resume_dir.empty())
      model_->load_safetensors(
          path_join(resume_dir, is_adapter_dir(resume_dir) ? kAdapterWeightsFile : "model.safetensors"));
    return;
  }
  Json mcfg;
  if (!resume_dir.empty() && !cfg_.lora) {  // an adapter checkpoint holds no config.json: its base is init's
    mcfg = read_json_file(path_join(resume_dir, "config.json"));
  } else if (!cfg_.init.empty()) {
    mcfg = read_json_file(path_join(cfg_.init, "config.json"));
  } else {
    mcfg = cfg_.model;
    if (!mcfg.contains("model_type")) mcfg["model_type"] = kDefaultModelType;
    if (!mcfg.contains("vocab_size") && data_meta_.contains("vocab_size")) mcfg["vocab_size"] = data_meta_["vocab_size"];
  }
  models::ConfigRequest req = job_.request;
  req.fresh = (resume_dir.empty() || cfg_.lora) && cfg_.init.empty();
  req.max_positions = cfg_.seq_len;
  if (data_meta_.contains("eos_id") && data_meta_["eos_id"].is_number_integer())
    req.eos_id = data_meta_["eos_id"].get<int64_t>();
  if (req.fresh && !tokenizer_dir_.empty() && !req.pad_id)
    if (auto pad = load_tokenizer(tokenizer_dir_)->token_to_id("[PAD]")) req.pad_id = *pad;
  req.dropout = cfg_.dropout;
  owned_model_ = models::create_model(models::configure_model(mcfg, req), cfg_.device, cfg_.dtype);
  model_ = owned_model_.get();
  LM_CHECK(cfg_.seq_len <= model_->max_positions(), "seq_len {} exceeds the model's maximum length {}", cfg_.seq_len,
           model_->max_positions());
  if (data_meta_.contains("vocab_size") && data_meta_["vocab_size"].is_number_integer())
    LM_CHECK(data_meta_["vocab_size"].get<int64_t>() <= model_->vocab_size(),
             "the data's tokenizer has {} tokens but the model's vocab_size is {}", data_meta_["vocab_size"].dump(),
             model_->vocab_size());
  if (cfg_.lora) {  // the base from init, the adapter new or from the checkpoint
    owned_model_->load_safetensors(path_join(cfg_.init, "model.safetensors"));
    owned_model_ = std::make_unique<models::LoraModel>(std::move(owned_model_), *cfg_.lora, cfg_.seed);
    model_ = owned_model_.get();
    if (!resume_dir.empty()) model_->load_safetensors(path_join(resume_dir, kAdapterWeightsFile));
    return;
  }
  if (!resume_dir.empty())
    model_->load_safetensors(path_join(resume_dir, "model.safetensors"));
  else if (!cfg_.init.empty())
    model_->load_safetensors(path_join(cfg_.init, "model.safetensors"));
  else
    model_->init_weights(cfg_.seed);
}

void Trainer::save_model_dir(const std::string& dir) {
  model().save_hf(dir);
  if (tokenizer_dir_.empty()) return;
  load_tokenizer(tokenizer_dir_)->save(dir, model().max_positions());
  // The tokenizer's HF side files (special tokens, chat template) travel with it.
  carry_tokenizer_side_files(tokenizer_dir_, dir);
}

// Moments are always saved whole (ZeRO-1 ranks gather theirs first), so any number of ranks can resume.
void Trainer::save_checkpoint(int64_t step) {
  std::vector<NamedTensor> st;
  std::vector<float> full_m, full_v;
  if (!cfg_.zero && cfg_.device == Device::CPU) {
    for (auto& [name, t] : opt_->state_tensors()) st.push_back({name, t});
  } else {
    for (auto* moments : {&full_m, &full_v}) {
      Tensor mine = moments == &full_m ? opt_->moments_m() : opt_->moments_v();
      if (cfg_.zero) {  // every rank's range, gathered
        moments->assign(static_cast<size_t>(shard_chunk_ * world_), 0.0f);
        float* slot = moments->data() + static_cast<int64_t>(rank_) * shard_chunk_;
        std::copy(mine.f32(), mine.f32() + mine.numel(), slot);
        comm_.all_gather(slot, moments->data(), shard_chunk_);
      } else {  // device moments: one host copy of each flat arena
        moments->resize(static_cast<size_t>(mine.numel()));
        copy_bytes(moments->data(), Device::CPU, mine.data, mine.device, mine.nbytes());
      }
    }
    const auto& ps = opt_->params();
    for (size_t i = 0; i < ps.size(); ++i) {
      st.push_back({"exp_avg." + ps[i].name, Tensor(full_m.data() + opt_->offsets()[i], ps[i].param.shape)});
      st.push_back({"exp_avg_sq." + ps[i].name, Tensor(full_v.data() + opt_->offsets()[i], ps[i].param.shape)});
    }
  }
  if (rank_ != 0) return;
  std::string ck_root = path_join(out_, "checkpoints");
  make_dirs(ck_root);
  write_dir_atomically(path_join(ck_root, step_dir_name(step)), [&](const std::string& tmp) {
    save_model_dir(tmp);
    write_safetensors(path_join(tmp, "optimizer.safetensors"), st, {{"optimizer", "adamw"}});
    Json state{{"step", step},
               {"tokens", tokens_},
               {"optimizer_step", opt_->steps()},
               {"loader", obj_->loader_state()},
               {"best_" + obj_->best_metric(), std::isfinite(best_metric_) ? Json(best_metric_) : Json(nullptr)},
               {"best_step", best_step_},
               {"bad_evals", bad_evals_},
               {"nonfinite_streak", nonfinite_streak_},
               {"elapsed_s", elapsed_before_},
               {"seed", cfg_.seed},
               {"threads", num_threads()},
               {"world_size", world_},
               {"zero", cfg_.zero},
               {"train_config", cfg_.raw}};
    write_file_atomic(path_join(tmp, "trainer_state.json"), state.dump(2) + "\n");
  });
  // The latest model at the top of OUT, so `--model OUT` always works (fine-tuning keeps the best one there).
  if (!job_.out_is_best) save_model_dir(out_);
  prune_checkpoints();
}

void Trainer::prune_checkpoints() {
  std::string ck_root = path_join(out_, "checkpoints");
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(ck_root)) {
    std::string n = e.path().filename().string();
    if (n.rfind("step_", 0) == 0 && n.find('.') == std::string::npos) dirs.push_back(e.path().string());
  }
  std::sort(dirs.begin(), dirs.end());
  for (size_t i = 0; i + static_cast<size_t>(cfg_.keep_last) < dirs.size(); ++i) remove_tree(dirs[i]);
}

void Trainer::setup_optimizer() {
  if (!cfg_.zero) {
    opt_ = std::make_unique<AdamW>(model(), cfg_.adamw);
    return;
  }
  const int64_t n = model().flat_grads().numel();
  shard_chunk_ = (n + world_ - 1) / world_;
  padded_.assign(static_cast<size_t>(shard_chunk_ * world_), 0.0f);
  const int64_t begin = std::min(n, rank_ * shard_chunk_), end = std::min(n, (rank_ + 1) * shard_chunk_);
  opt_ = std::make_unique<AdamW>(model(), cfg_.adamw, begin, end);
}

void Trainer::restore_optimizer(const std::string& resume_dir) {
  SafetensorsFile st(path_join(resume_dir, "optimizer.safetensors"));
  if (!cfg_.zero && cfg_.device == Device::CPU) {
    for (auto& [name, t] : opt_->state_tensors()) st.read_f32(name, t.f32(), t.shape);
    return;
  }
  // Whole moments in the file; this rank keeps its range.
  std::vector<float> full(static_cast<size_t>(opt_->flat_size()), 0.0f);
  const auto& ps = opt_->params();
  for (const char* prefix : {"exp_avg.", "exp_avg_sq."}) {
    for (size_t i = 0; i < ps.size(); ++i)
      st.read_f32(prefix + ps[i].name, full.data() + opt_->offsets()[i], ps[i].param.shape);
    Tensor mine = std::string(prefix) == "exp_avg." ? opt_->moments_m() : opt_->moments_v();
    copy_bytes(mine.data, mine.device, full.data() + opt_->begin(), Device::CPU,
               static_cast<size_t>(opt_->end() - opt_->begin()) * sizeof(float));
  }
}

void Trainer::restore_state(const std::string& resume_dir, const Json& s) {
  step_ = s.at("step").get<int64_t>();
  tokens_ = s.at("tokens").get<int64_t>();
  opt_->set_steps(s.at("optimizer_step").get<int64_t>());
  restore_loader(s.at("loader"));
  const std::string best_key = "best_" + obj_->best_metric();
  if (s.contains(best_key) && s[best_key].is_number()) best_metric_ = s[best_key].get<double>();
  best_step_ = s.value("best_step", int64_t{-1});
  bad_evals_ = s.value("bad_evals", int64_t{0});
  nonfinite_streak_ = s.value("nonfinite_streak", int64_t{0});
  elapsed_before_ = s.value("elapsed_s", 0.0);
  restore_optimizer(resume_dir);
  const int saved_threads = s.value("threads", 0);
  if (saved_threads != num_threads())
    log_warn("resuming with {} threads, the checkpoint was written with {}: the run stays correct but is no "
             "longer bitwise identical to an uninterrupted one", num_threads(), saved_threads);
  log_info("resuming from step {} of {} (checkpoint {})", step_, cfg_.max_steps, resume_dir);
}

// The checkpoint's loader cursor counts batches of its own (batch_size x world_size); a run with another split
// of the same data continues at the same global window when the windows consumed divide evenly.
void Trainer::restore_loader(Json saved) {
  const int64_t sb = saved.value("batch_size", int64_t{0}), sw = saved.value("world_size", int64_t{1});
  if (sb != cfg_.batch_size || sw != world_) {
    const uint64_t consumed = saved.at("step").get<uint64_t>() * static_cast<uint64_t>(sb * sw);
    const uint64_t per_step = static_cast<uint64_t>(cfg_.batch_size * world_);
    LM_CHECK(consumed % per_step == 0,
             "cannot resume a checkpoint written with batch_size {} on {} rank(s) with batch_size {} on {} rank(s): "
             "{} windows of the epoch were consumed, not a multiple of {}",
             sb, sw, cfg_.batch_size, world_, consumed, per_step);
    saved["step"] = consumed / per_step;
    saved["batch_size"] = cfg_.batch_size;
    saved["world_size"] = world_;
    log_info("resuming a checkpoint of {} rank(s) x batch {} on {} rank(s) x batch {}", sw, sb, world_,
             cfg_.batch_size);
  }
  saved["rank"] = rank_;
  obj_->restore_loader(saved);
}

double Trainer::reduce_gradients() {
  Tensor g = model().flat_grads();
  const int64_t n = g.numel();
  if (!cfg_.zero) {
    // Buckets bound the engine's staging memory; overlap with backward would not pay on CPU, where the
    // reduction competes with the kernels for the same cores.
    // One rank (and every GPU run, whose gradients may be bf16): nothing to reduce.
    constexpr int64_t kBucket = int64_t{1} << 22;
    if (world_ > 1)
      for (int64_t off = 0; off < n; off += kBucket) comm_.all_reduce_sum(g.f32() + off, std::min(kBucket, n - off));
    return opt_->grad_norm();
  }
  std::copy(g.f32(), g.f32() + n, padded_.begin());
  std::fill(padded_.begin() + n, padded_.end(), 0.0f);
  float* mine = padded_.data() + static_cast<int64_t>(rank_) * shard_chunk_;
  comm_.reduce_scatter_sum(padded_.data(), mine, shard_chunk_);
  std::copy(mine, mine + (opt_->end() - opt_->begin()), g.f32() + opt_->begin());
  double ss = opt_->range_sum_squares();
  comm_.all_reduce_sum(&ss, 1);
  return std::sqrt(ss);
}

void Trainer::gather_params() {
  Tensor p = model().flat_params();
  float* mine = padded_.data() + static_cast<int64_t>(rank_) * shard_chunk_;
  std::copy(p.f32() + opt_->begin(), p.f32() + opt_->end(), mine);
  comm_.all_gather(mine, padded_.data(), shard_chunk_);
  std::copy(padded_.data(), padded_.data() + p.numel(), p.f32());
}

}  // namespace lm::train
