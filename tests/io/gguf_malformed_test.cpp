// GGUF reader on malformed files: every truncation point of a valid file, and one hand-made file per
// validation rule; each must throw lm::Error (BadFormat unless stated) naming the file and the item. Also
// writer argument checks and the typed KV accessors.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

#include "harness/harness.h"
#include "io/gguf_test_util.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/io/gguf.h"

namespace lm {
namespace {

using test::Img;

// Expects reading `bytes` to throw lm::Error with `code` whose message names the fixture file and every
// needle.
void expect_bad(const std::vector<uint8_t>& bytes, const std::string& fixture,
                std::initializer_list<std::string> needles, ErrorCode code = ErrorCode::BadFormat) {
  const std::string name = fixture + ".gguf";
  try {
    test::open_mem(bytes, name);
    ADD_FAILURE() << fixture << ": no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(e.code(), code) << fixture << ": " << msg;
    EXPECT_EQ(msg.rfind(name + ": ", 0), 0u) << fixture << ": file not named first in: " << msg;
    for (const std::string& n : needles)
      EXPECT_NE(msg.find(n), std::string::npos) << fixture << ": '" << n << "' not in: " << msg;
  } catch (const std::exception& e) {
    ADD_FAILURE() << fixture << ": non-lm exception " << e.what();
  }
}

Img header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
  Img m;
  m.raw("GGUF", 4).u32(version).u64(tensors).u64(kvs);
  return m;
}

// A valid file: kv "a" = u32 7, tensor "t" f32 [2, 3] (infos end at 82, data [96, 120), padded to 128).
std::vector<uint8_t> small_file() {
  GgufWriter w;
  w.set("a", GgufValue::u32(7));
  const float v[6] = {0, 1, 2, 3, 4, 5};
  w.add_tensor_f32("t", Shape{2, 3}, GgmlType::F32, v);
  return w.to_bytes();
}

TEST(GgufMalformed, EveryTruncationFails) {
  const std::vector<uint8_t> full = small_file();
  ASSERT_EQ(full.size(), 128u);
  for (size_t n = 0; n < 120; ++n) {
    std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string fixture = "cut" + std::to_string(n);
    try {
      test::open_mem(cut, fixture + ".gguf");
      ADD_FAILURE() << "truncated at " << n << ": no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::BadFormat) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind(fixture + ".gguf: ", 0), 0u) << e.what();
    }
  }
  // The last tensor's trailing padding is not needed.
  for (size_t n = 120; n <= 128; ++n)
    EXPECT_NO_THROW(
        test::open_mem(std::vector<uint8_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n))));
}

