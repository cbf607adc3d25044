// GgufValue: constructors for writing and typed reads that name the key in their errors (layout in gguf.h).
#include <limits>

#include "lm/core/error.h"
#include "lm/io/gguf.h"

namespace lm {

namespace {

constexpr uint64_t kMaxI64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

bool is_int_type(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::U16:
    case GgufType::I16:
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::U64:
    case GgufType::I64:
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8:
      return "u8";
    case GgufType::I8:
      return "i8";
    case GgufType::U16:
      return "u16";
    case GgufType::I16:
      return "i16";
    case GgufType::U32:
      return "u32";
    case GgufType::I32:
      return "i32";
    case GgufType::F32:
      return "f32";
    case GgufType::BOOL:
      return "bool";
    case GgufType::STRING:
      return "string";
    case GgufType::ARRAY:
      return "array";
    case GgufType::U64:
      return "u64";
    case GgufType::I64:
      return "i64";
    case GgufType::F64:
      return "f64";
  }
  return "?";
}

// ---- GgufValue
// --------------------------------------------------------------------------------------------------

namespace {
GgufValue int_value(GgufType t, int64_t i, uint64_t u) {
  GgufValue v;
  v.type = t;
  v.i = i;
  v.u = u;
  return v;
}
}  // namespace

GgufValue GgufValue::u8(uint8_t x) { return int_value(GgufType::U8, x, x); }
GgufValue GgufValue::i8(int8_t x) {
  return int_value(GgufType::I8, x, x >= 0 ? static_cast<uint64_t>(x) : 0);
}
GgufValue GgufValue::u16(uint16_t x) { return int_value(GgufType::U16, x, x); }
GgufValue GgufValue::i16(int16_t x) {
  return int_value(GgufType::I16, x, x >= 0 ? static_cast<uint64_t>(x) : 0);
}
GgufValue GgufValue::u32(uint32_t x) { return int_value(GgufType::U32, x, x); }
GgufValue GgufValue::i32(int32_t x) {
  return int_value(GgufType::I32, x, x >= 0 ? static_cast<uint64_t>(x) : 0);
}
GgufValue GgufValue::u64(uint64_t x) {
  return int_value(GgufType::U64, x <= kMaxI64 ? static_cast<int64_t>(x) : 0, x);
}
GgufValue GgufValue::i64(int64_t x) {
  return int_value(GgufType::I64, x, x >= 0 ? static_cast<uint64_t>(x) : 0);
}

GgufValue GgufValue::f32(float x) {
  GgufValue v;
  v.type = GgufType::F32;
  v.f = x;
  return v;
}
GgufValue GgufValue::f64(double x) {
  GgufValue v;
  v.type = GgufType::F64;
  v.f = x;
  return v;
}
GgufValue GgufValue::boolean(bool x) {
  GgufValue v;
  v.type = GgufType::BOOL;
  v.b = x;
  return v;
}
GgufValue GgufValue::str(std::string x) {
  GgufValue v;
  v.type = GgufType::STRING;
  v.s = std::move(x);
  return v;
}
GgufValue GgufValue::str_array(std::vector<std::string> x) {
  GgufValue v;
  v.type = GgufType::ARRAY;
  v.elem = GgufType::STRING;
  v.count = x.size();
  v.strings = std::move(x);
  return v;
}
GgufValue GgufValue::int_array(GgufType elem, std::vector<int64_t> x) {
  LM_CHECK(is_int_type(elem) || elem == GgufType::BOOL, "int_array: element type {} is not an integer type",
           gguf_type_name(elem));
  GgufValue v;
  v.type = GgufType::ARRAY;
  v.elem = elem;
  v.count = x.size();
  v.ints = std::move(x);
  return v;
}
GgufValue GgufValue::float_array(GgufType elem, std::vector<double> x) {
  LM_CHECK(elem == GgufType::F32 || elem == GgufType::F64, "float_array: element type {} is not f32 or f64",
           gguf_type_name(elem));
  GgufValue v;
  v.type = GgufType::ARRAY;
  v.elem = elem;
  v.count = x.size();
  v.floats = std::move(x);
  return v;
}
GgufValue GgufValue::i32_array(std::vector<int32_t> x) {
  return int_array(GgufType::I32, std::vector<int64_t>(x.begin(), x.end()));
}
GgufValue GgufValue::f32_array(std::vector<float> x) {
  return float_array(GgufType::F32, std::vector<double>(x.begin(), x.end()));
}

int64_t GgufValue::as_int(const std::string& key) const {
  LM_CHECK_AS(ErrorCode::BadFormat, is_int_type(type), "{}: expected an integer, got {}", key,
              gguf_type_name(type));
  LM_CHECK_AS(ErrorCode::BadFormat, type != GgufType::U64 || u <= kMaxI64,
              "{}: u64 value {} exceeds the int64 range", key, u);
  return type == GgufType::U64 ? static_cast<int64_t>(u) : i;
}

double GgufValue::as_float(const std::string& key) const {
  if (type == GgufType::F32 || type == GgufType::F64) return f;
  LM_CHECK_AS(ErrorCode::BadFormat, is_int_type(type), "{}: expected a number, got {}", key,
              gguf_type_name(type));
  return type == GgufType::U64 ? static_cast<double>(u) : static_cast<double>(i);
}

bool GgufValue::as_bool(const std::string& key) const {
  LM_CHECK_AS(ErrorCode::BadFormat, type == GgufType::BOOL, "{}: expected a bool, got {}", key,
              gguf_type_name(type));
  return b;
}

const std::string& GgufValue::as_string(const std::string& key) const {
  LM_CHECK_AS(ErrorCode::BadFormat, type == GgufType::STRING, "{}: expected a string, got {}", key,
              gguf_type_name(type));
  return s;
}

}  // namespace lm
