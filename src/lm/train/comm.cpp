// Communicator backends: single process and Open MPI (compiled when CMake finds MPI; LM_WITH_MPI), plus the
// collective watchdog. Float all-reduce is a reduce-scatter + all-gather so every element is summed by exactly
// one rank and all ranks hold bitwise identical results (an MPI_Allreduce may add in rank-dependent orders).
#include "lm/train/comm.h"

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "lm/core/error.h"
#include "lm/core/log.h"

#ifdef LM_WITH_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace lm::train {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double env_timeout() {
  const char* s = std::getenv("LM_COMM_TIMEOUT");
  if (!s || !*s) return 300.0;
  char* end = nullptr;
  double v = std::strtod(s, &end);
  LM_CHECK(end && *end == '\0' && v > 0, "LM_COMM_TIMEOUT must be a positive number of seconds, got '{}'", s);
  return v;
}

int env_int(const char* name, int def) {
  const char* s = std::getenv(name);
  if (!s || !*s) return def;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  LM_CHECK(end && *end == '\0' && v >= 0 && v < INT_MAX, "environment variable {}={} is not a valid number", name,
           s);
  return static_cast<int>(v);
}

}  // namespace

struct Communicator::Scope {
  Scope(Communicator& c, const char* op, double bytes) : c_(c), t0_(now_ns()) {
    c_.op_start_ns_.store(t0_);
    c_.current_op_.store(op);
    c_.stats_.bytes += bytes;
    ++c_.stats_.calls;
  }
  ~Scope() {
    c_.current_op_.store(nullptr);
    c_.stats_.seconds += static_cast<double>(now_ns() - t0_) * 1e-9;
  }
  Communicator& c_;
  int64_t t0_;
};

Communicator::Communicator(int rank, int world) : rank_(rank), world_(world), timeout_s_(env_timeout()) {}

Communicator::~Communicator() { stop_watchdog(); }

void Communicator::start_watchdog() {
  if (watchdog_.joinable()) return;
  watchdog_ = std::thread([this] { watchdog_loop(); });
}

void Communicator::stop_watchdog() {
  watchdog_stop_.store(true);
  if (watchdog_.joinable()) watchdog_.join();
}

void Communicator::watchdog_loop() {
  const int64_t limit = static_cast<int64_t>(timeout_s_ * 1e9);
  while (!watchdog_stop_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const char* op = current_op_.load();
    if (op && now_ns() - op_start_ns_.load() > limit) {
      // The main thread is blocked inside the engine; nothing can unwind it. Exiting non-zero makes mpirun
      // (or the env launcher) take the rest of the job down.
      std::fprintf(stderr,
                   "lmcpp: error: collective %s did not complete within %g s on rank %d of %d (%s backend): "
                   "another rank died or hangs; aborting (set LM_COMM_TIMEOUT to change the limit)\n",
                   op, timeout_s_, rank_, world_, backend().c_str());
      std::fflush(stderr);
      std::_Exit(1);
    }
  }
}

void Communicator::all_reduce_sum(float* x, int64_t n) {
  if (world_ == 1 || n == 0) return;
  Scope s(*this, "all_reduce", 2.0 * (world_ - 1) / world_ * static_cast<double>(n) * sizeof(float));
  do_all_reduce(x, n);
}

void Communicator::all_reduce_sum(double* x, int64_t n) {
  if (world_ == 1 || n == 0) return;
  Scope s(*this, "all_reduce", 2.0 * (world_ - 1) / world_ * static_cast<double>(n) * sizeof(double));
  do_all_reduce(x, n);
}

void Communicator::reduce_scatter_sum(const float* in, float* out, int64_t chunk) {
  if (world_ == 1) {
    if (out != in) std::memmove(out, in, static_cast<size_t>(chunk) * sizeof(float));
    return;
  }
  Scope s(*this, "reduce_scatter", static_cast<double>(world_ - 1) * static_cast<double>(chunk) * sizeof(float));
  do_reduce_scatter(in, out, chunk);
}

void Communicator::all_gather(const float* in, float* out, int64_t chunk) {
  if (world_ == 1) {
    if (out != in) std::memmove(out, in, static_cast<size_t>(chunk) * sizeof(float));
    return;
  }
  Scope s(*this, "all_gather", static_cast<double>(world_ - 1) * static_cast<double>(chunk) * sizeof(float));
  do_all_gather(in, out, chunk);
}

