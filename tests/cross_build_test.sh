#!/usr/bin/env bash
# cross_build_test.sh THIS_AGENTSIM RELEASE_AGENTSIM JSON_CHECK -- the same
# seed gives the same trace hash in this build and in the release build.
# Exits 77 (skipped) when no release binary is there.
set -u
A=$1
R=$2
J=$3
[ -x "$R" ] || { echo "no release binary at '$R': skipped"; exit 77; }
fails=0
runs=0
for p in abba ordering atomicity timer counter; do
  for strat in random pct:d=2 pos; do
    for seed in $(seq 0 19); do
      h1=$("$A" run "selftest:$p" --seed "$seed" --strategy "$strat" --json 2>/dev/null | "$J" --get trace_hash)
      h2=$("$R" run "selftest:$p" --seed "$seed" --strategy "$strat" --json 2>/dev/null | "$J" --get trace_hash)
      runs=$((runs + 1))
      if [ -z "$h1" ] || [ "$h1" != "$h2" ]; then
        echo "selftest:$p seed $seed $strat: this build '$h1', release '$h2'"
        fails=$((fails + 1))
      fi
    done
  done
done
# The runtime on the simulated disk too: SQLite, the VFS and the oracle,
# under the portfolio (seeds 0-4: random, pct:d=1, d=2, d=3, pos).
S=$(cd "$(dirname "$0")/.." && pwd)
for scn in "$S"/fixtures/scenarios/*.scn; do
  for seed in 0 1 2 3 4; do
    h1=$("$A" run "$scn" --seed "$seed" --strategy portfolio --json 2>/dev/null | "$J" --get trace_hash)
    h2=$("$R" run "$scn" --seed "$seed" --strategy portfolio --json 2>/dev/null | "$J" --get trace_hash)
    runs=$((runs + 1))
    if [ -z "$h1" ] || [ "$h1" != "$h2" ]; then
      echo "$(basename "$scn") seed $seed: this build '$h1', release '$h2'"
      fails=$((fails + 1))
    fi
  done
done
echo "$((runs - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
