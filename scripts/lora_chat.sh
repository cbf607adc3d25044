#!/usr/bin/env bash
# Full chat fine-tuning vs a LoRA adapter on Topical-Chat, side by side on one pretrained GPT: the 8k byte-level
# BPE and the 4-layer, 256-wide GPT of scripts/chat_recipe.sh (pretrained STEPS steps on the Wikipedia excerpt,
# WikiText-2 test and Tiny Shakespeare), then one epoch of chat fine-tuning — every weight, and a LoRA adapter
# (r=8, alpha=16 on c_attn; ChatML's two added tokens make the embedding rows trainable too, PEFT's
# modules_to_save) — each evaluated on the dev dialogues (assistant-token perplexity, unigram F1 of the first 300
# greedy replies), with trainable parameters, peak RSS, CPU and wall time (GNU time).
#
# usage: bash scripts/lora_chat.sh [OUT_DIR]   (default out/lora_chat; finished steps are skipped on re-runs)
#   STEPS=900 LR=1e-3 LORA_LR=3e-3 LORA=r=8,alpha=16 override the recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/lora_chat}
STEPS=${STEPS:-900}
LR=${LR:-1e-3}
LORA_LR=${LORA_LR:-3e-3}
LORA=${LORA:-r=8,alpha=16}
DATA=${LM_SHARED_DATA:-../shared/data}
LM=build/lmcpp
[ -x "$LM" ] || bash scripts/build.sh
mkdir -p "$OUT"
WIKI=$DATA/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2
TRAIN=$DATA/dialogue/topical-chat.train.jsonl
DEV=$DATA/dialogue/topical-chat.dev.jsonl
[ -f "$OUT/tok8k/tokenizer.json" ] || $LM train-tokenizer --type bpe --input "$DATA/wikitext2/wiki.test.raw" \
  --input "$DATA/tinyshakespeare/input.txt" --vocab-size 8192 --out "$OUT/tok8k"
[ -f "$OUT/pre8k/meta.json" ] || $LM prepare --input "$WIKI" --input "$DATA/wikitext2/wiki.test.raw" \
  --input "$DATA/tinyshakespeare/input.txt" --split blank-line --tokenizer "$OUT/tok8k" --out "$OUT/pre8k" \
  --val-fraction 0.01 --quiet
if [ ! -f "$OUT/pretrained/model.safetensors" ]; then
  echo '{"model": {"model_type": "gpt2", "n_layer": 4, "n_head": 4, "n_embd": 256, "n_positions": 512},
  "batch_size": 8, "seq_len": 512, "max_steps": '"$STEPS"', "lr": 1e-3, "min_lr": 1e-4, "lr_schedule": "cosine",
  "warmup_steps": 40, "weight_decay": 0.1, "grad_clip": 1.0, "dropout": 0.1, "eval_every": 100,
  "eval_batches": 20, "save_every": 300, "seed": 1337}' > "$OUT/pretrain.json"
  $LM train --config "$OUT/pretrain.json" --set data="$OUT/pre8k" --out "$OUT/pretrained"
fi
run() {  # name, extra finetune flags...
  local name=$1; shift
  [ -f "$OUT/$name/result.json" ] && return 0
  /usr/bin/time -v -o "$OUT/$name.time" $LM finetune --task chat --model "$OUT/pretrained" --train "$TRAIN" \
    --val "$DEV" --out "$OUT/$name" --epochs 1 --batch-size 8 "$@"
}
run full --lr "$LR"
run lora --lr "$LORA_LR" --lora "$LORA"
[ -f "$OUT/eval-full.json" ] || $LM evaluate --task chat --model "$OUT/full" --data "$DEV" --json --generate \
  --max-new-tokens 40 --max-examples 300 > "$OUT/eval-full.json"
[ -f "$OUT/eval-lora.json" ] || $LM evaluate --task chat --model "$OUT/pretrained" --adapter "$OUT/lora" --data "$DEV" \
  --json --generate --max-new-tokens 40 --max-examples 300 > "$OUT/eval-lora.json"
python3 - "$OUT" <<'PY'
import json, re, sys
out = sys.argv[1]
print("| run | dev perplexity (assistant tokens) | unigram F1 (300 greedy replies) | trainable parameters | AdamW state | peak RSS | CPU time | wall | s/step |")
print("|---|---|---|---|---|---|---|---|---|")
for name in ("full", "lora"):
    r = json.load(open(f"{out}/{name}/result.json"))
    e = json.load(open(f"{out}/eval-{name}.json"))
    t = open(f"{out}/{name}.time").read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
    cpu = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1)) + float(re.search(r"System time \(seconds\): ([\d.]+)", t).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", t).group(1)
    tp = r["trainable_parameters"]
    print(f"| {name} | {e['perplexity']:.1f} | {e['f1']:.2f} | {tp:,} ({100*tp/r['parameters']:.1f}%) | "
          f"{8*tp/2**20:.1f} MB | {rss:.0f} MB | {cpu:.0f} s | {wall} | {r['train_seconds']/r['steps']:.3f} |")
PY
