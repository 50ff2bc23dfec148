#!/usr/bin/env bash
# test.sh -- the whole test suite: install what is missing, build and test
# the release build (build/), then the ASan+UBSan build (build-asan/), which
# also checks that both builds give the same trace hash for the same seed.
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
