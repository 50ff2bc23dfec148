#!/usr/bin/env bash
# coverage/run.sh [--update] -- the coverage gate.
#
# Builds the coverage preset (build-cov/, gcc --coverage -O0), zeroes the
# counters, runs the whole ctest suite of that build, captures line and
# branch coverage of runtime/ and sim/ with lcov, writes the HTML report to
# build-cov/coverage-html/ and prints a per-folder table. Then every floor in
# coverage/baseline.json must be met (exit 1 names the folder and figure
# that is below). --update raises the floors to what was measured, rounded
# down to 0.1; a floor never goes down (ratchets/history.py checks every
# committed version, as the ctest test coverage_history).
#
# Exit: 0 all tests passed and every floor met; 1 a test failed or a floor
# was missed; 2 bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=build-cov
py=/usr/bin/python3
[ -x "$py" ] || py=python3

update=()
for a in "$@"; do
  case $a in
    --update) update=(--update) ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "coverage/run.sh: unknown argument '$a' (try --help)" >&2; exit 2 ;;
  esac
done

# lcov 1.16 on Debian 12 warns "Subroutine ... redefined" from its own Perl
# modules on every call; drop that noise, keep everything else.
lcov_() {
  lcov --rc lcov_branch_coverage=1 "$@" 2>&1 | { grep -v -e 'Subroutine .* redefined' -e '^\s*$' || true; }
  return "${PIPESTATUS[0]}"
}

t0=$(date +%s)
jobs=$(nproc)
echo "== coverage build ($build/)"
cmake --preset coverage >/dev/null
cmake --build --preset coverage -j "$jobs"

lcov_ --quiet --zerocounters --directory "$build"
echo "== coverage: ctest --preset coverage"
test_status=0
ctest --preset coverage -j "$jobs" || test_status=$?

echo "== coverage: lcov capture (runtime/ and sim/)"
all=$build/coverage-all.info
info=$build/coverage.info
lcov_ --quiet --capture --directory "$build" --base-directory "$root" --output-file "$all"
lcov_ --quiet --extract "$all" "$root/runtime/*" "$root/sim/*" --output-file "$info"
rm -rf "$build/coverage-html"
genhtml --rc lcov_branch_coverage=1 --branch-coverage --quiet --prefix "$root" \
  --title "agentsim: runtime/ and sim/" --output-directory "$build/coverage-html" "$info" 2>&1 |
  { grep -v -e 'Subroutine .* redefined' || true; }
echo "coverage: HTML report: $build/coverage-html/index.html"

gate_status=0
"$py" coverage/summary.py "$info" coverage/baseline.json --root "$root" "${update[@]}" ||
  gate_status=$?
echo "coverage: wall time $(( $(date +%s) - t0 )) s"
if [ "$test_status" -ne 0 ]; then
  echo "coverage: FAIL: ctest failed in the coverage build (exit $test_status)"
  exit 1
fi
[ "$gate_status" -eq 0 ] || exit 1
