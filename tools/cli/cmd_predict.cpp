// `lmcpp predict`: one text (or a pair) through a BERT model directory with its tokenizer. Sequence
// classification: the id2label label, its probability and every label's softmax probability. MLM / pretraining
// heads: the top-5 fill-mask candidates (token, id, probability) for each [MASK], as HF's fill-mask pipeline.
// Question answering: the best context span from the start/end logits.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "command.h"
#include "lm/core/buffer.h"
#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/models/bert/bert.h"
#include "lm/tokenize/batch.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

// Softmax of n logits in double (probabilities are printed, so compute them as exactly as is cheap).
std::vector<double> softmax(const float* x, int64_t n) {
  double mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, static_cast<double>(x[i]));
  std::vector<double> p(static_cast<size_t>(n));
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += p[static_cast<size_t>(i)] = std::exp(static_cast<double>(x[i]) - mx);
  for (auto& v : p) v /= s;
  return p;
}

int run_predict(Args& a) {
  std::string dir = a.require("--model");
  std::string text = a.require("--text");
  auto pair = a.get("--text-pair");
  bool json = a.flag("--json");
  set_num_threads(static_cast<int>(a.get_int("--threads", 0)));
  const std::string weights = a.get_or("--weights", "f32");
  const DType wdt = parse_bert_weights(weights);
  const Device dev = parse_device(a.get_or("--device", "cpu"), "predict");
  a.finish();
  LM_CHECK_AS(ErrorCode::Unsupported, dev == Device::CPU || wdt == DType::F32,
              "predict --device cuda: --weights {} is a CPU (oneDNN) option; the GPU predicts in f32", weights);
  auto model = models::load_model_dir(dir);
  auto* bert = dynamic_cast<models::Bert*>(model.get());
  LM_CHECK_AS(ErrorCode::Unsupported, bert != nullptr, "predict needs a BERT model; {} is {}", dir,
              model->model_type());
  bert->set_inference_dtype(wdt);
  std::unique_ptr<models::Bert> on_gpu;
  if (dev == Device::CUDA) {  // the same weights, loaded into a GPU model (the example is uploaded by forward)
    on_gpu = std::make_unique<models::Bert>(bert->config(), Device::CUDA);
    on_gpu->load_safetensors(path_join(dir, "model.safetensors"));
    bert = on_gpu.get();
  }
  const auto& cfg = bert->config();
  const bool classify = cfg.head == models::BertHead::SequenceClassification;
  const bool qa = cfg.head == models::BertHead::QuestionAnswering;
  LM_CHECK_AS(ErrorCode::Unsupported, classify || qa || cfg.has_mlm(),
              "predict supports BertForSequenceClassification (labels), BertForQuestionAnswering (answer span) and "
              "BertForPreTraining / BertForMaskedLM (fill-mask); {} is {}", dir, cfg.architecture);
  LM_CHECK(!qa || pair.has_value(), "BertForQuestionAnswering needs --text QUESTION --text-pair CONTEXT");
  LM_CHECK_AS(ErrorCode::NotFound, has_tokenizer_files(dir), "predict needs tokenizer files (vocab.txt) in {}", dir);
  auto tok = load_tokenizer(dir);

  EncodeOptions opt;
  opt.truncation = Truncation::LongestFirst;
  opt.max_length = bert->max_positions();
  std::string_view pv = pair ? std::string_view(*pair) : std::string_view();
  Encoding enc = encode_one(*tok, text, pair ? &pv : nullptr, opt);
  const int64_t T = static_cast<int64_t>(enc.input_ids.size());
  LM_CHECK(T >= 1, "--text encodes to no tokens");
  OwnedTensor ids(Shape{1, T}, DType::I32), types(Shape{1, T}, DType::I32);
  for (int64_t t = 0; t < T; ++t) {
    LM_CHECK(enc.input_ids[static_cast<size_t>(t)] < bert->vocab_size(),
             "token id {} is out of range for the model's vocab_size {} (tokenizer and model disagree)",
             enc.input_ids[static_cast<size_t>(t)], bert->vocab_size());
    ids.t.ptr<int32_t>()[t] = enc.input_ids[static_cast<size_t>(t)];
    int32_t ty = enc.token_type_ids.empty() ? 0 : enc.token_type_ids[static_cast<size_t>(t)];
    types.t.ptr<int32_t>()[t] = std::min<int32_t>(ty, static_cast<int32_t>(cfg.type_vocab_size - 1));
  }
  // The outputs as host f32 vectors (a GPU model's are read back).
  std::vector<std::vector<float>> outs;
  std::vector<Shape> shapes;
  for (const auto& [name, t] : bert->infer(ids.t, types.t, Tensor())) {
    outs.emplace_back(static_cast<size_t>(t.numel()));
    copy_bytes(outs.back().data(), Device::CPU, t.data, t.device, t.nbytes());
    shapes.push_back(t.shape);
  }

  if (classify) {
    auto p = softmax(outs[0].data(), cfg.num_labels);  // logits (1, NL)
    const size_t best = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    if (json) {
      Json probs = Json::object();
      for (size_t i = 0; i < p.size(); ++i) probs[cfg.id2label[i]] = p[i];
      Json j = {{"label", cfg.id2label[best]}, {"id", best}, {"score", p[best]}, {"probabilities", probs}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%s\t%.6f\n", cfg.id2label[best].c_str(), p[best]);
      for (size_t i = 0; i < p.size(); ++i) std::printf("  %s\t%.6f\n", cfg.id2label[i].c_str(), p[i]);
    }
    return 0;
  }

  if (qa) {
    // Best span inside the context (token type 1, excluding the final [SEP]) with start <= end < start + 30,
    // scored as HF's pipeline: p_start * p_end with softmaxes over the context positions.
    const float* sl = outs[0].data();
    const float* el = outs[1].data();
    std::vector<int64_t> ctx;
    for (int64_t t = 0; t + 1 < T; ++t)
      if (types.t.ptr<int32_t>()[t] == 1) ctx.push_back(t);
    LM_CHECK(!ctx.empty(), "the context is empty after tokenization/truncation");
    std::vector<float> cs, ce;
    for (int64_t t : ctx) {
      cs.push_back(sl[t]);
      ce.push_back(el[t]);
    }
    auto ps = softmax(cs.data(), static_cast<int64_t>(cs.size())), pe = softmax(ce.data(), static_cast<int64_t>(ce.size()));
    size_t bs = 0, be = 0;
    double best = -1;
    for (size_t i = 0; i < ctx.size(); ++i)
      for (size_t k = i; k < ctx.size() && k < i + 30; ++k)
        if (ps[i] * pe[k] > best) {
          best = ps[i] * pe[k];
          bs = i;
          be = k;
        }
    std::vector<int32_t> span(enc.input_ids.begin() + ctx[bs], enc.input_ids.begin() + ctx[be] + 1);
    std::string answer = tok->decode(span, true);
    if (json) {
      Json j = {{"answer", answer}, {"start", ctx[bs]}, {"end", ctx[be]}, {"score", best}};
      std::printf("%s\n", j.dump().c_str());
    } else {
      std::printf("%s\t%.6f\n", answer.c_str(), best);
    }
    return 0;
  }

  auto mask_id = tok->token_to_id("[MASK]");
  LM_CHECK_AS(ErrorCode::NotFound, mask_id.has_value(), "the tokenizer in {} has no [MASK] token", dir);
  const float* logits = outs[0].data();  // (1, T, V)
  const int64_t V = shapes[0][2];
  Json masks = Json::array();
  for (int64_t t = 0; t < T; ++t) {
    if (enc.input_ids[static_cast<size_t>(t)] != *mask_id) continue;
    auto p = softmax(logits + t * V, V);
    std::vector<int32_t> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    const size_t k = std::min<size_t>(5, order.size());
    // Ties broken by the lower id, so the output is deterministic.
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](int32_t x, int32_t y) { return p[x] > p[y] || (p[x] == p[y] && x < y); });
    Json cands = Json::array();
    for (size_t i = 0; i < k; ++i)
      cands.push_back({{"token", tok->decode({order[i]})}, {"id", order[i]}, {"probability", p[order[i]]}});
    masks.push_back({{"position", t}, {"candidates", cands}});
  }
  LM_CHECK(!masks.empty(), "--text has no [MASK] token to fill");
  if (json) {
    std::printf("%s\n", Json{{"masks", masks}}.dump().c_str());
  } else {
    for (const auto& m : masks) {
      std::printf("[MASK] at position %lld:\n", static_cast<long long>(m["position"].get<int64_t>()));
      for (const auto& c : m["candidates"])
        std::printf("  %-16s id %-6d %.6f\n", c["token"].get<std::string>().c_str(), c["id"].get<int>(),
                    c["probability"].get<double>());
    }
  }
  return 0;
}

