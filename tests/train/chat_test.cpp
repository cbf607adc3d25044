// Dialogue fine-tuning data: the assistant spans of a template with {% generation %} blocks equal those found
// by rendering prefixes; targets are -100 everywhere but the assistant replies and their end of turn, and the
// token mask follows HF's return_assistant_tokens_mask rule (char_to_token of each span's first and last
// byte); prompt positions get exactly zero gradient; long dialogues are cut at turn boundaries with every
// assistant token trained / scored once; bad dialogue files fail naming file and line; vocabulary growth uses
// the mean row.
#include "lm/train/chat.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "harness/harness.h"
#include "lm/core/buffer.h"
#include "lm/core/file_util.h"
#include "lm/core/threads.h"
#include "lm/models/gpt/gpt.h"
#include "lm/tokenize/bpe.h"
#include "lm/tokenize/chat_format.h"

namespace lm {
namespace {

// A byte-level BPE with no merges (every byte a token) plus <|endoftext|>, grown with the ChatML tokens.
std::unique_ptr<BpeTokenizer> byte_bpe_chatml() {
  std::vector<std::pair<std::string, int32_t>> vocab;
  for (int b = 0; b < 256; ++b) vocab.push_back({byte_level_encode(std::string(1, static_cast<char>(b))), b});
  vocab.push_back({"<|endoftext|>", 256});
  BpeTokenizer base(vocab, {});
  return base.with_added_tokens({"<|im_start|>", "<|im_end|>"});
}

ChatFormat format_of(const std::string& source, const Tokenizer& tok, bool builtin = false) {
  ChatFormat f;
  f.source.source = source;
  f.source.origin = builtin ? "built-in ChatML" : "test template";
  f.source.builtin = builtin;
  f.tmpl = std::make_shared<const ChatTemplate>(ChatTemplate::parse(source, f.source.origin));
  f.tok = &tok;
  return f;
}

// The built-in ChatML without its generation tags: the same text, assistant spans found by prefixes.
std::string chatml_without_generation() {
  std::string s = chatml_template_source();
  for (const std::string tag : {"{%- generation -%}", "{%- endgeneration -%}"}) {
    const size_t at = s.find(tag);
    EXPECT_NE(at, std::string::npos) << tag;
    if (at != std::string::npos) s.erase(at, tag.size());
  }
  return s;
}

Json dialogue(int turns, bool system = true) {
  Json m = Json::array();
  if (system) m.push_back(Json{{"role", "system"}, {"content", "Be brief."}});
  for (int i = 0; i < turns; ++i) {
    m.push_back(
        Json{{"role", "user"}, {"content", "question " + std::to_string(i) + " \xC3\xA9t\xC3\xA9 ?"}});
    m.push_back(
        Json{{"role", "assistant"}, {"content", "answer " + std::to_string(i) + "  \xF0\x9F\x99\x82\n ok"}});
  }
  return m;
}

std::string scored_text(const Tokenizer& tok, const train::QaIds& q) {
  std::vector<int32_t> ids;
  for (int32_t t : q.targets)
    if (t != -100) ids.push_back(t);
  return tok.decode(ids);
}

TEST(ChatData, GenerationBlocksAndPrefixRenderingGiveTheSameSpans) {
  auto tok = byte_bpe_chatml();
  const ChatFormat gen = format_of(chatml_template_source(), *tok, true);
  const ChatFormat pre = format_of(chatml_without_generation(), *tok);
  ASSERT_TRUE(gen.tmpl->has_generation_blocks());
  ASSERT_FALSE(pre.tmpl->has_generation_blocks());
  const Json m = dialogue(3);
  const ChatRender rg = gen.render(m, false), rp = pre.render(m, false);
  ASSERT_EQ(rg.text, rp.text);
  const auto sg = train::assistant_spans(gen, m, rg), sp = train::assistant_spans(pre, m, rp);
  ASSERT_EQ(sg.size(), 3u);
  EXPECT_EQ(sg, sp);
  for (size_t i = 0; i < sg.size(); ++i)
    EXPECT_EQ(rg.text.substr(sg[i].begin, sg[i].end - sg[i].begin),
              m[2 + 2 * i]["content"].get<std::string>() + "<|im_end|>");
  const train::QaIds a = train::chat_example(gen, m), b = train::chat_example(pre, m);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.targets, b.targets);
}

TEST(ChatData, TargetsAreTheRepliesAndTheirEndOfTurnOnly) {
  auto tok = byte_bpe_chatml();
  const ChatFormat f = format_of(chatml_template_source(), *tok, true);
  const Json m = dialogue(2);
  const train::QaIds q = train::chat_example(f, m);
  const std::vector<int32_t> all = f.encode(f.render(m, false));
  ASSERT_EQ(q.ids.size() + 1, all.size());
  EXPECT_TRUE(std::equal(q.ids.begin(), q.ids.end(), all.begin()));
  const int32_t im_end = *tok->token_to_id("<|im_end|>");
  std::string want;
  for (int i = 0; i < 2; ++i) want += m[2 + 2 * i]["content"].get<std::string>() + "<|im_end|>";
  EXPECT_EQ(scored_text(*tok, q), want);
  // Every target is either -100 or the next input id; the <|im_end|> closing a user turn is not scored.
  int64_t eot_scored = 0;
  for (size_t t = 0; t < q.targets.size(); ++t) {
    if (q.targets[t] == -100) continue;
    EXPECT_EQ(q.targets[t], all[t + 1]);
    eot_scored += q.targets[t] == im_end;
  }
  EXPECT_EQ(eot_scored, 2);
}

// HF's rule: for each span, the tokens from char_to_token(begin) through char_to_token(end - 1) are assistant
// tokens; the target of position t is kept when token t + 1 is one.
TEST(ChatData, MaskFollowsHfAssistantTokensRule) {
  auto tok = byte_bpe_chatml();
  // A template whose spans start and end inside multi-byte tokens of a merged vocabulary is covered by the
  // golden templates; here the rule is checked on ChatML and on a template with text around the block.
  const std::string src =
      "{% for m in messages %}{% if m.role == 'assistant' %}A: {% generation %}{{ m.content | trim }} [end]"
      "{% endgeneration %}\n{% else %}{{ m.role | upper }}: {{ m.content }}\n{% endif %}{% endfor %}";
  for (const ChatFormat& f : {format_of(chatml_template_source(), *tok, true), format_of(src, *tok)}) {
    const Json m = dialogue(2, false);
    const ChatRender r = f.render(m, false);
    std::vector<ByteSpan> off;
    const std::vector<int32_t> all = f.encode(r, &off);
    std::vector<bool> mask(all.size(), false);
    auto char_to_token = [&](size_t c) {
      for (size_t i = 0; i < off.size(); ++i)
        if (off[i].begin <= c && c < off[i].end) return static_cast<int64_t>(i);
      return int64_t{-1};
    };
    ASSERT_FALSE(r.generation.empty());
    for (const ByteSpan& s : r.generation) {
      const int64_t a = char_to_token(s.begin), b = char_to_token(s.end - 1);
      ASSERT_GE(a, 0);
      ASSERT_GE(b, a);
      for (int64_t i = a; i <= b; ++i) mask[static_cast<size_t>(i)] = true;
    }
    const train::QaIds q = train::chat_example(f, m);
    for (size_t t = 0; t + 1 < all.size(); ++t)
      EXPECT_EQ(q.targets[t] != -100, mask[t + 1]) << f.source.origin << t;
  }
}

TEST(ChatData, PromptPositionsGetZeroGradient) {
  set_num_threads(1);
  auto tok = byte_bpe_chatml();
  const ChatFormat f = format_of(chatml_template_source(), *tok, true);
  const train::QaIds q = train::chat_example(f, dialogue(1));
  models::GptConfig c;
  c.vocab_size = tok->vocab_size();
  c.n_positions = 256;
  c.n_embd = 16;
  c.n_layer = 1;
  c.n_head = 2;
  c.bos_token_id = c.eos_token_id = *tok->token_to_id("<|im_end|>");
  models::Gpt gpt(c);
  gpt.init_weights(5);
  const int64_t T = static_cast<int64_t>(q.ids.size()), V = gpt.vocab_size();
  ASSERT_LE(T, 256);
  OwnedTensor ids(Shape{1, T}, DType::I32), tg(Shape{1, T}, DType::I32);
  std::copy(q.ids.begin(), q.ids.end(), ids.t.ptr<int32_t>());
  std::copy(q.targets.begin(), q.targets.end(), tg.t.ptr<int32_t>());
  gpt.forward(ids.t, tg.t);
  gpt.zero_grad();
  gpt.backward();
  const float* d = gpt.logits().f32();  // d loss / d logits after backward
  for (int64_t t = 0; t < T; ++t) {
    double asum = 0;
    for (int64_t v = 0; v < V; ++v) asum += std::fabs(d[t * V + v]);
    if (q.targets[static_cast<size_t>(t)] == -100)
      EXPECT_EQ(asum, 0.0) << t;
    else
      EXPECT_GT(asum, 0.0) << t;
  }
}

TEST(ChatData, LongDialoguesAreCutAtTurnBoundaries) {
  auto tok = byte_bpe_chatml();
  const ChatFormat f = format_of(chatml_template_source(), *tok, true);
  const Json m = dialogue(6);
  const train::QaIds whole = train::chat_example(f, m);
  const int64_t T = static_cast<int64_t>(whole.ids.size()) / 3;
  int64_t cut = 0;
  const std::vector<train::QaIds> pieces = train::chat_training_pieces(f, m, T, &cut);
  EXPECT_EQ(cut, 0);
  ASSERT_GE(pieces.size(), 3u);
  const std::string sys = "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n";
  std::string trained;
  for (const auto& p : pieces) {
    EXPECT_LE(static_cast<int64_t>(p.ids.size()), T);
    EXPECT_EQ(tok->decode(p.ids).substr(0, sys.size()), sys);  // system kept, a user turn first
    trained += scored_text(*tok, p);
  }
  EXPECT_EQ(trained, scored_text(*tok, whole));  // every reply trained once, in order
  // Scoring: one piece per assistant turn, each turn's reply scored once with the turns before it that fit.
  const std::vector<train::QaIds> scored = train::chat_scoring_pieces(f, m, T);
  ASSERT_EQ(scored.size(), 6u);
  std::string all;
  for (const auto& p : scored) {
    EXPECT_LE(static_cast<int64_t>(p.ids.size()), T);
    all += scored_text(*tok, p);
  }
  EXPECT_EQ(all, scored_text(*tok, whole));
  // A context that holds the whole dialogue: one piece each.
  EXPECT_EQ(train::chat_training_pieces(f, m, T * 4).size(), 1u);
  EXPECT_EQ(train::chat_scoring_pieces(f, m, T * 4).size(), 1u);
}

TEST(ChatData, BadDialogueFilesNameFileAndLine) {
  const std::string dir = test::temp_dir("chat_bad");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n{\"messages\": 3}\n", ":2"},
      {"{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}\n", "role \"wizard\""},
      {"{\"messages\": [{\"role\": \"user\"}]}\n", "string \"content\""},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\"}]}\n", ":1"},
      {"{\"messages\": []}\n", "empty"},
  };
  for (const auto& [text, want] : cases) {
    write_file_atomic(dir + "/d.jsonl", text);
    try {
      train::read_dialogues(dir + "/d.jsonl");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("d.jsonl"), std::string::npos) << e.what();
    }
  }
}

