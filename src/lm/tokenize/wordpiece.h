// BERT WordPiece as Hugging Face's BertTokenizer(Fast) runs it: BertNormalizer (clean text, CJK spacing, NFD
// accent stripping, lowercase), BertPreTokenizer (whitespace, punctuation isolated), greedy longest-match WordPiece
// with "##" continuations, [UNK] for unmatched words and words over 100 characters, [CLS] A [SEP] (B [SEP]).
// Invalid UTF-8 bytes become U+FFFD, which BERT's text cleaning then drops (as HF does with a lossy decode).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lm/core/json.h"
#include "lm/tokenize/added_tokens.h"
#include "lm/tokenize/string_map.h"
#include "lm/tokenize/tokenizer.h"

namespace lm {

struct WordPieceConfig {
  bool lowercase = true;
  std::optional<bool> strip_accents;  // unset: same as lowercase (HF)
  bool clean_text = true;
  bool handle_chinese_chars = true;
  std::string unk_token = "[UNK]";
  std::string prefix = "##";
  int max_input_chars_per_word = 100;
  std::string cls_token = "[CLS]", sep_token = "[SEP]", pad_token = "[PAD]", mask_token = "[MASK]";
};

class WordPieceTokenizer final : public Tokenizer {
 public:
  // vocab[i] is the token of id i.
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceConfig config, std::vector<AddedToken> added = {});
  // dir/vocab.txt, with do_lower_case from dir/tokenizer_config.json when present, else inferred from the vocab
  // (no uppercase letters outside [..] tokens -> uncased).
  static std::unique_ptr<WordPieceTokenizer> from_vocab_txt(const std::string& dir);
  static std::unique_ptr<WordPieceTokenizer> from_tokenizer_json(const Json& j, const std::string& where);

  std::string type() const override { return "wordpiece"; }
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const override;
  std::optional<int32_t> eos_id() const override { return sep_id_ >= 0 ? std::optional<int32_t>(sep_id_) : std::nullopt; }
  std::optional<int32_t> token_to_id(std::string_view token) const override;
  void save(const std::string& dir, int64_t model_max_length = 0) const override;

  // Ids of text without [CLS]/[SEP].
  void encode_into(std::string_view text, std::vector<int32_t>& ids) const;
  // The same ids with the byte range [begin, end) of the original text each comes from (an [UNK] covers its
  // word; pieces of a word with accents stripped cover the original accented characters).
  void encode_with_offsets(std::string_view text, std::vector<int32_t>& ids,
                           std::vector<std::pair<int64_t, int64_t>>& offsets) const;
  // BertNormalizer applied to one stretch of text (exposed for tests).
  std::string normalize(std::string_view text) const;
  // The words BertPreTokenizer makes of normalized text.
  std::vector<std::string> pre_tokenize(std::string_view normalized) const;
  const WordPieceConfig& config() const { return config_; }
  const std::string& id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;
  int32_t cls_id() const { return cls_id_; }
  int32_t sep_id() const { return sep_id_; }
  int32_t pad_id() const { return pad_id_; }
  int32_t unk_id() const { return unk_id_; }
  const std::vector<std::string>& vocab() const { return vocab_; }
  std::string to_tokenizer_json() const override;

 private:
  void word_piece(std::string_view word, std::vector<int32_t>& ids) const;
  void encode_segment(std::string_view seg, std::vector<int32_t>& ids) const;

  std::vector<std::string> vocab_;
  StringIdMap ids_;       // token -> id
  StringIdMap cont_ids_;  // token without the "##" prefix -> id, for continuation pieces
  WordPieceConfig config_;
  bool strip_accents_ = true;
  AddedTokenMatcher added_;
  std::vector<bool> special_;
  int32_t cls_id_ = -1, sep_id_ = -1, pad_id_ = -1, unk_id_ = -1;
};

}  // namespace lm
