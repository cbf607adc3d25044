// Opening a model directory or a GGUF file (see open.h).
#include "lm/interop/open.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "lm/core/file_util.h"
#include "lm/interop/gguf_model.h"
#include "lm/models/lora.h"
#include "lm/io/gguf.h"

namespace lm::interop {

bool is_gguf(const std::string& path) {
  if (is_directory(path)) return false;
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0) return true;
  if (!file_exists(path) || is_directory(path)) return false;
  char magic[4] = {};
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  const size_t n = std::fread(magic, 1, 4, f);
  std::fclose(f);
  return n == 4 && magic[0] == 'G' && magic[1] == 'G' && magic[2] == 'U' && magic[3] == 'F';
}

std::unique_ptr<models::Model> load_model(const std::string& path, const std::string& adapter) {
  if (adapter.empty()) return is_gguf(path) ? load_gguf_model(path) : models::load_model_dir(path);
  return load_adapted_model(path, adapter);
}

std::unique_ptr<models::LoraModel> load_adapted_model(const std::string& path, const std::string& adapter) {
  auto base = is_gguf(path) ? load_gguf_model(path) : models::load_model_dir(path);
  const std::string trained = path_join(adapter, models::kBaseConfigFile);
  if (file_exists(trained)) {
    // An adapter trained with a task head (a classifier, a span head) applies on a base without it: the base's
    // weights in the trained config's architecture (the head's weights come with the adapter).
    Json cfg = read_json_file(trained);
    if (models::config_head(cfg) != base->head()) {
      LM_CHECK_AS(ErrorCode::Unsupported, !is_gguf(path), "{}: the adapter in {} was trained with a {} head; "
                  "apply it on the HF directory", path, adapter, cfg.value("architectures", Json::array()).dump());
      cfg["vocab_size"] = base->vocab_size();
      base = models::create_model(cfg);
      base->load_safetensors(path_join(path, "model.safetensors"));
    }
  }
  if (auto rows = models::adapter_vocab_rows(*base, adapter)) {
    // Fine-tuning added tokens (chat): the base grows the adapter's rows (their values come from the adapter),
    // and the end of turn of the adapter's tokenizer becomes the eos generation stops at.
    models::ConfigRequest req;
    req.vocab_size = *rows;
    if (has_tokenizer_files(adapter)) {
      const std::string cfg = path_join(adapter, "tokenizer_config.json");
      const Json tc = file_exists(cfg) ? read_json_file(cfg) : Json::object();
      const Json eos = tc.value("eos_token", Json());
      const std::string text = eos.is_string() ? eos.get<std::string>() : eos.is_object() ? eos.value("content", "") : "";
      if (!text.empty())
        if (auto id = load_tokenizer(adapter)->token_to_id(text)) req.end_of_turn_id = *id;
    }
    base = models::resize_vocab(*base, req, std::min(base->vocab_size(), *rows));
  }
  return models::LoraModel::load(std::move(base), adapter);
}

std::string tokenizer_source(const std::string& path, const std::string& adapter) {
  return !adapter.empty() && is_directory(adapter) && has_tokenizer_files(adapter) ? adapter : path;
}

std::unique_ptr<Tokenizer> load_model_tokenizer(const std::string& path) {
  return is_gguf(path) ? load_gguf_tokenizer(path) : load_tokenizer(path);
}

bool has_model_tokenizer(const std::string& path) { return is_gguf(path) || has_tokenizer_files(path); }

ChatFormat load_model_chat_format(const std::string& path, const std::string& choice, const Tokenizer& tok) {
  if (!is_gguf(path)) return load_chat_format(path, choice, tok);
  return make_chat_format(load_gguf_chat_template(path), choice, tok);
}

ChatTemplateSource model_chat_template(const std::string& path) {
  return is_gguf(path) ? load_gguf_chat_template(path) : find_chat_template(path);
}

Json model_files_info(const std::string& path) {
  if (!is_gguf(path)) {
    Json files = Json::array();
    for (const auto& e : std::filesystem::directory_iterator(path))
      if (e.is_regular_file()) files.push_back(e.path().filename().string());
    std::sort(files.begin(), files.end());
    uint64_t bytes = 0;
    if (file_exists(path_join(path, "model.safetensors")))
      bytes = std::filesystem::file_size(path_join(path, "model.safetensors"));
    return Json{{"format", "hf"}, {"files", files}, {"weights_bytes", bytes}};
  }
  GgufFile f(path);
  std::map<std::string, int64_t> types;
  uint64_t bytes = 0;
  for (const auto& t : f.tensors()) {
    const GgmlTypeLayout* l = ggml_type_layout(t.raw_type);
    ++types[l ? l->name : fmt::format("type {}", t.raw_type)];
    bytes += t.nbytes;
  }
  return Json{{"format", "gguf"},
              {"version", f.version()},
              {"metadata_keys", f.kvs().size()},
              {"tensors", f.tensors().size()},
              {"tensor_types", types},
              {"weights_bytes", bytes},
              {"file_bytes", std::filesystem::file_size(path)}};
}

}  // namespace lm::interop