TEST(ChatData, VocabularyGrowsWithMeanRows) {
  models::GptConfig c;
  c.vocab_size = 10;
  c.n_positions = 8;
  c.n_embd = 8;
  c.n_layer = 1;
  c.n_head = 2;
  c.bos_token_id = c.eos_token_id = 9;
  models::Gpt gpt(c);
  gpt.init_weights(7);
  models::ConfigRequest req;
  req.vocab_size = 12;
  req.end_of_turn_id = 11;
  auto grown = models::resize_vocab(gpt, req, 10);
  EXPECT_EQ(grown->vocab_size(), 12);
  EXPECT_EQ(grown->causal_lm()->eos_token_id(), 11);
  auto find = [](models::Model& m, const std::string& name) {
    for (auto& p : m.param_list())
      if (p.name.find(name) != std::string::npos) return p.param;
    return Tensor();
  };
  const Tensor a = find(gpt, "wte"), b = find(*grown, "wte");
  ASSERT_TRUE(a.defined() && b.defined());
  for (int64_t k = 0; k < 8; ++k) {
    double mean = 0;
    for (int64_t r = 0; r < 10; ++r) {
      mean += a.f32()[r * 8 + k];
      EXPECT_EQ(b.f32()[r * 8 + k], a.f32()[r * 8 + k]);
    }
    mean /= 10;
    EXPECT_FLOAT_EQ(b.f32()[10 * 8 + k], static_cast<float>(mean));
    EXPECT_FLOAT_EQ(b.f32()[11 * 8 + k], static_cast<float>(mean));
  }
}

}  // namespace
}  // namespace lm
