// `lmcpp finetune`: sequence classification with a BERT directory (--task classify), generative question
// answering with a GPT-2 directory or extractive QA (span head) with a BERT directory (--task qa). All inputs
// are read and checked before OUT is created, so bad input writes nothing. OUT receives the best epoch's model
// (HF directory with tokenizer files), metrics.jsonl, loss.svg and result.json.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command.h"
#include "lm/core/device.h"
#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/log.h"
#include "lm/core/threads.h"
#include "lm/data/task_data.h"
#include "lm/models/bert/bert.h"
#include "lm/models/gpt.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/finetune.h"
#include "lm/train/metrics.h"

namespace lm::cli {
namespace {

void require_file(const std::string& path, const char* flag) {
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(path) && !is_directory(path), "{} {} does not exist or is not a file",
              flag, path);
}

std::string model_type_of(const std::string& dir) {
  LM_CHECK_AS(ErrorCode::NotFound, is_directory(dir), "model directory {} does not exist", dir);
  const std::string cfg = path_join(dir, "config.json");
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(cfg), "{} not found (a model directory holds config.json + "
              "model.safetensors)", cfg);
  Json j = read_json_file(cfg);
  LM_CHECK_AS(ErrorCode::BadFormat, j.is_object() && j.contains("model_type") && j["model_type"].is_string(),
              "{}: no string \"model_type\"", cfg);
  return j["model_type"].get<std::string>();
}

void write_result(const std::string& out, Json j) {
  write_file_atomic(path_join(out, "result.json"), j.dump(2) + "\n");
}

int run_classify(Args& a, const std::string& model_dir, const std::string& train_path, const std::string& val_path,
                 const std::string& out) {
  train::ClassifyOptions opt;
  opt.epochs = a.get_int("--epochs", opt.epochs);
  opt.batch_size = a.get_int("--batch-size", opt.batch_size);
  opt.lr = a.get_double("--lr", opt.lr);
  opt.max_length = a.get_int("--max-length", opt.max_length);
  opt.warmup_ratio = a.get_double("--warmup-ratio", opt.warmup_ratio);
  opt.weight_decay = a.get_double("--weight-decay", opt.weight_decay);
  opt.grad_clip = a.get_double("--grad-clip", opt.grad_clip);
  opt.seed = static_cast<uint64_t>(a.get_int("--seed", static_cast<int64_t>(opt.seed)));
  const int64_t num_labels = a.get_int("--num-labels", 0);
  const std::string device = a.get_or("--device", "cpu");
  a.finish();
  parse_device(device, "finetune");
  LM_CHECK(opt.epochs >= 1, "--epochs {} must be >= 1", opt.epochs);
  LM_CHECK(opt.batch_size >= 1, "--batch-size {} must be >= 1", opt.batch_size);
  LM_CHECK(opt.max_length >= 2, "--max-length {} must be >= 2", opt.max_length);
  LM_CHECK(opt.lr > 0, "--lr {} must be positive", opt.lr);
  LM_CHECK(opt.warmup_ratio >= 0 && opt.warmup_ratio < 1, "--warmup-ratio {} must be in [0, 1)", opt.warmup_ratio);
  LM_CHECK(opt.weight_decay >= 0, "--weight-decay {} must be >= 0", opt.weight_decay);
  LM_CHECK(num_labels >= 0, "--num-labels {} must be >= 2", num_labels);
  require_file(train_path, "--train");
  require_file(val_path, "--val");
  LM_CHECK_AS(ErrorCode::Unsupported, model_type_of(model_dir) == "bert",
              "--task classify needs a BERT model directory; {} is {}", model_dir, model_type_of(model_dir));
  LM_CHECK_AS(ErrorCode::NotFound, has_tokenizer_files(model_dir),
              "fine-tuning needs the tokenizer files (vocab.txt) in {}", model_dir);

  ClassificationData train_data = read_classification(train_path);
  std::vector<std::string> names = train_data.label_names;
  if (num_labels > 0) {
    LM_CHECK(num_labels >= static_cast<int64_t>(names.size()),
             "--num-labels {} is fewer than the {} labels in {}", num_labels, names.size(), train_path);
    LM_CHECK(num_labels >= 2, "--num-labels {} must be >= 2", num_labels);
    // Extra ids (integer labels not seen in training) keep integer names.
    for (int64_t i = static_cast<int64_t>(names.size()); i < num_labels; ++i) names.push_back(std::to_string(i));
  }
  ClassificationData val_data = read_classification(val_path, names);
  LM_CHECK(!train_data.examples.empty(), "{} holds no examples", train_path);
  LM_CHECK(!val_data.examples.empty(), "{} holds no examples", val_path);
  auto tok = load_tokenizer(model_dir);
  auto bert = train::load_bert_classifier(model_dir, names, opt.seed, device == "cuda" ? Device::CUDA : Device::CPU);
  LM_CHECK(tok->vocab_size() <= bert->vocab_size(), "the tokenizer in {} has {} tokens but the model only {}",
           model_dir, tok->vocab_size(), bert->vocab_size());
  opt.max_length = std::min(opt.max_length, bert->max_positions());
  train::ClassifyFeatures tr = train::encode_classification(*tok, train_data, opt.max_length);
  train::ClassifyFeatures va = train::encode_classification(*tok, val_data, opt.max_length);
  log_info("finetune classify: {} train / {} val examples, {} labels, {} parameters", tr.size(), va.size(),
           names.size(), bert->num_parameters());

  make_dirs(out);
  train::MetricsLog metrics(out, -1);
  train::ClassifyEval best;
  auto res = train::finetune_classifier(*bert, tr, va, opt, &metrics, [&](int64_t, const train::ClassifyEval& ev) {
    best = ev;
    bert->save_hf(out);
    tok->save(out);
  });
  Json cm = Json::array();
  for (const auto& row : best.confusion) cm.push_back(row);
  write_result(out, {{"task", "classify"}, {"best_epoch", res.best_epoch}, {"val_accuracy", best.accuracy},
                     {"val_f1", best.macro_f1}, {"val_loss", best.loss}, {"confusion_matrix", cm},
                     {"epoch_val_accuracy", res.epoch_metric}, {"steps", res.steps},
                     {"train_seconds", res.train_seconds}, {"train_examples", tr.size()},
                     {"val_examples", va.size()}});
  std::printf("best epoch %lld: val accuracy %.4f macro F1 %.4f; model in %s (%.1f s)\n",
              static_cast<long long>(res.best_epoch), best.accuracy, best.macro_f1, out.c_str(), res.train_seconds);
  return 0;
}

