// prepare_dataset with a byte-level test tokenizer: Wikipedia dump, text and JSON Lines inputs, ordered and
// thread-count independent output, document/position splits, shard rotation, and atomicity on bad input.
#include "lm/data/prepare.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "data/test_util.h"
#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/data/gpt_loader.h"
#include "lm/data/shard.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

const std::string kDumpName = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2";

std::vector<int32_t> all_tokens(const std::vector<std::string>& paths) {
  std::vector<int32_t> out;
  for (auto& p : paths) {
    Shard s(p);
    s.validate_tokens();
    size_t at = out.size();
    out.resize(at + s.size());
    s.read(0, s.size(), out.data() + at);
  }
  return out;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> names;
  for (auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

PrepareOptions quiet(std::vector<std::string> inputs, std::string out) {
  PrepareOptions o;
  o.inputs = std::move(inputs);
  o.out_dir = std::move(out);
  o.progress = false;
  return o;
}

TEST(Prepare, WikipediaDumpToShards) {
  LM_REQUIRE_SHARED_DATA();
  test::ByteTokenizer tok;
  std::string dir = test::temp_dir("prepare_wiki");
  PrepareOptions o = quiet({test::shared_data_dir() + "/wikipedia/" + kDumpName}, dir + "/out");
  o.text_out = dir + "/clean.jsonl";
  o.val_fraction = 0.1;
  o.threads = 2;
  o.shard_tokens = 1'000'000;
  PrepareStats st = prepare_dataset(o, tok);
  EXPECT_EQ(st.documents, 106);
  EXPECT_EQ(st.split_mode, "document");
  EXPECT_GT(st.val_documents, 3);
  EXPECT_EQ(st.train_documents + st.val_documents, 106);
  EXPECT_EQ(st.uncompressed_bytes, 6089746u);
  Json meta = read_json_file(dir + "/out/meta.json");
  EXPECT_EQ(meta["documents"], 106);
  EXPECT_EQ(meta["dtype"], "uint16");
  EXPECT_EQ(meta["vocab_size"], 257);
  EXPECT_EQ(meta["eos_id"], 256);
  EXPECT_GE(meta["train_shards"].size(), 2u);  // rotated at 1M tokens
  auto train = all_tokens(list_shards(dir + "/out", "train"));
  auto val = all_tokens(list_shards(dir + "/out", "val"));
  EXPECT_EQ(train.size(), meta["train_tokens"].get<uint64_t>());
  EXPECT_EQ(val.size(), meta["val_tokens"].get<uint64_t>());
  EXPECT_EQ(std::count(train.begin(), train.end(), 256) + std::count(val.begin(), val.end(), 256), 106);
  // Cleaned JSON Lines: one line per document, in dump order, and tokens = text bytes + eos.
  std::string jl = read_file(o.text_out);
  std::vector<Json> lines;
  for (size_t p = 0, e; (e = jl.find('\n', p)) != std::string::npos; p = e + 1)
    lines.push_back(Json::parse(jl.substr(p, e - p)));
  ASSERT_EQ(lines.size(), 106u);
  EXPECT_EQ(lines.front()["title"], "Anarchism");
  EXPECT_EQ(lines.back()["title"], "Algorithm");
  uint64_t text_bytes = 0;
  for (auto& j : lines) text_bytes += j["text"].get<std::string>().size();
  EXPECT_EQ(text_bytes + 106, train.size() + val.size());
  std::string train_text = tok.decode(train);
  bool anarchism_in_train = !is_val_document("Anarchism", 0, 0, 0.1);
  EXPECT_EQ(train_text.find("Anarchism is a political philosophy") != std::string::npos, anarchism_in_train);
  // No staging leftovers.
  for (auto& name : files_in(dir + "/out")) EXPECT_EQ(name.find(".prepare-tmp"), std::string::npos) << name;
}

TEST(Prepare, OutputIsIndependentOfThreadCount) {
  LM_REQUIRE_SHARED_DATA();
  test::ByteTokenizer tok;
  std::string dir = test::temp_dir("prepare_threads");
  std::string in = test::shared_data_dir() + "/wikipedia/enwiki-table-markup.xml.bz2";
  PrepareOptions a = quiet({in}, dir + "/a");
  a.threads = 1;
  a.val_fraction = 0.3;
  prepare_dataset(a, tok);
  PrepareOptions b = a;
  b.out_dir = dir + "/b";
  b.threads = 3;
  prepare_dataset(b, tok);
  EXPECT_EQ(read_file(dir + "/a/train_000000.bin"), read_file(dir + "/b/train_000000.bin"));
  EXPECT_EQ(read_file(dir + "/a/val_000000.bin"), read_file(dir + "/b/val_000000.bin"));
}

// Untitled text documents are split by "<file name>:<line>", not by the full path: the same corpus copied to another
// directory gets the same train/validation split (it once changed with the test's temporary directory).
TEST(Prepare, SplitDoesNotDependOnTheInputsDirectory) {
  test::ByteTokenizer tok;
  std::string dir = test::temp_dir("prepare_split_dir");
  std::string text;
  for (int i = 0; i < 60; ++i) text += "document " + std::to_string(i) + "\n\n";
  make_dirs(dir + "/x/deeper");
  write_file_atomic(dir + "/x/corpus.txt", text);
  write_file_atomic(dir + "/x/deeper/corpus.txt", text);
  PrepareOptions a = quiet({dir + "/x/corpus.txt"}, dir + "/a");
  a.text_split = TextSplit::PerBlankLine;
  a.val_fraction = 0.3;
  a.text_out = dir + "/a.jsonl";
  PrepareStats sa = prepare_dataset(a, tok);
  PrepareOptions b = a;
  b.inputs = {dir + "/x/deeper/corpus.txt"};
  b.out_dir = dir + "/b";
  b.text_out = dir + "/b.jsonl";
  PrepareStats sb = prepare_dataset(b, tok);
  EXPECT_GT(sa.val_documents, 5);
  EXPECT_LT(sa.val_documents, 60);
  EXPECT_EQ(sa.val_documents, sb.val_documents);
  EXPECT_EQ(read_file(dir + "/a/train_000000.bin"), read_file(dir + "/b/train_000000.bin"));
  EXPECT_EQ(read_file(dir + "/a/val_000000.bin"), read_file(dir + "/b/val_000000.bin"));
  EXPECT_NE(read_file(dir + "/a.jsonl").find("\"title\":\"corpus.txt:3\""), std::string::npos);
}

TEST(Prepare, SingleDocumentIsSplitByPosition) {
  test::ByteTokenizer tok;
  std::string dir = test::temp_dir("prepare_single");
  std::string text;
  for (int i = 0; i < 1000; ++i) text += "To be, or not to be, that is the question.\n";
  write_file_atomic(dir + "/input.txt", text);
  PrepareOptions o = quiet({dir + "/input.txt"}, dir + "/out");
  o.val_fraction = 0.1;
  PrepareStats st = prepare_dataset(o, tok);
  EXPECT_EQ(st.split_mode, "position");
  EXPECT_EQ(st.documents, 1);
  size_t nval = static_cast<size_t>(std::llround(text.size() * 0.1));
  EXPECT_EQ(st.val_tokens, nval + 1);  // + eos
  EXPECT_EQ(st.train_tokens, text.size() - nval);
  auto train = all_tokens(list_shards(dir + "/out", "train"));
  auto val = all_tokens(list_shards(dir + "/out", "val"));
  EXPECT_EQ(tok.decode(train) + tok.decode(val, true), text);
}

TEST(Prepare, HugeDocumentIsTokenizedInOrderedPieces) {
  test::ByteTokenizer tok;
  std::string dir = test::temp_dir("prepare_huge");
  std::string text;
  for (int i = 0; text.size() < (7u << 19); ++i)
    text += (i % 5 ? "line " : "\n  indented ") + std::to_string(i) + "\n";
  write_file_atomic(dir + "/big.txt", text);
  PrepareOptions o = quiet({dir + "/big.txt"}, dir + "/out");
  o.val_fraction = 0;
  o.threads = 3;
  prepare_dataset(o, tok);
  auto train = all_tokens(list_shards(dir + "/out", "train"));
  EXPECT_EQ(tok.decode(train), text + "<|endoftext|>");
}

TEST(Prepare, TextBlocksJsonlAndFolders) {
  test::ByteTokenizer tok;
  std::string dir = test::temp_dir("prepare_mixed");
  make_dirs(dir + "/docs");
  write_file_atomic(dir + "/docs/a.txt", "alpha one\n\nalpha two\n");
  write_file_atomic(dir + "/docs/b.txt", "beta\n");
  write_file_atomic(dir + "/d.jsonl",
                    "{\"text\": \"json one\"}\n{\"text\": \"   \"}\n{\"text\": \"json two\"}\n");
  PrepareOptions o = quiet({dir + "/docs", dir + "/d.jsonl"}, dir + "/out");
  o.val_fraction = 0;
  o.text_split = TextSplit::PerBlankLine;
  o.text_out = dir + "/out.jsonl";
  PrepareStats st = prepare_dataset(o, tok);
  EXPECT_EQ(st.documents, 5);
  EXPECT_EQ(st.skipped_empty, 1);
  EXPECT_EQ(st.val_tokens, 0u);
  EXPECT_FALSE(file_exists(dir + "/out/val_000000.bin"));
  auto train = all_tokens(list_shards(dir + "/out", "train"));
  EXPECT_EQ(tok.decode(train),
            "alpha one<|endoftext|>alpha two<|endoftext|>beta<|endoftext|>json one<|endoftext|>"
            "json two<|endoftext|>");
  // Per-file split keeps the file as one document; val gets at least one document.
  o.text_split = TextSplit::PerFile;
  o.val_fraction = 0.01;
  o.out_dir = dir + "/out2";
  st = prepare_dataset(o, tok);
  EXPECT_EQ(st.documents, 4);
  EXPECT_EQ(st.val_documents, 1);
  // Explicit formats.
  o.format = InputFormat::Jsonl;
  EXPECT_THROW(prepare_dataset(o, tok), Error);  // a.txt is not JSON
  EXPECT_EQ(detect_input_format(dir + "/d.jsonl"), InputFormat::Jsonl);
  EXPECT_EQ(detect_input_format(dir + "/docs/a.txt"), InputFormat::Text);
}

TEST(Prepare, CorruptInputLeavesNothingBehind) {
  LM_REQUIRE_SHARED_DATA();
  test::ByteTokenizer tok;
  std::string dir = test::temp_dir("prepare_corrupt");
  std::string data = read_file(test::shared_data_dir() + "/wikipedia/" + kDumpName);
  write_file_atomic(dir + "/cut.xml.bz2", std::string_view(data).substr(0, data.size() * 3 / 4));
  EXPECT_EQ(detect_input_format(dir + "/cut.xml.bz2"), InputFormat::Wikipedia);
  PrepareOptions o = quiet({dir + "/cut.xml.bz2"}, dir + "/out");
  o.text_out = dir + "/clean.jsonl";
  o.shard_tokens = 100'000;  // several shards would have been committed before the error
  try {
    prepare_dataset(o, tok);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat);
    std::string msg = e.what();
    EXPECT_NE(msg.find("truncated bzip2 data in " + dir + "/cut.xml.bz2"), std::string::npos) << msg;
  }
  // Staged in a temporary sibling and moved in only at the end: OUT never appears, and the stage is gone.
  EXPECT_FALSE(file_exists(dir + "/out"));
  EXPECT_EQ(files_in(dir), (std::vector<std::string>{"cut.xml.bz2"}));
  // Malformed XML too.
  write_file_atomic(dir + "/bad.xml",
                    "<mediawiki><page><title>A</title><ns>0</ns><id>1</id><revision><text>x</tex>");
  o.inputs = {dir + "/bad.xml"};
  EXPECT_THROW(prepare_dataset(o, tok), Error);
  EXPECT_FALSE(file_exists(dir + "/out"));
  EXPECT_EQ(files_in(dir), (std::vector<std::string>{"bad.xml", "cut.xml.bz2"}));
}

TEST(Prepare, RerunReplacesOldShardsAndValidatesOptions) {
  test::ByteTokenizer tok;
  std::string dir = test::temp_dir("prepare_rerun");
  std::string big;
  for (int i = 0; i < 50; ++i) big += "document number " + std::to_string(i) + "\n\n";
  write_file_atomic(dir + "/big.txt", big);
  PrepareOptions o = quiet({dir + "/big.txt"}, dir + "/out");
  o.text_split = TextSplit::PerBlankLine;
  o.shard_tokens = 100;
  o.val_fraction = 0;
  prepare_dataset(o, tok);
  EXPECT_GT(list_shards(dir + "/out", "train").size(), 5u);
  o.shard_tokens = 1'000'000;
  prepare_dataset(o, tok);
  EXPECT_EQ(list_shards(dir + "/out", "train").size(), 1u);
  o.val_fraction = 1.0;
  EXPECT_THROW(prepare_dataset(o, tok), Error);
  try {
    prepare_dataset(o, tok);
  } catch (const Error& e) {  // the library names its option, not the CLI flag
    EXPECT_EQ(std::string(e.what()).rfind("val_fraction must be in [0, 1)", 0), 0u) << e.what();
  }
  o.val_fraction = 0;
  o.inputs = {dir + "/missing.txt"};
  EXPECT_THROW(prepare_dataset(o, tok), Error);
  EXPECT_THROW(parse_input_format("xml"), Error);
}

}  // namespace
}  // namespace lm
