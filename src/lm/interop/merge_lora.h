// `lmcpp merge-lora`: a model with a PEFT LoRA adapter folded into its weights (W += scale · B·A per adapted
// module), written as a plain Hugging Face directory that needs no adapter to load.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "lm/models/lora.h"

namespace lm::interop {

// The tokenizer files of a model directory that travel with its weights (whichever of them exist).
const std::vector<std::string>& tokenizer_file_names();

// A model with its adapter merged in, ready to be written.
struct MergedModel {
  std::unique_ptr<models::LoraModel> lora;  // merged: lora->base() holds W + scale · B·A
  std::string tokenizer_from;               // tokenizer_source(model, adapter)
};

// Loads model (an HF directory or a GGUF file) with the adapter directory and merges it. Every input error (no
// adapter, an adapter whose target modules or tensor shapes do not fit the model) is thrown here.
MergedModel load_merged(const std::string& model, const std::string& adapter);

struct MergeResult {
  int64_t modules = 0;              // adapted modules folded in
  std::string tokenizer_from;       // where the tokenizer files came from ("" when there were none)
  std::vector<std::string> files;   // what was written into out, sorted
};

// Writes into out (an existing directory): config.json, model.safetensors and the family's other files (causal
// LMs: generation_config.json), each atomically, plus the tokenizer files of tokenizer_from copied byte for byte
// (a GGUF file's tokenizer is saved as HF files).
MergeResult save_merged(const MergedModel& m, const std::string& out);

}  // namespace lm::interop
