// WordPiece encode/decode, loaders (vocab.txt, tokenizer.json) and saver. The normalizer has an ASCII fast path;
// other text goes code point by code point through utf8proc (NFD only when accents are stripped).
#include "lm/tokenize/wordpiece.h"

#include <algorithm>

#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/tokenize/hf_files.h"
#include "lm/tokenize/unicode.h"

namespace lm {

namespace {
bool is_ascii_punct(int32_t c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
}
bool is_bert_punct(int32_t c) { return c < 0x80 ? is_ascii_punct(c) : unicode::is_punctuation(c); }
}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceConfig config,
                                       std::vector<AddedToken> added)
    : vocab_(std::move(vocab)), config_(std::move(config)) {
  strip_accents_ = config_.strip_accents.value_or(config_.lowercase);
  ids_.reserve(vocab_.size());
  cont_ids_.reserve(vocab_.size() / 4 + 16);
  for (size_t i = vocab_.size(); i-- > 0;) {  // later duplicates win, as in HF's HashMap insert
    ids_.insert(vocab_[i], static_cast<int32_t>(i));
    if (vocab_[i].size() > config_.prefix.size() && vocab_[i].compare(0, config_.prefix.size(), config_.prefix) == 0)
      cont_ids_.insert(std::string_view(vocab_[i]).substr(config_.prefix.size()), static_cast<int32_t>(i));
  }
  unk_id_ = ids_.find(config_.unk_token);
  LM_CHECK_AS(ErrorCode::BadFormat, unk_id_ >= 0, "unknown token '{}' is not in the WordPiece vocab",
              config_.unk_token);
  cls_id_ = ids_.find(config_.cls_token);
  sep_id_ = ids_.find(config_.sep_token);
  pad_id_ = ids_.find(config_.pad_token);
  if (added.empty()) {
    for (auto* t : {&config_.pad_token, &config_.unk_token, &config_.cls_token, &config_.sep_token,
                    &config_.mask_token}) {
      int32_t id = ids_.find(*t);
      if (id >= 0) added.push_back(AddedToken{*t, id, true, false, false, false});
    }
  }
  special_.assign(vocab_.size(), false);
  for (auto& a : added) {
    LM_CHECK_AS(ErrorCode::BadFormat, a.id >= 0 && a.id < static_cast<int32_t>(vocab_.size() + added.size() + 1024),
                "added token '{}' has id {} far beyond the vocabulary", a.content, a.id);
    if (a.id >= static_cast<int32_t>(vocab_.size())) {
      vocab_.resize(a.id + 1);
      special_.resize(a.id + 1, false);
    }
    if (vocab_[a.id].empty()) vocab_[a.id] = a.content;
    special_[a.id] = a.special;
  }
  added_ = AddedTokenMatcher(std::move(added));
}

std::optional<int32_t> WordPieceTokenizer::token_to_id(std::string_view token) const {
  for (auto& a : added_.tokens())
    if (a.content == token) return a.id;
  int32_t id = ids_.find(token);
  return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
}

const std::string& WordPieceTokenizer::id_to_token(int32_t id) const {
  LM_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {})", id, vocab_size());
  return vocab_[id];
}

bool WordPieceTokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && special_[id];
}

std::string WordPieceTokenizer::normalize(std::string_view text) const {
  std::string out;
  out.reserve(text.size() + 8);
  bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (ascii) {
    for (char ch : text) {
      int c = static_cast<unsigned char>(ch);
      if (config_.clean_text) {
        if (c == '\t' || c == '\n' || c == '\r') {
          out.push_back(' ');
          continue;
        }
        if (c < 0x20 || c == 0x7F) continue;
      }
      out.push_back(static_cast<char>(config_.lowercase && c >= 'A' && c <= 'Z' ? c + 32 : c));
    }
    return out;
  }
  for (size_t i = 0; i < text.size();) {
    int len;
    int32_t cp = unicode::decode_utf8(text, i, len);
    i += len;
    if (cp == unicode::kInvalidCodepoint) cp = 0xFFFD;
    if (config_.clean_text) {
      if (cp == 0 || cp == 0xFFFD || unicode::is_bert_control(cp)) continue;
      if (unicode::is_white_space(cp)) cp = ' ';
    }
    if (config_.handle_chinese_chars && unicode::is_cjk_ideograph(cp)) {
      out.push_back(' ');
      unicode::append_utf8(out, cp);
      out.push_back(' ');
    } else {
      unicode::append_utf8(out, cp);
    }
  }
  if (strip_accents_) {
    std::string d = unicode::nfd(out);
    out.clear();
    for (size_t i = 0; i < d.size();) {
      int len;
      int32_t cp = unicode::decode_utf8(d, i, len);
      if (!unicode::is_mark_nonspacing(cp)) out.append(d, i, len);
      i += len;
    }
  }
  if (config_.lowercase) {
    std::string l;
    l.reserve(out.size());
    for (size_t i = 0; i < out.size();) {
      int len;
      int32_t cp = unicode::decode_utf8(out, i, len);
      unicode::append_lower(l, cp);
      i += len;
    }
    out = std::move(l);
  }
  return out;
}

