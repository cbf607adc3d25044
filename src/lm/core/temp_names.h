// Temporary names of work in progress: NAME-PREFIX + the writer's pid + "-" + a random suffix, so that a
// later run can tell the debris of a killed process (its pid no longer runs) from the work of a live one and
// remove it.
#pragma once

#include <string>

namespace lm {

// ".<name of path>.lmcpp-tmp-<pid>-<random hex>" in the folder of `path` (a sibling: renames stay on one
// filesystem).
std::string temp_sibling(const std::string& path);
// The prefix temp_sibling uses for `path`, up to the pid: ".<name>.lmcpp-tmp-".
std::string temp_sibling_prefix(const std::string& path);
// True while a process with this pid exists (kill(pid, 0)).
bool process_alive(long pid);
// Removes the entries of `dir` named PREFIX<pid>... whose pid no longer runs; returns how many were removed.
int remove_stale_temporaries(const std::string& dir, const std::string& prefix);

}  // namespace lm
