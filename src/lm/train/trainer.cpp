// The training loop, checkpoints and resume. Determinism: the data order is a function of (seed, epoch, step),
// dropout masks of (seed, step, site), and CPU kernels are bitwise reproducible for a thread count, so a resumed
// run continues exactly as an uninterrupted one would.
// Data parallel (train/comm.h): every rank reads its slice of each global batch, the loss is normalised by the
// global number of target tokens and gradients are summed over ranks, so N ranks x batch B train exactly like
// one process with batch N*B (up to float summation order). ZeRO-1 shards the AdamW moments by flat range.
#include "lm/train/trainer.h"

#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/log.h"
#include "lm/core/progress.h"
#include "lm/core/threads.h"
#include "lm/data/bert_data.h"
#include "lm/data/gpt_loader.h"
#include "lm/io/safetensors.h"
#include "lm/models/bert/bert.h"
#include "lm/models/gpt.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/comm.h"
#include "lm/train/flops.h"
#include "lm/train/metrics.h"

namespace lm::train {

std::atomic<bool> g_stop_requested{false};

namespace fs = std::filesystem;

namespace {

const std::set<std::string> kKeys = {
    "model", "init", "data", "batch_size", "seq_len", "grad_accum", "max_steps", "max_tokens", "max_time",
    "lr", "min_lr", "lr_schedule", "warmup_steps", "decay_fraction", "beta1", "beta2", "eps", "weight_decay",
    "grad_clip", "dropout", "seed", "threads", "eval_every", "eval_batches", "save_every", "keep_last",
    "keep_best", "early_stopping_patience", "early_stopping_min_delta", "log_every", "shuffle", "max_nonfinite",
    "zero", "mlm_probability", "whole_word_masking", "device", "dtype", "comment"};

template <typename T>
T get(const Json& j, const char* key, T def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  try {
    return j[key].get<T>();
  } catch (const std::exception&) {
    LM_THROW(ErrorCode::InvalidArgument, "train config: \"{}\" has the wrong type: {}", key, j[key].dump());
  }
}

std::string step_dir_name(int64_t step) { return fmt::format("step_{:08d}", step); }

// Newest complete checkpoint (a step_N directory holding trainer_state.json), or "" if none.
std::string newest_checkpoint(const std::string& out_dir, int64_t* step) {
  std::string ck = path_join(out_dir, "checkpoints");
  if (!is_directory(ck)) return "";
  std::string best;
  int64_t best_step = -1;
  for (const auto& e : fs::directory_iterator(ck)) {
    std::string n = e.path().filename().string();
    if (n.rfind("step_", 0) != 0 || !e.is_directory()) continue;
    if (!file_exists((e.path() / "trainer_state.json").string())) continue;
    int64_t s = std::atoll(n.c_str() + 5);
    if (s > best_step) {
      best_step = s;
      best = e.path().string();
    }
  }
  *step = best_step;
  return best;
}

void remove_tree(const std::string& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
}

// Writes an HF model directory (model + tokenizer) into `dir` atomically: a temporary sibling is filled, fsynced
// and renamed over the old one.
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

}  // namespace

Json apply_overrides(Json config, const std::vector<std::string>& sets) {
  for (const auto& s : sets) {
    auto eq = s.find('=');
    LM_CHECK(eq != std::string::npos && eq > 0, "--set expects key=value, got '{}'", s);
    std::string key = s.substr(0, eq), val = s.substr(eq + 1);
    Json v;
    try {
      v = Json::parse(val);
    } catch (...) {
      v = val;
    }
    Json* node = &config;
    size_t start = 0;
    for (;;) {
      size_t dot = key.find('.', start);
      std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      LM_CHECK(!part.empty(), "--set: empty key component in '{}'", key);
      if (dot == std::string::npos) {
        (*node)[part] = v;
        break;
      }
      if (!node->contains(part) || !(*node)[part].is_object()) (*node)[part] = Json::object();
      node = &(*node)[part];
      start = dot + 1;
    }
  }
  return config;
}

TrainConfig TrainConfig::from_json(const Json& j) {
  LM_CHECK(j.is_object(), "train config must be a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it)
    LM_CHECK(kKeys.count(it.key()), "train config: unknown key \"{}\"", it.key());
  TrainConfig c;
  c.raw = j;
  if (j.contains("model")) {
    LM_CHECK(j["model"].is_object(), "train config: \"model\" must be an HF-style config object");
    c.model = j["model"];
  }
  c.init = get<std::string>(j, "init", "");
  LM_CHECK(c.model.is_null() != c.init.empty(), "train config: give exactly one of \"model\" or \"init\"");
  c.data = get<std::string>(j, "data", "");
  LM_CHECK(!c.data.empty(), "train config: \"data\" (a directory written by lmcpp prepare) is required");
  c.batch_size = get<int64_t>(j, "batch_size", c.batch_size);
  c.seq_len = get<int64_t>(j, "seq_len", c.seq_len);
  c.grad_accum = get<int64_t>(j, "grad_accum", c.grad_accum);
  c.max_steps = get<int64_t>(j, "max_steps", c.max_steps);
  c.max_tokens = get<int64_t>(j, "max_tokens", c.max_tokens);
  c.max_time_s = get<double>(j, "max_time", c.max_time_s);
  c.schedule.lr = get<double>(j, "lr", 6e-4);
  c.schedule.min_lr = get<double>(j, "min_lr", c.schedule.lr * 0.1);
  c.schedule.kind = get<std::string>(j, "lr_schedule", "cosine");
  c.schedule.warmup_steps = get<int64_t>(j, "warmup_steps", 0);
  c.schedule.decay_fraction = get<double>(j, "decay_fraction", 0.2);
  c.adamw.beta1 = get<float>(j, "beta1", 0.9f);
  c.adamw.beta2 = get<float>(j, "beta2", 0.95f);
  c.adamw.eps = get<float>(j, "eps", 1e-8f);
  c.adamw.weight_decay = get<float>(j, "weight_decay", 0.1f);
  c.adamw.grad_clip = get<float>(j, "grad_clip", 1.0f);
  if (j.contains("dropout") && !j["dropout"].is_null()) c.dropout = get<float>(j, "dropout", 0.0f);
  c.seed = get<uint64_t>(j, "seed", c.seed);
  c.threads = get<int>(j, "threads", 0);
  c.eval_every = get<int64_t>(j, "eval_every", 0);
  c.eval_batches = get<int64_t>(j, "eval_batches", c.eval_batches);
  c.save_every = get<int64_t>(j, "save_every", 0);
  c.keep_last = get<int64_t>(j, "keep_last", c.keep_last);
  c.keep_best = get<bool>(j, "keep_best", true);
  c.early_stopping_patience = get<int64_t>(j, "early_stopping_patience", 0);
  c.early_stopping_min_delta = get<double>(j, "early_stopping_min_delta", 0.0);
  c.log_every = get<int64_t>(j, "log_every", 1);
  c.shuffle = get<bool>(j, "shuffle", true);
  c.max_nonfinite = get<int64_t>(j, "max_nonfinite", 5);
  c.zero = get<int>(j, "zero", 0);
  const std::string dev = get<std::string>(j, "device", "cpu");
  LM_CHECK(dev == "cpu" || dev == "cuda", "train config: \"device\" must be \"cpu\" or \"cuda\", got \"{}\"", dev);
  c.device = dev == "cuda" ? Device::CUDA : Device::CPU;
  LM_CHECK_AS(ErrorCode::Unsupported, c.device == Device::CPU || cuda_compiled(),
              "train config: \"device\": \"cuda\" needs a build with the CUDA backend (-DLM_CUDA=ON)");
  const std::string dt = get<std::string>(j, "dtype", "f32");
  LM_CHECK(dt == "f32" || dt == "bf16", "train config: \"dtype\" must be \"f32\" or \"bf16\", got \"{}\"", dt);
  c.dtype = dt == "bf16" ? DType::BF16 : DType::F32;
  LM_CHECK_AS(ErrorCode::Unsupported, c.dtype == DType::F32 || c.device == Device::CUDA,
              "train config: \"dtype\": \"bf16\" (mixed precision) needs \"device\": \"cuda\"");
  LM_CHECK_AS(ErrorCode::Unsupported, c.device == Device::CPU || c.zero == 0,
              "train config: \"zero\" (ZeRO-1 over CPU ranks) is not available with \"device\": \"cuda\"");
  c.mlm_probability = get<double>(j, "mlm_probability", c.mlm_probability);
  c.whole_word_masking = get<bool>(j, "whole_word_masking", false);
  LM_CHECK(c.mlm_probability > 0 && c.mlm_probability < 1, "train config: mlm_probability must be in (0, 1)");
  LM_CHECK(c.zero == 0 || c.zero == 1, "train config: \"zero\" must be 0 or 1 (ZeRO stage 1), got {}", c.zero);
  LM_CHECK(c.batch_size >= 1 && c.seq_len >= 1 && c.grad_accum >= 1, "train config: batch_size, seq_len and "
           "grad_accum must be >= 1");
  LM_CHECK(c.max_steps >= 1, "train config: max_steps must be >= 1");
  LM_CHECK(c.eval_every >= 0 && c.save_every >= 0 && c.eval_batches >= 1 && c.keep_last >= 1 && c.log_every >= 1,
           "train config: eval_every/save_every >= 0, eval_batches/keep_last/log_every >= 1");
  LM_CHECK(!c.dropout || (*c.dropout >= 0 && *c.dropout < 1), "train config: dropout must be in [0, 1)");
  LM_CHECK(c.adamw.beta1 >= 0 && c.adamw.beta1 < 1 && c.adamw.beta2 >= 0 && c.adamw.beta2 < 1 && c.adamw.eps > 0,
           "train config: betas must be in [0, 1) and eps > 0");
  c.schedule.max_steps = c.max_steps;
  c.schedule.validate();
  return c;
}

namespace {

// ---- tasks: one model family's model, data and loss; the Trainer owns the loop, optimizer and checkpoints ----

// A distinct seed per (run seed, stream): BERT dropout masks per (step, rank, micro-batch).
uint64_t mix_seed(uint64_t seed, uint64_t stream) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + stream + 1;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 32);
}

class TrainTask {
 public:
  virtual ~TrainTask() = default;
  virtual models::Model& model() = 0;
  virtual std::string family() const = 0;
  virtual std::string data_summary() const = 0;
  virtual double flops_per_token() const = 0;
  // Reads micro-batch k of the step into its slot; returns its weight in the step's loss (GPT: its target
  // tokens, as the loss is the mean over every target of the global step; BERT: 1, the mean over micro-batches).
  virtual double fetch(int64_t k) = 0;
  // Forward and backward of micro-batch k; gradients accumulate scaled by `scale` (1 / the global weight).
  // Returns the micro-batch's loss (the mean its model reports).
  virtual double forward_backward(int64_t k, float scale, uint64_t dropout_stream) = 0;
  // Extra train metrics of the step (all ranks take part: they may all-reduce); resets the accumulators.
  virtual Json take_step_metrics() { return Json::object(); }
  virtual Json loader_state() const = 0;
  virtual void restore_loader(const Json& state) = 0;
  // Validation over at most eval_batches batches: {"val_loss": ...} plus family metrics; null when there is
  // no validation data.
  virtual Json evaluate() = 0;
  // Family files besides config.json/model.safetensors/tokenizer (GPT: generation_config.json).
  virtual void save_extras(const std::string& /*dir*/) const {}
};

Json model_config_for(const TrainConfig& cfg, const Json& data_meta, const std::string& resume_dir) {
  if (!resume_dir.empty()) return read_json_file(path_join(resume_dir, "config.json"));
  if (!cfg.init.empty()) return read_json_file(path_join(cfg.init, "config.json"));
  Json m = cfg.model;
  if (!m.contains("model_type")) m["model_type"] = "gpt2";
  if (!m.contains("vocab_size") && data_meta.contains("vocab_size")) m["vocab_size"] = data_meta["vocab_size"];
  return m;
}

void check_vocab(const Json& data_meta, int64_t model_vocab) {
  if (data_meta.contains("vocab_size") && data_meta["vocab_size"].is_number_integer())
    LM_CHECK(data_meta["vocab_size"].get<int64_t>() <= model_vocab,
             "the data's tokenizer has {} tokens but the model's vocab_size is {}", data_meta["vocab_size"].dump(),
             model_vocab);
}

template <typename M>
void load_or_init(M& model, const TrainConfig& cfg, const std::string& resume_dir) {
  if (!resume_dir.empty())
    model.load_safetensors(path_join(resume_dir, "model.safetensors"));
  else if (!cfg.init.empty())
    model.load_safetensors(path_join(cfg.init, "model.safetensors"));
  else
    model.init_weights(cfg.seed);
}

GptLoaderConfig loader_config(const TrainConfig& cfg, bool shuffle, int rank, int world) {
  GptLoaderConfig lc;
  lc.batch_size = cfg.batch_size;
  lc.seq_len = cfg.seq_len;
  lc.shuffle = shuffle;
  lc.seed = cfg.seed;
  // Sharded: rank r's batch i is its slice of global batch i, so N ranks x B see exactly the batches one
  // process with batch N*B does.
  lc.rank = rank;
  lc.world_size = world;
  return lc;
}

// GPT-2: next-token prediction over windows of the token shards.
class GptTask : public TrainTask {
 public:
  GptTask(const TrainConfig& cfg, Json mcfg, const Json& data_meta, const std::string& resume_dir,
          Communicator& comm)
      : cfg_(cfg), comm_(comm) {
    const bool fresh = resume_dir.empty() && cfg.init.empty();
    if (fresh) {
      if (!mcfg.contains("n_positions")) mcfg["n_positions"] = cfg.seq_len;
      if (data_meta.contains("eos_id") && data_meta["eos_id"].is_number_integer()) {
        if (!mcfg.contains("eos_token_id")) mcfg["eos_token_id"] = data_meta["eos_id"];
        if (!mcfg.contains("bos_token_id")) mcfg["bos_token_id"] = data_meta["eos_id"];
      }
      // Training from scratch: dropout defaults to 0 unless configured (HF's GPT-2 default 0.1 is for its 124M).
      for (const char* k : {"resid_pdrop", "embd_pdrop", "attn_pdrop"})
        if (!mcfg.contains(k)) mcfg[k] = 0.0;
    }
    if (cfg.dropout)
      for (const char* k : {"resid_pdrop", "embd_pdrop", "attn_pdrop"}) mcfg[k] = *cfg.dropout;
    models::GptConfig gc = models::GptConfig::from_hf(mcfg);
    LM_CHECK(cfg.seq_len <= gc.n_positions, "seq_len {} exceeds the model's n_positions {}", cfg.seq_len,
             gc.n_positions);
    check_vocab(data_meta, gc.vocab_size);
    model_ = std::make_unique<models::Gpt>(gc, cfg.device, cfg.dtype);
    load_or_init(*model_, cfg, resume_dir);
    loader_ = std::make_unique<GptLoader>(list_shards(cfg.data, "train"),
                                          loader_config(cfg, cfg.shuffle, comm.rank(), comm.world_size()));
    for (int64_t k = 0; k < cfg.grad_accum; ++k) {
      xs_.emplace_back(Shape{cfg.batch_size, cfg.seq_len}, DType::I32);
      ys_.emplace_back(Shape{cfg.batch_size, cfg.seq_len}, DType::I32);
    }
    // The batch the model reads: the host tensors themselves on CPU; on a GPU one device copy (uploaded per
    // micro-batch; the ids are 4 bytes a token, negligible next to the step).
    const Shape bs{cfg.batch_size, cfg.seq_len};
    dev_x_slot_ = dev_batch_.reserve(bs, DType::I32);
    dev_y_slot_ = dev_batch_.reserve(bs, DType::I32);
    dev_batch_.allocate();
  }
  models::Model& model() override { return *model_; }
  std::string family() const override { return "gpt2"; }
  std::string data_summary() const override { return fmt::format("{} train tokens", loader_->total_tokens()); }
  double flops_per_token() const override { return model_->config().train_flops_per_token(cfg_.seq_len); }
  double fetch(int64_t k) override {
    loader_->next(xs_[k].t.ptr<int32_t>(), ys_[k].t.ptr<int32_t>());
    const int32_t* y = ys_[k].t.ptr<int32_t>();
    double n = 0;
    for (int64_t i = 0; i < ys_[k].numel(); ++i) n += y[i] != -100;
    return n;
  }
  double forward_backward(int64_t k, float scale, uint64_t stream) override {
    model_->set_training(true, cfg_.seed, stream);
    auto [x, y] = on_device(xs_[k].t, ys_[k].t);
    float l = model_->forward(x, y);
    model_->backward(scale);
    return l;
  }
  Json loader_state() const override { return loader_->state(); }
  void restore_loader(const Json& s) override { loader_->restore(s); }
  Json evaluate() override {
    model_->set_training(false);
    std::unique_ptr<GptLoader> val;
    try {
      val = std::make_unique<GptLoader>(list_shards(cfg_.data, "val"),
                                        loader_config(cfg_, false, comm_.rank(), comm_.world_size()));
    } catch (const Error& e) {
      log_warn("no validation: {}", e.what());
      return nullptr;
    }
    int64_t n = std::min<int64_t>(cfg_.eval_batches, static_cast<int64_t>(val->batches_per_epoch()));
    if (n <= 0) return nullptr;
    OwnedTensor x(Shape{cfg_.batch_size, cfg_.seq_len}, DType::I32), y(Shape{cfg_.batch_size, cfg_.seq_len},
                                                                          DType::I32);
    double acc[2] = {0, 0};  // Σ loss * targets, Σ targets
    for (int64_t i = 0; i < n; ++i) {
      val->next(x.t.ptr<int32_t>(), y.t.ptr<int32_t>());
      auto [xd, yd] = on_device(x.t, y.t);
      float l = model_->forward(xd, yd);
      acc[0] += static_cast<double>(l) * static_cast<double>(model_->last_num_targets());
      acc[1] += static_cast<double>(model_->last_num_targets());
    }
    comm_.all_reduce_sum(acc, 2);
    if (acc[1] <= 0) return nullptr;
    const double vl = acc[0] / acc[1];
    return Json{{"val_loss", vl}, {"val_perplexity", std::exp(vl)}};
  }
  void save_extras(const std::string& dir) const override {
    Json gen{{"bos_token_id", model_->config().bos_token_id}, {"eos_token_id", model_->config().eos_token_id},
             {"pad_token_id", model_->config().eos_token_id}};
    write_file_atomic(path_join(dir, "generation_config.json"), gen.dump(2) + "\n");
  }

