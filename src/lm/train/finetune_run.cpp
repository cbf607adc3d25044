// The `lmcpp finetune` run as one library call: read and check every input (before OUT exists), load the model
// with the head the task needs (a fresh classifier or span head on a base / pretraining checkpoint), fine-tune
// through the Trainer, and write OUT/result.json.
#include <stdlib.h>

#include <algorithm>
#include <filesystem>

#include "fmt/ranges.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/log.h"
#include "lm/data/task_data.h"
#include "lm/models/lora.h"
#include "lm/tokenize/bpe.h"
#include "lm/train/chat.h"
#include "lm/train/finetune.h"

namespace lm::train {

namespace {

void require_file(const std::string& path, const char* what) {
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(path) && !is_directory(path), "{} {} does not exist or is not a file",
              what, path);
}

Json model_config(const std::string& dir) {
  LM_CHECK_AS(ErrorCode::NotFound, is_directory(dir), "model directory {} does not exist", dir);
  const std::string cfg = path_join(dir, "config.json");
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(cfg), "{} not found (a model directory holds config.json + "
              "model.safetensors)", cfg);
  return read_json_file(cfg);
}

// The model of `dir` with `request` applied to its config, its weights loaded (head weights the checkpoint lacks
// are initialised by the family), on `device`.
std::unique_ptr<models::Model> load_for_task(const std::string& dir, const models::ConfigRequest& request,
                                             Device device) {
  Json cfg = models::configure_model(model_config(dir), request);
  std::unique_ptr<models::Model> m;
  try {
    m = models::create_model(cfg, device);
  } catch (const Error& e) {
    throw Error(e.code(), fmt::format("{}, in {}", e.what(), path_join(dir, "config.json")));
  }
  const std::string w = path_join(dir, "model.safetensors");
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(w), "{} not found", w);
  m->load_safetensors(w);
  return m;
}

// --lora: the model wrapped in a new adapter (the base frozen). vocab_grown: tokens were added, so the embedding
// rows are trained whole and saved with the adapter (PEFT's modules_to_save), as a PEFT user resizing the
// embeddings would do.
std::unique_ptr<models::Model> with_lora(std::unique_ptr<models::Model> m, const FinetuneOptions& o,
                                         bool vocab_grown = false) {
  if (!o.lora) return m;
  LoraSpec spec = *o.lora;
  spec.base_model_name_or_path = o.model_dir;
  if (vocab_grown) {
    if (spec.modules_to_save.empty()) spec.modules_to_save = models::lora_head_modules(m->head());
    for (const auto& e : models::model_family(m->hf_config()).lora_embeddings) spec.modules_to_save.push_back(e);
  }
  const int64_t total = m->num_parameters();
  auto lm = std::make_unique<models::LoraModel>(std::move(m), spec, o.seed);
  log_info("LoRA r={} alpha={}{} on {} modules ({}), modules_to_save [{}]: {} trainable parameters, {:.2f}% of {}",
           spec.r, spec.alpha, spec.use_rslora ? " (rsLoRA)" : "", lm->modules().size(),
           lm->spec().to_json()["target_modules"].dump(), fmt::join(lm->spec().modules_to_save, ", "),
           lm->trainable_parameters(), 100.0 * static_cast<double>(lm->trainable_parameters()) / static_cast<double>(total),
           total);
  return lm;
}

// What result.json says of the trained parameters.
void parameter_result(Json& res, models::Model& m) {
  res["parameters"] = m.num_parameters();
  res["trainable_parameters"] = m.trainable_parameters();
  if (!m.adapter_config().is_null()) res["lora"] = m.adapter_config();
}

void copy_schedule(TuneSchedule& s, const FinetuneOptions& o) {
  if (o.epochs > 0) s.epochs = o.epochs;
  if (o.batch_size > 0) s.batch_size = o.batch_size;
  if (o.lr > 0) s.lr = o.lr;
  s.grad_accum = o.grad_accum;
  s.warmup_ratio = o.warmup_ratio;
  s.weight_decay = o.weight_decay;
  s.grad_clip = o.grad_clip;
  s.seed = o.seed;
  s.save_every = o.save_every;
}

// --max-train-examples / --eval-examples: the first N training / validation examples of every task (0: all).
template <class T>
void keep_first(std::vector<T>& v, int64_t n) {
  if (n > 0 && static_cast<int64_t>(v.size()) > n) v.resize(static_cast<size_t>(n));
}

