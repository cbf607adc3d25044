// transformers' side files of a tokenizer directory, as PreTrainedTokenizerFast.save_pretrained writes them:
// tokenizer_config.json (tokenizer_class, special tokens, model_max_length, added_tokens_decoder, the class's
// options; keys sorted) and special_tokens_map.json (special tokens as plain strings); added_tokens.json for the
// slow tokenizer's vocab.json when tokens were added past it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "lm/core/json.h"
#include "lm/tokenize/added_tokens.h"

namespace lm {

struct HfTokenizerConfig {
  std::string tokenizer_class;  // "GPT2Tokenizer", "BertTokenizer" (save_pretrained drops the "Fast")
  int64_t model_max_length = 0;
  // {"bos_token", "<|endoftext|>"}, ... (HF's attribute names; written to both files)
  std::vector<std::pair<std::string, std::string>> special_tokens;
  Json options = Json::object();  // class keys: add_prefix_space, do_lower_case, strip_accents, ...
};

// Writes dir/tokenizer_config.json and dir/special_tokens_map.json. added: every added token (the
// added_tokens_decoder entries, keyed by id).
void write_hf_tokenizer_config(const std::string& dir, const HfTokenizerConfig& c,
                               const std::vector<AddedToken>& added);

// Writes dir/added_tokens.json ({content: id}) for the tokens with ids at or past base_vocab_size; removes a stale
// one when there are none.
void write_added_tokens_json(const std::string& dir, const std::vector<AddedToken>& added, int64_t base_vocab_size);

// After save() wrote dst_dir's tokenizer files: src_dir's tokenizer_config.json and special_tokens_map.json keys
// (a chat template, other special tokens) override dst_dir's, except model_max_length, which stays dst's (the
// model's context); src_dir's chat_template.jinja is copied. Nothing happens for files src_dir lacks; a file
// that is not a JSON object is copied as it is.
void carry_tokenizer_side_files(const std::string& src_dir, const std::string& dst_dir);

// The added tokens of a directory without tokenizer.json, as transformers' slow tokenizers find them:
// tokenizer_config.json "added_tokens_decoder" (with the special/lstrip/rstrip/normalized flags), else
// added_tokens.json ({content: id}, taken as special tokens). Empty when neither is there.
std::vector<AddedToken> read_side_added_tokens(const std::string& dir);

// tokenizer.json "added_tokens" entries (id, content, single_word, lstrip, rstrip, normalized, special).
std::string added_tokens_json(const std::vector<AddedToken>& tokens);
std::vector<AddedToken> parse_added_tokens(const Json& j, const std::string& where);

}  // namespace lm
