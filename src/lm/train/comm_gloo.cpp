// Gloo backend for torchrun-style launches (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT): collectives run on
// Gloo's TCP transport (Debian's libgloo); only the rendezvous — every rank publishing its Gloo address so the
// full mesh can connect — goes through a small key-value store that rank 0 serves on MASTER_ADDR:MASTER_PORT
// (the role of torch's TCPStore; Gloo ships file and Redis stores only). Compiled when CMake finds Gloo.
// Store wire format, per request: op (u8: 1 set, 2 get), key length (u32) + key, value length (u32) + value
// (set only); reply: found (u8) + value length (u32) + value (get), one 0 byte (set).
#ifdef LM_WITH_GLOO

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/math.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/tcp/device.h>

#include "lm/core/error.h"
#include "lm/core/log.h"
#include "lm/train/comm.h"

namespace lm::train {

namespace {

bool send_all(int fd, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t k = ::send(fd, c, n, MSG_NOSIGNAL);
    if (k <= 0) return false;
    c += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

bool recv_all(int fd, void* p, size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    ssize_t k = ::recv(fd, c, n, 0);
    if (k <= 0) return false;
    c += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

constexpr uint32_t kMaxStoreItem = 1u << 20;  // addresses are tens of bytes; anything larger is not ours

bool recv_blob(int fd, std::string* s) {
  uint32_t n = 0;
  if (!recv_all(fd, &n, 4) || n > kMaxStoreItem) return false;
  s->resize(n);
  return n == 0 || recv_all(fd, s->data(), n);
}

bool send_blob(int fd, const void* p, uint32_t n) { return send_all(fd, &n, 4) && (n == 0 || send_all(fd, p, n)); }

// Rank 0's rendezvous server: a map of keys to values, one thread per connected rank.
class StoreServer {
 public:
  explicit StoreServer(int port) {
    fd_ = ::socket(AF_INET6, SOCK_STREAM, 0);
    bool v6 = fd_ >= 0;
    if (!v6) fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    LM_CHECK_AS(ErrorCode::Internal, fd_ >= 0, "rendezvous: socket() failed: {}", std::strerror(errno));
    int one = 1, zero = 0;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc;
    if (v6) {
      ::setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
      sockaddr_in6 a{};
      a.sin6_family = AF_INET6;
      a.sin6_addr = in6addr_any;
      a.sin6_port = htons(static_cast<uint16_t>(port));
      rc = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    } else {
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_ANY);
      a.sin_port = htons(static_cast<uint16_t>(port));
      rc = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    }
    if (rc != 0 || ::listen(fd_, 128) != 0) {
      std::string why = std::strerror(errno);
      ::close(fd_);
      LM_THROW(ErrorCode::InvalidArgument, "rendezvous: cannot listen on MASTER_PORT {}: {}", port, why);
    }
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~StoreServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    accept_thread_.join();
    {
      std::lock_guard<std::mutex> g(mu_);
      for (int c : clients_) ::shutdown(c, SHUT_RDWR);  // each worker's recv returns: it closes and exits
    }
    for (auto& t : workers_) t.join();
  }

 private:
  void accept_loop() {
    while (!stop_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) {
        if (stop_) return;
        continue;
      }
      std::lock_guard<std::mutex> g(mu_);
      clients_.push_back(c);
      workers_.emplace_back([this, c] { serve(c); });
    }
  }
  void serve(int c) {
    for (;;) {
      uint8_t op = 0;
      std::string key, val;
      if (!recv_all(c, &op, 1) || !recv_blob(c, &key)) break;
      if (op == 1) {
        if (!recv_blob(c, &val)) break;
        {
          std::lock_guard<std::mutex> g(mu_);
          kv_[key] = val;
        }
        uint8_t ok = 0;
        if (!send_all(c, &ok, 1)) break;
      } else if (op == 2) {
        std::string found;
        uint8_t has = 0;
        {
          std::lock_guard<std::mutex> g(mu_);
          auto it = kv_.find(key);
          if (it != kv_.end()) {
            has = 1;
            found = it->second;
          }
        }
        if (!send_all(c, &has, 1) || !send_blob(c, found.data(), static_cast<uint32_t>(found.size()))) break;
      } else {
        break;
      }
    }
    ::close(c);
  }

  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<int> clients_;
  std::vector<std::thread> workers_;
  std::map<std::string, std::string> kv_;
};

// A rank's connection to the rendezvous server, as Gloo's Store interface.
class TcpStore final : public gloo::rendezvous::Store {
 public:
  TcpStore(const std::string& host, int port, std::chrono::milliseconds timeout) : timeout_(timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    std::string port_s = std::to_string(port);
    int gai = ::getaddrinfo(host.c_str(), port_s.c_str(), &hints, &res);
    LM_CHECK(gai == 0, "rendezvous: cannot resolve MASTER_ADDR {}: {}", host, ::gai_strerror(gai));
    // Rank 0 may start listening after the others: retry until the timeout.
    while (fd_ < 0) {
      for (addrinfo* a = res; a && fd_ < 0; a = a->ai_next) {
        int s = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (s < 0) continue;
        if (::connect(s, a->ai_addr, a->ai_addrlen) == 0) {
          fd_ = s;
        } else {
          ::close(s);
        }
      }
      if (fd_ >= 0) break;
      if (std::chrono::steady_clock::now() > deadline) {
        ::freeaddrinfo(res);
        LM_THROW(ErrorCode::Internal, "rendezvous: could not reach rank 0 at {}:{} within {} s", host, port,
                 timeout.count() / 1000);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ::freeaddrinfo(res);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~TcpStore() override {
    if (fd_ >= 0) ::close(fd_);
  }

  void set(const std::string& key, const std::vector<char>& data) override {
    uint8_t op = 1, ok = 1;
    if (!send_all(fd_, &op, 1) || !send_blob(fd_, key.data(), static_cast<uint32_t>(key.size())) ||
        !send_blob(fd_, data.data(), static_cast<uint32_t>(data.size())) || !recv_all(fd_, &ok, 1) || ok != 0)
      lost();
  }
  std::vector<char> get(const std::string& key) override {
    std::string v;
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (!try_get(key, &v)) {
      if (std::chrono::steady_clock::now() > deadline)
        throw gloo::IoException("rendezvous: timed out waiting for key " + key);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::vector<char>(v.begin(), v.end());
  }
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string v;
    for (const auto& k : keys) {
      while (!try_get(k, &v)) {
        if (std::chrono::steady_clock::now() > deadline)
          throw gloo::IoException("rendezvous: timed out waiting for key " + k);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
  }

 private:
  bool try_get(const std::string& key, std::string* v) {
    uint8_t op = 2, has = 0;
    if (!send_all(fd_, &op, 1) || !send_blob(fd_, key.data(), static_cast<uint32_t>(key.size())) ||
        !recv_all(fd_, &has, 1) || !recv_blob(fd_, v))
      lost();
    return has != 0;
  }
  [[noreturn]] void lost() { throw gloo::IoException("rendezvous: connection to rank 0 lost"); }

  int fd_ = -1;
  std::chrono::milliseconds timeout_;
};

using ReduceFn = void (*)(void*, const void*, const void*, size_t);

class GlooCommunicator final : public Communicator {
 public:
  explicit GlooCommunicator(const LaunchInfo& li) : Communicator(li.rank, li.world_size) {
    timeout_ = std::chrono::milliseconds(static_cast<int64_t>(timeout_s() * 1000));
    try {
      if (li.rank == 0) server_ = std::make_unique<StoreServer>(li.master_port);
      TcpStore store(li.master_addr, li.master_port, timeout_);
      // This rank's Gloo address: the interface that routes to MASTER_ADDR (LM_GLOO_IFACE / GLOO_SOCKET_IFNAME
      // override), so ranks in different hosts or network namespaces find each other.
      gloo::transport::tcp::attr attr;
      if (const char* ifn = std::getenv("LM_GLOO_IFACE") ? std::getenv("LM_GLOO_IFACE")
                                                         : std::getenv("GLOO_SOCKET_IFNAME"))
        attr.iface = ifn;
      else
        attr.hostname = local_address_towards(li.master_addr, li.master_port);
      auto dev = gloo::transport::tcp::CreateDevice(attr);
      ctx_ = std::make_shared<gloo::rendezvous::Context>(li.rank, li.world_size);
      ctx_->setTimeout(timeout_);
      ctx_->connectFullMesh(store, dev);
      do_barrier();  // everyone has read the store: rank 0 may close it
    } catch (const gloo::Exception& e) {
      LM_THROW(ErrorCode::Internal, "gloo rendezvous of rank {} of {} via {}:{} failed: {}", li.rank,
               li.world_size, li.master_addr, li.master_port, e.what());
    }
    server_.reset();
    start_watchdog();
  }
  ~GlooCommunicator() override { stop_watchdog(); }
  std::string backend() const override { return "gloo"; }
  [[noreturn]] void abort(int code) override {
    // Peers see the closed connections and fail their next collective at once.
    std::fflush(stderr);
    std::_Exit(code);
  }

 protected:
  void do_all_reduce(float* x, int64_t n) override {
    run("all_reduce", [&] {
      gloo::AllreduceOptions o(ctx_);
      o.setOutput(x, static_cast<size_t>(n));
      o.setReduceFunction(static_cast<ReduceFn>(&gloo::sum<float>));
      o.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);  // each element summed once: identical on all ranks
      o.setTag(next_tag());
      o.setTimeout(timeout_);
      gloo::allreduce(o);
    });
  }
  void do_all_reduce(double* x, int64_t n) override {
    run("all_reduce", [&] {
      gloo::AllreduceOptions o(ctx_);
      o.setOutput(x, static_cast<size_t>(n));
      o.setReduceFunction(static_cast<ReduceFn>(&gloo::sum<double>));
      o.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
      o.setTag(next_tag());
      o.setTimeout(timeout_);
      gloo::allreduce(o);
    });
  }
  void do_reduce_scatter(const float* in, float* out, int64_t chunk) override {
    // Gloo's new-style API has no reduce-scatter: a ring all-reduce of the whole buffer (whose first half is
    // exactly a reduce-scatter), keeping this rank's chunk.
    const int64_t n = chunk * world_size();
    scratch_.assign(in, in + n);
    do_all_reduce(scratch_.data(), n);
    std::memcpy(out, scratch_.data() + static_cast<int64_t>(rank()) * chunk, static_cast<size_t>(chunk) * 4);
  }
  void do_all_gather(const float* in, float* out, int64_t chunk) override {
    run("all_gather", [&] {
      gloo::AllgatherOptions o(ctx_);
      float* mine = out + static_cast<int64_t>(rank()) * chunk;
      if (in != mine) std::memcpy(mine, in, static_cast<size_t>(chunk) * sizeof(float));
      o.setOutput(out, static_cast<size_t>(chunk * world_size()));
      o.setTag(next_tag());
      o.setTimeout(timeout_);
      gloo::allgather(o);
    });
  }
  void do_broadcast(void* data, int64_t bytes, int root) override {
    run("broadcast", [&] {
      gloo::BroadcastOptions o(ctx_);
      o.setOutput(static_cast<uint8_t*>(data), static_cast<size_t>(bytes));
      o.setRoot(root);
      o.setTag(next_tag());
      o.setTimeout(timeout_);
      gloo::broadcast(o);
    });
  }
  void do_barrier() override {
    run("barrier", [&] {
      gloo::BarrierOptions o(ctx_);
      o.setTag(next_tag());
      o.setTimeout(timeout_);
      gloo::barrier(o);
    });
  }

 private:
  template <typename F>
  void run(const char* op, F&& f) {
    try {
      f();
    } catch (const gloo::Exception& e) {
      LM_THROW(ErrorCode::Internal, "collective {} failed on rank {} of {} (gloo): {}; another rank died or hangs",
               op, rank(), world_size(), e.what());
    }
  }
  uint32_t next_tag() { return tag_++; }

  // The local address of a route to host:port (a UDP connect sends nothing; it only picks the route).
  static std::string local_address_towards(const std::string& host, int port) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_DGRAM;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) return host;
    std::string out = host;
    int s = ::socket(res->ai_family, SOCK_DGRAM, 0);
    if (s >= 0 && ::connect(s, res->ai_addr, res->ai_addrlen) == 0) {
      sockaddr_storage a{};
      socklen_t len = sizeof a;
      char buf[INET6_ADDRSTRLEN] = {0};
      if (::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
        const void* p = a.ss_family == AF_INET6
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&a)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&a)->sin_addr);
        if (::inet_ntop(a.ss_family, p, buf, sizeof buf)) out = buf;
      }
    }
    if (s >= 0) ::close(s);
    ::freeaddrinfo(res);
    return out;
  }

  std::chrono::milliseconds timeout_;
  std::unique_ptr<StoreServer> server_;
  std::shared_ptr<gloo::rendezvous::Context> ctx_;
  std::vector<float> scratch_;
  uint32_t tag_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_env_communicator(const LaunchInfo& li) {
  log_debug("gloo: rank {} of {}, rendezvous at {}:{}", li.rank, li.world_size, li.master_addr, li.master_port);
  return std::make_unique<GlooCommunicator>(li);
}

}  // namespace lm::train

#endif  // LM_WITH_GLOO
