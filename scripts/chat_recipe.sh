#!/usr/bin/env bash
# The dialogue recipe of docs/chat.md, end to end: an 8k byte-level BPE and a small GPT (4 layers, 256 wide, 512
# context) pretrained on the English corpora in ../shared/data (Wikipedia excerpt, WikiText-2 test, Tiny
# Shakespeare), then chat fine-tuned on Topical-Chat — and the same fine-tuning from random initialisation — each
# evaluated on the Topical-Chat dev dialogues (assistant-token perplexity, unigram F1 of greedy replies).
# Usage: bash scripts/chat_recipe.sh [OUT_DIR]   (about 40 minutes on 2 cores; OUT_DIR defaults to out/chat)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/chat}
DATA=${LM_SHARED_DATA:-../shared/data}
LM=build/lmcpp
TIME=(/usr/bin/time -f "%e s wall, %M KB peak RSS")
mkdir -p "$OUT"
WIKI=$DATA/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2
CORPORA=(--input "$WIKI" --input "$DATA/wikitext2/wiki.test.raw" --input "$DATA/tinyshakespeare/input.txt")
TRAIN=$DATA/dialogue/topical-chat.train.jsonl
DEV=$DATA/dialogue/topical-chat.dev.jsonl

# 1. Tokenizer and pretraining data.
$LM train-tokenizer --type bpe --input "$DATA/wikitext2/wiki.test.raw" --input "$DATA/tinyshakespeare/input.txt" \
  --vocab-size 8192 --out "$OUT/tok8k"
$LM prepare "${CORPORA[@]}" --split blank-line --tokenizer "$OUT/tok8k" --out "$OUT/pre8k" --val-fraction 0.01 --quiet

# 2. (a) Pretraining: 900 steps of 8 x 512 tokens.
CONFIG='{"model": {"model_type": "gpt2", "n_layer": 4, "n_head": 4, "n_embd": 256, "n_positions": 512},
  "batch_size": 8, "seq_len": 512, "max_steps": 900, "lr": 1e-3, "min_lr": 1e-4, "lr_schedule": "cosine",
  "warmup_steps": 40, "weight_decay": 0.1, "grad_clip": 1.0, "dropout": 0.1, "eval_every": 100,
  "eval_batches": 20, "save_every": 300, "seed": 1337}'
echo "$CONFIG" > "$OUT/pretrain.json"
"${TIME[@]}" $LM train --config "$OUT/pretrain.json" --set data="$OUT/pre8k" --out "$OUT/pretrained"

# (b) The same architecture and tokenizer from random initialisation.
$LM init --config '{"model_type": "gpt2", "n_layer": 4, "n_head": 4, "n_embd": 256, "n_positions": 512,
  "vocab_size": 8192, "bos_token_id": 0, "eos_token_id": 0, "resid_pdrop": 0.1, "embd_pdrop": 0.1, "attn_pdrop": 0.1}' --tokenizer "$OUT/tok8k" --seed 1337 --out "$OUT/scratch"

# 3. Chat fine-tuning of both (the built-in ChatML adds <|im_start|> and <|im_end|>), one epoch each.
for m in pretrained scratch; do
  "${TIME[@]}" $LM finetune --task chat --model "$OUT/$m" --train "$TRAIN" --val "$DEV" --out "$OUT/chat-$m" \
    --epochs 1 --batch-size 8 --lr 1e-3
done

# 4. Dev evaluation: assistant-token perplexity of every reply, unigram F1 of the first 300 greedy replies.
for m in pretrained scratch; do
  $LM evaluate --task chat --model "$OUT/chat-$m" --data "$DEV" --json --generate --max-new-tokens 40 \
    --max-examples 300 | tee "$OUT/eval-$m.json"
done