// Splits normalized text into words (whitespace removed, each punctuation character its own word).
template <class F>
static void bert_pre_tokenize(std::string_view s, F&& f) {
  size_t start = 0, i = 0;
  while (i < s.size()) {
    int len = 1;
    auto c = static_cast<unsigned char>(s[i]);
    int32_t cp = c < 0x80 ? c : unicode::decode_utf8(s, i, len);
    bool ws = unicode::is_white_space(cp);
    bool punct = !ws && is_bert_punct(cp);
    if (ws || punct) {
      if (i > start) f(s.substr(start, i - start));
      if (punct) f(s.substr(i, len));
      start = i + len;
    }
    i += len;
  }
  if (i > start) f(s.substr(start, i - start));
}

std::vector<std::string> WordPieceTokenizer::pre_tokenize(std::string_view normalized) const {
  std::vector<std::string> words;
  bert_pre_tokenize(normalized, [&](std::string_view w) { words.emplace_back(w); });
  return words;
}

void WordPieceTokenizer::word_piece(std::string_view word, std::vector<int32_t>& ids) const {
  if (unicode::count_codepoints(word) > static_cast<size_t>(config_.max_input_chars_per_word)) {
    ids.push_back(unk_id_);
    return;
  }
  size_t before = ids.size();
  size_t start = 0;
  while (start < word.size()) {
    size_t end = word.size();
    int32_t found = -1;
    while (end > start) {
      std::string_view sub = word.substr(start, end - start);
      found = start == 0 ? ids_.find(sub) : cont_ids_.find(sub);
      if (found >= 0) break;
      // step back one code point
      --end;
      while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) --end;
    }
    if (found < 0) {
      ids.resize(before);
      ids.push_back(unk_id_);
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

void WordPieceTokenizer::encode_segment(std::string_view seg, std::vector<int32_t>& ids) const {
  std::string norm = normalize(seg);
  bert_pre_tokenize(norm, [&](std::string_view w) { word_piece(w, ids); });
}

void WordPieceTokenizer::encode_into(std::string_view text, std::vector<int32_t>& ids) const {
  added_.split(
      text, [&](size_t b, size_t e) { encode_segment(text.substr(b, e - b), ids); },
      [&](int32_t id, size_t, size_t) { ids.push_back(id); });
}

void WordPieceTokenizer::encode_with_offsets(std::string_view text, std::vector<int32_t>& ids,
                                             std::vector<std::pair<int64_t, int64_t>>& offsets) const {
  // Normalization code point by code point, each output code point remembering its source byte range.
  struct Mapped {
    int32_t cp;
    int64_t b, e;
  };
  auto segment = [&](size_t seg_b, size_t seg_e) {
    std::vector<Mapped> norm;
    std::u32string tmp;
    for (size_t i = seg_b; i < seg_e;) {
      int len;
      int32_t cp = unicode::decode_utf8(text.substr(0, seg_e), i, len);
      int64_t b = static_cast<int64_t>(i), e = static_cast<int64_t>(i + len);
      i += len;
      if (cp == unicode::kInvalidCodepoint) cp = 0xFFFD;
      if (config_.clean_text) {
        if (cp == 0 || cp == 0xFFFD || unicode::is_bert_control(cp)) continue;
        if (unicode::is_white_space(cp)) cp = ' ';
      }
      bool cjk = config_.handle_chinese_chars && unicode::is_cjk_ideograph(cp);
      if (cjk) norm.push_back({' ', b, e});
      tmp.clear();
      if (strip_accents_)
        unicode::append_decomposition(tmp, cp);
      else
        tmp.push_back(static_cast<char32_t>(cp));
      for (char32_t c : tmp) norm.push_back({static_cast<int32_t>(c), b, e});
      if (cjk) norm.push_back({' ', b, e});
    }
    if (strip_accents_) {
      // Canonical ordering of combining marks (what NFD adds to decomposition), then drop Mn.
      for (size_t i = 0; i < norm.size();) {
        if (unicode::combining_class(norm[i].cp) == 0) {
          ++i;
          continue;
        }
        size_t j = i;
        while (j < norm.size() && unicode::combining_class(norm[j].cp) != 0) ++j;
        std::stable_sort(norm.begin() + i, norm.begin() + j, [](const Mapped& x, const Mapped& y) {
          return unicode::combining_class(x.cp) < unicode::combining_class(y.cp);
        });
        i = j;
      }
      std::vector<Mapped> kept;
      for (auto& m : norm)
        if (!unicode::is_mark_nonspacing(m.cp)) kept.push_back(m);
      norm.swap(kept);
    }
    // Lowercase, then split into words and run WordPiece on each word's UTF-8 with per-byte source ranges.
    std::string word;
    std::vector<std::pair<int64_t, int64_t>> src;  // per byte of word
    auto flush = [&] {
      if (word.empty()) return;
      size_t before = ids.size();
      word_piece(word, ids);
      if (ids.size() == before + 1 && ids.back() == unk_id_) {
        offsets.push_back({src.front().first, src.back().second});
      } else {
        size_t pos = 0;
        for (size_t k = before; k < ids.size(); ++k) {
          size_t len = vocab_[ids[k]].size();
          if (k > before) len -= config_.prefix.size();
          offsets.push_back({src[pos].first, src[pos + len - 1].second});
          pos += len;
        }
      }
      word.clear();
      src.clear();
    };
    std::string buf;
    for (auto& m : norm) {
      buf.clear();
      if (config_.lowercase)
        unicode::append_lower(buf, m.cp);
      else
        unicode::append_utf8(buf, m.cp);
      int len;
      int32_t first = unicode::decode_utf8(buf, 0, len);
      bool ws = unicode::is_white_space(first);
      bool punct = !ws && is_bert_punct(first);
      if (ws || punct) {
        flush();
        if (punct) {
          word = buf;
          src.assign(buf.size(), {m.b, m.e});
          flush();
        }
        continue;
      }
      word += buf;
      src.insert(src.end(), buf.size(), {m.b, m.e});
    }
    flush();
  };
  added_.split(text, segment, [&](int32_t id, size_t b, size_t e) {
    ids.push_back(id);
    offsets.push_back({static_cast<int64_t>(b), static_cast<int64_t>(e)});
  });
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 4 + 4);
  if (add_special_tokens) {
    LM_CHECK_AS(ErrorCode::BadFormat, cls_id_ >= 0 && sep_id_ >= 0, "WordPiece vocab lacks {} or {}",
                config_.cls_token, config_.sep_token);
    ids.push_back(cls_id_);
  }
  encode_into(text, ids);
  if (add_special_tokens) ids.push_back(sep_id_);
  return ids;
}

static void cleanup_tokenization(std::string& s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},   {" ?", "?"},   {" !", "!"},   {" ,", ","},       {" ' ", "'"},   {" n't", "n't"},
      {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto& [from, to] : kRules) {
    std::string_view f(from), t(to);
    size_t pos = 0;
    while ((pos = s.find(f, pos)) != std::string::npos) {
      s.replace(pos, f.size(), t);
      pos += t.size();
    }
  }
}

