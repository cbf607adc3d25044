// libFuzzer target for the GGUF reader: arbitrary bytes must either parse or throw lm::Error, never crash.
// Parsed files have every convertible tensor read as f32, then are rewritten with GgufWriter (same alignment,
// KVs and tensor bytes) and re-read, which must reproduce every KV and tensor. Seeds in
// tests/fuzz/corpus/gguf/ are small files made by GgufWriter (and one hand-made file with a nested array and
// a q4_k tensor).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lm/core/error.h"
#include "lm/io/gguf.h"

namespace {

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

bool same_value(const lm::GgufValue& a, const lm::GgufValue& b) {
  if (a.type != b.type || a.u != b.u || a.i != b.i || !same_bits(a.f, b.f) || a.b != b.b || a.s != b.s)
    return false;
  if (a.type != lm::GgufType::ARRAY) return true;
  if (a.elem != b.elem || a.count != b.count || a.ints != b.ints || a.strings != b.strings) return false;
  if (a.floats.size() != b.floats.size()) return false;
  for (size_t k = 0; k < a.floats.size(); ++k)
    if (!same_bits(a.floats[k], b.floats[k])) return false;
  return true;
}

// Files the writer can reproduce: no arrays of arrays, tensor names llama.cpp accepts, only convertible
// types.
bool rewritable(const lm::GgufFile& f) {
  for (const auto& kv : f.kvs())
    if (kv.second.type == lm::GgufType::ARRAY && kv.second.elem == lm::GgufType::ARRAY) return false;
  for (const lm::GgufTensorInfo& t : f.tensors())
    if (t.name.size() > 63 || !lm::ggml_type_supported(t.raw_type)) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lm;
  try {
    GgufFile f = GgufFile::from_memory({data, size}, "fuzz.gguf");
    for (const GgufTensorInfo& t : f.tensors()) {
      if (t.bytes.size() != t.nbytes) std::abort();
      if (!ggml_type_supported(t.raw_type)) continue;
      std::vector<float> out(static_cast<size_t>(t.shape.numel()));
      f.read_f32(t.name, out.data(), t.shape);
    }
    if (!rewritable(f)) return 0;
    GgufWriter w(f.alignment());
    for (const auto& [key, v] : f.kvs()) w.set(key, v);
    for (const GgufTensorInfo& t : f.tensors())
      w.add_tensor(t.name, t.shape, t.type, std::vector<uint8_t>(t.bytes.begin(), t.bytes.end()));
    const std::vector<uint8_t> bytes = w.to_bytes();
    if (bytes.size() % f.alignment() != 0) std::abort();
    GgufFile g = GgufFile::from_memory(bytes, "rt.gguf");
    if (g.alignment() != f.alignment() || g.kvs().size() != f.kvs().size() ||
        g.tensors().size() != f.tensors().size())
      std::abort();
    for (size_t k = 0; k < f.kvs().size(); ++k)
      if (g.kvs()[k].first != f.kvs()[k].first || !same_value(g.kvs()[k].second, f.kvs()[k].second))
        std::abort();
    for (size_t k = 0; k < f.tensors().size(); ++k) {
      const GgufTensorInfo& a = f.tensors()[k];
      const GgufTensorInfo& b = g.tensors()[k];
      if (a.name != b.name || a.shape != b.shape || a.raw_type != b.raw_type || a.nbytes != b.nbytes ||
          (a.nbytes && std::memcmp(a.bytes.data(), b.bytes.data(), a.nbytes) != 0))
        std::abort();
    }
  } catch (const lm::Error&) {
  }
  return 0;
}
