// The gpt2 family's GGUF column: llama.cpp's "gpt2" architecture metadata from a config.json, and a config.json
// from a GGUF file's metadata (llama.cpp's gpt2 loader reads the same keys; src/llama-model.cpp LLM_ARCH_GPT2).
// Tensor names are the `gguf` column of the parameter table (params.cpp).
#include "lm/core/error.h"
#include "lm/models/gpt/gpt.h"
#include "lm/models/hf_config.h"

namespace lm::models {

GgufMetadata gpt_to_gguf(const Json& config, const GgufOptions&) {
  const GptConfig c = GptConfig::from_hf(config);
  LM_CHECK_AS(ErrorCode::Unsupported, c.activation_name == "gelu_new" || c.activation_name == "gelu_pytorch_tanh",
              "GGUF export: llama.cpp's gpt2 uses the tanh GELU; this model's activation_function is \"{}\"",
              c.activation_name);
  LM_CHECK_AS(ErrorCode::Unsupported, c.scale_attn_weights && !c.scale_attn_by_inverse_layer_idx,
              "GGUF export: llama.cpp's gpt2 scales attention by 1/sqrt(head_dim) only");
  GgufMetadata m;
  m.arch = "gpt2";
  m.kv["gpt2.context_length"] = c.n_positions;
  m.kv["gpt2.embedding_length"] = c.n_embd;
  m.kv["gpt2.feed_forward_length"] = c.inner();
  m.kv["gpt2.block_count"] = c.n_layer;
  m.kv["gpt2.attention.head_count"] = c.n_head;
  m.kv["gpt2.attention.layer_norm_epsilon"] = static_cast<double>(c.layer_norm_epsilon);
  m.copies.emplace_back("output.weight", "transformer.wte.weight");
  return m;
}

Json gpt_config_from_gguf(const Json& kv, const GgufShapes& tensors) {
  const Shape& emb = gguf_shape(tensors, "token_embd.weight");
  LM_CHECK_AS(ErrorCode::BadFormat, emb.ndim() == 2, "GGUF file: token_embd.weight must be 2-D");
  if (auto it = tensors.find("output.weight"); it != tensors.end())
    LM_CHECK_AS(ErrorCode::BadFormat, it->second == emb, "GGUF file: output.weight {} and token_embd.weight {} differ in shape",
                it->second.str(), emb.str());
  Json j;
  j["model_type"] = "gpt2";
  j["architectures"] = Json::array({"GPT2LMHeadModel"});
  j["vocab_size"] = emb[0];
  j["n_positions"] = gguf_int(kv, "gpt2.context_length");
  j["n_embd"] = gguf_int(kv, "gpt2.embedding_length");
  LM_CHECK_AS(ErrorCode::BadFormat, j["n_embd"].get<int64_t>() == emb[1],
              "GGUF file: gpt2.embedding_length {} but token_embd.weight has {} columns", j["n_embd"].get<int64_t>(), emb[1]);
  const int64_t ff = gguf_int(kv, "gpt2.feed_forward_length");
  j["n_inner"] = ff == 4 * emb[1] ? Json(nullptr) : Json(ff);
  j["n_layer"] = gguf_int(kv, "gpt2.block_count");
  j["n_head"] = gguf_int(kv, "gpt2.attention.head_count");
  j["layer_norm_epsilon"] = gguf_float(kv, "gpt2.attention.layer_norm_epsilon");
  j["activation_function"] = "gelu_new";
  j["resid_pdrop"] = j["embd_pdrop"] = j["attn_pdrop"] = 0.0;
  // Every dimension against the tensors that carry it (and the layer count against the blocks present).
  const int64_t C = emb[1], L = j["n_layer"].get<int64_t>(), T = j["n_positions"].get<int64_t>();
  LM_CHECK_AS(ErrorCode::BadFormat, L >= 1 && !tensors.count("blk." + std::to_string(L) + ".attn_norm.weight"),
              "GGUF file: gpt2.block_count {} does not match the blocks present", L);
  gguf_expect(tensors, "position_embd.weight", Shape{T, C});
  for (int64_t l = 0; l < L; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    gguf_expect(tensors, b + "attn_qkv.weight", Shape{3 * C, C});
    gguf_expect(tensors, b + "ffn_up.weight", Shape{ff, C});
  }
  if (kv.contains("tokenizer.ggml.bos_token_id")) j["bos_token_id"] = gguf_int(kv, "tokenizer.ggml.bos_token_id");
  if (kv.contains("tokenizer.ggml.eos_token_id")) j["eos_token_id"] = gguf_int(kv, "tokenizer.ggml.eos_token_id");
  return j;
}

}  // namespace lm::models
