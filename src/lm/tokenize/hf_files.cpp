// tokenizer_config.json / special_tokens_map.json / added_tokens.json writers and the side-file carry-over
// (hf_files.h).
#include "lm/tokenize/hf_files.h"

#include <cstdio>

#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm {

void write_hf_tokenizer_config(const std::string& dir, const HfTokenizerConfig& c,
                               const std::vector<AddedToken>& added) {
  Json cfg = c.options.is_object() ? c.options : Json::object();
  cfg["tokenizer_class"] = c.tokenizer_class;
  cfg["model_max_length"] = c.model_max_length;
  cfg["clean_up_tokenization_spaces"] = c.tokenizer_class == "BertTokenizer";
  Json decoder = Json::object();
  for (const AddedToken& a : added)
    decoder[std::to_string(a.id)] = Json{{"content", a.content}, {"lstrip", a.lstrip}, {"normalized", a.normalized},
                                         {"rstrip", a.rstrip}, {"single_word", false}, {"special", a.special}};
  cfg["added_tokens_decoder"] = decoder;
  Json map = Json::object();
  for (const auto& [key, token] : c.special_tokens) {
    cfg[key] = token;
    map[key] = token;
  }
  write_file_atomic(path_join(dir, "tokenizer_config.json"), cfg.dump(2) + "\n");
  write_file_atomic(path_join(dir, "special_tokens_map.json"), map.dump(2) + "\n");
}

void write_added_tokens_json(const std::string& dir, const std::vector<AddedToken>& added, int64_t base_vocab_size) {
  Json j = Json::object();
  for (const AddedToken& a : added)
    if (a.id >= base_vocab_size) j[a.content] = a.id;
  const std::string path = path_join(dir, "added_tokens.json");
  if (!j.empty())
    write_file_atomic(path, j.dump(2) + "\n");
  else if (file_exists(path))
    std::remove(path.c_str());
}

// A JSON object file, or null when the file is absent or not a JSON object.
static Json read_object(const std::string& path) {
  if (!file_exists(path)) return Json();
  try {
    Json j = read_json_file(path);
    return j.is_object() ? j : Json();
  } catch (const Error&) {
    return Json();
  }
}

void carry_tokenizer_side_files(const std::string& src_dir, const std::string& dst_dir) {
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const std::string src_path = path_join(src_dir, name), dst_path = path_join(dst_dir, name);
    if (!file_exists(src_path)) continue;
    const Json src = read_object(src_path);
    Json dst = read_object(dst_path);
    if (src.is_null() || dst.is_null()) {  // not ours to fix: travels as it is, as before
      write_file_atomic(dst_path, read_file(src_path));
      continue;
    }
    const Json keep = dst.value("model_max_length", Json());
    for (auto it = src.begin(); it != src.end(); ++it) dst[it.key()] = it.value();
    if (!keep.is_null()) dst["model_max_length"] = keep;
    write_file_atomic(dst_path, dst.dump(2) + "\n");
  }
  const std::string jinja = path_join(src_dir, "chat_template.jinja");
  if (file_exists(jinja)) write_file_atomic(path_join(dst_dir, "chat_template.jinja"), read_file(jinja));
}

// An added token's id: a JSON integer, or the decimal key of added_tokens_decoder.
static int32_t added_id(const Json& v, const std::string& token, const std::string& where) {
  int64_t id = -1;
  if (v.is_number_integer()) {
    id = v.get<int64_t>();
  } else if (v.is_string()) {
    const std::string k = v.get<std::string>();
    if (!k.empty() && k.size() < 10 && k.find_first_not_of("0123456789") == std::string::npos) id = std::stoll(k);
  }
  LM_CHECK_AS(ErrorCode::BadFormat, id >= 0 && id < (1 << 30), "added token '{}' has no valid id, in {}", token, where);
  return static_cast<int32_t>(id);
}

std::vector<AddedToken> read_side_added_tokens(const std::string& dir) {
  std::vector<AddedToken> out;
  const std::string cfg_path = path_join(dir, "tokenizer_config.json");
  const Json cfg = read_object(cfg_path);
  if (cfg.is_object() && cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object()) {
    for (auto it = cfg["added_tokens_decoder"].begin(); it != cfg["added_tokens_decoder"].end(); ++it) {
      const Json& t = it.value();
      LM_CHECK_AS(ErrorCode::BadFormat, t.is_object() && t.contains("content") && t["content"].is_string(),
                  "added_tokens_decoder entry {} without content, in {}", it.key(), cfg_path);
      const std::string content = t["content"].get<std::string>();
      out.push_back(AddedToken{content, added_id(Json(it.key()), content, cfg_path), t.value("special", false),
                               t.value("lstrip", false), t.value("rstrip", false), t.value("normalized", false)});
    }
    return out;
  }
  const std::string json_path = path_join(dir, "added_tokens.json");
  const Json j = read_object(json_path);
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it)
      out.push_back(AddedToken{it.key(), added_id(it.value(), it.key(), json_path), true, false, false, false});
  return out;
}

}  // namespace lm