std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  // HF tokenizers' WordPiece decoder: "##" pieces join the previous token, others are space-separated; each token
  // then goes through the cleanup rules (" ." -> "." ...).
  std::string out;
  size_t i = 0;
  for (int32_t id : ids) {
    LM_CHECK(id >= 0 && id < vocab_size(), "token id {} out of range [0, {}), in decode", id, vocab_size());
    if (skip_special_tokens && special_[id]) continue;
    std::string tok = vocab_[id];
    if (i != 0) {
      if (tok.compare(0, config_.prefix.size(), config_.prefix) == 0)
        tok.erase(0, config_.prefix.size());
      else
        tok = std::string(1, ' ').append(tok);
    }
    cleanup_tokenization(tok);
    out += tok;
    ++i;
  }
  return out;
}

// ---- loading and saving ----

static std::vector<std::string> read_vocab_txt(const std::string& path) {
  std::string text = read_file(path);
  std::vector<std::string> vocab;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    vocab.push_back(std::move(line));
  }
  LM_CHECK_AS(ErrorCode::BadFormat, !vocab.empty(), "empty vocabulary, in {}", path);
  return vocab;
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_vocab_txt(const std::string& dir) {
  std::string path = path_join(dir, "vocab.txt");
  auto vocab = read_vocab_txt(path);
  WordPieceConfig cfg;
  std::string cfg_path = path_join(dir, "tokenizer_config.json");
  bool lower_known = false;
  if (file_exists(cfg_path)) {
    Json j = read_json_file(cfg_path);
    if (j.is_object() && j.contains("do_lower_case") && j["do_lower_case"].is_boolean()) {
      cfg.lowercase = j["do_lower_case"].get<bool>();
      lower_known = true;
    }
    if (j.is_object() && j.contains("strip_accents") && j["strip_accents"].is_boolean())
      cfg.strip_accents = j["strip_accents"].get<bool>();
    if (j.is_object() && j.contains("tokenize_chinese_chars") && j["tokenize_chinese_chars"].is_boolean())
      cfg.handle_chinese_chars = j["tokenize_chinese_chars"].get<bool>();
    for (auto [key, field] : {std::pair{"unk_token", &cfg.unk_token}, std::pair{"cls_token", &cfg.cls_token},
                              std::pair{"sep_token", &cfg.sep_token}, std::pair{"pad_token", &cfg.pad_token},
                              std::pair{"mask_token", &cfg.mask_token}})
      if (j.is_object() && j.contains(key) && j[key].is_string()) *field = j[key].get<std::string>();
  }
  if (!lower_known) {
    bool has_upper = false;
    for (auto& t : vocab) {
      if (t.size() >= 2 && t.front() == '[' && t.back() == ']') continue;
      for (size_t i = 0; i < t.size() && !has_upper;) {
        int len;
        int32_t cp = unicode::decode_utf8(t, i, len);
        has_upper = unicode::is_uppercase_letter(cp);
        i += len;
      }
      if (has_upper) break;
    }
    cfg.lowercase = !has_upper;
  }
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), std::move(cfg));
}

