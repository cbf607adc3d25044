// `lmcpp chat`: a multi-turn conversation with a causal LM through its chat template, replies streamed as
// they are sampled. From a terminal: a "> " prompt on stderr, /reset and /exit; from a pipe: each stdin line
// is a user turn and each reply is printed as one line (newlines in a reply become spaces), so a conversation
// can be scripted. History is kept within the context window: the oldest turns are dropped (with a notice on
// stderr) when the prompt and a full reply would not fit.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "command.h"
#include "lm/interop/open.h"
#include "lm/core/error.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/generate/scheduler.h"
#include "lm/models/model.h"
#include "lm/tokenize/chat_format.h"
#include "lm/tokenize/tokenizer.h"
#include "lm/train/chat.h"

namespace lm::cli {
namespace {

const CommandSpec kChat{
    .name = "chat",
    .summary = "talk to a chat model in the terminal (or scripted: one stdin line per user turn)",
    .description =
        "Renders the conversation with the model's chat template (tokenizer_config.json / "
        "chat_template.jinja, else "
        "the built-in ChatML) and streams each reply, which ends at the model's eos (the end-of-turn token "
        "of a "
        "chat fine-tuned model), the template's end-of-turn text, or --max-new-tokens. In a terminal: type a "
        "message; /reset starts over (keeping --system), /exit or end of input quits. With stdin not a "
        "terminal "
        "every line is a user turn and every reply one line of stdout. The oldest turns are dropped (a "
        "notice on "
        "stderr) when the conversation and a reply of --max-new-tokens would not fit the context.",
    .flags =
        {
            string_flag("--model", "DIR", "model directory (a causal LM with tokenizer files)").required(),
            adapter_flag(),
            string_flag("--system", "TEXT", "a system message opening the conversation"),
            int_flag("--max-new-tokens", "N", 256, "reply tokens at most"),
            bool_flag("--greedy", "pick the most likely token (no sampling)"),
            double_flag("--temperature", "T", 0.8, "sampling temperature (0: greedy, as --greedy)"),
            int_flag("--top-k", "K", 0, "sample among the K most likely tokens (0: all)"),
            double_flag("--top-p", "P", 0.95, "nucleus sampling: tokens of total probability P (1: all)"),
            double_flag("--repetition-penalty", "R", 1.0,
                        "divide the logits of tokens already seen by R (1: off)"),
            int_flag("--seed", "S", 0, "sampling seed"),
            int_flag("--threads", "N", 0, "CPU threads (0: all)"),
        },
    .examples = {
        {.command = "lmcpp chat --model out/chat/model --system \"You are a friendly chat partner.\""},
    },
};

struct Conversation {
  OrderedJson system;  // null or the system message
  OrderedJson turns = OrderedJson::array();
  OrderedJson messages() const {
    OrderedJson m = OrderedJson::array();
    if (!system.is_null()) m.push_back(system);
    for (const OrderedJson& t : turns) m.push_back(t);
    return m;
  }
};

// The prompt ids for the conversation, dropping the oldest user/assistant pairs until a reply of max_new
// fits.
std::vector<int32_t> fit_prompt(const ChatFormat& fmt, Conversation& c, int64_t max_new, int64_t ctx) {
  for (;;) {
    std::vector<int32_t> ids = fmt.encode(fmt.render(c.messages(), true));
    if (static_cast<int64_t>(ids.size()) + max_new <= ctx) return ids;
    LM_CHECK(c.turns.size() > 1,
             "the message is too long: {} prompt tokens and {} reply tokens exceed the {}-token "
             "context",
             ids.size(), max_new, ctx);
    const size_t drop = c.turns.size() >= 2 && c.turns[1]["role"] == "assistant" ? 2 : 1;
    c.turns.erase(c.turns.begin(), c.turns.begin() + static_cast<std::ptrdiff_t>(drop));
    std::fprintf(stderr, "lmcpp: note: dropped the oldest turn to fit the %lld-token context\n",
                 static_cast<long long>(ctx));
  }
}

int run_chat(const Flags& f) {
  const std::string dir = f.str("--model");
  set_num_threads(static_cast<int>(f.i64("--threads")));
  generate::SequenceRequest q;
  q.max_tokens = f.i64("--max-new-tokens");
  q.sampling.greedy = f.on("--greedy");
  q.sampling.temperature = static_cast<float>(f.f64("--temperature"));
  LM_CHECK(q.sampling.temperature >= 0 && std::isfinite(q.sampling.temperature),
           "--temperature must be >= 0, got {}", q.sampling.temperature);
  if (q.sampling.temperature == 0.0f) q.sampling.greedy = true;  // as generate, HF, OpenAI and llama.cpp
  q.sampling.top_k = f.i64("--top-k");
  q.sampling.top_p = static_cast<float>(f.f64("--top-p"));
  q.sampling.repetition_penalty = static_cast<float>(f.f64("--repetition-penalty"));
  q.sampling.seed = static_cast<uint64_t>(f.i64("--seed"));
  LM_CHECK(q.max_tokens >= 1, "--max-new-tokens must be >= 1");
  const std::string adapter = f.str("--adapter"), tdir = interop::tokenizer_source(dir, adapter);
  auto model = interop::load_model(dir, adapter);
  LM_CHECK_AS(ErrorCode::Unsupported, model->causal_lm() != nullptr,
              "chat needs a causal language model; {} is {}", dir, model->architecture());
  q.prompt = {0};  // the sampling flags are checked before the conversation starts
  q.validate(model->vocab_size());
  LM_CHECK_AS(ErrorCode::NotFound, interop::has_model_tokenizer(tdir), "chat needs tokenizer files in {}", dir);
  auto tok = interop::load_model_tokenizer(tdir);
  const ChatFormat fmt = interop::load_model_chat_format(tdir, "", *tok);
  const std::string eot = end_of_turn_token(fmt);
  if (!eot.empty()) q.stop.push_back(eot);
  for (const std::string& s : chat_special_tokens(fmt))
    if (s != eot) q.stop.push_back(s);
  generate::SchedulerOptions so;
  so.parallel = 1;
  generate::Scheduler sched(*model->causal_lm(), tok.get(), so);
  const bool tty = isatty(0) != 0;
  Conversation c;
  if (f.get("--system")) c.system = OrderedJson{{"role", "system"}, {"content", f.str("--system")}};
  if (tty)
    std::fprintf(stderr, "lmcpp chat: %s (template: %s). /reset starts over, /exit quits.\n", dir.c_str(),
                 fmt.source.origin.c_str());
  std::string line;
  for (uint64_t turn = 0;; ++turn) {
    if (tty) std::fprintf(stderr, "> ");
    if (!std::getline(std::cin, line)) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "/exit") break;
    if (line == "/reset") {
      c.turns = OrderedJson::array();
      if (tty) std::fprintf(stderr, "lmcpp chat: conversation reset\n");
      continue;
    }
    c.turns.push_back(OrderedJson{{"role", "user"}, {"content", line}});
    try {
      q.prompt = fit_prompt(fmt, c, q.max_tokens, model->max_positions());
    } catch (const Error& e) {
      std::fprintf(stderr, "lmcpp chat: %s\n", e.what());
      c.turns.erase(c.turns.end() - 1);
      if (!tty) std::printf("\n");
      continue;
    }
    q.stream = turn;
    auto seq = sched.submit(q);
    std::string reply;
    for (bool done = false; !done;) {
      generate::SequenceUpdate u = seq->take(std::chrono::milliseconds(100));
      std::string piece = u.text;
      if (reply.empty()) {  // a reply starts at its first non-blank character
        const size_t first = piece.find_first_not_of(" \t\r\n");
        piece.erase(0, first == std::string::npos ? piece.size() : first);
      }
      reply += piece;
      if (!tty)
        for (char& ch : piece) ch = ch == '\n' || ch == '\r' ? ' ' : ch;
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      done = u.done;
      LM_CHECK_AS(ErrorCode::Internal, !done || u.finish_reason != "error", "generation failed: {}", u.error);
    }
    std::printf("\n");
    std::fflush(stdout);
    c.turns.push_back(OrderedJson{{"role", "assistant"}, {"content", reply}});
  }
  return 0;
}

LM_DECLARE_COMMAND(kChat, run_chat);

}  // namespace
}  // namespace lm::cli
