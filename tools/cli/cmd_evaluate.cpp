// `lmcpp evaluate`: --task classify (accuracy / macro F1 / confusion matrix of a BERT classifier) and --task qa
// (generative QA exact match / F1 of a GPT-2 model) use lm/train/finetune; --task lm: perplexity of a GPT model
// on a prepared data directory (its val shards, or --split train) or a text file, with HF's sliding-window
// recipe for texts longer than the context: windows of --max-length tokens advanced by --stride, each scoring
// only the tokens the previous window did not.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "command.h"
#include "lm/core/buffer.h"
#include "lm/core/device.h"
#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/progress.h"
#include "lm/core/threads.h"
#include "lm/data/gpt_loader.h"
#include "lm/data/shard.h"
#include "lm/data/task_data.h"
#include "lm/models/bert/bert.h"
#include "lm/models/gpt.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/finetune.h"

namespace lm::cli {
namespace {

struct LmEval {
  double nll = 0;
  int64_t tokens = 0;
};

// Scores ids with windows of max_len advanced by stride (HF perplexity recipe: each window's first
// max_len - trg_len labels are ignored, so every token after the first is scored exactly once).
LmEval sliding_window(models::Gpt& gpt, const std::vector<int32_t>& ids, int64_t max_len, int64_t stride) {
  LmEval r;
  const int64_t n = static_cast<int64_t>(ids.size());
  int64_t prev_end = 0;
  Progress prog("evaluate", static_cast<double>(n), "tokens", 10.0);
  for (int64_t begin = 0; begin < n; begin += stride) {
    const int64_t end = std::min(begin + max_len, n), L = end - begin, trg_len = end - prev_end;
    OwnedTensor x(Shape{1, L}, DType::I32), y(Shape{1, L}, DType::I32);
    for (int64_t t = 0; t < L; ++t) {
      x.t.ptr<int32_t>()[t] = ids[static_cast<size_t>(begin + t)];
      // targets[t] is label t+1; labels before L - trg_len are ignored.
      y.t.ptr<int32_t>()[t] = (t + 1 < L && t + 1 >= L - trg_len) ? ids[static_cast<size_t>(begin + t + 1)] : -100;
    }
    float loss = gpt.forward(x.t, y.t);
    if (gpt.last_num_targets() > 0) {
      r.nll += static_cast<double>(loss) * static_cast<double>(gpt.last_num_targets());
      r.tokens += gpt.last_num_targets();
    }
    prev_end = end;
    prog.update(static_cast<double>(end));
    if (end == n) break;
  }
  prog.finish();
  return r;
}

// --task classify: accuracy, macro F1, confusion matrix [gold][predicted] and mean cross-entropy of a
// BertForSequenceClassification directory on a classification file (labels named as its id2label).
int eval_classify(Args& a, const std::string& dir, const std::string& data, bool json) {
  int64_t max_len = a.get_int("--max-length", 128);
  int64_t batch = a.get_int("--batch-size", 64);
  const std::string weights = a.get_or("--weights", "f32");
  const std::string device = a.get_or("--device", "cpu");
  a.finish();
  const DType wdt = parse_bert_weights(weights);
  parse_device(device, "evaluate");
  LM_CHECK_AS(ErrorCode::Unsupported, device == "cpu" || weights == "f32",
              "evaluate --device cuda: --weights {} is a CPU (oneDNN) option; the GPU evaluates in f32", weights);
  LM_CHECK(max_len >= 2, "--max-length {} must be >= 2", max_len);
  LM_CHECK(batch >= 1, "--batch-size {} must be >= 1", batch);
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(data) && !is_directory(data), "--data {} does not exist", data);
  auto model = models::load_model_dir(dir);
  auto* bert = dynamic_cast<models::Bert*>(model.get());
  LM_CHECK_AS(ErrorCode::Unsupported, bert && bert->config().head == models::BertHead::SequenceClassification,
              "--task classify needs a BertForSequenceClassification directory; {} is {}", dir,
              bert ? bert->config().architecture : model->model_type());
  LM_CHECK_AS(ErrorCode::NotFound, has_tokenizer_files(dir), "--task classify needs tokenizer files in {}", dir);
  const auto& names = bert->config().id2label;
  ClassificationData cd;
  try {
    cd = read_classification(data, names);
  } catch (const Error&) {
    // Integer labels name label ids directly when id2label holds names ("negative", "positive").
    std::vector<std::string> ints;
    for (size_t i = 0; i < names.size(); ++i) ints.push_back(std::to_string(i));
    if (ints == names) throw;
    cd = read_classification(data, ints);
  }
  LM_CHECK(!cd.examples.empty(), "{} holds no examples", data);
  auto tok = load_tokenizer(dir);
  auto feats = train::encode_classification(*tok, cd, std::min(max_len, bert->max_positions()));
  bert->set_inference_dtype(wdt);
  std::unique_ptr<models::Bert> on_gpu;
  if (device == "cuda") {  // the same weights, loaded into a GPU model (batches stay on the host)
    on_gpu = std::make_unique<models::Bert>(bert->config(), Device::CUDA);
    on_gpu->load_safetensors(path_join(dir, "model.safetensors"));
    bert = on_gpu.get();
  }
  train::ClassifyEval ev = train::evaluate_classifier(*bert, feats, batch);
  if (json) {
    Json cm = Json::array();
    for (const auto& row : ev.confusion) cm.push_back(row);
    Json j = {{"accuracy", ev.accuracy}, {"f1", ev.macro_f1}, {"confusion_matrix", cm}, {"loss", ev.loss},
              {"count", ev.count}, {"labels", names}, {"weights", weights}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: accuracy %.4f macro F1 %.4f loss %.4f over %lld examples\n", data.c_str(), ev.accuracy,
                ev.macro_f1, ev.loss, static_cast<long long>(ev.count));
    std::printf("confusion matrix (rows gold, columns predicted):\n%12s", "");
    for (const auto& n : names) std::printf(" %10.10s", n.c_str());
    std::printf("\n");
    for (size_t g = 0; g < names.size(); ++g) {
      std::printf("%12.12s", names[g].c_str());
      for (int64_t c : ev.confusion[g]) std::printf(" %10lld", static_cast<long long>(c));
      std::printf("\n");
    }
  }
  return 0;
}

// --task qa: generative QA with a GPT-2 directory (greedy answer after the fine-tuning prompt, until eos or a
// newline); SQuAD v1.1 exact match and F1 in percent against all gold answers.
int eval_qa(Args& a, const std::string& dir, const std::string& data, bool json) {
  int64_t max_new = a.get_int("--max-new-tokens", 30);
  int64_t max_examples = a.get_int("--max-examples", 0);
  auto pred_path = a.get("--predictions");
  train::SpanOptions so;
  so.max_length = a.get_int("--max-length", so.max_length);
  so.doc_stride = a.get_int("--doc-stride", so.doc_stride);
  so.max_answer_length = a.get_int("--max-answer-length", so.max_answer_length);
  const std::string weights = a.get_or("--weights", "f32");
  const DType wdt = parse_bert_weights(weights);
  const std::string device = a.get_or("--device", "cpu");
  a.finish();
  const Device dev = parse_device(device, "evaluate");
  LM_CHECK_AS(ErrorCode::Unsupported, dev == Device::CPU || wdt == DType::F32,
              "evaluate --device cuda: --weights {} is a CPU (oneDNN) option; the GPU evaluates in f32", weights);
  LM_CHECK(max_new >= 1, "--max-new-tokens {} must be >= 1", max_new);
  LM_CHECK(so.max_length >= 8 && so.doc_stride >= 1 && so.max_answer_length >= 1,
           "--max-length must be >= 8, --doc-stride and --max-answer-length >= 1");
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(data) && !is_directory(data), "--data {} does not exist", data);
  auto model = models::load_model_dir(dir);
  auto* gpt = dynamic_cast<models::Gpt*>(model.get());
  auto* bert = dynamic_cast<models::Bert*>(model.get());
  LM_CHECK_AS(ErrorCode::Unsupported,
              gpt != nullptr || (bert && bert->config().head == models::BertHead::QuestionAnswering),
              "--task qa needs a gpt2 model (generative) or a BertForQuestionAnswering model (extractive); {} is {}",
              dir, bert ? bert->config().architecture : model->model_type());
  LM_CHECK_AS(ErrorCode::NotFound, has_tokenizer_files(dir), "--task qa needs tokenizer files in {}", dir);
  LM_CHECK_AS(ErrorCode::Unsupported, bert || wdt == DType::F32,
              "evaluate --task qa: --weights {} is a BERT option; gpt2 models answer with f32 weights", weights);
  LM_CHECK_AS(ErrorCode::Unsupported, bert || dev == Device::CPU,
              "evaluate --task qa --device cuda: runs BertForQuestionAnswering models; gpt2 QA evaluates on the CPU");
  if (bert) bert->set_inference_dtype(wdt);
  std::unique_ptr<models::Bert> on_gpu;
  if (bert && dev == Device::CUDA) {  // the same weights, loaded into a GPU model (batches stay on the host)
    on_gpu = std::make_unique<models::Bert>(bert->config(), Device::CUDA);
    on_gpu->load_safetensors(path_join(dir, "model.safetensors"));
    bert = on_gpu.get();
  }
  auto tok = load_tokenizer(dir);
  std::vector<QaExample> ex = read_qa(data);
  if (max_examples > 0 && static_cast<int64_t>(ex.size()) > max_examples) ex.resize(static_cast<size_t>(max_examples));
  train::QaEval ev;
  if (gpt) {
    int64_t eos = gpt->config().eos_token_id;
    if ((eos < 0 || eos >= gpt->vocab_size()) && tok->eos_id()) eos = *tok->eos_id();
    ev = train::evaluate_generative_qa(*gpt, *tok, ex, static_cast<int32_t>(eos), max_new, true);
  } else {
    so.max_length = std::min<int64_t>(so.max_length, bert->max_positions());
    ev = train::evaluate_extractive_qa(*bert, ex, train::build_span_features(*tok, ex, so, false), so);
  }
  LM_CHECK(ev.count > 0, "{} holds no answerable questions", data);
  if (pred_path) {
    Json preds = Json::object();
    size_t k = 0;
    for (const auto& e : ex) {
      if (e.answers.empty()) continue;
      preds[e.id.empty() ? std::to_string(k) : e.id] = ev.predictions[k];
      ++k;
    }
    write_file_atomic(*pred_path, preds.dump(2) + "\n");
  }
  if (json)
    std::printf("%s\n", Json{{"exact_match", ev.exact_match}, {"f1", ev.f1}, {"count", ev.count}, {"weights", weights}}
                             .dump()
                             .c_str());
  else
    std::printf("%s: exact match %.2f F1 %.2f (percent) over %lld questions\n", data.c_str(), ev.exact_match, ev.f1,
                static_cast<long long>(ev.count));
  return 0;
}

