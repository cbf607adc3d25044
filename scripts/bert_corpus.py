#!/usr/bin/env python3
"""Writes the extra plain-text inputs of the BERT pretraining corpus (README "BERT pretraining and SST-2").

usage: bert_corpus.py SQUAD_TRAIN.json WIKITEXT_VALID.tokens SST2_TRAIN OUT_DIR

- OUT_DIR/squad_contexts.txt: every paragraph context of a SQuAD file (use the TRAIN split written by
  scripts/split_squad.py, so no dev context is seen in pretraining), one blank-line-separated block each.
- OUT_DIR/wikitext_valid.txt: WikiText-2's tokenized validation set turned back into text: "<unk>" dropped,
  " @-@ " / " @,@ " / " @.@ " joined, heading lines dropped, one blank-line-separated block per article.
- OUT_DIR/sst2_sentences.txt: the SST-2 training sentences without their labels, 8 per block (the task's own
  unlabelled text; the dev sentences are never used).
Then: lmcpp prepare --split blank-line with these files plus the Wikipedia dump, WikiText-2 raw test and tiny
Shakespeare. Standard library only.
"""
import json
import os
import re
import sys


def main(argv):
    if len(argv) != 4:
        sys.stderr.write(__doc__)
        return 2
    squad, wt_valid, sst_train, out = argv
    os.makedirs(out, exist_ok=True)
    with open(squad, encoding="utf-8") as f:
        data = json.load(f)["data"]
    with open(os.path.join(out, "squad_contexts.txt"), "w", encoding="utf-8") as f:
        for article in data:
            for p in article["paragraphs"]:
                f.write(p["context"].strip() + "\n\n")
    with open(wt_valid, encoding="utf-8") as f:
        text = f.read()
    for a, b in ((" <unk>", ""), (" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", ".")):
        text = text.replace(a, b)
    blocks, cur = [], []
    for line in text.split("\n"):
        if re.match(r"^ = [^=].* = $", line):  # a new article
            if cur:
                blocks.append("\n".join(cur))
            cur = []
        elif line.strip() and not line.strip().startswith("="):
            cur.append(line.strip())
    if cur:
        blocks.append("\n".join(cur))
    with open(os.path.join(out, "wikitext_valid.txt"), "w", encoding="utf-8") as f:
        f.write("\n\n".join(blocks) + "\n")
    with open(sst_train, encoding="utf-8") as f:
        sents = [line.split(" ", 1)[1].strip() for line in f if " " in line.strip()]
    with open(os.path.join(out, "sst2_sentences.txt"), "w", encoding="utf-8") as f:
        for i in range(0, len(sents), 8):
            f.write("\n".join(sents[i:i + 8]) + "\n\n")
    print(f"{len(data)} SQuAD articles, {len(blocks)} WikiText articles, {len(sents)} SST-2 sentences -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