void Communicator::broadcast(void* data, int64_t bytes, int root) {
  LM_CHECK(root >= 0 && root < world_, "broadcast root {} outside world of {}", root, world_);
  if (world_ == 1) return;
  Scope s(*this, "broadcast", static_cast<double>(bytes));
  do_broadcast(data, bytes, root);
}

void Communicator::barrier() {
  if (world_ == 1) return;
  Scope s(*this, "barrier", 0.0);
  do_barrier();
}

namespace {

class SingleCommunicator final : public Communicator {
 public:
  SingleCommunicator() : Communicator(0, 1) {}
  std::string backend() const override { return "single"; }
  [[noreturn]] void abort(int code) override { std::_Exit(code); }

 protected:
  void do_all_reduce(float*, int64_t) override {}
  void do_all_reduce(double*, int64_t) override {}
  void do_reduce_scatter(const float*, float*, int64_t) override {}
  void do_all_gather(const float*, float*, int64_t) override {}
  void do_broadcast(void*, int64_t, int) override {}
  void do_barrier() override {}
};

#ifdef LM_WITH_MPI

void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  LM_THROW(ErrorCode::Internal, "{} failed: {}", what, std::string(msg, static_cast<size_t>(len)));
}

constexpr int64_t kMpiMaxCount = int64_t{1} << 30;  // MPI counts are int

