#!/usr/bin/env bash
# Installs lmcpp's system dependencies from Debian packages, non-interactively and idempotently.
#   bash scripts/setup.sh          what building and running lmcpp needs (the quickstart runs this)
#   bash scripts/setup.sh --distributed   also Open MPI and Gloo (mpirun / torchrun-style data parallelism)
#   bash scripts/setup.sh --test   also the tests' and benchmarks' tools (the test command runs this): GoogleTest,
#                                  Google Benchmark, PyTorch + numpy (reference vectors), clang (fuzz targets), Open MPI
#                                  and Gloo (distributed training), chromium, jinja2, curl (the README examples), Node.js
#                                  and the node test packages
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST=0
WITH_DIST=0
for a in "$@"; do
  case "$a" in
    --test) WITH_TEST=1; WITH_DIST=1 ;;
    --distributed) WITH_DIST=1 ;;
    *) echo "setup: unknown argument '$a' (--distributed: MPI and Gloo; --test: the tests' tools)" >&2; exit 2 ;;
  esac
done
# Build and run: compiler, CMake, oneDNN (the GEMM), fmt, nlohmann-json, utf8proc, expat, compression libraries,
# cpp-httplib (lmcpp serve), and Debian's fortunes (the quickstart's corpus). OpenMP comes with GCC.
PKGS=(
  build-essential cmake ninja-build pkg-config git
  libfmt-dev nlohmann-json3-dev libdnnl-dev
  libutf8proc-dev libexpat1-dev libbz2-dev zlib1g-dev libzstd-dev
  libcpp-httplib-dev fortunes
)
if ((WITH_DIST)); then PKGS+=(libopenmpi-dev openmpi-bin libgloo-dev iproute2); fi
if ((WITH_TEST)); then
  PKGS+=(
    libgtest-dev libgmock-dev libbenchmark-dev
    clang libclang-rt-14-dev libomp-dev
    python3 python3-torch python3-numpy libopenblas0-pthread python3-jinja2
    chromium time wordnet-base universal-ctags curl
  )
fi
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
if ((!WITH_TEST)); then
  echo "setup: build and run dependencies present$( ((WITH_DIST)) && echo ', MPI and Gloo included')"
  exit 0
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
echo "setup: all dependencies present, the tests' tools included"
