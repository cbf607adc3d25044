// Shared helpers for the tokenizer tests: the reference corpora (hard cases committed, others read from shared
// data with the same selection as tests/reference/tokenizers/gen.mjs) and the generated id files.
#pragma once

#include <string>
#include <vector>

#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"

namespace lm::test {

inline std::string reference_dir() { return source_dir() + "/tests/reference/tokenizers"; }

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

inline std::vector<std::string> first_lines(const std::string& path, size_t n) {
  auto lines = split_lines(read_file(path));
  if (lines.size() > n) lines.resize(n);
  return lines;
}

// Corpus name -> texts; empty when the corpus needs shared data that is absent.
inline std::vector<std::string> reference_corpus(const std::string& name) {
  if (name == "hard") {
    std::vector<std::string> out;
    for (auto& l : split_lines(read_file(reference_dir() + "/hard_cases.jsonl")))
      if (!l.empty()) out.push_back(parse_json(l, "hard_cases.jsonl").get<std::string>());
    return out;
  }
  if (name == "code") return split_lines(read_file(reference_dir() + "/code_sample.txt"));
  std::string d = shared_data_dir();
  if (d.empty()) return {};
  if (name == "shakespeare") return first_lines(d + "/tinyshakespeare/input.txt", 2000);
  if (name == "wikitext2") return first_lines(d + "/wikitext2/wiki.test.raw", 1000);
  if (name == "sst2") return first_lines(d + "/sst2/stsa.binary.dev", 872);
  if (name == "squad") {
    Json j = read_json_file(d + "/qa/squad-v1.1-dev-articles00-39.json");
    std::vector<std::string> out;
    for (auto& a : j["data"])
      for (auto& p : a["paragraphs"]) {
        out.push_back(p["context"].get<std::string>());
        for (auto& q : p["qas"]) out.push_back(q["question"].get<std::string>());
      }
    if (out.size() > 1000) out.resize(1000);
    return out;
  }
  LM_THROW(ErrorCode::InvalidArgument, "unknown corpus {}", name);
}

inline std::vector<std::vector<int32_t>> read_ids_file(const std::string& path) {
  std::vector<std::vector<int32_t>> rows;
  for (auto& line : split_lines(read_file(path))) {
    std::vector<int32_t> ids;
    size_t pos = 0;
    while (pos < line.size()) {
      size_t sp = line.find(' ', pos);
      if (sp == std::string::npos) sp = line.size();
      if (sp > pos) ids.push_back(std::stoi(line.substr(pos, sp - pos)));
      pos = sp + 1;
    }
    rows.push_back(std::move(ids));
  }
  return rows;
}

inline std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s.push_back(' ');
    s += std::to_string(ids[i]);
  }
  return s;
}

inline std::string tokenizer_dir(const std::string& name) { return shared_data_dir() + "/tokenizers/" + name; }

}  // namespace lm::test
