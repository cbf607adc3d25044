// Fine-tuning: the generative-QA loss covers the answer tokens and eos only (equal to a direct log-softmax
// computation, zero gradient at prompt positions); a tiny random BERT learns a keyword classification task;
// the confusion matrix agrees with accuracy and macro F1; a tiny GPT learns to copy the token after a marker.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "harness/harness.h"
#include "lm/core/buffer.h"
#include "lm/core/file_util.h"
#include "lm/core/rng.h"
#include "lm/core/threads.h"
#include "lm/models/bert/bert.h"
#include "lm/models/gpt/gpt.h"
#include "lm/tokenize/char_tokenizer.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/tokenize/wordpiece.h"
#include "lm/train/finetune.h"

namespace lm {
namespace {

models::GptConfig tiny_gpt(int64_t vocab, int64_t positions) {
  models::GptConfig c;
  c.vocab_size = vocab;
  c.n_positions = positions;
  c.n_embd = 32;
  c.n_layer = 2;
  c.n_head = 4;
  c.bos_token_id = c.eos_token_id = vocab - 1;
  return c;
}

// Char vocabulary of the letters, digits and the prompt's characters; eos is one id past it.
std::unique_ptr<CharTokenizer> qa_chars() {
  return CharTokenizer::train({"abcdefghijklmnopqrstuvwxyz=?:\n QA0123456789"});
}

TEST(FinetuneQa, PromptTargetsAndMaskedLoss) {
  set_num_threads(1);
  auto tok = qa_chars();
  const int32_t eos = static_cast<int32_t>(tok->vocab_size());
  models::Gpt gpt(tiny_gpt(tok->vocab_size() + 1, 64));
  gpt.init_weights(3);
  QaExample ex;
  ex.context = "abc=dxy";
  ex.question = "q?";
  ex.answers = {"dd"};
  train::QaIds q = train::build_qa_ids(*tok, ex, true, eos, 64, 30);
  const std::string prompt = train::qa_prompt(ex.context, ex.question);
  ASSERT_EQ(q.prompt_len, static_cast<int64_t>(prompt.size()));
  // Inputs: prompt + " dd" (eos is only a target); targets: -100 on the prompt, then " dd" + eos.
  ASSERT_EQ(q.ids.size(), prompt.size() + 3);
  int64_t scored = 0;
  for (size_t t = 0; t < q.targets.size(); ++t) {
    if (static_cast<int64_t>(t) < q.prompt_len - 1) {
      EXPECT_EQ(q.targets[t], -100) << t;
    } else {
      ++scored;
    }
  }
  EXPECT_EQ(scored, 4);
  EXPECT_EQ(q.targets.back(), eos);
  EXPECT_EQ(q.targets[static_cast<size_t>(q.prompt_len) - 1], *tok->token_to_id(" "));

  const int64_t T = static_cast<int64_t>(q.ids.size()), V = gpt.vocab_size();
  OwnedTensor ids(Shape{1, T}, DType::I32), tg(Shape{1, T}, DType::I32);
  std::copy(q.ids.begin(), q.ids.end(), ids.t.ptr<int32_t>());
  std::copy(q.targets.begin(), q.targets.end(), tg.t.ptr<int32_t>());
  // Direct: log-softmax of the logits at the answer positions only.
  gpt.forward(ids.t, Tensor());
  std::vector<float> logits(gpt.logits().f32(), gpt.logits().f32() + T * V);
  double direct = 0;
  for (int64_t t = q.prompt_len - 1; t < T; ++t) {
    const float* l = logits.data() + t * V;
    double mx = l[0], s = 0;
    for (int64_t v = 1; v < V; ++v) mx = std::max(mx, static_cast<double>(l[v]));
    for (int64_t v = 0; v < V; ++v) s += std::exp(l[v] - mx);
    direct += -(l[q.targets[static_cast<size_t>(t)]] - mx - std::log(s));
  }
  direct /= 4.0;
  const float loss = gpt.forward(ids.t, tg.t);
  EXPECT_EQ(gpt.last_num_targets(), 4);
  EXPECT_NEAR(loss, direct, 1e-5);
  // Backward: d loss / d logits is zero at every prompt position, nonzero (summing to 0) at answer positions.
  gpt.zero_grad();
  gpt.backward();
  const float* d = gpt.logits().f32();
  for (int64_t t = 0; t < T; ++t) {
    double asum = 0, sum = 0;
    for (int64_t v = 0; v < V; ++v) {
      asum += std::fabs(d[t * V + v]);
      sum += d[t * V + v];
    }
    if (t < q.prompt_len - 1) {
      EXPECT_EQ(asum, 0.0) << "prompt position " << t;
    } else {
      EXPECT_GT(asum, 1e-3) << "answer position " << t;
      EXPECT_NEAR(sum, 0.0, 1e-5);
    }
  }
}

TEST(FinetuneQa, ContextCutFromStartToFit) {
  auto tok = qa_chars();
  QaExample ex;
  ex.context = "abcdefghijklmnopqrstuvwxyz";
  ex.question = "q?";
  ex.answers = {"z"};
  const int64_t P = 30;
  train::QaIds q = train::build_qa_ids(*tok, ex, false, 99, P, 5);
  EXPECT_TRUE(q.truncated);
  EXPECT_EQ(static_cast<int64_t>(q.ids.size()), P - 5);
  // The kept context is the end of the original.
  // Room for the context: 30 - 5 (answer budget) - 21 ("\nQuestion: q?\nAnswer:") = its last 4 letters.
  EXPECT_EQ(tok->decode(q.ids), train::qa_prompt("wxyz", ex.question));
  train::QaIds t = train::build_qa_ids(*tok, ex, true, 99, P, 5);
  // Inputs are prompt + answer + eos minus the last token: at most P positions.
  EXPECT_LE(static_cast<int64_t>(t.ids.size()), P);
  EXPECT_EQ(t.targets.back(), 99);
}

// Synthetic copy task: 6 letters with "=" before the answer letter (the 4th).
std::vector<QaExample> copy_task(int n, uint64_t seed) {
  Rng rng(seed, 1);
  std::vector<QaExample> out;
  const std::string letters = "abcdefgh";
  for (int i = 0; i < n; ++i) {
    std::string ctx;
    const int marker = 3;
    std::string ans;
    for (int k = 0; k < 6; ++k) {
      if (k == marker) ctx += "=";
      char c = letters[rng.next_u32() % letters.size()];
      ctx += c;
      if (k == marker) ans = std::string(1, c);
    }
    QaExample e;
    e.id = std::to_string(i);
    e.context = ctx;
    e.question = "?";
    e.answers = {ans};
    out.push_back(e);
  }
  return out;
}

TEST(FinetuneQa, TinyGptLearnsToCopyAfterMarker) {
  set_num_threads(1);
  auto tok = qa_chars();
  const int32_t eos = static_cast<int32_t>(tok->vocab_size());
  models::Gpt gpt(tiny_gpt(tok->vocab_size() + 1, 32));
  // The copy task has a plateau (EM ~15%, one letter for everything) until an attention head learns to look
  // after the marker, and when it leaves it depends on the exact floating-point path (AVX-512 vs AVX2 clones).
  // 400 examples x 12 epochs left it on the plateau on a Zen 3; this setting learned it (EM >= 78%) for 9 of 10
  // init seeds there.
  gpt.init_weights(2);
  auto train_set = copy_task(1200, 1), val_set = copy_task(60, 2);
  train::QaEval before = train::evaluate_generative_qa(gpt, *tok, val_set, eos, 4);
  train::QaOptions opt;
  opt.epochs = 16;
  opt.batch_size = 16;
  opt.lr = 1e-2;
  opt.weight_decay = 0.0;
  opt.progress = false;
  opt.max_new_tokens = 4;
  opt.progress = false;
  auto res = train::finetune_generative_qa(gpt, *tok, train_set, val_set, eos, opt, test::temp_dir("ft_gen_qa"));
  train::QaEval after = train::evaluate_generative_qa(gpt, *tok, val_set, eos, 4);
  EXPECT_EQ(after.count, 60);
  EXPECT_GT(after.exact_match, before.exact_match + 30.0) << before.exact_match << " -> " << after.exact_match;
  EXPECT_GE(res.best_epoch, 1);
}

// Words w0..w9 plus "good"; label 1 when "good" occurs.
ClassificationData keyword_data(int n, uint64_t seed) {
  Rng rng(seed, 7);
  ClassificationData d;
  d.label_names = {"0", "1"};
  for (int i = 0; i < n; ++i) {
    const int len = 3 + static_cast<int>(rng.next_u32() % 5);
    const bool pos = (i % 2) == 0;
    const int at = static_cast<int>(rng.next_u32() % static_cast<uint32_t>(len));
    std::string s;
    for (int k = 0; k < len; ++k) {
      if (k) s += " ";
      s += (pos && k == at) ? std::string("good") : "w" + std::to_string(rng.next_u32() % 10);
    }
    d.examples.push_back({s, "", pos ? 1 : 0});
  }
  return d;
}

std::unique_ptr<WordPieceTokenizer> keyword_tokenizer() {
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good"};
  for (int i = 0; i < 10; ++i) vocab.push_back("w" + std::to_string(i));
  return std::make_unique<WordPieceTokenizer>(vocab, WordPieceConfig());
}

models::BertConfig tiny_bert(int64_t vocab) {
  models::BertConfig c;
  c.vocab_size = vocab;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 32;
  c.head = models::BertHead::SequenceClassification;
  c.architecture = "BertForSequenceClassification";
  c.num_labels = 2;
  c.id2label = {"0", "1"};
  return c;
}

TEST(FinetuneClassify, TinyBertLearnsKeyword) {
  set_num_threads(1);
  auto tok = keyword_tokenizer();
  models::Bert bert(tiny_bert(tok->vocab_size()));
  bert.init_weights(11);
  auto tr = train::encode_classification(*tok, keyword_data(128, 1), 16);
  auto va = train::encode_classification(*tok, keyword_data(64, 2), 16);
  ASSERT_EQ(tr.enc[0].input_ids.front(), 2);  // [CLS]
  train::ClassifyOptions opt;
  opt.epochs = 8;
  opt.batch_size = 16;
  opt.lr = 1e-3;
  opt.progress = false;
  const std::string out = test::temp_dir("ft_classify");
  auto res = train::finetune_classifier(bert, tr, va, opt, out);
  EXPECT_TRUE(file_exists(out + "/model.safetensors"));  // the best epoch's model
  EXPECT_GE(res.best_metric, 0.9);
  EXPECT_EQ(res.steps, 8 * 8);
  train::ClassifyEval ev = train::evaluate_classifier(bert, va, 7);  // batches not dividing the set
  EXPECT_EQ(ev.count, 64);
  int64_t total = 0, diag = 0;
  for (size_t g = 0; g < 2; ++g)
    for (size_t p = 0; p < 2; ++p) {
      total += ev.confusion[g][p];
      if (g == p) diag += ev.confusion[g][p];
    }
  EXPECT_EQ(total, 64);
  EXPECT_DOUBLE_EQ(ev.accuracy, static_cast<double>(diag) / 64.0);
  EXPECT_EQ(ev.confusion[0][0] + ev.confusion[0][1], 32);  // 32 gold negatives
}

TEST(FinetuneClassify, MacroF1) {
  // Gold 0: 3 right, 1 as 1; gold 1: 2 right; label 2 never occurs (excluded from the average).
  std::vector<std::vector<int64_t>> cm = {{3, 1, 0}, {0, 2, 0}, {0, 0, 0}};
  const double f0 = 2.0 * 3 / (4 + 3), f1 = 2.0 * 2 / (2 + 3);
  EXPECT_NEAR(train::macro_f1(cm), (f0 + f1) / 2, 1e-12);
  EXPECT_EQ(train::macro_f1({{0, 2}, {0, 0}}), 0.0);
}

QaExample span_example(const std::vector<std::string>& words, size_t at, const std::string& id) {
  QaExample e;
  e.id = id;
  e.question = "w9";
  for (size_t k = 0; k < words.size(); ++k) {
    if (k) e.context += " ";
    if (k == at) e.answer_starts = {static_cast<int64_t>(e.context.size())};
    e.context += words[k];
  }
  e.answers = {words[at]};
  return e;
}

TEST(FinetuneSpanQa, WindowsWithStrideAndAnswerPositions) {
  auto tok = keyword_tokenizer();
  QaExample ex = span_example({"w1", "w2", "good", "w3", "w4", "w5", "w6", "w7"}, 2, "a");
  train::SpanOptions opt;
  opt.max_length = 10;  // [CLS] w9 [SEP] + 6 context tokens + [SEP]
  opt.doc_stride = 3;
  auto fs = train::build_span_features(*tok, {ex}, opt, true);
  ASSERT_EQ(fs.size(), 2u);  // windows [0, 6) and [3, 8)
  EXPECT_EQ(fs[0].enc.input_ids.size(), 10u);
  EXPECT_EQ(fs[0].start, 5);
  EXPECT_EQ(fs[0].end, 5);
  const auto& o = fs[0].offsets[5];
  EXPECT_EQ(ex.context.substr(static_cast<size_t>(o.first), static_cast<size_t>(o.second - o.first)), "good");
  EXPECT_EQ(fs[0].enc.token_type_ids[3], 1);
  EXPECT_EQ(fs[0].enc.token_type_ids[2], 0);
  EXPECT_EQ(fs[1].start, 0);  // answer outside the second window -> [CLS]
  EXPECT_EQ(fs[1].end, 0);
  EXPECT_EQ(fs[1].enc.input_ids.size(), 3u + 5u + 1u);
  // A stride beyond the window's room advances by the room: no context token is skipped.
  opt.doc_stride = 100;
  fs = train::build_span_features(*tok, {ex}, opt, false);
  ASSERT_EQ(fs.size(), 2u);  // windows [0, 6) and [6, 8)
  EXPECT_EQ(fs[1].enc.input_ids.size(), 3u + 2u + 1u);
  EXPECT_EQ(ex.context.substr(static_cast<size_t>(fs[1].offsets[3].first), 2), "w6");
}

TEST(FinetuneSpanQa, TinyBertLearnsToPointAtKeyword) {
  set_num_threads(1);
  auto tok = keyword_tokenizer();
  models::BertConfig c = tiny_bert(tok->vocab_size());
  c.head = models::BertHead::QuestionAnswering;
  c.architecture = "BertForQuestionAnswering";
  models::Bert bert(c);
  bert.init_weights(4);
  auto make = [](int n, uint64_t seed) {
    Rng rng(seed, 9);
    std::vector<QaExample> out;
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> words;
      for (int k = 0; k < 6; ++k) words.push_back(std::string(1, 'w').append(std::to_string(rng.next_u32() % 9)));
      const size_t at = rng.next_u32() % 6;
      words[at] = "good";
      out.push_back(span_example(words, at, std::to_string(i)));
    }
    return out;
  };
  auto train_set = make(128, 1), val_set = make(40, 2);
  train::SpanOptions opt;
  opt.epochs = 8;
  opt.lr = 1e-3;
  opt.max_length = 16;
  opt.progress = false;
  auto res = train::finetune_extractive_qa(bert, *tok, train_set, val_set, opt, test::temp_dir("ft_span_qa"));
  EXPECT_GE(res.best_metric, 80.0);
  auto ev = train::evaluate_extractive_qa(bert, val_set, train::build_span_features(*tok, val_set, opt, false), opt);
  EXPECT_EQ(ev.count, 40);
  EXPECT_GE(ev.exact_match, 80.0);
}

// Real SQuAD with bert-base-uncased: every window labelled with a span decodes (via its byte offsets) to text
// containing the answer (equal after SQuAD normalisation for >= 97%; the rest are answers inside a word), and
// every answer lies wholly inside at least one window.
TEST(FinetuneSpanQa, SquadLabelsMapBackToAnswers) {
  LM_REQUIRE_SHARED_DATA();
  const std::string d = test::shared_data_dir();
  auto tok = load_tokenizer(d + "/tokenizers/bert-base-uncased");
  auto ex = read_qa(d + "/qa/squad-v1.1-dev-articles00-39.json");
  ex.resize(std::min<size_t>(ex.size(), 400));
  train::SpanOptions opt;
  opt.max_length = 128;
  opt.doc_stride = 64;
  auto fs = train::build_span_features(*tok, ex, opt, true);
  std::vector<int> found(ex.size(), 0);
  int64_t labelled = 0, exact = 0;
  for (const auto& f : fs) {
    ASSERT_LE(static_cast<int64_t>(f.enc.input_ids.size()), opt.max_length);
    if (f.start == 0) continue;
    ++labelled;
    const QaExample& e = ex[f.example];
    const int64_t b = f.offsets[static_cast<size_t>(f.start)].first, en = f.offsets[static_cast<size_t>(f.end)].second;
    const std::string span = e.context.substr(static_cast<size_t>(b), static_cast<size_t>(en - b));
    // An answer that is part of a word ("gold" in "golden") can only be labelled with the whole token.
    EXPECT_NE(squad_normalize(span).find(squad_normalize(e.answers[0])), std::string::npos) << e.id << " " << span;
    exact += squad_normalize(span) == squad_normalize(e.answers[0]);
    found[f.example] = 1;
  }
  EXPECT_GE(exact, labelled * 97 / 100);
  int missing = 0;
  for (int v : found) missing += v == 0;
  EXPECT_EQ(missing, 0);
  EXPECT_GE(labelled, static_cast<int64_t>(ex.size()));
}

// GPT-2 BPE: the prompt encoded in pieces (context | "\nQuestion: ...\nAnswer:" | " answer") equals the whole
// string encoded at once, so training and evaluation see the ids HF would give the full text.
TEST(FinetuneQa, GptPiecewiseEncodingEqualsWholeOnSquad) {
  LM_REQUIRE_SHARED_DATA();
  const std::string d = test::shared_data_dir();
  auto tok = load_tokenizer(d + "/tokenizers/gpt2");
  auto ex = read_qa(d + "/qa/squad-v1.1-dev-articles00-39.json");
  ex.resize(std::min<size_t>(ex.size(), 100));
  const int32_t eos = 50256;
  int mismatches = 0;
  for (const auto& e : ex) {
    train::QaIds q = train::build_qa_ids(*tok, e, true, eos, 1024, 64);
    if (q.truncated) continue;
    std::vector<int32_t> whole = tok->encode(train::qa_prompt(e.context, e.question) + " " + e.answers[0], false);
    whole.push_back(eos);
    std::vector<int32_t> got = q.ids;
    got.push_back(q.targets.back());
    mismatches += got != whole;
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace lm
