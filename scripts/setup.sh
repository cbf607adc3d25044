#!/usr/bin/env bash
# Installs every system dependency of lmcpp from Debian packages, non-interactively and idempotently.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git
  libopenmpi-dev openmpi-bin libgloo-dev iproute2
  libfmt-dev nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev
  libdnnl-dev libomp-dev
  libutf8proc-dev libexpat1-dev libbz2-dev zlib1g-dev libzstd-dev
  clang libclang-rt-14-dev
  python3 python3-torch python3-numpy
  nodejs npm
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: all dependencies present"
