// AdamW over flat ranges (ZeRO-1's building block), then distributed training through the real CLI under
// `mpirun -np 2|3` (Open MPI, as root in CI, oversubscribed on 2 cores): 2 ranks x batch B == 1 process x batch
// 2B (losses and parameters within 1e-6 relative), ZeRO-1 == plain data parallel, resume of a 2-rank checkpoint
// on 1 and on 2 ranks, and failure behaviour: a killed rank ends the job, a hung rank trips the collective
// watchdog (LM_COMM_TIMEOUT). Then two "machines": two network namespaces joined by a veth pair (created as
// root, private addresses, removed after), one rank in each, torchrun-style env launch (Gloo backend).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>

#include <unistd.h>

#include <fmt/format.h>

#include "harness/harness.h"
#include "e2e/finetune_test_util.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/data/shard.h"
#include "lm/io/safetensors.h"
#include "lm/models/gpt/gpt.h"
#include "lm/train/optimizer.h"
#include "lm/train/comm.h"

namespace lm {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
  double seconds = 0;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs a shell command line with a hard 90 s limit, capturing stdout and stderr.
RunResult run_shell(const std::string& cmd, const std::string& work) {
  std::string out = path_join(work, "cmd.out"), err = path_join(work, "cmd.err");
  auto t0 = std::chrono::steady_clock::now();
  int st = std::system(("timeout -s KILL 90 " + cmd + " >" + quote(out) + " 2>" + quote(err)).c_str());
  RunResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

bool have_mpirun() {
  const auto& b = train::comm_backends();
  return std::find(b.begin(), b.end(), "mpi") != b.end() && std::system("command -v mpirun >/dev/null 2>&1") == 0;
}

// mpirun as root on a 2-core machine: shared-memory transport without ptrace-based single copy (containers
// forbid it), no core binding (several tests and engineers share the cores).
std::string mpirun(int np) {
  return "mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader,tcp "
         "--mca btl_vader_single_copy_mechanism none --mca mpi_yield_when_idle 1 -np " + std::to_string(np) + " ";
}

std::string make_data() {
  static std::string dir;
  if (!dir.empty()) return dir;
  dir = test::temp_dir("dist_data");
  const int vocab = 40;
  auto write = [&](const std::string& file, int n, uint32_t s) {
    ShardWriter w(path_join(dir, file), 2, static_cast<uint32_t>(vocab), vocab - 1);
    std::vector<int32_t> ids;
    for (int i = 0; i < n; ++i) {
      s = s * 1664525u + 1013904223u;
      ids.push_back((s >> 20) % 4 == 0 ? static_cast<int32_t>((s >> 8) % (vocab - 1)) : (i % 13) * 3 % (vocab - 1));
    }
    w.append(ids);
    w.add_documents(1);
    w.commit();
  };
  write("train_000000.bin", 8000, 7);
  write("val_000000.bin", 1000, 9);
  Json meta = {{"format", "lmcpp-token-shards"}, {"vocab_size", vocab}, {"eos_id", vocab - 1},
               {"tokenizer_dir", "tokenizer"}};
  write_file_atomic(path_join(dir, "meta.json"), meta.dump());
  return dir;
}

// batch_size is per process: 8 for one process, 4 for each of two ranks (the same global batch of 8).
std::string config(const std::string& work) {
  Json cfg = {{"model", {{"n_layer", 2}, {"n_head", 2}, {"n_embd", 32}, {"n_positions", 32}}},
              {"data", make_data()},
              {"batch_size", 8},
              {"seq_len", 16},
              {"max_steps", 6},
              {"lr", 1e-2},
              {"warmup_steps", 2},
              {"grad_clip", 0.5},
              {"eval_every", 3},
              {"eval_batches", 3},
              {"save_every", 3},
              {"seed", 11},
              {"threads", 1}};
  std::string p = path_join(work, "cfg.json");
  write_file_atomic(p, cfg.dump(2));
  return p;
}

std::string train_cmd(const std::string& cfg, const std::string& out, const std::string& sets = "") {
  return quote(test::lmcpp_bin()) + " train --config " + quote(cfg) + " --out " + quote(out) + " " + sets;
}

struct Metrics {
  std::vector<double> loss, val_loss;
  std::vector<Json> steps;
};
Metrics metrics(const std::string& out) {
  Metrics m;
  std::istringstream in(read_file(path_join(out, "metrics.jsonl")));
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line);
    if (j.contains("loss") && j["loss"].is_number()) {
      m.loss.push_back(j["loss"].get<double>());
      m.steps.push_back(j);
    }
    if (j.contains("val_loss")) m.val_loss.push_back(j["val_loss"].get<double>());
  }
  return m;
}

