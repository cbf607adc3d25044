// load_tokenizer: picks the tokenizer kind from the files in a directory (tokenizer.json first, then
// vocab.json + merges.txt, encoder.json + vocab.bpe, vocab.txt, lmcpp's char vocabulary), plus the JSON helpers for
// added tokens shared by the loaders and savers.
#include <memory>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/tokenize/bpe.h"
#include "lm/tokenize/char_tokenizer.h"
#include "lm/tokenize/hf_files.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/tokenize/wordpiece.h"

namespace lm {

std::vector<AddedToken> parse_added_tokens(const Json& j, const std::string& where) {
  std::vector<AddedToken> out;
  LM_CHECK_AS(ErrorCode::BadFormat, j.is_array(), "added_tokens is not an array, in {}", where);
  for (auto& t : j) {
    LM_CHECK_AS(ErrorCode::BadFormat, t.is_object() && t.contains("id") && t.contains("content"),
                "added token without id/content, in {}", where);
    AddedToken a;
    a.content = t.at("content").get<std::string>();
    int64_t id = t.at("id").get<int64_t>();
    LM_CHECK_AS(ErrorCode::BadFormat, id >= 0 && id < (1 << 30), "added token id {} out of range, in {}", id, where);
    a.id = static_cast<int32_t>(id);
    a.special = t.value("special", false);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.normalized = t.value("normalized", false);
    out.push_back(std::move(a));
  }
  return out;
}

std::string added_tokens_json(const std::vector<AddedToken>& tokens) {
  std::string s = "[";
  for (size_t i = 0; i < tokens.size(); ++i) {
    nlohmann::ordered_json o;
    o["id"] = tokens[i].id;
    o["content"] = tokens[i].content;
    o["single_word"] = false;
    o["lstrip"] = tokens[i].lstrip;
    o["rstrip"] = tokens[i].rstrip;
    o["normalized"] = tokens[i].normalized;
    o["special"] = tokens[i].special;
    if (i) s.push_back(',');
    s += o.dump();
  }
  return s + "]";
}

static bool has(const std::string& dir, const char* name) { return file_exists(path_join(dir, name)); }

std::string Tokenizer::to_tokenizer_json() const {
  LM_THROW(ErrorCode::Unsupported, "a {} tokenizer has no tokenizer.json form", type());
}

bool has_tokenizer_files(const std::string& dir) {
  return has(dir, "tokenizer.json") || (has(dir, "vocab.json") && has(dir, "merges.txt")) ||
         (has(dir, "encoder.json") && has(dir, "vocab.bpe")) || has(dir, "vocab.txt") ||
         has(dir, CharTokenizer::kFileName);
}

static std::unique_ptr<Tokenizer> load_tokenizer_impl(const std::string& dir);

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  try {
    return load_tokenizer_impl(dir);
  } catch (const nlohmann::json::exception& e) {
    // A JSON value of the wrong type or a missing key in a tokenizer file.
    LM_THROW(ErrorCode::BadFormat, "unexpected tokenizer JSON content ({}), in {}", e.what(), dir);
  }
}

static std::unique_ptr<Tokenizer> load_tokenizer_impl(const std::string& dir) {
  LM_CHECK_AS(ErrorCode::NotFound, is_directory(dir), "tokenizer directory not found, in {}", dir);
  if (has(dir, CharTokenizer::kFileName)) return CharTokenizer::load(path_join(dir, CharTokenizer::kFileName));
  if (has(dir, "tokenizer.json")) {
    std::string path = path_join(dir, "tokenizer.json");
    Json j = read_json_file(path);
    LM_CHECK_AS(ErrorCode::BadFormat, j.is_object() && j.contains("model") && j["model"].is_object(),
                "no model object, in {}", path);
    std::string type = j["model"].value("type", std::string());
    if (type == "BPE") return BpeTokenizer::from_tokenizer_json(j, path);
    if (type == "WordPiece") return WordPieceTokenizer::from_tokenizer_json(j, path);
    LM_THROW(ErrorCode::Unsupported, "tokenizer model type '{}' (BPE and WordPiece are supported), in {}", type, path);
  }
  if (has(dir, "vocab.json") && has(dir, "merges.txt"))
    return BpeTokenizer::from_files(path_join(dir, "vocab.json"), path_join(dir, "merges.txt"),
                                    read_side_added_tokens(dir));
  if (has(dir, "encoder.json") && has(dir, "vocab.bpe"))
    return BpeTokenizer::from_files(path_join(dir, "encoder.json"), path_join(dir, "vocab.bpe"));
  if (has(dir, "vocab.txt")) return WordPieceTokenizer::from_vocab_txt(dir);
  LM_THROW(ErrorCode::NotFound,
           "no tokenizer files (tokenizer.json, vocab.json + merges.txt, encoder.json + vocab.bpe, vocab.txt or {}), "
           "in {}",
           CharTokenizer::kFileName, dir);
}

}  // namespace lm
