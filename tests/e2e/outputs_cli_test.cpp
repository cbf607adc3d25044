// Safe resume, protected outputs and no debris, on the real binary: a changed train config on resume is
// refused naming the keys and --overwrite starts afresh; --out may not be an input or a foreign non-empty
// directory; prepare removes the temporaries of killed runs; an interrupted finetune leaves a checkpoint to
// resume or nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "e2e/finetune_test_util.h"
#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "train/train_test_util.h"

namespace lm {
namespace {

namespace fs = std::filesystem;

void expect_one_error_line(const test::CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("lmcpp: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

// The pid of a process that has ended (forked, exited and reaped).
long dead_pid() {
  pid_t p = ::fork();
  if (p == 0) ::_exit(0);
  ::waitpid(p, nullptr, 0);
  return static_cast<long>(p);
}

TEST(OutputsCli, ChangedTrainConfigIsRefusedOnResumeAndOverwriteStartsAfresh) {
  std::string data = make_data("outputs_train_data", 40);
  std::string work = test::temp_dir("outputs_train");
  std::string cfg = write_config(work, data, 4), out = path_join(work, "run");
  auto a = test::run_cli({"train", "--config", cfg, "--out", out});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const std::string model_before = read_file(path_join(out, "model.safetensors"));
  // n_layer 2 -> 3 on the same --out: one error line naming the key, nothing trained.
  auto b =
      test::run_cli({"train", "--config", cfg, "--out", out, "--set", "model.n_layer=3", "--set", "lr=0.02"});
  expect_one_error_line(b, "model.n_layer: 2 -> 3");
  EXPECT_NE(b.err.find("lr: 0.01 -> 0.02"), std::string::npos) << b.err;
  EXPECT_NE(b.err.find("--overwrite"), std::string::npos) << b.err;
  EXPECT_EQ(read_file(path_join(out, "model.safetensors")), model_before);
  // Extending the run (max_steps) is a resume: it says from which step and checkpoint.
  auto c =
      test::run_cli({"train", "--config", cfg, "--out", out, "--set", "max_steps=6", "--set", "threads=1"});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.err.find("resuming from step 4"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find("checkpoints/step_00000004"), std::string::npos) << c.err;
  // --overwrite starts afresh with the new config: a 3-layer model from step 1.
  auto d = test::run_cli({"train", "--config", cfg, "--out", out, "--set", "model.n_layer=3", "--overwrite"});
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_EQ(d.err.find("resuming"), std::string::npos) << d.err;
  EXPECT_EQ(read_json_file(path_join(out, "config.json"))["n_layer"], 3);
  EXPECT_EQ(train_losses(out).size(), 4u);
  EXPECT_FALSE(is_directory(path_join(out, "checkpoints/step_00000006")));
}

TEST(OutputsCli, OutputOverAnInputIsRefused) {
  std::string base = bert_base_dir(), tmp = test::temp_dir("outputs_overlap");
  std::string train = keyword_sst(tmp + "/train.txt", 16, 1), val = keyword_sst(tmp + "/dev.txt", 8, 2);
  const std::string model_before = read_file(path_join(base, "model.safetensors"));
  for (const std::string& out : {base, base + "/", base + "/ft"}) {
    auto r =
        test::run_cli({"finetune", "--task", "classify", "--model", base, "--train", train, "--val", val,
                       "--out", out, "--epochs", "1", "--max-length", "16", "--threads", "1", "--overwrite"});
    expect_one_error_line(r, "--model");
    EXPECT_EQ(read_file(path_join(base, "model.safetensors")), model_before);
  }
  EXPECT_FALSE(fs::exists(base + "/ft"));
  // prepare into the folder of its input file; train-tokenizer into the folder holding its input.
  auto p = test::run_cli({"prepare", "--input", train, "--tokenizer", base, "--out", tmp, "--quiet"});
  expect_one_error_line(p, "holds the input --input");
  auto t = test::run_cli({"train-tokenizer", "--type", "char", "--input", train, "--out", tmp});
  expect_one_error_line(t, "holds the input --input");
}

TEST(OutputsCli, ForeignNonEmptyDirectoryIsRefusedUnlessOverwrite) {
  std::string base = bert_base_dir(), tmp = test::temp_dir("outputs_foreign");
  std::string text;
  for (int i = 0; i < 40; ++i) text += "good w1 w2 w3. w4 w5 good.\n\n";
  write_file_atomic(tmp + "/in.txt", text);
  const std::string out = tmp + "/data";
  fs::create_directories(out);
  write_file_atomic(out + "/notes.txt", "mine\n");
  auto args = [&](bool overwrite) {
    std::vector<std::string> a = {"prepare", "--input", tmp + "/in.txt", "--tokenizer", base,
                                  "--out",   out,       "--split",       "blank-line",  "--quiet"};
    if (overwrite) a.push_back("--overwrite");
    return a;
  };
  auto r = test::run_cli(args(false));
  expect_one_error_line(r, "--out " + out + " is a non-empty directory that lmcpp did not make");
  EXPECT_NE(r.err.find("--overwrite"), std::string::npos) << r.err;
  EXPECT_FALSE(file_exists(out + "/meta.json"));
  r = test::run_cli(args(true));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(out + "/notes.txt"), "mine\n");  // --overwrite replaces lmcpp's files only
  EXPECT_TRUE(file_exists(out + "/meta.json"));
  r = test::run_cli(args(false));  // the same command again: lmcpp's own directory
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Another command's output is foreign too.
  auto i =
      test::run_cli({"init", "--config", R"({"model_type": "gpt2", "n_layer": 1, "n_head": 2, "n_embd": 8,
                          "n_positions": 16, "vocab_size": 16})",
                     "--out", out});
  expect_one_error_line(i, "made by lmcpp prepare, not init");
}

TEST(OutputsCli, PrepareRemovesTemporariesOfKilledRuns) {
  std::string base = bert_base_dir(), tmp = test::temp_dir("outputs_stale");
  write_file_atomic(tmp + "/in.txt", "good w1 w2. w3 w4 good.\n\nw5 w6. good w7.\n");
  const std::string out = tmp + "/data";
  auto prep = [&] {
    return test::run_cli({"prepare", "--input", tmp + "/in.txt", "--tokenizer", base, "--out", out, "--split",
                          "blank-line", "--quiet"});
  };
  ASSERT_EQ(prep().exit_code, 0);
  // What a killed run leaves: a staging folder named with its (now gone) pid, beside OUT and, from older
  // versions, inside it; a live process's temporary is left alone.
  const long gone = dead_pid();
  const std::string sibling = tmp + "/.data.lmcpp-tmp-" + std::to_string(gone) + "-0badf00d";
  const std::string inside = out + "/.prepare-tmp-" + std::to_string(gone) + "-c0ffee";
  const std::string live = tmp + "/.data.lmcpp-tmp-" + std::to_string(::getpid()) + "-00000001";
  for (const auto& d : {sibling, inside, live}) {
    fs::create_directories(d);
    write_file_atomic(d + "/train_000000.bin", "partial");
  }
  auto r = prep();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(fs::exists(sibling));
  EXPECT_FALSE(fs::exists(inside));
  EXPECT_TRUE(fs::exists(live));
  for (const auto& e : fs::directory_iterator(tmp))
    EXPECT_TRUE(e.path() == live || e.path().filename().string().find("lmcpp-tmp") == std::string::npos)
        << e.path();
}

TEST(OutputsCli, InterruptedFinetuneLeavesACheckpointOrNothing) {
  std::string base = bert_base_dir(), tmp = test::temp_dir("outputs_ft_int");
  std::string train = keyword_sst(tmp + "/train.txt", 64, 1), val = keyword_sst(tmp + "/dev.txt", 16, 2);
  const std::string out = tmp + "/ft";
  std::vector<std::string> args = {
      test::lmcpp_bin(), "finetune", "--task",       "classify", "--model", base,
      "--train",         train,      "--val",        val,        "--out",   out,
      "--epochs",        "400",      "--batch-size", "16",       "--lr",    "1e-3",
      "--max-length",    "16",       "--threads",    "1"};
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::FILE* null = std::fopen("/dev/null", "w");
    ::dup2(::fileno(null), 1);
    ::dup2(::fileno(null), 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ASSERT_GT(pid, 0);
  // Ctrl-C once training has started (metrics.jsonl is there), before the first epoch's checkpoint.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!file_exists(out + "/metrics.jsonl") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  // Stopped after the current step with a checkpoint (exit 130), or nothing left behind.
  if (fs::exists(out)) {
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << status;
    EXPECT_TRUE(is_directory(out + "/checkpoints")) << "a folder without a checkpoint";
    // A re-run is that run: other settings are refused by name, --overwrite starts afresh.
    auto ft = [&](const std::string& flag, const std::string& value, bool overwrite) {
      std::vector<std::string> a(args.begin() + 1, args.end());
      *(std::find(a.begin(), a.end(), flag) + 1) = value;
      if (overwrite) a.push_back("--overwrite");
      return test::run_cli(a);
    };
    // The Trainer compares the configs once the model is loaded: its notes come first, then the one error line.
    const test::CliResult refused = ft("--lr", "2e-3", false);
    EXPECT_EQ(refused.exit_code, 2) << refused.err;
    const std::string last = refused.err.substr(refused.err.rfind('\n', refused.err.size() - 2) + 1);
    EXPECT_EQ(last.rfind("lmcpp: error: ", 0), 0u) << refused.err;
    EXPECT_NE(last.find("lr: 0.001 -> 0.002"), std::string::npos) << refused.err;
    auto r = ft("--epochs", "1", true);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(file_exists(out + "/model.safetensors"));
  }
}

}  // namespace
}  // namespace lm
