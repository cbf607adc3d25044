// GPT loader: window layout per epoch, Feistel permutation, rank sharding and cursor (de)serialization.
#include "lm/data/gpt_loader.h"

#include <algorithm>
#include <filesystem>

#include "lm/core/error.h"
#include "lm/core/rng.h"

namespace lm {

uint64_t permute_index(uint64_t i, uint64_t n, uint64_t seed, uint64_t epoch) {
  if (n <= 1) return 0;
  // Feistel over 2*h bits (2^(2h) >= n), cycle-walking until the value lands in [0, n): a bijection on [0,
  // n).
  int bits = 64 - __builtin_clzll(n - 1);
  int h = (bits + 1) / 2;
  uint64_t mask = (1ull << h) - 1;
  std::array<uint32_t, 2> key{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  uint64_t x = i;
  do {
    uint64_t l = x >> h, r = x & mask;
    for (uint32_t round = 0; round < 4; ++round) {
      auto f = philox4x32({static_cast<uint32_t>(r), static_cast<uint32_t>(r >> 32), round,
                           static_cast<uint32_t>(epoch) ^ 0x9E3779B9u},
                          key);
      uint64_t nl = r;
      r = (l ^ ((static_cast<uint64_t>(f[0]) << 32) | f[1])) & mask;
      l = nl;
    }
    x = (l << h) | r;
  } while (x >= n);
  return x;
}

GptLoader::GptLoader(const std::vector<std::string>& shard_paths, const GptLoaderConfig& cfg) : cfg_(cfg) {
  LM_CHECK(cfg.batch_size > 0 && cfg.seq_len > 0, "batch_size and seq_len must be positive (got {} and {})",
           cfg.batch_size, cfg.seq_len);
  LM_CHECK(cfg.world_size > 0 && cfg.rank >= 0 && cfg.rank < cfg.world_size, "bad rank {} for world size {}",
           cfg.rank, cfg.world_size);
  LM_CHECK(!shard_paths.empty(), "no token shards given");
  for (const auto& p : shard_paths) {
    shards_.push_back(std::make_unique<Shard>(p));
    total_tokens_ += shards_.back()->size();
  }
  start_epoch(0);
  LM_CHECK(batches_per_epoch() > 0,
           "dataset too small: {} tokens in {} shard(s) give {} windows of {} tokens, fewer than one batch "
           "of {} x {} "
           "rank(s)",
           total_tokens_, shards_.size(), windows_, cfg.seq_len + 1, cfg.batch_size, cfg.world_size);
}

void GptLoader::start_epoch(uint64_t epoch) {
  uint64_t T = static_cast<uint64_t>(cfg_.seq_len);
  // A random offset in [0, T) per epoch shifts the window grid so later epochs see other cut points.
  offset_ = cfg_.shuffle && epoch > 0 ? Rng(cfg_.seed, 0x10ad0000 + epoch).u32(0) % T : 0;
  window_prefix_.assign(shards_.size() + 1, 0);
  for (size_t k = 0; k < shards_.size(); ++k) {
    uint64_t n = shards_[k]->size();
    uint64_t w = n > offset_ + T ? (n - offset_ - 1) / T : 0;
    window_prefix_[k + 1] = window_prefix_[k] + w;
  }
  windows_ = window_prefix_.back();
}

uint64_t GptLoader::batches_per_epoch() const {
  return windows_ / (static_cast<uint64_t>(cfg_.batch_size) * static_cast<uint64_t>(cfg_.world_size));
}

uint64_t GptLoader::window_start(uint64_t w, size_t* shard) const {
  auto it = std::upper_bound(window_prefix_.begin(), window_prefix_.end(), w);
  size_t k = static_cast<size_t>(it - window_prefix_.begin()) - 1;
  *shard = k;
  return offset_ + (w - window_prefix_[k]) * static_cast<uint64_t>(cfg_.seq_len);
}

void GptLoader::next(int32_t* inputs, int32_t* targets) {
  if (cursor_.step >= batches_per_epoch()) {
    start_epoch(cursor_.epoch + 1);
    cursor_ = {cursor_.epoch + 1, 0};
    LM_CHECK(batches_per_epoch() > 0, "epoch {} has no full batch", cursor_.epoch);
  }
  uint64_t B = static_cast<uint64_t>(cfg_.batch_size), T = static_cast<uint64_t>(cfg_.seq_len);
  uint64_t first =
      (cursor_.step * static_cast<uint64_t>(cfg_.world_size) + static_cast<uint64_t>(cfg_.rank)) * B;
  std::vector<int32_t> win(T + 1);
  for (uint64_t b = 0; b < B; ++b) {
    uint64_t w = first + b;
    if (cfg_.shuffle) w = permute_index(w, windows_, cfg_.seed, cursor_.epoch);
    size_t k;
    uint64_t start = window_start(w, &k);
    shards_[k]->read(start, T + 1, win.data());
    std::copy(win.begin(), win.end() - 1, inputs + b * T);
    std::copy(win.begin() + 1, win.end(), targets + b * T);
  }
  ++cursor_.step;
}

void GptLoader::set_cursor(const LoaderCursor& c) {
  start_epoch(c.epoch);
  LM_CHECK(c.step <= batches_per_epoch(), "cursor step {} beyond the {} batches of epoch {}", c.step,
           batches_per_epoch(), c.epoch);
  cursor_ = c;
}

Json LoaderCursor::to_json() const { return Json{{"epoch", epoch}, {"step", step}}; }

LoaderCursor LoaderCursor::from_json(const Json& j) {
  LM_CHECK(j.is_object() && j.contains("epoch") && j.contains("step") && j["epoch"].is_number_unsigned() &&
               j["step"].is_number_unsigned(),
           "bad loader cursor {}", j.dump());
  return {j["epoch"].get<uint64_t>(), j["step"].get<uint64_t>()};
}

Json GptLoader::state() const {
  Json j = cursor_.to_json();
  j["seed"] = cfg_.seed;
  j["batch_size"] = cfg_.batch_size;
  j["seq_len"] = cfg_.seq_len;
  j["shuffle"] = cfg_.shuffle;
  j["rank"] = cfg_.rank;
  j["world_size"] = cfg_.world_size;
  j["total_tokens"] = total_tokens_;
  j["shards"] = shards_.size();
  return j;
}

void GptLoader::restore(const Json& s) {
  Json mine = state();
  for (const char* k :
       {"seed", "batch_size", "seq_len", "shuffle", "rank", "world_size", "total_tokens", "shards"}) {
    LM_CHECK(s.contains(k) && s[k] == mine[k],
             "loader state mismatch on \"{}\": checkpoint has {}, this run has {}", k,
             s.contains(k) ? s[k].dump() : "nothing", mine[k].dump());
  }
  set_cursor(LoaderCursor::from_json(s));
}

std::vector<std::string> list_shards(const std::string& dir, const std::string& split) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.size() > split.size() + 5 && name.rfind(split + "_", 0) == 0 &&
        name.compare(name.size() - 4, 4, ".bin") == 0)
      out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  LM_CHECK_AS(ErrorCode::NotFound, !out.empty(), "no {} shards ({}_*.bin) in {}", split, split, dir);
  return out;
}

}  // namespace lm
