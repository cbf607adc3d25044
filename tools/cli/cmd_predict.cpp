// `lmcpp predict`: one text (or a pair) through an encoder model directory with its tokenizer, by the model's
// head: sequence classification (the id2label label, its probability and every label's), fill-mask (the top-5
// candidates for each [MASK], as HF's fill-mask pipeline) or span question answering (the best context span).
// The pipelines live in lm/generate/pipelines.h.
#include <cstdio>
#include <string>

#include "command.h"
#include "lm/interop/open.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/generate/pipelines.h"
#include "lm/models/model.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

const CommandSpec kPredict{
    .name = "predict",
    .summary = "classify a text (or pair), answer a question from a context, or fill [MASK] tokens",
    .description =
        "By the model's head: sequence classification prints the id2label label and the probability of every label "
        "(--json: {\"label\", \"id\", \"score\", \"probabilities\": {label: p}}); span question answering takes "
        "--text QUESTION --text-pair CONTEXT and prints the best answer span (--json: {\"answer\", \"start\", "
        "\"end\", \"score\"}, token positions); masked-LM / pretraining heads print the top-5 candidates for each "
        "[MASK] (--json: {\"masks\": [{\"position\", \"candidates\": [{\"token\", \"id\", \"probability\"}]}]}). "
        "The model directory must hold the tokenizer files; the text is truncated to the model's positions.",
    .flags = {
        string_flag("--model", "DIR", "model directory (with tokenizer files)").required(),
        adapter_flag(),
        string_flag("--text", "TEXT", "the text (question answering: the question)").required(),
        string_flag("--text-pair", "TEXT", "the second text of a pair (question answering: the context)"),
        choice_flag("--weights", {"f32", "bf16", "int8"}, "f32",
                    "encoder linear layers in f32, bf16 or dynamically quantized int8 on oneDNN's AMX / VNNI matmul "
                    "(CPU)"),
        choice_flag("--device", {"cpu", "cuda"}, "cpu", "the model on one GPU in f32 (a LM_CUDA=ON build)"),
        bool_flag("--json", "one JSON line: classification {\"label\", \"id\", \"score\", \"probabilities\"}; question "
                            "answering {\"answer\", \"start\", \"end\", \"score\"}; fill-mask {\"masks\": [{\"position\", "
                            "\"candidates\": [{\"token\", \"id\", \"probability\"}]}]}"),
        int_flag("--threads", "N", 0, "CPU threads (0: all cores)"),
    },
    .examples = {
        {.command = "lmcpp predict --model out/sst2 --text \"a gorgeous, witty film\" --json",
         .comment = "label and probabilities"},
        {.command = "lmcpp predict --model out/bert_small --text \"The capital of France is [MASK].\"",
         .comment = "fill-mask: the top 5 tokens"},
    },
};

void print_classification(const generate::Classification& c, bool json) {
  if (json) {
    Json probs = Json::object();
    for (const auto& l : c.labels) probs[l.label] = l.score;
    Json j = {{"label", c.best.label}, {"id", c.best.id}, {"score", c.best.score}, {"probabilities", probs}};
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("%s\t%.6f\n", c.best.label.c_str(), c.best.score);
  for (const auto& l : c.labels) std::printf("  %s\t%.6f\n", l.label.c_str(), l.score);
}

void print_fills(const std::vector<generate::MaskFill>& fills, bool json) {
  if (json) {
    Json masks = Json::array();
    for (const auto& f : fills) {
      Json cands = Json::array();
      for (const auto& c : f.candidates) cands.push_back({{"token", c.token}, {"id", c.id}, {"probability", c.probability}});
      masks.push_back({{"position", f.position}, {"candidates", cands}});
    }
    std::printf("%s\n", Json{{"masks", masks}}.dump().c_str());
    return;
  }
  for (const auto& f : fills) {
    std::printf("[MASK] at position %lld:\n", static_cast<long long>(f.position));
    for (const auto& c : f.candidates)
      std::printf("  %-16s id %-6d %.6f\n", c.token.c_str(), c.id, c.probability);
  }
}

int run_predict(const Flags& f) {
  const std::string dir = f.str("--model"), text = f.str("--text"), weights = f.str("--weights");
  const std::optional<std::string> pair = f.get("--text-pair");
  const bool json = f.on("--json");
  set_num_threads(static_cast<int>(f.i64("--threads")));
  const DType wdt = parse_bert_weights(weights);
  const Device dev = parse_device(f.str("--device"), "predict");
  LM_CHECK_AS(ErrorCode::Unsupported, dev == Device::CPU || wdt == DType::F32,
              "predict --device cuda: --weights {} is a CPU (oneDNN) option; the GPU predicts in f32", weights);
  const std::string adapter = f.str("--adapter"), tdir = interop::tokenizer_source(dir, adapter);
  std::unique_ptr<models::Model> model = interop::load_model(dir, adapter);
  const models::Head head = model->head();
  const bool classify = head == models::Head::SequenceClassification;
  const bool qa = head == models::Head::QuestionAnswering;
  LM_CHECK_AS(ErrorCode::Unsupported,
              classify || qa || head == models::Head::MaskedLM || head == models::Head::PreTraining,
              "predict supports sequence classification (labels), span question answering (answer span) and "
              "masked-LM / pretraining heads (fill-mask); {} is {}", dir, model->architecture());
  model->set_inference_dtype(wdt);
  if (dev == Device::CUDA) model = model->to(Device::CUDA);  // the same weights on a GPU (the example is uploaded)
  LM_CHECK(!qa || pair.has_value(), "{} answers questions: give --text QUESTION --text-pair CONTEXT",
           model->architecture());
  LM_CHECK_AS(ErrorCode::NotFound, interop::has_model_tokenizer(tdir), "predict needs tokenizer files (vocab.txt) in {}", dir);
  auto tok = interop::load_model_tokenizer(tdir);
  if (classify) {
    print_classification(generate::classify_text(*model, *tok, text, pair), json);
  } else if (qa) {
    const generate::SpanAnswer a = generate::answer_question(*model, *tok, text, *pair);
    if (json)
      std::printf("%s\n", Json{{"answer", a.answer}, {"start", a.start}, {"end", a.end}, {"score", a.score}}.dump().c_str());
    else
      std::printf("%s\t%.6f\n", a.answer.c_str(), a.score);
  } else {
    print_fills(generate::fill_mask(*model, *tok, text), json);
  }
  return 0;
}

LM_DECLARE_COMMAND(kPredict, run_predict);

}  // namespace
}  // namespace lm::cli