Json common_result(const FinetuneResult& r) {
  return Json{{"best_epoch", r.best_epoch}, {"steps", r.steps}, {"train_seconds", r.train_seconds}};
}

FinetuneReport classify(const FinetuneOptions& o, const Tokenizer& tok) {
  ClassifyOptions opt;
  copy_schedule(opt, o);
  if (o.max_length > 0) opt.max_length = o.max_length;
  LM_CHECK(opt.max_length >= 2, "max_length {} must be >= 2", opt.max_length);
  LM_CHECK(o.num_labels >= 0, "num_labels {} must be >= 2", o.num_labels);
  ClassificationData train_data = read_classification(o.train_path);
  std::vector<std::string> names = train_data.label_names;
  if (o.num_labels > 0) {
    LM_CHECK(o.num_labels >= static_cast<int64_t>(names.size()), "num_labels {} is fewer than the {} labels in {}",
             o.num_labels, names.size(), o.train_path);
    LM_CHECK(o.num_labels >= 2, "num_labels {} must be >= 2", o.num_labels);
    // Extra ids (integer labels not seen in training) keep integer names.
    for (int64_t i = static_cast<int64_t>(names.size()); i < o.num_labels; ++i) names.push_back(std::to_string(i));
  }
  ClassificationData val_data = read_classification(o.val_path, names);
  keep_first(train_data.examples, o.max_train_examples);
  keep_first(val_data.examples, o.eval_examples);
  LM_CHECK(!train_data.examples.empty(), "{} holds no examples", o.train_path);
  LM_CHECK(!val_data.examples.empty(), "{} holds no examples", o.val_path);
  models::ConfigRequest req;
  req.head = models::Head::SequenceClassification;
  req.labels = names;
  auto model = with_lora(load_for_task(o.model_dir, req, o.device), o);
  LM_CHECK(tok.vocab_size() <= model->vocab_size(), "the tokenizer in {} has {} tokens but the model only {}",
           o.model_dir, tok.vocab_size(), model->vocab_size());
  opt.max_length = std::min(opt.max_length, model->max_positions());
  const ClassifyFeatures tr = encode_classification(tok, train_data, opt.max_length);
  const ClassifyFeatures va = encode_classification(tok, val_data, opt.max_length);
  log_info("finetune classify: {} train / {} val examples, {} labels, {} parameters", tr.size(), va.size(),
           names.size(), model->num_parameters());
  const FinetuneResult r = finetune_classifier(*model, tr, va, opt, o.out_dir, o.model_dir);
  Json res = common_result(r);
  parameter_result(res, *model);
  res["task"] = "classify";
  for (const char* k : {"val_accuracy", "val_f1", "val_loss"}) res[k] = r.best_eval.value(k, Json(nullptr));
  res["confusion_matrix"] = r.best_eval.value("val_confusion_matrix", Json::array());
  res["epoch_val_accuracy"] = r.epoch_metric;
  res["train_examples"] = tr.size();
  res["val_examples"] = va.size();
  return {res, fmt::format("best epoch {}: val accuracy {:.4f} macro F1 {:.4f}; model in {} ({:.1f} s)", r.best_epoch,
                           res["val_accuracy"].get<double>(), res["val_f1"].get<double>(), o.out_dir,
                           r.train_seconds)};
}

