// safetensors: header validation (mirrors safetensors/src/tensor.rs read_metadata + Metadata::validate, plus duplicate
// keys, exact entry keys and metadata types, which serde checks implicitly), tensor views, f32 conversion, writer.
// Layout and ordering rules are documented in safetensors.h.
#include "lm/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <mutex>
#include <set>
#include <unordered_set>

#include "lm/core/file_util.h"
#include "lm/core/json.h"

namespace lm {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian; big-endian hosts unsupported");

namespace {

// JSON nesting deeper than this cannot be a valid header (entry values nest 2 levels); refusing early bounds the
// parser's memory on hostile inputs such as 100 MB of '['.
constexpr int kMaxJsonDepth = 16;

// Element sizes and the Rust crate's Dtype enum rank (its sort key for writing) of every safetensors dtype name.
struct DTypeInfo {
  std::string_view name;
  size_t size;  // bytes per element; 0 = sub-byte type (F4, F6_*), which lmcpp rejects before size checks
  int rank;     // position in the Rust crate's Dtype enum (the writer sorts by it, descending)
};
constexpr DTypeInfo kDTypes[] = {
    {"BOOL", 1, 0},   {"U8", 1, 1},      {"I8", 1, 2},      {"F8_E5M2", 1, 3}, {"F8_E4M3", 1, 4},
    {"I16", 2, 5},    {"U16", 2, 6},     {"F16", 2, 7},     {"BF16", 2, 8},    {"I32", 4, 9},
    {"U32", 4, 10},   {"F32", 4, 11},    {"F64", 8, 12},    {"I64", 8, 13},    {"U64", 8, 14},
    {"F8_E8M0", 1, 15}, {"C64", 8, 16},  {"F4", 0, 17},     {"F6_E2M3", 0, 18}, {"F6_E3M2", 0, 19},
};

const DTypeInfo* find_dtype_info(std::string_view name) {
  for (const auto& d : kDTypes)
    if (d.name == name) return &d;
  return nullptr;
}

int dtype_rank(DType t) {
  const DTypeInfo* d = find_dtype_info(dtype_safetensors_name(t));
  LM_ASSERT(d != nullptr, "dtype {} has no safetensors name", dtype_name(t));
  return d->rank;
}

uint64_t load_le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Short description of a JSON value for error messages.
std::string describe(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

// Tensor names in messages: quoted, clipped, control bytes escaped (names come from untrusted files).
std::string quote(std::string_view name) {
  std::string s = Json(std::string(name.substr(0, 200))).dump(-1, ' ', false, Json::error_handler_t::replace);
  return name.size() > 200 ? s + "..." : s;
}

// A header entry while validating, before it becomes a SafetensorsEntry.
struct RawEntry {
  std::string name;
  const DTypeInfo* dtype = nullptr;
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;
};

// Throws BadFormat naming the file: every well-formedness check of the header reports through it.
struct HeaderError {
  const std::string& file;
  [[noreturn]] void operator()(const std::string& what) const {
    throw Error(ErrorCode::BadFormat, fmt::format("{}, in safetensors file {}", what, file));
  }
};

// The header's n bytes of JSON text, parsed with duplicate keys (nlohmann keeps the last silently) and nesting
// depth checked while parsing; the result is an object.
Json parse_header_json(const uint8_t* text, uint64_t n, const HeaderError& bad) {
  std::vector<std::unordered_set<std::string>> open;  // keys seen per open object (arrays push an empty set)
  std::string top_key;                                 // the tensor whose entry is being parsed
  auto where = [&]() { return open.size() <= 1 ? std::string("the header") : "the entry of " + quote(top_key); };
  auto callback = [&](int /*depth*/, Json::parse_event_t ev, Json& parsed) -> bool {
    switch (ev) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        if (open.size() >= kMaxJsonDepth) bad(fmt::format("header JSON nests deeper than {} levels", kMaxJsonDepth));
        open.emplace_back();
        break;
      case Json::parse_event_t::object_end:
      case Json::parse_event_t::array_end:
        if (!open.empty()) open.pop_back();
        break;
      case Json::parse_event_t::key: {
        const std::string& k = parsed.get_ref<const std::string&>();
        if (open.size() == 1) top_key = k;
        if (!open.empty() && !open.back().insert(k).second) {
          if (open.size() == 1)
            bad(fmt::format("duplicate key {} in the header (tensor names must be unique)", quote(k)));
          bad(fmt::format("duplicate key {} in {}", quote(k), where()));
        }
        break;
      }
      case Json::parse_event_t::value: break;
    }
    return true;
  };
  // nlohmann stops at a NUL as if the input ended, so "{}\0junk" would pass; a NUL is never valid JSON text.
  if (const void* z = std::memchr(text, 0, n))
    bad(fmt::format("header contains a NUL byte at header offset {}", static_cast<const uint8_t*>(z) - text));
  Json header;
  try {
    const char* h = reinterpret_cast<const char*>(text);
    header = Json::parse(h, h + n, callback, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const Json::exception& e) {
    bad(fmt::format("header is not valid JSON: {}", e.what()));
  }
  if (!header.is_object()) bad(fmt::format("header is a JSON {}, not an object", header.type_name()));
  return header;
}

// One tensor entry {"dtype", "shape", "data_offsets"} checked against the dtype table and the data section.
RawEntry parse_entry(const std::string& key, const Json& val, uint64_t data_size, const HeaderError& bad) {
  const std::string t = "tensor " + quote(key);
  if (!val.is_object()) bad(fmt::format("{}: entry is a JSON {}, not an object", t, val.type_name()));
  for (auto& [ek, ev] : val.items()) {
    (void)ev;
    if (ek != "dtype" && ek != "shape" && ek != "data_offsets")
      bad(fmt::format("{}: unexpected key {} (entries hold exactly dtype, shape, data_offsets)", t, quote(ek)));
  }
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!val.contains(k)) bad(fmt::format("{}: missing \"{}\"", t, k));
  RawEntry e;
  e.name = key;

  const Json& dt = val["dtype"];
  if (!dt.is_string()) bad(fmt::format("{}: dtype is a JSON {} ({}), not a string", t, dt.type_name(), describe(dt)));
  e.dtype = find_dtype_info(dt.get_ref<const std::string&>());
  if (!e.dtype) bad(fmt::format("{}: unknown dtype {}", t, quote(dt.get_ref<const std::string&>())));
  if (e.dtype->size == 0)
    throw Error(ErrorCode::Unsupported, fmt::format("{}: dtype {} (sub-byte) is not supported by lmcpp, in safetensors "
                                                    "file {}", t, e.dtype->name, bad.file));

  const Json& sh = val["shape"];
  if (!sh.is_array()) bad(fmt::format("{}: shape is a JSON {}, not an array", t, sh.type_name()));
  uint64_t numel = 1;
  bool overflow = false;
  for (const Json& d : sh) {
    if (!d.is_number_unsigned())
      bad(fmt::format("{}: shape {} has an entry that is not a non-negative integer", t, describe(sh)));
    uint64_t v = d.get<uint64_t>();
    e.shape.push_back(v);
    overflow = overflow || __builtin_mul_overflow(numel, v, &numel);
  }
  uint64_t nbytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, static_cast<uint64_t>(e.dtype->size), &nbytes);
  if (overflow) bad(fmt::format("{}: shape {} of {} overflows 64-bit byte counts", t, describe(sh), e.dtype->name));