 private:
  // The batch where the model is: the same tensors on CPU, a copy into the device batch otherwise.
  std::pair<Tensor, Tensor> on_device(const Tensor& x, const Tensor& y) {
    if (cfg_.device == Device::CPU) return {x, y};
    Tensor xd = dev_batch_.tensor(dev_x_slot_), yd = dev_batch_.tensor(dev_y_slot_);
    copy_tensor(xd, x);
    copy_tensor(yd, y);
    return {xd, yd};
  }

  const TrainConfig& cfg_;
  Communicator& comm_;
  std::unique_ptr<models::Gpt> model_;
  std::unique_ptr<GptLoader> loader_;
  std::vector<OwnedTensor> xs_, ys_;
  Arena dev_batch_{"batch", cfg_.device};
  size_t dev_x_slot_ = 0, dev_y_slot_ = 0;
};

// BERT: masked language modelling (+ next-sentence prediction for BertForPreTraining) on sentence-pair
// examples built from a sentences-layout prepared directory, masked dynamically per (epoch, example).
class BertTask : public TrainTask {
 public:
  BertTask(const TrainConfig& cfg, Json mcfg, const Json& data_meta, const std::string& tokenizer_dir,
           const std::string& resume_dir, Communicator& comm)
      : cfg_(cfg), comm_(comm) {
    LM_CHECK(data_meta.value("layout", std::string("tokens")) == "sentences",
             "BERT pretraining needs data prepared with sentence boundaries: run lmcpp prepare with a WordPiece "
             "tokenizer (or --layout sentences); {} has layout \"{}\"",
             cfg.data, data_meta.value("layout", std::string("tokens")));
    LM_CHECK_AS(ErrorCode::NotFound, !tokenizer_dir.empty(),
                "{}: no tokenizer directory; BERT pretraining needs its [CLS] [SEP] [MASK] [PAD] ids", cfg.data);
    auto tok = load_tokenizer(tokenizer_dir);
    sp_ = bert_special_tokens(*tok);
    const bool fresh = resume_dir.empty() && cfg.init.empty();
    if (fresh) {
      if (!mcfg.contains("architectures")) mcfg["architectures"] = Json::array({"BertForPreTraining"});
      if (!mcfg.contains("max_position_embeddings")) mcfg["max_position_embeddings"] = cfg.seq_len;
      if (!mcfg.contains("pad_token_id")) mcfg["pad_token_id"] = sp_.pad;
    }
    if (cfg.dropout)
      for (const char* k : {"hidden_dropout_prob", "attention_probs_dropout_prob"}) mcfg[k] = *cfg.dropout;
    models::BertConfig bc = models::BertConfig::from_hf(mcfg);
    LM_CHECK_AS(ErrorCode::Unsupported, bc.head == models::BertHead::PreTraining || bc.head == models::BertHead::MaskedLM,
                "lmcpp train pretrains BertForPreTraining (MLM + NSP) or BertForMaskedLM models; this config is {}",
                bc.architecture);
    LM_CHECK(cfg.seq_len <= bc.max_position_embeddings, "seq_len {} exceeds the model's max_position_embeddings {}",
             cfg.seq_len, bc.max_position_embeddings);
    check_vocab(data_meta, bc.vocab_size);
    sp_.vocab_size = std::min<int64_t>(sp_.vocab_size, bc.vocab_size);
    nsp_ = bc.head == models::BertHead::PreTraining;
    model_ = std::make_unique<models::Bert>(bc, cfg.device);
    load_or_init(*model_, cfg, resume_dir);
    model_->set_sparse_mlm(true);  // the prediction head only at masked positions: same loss, a fraction of the cost

    mask_.mlm_probability = cfg.mlm_probability;
    mask_.whole_word = cfg.whole_word_masking;
    if (mask_.whole_word) continuation_ = wordpiece_continuations(*tok);
    auto docs = read_sentence_documents(list_shards(cfg.data, "train"), sp_.sep, bc.vocab_size);
    for (const auto& d : docs)
      for (const auto& s : d) train_tokens_ += s.size();
    NspConfig nc;
    nc.max_seq_len = cfg.seq_len;
    nc.seed = cfg.seed;
    auto examples = create_nsp_examples(docs, nc);
    train_docs_ = docs.size();
    train_examples_ = examples.size();
    loader_ = std::make_unique<BertLoader>(std::move(examples), sp_, mask_,
                                           loader_config(cfg, cfg.shuffle, comm.rank(), comm.world_size()),
                                           continuation_);
    for (int64_t k = 0; k < cfg.grad_accum; ++k) slots_.emplace_back(cfg.batch_size, cfg.seq_len);
  }
  models::Model& model() override { return *model_; }
  std::string family() const override { return "bert"; }
  std::string data_summary() const override {
    return fmt::format("{} train tokens in {} documents -> {} sentence-pair examples ({} batches/epoch)",
                       train_tokens_, train_docs_, train_examples_, loader_->batches_per_epoch());
  }
  double flops_per_token() const override {
    return model_->config().train_flops_per_token(cfg_.seq_len, cfg_.mlm_probability);
  }
  double fetch(int64_t k) override {
    loader_->next(slots_[k].host);
    slots_[k].upload();
    return 1.0;
  }
  double forward_backward(int64_t k, float scale, uint64_t stream) override {
    float l = model_->forward(slots_[k].batch(nsp_), true, mix_seed(cfg_.seed, stream));
    acc_[0] += model_->last_mlm_loss();
    acc_[1] += nsp_ ? model_->last_nsp_loss() : 0.0;
    acc_[2] += 1;
    model_->backward(scale);
    return l;
  }
  Json take_step_metrics() override {
    comm_.all_reduce_sum(acc_, 3);
    Json j = Json::object();
    if (acc_[2] > 0) {
      j["mlm_loss"] = acc_[0] / acc_[2];
      if (nsp_) j["nsp_loss"] = acc_[1] / acc_[2];
    }
    acc_[0] = acc_[1] = acc_[2] = 0;
    return j;
  }
  Json loader_state() const override {
    Json j = fingerprint();
    j.update(loader_->cursor().to_json());
    return j;
  }
  void restore_loader(const Json& s) override {
    Json mine = fingerprint();
    for (auto& [k, v] : mine.items())
      LM_CHECK(s.contains(k) && s[k] == v, "loader state mismatch on \"{}\": checkpoint has {}, this run has {}", k,
               s.contains(k) ? s[k].dump() : "nothing", v.dump());
    loader_->set_cursor(LoaderCursor::from_json(s));
  }
  Json evaluate() override {
    if (!val_) {
      std::vector<TokenizedDocument> docs;
      try {
        docs = read_sentence_documents(list_shards(cfg_.data, "val"), sp_.sep, model_->config().vocab_size);
      } catch (const Error& e) {
        log_warn("no validation: {}", e.what());
        return nullptr;
      }
      NspConfig nc;
      nc.max_seq_len = cfg_.seq_len;
      nc.seed = cfg_.seed + 1;
      auto examples = create_nsp_examples(docs, nc);
      try {
        // Masks of epoch 0 of a fixed seed: every evaluation scores the same masked positions.
        val_ = std::make_unique<BertLoader>(std::move(examples), sp_, mask_,
                                            loader_config(cfg_, false, comm_.rank(), comm_.world_size()),
                                            continuation_);
      } catch (const Error& e) {
        log_warn("no validation: {}", e.what());
        return nullptr;
      }
      val_slot_ = std::make_unique<Slot>(cfg_.batch_size, cfg_.seq_len);
    }
    val_->set_cursor(LoaderCursor{});
    const int64_t n = std::min<int64_t>(cfg_.eval_batches, static_cast<int64_t>(val_->batches_per_epoch()));
    if (n <= 0) return nullptr;
    const int64_t B = cfg_.batch_size, V = model_->config().vocab_size;
    // Σ mlm loss*targets, Σ targets, Σ correct, Σ nsp loss*rows, Σ rows, Σ correct
    double acc[6] = {0, 0, 0, 0, 0, 0};
    for (int64_t i = 0; i < n; ++i) {
      val_->next(val_slot_->host);
      val_slot_->upload();
      model_->forward(val_slot_->batch(nsp_), false);
      const float* pred = nullptr;
      const float* rel = nullptr;
      std::vector<float> pred_host, rel_host;  // a GPU model's outputs, read back
      auto host_view = [](const Tensor& t, std::vector<float>& buf) -> const float* {
        if (t.device == Device::CPU) return t.f32();
        buf.resize(static_cast<size_t>(t.numel()));
        copy_bytes(buf.data(), Device::CPU, t.data, t.device, t.nbytes());
        return buf.data();
      };
      for (const auto& [name, t] : model_->outputs()) {
        if (name == "masked_prediction_logits") pred = host_view(t, pred_host);
        if (name == "seq_relationship_logits") rel = host_view(t, rel_host);
      }
      const auto& pos = model_->masked_positions();
      LM_CHECK_AS(ErrorCode::Internal, pred != nullptr || pos.empty(), "BERT forward gave no prediction logits");
      const auto& lab = val_slot_->host.labels;
      double targets = 0, correct = 0;
      for (size_t r = 0; r < pos.size(); ++r) {
        const float* row = pred + static_cast<int64_t>(r) * V;
        targets += 1;
        correct += std::max_element(row, row + V) - row == lab[static_cast<size_t>(pos[r])];
      }
      acc[0] += static_cast<double>(model_->last_mlm_loss()) * targets;
      acc[1] += targets;
      acc[2] += correct;
      if (nsp_ && rel) {
        for (int64_t b = 0; b < B; ++b)
          acc[5] += (rel[2 * b + 1] > rel[2 * b] ? 1 : 0) == val_slot_->host.next_sentence_label[static_cast<size_t>(b)];
        acc[3] += static_cast<double>(model_->last_nsp_loss()) * static_cast<double>(B);
        acc[4] += static_cast<double>(B);
      }
    }
    comm_.all_reduce_sum(acc, 6);
    if (acc[1] <= 0) return nullptr;
    const double mlm = acc[0] / acc[1];
    Json j{{"val_mlm_loss", mlm}, {"val_mlm_perplexity", std::exp(mlm)}, {"val_mlm_accuracy", acc[2] / acc[1]}};
    double total = mlm;
    if (nsp_ && acc[4] > 0) {
      j["val_nsp_loss"] = acc[3] / acc[4];
      j["val_nsp_accuracy"] = acc[5] / acc[4];
      total += acc[3] / acc[4];
    }
    j["val_loss"] = total;  // HF BertForPreTraining's loss: MLM + NSP
    return j;
  }

