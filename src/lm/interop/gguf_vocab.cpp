// Tokenizers <-> GGUF tokenizer metadata (see gguf_vocab.h). Key names and token types as llama.cpp reads them
// (src/llama-vocab.cpp, gguf-py/gguf/constants.py); the forms as llama.cpp's converter writes them.
#include "lm/interop/gguf_vocab.h"

#include <set>

#include "lm/core/error.h"
#include "lm/core/log.h"
#include "lm/tokenize/bpe.h"
#include "lm/tokenize/wordpiece.h"

namespace lm::interop {

namespace {

// tokenizer.ggml.model values (llama.cpp's names of its tokenizer kinds, not model families).
constexpr const char* kGgufBpe = "gpt2";
constexpr const char* kGgufWordPiece = "bert";
constexpr int kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;
const std::string kPhantom = "\xE2\x96\x81";  // U+2581, llama.cpp's word-start mark

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

// id -> token text and type over n_vocab rows, from a tokenizer.json object.
void vocab_rows(const Json& j, int64_t n_vocab, std::vector<std::string>& tokens, std::vector<int32_t>& types) {
  tokens.assign(static_cast<size_t>(n_vocab), "");
  types.assign(static_cast<size_t>(n_vocab), 0);
  auto put = [&](int64_t id, const std::string& text, int32_t type) {
    LM_CHECK_AS(ErrorCode::Unsupported, id >= 0 && id < n_vocab,
                "GGUF export: token {} ('{}') is past the model's {} embedding rows", id, text, n_vocab);
    tokens[static_cast<size_t>(id)] = text;
    types[static_cast<size_t>(id)] = type;
  };
  for (auto it = j.at("model").at("vocab").begin(); it != j.at("model").at("vocab").end(); ++it)
    put(it.value().get<int64_t>(), it.key(), kNormal);
  if (j.contains("added_tokens"))
    for (const auto& a : j["added_tokens"])
      put(a.at("id").get<int64_t>(), a.at("content").get<std::string>(),
          a.value("special", true) ? kControl : kUserDefined);
  for (size_t i = 0; i < tokens.size(); ++i)
    if (types[i] == 0) {
      tokens[i] = "[PAD" + std::to_string(i) + "]";
      types[i] = kUnused;
    }
}

void put_id(Json& kv, const char* key, std::optional<int32_t> id) {
  if (id && *id >= 0) kv[key] = *id;
}

}  // namespace

Json tokenizer_to_gguf(const Tokenizer& tok, int64_t n_vocab, const SpecialIds& ids, const std::string& chat_template) {
  const Json j = parse_json(tok.to_tokenizer_json(), "tokenizer.json");
  const std::string type = j.at("model").value("type", std::string());
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  vocab_rows(j, n_vocab, tokens, types);
  Json kv = Json::object();
  if (type == "BPE") {
    const Json& pre = j.at("pre_tokenizer");
    LM_CHECK_AS(ErrorCode::Unsupported, !pre.value("add_prefix_space", false),
                "GGUF export: a byte-level BPE with add_prefix_space has no llama.cpp pre-tokenizer");
    kv["tokenizer.ggml.model"] = kGgufBpe;
    // GPT-2's pre-tokenizer regex is the one lmcpp's byte-level BPE uses, trained or not.
    kv["tokenizer.ggml.pre"] = "gpt-2";
    kv["tokenizer.ggml.tokens"] = tokens;
    kv["tokenizer.ggml.token_type"] = types;
    std::vector<std::string> merges;
    for (const auto& m : j.at("model").at("merges"))
      merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
    kv["tokenizer.ggml.merges"] = merges;
    if (ids.bos >= 0) kv["tokenizer.ggml.bos_token_id"] = ids.bos;
    if (ids.eos >= 0) kv["tokenizer.ggml.eos_token_id"] = ids.eos;
    put_id(kv, "tokenizer.ggml.eot_token_id", tok.token_to_id("<|im_end|>"));
    kv["tokenizer.ggml.add_bos_token"] = false;
    kv["tokenizer.ggml.add_eos_token"] = false;
  } else if (type == "WordPiece") {
    if (j.contains("normalizer") && j["normalizer"].is_object() && !j["normalizer"].value("lowercase", true))
      log_warn("GGUF export: llama.cpp's WordPiece lowercases its input; this cased vocabulary tokenizes "
               "differently there");
    std::set<std::string> seen;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (types[i] != kControl && types[i] != kUnused)
        tokens[i] = starts_with(tokens[i], "##") ? tokens[i].substr(2) : kPhantom + tokens[i];
      LM_CHECK_AS(ErrorCode::Unsupported, seen.insert(tokens[i]).second,
                  "GGUF export: two WordPiece tokens become '{}' in llama.cpp's form", tokens[i]);
    }
    kv["tokenizer.ggml.model"] = kGgufWordPiece;
    kv["tokenizer.ggml.tokens"] = tokens;
    kv["tokenizer.ggml.token_type"] = types;
    put_id(kv, "tokenizer.ggml.bos_token_id", tok.token_to_id("[CLS]"));
    put_id(kv, "tokenizer.ggml.cls_token_id", tok.token_to_id("[CLS]"));
    put_id(kv, "tokenizer.ggml.seperator_token_id", tok.token_to_id("[SEP]"));
    put_id(kv, "tokenizer.ggml.padding_token_id", tok.token_to_id("[PAD]"));
    put_id(kv, "tokenizer.ggml.unknown_token_id", tok.token_to_id("[UNK]"));
    put_id(kv, "tokenizer.ggml.mask_token_id", tok.token_to_id("[MASK]"));
    kv["tokenizer.ggml.add_bos_token"] = true;
    kv["tokenizer.ggml.add_sep_token"] = true;
    kv["tokenizer.ggml.add_eos_token"] = false;
  } else {
    LM_THROW(ErrorCode::Unsupported, "GGUF export: a {} tokenizer has no llama.cpp form", type);
  }
  if (!chat_template.empty()) kv["tokenizer.chat_template"] = chat_template;
  return kv;
}

