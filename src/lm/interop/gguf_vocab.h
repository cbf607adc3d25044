// Tokenizers in GGUF metadata (llama.cpp's tokenizer.ggml.* keys) and back. The tokenizer side works on HF
// tokenizer.json objects, so any tokenizer lmcpp reads or writes converts the same way:
//   byte-level BPE -> tokenizer.ggml.model "gpt2": tokens in byte-level form, merges "a b", pre "gpt-2";
//   WordPiece      -> "bert": llama.cpp's phantom-space form (a word-initial piece gets U+2581 in front, a "##"
//                     continuation loses its "##", control tokens stay as they are).
// Token types are llama.cpp's: 1 normal, 3 control (special added tokens), 4 user-defined (other added tokens),
// 5 unused (rows past the tokenizer, named [PADi] as llama.cpp's converter names them).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "lm/core/json.h"
#include "lm/tokenize/chat_template.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::interop {

// What the model knows of its special tokens (config.json / generation_config.json), for the metadata.
struct SpecialIds {
  int64_t bos = -1, eos = -1;  // causal LMs
};

// The tokenizer.* metadata of `tok` for a model of n_vocab embedding rows (>= the tokenizer's size), with the chat
// template when one is given. Throws Unsupported for tokenizers llama.cpp cannot run (character vocabularies).
Json tokenizer_to_gguf(const Tokenizer& tok, int64_t n_vocab, const SpecialIds& ids, const std::string& chat_template);

// The tokenizer a GGUF file's metadata (key -> value as JSON) describes; `where` names the file in errors.
std::unique_ptr<Tokenizer> tokenizer_from_gguf(const Json& kv, const std::string& where);

// The chat template and its special tokens from GGUF metadata (the built-in ChatML when the file has none).
ChatTemplateSource chat_template_from_gguf(const Json& kv);

}  // namespace lm::interop
