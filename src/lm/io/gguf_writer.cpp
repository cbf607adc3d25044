// GGUF writer: the header, KVs and tensor infos are built in memory, then the tensor data streams after them,
// each tensor at the next multiple of the alignment and zero-padded to one (layout in gguf.h).
#include <cstring>
#include <limits>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/io/gguf.h"

namespace lm {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint32_t kGgufVersion = 3;
constexpr size_t kMaxTensorName = 63;  // llama.cpp refuses names of GGML_MAX_NAME (64) bytes or more

uint64_t pad_to(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

struct Out {
  std::vector<uint8_t> b;
  template <typename T>
  void put(T v) {
    const size_t at = b.size();
    b.resize(at + sizeof(T));
    std::memcpy(b.data() + at, &v, sizeof(T));
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
  }
};

// The representable range of an integer type, as [lo, hi] over int64 (U64: every int64 bit pattern).
bool int_range(GgufType t, int64_t* lo, int64_t* hi) {
  switch (t) {
    case GgufType::U8:
      *lo = 0, *hi = 0xff;
      return true;
    case GgufType::I8:
      *lo = -128, *hi = 127;
      return true;
    case GgufType::U16:
      *lo = 0, *hi = 0xffff;
      return true;
    case GgufType::I16:
      *lo = -32768, *hi = 32767;
      return true;
    case GgufType::U32:
      *lo = 0, *hi = 0xffffffffLL;
      return true;
    case GgufType::I32:
      *lo = std::numeric_limits<int32_t>::min(), *hi = std::numeric_limits<int32_t>::max();
      return true;
    case GgufType::BOOL:
    case GgufType::U64:
    case GgufType::I64:
      *lo = std::numeric_limits<int64_t>::min(), *hi = std::numeric_limits<int64_t>::max();
      return true;
    default:
      return false;
  }
}

bool is_unsigned(GgufType t) {
  return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64;
}

// Writes the integer x (the value's bits for U64) as type t; range checked beforehand.
void put_int(Out& o, GgufType t, int64_t x) {
  switch (t) {
    case GgufType::U8:
      o.put<uint8_t>(static_cast<uint8_t>(x));
      return;
    case GgufType::I8:
      o.put<int8_t>(static_cast<int8_t>(x));
      return;
    case GgufType::U16:
      o.put<uint16_t>(static_cast<uint16_t>(x));
      return;
    case GgufType::I16:
      o.put<int16_t>(static_cast<int16_t>(x));
      return;
    case GgufType::U32:
      o.put<uint32_t>(static_cast<uint32_t>(x));
      return;
    case GgufType::I32:
      o.put<int32_t>(static_cast<int32_t>(x));
      return;
    case GgufType::U64:
      o.put<uint64_t>(static_cast<uint64_t>(x));
      return;
    case GgufType::I64:
      o.put<int64_t>(x);
      return;
    case GgufType::BOOL:
      o.put<uint8_t>(x != 0);
      return;
    default:
      LM_ASSERT(false, "put_int of a non-integer type");
  }
}

// InvalidArgument unless v can be written as it is.
void check_writable(const std::string& key, const GgufValue& v) {
  const uint32_t code = static_cast<uint32_t>(v.type);
  LM_CHECK(code <= static_cast<uint32_t>(GgufType::F64), "GGUF key {}: invalid value type code {}", key,
           code);
  int64_t lo, hi;
  if (v.type == GgufType::ARRAY) {
    const uint32_t ec = static_cast<uint32_t>(v.elem);
    LM_CHECK(ec <= static_cast<uint32_t>(GgufType::F64), "GGUF key {}: invalid array element type code {}",
             key, ec);
    LM_CHECK(v.elem != GgufType::ARRAY, "GGUF key {}: arrays of arrays cannot be written", key);
    if (int_range(v.elem, &lo, &hi))
      for (int64_t x : v.ints)
        LM_CHECK(x >= lo && x <= hi, "GGUF key {}: array element {} does not fit in {}", key, x,
                 gguf_type_name(v.elem));
  } else if (v.type != GgufType::BOOL && v.type != GgufType::U64 && int_range(v.type, &lo, &hi)) {
    if (is_unsigned(v.type))
      LM_CHECK(v.u <= static_cast<uint64_t>(hi), "GGUF key {}: value {} does not fit in {}", key, v.u,
               gguf_type_name(v.type));
    else
      LM_CHECK(v.i >= lo && v.i <= hi, "GGUF key {}: value {} does not fit in {}", key, v.i,
               gguf_type_name(v.type));
  }
}

void put_value(Out& o, const GgufValue& v) {
  o.put<uint32_t>(static_cast<uint32_t>(v.type));
  switch (v.type) {
    case GgufType::F32:
      o.put<float>(static_cast<float>(v.f));
      return;
    case GgufType::F64:
      o.put<double>(v.f);
      return;
    case GgufType::BOOL:
      o.put<uint8_t>(v.b ? 1 : 0);
      return;
    case GgufType::STRING:
      o.str(v.s);
      return;
    case GgufType::ARRAY:
      break;
    default:
      put_int(o, v.type, is_unsigned(v.type) ? static_cast<int64_t>(v.u) : v.i);
      return;
  }
  o.put<uint32_t>(static_cast<uint32_t>(v.elem));
  if (v.elem == GgufType::STRING) {
    o.put<uint64_t>(v.strings.size());
    for (const std::string& s : v.strings) o.str(s);
  } else if (v.elem == GgufType::F32 || v.elem == GgufType::F64) {
    o.put<uint64_t>(v.floats.size());
    for (double f : v.floats) {
      if (v.elem == GgufType::F32)
        o.put<float>(static_cast<float>(f));
      else
        o.put<double>(f);
    }
  } else {
    o.put<uint64_t>(v.ints.size());
    for (int64_t x : v.ints) put_int(o, v.elem, x);
  }
}

}  // namespace

GgufWriter::GgufWriter(uint64_t alignment) : alignment_(alignment) {
  LM_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0 && alignment <= 0x80000000ULL,
           "GGUF alignment {} is not a power of two that fits in a u32", alignment);
}

