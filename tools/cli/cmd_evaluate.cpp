// `lmcpp evaluate`: --task classify (accuracy / macro F1 / confusion matrix of a BERT classifier) and --task qa
// (generative QA exact match / F1 of a GPT-2 model) use lm/train/finetune; --task lm: perplexity of a GPT model
// on a prepared data directory (its val shards, or --split train) or a text file, with HF's sliding-window
// recipe for texts longer than the context: windows of --max-length tokens advanced by --stride, each scoring
// only the tokens the previous window did not. The flags of the three tasks are declared together; a task's own
// flags (only_with "--task") are a usage error under another task.
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "lm/interop/open.h"
#include "lm/core/buffer.h"
#include "lm/core/device.h"
#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/data/task_data.h"
#include "lm/models/model.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/chat.h"
#include "lm/train/finetune.h"
#include "lm/train/perplexity.h"

namespace lm::cli {
namespace {

const std::vector<std::string> kLm = {"lm"}, kClassify = {"classify"}, kQa = {"qa"}, kBert = {"classify", "qa"},
                               kChat = {"chat"}, kQaChat = {"qa", "chat"},
                               kBertChat = {"classify", "qa", "chat"};
const train::SpanOptions kSpan;

const CommandSpec kEvaluate{
    .name = "evaluate",
    .summary = "evaluate a model (perplexity, classification accuracy/F1, QA exact match/F1)",
    .description =
        "--task lm: perplexity of a GPT model over the tokens of a prepared directory (its --split shards) or a "
        "text file, with windows of --max-length tokens (default n_positions) advanced by --stride (default half of "
        "it); every token after the first is scored once, as in HF's recipe. --json prints {\"loss\", "
        "\"perplexity\", \"tokens\"}.\n"
        "--task classify: a BertForSequenceClassification model on TSV / SST / JSONL data: accuracy, macro F1, "
        "confusion matrix (rows gold, columns predicted); --json: {\"accuracy\", \"f1\", \"confusion_matrix\", "
        "\"loss\", \"count\", \"labels\", \"weights\"}.\n"
        "--task qa: GPT-2 generative QA (greedy answer after \"{context}\\nQuestion: {question}\\nAnswer:\" until "
        "eos or a newline) or BertForQuestionAnswering (best context span: windows of --max-length tokens advanced by "
        "--doc-stride, at most --max-answer-length tokens) on SQuAD JSON or JSON Lines; SQuAD v1.1 exact match and F1 "
        "in percent; --json: {\"exact_match\", \"f1\", \"count\", \"weights\"}.\n"
        "--task chat: a causal LM on dialogue JSON Lines {\"messages\": [...]}: cross-entropy of every assistant "
        "turn given the earlier turns, rendered with the model's chat template (a dialogue longer than the context: "
        "each assistant turn with the most recent whole turns that fit; every assistant token is scored once); "
        "--generate also replies greedily to each assistant turn (at most --max-new-tokens, the first --max-examples "
        "replies) and scores unigram F1 against the reference; --json: {\"loss\", \"perplexity\", \"tokens\", "
        "\"dialogues\"} (+ \"f1\", \"replies\").\n"
        "BERT models (classify, extractive qa): --weights bf16 runs the encoder's linear layers from a bf16 copy on "
        "oneDNN's AMX / AVX512_BF16 matmul (needs such a CPU); --weights int8 runs them dynamically quantized (int8 "
        "weights per output channel, int8 activations per sequence, AMX / VNNI int8 matmul); --device cuda: the "
        "model on one GPU.",
    .flags = {
        string_flag("--model", "DIR", "model directory").required(),
        adapter_flag(),
        choice_flag("--task", {"lm", "classify", "qa", "chat"}, std::nullopt, "what to measure (see above)").required(),
        string_flag("--data", "PATH",
                    "lm: a prepared directory or a text file; classify: TSV / SST / JSONL; qa: SQuAD JSON or JSONL; "
                    "chat: dialogue JSON Lines")
            .required(),
        bool_flag("--json", "one JSON line: lm {\"loss\", \"perplexity\", \"tokens\"}; classify {\"accuracy\", \"f1\", "
                            "\"confusion_matrix\", \"loss\", \"count\", \"labels\", \"weights\"}; qa {\"exact_match\", "
                            "\"f1\", \"count\", \"weights\"}; chat {\"loss\", \"perplexity\", \"tokens\", \"dialogues\"} "
                            "(--generate: + \"f1\", \"replies\")"),
        int_flag("--threads", "N", 0, "CPU threads (0: all)"),
        int_flag("--max-length", "N",
                 "tokens per window / sequence (default: lm n_positions, classify 128, qa 384 for BERT)"),
        choice_flag("--split", {"val", "train"}, "val", "which shards of a prepared directory")
            .only_with("--task", kLm),
        int_flag("--stride", "S", 0, "window advance in tokens (0: half of --max-length)").only_with("--task", kLm),
        int_flag("--max-tokens", "N", 0, "score only the first N tokens (0: all)").only_with("--task", kLm),
        int_flag("--batch-size", "N", 64, "sequences per forward pass").only_with("--task", kClassify),
        choice_flag("--weights", {"f32", "bf16", "int8"}, "f32", "BERT weights for the linear layers (CPU)")
            .only_with("--task", kBert),
        choice_flag("--device", {"cpu", "cuda"}, "cpu", "where the model runs (BERT; gpt2 QA runs on the CPU)")
            .only_with("--task", kBert),
        int_flag("--max-new-tokens", "N", 30, "GPT-2: answer / reply tokens at most").only_with("--task", kQaChat),
        int_flag("--max-examples", "N", 0,
                 "evaluate the first N examples only: sentences, questions, dialogues (and at most N generated "
                 "replies) (0: all)")
            .only_with("--task", kBertChat),
        bool_flag("--generate", "chat: also generate replies and score unigram F1").only_with("--task", kChat),
        string_flag("--predictions", "OUT.json", "write {id: predicted answer}").only_with("--task", kQa),
        int_flag("--doc-stride", "N", kSpan.doc_stride, "BERT: window advance in tokens").only_with("--task", kQa),
        int_flag("--max-answer-length", "N", kSpan.max_answer_length, "BERT: answer span tokens at most")
            .only_with("--task", kQa),
    },
    .examples = {
        {.command = "lmcpp evaluate --model out/wikipedia/model --task lm --data out/wikipedia/data --json",
         .comment = "perplexity on the val shards"},
        {.command = "lmcpp evaluate --model out/sst2 --task classify --data ../shared/data/sst2/stsa.binary.dev --json"},
        {.command = "lmcpp evaluate --model out/chat/model --task chat --data ../shared/data/dialogue/topical-chat.dev.jsonl --json"},
    },
};

// --task classify: accuracy, macro F1, confusion matrix [gold][predicted] and mean cross-entropy of a
// The tokenizer directory: --adapter's when it has tokenizer files, else --model's.
std::string tokenizer_dir(const Flags& f, const std::string& dir) {
  return interop::tokenizer_source(dir, f.str("--adapter"));
}

// BertForSequenceClassification directory on a classification file (labels named as its id2label).
int eval_classify(const Flags& f, const std::string& dir, const std::string& data, bool json) {
  const int64_t max_len = f.given("--max-length") ? f.i64("--max-length") : 128;
  const int64_t batch = f.i64("--batch-size");
  const std::string weights = f.str("--weights");
  const std::string device = f.str("--device");
  const DType wdt = parse_bert_weights(weights);
  parse_device(device, "evaluate");
  LM_CHECK_AS(ErrorCode::Unsupported, device == "cpu" || weights == "f32",
              "evaluate --device cuda: --weights {} is a CPU (oneDNN) option; the GPU evaluates in f32", weights);
  LM_CHECK(max_len >= 2, "--max-length {} must be >= 2", max_len);
  LM_CHECK(batch >= 1, "--batch-size {} must be >= 1", batch);
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(data) && !is_directory(data), "--data {} does not exist", data);
  std::unique_ptr<models::Model> model = interop::load_model(dir, f.str("--adapter"));
  LM_CHECK_AS(ErrorCode::Unsupported, model->head() == models::Head::SequenceClassification,
              "--task classify needs a sequence-classification model (BertForSequenceClassification); {} is {}", dir,
              model->architecture());
  LM_CHECK_AS(ErrorCode::NotFound, interop::has_model_tokenizer(tokenizer_dir(f, dir)), "--task classify needs tokenizer files in {}", dir);
  const std::vector<std::string> names = model->labels();
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
  const int64_t max_examples = f.i64("--max-examples");
  if (max_examples > 0 && static_cast<int64_t>(cd.examples.size()) > max_examples)
    cd.examples.resize(static_cast<size_t>(max_examples));
  auto tok = interop::load_model_tokenizer(tokenizer_dir(f, dir));
  auto feats = train::encode_classification(*tok, cd, std::min(max_len, model->max_positions()));
  model->set_inference_dtype(wdt);
  if (device == "cuda") model = model->to(Device::CUDA);  // the same weights on a GPU (batches stay on the host)
  train::ClassifyEval ev = train::evaluate_classifier(*model, feats, batch, {"evaluate", "examples"});
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
int eval_qa(const Flags& f, const std::string& dir, const std::string& data, bool json) {
  const int64_t max_new = f.i64("--max-new-tokens");
  const int64_t max_examples = f.i64("--max-examples");
  const std::optional<std::string> pred_path = f.get("--predictions");
  train::SpanOptions so;
  if (f.given("--max-length")) so.max_length = f.i64("--max-length");
  so.doc_stride = f.i64("--doc-stride");
  so.max_answer_length = f.i64("--max-answer-length");
  const std::string weights = f.str("--weights");
  const DType wdt = parse_bert_weights(weights);
  const std::string device = f.str("--device");
  const Device dev = parse_device(device, "evaluate");
  LM_CHECK_AS(ErrorCode::Unsupported, dev == Device::CPU || wdt == DType::F32,
              "evaluate --device cuda: --weights {} is a CPU (oneDNN) option; the GPU evaluates in f32", weights);
  LM_CHECK(max_new >= 1, "--max-new-tokens {} must be >= 1", max_new);
  LM_CHECK(so.max_length >= 8 && so.doc_stride >= 1 && so.max_answer_length >= 1,
           "--max-length must be >= 8, --doc-stride and --max-answer-length >= 1");
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(data) && !is_directory(data), "--data {} does not exist", data);
  std::unique_ptr<models::Model> model = interop::load_model(dir, f.str("--adapter"));
  const bool generative = model->causal_lm() != nullptr;
  const bool extractive = model->head() == models::Head::QuestionAnswering;
  LM_CHECK_AS(ErrorCode::Unsupported, generative || extractive,
              "--task qa needs a causal LM (gpt2, generative) or a span question-answering model "
              "(BertForQuestionAnswering, extractive); {} is {}", dir, model->architecture());
  LM_CHECK_AS(ErrorCode::NotFound, interop::has_model_tokenizer(tokenizer_dir(f, dir)), "--task qa needs tokenizer files in {}", dir);
  LM_CHECK_AS(ErrorCode::Unsupported, extractive || wdt == DType::F32,
              "evaluate --task qa: --weights {} is a BERT option; gpt2 models answer with f32 weights", weights);
  LM_CHECK_AS(ErrorCode::Unsupported, extractive || dev == Device::CPU,
              "evaluate --task qa --device cuda: runs BertForQuestionAnswering models; gpt2 QA evaluates on the CPU");
  model->set_inference_dtype(wdt);
  if (dev == Device::CUDA) model = model->to(Device::CUDA);  // the same weights on a GPU (batches stay on the host)
  auto tok = interop::load_model_tokenizer(tokenizer_dir(f, dir));
  std::vector<QaExample> ex = read_qa(data);
  if (max_examples > 0 && static_cast<int64_t>(ex.size()) > max_examples) ex.resize(static_cast<size_t>(max_examples));
  train::QaEval ev;
  if (generative) {
    int64_t eos = model->causal_lm()->eos_token_id();
    if ((eos < 0 || eos >= model->vocab_size()) && tok->eos_id()) eos = *tok->eos_id();
    ev = train::evaluate_generative_qa(*model->causal_lm(), *tok, ex, static_cast<int32_t>(eos), max_new,
                                       {"evaluate", "questions"});
  } else {
    so.max_length = std::min<int64_t>(so.max_length, model->max_positions());
    ev = train::evaluate_extractive_qa(*model, ex, train::build_span_features(*tok, ex, so, false), so,
                                       {"evaluate", "windows"});
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

// --task lm: sliding-window perplexity of a causal LM.
int eval_lm(const Flags& f, const std::string& dir, const std::string& data, bool json) {
  const std::string split = f.str("--split");
  int64_t max_len = f.given("--max-length") ? f.i64("--max-length") : 0;
  int64_t stride = f.i64("--stride");
  const int64_t max_tokens = f.i64("--max-tokens");
  auto model = interop::load_model(dir, f.str("--adapter"));
  LM_CHECK_AS(ErrorCode::Unsupported, model->causal_lm() != nullptr,
              "--task lm needs a causal language model (gpt2); {} is {}", dir, model->architecture());
  if (max_len == 0) max_len = model->max_positions();
  if (stride == 0) stride = max_len / 2;
  LM_CHECK(max_len >= 2 && max_len <= model->max_positions(), "--max-length {} must be in [2, n_positions {}]",
           max_len, model->max_positions());
  LM_CHECK(stride >= 1 && stride <= max_len, "--stride {} must be in [1, --max-length {}]", stride, max_len);
  std::string source;
  LM_CHECK_AS(ErrorCode::NotFound, is_directory(data) || file_exists(data), "--data {} does not exist", data);
  auto tok = interop::has_model_tokenizer(tokenizer_dir(f, dir)) ? interop::load_model_tokenizer(tokenizer_dir(f, dir)) : nullptr;
  const std::vector<int32_t> ids = train::read_eval_tokens(data, split, tok.get(), max_tokens, source);
  LM_CHECK(ids.size() >= 2, "{} holds {} tokens; at least 2 are needed", source, ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    LM_CHECK(ids[i] >= 0 && ids[i] < model->vocab_size(), "{}: token {} at index {} is out of range for vocab_size {}",
             source, ids[i], i, model->vocab_size());
  const train::PerplexityResult r = train::sliding_window_perplexity(*model, ids, max_len, stride);
  const double loss = r.nll / static_cast<double>(r.tokens);
  if (json)
    std::printf("%s\n", OrderedJson{{"loss", loss}, {"perplexity", std::exp(loss)}, {"tokens", r.tokens}}.dump().c_str());
  else
    std::printf("%s: loss %.4f perplexity %.3f over %lld tokens (max length %lld, stride %lld)\n", source.c_str(),
                loss, std::exp(loss), static_cast<long long>(r.tokens), static_cast<long long>(max_len),
                static_cast<long long>(stride));
  return 0;
}

// --task chat: assistant-turn loss / perplexity (and with --generate unigram F1 of greedy replies).
int eval_chat(const Flags& f, const std::string& dir, const std::string& data, bool json) {
  const int64_t max_new = f.i64("--max-new-tokens"), max_examples = f.i64("--max-examples");
  LM_CHECK(max_new >= 1, "--max-new-tokens {} must be >= 1", max_new);
  std::vector<train::Dialogue> dialogues = train::read_dialogues(data);
  LM_CHECK(!dialogues.empty(), "{} holds no dialogues", data);
  if (max_examples > 0 && static_cast<int64_t>(dialogues.size()) > max_examples)
    dialogues.resize(static_cast<size_t>(max_examples));
  auto model = interop::load_model(dir, f.str("--adapter"));
  LM_CHECK_AS(ErrorCode::Unsupported, model->causal_lm() != nullptr,
              "--task chat needs a causal language model (gpt2); {} is {}", dir, model->architecture());
  LM_CHECK_AS(ErrorCode::NotFound, interop::has_model_tokenizer(tokenizer_dir(f, dir)), "--task chat needs tokenizer files in {}", dir);
  auto tok = interop::load_model_tokenizer(tokenizer_dir(f, dir));
  const ChatFormat fmt = interop::load_model_chat_format(tokenizer_dir(f, dir), "", *tok);
  train::ChatEval ev = train::evaluate_chat_loss(*model, fmt, dialogues, 8, {"evaluate", "pieces"});
  LM_CHECK(ev.tokens > 0, "{} holds no assistant turns", data);
  Json out{{"loss", ev.loss}, {"perplexity", ev.perplexity}, {"tokens", ev.tokens}, {"dialogues", ev.dialogues}};
  if (f.on("--generate")) {
    train::evaluate_chat_replies(*model->causal_lm(), fmt, dialogues, max_new, max_examples, ev, true);
    out["f1"] = ev.f1;
    out["replies"] = ev.replies;
  }
  if (json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%s: assistant-token loss %.4f perplexity %.3f over %lld tokens of %lld dialogues\n", data.c_str(),
                ev.loss, ev.perplexity, static_cast<long long>(ev.tokens), static_cast<long long>(ev.dialogues));
    if (ev.f1 >= 0)
      std::printf("unigram F1 %.2f (percent) over %lld greedy replies\n", ev.f1, static_cast<long long>(ev.replies));
  }
  return 0;
}

int run_evaluate(const Flags& f) {
  const std::string dir = f.str("--model");
  const std::string task = f.str("--task");
  const std::string data = f.str("--data");
  const bool json = f.on("--json");
  set_num_threads(static_cast<int>(f.i64("--threads")));
  if (task == "classify") return eval_classify(f, dir, data, json);
  if (task == "qa") return eval_qa(f, dir, data, json);
  if (task == "chat") return eval_chat(f, dir, data, json);
  return eval_lm(f, dir, data, json);
}

LM_DECLARE_COMMAND(kEvaluate, run_evaluate);

}  // namespace
}  // namespace lm::cli
