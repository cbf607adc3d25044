// GGUF reader/writer: write -> read round trips of every KV and tensor type at alignments 32 and 64, a file
// image computed by hand from the spec, and Q8_0/Q4_0 against numpy reference vectors
// (tests/reference/gen_gguf_quant.py). Malformed files are in gguf_malformed_test.cpp.
#include "lm/io/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>

#include "harness/harness.h"
#include "io/gguf_test_util.h"
#include "lm/core/dtype.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"

namespace lm {
namespace {

using test::Img;
using test::open_mem;

std::vector<float> iota_vec(int64_t n, float scale = 0.37f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[i] = std::sin(static_cast<float>(i) * 1.7f) * scale * static_cast<float>(i % 13);
  return v;
}

// ---- type table
// ------------------------------------------------------------------------------------------------

TEST(GgufQuant, TypeTable) {
  EXPECT_STREQ(ggml_type_name(GgmlType::F32), "f32");
  EXPECT_STREQ(ggml_type_name(GgmlType::F16), "f16");
  EXPECT_STREQ(ggml_type_name(GgmlType::Q4_0), "q4_0");
  EXPECT_STREQ(ggml_type_name(GgmlType::Q8_0), "q8_0");
  EXPECT_STREQ(ggml_type_name(GgmlType::BF16), "bf16");
  EXPECT_EQ(ggml_block_size(GgmlType::F32), 1);
  EXPECT_EQ(ggml_block_size(GgmlType::Q8_0), 32);
  EXPECT_EQ(ggml_block_size(GgmlType::Q4_0), 32);
  EXPECT_EQ(ggml_type_bytes(GgmlType::F32), 4);
  EXPECT_EQ(ggml_type_bytes(GgmlType::F16), 2);
  EXPECT_EQ(ggml_type_bytes(GgmlType::Q4_0), 18);
  EXPECT_EQ(ggml_type_bytes(GgmlType::Q8_0), 34);
  EXPECT_EQ(ggml_type_bytes(GgmlType::BF16), 2);
  EXPECT_EQ(ggml_row_bytes(GgmlType::Q8_0, 64), 68);
  EXPECT_EQ(ggml_row_bytes(GgmlType::BF16, 7), 14);
  EXPECT_THROW(ggml_row_bytes(GgmlType::Q8_0, 33), Error);
  EXPECT_THROW(ggml_row_bytes(static_cast<GgmlType>(12), 256), Error);
  ASSERT_NE(ggml_type_layout(12), nullptr);
  EXPECT_STREQ(ggml_type_layout(12)->name, "q4_k");
  EXPECT_EQ(ggml_type_layout(12)->bytes, 144);
  EXPECT_EQ(ggml_type_layout(14)->bytes, 210);
  EXPECT_EQ(ggml_type_layout(4), nullptr);
  EXPECT_FALSE(ggml_type_supported(12));
  EXPECT_TRUE(ggml_type_supported(30));
}

// ---- numpy reference vectors
// -----------------------------------------------------------------------------------

std::vector<uint8_t> from_hex(const std::string& h) {
  std::vector<uint8_t> out(h.size() / 2);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(std::stoi(h.substr(2 * i, 2), nullptr, 16));
  return out;
}

std::vector<float> floats_of(const Json& a) {
  std::vector<float> v;
  for (const Json& x : a) v.push_back(static_cast<float>(x.get<double>()));
  return v;
}

Json quant_vectors() { return read_json_file(test::source_dir() + "/tests/io/data/gguf_quant_vectors.json"); }

void check_case(GgmlType t, const Json& c, bool quantize) {
  const std::string name = c["name"].get<std::string>();
  const std::vector<uint8_t> bytes = from_hex(c["bytes"].get<std::string>());
  const std::vector<float> deq = floats_of(c["dequant"]);
  const int64_t n = static_cast<int64_t>(deq.size());
  ASSERT_EQ(static_cast<int64_t>(bytes.size()), ggml_row_bytes(t, n)) << name;
  if (quantize) {
    const std::vector<float> in = floats_of(c["input"]);
    ASSERT_EQ(in.size(), deq.size()) << name;
    std::vector<uint8_t> q(bytes.size());
    ggml_quantize(t, in.data(), n, q.data());
    for (size_t i = 0; i < q.size(); ++i) ASSERT_EQ(q[i], bytes[i]) << name << " byte " << i;
  }
  std::vector<float> y(deq.size());
  ggml_dequantize(t, bytes.data(), n, y.data());
  for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], deq[i]) << name << " element " << i;
}

