// Tokenizer: the run-time interface over GPT-2 byte-level BPE, BERT WordPiece and character-level vocabularies.
// Implementations are immutable after load and safe to share across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lm {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // "bpe", "wordpiece" or "char".
  virtual std::string type() const = 0;
  virtual int64_t vocab_size() const = 0;
  // Ids for one text as HF's tokenizer(text) gives them; add_special_tokens adds BERT's [CLS]/[SEP]
  // (GPT-2 adds none, as HF).
  virtual std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const = 0;
  // Ids for text with added and special tokens NOT recognised ("<|endoftext|>" written in it stays plain text):
  // user content of chat prompts, so that no one can inject control tokens. Tokenizers without added tokens
  // encode as encode(text, false).
  virtual std::vector<int32_t> encode_text_only(std::string_view text) const { return encode(text, false); }
  // Text for ids (HF decode; skip_special_tokens drops [CLS]/[SEP]/[PAD]/<|endoftext|>). Ids out of range throw.
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const = 0;
  // End-of-text / document separator id used between documents in shards (<|endoftext|>, [SEP]).
  virtual std::optional<int32_t> eos_id() const = 0;
  virtual std::optional<int32_t> token_to_id(std::string_view token) const = 0;
  // Writes the tokenizer files into dir as transformers' save_pretrained does (tokenizer.json, the classic vocab
  // files, tokenizer_config.json, special_tokens_map.json) so a model directory carries its tokenizer.
  // model_max_length: the model's context, for tokenizer_config.json (0: the family's, GPT-2 1024, BERT 512).
  virtual void save(const std::string& dir, int64_t model_max_length = 0) const = 0;
  // The HF fast-tokenizer file (tokenizer.json) text; throws Unsupported for vocabularies HF has no form of.
  virtual std::string to_tokenizer_json() const;
};

// Loads from a directory holding vocab.json + merges.txt, encoder.json + vocab.bpe, vocab.txt, tokenizer.json
// or lmcpp's char vocabulary; throws NotFound/BadFormat naming the file otherwise.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);
// True when dir holds any tokenizer files load_tokenizer understands.
bool has_tokenizer_files(const std::string& dir);

}  // namespace lm
