// `lmcpp serve`: the OpenAI-compatible HTTP server (tools/server/).
#include <cstdlib>

#include "../server/server.h"
#include "command.h"

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
        {.command = "lmcpp serve --model quickstart/model --port 8080 --parallel 8",
         .comment = "then: curl http://127.0.0.1:8080/v1/completions -d '{\"prompt\": \"Hi\", \"max_tokens\": 20}'"},
    },
};

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
  return server::run_server(o);
}

}  // namespace

LM_DECLARE_COMMAND(kServe, run_serve);

}  // namespace lm::cli