// MPI is initialised once per process and finalised at exit (MPI cannot be re-initialised).
void mpi_init_once() {
  int inited = 0;
  MPI_Initialized(&inited);
  if (inited) return;
  int provided = 0;
  mpi_check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  // Errors come back as return codes (turned into lm::Error) instead of MPI's default abort.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  std::atexit([] {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
  });
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(int rank, int world) : Communicator(rank, world) { start_watchdog(); }
  ~MpiCommunicator() override { stop_watchdog(); }
  std::string backend() const override { return "mpi"; }
  [[noreturn]] void abort(int code) override {
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 protected:
  void do_all_reduce(float* x, int64_t n) override {
    // Each rank sums one slice (counts[r] elements at displs[r]), then all ranks gather the slices.
    const int W = world_size();
    for (int64_t off = 0; off < n; off += kMpiMaxCount) {
      const int64_t m = std::min(kMpiMaxCount, n - off);
      std::vector<int> counts(static_cast<size_t>(W)), displs(static_cast<size_t>(W));
      for (int r = 0, d = 0; r < W; ++r) {
        counts[static_cast<size_t>(r)] = static_cast<int>(m / W + (r < m % W ? 1 : 0));
        displs[static_cast<size_t>(r)] = d;
        d += counts[static_cast<size_t>(r)];
      }
      scratch_.resize(static_cast<size_t>(counts[static_cast<size_t>(rank())]) + 1);
      mpi_check(MPI_Reduce_scatter(x + off, scratch_.data(), counts.data(), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
                "MPI_Reduce_scatter");
      mpi_check(MPI_Allgatherv(scratch_.data(), counts[static_cast<size_t>(rank())], MPI_FLOAT, x + off,
                               counts.data(), displs.data(), MPI_FLOAT, MPI_COMM_WORLD),
                "MPI_Allgatherv");
    }
  }
  void do_all_reduce(double* x, int64_t n) override {
    // Scalars (loss sums, token counts, norms): rank 0's result is broadcast so that decisions taken from
    // them (skip, stop, best) agree on every rank whatever order MPI added in.
    LM_CHECK(n < kMpiMaxCount, "all_reduce of {} doubles is too large", n);
    mpi_check(MPI_Allreduce(MPI_IN_PLACE, x, static_cast<int>(n), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
    mpi_check(MPI_Bcast(x, static_cast<int>(n), MPI_DOUBLE, 0, MPI_COMM_WORLD), "MPI_Bcast");
  }
  void do_reduce_scatter(const float* in, float* out, int64_t chunk) override {
    LM_CHECK(chunk < kMpiMaxCount, "reduce_scatter chunk of {} floats is too large", chunk);
    // MPI forbids overlapping send and receive buffers; the trainer reduces into its own slot of the input.
    const bool overlaps = out + chunk > in && out < in + chunk * world_size();
    float* dst = out;
    if (overlaps) {
      scratch_.resize(static_cast<size_t>(chunk));
      dst = scratch_.data();
    }
    mpi_check(MPI_Reduce_scatter_block(in, dst, static_cast<int>(chunk), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Reduce_scatter_block");
    if (overlaps) std::memcpy(out, dst, static_cast<size_t>(chunk) * sizeof(float));
  }
  void do_all_gather(const float* in, float* out, int64_t chunk) override {
    LM_CHECK(chunk < kMpiMaxCount, "all_gather chunk of {} floats is too large", chunk);
    const bool in_place = in == out + static_cast<int64_t>(rank()) * chunk;
    mpi_check(MPI_Allgather(in_place ? MPI_IN_PLACE : in, static_cast<int>(chunk), MPI_FLOAT, out,
                            static_cast<int>(chunk), MPI_FLOAT, MPI_COMM_WORLD),
              "MPI_Allgather");
  }
  void do_broadcast(void* data, int64_t bytes, int root) override {
    auto* p = static_cast<char*>(data);
    for (int64_t off = 0; off < bytes; off += kMpiMaxCount)
      mpi_check(MPI_Bcast(p + off, static_cast<int>(std::min(kMpiMaxCount, bytes - off)), MPI_BYTE, root,
                          MPI_COMM_WORLD),
                "MPI_Bcast");
  }
  void do_barrier() override { mpi_check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

 private:
  std::vector<float> scratch_;
};

#endif  // LM_WITH_MPI

}  // namespace

LaunchInfo detect_launch() {
  LaunchInfo li;
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(v)) {
      li.kind = LaunchInfo::Mpi;
      return li;  // rank and size come from MPI itself
    }
  }
  int world = env_int("WORLD_SIZE", 1);
  if (std::getenv("RANK") && world > 1) {
    li.kind = LaunchInfo::Env;
    li.world_size = world;
    li.rank = env_int("RANK", 0);
    li.local_rank = env_int("LOCAL_RANK", 0);
    const char* addr = std::getenv("MASTER_ADDR");
    li.master_addr = addr ? addr : "";
    li.master_port = env_int("MASTER_PORT", 0);
    LM_CHECK(li.rank < li.world_size, "RANK={} must be below WORLD_SIZE={}", li.rank, li.world_size);
    LM_CHECK(!li.master_addr.empty() && li.master_port > 0 && li.master_port < 65536,
             "torchrun-style launch (RANK/WORLD_SIZE set) needs MASTER_ADDR and MASTER_PORT");
  }
  return li;
}

std::vector<std::string> comm_backends() {
  std::vector<std::string> b{"single"};
#ifdef LM_WITH_MPI
  b.push_back("mpi");
#endif
#ifdef LM_WITH_GLOO
  b.push_back("gloo");
#endif
  return b;
}

std::unique_ptr<Communicator> make_single_communicator() { return std::make_unique<SingleCommunicator>(); }

#ifdef LM_WITH_GLOO
std::unique_ptr<Communicator> make_env_communicator(const LaunchInfo& li);  // comm_gloo.cpp
#else
std::unique_ptr<Communicator> make_env_communicator(const LaunchInfo& li) {
  LM_THROW(ErrorCode::Unsupported, "torchrun-style launch (RANK={}, WORLD_SIZE={}) needs the Gloo backend, which "
           "this lmcpp was built without (install libgloo-dev and reconfigure), or launch with mpirun",
           li.rank, li.world_size);
}
#endif

std::unique_ptr<Communicator> make_communicator() {
  LaunchInfo li = detect_launch();
  if (li.kind == LaunchInfo::Single) return make_single_communicator();
  if (li.kind == LaunchInfo::Env) return make_env_communicator(li);
#ifdef LM_WITH_MPI
  mpi_init_once();
  int rank = 0, world = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &world);
  if (world == 1) return make_single_communicator();
  log_debug("mpi: rank {} of {}", rank, world);
  return std::make_unique<MpiCommunicator>(rank, world);
#else
  LM_THROW(ErrorCode::Unsupported, "launched by mpirun but this lmcpp was built without MPI (install "
           "libopenmpi-dev and reconfigure)");
#endif
}

}  // namespace lm::train
