// Batch encoding with Hugging Face BatchEncoding semantics: single texts or pairs ([CLS] A [SEP] B [SEP] with
// token_type_ids for WordPiece; A B with type ids 0/1 for BPE), truncation (longest_first, only_first,
// only_second; HF tokenizers' Rust rules), padding (longest, max_length, pad_to_multiple_of) on the right with
// attention masks, optional byte offsets (BPE and char), all texts encoded in parallel on lm::parallel_for.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lm/tokenize/tokenizer.h"

namespace lm {

enum class Truncation { None, LongestFirst, OnlyFirst, OnlySecond };
enum class Padding { None, Longest, MaxLength };

Truncation parse_truncation(const std::string& s);  // "longest_first" | "only_first" | "only_second" | "none"

struct EncodeOptions {
  bool add_special_tokens = true;
  Truncation truncation = Truncation::None;
  int64_t max_length = 0;  // for truncation and Padding::MaxLength
  Padding padding = Padding::None;
  int64_t pad_to_multiple_of = 0;
  std::optional<int32_t> pad_id;  // default: [PAD] (WordPiece) or an error when the vocabulary has none
  bool return_offsets = false;    // byte offsets [begin, end) into the text; special tokens get (0, 0)
  bool char_offsets = false;      // with return_offsets: code point offsets instead (Python's str indices)
  int threads = 0;                // 0: lm::num_threads()
};

struct Encoding {
  std::vector<int32_t> input_ids, attention_mask, token_type_ids;
  std::vector<std::pair<int64_t, int64_t>> offsets;
};

struct BatchEncoding {
  std::vector<Encoding> encodings;
  size_t size() const { return encodings.size(); }
};

// One text (pair == nullptr) or a pair.
Encoding encode_one(const Tokenizer& tok, std::string_view text, const std::string_view* pair,
                    const EncodeOptions& opt);
// texts[i] (with pairs[i] when pairs is given; same length) on all threads; padding applies batch-wide.
BatchEncoding encode_batch(const Tokenizer& tok, const std::vector<std::string>& texts,
                           const std::vector<std::string>* pairs, const EncodeOptions& opt);
// Ids of many texts (no special tokens handling beyond encode's), on all threads.
std::vector<std::vector<int32_t>> encode_ids_batch(const Tokenizer& tok, const std::vector<std::string>& texts,
                                                   bool add_special_tokens = true, int threads = 0);

}  // namespace lm
