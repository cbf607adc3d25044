// Fine-tuning data readers. Classification: TSV ("label<TAB>text[<TAB>text_pair]" or GLUE-style with a header
// row), the SST "label sentence" line format, and JSON Lines {"text"|"sentence", ["text_pair"], "label"}.
// QA: SQuAD JSON (v1.1/v2.0) and JSON Lines {"id"?, "question", "context", "answer"|"answers",
// "answer_start"?}. Answer offsets are UTF-8 byte offsets into the context (SQuAD's code-point offsets are
// converted and checked). Also SQuAD's answer normalization, exact match and token F1.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lm {

struct ClassificationExample {
  std::string text, text_pair;  // text_pair empty for single sentences
  int32_t label = 0;
};

struct ClassificationData {
  std::vector<ClassificationExample> examples;
  // Label id -> name. Integer labels map to themselves ("0", "1", ...); string labels are numbered in sorted
  // order.
  std::vector<std::string> label_names;
};

// Reads a classification file (format from the extension: .jsonl/.json -> JSON Lines, .tsv -> TSV, else
// sniffed from the first line). Pass the training set's label_names when reading val/test so ids agree; an
// unknown label is then BadFormat naming file:line.
ClassificationData read_classification(const std::string& path,
                                       const std::vector<std::string>& label_names = {});

struct QaExample {
  std::string id, question, context;
  std::vector<std::string> answers;
  std::vector<int64_t> answer_starts;  // byte offsets of answers[i] in context
  bool impossible = false;             // SQuAD v2 unanswerable
};

std::vector<QaExample> read_qa(const std::string& path);

// SQuAD evaluation: lowercase, drop punctuation and articles (a, an, the), collapse whitespace.
std::string squad_normalize(std::string_view s);
double squad_exact_match(std::string_view prediction, const std::vector<std::string>& answers);
double squad_f1(std::string_view prediction, const std::vector<std::string>& answers);

}  // namespace lm
