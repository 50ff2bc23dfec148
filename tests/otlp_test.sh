#!/usr/bin/env bash
# otlp_test.sh DRIVER OTLP_DIR -- the exporter's OTLP/HTTP JSON checked
# against the OTLP protobuf schema itself: tests/otlp/receiver.js (protobufjs
# and the generated opentelemetry-proto module @opentelemetry/otlp-transformer
# ships) listens on 127.0.0.1:<free port>, the C driver (otlp_driver.c)
# exports known span trees to it through the real exporter and libcurl.
#
# Needs node and npm; `npm ci` runs in OTLP_DIR when node_modules is missing.
# Outside CI a missing node/npm (or a failed npm ci) skips (exit 77); with
# CI=true it fails. Every step is bounded in time.
set -euo pipefail
driver=$1
dir=$2
CYCLES=${AS_OTLP_CYCLES:-5}
BATCH=${AS_OTLP_BATCH:-3}

missing() {
  if [ "${CI:-}" = "true" ]; then
    echo "otlp_test: FAIL: $1 (CI needs it: scripts/setup-deps.sh installs node and npm)" >&2
    exit 1
  fi
  echo "otlp_test: SKIP: $1" >&2
  exit 77
}

command -v node >/dev/null 2>&1 || missing "node not found"
command -v npm >/dev/null 2>&1 || missing "npm not found"
if [ ! -f "$dir/node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js" ] ||
   [ ! -f "$dir/node_modules/protobufjs/minimal.js" ]; then
  # One npm ci at a time, should two builds' tests run together.
  if ! (flock -w 300 9 &&
        { [ -f "$dir/node_modules/protobufjs/minimal.js" ] ||
          (cd "$dir" && timeout 300 npm ci --no-audit --no-fund --loglevel=error); }) \
        9>"$dir/.npm-ci.lock"; then
    missing "npm ci failed in $dir"
  fi
fi

work=$(mktemp -d)
recv_pid=
cleanup() {
  if [ -n "$recv_pid" ] && kill -0 "$recv_pid" 2>/dev/null; then
    kill -KILL "$recv_pid" 2>/dev/null || true # ignore: already gone
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The checker must catch planted faults before its "ok" means anything.
timeout 60 node "$dir/receiver.js" --selftest

expect=$((4 * CYCLES))
timeout 120 node "$dir/receiver.js" --port-file "$work/port" --expect "$expect" \
  --timeout-ms 90000 >"$work/recv.out" 2>&1 &
recv_pid=$!
for _ in $(seq 1 200); do
  [ -s "$work/port" ] && break
  kill -0 "$recv_pid" 2>/dev/null || break
  sleep 0.05
done
if [ ! -s "$work/port" ]; then
  cat "$work/recv.out" >&2
  echo "otlp_test: FAIL: the receiver did not start" >&2
  exit 1
fi
port=$(cat "$work/port")

rc=0
timeout 60 "$driver" "http://127.0.0.1:$port/v1/traces" "$CYCLES" "$BATCH" || rc=$?
kill -TERM "$recv_pid"
recv_rc=0
wait "$recv_pid" || recv_rc=$?
recv_pid=
cat "$work/recv.out"
if [ "$rc" -ne 0 ] || [ "$recv_rc" -ne 0 ]; then
  echo "otlp_test: FAIL: driver exit $rc, receiver exit $recv_rc" >&2
  exit 1
fi
echo "otlp_test: ok"
