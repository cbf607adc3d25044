// Token ids vs the reference files made by HF tokenizers / tiktoken (tests/reference/tokenizers/gen.mjs): GPT-2
// byte-level BPE and BERT WordPiece (uncased, cased) on hard cases and samples of five corpora, ids exact.
#include <gtest/gtest.h>

#include "lm/tokenize/tokenizer.h"
#include "reference_common.h"

namespace lm::test {
namespace {

struct Case {
  std::string tokenizer, corpus;
};

class ReferenceIds : public ::testing::TestWithParam<Case> {};

TEST_P(ReferenceIds, MatchExactly) {
  LM_REQUIRE_SHARED_DATA();
  const Case& c = GetParam();
  auto tok = load_tokenizer(tokenizer_dir(c.tokenizer));
  auto texts = reference_corpus(c.corpus);
  auto expected = read_ids_file(reference_dir() + "/ids/" + c.tokenizer + "." + c.corpus + ".ids");
  ASSERT_EQ(texts.size(), expected.size());
  int bad = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto got = tok->encode(texts[i]);
    if (got != expected[i] && ++bad <= 5)
      ADD_FAILURE() << c.tokenizer << " " << c.corpus << " line " << i + 1 << ": " << texts[i].substr(0, 200)
                    << "\n  expected " << ids_str(expected[i]) << "\n  got      " << ids_str(got);
  }
  EXPECT_EQ(bad, 0) << "of " << texts.size() << " texts";
}

std::vector<Case> all_cases() {
  std::vector<Case> v;
  for (const char* t : {"gpt2", "bert-base-uncased", "bert-base-cased"})
    for (const char* c : {"hard", "code", "shakespeare", "wikitext2", "sst2", "squad"}) v.push_back({t, c});
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, ReferenceIds, ::testing::ValuesIn(all_cases()), [](const auto& info) {
  std::string n = info.param.tokenizer + "_" + info.param.corpus;
  for (auto& ch : n)
    if (ch == '-') ch = '_';
  return n;
});

}  // namespace
}  // namespace lm::test