std::vector<std::pair<std::string, std::vector<float>>> params(const std::string& model_dir) {
  const std::string adapter = path_join(model_dir, "adapter_model.safetensors");  // a LoRA checkpoint
  SafetensorsFile f(file_exists(adapter) ? adapter : path_join(model_dir, "model.safetensors"));
  std::vector<std::pair<std::string, std::vector<float>>> all;
  for (const auto& e : f.tensors()) {
    std::vector<float> t(static_cast<size_t>(e.shape.numel()));
    f.read_f32(e.name, t.data(), e.shape);
    all.push_back({e.name, std::move(t)});
  }
  return all;
}

// Losses (train and val) and every parameter tensor agree within `tol` relative (normwise per tensor); returns
// whether the two runs are bitwise identical. One exception: the key third of attn.c_attn.bias. Its true
// gradient is exactly zero (softmax is invariant to a per-query constant), so its computed gradient is pure
// rounding noise that AdamW normalises into O(lr) steps; any change of summation order changes that noise.
// It is only required to stay tiny.
bool expect_same_run(const std::string& a, const std::string& b, double tol) {
  Metrics ma = metrics(a), mb = metrics(b);
  EXPECT_EQ(ma.loss.size(), 6u);
  EXPECT_EQ(ma.loss.size(), mb.loss.size());
  EXPECT_EQ(ma.val_loss.size(), mb.val_loss.size());
  bool bitwise = true;
  double worst = 0;
  for (size_t i = 0; i < std::min(ma.loss.size(), mb.loss.size()); ++i) {
    EXPECT_NEAR(ma.loss[i], mb.loss[i], tol * std::fabs(ma.loss[i])) << "step " << i + 1;
    bitwise = bitwise && ma.loss[i] == mb.loss[i];
    worst = std::max(worst, std::fabs(ma.loss[i] - mb.loss[i]) / std::fabs(ma.loss[i]));
  }
  for (size_t i = 0; i < std::min(ma.val_loss.size(), mb.val_loss.size()); ++i) {
    EXPECT_NEAR(ma.val_loss[i], mb.val_loss[i], tol * std::fabs(ma.val_loss[i])) << "eval " << i;
    bitwise = bitwise && ma.val_loss[i] == mb.val_loss[i];
  }
  auto pa = params(a), pb = params(b);
  EXPECT_EQ(pa.size(), pb.size());
  if (pa.size() != pb.size()) return false;
  double worst_param = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    const auto& [name, x] = pa[i];
    const auto& y = pb[i].second;
    EXPECT_EQ(name, pb[i].first);
    EXPECT_EQ(x.size(), y.size());
    if (x.size() != y.size()) return false;
    bitwise = bitwise && x == y;
    std::vector<std::pair<size_t, size_t>> strict = {{0, x.size()}};
    if (name.size() > 16 && name.compare(name.size() - 16, 16, "attn.c_attn.bias") == 0) {
      const size_t c = x.size() / 3;
      strict = {{0, c}, {2 * c, x.size()}};
      EXPECT_LT(test::max_abs_diff(y.data() + c, x.data() + c, static_cast<int64_t>(c)), 1e-3) << name << " (key)";
    }
    for (auto [lo, hi] : strict) {
      double err = test::rel_error(y.data() + lo, x.data() + lo, static_cast<int64_t>(hi - lo));
      worst_param = std::max(worst_param, err);
      EXPECT_LT(err, tol) << name << " [" << lo << ", " << hi << ")";
    }
  }
  std::printf("[dist] %s vs %s: losses within %.3g, parameters within %.3g relative; %s\n", a.c_str(), b.c_str(),
              worst, worst_param, bitwise ? "bitwise identical" : "not bitwise identical");
  return bitwise;
}

