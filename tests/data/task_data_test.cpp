// Classification (SST lines, TSV with/without header, JSON Lines) and QA (SQuAD JSON, JSON Lines) readers,
// label mapping across splits, errors with file:line, and SQuAD metrics.
#include "lm/data/task_data.h"

#include <gtest/gtest.h>

#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TaskData, SharedSst2) {
  LM_REQUIRE_SHARED_DATA();
  auto train = read_classification(test::shared_data_dir() + "/sst2/stsa.binary.train");
  ASSERT_EQ(train.examples.size(), 6920u);
  EXPECT_EQ(train.label_names, (std::vector<std::string>{"0", "1"}));
  int64_t pos = 0;
  for (auto& e : train.examples) pos += e.label;
  EXPECT_EQ(pos, 3610);
  EXPECT_EQ(train.examples[0].text,
            "a stirring , funny and finally transporting re-imagining of beauty and the beast and 1930s "
            "horror films");
  auto dev = read_classification(test::shared_data_dir() + "/sst2/stsa.binary.dev", train.label_names);
  EXPECT_EQ(dev.examples.size(), 872u);
}

TEST(TaskData, TsvAndJsonl) {
  std::string dir = test::temp_dir("task_cls");
  write_file_atomic(dir + "/glue.tsv", "sentence\tlabel\nit is good\t1\nbad film\t0\r\n");
  auto g = read_classification(dir + "/glue.tsv");
  ASSERT_EQ(g.examples.size(), 2u);
  EXPECT_EQ(g.examples[1].text, "bad film");
  EXPECT_EQ(g.examples[1].label, 0);
  write_file_atomic(dir + "/pairs.tsv", "entailment\tA man sleeps.\tA person rests.\ncontradiction\tX\tY\n");
  auto p = read_classification(dir + "/pairs.tsv");
  EXPECT_EQ(p.label_names, (std::vector<std::string>{"contradiction", "entailment"}));
  EXPECT_EQ(p.examples[0].label, 1);
  EXPECT_EQ(p.examples[0].text_pair, "A person rests.");
  write_file_atomic(dir + "/d.jsonl",
                    "{\"text\": \"yay\", \"label\": \"pos\"}\n{\"sentence\": \"nay\", \"label\": \"neg\"}\n");
  auto j = read_classification(dir + "/d.jsonl");
  EXPECT_EQ(j.label_names, (std::vector<std::string>{"neg", "pos"}));
  EXPECT_EQ(j.examples[1].text, "nay");
  write_file_atomic(dir + "/v.jsonl", "{\"text\": \"meh\", \"label\": \"neutral\"}\n");
  std::string msg = error_of([&] { read_classification(dir + "/v.jsonl", j.label_names); });
  EXPECT_NE(msg.find(dir + "/v.jsonl:1: unknown label \"neutral\""), std::string::npos) << msg;
  write_file_atomic(dir + "/bad.jsonl", "{\"text\": \"x\"}\n");
  msg = error_of([&] { read_classification(dir + "/bad.jsonl"); });
  EXPECT_NE(msg.find("bad.jsonl:1: no \"label\""), std::string::npos) << msg;
  write_file_atomic(dir + "/sst.txt", "1 fine\nnolabel\n");
  msg = error_of([&] { read_classification(dir + "/sst.txt"); });
  EXPECT_NE(msg.find("sst.txt:2"), std::string::npos) << msg;
}

TEST(TaskData, SharedSquad) {
  LM_REQUIRE_SHARED_DATA();
  auto qa = read_qa(test::shared_data_dir() + "/qa/squad-v1.1-dev-articles00-39.json");
  ASSERT_EQ(qa.size(), 8981u);
  size_t answers = 0;
  for (auto& q : qa) {
    ASSERT_FALSE(q.answers.empty()) << q.id;
    for (size_t i = 0; i < q.answers.size(); ++i) {
      ++answers;
      ASSERT_EQ(q.context.substr(static_cast<size_t>(q.answer_starts[i]), q.answers[i].size()), q.answers[i]);
    }
  }
  EXPECT_EQ(answers, 28665u);
  EXPECT_EQ(qa[0].question, "Which NFL team represented the AFC at Super Bowl 50?");
}

TEST(TaskData, QaJsonlAndOffsets) {
  std::string dir = test::temp_dir("task_qa");
  // "é" is one code point but two bytes: SQuAD-style offsets are converted.
  write_file_atomic(
      dir + "/q.jsonl",
      "{\"id\": \"a\", \"question\": \"Who?\", \"context\": \"Café owner Bob.\", \"answer\": \"Bob\", "
      "\"answer_start\": 11}\n"
      "{\"question\": \"What?\", \"context\": \"It is red.\", \"answers\": {\"text\": [\"red\"], "
      "\"answer_start\": [6]}}\n"
      "{\"question\": \"Where?\", \"context\": \"Nowhere.\"}\n");
  auto qa = read_qa(dir + "/q.jsonl");
  ASSERT_EQ(qa.size(), 3u);
  EXPECT_EQ(qa[0].answer_starts[0], 12);
  EXPECT_EQ(qa[1].answer_starts[0], 6);
  EXPECT_TRUE(qa[2].impossible);
  write_file_atomic(dir + "/bad.jsonl", "{\"question\": \"Q\", \"context\": \"abc\", \"answer\": \"zzz\"}\n");
  std::string msg = error_of([&] { read_qa(dir + "/bad.jsonl"); });
  EXPECT_NE(msg.find("bad.jsonl:1: answer \"zzz\""), std::string::npos) << msg;
}

TEST(TaskData, SquadMetrics) {
  EXPECT_EQ(squad_normalize("The  Denver Broncos!"), "denver broncos");
  EXPECT_EQ(squad_exact_match("denver broncos", {"The Denver Broncos"}), 1.0);
  EXPECT_EQ(squad_exact_match("broncos", {"The Denver Broncos"}), 0.0);
  EXPECT_NEAR(squad_f1("Denver", {"Denver Broncos"}), 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(squad_f1("the cat sat", {"a dog", "cat sat down"}), 0.8, 1e-12);
  EXPECT_EQ(squad_f1("", {""}), 1.0);
}

}  // namespace
}  // namespace lm
