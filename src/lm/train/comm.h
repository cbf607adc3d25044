// Communicator: the collectives data-parallel training needs (all-reduce, reduce-scatter, all-gather,
// broadcast, barrier) over existing engines: single process (world 1, no copies), Open MPI for mpirun launches
// (comm.cpp) and Gloo for torchrun-style env launches (comm_gloo.cpp). Buffers are flat host arrays: f32
// gradient/parameter arenas (n) and f64 scalars. Every collective is timed, its bytes counted, and watched: one
// that runs longer than LM_COMM_TIMEOUT ends the process with a clear message (and so the job).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace lm::train {

// Totals since construction (or the last reset): bytes this rank sent into collectives, seconds spent in them.
struct CommStats {
  double bytes = 0, seconds = 0;
  int64_t calls = 0;
};

class Communicator {
 public:
  virtual ~Communicator();
  virtual std::string backend() const = 0;
  int rank() const { return rank_; }
  int world_size() const { return world_; }

  // x (n) <- Σ over ranks of x, identical on every rank.
  void all_reduce_sum(float* x, int64_t n);
  void all_reduce_sum(double* x, int64_t n);
  // in (world_size * chunk) -> out (chunk) = Σ over ranks of in[rank()*chunk .. +chunk). out may lie inside in.
  void reduce_scatter_sum(const float* in, float* out, int64_t chunk);
  // in (chunk) on every rank -> out (world_size * chunk), rank r's chunk at r*chunk. in may alias out's chunk.
  void all_gather(const float* in, float* out, int64_t chunk);
  void broadcast(void* data, int64_t bytes, int root);
  void barrier();

  // Ends every process of the job now (after a fatal error on one rank: the others are blocked in collectives).
  [[noreturn]] virtual void abort(int code) = 0;

  const CommStats& stats() const { return stats_; }
  void reset_stats() { stats_ = {}; }
  double timeout_s() const { return timeout_s_; }

 protected:
  Communicator(int rank, int world);
  // Starts the watchdog thread; backends call this once they are connected (world > 1 only).
  void start_watchdog();
  void stop_watchdog();

  virtual void do_all_reduce(float* x, int64_t n) = 0;
  virtual void do_all_reduce(double* x, int64_t n) = 0;
  virtual void do_reduce_scatter(const float* in, float* out, int64_t chunk) = 0;
  virtual void do_all_gather(const float* in, float* out, int64_t chunk) = 0;
  virtual void do_broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void do_barrier() = 0;

 private:
  struct Scope;  // times one collective and arms the watchdog
  void watchdog_loop();

  int rank_, world_;
  double timeout_s_;
  CommStats stats_;
  std::atomic<const char*> current_op_{nullptr};
  std::atomic<int64_t> op_start_ns_{0};
  std::atomic<bool> watchdog_stop_{false};
  std::thread watchdog_;
};

// How this process was launched, from its environment.
struct LaunchInfo {
  enum Kind { Single, Mpi, Env } kind = Single;
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr;  // Env only
  int master_port = 0;
};
LaunchInfo detect_launch();

// The communicator for this process: under mpirun/srun (OMPI_COMM_WORLD_*, PMIX_RANK, PMI_RANK) Open MPI; with
// torchrun-style RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT and WORLD_SIZE > 1 the env backend (Unsupported if this
// build lacks it); otherwise the single-process backend. LM_COMM_TIMEOUT (seconds, default 300) sets the
// collective timeout.
std::unique_ptr<Communicator> make_communicator();
std::unique_ptr<Communicator> make_single_communicator();
// Backends compiled into this build: "single" always, then "mpi" and/or "gloo".
std::vector<std::string> comm_backends();

}  // namespace lm::train