namespace {

const Json& need(const Json& kv, const char* key, const std::string& where) {
  auto it = kv.find(key);
  LM_CHECK_AS(ErrorCode::BadFormat, it != kv.end(), "{}: no {}", where, key);
  return *it;
}

std::vector<std::string> string_array(const Json& kv, const char* key, const std::string& where) {
  const Json& a = need(kv, key, where);
  LM_CHECK_AS(ErrorCode::BadFormat, a.is_array(), "{}: {} is not an array", where, key);
  std::vector<std::string> out;
  out.reserve(a.size());
  for (const auto& x : a) {
    LM_CHECK_AS(ErrorCode::BadFormat, x.is_string(), "{}: {} holds a non-string", where, key);
    out.push_back(x.get<std::string>());
  }
  return out;
}

std::vector<int64_t> token_types(const Json& kv, size_t n, const std::string& where) {
  std::vector<int64_t> t(n, kNormal);
  if (auto it = kv.find("tokenizer.ggml.token_type"); it != kv.end()) {
    LM_CHECK_AS(ErrorCode::BadFormat, it->is_array() && it->size() == n,
                "{}: tokenizer.ggml.token_type must have one entry per token ({})", where, n);
    for (size_t i = 0; i < n; ++i) t[i] = (*it)[i].is_number_integer() ? (*it)[i].get<int64_t>() : kNormal;
  }
  return t;
}

Json added_entry(int64_t id, const std::string& content, bool special) {
  return Json{{"id", id},           {"content", content}, {"single_word", false}, {"lstrip", false},
              {"rstrip", false},    {"normalized", !special}, {"special", special}};
}

int64_t id_or(const Json& kv, const char* key, int64_t def) {
  auto it = kv.find(key);
  return it != kv.end() && it->is_number_integer() ? it->get<int64_t>() : def;
}

Json bpe_json(const Json& kv, const std::vector<std::string>& tokens, const std::vector<int64_t>& types,
              const std::string& where) {
  const std::string pre = kv.value("tokenizer.ggml.pre", std::string("default"));
  LM_CHECK_AS(ErrorCode::Unsupported, pre == "gpt-2" || pre == kGgufBpe || pre == "default",
              "{}: tokenizer.ggml.pre \"{}\" (lmcpp's byte-level BPE pre-tokenizes as GPT-2: gpt-2, default)", where,
              pre);
  Json vocab = Json::object(), added = Json::array();
  for (size_t i = 0; i < tokens.size(); ++i) {
    vocab[tokens[i]] = static_cast<int64_t>(i);
    if (types[i] == kControl || types[i] == kUserDefined)
      added.push_back(added_entry(static_cast<int64_t>(i), tokens[i], types[i] == kControl));
  }
  const Json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  return Json{{"added_tokens", added},
              {"normalizer", nullptr},
              {"pre_tokenizer", bl},
              {"decoder", bl},
              {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", string_array(kv, "tokenizer.ggml.merges", where)}}}};
}

Json wordpiece_json(const Json& kv, const std::vector<std::string>& tokens, const std::vector<int64_t>& types) {
  Json vocab = Json::object(), added = Json::array();
  std::vector<std::string> hf(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (types[i] == kControl || types[i] == kUnused) hf[i] = t;
    else hf[i] = starts_with(t, kPhantom) ? t.substr(kPhantom.size()) : "##" + t;
    vocab[hf[i]] = static_cast<int64_t>(i);
    if (types[i] == kControl) added.push_back(added_entry(static_cast<int64_t>(i), t, true));
  }
  auto text = [&](int64_t id) { return id >= 0 && id < static_cast<int64_t>(hf.size()) ? hf[static_cast<size_t>(id)] : std::string(); };
  const int64_t cls = id_or(kv, "tokenizer.ggml.cls_token_id", id_or(kv, "tokenizer.ggml.bos_token_id", 101));
  const int64_t sep = id_or(kv, "tokenizer.ggml.seperator_token_id", 102);
  const std::string unk = text(id_or(kv, "tokenizer.ggml.unknown_token_id", 100));
  return Json{{"added_tokens", added},
              {"normalizer", {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
                              {"strip_accents", nullptr}, {"lowercase", true}}},
              {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
              {"post_processor", {{"type", "BertProcessing"}, {"sep", {text(sep), sep}}, {"cls", {text(cls), cls}}}},
              {"model", {{"type", "WordPiece"}, {"unk_token", unk.empty() ? "[UNK]" : unk},
                         {"continuing_subword_prefix", "##"}, {"max_input_chars_per_word", 100}, {"vocab", vocab}}}};
}

}  // namespace

std::unique_ptr<Tokenizer> tokenizer_from_gguf(const Json& kv, const std::string& where) {
  const Json& model = need(kv, "tokenizer.ggml.model", where);
  LM_CHECK_AS(ErrorCode::BadFormat, model.is_string(), "{}: tokenizer.ggml.model is not a string", where);
  const std::vector<std::string> tokens = string_array(kv, "tokenizer.ggml.tokens", where);
  const std::vector<int64_t> types = token_types(kv, tokens.size(), where);
  const std::string m = model.get<std::string>();
  if (m == kGgufBpe) return BpeTokenizer::from_tokenizer_json(bpe_json(kv, tokens, types, where), where);
  if (m == kGgufWordPiece) return WordPieceTokenizer::from_tokenizer_json(wordpiece_json(kv, tokens, types), where);
  LM_THROW(ErrorCode::Unsupported, "{}: tokenizer.ggml.model \"{}\" (lmcpp reads gpt2 and bert)", where, m);
}

ChatTemplateSource chat_template_from_gguf(const Json& kv) {
  ChatTemplateSource s;
  auto tokens = kv.find("tokenizer.ggml.tokens");
  auto text = [&](const char* key) {
    const int64_t id = id_or(kv, key, -1);
    if (tokens == kv.end() || id < 0 || id >= static_cast<int64_t>(tokens->size())) return std::string();
    const Json& t = (*tokens)[static_cast<size_t>(id)];
    return t.is_string() ? t.get<std::string>() : std::string();
  };
  s.bos_token = text("tokenizer.ggml.bos_token_id");
  s.eos_token = text("tokenizer.ggml.eos_token_id");
  s.unk_token = text("tokenizer.ggml.unknown_token_id");
  s.pad_token = text("tokenizer.ggml.padding_token_id");
  if (auto t = kv.find("tokenizer.chat_template"); t != kv.end() && t->is_string()) {
    s.source = t->get<std::string>();
    s.origin = "GGUF tokenizer.chat_template";
  } else {
    s.source = chatml_template_source();
    s.origin = "built-in ChatML";
    s.builtin = true;
  }
  return s;
}

}  // namespace lm::interop
