// GPT-2 BPE unit tests: pre-tokenizer pieces, scan vs heap merges, random Unicode and invalid UTF-8 round trips,
// decode vs HF, loaders (tokenizer.json, save/load), the cache under threads, bad files.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/tokenize/batch.h"
#include "lm/tokenize/bpe.h"
#include "lm/tokenize/pretokenize.h"
#include "lm/tokenize/unicode.h"
#include "reference_common.h"

namespace lm::test {
namespace {

std::vector<std::string> pieces(std::string_view s) {
  std::vector<std::string> out;
  gpt2_pretokenize(s, [&](size_t b, size_t e) { out.emplace_back(s.substr(b, e - b)); });
  return out;
}

TEST(Gpt2PreTokenize, RegexPieces) {
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces("Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(pieces("I'm don't they're"), (V{"I", "'m", " don", "'t", " they", "'re"}));
  EXPECT_EQ(pieces("a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(pieces("a  \n\nb"), (V{"a", "  \n", "\n", "b"}));
  EXPECT_EQ(pieces("end   "), (V{"end", "   "}));
  EXPECT_EQ(pieces("x 123 !!? y"), (V{"x", " 123", " !!?", " y"}));
  EXPECT_EQ(pieces("\tword"), (V{"\t", "word"}));
  EXPECT_EQ(pieces("abc123"), (V{"abc", "123"}));
  EXPECT_EQ(pieces("'x"), (V{"'", "x"}));
  EXPECT_EQ(pieces("caf\xc3\xa9 \xe4\xb8\xad"), (V{"caf\xc3\xa9", " \xe4\xb8\xad"}));
  EXPECT_EQ(pieces(""), V{});
  EXPECT_EQ(pieces("a\xff\xfe b"), (V{"a", "\xff\xfe", " b"}));
}

class Gpt2 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (shared_data_dir().empty()) GTEST_SKIP() << "../shared/data absent";
    tok_ = BpeTokenizer::from_files(tokenizer_dir("gpt2") + "/encoder.json", tokenizer_dir("gpt2") + "/vocab.bpe");
  }
  std::unique_ptr<BpeTokenizer> tok_;
};

std::string random_unicode(std::mt19937& rng, int n) {
  std::string s;
  std::uniform_int_distribution<int> kind(0, 9);
  for (int i = 0; i < n; ++i) {
    int32_t cp;
    switch (kind(rng)) {
      case 0: cp = std::uniform_int_distribution<int>(0, 0x7F)(rng); break;
      case 1: cp = std::uniform_int_distribution<int>(0x80, 0x7FF)(rng); break;
      case 2: cp = std::uniform_int_distribution<int>(0x800, 0xFFFF)(rng); break;
      case 3: cp = std::uniform_int_distribution<int>(0x10000, 0x10FFFF)(rng); break;
      case 4: cp = " \t\n\r'"[std::uniform_int_distribution<int>(0, 4)(rng)]; break;
      default: cp = "abcdefghijklmnopqrstuvwxyz0123456789 .,!"[std::uniform_int_distribution<int>(0, 39)(rng)];
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
    unicode::append_utf8(s, cp);
  }
  return s;
}

TEST_F(Gpt2, RandomUnicodeRoundTrips) {
  std::mt19937 rng(1234);
  for (int t = 0; t < 2000; ++t) {
    std::string s = random_unicode(rng, t % 60);
    auto ids = tok_->encode(s);
    ASSERT_EQ(tok_->decode(ids), s) << "case " << t;
  }
}

TEST_F(Gpt2, InvalidUtf8RoundTripsByteForByte) {
  std::mt19937 rng(99);
  for (int t = 0; t < 500; ++t) {
    std::string s;
    int n = t % 40;
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>(rng() & 0xFF));
    ASSERT_EQ(tok_->decode(tok_->encode(s)), s) << "case " << t;
  }
}

TEST_F(Gpt2, HeapAndScanMergesAgree) {
  std::mt19937 rng(7);
  for (int t = 0; t < 500; ++t) {
    std::string s = random_unicode(rng, 1 + t % 80);
    std::vector<int32_t> a, b;
    tok_->bpe_word(s, a, false);
    tok_->bpe_word(s, b, true);
    ASSERT_EQ(a, b) << "case " << t;
  }
  std::string word(5000, 'a');
  std::vector<int32_t> a, b;
  tok_->bpe_word(word, a, false);
  tok_->bpe_word(word, b, true);
  EXPECT_EQ(a, b);
}

TEST_F(Gpt2, KnownIdsAndSpecialTokens) {
  EXPECT_EQ(tok_->encode("Hello world"), (std::vector<int32_t>{15496, 995}));
  EXPECT_EQ(tok_->encode("a<|endoftext|>b"), (std::vector<int32_t>{64, 50256, 65}));
  EXPECT_EQ(tok_->eos_id(), 50256);
  EXPECT_EQ(tok_->vocab_size(), 50257);
  EXPECT_EQ(tok_->token_to_id("\xc4\xa0the"), 262);  // "Ġthe"
  EXPECT_EQ(tok_->decode({64, 50256, 65}, true), "ab");
  EXPECT_THROW(tok_->decode({50257}), Error);
  EXPECT_THROW(tok_->decode({-1}), Error);
}

TEST_F(Gpt2, DecodeMatchesHf) {
  Json j = read_json_file(reference_dir() + "/ids/decode.json");
  int n = 0;
  for (auto& row : j["gpt2"]) {
    auto ids = row["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(tok_->decode(ids), row["text"].get<std::string>());
    EXPECT_EQ(tok_->decode(ids, true), row["skip"].get<std::string>());
    ++n;
  }
  EXPECT_GT(n, 50);
}

TEST_F(Gpt2, SaveLoadAndTokenizerJson) {
  std::string dir = temp_dir("gpt2_save");
  tok_->save(dir);
  auto texts = reference_corpus("hard");
  auto a = load_tokenizer(dir);  // tokenizer.json wins
  std::string dir2 = temp_dir("gpt2_save_vm");
  write_file_atomic(dir2 + "/vocab.json", read_file(dir + "/vocab.json"));
  write_file_atomic(dir2 + "/merges.txt", read_file(dir + "/merges.txt"));
  auto b = load_tokenizer(dir2);
  EXPECT_EQ(a->type(), "bpe");
  for (auto& t : texts) {
    auto want = tok_->encode(t);
    EXPECT_EQ(a->encode(t), want) << t;
    EXPECT_EQ(b->encode(t), want) << t;
  }
  EXPECT_EQ(a->eos_id(), 50256);
}

TEST_F(Gpt2, ThreadsShareOneTokenizer) {
  auto texts = reference_corpus("shakespeare");
  std::vector<std::vector<int32_t>> want;
  for (auto& t : texts) want.push_back(tok_->encode(t));
  std::vector<std::thread> th;
  std::atomic<int> bad{0};
  for (int w = 0; w < 4; ++w)
    th.emplace_back([&, w] {
      for (size_t i = w; i < texts.size(); i += 1)
        if (tok_->encode(texts[(i * 7 + w) % texts.size()]) != want[(i * 7 + w) % texts.size()]) ++bad;
    });
  for (auto& t : th) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(Gpt2, LongLineWithoutSpaces) {
  std::string s(200000, 'x');
  s += std::string(100000, '!');
  auto ids = tok_->encode(s);
  EXPECT_EQ(tok_->decode(ids), s);
}

TEST_F(Gpt2, OffsetsCoverTheText) {
  EncodeOptions opt;
  opt.return_offsets = true;
  for (auto& t : reference_corpus("hard")) {
    Encoding e = encode_one(*tok_, t, nullptr, opt);
    ASSERT_EQ(e.offsets.size(), e.input_ids.size());
    int64_t pos = 0;
    for (size_t i = 0; i < e.input_ids.size(); ++i) {
      auto [b, en] = e.offsets[i];
      EXPECT_EQ(b, pos) << t;
      EXPECT_EQ(t.substr(b, en - b), tok_->decode({e.input_ids[i]})) << t;
      pos = en;
    }
    EXPECT_EQ(pos, static_cast<int64_t>(t.size()));
  }
}

TEST_F(Gpt2, BatchOnThreadsEqualsSerial) {
  auto texts = reference_corpus("wikitext2");
  auto par = encode_ids_batch(*tok_, texts, true, 4);
  EncodeOptions opt;
  opt.threads = 3;
  opt.padding = Padding::Longest;
  opt.pad_id = 50256;
  auto batch = encode_batch(*tok_, texts, nullptr, opt);
  size_t longest = 0;
  for (auto& v : par) longest = std::max(longest, v.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(par[i], tok_->encode(texts[i]));
    auto& e = batch.encodings[i];
    ASSERT_EQ(e.input_ids.size(), longest);
    EXPECT_TRUE(std::equal(par[i].begin(), par[i].end(), e.input_ids.begin()));
    EXPECT_EQ(std::count(e.attention_mask.begin(), e.attention_mask.end(), 1), static_cast<long>(par[i].size()));
  }
  EncodeOptions no_pad;
  no_pad.padding = Padding::Longest;
  EXPECT_THROW(encode_batch(*tok_, texts, nullptr, no_pad), Error);  // GPT-2 has no pad token
}

TEST_F(Gpt2, SlowHundredMegabyteLine) {
  std::string unit = "The quick brown fox, 1234 caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80  jumps!\t";
  std::string s;
  s.reserve(100u << 20);
  while (s.size() < (100u << 20)) s += unit;
  auto ids = tok_->encode(s);
  EXPECT_GT(ids.size(), s.size() / 8);
  EXPECT_EQ(tok_->decode(ids), s);
}

TEST(BpeFiles, BadFilesThrowNamingTheFile) {
  std::string dir = temp_dir("bpe_bad");
  write_file_atomic(dir + "/vocab.json", "{\"a\": 0,");
  write_file_atomic(dir + "/merges.txt", "#version: 0.2\na b\n");
  try {
    load_tokenizer(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab.json"), std::string::npos) << e.what();
  }
  write_file_atomic(dir + "/vocab.json", "{\"a\": 0}");
  EXPECT_THROW(load_tokenizer(dir), Error);  // byte alphabet missing
  EXPECT_THROW(load_tokenizer(temp_dir("bpe_empty")), Error);
  EXPECT_THROW(load_tokenizer(dir + "/nope"), Error);
  EXPECT_FALSE(has_tokenizer_files(temp_dir("bpe_empty2")));
}

}  // namespace
}  // namespace lm::test

namespace lm::test {
namespace {

TEST(TokenizerFiles, WrongJsonTypesAreBadFormat) {
  std::string dir = temp_dir("tok_json_types");
  write_file_atomic(dir + "/tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": \"x\"}}}");
  try {
    load_tokenizer(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat);
  }
  write_file_atomic(dir + "/tokenizer.json", "{\"model\": {\"type\": \"Unigram\"}}");
  EXPECT_THROW(load_tokenizer(dir), Error);
  std::string cdir = temp_dir("tok_char_types");
  write_file_atomic(cdir + "/char_vocab.json", "{\"type\": \"char\", \"chars\": [\"ab\"]}");
  EXPECT_THROW(load_tokenizer(cdir), Error);
}

}  // namespace
}  // namespace lm::test

namespace lm::test {
namespace {

TEST(BpeTokenizerJson, PairMergesAddPrefixSpaceAndAddedTokens) {
  std::string dir = temp_dir("bpe_tokjson");
  write_file_atomic(dir + "/tokenizer.json", R"({
    "added_tokens": [{"id": 5, "content": "<s>", "special": true, "lstrip": false, "rstrip": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "ByteLevel", "add_prefix_space": true}]},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "\u0120ab": 4},
              "merges": [["a", "b"], ["\u0120", "ab"]]}})");
  auto tok = load_tokenizer(dir);
  EXPECT_EQ(tok->encode("ab"), (std::vector<int32_t>{4}));
  EXPECT_EQ(tok->encode("ab ab"), (std::vector<int32_t>{4, 4}));
  // rstrip: the spaces after <s> belong to it; the text after it gets a prefix space again.
  EXPECT_EQ(tok->encode("ab<s>  ab"), (std::vector<int32_t>{4, 5, 4}));
  EXPECT_EQ(tok->encode("abc"), (std::vector<int32_t>{4}));  // 'c' has no token: dropped as HF does
  EXPECT_EQ(tok->decode({4, 5}, true), " ab");
  write_file_atomic(dir + "/tokenizer.json", R"({"pre_tokenizer": {"type": "Whitespace"},
    "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  try {
    load_tokenizer(dir);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
  }
}

}  // namespace
}  // namespace lm::test
