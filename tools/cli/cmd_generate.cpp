// `lmcpp generate`: text from a GPT model directory with a KV cache; tokens stream to stdout as they are chosen.
#include <chrono>
#include <cmath>
#include <functional>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "lm/interop/open.h"
#include "lm/core/device.h"
#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"
#include "lm/core/json.h"
#include "lm/core/threads.h"
#include "lm/generate/generator.h"
#include "lm/generate/scheduler.h"
#include "lm/models/model.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::cli {
namespace {

const generate::GenerateOptions kDefaults;

const CommandSpec kGenerate{
    .name = "generate",
    .summary = "generate text from a GPT model (KV cache, greedy/sampling/beam search)",
    .description =
        "Samples by default (temperature 1, no top-k/top-p); --greedy (or --temperature 0) picks the argmax. "
        "--max-new-tokens past the context is clamped to what fits, with a notice on stderr (a prompt that fills the "
        "context alone is an error). Stops at the model's eos token (unless --ignore-eos), at any --stop string, or "
        "after --max-new-tokens new tokens. Give exactly one of --prompt or --ids. Every flag is checked before "
        "anything is printed.\n"
        "Text streams to stdout as it is produced. Special tokens (<|endoftext|>, ...) are left out of the printed "
        "text, streamed or --json, unless --keep-special-tokens. --json prints {\"ids\": [new ids, special ones "
        "included], \"text\": \"new text\", \"stop_reason\"} (text null without tokenizer files).\n"
        "--weights bf16 decodes from a bf16 copy of the weight matrices (f32 accumulation, half the bytes per token; "
        "perplexity within 0.1% of f32 in the tests).\n"
        "--device cuda (LM_CUDA=ON builds): the model and its KV cache on the GPU, f32; sampling on the host.",
    .flags = {
        string_flag("--model", "DIR", "model directory (a causal LM: gpt2)").required(),
        adapter_flag(),
        string_flag("--prompt", "TEXT", "the prompt as text (needs tokenizer files in DIR)"),
        string_flag("--ids", "LIST",
                    "the prompt as token ids, separated by commas and/or blanks (464,2068,7586 or 464 2068 7586, "
                    "as `lmcpp tokenize` prints them)"),
        int_flag("--max-new-tokens", "N", kDefaults.max_new_tokens,
                 "new tokens at most (clamped to the room the context leaves after the prompt)"),
        bool_flag("--greedy", "pick the most likely token (no sampling)"),
        double_flag("--temperature", "T", kDefaults.sampling.temperature,
                    "sampling temperature (0: greedy, the ids of --greedy; must be >= 0)"),
        int_flag("--top-k", "K", kDefaults.sampling.top_k, "sample among the K most likely tokens (0: all)"),
        double_flag("--top-p", "P", kDefaults.sampling.top_p,
                    "sample among the most likely tokens of total probability P (nucleus; 1: all)"),
        double_flag("--repetition-penalty", "R", kDefaults.sampling.repetition_penalty,
                    "divide the logits of tokens already seen by R (HF's rule; 1: off)"),
        int_flag("--seed", "S", static_cast<int64_t>(kDefaults.sampling.seed), "sampling seed"),
        int_flag("--num-beams", "N", kDefaults.num_beams, "beam search with N beams (1: no beam search)"),
        double_flag("--length-penalty", "L", kDefaults.length_penalty,
                    "beam search: scores are divided by length^L"),
        bool_flag("--early-stopping", "beam search: stop once N finished beams exist"),
        repeated_flag("--stop", "STRING", "stop once the new text contains STRING (needs tokenizer files)"),
        bool_flag("--ignore-eos", "do not stop at the model's eos token"),
        bool_flag("--keep-special-tokens",
                  "print special tokens (<|endoftext|>, ...) in the text too (streamed and --json \"text\")"),
        bool_flag("--json", "one JSON line {\"ids\", \"text\", \"stop_reason\"} instead of streaming the text"),
        int_flag("--threads", "N", 0, "CPU threads (0: all)"),
        choice_flag("--weights", {"f32", "bf16"}, "f32", "decode from f32 weights or a bf16 copy (CPU)"),
        choice_flag("--device", {"cpu", "cuda"}, "cpu", "where the model and its KV cache live"),
    },
    .examples = {
        {.command = "lmcpp generate --model quickstart/model --prompt \"Once upon a time\" --max-new-tokens 50",
         .comment = "the model lmcpp quickstart trains"},
        {.command = "lmcpp generate --model out/wikipedia/model --ids 464,2068,7586 --greedy --json"},
    },
};

// The sampling and search values, checked here so that the errors name the flags (the library names its options).
void check_options(const generate::GenerateOptions& opt) {
  const generate::SamplingOptions& s = opt.sampling;
  LM_CHECK(opt.max_new_tokens >= 0, "--max-new-tokens must be >= 0");
  LM_CHECK(s.temperature >= 0 && std::isfinite(s.temperature), "--temperature must be >= 0, got {}", s.temperature);
  LM_CHECK(s.top_k >= 0, "--top-k must be >= 0, got {}", s.top_k);
  LM_CHECK(s.top_p > 0 && s.top_p <= 1, "--top-p must be in (0, 1], got {}", s.top_p);
  LM_CHECK(s.repetition_penalty > 0 && std::isfinite(s.repetition_penalty),
           "--repetition-penalty must be > 0, got {}", s.repetition_penalty);
  LM_CHECK(opt.num_beams >= 1, "--num-beams must be >= 1");
  for (const std::string& stop : opt.stop_strings)
    LM_CHECK(!stop.empty(), "--stop is empty; give the text to stop at");
}

generate::GenerateResult run_session(const models::CausalLM& lm, const Tokenizer* tok, const std::vector<int32_t>& ids,
                                     const generate::GenerateOptions& opt, bool no_eos,
                                     const std::function<void(int64_t, int32_t)>& on_token) {
  generate::SchedulerOptions so;
  so.parallel = 1;
  generate::Scheduler sched(lm, tok, so);
  generate::SequenceRequest q;
  q.prompt = ids;
  q.max_tokens = opt.max_new_tokens;
  q.sampling = opt.sampling;
  q.stop = opt.stop_strings;
  q.stop_at_eos = !no_eos;
  auto seq = sched.submit(q);
  generate::GenerateResult res;
  res.ids.emplace_back();
  for (;;) {
    generate::SequenceUpdate u = seq->take(std::chrono::milliseconds(100));
    for (int32_t id : u.ids) {
      res.ids[0].push_back(id);
      on_token(0, id);
    }
    if (!u.done) continue;
    LM_CHECK_AS(ErrorCode::Internal, u.finish_reason != "error", "generation failed: {}", u.error);
    const bool eos = !no_eos && !res.ids[0].empty() && res.ids[0].back() == lm.eos_token_id();
    res.stop_reason.push_back(u.finish_reason == "stop" ? (eos ? "eos" : "stop_string") : u.finish_reason);
    return res;
  }
}

// The prompt as ids, from --ids (checked against the vocabulary) or --prompt (through the tokenizer).
std::vector<int32_t> prompt_ids(const Flags& f, const models::Model& model, const Tokenizer* tok,
                                const std::string& dir) {
  std::vector<int32_t> ids;
  if (const std::optional<std::string> ids_s = f.get("--ids")) {
    for (int64_t id : parse_id_list(*ids_s, "--ids")) {
      LM_CHECK(id < model.vocab_size(), "--ids: id {} is out of range for vocab_size {}", id,
               model.vocab_size());
      ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
  }
  LM_CHECK_AS(ErrorCode::NotFound, tok != nullptr, "--prompt needs tokenizer files in {}; use --ids", dir);
  ids = tok->encode(f.str("--prompt"), false);
  LM_CHECK(!ids.empty(), "--prompt encodes to no tokens");
  return ids;
}

// A request past the context is clamped with one notice; the prompt itself must leave room for a new token.
void fit_context(generate::GenerateOptions& opt, int64_t prompt_len, int64_t ctx) {
  LM_CHECK(prompt_len < ctx,
           "the prompt has {} tokens; the model's context is {} positions (room for no new token)",
           prompt_len, ctx);
  if (prompt_len + opt.max_new_tokens <= ctx) return;
  std::fprintf(stderr,
               "lmcpp: note: --max-new-tokens %lld clamped to %lld (a %lld-token prompt in a %lld-position "
               "context)\n",
               static_cast<long long>(opt.max_new_tokens), static_cast<long long>(ctx - prompt_len),
               static_cast<long long>(prompt_len), static_cast<long long>(ctx));
  opt.max_new_tokens = ctx - prompt_len;
}

// Prints the new ids of a run that streamed nothing: --json, or the text (prompt + new) of a non-streamed
// run, or the ids when there is no tokenizer.
void print_result(const generate::GenerateResult& res, const Tokenizer* tok,
                  const std::vector<int32_t>& prompt, bool json, bool skip_special) {
  const auto& gen = res.ids[0];
  if (json) {
    Json j;
    j["ids"] = gen;
    // The ids may end inside a UTF-8 character or hold bytes that are not UTF-8 (a byte-level BPE can produce
    // any byte sequence): broken characters become U+FFFD, as in the server's text, instead of failing the
    // dump.
    j["text"] = tok ? Json(generate::sanitize_utf8(tok->decode(gen, skip_special))) : Json(nullptr);
    j["stop_reason"] = res.stop_reason[0];
    std::printf("%s\n", j.dump().c_str());
  } else if (tok) {
    std::printf("%s%s\n", tok->decode(prompt, skip_special).c_str(), tok->decode(gen, skip_special).c_str());
  } else {
    std::string s;
    for (size_t i = 0; i < gen.size(); ++i) {
      if (i) s.push_back(',');
      s.append(std::to_string(gen[i]));
    }
    std::printf("%s\n", s.c_str());
  }
}

// Every flag is read and checked, and the model, tokenizer and prompt loaded, before anything is printed: an
// argument error leaves stdout empty.
int run_generate(const Flags& f) {
  const std::string dir = f.str("--model");
  generate::GenerateOptions opt;
  opt.max_new_tokens = f.i64("--max-new-tokens");
  opt.sampling.greedy = f.on("--greedy");
  opt.sampling.temperature = static_cast<float>(f.f64("--temperature"));
  if (opt.sampling.temperature == 0.0f) opt.sampling.greedy = true;  // as HF, OpenAI and llama.cpp read it
  opt.sampling.top_k = f.i64("--top-k");
  opt.sampling.top_p = static_cast<float>(f.f64("--top-p"));
  opt.sampling.repetition_penalty = static_cast<float>(f.f64("--repetition-penalty"));
  opt.sampling.seed = static_cast<uint64_t>(f.i64("--seed"));
  opt.num_beams = static_cast<int>(f.i64("--num-beams"));
  opt.length_penalty = static_cast<float>(f.f64("--length-penalty"));
  opt.early_stopping = f.on("--early-stopping");
  opt.stop_strings = f.all("--stop");
  const bool no_eos = f.on("--ignore-eos");
  const bool json = f.on("--json");
  const bool skip_special = !f.on("--keep-special-tokens");
  const std::string weights = f.str("--weights");
  const std::string device = f.str("--device");
  set_num_threads(static_cast<int>(f.i64("--threads")));
  LM_CHECK(f.get("--prompt").has_value() != f.get("--ids").has_value(),
           "give exactly one of --prompt or --ids");
  parse_device(device, "generate");
  LM_CHECK_AS(ErrorCode::Unsupported, device == "cpu" || weights == "f32",
              "generate --device cuda: --weights bf16 is a CPU decode option; the GPU decodes in f32");
  check_options(opt);
  std::unique_ptr<models::Model> model = interop::load_model(dir, f.str("--adapter"));
  LM_CHECK_AS(ErrorCode::Unsupported, model->causal_lm() != nullptr,
              "generate needs a causal language model (gpt2); {} is {}", dir, model->architecture());
  if (weights == "bf16") model->causal_lm()->set_decode_dtype(DType::BF16);
  // --device cuda: loaded on the host, then copied to the GPU, where the KV cache and every step run.
  if (device == "cuda") model = model->to(Device::CUDA);
  const models::CausalLM& lm = *model->causal_lm();
  std::unique_ptr<Tokenizer> tok;
  const std::string tdir = interop::tokenizer_source(dir, f.str("--adapter"));
  if (interop::has_model_tokenizer(tdir)) tok = interop::load_model_tokenizer(tdir);
  LM_CHECK_AS(ErrorCode::NotFound, opt.stop_strings.empty() || tok != nullptr,
              "--stop needs tokenizer files in {}", dir);
  const std::vector<int32_t> ids = prompt_ids(f, *model, tok.get(), dir);
  fit_context(opt, static_cast<int64_t>(ids.size()), model->max_positions());
  if (!no_eos) opt.eos_id = static_cast<int32_t>(lm.eos_token_id());
  // Streaming: print each token's text as soon as it is chosen (decoding the growing suffix, so multi-byte
  // characters split across tokens print once complete).
  std::vector<int32_t> out_ids;
  size_t printed = 0;
  const bool stream = !json && tok && opt.num_beams == 1;
  if (stream) {
    std::fputs(tok->decode(ids, skip_special).c_str(), stdout);
    std::fflush(stdout);
  }
  auto on_token = [&](int64_t, int32_t id) {
    if (!stream) return;
    out_ids.push_back(id);
    std::string text = tok->decode(out_ids, skip_special);
    // Hold back an incomplete UTF-8 sequence at the end (shown as U+FFFD by decode).
    size_t cut = text.size();
    if (text.size() >= 3 && text.compare(text.size() - 3, 3, "\xEF\xBF\xBD") == 0) cut = text.size() - 3;
    if (cut > printed) {
      std::fwrite(text.data() + printed, 1, cut - printed, stdout);
      std::fflush(stdout);
      printed = cut;
    }
  };
  // Sampling and greedy search run on the server's scheduler (one slot), so `generate` and `serve` pick the same
  // tokens; beam search, the GPU and zero new tokens take the batched generator.
  generate::GenerateResult res = device == "cpu" && opt.num_beams == 1 && opt.max_new_tokens > 0
                                     ? run_session(lm, tok.get(), ids, opt, no_eos, on_token)
                                     : generate::generate(lm, {ids}, opt, tok.get(), on_token);
  if (!stream) {
    print_result(res, tok.get(), ids, json, skip_special);
    return 0;
  }
  const std::string text = tok->decode(res.ids[0], skip_special);
  if (text.size() > printed) std::fwrite(text.data() + printed, 1, text.size() - printed, stdout);
  std::printf("\n");
  return 0;
}

LM_DECLARE_COMMAND(kGenerate, run_generate);

}  // namespace
}  // namespace lm::cli
