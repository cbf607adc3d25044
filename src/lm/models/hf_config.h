// Readers of HF config.json values shared by the model families: a missing or null key takes the default, a
// value of the wrong type is one InvalidArgument naming the key; and the id2label / label2id pair HF writes for
// classification heads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lm/core/json.h"
#include "lm/models/model.h"

namespace lm::models {

int64_t hf_int(const Json& j, const char* key, int64_t def);
float hf_float(const Json& j, const char* key, float def);
bool hf_bool(const Json& j, const char* key, bool def);
std::string hf_string(const Json& j, const char* key, const std::string& def);
// Sets config["id2label"] ({"0": name, ...}) and config["label2id"] ({name: 0, ...}) and drops num_labels
// (HF derives it from id2label).
void set_hf_labels(Json& config, const std::vector<std::string>& names);

// GGUF metadata (as JSON: key -> value): a required number, BadFormat "GGUF metadata: no KEY" when absent or
// not a number; gguf_int_or takes the default when absent.
int64_t gguf_int(const Json& kv, const std::string& key);
int64_t gguf_int_or(const Json& kv, const std::string& key, int64_t def);
double gguf_float(const Json& kv, const std::string& key);
// The (rows, cols) shape of a GGUF tensor that must be present.
const Shape& gguf_shape(const GgufShapes& tensors, const std::string& name);
// BadFormat unless tensor `name` is present with shape `want` (what the metadata implies). config_from_gguf checks
// every dimension it reads this way before a model is sized from it, so a file cannot make lmcpp allocate more
// than its own tensors hold.
void gguf_expect(const GgufShapes& tensors, const std::string& name, const Shape& want);

}  // namespace lm::models
