#!/usr/bin/env bash
# sweep-long.sh [SEEDS] -- the long, opt-in measurements the default test run
# is too short for: SEEDS (default 10000) seeds of every bundled scenario
# under the portfolio (it rotates random, pct:d=1..3 and pos by seed) on the
# unmutated runtime, which must find nothing, and the kill table of every
# mutant over 1,000 seeds per strategy, in which the portfolio must kill them
# all.
# Builds the release tool first. JUnit reports and the kill table's JSON go
# to build/long/. Exit status: 0 when both hold, else the first failure's.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-10000}
case $seeds in '' | *[!0-9]*) echo "sweep-long.sh: SEEDS must be a number, not '$seeds'" >&2; exit 2 ;; esac
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
mkdir -p build/long
st=0
for strat in portfolio; do
  echo "== $seeds seeds of every bundled scenario, strategy $strat"
  build/agentsim sweep fixtures/scenarios/*.scn --seeds "$seeds" --strategy "$strat" \
    --junit "build/long/sweep-$strat.xml" || { r=$?; [ $st -ne 0 ] || st=$r; }
done
echo "== the kill table, 1000 seeds per mutant and strategy"
build/agentsim mutants --seeds 1000 --json >build/long/mutants.json || { r=$?; [ $st -ne 0 ] || st=$r; }
exit $st
