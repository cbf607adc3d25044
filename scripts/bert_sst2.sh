#!/usr/bin/env bash
# The README's SST-2 experiment (issue 6), end to end: does BERT pretraining by lmcpp help sentiment
# classification? Builds the pretraining corpus from the text in ../shared/data, trains an 8,192-token WordPiece
# vocabulary on it, pretrains BERT (MLM + NSP) with CONFIG, then fine-tunes on SST-2 train and reports SST-2 dev
# accuracy for (a) the pretrained model and (b) the same architecture from random initialisation, at each
# fine-tuning learning rate, with the time and peak memory of every run.
#
# usage: bash scripts/bert_sst2.sh [OUT_DIR] [CONFIG]
#   OUT_DIR  default out/bert_sst2 (re-running resumes the pretraining and skips finished fine-tunes)
#   CONFIG   default configs/bert_small_pretrain_8k.json
#   LRS="1e-4 3e-4" EPOCHS=3 THREADS=N override the fine-tuning grid.
#   WORDNET=1 adds a third start: the pretrained model after 2,100 more MLM + NSP steps on WordNet's glosses and
#   usage examples (scripts/wordnet_corpus.py; Debian package wordnet-base), configs/bert_small_wordnet.json.
# About 35 minutes of pretraining and 3 minutes per fine-tune on 2 idle cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/bert_sst2}
CONFIG=${2:-configs/bert_small_pretrain_8k.json}
LRS=${LRS:-1e-4 3e-4}
EPOCHS=${EPOCHS:-3}
THREADS=${THREADS:-$(nproc)}
D=../shared/data
L=build/lmcpp
[ -x "$L" ] || bash scripts/build.sh
DUMP=$D/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2
for f in "$DUMP" $D/wikitext2/wiki.test.raw $D/wikitext2/wiki.valid.tokens $D/tinyshakespeare/input.txt \
         $D/qa/squad-v1.1-dev-articles00-39.json $D/sst2/stsa.binary.train $D/sst2/stsa.binary.dev; do
  [ -f "$f" ] || { echo "bert_sst2.sh: missing input $f" >&2; exit 2; }
done
mkdir -p "$OUT"
C=$OUT/corpus

# 1. Corpus: SQuAD contexts of the 32 train articles only, WikiText-2 valid as text, SST-2 train sentences
#    without labels (scripts/bert_corpus.py), plus the Wikipedia dump, WikiText-2 raw test and tiny Shakespeare.
if [ ! -f "$C/sst2_sentences.txt" ]; then
  python3 scripts/split_squad.py $D/qa/squad-v1.1-dev-articles00-39.json "$OUT/squad_train.json" "$OUT/squad_dev.json"
  python3 scripts/bert_corpus.py "$OUT/squad_train.json" $D/wikitext2/wiki.valid.tokens $D/sst2/stsa.binary.train "$C"
fi
INPUTS=("$DUMP" $D/wikitext2/wiki.test.raw "$C/wikitext_valid.txt" $D/tinyshakespeare/input.txt
        "$C/squad_contexts.txt" "$C/sst2_sentences.txt")

# 2. WordPiece vocabulary (8,192, uncased) trained on the same text; the dump's articles as plain text first.
if [ ! -f "$OUT/tokenizer/vocab.txt" ]; then
  $L prepare --input "$DUMP" --tokenizer $D/tokenizers/bert-base-uncased --out "$OUT/wiki_tmp" \
    --text-out "$C/wiki.jsonl" --quiet
  python3 -c '
import json, sys
with open(sys.argv[2], "w", encoding="utf-8") as f:
    for line in open(sys.argv[1], encoding="utf-8"):
        f.write(json.loads(line)["text"].strip() + "\n\n")' "$C/wiki.jsonl" "$C/wiki.txt"
  rm -rf "$OUT/wiki_tmp"
  $L train-tokenizer --type wordpiece --vocab-size 8192 --out "$OUT/tokenizer" \
    --input "$C/wiki.txt" "${INPUTS[@]:1}"
fi

# 3. Sentence-layout shards for MLM + NSP (2% of the documents held out for validation).
[ -f "$OUT/data/meta.json" ] || $L prepare --tokenizer "$OUT/tokenizer" --split blank-line --val-fraction 0.02 \
  --input "${INPUTS[@]}" --out "$OUT/data" --quiet