TEST(GgufQuant, Q8_0MatchesNumpyReference) {
  Json j = quant_vectors();
  ASSERT_GE(j["q8_0"].size(), 8u);
  for (const Json& c : j["q8_0"]) check_case(GgmlType::Q8_0, c, true);
}

TEST(GgufQuant, Q4_0MatchesNumpyReference) {
  Json j = quant_vectors();
  ASSERT_GE(j["q4_0"].size(), 5u);
  for (const Json& c : j["q4_0"]) check_case(GgmlType::Q4_0, c, true);
  for (const Json& c : j["q4_0_bytes"]) check_case(GgmlType::Q4_0, c, false);
}

TEST(GgufQuant, Q8_0TieRoundsAwayFromZero) {
  // amax 127 gives d = 1 exactly, so x * id = x: 2.5 -> 3 and -2.5 -> -3 (roundf), not 2 / -2 (half to even).
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f, x[1] = 2.5f, x[2] = -2.5f, x[3] = 0.5f;
  uint8_t q[34];
  ggml_quantize(GgmlType::Q8_0, x.data(), 32, q);
  EXPECT_EQ(q[0], 0x00);
  EXPECT_EQ(q[1], 0x3c);  // fp16 1.0
  EXPECT_EQ(static_cast<int8_t>(q[2]), 127);
  EXPECT_EQ(static_cast<int8_t>(q[3]), 3);
  EXPECT_EQ(static_cast<int8_t>(q[4]), -3);
  EXPECT_EQ(static_cast<int8_t>(q[5]), 1);
}

TEST(GgufQuant, NonFiniteInputsDoNotCrash) {
  std::vector<float> x(32, 1.0f);
  x[3] = std::numeric_limits<float>::infinity();
  x[4] = std::numeric_limits<float>::quiet_NaN();
  uint8_t q8[34], q4[18];
  ggml_quantize(GgmlType::Q8_0, x.data(), 32, q8);
  ggml_quantize(GgmlType::Q4_0, x.data(), 32, q4);
  SUCCEED();
}

// ---- round trips
// -----------------------------------------------------------------------------------------------

void set_every_kv(GgufWriter& w) {
  w.set("t.u8", GgufValue::u8(200));
  w.set("t.i8", GgufValue::i8(-100));
  w.set("t.u16", GgufValue::u16(60000));
  w.set("t.i16", GgufValue::i16(-30000));
  w.set("t.u32", GgufValue::u32(4000000000u));
  w.set("t.i32", GgufValue::i32(-2000000000));
  w.set("t.u64", GgufValue::u64(std::numeric_limits<uint64_t>::max()));
  w.set("t.i64", GgufValue::i64(std::numeric_limits<int64_t>::min()));
  w.set("t.f32", GgufValue::f32(1.5f));
  w.set("t.f64", GgufValue::f64(M_PI));
  w.set("t.bool", GgufValue::boolean(true));
  w.set("t.str", GgufValue::str("h\xc3\xa9llo"));
  w.set("t.empty_str", GgufValue::str(""));
  w.set("t.strs", GgufValue::str_array({"a", "", "ccc"}));
  w.set("t.i32s", GgufValue::i32_array({-1, 0, 2147483647}));
  w.set("t.f32s", GgufValue::f32_array({0.25f, -3.0f}));
  w.set("t.f64s", GgufValue::float_array(GgufType::F64, {M_E}));
  w.set("t.u8s", GgufValue::int_array(GgufType::U8, {0, 255}));
  w.set("t.i8s", GgufValue::int_array(GgufType::I8, {-128, 127}));
  w.set("t.u16s", GgufValue::int_array(GgufType::U16, {65535}));
  w.set("t.i16s", GgufValue::int_array(GgufType::I16, {-32768}));
  w.set("t.u32s", GgufValue::int_array(GgufType::U32, {4294967295LL}));
  w.set("t.u64s", GgufValue::int_array(GgufType::U64, {-1, 5}));  // -1 = UINT64_MAX
  w.set("t.i64s", GgufValue::int_array(GgufType::I64, {std::numeric_limits<int64_t>::min()}));
  w.set("t.bools", GgufValue::int_array(GgufType::BOOL, {1, 0, 1}));
  w.set("t.empty_arr", GgufValue::str_array({}));
}

