// "Did you mean" for unknown names (config keys, CLI flags and commands): the candidate at the smallest
// optimal string alignment distance (Levenshtein edits plus swaps of adjacent characters, each costing 1),
// offered only when that distance is at most max(2, length of the name / 3), so a wild name gets no
// misleading suggestion.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace lm {

// Insertions, deletions, substitutions and adjacent transpositions turning a into b (byte-wise).
size_t edit_distance(std::string_view a, std::string_view b);

// The closest candidate within the threshold (the first one on ties; never `name` itself), or "" when none
// is.
std::string closest_match(std::string_view name, const std::vector<std::string>& candidates);

// " (did you mean \"x\"?)" for the closest match, else "": ready to append to an "unknown ..." message.
std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace lm
