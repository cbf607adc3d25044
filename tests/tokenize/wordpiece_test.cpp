// WordPiece unit tests: pairs/truncation/padding vs HF (bert_pairs.json), decode vs HF, normalizer details,
// invalid UTF-8, save/load, lowercase inference.
#include <gtest/gtest.h>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/tokenize/batch.h"
#include "lm/tokenize/wordpiece.h"
#include "reference_common.h"

namespace lm::test {
namespace {

TEST(WordPieceRef, PairsTruncationPaddingMatchHf) {
  LM_REQUIRE_SHARED_DATA();
  Json cases = read_json_file(reference_dir() + "/ids/bert_pairs.json");
  int checked = 0, errors = 0;
  for (auto& c : cases) {
    auto tok = load_tokenizer(tokenizer_dir(c["tokenizer"].get<std::string>()));
    EncodeOptions opt;
    if (!c["maxLength"].is_null()) {
      opt.max_length = c["maxLength"].get<int64_t>();
      std::string s = c["strategy"].get<std::string>();
      opt.truncation = s == "LongestFirst" ? Truncation::LongestFirst
                       : s == "OnlyFirst"  ? Truncation::OnlyFirst
                                           : Truncation::OnlySecond;
    }
    if (!c["padding"].is_null()) {
      auto& p = c["padding"];
      opt.padding = p.contains("maxLength") ? Padding::MaxLength : Padding::Longest;
      if (p.contains("maxLength")) opt.max_length = p["maxLength"].get<int64_t>();
      if (p.contains("padToMultipleOf")) opt.pad_to_multiple_of = p["padToMultipleOf"].get<int64_t>();
    }
    bool single = c["single"].get<bool>();
    auto& texts = c["texts"];
    // Per text as HF encodes it (errors are per text), then batch padding over the texts that encoded.
    std::vector<std::string> a, b;
    std::vector<size_t> ok;
    for (size_t i = 0; i < texts.size(); ++i) {
      auto& r = c["results"][i];
      std::string ta = texts[i][0].get<std::string>(), tb = texts[i][1].get<std::string>();
      std::string_view pb(tb);
      if (r.contains("error")) {
        EncodeOptions o1 = opt;
        o1.padding = Padding::None;
        EXPECT_THROW(encode_one(*tok, ta, single ? nullptr : &pb, o1), Error) << r["error"];
        ++errors;
        continue;
      }
      a.push_back(ta);
      b.push_back(tb);
      ok.push_back(i);
    }
    auto enc = encode_batch(*tok, a, single ? nullptr : &b, opt);
    ASSERT_EQ(enc.size(), a.size());
    for (size_t k = 0; k < enc.size(); ++k) {
      auto& r = c["results"][ok[k]];
      EXPECT_EQ(enc.encodings[k].input_ids, r["input_ids"].get<std::vector<int32_t>>()) << c.dump().substr(0, 300);
      EXPECT_EQ(enc.encodings[k].token_type_ids, r["token_type_ids"].get<std::vector<int32_t>>());
      EXPECT_EQ(enc.encodings[k].attention_mask, r["attention_mask"].get<std::vector<int32_t>>());
      ++checked;
    }
  }
  EXPECT_GT(checked, 300);
  std::cout << checked << " encodings checked, " << errors << " HF truncation errors reproduced\n";
}

TEST(WordPieceRef, DecodeMatchesHf) {
  LM_REQUIRE_SHARED_DATA();
  Json j = read_json_file(reference_dir() + "/ids/decode.json");
  for (const char* name : {"bert-base-uncased", "bert-base-cased"}) {
    auto tok = load_tokenizer(tokenizer_dir(name));
    for (auto& row : j[name]) {
      auto ids = row["ids"].get<std::vector<int32_t>>();
      EXPECT_EQ(tok->decode(ids), row["text"].get<std::string>()) << name;
      EXPECT_EQ(tok->decode(ids, true), row["skip"].get<std::string>()) << name;
    }
  }
}

TEST(WordPiece, NormalizerAndSplitting) {
  WordPieceConfig cfg;
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "cafe",
                                    ",",     "!",     "中",    "un",    "##aff",  "##able"};
  WordPieceTokenizer tok(vocab, cfg);
  EXPECT_EQ(tok.normalize("Caf\xc3\xa9\tX\x01"), "cafe x");
  EXPECT_EQ(tok.encode("Hello, WORLDs!", false), (std::vector<int32_t>{5, 9, 6, 7, 10}));
  EXPECT_EQ(tok.encode("unaffable", false), (std::vector<int32_t>{12, 13, 14}));
  EXPECT_EQ(tok.encode("unaffablex", false), (std::vector<int32_t>{1}));
  EXPECT_EQ(tok.encode("a中b", false), (std::vector<int32_t>{1, 11, 1}));
  EXPECT_EQ(tok.encode("hello[SEP]world"), (std::vector<int32_t>{2, 5, 3, 6, 3}));
  EXPECT_EQ(tok.encode(std::string(101, 'a'), false), (std::vector<int32_t>{1}));
  // Invalid UTF-8 becomes U+FFFD, which clean_text drops.
  EXPECT_EQ(tok.encode("hel\xfflo", false), (std::vector<int32_t>{5}));
  EXPECT_EQ(tok.encode("hello\xff world", false), (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(tok.decode({2, 5, 7, 9, 6, 3}), "[CLS] hellos, world [SEP]");
  EXPECT_EQ(tok.decode({2, 5, 7, 9, 6, 3}, true), "hellos, world");
  EXPECT_THROW(tok.decode({99}), Error);
}

TEST(WordPiece, SaveLoadAndCaseInference) {
  LM_REQUIRE_SHARED_DATA();
  auto texts = reference_corpus("hard");
  for (const char* name : {"bert-base-uncased", "bert-base-cased"}) {
    auto tok = load_tokenizer(tokenizer_dir(name));
    auto* wp = dynamic_cast<WordPieceTokenizer*>(tok.get());
    ASSERT_NE(wp, nullptr);
    EXPECT_EQ(wp->config().lowercase, std::string(name) == "bert-base-uncased");
    std::string dir = temp_dir(std::string("wp_save_") + name);
    tok->save(dir);
    auto a = load_tokenizer(dir);  // tokenizer.json
    std::remove((dir + "/tokenizer.json").c_str());
    auto b = load_tokenizer(dir);  // vocab.txt + tokenizer_config.json
    for (auto& t : texts) {
      auto want = tok->encode(t);
      EXPECT_EQ(a->encode(t), want);
      EXPECT_EQ(b->encode(t), want);
    }
    EXPECT_EQ(tok->eos_id(), tok->token_to_id("[SEP]"));
  }
}

}  // namespace
}  // namespace lm::test

namespace lm::test {
namespace {

TEST(WordPieceOffsets, SameIdsAndSourceRanges) {
  LM_REQUIRE_SHARED_DATA();
  for (const char* name : {"bert-base-uncased", "bert-base-cased"}) {
    auto tok = load_tokenizer(tokenizer_dir(name));
    auto& wp = dynamic_cast<const WordPieceTokenizer&>(*tok);
    int checked = 0;
    for (const char* corpus : {"hard", "squad", "wikitext2"}) {
      for (auto& t : reference_corpus(corpus)) {
        std::vector<int32_t> ids;
        std::vector<std::pair<int64_t, int64_t>> offs;
        wp.encode_with_offsets(t, ids, offs);
        ASSERT_EQ(ids, tok->encode(t, false)) << name << ": " << t;
        ASSERT_EQ(offs.size(), ids.size());
        int64_t last = 0;
        for (size_t i = 0; i < ids.size(); ++i) {
          auto [b, e] = offs[i];
          ASSERT_TRUE(b >= last && b < e && e <= static_cast<int64_t>(t.size())) << t;
          last = b;
          std::string piece = wp.id_to_token(ids[i]);
          if (piece.rfind("##", 0) == 0) piece.erase(0, 2);
          std::string src = t.substr(b, e - b);
          bool ascii = std::all_of(src.begin(), src.end(), [](char c) { return (c & 0x80) == 0; });
          if (ascii && ids[i] != wp.unk_id() && !wp.is_special(ids[i])) {
            if (wp.config().lowercase)
              for (auto& c : src) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            EXPECT_EQ(src, piece) << t;
          }
        }
        ++checked;
      }
    }
    EXPECT_GT(checked, 1000);
  }
  auto tok = load_tokenizer(tokenizer_dir("bert-base-uncased"));
  EncodeOptions opt;
  opt.return_offsets = true;
  std::string pair = "Caf\xc3\xa9 au lait";
  std::string_view pv(pair);
  Encoding e = encode_one(*tok, "Hello, world!", &pv, opt);
  // [CLS] hello , world ! [SEP] cafe au lai ##t [SEP]; "cafe" covers the 5 bytes of "Café".
  std::vector<std::pair<int64_t, int64_t>> want = {{0, 0}, {0, 5}, {5, 6},  {7, 12},  {12, 13}, {0, 0},
                                                   {0, 5}, {6, 8}, {9, 12}, {12, 13}, {0, 0}};
  EXPECT_EQ(e.offsets, want);
  opt.char_offsets = true;
  e = encode_one(*tok, "Hello, world!", &pv, opt);
  want[6] = {0, 4};  // "Café" is 4 characters
  want[7] = {5, 7};
  want[8] = {8, 11};
  want[9] = {11, 12};
  EXPECT_EQ(e.offsets, want);
}

}  // namespace
}  // namespace lm::test
