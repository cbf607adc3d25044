// safetensors reader/writer: spec goldens built byte by byte (incl. the Rust crate's own test vectors), round trips of
// every dtype, and one hand-made malformed file per validation rule (each must throw lm::Error naming file + tensor).
#include "lm/io/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm {
namespace {

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// A file image: 8-byte LE header length, header text, data bytes.
std::string image(const std::string& header, const std::string& data = "") {
  return le64(header.size()) + header + data;
}

std::string f32_bytes(std::initializer_list<float> v) {
  std::string s;
  for (float f : v) s.append(reinterpret_cast<const char*>(&f), 4);
  return s;
}

SafetensorsFile open_mem(const std::string& bytes, const std::string& name = "mem.safetensors") {
  return SafetensorsFile::from_memory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, name);
}

// Expects from_memory to throw lm::Error with `code` whose message names the fixture and contains every `needle`.
void expect_bad(const std::string& bytes, const std::string& fixture, std::initializer_list<std::string> needles,
                ErrorCode code = ErrorCode::BadFormat) {
  const std::string name = fixture + ".safetensors";
  try {
    open_mem(bytes, name);
    ADD_FAILURE() << fixture << ": no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_EQ(e.code(), code) << fixture << ": " << msg;
    EXPECT_NE(msg.find(name), std::string::npos) << fixture << ": file not named in: " << msg;
    for (const std::string& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << fixture << ": '" << n << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << fixture << ": non-lm exception " << e.what();
  }
}

// ---- goldens built by hand from the spec ----------------------------------------------------------------------

// The exact bytes of safetensors/src/tensor.rs test_serialization: {"attn.0": F32 [1,2,3] = 0..5}.
const uint8_t kRustSerialization[] = {
    64,  0,   0,   0,   0,   0,   0,   0,   123, 34,  97,  116, 116, 110, 46,  48,  34,  58,  123, 34,  100,
    116, 121, 112, 101, 34,  58,  34,  70,  51,  50,  34,  44,  34,  115, 104, 97,  112, 101, 34,  58,  91,
    49,  44,  50,  44,  51,  93,  44,  34,  100, 97,  116, 97,  95,  111, 102, 102, 115, 101, 116, 115, 34,
    58,  91,  48,  44,  50,  52,  93,  125, 125, 0,   0,   0,   0,   0,   0,   128, 63,  0,   0,   0,   64,
    0,   0,   64,  64,  0,   0,   128, 64,  0,   0,   160, 64};

TEST(Safetensors, GoldenRustVectorReads) {
  SafetensorsFile f = SafetensorsFile::from_memory(kRustSerialization, "rust.safetensors");
  ASSERT_EQ(f.tensors().size(), 1u);
  const SafetensorsEntry& e = f.entry("attn.0");
  EXPECT_EQ(e.dtype, DType::F32);
  EXPECT_EQ(e.shape, (Shape{1, 2, 3}));
  EXPECT_EQ(e.begin, 0u);
  EXPECT_EQ(e.end, 24u);
  EXPECT_EQ(f.data_size(), 24u);
  EXPECT_TRUE(f.metadata().empty());
  Tensor t = f.tensor("attn.0");
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.f32()[i], static_cast<float>(i));
}

TEST(Safetensors, GoldenWriterMatchesRustBytes) {
  // Our writer must produce the reference implementation's bytes exactly.
  float v[6] = {0, 1, 2, 3, 4, 5};
  std::string dir = test::temp_dir("st_golden_writer");
  std::string p = path_join(dir, "a.safetensors");
  write_safetensors(p, {{"attn.0", Tensor(v, Shape{1, 2, 3})}});
  EXPECT_EQ(read_file(p), std::string(reinterpret_cast<const char*>(kRustSerialization), sizeof kRustSerialization));

  // tensor.rs test_empty: no tensors, without and with metadata {"framework": "pt"}.
  write_safetensors(p, {});
  EXPECT_EQ(read_file(p), le64(8) + "{}      ");
  write_safetensors(p, {}, {{"framework", "pt"}});
  EXPECT_EQ(read_file(p), le64(40) + "{\"__metadata__\":{\"framework\":\"pt\"}}     ");
  SafetensorsFile f(p);
  EXPECT_EQ(f.metadata().at("framework"), "pt");
  EXPECT_TRUE(f.tensors().empty());
}