void check_every_kv(const GgufFile& f) {
  EXPECT_EQ(f.get("t.u8").type, GgufType::U8);
  EXPECT_EQ(f.get("t.u8").as_int("t.u8"), 200);
  EXPECT_EQ(f.get("t.i8").as_int("t.i8"), -100);
  EXPECT_EQ(f.get("t.u16").as_int("k"), 60000);
  EXPECT_EQ(f.get("t.i16").as_int("k"), -30000);
  EXPECT_EQ(f.get("t.u32").as_int("k"), 4000000000LL);
  EXPECT_EQ(f.get("t.u32").u, 4000000000ULL);
  EXPECT_EQ(f.get("t.i32").as_int("k"), -2000000000);
  EXPECT_EQ(f.get("t.u64").u, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(f.get("t.i64").as_int("k"), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f.get("t.f32").type, GgufType::F32);
  EXPECT_EQ(f.get("t.f32").as_float("k"), 1.5);
  EXPECT_EQ(f.get("t.f64").as_float("k"), M_PI);
  EXPECT_EQ(f.get("t.u16").as_float("k"), 60000.0);
  EXPECT_TRUE(f.get("t.bool").as_bool("k"));
  EXPECT_EQ(f.get("t.str").as_string("k"), "h\xc3\xa9llo");
  EXPECT_EQ(f.get("t.empty_str").as_string("k"), "");
  const GgufValue& strs = f.get("t.strs");
  EXPECT_EQ(strs.type, GgufType::ARRAY);
  EXPECT_EQ(strs.elem, GgufType::STRING);
  EXPECT_EQ(strs.count, 3u);
  EXPECT_EQ(strs.strings, (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f.get("t.i32s").ints, (std::vector<int64_t>{-1, 0, 2147483647}));
  EXPECT_EQ(f.get("t.i32s").elem, GgufType::I32);
  EXPECT_EQ(f.get("t.f32s").floats, (std::vector<double>{0.25, -3.0}));
  EXPECT_EQ(f.get("t.f64s").floats, (std::vector<double>{M_E}));
  EXPECT_EQ(f.get("t.u8s").ints, (std::vector<int64_t>{0, 255}));
  EXPECT_EQ(f.get("t.i8s").ints, (std::vector<int64_t>{-128, 127}));
  EXPECT_EQ(f.get("t.u16s").ints, (std::vector<int64_t>{65535}));
  EXPECT_EQ(f.get("t.i16s").ints, (std::vector<int64_t>{-32768}));
  EXPECT_EQ(f.get("t.u32s").ints, (std::vector<int64_t>{4294967295LL}));
  EXPECT_EQ(f.get("t.u64s").ints, (std::vector<int64_t>{-1, 5}));
  EXPECT_EQ(f.get("t.i64s").ints, (std::vector<int64_t>{std::numeric_limits<int64_t>::min()}));
  EXPECT_EQ(f.get("t.bools").ints, (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(f.get("t.bools").elem, GgufType::BOOL);
  EXPECT_EQ(f.get("t.empty_arr").count, 0u);
}

struct TensorCase {
  std::string name;
  Shape shape;
  GgmlType type;
};

const std::vector<TensorCase>& tensor_cases() {
  static const std::vector<TensorCase> cases = {
      {"f32.1d", {5}, GgmlType::F32},       {"f32.2d", {3, 7}, GgmlType::F32},
      {"f16.3d", {2, 3, 5}, GgmlType::F16}, {"bf16.1d", {9}, GgmlType::BF16},
      {"q8_0.2d", {3, 64}, GgmlType::Q8_0}, {"q8_0.3d", {2, 1, 32}, GgmlType::Q8_0},
      {"q4_0.2d", {2, 96}, GgmlType::Q4_0}, {"f32.4d", {1, 2, 3, 2}, GgmlType::F32},
      {"empty", {0, 32}, GgmlType::Q8_0},
  };
  return cases;
}

class GgufRoundTrip : public ::testing::TestWithParam<uint64_t> {};

TEST_P(GgufRoundTrip, EveryKvAndTensorType) {
  const uint64_t align = GetParam();
  GgufWriter w(align);
  w.set("general.architecture", GgufValue::str("gpt2"));
  set_every_kv(w);
  w.set("general.architecture", GgufValue::str("bert"));  // replaces in place
  std::vector<std::vector<float>> values;
  for (const TensorCase& c : tensor_cases()) {
    values.push_back(iota_vec(c.shape.numel()));
    w.add_tensor_f32(c.name, c.shape, c.type, values.back().data());
  }
  const std::vector<uint8_t> bytes = w.to_bytes();
  EXPECT_EQ(bytes.size() % align, 0u);
  GgufFile f = open_mem(bytes);
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), align);
  EXPECT_EQ(f.data_offset() % align, 0u);
  // KV order: general.alignment first when not the default, then insertion order with the replacement in
  // place.
  size_t k0 = align == 32 ? 0 : 1;
  if (align != 32) {
    EXPECT_EQ(f.kvs()[0].first, "general.alignment");
    EXPECT_EQ(f.kvs()[0].second.type, GgufType::U32);
  } else {
    EXPECT_EQ(f.find("general.alignment"), nullptr);
  }
  EXPECT_EQ(f.kvs()[k0].first, "general.architecture");
  EXPECT_EQ(f.kvs()[k0].second.as_string("a"), "bert");
  EXPECT_EQ(f.kvs()[k0 + 1].first, "t.u8");
  check_every_kv(f);

  ASSERT_EQ(f.tensors().size(), tensor_cases().size());
  for (size_t i = 0; i < tensor_cases().size(); ++i) {
    const TensorCase& c = tensor_cases()[i];
    const GgufTensorInfo& t = f.tensors()[i];
    EXPECT_EQ(t.name, c.name);
    EXPECT_EQ(t.shape, c.shape) << c.name;
    EXPECT_EQ(t.type, c.type) << c.name;
    EXPECT_EQ(t.raw_type, static_cast<uint32_t>(c.type));
    EXPECT_EQ(t.offset % align, 0u) << c.name;
    const int64_t n = c.shape.numel();
    EXPECT_EQ(t.nbytes, static_cast<uint64_t>(ggml_row_bytes(c.type, n)));
    // Stored bytes are the converter's output; read_f32 is its dequantization.
    std::vector<uint8_t> q(t.nbytes);
    ggml_quantize(c.type, values[i].data(), n, q.data());
    EXPECT_TRUE(std::equal(q.begin(), q.end(), t.bytes.begin())) << c.name;
    std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    ggml_dequantize(c.type, q.data(), n, want.data());
    f.read_f32(c.name, got.data(), c.shape);
    EXPECT_EQ(got, want) << c.name;
    if (c.type == GgmlType::F32) {
      EXPECT_EQ(got, values[i]) << c.name;
    }
    if (c.type == GgmlType::Q8_0 && n) {
      EXPECT_LT(test::rel_error(got.data(), values[i].data(), n), 0.01) << c.name;
    }
    if (c.type == GgmlType::Q4_0) {
      EXPECT_LT(test::rel_error(got.data(), values[i].data(), n), 0.15) << c.name;
    }
  }
  EXPECT_NE(f.find_tensor("q8_0.3d"), nullptr);
  EXPECT_EQ(f.find_tensor("nope"), nullptr);

  // write() produces the same bytes, atomically, and the mmap reader agrees.
  const std::string path = test::temp_dir("gguf_round_trip") + "/m" + std::to_string(align) + ".gguf";
  w.write(path);
  const std::string disk = read_file(path);
  EXPECT_EQ(std::vector<uint8_t>(disk.begin(), disk.end()), bytes);
  GgufFile g(path);
  EXPECT_EQ(g.path(), path);
  EXPECT_EQ(g.tensors().size(), f.tensors().size());
  std::vector<float> a(64 * 3);
  g.read_f32("q8_0.2d", a.data(), Shape{3, 64});
  GgufFile moved = std::move(g);
  EXPECT_EQ(moved.tensors()[4].name, "q8_0.2d");
}

INSTANTIATE_TEST_SUITE_P(Alignments, GgufRoundTrip, ::testing::Values(32, 64, 1, 256));

// ---- a file image computed by hand
// -------------------------------------------------------------------------------

TEST(Gguf, WriterMatchesHandComputedImage) {
  GgufWriter w;
  w.set("a", GgufValue::u32(7));
  const float v[6] = {0, 1, 2, 3, 4, 5};
  w.add_tensor_f32("t", Shape{2, 3}, GgmlType::F32, v);
  const std::vector<uint8_t> got = w.to_bytes();
  // Offsets: magic 0, version 4, tensor_count 8, kv_count 16, key 24 (len) / 32 ('a'), value type 33, value
  // 37, name 41 / 49, n_dims 50, ne 54 and 62, type 70, offset 74, padding 82..96, data 96..120, padding to
  // 128.
  // clang-format off
  const std::vector<uint8_t> want = {
      'G', 'G', 'U', 'F', 3, 0, 0, 0,  1, 0, 0, 0, 0, 0, 0, 0,  1, 0, 0, 0, 0, 0, 0, 0,  // header
      1, 0, 0, 0, 0, 0, 0, 0, 'a', 4, 0, 0, 0, 7, 0, 0, 0,                               // kv a: u32 7
      1, 0, 0, 0, 0, 0, 0, 0, 't', 2, 0, 0, 0,                                           // name "t", n_dims 2
      3, 0, 0, 0, 0, 0, 0, 0,  2, 0, 0, 0, 0, 0, 0, 0,                                   // ne = {3, 2}
      0, 0, 0, 0,  0, 0, 0, 0, 0, 0, 0, 0,                                               // type f32, offset 0
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,                                          // pad 82 -> 96
      0, 0, 0, 0,  0, 0, 0x80, 0x3f,  0, 0, 0, 0x40,  0, 0, 0x40, 0x40,                  // data: 0, 1, 2, 3
      0, 0, 0x80, 0x40,  0, 0, 0xa0, 0x40,                                               // 4, 5
      0, 0, 0, 0, 0, 0, 0, 0,                                                            // pad 120 -> 128
  };
  // clang-format on
  ASSERT_EQ(want.size(), 128u);
  EXPECT_EQ(got, want);
  GgufFile f = open_mem(want);
  EXPECT_EQ(f.data_offset(), 96u);
  EXPECT_EQ(f.tensors()[0].shape, (Shape{2, 3}));
}

TEST(Gguf, WriterAlignment64WritesTheKeyFirst) {
  GgufWriter w(64);
  w.set("b", GgufValue::i32(-2));
  w.add_tensor("q", Shape{32}, GgmlType::Q8_0, std::vector<uint8_t>(34, 1));
  Img want;
  want.raw("GGUF", 4).u32(3).u64(1).u64(2);
  want.str("general.alignment").u32(4).u32(64);
  want.str("b").u32(5).u32(static_cast<uint32_t>(-2));
  want.str("q").u32(1).u64(32).u32(8).u64(0);
  ASSERT_EQ(want.b.size(), 24u + 8 + 17 + 4 + 4 + 8 + 1 + 4 + 4 + 8 + 1 + 4 + 8 + 4 + 8);
  want.zeros(128 - want.b.size());  // tensor infos end at 107: padding to 128
  want.b.insert(want.b.end(), 34, 1);
  want.zeros(192 - want.b.size());
  EXPECT_EQ(w.to_bytes(), want.b);
}

TEST(Gguf, ReadsVersion2AndTensorsOutOfOrder) {
  // Tensors listed in an order other than their data order, with a gap between them (both allowed).
  Img m;
  m.raw("GGUF", 4).u32(2).u64(2).u64(0);
  m.str("late").u32(1).u64(2).u32(0).u64(64);
  m.str("early").u32(1).u64(1).u32(0).u64(0);  // infos end at 97
  m.zeros(128 - m.b.size()).f32(9).zeros(60).f32(1).f32(2).zeros(24);
  GgufFile f = open_mem(m.b);
  EXPECT_EQ(f.version(), 2u);
  float x[2];
  f.read_f32("late", x, Shape{2});
  EXPECT_EQ(x[0], 1.0f);
  EXPECT_EQ(x[1], 2.0f);
  f.read_f32("early", x, Shape{1});
  EXPECT_EQ(x[0], 9.0f);
}

TEST(Gguf, NestedArraysKeepTheirCount) {
  Img m;
  m.raw("GGUF", 4).u32(3).u64(0).u64(1);
  m.str("nested").u32(9).u32(9).u64(2);  // array of 2 arrays
  m.u32(4).u64(1).u32(7);                // [u32 7]
  m.u32(8).u64(1).str("x");              // ["x"]
  GgufFile f = open_mem(m.b);
  const GgufValue& v = f.get("nested");
  EXPECT_EQ(v.elem, GgufType::ARRAY);
  EXPECT_EQ(v.count, 2u);
  EXPECT_TRUE(v.ints.empty());
}

TEST(Gguf, OtherGgmlTypesListButDoNotConvert) {
  Img m;
  m.raw("GGUF", 4).u32(3).u64(2).u64(0);
  m.str("k").u32(2).u64(256).u64(2).u32(12).u64(0);  // q4_k [2, 256]: 2 blocks of 144 bytes
  m.str("u").u32(1).u64(7).u32(77).u64(288);         // a type code lmcpp does not know
  m.zeros(128 - m.b.size()).zeros(288);
  GgufFile f = open_mem(m.b, "other.gguf");
  EXPECT_EQ(f.tensors()[0].raw_type, 12u);
  EXPECT_EQ(f.tensors()[0].nbytes, 288u);
  EXPECT_EQ(f.tensors()[1].nbytes, 0u);
  std::vector<float> x(512);
  try {
    f.read_f32("k", x.data(), Shape{2, 256});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("other.gguf: tensor k has ggml type q4_k (12)"), std::string::npos)
        << e.what();
  }
  try {
    f.read_f32("u", x.data(), Shape{7});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
    EXPECT_NE(std::string(e.what()).find("unknown (77)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lm
