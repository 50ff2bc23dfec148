#!/usr/bin/env bash
# build-afl.sh -- AFL++ binaries of every fuzz target.
#
#   fuzz/build-afl.sh [BUILD_DIR [TARGET...]]   (default: build-afl, every target)
#
# For each variant it configures a separate CMake tree of the project's
# libraries with CC=afl-clang-fast (tests off), then compiles each harness
# with afl-clang-fast -fsanitize=fuzzer, which links AFL++'s libAFLDriver
# (persistent mode, shared-memory input). Variants, in BUILD_DIR/<variant>/:
#   plain   what afl-fuzz runs (-M and most -S instances)
#   cmplog  AFL_LLVM_CMPLOG=1: comparison logging for the -c instance
#   asan    the project's ASan+UBSan flags (AS_SANITIZE=ON): one -S instance
#           that turns silent memory errors into crashes
# Binaries: BUILD_DIR/<variant>/<target> for target in schedule, cli, json,
# envelope, app, stub_script, wire_openai, wire_ollama (or the TARGETs
# named; only their libraries are built).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-build-afl}
case $out in /*) ;; *) out="$root/$out" ;; esac
[ $# -gt 0 ] && shift

if ! command -v afl-clang-fast >/dev/null 2>&1; then
  echo "build-afl: afl-clang-fast not found: install AFL++ (Debian package afl++," \
       "or scripts/setup-deps.sh)" >&2
  exit 2
fi
jobs=$(nproc)
targets=(schedule cli json envelope app stub_script wire_openai wire_ollama)
declare -A target_lib=([schedule]=as_sim [cli]=as_cli [json]=as_core [envelope]=as_core
                       [app]=as_core [stub_script]=as_llm_stub [wire_openai]=as_core
                       [wire_ollama]=as_core)
if [ $# -gt 0 ]; then
  for t in "$@"; do
    [ -n "${target_lib[$t]:-}" ] || { echo "build-afl: unknown target '$t' (${targets[*]})" >&2; exit 2; }
  done
  targets=("$@")
fi
libs_needed=()
for t in "${targets[@]}"; do libs_needed+=("${target_lib[$t]}"); done
mapfile -t libs_needed < <(printf '%s\n' "${libs_needed[@]}" | sort -u)

# What the libraries need at link time (top-level CMakeLists.txt).
jansson_cflags=$(pkg-config --cflags jansson)
jansson_libs=$(pkg-config --libs jansson)
core_libs=$(pkg-config --libs sqlite3 yaml-0.1)
base_cflags=(-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow
             -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2)
# shellcheck disable=SC2054  # the commas belong to -fsanitize=
san_flags=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

build_variant() {
  local variant=$1
  local dir="$out/$variant"
  local env=() cmake_extra=() cflags=("${base_cflags[@]}")
  case $variant in
    plain) ;;
    cmplog) env=(AFL_LLVM_CMPLOG=1) ;;
    asan)
      cmake_extra=(-DAS_SANITIZE=ON)
      cflags+=("${san_flags[@]}" -DAS_ASAN_FIBERS=1)
      ;;
  esac
  echo "== build-afl: $variant -> $dir"
  mkdir -p "$dir"
  # Debug keeps assert()s live; -O2 keeps it fast.
  env "${env[@]}" AFL_QUIET=1 cmake -S "$root" -B "$dir/lib" \
    -DCMAKE_C_COMPILER=afl-clang-fast -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O2 \
    -DAS_BUILD_TESTS=OFF "${cmake_extra[@]}" >/dev/null
  env "${env[@]}" AFL_QUIET=1 cmake --build "$dir/lib" -j "$jobs" --target "${libs_needed[@]}" >/dev/null
  local lib="$dir/lib"
  for t in "${targets[@]}"; do
    local libs=()
    case ${target_lib[$t]} in
      as_cli) libs=("$lib/libas_cli.a" "$lib/libas_sim.a" "$lib/libas_runtime.a") ;;
      as_sim) libs=("$lib/libas_sim.a" "$lib/libas_runtime.a") ;;
      as_core) libs=("$lib/runtime/core/libas_core.a" "$lib/libas_runtime.a" $core_libs) ;;
      as_llm_stub) libs=("$lib/libas_llm_stub.a" "$lib/runtime/core/libas_core.a" "$lib/libas_sim.a"
                         "$lib/libas_runtime.a" $core_libs -lxxhash) ;;
    esac
    # shellcheck disable=SC2086  # pkg-config output is a word list
    env "${env[@]}" AFL_QUIET=1 afl-clang-fast "${cflags[@]}" -fsanitize=fuzzer \
      -I"$root/fuzz" -I"$root/sim" -I"$root/sim/cli" -I"$root/sim/llm" -I"$root/runtime/include" $jansson_cflags \
      "$root/fuzz/$t/fuzz_$t.c" "$root/fuzz/fuzz_common.c" \
      "${libs[@]}" -lboost_context -pthread $jansson_libs -lm -o "$dir/$t"
    echo "   $dir/$t"
  done
}

for v in plain cmplog asan; do build_variant "$v"; done
echo "build-afl: done; run a campaign with fuzz/campaign.sh TARGET"
