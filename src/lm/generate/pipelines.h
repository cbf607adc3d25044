// Inference pipelines over an encoder with a task head, as HF's pipelines compute them, for `lmcpp predict` and
// the server: text classification (softmax over the labels), fill-mask (top-k tokens for each [MASK]) and
// extractive question answering (the best context span, scored p_start · p_end with softmaxes over the context).
// The text (or pair) is tokenized with the model's tokenizer and truncated to the model's positions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lm/models/model.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::generate {

struct LabelScore {
  std::string label;
  int64_t id = 0;
  double score = 0;  // softmax probability
};
struct Classification {
  LabelScore best;
  std::vector<LabelScore> labels;  // every label, in id order
};
// A sequence-classification model; pair: the second text of a pair task.
Classification classify_text(models::Model& model, const Tokenizer& tok, const std::string& text,
                             const std::optional<std::string>& pair = std::nullopt);

struct MaskCandidate {
  std::string token;
  int32_t id = 0;
  double probability = 0;
};
struct MaskFill {
  int64_t position = 0;  // token position of the [MASK]
  std::vector<MaskCandidate> candidates;  // most probable first; ties broken by the lower id
};
// A masked-LM (or pretraining) model; one entry per [MASK] token of the text (InvalidArgument if there is none).
std::vector<MaskFill> fill_mask(models::Model& model, const Tokenizer& tok, const std::string& text, int64_t top_k = 5);

struct SpanAnswer {
  std::string answer;
  int64_t start = 0, end = 0;  // token positions in [CLS] question [SEP] context [SEP]
  double score = 0;            // p_start · p_end
};
// A span question-answering model: the best span of at most max_answer_length tokens inside the context.
SpanAnswer answer_question(models::Model& model, const Tokenizer& tok, const std::string& question,
                           const std::string& context, int64_t max_answer_length = 30);

enum class Pooling { Mean, Cls };
// A sentence embedding from a model's final hidden states: the mean over the tokens ([CLS] and [SEP]
// included, as sentence-transformers' mean pooling with a full mask) or the [CLS] row (encoders); a causal LM
// (GPT: the final LayerNorm's output) pools by mean only. normalize: unit L2 norm.
std::vector<float> embed_text(models::Model& model, const Tokenizer& tok, const std::string& text, Pooling pooling,
                              bool normalize, int64_t* num_tokens = nullptr);

}  // namespace lm::generate
