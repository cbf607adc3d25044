#!/usr/bin/env bash
# The quickstart's build on a machine without the test tools: scripts/setup.sh (no --test) installs no GoogleTest,
# and CMake must still configure lmcpp (the tests left out, with a message saying how to add them) so that
# `scripts/build.sh --target lmcpp` works. Simulated here by hiding GoogleTest from CMake; configure only, no build.
# usage: quickstart_configure.sh SOURCE_DIR
set -euo pipefail
src=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
GEN=()
if command -v ninja >/dev/null; then GEN=(-G Ninja); fi
out=$(cmake -S "$src" -B "$dir" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_DISABLE_FIND_PACKAGE_GTest=ON 2>&1) || {
  echo "$out"; echo "quickstart_configure: cmake failed without GoogleTest"; exit 1; }
grep -q "GoogleTest not found, tests not configured (bash scripts/setup.sh --test installs it)" <<< "$out" || {
  echo "$out"; echo "quickstart_configure: no message about the missing tests"; exit 1; }
# The lmcpp target exists (ninja: "build lmcpp:", make: "lmcpp:"); the tests directory was not added.
grep -qsE '^(build )?lmcpp:' "$dir/build.ninja" "$dir/Makefile" || { echo "quickstart_configure: no lmcpp target"; exit 1; }
if [[ -e $dir/tests ]]; then echo "quickstart_configure: tests configured without GoogleTest"; exit 1; fi
# The setup script's two levels: the default installs no test tools, --test adds them.
setup=$src/scripts/setup.sh
base=$(sed -n '/^PKGS=(/,/^)/p' "$setup")
for p in libgtest-dev python3-torch clang libopenmpi-dev chromium; do
  if grep -qw -- "$p" <<< "$base"; then echo "quickstart_configure: setup.sh installs $p without --test"; exit 1; fi
  grep -qw -- "$p" "$setup" || { echo "quickstart_configure: setup.sh --test does not install $p"; exit 1; }
done
grep -q 'scripts/build.sh --target lmcpp' "$src/scripts/quickstart.sh" || {
  echo "quickstart_configure: quickstart.sh does not build the lmcpp target alone"; exit 1; }
echo "quickstart_configure: lmcpp configures without GoogleTest; setup.sh keeps the test tools behind --test"
