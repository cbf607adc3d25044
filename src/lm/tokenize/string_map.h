// StringIdMap: an open-addressing hash map from string_view to int32 id over keys it owns, so lookups of
// substrings never allocate (WordPiece's longest-match loop does many).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lm {

class StringIdMap {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2 + 1) cap <<= 1;
    std::vector<std::pair<std::string, int32_t>> old;
    for (size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i] >= 0) old.emplace_back(std::move(keys_[slots_[i]]), ids_[slots_[i]]);
    slots_.assign(cap, -1);
    keys_.clear();
    ids_.clear();
    for (auto& [k, v] : old) insert(k, v);
  }
  // Inserts key -> id unless key is present; returns false when it was.
  bool insert(std::string_view key, int32_t id) {
    if ((keys_.size() + 1) * 2 > slots_.size()) reserve(keys_.size() * 2 + 8);
    size_t i = std::hash<std::string_view>()(key) & (slots_.size() - 1);
    while (slots_[i] >= 0) {
      if (keys_[slots_[i]] == key) return false;
      i = (i + 1) & (slots_.size() - 1);
    }
    slots_[i] = static_cast<int32_t>(keys_.size());
    keys_.emplace_back(key);
    ids_.push_back(id);
    return true;
  }
  // The id of key, or -1.
  int32_t find(std::string_view key) const {
    if (slots_.empty()) return -1;
    size_t i = std::hash<std::string_view>()(key) & (slots_.size() - 1);
    while (slots_[i] >= 0) {
      if (keys_[slots_[i]] == key) return ids_[slots_[i]];
      i = (i + 1) & (slots_.size() - 1);
    }
    return -1;
  }
  size_t size() const { return keys_.size(); }

 private:
  std::vector<int32_t> slots_;
  std::vector<std::string> keys_;
  std::vector<int32_t> ids_;
};

}  // namespace lm
