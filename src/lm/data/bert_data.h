// BERT pretraining examples: documents -> sentences -> [CLS] A [SEP] B [SEP] pairs with next-sentence labels
// (as Google's create_pretraining_data.py / HF TextDatasetForNextSentencePrediction), then batches (B, T) of
// input_ids, token_type_ids, attention_mask, MLM labels (-100 where not predicted) and NSP labels (B).
// Masking is dynamic: recomputed from (seed, epoch, example) each epoch, 15% with 80/10/10
// [MASK]/random/keep, optionally whole-word (a word = a token plus its "##" continuations).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lm/data/gpt_loader.h"
#include "lm/data/prepare.h"
#include "lm/tokenize/tokenizer.h"

namespace lm {

// Rule-based sentence splitter: ends at . ! ? (plus closing quotes/brackets) followed by whitespace and an
// uppercase letter, digit or opening quote, and at every line break; common abbreviations and initials
// ("Dr.", "e.g.", "J. R. R.") do not end a sentence. Returns trimmed, non-empty sentences.
std::vector<std::string> split_sentences(std::string_view text);

// A document as token ids per sentence (no special tokens).
using TokenizedDocument = std::vector<std::vector<int32_t>>;
TokenizedDocument tokenize_document(const Tokenizer& tok, std::string_view text);

// Every document of the inputs (Wikipedia dumps cleaned, text, JSON Lines such as prepare's --text-out),
// sentence-split and tokenized on all threads, in input order; documents without sentences are dropped.
// Held in memory: BERT example building needs random access to other documents.
std::vector<TokenizedDocument> load_bert_documents(const std::vector<std::string>& inputs,
                                                   const Tokenizer& tok,
                                                   InputFormat format = InputFormat::Auto,
                                                   TextSplit split = TextSplit::PerFile, int threads = 0,
                                                   int64_t max_documents = -1);

// Documents of shards written with the sentences layout (prepare.h DataLayout::Sentences): a sentence ends at
// `sep`, a document at two separators in a row (or at the end of a shard). Ids >= vocab_size are BadFormat.
std::vector<TokenizedDocument> read_sentence_documents(const std::vector<std::string>& shard_paths, int32_t sep,
                                                       int64_t vocab_size);

struct NspExample {
  std::vector<int32_t> a, b;
  int32_t next_sentence_label = 0;  // 0: B follows A in the document, 1: B is from a random document (HF)
};

struct NspConfig {
  int64_t max_seq_len = 128;    // including [CLS] and two [SEP]
  double short_seq_prob = 0.1;  // probability of a shorter random target length (HF default)
  double random_next_prob = 0.5;
  uint64_t seed = 0;
};

// Builds sentence-pair examples from every document (Google's algorithm: fill chunks of sentences up to a
// target length, cut A at a random sentence boundary, B = the rest or a random span of another document,
// truncate the pair from a random end of the longer side). Deterministic in (docs, cfg).
std::vector<NspExample> create_nsp_examples(const std::vector<TokenizedDocument>& docs, const NspConfig& cfg);

struct BertSpecialTokens {
  int32_t cls = 101, sep = 102, mask = 103, pad = 0;
  int64_t vocab_size = 30522;
};
// [CLS]/[SEP]/[MASK]/[PAD] ids of a WordPiece tokenizer (NotFound if one is missing).
BertSpecialTokens bert_special_tokens(const Tokenizer& tok);
// True for ids whose token is a "##" word continuation (for whole-word masking), one entry per vocabulary id.
std::vector<uint8_t> wordpiece_continuations(const Tokenizer& tok);

struct MaskConfig {
  double mlm_probability = 0.15;
  double mask_fraction = 0.8;    // of the selected tokens -> [MASK]
  double random_fraction = 0.1;  // -> a random token; the rest keep their id
  bool whole_word = false;       // needs `continuation` flags
};

// Row-major (B, T) int32 tensors of one batch; next_sentence_label is (B).
struct BertBatch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> input_ids, token_type_ids, attention_mask, labels, next_sentence_label;
};

// Masks one packed sequence in place. ids has `len` real tokens; labels receives -100 or the original id.
// Special tokens ([CLS], [SEP], [PAD]) are never selected. Randomness from Rng(seed, stream).
void mask_sequence(int32_t* ids, int32_t* labels, int64_t len, const BertSpecialTokens& sp,
                   const MaskConfig& mc, const std::vector<uint8_t>* continuation, uint64_t seed,
                   uint64_t stream);

// Batches over fixed examples: per-epoch permutation (or in order), rank sharding, dynamic masking, and the
// same cursor semantics as GptLoader.
class BertLoader {
 public:
  BertLoader(std::vector<NspExample> examples, const BertSpecialTokens& sp, const MaskConfig& mc,
             const GptLoaderConfig& cfg, std::vector<uint8_t> continuation = {});
  void next(BertBatch& out);
  uint64_t batches_per_epoch() const;
  LoaderCursor cursor() const { return cursor_; }
  void set_cursor(const LoaderCursor& c);
  size_t size() const { return examples_.size(); }

 private:
  std::vector<NspExample> examples_;
  BertSpecialTokens sp_;
  MaskConfig mc_;
  GptLoaderConfig cfg_;
  std::vector<uint8_t> continuation_;
  LoaderCursor cursor_;
};

}  // namespace lm
