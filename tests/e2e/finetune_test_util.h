// Fixtures shared by the fine-tuning tests (CPU e2e and CUDA): a tiny BertModel directory with its WordPiece
// vocabulary, and an SST-style keyword task.
#pragma once

#include <string>
#include <vector>

#include "harness/harness.h"
#include "lm/core/file_util.h"
#include "lm/core/rng.h"
#include "lm/models/bert/bert.h"
#include "lm/tokenize/wordpiece.h"

namespace lm {

// A BertModel (no head) directory with a WordPiece vocabulary of [specials], "good", w0..w9.
inline std::string bert_base_dir() {
  std::string dir = test::temp_dir("ft_bert_base");
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good"};
  for (int i = 0; i < 10; ++i) vocab.push_back(std::string(1, 'w').append(std::to_string(i)));
  WordPieceTokenizer tok(vocab, WordPieceConfig());
  tok.save(dir);
  models::BertConfig c;
  c.vocab_size = static_cast<int64_t>(vocab.size());
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 32;
  c.head = models::BertHead::Base;
  c.architecture = "BertModel";
  models::Bert bert(c);
  bert.init_weights(1);
  bert.save_hf(dir);
  return dir;
}

// SST lines "label sentence": label 1 when "good" occurs.
inline std::string keyword_sst(const std::string& path, int n, uint64_t seed, const std::string& bad_label = "") {
  Rng rng(seed, 3);
  std::string s;
  for (int i = 0; i < n; ++i) {
    const bool pos = i % 2 == 0;
    const int len = 3 + static_cast<int>(rng.next_u32() % 4), at = static_cast<int>(rng.next_u32() % len);
    std::string line = pos ? "1" : "0";
    if (i == 1 && !bad_label.empty()) line = bad_label;
    for (int k = 0; k < len; ++k) {
      line += pos && k == at ? " good" : " w";
      if (!(pos && k == at)) line += std::to_string(rng.next_u32() % 10);
    }
    s += line + "\n";
  }
  write_file_atomic(path, s);
  return path;
}

// JSON Lines extractive QA: question "w9", a context of 6 words w0..w8 with "good" at a random position, answer
// "good" (located by its first occurrence).
inline std::string keyword_qa_jsonl(const std::string& path, int n, uint64_t seed) {
  Rng rng(seed, 9);
  std::string s;
  for (int i = 0; i < n; ++i) {
    const int at = static_cast<int>(rng.next_u32() % 6);
    std::string ctx;
    for (int k = 0; k < 6; ++k) {
      if (k) ctx += " ";
      ctx += k == at ? std::string("good") : std::string(1, 'w').append(std::to_string(rng.next_u32() % 9));
    }
    s += R"({"id": ")" + std::to_string(i) + R"(", "question": "w9", "context": ")" + ctx +
         R"(", "answer": "good"})" + "\n";
  }
  write_file_atomic(path, s);
  return path;
}

}  // namespace lm
