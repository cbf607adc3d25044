// `lmcpp serve`: the HTTP layer of the OpenAI-compatible server (cpp-httplib + nlohmann-json). Routes turn JSON
// into library calls and back; scheduling, batching, sampling and stop strings live in lm/generate.
#pragma once

#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <optional>
#include <mutex>
#include <string>

#include "lm/core/json.h"
#include "lm/generate/scheduler.h"
#include "lm/models/lora.h"
#include "lm/models/model.h"
#include "lm/tokenize/chat_format.h"
#include "lm/tokenize/tokenizer.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace lm::server {

struct ServeOptions {
  std::string model_dir;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;             // empty: no key
  int parallel = 4;
  int64_t ctx = 0;                 // 0: the model's context
  int threads = 0;
  int64_t timeout_s = 600;         // a request's limit (and the socket read/write timeouts, capped at 60 s)
  bool webui = true;
  std::string weights = "f32";     // decode weights: f32 | bf16
  std::string pooling = "mean";    // embeddings: mean | cls
  int64_t max_queue = 64;
  int64_t drain_s = 3;             // SIGINT/SIGTERM: seconds the requests in flight get to finish
  size_t max_body_bytes = 8u << 20;
  // LoRA adapters over the one model (--adapter NAME=DIR): requests choose one by name ("lora", "adapter" or
  // "model" fields); the model's tokenizer and chat template serve them all.
  std::vector<std::pair<std::string, std::string>> adapters;
};

// Everything the routes share.
struct State {
  ServeOptions opt;
  std::string model_id;
  std::unique_ptr<models::Model> model;
  std::unique_ptr<models::AdapterSet> adapters;  // null without --adapter; activated by the scheduler's thread
                                                 // (causal LMs) or under encoder_mu (encoders)
  std::unique_ptr<Tokenizer> tok;
  std::optional<ChatFormat> chat;  // the model's chat template (causal LMs with tokenizer files)
  std::unique_ptr<generate::Scheduler> sched;  // causal LMs
  std::mutex encoder_mu;                       // encoder models run one request at a time
  std::atomic<bool> ready{false}, draining{false};
  std::atomic<uint64_t> http_requests{0}, http_4xx{0}, http_5xx{0};
  std::atomic<int64_t> in_flight{0};
  bool causal() const { return sched != nullptr; }
};

// Runs until SIGINT/SIGTERM; returns the exit code.
int run_server(const ServeOptions& opt);

// ---- shared by the route files ----
void send_json(httplib::Response& res, const Json& j, int status = 200);
void send_error(httplib::Response& res, int status, const std::string& message,
                const std::string& type = "invalid_request_error", const std::string& code = "");
// Parses the body as a JSON object (throws InvalidArgument otherwise).
Json parse_body(const httplib::Request& req);
// Runs fn, answering errors as OpenAI error objects: input errors 400, QueueFull 429 (Retry-After), others 500.
void guarded(State& st, httplib::Response& res, const std::function<void()>& fn);
// A request naming an adapter the server does not hold (answered 404, code "adapter_not_found").
struct UnknownAdapter : Error {
  explicit UnknownAdapter(const std::string& m) : Error(ErrorCode::NotFound, m) {}
};
// The adapter a request body chooses: "lora" (or "adapter") names one; else "model" may name one; else (or
// "model" naming the base) -1, the model alone. Errors: a name the server does not hold (UnknownAdapter for
// "lora", InvalidArgument for "model", as before adapters existed), fields naming two different adapters.
int request_adapter(const State& st, const Json& body);
// The "model" of responses: the adapter's name, or the model's id for -1.
const std::string& served_name(const State& st, int adapter);
// 400 unless the model's kind serves the route.
bool require_causal(State& st, httplib::Response& res, const char* route);
bool require_encoder(State& st, httplib::Response& res, const char* route);
std::string dump(const Json& j);  // compact, invalid UTF-8 replaced
// Registers POST `path`; the handler finds the whole body in req.body, whatever the Content-Type; a body over
// max_body bytes (announced, or chunked) answers 413. (cpp-httplib parses an application/x-www-form-urlencoded
// body, what `curl -d` sends, as a form capped at 8 KiB and answers 413 above that; a route that reads its own
// body skips the form parsing.) A multipart body is read and dropped: the handler sees an empty body.
void post_route(httplib::Server& svr, const std::string& path, size_t max_body,
                std::function<void(const httplib::Request&, httplib::Response&)> handler);

void add_generation_routes(httplib::Server& svr, const std::shared_ptr<State>& st);
void add_encoder_routes(httplib::Server& svr, const std::shared_ptr<State>& st);

}  // namespace lm::server
