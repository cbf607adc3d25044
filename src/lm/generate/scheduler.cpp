// The continuous-batching loop: admit, one ragged forward per step, sample, stream.
#include "lm/generate/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "lm/core/error.h"
#include "lm/core/rng.h"

namespace lm::generate {

namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// log-softmax value of `id` and the k best (id, logprob), best first (ties: lower id first).
TokenLogprob logprobs_of(const float* l, int64_t V, int32_t id, int k) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t v = 0; v < V; ++v) mx = std::max(mx, l[v]);
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(l[v]) - mx);
  const double lse = mx + std::log(sum);
  TokenLogprob t;
  t.id = id;
  t.logprob = static_cast<float>(l[id] - lse);
  if (k > 0) {
    std::vector<int32_t> idx(static_cast<size_t>(V));
    for (int64_t v = 0; v < V; ++v) idx[static_cast<size_t>(v)] = static_cast<int32_t>(v);
    const auto kk = std::min<int64_t>(k, V);
    std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(),
                      [&](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    for (int64_t i = 0; i < kk; ++i)
      t.top.push_back({idx[static_cast<size_t>(i)], static_cast<float>(l[idx[static_cast<size_t>(i)]] - lse)});
  }
  return t;
}

}  // namespace

Histogram::Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}

void Histogram::add(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++n;
}

struct Scheduler::Slot {
  SequenceRequest req;
  std::shared_ptr<Sequence> seq;
  std::unique_ptr<models::SeqCache> cache;
  TextStream text;
  int64_t prefilled = 0;                 // prompt tokens in the cache
  std::vector<int32_t> generated;        // new ids
  std::vector<int32_t> seen;             // prompt + generated (repetition penalty)
  std::vector<int32_t> counts;           // per id, generated occurrences (presence/frequency penalties)
  int32_t next = -1;                     // the sampled token to feed at the next step
  std::vector<float> logits;             // V
  double t_submit = 0, t_last = 0;
  bool ended = false;
};

Scheduler::Scheduler(const models::CausalLM& model, const Tokenizer* tok, SchedulerOptions opt,
                     models::AdapterSet* adapters)
    : model_(model), tok_(tok), opt_(opt), adapters_(adapters) {
  LM_CHECK(opt_.parallel >= 1, "parallel must be >= 1, got {}", opt_.parallel);
  LM_CHECK(opt_.max_queue >= 0, "the queue limit must be >= 0");
  LM_CHECK(opt_.prefill_chunk >= 1 && opt_.step_prefill_tokens >= 1, "prefill sizes must be >= 1");
  const int64_t maxpos = model_.model().max_positions();
  ctx_ = opt_.ctx > 0 ? std::min(opt_.ctx, maxpos) : maxpos;
  LM_CHECK(opt_.ctx <= maxpos, "ctx {} exceeds the model's context of {} positions", opt_.ctx, maxpos);
  V_ = model_.model().vocab_size();
  if (tok_) {
    const int64_t n = std::min<int64_t>(V_, tok_->vocab_size());
    token_text_.resize(static_cast<size_t>(V_));
    for (int64_t i = 0; i < n; ++i) token_text_[static_cast<size_t>(i)] = tok_->decode({static_cast<int32_t>(i)});
  }
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() { shutdown(); }

std::shared_ptr<Sequence> Scheduler::submit(SequenceRequest req) {
  req.validate(V_);
  const auto P = static_cast<int64_t>(req.prompt.size());
  if (P + req.max_tokens > ctx_)
    throw ContextExceeded(fmt::format("the prompt ({} tokens) + max_tokens ({}) = {} exceeds the context of {} "
                                      "positions", P, req.max_tokens, P + req.max_tokens, ctx_));
  LM_CHECK(req.stop.empty() || tok_ != nullptr, "stop strings need the model's tokenizer");
  LM_CHECK(req.adapter >= -1 && req.adapter < (adapters_ ? adapters_->size() : 0),
           "adapter index {} is out of range", req.adapter);
  auto seq = std::make_shared<Sequence>();
  {
    std::lock_guard<std::mutex> lk(mu_);
    LM_CHECK_AS(ErrorCode::Unsupported, !stop_, "the server is shutting down");
    const auto waiting = static_cast<int64_t>(queue_.size());
    const auto free_slots = opt_.parallel - stats_.active;
    if (waiting - free_slots >= opt_.max_queue) {
      ++stats_.rejected;
      throw QueueFull("the request queue is full");
    }
    seq->set_counts(P, 0);
    queue_.push_back({std::move(req), seq, now_s()});
    ++stats_.requests;
    stats_.queued = static_cast<int64_t>(queue_.size());
  }
  cv_.notify_all();
  return seq;
}

void Scheduler::shutdown() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::cancel_queued() {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& p : queue_) p.seq->finish("cancelled");
  queue_.clear();
  stats_.queued = 0;
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void Scheduler::loop() {
  for (;;) {
    if (!admit()) break;
    if (!active_.empty()) step();
  }
  // Shutting down: end everything still running or waiting.
  for (auto& s : active_) end(*s, "cancelled");
  active_.clear();
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& p : queue_) p.seq->finish("cancelled");
  queue_.clear();
  stats_.queued = stats_.active = 0;
}

