#!/usr/bin/env python3
"""Splits a SQuAD v1.1 JSON file by article into train and dev files (official layout kept).

usage: split_squad.py INPUT.json TRAIN_OUT.json DEV_OUT.json [--dev-articles N]

The last N articles (default 8 of the shared 40) become the dev set, so no context is shared between the two.
Standard library only; used to make the SQuAD results in the README reproducible.
"""
import json
import sys


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    n_dev = 8
    for i, a in enumerate(argv):
        if a == "--dev-articles":
            n_dev = int(argv[i + 1])
            args.remove(argv[i + 1])
    if len(args) != 3:
        sys.stderr.write(__doc__)
        return 2
    src, train_out, dev_out = args
    with open(src, encoding="utf-8") as f:
        squad = json.load(f)
    data = squad["data"]
    if not 0 < n_dev < len(data):
        sys.stderr.write(f"split_squad: --dev-articles must be in 1..{len(data) - 1}\n")
        return 2
    for name, part in ((train_out, data[:-n_dev]), (dev_out, data[-n_dev:])):
        with open(name, "w", encoding="utf-8") as f:
            json.dump({"version": squad.get("version", "1.1"), "data": part}, f)
        q = sum(len(p["qas"]) for a in part for p in a["paragraphs"])
        print(f"{name}: {len(part)} articles, {q} questions")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