// A BERT directory as BertForQuestionAnswering (base / pretraining checkpoints get a fresh qa_outputs head), on
// the given device.
std::unique_ptr<models::Bert> load_bert_qa(const std::string& dir, Device device) {
  Json cfg = read_json_file(path_join(dir, "config.json"));
  cfg["architectures"] = Json::array({"BertForQuestionAnswering"});
  auto bert = std::make_unique<models::Bert>(models::BertConfig::from_hf(cfg), device);
  const std::string w = path_join(dir, "model.safetensors");
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(w), "{} not found", w);
  bert->load_safetensors(w);
  return bert;
}

int run_extractive_qa(Args& a, const std::string& model_dir, const std::string& train_path,
                      const std::string& val_path, const std::string& out) {
  train::SpanOptions opt;
  opt.epochs = a.get_int("--epochs", opt.epochs);
  opt.batch_size = a.get_int("--batch-size", opt.batch_size);
  opt.lr = a.get_double("--lr", opt.lr);
  opt.warmup_ratio = a.get_double("--warmup-ratio", opt.warmup_ratio);
  opt.weight_decay = a.get_double("--weight-decay", opt.weight_decay);
  opt.grad_clip = a.get_double("--grad-clip", opt.grad_clip);
  opt.seed = static_cast<uint64_t>(a.get_int("--seed", static_cast<int64_t>(opt.seed)));
  opt.max_length = a.get_int("--max-length", opt.max_length);
  opt.doc_stride = a.get_int("--doc-stride", opt.doc_stride);
  opt.max_answer_length = a.get_int("--max-answer-length", opt.max_answer_length);
  const int64_t max_train = a.get_int("--max-train-examples", 0);
  const std::string device = a.get_or("--device", "cpu");
  a.finish();
  const Device dev = parse_device(device, "finetune");
  LM_CHECK(opt.epochs >= 1, "--epochs {} must be >= 1", opt.epochs);
  LM_CHECK(opt.batch_size >= 1, "--batch-size {} must be >= 1", opt.batch_size);
  LM_CHECK(opt.lr > 0, "--lr {} must be positive", opt.lr);
  LM_CHECK(opt.warmup_ratio >= 0 && opt.warmup_ratio < 1, "--warmup-ratio {} must be in [0, 1)", opt.warmup_ratio);
  LM_CHECK(opt.doc_stride >= 1, "--doc-stride {} must be >= 1", opt.doc_stride);
  LM_CHECK(opt.max_answer_length >= 1, "--max-answer-length {} must be >= 1", opt.max_answer_length);
  LM_CHECK_AS(ErrorCode::NotFound, has_tokenizer_files(model_dir), "fine-tuning needs the tokenizer files in {}",
              model_dir);
  std::vector<QaExample> train_ex = read_qa(train_path), val_ex = read_qa(val_path);
  if (max_train > 0 && static_cast<int64_t>(train_ex.size()) > max_train)
    train_ex.resize(static_cast<size_t>(max_train));
  LM_CHECK(!train_ex.empty(), "{} holds no questions", train_path);
  LM_CHECK(!val_ex.empty(), "{} holds no questions", val_path);
  auto tok = load_tokenizer(model_dir);
  auto bert = load_bert_qa(model_dir, dev);
  opt.max_length = std::min(opt.max_length, bert->max_positions());
  log_info("finetune qa (extractive, BERT span head): {} train / {} val questions, {} parameters", train_ex.size(),
           val_ex.size(), bert->num_parameters());
  make_dirs(out);
  train::MetricsLog metrics(out, -1);
  train::QaEval best;
  auto res = train::finetune_extractive_qa(*bert, *tok, train_ex, val_ex, opt, &metrics,
                                           [&](int64_t, const train::QaEval& ev) {
                                             best = ev;
                                             bert->save_hf(out);
                                             tok->save(out);
                                           });
  write_result(out, {{"task", "qa"}, {"mode", "extractive"}, {"best_epoch", res.best_epoch},
                     {"val_exact_match", best.exact_match}, {"val_f1", best.f1}, {"val_count", best.count},
                     {"epoch_val_f1", res.epoch_metric}, {"steps", res.steps}, {"train_seconds", res.train_seconds},
                     {"train_examples", train_ex.size()}, {"val_examples", val_ex.size()}});
  std::printf("best epoch %lld: val EM %.2f F1 %.2f; model in %s (%.1f s)\n", static_cast<long long>(res.best_epoch),
              best.exact_match, best.f1, out.c_str(), res.train_seconds);
  return 0;
}