TEST(GgufMalformed, TruncationMessages) {
  const std::vector<uint8_t> full = small_file();
  auto cut = [&](size_t n) {
    return std::vector<uint8_t>(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
  };
  expect_bad(cut(2), "magic", {"magic at offset 0 needs 4 bytes", "truncated"});
  expect_bad(cut(20), "kvcount", {"kv count at offset 16"});
  // Below 57 bytes the counts themselves are implausible (a tensor info takes at least 33 bytes).
  expect_bad(cut(45), "counts",
             {"tensor count 1 is implausible: the 21 bytes left after offset 24 hold at most 0"});
  expect_bad(cut(57), "ne",
             {"tensor 0 (t): ne at offset 54 needs 8 bytes but the file ends at 57 (truncated?)"});
  expect_bad(header(0, 1).str("abc").u32(4).u8(1).b, "kvvalue",
             {"kv 0 (abc): u32 value at offset 39 needs 4 bytes"});
  expect_bad(cut(90), "datastart", {"data section would start at offset 96", "file is 90 bytes"});
  expect_bad(cut(110), "data", {"tensor 0 (t): data [96, 120) runs past the end of the file (110 bytes)"});
}

TEST(GgufMalformed, HeaderFields) {
  std::vector<uint8_t> b = small_file();
  b[0] = 'X';
  expect_bad(b, "magic", {"not a GGUF file", "58 47 55 46"});
  b = small_file();
  b[4] = 7;
  expect_bad(b, "version", {"unknown GGUF version 7"});
  b[4] = 0;
  expect_bad(b, "version0", {"unknown GGUF version 0"});
  b[4] = 1;
  expect_bad(b, "version1", {"GGUF version 1 is not supported"}, ErrorCode::Unsupported);
  b[4] = 0, b[7] = 3;
  expect_bad(b, "bigendian", {"big-endian"}, ErrorCode::Unsupported);
  b = small_file();
  b[4] = 2;
  EXPECT_NO_THROW(test::open_mem(b));
  expect_bad(header(uint64_t{1} << 40, 0).zeros(64).b, "tensorcount",
             {"tensor count 1099511627776 is implausible"});
  expect_bad(header(0, std::numeric_limits<uint64_t>::max()).b, "kvcount", {"kv count", "implausible"});
  // Counts larger than what follows, but plausible: the reader runs out of bytes.
  expect_bad(header(0, 2).str("a").u32(4).u32(1).u64(5).raw("abc", 3).b, "kvcount2",
             {"kv 1: key of 5 bytes at offset 49 runs past the end of the file (52 bytes)"});
}

TEST(GgufMalformed, KeyValues) {
  expect_bad(header(0, 1).str("").u32(4).u32(1).b, "emptykey", {"kv 0: empty key"});
  expect_bad(header(0, 1).u64(1000).raw("abc", 3).zeros(10).b, "keylen",
             {"kv 0: key of 1000 bytes at offset 32 runs past the end of the file (45 bytes)"});
  expect_bad(header(0, 1).str("k").u32(13).u32(0).b, "vtype",
             {"kv 0 (k): value type 13 at offset 33 is not a GGUF"});
  expect_bad(header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).b, "dupkey",
             {"kv 1 (k): duplicate key (also kv 0)"});
  expect_bad(header(0, 1).str("s").u32(8).u64(uint64_t{1} << 62).b, "strlen", {"kv 0 (s): string value of"});
  expect_bad(header(0, 1).str("k\n\x01").u32(99).b, "escaped", {"kv 0 (k\\x0a\\x01): value type 99"});
  // Arrays: element type, count against the bytes left, nesting depth.
  expect_bad(header(0, 1).str("a").u32(9).u32(13).u64(0).b, "elemtype", {"kv 0 (a): array element type 13"});
  expect_bad(header(0, 1).str("a").u32(9).u32(4).u64(uint64_t{1} << 61).zeros(64).b, "arraycount",
             {"kv 0 (a): array element count 2305843009213693952 is implausible"});
  expect_bad(header(0, 1).str("a").u32(9).u32(8).u64(3).str("x").u64(100).zeros(8).b, "arraystr",
             {"kv 0 (a): array string of 100 bytes"});
  Img deep = header(0, 1).str("deep").u32(9);
  for (int d = 0; d < kGgufMaxArrayDepth; ++d) deep.u32(9).u64(1);
  deep.u32(4).u64(0);
  expect_bad(deep.b, "deep", {"kv 0 (deep): arrays nest deeper than 8 levels"});
  Img ok = header(0, 1).str("deep").u32(9);
  for (int d = 0; d + 1 < kGgufMaxArrayDepth; ++d) ok.u32(9).u64(1);
  ok.u32(4).u64(0);
  EXPECT_NO_THROW(test::open_mem(ok.b));
}

TEST(GgufMalformed, Alignment) {
  expect_bad(header(0, 1).str("general.alignment").u32(10).u64(64).b, "align_u64",
             {"general.alignment is a u64, not a u32"});
  expect_bad(header(0, 1).str("general.alignment").u32(4).u32(48).b, "align48",
             {"general.alignment 48 is not a power"});
  expect_bad(header(0, 1).str("general.alignment").u32(4).u32(0).b, "align0",
             {"general.alignment 0 is not a power"});
  // Offsets must be multiples of the alignment in force.
  Img m = header(1, 1).str("general.alignment").u32(4).u32(64);
  m.str("t").u32(1).u64(8).u32(0).u64(32).pad(64).zeros(128);
  expect_bad(m.b, "offset_align", {"tensor 0 (t): offset 32 is not a multiple of the alignment 64"});
}

