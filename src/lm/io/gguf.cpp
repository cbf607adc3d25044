// GGUF reader: every count, length and offset read from the file is checked against the bytes that remain
// before anything is allocated or addressed (files are untrusted). Layout in gguf.h; GgufValue accessors live
// here too.
#include "lm/io/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "lm/core/error.h"

namespace lm {

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kMaxI64 = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

// Names and keys in messages: non-printable bytes escaped, clipped to 200 bytes (they come from untrusted
// files).
std::string printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 200; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f || c == '\\')
      out += fmt::format("\\x{:02x}", c);
    else
      out += static_cast<char>(c);
  }
  if (s.size() > 200) out += "...";
  return out;
}

// Smallest encoding of one value of type t: bounds element counts before any allocation.
uint64_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
    case GgufType::STRING:
      return 8;  // the length
    case GgufType::ARRAY:
      return 12;  // element type + count
  }
  return 1;
}

// A bounds-checked cursor over the file image. `ctx` names the item being parsed ("kv 3 (general.name)");
// every failure throws BadFormat "FILE: CTX: WHAT".
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& file) : data_(data), size_(size), file_(file) {}

  std::string ctx;

  [[noreturn]] void fail(const std::string& what) const {
    if (ctx.empty()) throw Error(ErrorCode::BadFormat, fmt::format("{}: {}", file_, what));
    throw Error(ErrorCode::BadFormat, fmt::format("{}: {}: {}", file_, ctx, what));
  }
  size_t pos() const { return pos_; }
  uint64_t remaining() const { return size_ - pos_; }
  const std::string& file() const { return file_; }

  void need(uint64_t n, const char* what) const {
    if (n > remaining())
      fail(fmt::format("{} at offset {} needs {} bytes but the file ends at {} (truncated?)", what, pos_, n,
                       size_));
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const char* what) {
    const uint64_t n = read<uint64_t>(what);
    if (n > remaining())
      fail(fmt::format("{} of {} bytes at offset {} runs past the end of the file ({} bytes)", what, n, pos_,
                       size_));
    std::string s(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  GgufType type(const char* what) {
    const size_t at = pos_;
    const uint32_t code = read<uint32_t>(what);
    if (code > static_cast<uint32_t>(GgufType::F64))
      fail(fmt::format("{} {} at offset {} is not a GGUF value type (0..12)", what, code, at));
    return static_cast<GgufType>(code);
  }
  // Checks that `count` values of type t can fit in the bytes left; `what` names the counted thing.
  void check_count(uint64_t count, uint64_t min_bytes, const char* what) const {
    if (count > remaining() / min_bytes)
      fail(fmt::format("{} {} is implausible: the {} bytes left after offset {} hold at most {}", what, count,
                       remaining(), pos_, remaining() / min_bytes));
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& file_;
};

int64_t read_int(Reader& r, GgufType t) {
  switch (t) {
    case GgufType::U8:
      return r.read<uint8_t>("u8 value");
    case GgufType::I8:
      return r.read<int8_t>("i8 value");
    case GgufType::U16:
      return r.read<uint16_t>("u16 value");
    case GgufType::I16:
      return r.read<int16_t>("i16 value");
    case GgufType::U32:
      return r.read<uint32_t>("u32 value");
    case GgufType::I32:
      return r.read<int32_t>("i32 value");
    case GgufType::U64:
      return static_cast<int64_t>(r.read<uint64_t>("u64 value"));  // wraps above INT64_MAX
    case GgufType::I64:
      return r.read<int64_t>("i64 value");
    case GgufType::BOOL:
      return r.read<uint8_t>("bool value") != 0;
    default:
      break;
  }
  LM_ASSERT(false, "read_int of a non-integer type");
  return 0;
}

double read_float(Reader& r, GgufType t) {
  if (t == GgufType::F32) return r.read<float>("f32 value");
  return r.read<double>("f64 value");
}

// An array's elements after its type and count; arrays of arrays are walked (bounded depth) but not kept.
void read_array(Reader& r, GgufValue* v, int depth) {
  if (depth >= kGgufMaxArrayDepth)
    r.fail(fmt::format("arrays nest deeper than {} levels", kGgufMaxArrayDepth));
  const GgufType elem = r.type("array element type");
  const uint64_t count = r.read<uint64_t>("array element count");
  r.check_count(count, min_value_bytes(elem), "array element count");
  v->type = GgufType::ARRAY;
  v->elem = elem;
  v->count = count;
  const size_t n = static_cast<size_t>(count);
  if (elem == GgufType::STRING) {
    v->strings.reserve(n);
    for (size_t k = 0; k < n; ++k) v->strings.push_back(r.str("array string"));
  } else if (elem == GgufType::F32 || elem == GgufType::F64) {
    v->floats.reserve(n);
    for (size_t k = 0; k < n; ++k) v->floats.push_back(read_float(r, elem));
  } else if (elem == GgufType::ARRAY) {
    for (size_t k = 0; k < n; ++k) {
      GgufValue inner;
      read_array(r, &inner, depth + 1);
    }
  } else {
    v->ints.reserve(n);
    for (size_t k = 0; k < n; ++k) v->ints.push_back(read_int(r, elem));
  }
}

GgufValue read_value(Reader& r, GgufType t) {
  GgufValue v;
  v.type = t;
  if (t == GgufType::ARRAY) {
    read_array(r, &v, 0);
  } else if (t == GgufType::STRING) {
    v.s = r.str("string value");
  } else if (t == GgufType::F32 || t == GgufType::F64) {
    v.f = read_float(r, t);
  } else if (t == GgufType::BOOL) {
    v.b = r.read<uint8_t>("bool value") != 0;
  } else if (t == GgufType::U64) {
    v.u = r.read<uint64_t>("u64 value");
    v.i = v.u <= kMaxI64 ? static_cast<int64_t>(v.u) : 0;
  } else {
    v.i = read_int(r, t);
    v.u = v.i >= 0 ? static_cast<uint64_t>(v.i) : 0;
  }
  return v;
}

// Magic, version, counts. The counts are checked against the bytes left (a tensor info takes at least 33
// bytes, a KV at least 14) so that hostile counts never size an allocation.
void read_header(Reader& r, uint32_t* version, uint64_t* tensor_count, uint64_t* kv_count) {
  r.need(4, "magic");
  const uint32_t magic = r.read<uint32_t>("magic");
  if (magic != kGgufMagic)
    r.fail(fmt::format("not a GGUF file: it starts with bytes {:02x} {:02x} {:02x} {:02x}, not \"GGUF\"",
                       magic & 0xff, (magic >> 8) & 0xff, (magic >> 16) & 0xff, magic >> 24));
  const uint32_t v = r.read<uint32_t>("version");
  if (v == 1)
    throw Error(ErrorCode::Unsupported,
                fmt::format("{}: GGUF version 1 is not supported (2 and 3 are)", r.file()));
  if (v != 2 && v != 3) {
    if (v != 0 && (v & 0xffff) == 0 && __builtin_bswap32(v) <= 3)
      throw Error(ErrorCode::Unsupported,
                  fmt::format("{}: big-endian GGUF files are not supported", r.file()));
    r.fail(fmt::format("unknown GGUF version {} (2 and 3 are read)", v));
  }
  *version = v;
  *tensor_count = r.read<uint64_t>("tensor count");
  *kv_count = r.read<uint64_t>("kv count");
  r.check_count(*tensor_count, 33, "tensor count");
  r.check_count(*kv_count, 14, "kv count");
}

void read_kvs(Reader& r, uint64_t kv_count, std::vector<std::pair<std::string, GgufValue>>* kvs,
              std::unordered_map<std::string, size_t>* index) {
  kvs->reserve(static_cast<size_t>(kv_count));
  for (uint64_t k = 0; k < kv_count; ++k) {
    r.ctx = fmt::format("kv {}", k);
    std::string key = r.str("key");
    if (key.empty()) r.fail("empty key");
    r.ctx = fmt::format("kv {} ({})", k, printable(key));
    auto [it, fresh] = index->emplace(key, kvs->size());
    if (!fresh) r.fail(fmt::format("duplicate key (also kv {})", it->second));
    const GgufType t = r.type("value type");
    kvs->emplace_back(std::move(key), read_value(r, t));
  }
  r.ctx.clear();
}

uint64_t check_alignment(const Reader& r, const GgufValue* v) {
  if (!v) return kGgufDefaultAlignment;
  if (v->type != GgufType::U32)
    r.fail(fmt::format("general.alignment is a {}, not a u32", gguf_type_name(v->type)));
  if (v->u == 0 || (v->u & (v->u - 1)) != 0)
    r.fail(fmt::format("general.alignment {} is not a power of two", v->u));
  return v->u;
}

// One tensor info; `ctx` of r names it. nbytes stays 0 for type codes of unknown layout.
GgufTensorInfo read_tensor_info(Reader& r, uint64_t alignment) {
  GgufTensorInfo t;
  const uint32_t n_dims = r.read<uint32_t>("n_dims");
  if (n_dims < 1 || n_dims > static_cast<uint32_t>(Shape::kMaxDims))
    r.fail(fmt::format("n_dims {} is not in 1..{}", n_dims, Shape::kMaxDims));
  uint64_t ne[Shape::kMaxDims];
  uint64_t numel = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    ne[d] = r.read<uint64_t>("ne");
    if (ne[d] > kMaxI64) r.fail(fmt::format("ne[{}] = {} exceeds INT64_MAX", d, ne[d]));
    if (__builtin_mul_overflow(numel, ne[d], &numel) || numel > kMaxI64)
      r.fail(fmt::format("the element count (product of ne[0..{}]) overflows int64", d));
  }
  for (uint32_t d = n_dims; d-- > 0;) t.shape.push_back(static_cast<int64_t>(ne[d]));
  t.raw_type = r.read<uint32_t>("ggml type");
  t.offset = r.read<uint64_t>("offset");
  if (const GgmlTypeLayout* l = ggml_type_layout(t.raw_type)) {
    if (ne[0] % static_cast<uint64_t>(l->block) != 0)
      r.fail(fmt::format("ne[0] = {} is not a multiple of the {}-element block of {}", ne[0], l->block,
                         l->name));
    const uint64_t blocks = numel / static_cast<uint64_t>(l->block);
    if (__builtin_mul_overflow(blocks, static_cast<uint64_t>(l->bytes), &t.nbytes) || t.nbytes > kMaxI64)
      r.fail(fmt::format("the byte size of {} {} elements overflows int64", numel, l->name));
  }
  if (ggml_type_supported(t.raw_type)) t.type = static_cast<GgmlType>(t.raw_type);
  if (t.offset % alignment != 0)
    r.fail(fmt::format("offset {} is not a multiple of the alignment {}", t.offset, alignment));
  return t;
}

std::vector<GgufTensorInfo> read_tensor_infos(Reader& r, uint64_t count, uint64_t alignment,
                                              std::unordered_map<std::string, size_t>* index) {
  std::vector<GgufTensorInfo> tensors;
  tensors.reserve(static_cast<size_t>(count));
  for (uint64_t k = 0; k < count; ++k) {
    r.ctx = fmt::format("tensor {}", k);
    std::string name = r.str("name");
    if (name.empty()) r.fail("empty tensor name");
    r.ctx = fmt::format("tensor {} ({})", k, printable(name));
    auto [it, fresh] = index->emplace(name, tensors.size());
    if (!fresh) r.fail(fmt::format("duplicate tensor name (also tensor {})", it->second));
    tensors.push_back(read_tensor_info(r, alignment));
    tensors.back().name = std::move(name);
  }
  r.ctx.clear();
  return tensors;
}

// Data section after the padding; every tensor's bytes inside the file and no two tensors overlapping.
// Returns the data section's file offset.
uint64_t place_tensors(Reader& r, const uint8_t* data, size_t size, uint64_t alignment,
                       std::vector<GgufTensorInfo>* tensors) {
  const uint64_t data_offset = (r.pos() + alignment - 1) / alignment * alignment;
  if (tensors->empty()) return data_offset;  // a file without tensors may end before the padding
  if (data_offset > size)
    r.fail(fmt::format(
        "the data section would start at offset {} (tensor infos end at {}, alignment {}) but the "
        "file is {} bytes",
        data_offset, r.pos(), alignment, size));
  std::vector<size_t> order;
  for (size_t k = 0; k < tensors->size(); ++k) {
    GgufTensorInfo& t = (*tensors)[k];
    r.ctx = fmt::format("tensor {} ({})", k, printable(t.name));
    if (t.offset > size - data_offset)
      r.fail(fmt::format("data offset {} (file offset {}) lies past the end of the file ({} bytes)", t.offset,
                         data_offset + t.offset, size));
    const uint64_t begin = data_offset + t.offset;
    if (t.nbytes > size - begin)
      r.fail(fmt::format("data [{}, {}) runs past the end of the file ({} bytes)", begin, begin + t.nbytes,
                         size));
    t.bytes = std::span<const uint8_t>(data + begin, static_cast<size_t>(t.nbytes));
    if (t.nbytes) order.push_back(k);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return (*tensors)[a].offset < (*tensors)[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensorInfo& p = (*tensors)[order[k - 1]];
    const GgufTensorInfo& t = (*tensors)[order[k]];
    if (t.offset < p.offset + p.nbytes) {
      r.ctx = fmt::format("tensor {} ({})", order[k], printable(t.name));
      r.fail(fmt::format("data [{}, {}) overlaps tensor {} ({}) at [{}, {})", data_offset + t.offset,
                         data_offset + t.offset + t.nbytes, order[k - 1], printable(p.name),
                         data_offset + p.offset, data_offset + p.offset + p.nbytes));
    }
  }
  r.ctx.clear();
  return data_offset;
}

}  // namespace

// ---- GgufFile
// ---------------------------------------------------------------------------------------------------

GgufFile::~GgufFile() = default;
GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;

GgufFile::GgufFile(const std::string& path) : path_(path), map_(path) { parse(map_.data(), map_.size()); }

void GgufFile::parse(const uint8_t* data, size_t size) {
  Reader r(data, size, path_);
  uint64_t tensor_count = 0, kv_count = 0;
  read_header(r, &version_, &tensor_count, &kv_count);
  read_kvs(r, kv_count, &kvs_, &kv_index_);
  alignment_ = check_alignment(r, find("general.alignment"));
  tensors_ = read_tensor_infos(r, tensor_count, alignment_, &tensor_index_);
  data_offset_ = place_tensors(r, data, size, alignment_, &tensors_);
}

GgufFile GgufFile::from_memory(std::span<const uint8_t> bytes, const std::string& name) {
  GgufFile f;
  f.path_ = name;
  f.owned_ = Buffer(bytes.size());
  if (!bytes.empty()) std::memcpy(f.owned_.data(), bytes.data(), bytes.size());
  f.parse(f.owned_.as<const uint8_t>(), bytes.size());
  return f;
}

const GgufValue* GgufFile::find(const std::string& key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].second;
}

const GgufValue& GgufFile::get(const std::string& key) const {
  const GgufValue* v = find(key);
  LM_CHECK_AS(ErrorCode::NotFound, v != nullptr, "{}: no key {}", path_, printable(key));
  return *v;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

void GgufFile::read_f32(const std::string& name, float* dst, const Shape& expected) const {
  const GgufTensorInfo* t = find_tensor(name);
  LM_CHECK_AS(ErrorCode::NotFound, t != nullptr, "{}: no tensor {}", path_, printable(name));
  LM_CHECK_AS(ErrorCode::BadFormat, t->shape == expected, "{}: tensor {} has shape {}, expected {}", path_,
              printable(name), t->shape.str(), expected.str());
  if (!ggml_type_supported(t->raw_type)) {
    const GgmlTypeLayout* l = ggml_type_layout(t->raw_type);
    LM_THROW(ErrorCode::Unsupported,
             "{}: tensor {} has ggml type {} ({}); lmcpp converts f32, f16, bf16, q8_0 and "
             "q4_0",
             path_, printable(name), l ? l->name : "unknown", t->raw_type);
  }
  ggml_dequantize(t->type, t->bytes.data(), t->shape.numel(), dst);
}

}  // namespace lm
