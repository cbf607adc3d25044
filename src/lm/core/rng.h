// Counter-based deterministic RNG: Philox4x32-10 (Salmon et al., SC'11). A value is a pure function of
// (seed, stream, counter), so any element can be regenerated without state, in any order, on any thread —
// dropout masks, data sampling and init are reproducible and resumable from (seed, counter) alone.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace lm {

inline std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u, kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = static_cast<uint64_t>(kM0) * ctr[0];
    uint64_t p1 = static_cast<uint64_t>(kM1) * ctr[2];
    ctr = {static_cast<uint32_t>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<uint32_t>(p1),
           static_cast<uint32_t>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<uint32_t>(p0)};
    key[0] += kW0;
    key[1] += kW1;
  }
  return ctr;
}

// A stream of random numbers identified by (seed, stream); the position is an explicit 64-bit counter.
class Rng {
 public:
  Rng(uint64_t seed = 0, uint64_t stream = 0) : seed_(seed), stream_(stream) {}
  // Four 32-bit words for block `i` of this stream.
  std::array<uint32_t, 4> block(uint64_t i) const {
    return philox4x32({static_cast<uint32_t>(i), static_cast<uint32_t>(i >> 32), static_cast<uint32_t>(stream_),
                       static_cast<uint32_t>(stream_ >> 32)},
                      {static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)});
  }
  uint32_t u32(uint64_t i) const { return block(i >> 2)[i & 3]; }
  // Uniform in [0, 1) with 24 bits.
  float uniform(uint64_t i) const { return static_cast<float>(u32(i) >> 8) * (1.0f / 16777216.0f); }
  // Standard normal via Box-Muller on elements 2i and 2i+1.
  float normal(uint64_t i) const {
    auto b = block(i);
    double u1 = (static_cast<double>(b[0]) + 1.0) * (1.0 / 4294967297.0);
    double u2 = static_cast<double>(b[1]) * (1.0 / 4294967296.0);
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

  // Sequential interface over the same counter.
  uint32_t next_u32() { return u32(counter_++); }
  float next_uniform() { return uniform(counter_++); }
  float next_normal() { return normal(counter_++); }
  // Uniform integer in [0, n) by rejection (unbiased).
  uint64_t next_below(uint64_t n) {
    if (n <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
      uint64_t x = (static_cast<uint64_t>(next_u32()) << 32) | next_u32();
      if (x < limit) return x % n;
    }
  }
  uint64_t counter() const { return counter_; }
  void set_counter(uint64_t c) { counter_ = c; }
  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }

 private:
  uint64_t seed_, stream_;
  uint64_t counter_ = 0;
};

}  // namespace lm
