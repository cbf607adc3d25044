// Perplexity of a causal LM over a long token sequence, with HF's sliding-window recipe: windows of max_len
// tokens advanced by stride; each window ignores the labels the previous window already scored, so every token
// after the first is scored exactly once. Shapes: ids (n) token ids.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lm/models/model.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::train {

struct PerplexityResult {
  double nll = 0;      // Σ over scored tokens of -log p
  int64_t tokens = 0;  // scored tokens (n - 1)
  double loss() const { return tokens ? nll / static_cast<double>(tokens) : 0.0; }
};

// model must be a causal LM; max_len in [2, max_positions], stride in [1, max_len]. progress: a progress line.
PerplexityResult sliding_window_perplexity(models::Model& model, const std::vector<int32_t>& ids, int64_t max_len,
                                           int64_t stride, bool progress = true);

// The token ids to score: the `split` shards of a prepared directory, or a text file encoded with `tok` (the
// model's tokenizer; null: a text file is refused); at most max_tokens of them (0: all). `source` names them for
// messages.
std::vector<int32_t> read_eval_tokens(const std::string& data, const std::string& split, const Tokenizer* tok,
                                      int64_t max_tokens, std::string& source);

}  // namespace lm::train
