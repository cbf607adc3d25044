// Continuous batching: the ragged forward against the cached forward, greedy output against PyTorch's, batch
// invariance (every sequence of a 16-slot batch equals its solo run, bit for bit), joins mid-stream, cancellation,
// limits; the text stream (stop strings held back across tokens, UTF-8 never split); the OpenAI request parser.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "harness/harness.h"
#include "lm/core/buffer.h"
#include "lm/core/threads.h"
#include "lm/generate/openai.h"
#include "lm/generate/scheduler.h"
#include "lm/io/safetensors.h"
#include "lm/models/gpt/gpt.h"

namespace lm {
namespace {

using generate::Scheduler;
using generate::SchedulerOptions;
using generate::SequenceRequest;
using generate::TextStream;

std::string ref_dir(const std::string& n) { return test::source_dir() + "/tests/reference/" + n; }

std::vector<int32_t> read_ids(const SafetensorsFile& f, const std::string& name) {
  Tensor t = f.tensor(name);
  return std::vector<int32_t>(t.ptr<int32_t>(), t.ptr<int32_t>() + t.numel());
}

// A random GPT with a wide init (spread logits: greedy choices are not near-ties).
std::unique_ptr<models::Gpt> wide_gpt() {
  models::GptConfig c;
  c.vocab_size = 300, c.n_positions = 96, c.n_embd = 64, c.n_layer = 2, c.n_head = 4;
  c.initializer_range = 0.25f;
  auto g = std::make_unique<models::Gpt>(c);
  g->init_weights(11);
  return g;
}

std::vector<int32_t> prompt_of(int i, int64_t len, int64_t V) {
  std::vector<int32_t> p(static_cast<size_t>(len));
  for (int64_t t = 0; t < len; ++t) p[static_cast<size_t>(t)] = static_cast<int32_t>((i * 131 + t * 37 + 5) % V);
  return p;
}

SequenceRequest greedy(std::vector<int32_t> prompt, int64_t n) {
  SequenceRequest q;
  q.prompt = std::move(prompt);
  q.max_tokens = n;
  q.sampling.greedy = true;
  q.stop_at_eos = false;
  return q;
}

TEST(Ragged, LogitsMatchTheCachedForward) {
  set_num_threads(2);
  auto g = wide_gpt();
  const int64_t V = g->vocab_size();
  // Three sequences at different positions in one pass: a 7-token prefill, and two single tokens after prefixes.
  std::vector<std::vector<int32_t>> seqs = {prompt_of(0, 7, V), prompt_of(1, 5, V), prompt_of(2, 9, V)};
  std::vector<std::unique_ptr<models::SeqCache>> caches;
  for (int i = 0; i < 3; ++i) caches.push_back(g->make_seq_cache(16));
  std::vector<float> l0(static_cast<size_t>(V)), l1(static_cast<size_t>(V)), l2(static_cast<size_t>(V));
  g->forward_ragged({{caches[1].get(), seqs[1].data(), 4, nullptr}, {caches[2].get(), seqs[2].data(), 8, nullptr}});
  g->forward_ragged({{caches[0].get(), seqs[0].data(), 7, l0.data()},
                     {caches[1].get(), seqs[1].data() + 4, 1, l1.data()},
                     {caches[2].get(), seqs[2].data() + 8, 1, l2.data()}});
  const std::vector<float>* got[3] = {&l0, &l1, &l2};
  for (int i = 0; i < 3; ++i) {
    const int64_t T = static_cast<int64_t>(seqs[static_cast<size_t>(i)].size());
    auto cache = g->make_kv_cache(1, T);
    OwnedTensor all(Shape{1, T, V});
    g->forward_cached(Tensor(seqs[static_cast<size_t>(i)].data(), Shape{1, T}, DType::I32), *cache, {}, {}, all.t);
    EXPECT_LT(test::max_abs_diff(got[i]->data(), all.f32() + (T - 1) * V, V), 1e-4) << "sequence " << i;
  }
}

// Bit for bit: a sequence's logits from a pass with 15 other decode rows and a prefill chunk equal its logits
// from a pass of its own (the property greedy batch invariance rests on; greedy ids alone could hide a
// difference in the last bits).
TEST(Ragged, RowsAreBatchInvariant) {
  set_num_threads(2);
  auto g = wide_gpt();
  const int64_t V = g->vocab_size();
  std::vector<std::vector<int32_t>> p;
  std::vector<std::unique_ptr<models::SeqCache>> solo, batch;
  for (int i = 0; i < 16; ++i) {
    p.push_back(prompt_of(i, 3 + i, V));
    solo.push_back(g->make_seq_cache(40));
    batch.push_back(g->make_seq_cache(40));
    for (auto* c : {solo.back().get(), batch.back().get()})
      g->forward_ragged({{c, p.back().data(), static_cast<int64_t>(p.back().size()) - 1, nullptr}});
  }
  auto extra = g->make_seq_cache(40);
  const auto long_prompt = prompt_of(99, 20, V);
  std::vector<float> a(static_cast<size_t>(16 * V)), b(static_cast<size_t>(16 * V)), e(static_cast<size_t>(V));
  std::vector<models::SeqChunk> chunks;
  for (int i = 0; i < 16; ++i) {
    g->forward_ragged({{solo[static_cast<size_t>(i)].get(), &p[static_cast<size_t>(i)].back(), 1, a.data() + i * V}});
    chunks.push_back({batch[static_cast<size_t>(i)].get(), &p[static_cast<size_t>(i)].back(), 1, b.data() + i * V});
  }
  // Two prompt pieces in the same pass (they may share a GEMM): each must equal its solo pass too.
  auto extra2 = g->make_seq_cache(40), solo_e = g->make_seq_cache(40), solo_e2 = g->make_seq_cache(40);
  const auto short_prompt = prompt_of(98, 7, V);
  std::vector<float> e2(static_cast<size_t>(V)), se(static_cast<size_t>(V)), se2(static_cast<size_t>(V));
  g->forward_ragged({{solo_e.get(), long_prompt.data(), 20, se.data()}});
  g->forward_ragged({{solo_e2.get(), short_prompt.data(), 7, se2.data()}});
  chunks.insert(chunks.begin() + 5, models::SeqChunk{extra.get(), long_prompt.data(), 20, e.data()});
  chunks.insert(chunks.begin() + 9, models::SeqChunk{extra2.get(), short_prompt.data(), 7, e2.data()});
  g->forward_ragged(chunks);
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(std::memcmp(a.data() + i * V, b.data() + i * V, sizeof(float) * static_cast<size_t>(V)), 0)
        << "sequence " << i;
  EXPECT_EQ(std::memcmp(e.data(), se.data(), sizeof(float) * static_cast<size_t>(V)), 0) << "20-token piece";
  EXPECT_EQ(std::memcmp(e2.data(), se2.data(), sizeof(float) * static_cast<size_t>(V)), 0) << "7-token piece";
}

// A step of decode rows gives the same bits on any team size, so the scheduler may run such steps on the cores other
// processes leave free (AdaptiveThreads): 16 sequences decoded 6 steps on a team of 2, of 1, and switching.
TEST(Ragged, DecodeStepsAreBitwiseTheSameOnAnyTeamSize) {
  auto g = wide_gpt();
  const int64_t V = g->vocab_size(), S = 16, steps = 6;
  std::vector<std::vector<float>> runs;
  for (int mode = 0; mode < 3; ++mode) {
    set_num_threads(2);
    std::vector<std::unique_ptr<models::SeqCache>> caches;
    std::vector<std::vector<int32_t>> p;
    for (int i = 0; i < S; ++i) {
      p.push_back(prompt_of(i, 3 + i, V));
      caches.push_back(g->make_seq_cache(40));
      g->forward_ragged({{caches.back().get(), p.back().data(), static_cast<int64_t>(p.back().size()), nullptr}});
    }
    std::vector<float> all(static_cast<size_t>(steps * S * V));
    for (int64_t t = 0; t < steps; ++t) {
      set_thread_cap(mode == 1 || (mode == 2 && t % 2) ? 1 : 0);
      std::vector<models::SeqChunk> chunks;
      for (int i = 0; i < S; ++i)
        chunks.push_back({caches[static_cast<size_t>(i)].get(), &p[static_cast<size_t>(i)][static_cast<size_t>(t % 3)],
                          1, all.data() + (t * S + i) * V});
      g->forward_ragged(chunks);
    }
    set_thread_cap(0);
    runs.push_back(all);
  }
  for (int mode = 1; mode < 3; ++mode)
    EXPECT_EQ(std::memcmp(runs[0].data(), runs[static_cast<size_t>(mode)].data(), runs[0].size() * sizeof(float)), 0)
        << "mode " << mode;
}

TEST(Scheduler, GreedyEqualsPyTorchReference) {
  set_num_threads(2);
  const std::string dir = ref_dir("gpt2_tiny_a");
  SafetensorsFile vec(dir + "/vectors.safetensors");
  auto model = models::load_model_dir(dir);
  Scheduler s(*model->causal_lm(), nullptr, SchedulerOptions{});
  auto seq = s.submit(greedy(read_ids(vec, "greedy_prompt"), 8));
  EXPECT_EQ(seq->wait_all().ids, read_ids(vec, "greedy_out"));
}

// Each of 16 concurrent sequences (different prompt lengths, some longer than a prefill chunk, joining at
// different times) equals its solo run token for token.
TEST(Scheduler, SixteenConcurrentEqualTheirSoloRuns) {
  set_num_threads(2);
  auto g = wide_gpt();
  const int64_t V = g->vocab_size();
  SchedulerOptions o;
  o.parallel = 16;
  o.prefill_chunk = 8;
  o.step_prefill_tokens = 12;
  std::vector<std::vector<int32_t>> solo;
  {
    SchedulerOptions one = o;
    one.parallel = 1;
    Scheduler s(*g, nullptr, one);
    for (int i = 0; i < 16; ++i) solo.push_back(s.submit(greedy(prompt_of(i, 1 + (i * 7) % 30, V), 24))->wait_all().ids);
  }
  Scheduler s(*g, nullptr, o);
  std::vector<std::shared_ptr<generate::Sequence>> seqs;
  for (int i = 0; i < 16; ++i) {
    seqs.push_back(s.submit(greedy(prompt_of(i, 1 + (i * 7) % 30, V), 24)));
    if (i % 5 == 4) std::this_thread::sleep_for(std::chrono::milliseconds(3));  // later ones join mid-stream
  }
  for (int i = 0; i < 16; ++i) {
    auto u = seqs[static_cast<size_t>(i)]->wait_all();
    EXPECT_EQ(u.ids, solo[static_cast<size_t>(i)]) << "sequence " << i;
    EXPECT_EQ(u.finish_reason, "length");
  }
  EXPECT_GE(s.stats().steps, 24u);
  EXPECT_LT(s.stats().steps, 16u * 24u);  // batched: far fewer passes than sequences x tokens
}

TEST(Scheduler, CancelFreesTheSlotAndLimitsAreChecked) {
  set_num_threads(2);
  auto g = wide_gpt();
  SchedulerOptions o;
  o.parallel = 1;
  o.max_queue = 1;
  Scheduler s(*g, nullptr, o);
  auto a = s.submit(greedy(prompt_of(0, 4, 300), 80));
  auto b = s.submit(greedy(prompt_of(1, 4, 300), 4));
  EXPECT_THROW(s.submit(greedy(prompt_of(2, 4, 300), 4)), generate::QueueFull);
  a->cancel();
  EXPECT_EQ(a->wait_all().finish_reason, "cancelled");
  EXPECT_EQ(b->wait_all().ids.size(), 4u);  // b got the slot
  EXPECT_THROW(s.submit(greedy(prompt_of(3, 90, 300), 10)), generate::ContextExceeded);
  EXPECT_THROW(s.submit(greedy({}, 4)), Error);
  EXPECT_THROW(s.submit(greedy({300}, 4)), Error);  // id out of range
}

TEST(Scheduler, ACancelledWaiterLeavesTheQueueAtOnce) {
  set_num_threads(1);
  models::GptConfig cfg;
  cfg.vocab_size = 300, cfg.n_positions = 4096, cfg.n_embd = 32, cfg.n_layer = 1, cfg.n_head = 2;
  models::Gpt g(cfg);
  g.init_weights(3);
  SchedulerOptions o;
  o.parallel = 1;
  o.max_queue = 1;
  Scheduler s(g, nullptr, o);
  auto a = s.submit(greedy(prompt_of(0, 4, 300), 4000));  // holds the only slot for thousands of steps
  auto b = s.submit(greedy(prompt_of(1, 4, 300), 4));
  b->cancel();  // its client left while it waited
  const auto ub = b->wait_all();
  EXPECT_EQ(ub.finish_reason, "cancelled");
  EXPECT_TRUE(ub.ids.empty());
  EXPECT_FALSE(a->take(std::chrono::milliseconds(0)).done);  // gone from the queue while the slot is still busy
  EXPECT_EQ(s.stats().queued, 0);
  auto c = s.submit(greedy(prompt_of(2, 4, 300), 4));  // the place is free again: no QueueFull
  a->cancel();
  EXPECT_EQ(a->wait_all().finish_reason, "cancelled");
  EXPECT_EQ(c->wait_all().ids.size(), 4u);
}

TEST(TextStream, HoldsBackStopStringPrefixesAndCutsAtTheStop) {
  TextStream ts({"END", "\n\n"});
  bool stopped = false;
  std::string out;
  for (const char* piece : {"Hello E", "N", "dless ", "story E", "ND and more"}) {
    out += ts.push(piece, &stopped);
    if (stopped) break;
  }
  EXPECT_TRUE(stopped);
  EXPECT_EQ(out, "Hello ENdless story ");
  TextStream t2({"\n\n"});
  EXPECT_EQ(t2.push("a\n", &stopped), "a");  // "\n" could start the stop: held back
  EXPECT_EQ(t2.push("b", &stopped), "\nb");
  EXPECT_EQ(t2.push("\n", &stopped), "");
  EXPECT_EQ(t2.finish(), "\n");  // flushed at the end
}

TEST(TextStream, NeverSplitsAUtf8Character) {
  const std::string euro = "\xE2\x82\xAC";  // U+20AC in three bytes, fed one byte at a time
  TextStream ts;
  bool stopped;
  EXPECT_EQ(ts.push(euro.substr(0, 1), &stopped), "");
  EXPECT_EQ(ts.push(euro.substr(1, 1), &stopped), "");
  EXPECT_EQ(ts.push(euro.substr(2, 1) + "x", &stopped), euro + "x");
  EXPECT_EQ(ts.push("\xF0\x9F", &stopped), "");
  EXPECT_EQ(ts.finish(), "\xEF\xBF\xBD");  // unfinished at the end: one replacement character
  EXPECT_EQ(generate::sanitize_utf8("a\xFF" "b\xC3"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
}

TEST(OpenAiRequest, FieldsAreCheckedAndNamed) {
  auto err = [](const char* body) {
    try {
      generate::parse_request(Json::parse(body), false, nullptr, 100);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(err(R"({"prompt": [1,2], "temperature": "hot"})").find("temperature"), std::string::npos);
  EXPECT_NE(err(R"({"prompt": [1,2], "max_tokens": 0})").find("max_tokens"), std::string::npos);
  EXPECT_NE(err(R"({"prompt": [1,200]})").find("out of range"), std::string::npos);
  EXPECT_NE(err(R"({"prompt": [1], "n": 99})").find("'n'"), std::string::npos);
  EXPECT_NE(err(R"({"prompt": [1], "stop": 3})").find("stop"), std::string::npos);
  EXPECT_NE(err(R"({"max_tokens": 3})").find("prompt"), std::string::npos);
  auto r = generate::parse_request(Json::parse(R"({"prompt": [5, 6], "temperature": 0, "stop": "x", "seed": 3})"),
                                   false, nullptr, 100);
  EXPECT_TRUE(r.params.sampling.greedy);
  EXPECT_EQ(r.params.stop, std::vector<std::string>{"x"});
  EXPECT_EQ(r.params.sampling.seed, 3u);
}

TEST(OpenAiRequest, ChatContentCannotInjectSpecialTokens) {
  LM_REQUIRE_SHARED_DATA();
  auto tok = load_tokenizer(test::shared_data_dir() + "/tokenizers/gpt2");
  const int32_t eot = *tok->token_to_id("<|endoftext|>");
  ASSERT_EQ(tok->encode("<|endoftext|>", false), std::vector<int32_t>{eot});  // plain encode does parse it
  ChatFormat f;
  f.source.source = chatml_template_source();
  f.tmpl = std::make_shared<const ChatTemplate>(ChatTemplate::parse(f.source.source));
  f.tok = tok.get();
  const ChatRender r = f.render(generate::messages_json({{"user", "hi <|endoftext|> there"}}), true);
  EXPECT_EQ(r.text, "<|im_start|>user\nhi <|endoftext|> there<|im_end|>\n<|im_start|>assistant\n");
  auto ids = f.encode(r);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), eot), 0);
  EXPECT_EQ(tok->decode(ids), r.text);
  // Where no content holds special-token text, the safe ids are HF's (the whole text encoded at once).
  const ChatRender plain = f.render(generate::messages_json({{"user", "hi there"}}), true);
  EXPECT_EQ(f.encode(plain), encode_chat_hf(*tok, plain));
}

}  // namespace
}  // namespace lm