  const Json& off = val["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    bad(fmt::format("{}: data_offsets {} is not a pair of non-negative integers", t, describe(off)));
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.end < e.begin) bad(fmt::format("{}: data_offsets [{},{}] end before they begin", t, e.begin, e.end));
  if (e.end > data_size)
    bad(fmt::format("{}: data_offsets [{},{}] run past the end of the {}-byte data section", t, e.begin, e.end,
                    data_size));
  if (e.end - e.begin != nbytes)
    bad(fmt::format("{}: data_offsets [{},{}] span {} bytes but shape {} of {} needs {}", t, e.begin, e.end,
                    e.end - e.begin, describe(sh), e.dtype->name, nbytes));
  return e;
}

// Coverage: sorted by offsets, the tensors must tile [0, data_size) exactly (tensor.rs Metadata::validate).
// Returns the entries' indices in that order.
std::vector<size_t> check_coverage(const std::vector<RawEntry>& raw, uint64_t data_size, const HeaderError& bad) {
  std::vector<size_t> order(raw.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (raw[a].begin != raw[b].begin) return raw[a].begin < raw[b].begin;
    if (raw[a].end != raw[b].end) return raw[a].end < raw[b].end;
    return raw[a].name < raw[b].name;
  });
  uint64_t covered = 0;
  const RawEntry* prev = nullptr;
  for (size_t i : order) {
    const RawEntry& e = raw[i];
    if (e.begin > covered)
      bad(fmt::format("hole: data bytes [{},{}) before tensor {} belong to no tensor", covered, e.begin, quote(e.name)));
    if (e.begin < covered)
      bad(fmt::format("tensor {} at data_offsets [{},{}] overlaps tensor {} at [{},{}]", quote(e.name), e.begin, e.end,
                      quote(prev->name), prev->begin, prev->end));
    covered = e.end;
    prev = &e;
  }
  if (covered != data_size)
    bad(fmt::format("hole: data bytes [{},{}) at the end of the data section belong to no tensor{}", covered, data_size,
                    prev ? " (last tensor " + quote(prev->name) + ")" : std::string()));
  return order;
}

