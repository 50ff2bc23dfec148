#!/usr/bin/env bash
# core_no_mutants.sh PROD_LIB MUT_LIB MUTANT_H -- the production core library
# (as_core) holds no trace of a mutant: no symbol and no string naming one,
# nor the word "mutant" at all. The same check on the sim build (as_core_mut)
# must find every mutant's name and the switch, so the check can fail.
# The names come from the X-macro in mutant.h: a new mutant is covered as
# soon as it is declared.
# With --binary, PROD and MUT are executables (agentsim-real, agentsim):
# their command line speaks of --mutant, so the word is allowed; the names
# and the switch (as__mutant_active) are not.
set -euo pipefail
word=mutant
if [ "${1:-}" = "--binary" ]; then word=as__mutant_active; shift; fi
[ $# -eq 3 ] || { echo "usage: $0 [--binary] PROD MUT MUTANT_H" >&2; exit 2; }
prod=$1 mut=$2 header=$3

names=$(sed -n 's/^ *X(\([A-Z_]*\), *\([a-z_]*\),.*/\2/p' "$header")
count=$(echo "$names" | grep -c .)
if [ "$count" -lt 6 ]; then
  echo "FAIL: found only $count mutant names in $header" >&2
  exit 1
fi
pattern="$word|$(echo $names | tr ' ' '|')"

traces() { { nm -A "$1" 2>/dev/null || true; strings -a "$1"; } | grep -i -E "$pattern" || true; }

bad=$(traces "$prod")
if [ -n "$bad" ]; then
  echo "FAIL: the production build $prod holds mutant traces:" >&2
  echo "$bad" | head -20 >&2
  exit 1
fi
found=$(traces "$mut")
for n in $names $word; do
  if ! grep -q -i -- "$n" <<<"$found"; then
    echo "FAIL: the check is blind: '$n' not found in the sim build $mut" >&2
    exit 1
  fi
done
echo "ok: no trace of $count mutants in $(basename "$prod"); all found in $(basename "$mut")"
