// A tiny GPT over a byte-level BPE without merges, shared by the CLI tests of chat and generate: 256 byte
// tokens plus <|endoftext|> (id 256, also bos/eos), so every byte of a text is one token and "<|endoftext|>"
// in a prompt is the special id; n_positions 96, n_embd 16, one layer.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "harness/harness.h"
#include "lm/models/gpt/gpt.h"
#include "lm/tokenize/bpe.h"

namespace lm {

// The model directory (weights, tokenizer files) under a fresh temp dir `name`. eos_argmax: the final
// LayerNorm outputs one fixed vector (weight 0, bias ±1) that the eos row of the tied head matches 10-fold,
// so the most likely next token is always <|endoftext|> (greedy decoding emits nothing else).
inline std::string tiny_byte_gpt(const std::string& name = "byte_gpt", bool eos_argmax = false) {
  const std::string dir = test::temp_dir(name);
  std::vector<std::pair<std::string, int32_t>> vocab;
  for (int b = 0; b < 256; ++b) vocab.push_back({byte_level_encode(std::string(1, static_cast<char>(b))), b});
  vocab.push_back({"<|endoftext|>", 256});
  BpeTokenizer(vocab, {}).save(dir);
  models::GptConfig c;
  c.vocab_size = 257;
  c.bos_token_id = c.eos_token_id = 256;
  c.n_positions = 96;
  c.n_embd = 16;
  c.n_layer = 1;
  c.n_head = 2;
  models::Gpt gpt(c);
  gpt.init_weights(4);
  if (eos_argmax) {
    models::GptParams& p = gpt.params();
    float* w = p.ln_f.w.ptr<float>();
    float* b = p.ln_f.b.ptr<float>();
    float* eos_row = p.emb.wte.ptr<float>() + 256 * c.n_embd;
    for (int64_t i = 0; i < c.n_embd; ++i) {
      w[i] = 0.0f;
      b[i] = i % 2 ? 1.0f : -1.0f;
      eos_row[i] = 10.0f * b[i];
    }
  }
  gpt.save_hf(dir);
  return dir;
}

}  // namespace lm