bool Scheduler::admit() {
  std::unique_lock<std::mutex> lk(mu_);
  cv_.wait(lk, [&] { return stop_ || !queue_.empty() || !active_.empty(); });
  if (stop_) return false;
  // Requests cancelled while they wait (a streaming client that left) give their queue place back now, not when a
  // slot frees: otherwise a queue full of departed clients answers 429 to live ones for as long as the batch runs.
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->seq->cancelled()) {
      it->seq->finish("cancelled");
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  while (!queue_.empty() && static_cast<int64_t>(active_.size()) < opt_.parallel) {
    Pending p = std::move(queue_.front());
    queue_.pop_front();
    if (p.seq->cancelled()) {
      p.seq->finish("cancelled");
      continue;
    }
    auto s = std::make_unique<Slot>();
    const auto P = static_cast<int64_t>(p.req.prompt.size());
    s->cache = model_.make_seq_cache(P + p.req.max_tokens);
    s->text = TextStream(p.req.stop);
    s->seen = p.req.prompt;
    if (p.req.presence_penalty != 0 || p.req.frequency_penalty != 0) s->counts.assign(static_cast<size_t>(V_), 0);
    s->logits.resize(static_cast<size_t>(V_));
    s->req = std::move(p.req);
    s->seq = std::move(p.seq);
    s->t_submit = p.t_submit;
    active_.push_back(std::move(s));
  }
  stats_.queued = static_cast<int64_t>(queue_.size());
  stats_.active = static_cast<int64_t>(active_.size());
  return true;
}

int Scheduler::next_adapter() {
  // The smallest adapter index after the last step's among the running sequences, else the smallest of all.
  int first = std::numeric_limits<int>::max(), after = std::numeric_limits<int>::max();
  for (auto& s : active_) {
    if (s->ended) continue;
    const int a = s->req.adapter;
    first = std::min(first, a);
    if (a > last_adapter_) after = std::min(after, a);
  }
  if (first == std::numeric_limits<int>::max()) return last_adapter_;
  last_adapter_ = after != std::numeric_limits<int>::max() ? after : first;
  return last_adapter_;
}

