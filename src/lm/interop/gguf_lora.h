// LoRA adapters as llama.cpp's adapter GGUF files (`lmcpp export --format gguf --adapter DIR`): the A/B pairs of a
// PEFT adapter under the GGUF names of the base tensors they adapt, read by llama.cpp's llama_adapter_lora_init
// (--lora FILE, node-llama-cpp's createContext({lora})). The file holds the adapter alone; the base model is
// exported separately (gguf_model.h). Layout, as llama.cpp's loader checks it (src/llama-adapter.cpp):
//   KVs      general.type = "adapter", general.architecture = the base's (must equal the model's),
//            adapter.type = "lora", adapter.lora.alpha (f32): llama.cpp scales by alpha / r, r = ne[0] of lora_b
//   tensors  "<base GGUF name>.lora_a": A, PyTorch (r, in)  = ne {in, r}
//            "<base GGUF name>.lora_b": B, PyTorch (out, r) = ne {r, out};  ΔW = scale · B·A, (out, in)
#pragma once

#include <string>

#include "lm/io/gguf.h"
#include "lm/models/lora.h"

namespace lm::interop {

// adapter.lora.alpha for an adapter whose per-module scale is `scale` at rank r: llama.cpp applies alpha / r, so
// alpha = scale · r (lora_alpha itself for plain LoRA, lora_alpha · √r for rsLoRA's lora_alpha / √r).
float gguf_lora_alpha(const LoraSpec& spec);

// The adapter GGUF of `m` with its A/B tensors converted to `type` (F32/F16/BF16/Q8_0; Q8_0 rows that are not
// whole blocks of 32, such as lora_b's rows of r, fall back to F16). Throws Unsupported when the adapter trains
// whole tensors (PEFT's modules_to_save: llama.cpp's LoRA files hold A/B pairs only), when an adapted weight has
// no llama.cpp tensor, or when lora_alpha is 0 (llama.cpp reads alpha 0 as "scale 1").
GgufWriter lora_gguf(models::LoraModel& m, GgmlType type, const std::string& name);

// Reads the model at model_path (HF directory or GGUF file) and the PEFT adapter directory on it, and writes the
// adapter GGUF to out atomically. type: f32 | f16 | bf16 | q8_0. Returns a one-line summary.
std::string export_gguf_lora(const std::string& model_path, const std::string& adapter_dir, const std::string& type,
                             const std::string& out);

}  // namespace lm::interop
