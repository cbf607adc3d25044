// Opening "a model" the way every command takes --model: an HF model directory or a GGUF file (FILE.gguf).
#pragma once

#include <memory>
#include <string>

#include "lm/core/json.h"
#include "lm/models/lora.h"
#include "lm/models/model.h"
#include "lm/tokenize/chat_format.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::interop {

// True when path names a GGUF file (a regular file whose first bytes are "GGUF", or a path ending in .gguf).
bool is_gguf(const std::string& path);
// The model at path (HF directory: models::load_model_dir; GGUF: weights dequantized to f32). adapter: a PEFT
// LoRA directory applied unmerged on top (models::LoraModel); empty: none.
std::unique_ptr<models::Model> load_model(const std::string& path, const std::string& adapter = "");
// The model at path with the adapter on it (adapter non-empty). The base is first made what the adapter was
// trained on: the head of its lmcpp_base_config.json (a classifier adapter on a plain base directory), and the
// vocabulary rows of its embeddings (chat fine-tuning that added tokens; the adapter's end of turn becomes eos).
std::unique_ptr<models::LoraModel> load_adapted_model(const std::string& path, const std::string& adapter);
// Where the tokenizer (and chat template) of `--model path --adapter adapter` comes from: the adapter directory
// when it holds tokenizer files of its own (PEFT saves them there when fine-tuning added tokens), else path.
std::string tokenizer_source(const std::string& path, const std::string& adapter);
// Its tokenizer (the directory's tokenizer files, or the GGUF metadata); has_model_tokenizer: whether it has one.
std::unique_ptr<Tokenizer> load_model_tokenizer(const std::string& path);
bool has_model_tokenizer(const std::string& path);
// Its chat format (load_chat_format over the directory, or the GGUF tokenizer.chat_template); choice as there.
ChatFormat load_model_chat_format(const std::string& path, const std::string& choice, const Tokenizer& tok);
ChatTemplateSource model_chat_template(const std::string& path);
// What `lmcpp info` shows of the file(s): for a directory its files; for a GGUF file {"format": "gguf",
// "version", "metadata_keys", "tensors", "tensor_types": {type: count}, "weights_bytes", "file_bytes"}.
Json model_files_info(const std::string& path);

}  // namespace lm::interop