int run_evaluate(Args& a) {
  std::string dir = a.require("--model");
  std::string task = a.require("--task");
  std::string data = a.require("--data");
  if (task == "classify" || task == "qa") {
    bool json = a.flag("--json");
    set_num_threads(static_cast<int>(a.get_int("--threads", 0)));
    return task == "classify" ? eval_classify(a, dir, data, json) : eval_qa(a, dir, data, json);
  }
  std::string split = a.get_or("--split", "val");
  int64_t max_len = a.get_int("--max-length", 0);
  int64_t stride = a.get_int("--stride", 0);
  int64_t max_tokens = a.get_int("--max-tokens", 0);
  bool json = a.flag("--json");
  set_num_threads(static_cast<int>(a.get_int("--threads", 0)));
  a.finish();
  LM_CHECK(task == "lm", "unknown --task {} (expected lm, classify or qa)", task);
  auto model = models::load_model_dir(dir);
  auto* gpt = dynamic_cast<models::Gpt*>(model.get());
  LM_CHECK_AS(ErrorCode::Unsupported, gpt != nullptr, "--task lm needs a gpt2 model; {} is {}", dir,
              model->model_type());
  if (max_len == 0) max_len = gpt->max_positions();
  if (stride == 0) stride = max_len / 2;
  LM_CHECK(max_len >= 2 && max_len <= gpt->max_positions(), "--max-length {} must be in [2, n_positions {}]", max_len,
           gpt->max_positions());
  LM_CHECK(stride >= 1 && stride <= max_len, "--stride {} must be in [1, --max-length {}]", stride, max_len);
  std::vector<int32_t> ids;
  std::string source;
  if (is_directory(data)) {
    for (const auto& path : list_shards(data, split)) {
      Shard s(path);
      const uint64_t take = max_tokens > 0 ? std::min<uint64_t>(s.size(), static_cast<uint64_t>(max_tokens) - ids.size())
                                           : s.size();
      size_t off = ids.size();
      ids.resize(off + take);
      s.read(0, take, ids.data() + off);
      if (max_tokens > 0 && static_cast<int64_t>(ids.size()) >= max_tokens) break;
    }
    source = data + " (" + split + " shards)";
  } else {
    LM_CHECK_AS(ErrorCode::NotFound, file_exists(data), "--data {} does not exist", data);
    LM_CHECK_AS(ErrorCode::NotFound, has_tokenizer_files(dir), "scoring a text file needs tokenizer files in {}",
                dir);
    ids = load_tokenizer(dir)->encode(read_file(data), false);
    if (max_tokens > 0 && static_cast<int64_t>(ids.size()) > max_tokens) ids.resize(static_cast<size_t>(max_tokens));
    source = data;
  }
  LM_CHECK(ids.size() >= 2, "{} holds {} tokens; at least 2 are needed", source, ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    LM_CHECK(ids[i] >= 0 && ids[i] < gpt->vocab_size(), "{}: token {} at index {} is out of range for vocab_size {}",
             source, ids[i], i, gpt->vocab_size());
  LmEval r = sliding_window(*gpt, ids, max_len, stride);
  const double loss = r.nll / static_cast<double>(r.tokens);
  if (json)
    std::printf("{\"loss\": %.9g, \"perplexity\": %.9g, \"tokens\": %lld}\n", loss, std::exp(loss),
                static_cast<long long>(r.tokens));
  else
    std::printf("%s: loss %.4f perplexity %.3f over %lld tokens (max length %lld, stride %lld)\n", source.c_str(),
                loss, std::exp(loss), static_cast<long long>(r.tokens), static_cast<long long>(max_len),
                static_cast<long long>(stride));
  return 0;
}

LM_COMMAND("evaluate", "evaluate a model (perplexity, classification accuracy/F1, QA exact match/F1)",
           "usage: lmcpp evaluate --model DIR --task lm --data (PREPARED_DIR | FILE.txt) [--split val|train]\n"
           "                      [--max-length N] [--stride S] [--max-tokens N] [--json] [--threads N]\n"
           "  Perplexity over the data's tokens with windows of --max-length (default n_positions) advanced by\n"
           "  --stride (default half of it); every token after the first is scored once, as in HF's recipe.\n"
           "  --json prints {\"loss\", \"perplexity\", \"tokens\"}.\n"
           "       lmcpp evaluate --model DIR --task classify --data FILE [--max-length 128] [--batch-size 64]\n"
           "                      [--weights f32|bf16|int8] [--device cpu|cuda] [--json]\n"
           "  BertForSequenceClassification on TSV / SST / JSONL data: accuracy, macro F1, confusion matrix\n"
           "  (rows gold, columns predicted); --json: {\"accuracy\", \"f1\", \"confusion_matrix\", \"loss\",\n"
           "  \"count\", \"labels\", \"weights\"}. --weights bf16 runs the encoder's linear layers from a bf16\n"
           "  copy on oneDNN's AMX / AVX512_BF16 matmul (needs such a CPU); --weights int8 runs them dynamically\n"
           "  quantized (int8 weights per output channel, int8 activations per sequence, AMX / VNNI int8 matmul).\n"
           "  --device cuda: the model on one GPU.\n"
           "       lmcpp evaluate --model DIR --task qa --data SQUAD.json|FILE.jsonl [--max-new-tokens 30]\n"
           "                      [--max-examples N] [--predictions OUT.json] [--json]\n"
           "                      [--max-length 384] [--doc-stride 128] [--max-answer-length 30]\n"
           "                      [--weights f32|bf16|int8] [--device cpu|cuda] (BERT)\n"
           "  GPT-2 generative QA: greedy answer after \"{context}\\nQuestion: {question}\\nAnswer:\" until eos or a\n"
           "  newline; BertForQuestionAnswering: best context span (windows of 384 tokens, stride 128, at most 30\n"
           "  tokens). SQuAD v1.1 exact match and F1 in percent; --json: {\"exact_match\", \"f1\", \"count\",\n"
           "  \"weights\"}.",
           run_evaluate);

}  // namespace
}  // namespace lm::cli