// A one-tensor file: name, dims (ne order), type, offset, followed by padding and `data` zero bytes.
std::vector<uint8_t> one_tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type,
                                uint64_t offset, size_t data) {
  Img m = header(1, 0);
  m.str(name).u32(static_cast<uint32_t>(ne.size()));
  for (uint64_t d : ne) m.u64(d);
  m.u32(type).u64(offset).pad(32).zeros(data);
  return m.b;
}

TEST(GgufMalformed, TensorInfos) {
  expect_bad(one_tensor("", {4}, 0, 0, 16), "emptyname", {"tensor 0: empty tensor name"});
  expect_bad(one_tensor("t", {}, 0, 0, 16), "ndims0", {"tensor 0 (t): n_dims 0 is not in 1..4"});
  expect_bad(one_tensor("t", {1, 1, 1, 1, 1}, 0, 0, 16), "ndims5", {"tensor 0 (t): n_dims 5 is not in 1..4"});
  expect_bad(one_tensor("t", {uint64_t{1} << 63}, 0, 0, 16), "nebig",
             {"ne[0] = 9223372036854775808 exceeds"});
  expect_bad(one_tensor("t", {uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0, 16), "numel",
             {"tensor 0 (t): the element count (product of ne[0..1]) overflows int64"});
  expect_bad(one_tensor("t", {uint64_t{1} << 61, 2}, 0, 0, 16), "nbytes",
             {"byte size of", "overflows int64"});
  expect_bad(one_tensor("t", {33}, 8, 0, 64), "block",
             {"tensor 0 (t): ne[0] = 33 is not a multiple of the 32"});
  expect_bad(one_tensor("t", {4}, 0, 16, 64), "unaligned",
             {"offset 16 is not a multiple of the alignment 32"});
  expect_bad(one_tensor("t", {4}, 0, 32, 40), "past_end", {"tensor 0 (t): data [96, 112) runs past the end"});
  expect_bad(one_tensor("t", {4}, 0, uint64_t{1} << 62, 16), "offset_huge",
             {"lies past the end of the file"});
  expect_bad(one_tensor("t", {64}, 8, 0, 60), "q8_past_end",
             {"data [64, 132) runs past the end of the file (124"});
  // Zero-sized tensors are valid (ggml allows ne = 0).
  GgufFile f = test::open_mem(one_tensor("t", {0, 4}, 0, 0, 0));
  EXPECT_EQ(f.tensors()[0].shape, (Shape{4, 0}));
  EXPECT_EQ(f.tensors()[0].nbytes, 0u);
}

TEST(GgufMalformed, DuplicatesAndOverlaps) {
  Img dup = header(2, 0);
  dup.str("w").u32(1).u64(4).u32(0).u64(0);
  dup.str("w").u32(1).u64(4).u32(0).u64(32);
  expect_bad(dup.pad(32).zeros(64).b, "dupname", {"tensor 1 (w): duplicate tensor name (also tensor 0)"});
  Img ov = header(2, 0);
  ov.str("a").u32(1).u64(16).u32(0).u64(0);  // [0, 64)
  ov.str("b").u32(1).u64(4).u32(0).u64(32);  // [32, 48)
  expect_bad(ov.pad(32).zeros(64).b, "overlap",
             {"tensor 1 (b): data [128, 144) overlaps tensor 0 (a) at [96, 160)"});
}

TEST(GgufMalformed, ReadF32Errors) {
  GgufFile f = test::open_mem(small_file(), "s.gguf");
  float x[6];
  try {
    f.read_f32("t", x, Shape{3, 2});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat);
    EXPECT_STREQ(e.what(), "s.gguf: tensor t has shape [2,3], expected [3,2]");
  }
  try {
    f.read_f32("nope", x, Shape{3, 2});
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
    EXPECT_STREQ(e.what(), "s.gguf: no tensor nope");
  }
  try {
    f.get("missing");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
    EXPECT_STREQ(e.what(), "s.gguf: no key missing");
  }
}

TEST(GgufMalformed, FilesOnDisk) {
  const std::string dir = test::temp_dir("gguf_disk");
  try {
    GgufFile f(dir + "/absent.gguf");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound) << e.what();
  }
  write_file_atomic(dir + "/empty.gguf", "");
  try {
    GgufFile f(dir + "/empty.gguf");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadFormat);
    EXPECT_EQ(std::string(e.what()),
              dir +
                  "/empty.gguf: magic at offset 0 needs 4 bytes but the file ends at 0 "
                  "(truncated?)");
  }
}

