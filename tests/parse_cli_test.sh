#!/usr/bin/env bash
# parse_cli_test.sh AGENTSIM JSON_CHECK -- `agentsim parse envelope|json`
# (DESIGN.md section 9): exit 0 accepted, 1 refused with FILE:LINE:COL:
# (offset N) REASON, 2 bad usage or an unreadable file; --json ends stdout
# with one JSON object; inputs past their cap are refused unread.
set -u
A=$1
J=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
n=0

check() { # check NAME CONDITION-EXIT-STATUS
  n=$((n + 1))
  if [ "$2" -eq 0 ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; fails=$((fails + 1)); fi
}
status_is() { # status_is WANT CMD...
  local want=$1
  shift
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  [ "$got" -eq "$want" ] || { echo "  $* -> exit $got, want $want"; sed 's/^/  | /' "$T/err" | head -5; return 1; }
}

printf '{"b":[1,0.9,2.5e3,true,null],"a":"\xc3\xa9"}\n' >"$T/ok.json"
printf '{"a":1,\n "b":2,\n  "a":3}\n' >"$T/dup.json"
printf '[1] x' >"$T/trail.json"
printf 'Sure.\n```json\n{"content":"hi","confidence":0.9,"rationale":"because","signal":"next_step"}\n```\n' >"$T/fence.txt"
printf 'I think {"content":"c",\n"confidence":1.5,"rationale":"r"}\n' >"$T/bad.txt"
printf 'Only prose here.\n' >"$T/prose.txt"
printf '{"content":"structured","confidence":1,"rationale":"s"}' >"$T/structured.json"

# parse json
status_is 0 "$A" parse json "$T/ok.json" && [ "$(cat "$T/out")" = '{"b":[1,0.9,2500.0,true,null],"a":"é"}' ]
check "parse json prints the value compact, member order kept" $?
status_is 1 "$A" parse json "$T/dup.json" && grep -qxF "$T/dup.json:3:3: (offset 18) duplicate key \"a\" (an object names each member once)" "$T/out"
check "parse json refuses a duplicate key with FILE:LINE:COL: (offset N) REASON" $?
status_is 1 "$A" parse json "$T/trail.json" && grep -q ":1:5: (offset 4) expected the end of the text" "$T/out"
check "parse json refuses trailing text" $?
status_is 0 "$A" parse json - <"$T/ok.json"; check "parse json - reads stdin" $?
status_is 1 "$A" parse json - </dev/null && grep -q "^<stdin>:1:1: (offset 0) empty text" "$T/out"
check "empty stdin is refused as <stdin>" $?
status_is 0 "$A" parse json "$T/ok.json" --json && [ "$("$J" --get accepted <"$T/out")" = true ] && \
  "$J" accepted kind file value exit <"$T/out" && [ "$("$J" --get exit <"$T/out")" = 0 ]
check "parse json --json: accepted, with the value" $?
status_is 1 "$A" parse json "$T/dup.json" --json && [ "$("$J" --get accepted <"$T/out")" = false ] && \
  [ "$("$J" --get offset <"$T/out")" = 18 ] && [ "$("$J" --get line <"$T/out")" = 3 ] && \
  [ "$("$J" --get column <"$T/out")" = 3 ] && "$J" --get reason <"$T/out" | grep -q "duplicate key" && \
  grep -q "dup.json:3:3:" "$T/err"
check "parse json --json: refused, with offset, line, column and reason (the text on stderr)" $?
head -c 262145 /dev/zero | tr '\0' ' ' >"$T/big.json"
status_is 1 "$A" parse json "$T/big.json" && grep -q "(offset 262144) .* is over 262144 bytes, the cap" "$T/out"
check "parse json refuses a file past 256 KiB" $?
head -c 262144 /dev/zero | tr '\0' ' ' | sed 's/^ /1/' >"$T/cap.json"
status_is 0 "$A" parse json "$T/cap.json"; check "parse json takes a file of exactly 256 KiB" $?

# parse envelope
status_is 0 "$A" parse envelope "$T/fence.txt" && grep -qx "content: hi" "$T/out" && \
  grep -qx "confidence: 0.9" "$T/out" && grep -qx "rationale: because" "$T/out" && \
  grep -qx "signal: next_step" "$T/out" && grep -qx "from: fence" "$T/out"
check "parse envelope prints content, confidence, rationale, signal and from" $?
status_is 0 "$A" parse envelope "$T/fence.txt" --json && \
  "$J" accepted kind file envelope exit <"$T/out" && tail -n 1 "$T/out" | \
  grep -qF '"envelope":{"content":"hi","confidence":0.9,"rationale":"because","signal":"next_step","from":"fence"}'
check "parse envelope --json: the envelope object" $?
status_is 1 "$A" parse envelope "$T/bad.txt" && \
  grep -qF "bad.txt:1:9: (offset 8) envelope_missing: confidence 1.5 outside [0,1]" "$T/out"
check "parse envelope refuses an out-of-range confidence, naming it" $?
status_is 1 "$A" parse envelope "$T/prose.txt" --json && \
  [ "$("$J" --get reason <"$T/out")" = "envelope_missing: no JSON object in the answer" ]
check "parse envelope: prose only is envelope_missing" $?
status_is 0 "$A" parse envelope "$T/fence.txt" --structured "$T/structured.json" && \
  grep -qx "from: structured" "$T/out" && grep -qx "content: structured" "$T/out"
check "--structured is tried first" $?
status_is 1 "$A" parse envelope "$T/prose.txt" --structured "$T/dup.json" && \
  grep -q "^$T/dup.json:3:3: .*(in the structured output)" "$T/out"
check "a refusal in the structured output names that file" $?
printf '{"content":"c","confidence":0.30000000000000004,"rationale":"r"}' >"$T/digits.txt"
status_is 0 "$A" parse envelope "$T/digits.txt" --json && grep -qx "confidence: 0.30000000000000004" "$T/err" && \
  tail -n 1 "$T/out" | grep -qF '"confidence":0.30000000000000004,'
check "a confidence that needs 17 digits keeps them" $?
printf '[0.30000000000000004,0.5]' >"$T/digits.json"
status_is 0 "$A" parse json "$T/digits.json" && [ "$(cat "$T/out")" = '[0.30000000000000004,0.5]' ]
check "parse json prints a real that needs 17 digits with 17" $?
status_is 1 "$A" parse envelope "$T/bad.txt" --structured "$T/dup.json" && grep -q "^$T/bad.txt:1:9: " "$T/out"
check "a refusal in the text names the text's file, structured output or not" $?
status_is 1 "$A" parse envelope "$T/fence.txt" --structured "$T/big.json" && \
  grep -q "^$T/big.json:1:262145: (offset 262144) .* is over 262144 bytes, the cap" "$T/out"
check "a structured output past 256 KiB is refused unread" $?
head -c 65537 /dev/zero | tr '\0' 'x' >"$T/big.txt"
status_is 1 "$A" parse envelope "$T/big.txt" && grep -q "(offset 65536) .* is over 65536 bytes, the cap" "$T/out"
check "parse envelope refuses a text past 64 KiB" $?

# bad usage: exit 2
status_is 2 "$A" parse json "$T/nosuch" && grep -q "cannot open $T/nosuch" "$T/err"
check "a missing file exits 2" $?
status_is 2 "$A" parse json "$T" && grep -q "cannot read" "$T/err"; check "a directory exits 2" $?
status_is 2 "$A" parse json; check "no FILE exits 2" $?
status_is 2 "$A" parse; check "no kind exits 2" $?
status_is 2 "$A" parse yaml "$T/ok.json" && grep -q "expected envelope or json, not 'yaml'" "$T/err"
check "an unknown kind exits 2" $?
status_is 2 "$A" parse json "$T/ok.json" "$T/ok.json" && grep -q "takes one FILE" "$T/err"
check "an extra argument exits 2" $?
status_is 2 "$A" parse json "$T/ok.json" --structured "$T/ok.json"; check "parse json --structured exits 2" $?
status_is 2 "$A" parse envelope - --structured -; check "stdin twice exits 2" $?
status_is 2 "$A" parse envelope "$T/fence.txt" --structured "$T/nosuch"; check "a missing --structured file exits 2" $?
status_is 2 "$A" parse json --json && [ "$("$J" --get result <"$T/out")" = error ] && \
  [ "$("$J" --get exit <"$T/out")" = 2 ]
check "parse --json usage errors end with a JSON object" $?
status_is 2 "$A" parse json "$T/nosuch" --json && [ "$("$J" --get exit <"$T/out")" = 2 ]
check "parse --json: a missing file ends with a JSON object" $?

# help tells the truth and fits 80 columns
status_is 0 "$A" help parse && grep -q "^agentsim parse -- " "$T/out" && grep -q -- "--structured FILE" "$T/out" && \
  awk 'length > 80 || / $/ { bad = 1 } END { exit bad }' "$T/out"
check "help parse" $?
status_is 0 "$A" parse --help && grep -q "^agentsim parse -- " "$T/out"; check "parse --help" $?
status_is 0 "$A" help && grep -q "agentsim parse envelope|json FILE|-" "$T/out" && \
  awk 'length > 80 || / $/ { bad = 1 } END { exit bad }' "$T/out"
check "help lists parse" $?

echo "$((n - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