int run_qa(Args& a, const std::string& model_dir, const std::string& train_path, const std::string& val_path,
           const std::string& out) {
  train::QaOptions opt;
  require_file(train_path, "--train");
  require_file(val_path, "--val");
  const std::string type = model_type_of(model_dir);
  if (type == "bert") return run_extractive_qa(a, model_dir, train_path, val_path, out);
  opt.epochs = a.get_int("--epochs", opt.epochs);
  opt.batch_size = a.get_int("--batch-size", opt.batch_size);
  opt.lr = a.get_double("--lr", opt.lr);
  opt.warmup_ratio = a.get_double("--warmup-ratio", opt.warmup_ratio);
  opt.weight_decay = a.get_double("--weight-decay", opt.weight_decay);
  opt.grad_clip = a.get_double("--grad-clip", opt.grad_clip);
  opt.seed = static_cast<uint64_t>(a.get_int("--seed", static_cast<int64_t>(opt.seed)));
  opt.max_new_tokens = a.get_int("--max-new-tokens", opt.max_new_tokens);
  opt.eval_examples = a.get_int("--eval-examples", opt.eval_examples);
  const int64_t max_train = a.get_int("--max-train-examples", 0);
  const std::string device = a.get_or("--device", "cpu");
  a.finish();
  LM_CHECK_AS(ErrorCode::Unsupported, parse_device(device, "finetune") == Device::CPU,
              "finetune --task qa --device cuda: runs BERT span QA on the GPU; gpt2 generative QA fine-tunes on the "
              "CPU");
  LM_CHECK(opt.epochs >= 1, "--epochs {} must be >= 1", opt.epochs);
  LM_CHECK(opt.batch_size >= 1, "--batch-size {} must be >= 1", opt.batch_size);
  LM_CHECK(opt.lr > 0, "--lr {} must be positive", opt.lr);
  LM_CHECK(opt.warmup_ratio >= 0 && opt.warmup_ratio < 1, "--warmup-ratio {} must be in [0, 1)", opt.warmup_ratio);
  LM_CHECK(opt.max_new_tokens >= 1, "--max-new-tokens {} must be >= 1", opt.max_new_tokens);
  LM_CHECK_AS(ErrorCode::Unsupported, type == "gpt2",
              "--task qa fine-tunes gpt2 (generative) or bert (extractive) models; {} is {}", model_dir, type);
  LM_CHECK_AS(ErrorCode::NotFound, has_tokenizer_files(model_dir), "fine-tuning needs the tokenizer files in {}",
              model_dir);
  std::vector<QaExample> train_ex = read_qa(train_path), val_ex = read_qa(val_path);
  if (max_train > 0 && static_cast<int64_t>(train_ex.size()) > max_train)
    train_ex.resize(static_cast<size_t>(max_train));
  LM_CHECK(!train_ex.empty(), "{} holds no questions", train_path);
  LM_CHECK(!val_ex.empty(), "{} holds no questions", val_path);
  auto tok = load_tokenizer(model_dir);
  auto model = models::load_model_dir(model_dir);
  auto* gpt = dynamic_cast<models::Gpt*>(model.get());
  LM_ASSERT(gpt != nullptr, "gpt2 directory loaded as another model");
  int64_t eos = gpt->config().eos_token_id;
  if ((eos < 0 || eos >= gpt->vocab_size()) && tok->eos_id()) eos = *tok->eos_id();
  LM_CHECK(eos >= 0 && eos < gpt->vocab_size(), "{}: eos_token_id {} is not a token of the model", model_dir, eos);
  log_info("finetune qa: {} train / {} val questions, eos {}, {} parameters", train_ex.size(), val_ex.size(), eos,
           gpt->num_parameters());

  make_dirs(out);
  train::MetricsLog metrics(out, -1);
  train::QaEval best;
  auto res = train::finetune_generative_qa(
      *gpt, *tok, train_ex, val_ex, static_cast<int32_t>(eos), opt, &metrics, [&](int64_t, const train::QaEval& ev) {
        best = ev;
        gpt->save_hf(out);
        tok->save(out);
        Json gen{{"bos_token_id", gpt->config().bos_token_id}, {"eos_token_id", eos}, {"pad_token_id", eos}};
        write_file_atomic(path_join(out, "generation_config.json"), gen.dump(2) + "\n");
      });
  write_result(out, {{"task", "qa"}, {"best_epoch", res.best_epoch}, {"val_exact_match", best.exact_match},
                     {"val_f1", best.f1}, {"val_loss", best.loss}, {"val_count", best.count},
                     {"epoch_val_f1", res.epoch_metric}, {"steps", res.steps}, {"train_seconds", res.train_seconds},
                     {"train_examples", train_ex.size()}, {"val_examples", val_ex.size()}});
  std::printf("best epoch %lld: val EM %.2f F1 %.2f; model in %s (%.1f s)\n", static_cast<long long>(res.best_epoch),
              best.exact_match, best.f1, out.c_str(), res.train_seconds);
  return 0;
}

