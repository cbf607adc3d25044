#!/usr/bin/env bash
# The README's first command: installs what lmcpp needs (Debian packages), builds the lmcpp target alone (not the
# tests), and runs the main job:
# `lmcpp quickstart` (tokenizer + data from Debian's fortunes package, a small GPT trained for ~10 minutes,
# loss plot, samples). Arguments are passed to `lmcpp quickstart` (e.g. --minutes 3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh --target lmcpp
exec build/lmcpp quickstart "$@"