// ZeRO-1's building block, without MPI: AdamW over two flat ranges (split inside a tensor, at an odd offset)
// updates exactly like one AdamW over everything, given the same global norm; moments live in the ranges.
TEST(AdamWRanges, TwoRangesEqualTheWhole) {
  models::GptConfig c;
  c.vocab_size = 30;
  c.n_positions = 8;
  c.n_embd = 16;
  c.n_layer = 1;
  c.n_head = 2;
  models::Gpt whole(c), split(c);
  whole.init_weights(4);
  split.init_weights(4);
  train::AdamWConfig oc;
  oc.weight_decay = 0.1f;
  oc.grad_clip = 0.05f;  // active: the norm is well above it
  train::AdamW full(whole, oc);
  const int64_t n = split.flat_params().numel(), cut = n / 2 + 7;
  train::AdamW lo(split, oc, 0, cut), hi(split, oc, cut, n);
  EXPECT_EQ(lo.moments_m().numel() + hi.moments_m().numel(), n);
  for (int step = 0; step < 3; ++step) {
    std::vector<float> g = test::random_vec(n, 100 + static_cast<uint64_t>(step), 0.1f);
    std::copy(g.begin(), g.end(), whole.flat_grads().f32());
    std::copy(g.begin(), g.end(), split.flat_grads().f32());
    double norm = full.step(1e-2f);
    double ss = lo.range_sum_squares() + hi.range_sum_squares();
    EXPECT_NEAR(std::sqrt(ss), norm, 1e-9 * norm);
    lo.update(1e-2f, norm);
    hi.update(1e-2f, norm);
  }
  Tensor a = whole.flat_params(), b = split.flat_params();
  EXPECT_EQ(0, std::memcmp(a.data, b.data, a.nbytes()));
  Tensor m = full.state_tensors()[0].second;  // exp_avg of the first parameter
  EXPECT_EQ(0, std::memcmp(m.data, lo.moments_m().f32() + full.offsets()[0], m.nbytes()));
}

class Dist : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_mpirun()) GTEST_SKIP() << "lmcpp built without MPI or mpirun missing (apt install openmpi-bin)";
    work_ = test::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    cfg_ = config(work_);
  }
  // One process, global batch 8: the reference every distributed run is compared with.
  std::string reference() {
    std::string out = path_join(work_, "single");
    RunResult r = run_shell(train_cmd(cfg_, out), work_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return out;
  }
  RunResult mpi(int np, const std::string& out, const std::string& sets) {
    return run_shell(mpirun(np) + train_cmd(cfg_, out, sets), work_);
  }
  void finetune_two_ranks_equal_one();
  std::string work_, cfg_;
  std::string lora_;  // extra finetune flags (--lora ...)
};

TEST_F(Dist, TwoRanksEqualOneProcessWithTheSameGlobalBatch) {
  std::string ref = reference();
  std::string out = path_join(work_, "mpi2");
  RunResult r = mpi(2, out, "--set batch_size=4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("data parallel: 2 ranks (mpi backend)"), std::string::npos) << r.err;
  expect_same_run(ref, out, 1e-6);
  // Communication volume and time per step are logged.
  Metrics m = metrics(out);
  ASSERT_FALSE(m.steps.empty());
  EXPECT_GT(m.steps[0].value("comm_bytes", 0.0), 0.0);
  EXPECT_GE(m.steps[0].value("comm_s", -1.0), 0.0);
  EXPECT_EQ(m.steps[0].value("tokens", 0), 8 * 16);
}

TEST_F(Dist, ZeroStage1EqualsPlainDataParallel) {
  std::string dp = path_join(work_, "dp"), z = path_join(work_, "zero");
  RunResult a = mpi(2, dp, "--set batch_size=4");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  RunResult b = mpi(2, z, "--set batch_size=4 --set zero=1");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.err.find("ZeRO stage 1"), std::string::npos) << b.err;
  expect_same_run(dp, z, 1e-6);
  // Checkpoints hold whole moments whatever the sharding: the same tensors as plain data parallel.
  SafetensorsFile od(path_join(dp, "checkpoints/step_00000006/optimizer.safetensors"));
  SafetensorsFile oz(path_join(z, "checkpoints/step_00000006/optimizer.safetensors"));
  ASSERT_EQ(od.tensors().size(), oz.tensors().size());
  for (const auto& e : od.tensors()) {
    ASSERT_TRUE(oz.contains(e.name)) << e.name;
    std::vector<float> x(static_cast<size_t>(e.shape.numel())), y(x.size());
    od.read_f32(e.name, x.data(), e.shape);
    oz.read_f32(e.name, y.data(), e.shape);
    EXPECT_LT(test::rel_error(y.data(), x.data(), e.shape.numel()), 1e-5) << e.name;
  }
}