LM_COMMAND("predict", "classify a text (or pair) or fill [MASK] tokens with a BERT model",
           "usage: lmcpp predict --model DIR --text TEXT [--text-pair TEXT] [--weights f32|bf16|int8] [--json]\n"
           "                     [--device cpu|cuda] [--threads N]\n"
           "  BertForSequenceClassification: prints the id2label label and the probability of every label\n"
           "  (--json: {\"label\", \"id\", \"score\", \"probabilities\": {label: p}}).\n"
           "  BertForQuestionAnswering: --text is the question, --text-pair the context; prints the best answer\n"
           "  span (--json: {\"answer\", \"start\", \"end\", \"score\"}, token positions).\n"
           "  BertForPreTraining / BertForMaskedLM: the top-5 candidates for each [MASK] in the text\n"
           "  (--json: {\"masks\": [{\"position\", \"candidates\": [{\"token\", \"id\", \"probability\"}]}]}).\n"
           "  The model directory must hold the tokenizer files (vocab.txt); the text is truncated to\n"
           "  max_position_embeddings tokens. --weights bf16|int8: the encoder's linear layers in bf16 or dynamically\n"
           "  quantized int8 on oneDNN's AMX matmul (as evaluate --task classify). --device cuda: the model on one GPU\n"
           "  (f32; a LM_CUDA=ON build).",
           run_predict);

}  // namespace
}  // namespace lm::cli
