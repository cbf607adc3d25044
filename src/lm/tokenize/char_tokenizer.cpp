// CharTokenizer: code point <-> id tables, training by collecting the corpus' code points, JSON save/load.
#include "lm/tokenize/char_tokenizer.h"

#include <algorithm>
#include <set>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/tokenize/unicode.h"

namespace lm {

CharTokenizer::CharTokenizer(std::vector<int32_t> chars, int32_t unk) : chars_(std::move(chars)), unk_(unk) {
  std::fill(std::begin(ascii_), std::end(ascii_), -1);
  LM_CHECK_AS(ErrorCode::BadFormat, unk_ >= -1 && unk_ < static_cast<int32_t>(chars_.size()),
              "char vocabulary unk index {} out of range", unk_);
  for (size_t i = 0; i < chars_.size(); ++i) {
    int32_t c = chars_[i];
    LM_CHECK_AS(ErrorCode::BadFormat, c >= 0 && c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF),
                "char vocabulary entry {} is not a code point", i);
    LM_CHECK_AS(ErrorCode::BadFormat, index_.emplace(c, static_cast<int32_t>(i)).second,
                "char vocabulary has U+{:04X} twice", c);
    if (c < 128) ascii_[c] = static_cast<int32_t>(i);
  }
}

std::vector<int32_t> CharTokenizer::encode(std::string_view text, bool) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    int len;
    int32_t cp = unicode::decode_utf8(text, i, len);
    if (cp == unicode::kInvalidCodepoint) cp = 0xFFFD;
    int32_t id = -1;
    if (cp < 128) {
      id = ascii_[cp];
    } else {
      auto it = index_.find(cp);
      if (it != index_.end()) id = it->second;
    }
    if (id < 0) id = unk_;
    LM_CHECK(id >= 0, "character U+{:04X} at byte {} is not in the char vocabulary", cp, i);
    ids.push_back(id);
    i += len;
  }
  return ids;
}

std::string CharTokenizer::decode(const std::vector<int32_t>& ids, bool) const {
  std::string out;
  for (int32_t id : ids) {
    LM_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {}), in decode", id, vocab_size());
    unicode::append_utf8(out, chars_[id]);
  }
  return out;
}

std::optional<int32_t> CharTokenizer::token_to_id(std::string_view token) const {
  int len;
  if (token.empty()) return std::nullopt;
  int32_t cp = unicode::decode_utf8(token, 0, len);
  if (cp < 0 || static_cast<size_t>(len) != token.size()) return std::nullopt;
  auto it = index_.find(cp);
  return it == index_.end() ? std::nullopt : std::optional<int32_t>(it->second);
}

std::unique_ptr<CharTokenizer> CharTokenizer::train(const std::vector<std::string>& texts) {
  std::set<int32_t> seen;
  for (auto& t : texts)
    for (size_t i = 0; i < t.size();) {
      int len;
      int32_t cp = unicode::decode_utf8(t, i, len);
      seen.insert(cp == unicode::kInvalidCodepoint ? 0xFFFD : cp);
      i += len;
    }
  return std::make_unique<CharTokenizer>(std::vector<int32_t>(seen.begin(), seen.end()));
}

void CharTokenizer::save(const std::string& dir, int64_t /*model_max_length*/) const {
  make_dirs(dir);
  nlohmann::ordered_json j;
  j["type"] = "char";
  Json chars = Json::array();
  for (int32_t c : chars_) {
    std::string s;
    unicode::append_utf8(s, c);
    chars.push_back(s);
  }
  j["chars"] = chars;
  j["unk"] = unk_ >= 0 ? Json(unk_) : Json(nullptr);
  write_file_atomic(path_join(dir, kFileName), j.dump() + "\n");
}

std::unique_ptr<CharTokenizer> CharTokenizer::load(const std::string& path) {
  Json j = read_json_file(path);
  LM_CHECK_AS(ErrorCode::BadFormat, j.is_object() && j.value("type", std::string()) == "char",
              "not a char vocabulary (\"type\": \"char\"), in {}", path);
  LM_CHECK_AS(ErrorCode::BadFormat, j.contains("chars") && j["chars"].is_array(), "no \"chars\" array, in {}", path);
  std::vector<int32_t> chars;
  for (auto& c : j["chars"]) {
    LM_CHECK_AS(ErrorCode::BadFormat, c.is_string(), "char entry is not a string, in {}", path);
    std::string s = c.get<std::string>();
    int len = 0;
    int32_t cp = s.empty() ? -1 : unicode::decode_utf8(s, 0, len);
    LM_CHECK_AS(ErrorCode::BadFormat, cp >= 0 && static_cast<size_t>(len) == s.size(),
                "char entry {} is not one character, in {}", chars.size(), path);
    chars.push_back(cp);
  }
  int32_t unk = -1;
  if (j.contains("unk") && j["unk"].is_number_integer()) unk = j["unk"].get<int32_t>();
  return std::make_unique<CharTokenizer>(std::move(chars), unk);
}

}  // namespace lm
