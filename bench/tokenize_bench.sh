#!/usr/bin/env bash
# Tokenizer throughput, side by side in one run: lmcpp (1 thread and all threads) vs tiktoken (npm, WASM, single
# threaded) and HF tokenizers (npm native binding; RAYON_NUM_THREADS=1 and all threads), GPT-2 BPE and BERT
# WordPiece, on >= 20 MB of varied text built from ../shared/data (see docs/tokenizers.md).
# Usage: bench/tokenize_bench.sh [SHARED_DATA_DIR]   (needs build/lmcpp and npm install in tests/reference/tokenizers)
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${1:-${LM_SHARED_DATA:-../shared/data}}"
corpus="${TMPDIR:-/tmp}/lmcpp_tokenize_bench.txt"
if [ ! -s "$corpus" ]; then
  one="${corpus}.one"
  {
    cat "$shared/tinyshakespeare/input.txt" "$shared/wikitext2/wiki.test.raw" "$shared/wikitext2/wiki.valid.tokens"
    cut -d' ' -f2- "$shared/sst2/stsa.binary.train"
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for a in d["data"]:
  for p in a["paragraphs"]:
    print(p["context"]); [print(q["question"]) for q in p["qas"]]' "$shared/qa/squad-v1.1-dev-articles00-39.json"
    bzcat "$shared/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
  } > "$one"
  # The ~12 MB of distinct text twice: 24 MB.
  cat "$one" "$one" > "$corpus"
  rm -f "$one"
fi
echo "corpus: $corpus ($(du -m "$corpus" | cut -f1) MB), $(nproc) hardware threads"
./build/lmcpp bench-tokenize --tokenizer "$shared/tokenizers/gpt2" --input "$corpus"
./build/lmcpp bench-tokenize --tokenizer "$shared/tokenizers/bert-base-uncased" --input "$corpus"
BENCH_ONLY=tiktoken node bench/tokenize_bench.mjs "$corpus" "$shared"
RAYON_NUM_THREADS=1 BENCH_ONLY=hf-gpt2 node bench/tokenize_bench.mjs "$corpus" "$shared"
RAYON_NUM_THREADS=1 BENCH_ONLY=hf-wordpiece node bench/tokenize_bench.mjs "$corpus" "$shared"
BENCH_ONLY=hf-gpt2 node bench/tokenize_bench.mjs "$corpus" "$shared"
BENCH_ONLY=hf-wordpiece node bench/tokenize_bench.mjs "$corpus" "$shared"
