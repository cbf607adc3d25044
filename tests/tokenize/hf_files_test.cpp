// transformers' side files written by Tokenizer::save (tokenizer_config.json, special_tokens_map.json,
// added_tokens.json), the tokenizer.json components HF's converters write, and the side-file carry-over between
// directories. Small in-memory vocabularies; no shared data needed.
#include <gtest/gtest.h>

#include <cstdio>

#include "lm/core/file_util.h"
#include "lm/tokenize/bpe.h"
#include "lm/tokenize/hf_files.h"
#include "lm/tokenize/wordpiece.h"
#include "harness/harness.h"

namespace lm::test {
namespace {

// 256 byte tokens + <|endoftext|> (id 256), no merges.
std::unique_ptr<BpeTokenizer> byte_bpe() {
  std::vector<std::pair<std::string, int32_t>> vocab;
  for (int b = 0; b < 256; ++b) vocab.push_back({byte_level_encode(std::string(1, static_cast<char>(b))), b});
  vocab.push_back({"<|endoftext|>", 256});
  return std::make_unique<BpeTokenizer>(vocab, std::vector<std::pair<std::string, std::string>>{});
}

TEST(HfFiles, BpeWritesGpt2TokenizerFiles) {
  const std::string dir = temp_dir("hf_files_bpe");
  auto tok = byte_bpe()->with_added_tokens({"<|im_start|>", "<|im_end|>"});
  tok->save(dir, 96);
  const Json cfg = read_json_file(dir + "/tokenizer_config.json");
  EXPECT_EQ(cfg["tokenizer_class"], "GPT2Tokenizer");
  EXPECT_EQ(cfg["model_max_length"], 96);
  EXPECT_EQ(cfg["add_prefix_space"], false);
  EXPECT_EQ(cfg["clean_up_tokenization_spaces"], false);
  for (const char* k : {"bos_token", "eos_token", "unk_token"}) EXPECT_EQ(cfg[k], "<|endoftext|>") << k;
  EXPECT_EQ(cfg["added_tokens_decoder"]["256"]["content"], "<|endoftext|>");
  EXPECT_EQ(cfg["added_tokens_decoder"]["258"]["content"], "<|im_end|>");
  EXPECT_EQ(cfg["added_tokens_decoder"]["258"]["special"], true);
  const Json map = read_json_file(dir + "/special_tokens_map.json");
  EXPECT_EQ(map["eos_token"], "<|endoftext|>");
  // Only the tokens past vocab.json go to added_tokens.json.
  EXPECT_EQ(read_json_file(dir + "/added_tokens.json"), (Json{{"<|im_start|>", 257}, {"<|im_end|>", 258}}));
  const Json tj = read_json_file(dir + "/tokenizer.json");
  EXPECT_EQ(tj["pre_tokenizer"], (Json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                                       {"use_regex", true}}));
  EXPECT_EQ(tj["post_processor"]["trim_offsets"], false);
  EXPECT_EQ(tj["model"]["continuing_subword_prefix"], "");
  EXPECT_EQ(tj["model"]["ignore_merges"], false);
  auto back = load_tokenizer(dir);
  const std::string text = "<|im_start|>user\nhi<|im_end|><|endoftext|>";
  EXPECT_EQ(back->encode(text), tok->encode(text));
  // Without tokenizer.json the added tokens come from added_tokens_decoder, else added_tokens.json.
  const std::string classic = temp_dir("hf_files_bpe_classic");
  for (const char* f : {"vocab.json", "merges.txt", "tokenizer_config.json", "added_tokens.json"})
    write_file_atomic(classic + "/" + f, read_file(dir + "/" + f));
  EXPECT_EQ(load_tokenizer(classic)->encode(text), tok->encode(text));
  std::remove((classic + "/tokenizer_config.json").c_str());
  EXPECT_EQ(load_tokenizer(classic)->encode(text), tok->encode(text));
  // A tokenizer without <|endoftext|> names no special tokens; a stale added_tokens.json goes.
  byte_bpe()->save(dir);
  EXPECT_FALSE(file_exists(dir + "/added_tokens.json"));
  EXPECT_EQ(read_json_file(dir + "/tokenizer_config.json")["model_max_length"], 1024);
}

TEST(HfFiles, WordPieceWritesBertTokenizerFiles) {
  const std::string dir = temp_dir("hf_files_wp");
  WordPieceTokenizer tok({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "!"}, {});
  tok.save(dir);
  const Json cfg = read_json_file(dir + "/tokenizer_config.json");
  EXPECT_EQ(cfg["tokenizer_class"], "BertTokenizer");
  EXPECT_EQ(cfg["model_max_length"], 512);
  EXPECT_EQ(cfg["do_lower_case"], true);
  EXPECT_TRUE(cfg["strip_accents"].is_null());
  EXPECT_EQ(cfg["cls_token"], "[CLS]");
  EXPECT_EQ(cfg["added_tokens_decoder"]["4"]["content"], "[MASK]");
  EXPECT_EQ(read_json_file(dir + "/special_tokens_map.json")["mask_token"], "[MASK]");
  const Json tj = read_json_file(dir + "/tokenizer.json");
  EXPECT_TRUE(tj["normalizer"]["strip_accents"].is_null());
  const Json& pp = tj["post_processor"];
  EXPECT_EQ(pp["type"], "TemplateProcessing");
  EXPECT_EQ(pp["single"].size(), 3u);
  EXPECT_EQ(pp["pair"][4], (Json{{"SpecialToken", {{"id", "[SEP]"}, {"type_id", 1}}}}));
  EXPECT_EQ(pp["special_tokens"]["[CLS]"]["ids"], Json::array({2}));
  auto back = load_tokenizer(dir);  // tokenizer.json, TemplateProcessing
  EXPECT_EQ(back->encode("Hello worlds!"), (std::vector<int32_t>{2, 5, 6, 7, 8, 3}));
  EXPECT_EQ(back->encode("Hello worlds!"), tok.encode("Hello worlds!"));
}

TEST(HfFiles, CarryKeepsTheModelContext) {
  const std::string src = temp_dir("hf_files_src"), dst = temp_dir("hf_files_dst");
  byte_bpe()->save(src);
  Json cfg = read_json_file(src + "/tokenizer_config.json");
  cfg["chat_template"] = "{{ messages }}";
  cfg["eos_token"] = "<|im_end|>";
  write_file_atomic(src + "/tokenizer_config.json", cfg.dump());
  write_file_atomic(src + "/chat_template.jinja", "T");
  byte_bpe()->save(dst, 64);
  carry_tokenizer_side_files(src, dst);
  const Json got = read_json_file(dst + "/tokenizer_config.json");
  EXPECT_EQ(got["chat_template"], "{{ messages }}");
  EXPECT_EQ(got["eos_token"], "<|im_end|>");
  EXPECT_EQ(got["model_max_length"], 64);
  EXPECT_EQ(read_file(dst + "/chat_template.jinja"), "T");
}

}  // namespace
}  // namespace lm::test