// Three ranks: the flat arena (27,776 floats) splits unevenly, so ZeRO-1 pads its last shard and the float
// all-reduce uses uneven slices.
TEST_F(Dist, ZeroStage1UnevenShardsOnThreeRanks) {
  std::string dp = path_join(work_, "dp3"), z = path_join(work_, "zero3");
  RunResult a = mpi(3, dp, "--set batch_size=4");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  RunResult b = mpi(3, z, "--set batch_size=4 --set zero=1");
  ASSERT_EQ(b.exit_code, 0) << b.err;
  expect_same_run(dp, z, 1e-6);
}

// A 2-rank run killed after step 4 (checkpoint at step 3) resumes on one process with the same global batch,
// and a 2-rank ZeRO-1 run resumes on 2 ranks bit for bit.
TEST_F(Dist, ResumeTwoRankCheckpointOnOneAndTwoRanks) {
  std::string ref = reference();
  std::string a = path_join(work_, "two_then_one");
  RunResult k = run_shell("env LM_TEST_KILL_AT_STEP=4 " + mpirun(2) + train_cmd(cfg_, a, "--set batch_size=4"),
                          work_);
  ASSERT_NE(k.exit_code, 0) << k.err;
  ASSERT_TRUE(is_directory(path_join(a, "checkpoints/step_00000003")));
  ASSERT_FALSE(is_directory(path_join(a, "checkpoints/step_00000006")));
  RunResult r1 = run_shell(train_cmd(cfg_, a), work_);
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  EXPECT_NE(r1.err.find("resuming from"), std::string::npos) << r1.err;
  expect_same_run(ref, a, 1e-6);

  std::string z = path_join(work_, "zero_straight"), zr = path_join(work_, "zero_resumed");
  ASSERT_EQ(mpi(2, z, "--set batch_size=4 --set zero=1").exit_code, 0);
  RunResult k2 = run_shell("env LM_TEST_KILL_AT_STEP=4 " +
                               mpirun(2) + train_cmd(cfg_, zr, "--set batch_size=4 --set zero=1"),
                           work_);
  ASSERT_NE(k2.exit_code, 0);
  RunResult r2 = mpi(2, zr, "--set batch_size=4 --set zero=1");
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_TRUE(expect_same_run(z, zr, 1e-6)) << "same ranks, same code: a resumed run is bitwise identical";
}

// Fine-tuning goes through the same Trainer: 2 ranks x batch 8 train a classifier like 1 process x batch 16 (each
// rank takes its slice of every global batch; the loss is the mean over the global batch). Dropout off: masks are
// drawn per rank. The key bias of attention has an exactly-zero true gradient (see expect_same_run): only tiny.
TEST_F(Dist, FinetuneClassifyTwoRanksEqualOneProcess) { finetune_two_ranks_equal_one(); }

// The same with a LoRA adapter: the ranks all-reduce the adapter's gradients (and the classifier's, trained
// whole) and end with the same adapter as one process.
TEST_F(Dist, FinetuneLoraTwoRanksEqualOneProcess) {
  lora_ = " --lora r=4,alpha=8";
  finetune_two_ranks_equal_one();
}

void Dist::finetune_two_ranks_equal_one() {
  const std::string base = path_join(work_, "base");
  std::filesystem::copy(bert_base_dir(), base);
  Json mc = read_json_file(path_join(base, "config.json"));
  mc["hidden_dropout_prob"] = 0.0;
  mc["attention_probs_dropout_prob"] = 0.0;
  write_file_atomic(path_join(base, "config.json"), mc.dump(2));
  const std::string train = keyword_sst(path_join(work_, "train.txt"), 96, 1);
  const std::string val = keyword_sst(path_join(work_, "val.txt"), 32, 2);
  auto cmd = [&](const std::string& out, int batch) {
    return quote(test::lmcpp_bin()) + " finetune --task classify --model " + quote(base) + " --train " + quote(train) +
           " --val " + quote(val) + " --out " + quote(out) + " --epochs 2 --lr 1e-3 --max-length 16 --threads 1" +
           " --batch-size " + std::to_string(batch) + lora_;
  };
  const std::string one = path_join(work_, "one"), two = path_join(work_, "two");
  RunResult a = run_shell(cmd(one, 16), work_);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  RunResult b = run_shell(mpirun(2) + cmd(two, 8), work_);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.err.find("data parallel: 2 ranks (mpi backend)"), std::string::npos) << b.err;
  Metrics ma = metrics(one), mb = metrics(two);
  ASSERT_EQ(ma.loss.size(), 12u);  // 96 / 16 = 6 steps an epoch
  ASSERT_EQ(mb.loss.size(), ma.loss.size());
  for (size_t i = 0; i < ma.loss.size(); ++i) EXPECT_NEAR(ma.loss[i], mb.loss[i], 1e-5 * std::fabs(ma.loss[i])) << i;
  ASSERT_EQ(ma.val_loss.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_NEAR(ma.val_loss[i], mb.val_loss[i], 1e-5 * std::fabs(ma.val_loss[i])) << i;
  auto pa = params(path_join(one, "checkpoints/step_00000012")), pb = params(path_join(two, "checkpoints/step_00000012"));
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    const auto& [name, x] = pa[i];
    const auto& y = pb[i].second;
    ASSERT_EQ(x.size(), y.size()) << name;
    if (name.find("attention.self.key.bias") != std::string::npos)
      EXPECT_LT(test::max_abs_diff(y.data(), x.data(), static_cast<int64_t>(x.size())), 1e-3) << name;
    else
      EXPECT_LT(test::rel_error(y.data(), x.data(), static_cast<int64_t>(x.size())), 1e-4) << name;
  }
}

