// Encoder (BERT) routes: POST /v1/embeddings (OpenAI shape, float or base64), /predict (TEI's shape, the numbers
// of `lmcpp predict`), /fill-mask (HF pipeline shape) and /qa (span question answering).
#include <httplib.h>

#include <algorithm>
#include <cstring>

#include "lm/core/error.h"
#include "lm/generate/pipelines.h"
#include "server.h"

namespace lm::server {

namespace {

std::string base64(const std::vector<float>& v) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string in(v.size() * sizeof(float), '\0');
  std::memcpy(in.data(), v.data(), in.size());  // little-endian float32, as OpenAI's base64 embeddings
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t x = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) x |= static_cast<unsigned char>(in[i + 1]) << 8;
    if (i + 2 < in.size()) x |= static_cast<unsigned char>(in[i + 2]);
    out += a[(x >> 18) & 63];
    out += a[(x >> 12) & 63];
    out += i + 1 < in.size() ? a[(x >> 6) & 63] : '=';
    out += i + 2 < in.size() ? a[x & 63] : '=';
  }
  return out;
}

std::vector<std::string> embedding_inputs(const State& st, const Json& input) {
  std::vector<std::string> out;
  auto ids_text = [&](const Json& a) {
    std::vector<int32_t> ids;
    for (const auto& x : a) {
      LM_CHECK(x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() < st.tok->vocab_size(),
               "'input' token ids must be in [0, {})", st.tok->vocab_size());
      ids.push_back(x.get<int32_t>());
    }
    return st.tok->decode(ids, true);
  };
  if (input.is_string()) {
    out.push_back(input.get<std::string>());
  } else if (input.is_array() && !input.empty() && input[0].is_number()) {
    out.push_back(ids_text(input));
  } else if (input.is_array() && !input.empty()) {
    LM_CHECK(input.size() <= 256, "'input' holds {} items; at most 256", input.size());
    for (const auto& e : input) {
      LM_CHECK(e.is_string() || e.is_array(), "'input' items must be strings or arrays of token ids");
      out.push_back(e.is_string() ? e.get<std::string>() : ids_text(e));
    }
  } else {
    LM_THROW(ErrorCode::InvalidArgument, "'input' must be a string, an array of strings or token ids");
  }
  for (const auto& s : out) LM_CHECK(!s.empty(), "'input' must not be empty");
  return out;
}

// Holds the encoder for one request with the adapter the body chooses (request_adapter) attached.
std::unique_lock<std::mutex> encoder_lock(State& st, const Json& body) {
  const int adapter = request_adapter(st, body);
  std::unique_lock<std::mutex> lk(st.encoder_mu);
  if (st.adapters) st.adapters->activate(adapter);
  return lk;
}

