#!/usr/bin/env bash
# Installs every system dependency of lmcpp from Debian packages, non-interactively and idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS=(
  build-essential cmake ninja-build pkg-config git
  libopenmpi-dev openmpi-bin libgloo-dev iproute2
  libfmt-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libdnnl-dev libomp-dev
  libutf8proc-dev libexpat1-dev libbz2-dev zlib1g-dev libzstd-dev
  clang libclang-rt-14-dev
  python3 python3-torch python3-numpy libopenblas0-pthread
  fortunes time wordnet-base universal-ctags
  libcpp-httplib-dev chromium python3-jinja2
)
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Node.js + npm run the server and interop tests (a machine that already has a node, from any source, keeps it).
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: npm not found; installing Debian's nodejs and npm"
  DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends nodejs npm
fi
# The node tests' npm packages (the official OpenAI SDK, puppeteer-core driving Debian's chromium, Hugging Face's
# tokenizers binding, node-llama-cpp with llama.cpp's prebuilt linux-x64 CPU library, @huggingface/gguf), pinned by
# tests/node/package-lock.json. Never a download or a build: --omit=optional leaves out node-llama-cpp's other
# prebuilt packages (CUDA, Vulkan, other systems; its CPU one is a direct dependency) and --ignore-scripts its
# postinstall, which would fetch or compile llama.cpp; no browser download either. `npm install --no-save` rather
# than `npm ci`: npm writes no lock entries for optional packages of other platforms, which `npm ci` then demands;
# the versions still come from the lock, which is left as it is. A lock newer than the install (or a package
# missing from it) reinstalls.
if [[ ! -d tests/node/node_modules/openai || ! -d tests/node/node_modules/tokenizers ||
      ! -d tests/node/node_modules/@node-llama-cpp/linux-x64 ||
      tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]]; then
  echo "setup: npm install (from the lock) in tests/node"
  (cd tests/node && PUPPETEER_SKIP_DOWNLOAD=1 NODE_LLAMA_CPP_SKIP_DOWNLOAD=true \
    npm install --no-save --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
echo "setup: all dependencies present"