 private:
  // One micro-batch: the loader's host arrays and tensors the model reads.
  struct Slot {
    BertBatch host;
    OwnedTensor ids, types, mask, labels, nsl;
    Slot(int64_t B, int64_t T)
        : ids(Shape{B, T}, DType::I32), types(Shape{B, T}, DType::I32), mask(Shape{B, T}, DType::I32),
          labels(Shape{B, T}, DType::I32), nsl(Shape{B}, DType::I32) {}
    void upload() {
      std::copy(host.input_ids.begin(), host.input_ids.end(), ids.t.ptr<int32_t>());
      std::copy(host.token_type_ids.begin(), host.token_type_ids.end(), types.t.ptr<int32_t>());
      std::copy(host.attention_mask.begin(), host.attention_mask.end(), mask.t.ptr<int32_t>());
      std::copy(host.labels.begin(), host.labels.end(), labels.t.ptr<int32_t>());
      std::copy(host.next_sentence_label.begin(), host.next_sentence_label.end(), nsl.t.ptr<int32_t>());
    }
    models::BertBatch batch(bool with_nsp) const {
      models::BertBatch b;
      b.input_ids = ids.t;
      b.token_type_ids = types.t;
      b.attention_mask = mask.t;
      b.labels = labels.t;
      if (with_nsp) b.next_sentence_label = nsl.t;
      return b;
    }
  };
  Json fingerprint() const {
    return Json{{"seed", cfg_.seed},       {"batch_size", cfg_.batch_size},      {"seq_len", cfg_.seq_len},
                {"shuffle", cfg_.shuffle}, {"rank", comm_.rank()},              {"world_size", comm_.world_size()},
                {"examples", train_examples_}, {"mlm_probability", cfg_.mlm_probability},
                {"whole_word_masking", cfg_.whole_word_masking}};
  }

