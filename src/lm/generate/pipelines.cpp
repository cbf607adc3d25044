// The classification, fill-mask and span-QA pipelines (see pipelines.h).
#include "lm/generate/pipelines.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lm/core/buffer.h"
#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/nn/span.h"
#include "lm/tokenize/batch.h"

namespace lm::generate {

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

// One encoded example and the model's outputs on it, read to the host.
struct Run {
  Encoding enc;
  std::vector<int32_t> types;
  std::vector<std::vector<float>> outs;
  std::vector<Shape> shapes;
};

Run run_model(models::Model& model, const Tokenizer& tok, const std::string& text,
              const std::optional<std::string>& pair) {
  EncodeOptions opt;
  opt.truncation = Truncation::LongestFirst;
  opt.max_length = model.max_positions();
  std::string_view pv = pair ? std::string_view(*pair) : std::string_view();
  Run r;
  r.enc = encode_one(tok, text, pair ? &pv : nullptr, opt);
  const int64_t T = static_cast<int64_t>(r.enc.input_ids.size());
  LM_CHECK(T >= 1, "the text encodes to no tokens");
  const int64_t type_vocab = model.hf_config().value("type_vocab_size", int64_t{2});
  OwnedTensor ids(Shape{1, T}, DType::I32), types(Shape{1, T}, DType::I32);
  for (int64_t t = 0; t < T; ++t) {
    const int32_t id = r.enc.input_ids[static_cast<size_t>(t)];
    LM_CHECK(id < model.vocab_size(), "token id {} is out of range for the model's vocab_size {} (tokenizer and "
             "model disagree)", id, model.vocab_size());
    ids.t.ptr<int32_t>()[t] = id;
    const int32_t ty = r.enc.token_type_ids.empty() ? 0 : r.enc.token_type_ids[static_cast<size_t>(t)];
    types.t.ptr<int32_t>()[t] = std::min<int32_t>(ty, static_cast<int32_t>(type_vocab - 1));
  }
  r.types.assign(types.t.ptr<int32_t>(), types.t.ptr<int32_t>() + T);
  // A causal LM takes no token types.
  for (const auto& [name, t] : model.infer(ids.t, model.causal_lm() ? Tensor() : types.t, Tensor())) {  // a GPU model's outputs are read back
    r.outs.emplace_back(static_cast<size_t>(t.numel()));
    copy_bytes(r.outs.back().data(), Device::CPU, t.data, t.device, t.nbytes());
    r.shapes.push_back(t.shape);
  }
  return r;
}

}  // namespace

Classification classify_text(models::Model& model, const Tokenizer& tok, const std::string& text,
                             const std::optional<std::string>& pair) {
  LM_CHECK_AS(ErrorCode::Unsupported, model.head() == models::Head::SequenceClassification,
              "text classification needs a sequence-classification model; this one is {}", model.architecture());
  const std::vector<std::string> names = model.labels();
  const Run r = run_model(model, tok, text, pair);
  const auto p = softmax(r.outs[0].data(), static_cast<int64_t>(names.size()));  // logits (1, NL)
  Classification c;
  for (size_t i = 0; i < p.size(); ++i) c.labels.push_back({names[i], static_cast<int64_t>(i), p[i]});
  c.best = c.labels[static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin())];
  return c;
}

std::vector<MaskFill> fill_mask(models::Model& model, const Tokenizer& tok, const std::string& text, int64_t top_k) {
  const models::Head h = model.head();
  LM_CHECK_AS(ErrorCode::Unsupported, h == models::Head::MaskedLM || h == models::Head::PreTraining,
              "fill-mask needs a masked-LM model; this one is {}", model.architecture());
  auto mask_id = tok.token_to_id("[MASK]");
  LM_CHECK_AS(ErrorCode::NotFound, mask_id.has_value(), "the tokenizer has no [MASK] token");
  const Run r = run_model(model, tok, text, std::nullopt);
  const float* logits = r.outs[0].data();  // (1, T, V)
  const int64_t V = r.shapes[0][2], T = static_cast<int64_t>(r.enc.input_ids.size());
  std::vector<MaskFill> fills;
  for (int64_t t = 0; t < T; ++t) {
    if (r.enc.input_ids[static_cast<size_t>(t)] != *mask_id) continue;
    auto p = softmax(logits + t * V, V);
    std::vector<int32_t> order(static_cast<size_t>(V));
    std::iota(order.begin(), order.end(), 0);
    const size_t k = std::min<size_t>(static_cast<size_t>(top_k), order.size());
    // Ties broken by the lower id, so the output is deterministic.
    std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                      [&](int32_t x, int32_t y) { return p[x] > p[y] || (p[x] == p[y] && x < y); });
    MaskFill f{t, {}};
    for (size_t i = 0; i < k; ++i) f.candidates.push_back({tok.decode({order[i]}), order[i], p[order[i]]});
    fills.push_back(std::move(f));
  }
  LM_CHECK(!fills.empty(), "the text has no [MASK] token to fill");
  return fills;
}

