// Hugging Face model directories: locating weight files (single or sharded) and name lookup across shards.
#include "lm/io/checkpoint_dir.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "lm/core/file_util.h"
#include "lm/core/json.h"

namespace lm {

bool is_hf_model_dir(const std::string& dir) {
  if (!is_directory(dir)) return false;
  std::error_code ec;
  auto regular = [&](const char* f) { return std::filesystem::is_regular_file(path_join(dir, f), ec); };
  return regular(kHfConfigFile) && (regular(kHfWeightsFile) || regular(kHfWeightsIndexFile));
}

namespace {

// weight_map of the index file; empty map if there is no index.
std::map<std::string, std::string> read_weight_map(const std::string& dir) {
  std::map<std::string, std::string> out;
  const std::string index = path_join(dir, kHfWeightsIndexFile);
  Json j = read_json_file(index);
  LM_CHECK_AS(ErrorCode::BadFormat, j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(),
              "\"weight_map\" object missing, in {}", index);
  for (auto& [name, file] : j["weight_map"].items()) {
    LM_CHECK_AS(ErrorCode::BadFormat, file.is_string(), "weight_map entry of tensor \"{}\" is not a string, in {}", name,
                index);
    const std::string& f = file.get_ref<const std::string&>();
    LM_CHECK_AS(ErrorCode::BadFormat, !f.empty() && f != "." && f != ".." && f.find('/') == std::string::npos &&
                                          f.find('\\') == std::string::npos,
                "weight_map entry of tensor \"{}\" names \"{}\", not a plain file name, in {}", name, f, index);
    out.emplace(name, f);
  }
  return out;
}

}  // namespace

std::vector<std::string> safetensors_weight_files(const std::string& dir) {
  const std::string single = path_join(dir, kHfWeightsFile);
  if (file_exists(single)) return {single};
  LM_CHECK_AS(ErrorCode::NotFound, file_exists(path_join(dir, kHfWeightsIndexFile)), "no {} or {} in {}", kHfWeightsFile,
              kHfWeightsIndexFile, dir);
  std::set<std::string> shards;
  for (const auto& [name, file] : read_weight_map(dir)) shards.insert(file);
  std::vector<std::string> out;
  for (const std::string& s : shards) out.push_back(path_join(dir, s));
  return out;
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& dir) : dir_(dir) {
  for (const std::string& path : safetensors_weight_files(dir)) {
    files_.emplace_back(path);
    const SafetensorsFile& f = files_.back();
    for (const SafetensorsEntry& e : f.tensors()) {
      auto [it, fresh] = where_.emplace(e.name, files_.size() - 1);
      LM_CHECK_AS(ErrorCode::BadFormat, fresh, "tensor \"{}\" is in both {} and {}", e.name, files_[it->second].path(),
                  f.path());
    }
  }
  if (files_.size() == 1 && files_[0].path() == path_join(dir, kHfWeightsFile)) return;
  const std::string index = path_join(dir, kHfWeightsIndexFile);
  for (const auto& [name, file] : read_weight_map(dir)) {
    auto it = where_.find(name);
    LM_CHECK_AS(ErrorCode::BadFormat, it != where_.end() && files_[it->second].path() == path_join(dir, file),
                "{} maps tensor \"{}\" to {}, which does not hold it", index, name, file);
  }
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [name, i] : where_) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

const SafetensorsFile& SafetensorsCheckpoint::file_of(const std::string& name) const {
  auto it = where_.find(name);
  LM_CHECK_AS(ErrorCode::NotFound, it != where_.end(), "tensor \"{}\" not found in the weights of {}", name, dir_);
  return files_[it->second];
}

}  // namespace lm
