// Hugging Face model directories: detection, single-file and sharded weights, index consistency checks.
#include "lm/io/checkpoint_dir.h"

#include <gtest/gtest.h>

#include "harness/harness.h"
#include "lm/core/error.h"
#include "lm/core/file_util.h"

namespace lm {
namespace {

struct Dir {
  std::string path;
  float a[2] = {1, 2}, b[3] = {3, 4, 5}, c[1] = {6};
  explicit Dir(const std::string& name) : path(test::temp_dir(name)) {}
  void config() { write_file_atomic(path_join(path, "config.json"), R"({"model_type":"gpt2"})"); }
  void shard(const std::string& file, std::vector<NamedTensor> ts) { write_safetensors(path_join(path, file), ts); }
  void index(const std::string& json) { write_file_atomic(path_join(path, "model.safetensors.index.json"), json); }
};

void expect_error(const std::string& dir, ErrorCode code, const std::string& needle) {
  try {
    SafetensorsCheckpoint ck(dir);
    ADD_FAILURE() << "no error for " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(CheckpointDir, SingleFile) {
  Dir d("ckpt_single");
  EXPECT_FALSE(is_hf_model_dir(d.path));
  d.shard("model.safetensors", {{"x", Tensor(d.a, Shape{2})}, {"y", Tensor(d.b, Shape{3})}});
  EXPECT_FALSE(is_hf_model_dir(d.path));  // no config.json
  d.config();
  EXPECT_TRUE(is_hf_model_dir(d.path));
  EXPECT_FALSE(is_hf_model_dir(path_join(d.path, "config.json")));
  EXPECT_FALSE(is_hf_model_dir(path_join(d.path, "absent")));
  SafetensorsCheckpoint ck(d.path);
  EXPECT_EQ(ck.files().size(), 1u);
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"x", "y"}));
  float y[3];
  ck.read_f32("y", y, Shape{3});
  EXPECT_EQ(y[2], 5.0f);
  try {
    ck.tensor("z");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::NotFound);
  }
}

TEST(CheckpointDir, Sharded) {
  Dir d("ckpt_sharded");
  d.config();
  d.shard("model-00001-of-00002.safetensors", {{"x", Tensor(d.a, Shape{2})}, {"y", Tensor(d.b, Shape{3})}});
  d.shard("model-00002-of-00002.safetensors", {{"z", Tensor(d.c, Shape{1})}});
  d.index(R"({"metadata":{"total_size":24},"weight_map":{"x":"model-00001-of-00002.safetensors",
             "y":"model-00001-of-00002.safetensors","z":"model-00002-of-00002.safetensors"}})");
  EXPECT_TRUE(is_hf_model_dir(d.path));
  EXPECT_EQ(safetensors_weight_files(d.path).size(), 2u);
  SafetensorsCheckpoint ck(d.path);
  EXPECT_EQ(ck.names(), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_EQ(ck.tensor("z").f32()[0], 6.0f);
  EXPECT_EQ(ck.file_of("y").path(), path_join(d.path, "model-00001-of-00002.safetensors"));
}

TEST(CheckpointDir, BadIndexes) {
  Dir d("ckpt_bad");
  d.config();
  expect_error(d.path, ErrorCode::NotFound, "model.safetensors");
  d.shard("s1.safetensors", {{"x", Tensor(d.a, Shape{2})}});
  d.shard("s2.safetensors", {{"x", Tensor(d.c, Shape{1})}});
  d.index(R"({"weight_map":{"x":"s1.safetensors","w":"s2.safetensors"}})");
  expect_error(d.path, ErrorCode::BadFormat, "\"x\" is in both");
  d.shard("s2.safetensors", {{"z", Tensor(d.c, Shape{1})}});
  expect_error(d.path, ErrorCode::BadFormat, "tensor \"w\"");
  d.index(R"({"weight_map":{"x":"../s1.safetensors"}})");
  expect_error(d.path, ErrorCode::BadFormat, "not a plain file name");
  d.index(R"({"weight_map":{"x":1}})");
  expect_error(d.path, ErrorCode::BadFormat, "not a string");
  d.index(R"({"weights":{}})");
  expect_error(d.path, ErrorCode::BadFormat, "weight_map");
  d.index(R"({"weight_map":{"x":"missing.safetensors"}})");
  expect_error(d.path, ErrorCode::NotFound, "missing.safetensors");
}

}  // namespace
}  // namespace lm
