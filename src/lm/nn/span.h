// nn span search: the best answer span of one sequence from a span-QA head's start/end logits, as HF's
// question-answering post-processing chooses it: start <= end < start + max_answer_length, both inside the
// allowed (context) tokens and not crossing a disallowed one, maximising start_logit + end_logit (in double;
// ties keep the earliest). Shapes: start/end logits (T); allowed (T), 1 for context tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace lm::nn {

struct SpanChoice {
  int64_t start = -1, end = -1;  // token positions; -1 when no token is allowed
  double score = -std::numeric_limits<double>::infinity();  // start_logit + end_logit
};

SpanChoice best_span(const float* start_logits, const float* end_logits, const std::vector<uint8_t>& allowed,
                     int64_t max_answer_length);

}  // namespace lm::nn