void GgufWriter::set(const std::string& key, GgufValue v) {
  LM_CHECK(!key.empty(), "GGUF keys must not be empty");
  check_writable(key, v);
  if (key == "general.alignment")
    LM_CHECK(v.type == GgufType::U32 && v.u == alignment_,
             "general.alignment must be the u32 {} this writer aligns to", alignment_);
  for (auto& kv : kvs_) {
    if (kv.first == key) {
      kv.second = std::move(v);
      return;
    }
  }
  kvs_.emplace_back(key, std::move(v));
}

void GgufWriter::add_tensor(const std::string& name, const Shape& shape, GgmlType type,
                            std::vector<uint8_t> data) {
  LM_CHECK(!name.empty() && name.size() <= kMaxTensorName, "GGUF tensor name \"{}\" must have 1 to {} bytes",
           name, kMaxTensorName);
  for (const PendingTensor& t : tensors_) LM_CHECK(t.name != name, "duplicate GGUF tensor name {}", name);
  LM_CHECK(shape.ndim() >= 1 && shape.ndim() <= Shape::kMaxDims,
           "GGUF tensor {}: shape {} must have 1 to {} dims", name, shape.str(), Shape::kMaxDims);
  LM_CHECK(ggml_type_supported(static_cast<uint32_t>(type)), "GGUF tensor {}: ggml type {} cannot be written",
           name, static_cast<uint32_t>(type));
  int64_t rows = 1, bytes = 0;
  for (int d = 0; d + 1 < shape.ndim(); ++d)
    LM_CHECK(!__builtin_mul_overflow(rows, shape[d], &rows), "GGUF tensor {}: shape {} overflows", name,
             shape.str());
  const int64_t row = ggml_row_bytes(type, shape[-1]);
  LM_CHECK(!__builtin_mul_overflow(rows, row, &bytes), "GGUF tensor {}: shape {} overflows", name,
           shape.str());
  LM_CHECK(static_cast<uint64_t>(bytes) == data.size(), "GGUF tensor {}: {} {} needs {} bytes, got {}", name,
           shape.str(), ggml_type_name(type), bytes, data.size());
  tensors_.push_back({name, shape, type, std::move(data)});
}

void GgufWriter::add_tensor_f32(const std::string& name, const Shape& shape, GgmlType type,
                                const float* values) {
  LM_CHECK(shape.ndim() >= 1, "GGUF tensor {}: shape {} must have 1 to {} dims", name, shape.str(),
           Shape::kMaxDims);
  ggml_row_bytes(type, shape[-1]);  // checks the row length before the whole tensor is converted as one row
  std::vector<uint8_t> data(static_cast<size_t>(ggml_row_bytes(type, shape.numel())));
  ggml_quantize(type, values, shape.numel(), data.data());
  add_tensor(name, shape, type, std::move(data));
}

std::vector<uint8_t> GgufWriter::header_bytes() const {
  Out o;
  o.put<uint32_t>(kGgufMagic);
  o.put<uint32_t>(kGgufVersion);
  o.put<uint64_t>(tensors_.size());
  bool has_alignment = false;
  for (const auto& kv : kvs_) has_alignment = has_alignment || kv.first == "general.alignment";
  const bool add_alignment = alignment_ != kGgufDefaultAlignment && !has_alignment;
  o.put<uint64_t>(kvs_.size() + (add_alignment ? 1 : 0));
  if (add_alignment) {
    o.str("general.alignment");
    put_value(o, GgufValue::u32(static_cast<uint32_t>(alignment_)));
  }
  for (const auto& [key, v] : kvs_) {
    o.str(key);
    put_value(o, v);
  }
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    o.str(t.name);
    o.put<uint32_t>(static_cast<uint32_t>(t.shape.ndim()));
    for (int d = t.shape.ndim() - 1; d >= 0; --d)
      o.put<uint64_t>(static_cast<uint64_t>(t.shape[d]));  // ne[0] innermost
    o.put<uint32_t>(static_cast<uint32_t>(t.type));
    o.put<uint64_t>(offset);
    offset += pad_to(t.data.size(), alignment_);
  }
  o.b.resize(pad_to(o.b.size(), alignment_), 0);
  return std::move(o.b);
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
  std::vector<uint8_t> b = header_bytes();
  for (const PendingTensor& t : tensors_) {
    b.insert(b.end(), t.data.begin(), t.data.end());
    b.resize(pad_to(b.size(), alignment_), 0);
  }
  return b;
}

void GgufWriter::write(const std::string& path) const {
  const std::vector<uint8_t> header = header_bytes();
  const std::vector<uint8_t> zeros(alignment_, 0);
  AtomicFile f(path);
  f.write(header.data(), header.size());
  for (const PendingTensor& t : tensors_) {
    f.write(t.data.data(), t.data.size());
    f.write(zeros.data(), pad_to(t.data.size(), alignment_) - t.data.size());
  }
  f.commit();
}

}  // namespace lm