TEST(Safetensors, GoldenHandMadeUnalignedMixedDtypes) {
  // Keys out of offset order, spaces in the JSON, an odd header length (so the data is unaligned in memory),
  // BF16/F16/I64 data written out byte by byte: bf16 1.0 = 0x3F80, -2.0 = 0xC000; f16 0.5 = 0x3800, 65504 = 0x7BFF.
  std::string header =
      R"({ "b": {"dtype":"F16","shape":[2],"data_offsets":[4,8]}, "__metadata__": {"format":"pt"},)"
      R"( "a": {"dtype":"BF16","shape":[2],"data_offsets":[0,4]}, "c": {"dtype":"I64","shape":[],"data_offsets":[8,16]},)"
      R"( "z": {"dtype":"U8","shape":[0,3],"data_offsets":[16,16]} }  )";
  ASSERT_NE((header.size() + 8) % 8, 0u);
  std::string data = std::string("\x80\x3f\x00\xc0", 4) + std::string("\x00\x38\xff\x7b", 4) +
                     std::string("\xfe\xff\xff\xff\xff\xff\xff\xff", 8);
  SafetensorsFile f = open_mem(image(header, data));
  ASSERT_EQ(f.tensors().size(), 4u);
  EXPECT_EQ(f.tensors()[0].name, "a");  // offset order
  EXPECT_EQ(f.tensors()[1].name, "b");
  EXPECT_EQ(f.tensors()[2].name, "c");
  EXPECT_EQ(f.tensors()[3].name, "z");
  EXPECT_EQ(f.metadata().size(), 1u);
  float a[2], b[2];
  f.read_f32("a", a, Shape{2});
  f.read_f32("b", b, Shape{2});
  EXPECT_EQ(a[0], 1.0f);
  EXPECT_EQ(a[1], -2.0f);
  EXPECT_EQ(b[0], 0.5f);
  EXPECT_EQ(b[1], 65504.0f);
  Tensor c = f.tensor("c");
  EXPECT_EQ(c.shape.ndim(), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(c.data) % 8, 0u);  // copied to an aligned buffer
  EXPECT_EQ(c.ptr<int64_t>()[0], -2);
  EXPECT_EQ(f.tensor("c").data, c.data);  // the copy is cached
  EXPECT_EQ(f.tensor("z").numel(), 0);
  EXPECT_FALSE(f.contains("__metadata__"));
  EXPECT_EQ(f.find("nope"), nullptr);
}

// ---- round trip ----------------------------------------------------------------------------------------------

