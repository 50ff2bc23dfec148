#!/usr/bin/env bash
# campaign.sh -- an AFL++ campaign on one fuzz target.
#
#   fuzz/campaign.sh TARGET [--cores N] [--time SECONDS] [--out DIR] [--build DIR]
#
# TARGET is a directory under fuzz/ (schedule, cli). Runs N afl-fuzz
# instances (default: one per CPU) for SECONDS each (default 3600, afl-fuzz
# -V), all with the target's dictionary:
#   main      -M, the plain binary
#   cmplog    -S with -c: the CMPLOG binary solves comparisons (-l 2AT)
#   asan      -S, the ASan+UBSan binary, -p fast
#   mopt      -S, MOpt mutator scheduling (-L 0), -p exploit
#   explore   -S, -p explore
#   coe, rare, lin, quad ...  -S with further power schedules
# then merges every instance's queue and minimizes it with afl-cmin into
# OUT/corpus-min, copies each crash into fuzz/TARGET/crashes/ as
# crash-<sha1> (the replay test then runs it in every build), and prints
# execs/s per instance and in total, paths, crashes, hangs and stability.
#
# Exit status: 0 clean; 1 a crash was found or an instance's stability was
# below 99.5%; 2 bad usage or AFL++ missing. Binaries come from
# fuzz/build-afl.sh (run automatically when missing). Output (default):
# build-afl/campaigns/TARGET-YYYYmmdd-HHMMSS/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() {
  echo "usage: fuzz/campaign.sh TARGET [--cores N] [--time SECONDS] [--out DIR] [--build DIR]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
target=$1
shift
cores=$(nproc)
secs=3600
build="$root/build-afl"
out=
while [ $# -gt 0 ]; do
  case $1 in
    --cores) [ $# -ge 2 ] || usage; cores=$2; shift 2 ;;
    --time) [ $# -ge 2 ] || usage; secs=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --build) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    *) usage ;;
  esac
done
case $cores in '' | *[!0-9]* | 0) echo "campaign: --cores '$cores': expected a positive count" >&2; exit 2 ;; esac
case $secs in '' | *[!0-9]* | 0) echo "campaign: --time '$secs': expected positive seconds" >&2; exit 2 ;; esac
tdir="$root/fuzz/$target"
if [ ! -f "$tdir/fuzz_$target.c" ]; then
  echo "campaign: no fuzz target '$target' (expected fuzz/$target/fuzz_$target.c)" >&2
  exit 2
fi
for tool in afl-fuzz afl-cmin afl-showmap afl-clang-fast; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "campaign: $tool not found: AFL++ is missing; install the Debian package afl++" \
         "(scripts/setup-deps.sh does)" >&2
    exit 2
  fi
done

plain="$build/plain/$target" cmplog="$build/cmplog/$target" asan="$build/asan/$target"
if [ ! -x "$plain" ] || [ ! -x "$cmplog" ] || [ ! -x "$asan" ]; then
  fuzz/build-afl.sh "$build"
fi
[ -n "$out" ] || out="$build/campaigns/$target-$(date +%Y%m%d-%H%M%S)"
if [ -e "$out" ]; then
  echo "campaign: $out exists; pick another --out" >&2
  exit 2
fi
mkdir -p "$out/in" "$out/logs"

# Seeds: the seed corpus and the saved crashes (fixed by now, so they are
# ordinary inputs; afl-fuzz skips one that still crashes, with a warning).
for f in "$tdir"/seed_corpus/* "$tdir"/crashes/*; do
  [ -s "$f" ] || continue
  case $(basename "$f") in README* | .*) continue ;; esac
  cp "$f" "$out/in/$(basename "$(dirname "$f")")-$(basename "$f")"
done

# AFL_ALLOW_TMP: afl-cmin refuses /tmp unless told; OUT is a fresh directory.
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_ALLOW_TMP=1
if [ "$cores" -gt "$(nproc)" ]; then
  # afl-fuzz binds each instance to a free core and refuses when none is left.
  echo "campaign: $cores instances on $(nproc) CPUs: not binding to cores (AFL_NO_AFFINITY=1)"
  export AFL_NO_AFFINITY=1
fi
common=(-i "$out/in" -o "$out/sync" -x "$tdir/$target.dict" -t 1000 -V "$secs")
schedules=(explore coe rare lin quad fast exploit seek mmopt)
pids=()
names=()
# shellcheck disable=SC2317  # called from the trap
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
}
trap 'stop; exit 130' INT TERM

for ((i = 0; i < cores; i++)); do
  case $i in
    0) name=main;    args=(-M main -- "$plain") ;;
    1) name=cmplog;  args=(-S cmplog -c "$cmplog" -l 2AT -- "$plain") ;;
    2) name=asan;    args=(-S asan -p fast -- "$asan") ;;
    3) name=mopt;    args=(-S mopt -L 0 -p exploit -- "$plain") ;;
    *) p=${schedules[$(((i - 4) % ${#schedules[@]}))]}
       name="s$i-$p"; args=(-S "$name" -p "$p" -- "$plain") ;;
  esac
  echo "campaign: starting $name: afl-fuzz ${common[*]} ${args[*]}"
  afl-fuzz "${common[@]}" "${args[@]}" > "$out/logs/$name.log" 2>&1 &
  pids+=($!)
  names+=("$name")
done
echo "campaign: $cores instance(s) on '$target' for ${secs}s; logs in $out/logs/"

failed=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then
    echo "campaign: instance ${names[$i]} failed; the end of its log:" >&2
    tail -n 20 "$out/logs/${names[$i]}.log" >&2
    failed=1
  fi
done
trap - INT TERM
if [ "$failed" -ne 0 ] && [ ! -f "$out/sync/main/fuzzer_stats" ]; then
  echo "campaign: no instance produced results" >&2
  exit 1
fi

# Merge every instance's queue, then minimize (afl-cmin walks -i recursively,
# so it gets a flat copy without fuzzer_stats, bitmaps and the like).
mkdir -p "$out/queue-all"
for q in "$out"/sync/*/queue; do
  inst=$(basename "$(dirname "$q")")
  for f in "$q"/id:*; do
    [ -f "$f" ] && cp "$f" "$out/queue-all/$inst-$(basename "$f" | tr ':,' '_.')"
  done