  const TrainConfig& cfg_;
  Communicator& comm_;
  std::unique_ptr<models::Bert> model_;
  BertSpecialTokens sp_;
  MaskConfig mask_;
  std::vector<uint8_t> continuation_;
  bool nsp_ = true;
  std::unique_ptr<BertLoader> loader_, val_;
  std::vector<Slot> slots_;
  std::unique_ptr<Slot> val_slot_;
  uint64_t train_tokens_ = 0, train_docs_ = 0, train_examples_ = 0;
  double acc_[3] = {0, 0, 0};
};

class Trainer {
 public:
  Trainer(const TrainConfig& cfg, const std::string& out, Communicator& comm)
      : cfg_(cfg), out_(out), comm_(comm), rank_(comm.rank()), world_(comm.world_size()) {}
  TrainResult run();

 private:
  void setup_optimizer();
  void restore_optimizer(const std::string& resume_dir);
  void restore_loader(Json saved);
  // Sums gradients over ranks (plain DP: all of them; ZeRO-1: this rank's range) and returns the global norm.
  double reduce_gradients();
  // ZeRO-1: every rank's updated parameter range to every rank.
  void gather_params();
  void build_task(const std::string& resume_dir);
  void save_checkpoint(int64_t step);
  void save_model_dir(const std::string& dir);
  void prune_checkpoints();
  models::Model& model() { return task_->model(); }

