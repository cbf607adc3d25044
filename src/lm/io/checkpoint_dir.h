// Hugging Face model directories: config.json plus weights as one model.safetensors or as shards listed by
// model.safetensors.index.json ({"metadata": {...}, "weight_map": {"<tensor>": "model-00001-of-00002.safetensors"}}).
// SafetensorsCheckpoint opens every weight file of such a directory and looks tensors up by name across shards.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "lm/io/safetensors.h"

namespace lm {

constexpr const char* kHfConfigFile = "config.json";
constexpr const char* kHfWeightsFile = "model.safetensors";
constexpr const char* kHfWeightsIndexFile = "model.safetensors.index.json";

// True if `dir` holds config.json and safetensors weights (single file or index); never throws.
bool is_hf_model_dir(const std::string& dir);

// Paths of the weight files of `dir`: model.safetensors if present, else the distinct shards named by the index
// (sorted). Throws NotFound if neither exists, BadFormat for a malformed index (weight_map not an object of strings,
// shard names that are not plain file names).
std::vector<std::string> safetensors_weight_files(const std::string& dir);

class SafetensorsCheckpoint {
 public:
  // Opens (mmaps) every weight file of `dir`. For sharded directories each tensor of the index must be in the shard
  // it names, and no tensor may appear in two files (BadFormat naming tensor and files).
  explicit SafetensorsCheckpoint(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const std::vector<SafetensorsFile>& files() const { return files_; }
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  // All tensor names, sorted.
  std::vector<std::string> names() const;
  // The file holding `name`; throws NotFound naming the directory.
  const SafetensorsFile& file_of(const std::string& name) const;
  Tensor tensor(const std::string& name) const { return file_of(name).tensor(name); }
  void read_f32(const std::string& name, float* dst, const Shape& expected) const {
    file_of(name).read_f32(name, dst, expected);
  }

 private:
  std::string dir_;
  std::vector<SafetensorsFile> files_;
  std::unordered_map<std::string, size_t> where_;  // tensor name -> index in files_
};

}  // namespace lm
