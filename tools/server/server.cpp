// The server's frame: start-up (bind first, /health answers 503 while the model loads), the API key, limits,
// the common routes (/health, /v1/models, /metrics, /tokenize, /detokenize, /apply-template, the playground)
// and a clean stop on SIGINT/SIGTERM.
#include "server.h"

#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "lm/interop/open.h"
#include "lm/core/error.h"
#include "lm/core/threads.h"
#include "lm/generate/openai.h"
#include "playground_html.h"

namespace lm::server {

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void send_json(httplib::Response& res, const Json& j, int status) {
  res.status = status;
  res.set_content(dump(j), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& type,
                const std::string& code) {
  Json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code.empty() ? Json(nullptr) : Json(code)}};
  send_json(res, {{"error", e}}, status);
}

Json parse_body(const httplib::Request& req) {
  Json j;
  try {
    j = Json::parse(req.body);
  } catch (const Json::exception& e) {
    LM_THROW(ErrorCode::InvalidArgument, "the body is not valid JSON: {}", e.what());
  }
  LM_CHECK(j.is_object(), "the body must be a JSON object");
  return j;
}

void guarded(State& st, httplib::Response& res, const std::function<void()>& fn) {
  try {
    fn();
  } catch (const generate::QueueFull& e) {
    res.set_header("Retry-After", "1");
    send_error(res, 429, "the server is busy: every slot is taken and the queue is full; retry later",
               "rate_limit_error", "queue_full");
  } catch (const UnknownAdapter& e) {
    send_error(res, 404, e.what(), "invalid_request_error", "adapter_not_found");
  } catch (const generate::ContextExceeded& e) {
    send_error(res, 400, e.what(), "exceed_context_size_error", "exceed_context_size_error");
  } catch (const Json::exception& e) {
    send_error(res, 400, fmt::format("a field has the wrong type: {}", e.what()), "invalid_request_error");
  } catch (const Error& e) {
    if (e.is_input_error())
    {
      std::string code = error_code_name(e.code());
      std::replace(code.begin(), code.end(), ' ', '_');
      send_error(res, 400, e.what(), "invalid_request_error", code);
    }
    else
      send_error(res, 500, e.what(), "server_error");
  } catch (const std::exception& e) {
    send_error(res, 500, e.what(), "server_error");
  }
  (void)st;
}

void post_route(httplib::Server& svr, const std::string& path, size_t max_body,
                std::function<void(const httplib::Request&, httplib::Response&)> handler) {
  svr.Post(path, [max_body, handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                                           const httplib::ContentReader& read) {
    httplib::Request r = req;
    r.body.clear();
    size_t seen = 0;
    auto counted = [&](size_t n) { return (seen += n) <= max_body; };
    const bool ok =
        req.is_multipart_form_data()
            ? read([](const httplib::MultipartFormData&) { return true; },
                   [&](const char*, size_t n) { return counted(n); })
            : read([&](const char* data, size_t n) {
                if (!counted(n)) return false;
                r.body.append(data, n);
                return true;
              });
    if (seen > max_body) {
      // Stopped part-way (a chunked body has no length to check first): the rest is unread, so the connection
      // cannot carry another request.
      res.status = 413;
      res.set_header("Connection", "close");
      return;
    }
    if (!ok) return;  // httplib has set the status (413 for an announced length over the limit)
    handler(r, res);
  });
}

namespace {

// "'gpt'" or "'gpt' and its adapters 'a', 'b'", for errors.
std::string served_list(const State& st) {
  std::string s = "'" + st.model_id + "'";
  const int n = st.adapters ? st.adapters->size() : 0;
  for (int i = 0; i < n; ++i) s += (i ? ", '" : " and its adapters '") + st.adapters->name(i) + "'";
  return s;
}

std::string string_field(const Json& body, const char* key, const char* what) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return "";
  LM_CHECK(it->is_string(), "'{}' must be a string ({})", key, what);
  return it->get<std::string>();
}

}  // namespace

int request_adapter(const State& st, const Json& body) {
  std::string lora = string_field(body, "lora", "an adapter name");
  const std::string alias = string_field(body, "adapter", "an adapter name");
  LM_CHECK(lora.empty() || alias.empty() || lora == alias, "'lora' ({}) and 'adapter' ({}) name different adapters",
           lora, alias);
  if (lora.empty()) lora = alias;
  const std::string model = string_field(body, "model", "the model's id or an adapter name");
  const auto find = [&](const std::string& name) { return st.adapters ? st.adapters->find(name) : -1; };
  if (!lora.empty()) {
    const int a = find(lora);
    if (a < 0) throw UnknownAdapter(fmt::format("adapter '{}' does not exist; this server serves {}", lora, served_list(st)));
    LM_CHECK(model.empty() || model == st.model_id || model == lora,
             "'model' ({}) and 'lora' ({}) name different adapters", model, lora);
    return a;
  }
  if (model.empty() || model == st.model_id) return -1;
  const int a = find(model);
  LM_CHECK(a >= 0, "model '{}' does not exist; this server serves {}", model, served_list(st));
  return a;
}

