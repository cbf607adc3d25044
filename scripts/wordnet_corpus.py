#!/usr/bin/env python3
"""WordNet 3.0 glosses and usage examples (Debian package wordnet-base) as plain-text pretraining documents.

Each synset becomes one line "<up to 3 lemmas>: <definition>." followed by up to 3 of its usage examples, one per
line; 12 or more such lines make a document (documents are separated by a blank line, the layout `lmcpp prepare
--split blank-line` reads). Synsets stay in WordNet's file order (adjectives, adverbs, verbs, nouns), so an
adjective's similar-sense satellites sit next to it: for BERT's next-sentence prediction a document is a run of
related senses.

usage: python3 scripts/wordnet_corpus.py OUT.txt [WORDNET_DIR=/usr/share/wordnet]
"""
import os
import re
import sys


def synset_lines(path):
    with open(path, encoding="latin-1") as f:  # WordNet's data files are Latin-1; the glosses are ASCII
        for line in f:
            if line.startswith("  "):  # the license header
                continue
            head, _, gloss = line.partition("|")
            fields = head.split()
            n_words = int(fields[3], 16)
            words = [re.sub(r"\(.*?\)$", "", fields[4 + 2 * i]).replace("_", " ") for i in range(n_words)]
            parts = [p.strip() for p in gloss.strip().split(";") if p.strip()]
            definition = "; ".join(p for p in parts if not p.startswith('"'))
            examples = [p.strip('"') for p in parts if p.startswith('"')]
            out = [", ".join(words[:3]) + ": " + definition + "."]
            for e in examples[:3]:
                # An example without final punctuation gets a capital and a full stop; others stay as written.
                out.append(e[0].upper() + e[1:] + "." if e and e[-1] not in ".!?" else e)
            yield out


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: wordnet_corpus.py OUT.txt [WORDNET_DIR]")
    wn = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/wordnet"
    files = [os.path.join(wn, "data." + pos) for pos in ("adj", "adv", "verb", "noun")]
    for f in files:
        if not os.path.isfile(f):
            sys.exit(f"wordnet_corpus.py: {f} not found (apt-get install wordnet-base)")
    tmp = sys.argv[1] + ".tmp"
    docs = 0
    with open(tmp, "w", encoding="utf-8") as out:
        for f in files:
            doc = []
            for lines in synset_lines(f):
                doc.extend(lines)
                if len(doc) >= 12:
                    out.write("\n".join(doc) + "\n\n")
                    docs += 1
                    doc = []
            if doc:
                out.write("\n".join(doc) + "\n\n")
                docs += 1
    os.replace(tmp, sys.argv[1])
    print(f"wordnet_corpus.py: {docs} documents -> {sys.argv[1]}")


if __name__ == "__main__":
    main()