// One rank SIGKILLed mid-run: mpirun takes the other down and reports it; well within the timeout.
TEST_F(Dist, KilledRankEndsTheJob) {
  std::string out = path_join(work_, "out");
  std::string cmd = mpirun(1) + train_cmd(cfg_, out, "--set batch_size=4 --set max_steps=50") + " : -np 1 env " +
                    "LM_TEST_KILL_AT_STEP=2 " + train_cmd(cfg_, out, "--set batch_size=4 --set max_steps=50");
  RunResult r = run_shell(cmd, work_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.seconds, 60);
  EXPECT_NE((r.out + r.err).find("signal 9"), std::string::npos) << r.out << r.err;
}

// One rank stops taking part without dying: the watchdog of the other ends the job with a clear message.
TEST_F(Dist, HungRankTripsTheCollectiveWatchdog) {
  std::string out = path_join(work_, "out");
  std::string cmd = "env LM_COMM_TIMEOUT=5 " + mpirun(1) + "-x LM_COMM_TIMEOUT " +
                    train_cmd(cfg_, out, "--set batch_size=4 --set max_steps=50") + " : -np 1 -x LM_COMM_TIMEOUT " +
                    "env LM_TEST_HANG_AT_STEP=2 " + train_cmd(cfg_, out, "--set batch_size=4 --set max_steps=50");
  RunResult r = run_shell(cmd, work_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.seconds, 45);
  EXPECT_NE(r.err.find("did not complete within 5 s on rank"), std::string::npos) << r.out << r.err;
}

// Two network namespaces joined by a veth pair, 10.231.7.1 <-> 10.231.7.2, named after this process (ctest runs
// tests in parallel); removed by the destructor.
class NetnsPair {
 public:
  NetnsPair() : tag_(std::to_string(::getpid())) {
    ok_ = std::system(fmt::format("ip netns add {0} && ip netns add {1} && "
                                  "ip link add {2} type veth peer name {3} && "
                                  "ip link set {2} netns {0} && ip link set {3} netns {1} && "
                                  "ip -n {0} addr add 10.231.7.1/24 dev {2} && "
                                  "ip -n {1} addr add 10.231.7.2/24 dev {3} && "
                                  "ip -n {0} link set {2} up && ip -n {1} link set {3} up && "
                                  "ip -n {0} link set lo up && ip -n {1} link set lo up",
                                  ns(0), ns(1), veth(0), veth(1))
                          .c_str()) == 0;
  }
  ~NetnsPair() {
    // Deleting a namespace deletes its end of the veth pair, and with it the other end.
    [[maybe_unused]] int rc = std::system(
        fmt::format("ip netns del {} 2>/dev/null; ip netns del {} 2>/dev/null; ip link del {} 2>/dev/null; true",
                    ns(0), ns(1), veth(0))
            .c_str());
  }
  bool ok() const { return ok_; }
  std::string ns(int i) const { return fmt::format("lmcpp_dist{}_{}", tag_, i); }
  std::string veth(int i) const { return fmt::format("lmv{}{}", tag_, i ? 'b' : 'a'); }  // <= 15 characters
  int port() const { return 20000 + ::getpid() % 30000; }

 private:
  std::string tag_;
  bool ok_ = false;
};