TEST(Safetensors, RoundTripAllDtypes) {
  std::vector<OwnedTensor> ts;
  std::vector<NamedTensor> named;
  const DType all[] = {DType::U8, DType::F32, DType::BF16, DType::F16, DType::I32, DType::I64, DType::U16, DType::U32};
  const Shape shapes[] = {Shape{3}, Shape{2, 3}, Shape{1, 1, 5}, Shape{7}, Shape{}, Shape{2, 1, 2, 3}, Shape{5}, Shape{0, 4}};
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back(shapes[i], all[i]);
    auto* p = static_cast<uint8_t*>(ts.back().t.data);
    for (size_t k = 0; k < ts.back().t.nbytes(); ++k) p[k] = static_cast<uint8_t>(k * 7 + i);
  }
  for (int i = 0; i < 8; ++i) named.push_back({"t." + std::string(dtype_name(all[i])), ts[i].t});
  std::string dir = test::temp_dir("st_roundtrip");
  std::string p = path_join(dir, "m.safetensors");
  write_safetensors(p, named, {{"format", "pt"}, {"note", "é \"quoted\"\n"}});
  for (const auto& de : std::filesystem::directory_iterator(dir))
    EXPECT_EQ(de.path().filename(), "m.safetensors") << "temporary left behind";

  SafetensorsFile f(p);
  EXPECT_EQ(f.path(), p);
  EXPECT_EQ(f.metadata().at("note"), "é \"quoted\"\n");
  ASSERT_EQ(f.tensors().size(), 8u);
  // Rust order: descending dtype rank then name -> I64, F32, U32, I32, BF16, F16, U16, U8.
  const char* want[] = {"t.i64", "t.f32", "t.u32", "t.i32", "t.bf16", "t.f16", "t.u16", "t.u8"};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(f.tensors()[i].name, want[i]);
  for (int i = 0; i < 8; ++i) {
    Tensor t = f.tensor(named[i].name);
    EXPECT_EQ(t.dtype, all[i]);
    EXPECT_EQ(t.shape, shapes[i]);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % dtype_size(all[i]), 0u) << named[i].name;
    // Aligned in the file, so the view is zero-copy into the mapping.
    EXPECT_EQ(static_cast<const void*>(t.data), static_cast<const void*>(f.entry(named[i].name).bytes.data()));
    ASSERT_EQ(t.nbytes(), ts[i].t.nbytes());
    if (t.nbytes()) {
      EXPECT_EQ(std::memcmp(t.data, ts[i].t.data, t.nbytes()), 0) << named[i].name;
    }
  }
  // Same bytes through from_memory.
  std::string bytes = read_file(p);
  SafetensorsFile g = open_mem(bytes);
  EXPECT_EQ(g.tensors().size(), 8u);
  // Writing again is byte-identical (deterministic).
  std::string p2 = path_join(dir, "m2.safetensors");
  std::vector<NamedTensor> reversed(named.rbegin(), named.rend());
  write_safetensors(p2, reversed, {{"note", "é \"quoted\"\n"}, {"format", "pt"}});
  EXPECT_EQ(read_file(p2), bytes);
}

TEST(Safetensors, ReadF32ConvertsAndChecks) {
  OwnedTensor x(Shape{2, 2});
  for (int i = 0; i < 4; ++i) x.f32()[i] = 0.25f * static_cast<float>(i) - 0.5f;
  OwnedTensor hb(Shape{2, 2}, DType::BF16), hh(Shape{2, 2}, DType::F16), ii(Shape{2, 2}, DType::I32);
  for (int i = 0; i < 4; ++i) {
    static_cast<uint16_t*>(hb.t.data)[i] = f32_to_bf16(x.f32()[i]);
    static_cast<uint16_t*>(hh.t.data)[i] = f32_to_f16(x.f32()[i]);
  }
  std::string p = path_join(test::temp_dir("st_readf32"), "w.safetensors");
  write_safetensors(p, {{"f", x.t}, {"b", hb.t}, {"h", hh.t}, {"i", ii.t}});
  SafetensorsFile f(p);
  for (const char* n : {"f", "b", "h"}) {
    float out[4];
    f.read_f32(n, out, Shape{2, 2});
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], x.f32()[i]) << n;
  }
  float out[4];
  try {
    f.read_f32("f", out, Shape{4});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat);
    EXPECT_NE(std::string(e.what()).find("\"f\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
  try {
    f.read_f32("i", out, Shape{2, 2});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported);
  }
  try {
    f.tensor("missing");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
    EXPECT_NE(std::string(e.what()).find("missing"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
  }
}

TEST(Safetensors, WriterRejectsBadInput) {
  float v[2] = {1, 2};
  std::string p = path_join(test::temp_dir("st_writer_bad"), "x.safetensors");
  EXPECT_THROW(write_safetensors(p, {{"a", Tensor(v, Shape{2})}, {"a", Tensor(v, Shape{1})}}), Error);
  EXPECT_THROW(write_safetensors(p, {{"__metadata__", Tensor(v, Shape{2})}}), Error);
  EXPECT_THROW(write_safetensors(p, {{std::string("\xff"), Tensor(v, Shape{2})}}), Error);
  EXPECT_FALSE(file_exists(p));
}

// ---- malformed files: one fixture per rule --------------------------------------------------------------------

const std::string kA4 = R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";

TEST(SafetensorsBad, TooShortFileFromPath) {
  std::string p = path_join(test::temp_dir("st_short"), "short.safetensors");
  write_file_atomic(p, std::string("\x05\x00\x00", 3));
  try {
    SafetensorsFile f(p);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat);
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("shorter than"), std::string::npos) << e.what();
  }
  write_file_atomic(p, "");
  EXPECT_THROW(SafetensorsFile{p}, Error);
  EXPECT_THROW(SafetensorsFile{p + ".absent"}, Error);
}