const std::string& served_name(const State& st, int adapter) {
  return adapter < 0 ? st.model_id : st.adapters->name(adapter);
}

bool require_causal(State& st, httplib::Response& res, const char* route) {
  if (st.causal()) return true;
  send_error(res, 400, fmt::format("{} needs a causal language model; {} is an encoder ({})", route, st.model_id,
                                   st.model->architecture()), "invalid_request_error", "unsupported_route");
  return false;
}

bool require_encoder(State& st, httplib::Response& res, const char* route) {
  if (!st.causal()) return true;
  send_error(res, 400, fmt::format("{} needs an encoder model (bert); {} is a causal language model", route,
                                   st.model_id), "invalid_request_error", "unsupported_route");
  return false;
}

namespace {

// Constant-time comparison of the presented key with the configured one.
bool key_matches(const std::string& given, const std::string& key) {
  unsigned diff = static_cast<unsigned>(given.size() ^ key.size());
  for (size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i]) ^ static_cast<unsigned char>(key[i % (key.empty() ? 1 : key.size())]);
  return diff == 0 && !key.empty();
}

void hist_lines(std::string& o, const char* name, const char* help, const generate::Histogram& h) {
  o += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t cum = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cum += h.counts[i];
    o += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, h.bounds[i], cum);
  }
  o += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, h.n, name, h.sum, name, h.n);
}

std::string metrics_text(const State& st) {
  std::string o;
  auto metric = [&](const char* name, const char* type, const char* help, double v) {
    o += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, v);
  };
  metric("lmcpp_http_requests_total", "counter", "HTTP requests received", static_cast<double>(st.http_requests));
  metric("lmcpp_http_client_errors_total", "counter", "responses with a 4xx status", static_cast<double>(st.http_4xx));
  metric("lmcpp_http_server_errors_total", "counter", "responses with a 5xx status", static_cast<double>(st.http_5xx));
  if (!st.sched) return o;
  const generate::SchedulerStats s = st.sched->stats();
  metric("lmcpp_requests_total", "counter", "generation sequences accepted", static_cast<double>(s.requests));
  metric("lmcpp_requests_rejected_total", "counter", "generation requests refused (queue full)",
         static_cast<double>(s.rejected));
  metric("lmcpp_prompt_tokens_total", "counter", "prompt tokens processed", static_cast<double>(s.prompt_tokens));
  metric("lmcpp_completion_tokens_total", "counter", "tokens generated", static_cast<double>(s.completion_tokens));
  metric("lmcpp_batch_steps_total", "counter", "batched forward passes", static_cast<double>(s.steps));
  metric("lmcpp_queue_depth", "gauge", "requests waiting for a slot", static_cast<double>(s.queued));
  metric("lmcpp_active_slots", "gauge", "sequences being generated", static_cast<double>(s.active));
  metric("lmcpp_slots", "gauge", "slots (--parallel)", st.opt.parallel);
  hist_lines(o, "lmcpp_time_to_first_token_seconds", "time from request to its first generated token", s.ttft);
  hist_lines(o, "lmcpp_inter_token_latency_seconds", "time between consecutive tokens of a sequence",
             s.inter_token);
  return o;
}

Json model_entry(const State& st) {
  Json meta = {{"kind", st.causal() ? "causal-lm" : "encoder"},
               {"architecture", st.model->architecture()},
               {"n_ctx", st.sched ? st.sched->ctx() : st.model->max_positions()},
               {"n_params", st.model->num_parameters()},
               {"vocab_size", st.model->vocab_size()},
               {"parallel", st.opt.parallel}};
  if (!st.model->labels().empty()) meta["labels"] = st.model->labels();
  return {{"id", st.model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "lmcpp"}, {"meta", meta}};
}