// [CLS] and [SEP] of a TemplateProcessing whose single template is "CLS $A SEP" (what BertTokenizerFast writes);
// other templates are not BERT's and are refused.
static void template_cls_sep(const Json& p, WordPieceConfig& cfg, const std::string& where) {
  const Json& single = p.at("single");
  auto special = [&](size_t i) -> std::string {
    const Json& piece = single.at(i);
    LM_CHECK_AS(ErrorCode::Unsupported, piece.is_object() && piece.contains("SpecialToken"),
                "TemplateProcessing other than [CLS] $A [SEP], in {}", where);
    return piece["SpecialToken"].at("id").get<std::string>();
  };
  LM_CHECK_AS(ErrorCode::Unsupported, single.is_array() && single.size() == 3 && single[1].contains("Sequence"),
              "TemplateProcessing other than [CLS] $A [SEP], in {}", where);
  cfg.cls_token = special(0);
  cfg.sep_token = special(2);
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_tokenizer_json(const Json& j, const std::string& where) {
  const Json& model = j.at("model");
  WordPieceConfig cfg;
  cfg.unk_token = model.value("unk_token", cfg.unk_token);
  cfg.prefix = model.value("continuing_subword_prefix", cfg.prefix);
  cfg.max_input_chars_per_word = model.value("max_input_chars_per_word", cfg.max_input_chars_per_word);
  const Json& vj = model.at("vocab");
  LM_CHECK_AS(ErrorCode::BadFormat, vj.is_object(), "model.vocab is not an object, in {}", where);
  std::vector<std::string> vocab(vj.size());
  for (auto it = vj.begin(); it != vj.end(); ++it) {
    int64_t id = it.value().get<int64_t>();
    LM_CHECK_AS(ErrorCode::BadFormat, id >= 0 && id < static_cast<int64_t>(vj.size()),
                "id {} of '{}' out of range, in {}", id, it.key(), where);
    vocab[id] = it.key();
  }
  if (j.contains("normalizer") && j["normalizer"].is_object()) {
    const Json& n = j["normalizer"];
    std::string t = n.value("type", std::string());
    LM_CHECK_AS(ErrorCode::Unsupported, t == "BertNormalizer", "normalizer '{}' with WordPiece, in {}", t, where);
    cfg.lowercase = n.value("lowercase", true);
    cfg.clean_text = n.value("clean_text", true);
    cfg.handle_chinese_chars = n.value("handle_chinese_chars", true);
    if (n.contains("strip_accents") && n["strip_accents"].is_boolean()) cfg.strip_accents = n["strip_accents"].get<bool>();
  }
  if (j.contains("post_processor") && j["post_processor"].is_object()) {
    const Json& p = j["post_processor"];
    const std::string t = p.value("type", std::string());
    if (t == "BertProcessing") {
      cfg.cls_token = p.at("cls").at(0).get<std::string>();
      cfg.sep_token = p.at("sep").at(0).get<std::string>();
    } else if (t == "TemplateProcessing") {
      template_cls_sep(p, cfg, where);
    }
  }
  std::vector<AddedToken> added;
  if (j.contains("added_tokens")) added = parse_added_tokens(j["added_tokens"], where);
  return std::make_unique<WordPieceTokenizer>(std::move(vocab), std::move(cfg), std::move(added));
}

// As transformers' BertConverter builds it (and the Hub's bert-base-uncased tokenizer.json): strip_accents null
// when unset (it then follows lowercase), TemplateProcessing [CLS] $A [SEP] / $B:1 [SEP]:1.
std::string WordPieceTokenizer::to_tokenizer_json() const {
  using OJson = nlohmann::ordered_json;
  OJson j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  j["added_tokens"] = OJson::parse(added_tokens_json(added_.tokens()));
  j["normalizer"] = {{"type", "BertNormalizer"},
                     {"clean_text", config_.clean_text},
                     {"handle_chinese_chars", config_.handle_chinese_chars},
                     {"strip_accents", config_.strip_accents ? OJson(*config_.strip_accents) : OJson(nullptr)},
                     {"lowercase", config_.lowercase}};
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  auto special = [](const std::string& t, int type_id) {
    return OJson{{"SpecialToken", {{"id", t}, {"type_id", type_id}}}};
  };
  auto sequence = [](const char* s, int type_id) { return OJson{{"Sequence", {{"id", s}, {"type_id", type_id}}}}; };
  const std::string &cls = config_.cls_token, &sep = config_.sep_token;
  OJson specials = OJson::object();
  for (auto [t, id] : {std::pair{&cls, cls_id_}, std::pair{&sep, sep_id_}})
    specials[*t] = {{"id", *t}, {"ids", {id}}, {"tokens", {*t}}};
  j["post_processor"] = nullptr;  // a vocabulary without [CLS]/[SEP] gets none
  if (cls_id_ >= 0 && sep_id_ >= 0)
    j["post_processor"] = {
        {"type", "TemplateProcessing"},
        {"single", {special(cls, 0), sequence("A", 0), special(sep, 0)}},
        {"pair", {special(cls, 0), sequence("A", 0), special(sep, 0), sequence("B", 1), special(sep, 1)}},
        {"special_tokens", specials}};
  j["decoder"] = {{"type", "WordPiece"}, {"prefix", config_.prefix}, {"cleanup", true}};
  j["model"] = {{"type", "WordPiece"},
                {"unk_token", config_.unk_token},
                {"continuing_subword_prefix", config_.prefix},
                {"max_input_chars_per_word", config_.max_input_chars_per_word},
                {"vocab", nullptr}};
  // The vocabulary is spliced in by hand: ordered_json objects insert in linear time.
  std::string vocab = "{";
  for (size_t i = 0; i < vocab_.size(); ++i) {
    if (i) vocab.push_back(',');
    vocab += Json(vocab_[i]).dump();
    vocab.push_back(':');
    vocab += std::to_string(i);
  }
  vocab.push_back('}');
  std::string text = j.dump();
  const std::string key = "\"vocab\":null";
  size_t at = text.rfind(key);
  LM_ASSERT(at != std::string::npos);
  text.replace(at + key.size() - 4, 4, vocab);
  return text + "\n";
}

// BertTokenizerFast.save_pretrained's files.
void WordPieceTokenizer::save(const std::string& dir, int64_t model_max_length) const {
  make_dirs(dir);
  std::string text;
  for (auto& t : vocab_) text += t + "\n";
  write_file_atomic(path_join(dir, "vocab.txt"), text);
  write_file_atomic(path_join(dir, "tokenizer.json"), to_tokenizer_json());
  HfTokenizerConfig c;
  c.tokenizer_class = "BertTokenizer";
  c.model_max_length = model_max_length > 0 ? model_max_length : 512;
  c.special_tokens = {{"unk_token", config_.unk_token}, {"cls_token", config_.cls_token},
                      {"sep_token", config_.sep_token}, {"pad_token", config_.pad_token},
                      {"mask_token", config_.mask_token}};
  c.options = Json{{"do_lower_case", config_.lowercase},
                   {"strip_accents", config_.strip_accents ? Json(*config_.strip_accents) : Json(nullptr)},
                   {"tokenize_chinese_chars", config_.handle_chinese_chars},
                   {"do_basic_tokenize", true},
                   {"never_split", nullptr}};
  write_hf_tokenizer_config(dir, c, added_.tokens());
}

}  // namespace lm