FinetuneReport question_answering(const FinetuneOptions& o, const Tokenizer& tok) {
  std::vector<QaExample> train_ex = read_qa(o.train_path), val_ex = read_qa(o.val_path);
  keep_first(train_ex, o.max_train_examples);
  keep_first(val_ex, o.eval_examples);
  LM_CHECK(!train_ex.empty(), "{} holds no questions", o.train_path);
  LM_CHECK(!val_ex.empty(), "{} holds no questions", o.val_path);
  const bool generative = models::config_head(model_config(o.model_dir)) == models::Head::CausalLM;
  models::ConfigRequest req;
  FinetuneResult r;
  Json res;
  if (generative) {
    LM_CHECK_AS(ErrorCode::Unsupported, o.device == Device::CPU,
                "task qa on device cuda runs span QA (BERT) only; generative QA (a causal LM) fine-tunes on the CPU");
    QaOptions opt;
    copy_schedule(opt, o);
    opt.max_new_tokens = o.max_new_tokens;
    opt.eval_examples = o.eval_examples;
    LM_CHECK(opt.max_new_tokens >= 1, "max_new_tokens {} must be >= 1", opt.max_new_tokens);
    if (tok.eos_id()) req.eos_id = *tok.eos_id();  // where the config's eos is not a token of the model
    auto model = with_lora(load_for_task(o.model_dir, req, o.device), o);
    const int64_t eos = model->causal_lm()->eos_token_id();
    LM_CHECK(eos >= 0 && eos < model->vocab_size(), "{}: eos_token_id {} is not a token of the model", o.model_dir,
             eos);
    log_info("finetune qa: {} train / {} val questions, eos {}, {} parameters", train_ex.size(), val_ex.size(), eos,
             model->num_parameters());
    r = finetune_generative_qa(*model, tok, train_ex, val_ex, static_cast<int32_t>(eos), opt, o.out_dir, o.model_dir);
    res = common_result(r);
    parameter_result(res, *model);
    res["val_loss"] = r.best_eval.value("val_loss", Json(nullptr));
  } else {
    SpanOptions opt;
    copy_schedule(opt, o);
    if (o.max_length > 0) opt.max_length = o.max_length;
    opt.doc_stride = o.doc_stride;
    opt.max_answer_length = o.max_answer_length;
    LM_CHECK(opt.doc_stride >= 1, "doc_stride {} must be >= 1", opt.doc_stride);
    LM_CHECK(opt.max_answer_length >= 1, "max_answer_length {} must be >= 1", opt.max_answer_length);
    req.head = models::Head::QuestionAnswering;
    auto model = with_lora(load_for_task(o.model_dir, req, o.device), o);
    opt.max_length = std::min(opt.max_length, model->max_positions());
    log_info("finetune qa (extractive, span head): {} train / {} val questions, {} parameters", train_ex.size(),
             val_ex.size(), model->num_parameters());
    r = finetune_extractive_qa(*model, tok, train_ex, val_ex, opt, o.out_dir, o.model_dir);
    res = common_result(r);
    parameter_result(res, *model);
    res["mode"] = "extractive";
  }
  res["task"] = "qa";
  for (const char* k : {"val_exact_match", "val_f1", "val_count"}) res[k] = r.best_eval.value(k, Json(nullptr));
  res["epoch_val_f1"] = r.epoch_metric;
  res["train_examples"] = train_ex.size();
  res["val_examples"] = val_ex.size();
  return {res, fmt::format("best epoch {}: val EM {:.2f} F1 {:.2f}; model in {} ({:.1f} s)", r.best_epoch,
                           res["val_exact_match"].get<double>(), res["val_f1"].get<double>(), o.out_dir,
                           r.train_seconds)};
}

// The tokenizer files of a chat model: the tokenizer with its added tokens (save() writes them into
// tokenizer_config.json's added_tokens_decoder), then the chat template, end-of-turn eos token and the template's
// tokens as additional_special_tokens, as HF's save_pretrained writes them after add_special_tokens.
void write_chat_tokenizer(const std::string& dir, const Tokenizer& tok, const ChatFormat& f, const std::string& eot,
                          int64_t max_positions) {
  tok.save(dir, max_positions);
  const std::vector<std::string> extra = chat_special_tokens(f);
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const std::string path = path_join(dir, name);
    Json cfg = file_exists(path) ? read_json_file(path) : Json::object();
    if (!eot.empty()) cfg["eos_token"] = eot;
    if (!f.source.bos_token.empty()) cfg["bos_token"] = f.source.bos_token;
    if (!extra.empty()) cfg["additional_special_tokens"] = extra;
    if (std::string(name) == "tokenizer_config.json") cfg["chat_template"] = f.source.source;
    write_file_atomic(path, cfg.dump(2) + "\n");
  }
}

// A scratch directory removed when the run ends.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    char buf[] = "/tmp/lmcpp-chat-XXXXXX";
    LM_CHECK_AS(ErrorCode::Internal, mkdtemp(buf) != nullptr, "cannot create a directory under /tmp");
    path = buf;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

