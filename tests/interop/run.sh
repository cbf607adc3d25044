#!/usr/bin/env bash
# Hugging Face's own tokenizers library (npm `tokenizers`, the official Node binding) reading the directories lmcpp
# writes: makes them with the binary, then runs node's test runner on tests/interop/hf_tokenizers.test.mjs.
#
#   tests/interop/run.sh BIN
#
# Directories made (in a temporary folder):
#   gpt2        lmcpp init of a tiny GPT-2 with the GPT-2 tokenizer (shared encoder.json + vocab.bpe)
#   bpe         lmcpp train-tokenizer --type bpe on README.md, code_sample.txt and the hard cases
#   bpe-chat    lmcpp finetune --task chat (one epoch, two dialogues) of a tiny GPT-2 over `bpe`: the ChatML tokens
#               <|im_start|>/<|im_end|> become added tokens
#   bert        lmcpp init of a tiny BertForMaskedLM with the bert-base-uncased vocab.txt
#   wordpiece   lmcpp train-tokenizer --type wordpiece on the same text
#   bert-wp     lmcpp init of a tiny BertForSequenceClassification over `wordpiece`
# Each is compared twice: HF on tokenizer.json against lmcpp on tokenizer.json, and against lmcpp on the classic
# files alone (vocab.json + merges.txt + added tokens from tokenizer_config.json, or vocab.txt + tokenizer_config.json).
# Needs the shared tokenizers (../shared/data next to the repository, or $LM_SHARED_DATA): without them it skips
# with a message and exits 0. Needs tests/node/node_modules/tokenizers: without it it fails, saying how to install.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: tests/interop/run.sh BIN" >&2
  exit 2
fi
source "$(dirname "${BASH_SOURCE[0]}")/../node/script_lib.sh"
lm_script_init interop-hf "$1"
lm_need_packages tokenizers
lm_training_text

GPT='"model_type":"gpt2","n_layer":1,"n_head":2,"n_embd":16,"n_positions":128'
BERT='"model_type":"bert","num_hidden_layers":1,"num_attention_heads":2,"hidden_size":16,"intermediate_size":32,"max_position_embeddings":64'

q "$BIN" init --config "{$GPT}" --tokenizer "$TOK/gpt2" --out "$TMP/gpt2"
lm_chat_model "$GPT" "$TMP/bpe-chat"
q "$BIN" init --config "{$BERT,\"architectures\":[\"BertForMaskedLM\"]}" --tokenizer "$TOK/bert-base-uncased" \
  --out "$TMP/bert"
q "$BIN" train-tokenizer --type wordpiece --input "${TEXT[@]}" --vocab-size 800 --out "$TMP/wordpiece" --threads 1
q "$BIN" init --config "{$BERT,\"architectures\":[\"BertForSequenceClassification\"],\"id2label\":{\"0\":\"no\",\"1\":\"yes\"},\"label2id\":{\"no\":0,\"yes\":1}}" \
  --tokenizer "$TMP/wordpiece" --out "$TMP/bert-wp"

# Each directory's classic files alone (no tokenizer.json): lmcpp reads them with its other loaders, so the ids
# HF gets from tokenizer.json are also checked against an independent reading of the same tokenizer.
for d in gpt2 bpe bpe-chat bert wordpiece bert-wp; do
  mkdir -p "$TMP/classic/$d"
  for f in vocab.json merges.txt added_tokens.json vocab.txt tokenizer_config.json special_tokens_map.json; do
    if [[ -f $TMP/$d/$f ]]; then cp "$TMP/$d/$f" "$TMP/classic/$d/"; fi
  done
done

# name, directory, kind, model_max_length, what it is (model dir: config.json; causal: generation_config.json);
# the classic copy is $TMP/classic/<name>.
cat >"$TMP/manifest.json" <<JSON
[
  {"name": "gpt2", "dir": "$TMP/gpt2", "kind": "bpe", "max_length": 128, "model": "GPT2LMHeadModel"},
  {"name": "bpe", "dir": "$TMP/bpe", "kind": "bpe", "max_length": 1024},
  {"name": "bpe-chat", "dir": "$TMP/bpe-chat", "kind": "bpe", "max_length": 128, "model": "GPT2LMHeadModel", "chat": true},
  {"name": "bert", "dir": "$TMP/bert", "kind": "wordpiece", "max_length": 64, "model": "BertForMaskedLM", "lowercase": true},
  {"name": "wordpiece", "dir": "$TMP/wordpiece", "kind": "wordpiece", "max_length": 512, "lowercase": true},
  {"name": "bert-wp", "dir": "$TMP/bert-wp", "kind": "wordpiece", "max_length": 64, "model": "BertForSequenceClassification", "lowercase": true}
]
JSON

export LMCPP_BIN=$BIN LMCPP_INTEROP_MANIFEST=$TMP/manifest.json LMCPP_INTEROP_CLASSIC=$TMP/classic
node --test --test-concurrency=1 "$ROOT/tests/interop/hf_tokenizers.test.mjs"