class DistEnv : public Dist {
 protected:
  void SetUp() override {
    const auto& b = train::comm_backends();
    if (std::find(b.begin(), b.end(), "gloo") == b.end()) GTEST_SKIP() << "lmcpp built without Gloo";
    if (::geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
    work_ = test::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    cfg_ = config(work_);
    net_ = std::make_unique<NetnsPair>();
    if (!net_->ok()) GTEST_SKIP() << "cannot create network namespaces here (ip netns / veth)";
  }
  // Rank r in namespace r, rendezvous at rank 0's address; returns each rank's exit code and stderr.
  // hung_rank1: rank 1 is expected to hang, so it is killed once rank 0 has exited (the job of a launcher).
  std::vector<RunResult> launch(const std::string& out, const std::string& sets, const std::string& rank1_env,
                                double* seconds, bool hung_rank1 = false) {
    std::string script;
    for (int r = 0; r < 2; ++r) {
      std::string log = path_join(work_, fmt::format("r{}", r));
      script += fmt::format(
          "ip netns exec {5} env RANK={0} WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR=10.231.7.1 MASTER_PORT={6} {1} {2} "
          ">{3} 2>{4} & p{0}=$!; ",
          r, r ? rank1_env : "", train_cmd(cfg_, out, sets), quote(log + ".out"), quote(log + ".err"), net_->ns(r),
          net_->port());
    }
    script += fmt::format("wait $p0; e0=$?; {}wait $p1; e1=$?; echo $e0 $e1 > {}", hung_rank1 ? "kill -9 $p1; " : "",
                          quote(path_join(work_, "codes")));
    RunResult all = run_shell("bash -c " + quote(script), work_);
    *seconds = all.seconds;
    std::istringstream codes(read_file(path_join(work_, "codes")));
    std::vector<RunResult> rs(2);
    for (int r = 0; r < 2; ++r) {
      codes >> rs[static_cast<size_t>(r)].exit_code;
      rs[static_cast<size_t>(r)].err = read_file(path_join(work_, fmt::format("r{}.err", r)));
    }
    return rs;
  }
  std::unique_ptr<NetnsPair> net_;
};

TEST_F(DistEnv, TwoMachinesTorchrunStyleEqualOneProcess) {
  std::string ref = reference();
  std::string out = path_join(work_, "env2");
  double secs = 0;
  auto rs = launch(out, "--set batch_size=4", "", &secs);
  ASSERT_EQ(rs[0].exit_code, 0) << rs[0].err;
  ASSERT_EQ(rs[1].exit_code, 0) << rs[1].err;
  EXPECT_NE(rs[0].err.find("data parallel: 2 ranks (gloo backend)"), std::string::npos) << rs[0].err;
  expect_same_run(ref, out, 1e-6);
}

TEST_F(DistEnv, KilledRankOnOtherMachineStopsTheJob) {
  std::string out = path_join(work_, "env_kill");
  double secs = 0;
  setenv("LM_COMM_TIMEOUT", "20", 1);  // both ranks: the watchdog is the backstop, not the expected path
  auto rs = launch(out, "--set batch_size=4 --set max_steps=50", "LM_TEST_KILL_AT_STEP=2", &secs);
  unsetenv("LM_COMM_TIMEOUT");
  EXPECT_EQ(rs[1].exit_code, 128 + 9);
  EXPECT_NE(rs[0].exit_code, 0);
  EXPECT_LT(secs, 45);
  EXPECT_NE(rs[0].err.find("rank 0 of 2"), std::string::npos) << rs[0].err;
}

// A rank that hangs (alive, connections open, never entering the next collective): rank 0's collective times
// out after LM_COMM_TIMEOUT seconds with a clear message instead of waiting forever.
TEST_F(DistEnv, HungRankOnOtherMachineTimesOut) {
  std::string out = path_join(work_, "env_hang");
  double secs = 0;
  setenv("LM_COMM_TIMEOUT", "5", 1);
  auto rs = launch(out, "--set batch_size=4 --set max_steps=50", "LM_TEST_HANG_AT_STEP=2", &secs, true);
  unsetenv("LM_COMM_TIMEOUT");
  EXPECT_NE(rs[0].exit_code, 0);
  EXPECT_LT(secs, 45);
  EXPECT_NE(rs[0].err.find("rank 0 of 2"), std::string::npos) << rs[0].err;
  EXPECT_TRUE(rs[0].err.find("did not complete within 5 s") != std::string::npos ||
              rs[0].err.find("Timed out") != std::string::npos)
      << rs[0].err;
}

}  // namespace
}  // namespace lm
