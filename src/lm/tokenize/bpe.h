// GPT-2 byte-level BPE: byte-to-unicode alphabet, merge ranks, the GPT-2 pre-tokenizer, added tokens and a
// per-thread word cache. Loads vocab.json + merges.txt, encoder.json + vocab.bpe or a ByteLevel BPE tokenizer.json;
// saves vocab.json + merges.txt + tokenizer.json + transformers' side files (hf_files.h). Invalid UTF-8 input is encoded byte by byte as it is (each bad
// byte is an "other" character for the pre-tokenizer); decode() returns the raw bytes, so encode/decode is the
// identity on every byte string (HF would show U+FFFD where the decoded bytes are not UTF-8).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lm/core/json.h"
#include "lm/tokenize/added_tokens.h"
#include "lm/tokenize/tokenizer.h"

namespace lm {

// GPT-2's reversible map from bytes to printable code points ("Ġ" for space).
const std::array<int32_t, 256>& byte_to_unicode();
// Byte-level string (as in vocab.json) -> raw bytes; false when a character is outside the byte alphabet.
bool byte_level_decode(std::string_view token, std::string& out);
std::string byte_level_encode(std::string_view bytes);

// Byte offsets [begin, end) of each id in the input text.
using TokenOffsets = std::vector<std::pair<int64_t, int64_t>>;

class BpeTokenizer final : public Tokenizer {
 public:
  // vocab: byte-level token strings with ids; merges: byte-level pairs in rank order. Tokens in `added` are
  // matched in raw text first; an <|endoftext|> in the vocabulary is always an added special token.
  BpeTokenizer(const std::vector<std::pair<std::string, int32_t>>& vocab,
               const std::vector<std::pair<std::string, std::string>>& merges, std::vector<AddedToken> added = {},
               bool add_prefix_space = false);
  // vocab.json + merges.txt (or encoder.json + vocab.bpe), with added tokens from the directory's side files.
  static std::unique_ptr<BpeTokenizer> from_files(const std::string& vocab_path, const std::string& merges_path,
                                                  std::vector<AddedToken> added = {});
  // A parsed tokenizer.json whose model is BPE with a ByteLevel pre-tokenizer.
  static std::unique_ptr<BpeTokenizer> from_tokenizer_json(const Json& j, const std::string& where);

  std::string type() const override { return "bpe"; }
  int64_t vocab_size() const override { return static_cast<int64_t>(id_to_bytes_.size()); }
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
  std::vector<int32_t> encode_text_only(std::string_view text) const override;
  std::optional<int32_t> eos_id() const override { return eos_id_; }
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  void save(const std::string& dir, int64_t model_max_length = 0) const override;

  // Appends ids (and byte offsets when offsets != nullptr) for text.
  // parse_added: match added/special tokens in the text first (false: all of it is plain text).
  void encode_into(std::string_view text, std::vector<int32_t>& ids, TokenOffsets* offsets = nullptr,
                   bool parse_added = true) const;
  // The byte-level string of an id as in vocab.json.
  std::string id_to_token(int32_t id) const;
  const std::string& id_to_bytes(int32_t id) const;
  bool is_special(int32_t id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_.tokens(); }
  // Merges of one pre-token's bytes (no cache); use_heap forces the O(n log n) path (tests compare both).
  void bpe_word(std::string_view bytes, std::vector<int32_t>& out, bool use_heap) const;
  int64_t num_merges() const { return static_cast<int64_t>(merge_list_.size()); }
  std::string to_tokenizer_json() const override;
  // This tokenizer with `contents` added as special tokens (HF's add_special_tokens): those already known keep
  // their ids, the others get the next free ids in order.
  std::unique_ptr<BpeTokenizer> with_added_tokens(const std::vector<std::string>& contents) const;

 private:
  struct MergeValue {
    int32_t rank;
    int32_t id;
  };
  // Open-addressing map (a << 32 | b) -> MergeValue.
  struct PairMap {
    std::vector<uint64_t> keys;
    std::vector<MergeValue> vals;
    uint64_t mask = 0;
    void build(const std::vector<std::pair<uint64_t, MergeValue>>& items);
    const MergeValue* find(uint64_t key) const {
      if (keys.empty()) return nullptr;
      uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 20;
      for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        if (keys[i] == key) return &vals[i];
        if (keys[i] == kEmpty) return nullptr;
      }
    }
    static constexpr uint64_t kEmpty = ~0ull;
  };
  const MergeValue* find_merge(int32_t a, int32_t b) const {
    return merges_.find((static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b));
  }
  void encode_piece(std::string_view piece, std::vector<int32_t>& ids) const;
  void bpe_word_all(std::string_view bytes, std::vector<int32_t>& out, bool use_heap) const;

  std::vector<std::string> id_to_bytes_;
  std::vector<std::string> id_to_token_;  // empty for ids that are only added tokens
  std::unordered_map<std::string, int32_t> token_to_id_;
  std::array<int32_t, 256> byte_id_{};
  PairMap merges_;
  std::vector<std::pair<int32_t, int32_t>> merge_list_;
  AddedTokenMatcher added_;
  std::vector<bool> special_;
  std::optional<int32_t> eos_id_;
  bool add_prefix_space_ = false;
  bool all_bytes_ = true;  // every byte has a token
  uint64_t instance_ = 0;
};

}  // namespace lm
