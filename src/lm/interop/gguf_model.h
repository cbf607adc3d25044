// Models as GGUF files (llama.cpp's format): `lmcpp export --format gguf` writes one from an HF model directory,
// and a .gguf file loads as a model, a tokenizer and a chat template wherever a model directory does. The
// architecture metadata and tensor names come from the family (models/<family>/gguf.cpp and the `gguf` column of
// its parameter table); the tokenizer metadata from gguf_vocab.h.
#pragma once

#include <memory>
#include <string>

#include "lm/core/json.h"
#include "lm/io/gguf.h"
#include "lm/models/model.h"
#include "lm/tokenize/chat_template.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::interop {

struct GgufExportOptions {
  std::string type = "f32";      // f32 | f16 | bf16 | q8_0: the type of 2-D weights (1-D tensors stay f32)
  std::string pooling = "mean";  // encoders: llama.cpp's pooling type (mean | cls | rank)
};

// Writes the model directory `dir` (config.json, model.safetensors, tokenizer files, chat template) as a GGUF v3
// file, atomically. Returns a one-line summary (tensors, bytes, type).
std::string export_gguf(const std::string& dir, const GgufExportOptions& options, const std::string& out);

// "f32" | "f16" | "bf16" | "q8_0" -> the ggml type (InvalidArgument otherwise), and llama.cpp's general.file_type
// of files whose 2-D weights have that type (enum llama_ftype).
GgmlType gguf_weight_type(const std::string& type);
uint32_t gguf_file_type(GgmlType t);

// Every key/value of a GGUF file as JSON (integers, floats, booleans, strings, arrays of them).
Json gguf_kv_json(const GgufFile& f);

// The model a GGUF file holds (weights dequantized to f32); errors name the file and the tensor or key.
std::unique_ptr<models::Model> load_gguf_model(const std::string& path);
// The same from an opened file; `where` names it in errors (fuzzing, tests).
std::unique_ptr<models::Model> load_gguf_model(const GgufFile& f, const std::string& where);
std::unique_ptr<Tokenizer> load_gguf_tokenizer(const std::string& path);
ChatTemplateSource load_gguf_chat_template(const std::string& path);

}  // namespace lm::interop
