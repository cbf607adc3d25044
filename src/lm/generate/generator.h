// Text generation with a KV cache: the prompt is prefilled in one pass, then one token per step. Batches of
// prompts of different lengths are left-padded with an attention mask and mask-derived position ids, as HF
// generate() does. Greedy, sampling (temperature, top-k, top-p, repetition penalty), stop at eos or stop
// strings, max_new_tokens, streaming of each token as it is produced, and beam search (num_beams,
// length_penalty, early_stopping) with HF's BeamSearchScorer semantics.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "lm/generate/sampler.h"
#include "lm/models/model.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::generate {

struct GenerateOptions {
  int64_t max_new_tokens = 50;
  SamplingOptions sampling;
  std::optional<int32_t> eos_id;          // stop a sequence after it emits this id (kept in its output)
  std::vector<std::string> stop_strings;  // stop once the generated text contains one (needs a tokenizer)
  int num_beams = 1;
  float length_penalty = 1.0f;
  bool early_stopping = false;
};

struct GenerateResult {
  std::vector<std::vector<int32_t>> ids;  // new ids per prompt (prompt excluded)
  std::vector<std::string> stop_reason;   // "eos", "stop_string", "length"
};

// on_token(row, id) is called for each new token as soon as it is chosen (not for beam search, whose tokens
// are only final at the end). tokenizer may be null (then stop_strings must be empty).
GenerateResult generate(const models::CausalLM& model, const std::vector<std::vector<int32_t>>& prompts,
                        const GenerateOptions& opt, const Tokenizer* tokenizer = nullptr,
                        const std::function<void(int64_t, int32_t)>& on_token = {});

}  // namespace lm::generate
