// POST /v1/completions and /v1/chat/completions: OpenAI shapes, streamed (SSE) or not, over the scheduler.
#include <httplib.h>

#include <chrono>
#include <ctime>
#include <random>

#include "lm/core/error.h"
#include "lm/generate/openai.h"
#include "server.h"

namespace lm::server {

namespace {

using generate::SequenceUpdate;
using Clock = std::chrono::steady_clock;

std::string random_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

// One request's sequences (prompts x n choices) and what its responses need.
struct Job {
  bool chat = false, logprobs = false, include_usage = false;
  std::string id, model;
  int64_t created = 0;
  std::vector<std::shared_ptr<generate::Sequence>> seqs;
  int64_t prompt_tokens = 0;
  Clock::time_point deadline;
  std::vector<int64_t> text_offset;  // completions logprobs: per choice, the bytes of text so far
  void cancel_all() {
    for (auto& s : seqs) s->cancel();
  }
};

Json token_entry(const Tokenizer& tok, int32_t id, float lp) {
  const std::string b = id < tok.vocab_size() ? tok.decode({id}) : std::string();
  Json bytes = Json::array();
  for (unsigned char c : b) bytes.push_back(static_cast<int>(c));
  return {{"token", generate::sanitize_utf8(b)}, {"logprob", lp}, {"bytes", bytes}};
}

// The logprobs object of some tokens of choice i: chat {"content": [...]}, completions {tokens, token_logprobs,
// top_logprobs, text_offset}.
Json logprobs_json(Job& job, size_t i, const Tokenizer& tok, const std::vector<generate::TokenLogprob>& lps) {
  if (job.chat) {
    Json content = Json::array();
    for (const auto& t : lps) {
      Json e = token_entry(tok, t.id, t.logprob);
      e["top_logprobs"] = Json::array();
      for (const auto& [id, lp] : t.top) e["top_logprobs"].push_back(token_entry(tok, id, lp));
      content.push_back(std::move(e));
    }
    return {{"content", content}};
  }
  Json tokens = Json::array(), values = Json::array(), tops = Json::array(), offsets = Json::array();
  for (const auto& t : lps) {
    const std::string s = t.id < tok.vocab_size() ? tok.decode({t.id}) : std::string();
    tokens.push_back(generate::sanitize_utf8(s));
    values.push_back(t.logprob);
    Json top = Json::object();
    for (const auto& [id, lp] : t.top) top[generate::sanitize_utf8(id < tok.vocab_size() ? tok.decode({id}) : "")] = lp;
    tops.push_back(top);
    offsets.push_back(job.text_offset[i]);
    job.text_offset[i] += static_cast<int64_t>(s.size());
  }
  return {{"tokens", tokens}, {"token_logprobs", values}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

// Submits every sequence of a parsed request (cancelling those already queued if one is refused).
void submit_all(State& st, generate::ApiRequest& r, int adapter, Job& job) {
  try {
    for (const auto& prompt : r.prompts) {
      job.prompt_tokens += static_cast<int64_t>(prompt.size());
      for (int i = 0; i < r.n; ++i) {
        generate::SequenceRequest q = r.params;
        q.prompt = prompt;
        q.stream = static_cast<uint64_t>(i);
        q.adapter = adapter;
        // Chat without max_tokens: until the context is full (or a stop).
        if (r.chat && !r.max_tokens_given)
          q.max_tokens = std::max<int64_t>(1, st.sched->ctx() - static_cast<int64_t>(prompt.size()));
        job.seqs.push_back(st.sched->submit(std::move(q)));
      }
    }
    job.text_offset.assign(job.seqs.size(), 0);
  } catch (...) {
    job.cancel_all();
    throw;
  }
}

Json usage_json(const Job& job, int64_t completion) {
  return {{"prompt_tokens", job.prompt_tokens},
          {"completion_tokens", completion},
          {"total_tokens", job.prompt_tokens + completion}};
}

Json envelope(const Job& job, bool chunk) {
  return {{"id", job.id},
          {"object", job.chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion"},
          {"created", job.created},
          {"model", job.model},
          {"system_fingerprint", nullptr}};
}

void respond_whole(State& st, Job& job, httplib::Response& res) {
  Json out = envelope(job, false);
  out["choices"] = Json::array();
  int64_t completion = 0;
  for (size_t i = 0; i < job.seqs.size(); ++i) {
    SequenceUpdate all;
    for (;;) {
      SequenceUpdate u = job.seqs[i]->take(std::chrono::milliseconds(200));
      all.text += u.text;
      all.logprobs.insert(all.logprobs.end(), u.logprobs.begin(), u.logprobs.end());
      all.completion_tokens = u.completion_tokens;
      if (u.done) {
        all.finish_reason = u.finish_reason;
        all.error = u.error;
        break;
      }
      if (Clock::now() > job.deadline) job.cancel_all();
    }
    if (all.finish_reason == "error") {
      job.cancel_all();
      return send_error(res, 500, "generation failed: " + all.error, "server_error");
    }
    if (all.finish_reason == "cancelled" && Clock::now() > job.deadline) {
      job.cancel_all();
      return send_error(res, 503, fmt::format("the request took longer than --timeout {} s", st.opt.timeout_s),
                        "server_error", "timeout");
    }
    completion += all.completion_tokens;
    Json c = {{"index", i}, {"finish_reason", all.finish_reason}};
    c["logprobs"] = job.logprobs ? logprobs_json(job, i, *st.tok, all.logprobs) : Json(nullptr);
    if (job.chat)
      c["message"] = {{"role", "assistant"}, {"content", all.text}};
    else
      c["text"] = all.text;
    out["choices"].push_back(std::move(c));
  }
  out["usage"] = usage_json(job, completion);
  send_json(res, out);
}

// Streams the job as SSE until every sequence is done; false when the client went away.
bool stream_job(State& st, Job& job, httplib::DataSink& sink) {
  auto last_sent = Clock::now();
  auto send = [&](const std::string& s) {
    last_sent = Clock::now();
    return sink.write(s.data(), s.size());
  };
  auto event = [&](const Json& j) { return send("data: " + dump(j) + "\n\n"); };
  auto chunk = [&](size_t i, const std::string& text, const Json& lp, const Json& finish) {
    Json j = envelope(job, true);
    Json c = {{"index", i}, {"logprobs", lp}, {"finish_reason", finish}};
    if (job.chat)
      c["delta"] = finish.is_null() ? Json{{"content", text}} : Json::object();
    else
      c["text"] = text;
    j["choices"] = Json::array({c});
    if (job.include_usage) j["usage"] = nullptr;
    return j;
  };
  if (job.chat)
    for (size_t i = 0; i < job.seqs.size(); ++i) {
      Json j = chunk(i, "", nullptr, nullptr);
      j["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
      if (!event(j)) return job.cancel_all(), false;
    }
  std::vector<bool> done(job.seqs.size(), false);
  size_t left = job.seqs.size();
  int64_t completion = 0;
  const auto wait = std::chrono::milliseconds(job.seqs.size() == 1 ? 50 : 5);
  while (left > 0) {
    if (!sink.is_writable()) return job.cancel_all(), false;
    if (Clock::now() > job.deadline) job.cancel_all();
    for (size_t i = 0; i < job.seqs.size(); ++i) {
      if (done[i]) continue;
      SequenceUpdate u = job.seqs[i]->take(wait);
      bool ok = true;
      if (!u.text.empty() || (job.logprobs && !u.logprobs.empty()))
        ok = event(chunk(i, u.text, job.logprobs ? logprobs_json(job, i, *st.tok, u.logprobs) : Json(nullptr), nullptr));
      else if (!u.ids.empty())
        ok = send(": held back\n\n");  // a token whose text is not final yet (an SSE comment: also probes the peer)
      if (!ok) return job.cancel_all(), false;
      if (!u.done) continue;
      done[i] = true;
      --left;
      completion += u.completion_tokens;
      if (u.finish_reason == "error" &&
          !event({{"error", {{"message", "generation failed: " + u.error}, {"type", "server_error"}, {"code", nullptr}}}}))
        return job.cancel_all(), false;
      if (!event(chunk(i, "", nullptr, u.finish_reason))) return job.cancel_all(), false;
    }
    // Nothing sent for half a second (the request waits in the queue, or a long prompt is prefilled): an SSE
    // comment probes the client, so one that left is noticed (the write after its reset fails) and its request
    // cancelled, giving back its queue place or slot, within about a second.
    if (left > 0 && Clock::now() - last_sent > std::chrono::milliseconds(500) && !send(": waiting\n\n"))
      return job.cancel_all(), false;
  }
  if (job.include_usage) {
    Json j = envelope(job, true);
    j["choices"] = Json::array();
    j["usage"] = usage_json(job, completion);
    if (!event(j)) return false;
  }
  if (!send("data: [DONE]\n\n")) return false;
  sink.done();
  return true;
}

void handle(const std::shared_ptr<State>& st, const httplib::Request& req, httplib::Response& res, bool chat) {
  if (!require_causal(*st, res, chat ? "/v1/chat/completions" : "/v1/completions")) return;
  guarded(*st, res, [&] {
    const Json body = parse_body(req);
    generate::ApiRequest r = generate::parse_request(body, chat, st->tok.get(), st->model->vocab_size(),
                                                     st->chat ? &*st->chat : nullptr);
    const int adapter = request_adapter(*st, body);
    auto job = std::make_shared<Job>();
    job->chat = chat;
    job->logprobs = r.logprobs;
    job->include_usage = r.include_usage;
    job->id = random_id(chat ? "chatcmpl-" : "cmpl-");
    job->model = served_name(*st, adapter);
    job->created = static_cast<int64_t>(std::time(nullptr));
    job->deadline = Clock::now() + std::chrono::seconds(st->opt.timeout_s);
    submit_all(*st, r, adapter, *job);
    if (!r.stream) return respond_whole(*st, *job, res);
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [st, job](size_t, httplib::DataSink& sink) { return stream_job(*st, *job, sink); },
        [job](bool) { job->cancel_all(); });
  });
}

}  // namespace

void add_generation_routes(httplib::Server& svr, const std::shared_ptr<State>& st) {
  post_route(svr, "/v1/completions", st->opt.max_body_bytes, [st](const httplib::Request& q, httplib::Response& r) { handle(st, q, r, false); });
  post_route(svr, "/v1/chat/completions", st->opt.max_body_bytes, [st](const httplib::Request& q, httplib::Response& r) { handle(st, q, r, true); });
  // llama-server's names for the same routes.
  post_route(svr, "/completions", st->opt.max_body_bytes, [st](const httplib::Request& q, httplib::Response& r) { handle(st, q, r, false); });
  post_route(svr, "/chat/completions", st->opt.max_body_bytes, [st](const httplib::Request& q, httplib::Response& r) { handle(st, q, r, true); });
}

}  // namespace lm::server