void add_common_routes(httplib::Server& svr, const std::shared_ptr<State>& st) {
  svr.Get("/health", [st](const httplib::Request&, httplib::Response& res) {
    if (!st->ready) return send_json(res, {{"status", "loading"}}, 503);
    if (st->draining) return send_json(res, {{"status", "shutting down"}}, 503);
    send_json(res, {{"status", "ok"}});
  });
  svr.Get("/v1/models", [st](const httplib::Request&, httplib::Response& res) {
    Json data = Json::array({model_entry(*st)});
    for (int i = 0; st->adapters && i < st->adapters->size(); ++i)
      data.push_back({{"id", st->adapters->name(i)}, {"object", "model"}, {"created", 0}, {"owned_by", "lmcpp"},
                      {"parent", st->model_id}, {"root", st->model_id},
                      {"meta", {{"kind", "lora"}, {"adapter_dir", st->adapters->dir(i)}}}});
    send_json(res, {{"object", "list"}, {"data", data}});
  });
  svr.Get("/metrics", [st](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(*st), "text/plain; version=0.0.4");
  });
  if (st->opt.webui)
    svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kPlaygroundHtml, sizeof(kPlaygroundHtml) - 1, "text/html; charset=utf-8");
    });
  post_route(svr, "/tokenize", st->opt.max_body_bytes, [st](const httplib::Request& req, httplib::Response& res) {
    guarded(*st, res, [&] {
      const Json b = parse_body(req);
      LM_CHECK(b.contains("content") && b["content"].is_string(), "'content' must be a string");
      const bool special = b.value("add_special", false);
      send_json(res, {{"tokens", st->tok->encode(b["content"].get<std::string>(), special)}});
    });
  });
  post_route(svr, "/detokenize", st->opt.max_body_bytes, [st](const httplib::Request& req, httplib::Response& res) {
    guarded(*st, res, [&] {
      const Json b = parse_body(req);
      LM_CHECK(b.contains("tokens") && b["tokens"].is_array(), "'tokens' must be an array of token ids");
      std::vector<int32_t> ids;
      for (const auto& x : b["tokens"]) {
        LM_CHECK(x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() < st->tok->vocab_size(),
                 "'tokens' must hold token ids in [0, {})", st->tok->vocab_size());
        ids.push_back(x.get<int32_t>());
      }
      send_json(res, {{"content", st->tok->decode(ids)}});
    });
  });
  post_route(svr, "/apply-template", st->opt.max_body_bytes, [st](const httplib::Request& req, httplib::Response& res) {
    guarded(*st, res, [&] {
      const Json b = parse_body(req);
      LM_CHECK(b.contains("messages"), "'messages' is required");
      LM_CHECK(st->chat.has_value(), "this model has no chat template (not a causal LM with tokenizer files)");
      const Json agp = b.value("add_generation_prompt", Json(true));
      LM_CHECK(agp.is_boolean(), "'add_generation_prompt' must be true or false");
      send_json(res, {{"prompt", st->chat->render(generate::messages_json(generate::parse_messages(b["messages"])),
                                                  agp.get<bool>())
                                     .text}});
    });
  });
}

void load(State& st) {
  const ServeOptions& o = st.opt;
  st.model = interop::load_model(o.model_dir);
  LM_CHECK_AS(ErrorCode::NotFound, interop::has_model_tokenizer(o.model_dir), "{} has no tokenizer files", o.model_dir);
  st.tok = interop::load_model_tokenizer(o.model_dir);
  if (!o.adapters.empty()) st.adapters = std::make_unique<models::AdapterSet>(*st.model);
  for (const auto& [name, dir] : o.adapters) {
    st.adapters->add(name, dir);
    if (interop::tokenizer_source(o.model_dir, dir) == dir)
      std::fprintf(stderr, "lmcpp: note: adapter %s has tokenizer files; every adapter is served with %s's\n",
                   name.c_str(), o.model_dir.c_str());
  }
  if (models::CausalLM* lm = st.model->causal_lm()) {
    if (o.weights == "bf16") lm->set_decode_dtype(DType::BF16);
    st.chat = interop::load_model_chat_format(o.model_dir, "", *st.tok);
    generate::SchedulerOptions so;
    so.parallel = o.parallel;
    so.ctx = o.ctx;
    so.max_queue = o.max_queue;
    st.sched = std::make_unique<generate::Scheduler>(*lm, st.tok.get(), so, st.adapters.get());
  }
}

}  // namespace