void embeddings(State& st, const httplib::Request& req, httplib::Response& res) {
  const Json b = parse_body(req);
  LM_CHECK(b.contains("input"), "'input' is required");
  const std::string format = b.value("encoding_format", "float");
  LM_CHECK(format == "float" || format == "base64", "'encoding_format' must be float or base64");
  const std::string pooling = b.value("pooling", st.opt.pooling);
  LM_CHECK(pooling == "mean" || pooling == "cls", "'pooling' must be mean or cls");
  LM_CHECK(!b.contains("dimensions") || b["dimensions"].is_null(), "'dimensions' is not supported");
  const auto texts = embedding_inputs(st, b["input"]);
  Json data = Json::array();
  int64_t tokens = 0;
  auto lk = encoder_lock(st, b);
  for (size_t i = 0; i < texts.size(); ++i) {
    int64_t n = 0;
    auto e = generate::embed_text(*st.model, *st.tok, texts[i],
                                  pooling == "cls" ? generate::Pooling::Cls : generate::Pooling::Mean, true, &n);
    tokens += n;
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", format == "base64" ? Json(base64(e)) : Json(e)}});
  }
  send_json(res, {{"object", "list"}, {"data", data}, {"model", served_name(st, st.adapters ? st.adapters->active() : -1)},
                  {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

void predict(State& st, const httplib::Request& req, httplib::Response& res) {
  const Json b = parse_body(req);
  LM_CHECK(b.contains("inputs"), "'inputs' is required: a text or [text, pair]");
  const Json& in = b["inputs"];
  std::string text;
  std::optional<std::string> pair;
  if (in.is_string()) {
    text = in.get<std::string>();
  } else {
    LM_CHECK(in.is_array() && in.size() == 2 && in[0].is_string() && in[1].is_string(),
             "'inputs' must be a text or a pair [text, text]");
    text = in[0].get<std::string>();
    pair = in[1].get<std::string>();
  }
  auto lk = encoder_lock(st, b);
  auto c = generate::classify_text(*st.model, *st.tok, text, pair);
  std::sort(c.labels.begin(), c.labels.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  Json out = Json::array();
  for (const auto& l : c.labels) out.push_back({{"label", l.label}, {"score", l.score}});
  send_json(res, out);
}

void fill_mask(State& st, const httplib::Request& req, httplib::Response& res) {
  const Json b = parse_body(req);
  LM_CHECK(b.contains("inputs") && b["inputs"].is_string(), "'inputs' must be a text with a mask token");
  const std::string text = b["inputs"].get<std::string>();
  const int64_t top_k = b.value("top_k", int64_t{5});
  LM_CHECK(top_k >= 1 && top_k <= 100, "'top_k' must be in [1, 100]");
  auto lk = encoder_lock(st, b);
  const auto fills = generate::fill_mask(*st.model, *st.tok, text, top_k);
  Json all = Json::array();
  for (size_t m = 0; m < fills.size(); ++m) {
    Json list = Json::array();
    for (const auto& c : fills[m].candidates) {
      // "sequence": the text with this mask (the m-th "[MASK]") replaced by the token's text.
      std::string seq = text;
      size_t at = std::string::npos, from = 0;
      for (size_t k = 0; k <= m; ++k, from = at + 1) at = seq.find("[MASK]", from);
      std::string word = c.token.rfind("##", 0) == 0 ? c.token.substr(2) : c.token;
      if (at != std::string::npos) seq.replace(at, 6, word);
      list.push_back({{"score", c.probability}, {"token", c.id}, {"token_str", word}, {"sequence", seq}});
    }
    all.push_back(std::move(list));
  }
  send_json(res, all.size() == 1 ? all[0] : all);
}

void qa(State& st, const httplib::Request& req, httplib::Response& res) {
  const Json b = parse_body(req);
  LM_CHECK(b.contains("question") && b["question"].is_string() && b.contains("context") && b["context"].is_string(),
           "'question' and 'context' must be strings");
  auto lk = encoder_lock(st, b);
  const auto a = generate::answer_question(*st.model, *st.tok, b["question"].get<std::string>(),
                                           b["context"].get<std::string>(), b.value("max_answer_length", int64_t{30}));
  send_json(res, {{"answer", a.answer}, {"score", a.score}, {"start_token", a.start}, {"end_token", a.end}});
}

using Handler = void (*)(State&, const httplib::Request&, httplib::Response&);

void route(httplib::Server& svr, const std::shared_ptr<State>& st, const char* path, Handler h) {
  post_route(svr, path, st->opt.max_body_bytes, [st, path, h](const httplib::Request& req, httplib::Response& res) {
    if (!require_encoder(*st, res, path)) return;
    guarded(*st, res, [&] { h(*st, req, res); });
  });
}

}  // namespace

void add_encoder_routes(httplib::Server& svr, const std::shared_ptr<State>& st) {
  route(svr, st, "/v1/embeddings", embeddings);
  route(svr, st, "/embeddings", embeddings);
  route(svr, st, "/predict", predict);
  route(svr, st, "/fill-mask", fill_mask);
  route(svr, st, "/qa", qa);
}

}  // namespace lm::server
