// `lmcpp prepare` end to end with the real binary and the shared GPT-2 tokenizer: a Wikipedia dump to shards,
// tiny text input, and the one-line error (exit 2, nothing written) for a cut dump.
#include <gtest/gtest.h>

#include <filesystem>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/data/gpt_loader.h"
#include "lm/data/shard.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

#define LM_REQUIRE_CLI()                                                          \
  do {                                                                            \
    LM_REQUIRE_SHARED_DATA();                                                     \
    if (!fs::exists(test::lmcpp_bin())) GTEST_SKIP() << "lmcpp binary not built"; \
  } while (0)

TEST(PrepareCli, WikipediaDumpWithGpt2Tokenizer) {
  LM_REQUIRE_CLI();
  std::string dir = test::temp_dir("prepare_cli");
  std::string dump = test::shared_data_dir() +
                     "/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2";
  auto r =
      test::run_cli({"prepare", "--input", dump, "--tokenizer", test::shared_data_dir() + "/tokenizers/gpt2",
                     "--out", dir + "/out", "--val-fraction", "0.05", "--text-out", dir + "/clean.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("106 documents"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("MB/s"), std::string::npos) << r.err;  // progress line
  Json meta = read_json_file(dir + "/out/meta.json");
  EXPECT_EQ(meta["documents"], 106);
  EXPECT_EQ(meta["dtype"], "uint16");
  EXPECT_EQ(meta["vocab_size"], 50257);
  EXPECT_EQ(meta["eos_id"], 50256);
  EXPECT_GT(meta["val_documents"].get<int>(), 0);
  uint64_t train_tokens = meta["train_tokens"];
  EXPECT_GT(train_tokens, 400000u);
  uint64_t n = 0;
  for (auto& p : list_shards(dir + "/out", "train")) {
    Shard s(p);
    s.validate_tokens();
    n += s.size();
  }
  EXPECT_EQ(n, train_tokens);
  EXPECT_TRUE(file_exists(dir + "/clean.jsonl"));
  // The tokenizer travels with the data.
  EXPECT_TRUE(fs::is_directory(dir + "/out/tokenizer"));
}

TEST(PrepareCli, CutDumpIsOneLineErrorAndLeavesNothing) {
  LM_REQUIRE_CLI();
  std::string dir = test::temp_dir("prepare_cli_cut");
  std::string data =
      read_file(test::shared_data_dir() +
                "/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2");
  write_file_atomic(dir + "/cut.xml.bz2", std::string_view(data).substr(0, data.size() / 2));
  auto r = test::run_cli({"prepare", "--input", dir + "/cut.xml.bz2", "--tokenizer",
                          test::shared_data_dir() + "/tokenizers/gpt2", "--out", dir + "/out", "--quiet"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(
      r.err.rfind("lmcpp: error: truncated bzip2 data in " + dir + "/cut.xml.bz2 at compressed byte", 0), 0u)
      << r.err;
  EXPECT_FALSE(fs::exists(dir + "/out"));  // the folder this run made is removed
  r = test::run_cli({"prepare", "--input", dir + "/nope.txt", "--tokenizer",
                     test::shared_data_dir() + "/tokenizers/gpt2", "--out", dir + "/out2"});
  EXPECT_EQ(r.exit_code, 2);
  r = test::run_cli({"prepare", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--val-fraction"), std::string::npos);
}

TEST(PrepareCli, TinyTextCorpusSplitByPosition) {
  LM_REQUIRE_CLI();
  std::string dir = test::temp_dir("prepare_cli_text");
  std::string text;
  for (int i = 0; i < 200; ++i) text += "First Citizen: Before we proceed any further, hear me speak.\n";
  write_file_atomic(dir + "/input.txt", text);
  auto r = test::run_cli({"prepare", "--input", dir + "/input.txt", "--tokenizer",
                          test::shared_data_dir() + "/tokenizers/gpt2", "--out", dir + "/out",
                          "--val-fraction", "0.1", "--json", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Json meta = Json::parse(r.out);
  EXPECT_EQ(meta["split"], "position");
  EXPECT_GT(meta["val_tokens"].get<uint64_t>(), 0u);
  // Several paths after one --input.
  write_file_atomic(dir + "/second.txt", "Second Citizen: Well, I'll hear it, sir.\n");
  r = test::run_cli({"prepare", "--input", dir + "/input.txt", dir + "/second.txt", "--tokenizer",
                     test::shared_data_dir() + "/tokenizers/gpt2", "--out", dir + "/out2", "--json",
                     "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  meta = Json::parse(r.out);
  EXPECT_EQ(meta["documents"], 2);
  EXPECT_EQ(meta["split"], "document");
  EXPECT_EQ(meta["val_documents"], 1);
}

}  // namespace
}  // namespace lm