int run_server(const ServeOptions& opt) {
  LM_CHECK(opt.parallel >= 1 && opt.parallel <= 256, "--parallel must be in [1, 256], got {}", opt.parallel);
  LM_CHECK(opt.timeout_s >= 1, "--timeout must be >= 1 second");
  LM_CHECK(opt.drain_s >= 0 && opt.drain_s <= 600, "--drain must be in [0, 600] seconds, got {}", opt.drain_s);
  LM_CHECK(opt.port >= 0 && opt.port <= 65535, "--port must be in [0, 65535]");
  LM_CHECK(opt.pooling == "mean" || opt.pooling == "cls", "--pooling must be mean or cls");
  // SIGINT/SIGTERM are taken by one thread with sigwait: block them before any thread starts.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);
  set_num_threads(opt.threads);
  auto st = std::make_shared<State>();
  st->opt = opt;
  st->model_id = std::filesystem::path(opt.model_dir).lexically_normal().filename().string();
  if (st->model_id.empty()) st->model_id = std::filesystem::path(opt.model_dir).parent_path().filename().string();
  httplib::Server svr;
  const size_t pool = static_cast<size_t>(std::max(32, 4 * opt.parallel + 8));
  svr.new_task_queue = [pool] { return new httplib::ThreadPool(pool); };
  svr.set_payload_max_length(opt.max_body_bytes);
  const time_t io = static_cast<time_t>(std::min<int64_t>(opt.timeout_s, 60));
  svr.set_read_timeout(io);
  svr.set_write_timeout(io);
  svr.set_keep_alive_timeout(2);
  svr.set_tcp_nodelay(true);  // stream chunks leave at once (no Nagle delay against delayed ACKs)
  svr.set_pre_routing_handler([st](const httplib::Request& req, httplib::Response& res) {
    ++st->http_requests;
    const bool open = req.path == "/health" || (req.path == "/" && req.method == "GET");
    if (!open && !st->opt.api_key.empty()) {
      const std::string auth = req.get_header_value("Authorization");
      const std::string given = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : std::string();
      if (!key_matches(given, st->opt.api_key)) {
        send_error(res, 401, "invalid or missing API key (Authorization: Bearer KEY)", "authentication_error",
                   "invalid_api_key");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (!open && (!st->ready || st->draining)) {
      send_error(res, 503, st->draining ? "the server is shutting down" : "the model is loading", "server_error",
                 "unavailable");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  svr.set_post_routing_handler([st](const httplib::Request&, httplib::Response& res) {
    if (res.status >= 500) ++st->http_5xx;
    else if (res.status >= 400) ++st->http_4xx;
  });
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404) send_error(res, 404, fmt::format("no route {} {}", req.method, req.path), "invalid_request_error", "not_found");
    else if (res.status == 413) send_error(res, 413, "the request body is too large", "invalid_request_error", "payload_too_large");
    else send_error(res, res.status, fmt::format("HTTP {}", res.status), "invalid_request_error");
  });
  // cpp-httplib's default socket options set SO_REUSEPORT (not SO_REUSEADDR) on Linux: a second server on the
  // same port, this one or any program doing the same, would bind too and the kernel would split the connections
  // between the two. SO_REUSEADDR only: a restart may reuse a port in TIME_WAIT, a port in use is refused.
  int listen_fd = -1;
  svr.set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd = sock;
  });
  const int port = opt.port == 0 ? svr.bind_to_any_port(opt.host) : (svr.bind_to_port(opt.host, opt.port) ? opt.port : -1);
  LM_CHECK_AS(ErrorCode::Unsupported, port > 0, "cannot listen on {}:{} (in use, or not an address of this machine)",
              opt.host, opt.port);
  // cpp-httplib listens with a backlog of 5: in a burst of new connections (32 clients starting together) the
  // SYNs beyond it are dropped and retried after 1 s, 3 s, 7 s... A second listen() sets a real backlog.
  if (listen_fd >= 0) ::listen(listen_fd, SOMAXCONN);
  // Every route is in place before the first request (they answer 503 until the model is loaded).
  add_common_routes(svr, st);
  add_generation_routes(svr, st);
  add_encoder_routes(svr, st);
  std::thread http([&svr] { svr.listen_after_bind(); });
  std::fprintf(stderr, "lmcpp: loading %s (port %d)\n", opt.model_dir.c_str(), port);
  try {
    load(*st);
  } catch (...) {
    // stop() only ends a listener that has started: wait for it first (it is starting on its own thread).
    for (int i = 0; i < 5000 && !svr.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    svr.stop();
    http.join();
    throw;
  }
  st->ready = true;
  std::fprintf(stderr, "lmcpp: listening on http://%s:%d\n", opt.host.c_str(), port);
  std::fflush(stderr);
  siginfo_t info{};
  int sig = -1;
  while (sig < 0) sig = sigwaitinfo(&sigs, &info);  // -1: EINTR
  std::fprintf(stderr, "lmcpp: %s (from pid %d): finishing requests in flight\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
               static_cast<int>(info.si_pid));
  st->draining = true;
  // Requests still queued end now; those in flight get up to drain_s to finish, then end (finish_reason
  // "cancelled").
  if (st->sched) st->sched->cancel_queued();
  for (int64_t i = 0; i < opt.drain_s * 10 && st->sched && st->sched->stats().active > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (st->sched) st->sched->shutdown();
  svr.stop();
  http.join();
  std::fprintf(stderr, "lmcpp: stopped\n");
  return 0;
}

}  // namespace lm::server