TEST(GgufValue, TypedReadErrors) {
  auto expect_msg = [](auto fn, const std::string& want) {
    try {
      fn();
      ADD_FAILURE() << "no error, wanted " << want;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::BadFormat);
      EXPECT_EQ(std::string(e.what()), want);
    }
  };
  expect_msg([] { GgufValue::str("x").as_int("k"); }, "k: expected an integer, got string");
  expect_msg([] { GgufValue::u64(uint64_t{1} << 63).as_int("k"); },
             "k: u64 value 9223372036854775808 exceeds the "
             "int64 range");
  expect_msg([] { GgufValue::f32(1).as_int("k"); }, "k: expected an integer, got f32");
  expect_msg([] { GgufValue::boolean(true).as_float("k"); }, "k: expected a number, got bool");
  expect_msg([] { GgufValue::u8(1).as_bool("k"); }, "k: expected a bool, got u8");
  expect_msg([] { GgufValue::i32_array({1}).as_string("k"); }, "k: expected a string, got array");
  EXPECT_EQ(GgufValue::u64(5).as_int("k"), 5);
  EXPECT_EQ(GgufValue::i8(-3).as_float("k"), -3.0);
}

TEST(GgufWriterArgs, Rejected) {
  EXPECT_THROW(GgufWriter(48), Error);
  EXPECT_THROW(GgufWriter(0), Error);
  GgufWriter w;
  EXPECT_THROW(w.set("", GgufValue::u32(1)), Error);
  EXPECT_THROW(w.set("general.alignment", GgufValue::u32(64)), Error);
  EXPECT_NO_THROW(w.set("general.alignment", GgufValue::u32(32)));
  GgufValue bad = GgufValue::u8(0);
  bad.u = 300;
  EXPECT_THROW(w.set("k", bad), Error);
  EXPECT_THROW(w.set("k", GgufValue::int_array(GgufType::I8, {200})), Error);
  GgufValue nested;
  nested.type = GgufType::ARRAY;
  nested.elem = GgufType::ARRAY;
  EXPECT_THROW(w.set("k", nested), Error);
  GgufValue badtype;
  badtype.type = static_cast<GgufType>(13);
  EXPECT_THROW(w.set("k", badtype), Error);
  EXPECT_THROW(w.add_tensor("t", Shape{2, 3}, GgmlType::F32, std::vector<uint8_t>(23)), Error);
  EXPECT_THROW(w.add_tensor("t", Shape{33}, GgmlType::Q8_0, std::vector<uint8_t>(34)), Error);
  EXPECT_THROW(w.add_tensor("", Shape{1}, GgmlType::F32, std::vector<uint8_t>(4)), Error);
  EXPECT_THROW(w.add_tensor(std::string(64, 'x'), Shape{1}, GgmlType::F32, std::vector<uint8_t>(4)), Error);
  EXPECT_THROW(w.add_tensor("t", Shape{}, GgmlType::F32, {}), Error);
  EXPECT_THROW(w.add_tensor("t", Shape{256}, static_cast<GgmlType>(12), std::vector<uint8_t>(144)), Error);
  EXPECT_NO_THROW(w.add_tensor("t", Shape{1}, GgmlType::F32, std::vector<uint8_t>(4)));
  try {
    w.add_tensor("t", Shape{1}, GgmlType::F32, std::vector<uint8_t>(4));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("duplicate"), std::string::npos);
  }
}

TEST(GgufWriterArgs, FailedWriteLeavesNoFile) {
  const std::string dir = test::temp_dir("gguf_write_fail");
  GgufWriter w;
  w.add_tensor("t", Shape{1}, GgmlType::F32, std::vector<uint8_t>(4));
  EXPECT_THROW(w.write(dir + "/missing/sub/m.gguf"), Error);
  w.write(dir + "/m.gguf");
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1u);  // no temporary left beside it
}

}  // namespace
}  // namespace lm
