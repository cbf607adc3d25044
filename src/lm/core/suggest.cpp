// Optimal string alignment distance (two rows of the Damerau-Levenshtein table plus the one before,
// O(|a|·|b|) time) and the did-you-mean suggestion built on it.
#include "lm/core/suggest.h"

#include <algorithm>
#include <limits>

namespace lm {

size_t edit_distance(std::string_view a, std::string_view b) {
  const size_t n = a.size(), m = b.size();
  std::vector<size_t> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j] = j;
  for (size_t i = 1; i <= n; ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        cur[j] = std::min(cur[j], prev2[j - 2] + 1);
    }
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return prev[m];
}

std::string closest_match(std::string_view name, const std::vector<std::string>& candidates) {
  const size_t limit = std::max<size_t>(2, name.size() / 3);
  size_t best = std::numeric_limits<size_t>::max();
  std::string match;
  for (const auto& c : candidates) {
    if (c == name) continue;
    const size_t d = edit_distance(name, c);
    if (d <= limit && d < best) {
      best = d;
      match = c;
    }
  }
  return match;
}

std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates) {
  std::string m = closest_match(name, candidates);
  return m.empty() ? std::string() : " (did you mean \"" + m + "\"?)";
}

}  // namespace lm
