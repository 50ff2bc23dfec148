#!/usr/bin/env bash
# test.sh -- the whole test suite: install what is missing, build and test
# the release build (build/), then the ASan+UBSan build (build-asan/), which
# also checks that both builds give the same trace hash for the same seed,
# then the real-thread tests under ThreadSanitizer (build-tsan/), then the
# coverage gate (build-cov/), then the fuzz smoke (build-fuzz/).
# Ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-deps.sh
jobs=$(nproc)

echo "== release build"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"

echo "== ASan+UBSan build"
cmake --preset asan -DAS_RELEASE_AGENTSIM="$PWD/build/agentsim" >/dev/null
cmake --build --preset asan -j "$jobs"
ctest --preset asan -j "$jobs"

echo "== ThreadSanitizer build (the real-thread tests)"
cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs"
ctest --preset tsan -j "$jobs"

# The coverage gate: the whole suite again under gcov, then lcov per folder
# against coverage/baseline.json; fails the run below a floor.
echo "== coverage build (gcov, floors in coverage/baseline.json)"
coverage/run.sh

# Last, so ctest's summary stays the last line: clang with ASan+UBSan and
# libFuzzer; the label fuzz-smoke fuzzes every target (fuzz/README.md) for
# AS_FUZZ_SMOKE_SECONDS (60 unless set in the environment), and the
# cross-build hash test compares this clang build with the gcc release one.
echo "== fuzz build (clang, libFuzzer smoke)"
cmake --preset fuzz -DAS_FUZZ_SMOKE_SECONDS="${AS_FUZZ_SMOKE_SECONDS:-60}" \
  -DAS_RELEASE_AGENTSIM="$PWD/build/agentsim" >/dev/null
cmake --build --preset fuzz -j "$jobs"
ctest --preset fuzz -j "$jobs"
