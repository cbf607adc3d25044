// `lmcpp serve`: the OpenAI-compatible HTTP server (tools/server/).
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "../server/server.h"
#include "command.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm::cli {
namespace {

const server::ServeOptions kDefaults;

const CommandSpec kServe{
    .name = "serve",
    .summary = "serve a model over HTTP: OpenAI-compatible API, continuous batching, web playground",
    .description =
        "GPT models: /v1/completions and /v1/chat/completions (streamed or not), continuous batching over "
        "--parallel slots. BERT models: /v1/embeddings, /predict, /fill-mask, /qa. Both: /health, /v1/models, "
        "/metrics, /tokenize, /detokenize, /apply-template and the playground at /. Prints "
        "'lmcpp: listening on http://HOST:PORT' on stderr when ready; SIGINT/SIGTERM end the queued requests, give those in flight "
        "--drain seconds to finish, and exit 0. The API key (--api-key or LMCPP_API_KEY) is then needed as 'Authorization: "
        "Bearer KEY' on every route but /health and /. docs/serving.md lists every endpoint and parameter.",
    .flags = {
        string_flag("--model", "DIR", "model directory (with tokenizer files)").required(),
        repeated_flag("--adapter", "[NAME=]DIR",
                      "a LoRA adapter (PEFT directory) requests may choose by NAME (default: the directory's name) "
                      "with \"lora\": NAME or \"model\": NAME; repeatable, all over the one model"),
        string_flag("--host", "ADDR", kDefaults.host, "address to listen on"),
        int_flag("--port", "N", kDefaults.port, "port (0: pick a free one)"),
        string_flag("--api-key", "KEY", "require this bearer key (default: $LMCPP_API_KEY, else none)"),
        int_flag("--parallel", "N", kDefaults.parallel, "sequences decoded together (slots)"),
        int_flag("--ctx", "N", kDefaults.ctx, "positions per sequence, prompt + completion (0: the model's)"),
        int_flag("--threads", "N", kDefaults.threads, "CPU threads for the model (0: all)"),
        int_flag("--timeout", "S", kDefaults.timeout_s, "seconds a request may take; also the socket timeouts (<= 60)"),
        int_flag("--queue", "N", kDefaults.max_queue, "requests that may wait for a slot before 429"),
        int_flag("--drain", "S", kDefaults.drain_s, "on SIGINT/SIGTERM, seconds the requests in flight get to finish"),
        bool_flag("--no-webui", "do not serve the playground at /"),
        choice_flag("--weights", {"f32", "bf16"}, "f32", "decode from f32 weights or a bf16 copy"),
        choice_flag("--pooling", {"mean", "cls"}, "mean", "embeddings: mean of the tokens or the [CLS] row"),
    },
    .examples = {
        {.command = "lmcpp serve --model out/wikipedia/model --adapter chat=out/chat-lora --adapter sql=out/sql-lora",
         .comment = "one model, two adapters: {\"model\": \"chat\", ...} or {\"lora\": \"sql\", ...}; none: the model alone"},
        {.command = "lmcpp serve --model quickstart/model --port 8080 --parallel 8",
         .comment = "then: curl http://127.0.0.1:8080/v1/completions -d '{\"prompt\": \"Hi\", \"max_tokens\": 20}'"},
    },
};

// --adapter NAME=DIR or DIR (named after the directory). A value that is an existing directory is a DIR even
// when it holds "=".
std::pair<std::string, std::string> adapter_arg(const std::string& v) {
  const size_t eq = v.find('=');
  if (eq == std::string::npos || is_directory(v)) {
    std::string name = std::filesystem::path(v).lexically_normal().filename().string();
    if (name.empty()) name = std::filesystem::path(v).lexically_normal().parent_path().filename().string();
    LM_CHECK(!name.empty(), "--adapter {}: cannot name the adapter after its directory; give NAME={}", v, v);
    return {name, v};
  }
  LM_CHECK(eq > 0 && eq + 1 < v.size(), "--adapter {}: expected NAME=DIR or DIR", v);
  return {v.substr(0, eq), v.substr(eq + 1)};
}

int run_serve(const Flags& f) {
  server::ServeOptions o;
  o.model_dir = f.str("--model");
  o.host = f.str("--host");
  o.port = static_cast<int>(f.i64("--port"));
  if (auto k = f.get("--api-key")) {
    o.api_key = *k;
  } else if (const char* env = std::getenv("LMCPP_API_KEY")) {
    o.api_key = env;
  }
  o.parallel = static_cast<int>(f.i64("--parallel"));
  o.ctx = f.i64("--ctx");
  o.threads = static_cast<int>(f.i64("--threads"));
  o.timeout_s = f.i64("--timeout");
  o.max_queue = f.i64("--queue");
  o.drain_s = f.i64("--drain");
  o.webui = !f.on("--no-webui");
  o.weights = f.str("--weights");
  o.pooling = f.str("--pooling");
  for (const std::string& a : f.all("--adapter")) o.adapters.push_back(adapter_arg(a));
  return server::run_server(o);
}

}  // namespace

LM_DECLARE_COMMAND(kServe, run_serve);

}  // namespace lm::cli
