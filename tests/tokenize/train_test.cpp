// Trainer tests: byte-level BPE merges identical to HF tokenizers' BpeTrainer (reference made by gen.mjs),
// trained tokenizers save/load and round-trip, WordPiece and char training basics.
#include <gtest/gtest.h>

#include "lm/core/file_util.h"
#include "lm/tokenize/train.h"
#include "reference_common.h"

namespace lm::test {
namespace {

std::string shakespeare10k_file() {
  auto lines = first_lines(shared_data_dir() + "/tinyshakespeare/input.txt", 10000);
  std::string text;
  for (auto& l : lines) text += l + "\n";
  std::string path = temp_dir("train_input") + "/train.txt";
  write_file_atomic(path, text);
  return path;
}

TEST(TrainBpe, MergesIdenticalToHfBpeTrainer) {
  LM_REQUIRE_SHARED_DATA();
  BpeTrainOptions opt;  // HF BpeTrainer::default(): 30000, min_frequency 0, no specials, no initial alphabet
  opt.byte_alphabet = false;
  auto tok = train_byte_level_bpe({shakespeare10k_file()}, opt);
  std::string dir = temp_dir("train_bpe_hf");
  tok->save(dir);
  auto got = split_lines(read_file(dir + "/merges.txt"));
  got.erase(got.begin());  // "#version: 0.2"
  auto want = split_lines(read_file(reference_dir() + "/ids/bpe_train_shakespeare10k.merges"));
  ASSERT_EQ(got.size(), want.size());
  size_t first_diff = got.size();
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != want[i]) {
      first_diff = i;
      break;
    }
  EXPECT_EQ(first_diff, got.size()) << "first different merge " << first_diff << ": got '" << got[first_diff]
                                    << "' want '" << want[first_diff] << "'";
  Json vocab = read_json_file(reference_dir() + "/ids/bpe_train_shakespeare10k.vocab.json");
  ASSERT_EQ(static_cast<int64_t>(vocab.size()), tok->vocab_size());
  for (size_t i = 0; i < vocab.size(); ++i) ASSERT_EQ(tok->id_to_token(static_cast<int32_t>(i)), vocab[i].get<std::string>()) << i;
}

TEST(TrainBpe, ByteLevelWithSpecialsRoundTrips) {
  LM_REQUIRE_SHARED_DATA();
  BpeTrainOptions opt;
  opt.vocab_size = 1000;
  opt.min_frequency = 2;
  opt.special_tokens = {"<|endoftext|>"};
  auto tok = train_byte_level_bpe({shakespeare10k_file()}, opt);
  EXPECT_EQ(tok->vocab_size(), 1000);
  EXPECT_EQ(tok->token_to_id("<|endoftext|>"), 0);
  EXPECT_EQ(tok->eos_id(), 0);
  std::string dir = temp_dir("train_bpe_save");
  tok->save(dir);
  auto back = load_tokenizer(dir);
  for (auto& t : reference_corpus("hard")) {
    auto ids = back->encode(t);
    EXPECT_EQ(ids, tok->encode(t));
    EXPECT_EQ(back->decode(ids), t);
  }
}

TEST(TrainWordPiece, VocabularyAndEncoding) {
  LM_REQUIRE_SHARED_DATA();
  auto tok = train_wordpiece({shakespeare10k_file()}, 2000);
  EXPECT_EQ(tok->vocab_size(), 2000);
  EXPECT_EQ(tok->id_to_token(0), "[PAD]");
  EXPECT_EQ(tok->id_to_token(4), "[MASK]");
  auto ids = tok->encode("First Citizen: before we proceed");
  EXPECT_EQ(ids.front(), 2);
  EXPECT_EQ(ids.back(), 3);
  EXPECT_EQ(tok->decode(ids, true), "first citizen : before we proceed");
  std::string dir = temp_dir("train_wp_save");
  tok->save(dir);
  EXPECT_EQ(load_tokenizer(dir)->encode("the king's men"), tok->encode("the king's men"));
}

TEST(TrainChar, ShakespeareHas65Chars) {
  LM_REQUIRE_SHARED_DATA();
  auto tok = train_char({shared_data_dir() + "/tinyshakespeare/input.txt"});
  EXPECT_EQ(tok->vocab_size(), 65);
  auto ids = tok->encode("Hello!\n");
  EXPECT_EQ(tok->decode(ids), "Hello!\n");
  EXPECT_THROW(tok->encode("\xe4\xb8\xad"), Error);
  std::string dir = temp_dir("train_char_save");
  tok->save(dir);
  auto back = load_tokenizer(dir);
  EXPECT_EQ(back->type(), "char");
  EXPECT_EQ(back->encode("Hello!\n"), ids);
}

}  // namespace
}  // namespace lm::test
