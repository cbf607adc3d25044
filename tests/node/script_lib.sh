# Shared by the scripts that run node tests against the lmcpp binary (tests/server/run.sh, tests/interop/*.sh):
# source it, then call lm_script_init NAME BIN to set ROOT, BIN, TOK (the shared tokenizers) and TMP (removed on
# exit). Without the shared tokenizers the script exits 0 with a SKIP line; without node or a needed npm package
# (lm_need_packages) it fails saying how to install it.

lm_script_init() {
  LM_SCRIPT=$1
  ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  BIN=$(realpath "$2")
  [[ -x $BIN ]] || { echo "$LM_SCRIPT: $BIN is not an executable" >&2; exit 2; }
  local shared
  if [[ -n ${LM_SHARED_DATA:-} ]]; then shared=$(realpath -m "$LM_SHARED_DATA/.."); else shared=$(realpath -m "$ROOT/../shared"); fi
  TOK=$shared/data/tokenizers
  if [[ ! -d $TOK/gpt2 || ! -d $TOK/bert-base-uncased ]]; then
    echo "$LM_SCRIPT: SKIP: the shared tokenizers are absent ($TOK/gpt2, $TOK/bert-base-uncased); these tests need them"
    exit 0
  fi
  command -v node >/dev/null || { echo "$LM_SCRIPT: FAIL: node is not installed" >&2; exit 1; }
  TMP=$(mktemp -d -t "lmcpp-$LM_SCRIPT.XXXXXX")
  trap 'rm -rf "$TMP"' EXIT
}

# Fails unless every named package is in tests/node/node_modules.
lm_need_packages() {
  local p
  for p in "$@"; do
    if [[ ! -d $ROOT/tests/node/node_modules/$p ]]; then
      echo "$LM_SCRIPT: FAIL: tests/node/node_modules/$p is missing; install it with scripts/setup.sh" >&2
      exit 1
    fi
  done
}

# Runs a command quietly; on failure prints its stderr and the command, and exits.
q() { "$@" >/dev/null 2>"$TMP/err" || { cat "$TMP/err" >&2; echo "$LM_SCRIPT: FAIL: $*" >&2; exit 1; }; }

# Text to train tokenizers on: the README, the code sample and the tokenizer hard cases (accents, CJK, emoji,
# whitespace runs); sets TEXT to the file list.
lm_training_text() {
  local ref=$ROOT/tests/reference/tokenizers
  node -e 'const fs = require("fs");
    const lines = fs.readFileSync(process.argv[1], "utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
    fs.writeFileSync(process.argv[2], lines.join("\n") + "\n");' "$ref/hard_cases.jsonl" "$TMP/hard.txt"
  TEXT=("$ROOT/README.md" "$ref/code_sample.txt" "$TMP/hard.txt")
}

# lm_chat_model GPT_KEYS OUT: a 1,200-token BPE trained on TEXT ($TMP/bpe), a GPT-2 over it ($TMP/chat-base) and
# its chat fine-tune (one epoch, two dialogues) in OUT: the ChatML tokens become added tokens and the chat
# template travels with the model.
lm_chat_model() {
  q "$BIN" train-tokenizer --type bpe --input "${TEXT[@]}" --vocab-size 1200 --out "$TMP/bpe" --threads 1
  q "$BIN" init --config "{$1}" --tokenizer "$TMP/bpe" --out "$TMP/chat-base"
  cat >"$TMP/dialogues.jsonl" <<'JSONL'
{"messages": [{"role": "user", "content": "Hello there, how are you?"}, {"role": "assistant", "content": "Fine, thanks. And you?"}]}
{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}, {"role": "assistant", "content": "Blue."}]}
JSONL
  q "$BIN" finetune --task chat --model "$TMP/chat-base" --train "$TMP/dialogues.jsonl" --val "$TMP/dialogues.jsonl" \
    --out "$2" --epochs 1 --batch-size 2 --threads 1
}
