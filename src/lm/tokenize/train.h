// Vocabulary training: byte-level BPE (like HF tokenizers' ByteLevelBPETokenizer.train / BpeTrainer), WordPiece
// (like BertWordPieceTokenizer.train: a BPE trainer with "##" continuation over BERT-normalized words) and
// character-level. Word counts are collected on all threads; the merge loop follows BpeTrainer: the most frequent
// pair first, ties to the smaller (left id, right id), stopping at vocab_size or below min_frequency.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "lm/tokenize/bpe.h"
#include "lm/tokenize/char_tokenizer.h"
#include "lm/tokenize/wordpiece.h"

namespace lm {

struct BpeTrainOptions {
  int64_t vocab_size = 30000;
  int64_t min_frequency = 0;
  std::vector<std::string> special_tokens;
  bool byte_alphabet = true;   // start from all 256 byte-level characters (ByteLevel.alphabet())
  int64_t limit_alphabet = 0;  // keep only the most frequent characters (0: all)
  std::string prefix;          // continuing-subword prefix ("##" for WordPiece)
};

struct BpeTrainResult {
  std::vector<std::string> vocab;  // id order
  std::vector<std::pair<std::string, std::string>> merges;
};

// The BpeTrainer loop over counted words (each word a UTF-8 string whose code points are the initial symbols).
BpeTrainResult train_bpe_words(const std::unordered_map<std::string, int64_t>& word_counts,
                               const BpeTrainOptions& opt);

// Byte-level BPE from files, read as HF reads training files: line by line, each line with its "\n".
std::unique_ptr<BpeTokenizer> train_byte_level_bpe(const std::vector<std::string>& files, const BpeTrainOptions& opt);
// WordPiece from files (uncased BERT normalization unless lowercase is false).
std::unique_ptr<WordPieceTokenizer> train_wordpiece(const std::vector<std::string>& files, int64_t vocab_size,
                                                    int64_t min_frequency = 2, int64_t limit_alphabet = 1000,
                                                    bool lowercase = true);
std::unique_ptr<CharTokenizer> train_char(const std::vector<std::string>& files);

}  // namespace lm
