// The fine-tuning recipes (encoding, batches, evaluation) and the fine-tuning runs through the Trainer.
#include "lm/train/finetune.h"
#include "lm/train/chat.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/log.h"
#include "lm/core/progress.h"
#include "lm/core/rng.h"
#include "lm/nn/span.h"
#include "lm/core/threads.h"
#include "lm/train/objective.h"

namespace lm::train {

namespace {

// A fine-tuning run through the Trainer: `model` trained in place on the objective `make` builds, epoch-based.
FinetuneResult run_tune(models::Model& model, const TuneSchedule& s, const std::string& out_dir,
                        const std::string& tokenizer_dir, int64_t seq_len, const std::string& title, Json raw,
                        std::function<std::unique_ptr<Objective>(models::Model&, Communicator&)> make) {
  LM_CHECK(s.epochs >= 1, "epochs {} must be >= 1", s.epochs);
  LM_CHECK(s.batch_size >= 1, "batch_size {} must be >= 1", s.batch_size);
  LM_CHECK(s.grad_accum >= 1, "grad_accum {} must be >= 1", s.grad_accum);
  LM_CHECK(s.lr > 0 && std::isfinite(s.lr), "lr {} must be positive", s.lr);
  LM_CHECK(s.warmup_ratio >= 0 && s.warmup_ratio < 1, "warmup_ratio {} must be in [0, 1)", s.warmup_ratio);
  LM_CHECK(s.weight_decay >= 0, "weight_decay {} must be >= 0", s.weight_decay);
  TrainConfig c;
  c.batch_size = s.batch_size;
  c.seq_len = seq_len;
  c.grad_accum = s.grad_accum;
  c.max_steps = 1;  // the Trainer sets epochs x steps per epoch once the objective knows its data
  c.schedule.kind = "linear";
  c.schedule.lr = s.lr;
  c.schedule.min_lr = 0;
  c.adamw.beta1 = 0.9f;
  c.adamw.beta2 = 0.999f;
  c.adamw.eps = 1e-8f;
  c.adamw.weight_decay = static_cast<float>(s.weight_decay);
  c.adamw.grad_clip = static_cast<float>(s.grad_clip);
  c.seed = s.seed;
  c.threads = num_threads();
  c.save_every = s.save_every;
  c.keep_last = 1;
  c.keep_best = false;
  c.log_every = s.log_every;
  c.device = model.device();
  if (!model.adapter_config().is_null()) raw["lora"] = model.adapter_config();
  c.raw = std::move(raw);
  TrainJob job;
  job.objective = std::move(make);
  job.model = &model;
  job.out_is_best = true;
  job.tokenizer_dir = tokenizer_dir;
  job.progress = s.progress;
  job.title = title;
  job.epochs = s.epochs;
  job.warmup_ratio = s.warmup_ratio;
  const TrainResult r = run_training(c, out_dir, job);
  FinetuneResult f;
  f.steps = r.steps;
  f.train_seconds = r.train_seconds;
  f.best_metric = r.best_val_loss;
  f.best_eval = r.best_eval;
  if (r.best_eval.is_object()) f.best_epoch = r.best_eval.value("epoch", int64_t{0});
  for (const Json& e : r.evals)
    if (e.contains(r.best_metric)) f.epoch_metric.push_back(e[r.best_metric].get<double>());
  return f;
}

Json schedule_json(const TuneSchedule& s) {
  return Json{{"epochs", s.epochs}, {"batch_size", s.batch_size}, {"grad_accum", s.grad_accum}, {"lr", s.lr},
              {"warmup_ratio", s.warmup_ratio}, {"weight_decay", s.weight_decay}, {"grad_clip", s.grad_clip},
              {"seed", s.seed}, {"save_every", s.save_every}};
}

}  // namespace

// ---- classification ----

ClassifyFeatures encode_classification(const Tokenizer& tok, const ClassificationData& data, int64_t max_length) {
  std::vector<std::string> a, b;
  bool pairs = false;
  for (const auto& e : data.examples) {
    a.push_back(e.text);
    b.push_back(e.text_pair);
    pairs = pairs || !e.text_pair.empty();
  }
  EncodeOptions opt;
  opt.truncation = Truncation::LongestFirst;
  opt.max_length = max_length;
  ClassifyFeatures f;
  if (!a.empty()) f.enc = encode_batch(tok, a, pairs ? &b : nullptr, opt).encodings;
  for (const auto& e : data.examples) f.labels.push_back(e.label);
  return f;
}

models::Batch BertTensors::batch() const {
  models::Batch b;
  b.input_ids = ids.t;
  b.token_type_ids = types.t;
  b.attention_mask = mask.t;
  b.labels = labels.t;
  return b;
}

BertTensors make_classify_batch(const ClassifyFeatures& f, const std::vector<size_t>& idx, int32_t pad_id,
                                int64_t type_vocab_size) {
  const int64_t B = static_cast<int64_t>(idx.size());
  int64_t T = 1;
  for (size_t i : idx) T = std::max<int64_t>(T, static_cast<int64_t>(f.enc[i].input_ids.size()));
  BertTensors bt{OwnedTensor(Shape{B, T}, DType::I32), OwnedTensor(Shape{B, T}, DType::I32),
                 OwnedTensor(Shape{B, T}, DType::I32), OwnedTensor(Shape{B}, DType::I32)};
  int32_t* ids = bt.ids.t.ptr<int32_t>();
  int32_t* types = bt.types.t.ptr<int32_t>();
  int32_t* mask = bt.mask.t.ptr<int32_t>();
  const int32_t max_type = static_cast<int32_t>(std::max<int64_t>(type_vocab_size - 1, 0));
  for (int64_t r = 0; r < B; ++r) {
    const Encoding& e = f.enc[idx[static_cast<size_t>(r)]];
    const int64_t n = static_cast<int64_t>(e.input_ids.size());
    for (int64_t t = 0; t < T; ++t) {
      const bool in = t < n;
      ids[r * T + t] = in ? e.input_ids[static_cast<size_t>(t)] : pad_id;
      const int32_t ty = in && !e.token_type_ids.empty() ? e.token_type_ids[static_cast<size_t>(t)] : 0;
      types[r * T + t] = std::min(ty, max_type);
      mask[r * T + t] = in ? 1 : 0;
    }
    bt.labels.t.ptr<int32_t>()[r] = f.labels[idx[static_cast<size_t>(r)]];
  }
  return bt;
}

double macro_f1(const std::vector<std::vector<int64_t>>& cm) {
  const size_t K = cm.size();
  double sum = 0;
  int64_t present = 0;
  for (size_t k = 0; k < K; ++k) {
    int64_t tp = cm[k][k], gold = 0, pred = 0;
    for (size_t j = 0; j < K; ++j) {
      gold += cm[k][j];
      pred += cm[j][k];
    }
    if (gold == 0 && pred == 0) continue;
    ++present;
    sum += 2.0 * static_cast<double>(tp) / static_cast<double>(gold + pred);
  }
  return present ? sum / static_cast<double>(present) : 0.0;
}

ClassifyEval evaluate_classifier(models::Model& bert, const ClassifyFeatures& f, int64_t batch_size,
                                 const ProgressSpec& progress) {
  const int64_t K = static_cast<int64_t>(bert.labels().size());
  LM_CHECK_AS(ErrorCode::Unsupported, K >= 2, "classification needs a sequence-classification model; this one is {}",
              bert.architecture());
  const int32_t pad = static_cast<int32_t>(bert.hf_config().value("pad_token_id", int64_t{0}));
  const int64_t type_vocab = bert.hf_config().value("type_vocab_size", int64_t{2});
  ClassifyEval ev;
  ev.confusion.assign(static_cast<size_t>(K), std::vector<int64_t>(static_cast<size_t>(K), 0));
  double loss_sum = 0;
  Progress prog(progress, static_cast<double>(f.size()));
  for (size_t begin = 0; begin < f.size(); begin += static_cast<size_t>(batch_size)) {
    std::vector<size_t> idx;
    for (size_t i = begin; i < std::min(f.size(), begin + static_cast<size_t>(batch_size)); ++i) idx.push_back(i);
    BertTensors bt = make_classify_batch(f, idx, pad, type_vocab);
    const float loss = bert.forward(bt.batch());
    loss_sum += static_cast<double>(loss) * static_cast<double>(idx.size());
    Tensor logits;
    for (auto& [name, t] : bert.outputs())
      if (name == "logits") logits = t;
    LM_ASSERT(logits.defined(), "classifier produced no logits");
    std::vector<float> host(static_cast<size_t>(logits.numel()));  // (a GPU model's logits are read back)
    copy_bytes(host.data(), Device::CPU, logits.data, logits.device, logits.nbytes());
    for (size_t r = 0; r < idx.size(); ++r) {
      const float* row = host.data() + static_cast<int64_t>(r) * K;
      const int64_t pred = std::max_element(row, row + K) - row;
      const int32_t gold = f.labels[idx[r]];
      ev.confusion[static_cast<size_t>(gold)][static_cast<size_t>(pred)]++;
    }
    prog.update(static_cast<double>(idx.back() + 1));
  }
  prog.finish();
  ev.count = static_cast<int64_t>(f.size());
  int64_t correct = 0;
  for (int64_t k = 0; k < K; ++k) correct += ev.confusion[static_cast<size_t>(k)][static_cast<size_t>(k)];
  ev.accuracy = ev.count ? static_cast<double>(correct) / static_cast<double>(ev.count) : 0.0;
  ev.loss = ev.count ? loss_sum / static_cast<double>(ev.count) : std::numeric_limits<double>::quiet_NaN();
  ev.macro_f1 = macro_f1(ev.confusion);
  return ev;
}

FinetuneResult finetune_classifier(models::Model& model, const ClassifyFeatures& train, const ClassifyFeatures& val,
                                   const ClassifyOptions& opt, const std::string& out_dir,
                                   const std::string& tokenizer_dir) {
  LM_CHECK(train.size() > 0, "the training set is empty");
  LM_CHECK(val.size() > 0, "the validation set is empty");
  const int64_t K = static_cast<int64_t>(model.labels().size());
  for (int32_t l : train.labels) LM_CHECK(l >= 0 && l < K, "label id {} out of range for num_labels {}", l, K);
  Json raw = schedule_json(opt);
  raw["task"] = "classify";
  raw["max_length"] = opt.max_length;
  return run_tune(model, opt, out_dir, tokenizer_dir, opt.max_length, "finetune", raw,
                  [&](models::Model& m, Communicator& comm) { return make_classify_objective(train, val, opt, m, comm); });
}

// ---- generative QA ----

std::string qa_prompt(const std::string& context, const std::string& question) {
  return context + "\nQuestion: " + question + "\nAnswer:";
}

QaIds build_qa_ids(const Tokenizer& tok, const QaExample& ex, bool with_answer, int32_t eos_id,
                   int64_t max_positions, int64_t answer_budget) {
  std::vector<int32_t> ctx = tok.encode(ex.context, false);
  std::vector<int32_t> rest = tok.encode("\nQuestion: " + ex.question + "\nAnswer:", false);
  std::vector<int32_t> ans;
  if (with_answer) {
    LM_CHECK(!ex.answers.empty(), "QA example {} has no answer to train on", ex.id);
    ans = tok.encode(" " + ex.answers[0], false);
    if (static_cast<int64_t>(ans.size()) > answer_budget) ans.resize(static_cast<size_t>(answer_budget));
    ans.push_back(eos_id);
  }
  const int64_t reserve = with_answer ? static_cast<int64_t>(ans.size()) - 1 : answer_budget;
  const int64_t room = max_positions - reserve - static_cast<int64_t>(rest.size());
  LM_CHECK(room >= 0, "QA example {}: the question part ({} tokens) plus {} answer tokens do not fit in {} positions",
           ex.id, rest.size(), reserve, max_positions);
  QaIds q;
  if (static_cast<int64_t>(ctx.size()) > room) {
    ctx.erase(ctx.begin(), ctx.begin() + static_cast<std::ptrdiff_t>(static_cast<int64_t>(ctx.size()) - room));
    q.truncated = true;
  }
  q.ids = ctx;
  q.ids.insert(q.ids.end(), rest.begin(), rest.end());
  q.prompt_len = static_cast<int64_t>(q.ids.size());
  if (!with_answer) return q;
  // Full sequence prompt + ans; inputs drop its last token, targets are the next tokens from the prompt's end.
  std::vector<int32_t> full = q.ids;
  full.insert(full.end(), ans.begin(), ans.end());
  q.ids.assign(full.begin(), full.end() - 1);
  q.targets.assign(q.ids.size(), -100);
  for (size_t t = static_cast<size_t>(q.prompt_len) - 1; t < q.ids.size(); ++t) q.targets[t] = full[t + 1];
  return q;
}

void make_qa_batch(const std::vector<QaIds>& ex, const std::vector<size_t>& idx, int32_t pad_id, OwnedTensor& ids,
                   OwnedTensor& targets) {
  const int64_t B = static_cast<int64_t>(idx.size());
  int64_t T = 1;
  for (size_t i : idx) T = std::max<int64_t>(T, static_cast<int64_t>(ex[i].ids.size()));
  ids = OwnedTensor(Shape{B, T}, DType::I32);
  targets = OwnedTensor(Shape{B, T}, DType::I32);
  for (int64_t r = 0; r < B; ++r) {
    const QaIds& q = ex[idx[static_cast<size_t>(r)]];
    for (int64_t t = 0; t < T; ++t) {
      const bool in = t < static_cast<int64_t>(q.ids.size());
      ids.t.ptr<int32_t>()[r * T + t] = in ? q.ids[static_cast<size_t>(t)] : pad_id;
      targets.t.ptr<int32_t>()[r * T + t] = in ? q.targets[static_cast<size_t>(t)] : -100;
    }
  }
}

std::string greedy_answer(const models::CausalLM& gpt, const Tokenizer& tok, const std::vector<int32_t>& prompt,
                          int32_t eos_id, int64_t max_new, bool stop_at_newline) {
  const int64_t P = static_cast<int64_t>(prompt.size());
  LM_CHECK(P >= 1, "empty prompt");
  max_new = std::min<int64_t>(max_new, gpt.model().max_positions() - P);
  std::vector<int32_t> out;
  if (max_new <= 0) return "";
  auto cache = gpt.make_kv_cache(1, P + max_new);
  OwnedTensor x(Shape{1, P}, DType::I32);
  std::copy(prompt.begin(), prompt.end(), x.t.ptr<int32_t>());
  gpt.forward_cached(x.t, *cache);
  const int64_t V = gpt.model().vocab_size();
  OwnedTensor one(Shape{1, 1}, DType::I32);
  std::string text;
  for (int64_t i = 0; i < max_new; ++i) {
    const float* l = cache->logits.f32();
    const int32_t next = static_cast<int32_t>(std::max_element(l, l + V) - l);
    if (next == eos_id) break;
    out.push_back(next);
    text = tok.decode(out, true);
    if (stop_at_newline && text.find('\n') != std::string::npos) break;
    if (i + 1 == max_new) break;
    one.t.ptr<int32_t>()[0] = next;
    gpt.forward_cached(one.t, *cache);
  }
  if (auto nl = text.find('\n'); stop_at_newline && nl != std::string::npos) text.resize(nl);
  const auto b = text.find_first_not_of(" \t\r\n"), e = text.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : text.substr(b, e - b + 1);
}

QaEval evaluate_generative_qa(const models::CausalLM& gpt, const Tokenizer& tok,
                              const std::vector<QaExample>& examples, int32_t eos_id, int64_t max_new,
                              const ProgressSpec& progress) {
  QaEval ev;
  ev.loss = std::numeric_limits<double>::quiet_NaN();
  Progress prog(progress, static_cast<double>(examples.size()));
  double em = 0, f1 = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    const QaExample& ex = examples[i];
    if (ex.answers.empty()) continue;  // SQuAD v2 unanswerable: not scored by the v1.1 metric
    QaIds q = build_qa_ids(tok, ex, false, eos_id, gpt.model().max_positions(), max_new);
    std::string pred = greedy_answer(gpt, tok, q.ids, eos_id, max_new);
    em += squad_exact_match(pred, ex.answers);
    f1 += squad_f1(pred, ex.answers);
    ev.predictions.push_back(pred);
    ++ev.count;
    prog.update(static_cast<double>(i + 1));
  }
  prog.finish();
  if (ev.count) {
    ev.exact_match = 100.0 * em / static_cast<double>(ev.count);
    ev.f1 = 100.0 * f1 / static_cast<double>(ev.count);
  }
  return ev;
}

