#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (build-fuzz/) and runs each for a bounded time (FUZZ_SECONDS, default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${FUZZ_SECONDS:-20}
targets=(tests/fuzz/*_fuzz.cpp)
if [[ ! -e ${targets[0]} ]]; then echo "fuzz: no targets"; exit 0; fi
GEN=()
if command -v ninja >/dev/null; then GEN=(-G Ninja); fi
if [[ ! -f build-fuzz/CMakeCache.txt ]]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz "${GEN[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLM_FUZZ=ON \
    -DLM_TESTS=OFF -DLM_BENCH=OFF >/dev/null
fi
cmake --build build-fuzz -j "$(nproc)" --target fuzz_targets
fails=0
for src in "${targets[@]}"; do
  name=$(basename "$src" .cpp)
  corpus=tests/fuzz/corpus/${name%_fuzz}
  work=build-fuzz/corpus-$name
  mkdir -p "$work"
  echo "fuzz: $name for ${SECS}s"
  if ! ./build-fuzz/"$name" -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 -artifact_prefix=build-fuzz/ "$work" \
      $( [[ -d $corpus ]] && echo "$corpus" ) >build-fuzz/"$name".log 2>&1; then
    echo "fuzz: $name FOUND A CRASH"; tail -40 build-fuzz/"$name".log; fails=$((fails+1))
  else
    grep -E "^Done|stat::number_of_executed_units" build-fuzz/"$name".log | tail -1 || true
  fi
done
echo "fuzz: ${#targets[@]} target(s), $fails failure(s)"
exit $fails
