// Core: shapes, tensors, arenas, dtype conversions, RNG determinism, atomic files.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "harness/harness.h"
#include "lm/core/buffer.h"
#include "lm/core/dtype.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/progress.h"
#include "lm/core/rng.h"
#include "lm/core/tensor.h"
#include "lm/core/threads.h"

namespace lm {

TEST(Shape, NumelAndStr) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s.str(), "[2,3,4]");
  EXPECT_EQ(s[-1], 4);
  EXPECT_THROW((Shape{1, 2, 3, 4, 5}), Error);
}

TEST(Tensor, SliceAndIndex) {
  OwnedTensor t(Shape{4, 3});
  for (int i = 0; i < 12; ++i) t.f32()[i] = static_cast<float>(i);
  Tensor s = t.t.slice0(1, 3);
  EXPECT_EQ(s.shape, (Shape{2, 3}));
  EXPECT_EQ(s.f32()[0], 3.0f);
  EXPECT_EQ(t.t[3].f32()[2], 11.0f);
  EXPECT_THROW(t.t.slice0(2, 5), Error);
  EXPECT_THROW(t.t.view(Shape{5, 2}), Error);
}

TEST(Arena, AlignedContiguousSlots) {
  Arena a("test");
  size_t s0 = a.reserve(Shape{3});
  size_t s1 = a.reserve(Shape{5, 7});
  a.allocate();
  Tensor t0 = a.tensor(s0), t1 = a.tensor(s1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t0.data) % kAlign, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t1.data) % kAlign, 0u);
  EXPECT_EQ(static_cast<char*>(t1.data) - static_cast<char*>(t0.data), 64);
  EXPECT_EQ(a.bytes(), 64u + align_up(35 * 4));
  for (int64_t i = 0; i < a.flat_f32().numel(); ++i) EXPECT_EQ(a.flat_f32().f32()[i], 0.0f);
}

TEST(DType, Bf16RoundTripAndRounding) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(-3.5f)), -3.5f);
  // 1 + 2^-8 is exactly halfway between bf16 neighbours 1 and 1+2^-7: ties to even -> 1.
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(DType, F16RoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f, 0.333251953125f})
    EXPECT_EQ(f16_to_f32(f32_to_f16(f)), f) << f;
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(1e6f))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(1e-9f)), 0.0f);
  // Every half value round-trips exactly through f32.
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << h;
  }
}

TEST(Rng, PhiloxKnownAnswer) {
  // Known-answer vector from the Random123 distribution (kat_vectors): philox4x32_10 with
  // counter = key = 0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8.
  auto r = philox4x32({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
  // ctr = key = all ones -> 408f276d 41c83b0e a20bc7c6 6d5451fd.
  auto s = philox4x32({0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu});
  EXPECT_EQ(s[0], 0x408f276du);
  EXPECT_EQ(s[3], 0x6d5451fdu);
}

TEST(Rng, DeterministicAndRoughlyNormal) {
  Rng a(42, 1), b(42, 1), c(43, 1);
  double sum = 0, sq = 0;
  const int n = 100000;
  for (int i = 0; i < n; ++i) {
    float x = a.normal(i);
    EXPECT_EQ(x, b.normal(i));
    sum += x;
    sq += x * x;
  }
  EXPECT_NE(a.u32(0), c.u32(0));
  EXPECT_NEAR(sum / n, 0.0, 0.02);
  EXPECT_NEAR(sq / n, 1.0, 0.02);
  std::set<uint64_t> seen;
  Rng d(1);
  for (int i = 0; i < 1000; ++i) seen.insert(d.next_below(10));
  EXPECT_EQ(seen.size(), 10u);
}

TEST(AtomicFile, NoPartialOutputOnAbort) {
  std::string dir = test::temp_dir("atomic");
  std::string p = path_join(dir, "out.txt");
  {
    AtomicFile f(p);
    f.write("partial");
    // destroyed without commit
  }
  EXPECT_FALSE(file_exists(p));
  write_file_atomic(p, "hello");
  EXPECT_EQ(read_file(p), "hello");
  EXPECT_THROW(read_file(path_join(dir, "missing")), Error);
}

// Found by the text_inputs fuzz target: a number literal that overflows a double is nlohmann's out_of_range, not
// a parse_error; it must still become one BadFormat error.
TEST(Json, EveryJsonFailureIsBadFormat) {
  try {
    parse_json("11111111111111E1111111111111111", "x.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat);
    EXPECT_NE(std::string(e.what()).find("x.json"), std::string::npos);
  }
  EXPECT_THROW(parse_json("{\"a\": [1, 2", "y.json"), Error);
  EXPECT_EQ(parse_json("{\"a\": 1e3}", "z.json")["a"].get<double>(), 1000.0);
}

TEST(Threads, ParallelForCoversRangeAndRethrows) {
  std::vector<int> hit(1000, 0);
  parallel_for(1000, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) hit[i]++;
  }, 4);
  for (int h : hit) EXPECT_EQ(h, 1);
  EXPECT_THROW(parallel_for(10, [](int64_t, int64_t, int w) {
    if (w == 1) LM_THROW(ErrorCode::BadFormat, "boom");
  }, 2), Error);
}

// Progress counts read as a person writes them: "1,234/8,981 questions".
TEST(Progress, CountsHaveThousandsSeparators) {
  EXPECT_EQ(format_count(0), "0");
  EXPECT_EQ(format_count(999), "999");
  EXPECT_EQ(format_count(1000), "1,000");
  EXPECT_EQ(format_count(1234), "1,234");
  EXPECT_EQ(format_count(8981), "8,981");
  EXPECT_EQ(format_count(1234567), "1,234,567");
  EXPECT_EQ(format_count(-45678), "-45,678");
}

}  // namespace lm
