#!/usr/bin/env bash
# llama.cpp itself (node-llama-cpp's prebuilt linux-x64 CPU library, offline) applying the LoRA adapter GGUFs of
# `lmcpp export --adapter`: makes small models and PEFT adapters for them, exports both, then runs node's test
# runner on tests/interop/llama_lora.test.mjs.
#
#   tests/interop/llama_lora_run.sh BIN
#
# Made in a temporary folder (the adapters by tests/interop/make_adapter.mjs, not by lmcpp):
#   gptr       lmcpp init of a GPT-2 (2 layers, 64 wide) with the GPT-2 tokenizer, a peaked init: gptr.gguf (f32)
#   lora-rs    rsLoRA r 8, alpha 16 on c_attn, c_proj, c_fc (both c_proj: attention and MLP):
#              lora-rs-{f32,f16,bf16,q8_0}.gguf
#   lora-plain plain LoRA r 4, alpha 8 on c_attn only: lora-plain-f32.gguf
#   bert       lmcpp init of a BertForMaskedLM (2 layers, 64 wide), bert-base-uncased vocabulary: bert.gguf (f32)
#   lora-bert  LoRA r 8, alpha 16 on query, value, intermediate.dense: lora-bert-f32.gguf
#   bertcls + lora-cls   a BertForSequenceClassification and an adapter with modules_to_save ["classifier"]
#              (the export must refuse it)
# Needs the shared tokenizers (../shared/data next to the repository, or $LM_SHARED_DATA): without them it skips
# with a message and exits 0. Needs tests/node/node_modules/node-llama-cpp (scripts/setup.sh --test installs it).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: tests/interop/llama_lora_run.sh BIN" >&2
  exit 2
fi
source "$(dirname "${BASH_SOURCE[0]}")/../node/script_lib.sh"
lm_script_init interop-llama-lora "$1"
lm_need_packages node-llama-cpp @node-llama-cpp/linux-x64

GPT='"model_type":"gpt2","n_layer":2,"n_head":4,"n_embd":64,"n_positions":256,"initializer_range":0.2'
BERT='"model_type":"bert","num_hidden_layers":2,"num_attention_heads":4,"hidden_size":64,"intermediate_size":128,"max_position_embeddings":128'
MAKE="$ROOT/tests/interop/make_adapter.mjs"
q "$BIN" init --config "{$GPT}" --tokenizer "$TOK/gpt2" --out "$TMP/gptr"
q "$BIN" init --config "{$BERT,\"architectures\":[\"BertForMaskedLM\"]}" --tokenizer "$TOK/bert-base-uncased" --out "$TMP/bert"
q "$BIN" init --config "{$BERT,\"architectures\":[\"BertForSequenceClassification\"],\"id2label\":{\"0\":\"no\",\"1\":\"yes\"},\"label2id\":{\"no\":0,\"yes\":1}}" \
  --tokenizer "$TOK/bert-base-uncased" --out "$TMP/bertcls"

q node "$MAKE" "$TMP/gptr" "$TMP/lora-rs" '{"r":8,"alpha":16,"rslora":true,"targets":["c_attn","c_proj","c_fc"],"seed":3,"b":0.1}'
q node "$MAKE" "$TMP/gptr" "$TMP/lora-plain" '{"r":4,"alpha":8,"targets":["c_attn"],"seed":5,"b":0.15}'
q node "$MAKE" "$TMP/bert" "$TMP/lora-bert" '{"r":8,"alpha":16,"targets":["query","value","intermediate.dense"],"seed":7,"b":0.1}'
q node "$MAKE" "$TMP/bertcls" "$TMP/lora-cls" \
  '{"r":4,"alpha":8,"targets":["query","value"],"modules_to_save":["classifier"],"save":{"classifier.weight":[2,64],"classifier.bias":[2]}}'

q "$BIN" export --model "$TMP/gptr" --out "$TMP/gptr.gguf"
q "$BIN" export --model "$TMP/bert" --out "$TMP/bert.gguf"
for t in f32 f16 bf16 q8_0; do q "$BIN" export --model "$TMP/gptr" --adapter "$TMP/lora-rs" --type $t --out "$TMP/lora-rs-$t.gguf"; done
q "$BIN" export --model "$TMP/gptr" --adapter "$TMP/lora-plain" --out "$TMP/lora-plain-f32.gguf"
q "$BIN" export --model "$TMP/bert" --adapter "$TMP/lora-bert" --out "$TMP/lora-bert-f32.gguf"

export LMCPP_BIN=$BIN LMCPP_LLAMA_DIR=$TMP NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
node --test --test-concurrency=1 "$ROOT/tests/interop/llama_lora.test.mjs"
