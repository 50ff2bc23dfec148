#!/usr/bin/env bash
# setup-deps.sh -- install what agentsim needs from Debian's packages.
# Does nothing when everything is present; fails with a clear message when it
# cannot install. Needs root (or sudo) only when something is missing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config   # the toolchain
  libboost-context-dev               # make_fcontext/jump_fcontext: the fast switch
  libsqlite3-dev libcurl4-openssl-dev libjansson-dev
  libyaml-dev                        # apps (app.yaml), read with libyaml's event API
  libxxhash-dev                      # XXH64: the trace hash (specified, with test vectors)
  libcmocka-dev                      # unit tests
  lcov                               # coverage reports
  clang lld-14 libclang-rt-14-dev    # libFuzzer and sanitizer runtimes for clang
  afl++                              # AFL++ fuzzing
  python3 clang-tidy git             # the ratchets (clang-tidy for unchecked results)
  python3-yaml                       # the fixtures lint reads app.yaml
  prometheus prometheus-pushgateway  # promtool, a Prometheus server and a Pushgateway: the metrics tests
  libmicrohttpd-dev                  # agentsim serve: the HTTP API
  wrk                                # the HTTP load test (loopback)
  chromium                           # the timeline page's test (headless; test-only)
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# node and npm: the OTLP schema test (tests/otlp) runs protobufjs. A machine
# image may bring its own nodejs (with npm inside it), so ask for the
# commands, not for Debian's package names.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#PKGS[@]} packages present"
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "setup-deps: missing packages (${missing[*]}) and not root, and no sudo:" >&2
    echo "setup-deps: run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-deps: apt-get not found; this project expects Debian 12 (bookworm)." >&2
  echo "setup-deps: install by hand: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${SUDO[@]}" apt-get update -qq; then
  echo "setup-deps: 'apt-get update' failed (no network or no Debian mirror?)" >&2
  exit 1
fi
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  echo "setup-deps: could not install: ${missing[*]}" >&2
  exit 1
fi
echo "setup-deps: installed ${missing[*]}"