FinetuneReport dialogue(const FinetuneOptions& o, const Tokenizer& tok0) {
  LM_CHECK_AS(ErrorCode::Unsupported, o.device == Device::CPU, "task chat fine-tunes on the CPU");
  std::vector<Dialogue> train = read_dialogues(o.train_path), val = read_dialogues(o.val_path);
  keep_first(train, o.max_train_examples);
  keep_first(val, o.eval_examples);
  LM_CHECK(!train.empty(), "{} holds no dialogues", o.train_path);
  LM_CHECK(!val.empty(), "{} holds no dialogues", o.val_path);
  ChatOptions opt;
  copy_schedule(opt, o);
  LM_CHECK_AS(ErrorCode::Unsupported, models::config_head(model_config(o.model_dir)) == models::Head::CausalLM,
              "task chat needs a causal language model, {} is not one", o.model_dir);
  ChatFormat f = load_chat_format(o.model_dir, o.chat_template, tok0);
  // Special tokens the template needs become HF added tokens; the model grows embedding rows for them.
  std::unique_ptr<Tokenizer> grown;
  const Tokenizer* tok = &tok0;
  std::vector<std::string> missing;
  for (const std::string& t : chat_special_tokens(f))
    if (!tok0.token_to_id(t)) missing.push_back(t);
  if (!missing.empty()) {
    const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tok0);
    LM_CHECK_AS(ErrorCode::Unsupported, bpe, "the chat template needs the tokens {} which only a BPE tokenizer can "
                "add; the tokenizer in {} is {}", fmt::join(missing, " "), o.model_dir, tok0.type());
    grown = bpe->with_added_tokens(missing);
    tok = grown.get();
  }
  f.tok = tok;
  const std::string eot = end_of_turn_token(f);
  auto model = load_for_task(o.model_dir, {}, Device::CPU);
  models::ConfigRequest req;
  req.vocab_size = std::max(model->vocab_size(), tok->vocab_size());
  if (auto id = eot.empty() ? std::nullopt : tok->token_to_id(eot)) req.end_of_turn_id = *id;
  const bool rows_added = *req.vocab_size != model->vocab_size();
  if (rows_added || req.end_of_turn_id)
    model = models::resize_vocab(*model, req, std::min(model->vocab_size(), tok0.vocab_size()));
  model = with_lora(std::move(model), o, rows_added);
  ScratchDir scratch;
  write_chat_tokenizer(scratch.path, *tok, f, eot, model->max_positions());
  log_info("finetune chat: {} train / {} val dialogues, template {}, end of turn {} ({}), {} tokens added, {} "
           "parameters", train.size(), val.size(), f.source.origin, eot.empty() ? "none" : eot,
           req.end_of_turn_id ? std::to_string(*req.end_of_turn_id) : "-", missing.size(), model->num_parameters());
  const FinetuneResult r = finetune_chat(*model, f, train, val, opt, o.out_dir, scratch.path);
  Json res = common_result(r);
  parameter_result(res, *model);
  res["task"] = "chat";
  res["val_loss"] = r.best_eval.value("val_loss", Json(nullptr));
  res["val_perplexity"] = r.best_eval.value("val_perplexity", Json(nullptr));
  res["train_dialogues"] = train.size();
  res["val_dialogues"] = val.size();
  res["chat_template"] = f.source.origin;
  res["added_tokens"] = missing;
  return {res, fmt::format("best epoch {}: val assistant-token loss {:.4f} (perplexity {:.2f}); model in {} ({:.1f} s)",
                           r.best_epoch, res["val_loss"].get<double>(), res["val_perplexity"].get<double>(), o.out_dir,
                           r.train_seconds)};
}

}  // namespace

FinetuneReport run_finetune(const FinetuneOptions& o) {
  LM_CHECK(o.task == "classify" || o.task == "qa" || o.task == "chat", "unknown task {} (expected classify, qa or chat)",
           o.task);
  require_file(o.train_path, "train file");
  require_file(o.val_path, "val file");
  model_config(o.model_dir);
  LM_CHECK_AS(ErrorCode::NotFound, has_tokenizer_files(o.model_dir), "fine-tuning needs the tokenizer files in {}",
              o.model_dir);
  auto tok = load_tokenizer(o.model_dir);
  FinetuneReport rep = o.task == "classify" ? classify(o, *tok)
                       : o.task == "qa"     ? question_answering(o, *tok)
                                            : dialogue(o, *tok);
  write_file_atomic(path_join(o.out_dir, "result.json"), rep.result.dump(2) + "\n");
  return rep;
}

}  // namespace lm::train
