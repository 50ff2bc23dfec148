#!/usr/bin/env bash
# smoke.sh -- a short libFuzzer run of one target, as ctest's fuzz_smoke_<target>.
#
#   fuzz/smoke.sh BINARY TARGET_DIR SCRATCH SECONDS
#
# Takes libFuzzer's flags from TARGET_DIR/<target>.options ([libfuzzer]
# section, OSS-Fuzz format; dict paths relative to TARGET_DIR), copies the
# seed corpus and saved crashes into SCRATCH/corpus (the repository is never
# written), fuzzes for SECONDS, and exits non-zero on any crash, leak,
# timeout or out-of-memory; the input is then in SCRATCH/artifacts/.
# Ends with libFuzzer's final stats (stat::average_exec_per_sec and friends).
set -euo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 BINARY TARGET_DIR SCRATCH SECONDS" >&2
  exit 2
fi
bin=$1 dir=$2 scratch=$3 secs=$4
target=$(basename "$dir")
options="$dir/$target.options"
[ -x "$bin" ] || { echo "smoke: $bin: not an executable" >&2; exit 2; }
[ -f "$options" ] || { echo "smoke: $options: missing" >&2; exit 2; }

flags=()
section=
while IFS= read -r line || [ -n "$line" ]; do
  line=${line%%#*}
  line=$(printf '%s' "$line" | tr -d '[:space:]')
  case $line in
    '') continue ;;
    \[*\]) section=$line; continue ;;
  esac
  [ "$section" = "[libfuzzer]" ] || continue
  key=${line%%=*} val=${line#*=}
  if [ "$key" = dict ]; then val="$dir/$val"; fi
  flags+=("-$key=$val")
done < "$options"

rm -rf "$scratch"
mkdir -p "$scratch/corpus" "$scratch/artifacts"
for f in "$dir"/seed_corpus/* "$dir"/crashes/*; do
  [ -f "$f" ] || continue
  case $(basename "$f") in README* | .*) continue ;; esac
  cp "$f" "$scratch/corpus/$(basename "$(dirname "$f")")-$(basename "$f")"
done

echo "smoke: $target for ${secs}s: $bin ${flags[*]}"
status=0
"$bin" "${flags[@]}" -max_total_time="$secs" -print_final_stats=1 \
  -artifact_prefix="$scratch/artifacts/" "$scratch/corpus" \
  > "$scratch/log" 2>&1 || status=$?
# The log's head (INFO lines) and tail (the finding or the final stats).
head -n 12 "$scratch/log"
echo "..."
tail -n 40 "$scratch/log"
if [ "$status" -ne 0 ]; then
  echo "smoke: $target FAILED (libFuzzer exit $status); inputs in $scratch/artifacts/:" >&2
  ls -l "$scratch/artifacts/" >&2
  exit 1
fi
echo "smoke: $target passed: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$scratch/log" | tail -n 1)"
