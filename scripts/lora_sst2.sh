#!/usr/bin/env bash
# Full fine-tuning vs a LoRA adapter on SST-2, side by side on one pretrained BERT: pretrains the small BERT of
# configs/bert_small_pretrain.json for STEPS steps (MLM + NSP on the Wikipedia excerpt, WikiText-2 test and tiny
# Shakespeare, bert-base-uncased vocabulary), then fine-tunes it on SST-2 train twice — every weight, and a LoRA
# adapter (r=8, alpha=16 on query/value, the classifier trained whole), and the same adapter on every linear
# layer of the encoder (all-linear) — and prints dev accuracy, trainable
# parameters, optimizer state, peak RSS, CPU time and wall time of each run (GNU time).
#
# usage: bash scripts/lora_sst2.sh [OUT_DIR]     (default out/lora_sst2; finished steps are skipped on re-runs)
#   STEPS=400 EPOCHS=3 FULL_LR=3e-4 LORA_LR=1e-3 ALL_LR=3e-3 LORA=r=8,alpha=16 override the recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/lora_sst2}
STEPS=${STEPS:-400}
EPOCHS=${EPOCHS:-3}
FULL_LR=${FULL_LR:-3e-4}
LORA_LR=${LORA_LR:-1e-3}
LORA=${LORA:-r=8,alpha=16}
ALL_LR=${ALL_LR:-3e-3}
D=../shared/data
L=build/lmcpp
[ -x "$L" ] || bash scripts/build.sh
mkdir -p "$OUT"
DUMP=$D/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2
[ -f "$OUT/data/meta.json" ] || $L prepare --tokenizer $D/tokenizers/bert-base-uncased --split blank-line \
  --val-fraction 0.02 --input "$DUMP" $D/wikitext2/wiki.test.raw $D/tinyshakespeare/input.txt --out "$OUT/data" --quiet
if [ ! -f "$OUT/pretrain/model.safetensors" ]; then
  $L train --config configs/bert_small_pretrain.json --set data="$OUT/data" --set max_steps=$STEPS \
    --set warmup_steps=40 --set eval_every=100 --set save_every=100 --out "$OUT/pretrain"
fi
run() {  # name, extra finetune flags...
  local name=$1; shift
  [ -f "$OUT/$name/result.json" ] && return 0
  /usr/bin/time -v -o "$OUT/$name.time" $L finetune --task classify --model "$OUT/pretrain" \
    --train $D/sst2/stsa.binary.train --val $D/sst2/stsa.binary.dev --out "$OUT/$name" --epochs "$EPOCHS" \
    --max-length 64 --batch-size 32 "$@"
}
run full --lr "$FULL_LR"
run lora --lr "$LORA_LR" --lora "$LORA"
run lora_all --lr "$ALL_LR" --lora "$LORA" --lora-targets all-linear
python3 - "$OUT" <<'PY'
import json, re, sys
out = sys.argv[1]
print("| run | SST-2 dev accuracy | macro F1 | trainable parameters | AdamW state | peak RSS | CPU time | wall | s/step |")
print("|---|---|---|---|---|---|---|---|---|")
for name in ("full", "lora", "lora_all"):
    r = json.load(open(f"{out}/{name}/result.json"))
    t = open(f"{out}/{name}.time").read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", t).group(1)) / 1024
    cpu = float(re.search(r"User time \(seconds\): ([\d.]+)", t).group(1)) + float(re.search(r"System time \(seconds\): ([\d.]+)", t).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", t).group(1)
    tp = r["trainable_parameters"]
    print(f"| {name} | {100*r['val_accuracy']:.2f}% (epoch {r['best_epoch']}) | {r['val_f1']:.3f} | {tp:,} "
          f"({100*tp/r['parameters']:.2f}%) | {8*tp/2**20:.1f} MB | {rss:.0f} MB | {cpu:.0f} s | {wall} | "
          f"{r['train_seconds']/r['steps']:.3f} |")
PY
