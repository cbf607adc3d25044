// libFuzzer target for PEFT adapter directories: the input is adapter_config.json, a NUL byte, then
// adapter_model.safetensors. The config is parsed (LoraSpec::from_json), the adapter built on a tiny GPT-2 (1 layer,
// 16 wide: targets matched, arenas sized) and its tensors read from the file; an adapter that loads runs one forward.
// Only lm::Error may escape.
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>

#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/io/peft.h"
#include "lm/io/safetensors.h"
#include "lm/models/lora.h"
#include "lm/models/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t json_len = nul ? static_cast<size_t>(nul - data) : size;
  try {
    const lm::Json j = lm::parse_json(std::string(reinterpret_cast<const char*>(data), json_len), "adapter_config.json");
    lm::LoraSpec spec = lm::LoraSpec::from_json(j, "adapter_config.json");
    if (spec.r > 64) return 0;  // bounded memory: a 16-wide model with r 4096 is legal but slow to fuzz
    const lm::Json cfg = {{"model_type", "gpt2"}, {"vocab_size", 32}, {"n_positions", 8}, {"n_embd", 16},
                          {"n_layer", 1}, {"n_head", 2}};
    lm::models::LoraModel m(lm::models::create_model(cfg), spec, 1);
    if (!nul) return 0;
    const lm::SafetensorsFile st = lm::SafetensorsFile::from_memory(
        std::span<const uint8_t>(nul + 1, size - json_len - 1), "adapter_model.safetensors");
    m.load_tensors(st);
    lm::Tensor ids(nullptr, lm::Shape{1, 4}, lm::DType::I32);
    int32_t buf[4] = {1, 2, 3, 4};
    ids.data = buf;
    m.infer(ids, {}, {});
  } catch (const lm::Error&) {
  }
  return 0;
}