SpanAnswer answer_question(models::Model& model, const Tokenizer& tok, const std::string& question,
                           const std::string& context, int64_t max_answer_length) {
  LM_CHECK_AS(ErrorCode::Unsupported, model.head() == models::Head::QuestionAnswering,
              "question answering needs a span question-answering model; this one is {}", model.architecture());
  const Run r = run_model(model, tok, question, context);
  const float* sl = r.outs[0].data();
  const float* el = r.outs[1].data();
  const int64_t T = static_cast<int64_t>(r.enc.input_ids.size());
  // The context: token type 1, without the final [SEP].
  std::vector<int64_t> ctx;
  std::vector<uint8_t> in_context(static_cast<size_t>(T), 0);
  for (int64_t t = 0; t + 1 < T; ++t)
    if (r.types[static_cast<size_t>(t)] == 1) {
      ctx.push_back(t);
      in_context[static_cast<size_t>(t)] = 1;
    }
  LM_CHECK(!ctx.empty(), "the context is empty after tokenization/truncation");
  std::vector<float> cs, ce;
  for (int64_t t : ctx) {
    cs.push_back(sl[t]);
    ce.push_back(el[t]);
  }
  // The span with the largest start + end logit is the one with the largest p_start · p_end.
  const nn::SpanChoice c = nn::best_span(sl, el, in_context, max_answer_length);
  const auto ps = softmax(cs.data(), static_cast<int64_t>(cs.size()));
  const auto pe = softmax(ce.data(), static_cast<int64_t>(ce.size()));
  SpanAnswer a;
  a.start = c.start;
  a.end = c.end;
  a.score = ps[static_cast<size_t>(c.start - ctx[0])] * pe[static_cast<size_t>(c.end - ctx[0])];
  std::vector<int32_t> span(r.enc.input_ids.begin() + c.start, r.enc.input_ids.begin() + c.end + 1);
  a.answer = tok.decode(span, true);
  return a;
}

std::vector<float> embed_text(models::Model& model, const Tokenizer& tok, const std::string& text, Pooling pooling,
                              bool normalize, int64_t* num_tokens) {
  LM_CHECK_AS(ErrorCode::Unsupported, model.causal_lm() == nullptr || pooling == Pooling::Mean,
              "{} has no [CLS] token: pool its embeddings with mean", model.architecture());
  (void)run_model(model, tok, text, std::nullopt);
  const Tensor h = model.hidden_states();
  LM_CHECK_AS(ErrorCode::Unsupported, h.defined(), "{} exposes no hidden states for embeddings",
              model.architecture());
  const int64_t T = h.dim(1), C = h.dim(2);
  std::vector<float> hs(static_cast<size_t>(T * C));
  copy_bytes(hs.data(), Device::CPU, h.data, h.device, sizeof(float) * hs.size());
  std::vector<double> acc(static_cast<size_t>(C), 0.0);
  const int64_t rows = pooling == Pooling::Cls ? 1 : T;
  for (int64_t t = 0; t < rows; ++t)
    for (int64_t c = 0; c < C; ++c) acc[static_cast<size_t>(c)] += hs[static_cast<size_t>(t * C + c)];
  double norm = 0;
  for (auto& v : acc) {
    v /= static_cast<double>(rows);
    norm += v * v;
  }
  norm = std::sqrt(norm);
  std::vector<float> out(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c)
    out[static_cast<size_t>(c)] =
        static_cast<float>(normalize && norm > 0 ? acc[static_cast<size_t>(c)] / norm : acc[static_cast<size_t>(c)]);
  if (num_tokens) *num_tokens = T;
  return out;
}

}  // namespace lm::generate
