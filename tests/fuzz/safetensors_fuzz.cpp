// libFuzzer target for the safetensors reader: arbitrary bytes must either parse or throw lm::Error, never crash.
// Parsed files are also re-serialized with the writer's header and re-read, which must reproduce every entry.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "lm/core/error.h"
#include "lm/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lm;
  try {
    SafetensorsFile f = SafetensorsFile::from_memory({data, size}, "fuzz.safetensors");
    std::vector<NamedTensor> named;
    uint64_t total = 0;
    for (const SafetensorsEntry& e : f.tensors()) {
      Tensor t = f.tensor(e.name);
      if (t.nbytes() != e.bytes.size() || (t.nbytes() && std::memcmp(t.data, e.bytes.data(), t.nbytes()) != 0)) std::abort();
      if (e.dtype == DType::F32 || e.dtype == DType::BF16 || e.dtype == DType::F16) {
        std::vector<float> out(static_cast<size_t>(e.shape.numel()));
        f.read_f32(e.name, out.data(), e.shape);
      }
      named.push_back({e.name, t});
      total += t.nbytes();
    }
    // Writer round trip in memory.
    std::vector<size_t> order;
    std::string bytes = safetensors_header(named, f.metadata(), &order);
    for (size_t i : order) bytes.append(static_cast<const char*>(named[i].tensor.data), named[i].tensor.nbytes());
    if (bytes.size() % 8 != total % 8) std::abort();  // header padded to a multiple of 8
    SafetensorsFile g = SafetensorsFile::from_memory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "rt");
    if (g.tensors().size() != f.tensors().size() || g.metadata() != f.metadata()) std::abort();
    for (const SafetensorsEntry& e : f.tensors()) {
      const SafetensorsEntry& r = g.entry(e.name);
      if (r.dtype != e.dtype || r.shape != e.shape || r.bytes.size() != e.bytes.size() ||
          (!e.bytes.empty() && std::memcmp(r.bytes.data(), e.bytes.data(), e.bytes.size()) != 0))
        std::abort();
      if (reinterpret_cast<uintptr_t>(r.bytes.data()) % dtype_size(r.dtype) != 0) std::abort();  // writer aligns
    }
  } catch (const lm::Error&) {
  }
  return 0;
}
