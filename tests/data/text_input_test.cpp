// Plain-text and JSON Lines readers: splitting, folders, compression, UTF-8 and JSON errors with file:line.
#include "lm/data/text_input.h"

#include <gtest/gtest.h>

#include "data/test_util.h"
#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm {
namespace {

std::vector<Document> read_text(const std::string& path, TextSplit split) {
  std::vector<Document> docs;
  read_text_file(path, split, [&](Document& d) {
    docs.push_back(d);
    return true;
  });
  return docs;
}

std::vector<Document> read_jsonl(const std::string& path) {
  std::vector<Document> docs;
  read_jsonl_file(path, [&](Document& d) {
    docs.push_back(d);
    return true;
  });
  return docs;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TextInput, PerFileAndPerBlock) {
  std::string dir = test::temp_dir("text_input");
  std::string content = "First doc line 1\nline 2\n\n  \nSecond doc\r\n\n\nThird\n";
  write_file_atomic(dir + "/a.txt", content);
  auto docs = read_text(dir + "/a.txt", TextSplit::PerFile);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, content);
  docs = read_text(dir + "/a.txt", TextSplit::PerBlankLine);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].text, "First doc line 1\nline 2");
  EXPECT_EQ(docs[1].text, "Second doc\r");
  EXPECT_EQ(docs[2].text, "Third");
  EXPECT_EQ(docs[2].title, dir + "/a.txt:8");
  // No trailing newline, compressed.
  write_file_atomic(dir + "/b.txt.gz", test::gzip_compress("x\ny"));
  docs = read_text(dir + "/b.txt.gz", TextSplit::PerFile);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].text, "x\ny");
  write_file_atomic(dir + "/empty.txt", "");
  EXPECT_TRUE(read_text(dir + "/empty.txt", TextSplit::PerFile).empty());
}

TEST(TextInput, FoldersAreSortedAndSkipHidden) {
  std::string dir = test::temp_dir("text_folder");
  make_dirs(dir + "/sub");
  make_dirs(dir + "/.git");
  write_file_atomic(dir + "/b.txt", "b");
  write_file_atomic(dir + "/a.txt", "a");
  write_file_atomic(dir + "/sub/c.txt", "c");
  write_file_atomic(dir + "/.hidden", "h");
  write_file_atomic(dir + "/.git/x", "x");
  auto files = expand_inputs({dir});
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], dir + "/a.txt");
  EXPECT_EQ(files[2], dir + "/sub/c.txt");
  EXPECT_THROW(expand_inputs({dir + "/missing"}), Error);
}

TEST(TextInput, InvalidUtf8NamesFileAndLine) {
  EXPECT_EQ(find_invalid_utf8("plain ascii é ü 日本 😀"), std::string::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xff"), 2u);
  EXPECT_EQ(find_invalid_utf8("\xc0\xaf"), 0u);       // overlong
  EXPECT_EQ(find_invalid_utf8("x\xed\xa0\x80"), 1u);  // surrogate
  EXPECT_EQ(find_invalid_utf8("\xe6\x97"), 0u);       // cut
  std::string dir = test::temp_dir("text_utf8");
  write_file_atomic(dir + "/bad.txt", "ok\nfine\nbad \xff here\n");
  std::string msg = error_of([&] { read_text(dir + "/bad.txt", TextSplit::PerFile); });
  EXPECT_NE(msg.find("invalid UTF-8 in " + dir + "/bad.txt:3"), std::string::npos) << msg;
}

TEST(TextInput, JsonLines) {
  std::string dir = test::temp_dir("jsonl");
  write_file_atomic(
      dir + "/d.jsonl",
      "{\"title\": \"T1\", \"text\": \"line one\\nline two\"}\n\n{\"text\": \"no title \\u00e9\"}\n");
  auto docs = read_jsonl(dir + "/d.jsonl");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].title, "T1");
  EXPECT_EQ(docs[0].text, "line one\nline two");
  EXPECT_EQ(docs[1].title, dir + "/d.jsonl:3");
  EXPECT_EQ(docs[1].text, "no title é");

  write_file_atomic(dir + "/bad.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"\n");
  std::string msg = error_of([&] { read_jsonl(dir + "/bad.jsonl"); });
  EXPECT_NE(msg.find("invalid JSON in " + dir + "/bad.jsonl:2"), std::string::npos) << msg;
  write_file_atomic(dir + "/nofield.jsonl", "{\"body\": \"a\"}\n");
  msg = error_of([&] { read_jsonl(dir + "/nofield.jsonl"); });
  EXPECT_NE(msg.find(dir + "/nofield.jsonl:1: no string field \"text\""), std::string::npos) << msg;
  write_file_atomic(dir + "/utf.jsonl", "{\"text\": \"a\"}\n{\"text\": \"\xc3\x28\"}\n");
  msg = error_of([&] { read_jsonl(dir + "/utf.jsonl"); });
  EXPECT_NE(msg.find("invalid UTF-8 in " + dir + "/utf.jsonl:2"), std::string::npos) << msg;
  write_file_atomic(dir + "/arr.jsonl", "[1,2]\n");
  msg = error_of([&] { read_jsonl(dir + "/arr.jsonl"); });
  EXPECT_NE(msg.find("arr.jsonl:1: expected a JSON object"), std::string::npos) << msg;
}

}  // namespace
}  // namespace lm
