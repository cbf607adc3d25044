// Token shards: round trip in both dtypes, header layout, and rejection of corrupt files with clear errors.
#include "lm/data/shard.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat) << e.what();
    return e.what();
  }
  return "(no error)";
}

TEST(Shard, RoundTripBothDtypes) {
  std::string dir = test::temp_dir("shard");
  for (uint32_t dtype : {2u, 4u}) {
    std::string path = dir + "/s" + std::to_string(dtype) + ".bin";
    uint32_t vocab = dtype == 2 ? 50257 : 100000;
    std::vector<int32_t> ids;
    for (int64_t i = 0; i < 3000000; ++i) ids.push_back(static_cast<int32_t>((i * 7919) % vocab));
    {
      ShardWriter w(path, dtype, vocab, 50256);
      w.append(ids.data(), 1000);
      w.append(ids.data() + 1000, ids.size() - 1000);
      w.add_documents(3);
      EXPECT_FALSE(file_exists(path));  // nothing visible before commit
      w.commit();
    }
    EXPECT_EQ(std::filesystem::file_size(path), 64 + ids.size() * dtype);
    Shard s(path);
    EXPECT_EQ(s.size(), ids.size());
    EXPECT_EQ(s.header().documents, 3u);
    EXPECT_EQ(s.header().vocab_size, vocab);
    EXPECT_EQ(s.header().eos_id, 50256);
    std::vector<int32_t> back(ids.size());
    s.read(0, ids.size(), back.data());
    EXPECT_EQ(back, ids);
    EXPECT_EQ(s.token(12345), static_cast<uint32_t>(ids[12345]));
    s.validate_tokens();
    EXPECT_THROW(s.read(ids.size() - 1, 2, back.data()), Error);
  }
  // No temporary files left behind.
  for (auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << e.path();
}

TEST(Shard, HeaderBytesAreAsDocumented) {
  std::string path = test::temp_dir("shard_layout") + "/x.bin";
  ShardWriter w(path, 2, 300, 7);
  w.append({1, 258, 7});
  w.add_documents(1);
  w.commit();
  std::string b = read_file(path);
  ASSERT_EQ(b.size(), 64u + 6u);
  EXPECT_EQ(b.substr(0, 8), "LMSHARD1");
  auto u32 = [&](size_t o) {
    uint32_t v;
    std::memcpy(&v, b.data() + o, 4);
    return v;
  };
  EXPECT_EQ(u32(8), 1u);
  EXPECT_EQ(u32(12), 2u);
  EXPECT_EQ(u32(16), 3u);
  EXPECT_EQ(u32(20), 0u);
  EXPECT_EQ(u32(24), 1u);
  EXPECT_EQ(u32(32), 300u);
  EXPECT_EQ(u32(36), 7u);
  EXPECT_EQ(static_cast<uint8_t>(b[64 + 2]), 2);  // 258 = 0x0102 little-endian
  EXPECT_EQ(static_cast<uint8_t>(b[64 + 3]), 1);
}

TEST(Shard, WriterRejectsTokensOutsideVocabAndCleansUp) {
  std::string dir = test::temp_dir("shard_bad_token");
  {
    ShardWriter w(dir + "/x.bin", 2, 100, -1);
    EXPECT_THROW(w.append({5, 100}), Error);
    EXPECT_THROW(w.append({-1}), Error);
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir));
  EXPECT_THROW(ShardWriter(dir + "/y.bin", 2, 70000, -1), Error);
  EXPECT_EQ(shard_dtype_for_vocab(65536), 2u);
  EXPECT_EQ(shard_dtype_for_vocab(65537), 4u);
}

TEST(Shard, CorruptFilesAreRejected) {
  std::string dir = test::temp_dir("shard_corrupt");
  std::string path = dir + "/good.bin";
  ShardWriter w(path, 2, 1000, 0);
  w.append({1, 2, 3, 4});
  w.commit();
  std::string good = read_file(path);
  auto check = [&](std::string bytes, const std::string& expect) {
    std::string p = dir + "/bad.bin";
    write_file_atomic(p, bytes);
    std::string msg = error_of([&] { Shard s(p); });
    EXPECT_NE(msg.find(expect), std::string::npos) << msg;
    EXPECT_NE(msg.find(p), std::string::npos) << msg;
    msg = error_of(
        [&] { validate_shard_memory(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "m"); });
    EXPECT_NE(msg.find(expect), std::string::npos) << msg;
  };
  check(good.substr(0, 70), "truncated");
  check(good + "xx", "corrupt");
  check(good.substr(0, 10), "shorter than the 64-byte header");
  check("", "shorter");
  std::string b = good;
  b[0] = 'X';
  check(b, "bad magic");
  b = good;
  b[8] = 2;
  check(b, "unsupported shard version 2");
  b = good;
  b[12] = 3;
  check(b, "bad token dtype 3");
  b = good;
  b[16] = static_cast<char>(0xff);
  b[23] = static_cast<char>(0x7f);  // huge count: no overflow in the size check
  check(b, "truncated");
  b = good;
  b[64] = static_cast<char>(0xff);
  b[65] = static_cast<char>(0xff);  // token 65535 >= vocab 1000
  {
    std::string p = dir + "/tok.bin";
    write_file_atomic(p, b);
    Shard s(p);  // header is fine
    std::string msg = error_of([&] { s.validate_tokens(); });
    EXPECT_NE(msg.find(">= vocab_size 1000"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace lm
