// A GPT or BERT on Device::CUDA where there is no CUDA backend (CPU build) or no GPU, or a bf16 GPT on the CPU,
// fails at construction with one Unsupported error instead of running anywhere else. (With a GPU, tests/cuda/gpt_cuda_test.cpp runs it.)
#include <gtest/gtest.h>

#include "lm/core/device_memory.h"
#include "lm/core/error.h"
#include "lm/models/bert/bert.h"
#include "lm/models/gpt/gpt.h"

namespace lm {
namespace {

TEST(GptDevice, CudaWithoutBackendOrGpuIsUnsupported) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present";
  models::GptConfig c;
  c.vocab_size = 11;
  c.n_positions = 8;
  c.n_embd = 8;
  c.n_layer = 1;
  c.n_head = 2;
  try {
    models::Gpt g(c, Device::CUDA);
    FAIL() << "expected Unsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
  }
  try {  // mixed precision exists only on the GPU
    models::Gpt g(c, Device::CPU, DType::BF16);
    FAIL() << "expected Unsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
    EXPECT_NE(std::string(e.what()).find("bf16 on cuda"), std::string::npos) << e.what();
  }
  models::Gpt cpu(c);  // the default stays the CPU
  EXPECT_EQ(cpu.device(), Device::CPU);
  EXPECT_EQ(cpu.flat_params().device, Device::CPU);
}

TEST(BertDevice, CudaWithoutBackendOrGpuIsUnsupported) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a GPU is present";
  Json j = {{"model_type", "bert"}, {"architectures", {"BertForSequenceClassification"}}, {"vocab_size", 11},
            {"hidden_size", 8}, {"num_hidden_layers", 1}, {"num_attention_heads", 2}, {"intermediate_size", 16},
            {"max_position_embeddings", 8}};
  try {
    models::Bert b(models::BertConfig::from_hf(j), Device::CUDA);
    FAIL() << "expected Unsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::Unsupported) << e.what();
  }
}

}  // namespace
}  // namespace lm
