// libFuzzer target for what lmcpp builds from a GGUF file's contents: the model (architecture metadata -> config,
// tensors -> parameters), the tokenizer (tokenizer.ggml.* -> BPE or WordPiece) and the chat template. Arbitrary
// bytes must parse into all three or throw lm::Error, never crash, and never size a model beyond the file's own
// tensors (config_from_gguf checks each dimension against them). Seeds in tests/fuzz/corpus/gguf_model/ are tiny
// gpt2 and bert exports.
#include <cstdint>
#include <cstdlib>

#include "lm/core/error.h"
#include "lm/interop/gguf_model.h"
#include "lm/interop/gguf_vocab.h"
#include "lm/io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lm;
  std::unique_ptr<GgufFile> f;
  try {
    f = std::make_unique<GgufFile>(GgufFile::from_memory({data, size}, "fuzz.gguf"));
  } catch (const Error&) {
    return 0;
  }
  const Json kv = interop::gguf_kv_json(*f);
  try {
    auto tok = interop::tokenizer_from_gguf(kv, "fuzz.gguf");
    (void)tok->encode("Hello world, <|im_end|> [CLS] x", true);
  } catch (const Error&) {
  }
  try {
    (void)interop::chat_template_from_gguf(kv);
  } catch (const Error&) {
  }
  try {
    auto model = interop::load_gguf_model(*f, "fuzz.gguf");
    if (model->num_parameters() > static_cast<int64_t>(size) * 8) std::abort();  // never beyond the file's tensors
  } catch (const Error&) {
  }
  return 0;
}