int run_finetune(Args& a) {
  const std::string task = a.require("--task");
  const std::string model_dir = a.require("--model");
  const std::string train_path = a.require("--train");
  const std::string val_path = a.require("--val");
  const std::string out = a.require("--out");
  set_num_threads(static_cast<int>(a.get_int("--threads", 0)));
  if (task == "classify") return run_classify(a, model_dir, train_path, val_path, out);
  if (task == "qa") return run_qa(a, model_dir, train_path, val_path, out);
  LM_THROW(ErrorCode::InvalidArgument, "unknown --task {} (expected classify or qa)", task);
}

LM_COMMAND("finetune", "fine-tune BERT for classification or GPT-2 for generative question answering",
           "usage: lmcpp finetune --task classify|qa --model DIR --train FILE --val FILE --out DIR [flags]\n"
           "  --task classify (BERT): data as TSV (label<TAB>text[<TAB>text_pair], or a GLUE header row), SST\n"
           "    \"label sentence\" lines, or JSON Lines {\"text\"|\"sentence\", \"label\", [\"text_pair\"]}.\n"
           "    A base / pretraining checkpoint gets a new classification head (num_labels from the training\n"
           "    labels, or --num-labels K). Flags: --epochs 3 --batch-size 32 --lr 2e-5 --max-length 128\n"
           "    --warmup-ratio 0.1 --weight-decay 0.01 --grad-clip 1.0 --seed 42 --device cpu|cuda (the model on one\n"
           "    GPU in a LM_CUDA=ON build).\n"
           "  --task qa (GPT-2): SQuAD JSON or JSON Lines {question, context, answer}; prompt\n"
           "    \"{context}\\nQuestion: {question}\\nAnswer:\" then \" {answer}\" + eos, loss on the answer only.\n"
           "    Flags: --epochs 2 --batch-size 8 --lr 5e-5 --warmup-ratio 0.1 --weight-decay 0.01 --seed 42\n"
           "    --max-new-tokens 30 --eval-examples N (per-epoch EM/F1 on the first N val questions; 0 = all)\n"
           "    --max-train-examples N.\n"
           "  --task qa (BERT): extractive, BertForQuestionAnswering span head on SQuAD JSON / JSONL with answer\n"
           "    offsets; windows [CLS] question [SEP] context [SEP] of --max-length 384 advanced by --doc-stride 128\n"
           "    tokens; best span with --max-answer-length 30. Flags: --epochs 2 --batch-size 16 --lr 5e-5\n"
           "    --device cpu|cuda.\n"
           "  Each epoch is evaluated on --val; OUT keeps the best epoch's model (with tokenizer files),\n"
           "  metrics.jsonl, loss.svg and result.json. --threads N sets the CPU threads.",
           run_finetune);

}  // namespace
}  // namespace lm::cli
