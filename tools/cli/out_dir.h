// The output directory of a writing command (train, finetune, prepare, init, train-tokenizer): it must not
// be, hold or lie inside one of the command's inputs, and a non-empty directory is written into only when
// lmcpp made it for the same command (a re-run, a resume) or with --overwrite. Directories lmcpp makes are
// marked by OUT/.lmcpp-run.json {"command": NAME}. A run that fails before it has a checkpoint removes the
// directory it made.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace lm::cli {

struct OutDirRequest {
  std::string command;                                      // "train", ...
  std::string out;                                          // the --out path
  std::vector<std::pair<std::string, std::string>> inputs;  // (flag or config key, path) the command reads
  bool overwrite =
      false;  // --overwrite: remove the files lmcpp writes in OUT (others are kept), start afresh
};

class OutDir {
 public:
  // Checks the request (one InvalidArgument error naming the path and the way out), then makes and marks OUT.
  explicit OutDir(const OutDirRequest& r);
  // Unless keep() was called: removes OUT if this run made it and it holds no checkpoint.
  ~OutDir();
  OutDir(const OutDir&) = delete;
  OutDir& operator=(const OutDir&) = delete;
  void keep() { keep_ = true; }
  bool made() const { return made_; }

 private:
  std::string out_;
  bool made_ = false, keep_ = false;
};

// The name of the marker file.
inline constexpr const char* kRunMarker = ".lmcpp-run.json";

}  // namespace lm::cli
