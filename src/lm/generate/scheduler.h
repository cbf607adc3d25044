// Continuous batching: a fixed number of slots run sequences together, one batched forward pass per step
// (CausalLM::forward_ragged). Each step carries one token of every decoding sequence plus pieces of prompts
// being prefilled: prompts are cut at fixed chunk boundaries (a function of the prompt alone, so results do not
// depend on the load) and at most `step_prefill_tokens` prompt tokens join a step, so a long prompt does not
// freeze the streams already running. A request waits in a bounded queue for a free slot and joins the running
// batch at the next step; a cancelled sequence leaves it at the next step. Greedy output of a sequence is
// independent of the others in the batch. The scheduler runs on its own thread; submit/cancel/stats are
// thread-safe. With an AdapterSet, a step runs the sequences of one adapter only (it is attached to the base's
// layers for the whole pass); the adapters with running sequences take turns, step by step.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lm/core/cpu_load.h"
#include "lm/core/error.h"
#include "lm/generate/session.h"
#include "lm/models/lora.h"
#include "lm/models/model.h"
#include "lm/tokenize/tokenizer.h"

namespace lm::generate {

struct SchedulerOptions {
  int parallel = 4;                   // slots: sequences decoded together
  int64_t max_queue = 64;             // requests waiting for a slot; beyond that submit throws (Busy)
  int64_t ctx = 0;                    // positions per sequence (prompt + new tokens); 0: the model's maximum
  int64_t prefill_chunk = 128;        // prompt tokens per prefill piece (fixed boundaries)
  int64_t step_prefill_tokens = 256;  // prompt tokens per step (at least one piece)
};

// Cumulative latency histogram (Prometheus buckets, seconds).
struct Histogram {
  std::vector<double> bounds;         // upper bounds, ascending (+Inf implied)
  std::vector<uint64_t> counts;       // per bound, not cumulative; counts.back() is the +Inf bucket
  double sum = 0;
  uint64_t n = 0;
  explicit Histogram(std::vector<double> b = {});
  void add(double v);
};

struct SchedulerStats {
  uint64_t requests = 0;              // sequences submitted (accepted)
  uint64_t rejected = 0;              // refused: queue full
  uint64_t prompt_tokens = 0, completion_tokens = 0;
  uint64_t steps = 0;
  int64_t queued = 0, active = 0;
  Histogram ttft{{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}};
  Histogram inter_token{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1}};
};

// Thrown by submit when the queue is full (a server answers 429).
struct QueueFull : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Thrown by submit when prompt + max_tokens exceed the context (an InvalidArgument; servers name its type).
struct ContextExceeded : Error {
  explicit ContextExceeded(const std::string& m) : Error(ErrorCode::InvalidArgument, m) {}
};

class Scheduler {
 public:
  // tok: decodes generated ids to text (null: text stays empty, stop strings are refused).
  // adapters: the LoRA adapters requests may name (SequenceRequest::adapter) over model's own layers; the
  // scheduler's thread activates them, so nothing else may run the model while the scheduler does.
  Scheduler(const models::CausalLM& model, const Tokenizer* tok, SchedulerOptions opt,
            models::AdapterSet* adapters = nullptr);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Validates (InvalidArgument: bad values; prompt + max_tokens beyond ctx names "exceed_context_size") and
  // queues a request. Throws QueueFull when max_queue requests already wait.
  std::shared_ptr<Sequence> submit(SequenceRequest req);
  // Stops taking requests and ends every queued and running sequence (finish_reason "cancelled") at the next
  // step; the thread exits. Idempotent; the destructor calls it.
  void shutdown();
  // Ends every request still waiting for a slot (finish_reason "cancelled"); running ones go on. A server that
  // is draining calls it so that only the requests in flight get the drain window.
  void cancel_queued();
  SchedulerStats stats() const;
  int64_t ctx() const { return ctx_; }
  const SchedulerOptions& options() const { return opt_; }

 private:
  struct Slot;
  void loop();
  bool admit();     // moves queued requests into free slots; false when there is nothing to do
  void step();      // one forward pass over the active sequences of one adapter
  int next_adapter();  // the adapter whose sequences the next step runs (turns among those with sequences)
  void sample(Slot& s, float* logits);
  // Ends a sequence; flush sends the text held back (not after a stop string, which is what was held).
  void end(Slot& s, const std::string& reason, const std::string& error = {}, bool flush = true);

  const models::CausalLM& model_;
  const Tokenizer* tok_;
  SchedulerOptions opt_;
  models::AdapterSet* adapters_;
  int last_adapter_ = -1;
  int64_t ctx_ = 0, V_ = 0;
  std::vector<std::string> token_text_;  // bytes of each id (empty without a tokenizer)
  AdaptiveThreads adapt_;                 // decode-only steps leave the cores other processes use

  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Pending {
    SequenceRequest req;
    std::shared_ptr<Sequence> seq;
    double t_submit;
  };
  std::deque<Pending> queue_;
  bool stop_ = false;
  SchedulerStats stats_;
  std::vector<std::unique_ptr<Slot>> active_;  // touched by the scheduler thread only
  std::thread thread_;
};

}  // namespace lm::generate
