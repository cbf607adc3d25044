#!/usr/bin/env bash
# llama.cpp itself (node-llama-cpp's prebuilt linux-x64 CPU library, offline) and Hugging Face's GGUF reader
# (@huggingface/gguf) reading lmcpp's GGUF exports, and lmcpp reading them back: makes small models with the
# binary, exports them, then runs node's test runner on tests/interop/llama_cpp.test.mjs.
#
#   tests/interop/llama_run.sh BIN
#
# Models made (in a temporary folder), each exported as NAME-TYPE.gguf:
#   gpt      a GPT-2 (2 layers, 64 wide) with the GPT-2 tokenizer, trained here for 150 steps on the project's own
#            README and docs (a trained model's top-1 has margins; a random one's near-ties flip on any rounding):
#            f32 f16 bf16 q8_0
#   gptr     lmcpp init of the same GPT-2 shape, random with a peaked init (varied greedy text): f32
#   chat     lmcpp finetune --task chat (one epoch, two dialogues) of a tiny GPT-2 over a BPE trained here: its
#            ChatML tokens and chat template travel in the file: f32
#   bert     lmcpp init of a BertModel (2 layers, 64 wide) with the bert-base-uncased vocabulary: f32 f16
#   bertcls  lmcpp init of a BertForSequenceClassification over the same vocabulary: f32 q8_0
# Needs the shared tokenizers (../shared/data next to the repository, or $LM_SHARED_DATA): without them it skips
# with a message and exits 0. Needs tests/node/node_modules/node-llama-cpp: without it it fails, saying how to
# install it (scripts/setup.sh --test does).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: tests/interop/llama_run.sh BIN" >&2
  exit 2
fi
source "$(dirname "${BASH_SOURCE[0]}")/../node/script_lib.sh"
lm_script_init interop-llama "$1"
lm_need_packages node-llama-cpp @node-llama-cpp/linux-x64 @huggingface/gguf
lm_training_text

GPT='"model_type":"gpt2","n_layer":2,"n_head":4,"n_embd":64,"n_positions":256,"initializer_range":0.2'
BERT='"model_type":"bert","num_hidden_layers":2,"num_attention_heads":4,"hidden_size":64,"intermediate_size":128,"max_position_embeddings":128'
q "$BIN" prepare --input "$ROOT/README.md" "$ROOT"/docs/*.md --format text --tokenizer "$TOK/gpt2" --out "$TMP/data"
cat >"$TMP/train.json" <<JSON
{"model": {"model_type":"gpt2","n_layer":2,"n_head":4,"n_embd":64,"n_positions":256}, "data": "$TMP/data", "batch_size": 8, "seq_len": 128, "max_steps": 150, "lr": 3e-3,
 "lr_schedule": "cosine", "warmup_steps": 10, "eval_every": 150, "save_every": 150, "threads": 2, "seed": 1}
JSON
q "$BIN" train --config "$TMP/train.json" --out "$TMP/gpt"
q "$BIN" init --config "{$GPT}" --tokenizer "$TOK/gpt2" --out "$TMP/gptr"
q "$BIN" init --config "{$BERT,\"architectures\":[\"BertModel\"]}" --tokenizer "$TOK/bert-base-uncased" --out "$TMP/bert"
q "$BIN" init --config "{$BERT,\"architectures\":[\"BertForSequenceClassification\"],\"id2label\":{\"0\":\"no\",\"1\":\"yes\"},\"label2id\":{\"no\":0,\"yes\":1}}" \
  --tokenizer "$TOK/bert-base-uncased" --out "$TMP/bertcls"

# A chat model over a BPE trained on prose, code and the hard cases.
lm_chat_model "$GPT" "$TMP/chat"

for t in f32 f16 bf16 q8_0; do q "$BIN" export --model "$TMP/gpt" --type $t --out "$TMP/gpt-$t.gguf"; done
q "$BIN" export --model "$TMP/gptr" --out "$TMP/gptr-f32.gguf"
q "$BIN" export --model "$TMP/chat" --out "$TMP/chat-f32.gguf"
for t in f32 f16; do q "$BIN" export --model "$TMP/bert" --type $t --out "$TMP/bert-$t.gguf"; done
for t in f32 q8_0; do q "$BIN" export --model "$TMP/bertcls" --type $t --out "$TMP/bertcls-$t.gguf"; done

export LMCPP_BIN=$BIN LMCPP_LLAMA_DIR=$TMP NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
node --test --test-concurrency=1 "$ROOT/tests/interop/llama_cpp.test.mjs"