// A validated entry as lmcpp represents it; Unsupported for dtypes, ranks and dimensions lmcpp cannot hold.
SafetensorsEntry to_entry(RawEntry& r, const uint8_t* data_section, const std::string& file) {
  const std::string t = "tensor " + quote(r.name);
  DType dt;
  if (!dtype_from_safetensors(r.dtype->name, &dt))
    throw Error(ErrorCode::Unsupported,
                fmt::format("{}: dtype {} is not supported by lmcpp (F32, BF16, F16, I32, I64, U16, U32, U8 are), in "
                            "safetensors file {}", t, r.dtype->name, file));
  if (r.shape.size() > static_cast<size_t>(Shape::kMaxDims))
    throw Error(ErrorCode::Unsupported, fmt::format("{}: rank {} exceeds lmcpp's limit of {} dimensions, in "
                                                    "safetensors file {}", t, r.shape.size(), Shape::kMaxDims, file));
  SafetensorsEntry e;
  for (uint64_t d : r.shape) {
    if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw Error(ErrorCode::Unsupported, fmt::format("{}: dimension {} too large, in safetensors file {}", t, d, file));
    e.shape.push_back(static_cast<int64_t>(d));
  }
  e.name = std::move(r.name);
  e.dtype = dt;
  e.begin = r.begin;
  e.end = r.end;
  e.bytes = std::span<const uint8_t>(data_section + r.begin, r.end - r.begin);
  return e;
}

}  // namespace

struct SafetensorsFile::CopyCache {
  std::mutex mu;
  std::unordered_map<std::string, Buffer> copies;
};

SafetensorsFile::~SafetensorsFile() = default;
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;

SafetensorsFile::SafetensorsFile(const std::string& path) : path_(path), map_(path) {
  parse(map_.data(), map_.size());
}

SafetensorsFile SafetensorsFile::from_memory(std::span<const uint8_t> bytes, const std::string& name) {
  SafetensorsFile f;
  f.path_ = name;
  f.owned_ = Buffer(bytes.size());
  if (!bytes.empty()) std::memcpy(f.owned_.data(), bytes.data(), bytes.size());
  f.parse(f.owned_.as<const uint8_t>(), bytes.size());
  return f;
}