TEST(SafetensorsBad, HeaderLength) {
  expect_bad(le64(1'000'000'000) + "{}", "huge_header", {"exceeds the limit"});
  expect_bad(le64(~uint64_t{0}) + "{}", "max_header", {"exceeds the limit"});
  expect_bad(le64(100) + "{}", "header_past_eof", {"runs past the end of the file"});
  expect_bad(le64(0), "empty_header", {"does not start with '{'"});
}

TEST(SafetensorsBad, TruncatedFile) {
  std::string full = image("{" + kA4 + "}", f32_bytes({1.0f}));
  expect_bad(full.substr(0, full.size() - 1), "truncated_data", {"\"a\"", "run past the end"});
  expect_bad(full.substr(0, 20), "truncated_header", {"runs past the end of the file"});
}

TEST(SafetensorsBad, HeaderJson) {
  expect_bad(image(" {}"), "leading_space", {"does not start with '{'"});
  expect_bad(image("[1,2]"), "array_header", {"does not start with '{'"});
  expect_bad(image(R"({"a":)"), "cut_json", {"not valid JSON"});
  expect_bad(image(std::string("{}\0\0\0\0\0\0", 8)), "nul_padding", {"NUL byte at header offset 2"});
  expect_bad(image("{\"\xff\":1}"), "bad_utf8", {"not valid JSON"});
  expect_bad(image("{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"), "deep", {"nests deeper"});
}

TEST(SafetensorsBad, DuplicateKeys) {
  expect_bad(image("{" + kA4 + "," + kA4 + "}", f32_bytes({1.0f})), "dup_tensor", {"duplicate key \"a\""});
  expect_bad(image(R"({"a":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1.0f})),
             "dup_field", {"duplicate key \"dtype\"", "entry of \"a\""});
  expect_bad(image(R"({"__metadata__":{"k":"1","k":"2"}})"), "dup_meta", {"duplicate key \"k\""});
  expect_bad(image(R"({"__metadata__":{},"__metadata__":{}})"), "dup_meta_key", {"duplicate key \"__metadata__\""});
}

TEST(SafetensorsBad, EntryStructure) {
  expect_bad(image(R"({"a":5})"), "entry_not_object", {"\"a\"", "not an object"});
  expect_bad(image(R"({"a":{"dtype":"F32","shape":[1]}})", f32_bytes({1})), "missing_offsets",
             {"\"a\"", "missing \"data_offsets\""});
  expect_bad(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", f32_bytes({1})), "extra_key",
             {"\"a\"", "unexpected key \"x\""});
}

TEST(SafetensorsBad, Dtype) {
  expect_bad(image(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", f32_bytes({1})), "unknown_dtype",
             {"\"w\"", "unknown dtype \"F33\""});
  expect_bad(image(R"({"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", f32_bytes({1})), "numeric_dtype",
             {"\"w\"", "not a string"});
  // Valid safetensors dtypes lmcpp does not represent: Unsupported, after full validation.
  expect_bad(image(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", std::string(8, '\0')), "f64",
             {"\"w\"", "F64", "not supported"}, ErrorCode::Unsupported);
  expect_bad(image(R"({"m":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}})", std::string(2, '\0')), "bool",
             {"\"m\"", "BOOL"}, ErrorCode::Unsupported);
  expect_bad(image(R"({"q":{"dtype":"I8","shape":[2],"data_offsets":[0,2]}})", std::string(2, '\0')), "i8", {"\"q\"", "I8"},
             ErrorCode::Unsupported);
  expect_bad(image(R"({"q":{"dtype":"I16","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0')), "i16",
             {"\"q\"", "I16"}, ErrorCode::Unsupported);
  // ... but a malformed file with such a dtype is still BadFormat (size checked with the F64 element size).
  expect_bad(image(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,4]}})", std::string(4, '\0')), "f64_bad_size",
             {"\"w\"", "needs 8"});
}

TEST(SafetensorsBad, Shape) {
  std::string d = f32_bytes({1});
  expect_bad(image(R"({"s":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", d), "negative_dim",
             {"\"s\"", "non-negative integer"});
  expect_bad(image(R"({"s":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})", d), "float_dim", {"\"s\"", "non-negative"});
  expect_bad(image(R"({"s":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})", d), "string_dim", {"\"s\""});
  expect_bad(image(R"({"s":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})", d), "scalar_shape", {"\"s\"", "not an array"});
  expect_bad(image(R"({"s":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", d), "size_mismatch",
             {"\"s\"", "span 4 bytes", "needs 8"});
  expect_bad(image(R"({"s":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", d), "overflow",
             {"\"s\"", "overflows"});
  expect_bad(image(R"({"s":{"dtype":"F32","shape":[18446744073709551615,1],"data_offsets":[0,4]}})", d), "overflow2",
             {"\"s\"", "overflows"});
  expect_bad(image(R"({"s":{"dtype":"F32","shape":[1,1,1,1,1],"data_offsets":[0,4]}})", d), "rank5",
             {"\"s\"", "rank 5"}, ErrorCode::Unsupported);
}

TEST(SafetensorsBad, Offsets) {
  std::string d8 = f32_bytes({1, 2});
  expect_bad(image(R"({"o":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", d8), "one_offset", {"\"o\"", "pair"});
  expect_bad(image(R"({"o":{"dtype":"F32","shape":[1],"data_offsets":[0,-4]}})", d8), "neg_offset", {"\"o\"", "pair"});
  expect_bad(image(R"({"o":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", d8), "reversed", {"\"o\"", "end before"});
  expect_bad(image(R"({"o":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", d8), "past_data",
             {"\"o\"", "run past the end of the 8-byte data section"});
  expect_bad(image(R"({"o":{"dtype":"F32","shape":[0],"data_offsets":[18446744073709551615,18446744073709551615]}})", d8),
             "max_offsets", {"\"o\"", "run past"});
}

TEST(SafetensorsBad, CoverageHolesAndOverlap) {
  std::string d12 = f32_bytes({1, 2, 3});
  // Hole between tensors.
  expect_bad(image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                   d12),
             "hole_middle", {"hole", "[4,8)", "\"b\""});
  // Hole at the start.
  expect_bad(image(R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", d12), "hole_start",
             {"hole", "[0,4)", "\"b\""});
  // Trailing bytes nobody owns.
  expect_bad(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d12), "hole_end",
             {"hole", "[8,12)", "\"a\""});
  // Data but no tensors.
  expect_bad(image("{}", d12), "data_no_tensors", {"hole", "[0,12)"});
  // Overlap.
  expect_bad(image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   d12),
             "overlap", {"\"b\"", "overlaps", "\"a\""});
  // Two names sharing the same bytes (aliasing) is an overlap too.
  expect_bad(image(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"b":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})",
                   d12),
             "alias", {"overlaps"});
  // Zero-size tensors at a boundary are fine.
  SafetensorsFile ok = open_mem(image(
      R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"e":{"dtype":"F32","shape":[0],"data_offsets":[12,12]}})", d12));
  EXPECT_EQ(ok.tensors().size(), 2u);
}

TEST(SafetensorsBad, Metadata) {
  expect_bad(image(R"({"__metadata__":{"format":"pt","n":1}})"), "meta_number", {"\"n\"", "not a string"});
  expect_bad(image(R"({"__metadata__":{"x":null}})"), "meta_null", {"\"x\"", "not a string"});
  expect_bad(image(R"({"__metadata__":["pt"]})"), "meta_array", {"__metadata__", "not an object"});
  expect_bad(image(R"({"__metadata__":"pt"})"), "meta_string", {"__metadata__", "not an object"});
  // null is accepted as "no metadata" (serde's Option), as the reference reader does.
  EXPECT_TRUE(open_mem(image(R"({"__metadata__":null})")).metadata().empty());
}

}  // namespace
}  // namespace lm
