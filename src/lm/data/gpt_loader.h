// GPT (next-token) batches from token shards: inputs (B, T) and targets (B, T) int32, targets = inputs
// shifted by one, cut from windows of T+1 tokens that never cross a shard boundary. Order is sequential or a
// seeded per-epoch permutation (a keyed Feistel bijection: no per-window state), sharded by rank so
// data-parallel workers see disjoint windows. The cursor (epoch, step) restores the exact stream after a
// checkpoint.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lm/core/json.h"
#include "lm/data/shard.h"

namespace lm {

struct GptLoaderConfig {
  int64_t batch_size = 8;  // B, per rank
  int64_t seq_len = 1024;  // T
  bool shuffle = true;     // permuted windows with a random per-epoch offset; false = in order from token 0
  uint64_t seed = 0;
  int rank = 0;
  int world_size = 1;
};

// Position in the stream: `step` batches of epoch `epoch` were already returned by this rank.
struct LoaderCursor {
  uint64_t epoch = 0;
  uint64_t step = 0;
  Json to_json() const;
  // Also checks that `j` was saved by a loader with the same configuration and data (InvalidArgument if not).
  static LoaderCursor from_json(const Json& j);
};

class GptLoader {
 public:
  GptLoader(const std::vector<std::string>& shard_paths, const GptLoaderConfig& cfg);

  // Fills inputs and targets, each B*T int32 (row-major (B, T)), and advances the cursor (wrapping into the
  // next epoch after batches_per_epoch() batches).
  void next(int32_t* inputs, int32_t* targets);

  uint64_t batches_per_epoch() const;  // per rank; the last partial global batch is dropped
  uint64_t total_tokens() const { return total_tokens_; }
  const GptLoaderConfig& config() const { return cfg_; }

  LoaderCursor cursor() const { return cursor_; }
  void set_cursor(const LoaderCursor& c);
  // Cursor plus the configuration fingerprint, for checkpoints; restore() rejects a mismatching state.
  Json state() const;
  void restore(const Json& state);

 private:
  struct Layout;  // windows of the current epoch
  void start_epoch(uint64_t epoch);
  uint64_t window_start(uint64_t w, size_t* shard) const;

  GptLoaderConfig cfg_;
  std::vector<std::unique_ptr<Shard>> shards_;
  uint64_t total_tokens_ = 0;
  LoaderCursor cursor_;
  // Current epoch layout.
  uint64_t offset_ = 0;                  // first window starts at this token of each shard
  std::vector<uint64_t> window_prefix_;  // window_prefix_[k] = windows in shards < k
  uint64_t windows_ = 0;
};

// Token shards of one split in a prepared directory ("<split>_NNNNNN.bin"), sorted; NotFound if none.
std::vector<std::string> list_shards(const std::string& dir, const std::string& split);

// A keyed pseudo-random bijection of [0, n) (Feistel network + cycle walking), exposed for tests.
uint64_t permute_index(uint64_t i, uint64_t n, uint64_t seed, uint64_t epoch);

}  // namespace lm