void SafetensorsFile::parse(const uint8_t* data, size_t size) {
  copies_ = std::make_unique<CopyCache>();
  const HeaderError bad{path_};

  // 8-byte length, header bounds.
  if (size < 8) bad(fmt::format("file is {} bytes, shorter than the 8-byte header length", size));
  uint64_t n = load_le64(data);
  if (n > kSafetensorsMaxHeader)
    bad(fmt::format("header length {} exceeds the limit of {} bytes", n, kSafetensorsMaxHeader));
  if (n > size - 8)
    bad(fmt::format("header length {} runs past the end of the file ({} bytes, truncated?)", n, size));
  if (n == 0 || data[8] != '{') bad("header does not start with '{'");
  const uint64_t data_size = size - 8 - n;
  const uint8_t* data_section = data + 8 + n;

  Json header = parse_header_json(data + 8, n, bad);

  // Entries.
  std::vector<RawEntry> raw;
  raw.reserve(header.size());
  for (auto& [key, val] : header.items()) {
    if (key == "__metadata__") {
      if (val.is_null()) continue;  // serde's Option accepts null
      if (!val.is_object()) bad(fmt::format("\"__metadata__\" is a JSON {}, not an object of strings", val.type_name()));
      for (auto& [mk, mv] : val.items()) {
        if (!mv.is_string())
          bad(fmt::format("\"__metadata__\" value of key {} is a JSON {} ({}), not a string", quote(mk), mv.type_name(),
                          describe(mv)));
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    raw.push_back(parse_entry(key, val, data_size, bad));
  }

  std::vector<size_t> order = check_coverage(raw, data_size, bad);

  // Well-formed; now what lmcpp can represent.
  entries_.reserve(raw.size());
  for (size_t i : order) {
    SafetensorsEntry e = to_entry(raw[i], data_section, bad.file);
    index_.emplace(e.name, entries_.size());
    entries_.push_back(std::move(e));
  }
  data_size_ = data_size;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  LM_CHECK_AS(ErrorCode::NotFound, e != nullptr, "tensor {} not found, in safetensors file {}", quote(name), path_);
  return *e;
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const uint8_t* p = e.bytes.data();
  if (e.bytes.empty() || reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype) == 0)
    return Tensor(const_cast<uint8_t*>(p), e.shape, e.dtype);
  std::lock_guard<std::mutex> lock(copies_->mu);
  auto it = copies_->copies.find(name);
  if (it == copies_->copies.end()) {
    Buffer b(e.bytes.size());
    std::memcpy(b.data(), p, e.bytes.size());
    it = copies_->copies.emplace(name, std::move(b)).first;
  }
  return Tensor(it->second.data(), e.shape, e.dtype);
}

void SafetensorsFile::read_f32(const std::string& name, float* dst, const Shape& expected) const {
  const SafetensorsEntry& e = entry(name);
  LM_CHECK_AS(ErrorCode::BadFormat, e.shape == expected, "tensor {} has shape {}, expected {}, in safetensors file {}",
              quote(name), e.shape.str(), expected.str(), path_);
  const uint8_t* p = e.bytes.data();
  const size_t n = static_cast<size_t>(e.shape.numel());
  switch (e.dtype) {
    case DType::F32:
      if (n) std::memcpy(dst, p, n * 4);
      return;
    case DType::BF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    case DType::F16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    default:
      LM_THROW(ErrorCode::Unsupported, "tensor {} has dtype {}; only F32, BF16 and F16 convert to f32, in safetensors "
               "file {}", quote(name), dtype_safetensors_name(e.dtype), path_);
  }
}

std::string safetensors_header(const std::vector<NamedTensor>& tensors,
                               const std::map<std::string, std::string>& metadata, std::vector<size_t>* order) {
  auto json_str = [](const std::string& s, const char* what) {
    try {
      return Json(s).dump();
    } catch (const Json::exception&) {
      LM_THROW(ErrorCode::InvalidArgument, "safetensors {} {} is not valid UTF-8", what, quote(s));
    }
  };
  std::set<std::string_view> names;
  for (const NamedTensor& nt : tensors) {
    LM_CHECK(nt.name != "__metadata__", "tensor name \"__metadata__\" is reserved by safetensors");
    LM_CHECK(names.insert(nt.name).second, "duplicate tensor name {} for safetensors", quote(nt.name));
    LM_CHECK(nt.tensor.device == Device::CPU, "tensor {} must be on the CPU to be saved", quote(nt.name));
    LM_CHECK(nt.tensor.data != nullptr || nt.tensor.nbytes() == 0, "tensor {} has no data", quote(nt.name));
  }
  order->resize(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) (*order)[i] = i;
  std::sort(order->begin(), order->end(), [&](size_t a, size_t b) {
    int ra = dtype_rank(tensors[a].tensor.dtype), rb = dtype_rank(tensors[b].tensor.dtype);
    if (ra != rb) return ra > rb;
    return tensors[a].name < tensors[b].name;
  });

  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) h += ',';
      first = false;
      h += json_str(k, "metadata key");
      h += ':';
      h += json_str(v, "metadata value");
    }
    h += '}';
  }
  uint64_t offset = 0;
  for (size_t i : *order) {
    const NamedTensor& nt = tensors[i];
    if (h.size() > 1) h += ',';
    h += json_str(nt.name, "tensor name");
    h += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[", dtype_safetensors_name(nt.tensor.dtype));
    for (int d = 0; d < nt.tensor.ndim(); ++d) h += fmt::format("{}{}", d ? "," : "", nt.tensor.dim(d));
    uint64_t nb = nt.tensor.nbytes();
    h += fmt::format("],\"data_offsets\":[{},{}]}}", offset, offset + nb);
    offset += nb;
  }
  h += '}';
  h.append((8 - h.size() % 8) % 8, ' ');
  uint64_t n = h.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + h;
}

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<size_t> order;
  std::string header = safetensors_header(tensors, metadata, &order);
  AtomicFile f(path);
  f.write(header);
  for (size_t i : order) f.write(tensors[i].tensor.data, tensors[i].tensor.nbytes());
  f.commit();
}

}  // namespace lm
