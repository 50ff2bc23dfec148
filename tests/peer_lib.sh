# peer_lib.sh -- sourced by the tests that run the loopback peer
# (tests/llm_peer.py) and `agentsim serve` as processes of their own:
#   lib_init PREFIX        tmp (a new directory), pids, the EXIT trap that
#                          stops every pid and removes tmp (kept with KEEP=1)
#   fail MESSAGE...        print and exit 1
#   peer_start PY SRC ARGS...
#                          start the peer (ARGS: its options); sets peer, port
#   wait_url NAME          wait (10 s at most) for tmp/NAME.out's "listening on
#                          URL" line; sets url, or fails with tmp/NAME.err
# The caller creates tmp/NAME.out before starting a server (sed must find it
# under set -e) and adds the server's pid to pids.
lib_init() {
  tmp=$(mktemp -d "/tmp/$1-XXXXXX")
  pids=()
  trap lib_cleanup EXIT
}
lib_cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
fail() { echo "FAIL: $*" >&2; exit 1; }
peer_start() {
  local py=$1 src=$2
  shift 2
  "$py" "$src/tests/llm_peer.py" --log "$tmp/peer.log" "$@" >"$tmp/peer.out" 2>"$tmp/peer.err" &
  peer=$!
  pids+=("$peer")
  for _ in $(seq 1 100); do [ -s "$tmp/peer.out" ] && break; sleep 0.1; done
  port=$(head -1 "$tmp/peer.out")
  [ -n "$port" ] || fail "the peer did not start: $(cat "$tmp/peer.err")"
}
wait_url() {
  for _ in $(seq 1 100); do [ -s "$tmp/$1.out" ] && break; sleep 0.1; done
  url=$(sed -n 's/^listening on //p' "$tmp/$1.out")
  [ -n "$url" ] || fail "$1: serve did not start: $(cat "$tmp/$1.err")"
}