double qa_answer_loss(models::Model& gpt, const std::vector<QaIds>& examples, int64_t batch_size,
                      const ProgressSpec& progress) {
  double nll = 0;
  int64_t n = 0;
  Progress prog(progress, static_cast<double>(examples.size()));
  for (size_t b0 = 0; b0 < examples.size(); b0 += static_cast<size_t>(batch_size)) {
    std::vector<size_t> idx;
    for (size_t i = b0; i < std::min(examples.size(), b0 + static_cast<size_t>(batch_size)); ++i) idx.push_back(i);
    OwnedTensor ids, tg;
    make_qa_batch(examples, idx, 0, ids, tg);
    models::Batch batch;
    batch.input_ids = ids.t;
    batch.labels = tg.t;
    const float loss = gpt.forward(batch);
    if (gpt.last_num_targets() > 0) {
      nll += static_cast<double>(loss) * static_cast<double>(gpt.last_num_targets());
      n += gpt.last_num_targets();
    }
    prog.update(static_cast<double>(idx.back() + 1));
  }
  prog.finish();
  return n ? nll / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

FinetuneResult finetune_generative_qa(models::Model& model, const Tokenizer& tok, const std::vector<QaExample>& train,
                                      const std::vector<QaExample>& val, int32_t eos_id, const QaOptions& opt,
                                      const std::string& out_dir, const std::string& tokenizer_dir) {
  LM_CHECK_AS(ErrorCode::Unsupported, model.causal_lm() != nullptr,
              "generative QA needs a causal language model; this one is {}", model.architecture());
  Json raw = schedule_json(opt);
  raw["task"] = "qa";
  raw["max_new_tokens"] = opt.max_new_tokens;
  raw["eval_examples"] = opt.eval_examples;
  return run_tune(model, opt, out_dir, tokenizer_dir, model.max_positions(), "finetune", raw,
                  [&](models::Model& m, Communicator& comm) {
                    return make_generative_qa_objective(tok, train, val, eos_id, opt, m, comm);
                  });
}

// ---- dialogue ----

FinetuneResult finetune_chat(models::Model& model, const ChatFormat& f, const std::vector<Dialogue>& train,
                             const std::vector<Dialogue>& val, const ChatOptions& opt, const std::string& out_dir,
                             const std::string& tokenizer_dir) {
  LM_CHECK_AS(ErrorCode::Unsupported, model.causal_lm() != nullptr,
              "chat fine-tuning needs a causal language model; this one is {}", model.architecture());
  std::vector<QaIds> tr, va;
  int64_t cut = 0, split = 0;
  for (const Dialogue& d : train) {
    std::vector<QaIds> p = chat_training_pieces(f, d.messages, model.max_positions(), &cut);
    split += p.size() > 1;
    for (QaIds& q : p) tr.push_back(std::move(q));
  }
  for (const Dialogue& d : val)
    for (QaIds& q : chat_scoring_pieces(f, d.messages, model.max_positions())) va.push_back(std::move(q));
  LM_CHECK(!tr.empty(), "the training dialogues have no assistant turns");
  LM_CHECK(!va.empty(), "the validation dialogues have no assistant turns");
  log_info("finetune chat: {} training pieces from {} dialogues ({} split at turn boundaries to fit {} positions, "
           "{} turns cut), {} validation pieces; template {}",
           tr.size(), train.size(), split, model.max_positions(), cut, va.size(), f.source.origin);
  Json raw = schedule_json(opt);
  raw["task"] = "chat";
  raw["chat_template"] = f.source.origin;
  return run_tune(model, opt, out_dir, tokenizer_dir, model.max_positions(), "finetune", raw,
                  [&](models::Model&, Communicator& comm) { return make_chat_objective(tr, va, opt, comm); });
}

// ---- extractive QA ----

std::vector<SpanFeature> build_span_features(const Tokenizer& tok, const std::vector<QaExample>& examples,
                                             const SpanOptions& opt, bool training) {
  auto cls = tok.token_to_id("[CLS]"), sep = tok.token_to_id("[SEP]");
  LM_CHECK_AS(ErrorCode::Unsupported, cls && sep, "extractive QA needs a WordPiece tokenizer with [CLS] and [SEP]");
  EncodeOptions eo;
  eo.add_special_tokens = false;
  eo.return_offsets = true;
  std::vector<SpanFeature> out;
  for (size_t ei = 0; ei < examples.size(); ++ei) {
    const QaExample& ex = examples[ei];
    if (training && ex.answers.empty()) continue;
    std::vector<int32_t> q = tok.encode(ex.question, false);
    if (static_cast<int64_t>(q.size()) > opt.max_query_length) q.resize(static_cast<size_t>(opt.max_query_length));
    Encoding c = encode_one(tok, ex.context, nullptr, eo);
    const int64_t room = opt.max_length - static_cast<int64_t>(q.size()) - 3;
    LM_CHECK(room >= 1, "max_length {} leaves no room for the context after a {}-token question", opt.max_length,
             q.size());
    const int64_t n = static_cast<int64_t>(c.input_ids.size());
    int64_t ans_b = -1, ans_e = -1;  // byte range of the first answer
    if (training && !ex.answer_starts.empty() && ex.answer_starts[0] >= 0) {
      ans_b = ex.answer_starts[0];
      ans_e = ans_b + static_cast<int64_t>(ex.answers[0].size());
    }
    // Advance min(doc_stride, room) so that no context token falls between windows (as Google's run_squad.py).
    for (int64_t w0 = 0;; w0 += std::min(opt.doc_stride, room)) {
      const int64_t w1 = std::min(n, w0 + room);
      SpanFeature f;
      f.example = ei;
      auto push = [&](int32_t id, int32_t type, std::pair<int64_t, int64_t> off) {
        f.enc.input_ids.push_back(id);
        f.enc.token_type_ids.push_back(type);
        f.enc.attention_mask.push_back(1);
        f.offsets.push_back(off);
      };
      push(*cls, 0, {-1, -1});
      for (int32_t id : q) push(id, 0, {-1, -1});
      push(*sep, 0, {-1, -1});
      const int64_t ctx0 = static_cast<int64_t>(f.enc.input_ids.size());
      for (int64_t t = w0; t < w1; ++t) push(c.input_ids[static_cast<size_t>(t)], 1, c.offsets[static_cast<size_t>(t)]);
      push(*sep, 1, {-1, -1});
      if (ans_b >= 0) {
        int64_t ts = -1, te = -1;
        for (int64_t t = w0; t < w1; ++t) {
          const auto& o = c.offsets[static_cast<size_t>(t)];
          if (ts < 0 && o.second > ans_b) ts = t;
          if (o.first < ans_e) te = t;
        }
        const bool inside = ts >= 0 && te >= ts && c.offsets[static_cast<size_t>(w0)].first <= ans_b &&
                            c.offsets[static_cast<size_t>(w1 - 1)].second >= ans_e;
        if (inside) {
          f.start = static_cast<int32_t>(ctx0 + ts - w0);
          f.end = static_cast<int32_t>(ctx0 + te - w0);
        }
      }
      out.push_back(std::move(f));
      if (w1 >= n) break;
    }
  }
  return out;
}

BertTensors span_batch(const std::vector<SpanFeature>& fs, const std::vector<size_t>& idx, int32_t pad_id,
                       OwnedTensor& starts, OwnedTensor& ends) {
  ClassifyFeatures view;
  for (size_t i : idx) {
    view.enc.push_back(fs[i].enc);
    view.labels.push_back(0);
  }
  std::vector<size_t> all(idx.size());
  std::iota(all.begin(), all.end(), size_t{0});
  BertTensors bt = make_classify_batch(view, all, pad_id, 2);
  starts = OwnedTensor(Shape{static_cast<int64_t>(idx.size())}, DType::I32);
  ends = OwnedTensor(Shape{static_cast<int64_t>(idx.size())}, DType::I32);
  for (size_t r = 0; r < idx.size(); ++r) {
    starts.t.ptr<int32_t>()[r] = fs[idx[r]].start;
    ends.t.ptr<int32_t>()[r] = fs[idx[r]].end;
  }
  return bt;
}

QaEval evaluate_extractive_qa(models::Model& bert, const std::vector<QaExample>& examples,
                              const std::vector<SpanFeature>& features, const SpanOptions& opt,
                              const ProgressSpec& progress) {
  LM_CHECK_AS(ErrorCode::Unsupported, bert.head() == models::Head::QuestionAnswering,
              "extractive QA needs a span question-answering model; this one is {}", bert.architecture());
  std::vector<double> best(examples.size(), -std::numeric_limits<double>::infinity());
  std::vector<std::string> answer(examples.size());
  const int32_t pad = static_cast<int32_t>(bert.hf_config().value("pad_token_id", int64_t{0}));
  const size_t B = 32;
  Progress prog(progress, static_cast<double>(features.size()));
  for (size_t b0 = 0; b0 < features.size(); b0 += B) {
    std::vector<size_t> idx;
    for (size_t i = b0; i < std::min(features.size(), b0 + B); ++i) idx.push_back(i);
    OwnedTensor st, en;
    BertTensors bt = span_batch(features, idx, pad, st, en);
    models::Batch batch = bt.batch();
    batch.labels = Tensor();
    bert.forward(batch);
    Tensor sl, el;
    for (auto& [name, t] : bert.outputs()) {
      if (name == "start_logits") sl = t;
      if (name == "end_logits") el = t;
    }
    LM_ASSERT(sl.defined() && el.defined(), "QA head produced no start/end logits");
    const int64_t T = sl.dim(1);
    std::vector<float> hs(static_cast<size_t>(sl.numel())), he(static_cast<size_t>(el.numel()));
    copy_bytes(hs.data(), Device::CPU, sl.data, sl.device, sl.nbytes());  // (a GPU model's logits are read back)
    copy_bytes(he.data(), Device::CPU, el.data, el.device, el.nbytes());
    for (size_t r = 0; r < idx.size(); ++r) {
      const SpanFeature& f = features[idx[r]];
      std::vector<uint8_t> in_context(f.offsets.size());
      for (size_t i = 0; i < f.offsets.size(); ++i) in_context[i] = f.offsets[i].first >= 0;
      const nn::SpanChoice c = nn::best_span(hs.data() + static_cast<int64_t>(r) * T,
                                             he.data() + static_cast<int64_t>(r) * T, in_context, opt.max_answer_length);
      if (c.start < 0 || !(c.score > best[f.example])) continue;
      best[f.example] = c.score;
      const int64_t b = f.offsets[static_cast<size_t>(c.start)].first, e = f.offsets[static_cast<size_t>(c.end)].second;
      answer[f.example] = examples[f.example].context.substr(static_cast<size_t>(b), static_cast<size_t>(e - b));
    }
    prog.update(static_cast<double>(idx.back() + 1));
  }
  prog.finish();
  QaEval ev;
  ev.loss = std::numeric_limits<double>::quiet_NaN();
  double em = 0, f1 = 0;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (examples[i].answers.empty()) continue;
    em += squad_exact_match(answer[i], examples[i].answers);
    f1 += squad_f1(answer[i], examples[i].answers);
    ev.predictions.push_back(answer[i]);
    ++ev.count;
  }
  if (ev.count) {
    ev.exact_match = 100.0 * em / static_cast<double>(ev.count);
    ev.f1 = 100.0 * f1 / static_cast<double>(ev.count);
  }
  return ev;
}

FinetuneResult finetune_extractive_qa(models::Model& model, const Tokenizer& tok, const std::vector<QaExample>& train,
                                      const std::vector<QaExample>& val, const SpanOptions& opt,
                                      const std::string& out_dir, const std::string& tokenizer_dir) {
  LM_CHECK(opt.doc_stride >= 1, "doc_stride {} must be >= 1", opt.doc_stride);
  LM_CHECK_AS(ErrorCode::Unsupported, model.head() == models::Head::QuestionAnswering,
              "extractive QA needs a span question-answering model; this one is {}", model.architecture());
  Json raw = schedule_json(opt);
  raw["task"] = "qa";
  raw["max_length"] = opt.max_length;
  raw["doc_stride"] = opt.doc_stride;
  raw["max_answer_length"] = opt.max_answer_length;
  return run_tune(model, opt, out_dir, tokenizer_dir, opt.max_length, "finetune", raw,
                  [&](models::Model& m, Communicator& comm) {
                    return make_span_qa_objective(tok, train, val, opt, m, comm);
                  });
}

}  // namespace lm::train
