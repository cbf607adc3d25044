// OpenAI request bodies -> prompts and sampling (see openai.h).
#include "lm/generate/openai.h"

#include <algorithm>

#include <cmath>
#include <limits>

#include "lm/core/error.h"

namespace lm::generate {

namespace {

const Json* field(const Json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number(const Json& body, const char* name, double lo, double hi, double dflt) {
  const Json* v = field(body, name);
  if (!v) return dflt;
  LM_CHECK(v->is_number(), "'{}' must be a number", name);
  const double x = v->get<double>();
  LM_CHECK(std::isfinite(x) && x >= lo && x <= hi, "'{}' must be in [{}, {}], got {}", name, lo, hi, x);
  return x;
}

int64_t integer(const Json& body, const char* name, int64_t lo, int64_t hi, int64_t dflt) {
  const Json* v = field(body, name);
  if (!v) return dflt;
  LM_CHECK(v->is_number_integer() || (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
                                      std::fabs(v->get<double>()) < 9e15),
           "'{}' must be an integer", name);
  const int64_t x = v->is_number_integer() ? (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{1} << 62
                                                  ? std::numeric_limits<int64_t>::max()
                                                  : v->get<int64_t>())
                                           : static_cast<int64_t>(v->get<double>());
  LM_CHECK(x >= lo && x <= hi, "'{}' must be in [{}, {}], got {}", name, lo, hi, x);
  return x;
}

bool boolean(const Json& body, const char* name, bool dflt) {
  const Json* v = field(body, name);
  if (!v) return dflt;
  LM_CHECK(v->is_boolean(), "'{}' must be a boolean", name);
  return v->get<bool>();
}

std::vector<int32_t> id_list(const Json& a, int64_t V, const char* what) {
  std::vector<int32_t> ids;
  for (const auto& x : a) {
    LM_CHECK(x.is_number_integer(), "'{}' token ids must be integers", what);
    const int64_t id = x.get<int64_t>();
    LM_CHECK(id >= 0 && id < V, "'{}': token id {} is out of range for vocab_size {}", what, id, V);
    ids.push_back(static_cast<int32_t>(id));
  }
  return ids;
}

std::vector<int32_t> text_prompt(const Tokenizer* tok, const std::string& s) {
  LM_CHECK(tok != nullptr, "'prompt' as text needs the model's tokenizer files; send token ids");
  std::vector<int32_t> ids = tok->encode(s, false);
  LM_CHECK(!ids.empty(), "'prompt' encodes to no tokens");
  return ids;
}

std::vector<std::vector<int32_t>> parse_prompts(const Json& p, const Tokenizer* tok, int64_t V) {
  std::vector<std::vector<int32_t>> out;
  if (p.is_string()) {
    out.push_back(text_prompt(tok, p.get<std::string>()));
  } else if (p.is_array() && !p.empty() && p[0].is_number()) {
    out.push_back(id_list(p, V, "prompt"));
  } else if (p.is_array() && !p.empty()) {
    LM_CHECK(p.size() <= 64, "'prompt' holds {} prompts; at most 64", p.size());
    for (const auto& e : p) {
      if (e.is_string())
        out.push_back(text_prompt(tok, e.get<std::string>()));
      else if (e.is_array())
        out.push_back(id_list(e, V, "prompt"));
      else
        LM_THROW(ErrorCode::InvalidArgument, "'prompt' entries must be strings or arrays of token ids");
    }
  } else {
    LM_THROW(ErrorCode::InvalidArgument, "'prompt' must be a string, an array of strings, an array of token ids or an array of such arrays");
  }
  for (const auto& ids : out) LM_CHECK(!ids.empty(), "'prompt' is empty");
  return out;
}

std::vector<std::string> parse_stop(const Json& body) {
  const Json* v = field(body, "stop");
  if (!v) return {};
  std::vector<std::string> out;
  if (v->is_string()) {
    out.push_back(v->get<std::string>());
  } else {
    LM_CHECK(v->is_array() && v->size() <= 16, "'stop' must be a string or an array of at most 16 strings");
    for (const auto& s : *v) {
      LM_CHECK(s.is_string(), "'stop' must be a string or an array of strings");
      out.push_back(s.get<std::string>());
    }
  }
  for (const auto& s : out) LM_CHECK(!s.empty() && s.size() <= 256, "a 'stop' string must have 1 to 256 bytes");
  return out;
}

}  // namespace

OrderedJson messages_json(const std::vector<ChatMessage>& messages) {
  OrderedJson out = OrderedJson::array();
  for (const ChatMessage& m : messages) out.push_back(OrderedJson{{"role", m.role}, {"content", m.content}});
  return out;
}

std::vector<ChatMessage> parse_messages(const Json& messages) {
  LM_CHECK(messages.is_array() && !messages.empty(), "'messages' must be a non-empty array");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    LM_CHECK(m.is_object(), "messages[{}] must be an object", i);
    auto role = m.find("role");
    LM_CHECK(role != m.end() && role->is_string(), "messages[{}].role must be a string", i);
    const std::string r = role->get<std::string>();
    LM_CHECK(r == "system" || r == "user" || r == "assistant" || r == "tool" || r == "developer",
             "messages[{}].role '{}' is not one of system, user, assistant, tool, developer", i, r);
    ChatMessage cm{r, ""};
    auto content = m.find("content");
    if (content == m.end() || content->is_null()) {
      LM_CHECK(r == "assistant", "messages[{}].content is missing", i);
    } else if (content->is_string()) {
      cm.content = content->get<std::string>();
    } else if (content->is_array()) {
      // Content parts: only text parts are understood.
      for (const auto& part : *content) {
        LM_CHECK(part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
                     part["text"].is_string(),
                 "messages[{}].content: only {{\"type\": \"text\", \"text\": ...}} parts are supported", i);
        cm.content += part["text"].get<std::string>();
      }
    } else {
      LM_THROW(ErrorCode::InvalidArgument, "messages[{}].content must be a string or an array of text parts", i);
    }
    out.push_back(std::move(cm));
  }
  return out;
}

ApiRequest parse_request(const Json& body, bool chat, const Tokenizer* tok, int64_t vocab_size,
                         const ChatFormat* chat_format) {
  LM_CHECK(body.is_object(), "the request body must be a JSON object");
  ApiRequest r;
  r.chat = chat;
  if (const Json* m = field(body, "model")) {
    LM_CHECK(m->is_string(), "'model' must be a string");
    r.model = m->get<std::string>();
  }
  if (chat) {
    const Json* m = field(body, "messages");
    LM_CHECK(m != nullptr, "'messages' is required");
    r.messages = parse_messages(*m);
    LM_CHECK(tok != nullptr && chat_format != nullptr, "chat needs the model's tokenizer files");
    r.prompts.push_back(chat_format->encode(chat_format->render(messages_json(r.messages), true)));
  } else {
    const Json* p = field(body, "prompt");
    LM_CHECK(p != nullptr, "'prompt' is required");
    r.prompts = parse_prompts(*p, tok, vocab_size);
  }
  SequenceRequest& q = r.params;
  const Json* mt = field(body, "max_completion_tokens");
  const char* mt_name = mt ? "max_completion_tokens" : "max_tokens";
  r.max_tokens_given = field(body, mt_name) != nullptr;
  q.max_tokens = integer(body, mt_name, 1, int64_t{1} << 30, 16);
  const double temperature = number(body, "temperature", 0, 2, 1);
  q.sampling.greedy = temperature == 0;
  q.sampling.temperature = q.sampling.greedy ? 1.0f : static_cast<float>(temperature);
  q.sampling.top_p = static_cast<float>(number(body, "top_p", 0, 1, 1));
  if (q.sampling.top_p == 0) q.sampling.greedy = true;  // OpenAI accepts 0: only the most likely token
  if (q.sampling.top_p == 0) q.sampling.top_p = 1;
  q.sampling.top_k = integer(body, "top_k", 0, int64_t{1} << 30, 0);
  q.sampling.repetition_penalty = static_cast<float>(number(body, "repetition_penalty", 1e-3, 100, 1));
  q.sampling.seed = static_cast<uint64_t>(integer(body, "seed", std::numeric_limits<int64_t>::min(),
                                                  std::numeric_limits<int64_t>::max(), 0));
  q.presence_penalty = static_cast<float>(number(body, "presence_penalty", -2, 2, 0));
  q.frequency_penalty = static_cast<float>(number(body, "frequency_penalty", -2, 2, 0));
  q.stop = parse_stop(body);
  if (chat && chat_format) {
    // The end of a turn in text form (a model whose eos is another token may still write it).
    const std::string eot = end_of_turn_token(*chat_format);
    if (!eot.empty() && std::find(q.stop.begin(), q.stop.end(), eot) == q.stop.end()) q.stop.push_back(eot);
  }
  q.stop_at_eos = !boolean(body, "ignore_eos", false);
  r.n = static_cast<int>(integer(body, "n", 1, 16, 1));
  LM_CHECK(static_cast<int64_t>(r.prompts.size()) * r.n <= 64, "{} prompts x n = {} exceeds 64 sequences",
           r.prompts.size(), r.n);
  r.stream = boolean(body, "stream", false);
  if (const Json* so = field(body, "stream_options")) {
    LM_CHECK(so->is_object(), "'stream_options' must be an object");
    r.include_usage = boolean(*so, "include_usage", false);
  }
  if (chat) {
    r.logprobs = boolean(body, "logprobs", false);
    const int64_t k = integer(body, "top_logprobs", 0, 20, 0);
    LM_CHECK(r.logprobs || field(body, "top_logprobs") == nullptr, "'top_logprobs' needs 'logprobs': true");
    q.top_logprobs = r.logprobs ? static_cast<int>(k) : -1;
  } else {
    const Json* lp = field(body, "logprobs");
    r.logprobs = lp != nullptr;
    q.top_logprobs = r.logprobs ? static_cast<int>(integer(body, "logprobs", 0, 5, 0)) : -1;
    LM_CHECK(!boolean(body, "echo", false), "'echo' is not supported");
    LM_CHECK(integer(body, "best_of", 1, 16, r.n) == r.n, "'best_of' other than n is not supported");
  }
  if (const Json* lb = field(body, "logit_bias"))
    LM_CHECK(lb->is_object() && lb->empty(), "'logit_bias' is not supported");
  if (const Json* tools = field(body, "tools"))
    LM_CHECK(tools->is_array() && tools->empty(), "'tools' (function calling) is not supported");
  q.prompt = r.prompts[0];
  return r;
}

}  // namespace lm::generate
