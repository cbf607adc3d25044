#!/usr/bin/env bash
# The node tests of `lmcpp serve`: creates small random-weight models with the binary, then runs node's test
# runner on tests/server/*.test.mjs.
#
#   tests/server/run.sh BIN [FILES...]
#
# FILES default to every tests/server/*.test.mjs but load.test.mjs (the slow load and fault test; name it to run
# it). Needs the shared tokenizers (../shared/data next to the repository, or $LM_SHARED_DATA): without them it
# skips with a message and exits 0. Needs tests/node/node_modules (the OpenAI SDK, puppeteer-core): without it
# it fails, saying how to install it.
#
# Environment: LMCPP_SCREENSHOT=1 makes the playground test write docs/images/playground.png (a value ending in
# .png is used as the path instead). Other LMCPP_* variables (LMCPP_CHROMIUM, LMCPP_STOP_THROTTLE) pass through.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: tests/server/run.sh BIN [FILES...]" >&2
  exit 2
fi
source "$(dirname "${BASH_SOURCE[0]}")/../node/script_lib.sh"
lm_script_init server "$1"
shift
lm_need_packages openai puppeteer-core

# Small random models (seconds to write). initializer_range 0.2 makes the GPT's next-token distributions peaked,
# so greedy text is stable and its stop strings are easy to pick.
gpt_cfg() {
  echo "{\"model_type\":\"gpt2\",\"n_layer\":2,\"n_head\":4,\"n_embd\":64,\"n_positions\":$1,\"initializer_range\":0.2}"
}
BERT_SMALL='"num_hidden_layers":2,"num_attention_heads":4,"hidden_size":64,"intermediate_size":128,"max_position_embeddings":128'
"$BIN" init --config "$(gpt_cfg 256)" --tokenizer "$TOK/gpt2" --out "$TMP/gpt" >/dev/null
"$BIN" init --config "$(gpt_cfg 4096)" --tokenizer "$TOK/gpt2" --out "$TMP/gpt-long" >/dev/null
"$BIN" init --config "{\"model_type\":\"bert\",\"architectures\":[\"BertForSequenceClassification\"],\"id2label\":{\"0\":\"negative\",\"1\":\"positive\"},\"label2id\":{\"negative\":0,\"positive\":1},$BERT_SMALL}" \
  --tokenizer "$TOK/bert-base-uncased" --out "$TMP/bert-cls" >/dev/null
"$BIN" init --config "{\"model_type\":\"bert\",\"architectures\":[\"BertForMaskedLM\"],$BERT_SMALL}" \
  --tokenizer "$TOK/bert-base-uncased" --out "$TMP/bert-mlm" >/dev/null
# Two random LoRA adapters of the GPT (non-zero B, different targets), for lora.test.mjs.
python3 "$ROOT/tests/reference/gen_lora_adapter.py" "$TMP/gpt" "$TMP/lora1" --seed 1 --targets c_attn,c_proj
python3 "$ROOT/tests/reference/gen_lora_adapter.py" "$TMP/gpt" "$TMP/lora2" --seed 2 --targets c_attn,c_fc

if [[ $# -gt 0 ]]; then
  FILES=("$@")
else
  FILES=()
  for f in "$ROOT"/tests/server/*.test.mjs; do
    [[ $(basename "$f") == load.test.mjs ]] || FILES+=("$f")
  done
fi

if [[ -n ${LMCPP_SCREENSHOT:-} && ${LMCPP_SCREENSHOT} != *.png ]]; then
  mkdir -p "$ROOT/docs/images"
  LMCPP_SCREENSHOT=$ROOT/docs/images/playground.png
fi

export LMCPP_BIN=$BIN LMCPP_GPT_DIR=$TMP/gpt LMCPP_GPT_LONG_DIR=$TMP/gpt-long LMCPP_BERT_CLS_DIR=$TMP/bert-cls \
  LMCPP_BERT_MLM_DIR=$TMP/bert-mlm LMCPP_LORA1_DIR=$TMP/lora1 LMCPP_LORA2_DIR=$TMP/lora2
[[ -n ${LMCPP_SCREENSHOT:-} ]] && export LMCPP_SCREENSHOT
# One file at a time: the servers of two files would share the CPUs and skew each other's timings.
node --test --test-concurrency=1 "${FILES[@]}"