# 4. Pretraining (resumes from its newest checkpoint when re-run).
/usr/bin/time -v -o "$OUT/pretrain.time" $L train --config "$CONFIG" --set data="$OUT/data" --out "$OUT/bert_pt"

# 4b. WORDNET=1: continue pretraining on WordNet's glosses and usage examples (700 + 1400 steps), a third start.
INITS="pt rand"
if [ "${WORDNET:-0}" = 1 ]; then
  [ -f "$C/wordnet.txt" ] || python3 scripts/wordnet_corpus.py "$C/wordnet.txt"
  [ -f "$OUT/data_wn/meta.json" ] || $L prepare --tokenizer "$OUT/tokenizer" --split blank-line --val-fraction 0.02 \
    --input "$C/wordnet.txt" --out "$OUT/data_wn" --quiet
  $L train --config configs/bert_small_wordnet.json --set init="$OUT/bert_pt" --set data="$OUT/data_wn" \
    --out "$OUT/bert_wn1"
  /usr/bin/time -v -o "$OUT/pretrain_wn.time" $L train --config configs/bert_small_wordnet.json \
    --set init="$OUT/bert_wn1" --set data="$OUT/data_wn" --set max_steps=1400 --set eval_every=700 \
    --set save_every=700 --out "$OUT/bert_wn"
  INITS="pt wn rand"
fi

# 5. Every starting point gets the same fine-tuning config: dropout 0.1 (the pretraining ran without dropout).
start_from() {  # start_from SRC NAME
  rm -rf "$OUT/start_$2" && mkdir -p "$OUT/start_$2"
  cp "$1/config.json" "$1/model.safetensors" "$1/vocab.txt" "$OUT/start_$2/"
  cp "$1"/tokenizer*.json "$OUT/start_$2/" 2>/dev/null || true
  python3 -c '
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["hidden_dropout_prob"] = c["attention_probs_dropout_prob"] = 0.1
json.dump(c, open(p, "w"), indent=2)' "$OUT/start_$2/config.json"
}
start_from "$OUT/bert_pt" pt
[ "${WORDNET:-0}" = 1 ] && start_from "$OUT/bert_wn" wn
[ -f "$OUT/start_rand/model.safetensors" ] || \
  $L init --config "$OUT/start_pt/config.json" --tokenizer "$OUT/start_pt" --out "$OUT/start_rand" --seed 7

# 6. Fine-tune both at each learning rate; same recipe, seed and data order.
for lr in $LRS; do
  for m in $INITS; do
    run=$OUT/sst2_${m}_$lr
    [ -f "$run/result.json" ] && continue
    /usr/bin/time -v -o "$run.time" $L finetune --task classify --model "$OUT/start_$m" \
      --train $D/sst2/stsa.binary.train --val $D/sst2/stsa.binary.dev --out "$run" --epochs "$EPOCHS" --lr "$lr" \
      --max-length 64 --batch-size 32 --threads "$THREADS" > "$run.log" 2>&1
  done
done

# 7. Table.
python3 - "$OUT" "$INITS" $LRS <<'PY'
import json, os, re, sys
out, inits, lrs = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
val = [json.loads(l) for l in open(os.path.join(out, "bert_pt", "metrics.jsonl")) if '"val_mlm_accuracy"' in l]
if val:
    r = val[-1]
    print(f"pretraining: step {r['step']}, val MLM accuracy {100 * r['val_mlm_accuracy']:.2f}% "
          f"(perplexity {r['val_mlm_perplexity']:.1f}), NSP accuracy {100 * r['val_nsp_accuracy']:.2f}%")
def timing(path):
    t = open(path).read() if os.path.exists(path) else ""
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", t)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", t)
    return (wall.group(1) if wall else "?"), (f"{int(rss.group(1)) / 1024:.0f} MB" if rss else "?")
w, m = timing(os.path.join(out, "pretrain.time"))
print(f"pretraining wall {w}, peak RSS {m}")
print(f"{'init':<6} {'lr':<6} {'best SST-2 dev accuracy':<26} {'wall':<9} peak RSS")
for lr in lrs:
    for init in inits:
        run = os.path.join(out, f"sst2_{init}_{lr}")
        best = re.search(r"^best epoch (\d+): val accuracy ([0-9.]+)", open(run + ".log").read(), re.M)
        acc = f"{100 * float(best.group(2)):.2f}% (epoch {best.group(1)})" if best else "failed"
        w, m = timing(run + ".time")
        print(f"{init:<6} {lr:<6} {acc:<26} {w:<9} {m}")
PY