  TrainConfig cfg_;
  std::string out_;
  Json data_meta_;
  std::string tokenizer_dir_;
  std::unique_ptr<TrainTask> task_;
  std::unique_ptr<AdamW> opt_;
  Communicator& comm_;
  int rank_ = 0, world_ = 1;
  int64_t shard_chunk_ = 0;    // ZeRO-1: flat range owned per rank (the arena padded to world_ * chunk)
  std::vector<float> padded_;  // ZeRO-1: world_ * shard_chunk_ staging for reduce-scatter / all-gather
  int64_t step_ = 0, tokens_ = 0;
  double best_val_ = INFINITY;
  int64_t best_step_ = -1, bad_evals_ = 0, nonfinite_streak_ = 0;
  double elapsed_before_ = 0;
};

void Trainer::build_task(const std::string& resume_dir) {
  Json mcfg = model_config_for(cfg_, data_meta_, resume_dir);
  const std::string type = mcfg.value("model_type", std::string("gpt2"));
  LM_CHECK_AS(ErrorCode::Unsupported, cfg_.dtype == DType::F32 || type == "gpt2",
              "train config: \"dtype\": \"bf16\" is implemented for gpt2 only; {} trains in f32 (on cpu or cuda)", type);
  if (type == "gpt2")
    task_ = std::make_unique<GptTask>(cfg_, mcfg, data_meta_, resume_dir, comm_);
  else if (type == "bert")
    task_ = std::make_unique<BertTask>(cfg_, mcfg, data_meta_, tokenizer_dir_, resume_dir, comm_);
  else
    LM_THROW(ErrorCode::Unsupported, "lmcpp train pretrains gpt2 and bert models; model_type {} is not supported",
             type);
}

void Trainer::save_model_dir(const std::string& dir) {
  model().save_hf(dir);
  if (!tokenizer_dir_.empty()) load_tokenizer(tokenizer_dir_)->save(dir);
  task_->save_extras(dir);
}

void Trainer::save_checkpoint(int64_t step) {
  // Moments are always saved whole (ZeRO-1 ranks gather theirs first), so any number of ranks can resume.
  std::vector<NamedTensor> st;
  std::vector<float> full_m, full_v;
  if (cfg_.zero) {
    for (auto* moments : {&full_m, &full_v}) {
      Tensor mine = moments == &full_m ? opt_->moments_m() : opt_->moments_v();
      moments->assign(static_cast<size_t>(shard_chunk_ * world_), 0.0f);
      float* slot = moments->data() + static_cast<int64_t>(rank_) * shard_chunk_;
      std::copy(mine.f32(), mine.f32() + mine.numel(), slot);
      comm_.all_gather(slot, moments->data(), shard_chunk_);
    }
    const auto& ps = opt_->params();
    for (size_t i = 0; i < ps.size(); ++i) {
      st.push_back({"exp_avg." + ps[i].name, Tensor(full_m.data() + opt_->offsets()[i], ps[i].param.shape)});
      st.push_back({"exp_avg_sq." + ps[i].name, Tensor(full_v.data() + opt_->offsets()[i], ps[i].param.shape)});
    }
  } else if (cfg_.device == Device::CPU) {
    for (auto& [name, t] : opt_->state_tensors()) st.push_back({name, t});
  } else {
    // Device moments: one host copy of each flat arena, named views into it.
    for (auto* moments : {&full_m, &full_v}) {
      Tensor mine = moments == &full_m ? opt_->moments_m() : opt_->moments_v();
      moments->resize(static_cast<size_t>(mine.numel()));
      copy_bytes(moments->data(), Device::CPU, mine.data, mine.device, mine.nbytes());
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
  std::string dir = path_join(ck_root, step_dir_name(step));
  write_dir_atomically(dir, [&](const std::string& tmp) {
    save_model_dir(tmp);
    write_safetensors(path_join(tmp, "optimizer.safetensors"), st, {{"optimizer", "adamw"}});
    Json state{{"step", step},
               {"tokens", tokens_},
               {"optimizer_step", opt_->steps()},
               {"loader", task_->loader_state()},
               {"best_val_loss", std::isfinite(best_val_) ? Json(best_val_) : Json(nullptr)},
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
  // The latest model at the top of OUT, so `--model OUT` always works.
  save_model_dir(out_);
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
  task_->restore_loader(saved);
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

TrainResult Trainer::run() {
  LM_CHECK_AS(ErrorCode::Unsupported, cfg_.device == Device::CPU || world_ == 1,
              "train config: \"device\": \"cuda\" runs on one process; multi-GPU data parallel (NCCL) is not "
              "implemented ({} ranks were started)", world_);
  LM_CHECK_AS(ErrorCode::Unsupported, cfg_.device == Device::CPU || cuda_device_count() > 0,
              "train config: \"device\": \"cuda\" but no CUDA device is visible (driver or GPU missing)");
  set_num_threads(cfg_.threads);
  if (rank_ != 0 && log_level() < LogLevel::Warn) set_log_level(LogLevel::Warn);  // rank 0 speaks for the job
  if (rank_ == 0) make_dirs(out_);
  std::string meta_path = path_join(cfg_.data, "meta.json");
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(meta_path), "{} not found: \"data\" must be a directory written by "
              "lmcpp prepare", meta_path);
  data_meta_ = read_json_file(meta_path);
  std::string tdir = path_join(cfg_.data, data_meta_.value("tokenizer_dir", std::string("tokenizer")));
  if (has_tokenizer_files(tdir)) tokenizer_dir_ = tdir;

  TrainResult res;
  int64_t resume_step = -1;
  std::string resume_dir = newest_checkpoint(out_, &resume_step);
  if (world_ > 1) {  // rank 0's choice, so that no rank resumes from a different checkpoint
    comm_.broadcast(&resume_step, sizeof resume_step, 0);
    resume_dir = resume_step < 0 ? "" : path_join(path_join(out_, "checkpoints"), step_dir_name(resume_step));
  }
  Json resume_state;
  if (!resume_dir.empty()) {
    resume_state = read_json_file(path_join(resume_dir, "trainer_state.json"));
    res.resumed_from = resume_step;
  }
  build_task(resume_dir);
  setup_optimizer();

  if (!resume_dir.empty()) {
    step_ = resume_state.at("step").get<int64_t>();
    tokens_ = resume_state.at("tokens").get<int64_t>();
    opt_->set_steps(resume_state.at("optimizer_step").get<int64_t>());
    restore_loader(resume_state.at("loader"));
    if (resume_state["best_val_loss"].is_number()) best_val_ = resume_state["best_val_loss"].get<double>();
    best_step_ = resume_state.value("best_step", int64_t{-1});
    bad_evals_ = resume_state.value("bad_evals", int64_t{0});
    nonfinite_streak_ = resume_state.value("nonfinite_streak", int64_t{0});
    elapsed_before_ = resume_state.value("elapsed_s", 0.0);
    restore_optimizer(resume_dir);
    int saved_threads = resume_state.value("threads", 0);
    if (saved_threads != num_threads())
      log_warn("resuming with {} threads, the checkpoint was written with {}: the run stays correct but is no "
               "longer bitwise identical to an uninterrupted one", num_threads(), saved_threads);
    log_info("resuming from {} (step {})", resume_dir, step_);
  }
  // Only rank 0 writes OUT; the others log nothing.
  std::unique_ptr<MetricsLog> metrics_log;
  if (rank_ == 0) {
    write_file_atomic(path_join(out_, "train_config.json"), cfg_.raw.dump(2) + "\n");
    metrics_log = std::make_unique<MetricsLog>(out_, resume_dir.empty() ? -1 : step_);
  }
  auto emit = [&](const Json& j) {
    if (metrics_log) metrics_log->write(j);
  };
  auto plot = [&] {
    if (metrics_log) metrics_log->plot("lmcpp train: " + out_);
  };

  const int64_t B = cfg_.batch_size, T = cfg_.seq_len, K = cfg_.grad_accum;
  const int64_t tokens_per_step = B * T * K * world_;  // global
  const double flops_per_token = task_->flops_per_token();
  // The machine's sgemm peak, the MFU denominator; re-measured at each evaluation and the best kept, so a peak
  // read while other work held the cores does not inflate MFU for the whole run.
  // On a GPU: the datasheet peak of the mode (f32: fp32 CUDA cores, no TF32; bf16: dense bf16 tensor cores); 0 (no
  // MFU) for unknown GPUs.
  const bool on_gpu = cfg_.device != Device::CPU;
  double peak = on_gpu ? 0.0 : measure_sgemm_peak();
  std::string peak_desc = fmt::format("sgemm peak {:.0f} GFLOP/s", peak / 1e9);
  if (on_gpu) {
    const std::string gpu = cuda_device_name(0);
    const bool bf16 = cfg_.dtype == DType::BF16;
    peak = bf16 ? gpu_dense_bf16_peak_flops(gpu) : gpu_fp32_peak_flops(gpu);
    const char* what = bf16 ? "dense bf16" : "fp32";
    peak_desc = peak > 0 ? fmt::format("GPU {} ({} peak {:.1f} TFLOP/s)", gpu, what, peak / 1e12)
                         : fmt::format("GPU {} (no {} peak known: MFU reported as 0)", gpu, what);
  }
  log_info("model: {}, {} parameters ({:.2f}M); data: {}; batch {}x{}x{}x{} ranks = {} "
           "tokens/step; {} threads/rank; {}",
           task_->family(), model().num_parameters(), model().num_parameters() / 1e6, task_->data_summary(), B, T,
           K, world_, tokens_per_step, num_threads(), peak_desc);
  if (world_ > 1)
    log_info("data parallel: {} ranks ({} backend){}, collective timeout {} s", world_, comm_.backend(),
             cfg_.zero ? ", ZeRO stage 1" : "", comm_.timeout_s());
  if (resume_dir.empty())
    emit({{"event", "start"}, {"model_type", task_->family()}, {"parameters", model().num_parameters()}, {"tokens_per_step", tokens_per_step},
          {"threads", num_threads()}, {"world_size", world_}, {"zero", cfg_.zero}});

  Progress progress("train", static_cast<double>(cfg_.max_steps - step_), "steps", 10.0);
  auto t_start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return elapsed_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  };
  bool stop = false;
  const int64_t first_step = step_;
  double last_loss = NAN;
  while (step_ < cfg_.max_steps && !stop) {
    auto t0 = std::chrono::steady_clock::now();
    const CommStats comm0 = comm_.stats();
    // Weights of all micro-batches (of all ranks) first: the loss is a mean over the global step (GPT: over
    // every target token, so each micro-batch's backward is scaled by 1 / (global targets), not 1 / its own).
    std::vector<double> weight(static_cast<size_t>(K));
    double total = 0;
    for (int64_t k = 0; k < K; ++k) total += weight[static_cast<size_t>(k)] = task_->fetch(k);
    comm_.all_reduce_sum(&total, 1);  // exact: integers far below 2^53
    model().zero_grad();
    double loss_sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      // Dropout masks: a distinct stream per (step, rank, micro-batch), reproducible on resume.
      // Ranks get their own streams so data-parallel workers never share masks.
      const double l = task_->forward_backward(k, total > 0 ? static_cast<float>(1.0 / total) : 0.0f,
                                               static_cast<uint64_t>((step_ * world_ + rank_) * K + k));
      loss_sum += l * weight[static_cast<size_t>(k)];
    }
    comm_.all_reduce_sum(&loss_sum, 1);
    const double loss = total > 0 ? loss_sum / total : NAN;
    const Json step_extra = task_->take_step_metrics();
    const double lr = cfg_.schedule.at(step_);
    double gnorm = reduce_gradients();
    if (!std::isfinite(loss) || !std::isfinite(gnorm)) {
      ++nonfinite_streak_;
      emit({{"step", step_ + 1}, {"event", "skipped_nonfinite"},
            {"loss", std::isfinite(loss) ? Json(loss) : Json(nullptr)},
            {"grad_norm", std::isfinite(gnorm) ? Json(gnorm) : Json(nullptr)}});
      log_warn("step {}: non-finite loss or gradient (loss {}, grad norm {}); update skipped", step_ + 1, loss,
               gnorm);
      LM_CHECK_AS(ErrorCode::Internal, nonfinite_streak_ < cfg_.max_nonfinite,
                  "training diverged: {} consecutive non-finite steps up to step {}; the weights of the last "
                  "checkpoint are intact (lower lr or raise warmup_steps)",
                  nonfinite_streak_, step_ + 1);
      model().zero_grad();
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
    tokens_ += tokens_per_step;
    last_loss = loss;
    res.losses.push_back(static_cast<float>(loss));
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double tps = static_cast<double>(tokens_per_step) / dt;
    const double mfu = peak > 0 ? tps * flops_per_token / peak / world_ : 0.0;
    if (step_ % cfg_.log_every == 0 || step_ == cfg_.max_steps) {
      Json m{{"step", step_}, {"loss", loss}, {"lr", lr}, {"grad_norm", gnorm}, {"tokens", tokens_},
             {"tokens_per_s", tps}, {"mfu", mfu}, {"elapsed_s", elapsed()}};
      for (auto& [k, v] : step_extra.items()) m[k] = v;
      if (world_ > 1) {  // this rank's collective traffic (ring-algorithm bytes sent) and time blocked in them
        m["comm_bytes"] = comm_.stats().bytes - comm0.bytes;
        m["comm_s"] = comm_.stats().seconds - comm0.seconds;
      }
      emit(m);
    }
    if (rank_ == 0)
      progress.update(static_cast<double>(step_ - first_step),
                      fmt::format("step {}/{} loss {:.4f} lr {:.2e} {:.0f} tok/s MFU {:.1f}%", step_,
                                  cfg_.max_steps, loss, lr, tps, 100 * mfu));

    bool last = step_ >= cfg_.max_steps;
    if (cfg_.max_tokens > 0 && tokens_ >= cfg_.max_tokens) last = true;
    // Wall time and Ctrl-C are per process: rank 0 decides for everyone.
    int8_t flags[2] = {static_cast<int8_t>(cfg_.max_time_s > 0 && elapsed() >= cfg_.max_time_s),
                       static_cast<int8_t>(g_stop_requested.load())};
    comm_.broadcast(flags, sizeof flags, 0);
    if (flags[0]) last = true;
    if (flags[1]) {
      last = true;
      res.interrupted = true;
    }
    if ((cfg_.eval_every > 0 && step_ % cfg_.eval_every == 0) || last) {
      if (!on_gpu) peak = std::max(peak, measure_sgemm_peak());
      const Json ev = task_->evaluate();
      const double vl = ev.is_object() ? ev.at("val_loss").get<double>() : NAN;
      if (std::isfinite(vl)) {
        bool improved = vl < best_val_ - cfg_.early_stopping_min_delta;
        Json line{{"step", step_}};
        std::string extra;
        for (auto& [k, v] : ev.items()) {
          line[k] = v;
          if (k.find("accuracy") != std::string::npos) extra += fmt::format(", {} {:.4f}", k.substr(4), v.get<double>());
        }
        emit(line);
        if (ev.contains("val_perplexity"))
          extra = fmt::format(" (perplexity {:.2f})", ev["val_perplexity"].get<double>()) + extra;
        else if (ev.contains("val_mlm_perplexity"))
          extra = fmt::format(" (MLM perplexity {:.2f})", ev["val_mlm_perplexity"].get<double>()) + extra;
        log_info("step {}: val loss {:.4f}{}{}", step_, vl, extra, improved ? " best so far" : "");
        if (improved) {
          best_val_ = vl;
          best_step_ = step_;
          bad_evals_ = 0;
          if (cfg_.keep_best && rank_ == 0) write_dir_atomically(path_join(out_, "best"), [&](const std::string& d) {
              save_model_dir(d);
            });
        } else if (++bad_evals_ >= cfg_.early_stopping_patience && cfg_.early_stopping_patience > 0) {
          log_info("early stopping at step {}: no val improvement > {} in {} evals", step_,
                   cfg_.early_stopping_min_delta, bad_evals_);
          res.early_stopped = true;
          last = true;
        }
      }
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
    if (last) stop = true;
  }
  if (step_ == first_step && step_ >= cfg_.max_steps) log_info("nothing to do: already at step {}", step_);
  if (rank_ == 0) progress.finish(fmt::format("loss {:.4f}", last_loss));
  plot();
  res.steps = step_;
  res.rank = rank_;
  res.world_size = world_;
  res.last_loss = last_loss;
  res.best_val_loss = best_val_;
  return res;
}

}  // namespace

TrainResult run_training(const TrainConfig& cfg, const std::string& out_dir) {
  std::unique_ptr<Communicator> comm = make_communicator();
  Trainer t(cfg, out_dir, *comm);
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