void Scheduler::step() {
  for (auto& s : active_)
    if (s->seq->cancelled()) end(*s, "cancelled");
  std::vector<models::SeqChunk> chunks;
  std::vector<Slot*> owners;
  int64_t budget = opt_.step_prefill_tokens;
  const int adapter = next_adapter();
  if (adapters_) adapters_->activate(adapter);
  for (auto& s : active_) {
    if (s->ended || s->req.adapter != adapter) continue;
    const auto P = static_cast<int64_t>(s->req.prompt.size());
    if (s->prefilled < P) {
      if (budget <= 0) continue;
      // The next piece at a fixed boundary: [prefilled, next multiple of prefill_chunk) within the prompt.
      const int64_t end = std::min(P, (s->prefilled / opt_.prefill_chunk + 1) * opt_.prefill_chunk);
      const int64_t n = end - s->prefilled;
      chunks.push_back({s->cache.get(), s->req.prompt.data() + s->prefilled, n, end == P ? s->logits.data() : nullptr});
      budget -= n;
      s->prefilled = end;
    } else {
      chunks.push_back({s->cache.get(), &s->next, 1, s->logits.data()});
    }
    owners.push_back(s.get());
  }
  if (!chunks.empty()) {
    // Decode rows give the same bits on any team size (GEMV rows, per-sequence attention): a step of decode rows
    // only runs on the cores other processes leave free; a step with a prompt piece (GEMM) on the whole team.
    const bool decode_only =
        std::all_of(chunks.begin(), chunks.end(), [](const models::SeqChunk& c) { return c.n == 1; });
    if (decode_only)
      adapt_.step();
    else
      adapt_.release();
    try {
      model_.forward_ragged(chunks);
    } catch (const std::exception& e) {
      for (Slot* s : owners) end(*s, "error", e.what());
      owners.clear();
    }
    for (size_t i = 0; i < owners.size(); ++i)
      if (chunks[i].logits) sample(*owners[i], chunks[i].logits);
  }
  active_.erase(std::remove_if(active_.begin(), active_.end(), [](const auto& s) { return s->ended; }), active_.end());
  std::lock_guard<std::mutex> lk(mu_);
  ++stats_.steps;
  stats_.active = static_cast<int64_t>(active_.size());
}

void Scheduler::sample(Slot& s, float* logits) {
  const SequenceRequest& r = s.req;
  std::vector<TokenLogprob> lps;
  // Logprobs are of the model's distribution; penalties and temperature only steer the choice.
  std::vector<float> raw;
  if (r.top_logprobs >= 0) raw.assign(logits, logits + V_);
  if (!s.counts.empty())
    for (int64_t v = 0; v < V_; ++v) {
      const int32_t c = s.counts[static_cast<size_t>(v)];
      if (c > 0) logits[v] -= r.frequency_penalty * static_cast<float>(c) + r.presence_penalty;
    }
  const auto step = static_cast<uint64_t>(s.generated.size());
  const float u = Rng(r.sampling.seed, r.stream).uniform(step);
  const int32_t id = select_token(logits, V_, r.sampling, s.seen, u);
  if (r.top_logprobs >= 0) lps.push_back(logprobs_of(raw.data(), V_, id, r.top_logprobs));
  s.generated.push_back(id);
  s.seen.push_back(id);
  if (!s.counts.empty()) ++s.counts[static_cast<size_t>(id)];
  s.next = id;
  const double t = now_s();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (s.generated.size() == 1)
      stats_.ttft.add(t - s.t_submit);
    else
      stats_.inter_token.add(t - s.t_last);
    ++stats_.completion_tokens;
    if (s.generated.size() == 1) stats_.prompt_tokens += r.prompt.size();
  }
  s.t_last = t;
  const bool eos = r.stop_at_eos && id == model_.eos_token_id();
  bool stopped = false;
  std::string text;
  if (!eos && !token_text_.empty()) text = s.text.push(token_text_[static_cast<size_t>(id)], &stopped);
  s.seq->set_counts(static_cast<int64_t>(r.prompt.size()), static_cast<int64_t>(s.generated.size()));
  s.seq->post(text, {id}, lps);
  if (stopped)
    end(s, "stop", {}, /*flush=*/false);  // the held-back rest is the stop string itself
  else if (eos)
    end(s, "stop");
  else if (static_cast<int64_t>(s.generated.size()) >= r.max_tokens)
    end(s, "length");
}

void Scheduler::end(Slot& s, const std::string& reason, const std::string& error, bool flush) {
  if (s.ended) return;
  s.ended = true;
  if (flush) {
    const std::string rest = s.text.finish();
    if (!rest.empty()) s.seq->post(rest, {}, {});
  }
  s.seq->finish(reason, error);
  s.cache.reset();
}

}  // namespace lm::generate
