// GPT loader: window contents, per-epoch permutation covering every window once, disjoint rank shards, exact
// resume from a saved cursor, and configuration checks.
#include "lm/data/gpt_loader.h"

#include <gtest/gtest.h>

#include <set>

#include "harness/harness.h"
#include "lm/core/error.h"

namespace lm {
namespace {

// Shards whose token at global position p is p (4-byte tokens), so a window is identified by its first token.
std::vector<std::string> make_shards(const std::string& name, const std::vector<uint64_t>& sizes) {
  std::string dir = test::temp_dir(name);
  std::vector<std::string> paths;
  uint64_t next = 0;
  for (size_t k = 0; k < sizes.size(); ++k) {
    std::string p = dir + "/train_" + std::to_string(100000 + k).substr(1) + ".bin";
    ShardWriter w(p, 4, 0, -1);
    std::vector<int32_t> ids(sizes[k]);
    for (auto& t : ids) t = static_cast<int32_t>(next++);
    w.append(ids);
    w.commit();
    paths.push_back(p);
  }
  return paths;
}

TEST(GptLoader, PermutationIsABijection) {
  for (uint64_t n : {1ull, 2ull, 3ull, 7ull, 64ull, 1000ull, 4097ull}) {
    std::set<uint64_t> seen;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t p = permute_index(i, n, 42, 3);
      EXPECT_LT(p, n);
      seen.insert(p);
    }
    EXPECT_EQ(seen.size(), n);
  }
  int same = 0;
  for (uint64_t i = 0; i < 1000; ++i) same += permute_index(i, 1000, 1, 0) == permute_index(i, 1000, 1, 1);
  EXPECT_LT(same, 20);
}

TEST(GptLoader, SequentialWindowsAndTargets) {
  auto paths = make_shards("gpt_seq", {103});
  GptLoaderConfig c;
  c.batch_size = 2;
  c.seq_len = 4;
  c.shuffle = false;
  GptLoader l(paths, c);
  EXPECT_EQ(l.total_tokens(), 103u);
  EXPECT_EQ(l.batches_per_epoch(), 12u);  // (103 - 1) / 4 = 25 windows -> 12 batches of 2
  std::vector<int32_t> x(8), y(8);
  l.next(x.data(), y.data());
  EXPECT_EQ(x, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(y, (std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  l.next(x.data(), y.data());
  EXPECT_EQ(x[0], 8);
  for (int i = 2; i < 12; ++i) l.next(x.data(), y.data());
  EXPECT_EQ(l.cursor().epoch, 0u);
  l.next(x.data(), y.data());  // wraps to epoch 1, from the start again
  EXPECT_EQ(l.cursor().epoch, 1u);
  EXPECT_EQ(l.cursor().step, 1u);
  EXPECT_EQ(x[0], 0);
}

TEST(GptLoader, ShuffledEpochCoversEveryWindowOnceAndNeverCrossesShards) {
  auto paths = make_shards("gpt_shuf", {50, 37, 81});
  GptLoaderConfig c;
  c.batch_size = 3;
  c.seq_len = 8;
  c.seed = 7;
  GptLoader l(paths, c);
  // Windows: (50-1)/8 = 6, (37-1)/8 = 4, (81-1)/8 = 10 -> 20 -> 6 batches of 3 (2 windows dropped).
  ASSERT_EQ(l.batches_per_epoch(), 6u);
  std::set<int32_t> starts;
  std::vector<int32_t> x(24), y(24);
  for (int s = 0; s < 6; ++s) {
    l.next(x.data(), y.data());
    for (int b = 0; b < 3; ++b) {
      int32_t s0 = x[b * 8];
      starts.insert(s0);
      for (int t = 0; t < 8; ++t) {
        EXPECT_EQ(x[b * 8 + t], s0 + t);
        EXPECT_EQ(y[b * 8 + t], s0 + t + 1);
      }
      // Whole window (T+1 tokens) inside one shard: shard bounds are [0,50), [50,87), [87,168).
      int32_t last = s0 + 8;
      EXPECT_TRUE((s0 < 50 && last < 50) || (s0 >= 50 && s0 < 87 && last < 87) || (s0 >= 87 && last < 168))
          << s0;
    }
  }
  EXPECT_EQ(starts.size(), 18u);
  // Not in order.
  GptLoaderConfig seq = c;
  seq.shuffle = false;
  GptLoader l2(paths, seq);
  l2.next(x.data(), y.data());
  std::vector<int32_t> first_seq(x.begin(), x.end());
  GptLoader l3(paths, c);
  l3.next(x.data(), y.data());
  EXPECT_NE(std::vector<int32_t>(x.begin(), x.end()), first_seq);
}

TEST(GptLoader, RanksSeeDisjointWindows) {
  auto paths = make_shards("gpt_ranks", {1000});
  std::set<int32_t> all;
  size_t total = 0;
  for (int r = 0; r < 4; ++r) {
    GptLoaderConfig c;
    c.batch_size = 2;
    c.seq_len = 10;
    c.seed = 3;
    c.rank = r;
    c.world_size = 4;
    GptLoader l(paths, c);
    EXPECT_EQ(l.batches_per_epoch(), 12u);  // 99 windows / 8
    std::vector<int32_t> x(20), y(20);
    for (uint64_t s = 0; s < l.batches_per_epoch(); ++s) {
      l.next(x.data(), y.data());
      all.insert(x[0]);
      all.insert(x[10]);
      total += 2;
    }
  }
  EXPECT_EQ(all.size(), total);
  EXPECT_EQ(total, 96u);
}

TEST(GptLoader, CursorRestoresTheExactStream) {
  auto paths = make_shards("gpt_cursor", {300, 200});
  GptLoaderConfig c;
  c.batch_size = 2;
  c.seq_len = 16;
  c.seed = 11;
  GptLoader a(paths, c);
  std::vector<int32_t> x(32), y(32);
  for (int i = 0; i < 20; ++i) a.next(x.data(), y.data());  // into epoch 1 (30 windows -> 15 batches)
  Json saved = Json::parse(a.state().dump());
  std::vector<std::vector<int32_t>> expect;
  for (int i = 0; i < 12; ++i) {
    a.next(x.data(), y.data());
    expect.push_back(x);
  }
  GptLoader b(paths, c);
  b.restore(saved);
  EXPECT_EQ(b.cursor().epoch, 1u);
  for (int i = 0; i < 12; ++i) {
    b.next(x.data(), y.data());
    EXPECT_EQ(x, expect[static_cast<size_t>(i)]) << i;
  }
  GptLoaderConfig other = c;
  other.seed = 12;
  GptLoader d(paths, other);
  EXPECT_THROW(d.restore(saved), Error);
  EXPECT_THROW(LoaderCursor::from_json(Json::parse("{\"epoch\": -1}")), Error);
}

TEST(GptLoader, ConfigurationErrors) {
  auto paths = make_shards("gpt_small", {20});
  GptLoaderConfig c;
  c.batch_size = 4;
  c.seq_len = 8;
  EXPECT_THROW(GptLoader(paths, c), Error);  // 2 windows < 4
  c.batch_size = 1;
  c.rank = 2;
  c.world_size = 2;
  EXPECT_THROW(GptLoader(paths, c), Error);
  EXPECT_THROW(GptLoader({}, GptLoaderConfig{}), Error);
  auto found = list_shards(test::binary_dir() + "/test_tmp/gpt_small_" + std::to_string(::getpid()), "train");
  EXPECT_EQ(found.size(), 1u);
  EXPECT_THROW(list_shards(test::binary_dir(), "nosuchsplit"), Error);
}

}  // namespace
}  // namespace lm
