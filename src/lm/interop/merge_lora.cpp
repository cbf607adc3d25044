// merge_lora: load, fold the adapter into the base, save the base and carry the tokenizer files (merge_lora.h).
#include "lm/interop/merge_lora.h"

#include <algorithm>
#include <filesystem>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/interop/open.h"
#include "lm/tokenize/char_tokenizer.h"

namespace lm::interop {

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> kNames = {
      "tokenizer.json",     "vocab.json",        "merges.txt",          "encoder.json",
      "vocab.bpe",          "vocab.txt",         CharTokenizer::kFileName, "tokenizer_config.json",
      "special_tokens_map.json", "added_tokens.json", "chat_template.jinja"};
  return kNames;
}

MergedModel load_merged(const std::string& model, const std::string& adapter) {
  MergedModel m;
  m.lora = load_adapted_model(model, adapter);
  m.lora->merge();
  m.tokenizer_from = tokenizer_source(model, adapter);
  return m;
}

MergeResult save_merged(const MergedModel& m, const std::string& out) {
  MergeResult r;
  r.modules = static_cast<int64_t>(m.lora->modules().size());
  m.lora->base().save_hf(out);
  const std::string& src = m.tokenizer_from;
  if (is_gguf(src)) {
    if (has_model_tokenizer(src)) {
      load_model_tokenizer(src)->save(out, m.lora->max_positions());
      r.tokenizer_from = src;
    }
  } else {
    for (const std::string& name : tokenizer_file_names()) {
      const std::string from = path_join(src, name);
      if (!file_exists(from)) continue;
      write_file_atomic(path_join(out, name), read_file(from));
      r.tokenizer_from = src;
    }
  }
  for (const auto& e : std::filesystem::directory_iterator(out))
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') r.files.push_back(e.path().filename().string());
  std::sort(r.files.begin(), r.files.end());
  return r;
}

}  // namespace lm::interop