done
echo "campaign: minimizing $(find "$out/queue-all" -type f | wc -l) queue entries with afl-cmin"
# The AFL++ driver reads one input from stdin when given '-' (its advice for afl-cmin).
afl-cmin -i "$out/queue-all" -o "$out/corpus-min" -t 1000 -- "$plain" - \
  > "$out/logs/afl-cmin.log" 2>&1 || { echo "campaign: afl-cmin failed; see $out/logs/afl-cmin.log" >&2; }
mincount=0
[ -d "$out/corpus-min" ] && mincount=$(find "$out/corpus-min" -type f | wc -l)

# Crashes become regression inputs.
newcrash=0
mkdir -p "$tdir/crashes"
for f in "$out"/sync/*/crashes/id:*; do
  [ -f "$f" ] || continue
  sum=$(sha1sum "$f" | cut -c1-40)
  if [ ! -e "$tdir/crashes/crash-$sum" ]; then
    cp "$f" "$tdir/crashes/crash-$sum"
    echo "campaign: new crash $f -> fuzz/$target/crashes/crash-$sum"
    newcrash=$((newcrash + 1))
  fi
done

stat_of() { sed -n "s/^$2 *: *//p" "$1" | head -n 1; }
echo
echo "== campaign summary: $target, $cores instance(s), ${secs}s, $out"
printf '%-12s %10s %12s %8s %8s %6s %10s %8s\n' instance execs/s execs paths edges crashes hangs stability
total_eps=0 total_execs=0 total_crashes=0 total_hangs=0 unstable=0
for s in "$out"/sync/*/fuzzer_stats; do
  inst=$(basename "$(dirname "$s")")
  eps=$(stat_of "$s" execs_per_sec)
  execs=$(stat_of "$s" execs_done)
  paths=$(stat_of "$s" corpus_count)
  edges=$(stat_of "$s" edges_found)
  crashes=$(stat_of "$s" saved_crashes)
  hangs=$(stat_of "$s" saved_hangs)
  stab=$(stat_of "$s" stability)
  printf '%-12s %10s %12s %8s %8s %6s %10s %8s\n' "$inst" "$eps" "$execs" "$paths" "$edges" \
    "${crashes:-0}" "${hangs:-0}" "$stab"
  total_eps=$(awk -v a="$total_eps" -v b="$eps" 'BEGIN { printf "%.2f", a + b }')
  total_execs=$((total_execs + ${execs:-0}))
  total_crashes=$((total_crashes + ${crashes:-0}))
  total_hangs=$((total_hangs + ${hangs:-0}))
  if awk -v s="${stab%\%}" 'BEGIN { exit !(s + 0 < 99.5) }'; then unstable=1; fi
done
printf '%-12s %10s %12s\n' total "$total_eps" "$total_execs"
echo "paths after afl-cmin: $mincount in $out/corpus-min"
echo "  (to keep them: cp $out/corpus-min/* fuzz/$target/seed_corpus/)"
echo "crashes: $total_crashes saved by afl-fuzz, $newcrash new in fuzz/$target/crashes/;" \
     "hangs: $total_hangs (in $out/sync/*/hangs/)"
status=0
if [ "$total_crashes" -gt 0 ]; then
  echo "campaign: CRASHES FOUND; replay: build/fuzz/replay_$target fuzz/$target/crashes/"
  status=1
fi
if [ "$unstable" -ne 0 ]; then
  echo "campaign: STABILITY BELOW 99.5% -- the harness or the code under it is not deterministic"
  status=1
fi
exit "$status"
